//! `dtag index DIR`: suggestions for every `.txt` (and Word `.docx`) document of a directory, written beside it,
//! as `annif index` does.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;

use dtag::io_guard::OutputGuard;
use dtag::predict::{Suggester, Suggestion};
use dtag::progress::Progress;

use super::flags::{DecisionArgs, ModelArgs};
use super::output::{stderr_line, summary, Bars};

#[derive(Args, Debug)]
pub struct IndexArgs {
    #[command(flatten)]
    bound: super::bounds::DocumentBound,

    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    decision: DecisionArgs,

    /// Suffix of the suggestion files: `NAME.txt` gets `NAME<SUFFIX>`.
    #[arg(long, default_value = ".dtag", value_name = "SUFFIX")]
    suffix: String,

    /// Replace suggestion files that exist (by default they are left alone and counted).
    #[arg(long)]
    force: bool,

    /// The directory whose `.txt` and `.docx` files are indexed (not its subdirectories).
    #[arg(value_name = "DIR")]
    directory: PathBuf,
}

pub fn run(args: IndexArgs, bars: &Bars) -> anyhow::Result<()> {
    args.bound.apply();
    let chosen = args.model.resolve()?;
    let rule = args.decision.rule_for(&chosen)?;
    if args.suffix.is_empty() || args.suffix.contains(['/', '\\']) || args.suffix == ".txt" {
        bail!(
            "--suffix {:?}: give a file name ending other than `.txt`, such as `.dtag`",
            args.suffix
        );
    }
    let documents = txt_files(&args.directory)?;
    // Before any work: every output is checked (never an input, never a symlink, which could
    // lead the write anywhere, even with --force); existing ones are kept unless --force.
    let mut guard = OutputGuard::new();
    guard.inputs("--model", std::slice::from_ref(&chosen.model));
    guard.inputs("DIR", &documents);
    let mut jobs = Vec::new();
    let mut kept = 0;
    let mut links = Vec::new();
    for document in &documents {
        let target = suggestion_path(document, &args.suffix);
        match std::fs::symlink_metadata(&target) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links.push(target);
                continue;
            }
            Ok(_) if !args.force => {
                kept += 1;
                continue;
            }
            _ => {}
        }
        guard.file("--suffix", &target)?;
        jobs.push((document, target));
    }

    let suggester = Suggester::new(chosen.load_model()?)?;
    let chinese = suggester.model().analyzer.language == dtag::analysis::Language::Zh;
    let stage = bars.stage("indexing", jobs.len() as u64);
    // A document over --max-document-bytes (checked before it is opened) or not in UTF-8 is
    // skipped with a warning and counted; the others are indexed.
    let outcomes: Vec<Outcome> = {
        use rayon::prelude::*;
        jobs.par_iter()
            .map(|(document, out)| {
                let outcome = index_one(&suggester, &rule, chinese, document, out)?;
                stage.advance(1);
                Ok(outcome)
            })
            .collect::<anyhow::Result<Vec<Outcome>>>()?
    };
    let written = outcomes.iter().filter(|o| **o == Outcome::Written).count();
    let too_large = outcomes.iter().filter(|o| **o == Outcome::TooLarge).count();
    let not_utf8 = outcomes.iter().filter(|o| **o == Outcome::NotUtf8).count();
    stage.finish();
    summary!(
        "indexed {written} of {} document(s) in {}{}{}{}",
        documents.len(),
        args.directory.display(),
        if kept > 0 {
            format!(
                " ({kept} already had a {} file; --force replaces them)",
                args.suffix
            )
        } else {
            String::new()
        },
        skipped_note(too_large, not_utf8),
        if links.is_empty() {
            String::new()
        } else {
            format!(
                " ({} refused: their {} file is a symlink)",
                links.len(),
                args.suffix
            )
        }
    );
    if !links.is_empty() {
        let names: Vec<String> = links.iter().map(|l| l.display().to_string()).collect();
        bail!(dtag::error::list_at_most(
            format!(
                "{} suggestion file(s) are symlinks; they were neither followed nor replaced:",
                links.len()
            ),
            &names,
            dtag::error::MAX_LISTED
        ));
    }
    Ok(())
}

/// What became of one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Written,
    /// Over --max-document-bytes: not read.
    TooLarge,
    /// Not valid UTF-8.
    NotUtf8,
}

/// Suggestions for `document`, written to `out`; a document too large or not in UTF-8 is
/// skipped with a warning naming it.
fn index_one(
    suggester: &Suggester,
    rule: &dtag::predict::DecisionRule,
    chinese: bool,
    document: &Path,
    out: &Path,
) -> anyhow::Result<Outcome> {
    if let Err(e) = dtag::io_guard::check_document_size(document) {
        stderr_line!("warning: skipped {e}");
        return Ok(Outcome::TooLarge);
    }
    let bytes = dtag::io_guard::read_input(document)?;
    let text = if document.extension().is_some_and(|e| e == "docx") {
        let name = document.display().to_string();
        dtag::formats::docx::extract_text(&name, &bytes, dtag::formats::docx::MAX_TEXT_BYTES)?
    } else {
        match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let line = dtag::io_guard::line_of(e.as_bytes(), at);
                stderr_line!(
                    "warning: skipped {}:{line}: not valid UTF-8 (byte {at})",
                    document.display()
                );
                return Ok(Outcome::NotUtf8);
            }
        }
    };
    if dtag::predict::is_blank(&text) {
        stderr_line!(
            "warning: {}: the document is blank (no words); no descriptor is suggested for it",
            document.display()
        );
    }
    let suggestions = suggester.suggest(&text, rule);
    // In place: a symlink planted since the check is replaced, never followed.
    dtag::io_guard::write_atomically_in_place(
        out,
        annif_subject_lines(&suggestions, chinese).as_bytes(),
    )?;
    Ok(Outcome::Written)
}

/// The summary's note of skipped documents.
fn skipped_note(too_large: usize, not_utf8: usize) -> String {
    let mut parts = Vec::new();
    if too_large > 0 {
        parts.push(format!(
            "{too_large} skipped: over --max-document-bytes {}",
            dtag::io_guard::max_document_bytes()
        ));
    }
    if not_utf8 > 0 {
        parts.push(format!("{not_utf8} skipped: not valid UTF-8"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

/// The `.txt` and `.docx` files directly in `dir`, sorted; hidden files are left out.
fn txt_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        bail!("{}: not a directory", dir.display());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry.with_context(|| format!("{}", dir.display()))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden && path.is_file() && path.extension().is_some_and(|e| e == "txt" || e == "docx")
        {
            files.push(path);
        }
    }
    files.sort();
    // `NAME.txt` and `NAME.docx` would both be indexed into `NAME<SUFFIX>`.
    let mut stems = std::collections::BTreeMap::new();
    for file in &files {
        if let Some(other) = stems.insert(file.file_stem(), file) {
            bail!(
                "{} and {}: two documents of one name would share one suggestion file; keep one",
                other.display(),
                file.display()
            );
        }
    }
    Ok(files)
}

/// `dir/NAME.txt` → `dir/NAME<suffix>`.
fn suggestion_path(document: &Path, suffix: &str) -> PathBuf {
    let stem = document.file_stem().unwrap_or_default().to_string_lossy();
    document.with_file_name(format!("{stem}{suffix}"))
}

/// Annif's subject file lines: `<URI>\tlabel\tscore`, the label in the model's language
/// (Chinese or English) when the thesaurus has it; a descriptor without a concept is named as
/// written, without brackets.
fn annif_subject_lines(suggestions: &[Suggestion], chinese: bool) -> String {
    let mut text = String::new();
    for s in suggestions {
        let subject = match &s.uri {
            Some(uri) => format!("<{uri}>"),
            None => s.descriptor.clone(),
        };
        let label = if chinese { &s.label_zh } else { &s.label_en };
        let label = label.as_deref().unwrap_or(&s.descriptor);
        text.push_str(&format!("{subject}\t{label}\t{:.4}\n", s.score));
    }
    text
}
