//! Issue 11 ("trust"): every command reads every corpus format through one reader, a draft may
//! get nothing, degenerate inputs are errors, `learn` checks its update, and the command line
//! is quiet where it should be and speaks in flags.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

mod common;
use common::{dtag, p, root, train};

const TRAIN: &str = "data/train.txt";
const TEST: &str = "data/test.txt";
const THESAURUS: &str = "tests/fixtures/unbis_demo.ttl";
/// Documents in data/test.txt.
const TEST_DOCS: usize = 28;

/// A model of the demo corpus trained once per test run with `extra` flags, kept in `cell`.
fn demo_model_with(cell: &'static OnceLock<PathBuf>, file: &str, extra: &[&str]) -> String {
    p(cell.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trust-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let model = dir.join(file);
        train(TRAIN, &model, extra).ok();
        model
    }))
}

/// The demo model, trained once without a thesaurus.
fn demo_model() -> String {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    demo_model_with(&MODEL, "demo.dtag", &[])
}

/// The demo model as one-vs-rest alone (tuned, no ensemble): what `learn` updates in place.
fn one_vs_rest_model() -> String {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    demo_model_with(&MODEL, "demo-ovr.dtag", &["--no-ensemble"])
}

/// data/test.txt converted to `to` (with URIs from the demo thesaurus) at `out`.
fn converted(to: &str, out: &Path) -> String {
    dtag([
        "-q",
        "convert",
        "--corpus",
        TEST,
        "--thesaurus",
        THESAURUS,
        "--to",
        to,
        "--output",
        &p(out),
    ])
    .ok();
    p(out)
}

/// The distinct document names of `suggest` TSV output.
fn documents_of(tsv: &str) -> Vec<String> {
    let mut names: Vec<String> = tsv
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    names.dedup();
    names
}

// ---------------------------------------------------------------------------------------------
// one reader

#[test]
fn cv_reads_a_json_lines_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = converted("annif-jsonl", &dir.path().join("test.jsonl"));
    let out = dtag([
        "-q",
        "cv",
        "--corpus",
        &jsonl,
        "--folds",
        "2",
        "--no-tune",
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(out["documents"], TEST_DOCS, "{out}");
}

#[test]
fn suggest_gives_a_result_per_document_of_a_corpus_in_any_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = demo_model();
    let tsv = converted("annif-tsv", &d.join("test.tsv"));
    let jsonl = converted("annif-jsonl", &d.join("test.jsonl"));
    let gz = converted("annif-tsv", &d.join("test.tsv.gz"));
    for corpus in [&tsv, &jsonl, &gz] {
        let out = dtag(["suggest", "--model", &model, "--limit", "1", corpus]).ok();
        let names = documents_of(&out.stdout);
        assert_eq!(names.len(), TEST_DOCS, "{corpus}:\n{}", out.stdout);
        assert_eq!(names[0], format!("{corpus}:1"));
    }
    // A document directory: the `.txt` documents, not their subject files.
    let docs = d.join("docs");
    converted("annif-dir", &docs);
    let out = dtag(["suggest", "--model", &model, "--limit", "1", &p(&docs)]).ok();
    let names = documents_of(&out.stdout);
    assert_eq!(names.len(), TEST_DOCS, "{}", out.stdout);
    assert!(names.iter().all(|n| n.ends_with(".txt")), "{names:?}");
}

#[test]
fn a_directory_of_non_corpus_files_is_said_to_be_no_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtag");
    let run = train("data/drafts", &model, &[]).fails();
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains("not a labelled corpus") && !run.stderr.contains("malformed"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(!model.exists());
}

// ---------------------------------------------------------------------------------------------
// nothing when nothing fits

#[test]
fn min_score_lets_a_draft_get_nothing_and_unfamiliar_drafts_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let empty = d.join("empty.txt");
    std::fs::write(&empty, "  \n\t\n").unwrap();
    let english = d.join("recipe.txt");
    std::fs::write(&english, "Whisk two eggs with flour and milk, then bake.").unwrap();
    let model = demo_model();
    let drafts = [
        p(&empty),
        p(&english),
        "data/drafts/draft_01.txt".to_string(),
    ];
    let mut args = vec!["suggest", "--model", &model];
    args.extend(drafts.iter().map(String::as_str));

    // By default the best descriptor is always proposed, except to a blank draft, which
    // gets nothing (and a warning) …
    let run = dtag(&args).ok();
    assert_eq!(
        documents_of(&run.stdout),
        vec![drafts[1].as_str(), "data/drafts/draft_01.txt"],
        "{}",
        run.stdout
    );
    for draft in [&drafts[0], &drafts[1]] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.starts_with("warning") && l.contains(draft.as_str())),
            "{draft} should be warned about:\n{}",
            run.stderr
        );
    }
    assert!(!run.stderr.contains("draft_01"), "{}", run.stderr);

    // … with --min-score, a draft that nothing fits gets nothing.
    args.extend(["--min-score", "0.6"]);
    let run = dtag(&args).ok();
    assert_eq!(
        documents_of(&run.stdout),
        vec!["data/drafts/draft_01.txt"],
        "{}",
        run.stdout
    );

    // eval applies it too.
    let strict = dtag([
        "-q",
        "eval",
        "--model",
        &model,
        "--corpus",
        TEST,
        "--min-score",
        "0.999",
        "--json",
    ])
    .ok()
    .json();
    let loose = dtag(["-q", "eval", "--model", &model, "--corpus", TEST, "--json"])
        .ok()
        .json();
    let proposed = |r: &serde_json::Value| {
        r["true_positives"].as_u64().unwrap() + r["false_positives"].as_u64().unwrap()
    };
    assert!(proposed(&strict) < proposed(&loose), "{strict}\n{loose}");
}

// ---------------------------------------------------------------------------------------------
// degenerate inputs

#[test]
fn eval_of_an_empty_corpus_fails() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let run = dtag(["eval", "--model", &demo_model(), "--corpus", &p(&empty)]).fails();
    assert!(run.stderr.contains("no documents"), "{}", run.stderr);
    assert!(!run.stdout.contains("-0.0"), "{}", run.stdout);
}

#[test]
fn figures_of_nothing_are_never_negative_zero() {
    use dtag::analysis::{AnalyzerConfig, SegmenterKind};
    use dtag::corpus::{Corpus, Document, Origin};
    let doc = |d: &str, body: &str| Document {
        descriptors: vec![d.to_string()],
        body: body.to_string(),
        origin: Origin {
            source: "t".into(),
            line: 1,
        },
    };
    let corpus = Corpus {
        documents: vec![doc("A", "alpha beta"), doc("B", "gamma delta")],
        sources: 1,
    };
    let (model, _) = dtag::train::TrainParams {
        analyzer: AnalyzerConfig {
            segmenter: SegmenterKind::Whitespace,
            ..Default::default()
        },
        tfidf: dtag::features::TfidfParams {
            min_df: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .check()
    .unwrap()
    .fit(&corpus, None, &dtag::progress::NoProgress)
    .unwrap();
    let suggester = dtag::predict::Suggester::new(model).unwrap();
    let report = dtag::evaluate::evaluate(
        &suggester,
        &Corpus::default(),
        &dtag::predict::DecisionRule::default(),
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("-0.0"), "{json}");
}

#[test]
fn an_empty_vocabulary_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtag");
    let run = train(TRAIN, &model, &["--min-df", "1000"]).fails();
    assert!(
        run.stderr.contains("--min-df") && run.stderr.contains("vocabulary would be empty"),
        "{}",
        run.stderr
    );
    assert!(!model.exists());
}

#[test]
fn eval_hints_that_uris_could_not_be_matched() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = converted("annif-tsv", &dir.path().join("test.tsv"));
    let run = dtag(["eval", "--model", &demo_model(), "--corpus", &tsv]).ok();
    assert!(
        run.stderr.contains("URI") && run.stderr.contains("--thesaurus"),
        "{}",
        run.stderr
    );
    // With the thesaurus the URIs are matched, and there is nothing to hint at.
    let run = dtag([
        "eval",
        "--model",
        &demo_model(),
        "--corpus",
        &tsv,
        "--thesaurus",
        THESAURUS,
    ])
    .ok();
    assert!(!run.stderr.contains("hint"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// learn

/// The documents of a `%%%` corpus whose descriptors are all in `only`.
fn documents_about(corpus: &str, only: &[&str]) -> String {
    let text = std::fs::read_to_string(root().join(corpus)).unwrap();
    let mut out = String::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(header) = line.strip_prefix("%%%") {
            let ds: Vec<&str> = header
                .split('|')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .collect();
            if ds.iter().all(|d| only.contains(d)) {
                let body = lines[i + 1..]
                    .iter()
                    .find(|l| !l.trim().is_empty())
                    .unwrap();
                out.push_str(&format!("{line}\n\n{body}\n"));
            }
        }
    }
    out
}

#[test]
fn a_batch_of_new_topics_does_not_make_the_model_forget_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = d.join("m.dtag");
    std::fs::copy(demo_model(), &model).unwrap();
    // New documents of four descriptors only: the model's other 13, with most of its training
    // assignments, are absent. An update that fitted the batch alone forgot them; an update
    // that trains on the model's documents and the batch cannot.
    let batch = d.join("batch.txt");
    let text = documents_about(
        TEST,
        &[
            "AFRICA",
            "ELECTIONS",
            "HUMAN RIGHTS",
            "PEACEKEEPING OPERATIONS",
        ],
    );
    assert!(text.matches("%%%").count() >= 3, "{text}");
    std::fs::write(&batch, text).unwrap();
    // What it knew of the other topics: the test documents with none of the four.
    let others = d.join("others.txt");
    let test = std::fs::read_to_string(root().join(TEST)).unwrap();
    let topics = [
        "AFRICA",
        "ELECTIONS",
        "HUMAN RIGHTS",
        "PEACEKEEPING OPERATIONS",
    ];
    let kept: String = test
        .split_inclusive("%%%")
        .collect::<Vec<_>>()
        .join("")
        .split("%%%")
        .filter(|d| !d.trim().is_empty())
        .filter(|d| {
            let header = d.lines().next().unwrap_or_default();
            !header.split('|').any(|x| topics.contains(&x.trim()))
        })
        .map(|d| format!("%%%{d}"))
        .collect();
    assert!(kept.matches("%%%").count() >= 5, "{kept}");
    std::fs::write(&others, kept).unwrap();
    let figures = |m: &Path| {
        dtag([
            "-q",
            "eval",
            "--model",
            &p(m),
            "--corpus",
            &p(&others),
            "--json",
        ])
        .ok()
        .json()
    };
    let before = figures(&model);
    let report = dtag([
        "-q",
        "learn",
        "--model",
        &p(&model),
        "--corpus",
        &p(&batch),
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(report["coverage"]["absent_descriptors"], 13, "{report}");
    let after = figures(&model);
    // The other topics rank as they did …
    for key in ["p_at_1", "p_at_5"] {
        let (b, a) = (before[key].as_f64().unwrap(), after[key].as_f64().unwrap());
        assert!(
            a >= b - 0.02,
            "{key} on the other topics fell from {b} to {a}"
        );
    }
    // … and are proposed as by a model retrained on the same documents: the batch moves the
    // re-tuned thresholds and the descriptors' frequencies (measured on these 13 documents:
    // micro-F1 0.875 before, 0.809 retrained, 0.783 learned), while an update that fitted
    // the batch alone would lose most of them.
    let everything = d.join("everything.txt");
    let mut corpus = std::fs::read_to_string(root().join(TRAIN)).unwrap();
    corpus.push_str(&std::fs::read_to_string(&batch).unwrap());
    std::fs::write(&everything, corpus).unwrap();
    let retrained = d.join("retrained.dtag");
    train(&p(&everything), &retrained, &[]).ok();
    let retrained = figures(&retrained);
    let (r, a) = (
        retrained["micro_f1"].as_f64().unwrap(),
        after["micro_f1"].as_f64().unwrap(),
    );
    assert!(
        a >= r - 0.05,
        "micro_f1 on the other topics: learned {a}, retrained {r}"
    );
}

#[test]
fn a_small_batch_keeps_the_model_tuned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out.dtag");
    // 28 documents: the update runs training's tuning over the model's documents and them.
    let report = dtag([
        "-q",
        "learn",
        "--model",
        &one_vs_rest_model(),
        "--corpus",
        TEST,
        "--output",
        &p(&out),
        "--json",
    ])
    .ok()
    .json();
    assert!(!report["training"]["tuning"].is_null(), "{report}");
    let eval = dtag([
        "-q",
        "eval",
        "--model",
        &p(&out),
        "--corpus",
        TEST,
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(eval["thresholds"], "per-descriptor", "{eval}");
}

// ---------------------------------------------------------------------------------------------
// noise

#[test]
fn a_closed_pipe_ends_suggest_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dtag"))
        .current_dir(root())
        .args(["suggest", "--model", &demo_model(), TEST])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before anything is written (`| head -0`).
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn quiet_leaves_only_errors_and_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtag");
    let run = train(TRAIN, &model, &[]).ok();
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let run = dtag(["-q", "eval", "--model", &p(&model), "--corpus", TEST]).ok();
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(!run.stdout.is_empty());
}

#[test]
fn a_report_over_an_existing_file_is_explained() {
    let run = dtag([
        "eval",
        "--model",
        &demo_model(),
        "--corpus",
        TEST,
        "--report",
        "README.md",
    ])
    .fails();
    assert!(
        run.stderr.contains("README.md") && run.stderr.contains("not a directory"),
        "{}",
        run.stderr
    );
    // Refused before any work: nothing was evaluated.
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}
