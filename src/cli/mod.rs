//! The `dtag` command: a thin layer over the library. Each subcommand is a file that declares
//! its flags (shared groups of flags are declared once, in [`flags`]), turns them into the
//! library's checked parameters before any work starts, calls the library, and prints through
//! [`output`], the one place that formats what the command line shows. [`failure`] says how an
//! error reaches the user (by the flag that caused it).

mod annif_verbs;
mod bounds;
mod convert;
mod cv;
mod eval;
pub mod failure;
mod flags;
mod index;
mod inspect;
mod learn;
mod merge;
mod output;
mod readme_flags;
#[cfg(feature = "serve")]
mod serve;
mod suggest;
mod synth;
mod train;

use anyhow::{bail, Context};

use clap::{CommandFactory, Parser, Subcommand};
use output::stderr_line;

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
    Train(train::TrainArgs),
    /// Suggest descriptors for drafts (one per file, or each body of a `%%%` corpus).
    Suggest(suggest::SuggestArgs),
    /// Measure precision and recall on a labelled corpus.
    Eval(eval::EvalArgs),
    /// Join the partial models of every shard (`train --shard K/N`) into one model.
    Merge(merge::MergeArgs),
    /// Update a model with new documents (vocabulary kept, descriptors warm-started).
    Learn(learn::LearnArgs),
    /// Write a labelled corpus in another format (dtag `%%%`, Annif TSV, JSON Lines, directory).
    Convert(convert::ConvertArgs),
    /// List a model's descriptors, or a descriptor's strongest terms.
    Inspect(inspect::InspectArgs),
    /// Suggest descriptors for every `.txt` document of a directory, written beside it
    /// (`NAME.dtag`, as `annif index` writes `NAME.annif`).
    Index(index::IndexArgs),
    /// Print a shell completion script (`source <(dtag completion bash)`).
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write a synthetic corpus for measuring cost at scale (not accuracy).
    Synth(synth::SynthArgs),
    /// k-fold cross-validation: mean ± sd of every evaluation figure.
    Cv(cv::CvArgs),
    /// Serve suggestions over HTTP: Annif's REST API (`/v1`) and a web page (`/`).
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
}

/// Parses the command line; an Annif subcommand that dtag spells otherwise gets a hint (exit
/// status 2, as for any usage error).
pub fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            if err.kind() == clap::error::ErrorKind::InvalidSubcommand {
                let verb = std::env::args().skip(1).find(|a| !a.starts_with('-'));
                if let Some((verb, hint)) = verb.and_then(|v| annif_verbs::hint(&v).map(|h| (v, h)))
                {
                    stderr_line!("error: dtag has no `{verb}` subcommand (it is Annif's): {hint}");
                    std::process::exit(2);
                }
            }
            err.exit()
        }
    }
}

/// `--threads` may ask for at most this many threads per available core.
const MAX_THREADS_PER_CORE: usize = 4;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    output::set_quiet(cli.quiet);
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
    let bars = output::Bars { quiet: cli.quiet };
    match cli.command {
        Command::Train(args) => train::run(args, &bars),
        Command::Suggest(args) => suggest::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Learn(args) => learn::run(args, &bars),
        Command::Merge(args) => merge::run(args, &bars),
        Command::Convert(args) => convert::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Index(args) => index::run(args, &bars),
        Command::Completion { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "dtag", &mut out);
            output::print_out(String::from_utf8_lossy(&out))?;
            Ok(())
        }
        Command::Cv(args) => cv::run(args, &bars),
        #[cfg(feature = "serve")]
        Command::Serve(args) => serve::run(args),
    }
}
