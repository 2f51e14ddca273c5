//! ARCHITECTURE.md describes the code as it is: every source path it names exists.
//!
//! Paths are written `src/…` anywhere in the text, or relative to `src/` in the first column
//! of the stage table (`analysis/`, `corpus.rs`).

use std::path::Path;

mod common;
use common::root;

/// Backticked spans of `text`.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

#[test]
fn every_source_path_architecture_names_exists() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut named = Vec::new();
    for span in code_spans(&text) {
        if span.starts_with("src/") {
            named.push(span.trim_end_matches([',', '.']).to_string());
        }
    }
    // The stage table: its first column names folders and files of `src/`.
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or_default();
        for span in code_spans(first) {
            if span.ends_with('/') || span.ends_with(".rs") {
                named.push(format!("src/{span}"));
            }
        }
    }
    assert!(
        named.len() >= 20,
        "the check found only {} paths: has the layout of ARCHITECTURE.md changed?",
        named.len()
    );
    let missing: Vec<&String> = named
        .iter()
        .filter(|p| !root().join(Path::new(p.as_str())).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist: {missing:?}"
    );
}
