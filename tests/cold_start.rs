//! Cold start (issue 21): blank documents get no descriptor; `eval` counts as seen only
//! descriptors with training documents; a model from the thesaurus alone; small corpora.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cold_start");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The demo model with the UNBIS demo thesaurus, trained once per test run.
fn demo_model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let model = scratch("demo.dtag");
        train(
            "data/train.txt",
            &model,
            &["--thesaurus", "tests/fixtures/unbis_demo.ttl"],
        )
        .ok();
        model
    })
}

#[test]
fn blank_drafts_get_no_descriptor_and_a_warning() {
    let model = p(demo_model());
    let dir = scratch("blank-drafts");
    std::fs::create_dir_all(&dir).unwrap();
    let blank = dir.join("blank.txt");
    std::fs::write(&blank, " \n\t 。 2005 \n").unwrap();
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let real = dir.join("real.txt");
    std::fs::copy(root().join("data/drafts/draft_04.txt"), &real).unwrap();
    let run = dtag([
        "suggest",
        "--model",
        &model,
        "--format",
        "json",
        &p(&blank),
        &p(&empty),
        &p(&real),
    ])
    .ok();
    let out = run.json();
    let docs = out.as_array().unwrap();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0]["suggestions"], serde_json::json!([]), "{out}");
    assert_eq!(docs[1]["suggestions"], serde_json::json!([]), "{out}");
    assert!(!docs[2]["suggestions"].as_array().unwrap().is_empty());
    for name in ["blank.txt", "empty.txt"] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.starts_with("warning") && l.contains(name) && l.contains("blank")),
            "{}",
            run.stderr
        );
    }
    // TSV: the header and the real draft's rows only; a blank draft from stdin likewise.
    let tsv = dtag(["suggest", "--model", &model, &p(&blank), &p(&real)]).ok();
    assert!(tsv.stdout.lines().skip(1).all(|l| l.contains("real.txt")));
    let stdin = dtag_with_stdin(
        ["suggest", "--model", &model, "--min-known-terms", "0"],
        Some(b"  \n"),
    )
    .ok();
    assert_eq!(stdin.stdout.lines().count(), 1, "{}", stdin.stdout);
    assert!(stdin.stderr.contains("blank"), "{}", stdin.stderr);

    // `index` writes an empty suggestion file, with the warning.
    let docs_dir = scratch("blank-index");
    let _ = std::fs::remove_dir_all(&docs_dir);
    std::fs::create_dir_all(&docs_dir).unwrap();
    std::fs::write(docs_dir.join("blank.txt"), "\n \n").unwrap();
    std::fs::copy(&real, docs_dir.join("real.txt")).unwrap();
    let run = dtag(["index", "--model", &model, &p(&docs_dir)]).ok();
    assert!(
        run.stderr.contains("blank.txt") && run.stderr.contains("blank"),
        "{}",
        run.stderr
    );
    let written = std::fs::read_to_string(docs_dir.join("blank.dtag")).unwrap();
    assert_eq!(written, "");
    assert!(!std::fs::read_to_string(docs_dir.join("real.dtag"))
        .unwrap()
        .is_empty());
}

const KIRJASTO: &str = "../shared/corpora/kirjastonhoitaja";

/// The first `n` documents of kirjastonhoitaja's train.txt, written once into the scratch
/// directory (a derived file for the test run, not a copy kept anywhere).
fn kirjasto_first(n: usize) -> PathBuf {
    let out = scratch(&format!("kirjasto-first{n}.txt"));
    if !out.exists() {
        let text = std::fs::read_to_string(root().join(KIRJASTO).join("train.txt")).unwrap();
        let starts: Vec<usize> = text.match_indices("%%%").map(|(i, _)| i).collect();
        let end = starts.get(n).copied().unwrap_or(text.len());
        std::fs::write(&out, &text[..end]).unwrap();
    }
    out
}

/// Descriptors of a `%%%` corpus, per document.
fn headers(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("%%%"))
        .map(|h| {
            h.split('|')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

#[test]
fn eval_counts_lexicon_only_descriptors_as_unseen() {
    if !shared_or_skip(
        "eval_counts_lexicon_only_descriptors_as_unseen",
        &[KIRJASTO],
    ) {
        return;
    }
    // Trained on 30 documents with YSO: the lexicon can propose every YSO concept, but only
    // the descriptors of those 30 documents had training documents.
    let corpus = kirjasto_first(30);
    let model = scratch("kirjasto30-eval.dtag");
    let thesaurus = format!("{KIRJASTO}/yso-fi.tsv");
    train(
        &p(&corpus),
        &model,
        &["--language", "fi", "--thesaurus", &thesaurus],
    )
    .ok();
    let test = format!("{KIRJASTO}/test.txt");
    let report = dtag([
        "-q",
        "eval",
        "--model",
        &p(&model),
        "--corpus",
        &test,
        "--json",
    ])
    .ok()
    .json();
    let trained: std::collections::HashSet<String> =
        headers(&corpus).into_iter().flatten().collect();
    let gold = headers(&root().join(&test));
    let unseen: std::collections::HashSet<&String> = gold
        .iter()
        .flatten()
        .filter(|d| !trained.contains(*d))
        .collect();
    let assignments = gold
        .iter()
        .flatten()
        .filter(|d| !trained.contains(*d))
        .count();
    let docs = gold
        .iter()
        .filter(|g| g.iter().any(|d| !trained.contains(d)))
        .count();
    assert_eq!(report["unseen_descriptors"], unseen.len(), "{report}");
    assert_eq!(report["unseen_assignments"], assignments, "{report}");
    assert_eq!(report["unseen_docs"], docs, "{report}");
}
