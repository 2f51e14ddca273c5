//! Labelled corpora in several formats: dtag's own `%%%` format and Annif's TSV, JSON Lines and
//! document directories, read into one [`Corpus`] and written back in any of them.
//!
//! Reading has two steps. [`read_raw`] parses the inputs, detecting each one's format unless one
//! is given, into [`RawDocument`]s whose subjects are still as written (a label, a URI or both);
//! every malformed document is a [`CorpusProblem`] naming file and line, and any problem refuses
//! the whole corpus. [`resolve`] then names each subject: with a thesaurus, by the concept's
//! English preferred label, found by URI or by (alternative) label; subjects the thesaurus does
//! not know are kept as written and reported ([`ResolutionReport::unknown`]), or refused when
//! `strict`. [`write`] writes a corpus in any format ([`write::write_corpus`]).

pub mod annif;
pub mod catalogue;
pub mod docx;
pub mod write;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::corpus::{self, Corpus, CorpusProblem, Document, Input, Origin, ProblemKind};
use crate::error::{list_at_most, Error, Result, MAX_LISTED};
pub use crate::error::{UnknownDescriptor, CORPUS_FORMATS_HINT};
use crate::thesaurus::{looks_like_iri, strip_angle_brackets, MatchKind, Thesaurus};

pub use write::{write_corpus, write_corpus_to};

/// A corpus format.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum CorpusFormat {
    /// `%%%D1|D2|`, an empty line, the body on one line.
    Dtag,
    /// Annif's short-text TSV: `text<TAB><uri> <uri>`, optionally gzipped.
    AnnifTsv,
    /// Annif's JSON Lines: `{"text": …, "subjects": [{"uri": …, "label": …}]}` per line.
    AnnifJsonl,
    /// Annif's document directory: `NAME.txt` with `NAME.tsv` or `NAME.key` beside it.
    AnnifDir,
}

impl CorpusFormat {
    pub const ALL: [CorpusFormat; 4] = [
        CorpusFormat::Dtag,
        CorpusFormat::AnnifTsv,
        CorpusFormat::AnnifJsonl,
        CorpusFormat::AnnifDir,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CorpusFormat::Dtag => "dtag",
            CorpusFormat::AnnifTsv => "annif-tsv",
            CorpusFormat::AnnifJsonl => "annif-jsonl",
            CorpusFormat::AnnifDir => "annif-dir",
        }
    }
}

impl fmt::Display for CorpusFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A subject as written in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub uri: Option<String>,
    pub label: Option<String>,
    /// Where it is written (the `%%%` header, the TSV/JSONL line, the subject file's line).
    pub origin: Origin,
}

impl Subject {
    /// A subject from a label, which may itself be an IRI (`<…>` or `http…`).
    pub fn from_text(text: &str, origin: Origin) -> Subject {
        let text = text.trim();
        if looks_like_iri(text) {
            Subject {
                uri: Some(strip_angle_brackets(text).to_string()),
                label: None,
                origin,
            }
        } else {
            Subject {
                uri: None,
                label: Some(text.to_string()),
                origin,
            }
        }
    }

    /// The subject as written, for messages and for naming it without a thesaurus: the label,
    /// else the URI.
    pub fn written(&self) -> &str {
        self.label
            .as_deref()
            .or(self.uri.as_deref())
            .unwrap_or_default()
    }
}

/// A document with its subjects as written.
#[derive(Debug, Clone, PartialEq)]
pub struct RawDocument {
    pub text: String,
    pub subjects: Vec<Subject>,
    pub origin: Origin,
}

/// What [`read_raw`] found.
#[derive(Debug, Default)]
pub struct RawCorpus {
    pub documents: Vec<RawDocument>,
    /// Files (or stdin) read, by format.
    pub sources: BTreeMap<CorpusFormat, usize>,
    /// Files in Annif document directories that are not part of a document, and why.
    pub ignored: Vec<(PathBuf, &'static str)>,
}

impl RawCorpus {
    pub fn source_count(&self) -> usize {
        self.sources.values().sum()
    }
}

/// The documents and problems of one input.
#[derive(Debug, Default)]
pub struct ParsedInput {
    pub documents: Vec<RawDocument>,
    pub problems: Vec<CorpusProblem>,
}

pub(crate) fn problem(source: &Arc<str>, line: usize, what: impl Into<String>) -> CorpusProblem {
    CorpusProblem {
        origin: Origin {
            source: source.clone(),
            line,
        },
        kind: ProblemKind::Format(what.into()),
    }
}

/// Gzip streams start with these two bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Text corpora gzip 3 to 10 times smaller; deflate can reach 1032 times. Decompression stops
/// at this ratio (plus [`GUNZIP_SLACK`]), so a small file cannot expand into all of memory.
pub const MAX_GZIP_RATIO: u64 = 64;
const GUNZIP_SLACK: u64 = 16 << 20;

/// Decompresses gzip data (recognised by its magic bytes); other data is returned as is.
/// Output beyond [`MAX_GZIP_RATIO`] times the input is refused (a decompression bomb).
pub fn maybe_gunzip(name: &str, bytes: Vec<u8>) -> Result<Vec<u8>> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    let limit = (bytes.len() as u64)
        .saturating_mul(MAX_GZIP_RATIO)
        .saturating_add(GUNZIP_SLACK);
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            Error::io(
                name,
                std::io::Error::new(e.kind(), format!("not a valid gzip file: {e}")),
            )
        })?;
    if out.len() as u64 > limit {
        return Err(Error::io(
            name,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "decompresses to more than {MAX_GZIP_RATIO} times its size, which no text \
                     corpus does (a damaged file or a decompression bomb); decompress it yourself \
                     if it is right"
                ),
            ),
        ));
    }
    Ok(out)
}

/// Guesses the format of one file's contents from its first non-blank line: `%%%` for dtag,
/// `{` for JSON Lines, `text<TAB><uri> …` for TSV, else dtag when some later line is a `%%%`
/// header (`None` otherwise: a labelled reader then
/// says the input is in no corpus format, a draft reader takes it as one draft). TSV needs
/// URIs after the tab, so that a draft or a subject file with a tab in its first line is not
/// taken for a corpus.
pub fn detect(bytes: &[u8]) -> Option<CorpusFormat> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = bytes
        .split(|&b| b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))?;
    let trimmed: &[u8] = {
        let start = first
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        &first[start..]
    };
    if trimmed.starts_with(corpus::HEADER_PREFIX.as_bytes()) {
        Some(CorpusFormat::Dtag)
    } else if trimmed.starts_with(b"{") {
        Some(CorpusFormat::AnnifJsonl)
    } else if first.contains(&b'\t')
        && bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .take(TSV_PROBE_LINES)
            .any(looks_like_tsv_line)
    {
        // Looking past the first line lets a TSV corpus whose first line is malformed be
        // read as TSV, so that its parser names that line.
        Some(CorpusFormat::AnnifTsv)
    } else if bytes
        .split(|&b| b == b'\n')
        .any(|l| l.starts_with(corpus::HEADER_PREFIX.as_bytes()))
    {
        // A `%%%` corpus with stray text before its first header: its parser names the line.
        Some(CorpusFormat::Dtag)
    } else {
        None
    }
}

/// Lines (from the first) of which one `text<TAB><uri> …` line makes an input with a tab in
/// its first line TSV.
const TSV_PROBE_LINES: usize = 10;

/// `text<TAB><uri> <uri> …` with at least one URI.
fn looks_like_tsv_line(line: &[u8]) -> bool {
    let Some(tab) = line.iter().position(|&b| b == b'\t') else {
        return false;
    };
    let subjects = String::from_utf8_lossy(&line[tab + 1..]);
    let mut tokens = subjects.split_whitespace().peekable();
    tokens.peek().is_some() && tokens.all(looks_like_iri)
}

/// What inputs are read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Training, evaluation, conversion: every document needs subjects, and an input in no
    /// corpus format is refused.
    Labelled,
    /// Suggestion: subjects are read but not needed (they are not used); an input in no corpus
    /// format is one draft, named by its file alone.
    Drafts,
}

/// A whole input as one draft: its text, named by the input alone (line 0), or the line of
/// its first invalid UTF-8.
pub(crate) fn draft_text(
    name: &Arc<str>,
    bytes: &[u8],
) -> std::result::Result<RawDocument, CorpusProblem> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(RawDocument {
            text: text.to_string(),
            subjects: Vec::new(),
            origin: Origin {
                source: name.clone(),
                line: 0,
            },
        }),
        Err(e) => {
            let line = crate::io_guard::line_of(bytes, e.valid_up_to());
            Err(problem(
                name,
                line,
                "line is not valid UTF-8 (a draft must be UTF-8 text)",
            ))
        }
    }
}

/// Parses one input's bytes in a format.
pub fn parse_input(name: &str, bytes: &[u8], format: CorpusFormat) -> ParsedInput {
    match format {
        CorpusFormat::Dtag => {
            let parsed = corpus::parse_corpus(name, bytes);
            ParsedInput {
                documents: parsed
                    .documents
                    .into_iter()
                    .map(|d| RawDocument {
                        subjects: d
                            .descriptors
                            .iter()
                            .map(|s| Subject::from_text(s, d.origin.clone()))
                            .collect(),
                        text: d.body,
                        origin: d.origin,
                    })
                    .collect(),
                problems: parsed.problems,
            }
        }
        CorpusFormat::AnnifTsv => annif::parse_tsv(name, bytes),
        CorpusFormat::AnnifJsonl => annif::parse_jsonl(name, bytes),
        CorpusFormat::AnnifDir => ParsedInput {
            documents: Vec::new(),
            problems: vec![problem(
                &Arc::from(name),
                1,
                "the annif-dir format is a directory, not a file",
            )],
        },
    }
}

/// Reads every input for training and evaluation (`-` is stdin; a directory is an Annif
/// document directory when it holds a `*.txt` with a `.tsv` or `.key` beside it, or the
/// format says so, and otherwise every file below it is read). `format` forces one format;
/// `None` detects each input's. Fails with every problem listed if any document is malformed,
/// and with [`Error::NotCorpus`] when no input is in a corpus format.
pub fn read_raw(paths: &[PathBuf], format: Option<CorpusFormat>) -> Result<RawCorpus> {
    read_inputs(paths, format, Purpose::Labelled)
}

/// Reads drafts to suggest for, through the same reader as [`read_raw`]: every document of
/// a corpus in any format (its subjects are not needed), the `.txt` documents of an Annif
/// document directory (not their subject files), and any other input as one draft.
pub fn read_drafts(paths: &[PathBuf], format: Option<CorpusFormat>) -> Result<RawCorpus> {
    read_inputs(paths, format, Purpose::Drafts)
}

/// The one reader behind [`read_raw`] and [`read_drafts`].
fn read_inputs(
    paths: &[PathBuf],
    format: Option<CorpusFormat>,
    purpose: Purpose,
) -> Result<RawCorpus> {
    let mut raw = RawCorpus::default();
    let mut problems = Vec::new();
    // Labelled inputs in no corpus format; said once rather than as a problem per line.
    let mut not_corpus: Vec<(Arc<str>, usize)> = Vec::new();
    for path in paths {
        let is_dir = path.as_os_str() != "-" && path.is_dir();
        if is_dir
            && (format == Some(CorpusFormat::AnnifDir)
                || (format.is_none() && annif::is_document_directory(path)?))
        {
            let parsed = annif::read_dir(path, purpose, &mut raw.ignored)?;
            *raw.sources.entry(CorpusFormat::AnnifDir).or_insert(0) += 1;
            raw.documents.extend(parsed.documents);
            problems.extend(parsed.problems);
            continue;
        }
        for input in corpus::expand_inputs(std::slice::from_ref(path))? {
            let name = input.name();
            if let (Input::File(p), Purpose::Drafts) = (&input, purpose) {
                refuse_oversized_draft(p)?;
            }
            let bytes = input.read_bytes()?;
            // A Word document is one draft, whatever its text looks like; it carries no
            // descriptors, so labelled reading needs it in a document directory.
            if docx::is_word_document(&name, &bytes) {
                match purpose {
                    Purpose::Drafts => raw.documents.push(RawDocument {
                        text: docx::extract_text(&name, &bytes, docx::MAX_TEXT_BYTES)?,
                        subjects: Vec::new(),
                        origin: Origin {
                            source: Arc::from(name.as_str()),
                            line: 0,
                        },
                    }),
                    Purpose::Labelled => problems.push(problem(
                        &Arc::from(name.as_str()),
                        1,
                        "a Word document carries no descriptors: put it in a document \
                         directory with NAME.tsv or NAME.key beside it",
                    )),
                }
                continue;
            }
            let bytes = maybe_gunzip(&name, bytes)?;
            let chosen = match format {
                Some(CorpusFormat::AnnifDir) => {
                    return Err(Error::io(
                        input_path(&input),
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            "the annif-dir format needs a directory",
                        ),
                    ))
                }
                Some(f) => f,
                None => match (detect(&bytes), purpose) {
                    (Some(f), _) => f,
                    (None, Purpose::Drafts) => {
                        match draft_text(&Arc::from(name.as_str()), &bytes) {
                            Ok(doc) => raw.documents.push(doc),
                            Err(p) => problems.push(p),
                        }
                        continue;
                    }
                    // An empty input holds no documents, and nothing is wrong with it.
                    (None, Purpose::Labelled) if bytes.iter().all(u8::is_ascii_whitespace) => {
                        CorpusFormat::Dtag
                    }
                    (None, Purpose::Labelled) => {
                        not_corpus.push((Arc::from(name.as_str()), first_text_line(&bytes)));
                        continue;
                    }
                },
            };
            *raw.sources.entry(chosen).or_insert(0) += 1;
            let parsed = parse_input(&name, &bytes, chosen);
            raw.documents.extend(parsed.documents);
            problems.extend(parsed.problems);
        }
    }
    if !not_corpus.is_empty() && raw.documents.is_empty() && problems.is_empty() {
        let inputs: Vec<String> = not_corpus.iter().map(|(n, _)| n.to_string()).collect();
        return Err(Error::NotCorpus { inputs });
    }
    problems.extend(not_corpus.iter().map(|(name, line)| {
        problem(
            name,
            *line,
            format!("not in a corpus format ({CORPUS_FORMATS_HINT})"),
        )
    }));
    problems.extend(forbidden_characters(&raw.documents));
    problems.extend(oversized_documents(&raw.documents));
    if !problems.is_empty() {
        return Err(Error::Corpus(problems));
    }
    Ok(raw)
}

/// The 1-based number of the first non-blank line.
fn first_text_line(bytes: &[u8]) -> usize {
    bytes
        .split(|&b| b == b'\n')
        .position(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map_or(1, |i| i + 1)
}

/// Subjects of every format whose URI or label holds a character no descriptor may hold
/// ([`corpus::descriptor_problem`]), at the line that gives them.
fn forbidden_characters(documents: &[RawDocument]) -> Vec<CorpusProblem> {
    documents
        .iter()
        .flat_map(|d| &d.subjects)
        .filter_map(|s| {
            let what = [&s.label, &s.uri]
                .into_iter()
                .flatten()
                .find_map(|text| corpus::descriptor_problem(text))?;
            Some(CorpusProblem {
                origin: s.origin.clone(),
                kind: ProblemKind::Format(what),
            })
        })
        .collect()
}

/// The documents over the size bound ([`crate::io_guard::max_document_bytes`]).
fn oversized_documents(documents: &[RawDocument]) -> Vec<CorpusProblem> {
    documents
        .iter()
        .filter_map(|d| {
            let why = crate::io_guard::oversized_document(d.text.len() as u64)?;
            Some(CorpusProblem {
                origin: d.origin.clone(),
                kind: ProblemKind::Format(why),
            })
        })
        .collect()
}

/// A draft file over the size bound is refused before it is read, unless its beginning shows
/// a corpus (a draft per document, each checked as it is parsed) or it is compressed.
fn refuse_oversized_draft(path: &Path) -> Result<()> {
    if crate::io_guard::check_document_size(path).is_ok() {
        return Ok(());
    }
    let prefix = crate::io_guard::read_prefix(path, 64 * 1024)?;
    if prefix.starts_with(&GZIP_MAGIC) || detect(&prefix).is_some() {
        return Ok(());
    }
    crate::io_guard::check_document_size(path)
}

fn input_path(input: &Input) -> PathBuf {
    match input {
        Input::Stdin => PathBuf::from("<stdin>"),
        Input::File(p) => p.clone(),
    }
}

/// At most this many places are kept per unknown descriptor.
const MAX_ORIGINS: usize = 5;

/// How the corpus's subjects were named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolutionReport {
    /// The thesaurus used, if any.
    pub thesaurus: Option<String>,
    pub by_uri: usize,
    pub by_pref_label: usize,
    pub by_alt_label: usize,
    /// Subjects the thesaurus does not have (kept as written), most used first.
    pub unknown: Vec<UnknownDescriptor>,
    /// Subjects dropped because another subject of the same document named the same concept.
    pub merged_duplicates: usize,
}

impl ResolutionReport {
    pub fn unknown_assignments(&self) -> usize {
        self.unknown.iter().map(|u| u.count).sum()
    }

    /// A warning for stderr when something deserves one.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let (Some(source), false) = (&self.thesaurus, self.unknown.is_empty()) {
            let text = list_at_most(
                format!(
                    "warning: {} descriptor(s) ({} assignment(s)) are not in the thesaurus {source}; \
                     they are kept as written, without URI or labels (--strict-thesaurus refuses \
                     them):",
                    self.unknown.len(),
                    self.unknown_assignments()
                ),
                &self.unknown,
                MAX_LISTED,
            );
            out.push(text);
        }
        if self.merged_duplicates > 0 {
            out.push(format!(
                "note: {} subject(s) named a concept already assigned to the same document and \
                 were merged",
                self.merged_duplicates
            ));
        }
        out
    }
}

/// Names every subject and builds the corpus (see the module documentation).
pub fn resolve(
    raw: RawCorpus,
    thesaurus: Option<&Thesaurus>,
    strict: bool,
) -> Result<(Corpus, ResolutionReport)> {
    let mut report = ResolutionReport {
        thesaurus: thesaurus.map(|t| t.source.clone()),
        ..ResolutionReport::default()
    };
    let mut unknown: BTreeMap<String, UnknownDescriptor> = BTreeMap::new();
    let sources = raw.source_count();
    let mut documents = Vec::with_capacity(raw.documents.len());
    for doc in raw.documents {
        let mut names: Vec<String> = Vec::with_capacity(doc.subjects.len());
        for subject in &doc.subjects {
            let name = match thesaurus.and_then(|t| resolve_subject(t, subject)) {
                Some((name, kind)) => {
                    match kind {
                        MatchKind::Uri => report.by_uri += 1,
                        MatchKind::PrefLabel => report.by_pref_label += 1,
                        MatchKind::AltLabel => report.by_alt_label += 1,
                    }
                    name
                }
                None => {
                    let written = subject.written().to_string();
                    if thesaurus.is_some() {
                        let entry =
                            unknown
                                .entry(written.clone())
                                .or_insert_with(|| UnknownDescriptor {
                                    name: written.clone(),
                                    count: 0,
                                    origins: Vec::new(),
                                });
                        entry.count += 1;
                        if entry.origins.len() < MAX_ORIGINS {
                            entry.origins.push(subject.origin.clone());
                        }
                    }
                    written
                }
            };
            if names.contains(&name) {
                report.merged_duplicates += 1;
            } else {
                names.push(name);
            }
        }
        documents.push(Document {
            descriptors: names,
            body: doc.text,
            origin: doc.origin,
        });
    }
    let mut unknown: Vec<UnknownDescriptor> = unknown.into_values().collect();
    unknown.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    if strict && !unknown.is_empty() {
        return Err(Error::UnknownDescriptors(unknown));
    }
    report.unknown = unknown;
    Ok((Corpus { documents, sources }, report))
}

/// A subject's concept name: by URI when it has one the thesaurus knows, else by label.
fn resolve_subject(thesaurus: &Thesaurus, subject: &Subject) -> Option<(String, MatchKind)> {
    if let Some(uri) = &subject.uri {
        if let Some(c) = thesaurus.by_uri(uri) {
            return Some((c.descriptor_name().to_string(), MatchKind::Uri));
        }
    }
    let label = subject.label.as_deref()?;
    thesaurus
        .lookup(label)
        .map(|(c, kind)| (c.descriptor_name().to_string(), kind))
}

/// Reads and resolves in one step; see [`read_raw`] and [`resolve`].
pub fn read_corpus(
    paths: &[PathBuf],
    format: Option<CorpusFormat>,
    thesaurus: Option<&Thesaurus>,
    strict: bool,
) -> Result<(Corpus, ResolutionReport, RawSummary)> {
    let raw = read_raw(paths, format)?;
    let summary = RawSummary {
        sources: raw.sources.clone(),
        ignored: raw.ignored.clone(),
    };
    let (corpus, report) = resolve(raw, thesaurus, strict)?;
    // Every use of a labelled corpus needs documents: an empty one would give figures of
    // nothing (evaluation) or a model of nothing (training).
    if corpus.documents.is_empty() {
        return Err(Error::EmptyCorpus {
            inputs: paths.iter().map(|p| p.display().to_string()).collect(),
        });
    }
    Ok((corpus, report, summary))
}

/// What was read, beside the documents.
#[derive(Debug, Clone, Default)]
pub struct RawSummary {
    pub sources: BTreeMap<CorpusFormat, usize>,
    pub ignored: Vec<(PathBuf, &'static str)>,
}

impl RawSummary {
    /// `2 dtag file(s), 1 annif-dir directory`, and the ignored files, for stderr.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .sources
            .iter()
            .map(|(f, n)| {
                let unit = if *f == CorpusFormat::AnnifDir {
                    "director(y/ies)"
                } else {
                    "input(s)"
                };
                format!("{n} {f} {unit}")
            })
            .collect();
        parts.join(", ")
    }

    pub fn ignored_note(&self) -> Option<String> {
        if self.ignored.is_empty() {
            return None;
        }
        let places: Vec<String> = self
            .ignored
            .iter()
            .map(|(path, why)| format!("{} ({why})", path.display()))
            .collect();
        let text = list_at_most(
            format!(
                "note: {} file(s) in document directories are not part of a document:",
                self.ignored.len()
            ),
            &places,
            10,
        );
        Some(text)
    }
}

/// The path a directory entry would be named by in messages.
pub(crate) fn display_name(path: &Path) -> Arc<str> {
    Arc::from(path.display().to_string().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thesaurus::{Concept, Thesaurus};

    fn thesaurus() -> Thesaurus {
        let concept = |id: &str, en: &str, alt: &[&str]| Concept {
            id: id.into(),
            uri: format!("http://t/{id}"),
            pref_labels: vec![("en".into(), en.into()), ("zh".into(), "中文".into())],
            alt_labels: alt.iter().map(|a| ("en".into(), a.to_string())).collect(),
            groups: vec![],
            is_group: false,
        };
        Thesaurus::new(
            "t.tsv".into(),
            vec![
                concept("1", "AFRICA", &[]),
                concept("2", "REFUGEES", &["DISPLACED PERSONS"]),
            ],
            Default::default(),
        )
    }

    #[test]
    fn detects_formats_by_content() {
        assert_eq!(detect(b"\n%%%A|\n\nx\n"), Some(CorpusFormat::Dtag));
        assert_eq!(
            detect(b"{\"text\":\"x\"}\n"),
            Some(CorpusFormat::AnnifJsonl)
        );
        assert_eq!(
            detect(b"some text\t<http://x>\n"),
            Some(CorpusFormat::AnnifTsv)
        );
        assert_eq!(detect(b"just a draft\n"), None);
        // A tab alone does not make TSV: subject files and drafts may have one.
        assert_eq!(detect(b"<http://x>\tAFRICA\n"), None);
        assert_eq!(detect(b"a\tb\n"), None);
        assert_eq!(detect(b"stray\n%%%A|\n\nx\n"), Some(CorpusFormat::Dtag));
        // A malformed first line of a TSV corpus still makes it TSV, for its parser to name.
        assert_eq!(
            detect(b"text\tAFRICA\nmore\t<http://x>\n"),
            Some(CorpusFormat::AnnifTsv)
        );
    }

    #[test]
    fn resolves_by_uri_and_labels_and_reports_the_unknown() {
        let text = "%%%Africa|displaced persons|\n\nbody one\n%%%<http://t/2>|REFUGEES|MARS|\n\nbody two\n";
        let parsed = parse_input("c.txt", text.as_bytes(), CorpusFormat::Dtag);
        assert!(parsed.problems.is_empty());
        let raw = RawCorpus {
            documents: parsed.documents,
            sources: [(CorpusFormat::Dtag, 1)].into_iter().collect(),
            ignored: vec![],
        };
        let t = thesaurus();
        let (corpus, report) = resolve(raw, Some(&t), false).unwrap();
        assert_eq!(corpus.documents[0].descriptors, vec!["AFRICA", "REFUGEES"]);
        assert_eq!(corpus.documents[1].descriptors, vec!["REFUGEES", "MARS"]);
        assert_eq!(
            (report.by_uri, report.by_pref_label, report.by_alt_label),
            (1, 2, 1)
        );
        assert_eq!(report.merged_duplicates, 1);
        assert_eq!(report.unknown.len(), 1);
        assert_eq!(
            report.unknown[0].to_string(),
            "`MARS` (1 assignment(s); at c.txt:4)"
        );

        let raw = RawCorpus {
            documents: parse_input("c.txt", text.as_bytes(), CorpusFormat::Dtag).documents,
            ..RawCorpus::default()
        };
        let err = resolve(raw, Some(&t), true).unwrap_err().to_string();
        assert!(
            err.contains("not in the thesaurus") && err.contains("c.txt:4"),
            "{err}"
        );
    }

    #[test]
    fn without_a_thesaurus_subjects_keep_their_label_or_uri() {
        let parsed = annif::parse_tsv("c.tsv", b"some text\t<http://t/1> <http://t/2>\n");
        let raw = RawCorpus {
            documents: parsed.documents,
            ..RawCorpus::default()
        };
        let (corpus, report) = resolve(raw, None, true).unwrap();
        assert_eq!(
            corpus.documents[0].descriptors,
            vec!["http://t/1", "http://t/2"]
        );
        assert!(report.unknown.is_empty());
    }
}
