//! The library exposes the whole flow with the command line's defaults (a library user can
//! reproduce `dtag train`), and every command reads every corpus format `train` reads.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{dtag, p, root, train};

const TRAIN: &str = "data/train.txt";
const TEST: &str = "data/test.txt";
const TTL: &str = "tests/fixtures/unbis_demo.ttl";

/// `dtag train` through the library calls a library user would make.
fn library_model(corpus: &Path, thesaurus: Option<&Path>) -> Vec<u8> {
    use dtag::progress::NoProgress;
    use dtag::train::{TrainInputs, TrainParams};

    let thesaurus = thesaurus.map(|t| dtag::thesaurus::Thesaurus::load(t).unwrap());
    let mut params = TrainParams::default();
    if let Some(t) = &thesaurus {
        params.add_thesaurus_words(t);
    }
    let params = params.check().unwrap();
    let corpus = [corpus.to_path_buf()];
    let inputs = TrainInputs {
        corpus: &corpus,
        format: None,
        thesaurus: thesaurus.as_ref(),
        strict_thesaurus: false,
    };
    let mut documents = 0;
    let (model, report) = params
        .fit_inputs(&inputs, &NoProgress, &mut |read| {
            documents = read.corpus.documents.len()
        })
        .unwrap();
    assert_eq!(documents, report.documents);
    assert!(
        report.tuning.report.is_some(),
        "the library tunes by default"
    );
    dtag::model::file::to_bytes(&model).unwrap()
}

#[test]
fn the_library_with_its_defaults_trains_the_model_dtag_train_writes() {
    let dir = tempfile::tempdir().unwrap();
    for thesaurus in [None, Some(TTL)] {
        let cli_model = dir.path().join("cli.dtag");
        let extra: Vec<&str> = thesaurus.iter().flat_map(|t| ["--thesaurus", *t]).collect();
        train(TRAIN, &cli_model, &extra).ok();
        let from_library = library_model(&root().join(TRAIN), thesaurus.map(Path::new));
        assert!(
            std::fs::read(&cli_model).unwrap() == from_library,
            "the library's model differs from dtag train's (thesaurus {thesaurus:?})"
        );
    }
}

/// `data/test.txt` written in every other format `train` reads.
fn test_corpus_in_every_format(dir: &Path) -> Vec<PathBuf> {
    let formats = [
        ("annif-tsv", "test.tsv.gz"),
        ("annif-jsonl", "test.jsonl"),
        ("annif-dir", "test-docs"),
    ];
    formats
        .iter()
        .map(|(format, file)| {
            let out = dir.join(file);
            dtag([
                "convert",
                "--corpus",
                TEST,
                "--to",
                format,
                "--output",
                &p(&out),
                "--thesaurus",
                TTL,
            ])
            .ok();
            out
        })
        .collect()
}

/// Figures of `dtag eval --json`, without the seconds (which vary from run to run).
fn eval_figures(model: &str, corpus: &str) -> Value {
    let mut json = dtag(["eval", "--model", model, "--corpus", corpus, "--json"])
        .ok()
        .json();
    if let Some(o) = json.as_object_mut() {
        o.retain(|k, _| !k.contains("seconds"));
    }
    json
}

/// Suggestions of `dtag suggest --format json`, without the document names (which say where
/// each draft came from, so differ by format).
fn suggestions(model: &str, input: &str) -> Vec<Value> {
    dtag(["suggest", "--model", model, "--format", "json", input])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["suggestions"].clone())
        .collect()
}

/// Figures of `dtag cv --json` (every fold and the summary), without the seconds.
fn cv_figures(corpus: &str) -> Value {
    let json = dtag([
        "cv",
        "--corpus",
        corpus,
        "--folds",
        "2",
        "--thesaurus",
        TTL,
        "--json",
    ])
    .ok()
    .json();
    strip_seconds(json)
}

fn strip_seconds(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| !k.contains("seconds"))
                .map(|(k, v)| (k, strip_seconds(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_seconds).collect()),
        other => other,
    }
}

#[test]
fn cv_eval_learn_and_suggest_read_every_format_train_reads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = d.join("demo.dtag");
    train(TRAIN, &model, &["--thesaurus", TTL]).ok();
    let model = p(&model);
    let others = test_corpus_in_every_format(d);

    let eval_reference = eval_figures(&model, TEST);
    assert!(
        eval_reference["docs"].as_u64() == Some(28),
        "{eval_reference}"
    );
    let suggest_reference = suggestions(&model, TEST);
    assert_eq!(suggest_reference.len(), 28);
    let cv_reference = cv_figures(TEST);
    let learned_reference = d.join("learned-reference.dtag");
    dtag([
        "-q",
        "learn",
        "--model",
        &model,
        "--corpus",
        TEST,
        "--output",
        &p(&learned_reference),
    ])
    .ok();
    let learned_reference = std::fs::read(&learned_reference).unwrap();

    for other in &others {
        let other = p(other);
        assert_eq!(
            eval_figures(&model, &other),
            eval_reference,
            "eval of {other}"
        );
        assert_eq!(
            suggestions(&model, &other),
            suggest_reference,
            "suggest of {other}"
        );
        assert_eq!(cv_figures(&other), cv_reference, "cv of {other}");
        let learned = d.join("learned.dtag");
        dtag([
            "-q",
            "learn",
            "--model",
            &model,
            "--corpus",
            &other,
            "--output",
            &p(&learned),
        ])
        .ok();
        assert!(
            std::fs::read(&learned).unwrap() == learned_reference,
            "learn from {other} writes another model than learn from {TEST}"
        );
    }
}
