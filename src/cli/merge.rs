//! `dtag merge`: joins the partial models of every shard of a training run into its model.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use clap::Args;

use dtag::io_guard::OutputGuard;
use dtag::train::shard::Parts;
use dtag::train::TrainInputs;

use super::flags::{load_thesaurus, CorpusFormatArg};
use super::output::{self, prompt_if_terminal, save_timed, summary, Bars};
use super::train::print_summary;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Where to write the model.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,

    /// The partial models written by `dtag train --shard K/N`: every shard once, in any order.
    #[arg(required = true, value_name = "PART")]
    parts: Vec<PathBuf>,

    /// Read the corpus from here rather than where the shards read it (it must hold the same
    /// documents: the parts' fingerprint is checked).
    #[arg(long, num_args = 1.., value_name = "FILE|DIR")]
    corpus: Vec<PathBuf>,

    /// Corpus format of `--corpus` (default: the shards' format).
    #[arg(
        long = "input-format",
        alias = "format",
        value_enum,
        requires = "corpus"
    )]
    input_format: Option<CorpusFormatArg>,

    /// Read the thesaurus from here rather than where the shards read it.
    #[arg(long, value_name = "FILE")]
    thesaurus: Option<PathBuf>,

    /// Print the training summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: MergeArgs, bars: &Bars) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut guard = OutputGuard::new();
    guard
        .inputs("PART", &args.parts)
        .inputs("--corpus", &args.corpus)
        .inputs("--thesaurus", &args.thesaurus);
    if args.json {
        guard.stdout_used_by("--json");
    }
    let parts = Parts::load(&args.parts)?;
    let stored = parts.inputs().clone();
    let corpus = if args.corpus.is_empty() {
        if stored.reads_stdin() {
            bail!(
                "the shards read their corpus from standard input: give it to the merge again \
                 with --corpus"
            );
        }
        stored.corpus.clone()
    } else {
        args.corpus.clone()
    };
    let thesaurus_path = args.thesaurus.clone().or(stored.thesaurus.clone());
    guard
        .inputs("--corpus", &corpus)
        .inputs("--thesaurus", &thesaurus_path);
    let model_out = guard.binary_file("--model", &args.model)?;

    let params = parts.params()?;
    summary!(
        "merging {} shards: corpus {}",
        parts.shards(),
        corpus
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut thesaurus = thesaurus_path.as_deref().map(load_thesaurus).transpose()?;
    if let Some(t) = &mut thesaurus {
        stored.name_as_the_shards(t);
    }
    prompt_if_terminal(&corpus, "a corpus");
    let inputs = TrainInputs {
        corpus: &corpus,
        format: match args.input_format {
            Some(f) => f.format(),
            None => stored.format,
        },
        thesaurus: thesaurus.as_ref(),
        strict_thesaurus: stored.strict_thesaurus,
    };
    let (model, mut report) = parts.merge_inputs(&inputs, bars, &mut |read| {
        output::report_read(read, thesaurus.is_some(), true)
    })?;
    save_timed(&model, &model_out, &mut report.seconds, started)?;
    print_summary(
        &report,
        params.params().min_label_docs,
        args.json,
        &model_out,
    )
}
