//! Where an input is wrong: the places and problems that errors carry. Leaf types, so that
//! every stage can report a place without depending on the stages that read inputs.

use std::fmt;
use std::sync::Arc;

/// A place in an input: file name (or `<stdin>`) and 1-based line; line 0 stands for the
/// input as a whole (a draft read from a whole file) and is not printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source: Arc<str>,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.source)
        } else {
            write!(f, "{}:{}", self.source, self.line)
        }
    }
}

/// What is wrong with a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    InvalidUtf8,
    EmptyDescriptor,
    DuplicateDescriptor(String),
    NoDescriptors,
    HeaderWithoutBody,
    BodyWithoutHeader,
    /// A problem particular to another input format, described.
    Format(String),
    /// A document an update refuses to learn, and why.
    Unlearnable(String),
}

/// A malformed document, located precisely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusProblem {
    pub origin: Origin,
    pub kind: ProblemKind,
}

impl fmt::Display for CorpusProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            ProblemKind::InvalidUtf8 => "line is not valid UTF-8".to_string(),
            ProblemKind::EmptyDescriptor => "header has an empty descriptor (`||`)".to_string(),
            ProblemKind::DuplicateDescriptor(d) => format!("header repeats descriptor `{d}`"),
            ProblemKind::NoDescriptors => "header has no descriptors".to_string(),
            ProblemKind::HeaderWithoutBody => "header is not followed by a body".to_string(),
            ProblemKind::BodyWithoutHeader => {
                "text outside a document (body without a `%%%` header)".to_string()
            }
            ProblemKind::Format(what) => what.clone(),
            ProblemKind::Unlearnable(why) => format!("cannot be learned: {why}"),
        };
        write!(f, "{}: {what}", self.origin)
    }
}

/// A descriptor the thesaurus does not know, with where it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownDescriptor {
    /// As written (label, or URI).
    pub name: String,
    /// Assignments of it in the corpus.
    pub count: usize,
    /// The first places it is used.
    pub origins: Vec<Origin>,
}

impl fmt::Display for UnknownDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let places: Vec<String> = self.origins.iter().map(Origin::to_string).collect();
        write!(
            f,
            "`{}` ({} assignment(s); at {}{})",
            self.name,
            self.count,
            places.join(", "),
            if self.count > self.origins.len() {
                ", …"
            } else {
                ""
            }
        )
    }
}

/// What a labelled corpus may be, for the message about an input that is none of them.
pub const CORPUS_FORMATS_HINT: &str = "expected `%%%DESC|…|` headers (dtag), \
`text<TAB><uri> …` lines (Annif TSV), `{\"text\": …, \"subjects\": […]}` lines (JSON Lines), \
or a directory of NAME.txt with NAME.tsv or NAME.key (Annif document directory)";
