//! `dtag index DIR`: suggestions for every `.txt` (and Word `.docx`) document of a directory, written beside it,
//! as `annif index` does.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use dtag::session::index::IndexPlan;
use dtag::session::{Naming, Overrides, Session};

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
    let project = args.model.project(&Overrides::default())?;
    let rule = args.decision.rule_for(&project)?;
    // Before any work: every output is checked, existing ones kept unless --force.
    let plan = IndexPlan::new(&args.directory, &args.suffix, args.force, &project.model)?;
    let session = Session::open(project, Naming::Suggestions)?;
    let report = session.index(&plan, &rule, bars)?;
    for warning in &report.warnings {
        stderr_line!("warning: {warning}");
    }
    summary!(
        "indexed {} of {} document(s) in {}{}{}{}",
        report.written,
        plan.documents.len(),
        args.directory.display(),
        if plan.kept > 0 {
            format!(
                " ({} already had a {} file; --force replaces them)",
                plan.kept, args.suffix
            )
        } else {
            String::new()
        },
        skipped_note(report.too_large, report.not_utf8),
        if plan.links.is_empty() {
            String::new()
        } else {
            format!(
                " ({} refused: their {} file is a symlink)",
                plan.links.len(),
                args.suffix
            )
        }
    );
    if !plan.links.is_empty() {
        let names: Vec<String> = plan.links.iter().map(|l| l.display().to_string()).collect();
        bail!(dtag::error::list_at_most(
            format!(
                "{} suggestion file(s) are symlinks; they were neither followed nor replaced:",
                plan.links.len()
            ),
            &names,
            dtag::error::MAX_LISTED
        ));
    }
    Ok(())
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
