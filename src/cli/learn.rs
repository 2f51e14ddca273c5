//! `dtag learn`: teaches a model new labelled documents, or replays a learning log.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;
use clap::Args;

use dtag::progress::Progress;
use dtag::session::{Naming, Overrides, Session, Teaching};
use dtag::stages::Stages;
use dtag::train::journal::{self, Journal, Teacher, Verdict};
use dtag::train::learn::{LearnParams, LearnReport, HOLDOUT_SHARE, MIN_KNOWN_TERMS};

use super::flags::{self, read_labelled, CorpusFormatArg, ModelArgs, ThesaurusArgs};
use super::output::stderr_line;
use super::output::{self, print_out, print_tuning, summary};

#[derive(Args, Debug)]
pub struct LearnArgs {
    #[command(flatten)]
    model: ModelArgs,

    /// New labelled documents: files or directories (`-` for stdin).
    #[arg(long, num_args = 1.., value_name = "FILE|DIR", required_unless_present = "replay", conflicts_with = "replay")]
    corpus: Vec<PathBuf>,

    /// Rebuild the model a server (or `dtag learn --log`) made: apply the batches of this
    /// learning log to --model as they were applied, and write the result to --output.
    #[arg(long, value_name = "FILE", requires = "output")]
    replay: Option<PathBuf>,

    /// Where to write the updated model (default: over --model, atomically).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Format of the new documents.
    #[arg(long = "input-format", alias = "format", value_enum, default_value_t = CorpusFormatArg::Auto)]
    input_format: CorpusFormatArg,

    #[command(flatten)]
    thesaurus: ThesaurusArgs,

    /// Share of the new documents held out to check the update: an update without them is
    /// measured on them against the model as it was (0: no check). The model written is
    /// updated with every document.
    #[arg(long, default_value_t = HOLDOUT_SHARE, value_name = "F", allow_negative_numbers = true)]
    holdout: f64,

    /// Write an update the held-out check finds worse than the model as it was (by default
    /// such an update is refused: the model is left untouched and the exit status is 1).
    #[arg(long)]
    accept_worse: bool,

    /// Refuse documents with fewer distinct terms known to the model (as `suggest` warns).
    #[arg(long, default_value_t = MIN_KNOWN_TERMS, value_name = "N")]
    min_known_terms: usize,

    /// Append the learned documents to this learning log (JSON Lines, synced before the
    /// model is written), as `dtag serve --learn-log` does.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,

    /// The project the log names (default: --project, else the model file's name without
    /// its extension).
    #[arg(long, value_name = "ID")]
    log_project: Option<String>,

    /// Print the update summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: LearnArgs, progress: &dyn Progress) -> anyhow::Result<()> {
    let started = Instant::now();
    // Parameters are checked before anything is read.
    let params = LearnParams {
        holdout: args.holdout,
        min_known_terms: args.min_known_terms,
    }
    .check()?;
    let project = args.model.project(&Overrides {
        thesaurus: args.thesaurus.thesaurus.clone(),
        id: args.log_project.clone(),
        ..Overrides::default()
    })?;
    let out = learn_output(&args, &project.model, &project.thesaurus)?;
    // The segmenter loads its dictionary on its own thread while the corpus is read.
    let session = Session::open(project, Naming::CorpusOnly)?;
    flags::report_thesaurus(&session);
    let project = session.project().id.clone();

    if let Some(log) = &args.replay {
        let entries = journal::read(log)?;
        let (model, done) =
            session.replay(&entries, &params, &log.display().to_string(), progress)?;
        out.write_with(|w| dtag::model::file::write_model(&model, w))?;
        if args.json {
            print_out(format_args!("{}\n", serde_json::to_string_pretty(&done)?))?;
        }
        summary!(
            "replayed {} of project '{project}': {} batch(es) applied, {} kept out, {} with \
             nothing new ({} documents)",
            log.display(),
            done.batches_applied,
            done.batches_kept_out,
            done.batches_nothing_new,
            done.documents
        );
        let mut seconds = Stages::new();
        seconds.since("total", started);
        output::print_times_and_destination(&seconds, &out);
        return Ok(());
    }

    let thesaurus = session.corpus_thesaurus();
    let corpus = read_labelled(
        &args.corpus,
        args.input_format,
        thesaurus.as_deref(),
        args.thesaurus.strict_thesaurus,
        session.given_thesaurus().is_some(),
    )?;
    drop(thesaurus);
    let mut seconds = Stages::new();
    seconds.since("reading", started);
    // Said even when nothing is saved (an update kept out, or nothing new).
    seconds.add("saving", 0.0);
    let teacher = Teacher {
        client: None,
        indexer: std::env::var("USER").ok(),
    };
    let lessons = session.lessons(corpus, &teacher);
    let mut journal = args.log.as_deref().map(Journal::open).transpose()?;
    let taught = session.learn(
        &lessons,
        Teaching {
            params: &params,
            journal: journal.as_mut(),
            accept_worse: args.accept_worse,
            progress,
        },
        &mut |updated| {
            seconds.time("saving", || {
                out.write_with(|w| dtag::model::file::write_model(updated, w))
            })
        },
    )?;
    let mut report = taught.report;
    // The update's own stages, reading and saving; the command's total replaces the update's.
    report.seconds.remove("total");
    report.seconds.merge(&seconds);
    report.seconds.since("total", started);
    if args.json {
        print_out(format_args!("{}\n", serde_json::to_string_pretty(&report)?))?;
    }
    print_summary(&report);
    match taught.verdict {
        Verdict::KeptOut => bail!(
            "the update made the model worse ({}); {} is left untouched{} (retrain on all \
             documents with `dtag train`, or learn with --accept-worse to write it anyway)",
            report
                .holdout_check
                .as_ref()
                .map(|c| c.describe())
                .unwrap_or_default(),
            out,
            if journal.is_some() {
                "; the documents are in the learning log"
            } else {
                ""
            }
        ),
        Verdict::NothingNew => {
            summary!(
                "nothing new: all {} documents had been learned before; {} is unchanged",
                report.documents,
                out
            );
            Ok(())
        }
        Verdict::Applied => {
            output::print_times_and_destination(&report.seconds, &out);
            Ok(())
        }
    }
}

fn print_summary(report: &LearnReport) {
    if let Some(check) = &report.holdout_check {
        summary!("check: {}", check.describe());
    }
    if let Some(why) = &report.holdout_skipped {
        summary!("update not checked: {why}");
    }
    summary!(
        "learned {} new documents ({} had been learned before); the model now has {} \
         documents ({} learned since training, {} updates){}",
        report.learned,
        report.already_learned,
        report.model_documents,
        report.learned_documents,
        report.updates,
        if report.descriptors_added.is_empty() {
            String::new()
        } else {
            format!("; new descriptors: {}", report.descriptors_added.join(", "))
        }
    );
    let vocabulary = &report.vocabulary;
    if vocabulary.ignored_terms > 0 {
        let examples: Vec<String> = vocabulary
            .top_ignored_terms
            .iter()
            .take(10)
            .map(|(t, n)| format!("{t} ({n})"))
            .collect();
        // Data the update could not use: said even with -q.
        stderr_line!(
            "note: ignored {} new term(s) outside the vocabulary of {} terms ({} of {} \
             tokens); most frequent: {}",
            vocabulary.ignored_terms,
            vocabulary.terms,
            vocabulary.ignored_tokens,
            vocabulary.tokens,
            examples.join(", ")
        );
    }
    if let Some(training) = &report.training {
        print_tuning(&training.tuning);
    }
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
        .inputs("--thesaurus", thesaurus)
        .inputs("--replay", &args.replay);
    if args.json {
        guard.stdout_used_by("--json");
    }
    if let Some(log) = &args.log {
        if dtag::io_guard::same_file(log, model)
            || args
                .corpus
                .iter()
                .any(|c| dtag::io_guard::same_file(log, c))
        {
            bail!("--log {}: is an input of this command", log.display());
        }
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
