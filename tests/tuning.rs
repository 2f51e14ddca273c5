//! Threshold tuning, calibration, cross-validation and the evaluation reports, driven through
//! the `dtag` binary on the demo corpus.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;

const DTAG: &str = env!("CARGO_BIN_EXE_dtag");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn dtag(args: &[&str]) -> Output {
    Command::new(DTAG)
        .arg("--quiet")
        .args(args)
        .output()
        .expect("dtag runs")
}

fn ok(args: &[&str]) -> String {
    let out = dtag(args);
    assert!(
        out.status.success(),
        "dtag {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).expect("JSON output")
}

fn train(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, Value) {
    train_on(&repo("data/train.txt"), dir, name, extra)
}

fn train_on(corpus: &Path, dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, Value) {
    let model = dir.join(name);
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let report = common::train(&common::p(corpus), &model, &args).ok().json();
    (model, report)
}

fn eval(model: &Path, extra: &[&str]) -> Value {
    let corpus = repo("data/test.txt");
    let mut args = vec![
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    json(&args)
}

/// Thresholds column of a per-label TSV, by descriptor.
fn thresholds(tsv: &str) -> Vec<(String, String)> {
    tsv.lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 10, "{l}");
            (cols[0].to_string(), cols[8].to_string())
        })
        .collect()
}

#[test]
fn tuned_model_stores_thresholds_and_eval_uses_them() {
    let dir = tempfile::tempdir().unwrap();
    // Tuning is the default; the old opt-in flag is still accepted.
    let (tuned, report) = train(dir.path(), "tuned.dtm", &[]);
    let (again, _) = train(dir.path(), "again.dtm", &["--tune-thresholds"]);
    assert_eq!(
        std::fs::read(&tuned).unwrap(),
        std::fs::read(&again).unwrap()
    );
    let tuning = &report["tuning"];
    assert_eq!(tuning["folds"], 5);
    let global = tuning["global_threshold"].as_f64().unwrap();
    assert!(global > 0.0 && global < 1.0, "{tuning}");
    assert!(tuning["best_for_micro_f1"]["limit"].as_u64().unwrap() >= 1);
    assert!(tuning["oof_micro_f1"].as_f64().unwrap() > 0.5, "{tuning}");

    // By default eval applies the stored per-descriptor thresholds …
    let tsv_path = dir.path().join("labels.tsv");
    let by_default = eval(&tuned, &["--per-label", tsv_path.to_str().unwrap()]);
    assert_eq!(by_default["thresholds"], "per-descriptor");
    let stored = thresholds(&std::fs::read_to_string(&tsv_path).unwrap());
    assert_eq!(stored.len(), 17, "one row per descriptor");
    let distinct: std::collections::BTreeSet<&str> =
        stored.iter().map(|(_, t)| t.as_str()).collect();
    assert!(distinct.len() > 1, "tuned thresholds differ: {stored:?}");

    // … and --threshold overrides them for every descriptor.
    let tsv_path = dir.path().join("global.tsv");
    let overridden = eval(
        &tuned,
        &[
            "--threshold",
            "0.5",
            "--per-label",
            tsv_path.to_str().unwrap(),
        ],
    );
    assert_eq!(overridden["thresholds"], "global");
    let forced = thresholds(&std::fs::read_to_string(&tsv_path).unwrap());
    assert!(forced.iter().all(|(_, t)| t == "0.5000"), "{forced:?}");

    // An untuned model has no per-descriptor thresholds.
    let (plain, report) = train(dir.path(), "plain.dtm", &["--no-tune"]);
    assert!(report["tuning"].is_null());
    assert_eq!(eval(&plain, &[])["thresholds"], "global");

    // Scores shown by suggest are the calibrated probabilities, best first.
    let out = ok(&[
        "suggest",
        "--model",
        tuned.to_str().unwrap(),
        "--format",
        "json",
        repo("data/drafts/draft_01.txt").to_str().unwrap(),
    ]);
    let drafts: Value = serde_json::from_str(&out).unwrap();
    let scores: Vec<f64> = drafts[0]["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["score"].as_f64().unwrap())
        .collect();
    assert!(!scores.is_empty());
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(scores.iter().all(|&p| (0.0..=1.0).contains(&p)));
}

#[test]
fn eval_reports_every_figure_and_keeps_the_core_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = train(
        dir.path(),
        "m.dtm",
        &["--tune-thresholds", "--tune-folds", "3"],
    );
    let r = eval(&model, &[]);
    for key in [
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
        "r_at_1",
        "r_at_3",
        "ndcg_at_3",
        "ndcg_at_10",
        "macro_precision",
        "macro_recall",
        "macro_f1_seen",
        "doc_precision",
        "doc_recall",
        "weighted_precision",
        "weighted_recall",
        "weighted_f1",
        "ece",
    ] {
        assert!(r[key].is_number(), "missing {key}: {r}");
    }
    let f = |k: &str| r[k].as_f64().unwrap();
    // R@k grows with k; nDCG and every F1 are in [0, 1].
    assert!(f("r_at_1") <= f("r_at_3") && f("r_at_3") <= f("r_at_5"));
    assert!((0.0..=1.0).contains(&f("ece")));
    // TP + FN = gold assignments, and micro precision is TP / (TP + FP).
    let (tp, fp, fn_) = (
        f("true_positives"),
        f("false_positives"),
        f("false_negatives"),
    );
    assert_eq!(tp + fn_, f("gold_assignments"));
    assert!((f("micro_precision") - tp / (tp + fp)).abs() < 1e-9);
    // Reliability bins cover every scored suggestion: top 10 of 17 descriptors, 28 documents.
    let counted: u64 = r["reliability"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 28 * 10);
}

#[test]
fn html_report_is_self_contained_and_charts_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = train(dir.path(), "m.dtm", &["--tune-thresholds"]);
    let report_dir = dir.path().join("report");
    ok(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--corpus",
        repo("data/test.txt").to_str().unwrap(),
        "--report",
        report_dir.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(report_dir.join("index.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 4, "four charts");
    assert!(html.contains("<polyline"), "curves are drawn");
    assert!(
        html.matches("<circle").count() > 17,
        "one dot per descriptor and more"
    );
    for title in [
        "Micro precision–recall",
        "F1 against descriptor frequency",
        "Calibration",
        "Worst descriptors",
    ] {
        assert!(html.contains(title), "{title}");
    }
    assert!(html.contains("PEACEKEEPING OPERATIONS"));
    // Nothing is fetched from elsewhere.
    for external in ["<script", "<link", "<img", "src=", "url("] {
        assert!(!html.contains(external), "{external}");
    }
}

#[test]
fn cv_reports_mean_and_sd_of_every_figure() {
    let out = json(&[
        "cv",
        "--corpus",
        repo("data/train.txt").to_str().unwrap(),
        "--folds",
        "3",
        "--json",
    ]);
    assert_eq!(out["folds"], 3);
    assert_eq!(out["documents"], 123);
    let folds = out["per_fold"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    let docs: u64 = folds.iter().map(|f| f["docs"].as_u64().unwrap()).sum();
    assert_eq!(docs, 123, "every document is held out once");
    let micro: Vec<f64> = folds
        .iter()
        .map(|f| f["micro_f1"].as_f64().unwrap())
        .collect();
    let mean = micro.iter().sum::<f64>() / 3.0;
    let summary = &out["summary"];
    assert!((summary["micro_f1"]["mean"].as_f64().unwrap() - mean).abs() < 1e-9);
    assert!(summary["micro_f1"]["sd"].as_f64().unwrap() >= 0.0);
    for key in ["p_at_1", "macro_f1", "ece", "ndcg_at_10", "weighted_f1"] {
        assert!(summary[key]["mean"].is_number(), "{key}");
    }

    let table = ok(&[
        "cv",
        "--corpus",
        repo("data/train.txt").to_str().unwrap(),
        "--folds",
        "2",
    ]);
    assert!(table.contains("2-fold cross-validation on 123 documents"));
    assert!(table
        .lines()
        .any(|l| l.starts_with("micro_f1") && l.contains('±')));
}

#[test]
fn bad_tuning_settings_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtm");
    let refused = |extra: &[&str], reason: &str| {
        let run = common::train("data/train.txt", &model, extra).fails();
        assert!(run.stderr.contains(reason), "{}", run.stderr);
        assert!(!model.exists(), "no model is written");
    };
    refused(&["--tune-folds", "1"], "folds");
    // Tuning options with tuning turned off would be silently ignored: refused instead.
    refused(&["--no-tune", "--tune-folds", "3"], "--no-tune");

    // A corpus too small for the folds asked for is tuned with fewer (20 documents: one
    // fold per document); one document cannot be held out and trains untuned, saying why.
    let small = dir.path().join("small.txt");
    let text = std::fs::read_to_string(repo("data/train.txt")).unwrap();
    let first: Vec<&str> = text
        .split("%%%")
        .filter(|d| !d.is_empty())
        .take(20)
        .collect();
    std::fs::write(&small, format!("%%%{}", first.join("%%%"))).unwrap();
    let (_, report) = train_on(&small, dir.path(), "small.dtm", &[]);
    assert_eq!(report["tuning"]["folds"], 20, "{report}");
    assert!(report["tuning_skipped"].is_null(), "{report}");
    let one = dir.path().join("one.txt");
    std::fs::write(&one, format!("%%%{}", first[0])).unwrap();
    let (_, report) = train_on(&one, dir.path(), "one.dtm", &["--min-df", "1"]);
    common::assert_untuned_for_too_few(&report, "1 document");

    let out = dtag(&[
        "cv",
        "--corpus",
        repo("data/train.txt").to_str().unwrap(),
        "--folds",
        "500",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("500 folds need at least 500 documents"),
        "{err}"
    );
}
