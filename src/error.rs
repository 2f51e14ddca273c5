//! One error type for the whole crate, with a variant per kind of failure so callers
//! (and the CLI's exit messages) can say precisely what went wrong and where.

use std::path::PathBuf;

use crate::corpus::CorpusProblem;

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
        crate::formats::CORPUS_FORMATS_HINT
    )]
    NotCorpus { inputs: Vec<String> },

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

    /// Corpus descriptors that the thesaurus does not have (with `--strict-thesaurus`).
    #[error("{}", format_unknown(.0))]
    UnknownDescriptors(Vec<crate::formats::UnknownDescriptor>),

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

/// At most this many corpus problems are spelled out; the rest are counted.
const MAX_LISTED_PROBLEMS: usize = 20;

fn format_unknown(unknown: &[crate::formats::UnknownDescriptor]) -> String {
    let assignments: usize = unknown.iter().map(|u| u.count).sum();
    let mut text = format!(
        "{} descriptor(s) of the corpus ({assignments} assignment(s)) are not in the thesaurus:",
        unknown.len()
    );
    for u in unknown.iter().take(MAX_LISTED_PROBLEMS) {
        text.push_str("\n  ");
        text.push_str(&u.to_string());
    }
    if unknown.len() > MAX_LISTED_PROBLEMS {
        text.push_str(&format!(
            "\n  … and {} more",
            unknown.len() - MAX_LISTED_PROBLEMS
        ));
    }
    text
}

fn format_inputs(inputs: &[String]) -> String {
    match inputs {
        [one] => format!("{one} is"),
        [first, ..] => format!("{first} and {} other input(s) are", inputs.len() - 1),
        [] => "the input is".to_string(),
    }
}

fn format_problems(problems: &[CorpusProblem]) -> String {
    let mut text = format!("the corpus has {} malformed document(s):", problems.len());
    for problem in problems.iter().take(MAX_LISTED_PROBLEMS) {
        text.push_str("\n  ");
        text.push_str(&problem.to_string());
    }
    if problems.len() > MAX_LISTED_PROBLEMS {
        text.push_str(&format!(
            "\n  … and {} more",
            problems.len() - MAX_LISTED_PROBLEMS
        ));
    }
    text
}
