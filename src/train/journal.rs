//! The learning log: every document a model was taught, in JSON Lines, so that what a
//! deployment learned is never lost and can be learned again.
//!
//! Each accepted document is one `document` line (time, project, batch, client, indexer, the
//! text and its hash, the subjects with descriptor name, URI and label, and the subjects the
//! indexer rejected), written and synced to disk *before* the update is made and answered;
//! once the update is decided a `batch` line says whether it was applied (and the model file
//! written) or kept out by the held-out check. So after a crash at any point:
//! - every answered document is in the log;
//! - the model file holds the batches up to [`crate::model::TrainingMemory::log_batch`], and
//!   [`Replay`] applies the later ones exactly as they were (an update is deterministic), so a
//!   restart or `dtag learn --replay` gives the model that was served.
//!
//! Lines are bounded: a subject's label or URI longer than [`MAX_SUBJECT_BYTES`] is refused
//! (not logged, not learned), and so is a line longer than [`MAX_LINE_BYTES`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::learn::{CheckedBatch, LearnBatch, LearnReport, ValidLearnParams};
use crate::analysis::Analyzer;
use crate::corpus::{Corpus, Document};
use crate::digest::text_digest;
use crate::error::{Error, Origin, Result};
use crate::model::Model;
use crate::progress::Progress;
use crate::thesaurus::{last_segment, Concept};

/// A subject's descriptor name, URI or label longer than this is refused.
pub const MAX_SUBJECT_BYTES: usize = 1024;
/// A log line longer than this is refused (the text of a document included).
pub const MAX_LINE_BYTES: usize = 8 << 20;

/// A subject as the log keeps it: the descriptor it names in the model, and the URI and
/// label it was given with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedSubject {
    pub descriptor: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub label: Option<String>,
}

/// One taught document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedDocument {
    pub time: String,
    pub project: String,
    pub batch: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub indexer: Option<String>,
    pub text_hash: String,
    pub text: String,
    pub subjects: Vec<LoggedSubject>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub rejected: Vec<LoggedSubject>,
}

/// What became of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Learned, and the model file written.
    Applied,
    /// The held-out check found the update worse: the model was left as it was (the
    /// documents stay in the log for a later retrain).
    KeptOut,
    /// Every document had been learned before.
    NothingNew,
}

/// The end of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedBatch {
    pub time: String,
    pub project: String,
    pub batch: u64,
    pub documents: usize,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

/// A line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    Document(LoggedDocument),
    Batch(LoggedBatch),
}

/// Who taught a document, for its log line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Teacher {
    /// The client's address (for the server: the forwarded client behind a trusted proxy).
    pub client: Option<String>,
    /// The indexer's name (`--learn-tokens`; `dtag learn`: the user).
    pub indexer: Option<String>,
}

/// A document to teach: its text, its subjects, and the subjects the indexer rejected.
#[derive(Debug, Clone)]
pub struct Lesson {
    pub text: String,
    pub subjects: Vec<LoggedSubject>,
    pub rejected: Vec<LoggedSubject>,
    /// Where it comes from (a file and line, or a request's document), for messages.
    pub origin: Origin,
    pub teacher: Teacher,
}

/// The log file, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// The last batch number in the log, per project.
    last_batch: std::collections::BTreeMap<String, u64>,
}

impl Journal {
    /// Opens (or creates) the log at `path` and reads what it holds.
    pub fn open(path: &Path) -> Result<Journal> {
        let entries = if path.exists() {
            read(path)?
        } else {
            Vec::new()
        };
        let mut last_batch = std::collections::BTreeMap::new();
        for e in &entries {
            let (project, batch) = match e {
                Entry::Document(d) => (&d.project, d.batch),
                Entry::Batch(b) => (&b.project, b.batch),
            };
            let last = last_batch.entry(project.clone()).or_insert(0);
            *last = (*last).max(batch);
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io_error(path, e))?;
        // A torn last line (a write a crash cut short, never answered) would run into the
        // next line: cut it off.
        let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
        let complete = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |end| end + 1);
        if complete < bytes.len() {
            file.set_len(complete as u64)
                .map_err(|e| io_error(path, e))?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            last_batch,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number the next batch of `project` gets.
    pub fn next_batch(&self, project: &str) -> u64 {
        self.last_batch.get(project).copied().unwrap_or(0) + 1
    }

    /// Appends `entries` and syncs them to disk.
    pub fn append(&mut self, entries: &[Entry]) -> Result<()> {
        let mut bytes = Vec::new();
        for e in entries {
            let line = serde_json::to_vec(e)
                .map_err(|e| Error::Training(format!("cannot write the learning log: {e}")))?;
            if line.len() > MAX_LINE_BYTES {
                return Err(Error::Training(format!(
                    "a learning log line would be {} bytes (at most {MAX_LINE_BYTES})",
                    line.len()
                )));
            }
            bytes.extend_from_slice(&line);
            bytes.push(b'\n');
        }
        self.file
            .write_all(&bytes)
            .and_then(|_| self.file.sync_data())
            .map_err(|e| io_error(&self.path, e))?;
        for e in entries {
            let (project, batch) = match e {
                Entry::Document(d) => (&d.project, d.batch),
                Entry::Batch(b) => (&b.project, b.batch),
            };
            let last = self.last_batch.entry(project.clone()).or_insert(0);
            *last = (*last).max(batch);
        }
        Ok(())
    }
}

fn io_error(path: &Path, error: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Reads a learning log. A last line without its newline is what a crash leaves of a write
/// that was never synced (so never answered): it is left out. Any other bad line is an error
/// naming its line.
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let bytes = crate::io_guard::read_input(path)?;
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(end) => &bytes[..=end],
        None => &bytes[..0],
    };
    let mut entries = Vec::new();
    for (n, line) in complete.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let entry: Entry = serde_json::from_slice(line).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            line: n + 1,
            reason: format!("not a learning log line: {e}"),
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// A batch of the log: its documents, in order, and what became of it (`None`: the log
/// ends before it was decided).
#[derive(Debug, Clone)]
pub struct LoggedBatchOf {
    pub batch: u64,
    pub documents: Vec<LoggedDocument>,
    pub verdict: Option<Verdict>,
}

/// The batches of `project` after `after`, in order.
pub fn batches(entries: &[Entry], project: &str, after: u64) -> Vec<LoggedBatchOf> {
    let mut out: std::collections::BTreeMap<u64, LoggedBatchOf> = Default::default();
    for e in entries {
        let (p, batch) = match e {
            Entry::Document(d) => (&d.project, d.batch),
            Entry::Batch(b) => (&b.project, b.batch),
        };
        if p != project || batch <= after {
            continue;
        }
        let slot = out.entry(batch).or_insert_with(|| LoggedBatchOf {
            batch,
            documents: Vec::new(),
            verdict: None,
        });
        match e {
            Entry::Document(d) => slot.documents.push(d.clone()),
            Entry::Batch(b) => slot.verdict = Some(b.verdict),
        }
    }
    out.into_values().collect()
}

/// The documents of a batch as an update learns them: descriptors as the log names them,
/// and concepts for subjects whose URI the model's thesaurus may lack.
pub fn learn_batch(lessons: &[Lesson], batch: Option<u64>) -> LearnBatch {
    let mut new_concepts: Vec<Concept> = Vec::new();
    let documents = lessons
        .iter()
        .map(|l| {
            for s in &l.subjects {
                if let Some(uri) = &s.uri {
                    new_concepts.push(Concept {
                        id: last_segment(uri).to_string(),
                        uri: uri.clone(),
                        pref_labels: vec![("en".into(), s.descriptor.clone())],
                        alt_labels: Vec::new(),
                        groups: Vec::new(),
                        is_group: false,
                    });
                }
            }
            let mut descriptors: Vec<String> =
                l.subjects.iter().map(|s| s.descriptor.clone()).collect();
            descriptors.dedup();
            Document {
                descriptors,
                body: l.text.clone(),
                origin: l.origin.clone(),
            }
        })
        .collect();
    LearnBatch {
        corpus: Corpus {
            documents,
            sources: 1,
        },
        new_concepts,
        log_batch: batch,
    }
}

/// The lessons of a logged batch.
pub fn lessons_of(batch: &LoggedBatchOf, source: &str) -> Vec<Lesson> {
    let source: Arc<str> = Arc::from(source);
    batch
        .documents
        .iter()
        .enumerate()
        .map(|(i, d)| Lesson {
            text: d.text.clone(),
            subjects: d.subjects.clone(),
            rejected: d.rejected.clone(),
            origin: Origin {
                source: source.clone(),
                line: i + 1,
            },
            teacher: Teacher {
                client: d.client.clone(),
                indexer: d.indexer.clone(),
            },
        })
        .collect()
}

/// The documents of a labelled corpus as lessons of `teacher`: their descriptors, each with
/// the URI `thesaurus` gives it.
pub fn lessons_of_corpus(
    corpus: Corpus,
    thesaurus: Option<&crate::thesaurus::Thesaurus>,
    teacher: &Teacher,
) -> Vec<Lesson> {
    corpus
        .documents
        .into_iter()
        .map(|d| Lesson {
            subjects: d
                .descriptors
                .into_iter()
                .map(|descriptor| LoggedSubject {
                    uri: thesaurus
                        .and_then(|t| t.lookup(&descriptor))
                        .map(|(c, _)| c.uri.clone()),
                    descriptor,
                    label: None,
                })
                .collect(),
            text: d.body,
            rejected: Vec::new(),
            origin: d.origin,
            teacher: teacher.clone(),
        })
        .collect()
}

/// How a taught batch ended.
#[derive(Debug)]
pub struct Taught {
    /// The updated model, when the update was applied (`None`: kept out, or nothing new).
    pub model: Option<Model>,
    pub report: LearnReport,
    pub verdict: Verdict,
    /// The log batch (when logged).
    pub batch: Option<u64>,
}

/// Teaches `lessons` to `model`, the one path of `dtag learn` and of the server: refuses
/// what cannot be learned (nothing logged), logs the documents (synced) before the update,
/// learns, decides (an update the held-out check finds worse is kept out unless
/// `accept_worse`), lets `save` write an applied model, and logs the verdict.
#[allow(clippy::too_many_arguments)]
pub fn teach(
    params: &ValidLearnParams,
    model: &Model,
    analyzer: &Analyzer,
    lessons: &[Lesson],
    journal: Option<(&mut Journal, &str)>,
    accept_worse: bool,
    progress: &dyn Progress,
    save: &mut dyn FnMut(&Model) -> Result<()>,
) -> Result<Taught> {
    check_lessons(lessons)?;
    let batch = journal.as_ref().map(|(j, project)| j.next_batch(project));
    let learn = learn_batch(lessons, batch);
    // Refused before anything is logged; the analysis is the update's own.
    let checked = params.check(model, analyzer, &learn, progress)?;
    let mut journal = match (journal, batch) {
        (Some((journal, project)), Some(batch)) => {
            let time = crate::clock::rfc3339_utc(std::time::SystemTime::now()).unwrap_or_default();
            let entries: Vec<Entry> = lessons
                .iter()
                .map(|l| {
                    Entry::Document(LoggedDocument {
                        time: time.clone(),
                        project: project.to_string(),
                        batch,
                        client: l.teacher.client.clone(),
                        indexer: l.teacher.indexer.clone(),
                        text_hash: text_digest(&l.text),
                        text: l.text.clone(),
                        subjects: l.subjects.clone(),
                        rejected: l.rejected.clone(),
                    })
                })
                .collect();
            journal.append(&entries)?;
            Some((journal, project))
        }
        _ => None,
    };
    let taught = decide(
        params,
        model,
        analyzer,
        checked,
        batch,
        accept_worse,
        progress,
        save,
    )?;
    if let (Some((journal, project)), Some(batch)) = (journal.as_mut(), batch) {
        journal.append(&[Entry::Batch(LoggedBatch {
            time: crate::clock::rfc3339_utc(std::time::SystemTime::now()).unwrap_or_default(),
            project: project.to_string(),
            batch,
            documents: lessons.len(),
            verdict: taught.verdict,
            note: taught.report.holdout_check.as_ref().map(|c| c.describe()),
        })])?;
    }
    Ok(taught)
}

/// Learns a checked batch and decides what becomes of the update; an applied model is saved.
#[allow(clippy::too_many_arguments)]
fn decide(
    params: &ValidLearnParams,
    model: &Model,
    analyzer: &Analyzer,
    checked: CheckedBatch<'_>,
    batch: Option<u64>,
    accept_worse: bool,
    progress: &dyn Progress,
    save: &mut dyn FnMut(&Model) -> Result<()>,
) -> Result<Taught> {
    let (updated, report) = params.learn_checked(model, analyzer, checked, progress)?;
    let verdict = if report.learned == 0 && report.relabelled == 0 {
        Verdict::NothingNew
    } else if report.worse() && !accept_worse {
        Verdict::KeptOut
    } else {
        Verdict::Applied
    };
    let model = match verdict {
        Verdict::Applied => {
            save(&updated)?;
            Some(updated)
        }
        _ => None,
    };
    Ok(Taught {
        model,
        report,
        verdict,
        batch,
    })
}

/// Subjects are bounded: a huge label is refused, not logged.
fn check_lessons(lessons: &[Lesson]) -> Result<()> {
    let problems: Vec<crate::error::CorpusProblem> = lessons
        .iter()
        .filter_map(|l| {
            let too_long = l.subjects.iter().chain(&l.rejected).find(|s| {
                s.descriptor.len() > MAX_SUBJECT_BYTES
                    || s.uri.as_ref().is_some_and(|u| u.len() > MAX_SUBJECT_BYTES)
                    || s.label
                        .as_ref()
                        .is_some_and(|u| u.len() > MAX_SUBJECT_BYTES)
            })?;
            let len = [
                Some(too_long.descriptor.len()),
                too_long.uri.as_ref().map(String::len),
                too_long.label.as_ref().map(String::len),
            ]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0);
            Some(crate::error::CorpusProblem {
                origin: l.origin.clone(),
                kind: crate::error::ProblemKind::Unlearnable(format!(
                    "a subject is {len} bytes long (at most {MAX_SUBJECT_BYTES})"
                )),
            })
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Corpus(problems))
    }
}

/// Re-applies the batches of a learning log to a model: a restart (the batches after the
/// model's own) and `dtag learn --replay` (from a base model).
pub struct Replay<'a> {
    pub params: &'a ValidLearnParams,
    pub analyzer: &'a Analyzer,
    pub project: &'a str,
    pub source: &'a str,
}

/// What a replay did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Replayed {
    pub batches_applied: usize,
    pub batches_kept_out: usize,
    pub batches_nothing_new: usize,
    pub documents: usize,
    /// Batches the log had not decided (a crash before the verdict), decided now.
    pub undecided: Vec<(u64, Verdict)>,
}

impl Replay<'_> {
    /// Applies every batch of `entries` after the model's last to `model`: applied batches
    /// again, kept-out ones not, undecided ones as the server would have decided them.
    pub fn run(
        &self,
        mut model: Model,
        entries: &[Entry],
        progress: &dyn Progress,
    ) -> Result<(Model, Replayed)> {
        let after = model.memory.as_ref().map_or(0, |m| m.log_batch);
        let mut done = Replayed::default();
        for batch in batches(entries, self.project, after) {
            done.documents += batch.documents.len();
            let lessons = lessons_of(&batch, self.source);
            if lessons.is_empty() {
                continue;
            }
            let accept = match batch.verdict {
                Some(Verdict::KeptOut) => {
                    done.batches_kept_out += 1;
                    continue;
                }
                Some(Verdict::NothingNew) => {
                    done.batches_nothing_new += 1;
                    continue;
                }
                Some(Verdict::Applied) => true,
                None => false,
            };
            let learn = learn_batch(&lessons, Some(batch.batch));
            let checked = self.params.check(&model, self.analyzer, &learn, progress)?;
            let taught = decide(
                self.params,
                &model,
                self.analyzer,
                checked,
                Some(batch.batch),
                accept,
                progress,
                &mut |_| Ok(()),
            )?;
            if batch.verdict.is_none() {
                done.undecided.push((batch.batch, taught.verdict));
            }
            match taught.model {
                Some(updated) => {
                    done.batches_applied += 1;
                    model = updated;
                }
                None if taught.verdict == Verdict::KeptOut => done.batches_kept_out += 1,
                None => done.batches_nothing_new += 1,
            }
        }
        Ok((model, done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_left_out_and_a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        assert_eq!(journal.next_batch("p"), 1);
        let batch = Entry::Batch(LoggedBatch {
            time: "t".into(),
            project: "p".into(),
            batch: 3,
            documents: 1,
            verdict: Verdict::Applied,
            note: None,
        });
        journal.append(std::slice::from_ref(&batch)).unwrap();
        assert_eq!(journal.next_batch("p"), 4);
        assert_eq!(journal.next_batch("q"), 1);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"kind\":\"batch\",\"ti")
            .unwrap();
        assert_eq!(read(&path).unwrap(), vec![batch.clone()]);
        assert_eq!(Journal::open(&path).unwrap().next_batch("p"), 4);
        std::fs::write(&path, b"{\"kind\":\"batch\"}\n").unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains(":1:"), "{e}");
    }
}
