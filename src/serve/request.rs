//! Decoding HTTP requests into API calls: routing, form and query strings, JSON batches.
//!
//! Everything here is pure (bytes in, [`ApiCall`] or [`Problem`] out) so the decoder can be
//! fuzzed and unit-tested without a socket. It is strict on purpose: a malformed percent
//! escape, text that is not UTF-8, a repeated or unknown field, or a number out of range is a
//! 4xx problem naming the field, never a silently repaired value.

use serde::Deserialize;

use super::problem::Problem;

/// Annif's limit on documents per `suggest-batch` call.
pub const MAX_BATCH_DOCUMENTS: usize = 32;
/// Annif's default number of results.
pub const DEFAULT_LIMIT: usize = 10;
/// Annif's limit on candidate languages per `detect-language` call.
pub const MAX_CANDIDATE_LANGUAGES: usize = 5;

/// Where a request goes, decided from its method and path alone (before the body is read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: the web page.
    Page,
    /// `GET /healthz`.
    Health,
    /// `GET /v1/`: API information.
    ApiInfo,
    /// `GET /v1/projects`.
    ListProjects,
    /// `GET /v1/vocabs`.
    ListVocabs,
    /// `POST /v1/detect-language`.
    DetectLanguage,
    /// `GET /v1/projects/{id}`.
    ShowProject(String),
    /// `POST /v1/projects/{id}/suggest`.
    Suggest(String),
    /// `POST /v1/projects/{id}/suggest-batch`.
    SuggestBatch(String),
    /// `POST /v1/projects/{id}/learn`.
    Learn(String),
    /// `GET /v1/projects/{id}/complete?q=…`: descriptors whose labels match (dtag's own, for
    /// the web page).
    Complete(String),
    /// `POST /v1/projects/{id}/explain`: `suggest` with each result's labels and why it was
    /// suggested (dtag's own, for the web page).
    Explain(String),
    /// `POST /v1/extract-text?name=FILE`: the text of an uploaded `.docx` or `.txt` (dtag's
    /// own, for the web page).
    ExtractText,
}

impl Route {
    /// Routes a request; `path` is the raw (still percent-encoded) path without the query.
    pub fn parse(method: &str, path: &str) -> Result<Route, Problem> {
        let (route, allowed) = match path {
            "/" => (Some(Route::Page), "GET, HEAD"),
            "/healthz" => (Some(Route::Health), "GET, HEAD"),
            "/v1" | "/v1/" => (Some(Route::ApiInfo), "GET, HEAD"),
            "/v1/projects" => (Some(Route::ListProjects), "GET, HEAD"),
            "/v1/vocabs" => (Some(Route::ListVocabs), "GET, HEAD"),
            "/v1/detect-language" => (Some(Route::DetectLanguage), "POST"),
            "/v1/extract-text" => (Some(Route::ExtractText), "POST"),
            _ => match path.strip_prefix("/v1/projects/") {
                None => (None, ""),
                Some(rest) => {
                    let (id, action) = match rest.split_once('/') {
                        Some((id, action)) => (id, Some(action)),
                        None => (rest, None),
                    };
                    if id.is_empty() {
                        (None, "")
                    } else {
                        let id = percent_decode(id, false)
                            .map_err(|e| Problem::bad_request(format!("project id: {e}")))?;
                        match action {
                            None => (Some(Route::ShowProject(id)), "GET, HEAD"),
                            Some("suggest") => (Some(Route::Suggest(id)), "POST"),
                            Some("suggest-batch") => (Some(Route::SuggestBatch(id)), "POST"),
                            Some("learn") => (Some(Route::Learn(id)), "POST"),
                            Some("complete") => (Some(Route::Complete(id)), "GET, HEAD"),
                            Some("explain") => (Some(Route::Explain(id)), "POST"),
                            Some(_) => (None, ""),
                        }
                    }
                }
            },
        };
        let Some(route) = route else {
            return Err(Problem::not_found(format!("no such resource: {path}")));
        };
        let method_ok = match allowed {
            "POST" => method == "POST",
            _ => method == "GET" || method == "HEAD",
        };
        if method_ok {
            Ok(route)
        } else {
            Err(Problem::method_not_allowed(method, allowed))
        }
    }

    /// The project a route names, if any.
    pub fn project_id(&self) -> Option<&str> {
        match self {
            Route::ShowProject(id)
            | Route::Suggest(id)
            | Route::SuggestBatch(id)
            | Route::Learn(id)
            | Route::Complete(id)
            | Route::Explain(id) => Some(id),
            _ => None,
        }
    }

    /// Whether the route reads a request body.
    pub fn has_body(&self) -> bool {
        matches!(
            self,
            Route::Suggest(_)
                | Route::SuggestBatch(_)
                | Route::Learn(_)
                | Route::DetectLanguage
                | Route::Explain(_)
                | Route::ExtractText
        )
    }
}

/// How many results to return and the lowest score to return (by default: nothing set).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SuggestOptions {
    /// At most this many results, when the caller set it; otherwise the project's limit, else
    /// [`DEFAULT_LIMIT`].
    pub limit: Option<usize>,
    /// The lowest score to return, when the caller set one; otherwise the model's tuned
    /// per-descriptor thresholds decide, as `dtag suggest` decides by default.
    pub threshold: Option<f32>,
    /// Language of the labels, when the caller asked for one.
    pub language: Option<LanguageTag>,
}

/// A short language code (BCP 47 primary tag, at most 8 ASCII letters), kept inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanguageTag {
    bytes: [u8; 8],
    len: u8,
}

impl LanguageTag {
    pub fn parse(text: &str) -> Option<LanguageTag> {
        if text.is_empty() || text.len() > 8 || !text.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        let mut bytes = [0u8; 8];
        bytes[..text.len()].copy_from_slice(text.to_ascii_lowercase().as_bytes());
        Some(LanguageTag {
            bytes,
            len: text.len() as u8,
        })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("ASCII letters")
    }
}

/// One document of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchDocument {
    pub text: String,
    pub document_id: Option<String>,
}

/// A fully decoded `suggest` call.
#[derive(Debug, Clone, PartialEq)]
pub struct SuggestCall {
    pub text: String,
    pub options: SuggestOptions,
}

/// A fully decoded `suggest-batch` call.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchCall {
    pub documents: Vec<BatchDocument>,
    pub options: SuggestOptions,
}

/// Decodes the form body of `suggest` (`text`, `limit`, `threshold`, `language`, and
/// `metadata_*` fields, which Annif allows and dtag ignores).
pub fn decode_suggest(content_type: Option<&str>, body: &[u8]) -> Result<SuggestCall, Problem> {
    require_media_type(content_type, "application/x-www-form-urlencoded")?;
    let fields = decode_form(body).map_err(|e| Problem::bad_request(format!("form body: {e}")))?;
    let mut text = None;
    let mut options = SuggestOptions::default();
    let mut seen = Seen::default();
    for (name, value) in fields {
        match name.as_str() {
            "text" => {
                seen.once("text")?;
                text = Some(value);
            }
            "limit" | "threshold" | "language" => {
                seen.once(field_name(&name))?;
                options.set(&name, &value)?;
            }
            _ if name.starts_with("metadata_") => {}
            _ => {
                return Err(Problem::bad_request(format!(
                "unknown form field `{}` (expected text, limit, threshold, language, metadata_*)",
                truncate_for_message(&name)
            )))
            }
        }
    }
    let text = text.ok_or_else(|| Problem::bad_request("missing form field `text`"))?;
    Ok(SuggestCall { text, options })
}

/// Decodes `suggest-batch`: options from the query string, documents from the JSON body
/// `{"documents": [{"text": …, "document_id": …, "metadata": {…}}, …]}`.
pub fn decode_batch(
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<BatchCall, Problem> {
    let options = decode_query_options(query)?;
    require_media_type(content_type, "application/json")?;
    let parsed: BatchBody = serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("JSON body: {e}")))?;
    if parsed.documents.len() > MAX_BATCH_DOCUMENTS {
        return Err(Problem::bad_request(format!(
            "{} documents in one batch; at most {MAX_BATCH_DOCUMENTS} are allowed",
            parsed.documents.len()
        )));
    }
    let documents = parsed
        .documents
        .into_iter()
        .map(|d| BatchDocument {
            text: d.text,
            document_id: d.document_id,
        })
        .collect();
    Ok(BatchCall { documents, options })
}

/// Decodes `limit`, `threshold` and `language` from a query string (other names are refused).
pub fn decode_query_options(query: Option<&str>) -> Result<SuggestOptions, Problem> {
    let mut options = SuggestOptions::default();
    let Some(query) = query else {
        return Ok(options);
    };
    let fields = decode_form(query.as_bytes())
        .map_err(|e| Problem::bad_request(format!("query string: {e}")))?;
    let mut seen = Seen::default();
    for (name, value) in fields {
        match name.as_str() {
            "limit" | "threshold" | "language" => {
                seen.once(field_name(&name))?;
                options.set(&name, &value)?;
            }
            _ => {
                return Err(Problem::bad_request(format!(
                    "unknown query parameter `{}` (expected limit, threshold, language)",
                    truncate_for_message(&name)
                )))
            }
        }
    }
    Ok(options)
}

/// Decodes every part of a request the way the server does, for fuzzing and tests: the route,
/// then the body of the routes that have one.
pub fn decode_request(
    method: &str,
    path: &str,
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Route, Problem> {
    let route = Route::parse(method, path)?;
    match &route {
        Route::Suggest(_) | Route::Explain(_) => {
            decode_suggest(content_type, body)?;
        }
        Route::Complete(_) => {
            decode_complete(query)?;
        }
        Route::ExtractText => {
            decode_extract(query)?;
        }
        Route::SuggestBatch(_) => {
            decode_batch(query, content_type, body)?;
        }
        Route::Learn(_) => {
            decode_learn(content_type, body)?;
        }
        Route::DetectLanguage => {
            decode_detect_language(content_type, body)?;
        }
        _ => {}
    }
    Ok(route)
}

/// A decoded `complete` call.
#[derive(Debug, Clone, PartialEq)]
pub struct CompleteCall {
    /// What was typed (at most [`super::complete::MAX_QUERY_CHARS`] characters).
    pub query: String,
    /// At most this many completions (at most [`super::complete::MAX_COMPLETIONS`]).
    pub limit: usize,
    /// Language of the labels, when asked for.
    pub language: Option<LanguageTag>,
}

/// Decodes the query string of `complete`: `q` (required), `limit`, `language`.
pub fn decode_complete(query: Option<&str>) -> Result<CompleteCall, Problem> {
    use super::complete::{DEFAULT_COMPLETIONS, MAX_COMPLETIONS, MAX_QUERY_CHARS};
    let fields = decode_form(query.unwrap_or("").as_bytes())
        .map_err(|e| Problem::bad_request(format!("query string: {e}")))?;
    let mut seen = Seen::default();
    let mut call = CompleteCall {
        query: String::new(),
        limit: DEFAULT_COMPLETIONS,
        language: None,
    };
    let mut typed = None;
    for (name, value) in fields {
        match name.as_str() {
            "q" => {
                seen.once("q")?;
                if value.chars().count() > MAX_QUERY_CHARS {
                    return Err(Problem::bad_request(format!(
                        "q is longer than {MAX_QUERY_CHARS} characters"
                    )));
                }
                typed = Some(value);
            }
            "limit" => {
                seen.once("limit")?;
                call.limit = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_COMPLETIONS).contains(n))
                    .ok_or_else(|| {
                        Problem::bad_request(format!(
                            "limit must be an integer from 1 to {MAX_COMPLETIONS}, not `{}`",
                            truncate_for_message(&value)
                        ))
                    })?;
            }
            "language" => {
                seen.once("language")?;
                let mut options = SuggestOptions::default();
                options.set("language", &value)?;
                call.language = options.language;
            }
            _ => {
                return Err(Problem::bad_request(format!(
                    "unknown query parameter `{}` (expected q, limit, language)",
                    truncate_for_message(&name)
                )))
            }
        }
    }
    call.query = typed.ok_or_else(|| Problem::bad_request("missing query parameter `q`"))?;
    Ok(call)
}

/// Decodes the query string of `extract-text`: `name`, the uploaded file's name, whose
/// ending says how to read it (`.docx` or `.txt`) and which errors name.
pub fn decode_extract(query: Option<&str>) -> Result<String, Problem> {
    let fields = decode_form(query.unwrap_or("").as_bytes())
        .map_err(|e| Problem::bad_request(format!("query string: {e}")))?;
    let mut name = None;
    for (key, value) in fields {
        match key.as_str() {
            "name" if name.is_none() => name = Some(value),
            "name" => return Err(Problem::bad_request("field `name` is given twice")),
            _ => {
                return Err(Problem::bad_request(format!(
                    "unknown query parameter `{}` (expected name)",
                    truncate_for_message(&key)
                )))
            }
        }
    }
    let name = name.ok_or_else(|| Problem::bad_request("missing query parameter `name`"))?;
    if name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Problem::bad_request(
            "name must be a file name of at most 255 characters, without control characters",
        ));
    }
    let lower = name.to_lowercase();
    if !(lower.ends_with(".docx") || lower.ends_with(".txt")) {
        return Err(Problem::unsupported_media_type(format!(
            "{}: only Word documents (.docx) and text files (.txt) can be read",
            truncate_for_message(&name)
        )));
    }
    Ok(name)
}

/// A subject of a document to learn from, as Annif's `IndexedDocument` gives it: a URI, a
/// label, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnSubject {
    pub uri: Option<String>,
    pub label: Option<String>,
}

/// A document to learn from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnDocument {
    pub text: String,
    pub subjects: Vec<LearnSubject>,
    /// Subjects the indexer rejected (dtag's `rejected`, beside Annif's fields): kept in the
    /// learning log, not learned.
    pub rejected: Vec<LearnSubject>,
}

/// Decodes the JSON body of `learn`: an array of Annif's `IndexedDocument`s,
/// `[{"text": …, "subjects": [{"uri": …, "label": …}, …]}, …]`. Every document needs a text
/// and at least one subject, every subject a URI or a label, and no URI or label may hold a
/// character a descriptor cannot hold (controls, bidirectional controls): the problem names
/// the document and subject (1-based) instead of learning from a silently repaired document.
pub fn decode_learn(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<LearnDocument>, Problem> {
    require_media_type(content_type, "application/json")?;
    let parsed: Vec<IndexedDocumentJson> = serde_json::from_slice(body).map_err(|e| {
        Problem::bad_request(format!(
            "JSON body: {e} (expected an array of {{\"text\": …, \"subjects\": [{{\"uri\": …, \"label\": …}}]}})"
        ))
    })?;
    let mut documents = Vec::with_capacity(parsed.len());
    for (i, document) in parsed.into_iter().enumerate() {
        let n = i + 1;
        let text = document
            .text
            .ok_or_else(|| Problem::bad_request(format!("document {n} has no `text`")))?;
        let subjects = document
            .subjects
            .ok_or_else(|| Problem::bad_request(format!("document {n} has no `subjects`")))?;
        if subjects.is_empty() {
            return Err(Problem::bad_request(format!(
                "document {n} has an empty `subjects` list; give at least one subject"
            )));
        }
        let checked = check_subjects(n, "subject", subjects)?;
        let rejected =
            check_subjects(n, "rejected subject", document.rejected.unwrap_or_default())?;
        documents.push(LearnDocument {
            text,
            subjects: checked,
            rejected,
        });
    }
    Ok(documents)
}

/// Checks the subjects (or rejected subjects, `what`) of document `n`.
fn check_subjects(
    n: usize,
    what: &str,
    subjects: Vec<SubjectJson>,
) -> Result<Vec<LearnSubject>, Problem> {
    let mut checked = Vec::with_capacity(subjects.len());
    for (j, subject) in subjects.into_iter().enumerate() {
        let at = || format!("document {n}, {what} {}", j + 1);
        let uri = subject
            .uri
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty());
        let label = subject
            .label
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty());
        if uri.is_none() && label.is_none() {
            return Err(Problem::bad_request(format!(
                "{} has neither `uri` nor `label`",
                at()
            )));
        }
        for text in [&uri, &label].into_iter().flatten() {
            if let Some(problem) = crate::corpus::descriptor_problem(text) {
                return Err(Problem::bad_request(format!("{}: {problem}", at())));
            }
        }
        checked.push(LearnSubject { uri, label });
    }
    Ok(checked)
}

/// A decoded `detect-language` call.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectCall {
    pub text: String,
    /// Candidate languages, in the order given, without repeats.
    pub languages: Vec<LanguageTag>,
}

/// Decodes the JSON body of `detect-language`, `{"text": …, "languages": ["en", "fi"]}` (1 to
/// [`MAX_CANDIDATE_LANGUAGES`] candidates, as Annif allows).
pub fn decode_detect_language(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<DetectCall, Problem> {
    require_media_type(content_type, "application/json")?;
    let parsed: DetectBody = serde_json::from_slice(body).map_err(|e| {
        Problem::bad_request(format!(
            "JSON body: {e} (expected {{\"text\": …, \"languages\": [\"en\", …]}})"
        ))
    })?;
    if parsed.languages.is_empty() || parsed.languages.len() > MAX_CANDIDATE_LANGUAGES {
        return Err(Problem::bad_request(format!(
            "give 1 to {MAX_CANDIDATE_LANGUAGES} candidate languages, not {}",
            parsed.languages.len()
        )));
    }
    let mut languages = Vec::with_capacity(parsed.languages.len());
    for code in &parsed.languages {
        let tag = LanguageTag::parse(code.trim()).ok_or_else(|| {
            Problem::bad_request(format!(
                "language must be a language code such as `en`, not `{}`",
                truncate_for_message(code)
            ))
        })?;
        if !languages.contains(&tag) {
            languages.push(tag);
        }
    }
    Ok(DetectCall {
        text: parsed.text,
        languages,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectBody {
    text: String,
    languages: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexedDocumentJson {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    subjects: Option<Vec<SubjectJson>>,
    /// dtag's own: subjects the indexer rejected, for the learning log.
    #[serde(default)]
    rejected: Option<Vec<SubjectJson>>,
    /// Accepted for Annif compatibility; dtag models do not use metadata.
    #[serde(default)]
    #[allow(dead_code)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    document_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectJson {
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    label: Option<String>,
    /// Annif's subjects may carry a notation; it does not name the subject.
    #[serde(default)]
    #[allow(dead_code)]
    notation: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    documents: Vec<BatchDocumentJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchDocumentJson {
    text: String,
    #[serde(default)]
    document_id: Option<String>,
    /// Accepted for Annif compatibility; dtag models do not use metadata.
    #[serde(default)]
    #[allow(dead_code)]
    metadata: Option<std::collections::BTreeMap<String, String>>,
}

impl SuggestOptions {
    fn set(&mut self, name: &str, value: &str) -> Result<(), Problem> {
        match name {
            "limit" => {
                self.limit = Some(value.trim().parse::<usize>().map_err(|_| {
                    Problem::bad_request(format!(
                        "limit must be a non-negative integer, not `{}`",
                        truncate_for_message(value)
                    ))
                })?)
            }
            "threshold" => {
                let threshold = value
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|t| (0.0..=1.0).contains(t));
                self.threshold = Some(threshold.ok_or_else(|| {
                    Problem::bad_request(format!(
                        "threshold must be a number in [0, 1], not `{}`",
                        truncate_for_message(value)
                    ))
                })?)
            }
            "language" => {
                self.language = Some(LanguageTag::parse(value.trim()).ok_or_else(|| {
                    Problem::bad_request(format!(
                        "language must be a language code such as `en`, not `{}`",
                        truncate_for_message(value)
                    ))
                })?)
            }
            _ => unreachable!("only called for known option names"),
        }
        Ok(())
    }
}

/// Remembers which fields were given, to refuse repeats.
#[derive(Default)]
struct Seen(Vec<&'static str>);

impl Seen {
    fn once(&mut self, name: &'static str) -> Result<(), Problem> {
        if self.0.contains(&name) {
            return Err(Problem::bad_request(format!(
                "field `{name}` is given twice"
            )));
        }
        self.0.push(name);
        Ok(())
    }
}

fn field_name(name: &str) -> &'static str {
    match name {
        "limit" => "limit",
        "threshold" => "threshold",
        _ => "language",
    }
}

/// Checks the media type of `Content-Type` (parameters other than a UTF-8 charset refused).
fn require_media_type(content_type: Option<&str>, expected: &str) -> Result<(), Problem> {
    let Some(content_type) = content_type else {
        return Err(Problem::unsupported_media_type(format!(
            "missing Content-Type; expected {expected}"
        )));
    };
    let mut parts = content_type.split(';');
    let media_type = parts.next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case(expected) {
        return Err(Problem::unsupported_media_type(format!(
            "Content-Type `{}`; expected {expected}",
            truncate_for_message(content_type)
        )));
    }
    for parameter in parts {
        let (key, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        if key.trim().eq_ignore_ascii_case("charset") {
            let charset = value.trim().trim_matches('"');
            if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("utf8") {
                return Err(Problem::unsupported_media_type(format!(
                    "charset `{}`; only UTF-8 is accepted",
                    truncate_for_message(charset)
                )));
            }
        }
    }
    Ok(())
}

/// Splits an `application/x-www-form-urlencoded` byte string into decoded `(name, value)`
/// pairs. Empty pairs (`a=1&&b=2`) are skipped, as browsers do.
pub fn decode_form(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("not valid UTF-8 (byte {})", e.valid_up_to()))?;
    let mut fields = Vec::new();
    for pair in text.split('&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name, true)?;
        let value = percent_decode(value, true)
            .map_err(|e| format!("field `{}`: {e}", truncate_for_message(&name)))?;
        fields.push((name, value));
    }
    Ok(fields)
}

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`); the result must be UTF-8.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                let high = bytes.get(i + 1).copied().and_then(hex);
                let low = bytes.get(i + 2).copied().and_then(hex);
                match (high, low) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => {
                        return Err(format!(
                            "malformed percent escape at byte {i} (expected % and two hex digits)"
                        ))
                    }
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| {
        format!(
            "decoded text is not valid UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Echoes at most 64 characters of client input in error messages.
fn truncate_for_message(text: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
