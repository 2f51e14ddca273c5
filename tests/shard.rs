//! Descriptor shards: `dtag train --shard K/N` as separate processes, then `dtag merge`, give
//! the model a whole run gives; parts that do not belong together are refused by name.

mod common;

use std::path::{Path, PathBuf};

use common::{dtag, p, shared_or_skip, train};
use serde_json::Value;

/// Trains `corpus` whole and in `n` shards (each its own process; shard 1 on one thread, so
/// the parts do not depend on how they ran), merges the parts (given in reverse order), and
/// returns the whole and merged model files.
fn whole_and_merged(dir: &Path, corpus: &str, n: u32, extra: &[&str]) -> (PathBuf, PathBuf) {
    let whole = dir.join("whole.dtag");
    train(corpus, &whole, extra).ok();
    let mut parts = Vec::new();
    for k in 1..=n {
        let part = dir.join(format!("part-{k}.dtagpart"));
        let spec = format!("{k}/{n}");
        let mut args: Vec<&str> = if k == 1 {
            vec!["--threads", "1"]
        } else {
            vec![]
        };
        let part_arg = p(&part);
        args.extend([
            "-q", "train", "--corpus", corpus, "--model", &part_arg, "--shard", &spec,
        ]);
        args.extend_from_slice(extra);
        dtag(args).ok();
        parts.push(p(&part));
    }
    let merged = dir.join("merged.dtag");
    let merged_arg = p(&merged);
    let mut args = vec!["-q", "merge", "--model", &merged_arg];
    args.extend(parts.iter().rev().map(String::as_str));
    dtag(args).ok();
    (whole, merged)
}

/// The `eval --json` figures, numbers rounded to 4 decimals, timings left out.
fn eval_figures(model: &Path, test: &str) -> Value {
    let run = dtag([
        "-q",
        "eval",
        "--model",
        &p(model),
        "--corpus",
        test,
        "--json",
    ])
    .ok();
    fn round(v: &Value) -> Value {
        match v {
            Value::Number(n) => match n.as_f64() {
                Some(f) if !n.is_i64() && !n.is_u64() => {
                    serde_json::json!(format!("{f:.4}"))
                }
                _ => v.clone(),
            },
            Value::Array(items) => Value::Array(items.iter().map(round).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| !k.contains("second"))
                    .map(|(k, v)| (k.clone(), round(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    round(&run.json())
}

fn assert_same_model(whole: &Path, merged: &Path, test: &str) {
    let (a, b) = (eval_figures(whole, test), eval_figures(merged, test));
    assert!(a["micro_f1"].is_string(), "eval figures: {a}");
    assert_eq!(a, b, "eval figures of the whole and the merged model");
    assert!(
        std::fs::read(whole).unwrap() == std::fs::read(merged).unwrap(),
        "the merged model file differs from the whole one"
    );
}

#[test]
fn three_shards_merge_into_the_whole_model_on_the_demo_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, merged) = whole_and_merged(dir.path(), "data/train.txt", 3, &[]);
    assert_same_model(&whole, &merged, "data/test.txt");
    // Untuned too (weights only), and with more shards than some have blocks for.
    let dir = tempfile::tempdir().unwrap();
    let (whole, merged) = whole_and_merged(dir.path(), "data/train.txt", 4, &["--no-tune"]);
    assert_same_model(&whole, &merged, "data/test.txt");
    // With a thesaurus: the merge reads it again from where the shards did, and the lexicon
    // and the concept table come out as in a whole run.
    let dir = tempfile::tempdir().unwrap();
    let (whole, merged) = whole_and_merged(
        dir.path(),
        "data/train.txt",
        3,
        &["--thesaurus", "tests/fixtures/unbis_demo.ttl"],
    );
    assert_same_model(&whole, &merged, "data/test.txt");
}

#[test]
fn three_shards_merge_into_the_whole_model_on_cail2018() {
    let corpus = "../shared/corpora/cail2018_sample";
    if !shared_or_skip(
        "three_shards_merge_into_the_whole_model_on_cail2018",
        &[corpus],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (whole, merged) = whole_and_merged(dir.path(), &format!("{corpus}/train.txt"), 3, &[]);
    assert_same_model(&whole, &merged, &format!("{corpus}/test.txt"));
}

/// Trains shard `spec` of data/train.txt (or `corpus`) into `dir/name`.
fn part(dir: &Path, name: &str, corpus: &str, spec: &str, extra: &[&str]) -> String {
    let path = dir.join(name);
    let mut args = vec!["--shard", spec];
    args.extend_from_slice(extra);
    train(corpus, &path, &args).ok();
    p(&path)
}

fn merge(dir: &Path, parts: &[&str], extra: &[&str]) -> common::Run {
    let out = p(&dir.join("merged.dtag"));
    let mut args = vec!["-q", "merge", "--model", &out];
    args.extend_from_slice(parts);
    args.extend_from_slice(extra);
    dtag(args)
}

fn assert_error_mentions(run: common::Run, needles: &[&str]) {
    let run = run.fails();
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "stderr should mention {needle:?}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn parts_that_do_not_belong_together_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let corpus = "data/train.txt";
    let one = part(d, "one.part", corpus, "1/3", &[]);
    let two = part(d, "two.part", corpus, "2/3", &[]);
    let three = part(d, "three.part", corpus, "3/3", &[]);

    // A missing shard: named, with the parts that were given.
    assert_error_mentions(
        merge(d, &[&one, &three], &[]),
        &["1 of 3 shards missing (2/3)"],
    );
    // A shard given twice: the second file is named.
    let again = p(&d.join("again.part"));
    std::fs::copy(&one, &again).unwrap();
    assert_error_mentions(
        merge(d, &[&one, &two, &again, &three], &[]),
        &[&format!("{again}: is shard 1/3 again ({one}")],
    );
    // A part of a run split otherwise.
    let half = part(d, "half.part", corpus, "2/2", &[]);
    assert_error_mentions(
        merge(d, &[&one, &half, &three], &[]),
        &[&format!("{half}: is shard 2/2 of a run split in 2 shards")],
    );

    // A part trained on another corpus (one document fewer).
    let text = std::fs::read_to_string(corpus).unwrap();
    let cut = text[1..].find("%%%").unwrap() + 1;
    let other = d.join("other.txt");
    std::fs::write(&other, &text[cut..]).unwrap();
    let foreign = part(d, "foreign.part", &p(&other), "2/3", &[]);
    assert_error_mentions(
        merge(d, &[&one, &foreign, &three], &[]),
        &[&format!("{foreign}: was trained on another corpus"), &one],
    );
    // … or with other settings.
    let tuned_otherwise = part(d, "c.part", corpus, "2/3", &["--c", "10"]);
    assert_error_mentions(
        merge(d, &[&one, &tuned_otherwise, &three], &[]),
        &[&format!(
            "{tuned_otherwise}: was trained with other settings (solver)"
        )],
    );
    // The corpus the merge reads is checked against the parts'.
    assert_error_mentions(
        merge(d, &[&one, &two, &three], &["--corpus", &p(&other)]),
        &["is not the one the shards were trained on"],
    );
    // The right parts, in any order, merge.
    merge(d, &[&three, &one, &two], &[]).ok();

    // A whole model is no part, and a part is no model.
    let whole = d.join("whole.dtag");
    train(corpus, &whole, &["--no-tune"]).ok();
    assert_error_mentions(
        merge(d, &[&one, &two, &p(&whole)], &[]),
        &[&format!(
            "{}: is a whole model, not a partial model",
            p(&whole)
        )],
    );
    assert_error_mentions(
        dtag(["eval", "--model", &one, "--corpus", "data/test.txt"]),
        &[&format!("{one}: is a partial model"), "dtag merge"],
    );
    // Not a file of either kind.
    assert_error_mentions(
        merge(d, &[&one, &two, corpus], &[]),
        &["data/train.txt: not a dtag partial model file"],
    );
}

#[test]
fn shard_flags_are_checked_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.part");
    for bad in ["0/3", "4/3", "3", "a/b"] {
        let run = train("data/train.txt", &out, &["--shard", bad]).fails();
        assert!(run.stderr.contains("--shard"), "{bad}: {}", run.stderr);
    }
    let run = train(
        "data/train.txt",
        &out,
        &["--shard", "1/2", "--tune-epochs", "0"],
    )
    .fails();
    assert!(run.stderr.contains("--tune-epochs"), "{}", run.stderr);
    assert!(!out.exists());
}

#[test]
fn shards_of_a_corpus_read_from_stdin_merge_with_the_corpus_given_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = std::fs::read("data/train.txt").unwrap();
    let mut parts = Vec::new();
    for k in 1..=2 {
        let part = p(&d.join(format!("p{k}.part")));
        let spec = format!("{k}/2");
        common::dtag_with_stdin(
            [
                "-q", "train", "--corpus", "-", "--model", &part, "--shard", &spec,
            ],
            Some(&text),
        )
        .ok();
        parts.push(part);
    }
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    assert_error_mentions(merge(d, &parts, &[]), &["standard input", "--corpus"]);
    merge(d, &parts, &["--corpus", "data/train.txt"]).ok();
    let whole = d.join("whole.dtag");
    train("data/train.txt", &whole, &[]).ok();
    assert!(std::fs::read(&whole).unwrap() == std::fs::read(d.join("merged.dtag")).unwrap());
}
