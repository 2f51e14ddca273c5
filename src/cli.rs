//! Command-line interface: every flag is declared once here and parsed into the library's
//! validated parameter types before any work starts.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use dtag::analysis::{read_user_dict, AnalyzerConfig, SegmenterKind};
use dtag::corpus::{self, Corpus};
use dtag::cv::cross_validate;
use dtag::eval::evaluate_detailed;
use dtag::features::TfidfParams;
use dtag::model::file::write_atomically;
use dtag::model::{LogisticParams, Model, OneVsRestParams};
use dtag::report::{per_label_tsv, write_html_report};
use dtag::suggest::{DecisionRule, Suggester, Suggestion};
use dtag::train::{Progress, TrainParams, ValidTrainParams};
use dtag::tune::{ThresholdObjective, TuneParams};

#[derive(Parser, Debug)]
#[command(
    name = "dtag",
    version,
    about = "Suggest thesaurus descriptors for documents",
    long_about = "Learns one-vs-rest logistic models over TF-IDF features from a corpus of \
documents tagged with descriptors, suggests descriptors for new drafts, and measures how \
precise and complete the suggestions are.\n\nCorpus format: per document a line \
`%%%DESC1|DESC2|…|`, an empty line, then the body on one line."
)]
pub struct Cli {
    /// Worker threads (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,

    /// No progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Learn a model from a labelled corpus.
    Train(TrainArgs),
    /// Suggest descriptors for drafts (one per file, or each body of a `%%%` corpus).
    Suggest(SuggestArgs),
    /// Measure precision and recall on a labelled corpus.
    Eval(EvalArgs),
    /// k-fold cross-validation: mean ± sd of every evaluation figure.
    Cv(CvArgs),
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Corpus files or directories (`-` for stdin).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE|DIR")]
    corpus: Vec<PathBuf>,

    /// Where to write the model.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,

    #[command(flatten)]
    options: TrainOptions,

    /// Print the training summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Settings shared by `train` and `cv`.
#[derive(Args, Debug)]
struct TrainOptions {
    /// Inverse regularisation strength of every descriptor's model.
    #[arg(long, default_value_t = LogisticParams::default().c, value_name = "F")]
    c: f64,

    /// Multiply C by this for positive documents (helps rare descriptors).
    #[arg(long, default_value_t = LogisticParams::default().positive_weight, value_name = "F")]
    positive_weight: f64,

    /// Skip descriptors with fewer training documents (they are listed).
    #[arg(long, default_value_t = TrainParams::default().min_label_docs, value_name = "N")]
    min_label_docs: usize,

    /// Keep terms found in at least N training documents.
    #[arg(long, default_value_t = TfidfParams::default().min_df, value_name = "N")]
    min_df: usize,

    /// Drop terms found in more than this fraction of documents.
    #[arg(long, default_value_t = TfidfParams::default().max_df, value_name = "F")]
    max_df: f64,

    /// Keep only the N terms with the highest document frequency.
    #[arg(long, value_name = "N")]
    max_features: Option<usize>,

    /// Use raw term counts instead of 1 + ln(count).
    #[arg(long)]
    no_sublinear_tf: bool,

    /// How bodies are split into words.
    #[arg(long, value_enum, default_value_t = AnalyzerArg::Jieba)]
    analyzer: AnalyzerArg,

    /// jieba user dictionary (`word [freq] [tag]` per line); its words stay whole.
    #[arg(long, value_name = "FILE")]
    user_dict: Option<PathBuf>,

    /// Drop words shorter than N characters (1 keeps single-character words).
    #[arg(long, default_value_t = AnalyzerConfig::default().min_word_chars, value_name = "N")]
    min_word_chars: usize,

    /// Add character n-grams of these lengths as extra features, e.g. `2-3`.
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_range)]
    char_ngrams: Option<(usize, usize)>,

    /// Solver stopping tolerance (largest dual gradient violation).
    #[arg(long, default_value_t = LogisticParams::default().tolerance, value_name = "F")]
    tolerance: f64,

    /// Upper bound on solver epochs per descriptor.
    #[arg(long, default_value_t = LogisticParams::default().max_epochs, value_name = "N")]
    max_epochs: usize,

    /// Drop weights smaller than this in magnitude from the saved model.
    #[arg(long, default_value_t = OneVsRestParams::default().prune_below, value_name = "F")]
    prune: f32,

    /// Cross-validate on the training corpus to calibrate scores and learn a threshold per
    /// descriptor (used by `suggest` and `eval` unless `--threshold` is given).
    #[arg(long)]
    tune_thresholds: bool,

    /// Cross-validation folds of `--tune-thresholds`.
    #[arg(long, default_value_t = TuneParams::default().folds, value_name = "K", requires = "tune_thresholds")]
    tune_folds: usize,

    /// What the tuned thresholds maximise out of fold.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::MicroF1, requires = "tune_thresholds")]
    threshold_objective: ObjectiveArg,

    /// Descriptors with fewer training documents get thresholds pulled toward the global one.
    #[arg(long, default_value_t = TuneParams::default().min_positives, value_name = "N", requires = "tune_thresholds")]
    threshold_min_docs: usize,

    /// Strength of the pull of each descriptor's calibration toward the shared one.
    #[arg(long, default_value_t = TuneParams::default().calibration_prior, value_name = "F", requires = "tune_thresholds")]
    calibration_prior: f64,
}

#[derive(Args, Debug)]
struct CvArgs {
    /// Labelled corpus files or directories.
    #[arg(long, required = true, num_args = 1.., value_name = "FILE|DIR")]
    corpus: Vec<PathBuf>,

    /// Number of folds.
    #[arg(long, default_value_t = 5, value_name = "K")]
    folds: usize,

    /// Seed of the fold assignment.
    #[arg(long, default_value_t = TuneParams::default().seed, value_name = "N")]
    seed: u64,

    #[command(flatten)]
    options: TrainOptions,

    #[command(flatten)]
    decision: DecisionArgs,

    /// Print the summary and every fold's figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug, Clone)]
struct DecisionArgs {
    /// Propose at most N descriptors per document.
    #[arg(long, default_value_t = DecisionRule::default().limit, value_name = "N")]
    limit: usize,

    /// Propose descriptors with at least this probability (the best one always). Default:
    /// the model's tuned per-descriptor thresholds, or 0.5 for an untuned model.
    #[arg(long, value_name = "P")]
    threshold: Option<f32>,
}

impl DecisionArgs {
    fn rule(&self) -> anyhow::Result<DecisionRule> {
        Ok(DecisionRule {
            limit: self.limit,
            threshold: self.threshold.unwrap_or(DecisionRule::default().threshold),
            at_least_one: true,
            use_model_thresholds: self.threshold.is_none(),
        }
        .check()?)
    }
}

#[derive(Args, Debug)]
struct SuggestArgs {
    /// The model file.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,

    #[command(flatten)]
    decision: DecisionArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Tsv)]
    format: Format,

    /// Drafts: files (one draft each, or a `%%%` corpus), `-` for stdin (the default).
    #[arg(value_name = "FILE")]
    inputs: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// The model file.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,

    /// Labelled test corpus files or directories.
    #[arg(long, required = true, num_args = 1.., value_name = "FILE|DIR")]
    corpus: Vec<PathBuf>,

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

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum AnalyzerArg {
    /// jieba-rs word segmentation (for Chinese; also splits Latin words).
    Jieba,
    /// Split on whitespace only (already tokenized text).
    Whitespace,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ObjectiveArg {
    /// Thresholds that together maximise micro-F1.
    MicroF1,
    /// Each descriptor's threshold maximises its own F1 (more recall for rare descriptors).
    DescriptorF1,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Tsv,
    Json,
}

fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let num = |x: &str| {
        x.trim()
            .parse::<usize>()
            .map_err(|_| format!("`{s}` is not MIN-MAX"))
    };
    Ok((num(a)?, num(b)?))
}

/// Progress bars on stderr, hidden when quiet or not a terminal.
struct Bars {
    quiet: bool,
}

impl Progress for Bars {
    fn stage(&self, name: &str, len: u64) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        bar
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(n) = cli.threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("cannot start the thread pool")?;
    }
    let bars = Bars { quiet: cli.quiet };
    match cli.command {
        Command::Train(args) => train(args, &bars),
        Command::Suggest(args) => suggest(args),
        Command::Eval(args) => eval(args),
        Command::Cv(args) => cv(args, &bars),
    }
}

fn train_params(args: &TrainOptions) -> anyhow::Result<ValidTrainParams> {
    let user_words = match &args.user_dict {
        Some(path) => read_user_dict(path)?,
        None => Vec::new(),
    };
    let params = TrainParams {
        analyzer: AnalyzerConfig {
            segmenter: match args.analyzer {
                AnalyzerArg::Jieba => SegmenterKind::Jieba,
                AnalyzerArg::Whitespace => SegmenterKind::Whitespace,
            },
            user_words,
            char_ngrams: args.char_ngrams,
            min_word_chars: args.min_word_chars,
        },
        tfidf: TfidfParams {
            min_df: args.min_df,
            max_df: args.max_df,
            max_features: args.max_features,
            sublinear_tf: !args.no_sublinear_tf,
        },
        ovr: OneVsRestParams {
            logistic: LogisticParams {
                c: args.c,
                positive_weight: args.positive_weight,
                tolerance: args.tolerance,
                max_epochs: args.max_epochs,
                ..LogisticParams::default()
            },
            prune_below: args.prune,
        },
        min_label_docs: args.min_label_docs,
        tune: args.tune_thresholds.then(|| TuneParams {
            folds: args.tune_folds,
            objective: match args.threshold_objective {
                ObjectiveArg::MicroF1 => ThresholdObjective::MicroF1,
                ObjectiveArg::DescriptorF1 => ThresholdObjective::DescriptorF1,
            },
            min_positives: args.threshold_min_docs,
            calibration_prior: args.calibration_prior,
            ..TuneParams::default()
        }),
    }
    .check()?;
    Ok(params)
}

fn train(args: TrainArgs, bars: &Bars) -> anyhow::Result<()> {
    let params = train_params(&args.options)?;

    let started = Instant::now();
    let corpus = corpus::read_corpus(&args.corpus)?;
    let read_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "read {} documents with {} distinct descriptors ({} assignments) from {} source(s)",
        corpus.documents.len(),
        corpus.descriptor_set().len(),
        corpus.assignments(),
        corpus.sources
    );
    let (model, mut report) = params.fit(&corpus, bars)?;
    report.seconds.insert("reading", read_seconds);
    let save_start = Instant::now();
    model.save(&args.model)?;
    report
        .seconds
        .insert("saving", save_start.elapsed().as_secs_f64());
    report
        .seconds
        .insert("total", started.elapsed().as_secs_f64());

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    eprintln!(
        "trained {} descriptors ({} skipped with fewer than {} documents) on {} documents, \
vocabulary {} terms, {} stored weights",
        report.descriptors_trained,
        report.descriptors_skipped,
        args.options.min_label_docs,
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
        eprintln!("skipped: {}", names.join(", "));
    }
    if let Some(t) = &report.tuning {
        eprintln!(
            "tuned on {} folds: global threshold {:.3}, {} descriptors with a threshold of their own; \
out-of-fold micro-F1 {:.4}, macro-F1 {:.4}, document F1 {:.4}",
            t.folds,
            t.global_threshold,
            t.descriptors_with_own_threshold,
            t.oof_micro_f1,
            t.oof_macro_f1,
            t.oof_doc_f1
        );
        eprintln!(
            "global grid (out of fold): best micro-F1 {:.4} at --limit {} --threshold {:.2}; \
best document F1 {:.4} at --limit {} --threshold {:.2}",
            t.best_for_micro_f1.f1,
            t.best_for_micro_f1.limit,
            t.best_for_micro_f1.threshold,
            t.best_for_doc_f1.f1,
            t.best_for_doc_f1.limit,
            t.best_for_doc_f1.threshold
        );
    }
    let stages: Vec<String> = report
        .seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}s"))
        .collect();
    eprintln!("time: {}", stages.join(", "));
    eprintln!("model written to {}", args.model.display());
    Ok(())
}

/// A draft to suggest for, with a name for the output.
struct Draft {
    name: String,
    text: String,
}

fn read_drafts(paths: &[PathBuf]) -> anyhow::Result<Vec<Draft>> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        paths.to_vec()
    };
    let mut drafts = Vec::new();
    for input in corpus::expand_inputs(&paths)? {
        let name = input.name();
        let bytes = input.read_bytes()?;
        if corpus::looks_like_corpus(&bytes) {
            let parsed = corpus::parse_corpus(&name, &bytes);
            if !parsed.problems.is_empty() {
                return Err(dtag::Error::Corpus(parsed.problems).into());
            }
            drafts.extend(parsed.documents.into_iter().map(|d| Draft {
                name: d.origin.to_string(),
                text: d.body,
            }));
        } else {
            let text = String::from_utf8(bytes).map_err(|e| {
                anyhow::anyhow!(
                    "{name}: not valid UTF-8 (byte {})",
                    e.utf8_error().valid_up_to()
                )
            })?;
            drafts.push(Draft { name, text });
        }
    }
    Ok(drafts)
}

#[derive(Serialize)]
struct DraftSuggestions<'a> {
    document: &'a str,
    suggestions: &'a [Suggestion],
}

fn suggest(args: SuggestArgs) -> anyhow::Result<()> {
    let rule = args.decision.rule()?;
    let model = Model::load(&args.model)?;
    let drafts = read_drafts(&args.inputs)?;
    let suggester = Suggester::new(model)?;
    let texts: Vec<&str> = drafts.iter().map(|d| d.text.as_str()).collect();
    let results = suggester.suggest_batch(&texts, &rule);

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Tsv => {
            writeln!(out, "document\trank\tdescriptor\tscore")?;
            for (draft, suggestions) in drafts.iter().zip(&results) {
                for (rank, s) in suggestions.iter().enumerate() {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{:.4}",
                        draft.name,
                        rank + 1,
                        s.descriptor,
                        s.score
                    )?;
                }
            }
        }
        Format::Json => {
            let items: Vec<DraftSuggestions> = drafts
                .iter()
                .zip(&results)
                .map(|(d, s)| DraftSuggestions {
                    document: &d.name,
                    suggestions: s,
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &items)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let rule = args.decision.rule()?;
    let model = Model::load(&args.model)?;
    let corpus: Corpus = corpus::read_corpus(&args.corpus)?;
    let suggester = Suggester::new(model)?;
    let evaluation = evaluate_detailed(&suggester, &corpus, &rule);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&evaluation.report)?);
    } else {
        print!("{}", evaluation.report.to_table());
    }
    if let Some(path) = &args.per_label {
        write_atomically(path, per_label_tsv(&evaluation).as_bytes())?;
        eprintln!("per-descriptor figures written to {}", path.display());
    }
    if let Some(dir) = &args.report {
        let sources: Vec<String> = args
            .corpus
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let title = format!("model {} on {}", args.model.display(), sources.join(", "));
        let page = write_html_report(dir, &evaluation, &title)?;
        eprintln!("report written to {}", page.display());
    }
    Ok(())
}

fn cv(args: CvArgs, bars: &Bars) -> anyhow::Result<()> {
    let params = train_params(&args.options)?;
    let rule = args.decision.rule()?;
    let corpus = corpus::read_corpus(&args.corpus)?;
    eprintln!(
        "read {} documents with {} distinct descriptors; {}-fold cross-validation",
        corpus.documents.len(),
        corpus.descriptor_set().len(),
        args.folds
    );
    let report = cross_validate(&params, &corpus, args.folds, args.seed, &rule, bars)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
