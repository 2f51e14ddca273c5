//! End-to-end tests of what indexers need beyond train/suggest/eval: the thesaurus (UNBIS table
//! and SKOS Turtle), Annif corpus formats and `dtag convert`, `suggest --explain`, `inspect`,
//! and `eval --by-domain`. They run the real binary on the demo corpus (`data/`) and the Turtle
//! fixture `tests/fixtures/unbis_demo.ttl`; the tests on `../shared` skip when it is absent.

use std::path::{Path, PathBuf};

use serde_json::Value;

const TRAIN: &str = "data/train.txt";
const TEST: &str = "data/test.txt";
const TTL: &str = "tests/fixtures/unbis_demo.ttl";
const CONCEPTS: &str = "../shared/corpora/unbis_thesaurus/concepts.tsv";
const EXAMPLE: &str = "../shared/examples/unsc_regional_cooperation_zh.txt";

mod common;
use common::{dtag, p, root, train, train_verbose};

fn shared_present(test: &str) -> bool {
    common::shared_or_skip(test, &[CONCEPTS, EXAMPLE])
}

// ---------------------------------------------------------------------------------------------
// thesaurus

#[test]
fn example_resolution_descriptors_all_resolve_and_suggestions_show_chinese_labels() {
    if !shared_present(
        "example_resolution_descriptors_all_resolve_and_suggestions_show_chinese_labels",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Strict: every one of the example's 27 descriptors must be a concept, or this fails.
    let jsonl = dir.path().join("example.jsonl");
    dtag([
        "convert",
        "--corpus",
        EXAMPLE,
        "--to",
        "annif-jsonl",
        "--output",
        &p(&jsonl),
        "--thesaurus",
        CONCEPTS,
        "--strict-thesaurus",
    ])
    .ok();
    let line: Value =
        serde_json::from_str(std::fs::read_to_string(&jsonl).unwrap().trim()).unwrap();
    let subjects = line["subjects"].as_array().unwrap();
    assert_eq!(subjects.len(), 27);
    let concepts = std::fs::read_to_string(root().join(CONCEPTS)).unwrap();
    for s in subjects {
        let uri = s["uri"].as_str().expect("every descriptor has a URI");
        let label = s["label"].as_str().unwrap();
        // The URI is the concept row whose English prefLabel is the descriptor.
        assert!(
            concepts
                .lines()
                .any(|l| l.split('\t').nth(1) == Some(uri) && l.split('\t').nth(2) == Some(label)),
            "{label} -> {uri}"
        );
    }
    // AFRICA is the descriptor 1000099, not the microthesaurus 170100.
    assert!(subjects
        .iter()
        .any(|s| s["uri"] == "http://metadata.un.org/thesaurus/1000099"));

    let model = dir.path().join("demo.dtag");
    let run = train_verbose(TRAIN, &model, &["--thesaurus", CONCEPTS]).ok();
    assert!(
        run.stderr
            .contains("Chinese thesaurus labels added as words"),
        "{}",
        run.stderr
    );
    let out = dtag([
        "suggest",
        "--model",
        &p(&model),
        "--format",
        "json",
        "--threshold",
        "0",
        "--limit",
        "5",
        EXAMPLE,
    ])
    .ok()
    .json();
    let suggestions = out[0]["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 5);
    for s in suggestions {
        let zh = s["label_zh"].as_str().expect("a Chinese label");
        assert!(
            zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{s}"
        );
        assert!(s["uri"]
            .as_str()
            .unwrap()
            .starts_with("http://metadata.un.org/thesaurus/"));
        assert_eq!(s["label_en"], s["descriptor"]);
    }
    let africa = suggestions
        .iter()
        .find(|s| s["descriptor"] == "AFRICA")
        .expect("AFRICA among the top 5 for a resolution on African regional organisations");
    assert_eq!(africa["label_zh"], "非洲");
    // TSV has the same columns.
    let tsv = dtag(["suggest", "--model", &p(&model), EXAMPLE])
        .ok()
        .stdout;
    assert!(tsv.starts_with("document\trank\tdescriptor\tscore\turi\tlabel_en\tlabel_zh\n"));
    assert!(tsv.lines().nth(1).unwrap().split('\t').count() == 7);

    // Evaluated strictly with the roll-up: all 27 resolve.
    let eval = dtag([
        "eval",
        "--model",
        &p(&model),
        "--corpus",
        EXAMPLE,
        "--thesaurus",
        CONCEPTS,
        "--strict-thesaurus",
        "--by-domain",
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(eval["gold_assignments"], 27);
    // The ensemble's lexicon holds every UNBIS concept with a Chinese label, so none of the 27
    // is unknown to the model; but only 6 of them had training documents (data/train.txt's 17
    // descriptors), and the 21 others count as unseen.
    assert_eq!(eval["unseen_descriptors"], 21);
    let domains = eval["by_domain"]["domains"].as_array().unwrap();
    assert!(
        domains.iter().all(|d| d["code"] != "-"),
        "every descriptor has a domain"
    );
    let gold: u64 = eval["by_domain"]["microthesauri"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["gold"].as_u64().unwrap())
        .sum();
    assert!(gold >= 27, "every assignment counted in its microthesauri");
}

#[test]
fn a_turtle_thesaurus_names_labels_and_groups_the_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.dtag");
    let run = train_verbose(TRAIN, &model, &["--thesaurus", TTL, "--strict-thesaurus"]).ok();
    assert!(run.stderr.contains("17 concepts"), "{}", run.stderr);
    assert!(
        run.stderr.contains("252 by preferred label"),
        "{}",
        run.stderr
    );

    let listing = dtag(["inspect", "--model", &p(&model), "--json"])
        .ok()
        .json();
    let rows = listing.as_array().unwrap();
    assert_eq!(rows.len(), 17);
    let pk = rows
        .iter()
        .find(|r| r["descriptor"] == "PEACEKEEPING OPERATIONS")
        .unwrap();
    assert_eq!(pk["label_zh"], "维持和平行动");
    assert_eq!(pk["uri"], "http://metadata.un.org/thesaurus/1004779");

    // The Chinese labels are segmenter words: 维持和平行动 is one term of the vocabulary.
    let profile = dtag([
        "inspect",
        "--model",
        &p(&model),
        "--descriptor",
        "维持和平行动",
        "--json",
        "--terms",
        "50",
    ])
    .ok()
    .json();
    assert_eq!(profile["descriptor"], "PEACEKEEPING OPERATIONS");

    // Roll-up through the groups the model stores (no --thesaurus needed).
    let eval = dtag([
        "eval",
        "--model",
        &p(&model),
        "--corpus",
        TEST,
        "--by-domain",
        "--json",
    ])
    .ok()
    .json();
    let by = &eval["by_domain"];
    let domain = |code: &str| {
        by["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["code"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("domain {code} in {by}"))
    };
    // AFRICA and MIDDLE EAST are geographical (17): 9 + 4 test assignments.
    assert_eq!(domain("17")["gold"], 13);
    assert_eq!(domain("17")["label_en"], "GEOGRAPHICAL DESCRIPTORS");
    let level = by["domain_level"]["f1"].as_f64().unwrap();
    assert!(level > 0.5, "domain-level F1 {level}");
    let table = dtag([
        "eval",
        "--model",
        &p(&model),
        "--corpus",
        TEST,
        "--by-domain",
    ])
    .ok()
    .stdout;
    assert!(
        table.contains("microthesauri:") && table.contains("维持和平和安全"),
        "{table}"
    );
}

#[test]
fn unknown_descriptors_are_warned_about_or_refused_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("c.txt");
    std::fs::write(
        &corpus,
        "%%%AFRICA|MARTIAN AFFAIRS|\n\n非洲联盟 和平 安全\n%%%pko|\n\n维持和平行动 特派团\n\
         %%%MARTIAN AFFAIRS|\n\n火星 事务\n",
    )
    .unwrap();
    let model = dir.path().join("m.dtag");
    let run = train_verbose(&p(&corpus), &model, &["--thesaurus", TTL, "--min-df", "1"]).ok();
    assert!(
        run.stderr
            .contains("1 descriptor(s) (2 assignment(s)) are not in the thesaurus")
            && run.stderr.contains("c.txt:1")
            && run.stderr.contains("c.txt:7"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("1 by alternative label"),
        "{}",
        run.stderr
    );
    let listing = dtag(["inspect", "--model", &p(&model), "--json"])
        .ok()
        .json();
    // The descriptors with training documents (a corpus this small also gets the thesaurus's
    // concepts, proposed by the lexicon alone).
    let names: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["documents"].as_u64() > Some(0))
        .map(|r| r["descriptor"].as_str().unwrap())
        .collect();
    // `pko` (an alternative label, any case) is named by its preferred label; the unknown
    // descriptor is kept, without URI.
    assert_eq!(
        names,
        vec!["AFRICA", "MARTIAN AFFAIRS", "PEACEKEEPING OPERATIONS"]
    );

    let before = std::fs::read(&model).unwrap();
    let run = train(
        &p(&corpus),
        &model,
        &["--thesaurus", TTL, "--strict-thesaurus"],
    )
    .fails();
    assert!(
        run.stderr
            .contains("`MARTIAN AFFAIRS` (2 assignment(s); at ")
            && run.stderr.contains("c.txt:1, ")
            && run.stderr.contains("c.txt:7"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read(&model).unwrap(),
        before,
        "refused: model untouched"
    );
}

#[test]
fn broken_thesaurus_files_are_reported_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let ttl = dir.path().join("bad.ttl");
    std::fs::write(
        &ttl,
        "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n\n<http://x/1> skos:prefLabel \"A\"@en ;\n    skos:altLabel \"B\"@en , .\n",
    )
    .unwrap();
    let run = train(
        TRAIN,
        &dir.path().join("m.dtag"),
        &["--thesaurus", &p(&ttl)],
    )
    .fails();
    assert!(
        run.stderr.contains("bad.ttl:4:") && run.stderr.contains("expected an object"),
        "{}",
        run.stderr
    );
    let tsv = dir.path().join("concepts.tsv");
    std::fs::write(&tsv, "id\turi\tpref_en\n1\thttp://x/1\tA\n2\thttp://x/2\n").unwrap();
    let run = train(
        TRAIN,
        &dir.path().join("m.dtag"),
        &["--thesaurus", &p(&tsv)],
    )
    .fails();
    assert!(
        run.stderr.contains("concepts.tsv:3:") && run.stderr.contains("2 tab-separated fields"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// corpus formats

#[test]
fn the_same_corpus_as_percent_annif_tsv_jsonl_and_directory_trains_identical_models() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let formats = [
        ("annif-tsv", "train.tsv"),
        ("annif-tsv", "train.tsv.gz"),
        ("annif-jsonl", "train.jsonl"),
        ("annif-dir", "train-docs"),
    ];
    for (format, file) in formats {
        let run = dtag([
            "convert",
            "--corpus",
            TRAIN,
            "--to",
            format,
            "--output",
            &p(&d.join(file)),
            "--thesaurus",
            TTL,
        ])
        .ok();
        assert!(run.stderr.contains("wrote 123 documents"), "{}", run.stderr);
    }
    let tsv = std::fs::read_to_string(d.join("train.tsv")).unwrap();
    let first = tsv.lines().next().unwrap();
    assert!(
        first.ends_with("\t<http://metadata.un.org/thesaurus/1004779> <http://metadata.un.org/thesaurus/1000099> <http://metadata.un.org/thesaurus/1000952>"),
        "{first}"
    );
    assert_eq!(tsv.lines().count(), 123);
    assert!(std::fs::read(d.join("train.tsv.gz"))
        .unwrap()
        .starts_with(&[0x1f, 0x8b]));
    let jsonl = std::fs::read_to_string(d.join("train.jsonl")).unwrap();
    let doc: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(
        doc["subjects"][0]["uri"],
        "http://metadata.un.org/thesaurus/1004779"
    );
    assert_eq!(doc["subjects"][0]["label"], "PEACEKEEPING OPERATIONS");
    assert!(d.join("train-docs/00001.txt").is_file() && d.join("train-docs/00001.tsv").is_file());

    let reference = d.join("percent.dtag");
    train(TRAIN, &reference, &["--thesaurus", TTL]).ok();
    let reference = std::fs::read(&reference).unwrap();
    for (_, file) in formats {
        // Detected from the content (gzip, JSON, tabs; a directory of .txt + .tsv).
        let model = d.join(format!("{file}.dtag"));
        train(&p(&d.join(file)), &model, &["--thesaurus", TTL]).ok();
        assert!(
            std::fs::read(&model).unwrap() == reference,
            "{file} trains a different model than {TRAIN}"
        );
    }
    // Without a thesaurus, JSON Lines labels name descriptors as %%% headers do.
    let plain = d.join("plain.dtag");
    train(TRAIN, &plain, &[]).ok();
    let from_jsonl = d.join("plain-jsonl.dtag");
    train(
        &p(&d.join("train.jsonl")),
        &from_jsonl,
        &["--format", "annif-jsonl"],
    )
    .ok();
    assert!(std::fs::read(&plain).unwrap() == std::fs::read(&from_jsonl).unwrap());

    // And back: TSV (URIs) to %%% through the thesaurus gives the original headers.
    let back = d.join("back.txt");
    dtag([
        "convert",
        "--corpus",
        &p(&d.join("train.tsv.gz")),
        "--to",
        "dtag",
        "--output",
        &p(&back),
        "--thesaurus",
        TTL,
    ])
    .ok();
    let original = std::fs::read_to_string(root().join(TRAIN)).unwrap();
    assert_eq!(std::fs::read_to_string(&back).unwrap(), original);
}

#[test]
fn annif_tsv_needs_uris_and_malformed_inputs_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("x.tsv");
    let run = dtag([
        "convert",
        "--corpus",
        TRAIN,
        "--to",
        "annif-tsv",
        "--output",
        &p(&out),
    ])
    .fails();
    assert!(
        run.stderr.contains("have none") && run.stderr.contains("AFRICA"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());

    let tsv = d.join("bad.tsv");
    std::fs::write(
        &tsv,
        "正文一\t<http://metadata.un.org/thesaurus/1000099>\n正文二 没有制表符\n正文三\tAFRICA\n",
    )
    .unwrap();
    let run = train(&p(&tsv), &d.join("m.dtag"), &[]).fails();
    assert!(run.stderr.contains("bad.tsv:2: no tab"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("bad.tsv:3: subject `AFRICA` is not a URI"),
        "{}",
        run.stderr
    );

    let jsonl = d.join("bad.jsonl");
    std::fs::write(&jsonl, "{\"text\": \"正文\", \"subjects\": [{\"label\": \"AFRICA\"}]}\n{\"text\": \"x\", \"subjects\": \n").unwrap();
    let run = train(&p(&jsonl), &d.join("m.dtag"), &[]).fails();
    assert!(
        run.stderr.contains("bad.jsonl:2: invalid JSON"),
        "{}",
        run.stderr
    );

    let docs = d.join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("a.txt"), "文本").unwrap();
    std::fs::write(docs.join("a.key"), "AFRICA\n").unwrap();
    std::fs::write(docs.join("b.txt"), "文本").unwrap();
    let run = train(&p(&docs), &d.join("m.dtag"), &[]).fails();
    assert!(
        run.stderr.contains("b.txt:1: no subject file"),
        "{}",
        run.stderr
    );

    let run = dtag([
        "-q",
        "train",
        "--corpus",
        TRAIN,
        "--format",
        "annif-jsonl",
        "--model",
        &p(&d.join("m.dtag")),
    ])
    .fails();
    assert!(
        run.stderr.contains("data/train.txt:1: invalid JSON"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// explanations

fn demo_model(dir: &Path) -> PathBuf {
    let model = dir.join("demo.dtag");
    train(TRAIN, &model, &[]).ok();
    model
}

#[test]
fn suggest_explain_lists_the_terms_behind_each_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo_model(dir.path());
    let out = dtag([
        "suggest",
        "--model",
        &p(&model),
        "--format",
        "json",
        "--explain",
        "--explain-terms",
        "8",
        "data/drafts/draft_01.txt",
    ])
    .ok()
    .json();
    let suggestions = out[0]["suggestions"].as_array().unwrap();
    let children = suggestions
        .iter()
        .find(|s| s["descriptor"] == "CHILDREN")
        .expect("draft_01 is about children in peacekeeping");
    let e = &children["explanation"];
    let positive: Vec<&str> = e["positive"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["term"].as_str().unwrap())
        .collect();
    assert!(positive.len() <= 8 && !positive.is_empty());
    assert_eq!(positive[0], "儿童", "{positive:?}");
    // Each contribution is tfidf × weight, and the listed ones are the largest.
    for t in e["positive"].as_array().unwrap() {
        let (x, w, c) = (
            t["tfidf"].as_f64().unwrap(),
            t["weight"].as_f64().unwrap(),
            t["contribution"].as_f64().unwrap(),
        );
        assert!((x * w - c).abs() < 1e-4 && c > 0.0);
    }
    assert!(e["negative"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["contribution"].as_f64().unwrap() < 0.0));
    let tsv = dtag([
        "suggest",
        "--model",
        &p(&model),
        "--explain",
        "data/drafts/draft_01.txt",
    ])
    .ok()
    .stdout;
    let mut lines = tsv.lines();
    assert_eq!(
        lines.next(),
        Some("document\trank\tdescriptor\tscore\tpositive_terms\tnegative_terms\tmembers")
    );
    let row: Vec<&str> = lines
        .find(|l| l.contains("\tCHILDREN\t"))
        .unwrap()
        .split('\t')
        .collect();
    assert!(row[4].starts_with("儿童:+"), "{row:?}");
    assert_eq!(row[4].split(' ').count(), 5, "default 5 terms: {row:?}");
}

/// `--explain` ranks and decides through the same path as `suggest`: the same descriptors
/// with the same scores for every demo draft, on the default (tuned) model.
#[test]
fn suggest_explain_shows_exactly_what_suggest_suggests() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo_model(dir.path());
    let drafts: Vec<String> = std::fs::read_dir(root().join("data/drafts"))
        .unwrap()
        .map(|e| format!("data/drafts/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert!(drafts.len() >= 4);
    let model = p(&model);
    let run = |explain: bool| {
        let mut args = vec!["suggest", "--model", model.as_str(), "--format", "json"];
        if explain {
            args.push("--explain");
        }
        let mut args: Vec<String> = args.into_iter().map(String::from).collect();
        args.extend(drafts.iter().cloned());
        dtag(&args).ok().json()
    };
    let pairs = |out: serde_json::Value| -> Vec<Vec<(String, f64)>> {
        out.as_array()
            .unwrap()
            .iter()
            .map(|d| {
                d["suggestions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| {
                        let name = s["descriptor"].as_str().unwrap().to_string();
                        (name, s["score"].as_f64().unwrap())
                    })
                    .collect()
            })
            .collect()
    };
    let plain = pairs(run(false));
    assert!(plain.iter().all(|d| !d.is_empty()));
    assert_eq!(plain, pairs(run(true)));
}

#[test]
fn inspect_lists_a_descriptors_strongest_terms_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo_model(dir.path());
    let profile = dtag([
        "inspect",
        "--model",
        &p(&model),
        "--descriptor",
        "refugees",
        "--terms",
        "10",
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(profile["descriptor"], "REFUGEES");
    let positive: Vec<&str> = profile["positive"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["term"].as_str().unwrap())
        .collect();
    assert_eq!(positive.len(), 10);
    assert!(positive[..3].contains(&"难民"), "{positive:?}");
    let weights: Vec<f64> = profile["negative"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["weight"].as_f64().unwrap())
        .collect();
    assert!(!weights.is_empty() && weights.windows(2).all(|w| w[0] <= w[1]) && weights[0] < 0.0);
    let tsv = dtag(["inspect", "--model", &p(&model), "--descriptor", "REFUGEES"]).ok();
    assert!(
        tsv.stdout
            .starts_with("sign\trank\tterm\tweight\tidf\n+\t1\t"),
        "{}",
        tsv.stdout
    );
    assert!(
        tsv.stderr.contains("14 training documents"),
        "{}",
        tsv.stderr
    );
    let run = dtag(["inspect", "--model", &p(&model), "--descriptor", "NOPE"]).fails();
    assert!(
        run.stderr.contains("no descriptor `NOPE`"),
        "{}",
        run.stderr
    );
}
