//! Command-line interface: every flag is declared once here and parsed into the library's
//! validated parameter types before any work starts.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use serde::Serialize;

use dtag::analysis::{read_user_dict, AnalyzerConfig, CharNgrams, Language, SegmenterKind};
use dtag::corpus::Corpus;
use dtag::cv::cross_validate;
use dtag::ensemble::EnsembleParams;
use dtag::eval::evaluate_detailed;
use dtag::features::TfidfParams;
use dtag::io_guard::OutputGuard;
use dtag::model::{LogisticParams, Model, OneVsRestParams};
use dtag::report::{per_label_tsv, write_html_report};
use dtag::serve::ServeParams;
use dtag::suggest::{DecisionRule, Suggester, Suggestion};
use dtag::synth::SynthParams;
use dtag::thesaurus::rollup::rollup;
use dtag::train::{Progress, TrainParams, ValidTrainParams};
use dtag::tune::{ThresholdObjective, TuneParams, TuningSummary};

use crate::commands::{self, summary, CorpusFormatArg, ThesaurusArgs};

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

    /// No progress bars, no summaries on stderr (errors and warnings remain).
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
    /// Update a model with new documents (vocabulary kept, descriptors warm-started).
    Learn(commands::LearnArgs),
    /// Write a labelled corpus in another format (dtag `%%%`, Annif TSV, JSON Lines, directory).
    Convert(commands::ConvertArgs),
    /// List a model's descriptors, or a descriptor's strongest terms.
    Inspect(commands::InspectArgs),
    /// Write a synthetic corpus for measuring cost at scale (not accuracy).
    Synth(SynthArgs),
    /// k-fold cross-validation: mean ± sd of every evaluation figure.
    Cv(CvArgs),
    /// Serve suggestions over HTTP: Annif's REST API (`/v1`) and a web page (`/`).
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Corpus files or directories (`-` for stdin).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE|DIR")]
    corpus: Vec<PathBuf>,

    /// Where to write the model.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,

    /// Corpus format.
    #[arg(long, value_enum, default_value_t = CorpusFormatArg::Auto)]
    format: CorpusFormatArg,

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

/// Settings shared by `train` and `cv`.
#[derive(Args, Debug)]
struct TrainOptions {
    /// Inverse regularisation strength of every descriptor's model.
    #[arg(long, default_value_t = LogisticParams::default().c, value_name = "F", allow_negative_numbers = true)]
    c: f64,

    /// Multiply C by this for positive documents (helps rare descriptors).
    #[arg(long, default_value_t = LogisticParams::default().positive_weight, value_name = "F", allow_negative_numbers = true)]
    positive_weight: f64,

    /// Skip descriptors with fewer training documents (they are listed).
    #[arg(long, default_value_t = TrainParams::default().min_label_docs, value_name = "N")]
    min_label_docs: usize,

    /// Keep terms found in at least N training documents.
    #[arg(long, default_value_t = TfidfParams::default().min_df, value_name = "N")]
    min_df: usize,

    /// Drop terms found in more than this fraction of documents.
    #[arg(long, default_value_t = TfidfParams::default().max_df, value_name = "F", allow_negative_numbers = true)]
    max_df: f64,

    /// Keep only the N terms with the highest document frequency.
    #[arg(long, value_name = "N")]
    max_features: Option<usize>,

    /// Weigh words by raw counts instead of 1 + ln(count).
    #[arg(long)]
    no_sublinear_tf: bool,

    /// Language of the documents, stored in the model (as an Annif project's language):
    /// `zh` segments with jieba; `en`, `fi`, `fr`, `es`, `ru`, `ar` split words, drop stop
    /// words and stem (Snowball). Thesaurus labels in this language (or untagged) are matched.
    #[arg(long, default_value = "zh", value_name = "LANG", value_parser = Language::parse)]
    language: Language,

    /// How bodies are split into words (default: the language's: jieba for zh, words otherwise).
    #[arg(long, value_enum)]
    analyzer: Option<AnalyzerArg>,

    /// jieba user dictionary (`word [freq] [tag]` per line); its words stay whole.
    #[arg(long, value_name = "FILE")]
    user_dict: Option<PathBuf>,

    /// Drop words shorter than N characters (1 keeps single-character words).
    #[arg(long, default_value_t = AnalyzerConfig::default().min_word_chars, value_name = "N")]
    min_word_chars: usize,

    /// Character n-grams added as features, weighted by presence: `han:MIN-MAX` for runs of
    /// Chinese characters, `all:MIN-MAX` (or `MIN-MAX`) for every run of letters and digits,
    /// `none` for words only. Default: `han:1-1` (single Chinese characters) with the jieba
    /// analyzer, `none` with the whitespace analyzer.
    #[arg(long, value_name = "SPEC", value_parser = parse_char_ngrams)]
    char_ngrams: Option<CharNgramsArg>,

    /// Solver stopping tolerance (largest dual gradient violation).
    #[arg(long, default_value_t = LogisticParams::default().tolerance, value_name = "F", allow_negative_numbers = true)]
    tolerance: f64,

    /// Upper bound on solver epochs per descriptor.
    #[arg(long, default_value_t = LogisticParams::default().max_epochs, value_name = "N")]
    max_epochs: usize,

    /// Rare descriptors train on their positives plus about F sampled negatives per positive,
    /// importance-weighted (0 = always use every document).
    #[arg(long, default_value_t = LogisticParams::default().negatives_per_positive, value_name = "F", allow_negative_numbers = true)]
    negatives_per_positive: f64,

    /// Sample no fewer documents than this per descriptor (smaller corpora are never sampled).
    #[arg(long, default_value_t = LogisticParams::default().min_sampled_rows, value_name = "N")]
    min_sampled_rows: usize,

    /// Drop weights smaller than this in magnitude from the saved model.
    #[arg(long, default_value_t = OneVsRestParams::default().prune_below, value_name = "F", allow_negative_numbers = true)]
    prune: f32,

    /// Skip threshold tuning. By default training cross-validates on the training corpus to
    /// calibrate scores and learn a threshold per descriptor (used by `suggest` and `eval`
    /// unless `--threshold` is given); without it scores are the raw logistic outputs, cut at 0.5.
    #[arg(long)]
    no_tune: bool,

    /// Tune thresholds (the default; kept so that older scripts keep working).
    #[arg(long, hide = true, conflicts_with = "no_tune")]
    tune_thresholds: bool,

    /// Cross-validation folds of threshold tuning.
    #[arg(long, default_value_t = TuneParams::default().folds, value_name = "K", conflicts_with = "no_tune")]
    tune_folds: usize,

    /// Epochs each fold's model of threshold tuning runs, starting from the model trained on
    /// all folds with the held-out fold removed (0: train each fold's model from zero).
    #[arg(long, default_value_t = TuneParams::default().refit_epochs, value_name = "N", conflicts_with = "no_tune")]
    tune_epochs: usize,

    /// What the tuned thresholds maximise out of fold.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::MicroF1, conflicts_with = "no_tune")]
    threshold_objective: ObjectiveArg,

    /// Descriptors with fewer training documents get thresholds pulled toward the global one.
    #[arg(long, default_value_t = TuneParams::default().min_positives, value_name = "N", conflicts_with = "no_tune")]
    threshold_min_docs: usize,

    /// Strength of the pull of each descriptor's calibration toward the shared one.
    #[arg(long, default_value_t = TuneParams::default().calibration_prior, value_name = "F", conflicts_with = "no_tune", allow_negative_numbers = true)]
    calibration_prior: f64,

    /// One-vs-rest only: fit no ensemble. By default tuning's out-of-fold scores also fit
    /// nearest neighbours and a lexicon of descriptor (and thesaurus) labels, fused with
    /// one-vs-rest, and the fused ranking is kept when it ranks better out of fold.
    #[arg(long, conflicts_with = "no_tune")]
    no_ensemble: bool,

    /// Training documents that vote for a draft's descriptors in the ensemble (0: none).
    #[arg(long, default_value_t = EnsembleParams::default().neighbours, value_name = "N", conflicts_with = "no_ensemble")]
    neighbours: usize,

    /// Do not match descriptor and thesaurus labels in the text.
    #[arg(long, conflicts_with = "no_ensemble")]
    no_lexicon: bool,
}

#[derive(Args, Debug)]
struct CvArgs {
    /// Labelled corpus files or directories (`-` for stdin).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE|DIR")]
    corpus: Vec<PathBuf>,

    /// Corpus format.
    #[arg(long, value_enum, default_value_t = CorpusFormatArg::Auto)]
    format: CorpusFormatArg,

    /// As for `train`: the segmenter's words and the names of the corpus descriptors.
    #[command(flatten)]
    thesaurus: ThesaurusArgs,

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

    /// Propose descriptors with at least this probability (the best one always, unless
    /// --min-score). Default: the model's tuned per-descriptor thresholds, or 0.5 for an
    /// untuned model.
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    threshold: Option<f32>,

    /// Propose nothing below this probability, not even the best descriptor: a draft that
    /// nothing fits gets no suggestion.
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    min_score: f32,
}

impl DecisionArgs {
    fn rule(&self) -> anyhow::Result<DecisionRule> {
        Ok(DecisionRule {
            limit: self.limit,
            threshold: self.threshold.unwrap_or(DecisionRule::default().threshold),
            at_least_one: true,
            use_model_thresholds: self.threshold.is_none(),
            min_score: self.min_score,
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

    /// Thesaurus for URIs and labels of the suggestions (models trained with one store them).
    #[arg(long, value_name = "FILE")]
    thesaurus: Option<PathBuf>,

    /// For each suggestion, list the draft's terms that contributed most, both ways.
    #[arg(long)]
    explain: bool,

    /// How many terms --explain lists each way.
    #[arg(long, default_value_t = 5, value_name = "N", requires = "explain")]
    explain_terms: usize,

    /// Format of the drafts (`--format` is the output's): by default each input is detected,
    /// a corpus in any format gives a draft per document, any other file is one draft.
    #[arg(long, value_enum, default_value_t = CorpusFormatArg::Auto)]
    input_format: CorpusFormatArg,

    /// Warn about a draft with fewer distinct terms known to the model than this (such a
    /// draft has little to be judged by; 0: never warn).
    #[arg(long, default_value_t = 3, value_name = "N")]
    min_known_terms: usize,

    /// Drafts: files (one draft each, or a corpus in any format: a draft per document),
    /// Annif document directories, `-` for stdin (the default).
    #[arg(value_name = "FILE|DIR")]
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

    /// Corpus format.
    #[arg(long, value_enum, default_value_t = CorpusFormatArg::Auto)]
    format: CorpusFormatArg,

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

#[derive(Args, Debug)]
struct SynthArgs {
    /// Number of documents.
    #[arg(long, default_value_t = SynthParams::default().documents, value_name = "N")]
    documents: usize,

    /// Number of distinct descriptors (frequencies are long-tailed).
    #[arg(long, default_value_t = SynthParams::default().descriptors, value_name = "N")]
    descriptors: usize,

    /// Mean words per document.
    #[arg(long, default_value_t = SynthParams::default().words_per_document, value_name = "N")]
    words: usize,

    /// Size of the Zipfian vocabulary.
    #[arg(long, default_value_t = SynthParams::default().vocabulary, value_name = "N")]
    vocabulary: usize,

    /// Mean descriptors per document.
    #[arg(long, default_value_t = SynthParams::default().descriptors_per_document, value_name = "F", allow_negative_numbers = true)]
    descriptors_per_document: f64,

    /// Seed of the generator (same seed, same corpus).
    #[arg(long, default_value_t = SynthParams::default().seed, value_name = "N")]
    seed: u64,

    /// Where to write the corpus (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    output: PathBuf,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// A model to serve as Annif project NAME (repeatable).
    #[arg(long = "model", required = true, value_name = "NAME=FILE", value_parser = dtag::serve::parse_model_spec)]
    models: Vec<(String, PathBuf)>,

    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value_t = ServeParams::default().bind, value_name = "ADDR:PORT")]
    bind: std::net::SocketAddr,

    /// Language code reported for the projects and their labels.
    #[arg(long, default_value_t = ServeParams::default().language, value_name = "CODE")]
    language: String,

    /// Largest accepted request body in bytes (larger ones get 413).
    #[arg(long, default_value_t = ServeParams::default().max_body_bytes, value_name = "N")]
    max_body_bytes: usize,

    /// Bytes of request bodies held in memory at once, over all requests (a body that would
    /// cross it gets 503).
    #[arg(long, default_value_t = ServeParams::default().max_body_memory, value_name = "N")]
    max_body_memory: usize,

    /// Requests decoded and scored at once (more get 503).
    #[arg(long, default_value_t = ServeParams::default().max_in_flight, value_name = "N")]
    max_in_flight: usize,

    /// Open connections at once (more get 503 and are closed).
    #[arg(long, default_value_t = ServeParams::default().max_connections, value_name = "N")]
    max_connections: usize,

    /// Open connections of one client address, IPv6 addresses counted by /64 (more get 429
    /// and are closed).
    #[arg(long, default_value_t = ServeParams::default().max_connections_per_client, value_name = "N")]
    max_connections_per_client: usize,

    /// Seconds allowed for the request headers, from the connection's opening or its previous
    /// response.
    #[arg(long, default_value_t = ServeParams::default().header_timeout.as_secs_f64(), value_name = "S")]
    header_timeout: f64,

    /// Seconds allowed for the whole request body (then 408).
    #[arg(long, default_value_t = ServeParams::default().body_timeout.as_secs_f64(), value_name = "S")]
    body_timeout: f64,

    /// Seconds without a byte moving, while no request of it is being received or worked on,
    /// after which a connection is closed.
    #[arg(long, default_value_t = ServeParams::default().idle_timeout.as_secs_f64(), value_name = "S")]
    idle_timeout: f64,

    /// Seconds shutdown waits for requests in progress.
    #[arg(long, default_value_t = ServeParams::default().shutdown_grace.as_secs_f64(), value_name = "S", allow_negative_numbers = true)]
    shutdown_grace: f64,

    /// Allow `POST /v1/projects/{id}/learn`: learned documents update the model served and
    /// its file (atomically). Without it learn requests get 403.
    #[arg(long)]
    learn: bool,

    /// Learn requests waiting at most per project (more get 503).
    #[arg(long, default_value_t = ServeParams::default().learn_queue, value_name = "N")]
    learn_queue: usize,

    /// Share of each update's documents held out to check it, as `dtag learn --holdout` (a
    /// worse update is a warning in the log; 0: no check).
    #[arg(long, default_value_t = ServeParams::default().learn_holdout, value_name = "F", allow_negative_numbers = true)]
    learn_holdout: f64,
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

/// `--char-ngrams` as given; `none` is a choice of its own, unlike an absent flag.
#[derive(Clone, Copy, Debug)]
struct CharNgramsArg(Option<CharNgrams>);

fn parse_char_ngrams(s: &str) -> Result<CharNgramsArg, String> {
    CharNgrams::parse(s).map(CharNgramsArg)
}

/// Progress bars on stderr, hidden when quiet or not a terminal.
pub(crate) struct Bars {
    quiet: bool,
}

impl Progress for Bars {
    fn stage(&self, name: &str, len: u64) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {rate} eta {eta}")
                .expect("valid template")
                .with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{}/s", thousands(state.per_sec()));
                    },
                )
                .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        bar
    }
}

/// A rate as a whole number with thousands separators (`21,988`): indicatif's `{per_sec}`
/// prints four decimals (`21,987.6226/s`), a precision no rate has.
fn thousands(rate: f64) -> String {
    if !rate.is_finite() || rate < 0.0 {
        return "?".to_string();
    }
    let digits = format!("{:.0}", rate);
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `--threads` may ask for at most this many threads per available core.
const MAX_THREADS_PER_CORE: usize = 4;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    commands::set_quiet(cli.quiet);
    if let Some(n) = cli.threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        // Each thread is an OS thread with its own stack, and the work is CPU-bound: beyond a
        // few per core they only add switching (`--threads 10000` made `suggest` 300 times
        // slower). Refused rather than clamped, so a script never runs other than it says.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let most = MAX_THREADS_PER_CORE * cores;
        if n > most {
            bail!(
                "--threads {n} is more than {MAX_THREADS_PER_CORE} per core ({cores} core(s) \
                 available: at most {most})"
            );
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
        Command::Learn(args) => commands::learn(args, &bars),
        Command::Convert(args) => commands::convert(args),
        Command::Inspect(args) => commands::inspect(args),
        Command::Synth(args) => synth(args),
        Command::Cv(args) => cv(args, &bars),
        Command::Serve(args) => serve(args),
    }
}

fn train_params(args: &TrainOptions) -> anyhow::Result<TrainParams> {
    let user_words = match &args.user_dict {
        Some(path) => read_user_dict(path)?,
        None => Vec::new(),
    };
    let segmenter = match args.analyzer {
        Some(AnalyzerArg::Jieba) => SegmenterKind::Jieba,
        Some(AnalyzerArg::Whitespace) => SegmenterKind::Whitespace,
        None => args.language.default_segmenter(),
    };
    let params = TrainParams {
        analyzer: AnalyzerConfig {
            segmenter,
            user_words,
            char_ngrams: args
                .char_ngrams
                .map_or_else(|| CharNgrams::default_for(segmenter), |arg| arg.0),
            min_word_chars: args.min_word_chars,
            language: args.language,
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
                negatives_per_positive: args.negatives_per_positive,
                min_sampled_rows: args.min_sampled_rows,
                ..LogisticParams::default()
            },
            prune_below: args.prune,
        },
        min_label_docs: args.min_label_docs,
        tune: (!args.no_tune).then(|| TuneParams {
            folds: args.tune_folds,
            refit_epochs: args.tune_epochs,
            objective: match args.threshold_objective {
                ObjectiveArg::MicroF1 => ThresholdObjective::MicroF1,
                ObjectiveArg::DescriptorF1 => ThresholdObjective::DescriptorF1,
            },
            min_positives: args.threshold_min_docs,
            calibration_prior: args.calibration_prior,
            ..TuneParams::default()
        }),
        ensemble: (!args.no_ensemble).then(|| EnsembleParams {
            neighbours: args.neighbours,
            lexicon: !args.no_lexicon,
            ..EnsembleParams::default()
        }),
    };
    Ok(params)
}

/// The training settings, checked before anything is read, and the thesaurus, whose Chinese
/// labels become segmenter words: what `train` and `cv` both start from.
fn params_and_thesaurus(
    options: &TrainOptions,
    thesaurus: &commands::ThesaurusArgs,
) -> anyhow::Result<(ValidTrainParams, Option<dtag::thesaurus::Thesaurus>)> {
    let mut params = train_params(options)?;
    params.clone().check()?;
    let thesaurus = thesaurus.load()?;
    if let Some(t) = &thesaurus {
        let added = commands::add_thesaurus_words(&mut params.analyzer.user_words, t);
        summary!("segmenter: {added} Chinese thesaurus labels added as words");
    }
    Ok((params.check()?, thesaurus))
}

fn train(args: TrainArgs, bars: &Bars) -> anyhow::Result<()> {
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
    let segmenter = commands::BackgroundAnalyzer::start(params.analyzer_config().clone());
    let corpus = args
        .thesaurus
        .read_labelled(&args.corpus, args.format, thesaurus.as_ref())?;
    let mut seconds = std::collections::BTreeMap::new();
    seconds.insert("reading", started.elapsed().as_secs_f64());
    let analyzer = segmenter.join(&mut seconds)?;
    let (mut model, mut report) =
        params.fit_with_analyzer(&analyzer, &corpus, thesaurus.as_ref(), bars)?;
    if let Some(t) = &thesaurus {
        model.attach_thesaurus(t);
    }
    commands::save_timed(&model, &model_out, &mut seconds, started)?;
    report.seconds.extend(seconds);

    if args.json {
        commands::print_out(format_args!("{}\n", serde_json::to_string_pretty(&report)?))?;
    }
    summary!(
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
    let stages: Vec<String> = report
        .seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}s"))
        .collect();
    summary!("time: {}", stages.join(", "));
    summary!("model written to {model_out}");
    Ok(())
}

/// A draft to suggest for, with a name for the output.
struct Draft {
    name: String,
    text: String,
}

/// The drafts of the inputs, through the reader of every command (see
/// [`dtag::formats::read_drafts`]): a corpus in any format gives a draft per document.
fn read_drafts(paths: &[PathBuf], format: CorpusFormatArg) -> anyhow::Result<Vec<Draft>> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        paths.to_vec()
    };
    commands::prompt_if_terminal(&paths, "a draft");
    let raw = dtag::formats::read_drafts(&paths, format.format())?;
    Ok(raw
        .documents
        .into_iter()
        .map(|d| Draft {
            name: d.origin.to_string(),
            text: d.text,
        })
        .collect())
}

#[derive(Serialize)]
struct DraftSuggestions<'a> {
    document: &'a str,
    suggestions: &'a [Suggestion],
}

fn suggest(args: SuggestArgs) -> anyhow::Result<()> {
    let rule = args.decision.rule()?;
    if args.explain_terms == 0 {
        bail!("--explain-terms must be at least 1");
    }
    let mut model = Model::load(&args.model)?;
    if let Some(path) = &args.thesaurus {
        model.attach_thesaurus(&commands::load_thesaurus(path)?);
    }
    let drafts = read_drafts(&args.inputs, args.input_format)?;
    let with_concepts = model.concepts.is_some();
    let suggester = Suggester::new(model)?;
    warn_unfamiliar_drafts(&suggester, &drafts, args.min_known_terms);
    let texts: Vec<&str> = drafts.iter().map(|d| d.text.as_str()).collect();
    if args.explain {
        return suggest_explained(&suggester, &drafts, &rule, args.format, args.explain_terms);
    }
    let results = suggester.suggest_batch(&texts, &rule);

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Tsv => {
            write_tsv_header(&mut out, with_concepts)?;
            writeln!(out)?;
            for (draft, suggestions) in drafts.iter().zip(&results) {
                for (rank, s) in suggestions.iter().enumerate() {
                    write_tsv_row(&mut out, &draft.name, rank, s, with_concepts)?;
                    writeln!(out)?;
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

/// Warns about each draft that shares (almost) no vocabulary with the model: its suggestions,
/// if any pass the rule, rest on nothing (`--min-score` lets such drafts get none).
fn warn_unfamiliar_drafts(suggester: &Suggester, drafts: &[Draft], min_known: usize) {
    use rayon::prelude::*;
    if min_known == 0 {
        return;
    }
    let model = suggester.model();
    let overlaps: Vec<dtag::features::Overlap> = drafts
        .par_iter()
        .map(|d| model.vectorizer.overlap(suggester.analyzer(), &d.text))
        .collect();
    for (draft, o) in drafts.iter().zip(overlaps) {
        if o.terms == 0 {
            eprintln!(
                "warning: {}: the draft is empty (no words); nothing can be suggested from it",
                draft.name
            );
        } else if o.known < min_known {
            eprintln!(
                "warning: {}: only {} of the draft's {} distinct terms are known to the model \
                 (fewer than --min-known-terms {min_known}); its suggestions rest on almost nothing",
                draft.name, o.known, o.terms
            );
        }
    }
}

/// The TSV header's shared columns (callers add their own and end the line).
fn write_tsv_header(out: &mut dyn Write, with_concepts: bool) -> std::io::Result<()> {
    write!(out, "document\trank\tdescriptor\tscore")?;
    if with_concepts {
        write!(out, "\turi\tlabel_en\tlabel_zh")?;
    }
    Ok(())
}

/// One suggestion's shared TSV columns; URI and labels are empty when unknown.
fn write_tsv_row(
    out: &mut dyn Write,
    document: &str,
    rank: usize,
    s: &Suggestion,
    with_concepts: bool,
) -> std::io::Result<()> {
    write!(
        out,
        "{document}\t{}\t{}\t{:.4}",
        rank + 1,
        s.descriptor,
        s.score
    )?;
    if with_concepts {
        write!(
            out,
            "\t{}\t{}\t{}",
            s.uri.as_deref().unwrap_or(""),
            s.label_en.as_deref().unwrap_or(""),
            s.label_zh.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

fn suggest_explained(
    suggester: &Suggester,
    drafts: &[Draft],
    rule: &DecisionRule,
    format: Format,
    terms: usize,
) -> anyhow::Result<()> {
    use rayon::prelude::*;
    let results: Vec<Vec<dtag::explain::ExplainedSuggestion>> = drafts
        .par_iter()
        .map(|d| dtag::explain::suggest_explained(suggester, &d.text, rule, terms))
        .collect();
    let with_concepts = suggester.model().concepts.is_some();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Tsv => {
            // With an ensemble, a last column splits each fused value by member.
            let with_members = suggester.model().ensemble.is_some();
            write_tsv_header(&mut out, with_concepts)?;
            write!(out, "\tpositive_terms\tnegative_terms")?;
            writeln!(out, "{}", if with_members { "\tmembers" } else { "" })?;
            for (draft, suggestions) in drafts.iter().zip(&results) {
                for (rank, e) in suggestions.iter().enumerate() {
                    write_tsv_row(&mut out, &draft.name, rank, &e.suggestion, with_concepts)?;
                    write!(
                        out,
                        "\t{}\t{}",
                        commands::format_terms(&e.explanation.positive),
                        commands::format_terms(&e.explanation.negative)
                    )?;
                    if with_members {
                        let members: Vec<String> = e
                            .explanation
                            .members
                            .iter()
                            .map(|m| format!("{}:{:+.4}", m.member, m.contribution))
                            .collect();
                        write!(out, "\t{}", members.join(" "))?;
                    }
                    writeln!(out)?;
                }
            }
        }
        Format::Json => {
            let items: Vec<commands::ExplainedDraft> = drafts
                .iter()
                .zip(&results)
                .map(|(d, s)| commands::ExplainedDraft {
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
    let mut guard = OutputGuard::new();
    guard
        .inputs("--model", [&args.model])
        .inputs("--corpus", &args.corpus)
        .inputs("--thesaurus", &args.thesaurus.thesaurus)
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
    let model = Model::load(&args.model)?;
    let given = args.thesaurus.load()?;
    let stored = if given.is_none() {
        model.stored_thesaurus()
    } else {
        None
    };
    let thesaurus = given.as_ref().or(stored.as_ref());
    if args.by_domain && thesaurus.is_none() {
        bail!(
            "--by-domain needs a thesaurus: give --thesaurus, or evaluate a model trained with one"
        );
    }
    let corpus: Corpus = commands::read_labelled(
        &args.corpus,
        args.format,
        thesaurus,
        args.thesaurus.strict_thesaurus,
        given.is_some(),
    )?;
    let suggester = Suggester::new(model)?;
    let evaluation = evaluate_detailed(&suggester, &corpus, &rule);
    hint_unseen_descriptors(&evaluation, thesaurus.is_some());
    let rollup = match (args.by_domain, thesaurus) {
        (true, Some(t)) => Some(rollup(&evaluation.label_names(), &evaluation.documents, t)),
        _ => None,
    };
    if args.json {
        #[derive(Serialize)]
        struct WithRollup<'a> {
            #[serde(flatten)]
            report: &'a dtag::eval::EvalReport,
            #[serde(skip_serializing_if = "Option::is_none")]
            by_domain: Option<&'a dtag::thesaurus::rollup::GroupRollup>,
        }
        let json = WithRollup {
            report: &evaluation.report,
            by_domain: rollup.as_ref(),
        };
        commands::print_out(format_args!("{}\n", serde_json::to_string_pretty(&json)?))?;
    } else {
        commands::print_out(evaluation.report.to_table())?;
        if let Some(r) = &rollup {
            commands::print_out(r.to_table())?;
        }
    }
    if let Some(dir) = &report_dir {
        let sources: Vec<String> = args
            .corpus
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let title = format!("model {} on {}", args.model.display(), sources.join(", "));
        let page = write_html_report(dir, &evaluation, &title)?;
        summary!("report written to {}", page.display());
    }
    // After the report, which creates its directory: `--per-label DIR/labels.tsv` may go in it.
    if let Some(out) = &per_label_out {
        out.write(per_label_tsv(&evaluation).as_bytes())?;
        summary!("per-descriptor figures written to {out}");
    }
    Ok(())
}

/// When (nearly) every gold assignment names a descriptor the model never saw, the figures
/// measure a mismatch of names, not the model: say so, and why when the names are URIs.
fn hint_unseen_descriptors(evaluation: &dtag::eval::Evaluation, with_thesaurus: bool) {
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
    eprintln!(
        "warning: {} of the {} gold descriptor assignments name descriptors the model was not \
         trained on (e.g. `{}`), so the figures measure mismatched names",
        r.unseen_assignments,
        r.gold_assignments,
        unseen.first().copied().unwrap_or_default()
    );
    if uris * 2 >= unseen.len() && !with_thesaurus {
        eprintln!(
            "hint: the corpus names descriptors by URI, which could not be matched: the model \
             knows labels and has no thesaurus; give --thesaurus to match URIs to labels, or \
             train the model with --thesaurus"
        );
    }
}

fn cv(args: CvArgs, bars: &Bars) -> anyhow::Result<()> {
    train_params(&args.options)?.check()?;
    let rule = args.decision.rule()?;
    dtag::cv::check_folds(args.folds)?;
    // The same reader and thesaurus handling as `train`, so that `cv` measures what `train`
    // would learn from the same corpus.
    let (params, thesaurus) = params_and_thesaurus(&args.options, &args.thesaurus)?;
    let corpus = args
        .thesaurus
        .read_labelled(&args.corpus, args.format, thesaurus.as_ref())?;
    summary!("{}-fold cross-validation", args.folds);
    let report = cross_validate(
        &params,
        &corpus,
        thesaurus.as_ref(),
        args.folds,
        args.seed,
        &rule,
        bars,
    )?;
    if args.json {
        commands::print_out(format_args!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        commands::print_out(report.to_table())?;
    }
    Ok(())
}

fn synth(args: SynthArgs) -> anyhow::Result<()> {
    let params = SynthParams {
        documents: args.documents,
        descriptors: args.descriptors,
        words_per_document: args.words,
        vocabulary: args.vocabulary,
        descriptors_per_document: args.descriptors_per_document,
        seed: args.seed,
        ..SynthParams::default()
    }
    .check()?;
    let output = OutputGuard::new().file("--output", &args.output)?;
    if output.is_stdout() {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        params.write(&mut out)?;
        out.flush()?;
        return Ok(());
    }
    let mut bytes = Vec::new();
    let n = params.write(&mut bytes)?;
    output.write(&bytes)?;
    summary!(
        "wrote {n} synthetic documents ({} MB) to {output}",
        bytes.len() / 1_000_000
    );
    Ok(())
}

fn seconds(name: &str, value: f64) -> anyhow::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(value)
        .map_err(|_| anyhow::anyhow!("--{name} must be a non-negative number of seconds"))
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let params = ServeParams {
        models: args.models,
        bind: args.bind,
        language: args.language,
        max_body_bytes: args.max_body_bytes,
        max_body_memory: args.max_body_memory,
        max_in_flight: args.max_in_flight,
        max_connections: args.max_connections,
        max_connections_per_client: args.max_connections_per_client,
        header_timeout: seconds("header-timeout", args.header_timeout)?,
        body_timeout: seconds("body-timeout", args.body_timeout)?,
        idle_timeout: seconds("idle-timeout", args.idle_timeout)?,
        shutdown_grace: seconds("shutdown-grace", args.shutdown_grace)?,
        learn: args.learn,
        learn_queue: args.learn_queue,
        learn_holdout: args.learn_holdout,
    }
    .check()?;
    params.run(|address| {
        // Scripts and tests read this line to find the port.
        println!("listening on http://{address}");
        let _ = std::io::stdout().flush();
    })?;
    Ok(())
}

/// The summary of threshold tuning (or why there was none) on stderr.
pub(crate) fn print_tuning(summary: &TuningSummary) {
    if let Some(reason) = &summary.skipped {
        eprintln!("thresholds not tuned: {reason}");
    }
    if let Some(t) = &summary.report {
        summary!(
            "tuned on {} folds: global threshold {:.3}, {} descriptors with a threshold of their own; \
out-of-fold micro-F1 {:.4}, macro-F1 {:.4}, document F1 {:.4}",
            t.folds,
            t.global_threshold,
            t.descriptors_with_own_threshold,
            t.oof_micro_f1,
            t.oof_macro_f1,
            t.oof_doc_f1
        );
        summary!(
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
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn rates_are_whole_numbers_with_thousands_separators() {
        assert_eq!(thousands(21987.6226), "21,988");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(f64::NAN), "?");
    }
}
