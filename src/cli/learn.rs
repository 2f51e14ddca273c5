//! `dtag learn`: updates a model with new labelled documents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;
use clap::Args;

use dtag::analysis::Analyzer;
use dtag::classifier::{LogisticParams, OneVsRestParams};
use dtag::progress::Progress;
use dtag::train::learn::LearnParams;

use super::flags::{self, read_labelled, CorpusFormatArg, ModelArgs, ThesaurusArgs};
use super::output::{self, print_out, print_tuning, save_timed, summary};

#[derive(Args, Debug)]
pub struct LearnArgs {
    #[command(flatten)]
    model: ModelArgs,

    /// New labelled documents: files or directories (`-` for stdin).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE|DIR")]
    corpus: Vec<PathBuf>,

    /// Where to write the updated model (default: over --model, atomically).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Corpus format.
    #[arg(long, value_enum, default_value_t = CorpusFormatArg::Auto)]
    format: CorpusFormatArg,

    #[command(flatten)]
    thesaurus: ThesaurusArgs,

    /// Inverse regularisation strength of the update (default: the model's C). The current
    /// weights act as a prior; a larger C lets the new documents move them further.
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    c: Option<f64>,

    /// Multiply C by this for positive documents.
    #[arg(long, default_value_t = LogisticParams::default().positive_weight, value_name = "F", allow_negative_numbers = true)]
    positive_weight: f64,

    /// Solver stopping tolerance.
    #[arg(long, default_value_t = LogisticParams::default().tolerance, value_name = "F", allow_negative_numbers = true)]
    tolerance: f64,

    /// Passes over the new documents per descriptor (the update is not solved to the end).
    #[arg(long, default_value_t = dtag::train::learn::UPDATE_EPOCHS, value_name = "N")]
    max_epochs: usize,

    /// Drop weights smaller than this in magnitude from the saved model.
    #[arg(long, default_value_t = OneVsRestParams::default().prune_below, value_name = "F", allow_negative_numbers = true)]
    prune: f32,

    /// Each descriptor updates on its new positives plus a weighted sample of the new
    /// negatives, never fewer rows than this (the model's weights stand for the rest).
    #[arg(long, default_value_t = dtag::train::learn::UPDATE_MIN_SAMPLED_ROWS, value_name = "N")]
    min_sampled_rows: usize,

    /// Descriptors new to the model need this many new documents.
    #[arg(long, default_value_t = 1, value_name = "N")]
    min_label_docs: usize,

    /// Share of the new documents held out to check the update: an update without them is
    /// measured on them against the model as it was, and a drop is reported (0: no check).
    /// The model written is updated with every document.
    #[arg(long, default_value_t = dtag::train::learn::HOLDOUT_SHARE, value_name = "F", allow_negative_numbers = true)]
    holdout: f64,

    /// Refuse an update that the held-out check finds worse than the model as it was: the
    /// model is left untouched and the exit status is non-zero.
    #[arg(long)]
    strict: bool,

    /// Print the update summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: LearnArgs, progress: &dyn Progress) -> anyhow::Result<()> {
    let started = Instant::now();
    // Parameters are checked before anything is read (the model's C is only a default).
    let check = |c: f64| {
        LearnParams {
            ovr: OneVsRestParams {
                logistic: LogisticParams {
                    c,
                    positive_weight: args.positive_weight,
                    tolerance: args.tolerance,
                    max_epochs: args.max_epochs,
                    min_sampled_rows: args.min_sampled_rows,
                    ..LogisticParams::default()
                },
                prune_below: args.prune,
            },
            min_label_docs: args.min_label_docs,
            holdout: args.holdout,
        }
        .check()
    };
    check(args.c.unwrap_or(LogisticParams::default().c))?;
    let chosen = args.model.resolve()?;
    let thesaurus_file = chosen.thesaurus(args.thesaurus.thesaurus.as_ref());
    let out = learn_output(&args, &chosen.model, &thesaurus_file)?;
    let model = chosen.load_model()?;
    let params = check(args.c.unwrap_or(model.info.c))?;
    // The segmenter loads its dictionary on its own thread while the corpus is read.
    let analyzer = Analyzer::new(model.analyzer.clone())?;
    let given = flags::load_optional_thesaurus(thesaurus_file.as_deref())?;
    let thesaurus = model.thesaurus_or_stored(given.as_ref());
    let thesaurus = thesaurus.as_deref();
    let corpus = read_labelled(
        &args.corpus,
        args.format,
        thesaurus,
        args.thesaurus.strict_thesaurus,
        given.is_some(),
    )?;
    let mut seconds = BTreeMap::new();
    seconds.insert("reading", started.elapsed().as_secs_f64());
    let (updated, mut report) =
        params.learn_with_analyzer(&model, &analyzer, &corpus, given.as_ref(), progress)?;
    // What speaks against the update: a measured drop, or new documents so unlike the
    // model's that it may forget what they lack (which no held-out check can measure).
    let mut against = Vec::new();
    match &report.holdout_check {
        Some(check) if check.worse => against.push(format!(
            "the update made the model worse: {}",
            check.describe()
        )),
        Some(check) => summary!("check: {}", check.describe()),
        None => {}
    }
    if let Some(why) = &report.holdout_skipped {
        summary!("update not checked: {why}");
    }
    if report.coverage.unrepresentative {
        against.push(format!(
            "the new documents are not a sample of what the model was trained on: {}; the \
             update only teaches those descriptors that the new documents are not theirs, and \
             the model may now miss them",
            report.coverage.describe()
        ));
    }
    if !against.is_empty() {
        if args.strict {
            bail!(
                "{}; {} is left untouched (retrain on all documents with `dtag train`, or \
                 learn without --strict to write the update anyway)",
                against.join("; "),
                out
            );
        }
        for reason in &against {
            eprintln!("warning: {reason}");
        }
        eprintln!(
            "warning: retraining on all documents (`dtag train`) may do better; --strict \
             refuses such an update"
        );
    }
    save_timed(&updated, &out, &mut seconds, started)?;
    report.seconds.extend(seconds);
    if args.json {
        print_out(format_args!("{}\n", serde_json::to_string_pretty(&report)?))?;
    }
    summary!(
        "learned {} documents: {} descriptors updated, {} added{}; vocabulary kept at {} terms",
        report.documents,
        report.descriptors_updated,
        report.descriptors_added.len(),
        if report.descriptors_skipped.is_empty() {
            String::new()
        } else {
            format!(
                ", {} new ones skipped with fewer than {} documents",
                report.descriptors_skipped.len(),
                args.min_label_docs
            )
        },
        updated.vectorizer.n_features()
    );
    if report.ignored_terms > 0 {
        let examples: Vec<String> = report
            .top_ignored_terms
            .iter()
            .take(10)
            .map(|(t, n)| format!("{t} ({n})"))
            .collect();
        // Data the update could not use: said even with -q.
        eprintln!(
            "note: ignored {} new term(s) outside the vocabulary ({} of {} tokens); most frequent: {}",
            report.ignored_terms,
            report.ignored_tokens,
            report.tokens,
            examples.join(", ")
        );
    }
    if !report.descriptors_added.is_empty() {
        summary!("added: {}", report.descriptors_added.join(", "));
    }
    print_tuning(&report.tuning);
    if let Some(kept) = &report.tuning_kept {
        eprintln!("note: {kept}");
    }
    if let Some(dropped) = &report.ensemble_dropped {
        eprintln!("note: {dropped}");
    }
    output::print_times_and_destination(&report.seconds, &out);
    Ok(())
}

/// Where `learn` writes, checked before any work. Writing over `--model` is what `learn` does
/// by default; any other input is refused.
fn learn_output(
    args: &LearnArgs,
    model: &Path,
    thesaurus: &Option<PathBuf>,
) -> anyhow::Result<dtag::io_guard::Output> {
    let mut guard = dtag::io_guard::OutputGuard::new();
    guard
        .inputs("--corpus", &args.corpus)
        .inputs("--thesaurus", thesaurus);
    if args.json {
        guard.stdout_used_by("--json");
    }
    match &args.output {
        Some(path) if !dtag::io_guard::same_file(path, model) => {
            guard.inputs("--model", [model]);
            Ok(guard.binary_file("--output", path)?)
        }
        Some(path) => Ok(guard.binary_file("--output", path)?),
        None => Ok(guard.binary_file("--model", model)?),
    }
}
