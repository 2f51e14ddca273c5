//! Writing a corpus in any supported format, atomically: a file is written under a temporary
//! name and renamed; a document directory is filled under a temporary name and renamed.
//!
//! Descriptors are written as their URIs where the format wants URIs (Annif TSV; JSON Lines and
//! document directories when known) — from the thesaurus, or the descriptor itself when it is an
//! IRI — and as labels otherwise. One-line formats (`%%%` bodies, TSV text) cannot hold line
//! breaks or (TSV) tabs: those become spaces, which tokenizes the same, and are counted.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::CorpusFormat;
use crate::corpus::{Corpus, HEADER_PREFIX};
use crate::error::{Error, Result};
use crate::io_guard::{create_temp_dir_beside, Output};
use crate::thesaurus::{looks_like_iri, strip_angle_brackets, Thesaurus};

/// What writing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReport {
    pub documents: usize,
    /// Bodies whose line breaks (or tabs) became spaces to fit a one-line format.
    pub flattened: usize,
    pub gzipped: bool,
}

/// How descriptor names become URIs and labels.
struct Naming<'a> {
    thesaurus: Option<&'a Thesaurus>,
}

impl Naming<'_> {
    fn uri(&self, name: &str) -> Option<String> {
        if let Some((concept, _)) = self.thesaurus.and_then(|t| t.lookup(name)) {
            return Some(concept.uri.clone());
        }
        looks_like_iri(name).then(|| strip_angle_brackets(name).to_string())
    }

    fn label(&self, name: &str) -> Option<String> {
        if !looks_like_iri(name) {
            return Some(name.to_string());
        }
        self.thesaurus
            .and_then(|t| t.lookup(name))
            .map(|(c, _)| c.descriptor_name().to_string())
    }
}

fn flatten(text: &str, tabs_too: bool, flattened: &mut usize) -> String {
    let bad = |c: char| c == '\n' || c == '\r' || (tabs_too && c == '\t');
    if !text.contains(bad) {
        return text.to_string();
    }
    *flattened += 1;
    let replaced: String = text.chars().map(|c| if bad(c) { ' ' } else { c }).collect();
    replaced.trim().to_string()
}

#[derive(Serialize)]
struct JsonSubject {
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
}

#[derive(Serialize)]
struct JsonDocument<'a> {
    text: &'a str,
    subjects: Vec<JsonSubject>,
}

/// Writes `corpus` to `out` in `format`. A file path ending in `.gz` is gzipped; `-` is
/// standard output.
pub fn write_corpus(
    corpus: &Corpus,
    format: CorpusFormat,
    out: &Path,
    thesaurus: Option<&Thesaurus>,
) -> Result<WriteReport> {
    let output = if out.as_os_str() == "-" {
        Output::Stdout
    } else {
        Output::File {
            given: out.to_path_buf(),
            target: out.to_path_buf(),
        }
    };
    write_corpus_to(corpus, format, &output, thesaurus)
}

/// Writes `corpus` to an output checked by an [`crate::io_guard::OutputGuard`] (for the
/// annif-dir format, a directory).
pub fn write_corpus_to(
    corpus: &Corpus,
    format: CorpusFormat,
    output: &Output,
    thesaurus: Option<&Thesaurus>,
) -> Result<WriteReport> {
    let naming = Naming { thesaurus };
    let mut flattened = 0;
    if format == CorpusFormat::AnnifDir {
        let Output::File { target: out, .. } = output else {
            return Err(Error::Convert(
                "the annif-dir format is a directory; it cannot go to standard output".into(),
            ));
        };
        write_directory(corpus, out, &naming)?;
        return Ok(WriteReport {
            documents: corpus.documents.len(),
            flattened: 0,
            gzipped: false,
        });
    }
    let mut text = String::new();
    match format {
        CorpusFormat::Dtag => {
            let bad: Vec<&str> = corpus
                .descriptor_set()
                .into_iter()
                .filter(|d| d.contains('|') || d.contains('\n'))
                .collect();
            if !bad.is_empty() {
                return Err(Error::Convert(format!(
                    "descriptor(s) with `|` or a line break cannot be written in the %%% format: {}",
                    bad.join(", ")
                )));
            }
            for doc in &corpus.documents {
                text.push_str(HEADER_PREFIX);
                for d in &doc.descriptors {
                    text.push_str(d);
                    text.push('|');
                }
                text.push_str("\n\n");
                text.push_str(&flatten(&doc.body, false, &mut flattened));
                text.push('\n');
            }
        }
        CorpusFormat::AnnifTsv => {
            let missing: Vec<&str> = corpus
                .descriptor_set()
                .into_iter()
                .filter(|d| naming.uri(d).is_none())
                .collect();
            if !missing.is_empty() {
                return Err(Error::Convert(format!(
                    "Annif TSV names subjects by URI, and {} descriptor(s) have none (give a \
                     --thesaurus that has them): {}",
                    missing.len(),
                    missing.join(", ")
                )));
            }
            for doc in &corpus.documents {
                text.push_str(&flatten(&doc.body, true, &mut flattened));
                text.push('\t');
                let uris: Vec<String> = doc
                    .descriptors
                    .iter()
                    .map(|d| format!("<{}>", naming.uri(d).expect("checked above")))
                    .collect();
                text.push_str(&uris.join(" "));
                text.push('\n');
            }
        }
        CorpusFormat::AnnifJsonl => {
            for doc in &corpus.documents {
                let line = JsonDocument {
                    text: &doc.body,
                    subjects: doc
                        .descriptors
                        .iter()
                        .map(|d| JsonSubject {
                            uri: naming.uri(d),
                            label: naming.label(d),
                        })
                        .collect(),
                };
                text.push_str(&serde_json::to_string(&line).expect("strings serialise"));
                text.push('\n');
            }
        }
        CorpusFormat::AnnifDir => unreachable!("handled above"),
    }
    let gzipped = output
        .path()
        .is_some_and(|p| p.extension().is_some_and(|e| e == "gz"));
    let bytes = if gzipped {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder
            .write_all(text.as_bytes())
            .and_then(|_| encoder.finish())
            .map_err(|e| Error::io(output.to_string(), e))?
    } else {
        text.into_bytes()
    };
    output.write(&bytes)?;
    Ok(WriteReport {
        documents: corpus.documents.len(),
        flattened,
        gzipped,
    })
}

/// Fills a temporary directory beside `out`, then renames it to `out`, which must not exist
/// or be an empty directory.
fn write_directory(corpus: &Corpus, out: &Path, naming: &Naming) -> Result<()> {
    if out.exists() {
        let empty = out.is_dir()
            && std::fs::read_dir(out)
                .map_err(|e| Error::io(out, e))?
                .next()
                .is_none();
        if !empty {
            return Err(Error::io(
                out,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists and is not an empty directory (a document directory is written whole)",
                ),
            ));
        }
    }
    // An unpredictable name, created exclusively: nobody can plant files in it beforehand.
    let tmp = create_temp_dir_beside(out)?;
    let result = (|| -> Result<()> {
        let width = corpus.documents.len().to_string().len().max(5);
        for (i, doc) in corpus.documents.iter().enumerate() {
            let stem = format!("{:0width$}", i + 1);
            let txt = tmp.join(format!("{stem}.txt"));
            std::fs::write(&txt, &doc.body).map_err(|e| Error::io(&txt, e))?;
            // `.tsv` (URI and label) when every subject has a URI, else `.key` (labels).
            let uris: Option<Vec<String>> = doc.descriptors.iter().map(|d| naming.uri(d)).collect();
            let (ext, content): (&str, String) = match uris {
                Some(uris) => (
                    "tsv",
                    doc.descriptors
                        .iter()
                        .zip(uris)
                        .map(|(d, uri)| {
                            super::annif::subject_line(
                                Some(&uri),
                                d,
                                naming.label(d).as_deref(),
                                None,
                            )
                        })
                        .collect(),
                ),
                None => (
                    "key",
                    doc.descriptors.iter().map(|d| format!("{d}\n")).collect(),
                ),
            };
            let subjects = tmp.join(format!("{stem}.{ext}"));
            std::fs::write(&subjects, content).map_err(|e| Error::io(&subjects, e))?;
        }
        if out.exists() {
            std::fs::remove_dir(out).map_err(|e| Error::io(out, e))?;
        }
        std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{read_raw, resolve};

    fn corpus() -> Corpus {
        let parsed = crate::corpus::parse_corpus(
            "c.txt",
            "%%%AFRICA|http://t/9|\n\nbody\twith tab\n%%%WOMEN|\n\nbody two\n".as_bytes(),
        );
        Corpus {
            documents: parsed.documents,
            sources: 1,
        }
    }

    #[test]
    fn every_format_reads_back_the_same_corpus() {
        let dir = tempfile::tempdir().unwrap();
        let original = corpus();
        for (format, file) in [
            (CorpusFormat::Dtag, "c.txt"),
            (CorpusFormat::AnnifJsonl, "c.jsonl.gz"),
            (CorpusFormat::AnnifDir, "docs"),
        ] {
            let out = dir.path().join(file);
            let report = write_corpus(&original, format, &out, None).unwrap();
            assert_eq!(report.documents, 2);
            let raw = read_raw(std::slice::from_ref(&out), None).unwrap();
            assert_eq!(raw.sources.keys().next(), Some(&format), "{file}");
            let (back, _) = resolve(raw, None, true).unwrap();
            for (a, b) in back.documents.iter().zip(&original.documents) {
                assert_eq!(a.descriptors, b.descriptors, "{file}");
                assert_eq!(a.body, b.body, "{file}");
            }
        }
    }

    #[test]
    fn tsv_needs_uris_and_flattens_tabs() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("c.tsv");
        let err = write_corpus(&corpus(), CorpusFormat::AnnifTsv, &out, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("AFRICA") && err.contains("WOMEN") && !err.contains("t/9"),
            "{err}"
        );
        assert!(!out.exists());
        let uris_only = Corpus {
            documents: vec![crate::corpus::Document {
                descriptors: vec!["http://t/1".into()],
                body: "a\tb\nc".into(),
                origin: corpus().documents[0].origin.clone(),
            }],
            sources: 1,
        };
        let report = write_corpus(&uris_only, CorpusFormat::AnnifTsv, &out, None).unwrap();
        assert_eq!(report.flattened, 1);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "a b c\t<http://t/1>\n"
        );
    }

    #[test]
    fn a_document_directory_is_never_written_over_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("docs");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("keep.txt"), "x").unwrap();
        assert!(write_corpus(&corpus(), CorpusFormat::AnnifDir, &out, None).is_err());
        assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "x");
    }
}
