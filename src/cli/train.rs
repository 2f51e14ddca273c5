//! `dtag train`: learns a model from a labelled corpus.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use dtag::io_guard::OutputGuard;
use dtag::train::shard::ShardSpec;
use dtag::train::{TrainInputs, TrainReport};

use super::flags::{
    params_and_thesaurus, train_params, CorpusFormatArg, ThesaurusArgs, TrainOptions,
};
use super::output::stderr_line;
use super::output::{self, print_out, print_tuning, prompt_if_terminal, save_timed, summary, Bars};

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    bound: super::bounds::DocumentBound,

    /// Corpus files or directories (`-` for stdin).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE|DIR")]
    corpus: Vec<PathBuf>,

    /// Where to write the model (with `--shard`: the partial model).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,

    /// Train only shard K of N of the descriptors and write a partial model; `dtag merge`
    /// joins the N parts into the model a whole run gives (see docs/scaling.md).
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<ShardSpec>,

    /// Corpus format.
    #[arg(long = "input-format", alias = "format", value_enum, default_value_t = CorpusFormatArg::Auto)]
    input_format: CorpusFormatArg,

    /// The thesaurus also gives the segmenter its Chinese labels as words, and the model its
    /// descriptors' URIs, labels and microthesauri.
    #[command(flatten)]
    thesaurus: ThesaurusArgs,

    #[command(flatten)]
    options: TrainOptions,

    /// Print the training summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: TrainArgs, bars: &Bars) -> anyhow::Result<()> {
    args.bound.apply();
    train_params(&args.options)?.check()?;
    // Before any work: a model path that is the corpus, or in a missing directory, is refused
    // now rather than after training.
    let mut guard = OutputGuard::new();
    guard
        .inputs("--corpus", &args.corpus)
        .inputs("--thesaurus", &args.thesaurus.thesaurus)
        .inputs("--user-dict", &args.options.user_dict);
    if args.json {
        guard.stdout_used_by("--json");
    }
    let model_out = guard.binary_file("--model", &args.model)?;

    let started = Instant::now();
    let (params, thesaurus) = params_and_thesaurus(&args.options, &args.thesaurus)?;
    prompt_if_terminal(&args.corpus, "a corpus");
    let inputs = TrainInputs {
        corpus: &args.corpus,
        format: args.input_format.format(),
        thesaurus: thesaurus.as_ref(),
        strict_thesaurus: args.thesaurus.strict_thesaurus,
    };
    if let Some(shard) = args.shard {
        let (part, mut report) = params.fit_shard_inputs(
            &inputs,
            args.thesaurus.thesaurus.as_deref(),
            shard,
            bars,
            &mut |read| output::report_read(read, thesaurus.is_some(), true),
        )?;
        report.seconds.time("saving", || -> anyhow::Result<()> {
            Ok(model_out.write(&part.to_bytes()?)?)
        })?;
        report.seconds.since("total", started);
        if args.json {
            print_out(format_args!("{}\n", serde_json::to_string_pretty(&report)?))?;
        }
        summary!(
            "shard {}: trained {} of {} descriptors ({} blocks) on {} documents, vocabulary {} \
terms, {} stored weights, {} out-of-fold values kept",
            report.shard,
            report.descriptors_trained,
            report.descriptors_total,
            report.blocks,
            report.documents,
            report.vocabulary,
            report.stored_weights,
            report.held_out_values
        );
        if let Some(why) = &report.tuning_skipped {
            stderr_line!("warning: threshold tuning skipped: {why}");
        }
        output::print_times_and_destination(&report.seconds, &model_out);
        return Ok(());
    }
    let (model, mut report) = params.fit_inputs(&inputs, bars, &mut |read| {
        output::report_read(read, thesaurus.is_some(), true)
    })?;
    save_timed(&model, &model_out, &mut report.seconds, started)?;
    print_summary(&report, args.options.min_label_docs, args.json, &model_out)
}

/// The closing summary of a run that wrote a model (`train`, `merge`): the report as JSON on
/// stdout with `json`, the summary on stderr.
pub(super) fn print_summary(
    report: &TrainReport,
    min_label_docs: usize,
    json: bool,
    model_out: &dyn std::fmt::Display,
) -> anyhow::Result<()> {
    if json {
        print_out(format_args!("{}\n", serde_json::to_string_pretty(report)?))?;
    }
    summary!(
        "trained {} descriptors ({} skipped with fewer than {} documents) on {} documents, \
vocabulary {} terms, {} stored weights",
        report.descriptors_trained,
        report.descriptors_skipped,
        min_label_docs,
        report.documents,
        report.vocabulary,
        report.stored_weights
    );
    if !report.skipped.is_empty() {
        let names: Vec<String> = report
            .skipped
            .iter()
            .map(|(d, n)| format!("{d} ({n})"))
            .collect();
        stderr_line!("skipped: {}", names.join(", "));
    }
    print_tuning(&report.tuning);
    if let Some(e) = &report.ensemble {
        let figures = |f: &dtag::metrics::RankingFigures| {
            format!(
                "P@1 {:.4}, P@5 {:.4}, nDCG@5 {:.4}",
                f.p_at_1, f.p_at_5, f.ndcg_at_5
            )
        };
        summary!(
            "ensemble ({} neighbours, {} lexicon labels, {} descriptors from the lexicon alone): \
out of fold {} against one-vs-rest alone {}: {}",
            e.neighbours,
            e.lexicon_labels,
            e.lexicon_only_descriptors,
            figures(&e.fused),
            figures(&e.one_vs_rest),
            if e.chosen {
                "used"
            } else {
                "not used (one-vs-rest ranks as well alone)"
            }
        );
    }
    output::print_times_and_destination(&report.seconds, model_out);
    Ok(())
}

fn parse_shard(s: &str) -> Result<ShardSpec, String> {
    ShardSpec::parse(s).map_err(|e| match e {
        dtag::Error::InvalidParam { reason, .. } => reason,
        other => other.to_string(),
    })
}
