//! `dtag learn` end to end: an update is the model training makes of the model's documents
//! and the new ones (ensemble and tuning included), safe to repeat, hard to poison, logged
//! and replayable; and explanations on real data.
//!
//! The demo-corpus tests always run. The tests on `../shared/corpora` skip with a message when
//! it is absent (and fail when `DTAG_REQUIRE_CORPORA` is set): the last fifth of a training
//! file learned into a model of the first four fifths must rank like the model retrained on
//! all of it (the bars of issue "A model that lives"), and one document labelled SPAM must not
//! reach the top 3 of unrelated documents.

use std::path::{Path, PathBuf};

use serde_json::Value;

const TRAIN: &str = "data/train.txt";
const TEST: &str = "data/test.txt";
const TTL: &str = "tests/fixtures/unbis_demo.ttl";

mod common;
use common::{dtag, p, root, train};

fn figures(model: &Path, test: &Path) -> Value {
    dtag(["eval", "--model", &p(model), "--corpus", &p(test), "--json"])
        .ok()
        .json()
}

fn learn(model: &Path, corpus: &Path, extra: &[&str]) -> common::Run {
    let (model, corpus) = (p(model), p(corpus));
    let mut args = vec![
        "-q", "learn", "--model", &model, "--corpus", &corpus, "--json",
    ];
    args.extend_from_slice(extra);
    dtag(args)
}

/// Every suggestion `suggest` makes for the documents of `drafts` carries a URI under `prefix`.
fn assert_uris(model: &Path, drafts: &Path, prefix: &str) {
    let out = dtag([
        "suggest",
        "--model",
        &p(model),
        "--json",
        "--limit",
        "5",
        &p(drafts),
    ])
    .ok()
    .json();
    for d in out.as_array().unwrap() {
        for s in d["suggestions"].as_array().unwrap() {
            assert!(s["uri"].as_str().unwrap().starts_with(prefix), "{s}");
        }
    }
}

/// `(N of M descriptors resolved)` of `inspect`'s summary: the thesaurus facts a model has.
fn resolved(inspect: &str) -> String {
    let first = inspect.lines().next().unwrap_or_default();
    first[first.find('(').unwrap_or(0)..].to_string()
}

// ---------------------------------------------------------------------------------------------
// demo corpus

#[test]
fn learn_runs_training_again_and_keeps_ensemble_tuning_and_thesaurus() {
    let dir = tempfile::tempdir().unwrap();
    let (model, learned) = (dir.path().join("m.dtag"), dir.path().join("l.dtag"));
    train(TRAIN, &model, &["--thesaurus", TTL]).ok();
    let before = std::fs::read(&model).unwrap();
    let report = learn(&model, &root().join(TEST), &["--output", &p(&learned)])
        .ok()
        .json();
    assert_eq!(
        std::fs::read(&model).unwrap(),
        before,
        "--output leaves --model alone"
    );
    assert_eq!(report["learned"], 28);
    assert_eq!(report["model_documents"], 151);
    assert_eq!(
        (
            report["learned_documents"].clone(),
            report["updates"].clone()
        ),
        (28.into(), 1.into())
    );
    let training = &report["training"];
    assert_eq!(training["documents"], 151);
    assert!(training["ensemble"]["chosen"].is_boolean(), "{report}");
    assert!(!training["tuning"].is_null(), "{report}");
    let vocabulary = &report["vocabulary"];
    assert_eq!(vocabulary["documents"], 123);
    assert!(vocabulary["differs_from_retraining"]
        .as_str()
        .unwrap()
        .contains("vocabulary and idf"));
    // The model learned as it trains: same keys in `inspect`, the thesaurus and URIs kept.
    let inspect = |m: &Path| dtag(["inspect", "--model", &p(m)]).ok().stderr;
    let (a, b) = (inspect(&model), inspect(&learned));
    assert!(b.contains("151 training documents"), "{b}");
    assert_eq!(resolved(&a), resolved(&b), "{a}\n{b}");
    assert_uris(
        &learned,
        Path::new("data/drafts/draft_01.txt"),
        "http://metadata.un.org/",
    );
}

#[test]
fn a_document_learned_again_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtag");
    train(TRAIN, &model, &[]).ok();
    let test = root().join(TEST);
    learn(&model, &test, &[]).ok();
    let once = std::fs::read(&model).unwrap();
    let run = learn(&model, &test, &[]).ok();
    let report = run.json();
    assert_eq!(
        (report["learned"].clone(), report["already_learned"].clone()),
        (0.into(), 28.into())
    );
    assert_eq!(
        std::fs::read(&model).unwrap(),
        once,
        "nothing new: the model is unchanged"
    );
    // The training documents themselves are known too.
    let report = learn(&model, &root().join(TRAIN), &[]).ok().json();
    assert_eq!(report["already_learned"], 123);
}

#[test]
fn documents_that_cannot_be_learned_are_refused_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtag");
    train(TRAIN, &model, &[]).ok();
    let before = std::fs::read(&model).unwrap();
    let bad = dir.path().join("bad.txt");
    let good: String = std::fs::read_to_string("data/drafts/draft_01.txt")
        .unwrap()
        .lines()
        .collect();
    std::fs::write(
        &bad,
        format!("%%%AFRICA|\n\n{good}\n%%%SPAM|\n\n。。。！！\n%%%SPAM|\n\nlorem ipsum dolor sit amet\n"),
    )
    .unwrap();
    let run = learn(&model, &bad, &[]).fails();
    assert!(
        run.stderr.contains("bad.txt:4: cannot be learned"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("bad.txt:7: cannot be learned: only 0 distinct"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("bad.txt:1:"), "{}", run.stderr);
    assert_eq!(std::fs::read(&model).unwrap(), before);
}

#[test]
fn the_learning_log_replays_to_the_model_learned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (base, model, log) = (
        d.join("base.dtag"),
        d.join("m.dtag"),
        d.join("learned.jsonl"),
    );
    train(TRAIN, &base, &["--thesaurus", TTL]).ok();
    std::fs::copy(&base, &model).unwrap();
    // Two batches: the test documents in two halves.
    let text = std::fs::read_to_string(TEST).unwrap();
    let docs: Vec<&str> = text.split_inclusive("%%%").collect();
    let cut = text.match_indices("%%%").nth(14).unwrap().0;
    let (first, second) = (d.join("a.txt"), d.join("b.txt"));
    std::fs::write(&first, &text[..cut]).unwrap();
    std::fs::write(&second, &text[cut..]).unwrap();
    assert!(docs.len() > 14);
    for batch in [&first, &second] {
        learn(&model, batch, &["--log", &p(&log), "--log-project", "un"]).ok();
    }
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let documents: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "document").collect();
    assert_eq!(documents.len(), 28);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["kind"] == "batch" && l["verdict"] == "applied")
            .count(),
        2
    );
    let first_doc = documents[0];
    assert_eq!(first_doc["project"], "un");
    assert_eq!(first_doc["batch"], 1);
    assert_eq!(first_doc["text_hash"].as_str().unwrap().len(), 16);
    assert!(first_doc["subjects"][0]["uri"]
        .as_str()
        .unwrap()
        .starts_with("http://metadata.un.org/"));
    // The base model and the log give the model learned, byte for byte.
    let replayed = d.join("replayed.dtag");
    dtag([
        "-q",
        "learn",
        "--model",
        &p(&base),
        "--replay",
        &p(&log),
        "--log-project",
        "un",
        "--output",
        &p(&replayed),
    ])
    .ok();
    assert_eq!(
        std::fs::read(&replayed).unwrap(),
        std::fs::read(&model).unwrap()
    );
    // A log line is bounded: a huge label is refused, not logged.
    let huge = d.join("huge.jsonl");
    let label = "X".repeat(1 << 20);
    std::fs::write(
        &huge,
        format!(
            "{{\"text\": \"{}\", \"subjects\": [{{\"label\": \"{label}\"}}]}}\n",
            docs[1].lines().nth(2).unwrap_or("安全理事会 非洲 维持和平")
        ),
    )
    .unwrap();
    let run = learn(&model, &huge, &["--log", &p(&log)]).fails();
    assert!(run.stderr.contains("bytes long"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().lines().count(),
        lines.len()
    );
}

#[test]
fn learn_resolves_new_documents_through_the_models_thesaurus() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = d.join("m.dtag");
    train(TRAIN, &model, &["--thesaurus", TTL]).ok();
    // URIs and an alternative label, resolved without giving the thesaurus again.
    let new = d.join("new.jsonl");
    std::fs::write(
        &new,
        "{\"text\": \"维持和平行动 特派团 非洲 安全理事会 部署 维和人员\", \"subjects\": [{\"uri\": \"http://metadata.un.org/thesaurus/1004779\"}, {\"label\": \"africa\"}]}\n",
    )
    .unwrap();
    let report = learn(&model, &new, &[]).ok().json();
    assert_eq!(report["descriptors_added"], serde_json::json!([]));
    let listing = dtag(["inspect", "--model", &p(&model), "--json"])
        .ok()
        .json();
    let pk = listing
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["descriptor"] == "PEACEKEEPING OPERATIONS")
        .unwrap();
    assert_eq!(pk["documents"], 30);
    assert_eq!(pk["label_zh"], "维持和平行动");
}

// ---------------------------------------------------------------------------------------------
// real corpora

/// The tests on real corpora take turns (each uses both cores).
static SHARED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn corpus_dir(test: &str, name: &str) -> Option<PathBuf> {
    let dir = format!("../shared/corpora/{name}");
    common::shared_or_skip(
        test,
        &[&format!("{dir}/train.txt"), &format!("{dir}/test.txt")],
    )
    .then(|| root().join(dir))
}

/// Documents of a `%%%` corpus as text blocks.
fn documents(text: &str) -> Vec<String> {
    let mut docs: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("%%%") || docs.is_empty() {
            docs.push(String::new());
        }
        docs.last_mut().unwrap().push_str(line);
    }
    docs
}

/// The first four fifths of `train` (file order) trained, the last fifth learned; and the
/// model retrained on all of it. Returns (learned, retrained) models.
fn four_fifths_then_learn(dir: &Path, w: &Path, train_flags: &[&str]) -> (PathBuf, PathBuf) {
    let docs = documents(&std::fs::read_to_string(dir.join("train.txt")).unwrap());
    let cut = docs.len() * 4 / 5;
    let (head, tail) = (w.join("head.txt"), w.join("tail.txt"));
    std::fs::write(&head, docs[..cut].concat()).unwrap();
    std::fs::write(&tail, docs[cut..].concat()).unwrap();
    let (learned, full) = (w.join("learned.dtag"), w.join("full.dtag"));
    train(&p(&head), &learned, train_flags).ok();
    let report = learn(&learned, &tail, &[]).ok().json();
    assert_eq!(report["learned"], docs.len() - cut);
    train(&p(&dir.join("train.txt")), &full, train_flags).ok();
    (learned, full)
}

fn show(name: &str, what: &str, f: &Value) {
    eprintln!(
        "{name} {what}: P@1 {:.4} P@5 {:.4} micro-F1 {:.4} macro-F1 {:.4}",
        f["p_at_1"].as_f64().unwrap(),
        f["p_at_5"].as_f64().unwrap(),
        f["micro_f1"].as_f64().unwrap(),
        f["macro_f1"].as_f64().unwrap()
    );
}

#[test]
fn cail2018_the_last_fifth_learned_ranks_like_retraining_and_spam_stays_put() {
    let Some(dir) = corpus_dir("cail2018 learning", "cail2018_sample") else {
        return;
    };
    let _turn = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let test = dir.join("test.txt");
    let (learned, full) = four_fifths_then_learn(&dir, w, &[]);
    let (l, f) = (figures(&learned, &test), figures(&full, &test));
    show("cail2018", "80 % + 20 % learned", &l);
    show("cail2018", "retrained on 100 %", &f);
    // Learning ranks as retraining does: within a point of P@1 (measured 0.8949 against
    // 0.9037, the gap of the vocabulary and idf kept from the first four fifths).
    let (lp, fp) = (l["p_at_1"].as_f64().unwrap(), f["p_at_1"].as_f64().unwrap());
    assert!(lp >= fp - 0.01 && lp >= 0.89, "{l}\n{f}");
    assert!(l["micro_f1"].as_f64().unwrap() >= 0.84, "{l}");

    // One real document labelled SPAM moves only what is like it.
    let spam = w.join("spam.txt");
    let one = documents(&std::fs::read_to_string(&test).unwrap())[17].clone();
    let body = one.splitn(3, '\n').nth(2).unwrap();
    std::fs::write(&spam, format!("%%%SPAM|\n\n{body}")).unwrap();
    learn(&full, &spam, &[]).ok();
    let with_spam = in_top_3(&full, &test, "SPAM");
    eprintln!("cail2018: SPAM in the top 3 of {with_spam} of 1,028 test documents");
    assert!(with_spam <= 10, "{with_spam}");
    // And on the document it was learned from, it shows at once.
    assert_eq!(in_top_3(&full, &spam, "SPAM"), 1);
}

/// How many documents of `corpus` have `descriptor` among the 3 `suggest` ranks first.
fn in_top_3(model: &Path, corpus: &Path, descriptor: &str) -> usize {
    let out = dtag([
        "suggest",
        "--model",
        &p(model),
        "--json",
        "--limit",
        "3",
        "--threshold",
        "0",
        &p(corpus),
    ])
    .ok()
    .json();
    out.as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["suggestions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["descriptor"] == descriptor)
        })
        .count()
}

#[test]
fn kirjastonhoitaja_the_last_fifth_learned_ranks_like_retraining() {
    let Some(dir) = corpus_dir("kirjastonhoitaja learning", "kirjastonhoitaja") else {
        return;
    };
    let _turn = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let test = dir.join("test.txt");
    let yso = p(&dir.join("yso-fi.tsv"));
    let (learned, full) =
        four_fifths_then_learn(&dir, w, &["--language", "fi", "--thesaurus", &yso]);
    let (l, f) = (figures(&learned, &test), figures(&full, &test));
    show("kirjastonhoitaja", "80 % + 20 % learned", &l);
    show("kirjastonhoitaja", "retrained on 100 %", &f);
    assert!(l["p_at_1"].as_f64().unwrap() >= 0.600, "{l}");
    assert!(l["p_at_5"].as_f64().unwrap() >= 0.345, "{l}");
    // The thesaurus is carried over whole, and every suggestion has its YSO URI.
    let inspect = |m: &Path| dtag(["inspect", "--model", &p(m)]).ok().stderr;
    let (a, b) = (inspect(&learned), inspect(&full));
    assert_eq!(resolved(&a), resolved(&b), "{a}\n{b}");
    let tail = w.join("tail.txt");
    assert_uris(&learned, &tail, "http://www.yso.fi/onto/yso/");
}

#[test]
fn cail2018_explanations_name_the_words_of_the_charge() {
    let Some(dir) = corpus_dir("cail2018 explanations", "cail2018_sample") else {
        return;
    };
    let _turn = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("cail.dtag");
    train(&p(&dir.join("train.txt")), &model, &[]).ok();
    let test = std::fs::read_to_string(dir.join("test.txt")).unwrap();
    // The first plain case of theft (盗窃, art. 264) and of fraud (诈骗, art. 266).
    let case = |charge: &str, article: &str| {
        let header = format!("%%%罪名:{charge}|法条:{article}|\n");
        documents(&test)
            .into_iter()
            .find(|d| d.starts_with(&header))
            .unwrap_or_else(|| panic!("a {charge} case in test.txt"))
    };
    for (charge, article, marks) in [("盗窃", "264", ['盗', '窃']), ("诈骗", "266", ['骗', '诈'])]
    {
        let path = work.path().join(format!("{charge}.txt"));
        std::fs::write(&path, case(charge, article)).unwrap();
        let out = dtag([
            "suggest",
            "--model",
            &p(&model),
            "--explain",
            "--explain-terms",
            "10",
            "--format",
            "json",
            "--limit",
            "3",
            "--threshold",
            "0",
            &p(&path),
        ])
        .ok()
        .json();
        let label = format!("罪名:{charge}");
        let suggestion = out[0]["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["descriptor"] == label.as_str())
            .unwrap_or_else(|| panic!("{label} suggested for a {charge} case: {out}"));
        let positive: Vec<&str> = suggestion["explanation"]["positive"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["term"].as_str().unwrap())
            .collect();
        eprintln!("{label}: {positive:?}");
        // The charge's own name is masked (××) in CAIL facts; the words describing the act are
        // what the model learned, e.g. 盗走/被盗/窃取 for theft, 骗取/虚构 for fraud.
        assert!(
            positive[..5]
                .iter()
                .any(|t| t.contains(marks[0]) || t.contains(marks[1])),
            "{label}: no charge word among the top terms {positive:?}"
        );
    }
    let profile = dtag([
        "inspect",
        "--model",
        &p(&model),
        "--descriptor",
        "罪名:盗窃",
        "--json",
    ])
    .ok()
    .json();
    let top: Vec<&str> = profile["positive"]
        .as_array()
        .unwrap()
        .iter()
        .take(5)
        .map(|t| t["term"].as_str().unwrap())
        .collect();
    assert!(
        top.iter()
            .filter(|t| t.contains('盗') || t.contains('窃'))
            .count()
            >= 2,
        "{top:?}"
    );
}
