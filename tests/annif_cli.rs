//! What an Annif user expects of the command line: projects from a file (`--project`), `index`
//! of a directory, `suggest --output`, shell completion, and hints for Annif's verbs.

use std::path::Path;

mod common;
use common::{dtag, p, train};

const TRAIN: &str = "data/train.txt";
const TTL: &str = "tests/fixtures/unbis_demo.ttl";

/// A model trained with the demo thesaurus, and a projects file naming it with limit 2.
fn project_dir(dir: &Path) {
    train(TRAIN, &dir.join("demo.dtag"), &["--thesaurus", TTL]).ok();
    std::fs::write(
        dir.join("dtag.toml"),
        "# projects\n[demo]\nname = \"Demo\"\nlanguage = \"zh\"\nmodel = \"demo.dtag\"\nlimit = 2\n",
    )
    .unwrap();
    let docs = dir.join("docs");
    std::fs::create_dir(&docs).unwrap();
    for entry in std::fs::read_dir(common::root().join("data/drafts")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), docs.join(entry.file_name())).unwrap();
    }
    std::fs::write(docs.join("notes.md"), "not a document").unwrap();
}

#[test]
fn index_writes_suggestions_beside_each_txt_and_overwrites_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project_dir(d);
    let config = p(&d.join("dtag.toml"));
    let docs = p(&d.join("docs"));
    let run = dtag(["index", "--project", "demo", "--config", &config, &docs]).ok();
    assert!(run.stderr.contains("indexed 4 of 4"), "{}", run.stderr);
    let mut written: Vec<String> = std::fs::read_dir(d.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".dtag"))
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "draft_01.dtag",
            "draft_02.dtag",
            "draft_03.dtag",
            "draft_04.dtag"
        ]
    );
    // Annif's subject lines, at most the project's limit, URIs and Chinese labels.
    let lines = std::fs::read_to_string(d.join("docs/draft_01.dtag")).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    assert!(!lines.is_empty() && lines.len() <= 2, "{lines:?}");
    for line in &lines {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert!(
            fields[0].starts_with("<http://metadata.un.org/thesaurus/"),
            "{line}"
        );
        assert!(
            fields[1]
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{line}"
        );
        let score: f64 = fields[2].parse().unwrap();
        assert!((0.0..=1.0).contains(&score));
    }

    // Existing files are left alone, counted; --force replaces them.
    std::fs::write(d.join("docs/draft_02.dtag"), "kept").unwrap();
    let again = dtag(["index", "--project", "demo", "--config", &config, &docs]).ok();
    assert!(again.stderr.contains("indexed 0 of 4") && again.stderr.contains("--force"));
    assert_eq!(
        std::fs::read_to_string(d.join("docs/draft_02.dtag")).unwrap(),
        "kept"
    );
    dtag([
        "index",
        "--project",
        "demo",
        "--config",
        &config,
        "--force",
        &docs,
    ])
    .ok();
    assert_ne!(
        std::fs::read_to_string(d.join("docs/draft_02.dtag")).unwrap(),
        "kept"
    );

    // A suffix that would overwrite the documents is refused.
    let model = p(&d.join("demo.dtag"));
    dtag([
        "index", "--model", &model, "--suffix", ".txt", "--force", &docs,
    ])
    .fails();
}

#[test]
fn index_never_writes_through_a_symlink_even_with_force() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project_dir(d);
    let config = p(&d.join("dtag.toml"));
    let docs = p(&d.join("docs"));
    let outside = d.join("outside");
    std::fs::create_dir(&outside).unwrap();
    // A dangling link named like an output, and one to an existing file outside.
    symlink("../outside/new", d.join("docs/draft_01.dtag")).unwrap();
    std::fs::write(outside.join("precious"), "precious").unwrap();
    symlink(outside.join("precious"), d.join("docs/draft_02.dtag")).unwrap();
    for force in [false, true] {
        let mut args = vec!["index", "--project", "demo", "--config", &config];
        if force {
            args.push("--force");
        }
        args.push(&docs);
        let run = dtag(args).fails();
        assert!(
            run.stderr.contains("indexed 2 of 4") && run.stderr.contains("2 refused"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("2 suggestion file(s) are symlinks")
                && run.stderr.contains("draft_01.dtag")
                && run.stderr.contains("draft_02.dtag"),
            "{}",
            run.stderr
        );
        assert!(!outside.join("new").exists());
        assert_eq!(
            std::fs::read_to_string(outside.join("precious")).unwrap(),
            "precious"
        );
        for link in ["draft_01.dtag", "draft_02.dtag"] {
            let meta = std::fs::symlink_metadata(d.join("docs").join(link)).unwrap();
            assert!(meta.file_type().is_symlink(), "{link} was replaced");
        }
    }
    assert!(d.join("docs/draft_03.dtag").is_file());
}

#[test]
fn a_project_gives_the_model_and_its_limit_and_flags_win_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project_dir(d);
    let config = p(&d.join("dtag.toml"));
    let draft = p(&d.join("docs/draft_01.txt"));
    let by_project = dtag([
        "suggest",
        "--project",
        "demo",
        "--config",
        &config,
        "--format",
        "json",
        &draft,
    ])
    .ok()
    .json();
    let model = p(&d.join("demo.dtag"));
    let by_model = dtag([
        "suggest", "--model", &model, "--limit", "2", "--format", "json", &draft,
    ])
    .ok()
    .json();
    assert_eq!(by_project[0]["suggestions"], by_model[0]["suggestions"]);
    let wider = dtag([
        "suggest",
        "--project",
        "demo",
        "--config",
        &config,
        "--limit",
        "5",
        "--threshold",
        "0",
        "--format",
        "json",
        &draft,
    ])
    .ok()
    .json();
    assert_eq!(wider[0]["suggestions"].as_array().unwrap().len(), 5);

    // eval and inspect take the project too.
    let figures = dtag([
        "eval",
        "--project",
        "demo",
        "--config",
        &config,
        "--corpus",
        "data/test.txt",
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(figures["limit"], 2);
    dtag(["inspect", "--project", "demo", "--config", &config]).ok();

    // Mistakes name the file (and line).
    let unknown = dtag(["suggest", "--project", "nope", "--config", &config, &draft]).fails();
    assert!(unknown.stderr.contains("no project `nope`") && unknown.stderr.contains("demo"));
    std::fs::write(
        d.join("bad.toml"),
        "[demo]\nmodel = \"demo.dtag\"\nlimt = 2\n",
    )
    .unwrap();
    let bad = dtag([
        "suggest",
        "--project",
        "demo",
        "--config",
        &p(&d.join("bad.toml")),
        &draft,
    ])
    .fails();
    assert!(
        bad.stderr.contains("bad.toml:3:") && bad.stderr.contains("limt"),
        "{}",
        bad.stderr
    );
}

#[test]
fn suggest_output_writes_a_file_and_never_over_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project_dir(d);
    let model = p(&d.join("demo.dtag"));
    let draft = p(&d.join("docs/draft_01.txt"));
    let out = d.join("suggestions.tsv");
    let run = dtag(["suggest", "--model", &model, "--output", &p(&out), &draft]).ok();
    assert!(run.stdout.is_empty());
    let stdout = dtag(["suggest", "--model", &model, &draft]).ok().stdout;
    assert_eq!(std::fs::read_to_string(&out).unwrap(), stdout);
    let before = std::fs::read(&draft).unwrap();
    dtag(["suggest", "--model", &model, "--output", &draft, &draft]).fails();
    assert_eq!(std::fs::read(&draft).unwrap(), before);
}

#[test]
fn completion_scripts_and_hints_for_annif_verbs() {
    for shell in ["bash", "zsh", "fish"] {
        let script = dtag(["completion", shell]).ok().stdout;
        assert!(
            script.contains("suggest") && script.contains("index"),
            "{shell}"
        );
    }
    let hint = dtag(["load-vocab", "unbis", "concepts.ttl"]).fails();
    assert!(hint.stderr.contains("--thesaurus"), "{}", hint.stderr);
    let typo = dtag(["sugest"]).fails();
    assert!(typo.stderr.contains("suggest"), "{}", typo.stderr);
}

#[test]
fn serve_config_serves_every_project_of_the_file() {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project_dir(d);
    // A second project on the same model, labelled in English.
    let mut config = std::fs::read_to_string(d.join("dtag.toml")).unwrap();
    config.push_str("\n[demo-en]\nlanguage = \"en\"\nmodel = \"demo.dtag\"\n");
    std::fs::write(d.join("dtag.toml"), config).unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_dtag"))
        .args([
            "serve",
            "--config",
            &p(&d.join("dtag.toml")),
            "--bind",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_string();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .write_all(b"GET /v1/projects HTTP/1.1\r\nHost: dtag\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
    let projects: serde_json::Value = serde_json::from_str(body).unwrap();
    let languages: Vec<(String, String)> = projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let field = |k: &str| p[k].as_str().unwrap().to_string();
            (field("project_id"), field("language"))
        })
        .collect();
    assert_eq!(
        languages,
        [
            ("demo".into(), "zh".into()),
            ("demo-en".into(), "en".into())
        ],
        "{body}"
    );
}

#[test]
fn index_skips_documents_too_large_or_not_utf8_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project_dir(d);
    let config = p(&d.join("dtag.toml"));
    let docs = d.join("docs");
    // A sparse file far over the bound: refused by its size, never read.
    let big = std::fs::File::create(docs.join("big.txt")).unwrap();
    big.set_len(2 << 30).unwrap();
    std::fs::write(docs.join("latin1.txt"), b"caf\xe9 au lait\n").unwrap();
    let run = dtag(["index", "--project", "demo", "--config", &config, &p(&docs)]).ok();
    assert!(run.seconds < 10.0, "{}", run.seconds);
    assert!(run.stderr.contains("indexed 4 of 6"), "{}", run.stderr);
    assert!(run
        .stderr
        .contains("big.txt: a document of 2147483648 bytes"));
    assert!(run.stderr.contains("latin1.txt:1: not valid UTF-8"));
    assert!(run
        .stderr
        .contains("1 skipped: over --max-document-bytes 16777216"));
    assert!(run.stderr.contains("1 skipped: not valid UTF-8"));
    assert!(!docs.join("big.dtag").exists() && !docs.join("latin1.dtag").exists());
    // The bound is a flag; `suggest` refuses a draft over it before reading it.
    let draft = p(&docs.join("draft_01.txt"));
    let small = ["suggest", "--max-document-bytes", "10"];
    let args = small
        .iter()
        .copied()
        .chain(["--project", "demo", "--config", &config, &draft]);
    let refused = dtag(args).fails();
    assert!(
        refused.stderr.contains("draft_01.txt: a document of"),
        "{}",
        refused.stderr
    );
}
