//! Indexing a directory, as `annif index` does: every document of it gets its suggestions
//! written beside it as an Annif subject file (`NAME.txt` → `NAME<SUFFIX>`).
//!
//! The documents are found by the document-directory walker of every reader
//! ([`crate::formats::annif::documents`]) and the lines written by the one Annif subject
//! writer ([`crate::formats::annif::subject_line`]).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::Session;
use crate::error::{Error, Result};
use crate::io_guard::OutputGuard;
use crate::predict::{DecisionRule, Suggestion};
use crate::progress::Progress;

/// What indexing a directory will do, checked before any work: the documents found, and
/// which get a subject file.
#[derive(Debug)]
pub struct IndexPlan {
    pub directory: PathBuf,
    pub suffix: String,
    /// Every document of the directory, sorted.
    pub documents: Vec<PathBuf>,
    /// Documents to index, each with its subject file.
    pub jobs: Vec<(PathBuf, PathBuf)>,
    /// Documents left alone: their subject file exists (and `force` was not given).
    pub kept: usize,
    /// Subject files that are symlinks: neither followed nor replaced, even with `force`.
    pub links: Vec<PathBuf>,
}

impl IndexPlan {
    /// Plans indexing `directory`: each subject file is checked as an output (never an
    /// input, such as `model`, never a symlink, which could lead the write anywhere);
    /// existing ones are kept unless `force`. `suffix` must name another file than the
    /// document (`--suffix` in messages).
    pub fn new(directory: &Path, suffix: &str, force: bool, model: &Path) -> Result<IndexPlan> {
        if suffix.is_empty() || suffix.contains(['/', '\\']) || suffix == ".txt" {
            return Err(Error::param(
                "suffix",
                format!("{suffix:?}: give a file name ending other than `.txt`, such as `.dtag`"),
            ));
        }
        if !directory.is_dir() {
            return Err(Error::io(
                directory,
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
            ));
        }
        let documents = crate::formats::annif::documents(directory)?;
        // `NAME.txt` and `NAME.docx` would both be indexed into `NAME<SUFFIX>`.
        let mut stems = std::collections::BTreeMap::new();
        for file in &documents {
            if let Some(other) = stems.insert(file.file_stem(), file) {
                return Err(Error::Output {
                    flag: "DIR".into(),
                    path: directory.to_path_buf(),
                    reason: format!(
                        "{} and {}: two documents of one name would share one suggestion file; \
                         keep one",
                        other.display(),
                        file.display()
                    ),
                });
            }
        }
        let mut guard = OutputGuard::new();
        guard.inputs("--model", [model]);
        guard.inputs("DIR", &documents);
        let mut plan = IndexPlan {
            directory: directory.to_path_buf(),
            suffix: suffix.to_string(),
            documents: Vec::new(),
            jobs: Vec::new(),
            kept: 0,
            links: Vec::new(),
        };
        for document in &documents {
            let target = subject_file_of(document, suffix);
            match std::fs::symlink_metadata(&target) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    plan.links.push(target);
                    continue;
                }
                Ok(_) if !force => {
                    plan.kept += 1;
                    continue;
                }
                _ => {}
            }
            guard.file("--suffix", &target)?;
            plan.jobs.push((document.clone(), target));
        }
        plan.documents = documents;
        Ok(plan)
    }
}

/// What became of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Indexed {
    Written,
    /// Over the document size bound: not read (the warning says which).
    TooLarge(String),
    /// Not valid UTF-8 (the warning says where).
    NotUtf8(String),
}

/// What indexing did.
#[derive(Debug, Default)]
pub struct IndexReport {
    pub written: usize,
    pub too_large: usize,
    pub not_utf8: usize,
    /// Why each skipped document was skipped, in the documents' order.
    pub warnings: Vec<String>,
}

impl Session {
    /// Indexes the documents of `plan` under `rule`, in parallel. A document over
    /// [`crate::io_guard::max_document_bytes`] (checked before it is opened) or not in UTF-8
    /// is skipped and counted, with a warning naming it; the others are written.
    pub fn index(
        &self,
        plan: &IndexPlan,
        rule: &DecisionRule,
        progress: &dyn Progress,
    ) -> Result<IndexReport> {
        let stage = progress.stage("indexing", plan.jobs.len() as u64);
        let chinese = self.labels_in_chinese();
        let outcomes: Vec<Indexed> = plan
            .jobs
            .par_iter()
            .map(|(document, out)| {
                let outcome = self.index_one(rule, chinese, document, out)?;
                stage.advance(1);
                Ok(outcome)
            })
            .collect::<Result<_>>()?;
        stage.finish();
        let mut report = IndexReport::default();
        for outcome in outcomes {
            match outcome {
                Indexed::Written => report.written += 1,
                Indexed::TooLarge(why) => {
                    report.too_large += 1;
                    report.warnings.push(why);
                }
                Indexed::NotUtf8(why) => {
                    report.not_utf8 += 1;
                    report.warnings.push(why);
                }
            }
        }
        Ok(report)
    }

    fn index_one(
        &self,
        rule: &DecisionRule,
        chinese: bool,
        document: &Path,
        out: &Path,
    ) -> Result<Indexed> {
        if let Err(e) = crate::io_guard::check_document_size(document) {
            return Ok(Indexed::TooLarge(format!("skipped {e}")));
        }
        let bytes = crate::io_guard::read_input(document)?;
        let text = if document.extension().is_some_and(|e| e == "docx") {
            let name = document.display().to_string();
            crate::formats::docx::extract_text(&name, &bytes, crate::formats::docx::MAX_TEXT_BYTES)?
        } else {
            match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    let at = e.utf8_error().valid_up_to();
                    let line = crate::io_guard::line_of(e.as_bytes(), at);
                    return Ok(Indexed::NotUtf8(format!(
                        "skipped {}:{line}: not valid UTF-8 (byte {at})",
                        document.display()
                    )));
                }
            }
        };
        let suggested = self.suggest(&[text.as_str()], rule);
        let suggestions = suggested.first().map_or(&[][..], |s| &s.suggestions[..]);
        // In place: a symlink planted since the plan is replaced, never followed.
        crate::io_guard::write_atomically_in_place(
            out,
            subject_file_text(suggestions, chinese).as_bytes(),
        )?;
        Ok(Indexed::Written)
    }
}

/// `dir/NAME.txt` → `dir/NAME<suffix>`.
fn subject_file_of(document: &Path, suffix: &str) -> PathBuf {
    let stem = document.file_stem().unwrap_or_default().to_string_lossy();
    document.with_file_name(format!("{stem}{suffix}"))
}

/// A document's subject file: a line per suggestion with its score, labelled in the model's
/// language (Chinese or English) when the thesaurus has the label.
fn subject_file_text(suggestions: &[Suggestion], chinese: bool) -> String {
    suggestions
        .iter()
        .map(|s| {
            let label = if chinese { &s.label_zh } else { &s.label_en };
            crate::formats::annif::subject_line(
                s.uri.as_deref(),
                &s.descriptor,
                Some(label.as_deref().unwrap_or(&s.descriptor)),
                Some(s.score),
            )
        })
        .collect()
}
