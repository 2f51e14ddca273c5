//! One error type for the whole crate, with a variant per kind of failure so callers
//! (and the CLI's exit messages) can say precisely what went wrong and where.

use std::path::PathBuf;

mod problem;

pub use problem::{CorpusProblem, Origin, ProblemKind, UnknownDescriptor, CORPUS_FORMATS_HINT};

/// Everything that can go wrong in `dtag`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    /// The message carries the cause itself (not as `source()`), so printing the error
    /// chain does not repeat it.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    /// No input is in a corpus format (e.g. a directory of drafts or source files given as a
    /// corpus): said once, instead of a problem for every line.
    #[error(
        "{} not a labelled corpus ({})",
        format_inputs(inputs),
        CORPUS_FORMATS_HINT
    )]
    NotCorpus { inputs: Vec<String> },

    /// The inputs hold no document at all.
    #[error("{}: no documents (the corpus is empty)", inputs.join(", "))]
    EmptyCorpus { inputs: Vec<String> },

    /// The corpus has malformed documents; every problem found is listed.
    #[error("{}", format_problems(.0))]
    Corpus(Vec<CorpusProblem>),

    /// A parameter is out of its valid range (checked before any work starts).
    #[error("invalid parameter {name}: {reason}")]
    InvalidParam { name: &'static str, reason: String },

    /// A user dictionary line could not be read.
    #[error("{}:{line}: {reason}", path.display())]
    UserDict {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// An output path that would destroy an input or cannot be written (checked before any
    /// work starts); `flag` is the command-line flag that gave it.
    #[error("{flag} {}: {reason}", path.display())]
    Output {
        flag: String,
        path: PathBuf,
        reason: String,
    },

    /// The model file is not a dtag model, is damaged, or is of another format version.
    #[error("{}: {reason}", path.display())]
    ModelFile { path: PathBuf, reason: String },

    /// A thesaurus file could not be read.
    #[error("{}:{line}: {reason}", path.display())]
    Thesaurus {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// A projects file (`dtag.toml`) cannot be used; `line` 0 stands for the file as a whole.
    #[error("{}{}: {reason}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
    Config {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// Corpus descriptors that the thesaurus does not have (with `--strict-thesaurus`).
    #[error("{}", format_unknown(.0))]
    UnknownDescriptors(Vec<UnknownDescriptor>),

    /// A corpus cannot be written in the requested format.
    #[error("cannot write the corpus: {0}")]
    Convert(String),

    /// Training cannot proceed with the given data.
    #[error("cannot train: {0}")]
    Training(String),

    /// The HTTP server (`dtag serve`) cannot start or run.
    #[error("server: {0}")]
    Server(String),

    /// An error reported by linfa's traits.
    #[error(transparent)]
    Linfa(#[from] linfa::Error),
}

/// Crate-wide result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error,
        }
    }

    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParam {
            name,
            reason: reason.into(),
        }
    }
}

/// At most this many problems are spelled out in one message; the rest are counted.
pub const MAX_LISTED: usize = 20;

/// `heading`, then the first `most` of `items` one per indented line, then how many more there
/// are: the one shape of every long list in dtag's messages.
pub fn list_at_most<T: std::fmt::Display>(heading: String, items: &[T], most: usize) -> String {
    let mut text = heading;
    for item in items.iter().take(most) {
        text.push_str("\n  ");
        text.push_str(&item.to_string());
    }
    if items.len() > most {
        text.push_str(&format!("\n  … and {} more", items.len() - most));
    }
    text
}

fn format_unknown(unknown: &[UnknownDescriptor]) -> String {
    let assignments: usize = unknown.iter().map(|u| u.count).sum();
    list_at_most(
        format!(
            "{} descriptor(s) of the corpus ({assignments} assignment(s)) are not in the thesaurus:",
            unknown.len()
        ),
        unknown,
        MAX_LISTED,
    )
}

fn format_inputs(inputs: &[String]) -> String {
    match inputs {
        [one] => format!("{one} is"),
        [first, ..] => format!("{first} and {} other input(s) are", inputs.len() - 1),
        [] => "the input is".to_string(),
    }
}

fn format_problems(problems: &[CorpusProblem]) -> String {
    list_at_most(
        format!("the corpus has {} malformed document(s):", problems.len()),
        problems,
        MAX_LISTED,
    )
}
