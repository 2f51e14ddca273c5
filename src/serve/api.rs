//! The API's JSON shapes (Annif's), and the HTTP responses that carry them.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::problem::{Problem, PROBLEM_JSON};
use super::projects::{self, uri_and_label};
use super::request::LanguageTag;
use crate::predict::Suggestion;

/// The web page, with its script and style inline so it needs nothing from elsewhere.
pub(super) const PAGE_HTML: &str = include_str!("page.html");

pub(super) type HttpResponse = Response<Full<Bytes>>;

#[derive(Serialize)]
pub(super) struct Health {
    pub(super) status: &'static str,
    pub(super) projects: usize,
    pub(super) in_flight: usize,
    /// Requests whose body is being received (not yet in flight).
    pub(super) receiving: usize,
    /// Open connections, this one included.
    pub(super) connections: usize,
    /// Requests answered since start (of any kind, errors included).
    pub(super) requests_served: u64,
    /// `POST …/learn` is allowed (`--learn`).
    pub(super) learning: bool,
    /// Learn requests waiting for (or in) the learners.
    pub(super) learn_queued: u64,
    /// Documents learned since start, over all projects.
    pub(super) learned_documents: u64,
    /// What becomes of an update the held-out check finds worse.
    pub(super) learn_guard: &'static str,
    /// Learned documents are appended to a learning log (`--learn-log`).
    pub(super) learn_log: bool,
    /// Updates kept out of the models by the held-out check since start.
    pub(super) updates_kept_out: u64,
    /// Times a model file was read again after a replacement or SIGHUP.
    pub(super) model_reloads: u64,
}

#[derive(Serialize)]
pub(super) struct ApiInfo {
    pub(super) title: &'static str,
    pub(super) version: &'static str,
}

#[derive(Serialize)]
pub(super) struct ProjectList {
    pub(super) projects: Vec<projects::ProjectInfo>,
}

#[derive(Serialize)]
pub(super) struct VocabList {
    pub(super) vocabs: Vec<projects::Vocabulary>,
}

/// One suggested subject, as Annif returns it.
#[derive(Serialize)]
pub(super) struct SuggestionResult {
    pub(super) uri: String,
    pub(super) label: String,
    pub(super) notation: Option<String>,
    pub(super) score: f32,
}

#[derive(Serialize)]
pub(super) struct SuggestionResults {
    pub(super) results: Vec<SuggestionResult>,
}

#[derive(Serialize)]
pub(super) struct BatchResult<'a> {
    pub(super) results: Vec<SuggestionResult>,
    pub(super) document_id: Option<&'a str>,
}

/// One suggestion as the web page reviews it: the Annif result, the descriptor's name and
/// English label beside the label in the asked language, and why it was suggested.
#[derive(Serialize)]
pub(super) struct ExplainedResult<'a> {
    #[serde(flatten)]
    pub(super) result: SuggestionResult,
    pub(super) descriptor: &'a str,
    pub(super) label_en: Option<&'a str>,
    pub(super) explanation: &'a crate::predict::explain::Explanation,
}

#[derive(Serialize)]
pub(super) struct ExplainedResults<'a> {
    pub(super) results: Vec<ExplainedResult<'a>>,
}

#[derive(Serialize)]
pub(super) struct Completions {
    pub(super) results: Vec<super::complete::Completion>,
}

#[derive(Serialize)]
pub(super) struct ExtractedText<'a> {
    pub(super) name: &'a str,
    pub(super) text: &'a str,
}

pub(super) fn results(suggestions: &[Suggestion], language: LanguageTag) -> Vec<SuggestionResult> {
    suggestions
        .iter()
        .map(|s| {
            let (uri, label) = uri_and_label(s, language.as_str());
            SuggestionResult {
                uri,
                label,
                notation: None,
                score: s.score,
            }
        })
        .collect()
}

pub(super) fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("response types serialise")
}

pub(super) fn json_response(value: &impl Serialize) -> HttpResponse {
    with_body(StatusCode::OK, "application/json", to_json(value))
}

/// `204 No Content`: what `learn` answers.
pub(super) fn no_content() -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

pub(super) fn page_response() -> HttpResponse {
    let mut response = with_body(StatusCode::OK, "text/html; charset=utf-8", PAGE_HTML.into());
    // The page talks to this server only and loads nothing from anywhere.
    response.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    response
}

pub(super) fn problem_response(problem: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = with_body(status, PROBLEM_JSON, problem.to_json());
    if let Some(allow) = problem.allow {
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
    }
    if let Some(challenge) = problem.challenge {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

pub(super) fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}
