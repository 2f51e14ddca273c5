//! Reading labelled corpora in the `%%%` format.
//!
//! A document is a header line `%%%DESC1|DESC2|…|`, an empty line, and the body on one line.
//! The parser never drops anything silently: every malformed document becomes a
//! [`CorpusProblem`] naming the source and line, and the reader
//! ([`crate::formats::read_corpus`], one for every format) refuses the whole corpus when there
//! is any, so training never starts on data the user did not mean.

use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::error::{CorpusProblem, Origin, ProblemKind};
use crate::error::{Error, Result};

/// Header marker at the start of every document.
pub const HEADER_PREFIX: &str = "%%%";

/// One labelled document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Descriptors as written in the header, trimmed, in header order.
    pub descriptors: Vec<String>,
    /// The body text (one line).
    pub body: String,
    /// Where the document's header stands.
    pub origin: Origin,
}

/// A corpus read from one or more inputs.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    pub documents: Vec<Document>,
    /// Number of files (or stdin) the documents came from.
    pub sources: usize,
}

impl Corpus {
    /// Frees every document's body (training keeps the descriptors and origins after analysis).
    pub fn release_bodies(&mut self) {
        for d in &mut self.documents {
            d.body = String::new();
        }
    }

    /// Distinct descriptors, sorted.
    pub fn descriptor_set(&self) -> BTreeSet<&str> {
        self.documents
            .iter()
            .flat_map(|d| d.descriptors.iter().map(String::as_str))
            .collect()
    }

    /// Total number of (document, descriptor) assignments.
    pub fn assignments(&self) -> usize {
        self.documents.iter().map(|d| d.descriptors.len()).sum()
    }

    pub fn bodies(&self) -> Vec<&str> {
        self.documents.iter().map(|d| d.body.as_str()).collect()
    }
}

/// An input named on the command line: a file, a directory of files, or `-` for stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }

    /// Reads the whole input as bytes (a file through [`crate::io_guard::read_input`]: a
    /// device is refused, a regular file read up to its size).
    pub fn read_bytes(&self) -> Result<Vec<u8>> {
        match self {
            Input::Stdin => {
                let mut buf = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut buf)
                    .map_err(|e| Error::io("<stdin>", e))?;
                Ok(buf)
            }
            Input::File(p) => crate::io_guard::read_input(p),
        }
    }
}

/// Expands the paths given by the user: `-` is stdin, a directory contributes every
/// non-hidden file below it in sorted order (so runs are reproducible).
pub fn expand_inputs(paths: &[PathBuf]) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk_dir(path, &mut files)?;
            if files.is_empty() {
                return Err(Error::io(
                    path,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "directory has no files"),
                ));
            }
            inputs.extend(files.into_iter().map(Input::File));
        } else {
            inputs.push(Input::File(path.clone()));
        }
    }
    Ok(inputs)
}

fn walk_dir(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect::<Result<_>>()?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk_dir(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// The result of parsing one input: the well-formed documents and the problems found.
#[derive(Debug, Default)]
pub struct Parsed {
    pub documents: Vec<Document>,
    pub problems: Vec<CorpusProblem>,
}

/// Parses `%%%`-format text. Tolerates CRLF line ends, a UTF-8 byte-order mark, extra
/// empty lines and a missing empty line after a header, since none of them loses data.
pub fn parse_corpus(source: &str, bytes: &[u8]) -> Parsed {
    let source: Arc<str> = Arc::from(source);
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut parsed = Parsed::default();
    // The header waiting for its body: (line, descriptors or None when the header was bad).
    let mut pending: Option<(usize, Option<Vec<String>>)> = None;
    let at = |line: usize| Origin {
        source: source.clone(),
        line,
    };

    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(line) = std::str::from_utf8(raw) else {
            parsed.problems.push(CorpusProblem {
                origin: at(line_no),
                kind: ProblemKind::InvalidUtf8,
            });
            // The broken line consumes the pending header's slot either way.
            pending = None;
            continue;
        };
        if let Some(header) = line.strip_prefix(HEADER_PREFIX) {
            if let Some((header_line, _)) = pending.take() {
                parsed.problems.push(CorpusProblem {
                    origin: at(header_line),
                    kind: ProblemKind::HeaderWithoutBody,
                });
            }
            let descriptors = match parse_header(header) {
                Ok(d) => Some(d),
                Err(kind) => {
                    parsed.problems.push(CorpusProblem {
                        origin: at(line_no),
                        kind,
                    });
                    None
                }
            };
            pending = Some((line_no, descriptors));
        } else if line.trim().is_empty() {
            continue;
        } else {
            match pending.take() {
                Some((header_line, Some(descriptors))) => parsed.documents.push(Document {
                    descriptors,
                    body: line.to_string(),
                    origin: at(header_line),
                }),
                Some((_, None)) => {} // header already reported
                None => parsed.problems.push(CorpusProblem {
                    origin: at(line_no),
                    kind: ProblemKind::BodyWithoutHeader,
                }),
            }
        }
    }
    if let Some((header_line, _)) = pending {
        parsed.problems.push(CorpusProblem {
            origin: at(header_line),
            kind: ProblemKind::HeaderWithoutBody,
        });
    }
    parsed
}

/// Splits a header (without `%%%`) into trimmed descriptors. A single trailing `|` is the
/// format's terminator, not an empty descriptor.
fn parse_header(header: &str) -> std::result::Result<Vec<String>, ProblemKind> {
    let header = header.trim_end();
    let header = header.strip_suffix('|').unwrap_or(header);
    if header.trim().is_empty() {
        return Err(ProblemKind::NoDescriptors);
    }
    let mut seen = HashSet::new();
    let mut descriptors = Vec::new();
    for piece in header.split('|') {
        let descriptor = piece.trim();
        if descriptor.is_empty() {
            return Err(ProblemKind::EmptyDescriptor);
        }
        if let Some(what) = descriptor_problem(descriptor) {
            return Err(ProblemKind::Format(what));
        }
        if !seen.insert(descriptor) {
            return Err(ProblemKind::DuplicateDescriptor(descriptor.to_string()));
        }
        descriptors.push(descriptor.to_string());
    }
    Ok(descriptors)
}

/// Characters no descriptor may hold: control characters (NUL, TAB, ESC, …, which break TSV
/// columns or drive the terminal the output is shown on), bidirectional formatting characters
/// (U+202E and its kin, which make a descriptor display as another) and line separators.
pub fn is_forbidden_in_descriptor(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// What is wrong with a descriptor (or subject URI) as written, if anything: see
/// [`is_forbidden_in_descriptor`]. The message shows the offending characters escaped, so it
/// cannot do what it warns about.
pub fn descriptor_problem(descriptor: &str) -> Option<String> {
    let bad = descriptor
        .chars()
        .find(|&c| is_forbidden_in_descriptor(c))?;
    let shown: String = descriptor
        .chars()
        .map(|c| {
            if is_forbidden_in_descriptor(c) {
                format!("\\u{{{:04X}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect();
    Some(format!(
        "descriptor `{shown}` contains the control or formatting character U+{:04X}; \
         descriptors may not contain control characters (NUL, TAB, ESC, …) or bidirectional \
         controls",
        bad as u32
    ))
}

/// Returns true when the text looks like a `%%%` corpus rather than a single raw draft.
pub fn looks_like_corpus(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    bytes
        .split(|&b| b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .is_some_and(|l| l.starts_with(HEADER_PREFIX.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(usize, ProblemKind)> {
        parse_corpus("t", text.as_bytes())
            .problems
            .into_iter()
            .map(|p| (p.origin.line, p.kind))
            .collect()
    }

    #[test]
    fn parses_documents_and_trims_descriptors() {
        let parsed = parse_corpus(
            "t",
            "%%% A | B|\n\nbody one\n%%%C|\n\nbody two\n".as_bytes(),
        );
        assert!(parsed.problems.is_empty());
        assert_eq!(parsed.documents.len(), 2);
        assert_eq!(parsed.documents[0].descriptors, vec!["A", "B"]);
        assert_eq!(parsed.documents[1].body, "body two");
        assert_eq!(parsed.documents[1].origin.line, 4);
    }

    #[test]
    fn tolerates_crlf_bom_and_missing_terminator() {
        let parsed = parse_corpus("t", "\u{feff}%%%A|B\r\n\r\nbody\r\n".as_bytes());
        assert!(parsed.problems.is_empty());
        assert_eq!(parsed.documents[0].descriptors, vec!["A", "B"]);
        assert_eq!(parsed.documents[0].body, "body");
    }

    #[test]
    fn reports_every_malformation_with_its_line() {
        assert_eq!(
            kinds("%%%A||B|\n\nx\n"),
            vec![(1, ProblemKind::EmptyDescriptor)]
        );
        assert_eq!(
            kinds("%%%A|A|\n\nx\n"),
            vec![(1, ProblemKind::DuplicateDescriptor("A".into()))]
        );
        assert_eq!(kinds("%%%|\n\nx\n"), vec![(1, ProblemKind::NoDescriptors)]);
        assert_eq!(
            kinds("%%%A|\n\n%%%B|\n\nx\n"),
            vec![(1, ProblemKind::HeaderWithoutBody)]
        );
        assert_eq!(
            kinds("%%%A|\n\n"),
            vec![(1, ProblemKind::HeaderWithoutBody)]
        );
        assert_eq!(
            kinds("%%%A|\n\nx\ny\n"),
            vec![(4, ProblemKind::BodyWithoutHeader)]
        );
        let mut bad = b"%%%A|\n\n".to_vec();
        bad.extend_from_slice(b"\xff\xfe\n");
        let problems = parse_corpus("t", &bad).problems;
        assert_eq!(problems[0].kind, ProblemKind::InvalidUtf8);
        assert_eq!(problems[0].origin.line, 3);
        assert_eq!(problems[0].to_string(), "t:3: line is not valid UTF-8");
    }

    #[test]
    fn detects_corpus_versus_raw_draft() {
        assert!(looks_like_corpus(b"\n%%%A|\n\nx\n"));
        assert!(!looks_like_corpus("决议草案".as_bytes()));
    }
}
