//! End-to-end tests of the `dtag` binary on the shipped demo corpus (`data/`).
//!
//! Every test runs the real executable with `std::process::Command`, from the crate root so
//! the relative paths of `data/` appear in its output as a user would see them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

mod common;
use common::{dtag, dtag_with_stdin, p, root, train};

const TRAIN: &str = "data/train.txt";
const TEST: &str = "data/test.txt";
const DRAFTS: [&str; 4] = [
    "data/drafts/draft_01.txt",
    "data/drafts/draft_02.txt",
    "data/drafts/draft_03.txt",
    "data/drafts/draft_04.txt",
];

/// The descriptors each draft was written for (data/README.md).
fn intended(draft: &str) -> &'static [&'static str] {
    match Path::new(draft).file_name().unwrap().to_str().unwrap() {
        "draft_01.txt" => &["PEACEKEEPING OPERATIONS", "CHILDREN"],
        "draft_02.txt" => &["CLIMATE CHANGE", "FOOD SECURITY"],
        "draft_03.txt" => &["NUCLEAR NON-PROLIFERATION", "SANCTIONS"],
        "draft_04.txt" => &["REFUGEES", "HUMANITARIAN ASSISTANCE", "MIDDLE EAST"],
        other => panic!("no intended descriptors for {other}"),
    }
}

/// A model trained once on data/train.txt with default settings, shared by the tests that
/// only read it.
fn demo_model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-tests");
        std::fs::create_dir_all(&dir).unwrap();
        // A fixed name: written atomically and deterministic, so concurrent runs agree.
        let model = dir.join("demo.dtag");
        train(TRAIN, &model, &[]).ok();
        model
    })
}

fn model_arg() -> String {
    p(demo_model())
}

fn descriptors_of(corpus: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(root().join(corpus))
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

fn number(v: &Value, key: &str) -> f64 {
    v.get(key)
        .unwrap_or_else(|| panic!("key `{key}` missing in {v}"))
        .as_f64()
        .unwrap_or_else(|| panic!("key `{key}` is not a number in {v}"))
}

// ---------------------------------------------------------------------------------------------
// train

#[test]
fn train_writes_a_model_and_a_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("demo.dtag");
    // Not quiet: the summary on stderr is checked below.
    let run = dtag(["train", "--corpus", TRAIN, "--model", &p(&model), "--json"]).ok();

    let bytes = std::fs::read(&model).expect("model file written");
    assert!(
        bytes.starts_with(b"DTAGMODL"),
        "model starts with its magic"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "demo.dtag")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let summary = run.json();
    assert_eq!(number(&summary, "documents"), 123.0);
    assert_eq!(number(&summary, "descriptors_trained"), 17.0);
    assert_eq!(number(&summary, "descriptors_skipped"), 0.0);
    assert!(number(&summary, "vocabulary") > 100.0, "{summary}");
    assert_eq!(summary["skipped"], Value::Array(vec![]));
    assert!(summary["seconds"].is_object(), "{summary}");

    // The human summary goes to stderr whatever the stdout format.
    assert!(run.stderr.contains("123 documents"), "{}", run.stderr);
    assert!(run.stderr.contains("model written to"), "{}", run.stderr);
}

#[test]
fn train_without_json_prints_nothing_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtag");
    let run = train(TRAIN, &model, &[]).ok();
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
    assert!(model.is_file());
}

#[test]
fn min_label_docs_skips_and_lists_rare_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtag");
    let run = train(TRAIN, &model, &["--min-label-docs", "10", "--json"]).ok();
    let summary = run.json();
    // data/README.md: four descriptors have 8 or 9 training documents.
    let expected: BTreeSet<&str> = [
        "FOOD SECURITY",
        "PEACEBUILDING",
        "NUCLEAR NON-PROLIFERATION",
        "SMALL ARMS",
    ]
    .into();
    let skipped: BTreeSet<&str> = summary["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[0].as_str().unwrap())
        .collect();
    assert_eq!(skipped, expected);
    assert_eq!(number(&summary, "descriptors_skipped"), 4.0);
    assert_eq!(number(&summary, "descriptors_trained"), 13.0);
    assert!(run.stderr.contains("SMALL ARMS"), "{}", run.stderr);

    // Descriptors the model skipped are unseen by it: eval counts them as misses and says so.
    let eval = dtag(["eval", "--model", &p(&model), "--corpus", TEST, "--json"])
        .ok()
        .json();
    let gold = descriptors_of(TEST);
    let unseen_assignments = gold
        .iter()
        .flatten()
        .filter(|d| expected.contains(d.as_str()))
        .count();
    let unseen_docs = gold
        .iter()
        .filter(|ds| ds.iter().any(|d| expected.contains(d.as_str())))
        .count();
    assert_eq!(number(&eval, "unseen_descriptors"), 4.0);
    assert_eq!(
        number(&eval, "unseen_assignments"),
        unseen_assignments as f64
    );
    assert_eq!(number(&eval, "unseen_docs"), unseen_docs as f64);
}

#[test]
fn a_corpus_directory_is_read_in_full_and_hidden_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let corpus_dir = dir.path().join("corpus");
    std::fs::create_dir_all(corpus_dir.join("more")).unwrap();
    let text = std::fs::read_to_string(root().join(TRAIN)).unwrap();
    // Split the corpus at a document boundary into two files, one in a subdirectory.
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("%%%"))
        .nth(60)
        .unwrap()
        .0;
    std::fs::write(corpus_dir.join("a.txt"), lines[..cut].join("\n") + "\n").unwrap();
    std::fs::write(
        corpus_dir.join("more").join("b.txt"),
        lines[cut..].join("\n") + "\n",
    )
    .unwrap();
    // Editors' and systems' hidden files must not be read as documents.
    std::fs::write(corpus_dir.join(".notes"), "not a corpus\n").unwrap();

    let model = dir.path().join("m.dtag");
    let summary = train(&p(&corpus_dir), &model, &["--json"]).ok().json();
    assert_eq!(number(&summary, "documents"), 123.0);
    assert_eq!(number(&summary, "sources"), 2.0);
    assert_eq!(number(&summary, "descriptors_trained"), 17.0);

    // eval takes directories too …
    let test_dir = dir.path().join("test");
    std::fs::create_dir(&test_dir).unwrap();
    std::fs::copy(root().join(TEST), test_dir.join("test.txt")).unwrap();
    let report = dtag([
        "eval",
        "--model",
        &p(&model),
        "--corpus",
        &p(&test_dir),
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(number(&report, "docs"), 28.0);
    // … and refuses one holding a file that is not a corpus, naming it.
    std::fs::write(test_dir.join("notes.txt"), "这不是语料。\n").unwrap();
    let run = dtag(["eval", "--model", &p(&model), "--corpus", &p(&test_dir)]).fails();
    let place = format!("{}:1:", test_dir.join("notes.txt").display());
    assert!(run.stderr.contains(&place), "{}", run.stderr);

    // suggest takes a directory of raw drafts, in sorted order.
    let run = dtag([
        "suggest",
        "--model",
        &p(&model),
        "--format",
        "json",
        "data/drafts",
    ])
    .ok();
    let docs: Vec<String> = run
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["document"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        docs,
        DRAFTS.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    );
}

#[test]
fn a_corpus_on_stdin_trains_the_same_model_as_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("file.dtag");
    let from_stdin = dir.path().join("stdin.dtag");
    train(TRAIN, &from_file, &[]).ok();
    let bytes = std::fs::read(root().join(TRAIN)).unwrap();
    let summary = dtag_with_stdin(
        [
            "-q",
            "train",
            "--corpus",
            "-",
            "--model",
            &p(&from_stdin),
            "--json",
        ],
        Some(&bytes),
    )
    .ok()
    .json();
    assert_eq!(number(&summary, "documents"), 123.0);
    // Training is deterministic and independent of where the text came from.
    assert_eq!(
        std::fs::read(&from_file).unwrap(),
        std::fs::read(&from_stdin).unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// malformed corpora

/// Writes `bytes` as a corpus, trains on it, and checks that training fails naming `file:line`
/// for every expected line, with a message containing `what`, and writes no model.
fn assert_rejected(bytes: &[u8], lines: &[usize], what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("bad.txt");
    std::fs::write(&corpus, bytes).unwrap();
    let model = dir.path().join("m.dtag");
    let run = train(&p(&corpus), &model, &[]).fails();
    for line in lines {
        let place = format!("{}:{line}:", corpus.display());
        assert!(
            run.stderr.contains(&place),
            "stderr should name {place}\n{}",
            run.stderr
        );
    }
    assert!(
        run.stderr.to_lowercase().contains(&what.to_lowercase()),
        "stderr should say `{what}`:\n{}",
        run.stderr
    );
    assert!(!model.exists(), "no model may be written from a bad corpus");
}

const GOOD_DOC: &str = "%%%AFRICA|\n\n非洲联盟与联合国加强合作。\n";

#[test]
fn header_without_body_is_rejected_with_its_line() {
    // Followed by another header …
    assert_rejected(
        format!("{GOOD_DOC}%%%CHILDREN|\n\n{GOOD_DOC}").as_bytes(),
        &[4],
        "not followed by a body",
    );
    // … or by the end of the file.
    assert_rejected(
        format!("{GOOD_DOC}%%%CHILDREN|\n\n").as_bytes(),
        &[4],
        "not followed by a body",
    );
}

#[test]
fn empty_descriptor_is_rejected_with_its_line() {
    assert_rejected(
        format!("{GOOD_DOC}%%%AFRICA||CHILDREN|\n\n儿童与武装冲突。\n").as_bytes(),
        &[4],
        "empty descriptor",
    );
}

#[test]
fn duplicate_descriptor_is_rejected_with_its_line() {
    assert_rejected(
        format!("{GOOD_DOC}{GOOD_DOC}%%%CHILDREN|AFRICA| CHILDREN |\n\n儿童与武装冲突。\n")
            .as_bytes(),
        &[7],
        "`CHILDREN`",
    );
}

#[test]
fn invalid_utf8_is_rejected_with_its_line() {
    let mut bytes = format!("{GOOD_DOC}%%%CHILDREN|\n\n").into_bytes();
    bytes.extend_from_slice(b"\xe5\x84\xbf\xff\xfe body\n");
    bytes.extend_from_slice(GOOD_DOC.as_bytes());
    assert_rejected(&bytes, &[6], "UTF-8");
}

#[test]
fn body_without_header_is_rejected_with_its_line() {
    // At the start of the file …
    assert_rejected(
        format!("联合国大会决议。\n{GOOD_DOC}").as_bytes(),
        &[1],
        "without a `%%%` header",
    );
    // … and a second body line after a document.
    assert_rejected(
        format!("{GOOD_DOC}第二行正文。\n").as_bytes(),
        &[4],
        "without a `%%%` header",
    );
}

#[test]
fn every_problem_of_a_corpus_is_listed() {
    let text = format!("{GOOD_DOC}%%%A||B|\n\nx\n%%%C|C|\n\ny\n%%%D|\n\n{GOOD_DOC}孤立的正文\n");
    assert_rejected(text.as_bytes(), &[4, 7, 10, 15], "malformed");
}

#[test]
fn a_bad_file_in_a_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join(TRAIN), dir.path().join("a.txt")).unwrap();
    std::fs::write(
        dir.path().join("b.txt"),
        format!("{GOOD_DOC}%%%X||Y|\n\nz\n"),
    )
    .unwrap();
    let model = dir.path().join("m.dtag");
    let run = train(&p(dir.path()), &model, &[]).fails();
    let place = format!("{}:4:", dir.path().join("b.txt").display());
    assert!(run.stderr.contains(&place), "{}", run.stderr);
    assert!(!run.stderr.contains("a.txt:"), "{}", run.stderr);
}

#[test]
fn a_failed_training_leaves_the_previous_model_intact() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtag");
    train(TRAIN, &model, &[]).ok();
    let before = std::fs::read(&model).unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "%%%A|\n").unwrap();
    train(&p(&bad), &model, &[]).fails();
    assert_eq!(std::fs::read(&model).unwrap(), before);
}

#[test]
fn a_missing_corpus_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.txt");
    let run = train(&p(&missing), &dir.path().join("m.dtag"), &[]).fails();
    assert!(run.stderr.contains("nope.txt"), "{}", run.stderr);
    // The cause is said once, not repeated by the error chain.
    assert_eq!(
        run.stderr.matches("No such file or directory").count(),
        1,
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// suggest

/// Parsed TSV rows: (document, rank, descriptor, score).
fn parse_tsv(stdout: &str) -> Vec<(String, usize, String, f64)> {
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("document\trank\tdescriptor\tscore"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "TSV row with 4 fields: {l:?}");
            (
                f[0].to_string(),
                f[1].parse().expect("rank is a number"),
                f[2].to_string(),
                f[3].parse().expect("score is a number"),
            )
        })
        .collect()
}

fn known_descriptors() -> BTreeSet<String> {
    descriptors_of(TRAIN).into_iter().flatten().collect()
}

#[test]
fn suggest_prints_tsv_ranked_per_draft() {
    // An explicit --threshold replaces the model's tuned per-descriptor thresholds.
    let mut args = vec![
        "suggest".to_string(),
        "--model".into(),
        model_arg(),
        "--threshold".into(),
        "0.5".into(),
    ];
    args.extend(DRAFTS.iter().map(|s| s.to_string()));
    let rows = parse_tsv(&dtag(&args).ok().stdout);
    let known = known_descriptors();
    for draft in DRAFTS {
        let mine: Vec<_> = rows.iter().filter(|r| r.0 == draft).collect();
        assert!(!mine.is_empty(), "at least one suggestion for {draft}");
        for (k, row) in mine.iter().enumerate() {
            assert_eq!(row.1, k + 1, "ranks count from 1");
            assert!(known.contains(&row.2), "unknown descriptor {}", row.2);
            assert!((0.0..=1.0).contains(&row.3), "score is a probability");
            if k > 0 {
                assert!(mine[k - 1].3 >= row.3, "scores descend");
                // Below the top one, only descriptors at or above the threshold are proposed.
                assert!(row.3 >= 0.5, "{row:?} is below the threshold");
            }
        }
        let top = &mine[0].2;
        assert!(
            intended(draft).contains(&top.as_str()),
            "{draft}: top suggestion {top} is not among {:?}",
            intended(draft)
        );
    }
    assert_eq!(
        rows.iter().map(|r| &r.0).collect::<BTreeSet<_>>().len(),
        DRAFTS.len()
    );
}

#[test]
fn suggest_json_ranks_every_intended_descriptor_near_the_top() {
    let mut args = vec![
        "suggest".to_string(),
        "--model".into(),
        model_arg(),
        "--format".into(),
        "json".into(),
        "--limit".into(),
        "5".into(),
        "--threshold".into(),
        "0".into(),
    ];
    args.extend(DRAFTS.iter().map(|s| s.to_string()));
    let out = dtag(&args).ok().json();
    let items = out.as_array().expect("a JSON array");
    assert_eq!(items.len(), DRAFTS.len());
    for (item, draft) in items.iter().zip(DRAFTS) {
        assert_eq!(item["document"], draft);
        let suggestions = item["suggestions"].as_array().unwrap();
        // threshold 0 proposes up to the limit.
        assert_eq!(suggestions.len(), 5);
        let ranked: Vec<&str> = suggestions
            .iter()
            .map(|s| {
                let score = s["score"].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&score));
                s["descriptor"].as_str().unwrap()
            })
            .collect();
        assert!(
            intended(draft).contains(&ranked[0]),
            "{draft}: top suggestion {} is not among {:?}",
            ranked[0],
            intended(draft)
        );
        // Every intended descriptor is among the first three.
        for want in intended(draft) {
            assert!(
                ranked[..3].contains(want),
                "{draft}: {want} not in the top 3 {ranked:?}"
            );
        }
    }
}

#[test]
fn suggest_limit_one_gives_exactly_the_best() {
    let out = dtag([
        "suggest",
        "--model",
        &model_arg(),
        "--limit",
        "1",
        "--threshold",
        "0",
        "--format",
        "json",
        DRAFTS[3],
    ])
    .ok()
    .json();
    assert_eq!(out[0]["suggestions"].as_array().unwrap().len(), 1);
    // Threshold 1 still proposes the best one (at least one per draft).
    let out = dtag([
        "suggest",
        "--model",
        &model_arg(),
        "--threshold",
        "1",
        "--format",
        "json",
        DRAFTS[3],
    ])
    .ok()
    .json();
    assert_eq!(out[0]["suggestions"].as_array().unwrap().len(), 1);
}

#[test]
fn suggest_reads_stdin_and_scores_a_draft_as_in_a_batch() {
    let batch = parse_tsv(
        &dtag(
            ["suggest", "--model", &model_arg()]
                .into_iter()
                .map(String::from)
                .chain(DRAFTS.iter().map(|s| s.to_string())),
        )
        .ok()
        .stdout,
    );
    let text = std::fs::read(root().join(DRAFTS[0])).unwrap();
    // No file argument means stdin; so does `-`.
    for args in [
        vec!["suggest", "--model", &model_arg()],
        vec!["suggest", "--model", &model_arg(), "-"],
    ] {
        let alone = parse_tsv(&dtag_with_stdin(&args, Some(&text)).ok().stdout);
        assert!(!alone.is_empty());
        let from_batch: Vec<_> = batch.iter().filter(|r| r.0 == DRAFTS[0]).collect();
        assert_eq!(alone.len(), from_batch.len());
        for (a, b) in alone.iter().zip(from_batch) {
            assert_eq!(a.0, "<stdin>");
            // Features do not depend on the batch: idf comes from the model.
            assert_eq!((a.1, &a.2, a.3), (b.1, &b.2, b.3));
        }
    }
}

#[test]
fn suggest_reads_a_corpus_as_one_draft_per_body() {
    let rows = parse_tsv(&dtag(["suggest", "--model", &model_arg(), TEST]).ok().stdout);
    let headers: Vec<usize> = std::fs::read_to_string(root().join(TEST))
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("%%%"))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(headers.len(), 28);
    let names: BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let expected: BTreeSet<String> = headers.iter().map(|l| format!("{TEST}:{l}")).collect();
    assert_eq!(
        names,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );

    // A corpus on stdin too.
    let bytes = std::fs::read(root().join(TEST)).unwrap();
    let rows = parse_tsv(
        &dtag_with_stdin(["suggest", "--model", &model_arg(), "-"], Some(&bytes))
            .ok()
            .stdout,
    );
    assert!(rows.iter().any(|r| r.0 == "<stdin>:1"), "{rows:?}");
    assert_eq!(rows.iter().map(|r| &r.0).collect::<BTreeSet<_>>().len(), 28);
}

#[test]
fn suggest_refuses_a_malformed_corpus_and_a_non_utf8_draft() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("c.txt");
    std::fs::write(&corpus, format!("{GOOD_DOC}%%%A||B|\n\nx\n")).unwrap();
    let run = dtag(["suggest", "--model", &model_arg(), &p(&corpus)]).fails();
    assert!(
        run.stderr.contains(&format!("{}:4", corpus.display())),
        "{}",
        run.stderr
    );
    let draft = dir.path().join("d.txt");
    std::fs::write(&draft, b"\xe5\x84\xbf\xff").unwrap();
    let run = dtag(["suggest", "--model", &model_arg(), &p(&draft)]).fails();
    assert!(run.stderr.contains("d.txt"), "{}", run.stderr);
    assert!(run.stderr.contains("UTF-8"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// eval

const EVAL_KEYS: [&str; 14] = [
    "docs",
    "p_at_1",
    "p_at_3",
    "p_at_5",
    "r_at_5",
    "ndcg_at_5",
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "macro_f1",
    "doc_f1",
    "unseen_descriptors",
    "unseen_docs",
    "unseen_assignments",
];

#[test]
fn eval_json_has_every_figure_and_a_good_precision_at_1() {
    let report = dtag(["eval", "--model", &model_arg(), "--corpus", TEST, "--json"])
        .ok()
        .json();
    for key in EVAL_KEYS {
        let v = number(&report, key);
        if !key.starts_with("unseen") && key != "docs" {
            assert!((0.0..=1.0).contains(&v), "{key} = {v} is not a ratio");
        }
    }
    assert_eq!(number(&report, "docs"), 28.0);
    assert_eq!(number(&report, "unseen_descriptors"), 0.0);
    assert_eq!(number(&report, "unseen_docs"), 0.0);
    assert_eq!(number(&report, "unseen_assignments"), 0.0);
    // Measured 1.0 (28/28) with the default settings; the bar allows four misses.
    let p1 = number(&report, "p_at_1");
    assert!(p1 >= 0.85, "P@1 = {p1}");
    // Measured R@5 = 1.0 and nDCG@5 = 0.98.
    assert!(number(&report, "r_at_5") >= 0.85, "{report}");
    assert!(number(&report, "ndcg_at_5") >= 0.80, "{report}");
    let (p, r, f) = (
        number(&report, "micro_precision"),
        number(&report, "micro_recall"),
        number(&report, "micro_f1"),
    );
    assert!(
        (f - 2.0 * p * r / (p + r)).abs() < 1e-9,
        "micro F1 is the harmonic mean"
    );
}

#[test]
fn eval_prints_a_table_without_json() {
    let run = dtag(["eval", "--model", &model_arg(), "--corpus", TEST]).ok();
    for label in ["P@1", "R@5", "nDCG@", "micro", "macro", "unseen"] {
        assert!(
            run.stdout.contains(label),
            "table lacks {label}:\n{}",
            run.stdout
        );
    }
}

#[test]
fn eval_reports_descriptors_unseen_in_training() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("test.txt");
    let text = std::fs::read_to_string(root().join(TEST)).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rest: Vec<&str> = lines.collect();
    // The first document gains an unseen descriptor; one new document has only unseen ones.
    let body = rest[1];
    let edited = format!(
        "{header}OUTER SPACE|\n{}\n%%%OUTER SPACE|ANTARCTICA|\n\n{body}\n",
        rest.join("\n")
    );
    std::fs::write(&corpus, edited).unwrap();
    let report = dtag([
        "eval",
        "--model",
        &model_arg(),
        "--corpus",
        &p(&corpus),
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(number(&report, "docs"), 29.0);
    assert_eq!(number(&report, "unseen_descriptors"), 2.0);
    assert_eq!(number(&report, "unseen_docs"), 2.0);
    assert_eq!(number(&report, "unseen_assignments"), 3.0);
    // The unseen descriptors count as misses: recall cannot be perfect.
    assert!(number(&report, "r_at_5") < 1.0);

    let table = dtag(["eval", "--model", &model_arg(), "--corpus", &p(&corpus)])
        .ok()
        .stdout;
    let line = table
        .lines()
        .find(|l| l.contains("unseen"))
        .expect("a line about unseen descriptors");
    assert!(line.contains('2') && line.contains('3'), "{line}");
}

#[test]
fn eval_refuses_a_malformed_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("t.txt");
    std::fs::write(&corpus, format!("{GOOD_DOC}%%%A|A|\n\nx\n")).unwrap();
    let run = dtag(["eval", "--model", &model_arg(), "--corpus", &p(&corpus)]).fails();
    assert!(
        run.stderr.contains(&format!("{}:4", corpus.display())),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// damaged model files

/// Runs suggest and eval on a damaged model; both must fail cleanly, naming the file and
/// saying `what` (case-insensitive).
fn assert_bad_model(bytes: &[u8], what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("damaged.dtag");
    std::fs::write(&model, bytes).unwrap();
    let m = p(&model);
    for run in [
        dtag(["suggest", "--model", &m, DRAFTS[0]]),
        dtag(["eval", "--model", &m, "--corpus", TEST]),
    ] {
        let run = run.fails();
        assert!(
            run.stdout.is_empty(),
            "no output from a bad model: {}",
            run.stdout
        );
        assert!(run.stderr.contains(&m), "names the file:\n{}", run.stderr);
        assert!(
            run.stderr.to_lowercase().contains(&what.to_lowercase()),
            "stderr should say `{what}`:\n{}",
            run.stderr
        );
    }
}

fn model_bytes() -> Vec<u8> {
    std::fs::read(demo_model()).unwrap()
}

#[test]
fn a_truncated_model_is_reported() {
    let bytes = model_bytes();
    assert_bad_model(&bytes[..bytes.len() / 2], "truncated");
    assert_bad_model(&bytes[..bytes.len() - 1], "truncated");
    // Cut inside the header.
    assert_bad_model(&bytes[..20], "truncated");
}

#[test]
fn a_flipped_payload_byte_is_reported() {
    let bytes = model_bytes();
    for offset in [40, bytes.len() / 2, bytes.len() - 1] {
        let mut damaged = bytes.clone();
        damaged[offset] ^= 0x10;
        assert_bad_model(&damaged, "corrupted");
    }
}

#[test]
fn a_foreign_file_is_reported() {
    let readme = std::fs::read(root().join("data/README.md")).unwrap();
    assert_bad_model(&readme, "not a dtag model");
    assert_bad_model(b"", "not a dtag model");
    // A corpus given as --model by mistake.
    let corpus = std::fs::read(root().join(TRAIN)).unwrap();
    assert_bad_model(&corpus, "not a dtag model");
}

#[test]
fn a_model_of_another_format_version_is_reported() {
    let mut bytes = model_bytes();
    bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
    assert_bad_model(&bytes, "version");
}

#[test]
fn trailing_bytes_after_the_payload_are_reported() {
    let mut bytes = model_bytes();
    bytes.extend_from_slice(b"junk");
    assert_bad_model(&bytes, "trailing");
}

#[test]
fn a_missing_model_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let m = p(&dir.path().join("none.dtag"));
    let run = dtag(["suggest", "--model", &m, DRAFTS[0]]).fails();
    assert!(run.stderr.contains(&m), "{}", run.stderr);
}

/// Damage the checksum cannot see: payload bytes changed and the checksum recomputed, so the
/// decompressor and the deserialiser meet garbage. Loading may succeed (a changed weight is
/// still a model) but must never panic.
#[test]
fn damage_behind_a_valid_checksum_never_panics() {
    let bytes = model_bytes();
    let payload = 32..bytes.len();
    let step = (payload.len() / 300).max(1);
    let path = Path::new("fuzzed.dtag");
    let mut failures = 0;
    for offset in payload.clone().step_by(step) {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[offset] ^= mask;
            dtag::model::file::reseal(&mut damaged);
            let outcome = std::panic::catch_unwind(|| {
                dtag::model::file::from_bytes(&damaged, path).map(|_| ())
            });
            match outcome {
                Err(_) => panic!("loading panicked with byte {offset} ^ {mask:#x}"),
                Ok(Err(e)) => {
                    failures += 1;
                    assert!(e.to_string().starts_with("fuzzed.dtag: "), "{e}");
                }
                Ok(Ok(())) => {}
            }
        }
    }
    assert!(failures > 0, "some damage must be detected");
}

/// A damaged length field must be an error, not an attempt to allocate it.
#[test]
fn a_damaged_length_field_is_reported() {
    let mut bytes = model_bytes();
    bytes[12..20].copy_from_slice(&(30u64 << 30).to_le_bytes());
    assert_bad_model(&bytes, "corrupted");
}

// ---------------------------------------------------------------------------------------------
// help and parameters

#[test]
fn help_of_each_subcommand_lists_its_contract_flags() {
    let cases: [(&str, &[&str]); 3] = [
        (
            "train",
            &[
                "--corpus",
                "--model",
                "--c ",
                "--min-df",
                "--min-label-docs",
                "--json",
                "--threads",
                "--quiet",
            ],
        ),
        (
            "suggest",
            &[
                "--model",
                "--limit",
                "--threshold",
                "--format",
                "tsv",
                "json",
                "--threads",
                "--quiet",
            ],
        ),
        (
            "eval",
            &[
                "--model",
                "--corpus",
                "--limit",
                "--threshold",
                "--json",
                "--threads",
                "--quiet",
            ],
        ),
    ];
    for (sub, flags) in cases {
        let help = dtag([sub, "--help"]).ok().stdout;
        for flag in flags {
            assert!(
                help.contains(flag),
                "`dtag {sub} --help` lacks {flag}:\n{help}"
            );
        }
    }
    let top = dtag(["--help"]).ok().stdout;
    for sub in ["train", "suggest", "eval"] {
        assert!(top.contains(sub), "{top}");
    }
}

#[test]
fn invalid_parameters_fail_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtag");
    let m = p(&model);
    // The corpus and model do not exist: a parameter error must come first.
    let missing = p(&dir.path().join("missing.txt"));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["train", "--corpus", &missing, "--model", &m, "--c", "0"],
            "invalid --c",
        ),
        (
            vec!["train", "--corpus", &missing, "--model", &m, "--c=-1"],
            "invalid --c",
        ),
        (
            vec!["train", "--corpus", &missing, "--model", &m, "--c", "NaN"],
            "invalid --c",
        ),
        (
            vec![
                "train", "--corpus", &missing, "--model", &m, "--min-df", "0",
            ],
            "--min-df",
        ),
        (
            vec![
                "train",
                "--corpus",
                &missing,
                "--model",
                &m,
                "--min-label-docs",
                "0",
            ],
            "--min-label-docs",
        ),
        (
            vec![
                "train", "--corpus", &missing, "--model", &m, "--max-df", "1.5",
            ],
            "--max-df",
        ),
        (
            vec!["suggest", "--model", &m, "--threshold", "2", &missing],
            "--threshold",
        ),
        (
            vec!["suggest", "--model", &m, "--limit", "0", &missing],
            "--limit",
        ),
        (
            vec![
                "eval",
                "--model",
                &m,
                "--corpus",
                &missing,
                "--threshold",
                "2",
            ],
            "--threshold",
        ),
        (
            vec![
                "eval",
                "--model",
                &m,
                "--corpus",
                &missing,
                "--threshold=-0.1",
            ],
            "--threshold",
        ),
        // A negative number is a value, so that the range check reports it.
        (
            vec![
                "eval",
                "--model",
                &m,
                "--corpus",
                &missing,
                "--threshold",
                "-0.1",
            ],
            "invalid --threshold",
        ),
        (
            vec!["suggest", "--model", &m, "--min-score", "1.5", &missing],
            "invalid --min-score",
        ),
        (
            vec![
                "train",
                "--corpus",
                &missing,
                "--model",
                &m,
                "--tune-folds",
                "1",
            ],
            "invalid --tune-folds",
        ),
        (
            vec!["cv", "--corpus", &missing, "--folds", "1"],
            "invalid --folds",
        ),
        (
            vec![
                "--threads",
                "0",
                "train",
                "--corpus",
                &missing,
                "--model",
                &m,
            ],
            "threads",
        ),
    ];
    for (args, name) in cases {
        let run = dtag(&args).fails();
        assert!(
            run.stderr.contains(name),
            "{args:?}: the error should name {name}:\n{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("missing.txt") && !run.stderr.contains("m.dtag"),
            "{args:?}: no file may be touched before the parameters are checked:\n{}",
            run.stderr
        );
    }
    assert!(!model.exists());
    // Values that are not numbers are refused by the parser.
    let run = dtag(["train", "--corpus", TRAIN, "--model", &m, "--c", "lots"]).fails();
    assert!(run.stderr.contains("--c"), "{}", run.stderr);
    assert!(!model.exists());
}

/// `eval … --per-label F --report D | true` (and with stderr closed too): the files are
/// written before anything goes to stdout, and a reader that went away is a quiet exit.
#[test]
fn eval_writes_its_files_when_nobody_reads_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let per_label = dir.path().join("labels.tsv");
    let report = dir.path().join("report");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dtag"))
        .current_dir(root())
        .args(["eval", "--model", &model_arg(), "--corpus", TEST])
        .args(["--per-label", &p(&per_label), "--report", &p(&report)])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Both readers go away before dtag has written a byte (loading the model takes longer).
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a closed pipe is not a failure");
    assert!(
        std::fs::read_to_string(&per_label).unwrap().lines().count() > 1,
        "per-label figures written"
    );
    assert!(report.join("index.html").is_file(), "report written");
}

/// Every command names the documents it reads `--corpus` and their format `--input-format`;
/// `suggest` also takes drafts as positional arguments, and `--json` as `--format json`.
#[test]
fn documents_are_named_alike_in_every_command() {
    let by_position = dtag(["suggest", "--model", &model_arg(), "--json", TEST]).ok();
    let by_flag = dtag([
        "suggest",
        "--model",
        &model_arg(),
        "--format",
        "json",
        "--input-format",
        "dtag",
        "--corpus",
        TEST,
    ])
    .ok();
    assert_eq!(by_position.json(), by_flag.json());
    let eval = dtag([
        "eval",
        "--model",
        &model_arg(),
        "--corpus",
        TEST,
        "--input-format",
        "dtag",
        "--json",
    ])
    .ok();
    assert!(number(&eval.json(), "docs") > 0.0);
    // The old spelling still works.
    dtag([
        "eval",
        "--model",
        &model_arg(),
        "--corpus",
        TEST,
        "--format",
        "dtag",
    ])
    .ok();
}
