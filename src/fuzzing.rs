//! Entry points for fuzzing, shared by the `cargo fuzz` targets in `fuzz/` and by the stable
//! regression and randomized tests in `tests/fuzz_inputs.rs`, so both run exactly the same
//! code on an input. Each takes arbitrary bytes, must never panic, and asserts the
//! invariants its parser promises.

use std::path::Path;

use crate::corpus::{looks_like_corpus, parse_corpus};
use crate::model::file::{from_bytes, FORMAT_VERSION, MAGIC};
use crate::predict::{DecisionRule, Suggester};
#[cfg(feature = "serve")]
use crate::serve::request::{decode_form, decode_request, percent_decode, percent_encode};
use crate::thesaurus::turtle::parse as parse_turtle;

/// The corpus parser: every line is either part of a document or reported as a problem.
pub fn corpus_parser(data: &[u8]) {
    let _ = looks_like_corpus(data);
    let parsed = parse_corpus("fuzz", data);
    let lines = data.split(|&b| b == b'\n').count();
    for document in &parsed.documents {
        assert!(
            !document.descriptors.is_empty(),
            "document without descriptors"
        );
        assert!(
            document
                .descriptors
                .iter()
                .all(|d| !d.trim().is_empty() && d.trim() == d),
            "untrimmed or empty descriptor"
        );
        assert!(!document.body.trim().is_empty(), "empty body kept");
        assert!(document.origin.line >= 1 && document.origin.line <= lines);
    }
    for problem in &parsed.problems {
        assert!(problem.origin.line >= 1 && problem.origin.line <= lines);
        let _ = problem.to_string();
    }
}

/// The model-file loader. The first byte chooses how the rest is used:
/// even: as a whole model file; odd: as the decompressed payload, wrapped in a valid header,
/// zstd frame and checksum, so mutations reach the payload decoder and the consistency checks
/// instead of stopping at the checksum. A model that loads must then score a text.
pub fn model_file(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        wrap_payload(rest)
    };
    let Ok(mut model) = from_bytes(&bytes, Path::new("fuzz.dtag")) else {
        return;
    };
    // Building jieba's dictionary takes a third of a second; without user words the
    // whitespace segmenter exercises the same vectorizer and classifier in microseconds.
    if model.analyzer.user_words.is_empty() {
        model.analyzer.segmenter = crate::analysis::SegmenterKind::Whitespace;
    }
    let n_descriptors = model.descriptors.len();
    let Ok(suggester) = Suggester::new(model) else {
        return;
    };
    let rule = DecisionRule {
        limit: 5,
        threshold: 0.0,
        at_least_one: true,
        use_model_thresholds: false,
        min_score: 0.0,
    };
    let suggested = suggester.suggest(&["安全 理事会 peacekeeping 维持和平 2024 children"], &rule);
    assert!(suggested[0].suggestions.len() <= n_descriptors.min(5));
}

/// A model file around `payload`: header, zstd frame and correct checksum.
pub fn wrap_payload(payload: &[u8]) -> Vec<u8> {
    let compressed = zstd::bulk::compress(payload, 1).expect("zstd compresses any input");
    let mut out = Vec::with_capacity(32 + compressed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&(compressed.len() as u64).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&compressed);
    crate::model::file::reseal(&mut out);
    out
}

/// The Turtle reader and the SKOS reading on top of it. Input: Turtle text (bytes that are not
/// UTF-8 are read lossily, as a thesaurus file's are refused before parsing). A syntax error
/// must point inside the text; triples must come from lines of the text; nesting must end in
/// an error, never a stack overflow.
pub fn turtle_parser(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = text.split('\n').count();
    match parse_turtle(&text) {
        Ok(triples) => {
            for t in &triples {
                assert!(t.line >= 1 && t.line <= lines, "triple line {}", t.line);
                assert!(!t.predicate.is_empty(), "empty predicate");
            }
        }
        Err(e) => {
            assert!(e.line >= 1 && e.line <= lines, "error line {}", e.line);
            assert!(e.column >= 1, "error column 0");
            assert!(!e.reason.is_empty());
        }
    }
    if let Ok(thesaurus) = crate::thesaurus::skos::read(Path::new("fuzz.ttl"), &text) {
        for concept in thesaurus.concepts() {
            let _ = thesaurus.lookup(concept.descriptor_name());
        }
    }
}

/// The HTTP request decoder. Input: a method byte, then path, query, content type and body
/// separated by NUL bytes. Every refusal must be a 4xx problem.
#[cfg(feature = "serve")]
pub fn request_decoder(data: &[u8]) {
    let Some((&method, rest)) = data.split_first() else {
        return;
    };
    let method = ["GET", "POST", "HEAD", "PUT", "DELETE"][method as usize % 5];
    let mut parts = rest.splitn(4, |&b| b == 0);
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let query_bytes = parts.next();
    let query = query_bytes.map(String::from_utf8_lossy);
    let content_type = parts.next().map(String::from_utf8_lossy);
    let body = parts.next().unwrap_or_default();
    if let Err(problem) = decode_request(
        method,
        &path,
        query.as_deref(),
        content_type.as_deref(),
        body,
    ) {
        assert!(
            (400..500).contains(&problem.status),
            "decoder answered {} ({})",
            problem.status,
            problem.detail
        );
        assert!(!problem.detail.is_empty());
    }
    // The form decoder on raw bytes, and percent-encoding round trips.
    if let Ok(fields) = decode_form(body) {
        for (name, value) in fields {
            assert_eq!(
                percent_decode(&percent_encode(&name), false).as_deref(),
                Ok(name.as_str())
            );
            assert_eq!(
                percent_decode(&percent_encode(&value), true).as_deref(),
                Ok(value.as_str())
            );
        }
    }
}
