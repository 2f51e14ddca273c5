//! Handlers: a decoded request in, the JSON answer out; run off the async threads.

use super::api::{
    results, to_json, BatchResult, Completions, ExplainedResult, ExplainedResults, ExtractedText,
    SuggestionResults,
};
use super::language;
use super::problem::Problem;
use super::projects::Project;
use super::request::{self, CompleteCall, LanguageTag, SuggestOptions};
use crate::error::Result;
use crate::predict::{AskedThreshold, DecisionRequest, DecisionRule};
use crate::session::Session;

/// `suggest`: the JSON answer for a form body.
pub(super) fn suggest(
    project: &Project,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, Problem> {
    let (text, loaded, language, rule) = decode_for_suggesting(project, content_type, body)?;
    let suggestions = match rule {
        None => Vec::new(),
        Some(rule) => loaded
            .session
            .suggest(&[text.as_str()], &rule)
            .pop()
            .map(|s| s.suggestions)
            .unwrap_or_default(),
    };
    Ok(to_json(&SuggestionResults {
        results: results(&suggestions, language),
    }))
}

/// `suggest-batch`: the JSON answer for a JSON body and query options.
pub(super) fn suggest_batch(
    project: &Project,
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, Problem> {
    let call = request::decode_batch(query, content_type, body)?;
    let loaded = project.current();
    let session = &loaded.session;
    let language = label_language(project, session.model(), &call.options)?;
    let per_document = match decision_rule(&call.options, session)? {
        None => vec![Vec::new(); call.documents.len()],
        Some(rule) => {
            let texts: Vec<&str> = call.documents.iter().map(|d| d.text.as_str()).collect();
            session
                .suggest(&texts, &rule)
                .into_iter()
                .map(|s| s.suggestions)
                .collect()
        }
    };
    let batch: Vec<BatchResult> = call
        .documents
        .iter()
        .zip(&per_document)
        .map(|(document, suggestions)| BatchResult {
            results: results(suggestions, language),
            document_id: document.document_id.as_deref(),
        })
        .collect();
    Ok(to_json(&batch))
}

/// A form body of `suggest` or `explain` decoded: its text, the model served now, the
/// language of the labels and the decision rule (`None`: no results).
fn decode_for_suggesting(
    project: &Project,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<
    (
        String,
        std::sync::Arc<super::projects::Loaded>,
        LanguageTag,
        Option<DecisionRule>,
    ),
    Problem,
> {
    let call = request::decode_suggest(content_type, body)?;
    let loaded = project.current();
    let language = label_language(project, loaded.session.model(), &call.options)?;
    let rule = decision_rule(&call.options, &loaded.session)?;
    Ok((call.text, loaded, language, rule))
}

/// Terms listed each way in the web page's explanations (as `suggest --explain` by default).
const EXPLAIN_TERMS: usize = 5;

/// `explain`: `suggest`'s results, each with the descriptor's name, its English label and
/// why it was suggested (as `dtag suggest --explain`); the web page reviews these.
pub(super) fn explain(
    project: &Project,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, Problem> {
    let (text, loaded, language, rule) = decode_for_suggesting(project, content_type, body)?;
    let explained = match rule {
        None => Vec::new(),
        Some(rule) => loaded
            .session
            .explain(&[text.as_str()], &rule, EXPLAIN_TERMS)
            .pop()
            .map(|(explained, _)| explained)
            .unwrap_or_default(),
    };
    let suggestions: Vec<crate::predict::Suggestion> =
        explained.iter().map(|e| e.suggestion.clone()).collect();
    let results = results(&suggestions, language)
        .into_iter()
        .zip(&explained)
        .map(|(result, e)| ExplainedResult {
            result,
            descriptor: &e.suggestion.descriptor,
            label_en: e.suggestion.label_en.as_deref(),
            explanation: &e.explanation,
        })
        .collect();
    Ok(to_json(&ExplainedResults { results }))
}

/// `complete`: the descriptors whose labels match what was typed, best first.
pub(super) fn complete(project: &Project, call: &CompleteCall) -> Result<Vec<u8>, Problem> {
    let loaded = project.current();
    let options = SuggestOptions {
        language: call.language,
        ..SuggestOptions::default()
    };
    let language = label_language(project, loaded.session.model(), &options)?;
    let results = loaded
        .completion()
        .complete(&call.query, call.limit, language.as_str());
    Ok(to_json(&Completions { results }))
}

/// `extract-text`: the text of an uploaded file, a Word document's body or a UTF-8 text, at
/// most `max_text_bytes` long (the body limit: the text must fit in a suggest request).
pub(super) fn extract_text(
    name: &str,
    body: &[u8],
    max_text_bytes: usize,
) -> Result<Vec<u8>, Problem> {
    let text = if crate::formats::docx::is_word_document(name, body) {
        crate::formats::docx::extract_text(name, body, max_text_bytes)
            .map_err(|e| Problem::bad_request(e.to_string()))?
    } else {
        let bytes = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        std::str::from_utf8(bytes)
            .map_err(|e| {
                Problem::bad_request(format!(
                    "{name}: line {} is not valid UTF-8 (a text file must be UTF-8)",
                    crate::io_guard::line_of(bytes, e.valid_up_to())
                ))
            })?
            .to_string()
    };
    Ok(to_json(&ExtractedText { name, text: &text }))
}

/// `detect-language`: the JSON answer for a JSON body.
pub(super) fn detect_language(content_type: Option<&str>, body: &[u8]) -> Result<Vec<u8>, Problem> {
    let call = request::decode_detect_language(content_type, body)?;
    Ok(to_json(&language::detect(&call)?))
}

/// The language of the labels: the one asked for, which must be one the project labels in
/// (its own, and English and Chinese with a thesaurus), else the project's.
pub(super) fn label_language(
    project: &Project,
    model: &crate::model::Model,
    options: &SuggestOptions,
) -> Result<LanguageTag, Problem> {
    let Some(language) = options.language else {
        return Ok(project.language);
    };
    let supported = project.label_languages(model);
    if supported.iter().any(|l| l == language.as_str()) {
        Ok(language)
    } else {
        Err(Problem::bad_request(format!(
            "language \"{}\" not supported by vocabulary (it has {})",
            language.as_str(),
            supported
                .iter()
                .map(|l| format!("\"{l}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// The decision of a request ([`Session::rule`]) with Annif's meaning of `threshold` (a
/// filter); `None` means "no results" (`limit=0`).
pub(super) fn decision_rule(
    options: &SuggestOptions,
    session: &Session,
) -> Result<Option<DecisionRule>, Problem> {
    session
        .rule(&DecisionRequest {
            limit: options.limit,
            threshold: options.threshold,
            min_score: 0.0,
            threshold_means: AskedThreshold::Filter,
        })
        .map_err(|e| Problem::bad_request(e.to_string()))
}

/// Runs CPU-bound work on rayon's pool and waits for it without blocking the runtime.
pub(super) async fn off_runtime<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Problem> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        // A panic must not abort the server (rayon aborts on panics in spawned jobs).
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        let _ = done_tx.send(outcome);
    });
    match done_rx.await {
        Ok(Ok(value)) => Ok(value),
        _ => Err(Problem::internal("scoring the text failed unexpectedly")),
    }
}
