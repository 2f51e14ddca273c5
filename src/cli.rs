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
use dtag::eval::evaluate;
use dtag::features::TfidfParams;
use dtag::model::{LogisticParams, Model, OneVsRestParams};
use dtag::serve::ServeParams;
use dtag::suggest::{DecisionRule, Suggester, Suggestion};
use dtag::train::{Progress, TrainParams};

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

    /// Print the training summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug, Clone)]
struct DecisionArgs {
    /// Propose at most N descriptors per document.
    #[arg(long, default_value_t = DecisionRule::default().limit, value_name = "N")]
    limit: usize,

    /// Propose descriptors with at least this probability (the best one always).
    #[arg(long, default_value_t = DecisionRule::default().threshold, value_name = "P")]
    threshold: f32,
}

impl DecisionArgs {
    fn rule(&self) -> anyhow::Result<DecisionRule> {
        Ok(DecisionRule {
            limit: self.limit,
            threshold: self.threshold,
            at_least_one: true,
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

    /// Requests handled at once (more get 503).
    #[arg(long, default_value_t = ServeParams::default().max_in_flight, value_name = "N")]
    max_in_flight: usize,

    /// Open connections at once (more get 503 and are closed).
    #[arg(long, default_value_t = ServeParams::default().max_connections, value_name = "N")]
    max_connections: usize,

    /// Seconds allowed for sending the request headers, and again for the body.
    #[arg(long, default_value_t = ServeParams::default().request_timeout.as_secs_f64(), value_name = "S")]
    request_timeout: f64,

    /// Seconds shutdown waits for requests in progress.
    #[arg(long, default_value_t = ServeParams::default().shutdown_grace.as_secs_f64(), value_name = "S")]
    shutdown_grace: f64,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum AnalyzerArg {
    /// jieba-rs word segmentation (for Chinese; also splits Latin words).
    Jieba,
    /// Split on whitespace only (already tokenized text).
    Whitespace,
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
        Command::Serve(args) => serve(args),
    }
}

fn train(args: TrainArgs, bars: &Bars) -> anyhow::Result<()> {
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
    }
    .check()?;

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
        args.min_label_docs,
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
    let report = evaluate(&suggester, &corpus, &rule);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
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
        max_in_flight: args.max_in_flight,
        max_connections: args.max_connections,
        request_timeout: seconds("request-timeout", args.request_timeout)?,
        shutdown_grace: seconds("shutdown-grace", args.shutdown_grace)?,
    }
    .check()?;
    params.run(|address| {
        // Scripts and tests read this line to find the port.
        println!("listening on http://{address}");
        let _ = std::io::stdout().flush();
    })?;
    Ok(())
}
