//! `dtag eval`: measures a model on a labelled corpus.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use serde::Serialize;

use dtag::corpus::Corpus;
use dtag::evaluate::report::{per_label_tsv, write_html_report};
use dtag::evaluate::rollup::rollup;
use dtag::io_guard::OutputGuard;
use dtag::session::{Naming, Overrides, Session};

use super::flags::{self, CorpusFormatArg, DecisionArgs, ModelArgs, ThesaurusArgs};
use super::output::stderr_line;
use super::output::{self, summary};

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    bound: super::bounds::DocumentBound,

    #[command(flatten)]
    model: ModelArgs,

    /// Labelled test corpus files or directories.
    #[arg(long, required = true, num_args = 1.., value_name = "FILE|DIR")]
    corpus: Vec<PathBuf>,

    /// Corpus format.
    #[arg(long = "input-format", alias = "format", value_enum, default_value_t = CorpusFormatArg::Auto)]
    input_format: CorpusFormatArg,

    /// Without it, a model trained with a thesaurus resolves the corpus with what it stores.
    #[command(flatten)]
    thesaurus: ThesaurusArgs,

    /// Also roll the results up to microthesauri and domains (needs a thesaurus).
    #[arg(long)]
    by_domain: bool,

    #[command(flatten)]
    decision: DecisionArgs,

    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,

    /// Also write per-descriptor figures (support, TP, FP, FN, P, R, F1, threshold) as TSV.
    #[arg(long, value_name = "FILE.tsv")]
    per_label: Option<PathBuf>,

    /// Also write an HTML report with charts to DIR/index.html.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    args.bound.apply();
    let project = args.model.project(&Overrides {
        thesaurus: args.thesaurus.thesaurus.clone(),
        ..Overrides::default()
    })?;
    let rule = args.decision.rule_for(&project)?;
    let mut guard = OutputGuard::new();
    guard
        .inputs("--model", [&project.model])
        .inputs("--corpus", &args.corpus)
        .inputs("--thesaurus", &project.thesaurus)
        .stdout_used_by("the evaluation figures");
    let report_dir = match &args.report {
        Some(dir) => {
            let target = guard.directory("--report", dir, false)?;
            guard.file("--report", &target.join("index.html"))?;
            Some(target)
        }
        None => None,
    };
    let per_label_out = match &args.per_label {
        Some(path) => Some(guard.file("--per-label", path)?),
        None => None,
    };
    let session = Session::open(project, Naming::CorpusOnly)?;
    flags::report_thesaurus(&session);
    let given = session.given_thesaurus().is_some();
    let thesaurus = session.corpus_thesaurus();
    let thesaurus = thesaurus.as_deref();
    if args.by_domain && thesaurus.is_none() {
        bail!(
            "--by-domain needs a thesaurus: give --thesaurus, or evaluate a model trained with one"
        );
    }
    let corpus: Corpus = flags::read_labelled(
        &args.corpus,
        args.input_format,
        thesaurus,
        args.thesaurus.strict_thesaurus,
        given,
    )?;
    let evaluation = session.evaluate(&corpus, &rule);
    hint_unseen_descriptors(&evaluation, thesaurus.is_some());
    let rollup = match (args.by_domain, thesaurus) {
        (true, Some(t)) => Some(rollup(&evaluation.label_names(), &evaluation.documents, t)),
        _ => None,
    };
    // Files first: a reader of stdout that goes away (`| head`, `| true`) ends the command
    // at the first write to stdout, and must not cost the report files.
    if let Some(dir) = &report_dir {
        let sources: Vec<String> = args
            .corpus
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let title = format!(
            "model {} on {}",
            session.project().model.display(),
            sources.join(", ")
        );
        let page = write_html_report(dir, &evaluation, &title)?;
        summary!("report written to {}", page.display());
    }
    // After the report, which creates its directory: `--per-label DIR/labels.tsv` may go in it.
    if let Some(out) = &per_label_out {
        out.write(per_label_tsv(&evaluation).as_bytes())?;
        summary!("per-descriptor figures written to {out}");
    }
    if args.json {
        #[derive(Serialize)]
        struct WithRollup<'a> {
            #[serde(flatten)]
            report: &'a dtag::evaluate::EvalReport,
            #[serde(skip_serializing_if = "Option::is_none")]
            by_domain: Option<&'a dtag::evaluate::rollup::GroupRollup>,
        }
        let json = WithRollup {
            report: &evaluation.report,
            by_domain: rollup.as_ref(),
        };
        output::print_out(format_args!("{}\n", serde_json::to_string_pretty(&json)?))?;
    } else {
        output::print_out(evaluation.report.to_table())?;
        if let Some(r) = &rollup {
            output::print_out(r.to_table())?;
        }
    }
    Ok(())
}

/// When (nearly) every gold assignment names a descriptor the model never saw, the figures
/// measure a mismatch of names, not the model: say so, and why when the names are URIs.
fn hint_unseen_descriptors(evaluation: &dtag::evaluate::Evaluation, with_thesaurus: bool) {
    let r = &evaluation.report;
    // "Nearly all": a test corpus shares most of its descriptors with the training corpus.
    if r.gold_assignments == 0 || (r.unseen_assignments as f64) < 0.9 * r.gold_assignments as f64 {
        return;
    }
    let unseen: Vec<&str> = evaluation
        .labels
        .iter()
        .filter(|l| l.train_docs.is_none() && l.support > 0)
        .map(|l| l.descriptor.as_str())
        .collect();
    let uris = unseen
        .iter()
        .filter(|d| dtag::thesaurus::looks_like_iri(d))
        .count();
    stderr_line!(
        "warning: {} of the {} gold descriptor assignments name descriptors the model was not \
         trained on (e.g. `{}`), so the figures measure mismatched names",
        r.unseen_assignments,
        r.gold_assignments,
        unseen.first().copied().unwrap_or_default()
    );
    if uris * 2 >= unseen.len() && !with_thesaurus {
        stderr_line!(
            "hint: the corpus names descriptors by URI, which could not be matched: the model \
             knows labels and has no thesaurus; give --thesaurus to match URIs to labels, or \
             train the model with --thesaurus"
        );
    }
}
