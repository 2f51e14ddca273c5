//! `dtag serve`: suggestions over HTTP, speaking Annif's REST API (`/v1`), plus a web page.
//!
//! Each loaded model is an Annif project. The server is HTTP/1.1 on hyper with a small tokio
//! runtime; models are scored on rayon's pool, never on the async threads. Untrusted input is
//! bounded everywhere: header read and body read timeouts, a body size limit (413), a cap on
//! connections and on requests in flight (503 when saturated), and strict decoding
//! ([`request`]) that answers every malformed request with a 4xx `application/problem+json`.
//! SIGTERM or SIGINT stops accepting, lets requests in progress finish, and exits.

pub mod problem;
pub mod projects;
pub mod request;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};
use crate::suggest::{DecisionRule, Suggestion};
use problem::{Problem, PROBLEM_JSON};
use projects::{descriptor_uri, Project};
use request::{LanguageTag, Route, SuggestOptions};

/// The web page, with its script and style inline so it needs nothing from elsewhere.
const PAGE_HTML: &str = include_str!("page.html");

/// Server settings, checked by [`ServeParams::check`] before anything is loaded.
#[derive(Debug, Clone)]
pub struct ServeParams {
    /// `(project id, model file)` pairs.
    pub models: Vec<(String, PathBuf)>,
    pub bind: SocketAddr,
    /// Language of the documents and labels, reported in project descriptions.
    pub language: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Requests handled at once; more get 503.
    pub max_in_flight: usize,
    /// Open connections at once; more get 503 and are closed.
    pub max_connections: usize,
    /// Time allowed to send the request headers, and separately the body.
    pub request_timeout: Duration,
    /// How long shutdown waits for requests in progress.
    pub shutdown_grace: Duration,
}

impl Default for ServeParams {
    fn default() -> Self {
        ServeParams {
            models: Vec::new(),
            bind: SocketAddr::from(([127, 0, 0, 1], 5000)),
            language: "zh".into(),
            max_body_bytes: 4 << 20,
            max_in_flight: 64,
            max_connections: 256,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Validated [`ServeParams`].
#[derive(Debug, Clone)]
pub struct ValidServeParams {
    params: ServeParams,
    language: LanguageTag,
}

impl ServeParams {
    pub fn check(self) -> Result<ValidServeParams> {
        if self.models.is_empty() {
            return Err(Error::param("model", "give at least one NAME=FILE"));
        }
        for (i, (id, _)) in self.models.iter().enumerate() {
            projects::check_project_id(id)?;
            if self.models[..i].iter().any(|(other, _)| other == id) {
                return Err(Error::param(
                    "model",
                    format!("project name `{id}` is given twice"),
                ));
            }
        }
        let language = LanguageTag::parse(&self.language).ok_or_else(|| {
            Error::param("language", "must be a language code such as `zh` or `en`")
        })?;
        if self.max_body_bytes < 1024 {
            return Err(Error::param("max_body_bytes", "must be at least 1024"));
        }
        if self.max_in_flight == 0 || self.max_in_flight > 1 << 16 {
            return Err(Error::param("max_in_flight", "must be in 1..=65536"));
        }
        if self.max_connections == 0 || self.max_connections > 1 << 16 {
            return Err(Error::param("max_connections", "must be in 1..=65536"));
        }
        if self.request_timeout.is_zero() {
            return Err(Error::param("request_timeout", "must be positive"));
        }
        Ok(ValidServeParams {
            params: self,
            language,
        })
    }
}

/// Parses a `NAME=FILE` model argument.
pub fn parse_model_spec(spec: &str) -> std::result::Result<(String, PathBuf), String> {
    match spec.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => {
            projects::check_project_id(name).map_err(|e| e.to_string())?;
            Ok((name.to_string(), PathBuf::from(file)))
        }
        _ => Err(format!("`{spec}` is not NAME=FILE")),
    }
}

/// Shared state of the running server.
struct App {
    projects: Vec<Project>,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    max_body_bytes: usize,
    request_timeout: Duration,
    served: AtomicU64,
    refused: AtomicU64,
}

impl App {
    fn project(&self, id: &str) -> Result<&Project, Problem> {
        self.projects
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| Problem::project_not_found(id))
    }
}

impl ValidServeParams {
    /// Loads the models, binds, and serves until SIGTERM or SIGINT. `on_ready` gets the bound
    /// address (useful with port 0) once the server accepts connections.
    pub fn run(self, on_ready: impl FnOnce(SocketAddr)) -> Result<()> {
        let p = &self.params;
        let mut loaded = Vec::with_capacity(p.models.len());
        for (id, path) in &p.models {
            loaded.push(Project::load(id, path, self.language)?);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dtag-serve-io")
            .enable_all()
            .build()
            .map_err(|e| Error::Server(format!("cannot start the async runtime: {e}")))?;
        let app = Arc::new(App {
            projects: loaded,
            in_flight: Arc::new(Semaphore::new(p.max_in_flight)),
            max_in_flight: p.max_in_flight,
            max_body_bytes: p.max_body_bytes,
            request_timeout: p.request_timeout,
            served: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        runtime.block_on(serve(app, self.params, on_ready))
    }
}

async fn serve(
    app: Arc<App>,
    params: ServeParams,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Installed before the server is announced, so a SIGTERM sent right after is handled.
    let signal_error = |e: std::io::Error| Error::Server(format!("cannot watch signals: {e}"));
    let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;

    let listener = TcpListener::bind(params.bind)
        .await
        .map_err(|e| Error::Server(format!("cannot listen on {}: {e}", params.bind)))?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::Server(format!("cannot read the bound address: {e}")))?;
    on_ready(address);

    let connections = Arc::new(Semaphore::new(params.max_connections));
    let (closing_tx, closing_rx) = watch::channel(false);
    let signal_name = loop {
        tokio::select! {
            _ = terminate.recv() => break "SIGTERM",
            _ = interrupt.recv() => break "SIGINT",
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: pause instead of spinning.
                        eprintln!("dtag serve: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                match connections.clone().try_acquire_owned() {
                    Ok(permit) => {
                        tokio::spawn(serve_connection(
                            stream,
                            app.clone(),
                            params.request_timeout,
                            closing_rx.clone(),
                            permit,
                        ));
                    }
                    Err(_) => {
                        app.refused.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(refuse_connection(stream));
                    }
                }
            }
        }
    };
    drop(listener);
    eprintln!("dtag serve: {signal_name} received, finishing requests in progress");
    let _ = closing_tx.send(true);
    let all = params.max_connections as u32;
    let drained = tokio::time::timeout(params.shutdown_grace, connections.acquire_many(all)).await;
    if drained.is_err() {
        eprintln!(
            "dtag serve: {} connection(s) still open after {:?}; closing them",
            all as usize - connections.available_permits(),
            params.shutdown_grace
        );
    }
    eprintln!(
        "dtag serve: stopped after {} requests ({} refused at capacity)",
        app.served.load(Ordering::Relaxed),
        app.refused.load(Ordering::Relaxed)
    );
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    app: Arc<App>,
    header_timeout: Duration,
    mut closing: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request| handle(app.clone(), request));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 << 10);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = closing.wait_for(|closing| *closing) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// Answers a connection over the limit with a 503 and closes it.
async fn refuse_connection(mut stream: TcpStream) {
    let body = Problem::unavailable("too many open connections; retry later").to_json();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {PROBLEM_JSON}\r\n\
content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

type HttpResponse = Response<Full<Bytes>>;

async fn handle(app: Arc<App>, request: Request<Incoming>) -> Result<HttpResponse, Infallible> {
    let response = match respond(&app, request).await {
        Ok(response) => response,
        Err(problem) => {
            if problem.status >= 500 {
                eprintln!("dtag serve: {} {}", problem.status, problem.detail);
            }
            problem_response(&problem)
        }
    };
    app.served.fetch_add(1, Ordering::Relaxed);
    Ok(response)
}

async fn respond(app: &App, request: Request<Incoming>) -> Result<HttpResponse, Problem> {
    let route = Route::parse(request.method().as_str(), request.uri().path())?;
    if route == Route::Health {
        // Outside the in-flight limit: a saturated server is still alive.
        return Ok(json_response(&Health {
            status: "ok",
            projects: app.projects.len(),
            in_flight: app.in_flight_now(),
            requests_served: app.served.load(Ordering::Relaxed),
        }));
    }
    let _permit = app.in_flight.clone().try_acquire_owned().map_err(|_| {
        Problem::unavailable("the server is handling as many requests as it can; retry later")
    })?;
    if let Some(id) = route.project_id() {
        app.project(id)?;
    }
    match route {
        Route::Page => Ok(page_response()),
        Route::Health => unreachable!("answered above"),
        Route::ApiInfo => Ok(json_response(&ApiInfo {
            title: "dtag (Annif-compatible REST API)",
            version: env!("CARGO_PKG_VERSION"),
        })),
        Route::ListProjects => Ok(json_response(&ProjectList {
            projects: app.projects.iter().map(Project::describe).collect(),
        })),
        Route::ShowProject(id) => Ok(json_response(&app.project(&id)?.describe())),
        Route::Suggest(id) => {
            let project = app.project(&id)?;
            let content_type = header_text(&request, CONTENT_TYPE)?;
            let body =
                read_body(request.into_body(), app.max_body_bytes, app.request_timeout).await?;
            let call = request::decode_suggest(content_type.as_deref(), &body)?;
            let rule = decision_rule(project, &call.options)?;
            let suggester = project.suggester.clone();
            let suggestions = match rule {
                None => Vec::new(),
                Some(rule) => off_runtime(move || suggester.suggest(&call.text, &rule)).await?,
            };
            Ok(json_response(&SuggestionResults {
                results: results(&suggestions),
            }))
        }
        Route::SuggestBatch(id) => {
            let project = app.project(&id)?;
            let content_type = header_text(&request, CONTENT_TYPE)?;
            let query = request.uri().query().map(str::to_string);
            let body =
                read_body(request.into_body(), app.max_body_bytes, app.request_timeout).await?;
            let call = request::decode_batch(query.as_deref(), content_type.as_deref(), &body)?;
            let rule = decision_rule(project, &call.options)?;
            let suggester = project.suggester.clone();
            let documents = call.documents;
            let (documents, per_document) = match rule {
                None => {
                    let empty = vec![Vec::new(); documents.len()];
                    (documents, empty)
                }
                Some(rule) => {
                    off_runtime(move || {
                        let texts: Vec<&str> = documents.iter().map(|d| d.text.as_str()).collect();
                        let suggestions = suggester.suggest_batch(&texts, &rule);
                        (documents, suggestions)
                    })
                    .await?
                }
            };
            let batch: Vec<BatchResult> = documents
                .iter()
                .zip(&per_document)
                .map(|(document, suggestions)| BatchResult {
                    results: results(suggestions),
                    document_id: document.document_id.as_deref(),
                })
                .collect();
            Ok(json_response(&batch))
        }
    }
}

impl App {
    /// Requests holding an in-flight permit (the healthz request itself holds none).
    fn in_flight_now(&self) -> usize {
        self.max_in_flight - self.in_flight.available_permits()
    }
}

/// Annif's filter as a [`DecisionRule`]: at most `limit` results with score ≥ `threshold`, and
/// none at all when nothing reaches the threshold. `None` means "no results" (`limit=0`).
fn decision_rule(
    project: &Project,
    options: &SuggestOptions,
) -> Result<Option<DecisionRule>, Problem> {
    if let Some(language) = options.language {
        if language != project.language {
            return Err(Problem::bad_request(format!(
                "language \"{}\" not supported by vocabulary (it has \"{}\")",
                language.as_str(),
                project.language.as_str()
            )));
        }
    }
    if options.limit == 0 {
        return Ok(None);
    }
    let rule = DecisionRule {
        limit: options.limit,
        threshold: options.threshold,
        at_least_one: false,
        // Annif clients send an explicit threshold (0 by default): it is a hard filter.
        use_model_thresholds: false,
        min_score: 0.0,
    }
    .check()
    .map_err(|e| Problem::bad_request(e.to_string()))?;
    Ok(Some(rule))
}

/// Runs CPU-bound scoring on rayon's pool and waits for it without blocking the runtime.
async fn off_runtime<T: Send + 'static>(
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

/// Reads the whole body, refusing more than `limit` bytes and bodies slower than `timeout`.
async fn read_body(body: Incoming, limit: usize, timeout: Duration) -> Result<Bytes, Problem> {
    if body.size_hint().lower() > limit as u64 {
        return Err(Problem::payload_too_large(limit));
    }
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(Problem::request_timeout(format!(
            "the request body did not arrive within {timeout:?}"
        ))),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Problem::payload_too_large(limit))
        }
        Ok(Err(e)) => Err(Problem::bad_request(format!(
            "cannot read the request body: {e}"
        ))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

fn header_text(
    request: &Request<Incoming>,
    name: hyper::header::HeaderName,
) -> Result<Option<String>, Problem> {
    match request.headers().get(&name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| Some(v.to_string()))
            .map_err(|_| Problem::bad_request(format!("header {name} is not visible ASCII"))),
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    projects: usize,
    in_flight: usize,
    /// Requests answered since start (of any kind, errors included).
    requests_served: u64,
}

#[derive(Serialize)]
struct ApiInfo {
    title: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct ProjectList<'a> {
    projects: Vec<projects::ProjectInfo<'a>>,
}

/// One suggested subject, as Annif returns it.
#[derive(Serialize)]
struct SuggestionResult<'a> {
    uri: String,
    label: &'a str,
    notation: Option<&'a str>,
    score: f32,
}

#[derive(Serialize)]
struct SuggestionResults<'a> {
    results: Vec<SuggestionResult<'a>>,
}

#[derive(Serialize)]
struct BatchResult<'a> {
    results: Vec<SuggestionResult<'a>>,
    document_id: Option<&'a str>,
}

fn results(suggestions: &[Suggestion]) -> Vec<SuggestionResult<'_>> {
    suggestions
        .iter()
        .map(|s| SuggestionResult {
            uri: descriptor_uri(&s.descriptor),
            label: &s.descriptor,
            notation: None,
            score: s.score,
        })
        .collect()
}

fn json_response(value: &impl Serialize) -> HttpResponse {
    let body = serde_json::to_vec(value).expect("response types serialise");
    with_body(StatusCode::OK, "application/json", body)
}

fn page_response() -> HttpResponse {
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

fn problem_response(problem: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = with_body(status, PROBLEM_JSON, problem.to_json());
    if let Some(allow) = problem.allow {
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn with_body(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> HttpResponse {
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
