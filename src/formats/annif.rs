//! Annif's corpus formats (as Annif reads them, with every malformation reported instead of
//! skipped with a log line):
//!
//! - **TSV**: one document per line, `text<TAB><uri> <uri> …`; subjects are URIs in angle
//!   brackets separated by whitespace (bare IRIs are accepted too). Gzipped files are read
//!   transparently.
//! - **JSON Lines**: one object per line, `{"text": "…", "subjects": [{"uri": "…", "label":
//!   "…"}, …]}`; a subject needs a `uri` or a `label`; other keys (`metadata`, `document_id`)
//!   are ignored.
//! - **document directory**: every `NAME.txt` directly in the directory (sorted) is a document,
//!   and so is every Word document `NAME.docx` (its body's text, see [`super::docx`]);
//!   its subjects are in `NAME.tsv`, else `NAME.key`, one per line: `<uri>` optionally followed
//!   by a tab and the label, or a label alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::{display_name, problem, ParsedInput, Purpose, RawDocument, Subject};
use crate::corpus::Origin;
use crate::error::{Error, Result};
use crate::thesaurus::looks_like_iri;

/// Lines of a file with their 1-based numbers, the byte-order mark and `\r` removed.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
}

pub fn parse_tsv(name: &str, bytes: &[u8]) -> ParsedInput {
    let source: Arc<str> = Arc::from(name);
    let mut out = ParsedInput::default();
    for (line_no, raw) in lines(bytes) {
        let Ok(line) = std::str::from_utf8(raw) else {
            out.problems
                .push(problem(&source, line_no, "line is not valid UTF-8"));
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        let origin = Origin {
            source: source.clone(),
            line: line_no,
        };
        let Some((text, uris)) = line.split_once('\t') else {
            out.problems.push(problem(
                &source,
                line_no,
                "no tab between the text and its subjects",
            ));
            continue;
        };
        if text.trim().is_empty() {
            out.problems
                .push(problem(&source, line_no, "the document text is empty"));
            continue;
        }
        let mut subjects = Vec::new();
        let mut bad = None;
        for token in uris.split_whitespace() {
            if looks_like_iri(token) {
                subjects.push(Subject::from_text(token, origin.clone()));
            } else {
                bad = Some(token);
                break;
            }
        }
        if let Some(token) = bad {
            out.problems.push(problem(
                &source,
                line_no,
                format!("subject `{token}` is not a URI (expected `<http://…>`)"),
            ));
            continue;
        }
        if subjects.is_empty() {
            out.problems
                .push(problem(&source, line_no, "the document has no subjects"));
            continue;
        }
        out.documents.push(RawDocument {
            text: text.to_string(),
            subjects,
            origin,
        });
    }
    out
}

pub fn parse_jsonl(name: &str, bytes: &[u8]) -> ParsedInput {
    let source: Arc<str> = Arc::from(name);
    let mut out = ParsedInput::default();
    for (line_no, raw) in lines(bytes) {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_json_document(&source, line_no, raw) {
            Ok(doc) => out.documents.push(doc),
            Err(what) => out.problems.push(problem(&source, line_no, what)),
        }
    }
    out
}

fn parse_json_document(
    source: &Arc<str>,
    line: usize,
    raw: &[u8],
) -> std::result::Result<RawDocument, String> {
    let value: Value = serde_json::from_slice(raw).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err("expected a JSON object".into());
    };
    let text = match object.get("text") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => return Err("the document text is empty".into()),
        Some(_) => return Err("`text` is not a string".into()),
        None => return Err("no `text`".into()),
    };
    let origin = Origin {
        source: source.clone(),
        line,
    };
    let items = match object.get("subjects") {
        Some(Value::Array(items)) => items,
        Some(_) => return Err("`subjects` is not an array".into()),
        None => return Err("no `subjects`".into()),
    };
    let mut subjects = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(item) = item else {
            return Err(format!("subject {} is not an object", i + 1));
        };
        let field = |key: &str| -> std::result::Result<Option<String>, String> {
            match item.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
                Some(_) => Err(format!("subject {}: `{key}` is not a string", i + 1)),
            }
        };
        let uri = field("uri")?.map(|u| crate::thesaurus::strip_angle_brackets(&u).to_string());
        let label = field("label")?;
        if uri.is_none() && label.is_none() {
            return Err(format!("subject {} has neither `uri` nor `label`", i + 1));
        }
        subjects.push(Subject {
            uri,
            label,
            origin: origin.clone(),
        });
    }
    if subjects.is_empty() {
        return Err("the document has no subjects".into());
    }
    Ok(RawDocument {
        text,
        subjects,
        origin,
    })
}

/// The documents of a document directory, sorted: its `.txt` and `.docx` files (not those
/// of its subdirectories), hidden files left out. The one walker of every command that reads
/// a directory of documents (the readers here, `dtag index`).
pub fn documents(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|p| is_document(p) && !is_hidden(p) && p.is_file())
        .collect())
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// One line of an Annif subject file (`NAME.tsv`, what `annif index` writes), ending with a
/// line break: the subject's `<URI>` (a descriptor without one is written bare, as a `.key`
/// file names it), then its label and its score when given, tab-separated. The one writer
/// of subject lines (`dtag index`, `dtag convert` to a directory, catalogue lines).
pub fn subject_line(
    uri: Option<&str>,
    name: &str,
    label: Option<&str>,
    score: Option<f32>,
) -> String {
    let mut line = match uri {
        Some(uri) => format!("<{uri}>"),
        None => name.to_string(),
    };
    if let Some(label) = label {
        line.push('\t');
        line.push_str(label);
    }
    if let Some(score) = score {
        line.push_str(&format!("\t{score:.4}"));
    }
    line.push('\n');
    line
}

/// Sorted entries of a directory (not recursive).
fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect::<Result<_>>()?;
    entries.sort();
    Ok(entries)
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e == ext)
}

/// A document of a directory: `NAME.txt`, or a Word document `NAME.docx`.
fn is_document(path: &Path) -> bool {
    has_extension(path, "txt") || has_extension(path, "docx")
}

/// A document file's text as bytes: a Word document's body (one error naming the file when it
/// cannot be read), a text file as it is.
fn document_bytes(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if has_extension(path, "docx") {
        let name = path.display().to_string();
        return Ok(
            super::docx::extract_text(&name, &bytes, super::docx::MAX_TEXT_BYTES)?.into_bytes(),
        );
    }
    Ok(bytes)
}

/// Whether a document (`.txt` or `.docx`) of the stem of `path` is beside it.
fn has_document_beside(path: &Path) -> bool {
    path.with_extension("txt").is_file() || path.with_extension("docx").is_file()
}

/// The subject file Annif reads for a document: `.tsv` before `.key`.
fn subject_file(txt: &Path) -> Option<PathBuf> {
    ["tsv", "key"]
        .iter()
        .map(|ext| txt.with_extension(ext))
        .find(|p| p.is_file())
}

/// True when some `*.txt` in the directory has a subject file beside it.
pub fn is_document_directory(dir: &Path) -> Result<bool> {
    Ok(entries(dir)?
        .iter()
        .any(|p| is_document(p) && p.is_file() && subject_file(p).is_some()))
}

/// Reads an Annif document directory. Files that belong to no document are listed in
/// `ignored`. For [`Purpose::Labelled`] a `.txt` without a subject file is a problem (training
/// needs subjects); for [`Purpose::Drafts`] every `.txt` is a draft, its subject file is not
/// read (nor is it a draft), and the draft is named by its file alone (line 0).
pub fn read_dir(
    dir: &Path,
    purpose: Purpose,
    ignored: &mut Vec<(PathBuf, &'static str)>,
) -> Result<ParsedInput> {
    let mut out = ParsedInput::default();
    let all = entries(dir)?;
    let mut used = std::collections::BTreeSet::new();
    for txt in &documents(dir)? {
        let name = display_name(txt);
        let subject_path = subject_file(txt);
        used.insert(txt.clone());
        used.extend(subject_path.clone());
        let subject_path = match (subject_path, purpose) {
            (Some(path), Purpose::Labelled) => path,
            (None, Purpose::Labelled) => {
                out.problems.push(problem(
                    &name,
                    1,
                    "no subject file (NAME.tsv or NAME.key) beside this document",
                ));
                continue;
            }
            (_, Purpose::Drafts) => {
                let bytes = document_bytes(txt)?;
                match super::draft_text(&name, &bytes) {
                    Ok(doc) => out.documents.push(doc),
                    Err(p) => out.problems.push(p),
                }
                continue;
            }
        };
        let bytes = document_bytes(txt)?;
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t.to_string(),
            Err(e) => {
                let line = crate::io_guard::line_of(bytes, e.valid_up_to());
                out.problems
                    .push(problem(&name, line, "line is not valid UTF-8"));
                continue;
            }
        };
        if text.trim().is_empty() {
            out.problems
                .push(problem(&name, 1, "the document text is empty"));
            continue;
        }
        let subject_bytes =
            std::fs::read(&subject_path).map_err(|e| Error::io(&subject_path, e))?;
        let subject_source = display_name(&subject_path);
        let (subjects, problems) = parse_subject_file(&subject_source, &subject_bytes);
        if !problems.is_empty() {
            out.problems.extend(problems);
            continue;
        }
        if subjects.is_empty() {
            out.problems.push(problem(
                &subject_source,
                1,
                "the subject file lists no subjects",
            ));
            continue;
        }
        out.documents.push(RawDocument {
            text,
            subjects,
            origin: Origin {
                source: name,
                line: 1,
            },
        });
    }
    for path in all {
        if used.contains(&path) {
            continue;
        }
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        let why = if hidden {
            continue;
        } else if path.is_dir() {
            "a subdirectory (document directories are not recursive)"
        } else if is_document(&path) {
            continue; // already reported as a problem
        } else if (has_extension(&path, "tsv") || has_extension(&path, "key"))
            && has_document_beside(&path)
        {
            if purpose == Purpose::Drafts {
                continue; // labels of a draft, whichever of the two would be read
            }
            "a .key beside a .tsv (the .tsv is read)"
        } else if has_extension(&path, "tsv") || has_extension(&path, "key") {
            "a subject file without a document (.txt or .docx)"
        } else {
            "neither a document (.txt or .docx) nor a subject file"
        };
        ignored.push((path, why));
    }
    Ok(out)
}

/// Parses a subject file: per line, `<uri>` fields and at most one label.
fn parse_subject_file(
    source: &Arc<str>,
    bytes: &[u8],
) -> (Vec<Subject>, Vec<crate::corpus::CorpusProblem>) {
    let mut subjects = Vec::new();
    let mut problems = Vec::new();
    for (line_no, raw) in lines(bytes) {
        let Ok(line) = std::str::from_utf8(raw) else {
            problems.push(problem(source, line_no, "line is not valid UTF-8"));
            continue;
        };
        let origin = Origin {
            source: source.clone(),
            line: line_no,
        };
        let mut uri = None;
        let mut label = None;
        for field in line.split('\t').map(str::trim).filter(|f| !f.is_empty()) {
            if field.starts_with('<') && field.ends_with('>') && uri.is_none() {
                uri = Some(field[1..field.len() - 1].to_string());
            } else if label.is_none() {
                label = Some(field.to_string());
            } else {
                problems.push(problem(
                    source,
                    line_no,
                    "more than a `<uri>` and a label on one line",
                ));
                break;
            }
        }
        if uri.is_some() || label.is_some() {
            subjects.push(Subject { uri, label, origin });
        }
    }
    (subjects, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_walker_and_one_subject_writer() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.txt", "a.docx", ".hidden.txt", "a.tsv", "notes.md"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.txt")).unwrap();
        let names: Vec<String> = documents(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.docx", "b.txt"]);
        assert_eq!(
            subject_line(Some("http://x/1"), "CHILDREN", Some("儿童"), Some(0.25)),
            "<http://x/1>\t儿童\t0.2500\n"
        );
        assert_eq!(
            subject_line(None, "PEACE", Some("PEACE"), Some(0.5)),
            "PEACE\tPEACE\t0.5000\n"
        );
        assert_eq!(subject_line(Some("u"), "D", None, None), "<u>\n");
    }

    fn problems(p: &ParsedInput) -> Vec<String> {
        p.problems.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn tsv_reads_uris_and_reports_bad_lines() {
        let text = "第一 篇\t<http://t/1> <http://t/2>\n\nno tab here\n第三\tAFRICA\n第四\t\n\t<http://t/1>\n";
        let parsed = parse_tsv("c.tsv", text.as_bytes());
        assert_eq!(parsed.documents.len(), 1);
        assert_eq!(parsed.documents[0].text, "第一 篇");
        assert_eq!(
            parsed.documents[0].subjects[1].uri.as_deref(),
            Some("http://t/2")
        );
        assert_eq!(
            problems(&parsed),
            vec![
                "c.tsv:3: no tab between the text and its subjects",
                "c.tsv:4: subject `AFRICA` is not a URI (expected `<http://…>`)",
                "c.tsv:5: the document has no subjects",
                "c.tsv:6: the document text is empty",
            ]
        );
    }

    #[test]
    fn jsonl_reads_uris_and_labels_and_reports_bad_lines() {
        let text = concat!(
            r#"{"text": "一", "subjects": [{"uri": "http://t/1", "label": "AFRICA"}, {"label": "WOMEN"}], "metadata": {}}"#,
            "\n",
            r#"{"text": "二", "subjects": []}"#,
            "\n",
            r#"{"text": "三", "subjects": [{"note": 1}]}"#,
            "\n",
            "{broken\n",
            r#"["not", "an object"]"#,
            "\n",
            r#"{"subjects": [{"label": "X"}]}"#,
            "\n",
        );
        let parsed = parse_jsonl("c.jsonl", text.as_bytes());
        assert_eq!(parsed.documents.len(), 1);
        let s = &parsed.documents[0].subjects;
        assert_eq!(s[0].uri.as_deref(), Some("http://t/1"));
        assert_eq!(s[0].label.as_deref(), Some("AFRICA"));
        assert_eq!(
            (s[1].uri.as_deref(), s[1].label.as_deref()),
            (None, Some("WOMEN"))
        );
        let p = problems(&parsed);
        assert_eq!(p.len(), 5, "{p:?}");
        assert_eq!(p[0], "c.jsonl:2: the document has no subjects");
        assert_eq!(p[1], "c.jsonl:3: subject 1 has neither `uri` nor `label`");
        assert!(p[2].starts_with("c.jsonl:4: invalid JSON"), "{}", p[2]);
        assert_eq!(p[3], "c.jsonl:5: expected a JSON object");
        assert_eq!(p[4], "c.jsonl:6: no `text`");
    }

    #[test]
    fn document_directories_pair_txt_with_tsv_or_key() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.txt"), "文本 一").unwrap();
        std::fs::write(d.join("a.tsv"), "<http://t/1>\tAFRICA\n<http://t/2>\n").unwrap();
        std::fs::write(d.join("a.key"), "IGNORED\n").unwrap();
        std::fs::write(d.join("b.txt"), "文本 二\n第二行").unwrap();
        std::fs::write(d.join("b.key"), "WOMEN\nCHILDREN\n").unwrap();
        std::fs::write(d.join("README.md"), "about").unwrap();
        assert!(is_document_directory(d).unwrap());
        let mut ignored = Vec::new();
        let parsed = read_dir(d, Purpose::Labelled, &mut ignored).unwrap();
        assert!(parsed.problems.is_empty(), "{:?}", problems(&parsed));
        assert_eq!(parsed.documents.len(), 2);
        let a = &parsed.documents[0];
        assert_eq!(a.subjects.len(), 2);
        assert_eq!(a.subjects[0].label.as_deref(), Some("AFRICA"));
        assert_eq!(a.subjects[1].origin.line, 2);
        assert_eq!(parsed.documents[1].text, "文本 二\n第二行");
        assert_eq!(
            parsed.documents[1].subjects[1].label.as_deref(),
            Some("CHILDREN")
        );
        // a.key is shadowed by a.tsv, README.md belongs to nothing.
        assert_eq!(ignored.len(), 2, "{ignored:?}");

        std::fs::write(d.join("c.txt"), "无主题").unwrap();
        let parsed = read_dir(d, Purpose::Labelled, &mut Vec::new()).unwrap();
        let p = problems(&parsed);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].ends_with("c.txt:1: no subject file (NAME.tsv or NAME.key) beside this document"),
            "{p:?}"
        );
    }
}
