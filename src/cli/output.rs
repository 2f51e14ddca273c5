//! Everything the command line prints, in one place: summaries on stderr (left out with `-q`),
//! results on stdout, progress bars, TSV rows and the tuning summary.

use dtag::stages::Stages;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use dtag::calibrate::TuningSummary;
use dtag::model::Model;
use dtag::predict::explain::ExplainedSuggestion;
use dtag::predict::Suggestion;
use dtag::progress::{Progress, Stage};
use dtag::train::ReadCorpus;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Set by `-q`: summaries on stderr are left out (errors, warnings and notes about data that
/// was not used are not).
pub static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// `eprintln!` for a summary line (what was read, trained, written, how long it took): not
/// printed with `-q`.
macro_rules! summary {
    ($($arg:tt)*) => {
        if !$crate::cli::output::quiet() {
            $crate::cli::output::stderr_line!($($arg)*);
        }
    };
}

pub(crate) use summary;

/// `eprintln!` that never panics: with stderr closed (`2>&1 | true`) the line is dropped, and
/// the command goes on to write its files and exit as it would have.
macro_rules! stderr_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub(crate) use stderr_line;

/// Writes `text` to standard output. Unlike `print!`, which panics, a closed pipe (`| head`)
/// comes back as an error, which `main` takes for the normal end it is.
pub fn print_out(text: impl std::fmt::Display) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    write!(out, "{text}")?;
    out.flush()
}

/// What was read of a labelled corpus, and any warnings, on stderr. `warn_unknown` is false
/// when the thesaurus is only what a model stores (its unknowns are simply descriptors new to
/// it).
pub fn report_read(read: &ReadCorpus, with_thesaurus: bool, warn_unknown: bool) {
    let corpus = &read.corpus;
    summary!(
        "read {} documents with {} distinct descriptors ({} assignments) from {}",
        corpus.documents.len(),
        corpus.descriptor_set().len(),
        corpus.assignments(),
        read.summary.describe()
    );
    if let Some(note) = read.summary.ignored_note() {
        stderr_line!("{note}");
    }
    let report = &read.resolution;
    if with_thesaurus && warn_unknown {
        summary!(
            "thesaurus matches: {} by URI, {} by preferred label, {} by alternative label, {} unknown",
            report.by_uri,
            report.by_pref_label,
            report.by_alt_label,
            report.unknown_assignments()
        );
    }
    for warning in report.warnings() {
        if warn_unknown || !warning.starts_with("warning") {
            stderr_line!("{warning}");
        }
    }
}

/// Tells a user at a terminal that `dtag` is waiting for them when an input is stdin, which
/// would otherwise look like a hang.
pub fn prompt_if_terminal(paths: &[PathBuf], what: &str) {
    use std::io::IsTerminal;
    let reads_stdin = paths.is_empty() || paths.iter().any(|p| p.as_os_str() == "-");
    if reads_stdin && std::io::stdin().is_terminal() {
        stderr_line!("reading {what} from standard input; end with Ctrl-D");
    }
}

/// Progress bars on stderr, hidden when quiet or not a terminal.
pub(crate) struct Bars {
    pub quiet: bool,
}

impl Progress for Bars {
    fn stage(&self, name: &str, len: u64) -> Box<dyn Stage> {
        if self.quiet {
            return Box::new(Bar(ProgressBar::hidden()));
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {rate} eta {eta}")
                .expect("valid template")
                .with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{}/s", thousands(state.per_sec()));
                    },
                )
                .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        Box::new(Bar(bar))
    }
}

/// An indicatif bar as the library's [`Stage`].
pub struct Bar(ProgressBar);

impl Stage for Bar {
    fn advance(&self, steps: u64) {
        self.0.inc(steps);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A rate as a whole number with thousands separators (`21,988`): indicatif's `{per_sec}`
/// prints four decimals (`21,987.6226/s`), a precision no rate has.
pub fn thousands(rate: f64) -> String {
    if !rate.is_finite() || rate < 0.0 {
        return "?".to_string();
    }
    let digits = format!("{:.0}", rate);
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The summary of threshold tuning (or why there was none) on stderr.
pub(crate) fn print_tuning(summary: &TuningSummary) {
    if let Some(reason) = &summary.skipped {
        stderr_line!("thresholds not tuned: {reason}");
    }
    if let Some(t) = &summary.report {
        summary!(
            "tuned on {} folds: global threshold {:.3}, {} descriptors with a threshold of their own; \
out-of-fold micro-F1 {:.4}, macro-F1 {:.4}, document F1 {:.4}",
            t.folds,
            t.global_threshold,
            t.descriptors_with_own_threshold,
            t.oof_micro_f1,
            t.oof_macro_f1,
            t.oof_doc_f1
        );
        summary!(
            "global grid (out of fold): best micro-F1 {:.4} at --limit {} --threshold {:.2}; \
best document F1 {:.4} at --limit {} --threshold {:.2}",
            t.best_for_micro_f1.f1,
            t.best_for_micro_f1.limit,
            t.best_for_micro_f1.threshold,
            t.best_for_doc_f1.f1,
            t.best_for_doc_f1.limit,
            t.best_for_doc_f1.threshold
        );
    }
}

/// The TSV header's shared columns (callers add their own and end the line).
pub fn write_tsv_header(out: &mut dyn Write, with_concepts: bool) -> std::io::Result<()> {
    write!(out, "document\trank\tdescriptor\tscore")?;
    if with_concepts {
        write!(out, "\turi\tlabel_en\tlabel_zh")?;
    }
    Ok(())
}

/// One suggestion's shared TSV columns; URI and labels are empty when unknown.
pub fn write_tsv_row(
    out: &mut dyn Write,
    document: &str,
    rank: usize,
    s: &Suggestion,
    with_concepts: bool,
) -> std::io::Result<()> {
    write!(
        out,
        "{document}\t{}\t{}\t{:.4}",
        rank + 1,
        s.descriptor,
        s.score
    )?;
    if with_concepts {
        write!(
            out,
            "\t{}\t{}\t{}",
            s.uri.as_deref().unwrap_or(""),
            s.label_en.as_deref().unwrap_or(""),
            s.label_zh.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

/// `--explain` output for TSV: `term:+0.1234 term:+0.0456`.
pub fn format_terms(terms: &[dtag::predict::explain::TermContribution]) -> String {
    terms
        .iter()
        .map(|t| format!("{}:{:+.4}", t.term, t.contribution))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Serialize)]
pub struct ExplainedDraft<'a> {
    pub document: &'a str,
    pub suggestions: &'a [ExplainedSuggestion],
}

/// The closing lines of a run that wrote a model: seconds per stage, and where it went.
pub fn print_times_and_destination(seconds: &Stages, destination: &dyn std::fmt::Display) {
    let stages: Vec<String> = seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}s"))
        .collect();
    summary!("time: {}", stages.join(", "));
    summary!("model written to {destination}");
}

/// Writes `model` to `out` (atomically and streamed for a file) and records the time it took and the total
/// since `started`.
pub fn save_timed(
    model: &Model,
    out: &dtag::io_guard::Output,
    seconds: &mut Stages,
    started: Instant,
) -> anyhow::Result<()> {
    seconds.time("saving", || {
        out.write_with(|w| dtag::model::file::write_model(model, w))
    })?;
    seconds.since("total", started);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn rates_are_whole_numbers_with_thousands_separators() {
        assert_eq!(thousands(21987.6226), "21,988");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(f64::NAN), "?");
    }
}
