//! The indexer's desk from the command line (issue 22): Word drafts in (`.docx` as a draft and
//! in a document directory, bad ones refused with one error naming the file), catalogue lines
//! out (`suggest --output-format`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod common;
use common::{dtag, p, train};

const DRAFT: &str = "data/drafts/draft_01.txt";

fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("desk-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn demo_model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("desk-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let model = dir.join("demo.dtag");
        train("data/train.txt", &model, &[]).ok();
        model
    })
}

/// A Word document as Word writes one: a zip with `word/document.xml`, the text's lines as
/// paragraphs of runs (split in two runs, as editing leaves them).
fn docx_of(text: &str) -> Vec<u8> {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let paragraphs: String = text
        .trim_end_matches('\n')
        .split('\n')
        .map(|line| {
            let cut = line
                .char_indices()
                .nth(line.chars().count() / 2)
                .map_or(line.len(), |(i, _)| i);
            format!(
                "<w:p><w:pPr><w:jc w:val=\"both\"/></w:pPr><w:r><w:rPr><w:b/></w:rPr>\
                 <w:t xml:space=\"preserve\">{}</w:t></w:r><w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
                escape(&line[..cut]),
                escape(&line[cut..])
            )
        })
        .collect();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
         <w:body>{paragraphs}<w:sectPr/></w:body></w:document>"
    );
    zip_of(&[
        ("[Content_Types].xml", b"<Types/>".as_slice()),
        ("_rels/.rels", b"<Relationships/>".as_slice()),
        ("word/document.xml", xml.as_bytes()),
    ])
}

fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in parts {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// The suggestion rows without the document name (the first column).
fn rows(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| l.split_once('\t').map_or(l, |(_, rest)| rest).to_string())
        .collect()
}

#[test]
fn a_word_draft_gets_the_suggestions_of_its_text() {
    let dir = work_dir("docx-draft");
    let text = std::fs::read_to_string(common::root().join(DRAFT)).unwrap();
    let docx = dir.join("draft.docx");
    std::fs::write(&docx, docx_of(&text)).unwrap();
    let model = p(demo_model());
    for extra in [&[][..], &["--json"][..]] {
        let from_txt = dtag(["suggest", "--model", &model, DRAFT].iter().chain(extra)).ok();
        let from_docx = dtag(
            ["suggest", "--model", &model, &p(&docx)]
                .iter()
                .map(|s| s.as_ref())
                .chain(extra.iter().copied()),
        )
        .ok();
        let (a, b) = (from_txt.stdout, from_docx.stdout);
        assert!(!a.trim().is_empty());
        if extra.is_empty() {
            assert_eq!(rows(&a), rows(&b));
            assert!(b.contains("draft.docx\t1\t"), "{b}");
        } else {
            let strip = |s: &str| -> serde_json::Value {
                let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
                v[0]["document"] = serde_json::Value::Null;
                v
            };
            assert_eq!(strip(&a), strip(&b));
        }
    }
    // The same for every catalogue form.
    for form in ["header", "annif-tsv", "uris"] {
        let a = dtag(["suggest", "--model", &model, "--output-format", form, DRAFT]).ok();
        let b = dtag([
            "suggest",
            "--model",
            &model,
            "--output-format",
            form,
            &p(&docx),
        ])
        .ok();
        assert_eq!(a.stdout, b.stdout, "{form}");
    }
}

#[test]
fn catalogue_lines_come_in_three_forms() {
    let model = p(demo_model());
    let table = dtag(["suggest", "--model", &model, DRAFT]).ok().stdout;
    let descriptors: Vec<String> = table
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').nth(2).unwrap().to_string())
        .collect();
    assert!(!descriptors.is_empty());
    let form = |f: &str| {
        dtag(["suggest", "--model", &model, "--output-format", f, DRAFT])
            .ok()
            .stdout
    };
    assert_eq!(form("header"), format!("%%%{}|\n", descriptors.join("|")));
    let uri = |d: &String| {
        let mut uri = String::from("urn:dtag:descriptor:");
        for b in d.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                uri.push(b as char);
            } else {
                uri.push_str(&format!("%{b:02X}"));
            }
        }
        uri
    };
    let tsv: String = descriptors
        .iter()
        .map(|d| format!("<{}>\t{d}\n", uri(d)))
        .collect();
    assert_eq!(form("annif-tsv"), tsv);
    let uris: String = descriptors
        .iter()
        .map(|d| format!("{}\n", uri(d)))
        .collect();
    assert_eq!(form("uris"), uris);
    // Two drafts: a header line each; other forms separated by an empty line.
    let two = dtag([
        "suggest",
        "--model",
        &model,
        "--output-format",
        "header",
        DRAFT,
        "data/drafts/draft_02.txt",
    ])
    .ok()
    .stdout;
    assert_eq!(two.lines().count(), 2, "{two}");
    assert!(two
        .lines()
        .all(|l| l.starts_with("%%%") && l.ends_with('|')));
    // Catalogue lines are not a table: --format and --explain are refused with it.
    dtag([
        "suggest",
        "--model",
        &model,
        "--output-format",
        "uris",
        "--json",
        DRAFT,
    ])
    .fails();
}

#[test]
fn word_documents_in_a_document_directory_are_trained_on_and_evaluated() {
    let dir = work_dir("docx-dir");
    let corpus = std::fs::read_to_string(common::root().join("data/train.txt")).unwrap();
    let docs = dir.join("docs");
    std::fs::create_dir(&docs).unwrap();
    // The demo corpus as an Annif document directory, every other document a Word file.
    let mut i = 0;
    for block in corpus.split("%%%").filter(|b| !b.trim().is_empty()) {
        let (header, body) = block.split_once('\n').unwrap();
        let labels: String = header
            .trim_end_matches('|')
            .split('|')
            .map(|l| format!("{l}\n"))
            .collect();
        let stem = docs.join(format!("doc{i:03}"));
        std::fs::write(stem.with_extension("key"), labels).unwrap();
        if i % 2 == 0 {
            std::fs::write(stem.with_extension("docx"), docx_of(body.trim())).unwrap();
        } else {
            std::fs::write(stem.with_extension("txt"), body.trim()).unwrap();
        }
        i += 1;
    }
    let model = dir.join("m.dtag");
    let run = dtag([
        "train",
        "--corpus",
        &p(&docs),
        "--model",
        &p(&model),
        "--json",
        "--no-tune",
    ])
    .ok();
    assert_eq!(
        run.json()["documents"],
        serde_json::json!(i),
        "{}",
        run.stdout
    );
    let eval = dtag([
        "eval",
        "--model",
        &p(&model),
        "--corpus",
        &p(&docs),
        "--json",
    ])
    .ok();
    assert_eq!(eval.json()["docs"], serde_json::json!(i));
    // `index` writes a suggestion file beside every document, Word ones included.
    let index_dir = dir.join("index");
    std::fs::create_dir(&index_dir).unwrap();
    let text = std::fs::read_to_string(common::root().join(DRAFT)).unwrap();
    std::fs::write(index_dir.join("a.docx"), docx_of(&text)).unwrap();
    std::fs::write(index_dir.join("b.txt"), &text).unwrap();
    dtag(["index", "--model", &p(demo_model()), &p(&index_dir)]).ok();
    let a = std::fs::read_to_string(index_dir.join("a.dtag")).unwrap();
    let b = std::fs::read_to_string(index_dir.join("b.dtag")).unwrap();
    assert!(!a.is_empty());
    assert_eq!(a, b);
}

#[test]
fn a_bad_word_document_is_one_clear_error_naming_it() {
    let dir = work_dir("docx-bad");
    let model = p(demo_model());
    let text = std::fs::read_to_string(common::root().join(DRAFT)).unwrap();
    let good = docx_of(&text);
    // Corrupt: the archive cut in the middle; its body damaged behind a valid directory.
    let truncated = good[..good.len() / 2].to_vec();
    // Encrypted: what Word writes for a password (a compound file with an encrypted package).
    let mut encrypted = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    encrypted.resize(2048, 0);
    encrypted.extend(
        "EncryptedPackage"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes()),
    );
    // A zip bomb: 200 MiB of spaces in one paragraph deflate to about 200 KiB.
    let mut xml = String::from("<w:document xmlns:w=\"w\"><w:body><w:p><w:r><w:t>");
    xml.push_str(&" ".repeat(200 << 20));
    xml.push_str("</w:t></w:r></w:p></w:body></w:document>");
    let bomb = zip_of(&[("word/document.xml", xml.as_bytes())]);
    drop(xml);
    for (name, bytes, what) in [
        ("truncated.docx", truncated, "damaged zip archive"),
        (
            "not-a-zip.docx",
            text.clone().into_bytes(),
            "not a zip archive",
        ),
        ("secret.docx", encrypted, "password-protected"),
        ("bomb.docx", bomb, "zip bomb"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        let run = dtag(["suggest", "--model", &model, &p(&path)]).fails();
        let message = run.stderr.trim();
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(
            message.contains(&p(&path)) && message.contains(what),
            "{name}: {message}"
        );
    }
    // A Word file given as a labelled corpus has no descriptors: said with its name.
    let lone = dir.join("lone.docx");
    std::fs::write(&lone, &good).unwrap();
    let run = dtag([
        "train",
        "--corpus",
        &p(&lone),
        "--model",
        &p(&dir.join("m.dtag")),
    ])
    .fails();
    assert!(
        run.stderr.contains("lone.docx") && run.stderr.contains("document directory"),
        "{}",
        run.stderr
    );
}
