//! The thesaurus, corpus-format, explanation and update parts of the command line: the flags
//! shared by several subcommands and the `learn`, `convert` and `inspect` subcommands. `cli.rs`
//! declares the subcommands and calls in here.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde::Serialize;

use dtag::analysis::{Analyzer, AnalyzerConfig};
use dtag::corpus::Corpus;
use dtag::explain::{descriptor_profile, find_descriptor, ExplainedSuggestion};
use dtag::formats::{self, CorpusFormat};
use dtag::learn::LearnParams;
use dtag::model::{LogisticParams, Model, OneVsRestParams};
use dtag::thesaurus::Thesaurus;
use dtag::train::Progress;

/// Set by `-q`: summaries on stderr are left out (errors, warnings and notes about data that
/// was not used are not).
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// `eprintln!` for a summary line (what was read, trained, written, how long it took): not
/// printed with `-q`.
macro_rules! summary {
    ($($arg:tt)*) => {
        if !$crate::commands::quiet() {
            eprintln!($($arg)*);
        }
    };
}
pub(crate) use summary;

/// Writes `text` to standard output. Unlike `print!`, which panics, a closed pipe (`| head`)
/// comes back as an error, which `main` takes for the normal end it is.
pub fn print_out(text: impl std::fmt::Display) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    write!(out, "{text}")?;
    out.flush()
}

/// Tells a user at a terminal that `dtag` is waiting for them when an input is stdin, which
/// would otherwise look like a hang.
pub fn prompt_if_terminal(paths: &[PathBuf], what: &str) {
    use std::io::IsTerminal;
    let reads_stdin = paths.is_empty() || paths.iter().any(|p| p.as_os_str() == "-");
    if reads_stdin && std::io::stdin().is_terminal() {
        eprintln!("reading {what} from standard input; end with Ctrl-D");
    }
}

/// `--thesaurus` and `--strict-thesaurus`, for commands that read labelled corpora.
#[derive(Args, Debug, Clone)]
pub struct ThesaurusArgs {
    /// Thesaurus: the UNBIS table (`concepts.tsv`, with `microthesauri.tsv` read from beside
    /// it) or SKOS Turtle (`.ttl`). Corpus descriptors are matched to concepts by URI or by
    /// English label (case-insensitive) and named by their English preferred label.
    #[arg(long, value_name = "FILE")]
    pub thesaurus: Option<PathBuf>,

    /// Refuse corpus descriptors the thesaurus does not have (default: warn and keep them).
    #[arg(long, requires = "thesaurus")]
    pub strict_thesaurus: bool,
}

impl ThesaurusArgs {
    pub fn load(&self) -> anyhow::Result<Option<Thesaurus>> {
        self.thesaurus.as_deref().map(load_thesaurus).transpose()
    }
}

pub fn load_thesaurus(path: &Path) -> anyhow::Result<Thesaurus> {
    let started = Instant::now();
    let thesaurus = Thesaurus::load(path)?;
    summary!(
        "thesaurus {}: {} concepts, {} groups ({:.2}s)",
        path.display(),
        thesaurus.concepts().len(),
        thesaurus.groups().len(),
        started.elapsed().as_secs_f64()
    );
    Ok(thesaurus)
}

/// Corpus format of `--format`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CorpusFormatArg {
    /// Detect each input's format (`%%%`, JSON Lines, TSV; a directory with `.txt` + `.key`/`.tsv`).
    #[default]
    Auto,
    /// `%%%D1|D2|`, an empty line, the body on one line.
    Dtag,
    /// Annif TSV: `text<TAB><uri> <uri>` per line (`.gz` read transparently).
    AnnifTsv,
    /// Annif JSON Lines: `{"text": …, "subjects": [{"uri": …, "label": …}]}` per line.
    AnnifJsonl,
    /// Annif document directory: `NAME.txt` with `NAME.tsv` or `NAME.key`.
    AnnifDir,
}

impl CorpusFormatArg {
    pub fn format(self) -> Option<CorpusFormat> {
        match self {
            CorpusFormatArg::Auto => None,
            CorpusFormatArg::Dtag => Some(CorpusFormat::Dtag),
            CorpusFormatArg::AnnifTsv => Some(CorpusFormat::AnnifTsv),
            CorpusFormatArg::AnnifJsonl => Some(CorpusFormat::AnnifJsonl),
            CorpusFormatArg::AnnifDir => Some(CorpusFormat::AnnifDir),
        }
    }
}

impl ThesaurusArgs {
    /// [`read_labelled`] with the thesaurus these flags gave (`--strict-thesaurus` applies),
    /// as `train`, `cv` and `convert` read their corpus.
    pub fn read_labelled(
        &self,
        corpus: &[PathBuf],
        format: CorpusFormatArg,
        thesaurus: Option<&Thesaurus>,
    ) -> anyhow::Result<Corpus> {
        read_labelled(corpus, format, thesaurus, self.strict_thesaurus, true)
    }
}

/// Reads a labelled corpus in any format and names its descriptors through the thesaurus,
/// printing what was read and any warnings on stderr. `warn_unknown` is false when the
/// thesaurus is only what a model stores (its unknowns are simply descriptors new to it).
pub fn read_labelled(
    paths: &[PathBuf],
    format: CorpusFormatArg,
    thesaurus: Option<&Thesaurus>,
    strict: bool,
    warn_unknown: bool,
) -> anyhow::Result<Corpus> {
    prompt_if_terminal(paths, "a corpus");
    let (corpus, report, summary) =
        formats::read_corpus(paths, format.format(), thesaurus, strict)?;
    // Every command that reads a labelled corpus needs documents: an empty one would give
    // figures of nothing (`eval`) or a model of nothing (`train`).
    if corpus.documents.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        bail!("{}: no documents (the corpus is empty)", names.join(", "));
    }
    summary!(
        "read {} documents with {} distinct descriptors ({} assignments) from {}",
        corpus.documents.len(),
        corpus.descriptor_set().len(),
        corpus.assignments(),
        summary.describe()
    );
    if let Some(note) = summary.ignored_note() {
        eprintln!("{note}");
    }
    if thesaurus.is_some() && warn_unknown {
        summary!(
            "thesaurus matches: {} by URI, {} by preferred label, {} by alternative label, {} unknown",
            report.by_uri,
            report.by_pref_label,
            report.by_alt_label,
            report.unknown_assignments()
        );
    }
    for warning in report.warnings() {
        if warn_unknown || !warning.starts_with("warning") {
            eprintln!("{warning}");
        }
    }
    Ok(corpus)
}

/// Adds the thesaurus's Chinese labels to the segmenter's words (user dictionary entries,
/// which may carry frequencies, win over the same word).
pub fn add_thesaurus_words(
    words: &mut Vec<dtag::analysis::UserWord>,
    thesaurus: &Thesaurus,
) -> usize {
    let known: std::collections::HashSet<String> = words.iter().map(|w| w.word.clone()).collect();
    let before = words.len();
    words.extend(
        thesaurus
            .segmenter_words()
            .into_iter()
            .filter(|w| !known.contains(&w.word)),
    );
    words.len() - before
}

/// `--explain` output for TSV: `term:+0.1234 term:+0.0456`.
pub fn format_terms(terms: &[dtag::explain::TermContribution]) -> String {
    terms
        .iter()
        .map(|t| format!("{}:{:+.4}", t.term, t.contribution))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Serialize)]
pub struct ExplainedDraft<'a> {
    pub document: &'a str,
    pub suggestions: &'a [ExplainedSuggestion],
}

// ------------------------------------------------------------------------------------------
// learn

#[derive(Args, Debug)]
pub struct LearnArgs {
    /// The model to update.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,

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
    #[arg(long, default_value_t = dtag::learn::UPDATE_EPOCHS, value_name = "N")]
    max_epochs: usize,

    /// Drop weights smaller than this in magnitude from the saved model.
    #[arg(long, default_value_t = OneVsRestParams::default().prune_below, value_name = "F", allow_negative_numbers = true)]
    prune: f32,

    /// Each descriptor updates on its new positives plus a weighted sample of the new
    /// negatives, never fewer rows than this (the model's weights stand for the rest).
    #[arg(long, default_value_t = dtag::learn::UPDATE_MIN_SAMPLED_ROWS, value_name = "N")]
    min_sampled_rows: usize,

    /// Descriptors new to the model need this many new documents.
    #[arg(long, default_value_t = 1, value_name = "N")]
    min_label_docs: usize,

    /// Share of the new documents held out to check the update: an update without them is
    /// measured on them against the model as it was, and a drop is reported (0: no check).
    /// The model written is updated with every document.
    #[arg(long, default_value_t = dtag::learn::HOLDOUT_SHARE, value_name = "F", allow_negative_numbers = true)]
    holdout: f64,

    /// Refuse an update that the held-out check finds worse than the model as it was: the
    /// model is left untouched and the exit status is non-zero.
    #[arg(long)]
    strict: bool,

    /// Print the update summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn learn(args: LearnArgs, progress: &dyn Progress) -> anyhow::Result<()> {
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
    let out = learn_output(&args)?;
    let model = Model::load(&args.model)?;
    let params = check(args.c.unwrap_or(model.info.c))?;
    let segmenter = BackgroundAnalyzer::start(model.analyzer.clone());
    let given = args.thesaurus.load()?;
    let stored = if given.is_none() {
        model.stored_thesaurus()
    } else {
        None
    };
    let thesaurus = given.as_ref().or(stored.as_ref());
    let corpus = read_labelled(
        &args.corpus,
        args.format,
        thesaurus,
        args.thesaurus.strict_thesaurus,
        given.is_some(),
    )?;
    let mut seconds = BTreeMap::new();
    seconds.insert("reading", started.elapsed().as_secs_f64());
    let analyzer = segmenter.join(&mut seconds)?;
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
    crate::cli::print_tuning(&report.tuning);
    if let Some(kept) = &report.tuning_kept {
        eprintln!("note: {kept}");
    }
    if let Some(dropped) = &report.ensemble_dropped {
        eprintln!("note: {dropped}");
    }
    let stages: Vec<String> = report
        .seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}s"))
        .collect();
    summary!("time: {}", stages.join(", "));
    summary!("model written to {out}");
    Ok(())
}

/// Where `learn` writes, checked before any work. Writing over `--model` is what `learn` does
/// by default; any other input is refused.
fn learn_output(args: &LearnArgs) -> anyhow::Result<dtag::io_guard::Output> {
    let mut guard = dtag::io_guard::OutputGuard::new();
    guard
        .inputs("--corpus", &args.corpus)
        .inputs("--thesaurus", &args.thesaurus.thesaurus);
    if args.json {
        guard.stdout_used_by("--json");
    }
    match &args.output {
        Some(path) if !dtag::io_guard::same_file(path, &args.model) => {
            guard.inputs("--model", [&args.model]);
            Ok(guard.binary_file("--output", path)?)
        }
        Some(path) => Ok(guard.binary_file("--output", path)?),
        None => Ok(guard.binary_file("--model", &args.model)?),
    }
}

// ------------------------------------------------------------------------------------------
// convert

/// Output format of `convert` (any readable format except auto-detection).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormatArg {
    Dtag,
    AnnifTsv,
    AnnifJsonl,
    AnnifDir,
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Labelled corpus files or directories (`-` for stdin).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE|DIR")]
    corpus: Vec<PathBuf>,

    /// Format of the input.
    #[arg(long, value_enum, default_value_t = CorpusFormatArg::Auto)]
    format: CorpusFormatArg,

    /// Format to write.
    #[arg(long, value_enum)]
    to: OutputFormatArg,

    /// Where to write: a file (`.gz` is gzipped), or a new directory for annif-dir.
    #[arg(long, value_name = "PATH")]
    output: PathBuf,

    #[command(flatten)]
    thesaurus: ThesaurusArgs,
}

pub fn convert(args: ConvertArgs) -> anyhow::Result<()> {
    let mut guard = dtag::io_guard::OutputGuard::new();
    guard
        .inputs("--corpus", &args.corpus)
        .inputs("--thesaurus", &args.thesaurus.thesaurus);
    let output = if args.to == OutputFormatArg::AnnifDir {
        let target = guard.directory("--output", &args.output, true)?;
        dtag::io_guard::Output::File {
            given: args.output.clone(),
            target,
        }
    } else {
        guard.file("--output", &args.output)?
    };
    let thesaurus = args.thesaurus.load()?;
    let corpus = args
        .thesaurus
        .read_labelled(&args.corpus, args.format, thesaurus.as_ref())?;
    let to = match args.to {
        OutputFormatArg::Dtag => CorpusFormat::Dtag,
        OutputFormatArg::AnnifTsv => CorpusFormat::AnnifTsv,
        OutputFormatArg::AnnifJsonl => CorpusFormat::AnnifJsonl,
        OutputFormatArg::AnnifDir => CorpusFormat::AnnifDir,
    };
    let report = formats::write_corpus_to(&corpus, to, &output, thesaurus.as_ref())?;
    if report.flattened > 0 {
        eprintln!(
            "note: {} document text(s) had line breaks{} replaced by spaces to fit the {to} format",
            report.flattened,
            if to == CorpusFormat::AnnifTsv {
                " or tabs"
            } else {
                ""
            }
        );
    }
    summary!(
        "wrote {} documents as {to}{} to {}",
        report.documents,
        if report.gzipped { " (gzipped)" } else { "" },
        output
    );
    Ok(())
}

// ------------------------------------------------------------------------------------------
// inspect

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The model file.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,

    /// A descriptor (name, URI or Chinese label) whose strongest terms to list; without it,
    /// the model's descriptors are listed.
    #[arg(long, value_name = "NAME")]
    descriptor: Option<String>,

    /// How many terms to list each way.
    #[arg(long, default_value_t = 20, value_name = "N")]
    terms: usize,

    /// Print JSON instead of TSV.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct DescriptorRow<'a> {
    descriptor: &'a str,
    documents: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label_zh: Option<&'a str>,
}

pub fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    if args.terms == 0 {
        bail!("--terms must be at least 1");
    }
    let model = Model::load(&args.model)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match &args.descriptor {
        Some(query) => {
            let label = find_descriptor(&model, query).with_context(|| {
                format!(
                    "the model has no descriptor `{query}` (`dtag inspect --model {}` lists them)",
                    args.model.display()
                )
            })?;
            let profile = descriptor_profile(&model, label, args.terms);
            if args.json {
                serde_json::to_writer_pretty(&mut out, &profile)?;
                writeln!(out)?;
            } else {
                eprintln!(
                    "{}{}: {} training documents, intercept {:.4}, {} stored weights",
                    profile.descriptor,
                    profile
                        .label_zh
                        .as_deref()
                        .map(|z| format!(" ({z})"))
                        .unwrap_or_default(),
                    profile.documents,
                    profile.intercept,
                    profile.stored_weights
                );
                writeln!(out, "sign\trank\tterm\tweight\tidf")?;
                for (sign, terms) in [("+", &profile.positive), ("-", &profile.negative)] {
                    for (rank, t) in terms.iter().enumerate() {
                        writeln!(
                            out,
                            "{sign}\t{}\t{}\t{:.4}\t{:.3}",
                            rank + 1,
                            t.term,
                            t.weight,
                            t.idf
                        )?;
                    }
                }
            }
        }
        None => {
            let rows: Vec<DescriptorRow> = model
                .descriptors
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let concept = model
                        .concepts
                        .as_ref()
                        .and_then(|c| c.descriptors[i].as_ref());
                    DescriptorRow {
                        descriptor: d,
                        documents: model.info.label_documents[i],
                        uri: concept.map(|c| c.uri.as_str()),
                        label_zh: concept.and_then(|c| c.label_zh.as_deref()),
                    }
                })
                .collect();
            summary!(
                "{} descriptors, {} training documents, vocabulary {} terms, C {}{}",
                model.descriptors.len(),
                model.info.documents,
                model.vectorizer.n_features(),
                model.info.c,
                model
                    .concepts
                    .as_ref()
                    .map(|c| format!(
                        ", thesaurus {} ({} of {} descriptors resolved)",
                        c.source,
                        c.resolved(),
                        model.descriptors.len()
                    ))
                    .unwrap_or_default()
            );
            if let Some(e) = &model.ensemble {
                let weights: Vec<String> = dtag::ensemble::FEATURES
                    .iter()
                    .zip(&e.fusion().weights)
                    .map(|((name, member), w)| format!("{}/{name} {w:+.3}", member.name()))
                    .collect();
                summary!(
                    "ensemble: one-vs-rest for {} descriptors, {} neighbours, {} lexicon labels \
({} descriptors from the lexicon alone); fusion weights: {}",
                    model.trained_descriptors(),
                    e.neighbours(),
                    e.lexicon().map_or(0, |l| l.n_labels()),
                    model.descriptors.len() - model.trained_descriptors(),
                    weights.join(", ")
                );
            }
            if args.json {
                serde_json::to_writer_pretty(&mut out, &rows)?;
                writeln!(out)?;
            } else {
                writeln!(out, "descriptor\tdocuments\turi\tlabel_zh")?;
                for r in rows {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        r.descriptor,
                        r.documents,
                        r.uri.unwrap_or(""),
                        r.label_zh.unwrap_or("")
                    )?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// The analyzer (and its segmenter's dictionary, which takes a while) built on another thread
/// while the caller reads its input.
pub struct BackgroundAnalyzer(std::thread::JoinHandle<dtag::Result<(Analyzer, f64)>>);

impl BackgroundAnalyzer {
    pub fn start(config: AnalyzerConfig) -> Self {
        BackgroundAnalyzer(std::thread::spawn(move || {
            let started = Instant::now();
            Analyzer::new(config).map(|a| (a, started.elapsed().as_secs_f64()))
        }))
    }

    /// Waits for the analyzer; records its load time and the part of it spent waiting (only
    /// that adds to the total).
    pub fn join(self, seconds: &mut BTreeMap<&'static str, f64>) -> anyhow::Result<Analyzer> {
        let waited = Instant::now();
        let (analyzer, load_seconds) = self
            .0
            .join()
            .map_err(|_| anyhow::anyhow!("loading the segmenter failed"))??;
        seconds.insert("load_segmenter", load_seconds);
        seconds.insert("segmenter_wait", waited.elapsed().as_secs_f64());
        Ok(analyzer)
    }
}

/// Writes `model` to `out` (atomically for a file) and records the time it took and the total
/// since `started`.
pub fn save_timed(
    model: &Model,
    out: &dtag::io_guard::Output,
    seconds: &mut BTreeMap<&'static str, f64>,
    started: Instant,
) -> anyhow::Result<()> {
    let save_start = Instant::now();
    out.write(&dtag::model::file::to_bytes(model)?)?;
    seconds.insert("saving", save_start.elapsed().as_secs_f64());
    seconds.insert("total", started.elapsed().as_secs_f64());
    Ok(())
}
