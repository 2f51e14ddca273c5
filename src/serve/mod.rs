//! `dtag serve`: suggestions over HTTP, speaking Annif's REST API (`/v1`), plus a web page.
//!
//! Each loaded model is an Annif project. The server is HTTP/1.1 on hyper with a small tokio
//! runtime; bodies are decoded and models scored on rayon's pool, never on the async threads.
//! Untrusted input is bounded everywhere, and so that one client cannot starve the others:
//! header, body and idle timeouts per connection, a body size limit (413) and a budget for all
//! bodies held at once, a cap on connections per client address (429) and in all (503), a cap
//! on requests being worked on (503; a slow upload does not count, as it costs no CPU), and
//! strict decoding ([`request`]) that answers every malformed request with a 4xx
//! `application/problem+json`. Nothing on the request path writes to stderr: refusals are
//! counted and summarised by a log thread ([`log`]). SIGTERM or SIGINT stops accepting, lets
//! requests in progress finish, and exits.
//!
//! Each project's model can change while the server runs ([`live`]): with `--learn`,
//! `POST …/learn` updates it (a worker thread per project learns, writes the model file
//! atomically and swaps the new model in, so suggestions never wait), and a model file
//! replaced on disk, or SIGHUP, makes the worker read it again.
//!
//! Behind a reverse proxy (`--trusted-proxy`, [`proxy`]) a client is the address the proxy
//! forwards, and its requests in progress take its per-client places; with `--learn-tokens`
//! ([`tokens`]) only indexers with a token teach, and the learn handler knows their name
//! ([`LearnCaller`]).

pub mod language;
pub mod limits;
pub mod live;
pub mod log;
pub mod problem;
pub mod projects;
pub mod proxy;
pub mod request;
pub mod tokens;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use self::limits::{Activity, ClientSlot, Clients, Watched, Working};
use self::log::{Log, Logger, Stats};
use crate::error::{Error, Result};
use crate::predict::{DecisionRule, Suggestion};
use live::{LearnSettings, Worker};
use problem::{Problem, PROBLEM_JSON};
pub use projects::ProjectDecision;
use projects::{uri_and_label, Project};
use proxy::TrustedProxies;
use request::{LanguageTag, Route, SuggestOptions};
use tokens::LearnTokens;

/// The web page, with its script and style inline so it needs nothing from elsewhere.
const PAGE_HTML: &str = include_str!("page.html");

/// Server settings, checked by [`ServeParams::check`] before anything is loaded.
#[derive(Debug, Clone)]
pub struct ServeParams {
    /// `(project id, model file)` pairs.
    pub models: Vec<(String, PathBuf)>,
    pub bind: SocketAddr,
    /// Language of the documents and labels of every project, reported in project
    /// descriptions; `None`: each model's own language.
    pub language: Option<String>,
    /// Projects whose language is given (from a projects file); it wins over `language`.
    pub project_languages: std::collections::BTreeMap<String, String>,
    /// Projects whose descriptors a thesaurus file names (a projects file's `thesaurus`), as
    /// `dtag suggest --project` names them.
    pub project_thesauri: std::collections::BTreeMap<String, PathBuf>,
    /// Projects' default limit and threshold (from a projects file), used when a suggestion
    /// request does not set them.
    pub project_decisions: std::collections::BTreeMap<String, ProjectDecision>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Bytes of request bodies held in memory at once, over all requests; a body that would
    /// cross it gets 503.
    pub max_body_memory: usize,
    /// Requests worked on (decoded and scored) at once; more get 503.
    pub max_in_flight: usize,
    /// Open connections at once; more get 503 and are closed.
    pub max_connections: usize,
    /// Open connections of one client address (IPv6: /64 prefix); more get 429 and are closed.
    /// Behind a trusted proxy, requests in progress of one forwarded client; more get 429.
    pub max_connections_per_client: usize,
    /// Reverse proxies whose `X-Forwarded-For` (or `Forwarded`) names the client; from any
    /// other address these headers are ignored.
    pub trusted_proxies: Vec<proxy::Cidr>,
    /// Time allowed for the request headers, from the connection's opening or its previous
    /// response.
    pub header_timeout: Duration,
    /// Time allowed for the whole request body.
    pub body_timeout: Duration,
    /// A connection on which no byte moves for this long, while no request of it is being
    /// received or worked on, is closed.
    pub idle_timeout: Duration,
    /// How long shutdown waits for requests in progress.
    pub shutdown_grace: Duration,
    /// `POST …/learn` updates the models (and their files); otherwise it is refused (403).
    pub learn: bool,
    /// Learn requests waiting at most per project; more get 503.
    pub learn_queue: usize,
    /// The indexers allowed to teach (`NAME TOKEN` lines): learn requests then need
    /// `Authorization: Bearer TOKEN` (else 401). `None`: anyone who can reach the server.
    pub learn_tokens: Option<PathBuf>,
    /// Share of each update's documents held out to check it (`dtag learn --holdout`); 0: no
    /// check. An update the check finds worse is kept out of the model (its documents stay in
    /// the learning log).
    pub learn_holdout: f64,
    /// The learning log (`--learn-log`): every learned document, appended before it is
    /// learned.
    pub learn_log: Option<std::path::PathBuf>,
}

impl Default for ServeParams {
    fn default() -> Self {
        ServeParams {
            models: Vec::new(),
            bind: SocketAddr::from(([127, 0, 0, 1], 5000)),
            language: None,
            project_languages: std::collections::BTreeMap::new(),
            project_thesauri: std::collections::BTreeMap::new(),
            project_decisions: std::collections::BTreeMap::new(),
            max_body_bytes: 4 << 20,
            // Sixteen bodies of the largest size: enough for any batch client, while a flood of
            // large bodies cannot take more than this (plus its decoded copies) of memory.
            max_body_memory: 64 << 20,
            max_in_flight: 64,
            max_connections: 256,
            // An eighth of the connections: one address cannot hold them all, and a proxy or a
            // busy batch client still gets plenty.
            max_connections_per_client: 32,
            trusted_proxies: Vec::new(),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            learn: false,
            learn_queue: 8,
            learn_tokens: None,
            // The same guard as `dtag learn`'s (batches too small to hold out
            // MIN_HOLDOUT_DOCS documents are not checked, which the log says).
            learn_holdout: crate::train::learn::HOLDOUT_SHARE,
            learn_log: None,
        }
    }
}

/// Validated [`ServeParams`].
#[derive(Debug, Clone)]
pub struct ValidServeParams {
    params: ServeParams,
    language: Option<LanguageTag>,
    project_languages: std::collections::BTreeMap<String, LanguageTag>,
    tokens: Option<Arc<LearnTokens>>,
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
        let language = match &self.language {
            None => None,
            Some(code) => Some(LanguageTag::parse(code).ok_or_else(|| {
                Error::param("language", "must be a language code such as `zh` or `en`")
            })?),
        };
        let mut project_languages = std::collections::BTreeMap::new();
        for (id, code) in &self.project_languages {
            let tag = LanguageTag::parse(code).ok_or_else(|| {
                Error::param(
                    "language",
                    format!("project `{id}`: `{code}` is not a language code such as `zh` or `en`"),
                )
            })?;
            project_languages.insert(id.clone(), tag);
        }
        for (id, decision) in &self.project_decisions {
            decision
                .check()
                .map_err(|why| Error::param("config", format!("project `{id}`: {why}")))?;
        }
        if self.max_body_bytes < 1024 {
            return Err(Error::param("max-body-bytes", "must be at least 1024"));
        }
        // Semaphore permits are counted in bytes and taken per chunk.
        if self.max_body_memory < self.max_body_bytes || self.max_body_memory > 1 << 40 {
            return Err(Error::param(
                "max-body-memory",
                "must be at least --max-body-bytes and at most 1 TiB",
            ));
        }
        if self.max_in_flight == 0 || self.max_in_flight > 1 << 16 {
            return Err(Error::param("max-in-flight", "must be in 1..=65536"));
        }
        if self.max_connections == 0 || self.max_connections > 1 << 16 {
            return Err(Error::param("max-connections", "must be in 1..=65536"));
        }
        if self.max_connections_per_client == 0 {
            return Err(Error::param(
                "max-connections-per-client",
                "must be at least 1",
            ));
        }
        if self.learn_queue == 0 || self.learn_queue > 1024 {
            return Err(Error::param("learn-queue", "must be in 1..=1024"));
        }
        if !(0.0..=0.5).contains(&self.learn_holdout) {
            return Err(Error::param("learn-holdout", "must be in [0, 0.5]"));
        }
        if self.learn_tokens.is_some() && !self.learn {
            return Err(Error::param(
                "learn-tokens",
                "only means something with --learn (without it nobody may teach)",
            ));
        }
        let tokens = match &self.learn_tokens {
            Some(path) => Some(Arc::new(LearnTokens::load(path)?)),
            None => None,
        };
        if self.learn {
            for (_, path) in &self.models {
                live::check_writable(path)?;
            }
        }
        if let Some(log) = &self.learn_log {
            if self
                .models
                .iter()
                .any(|(_, m)| crate::io_guard::same_file(m, log))
            {
                return Err(Error::param(
                    "learn-log",
                    format!("{} is a model file", log.display()),
                ));
            }
        }
        for (name, timeout) in [
            ("header-timeout", self.header_timeout),
            ("body-timeout", self.body_timeout),
            ("idle-timeout", self.idle_timeout),
        ] {
            if timeout.is_zero() {
                return Err(Error::param(name, "must be positive"));
            }
        }
        Ok(ValidServeParams {
            params: self,
            language,
            project_languages,
            tokens,
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
    projects: Vec<Arc<Project>>,
    /// One per project, same order: learns and reloads its model.
    workers: Vec<Worker>,
    learn: LearnSettings,
    /// Requests being decoded and scored: the CPU-bound part, so this bounds CPU work and the
    /// memory of decoded texts. A request takes a permit only once its body is in, so clients
    /// that send slowly cannot occupy these.
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    /// Bytes of request bodies held in memory, taken chunk by chunk as they arrive (so a
    /// client holds only what it has actually sent) and given back when the request is done.
    body_memory: Arc<Semaphore>,
    max_body_bytes: usize,
    body_timeout: Duration,
    idle_timeout: Duration,
    /// Requests whose body is being received.
    receiving: AtomicUsize,
    /// Connections (or, behind a trusted proxy, requests) per client.
    clients: Arc<Clients>,
    max_connections_per_client: usize,
    trusted: TrustedProxies,
    /// The indexers allowed to teach, when learning needs a token.
    tokens: Option<Arc<LearnTokens>>,
    /// Open connections (refused ones excluded).
    connections: Arc<Semaphore>,
    max_connections: usize,
    stats: Arc<Stats>,
    log: Logger,
}

impl App {
    fn project(&self, id: &str) -> Result<&Project, Problem> {
        self.projects
            .iter()
            .find(|p| p.id == id)
            .map(|p| &**p)
            .ok_or_else(|| Problem::project_not_found(id))
    }

    /// A 503 at the in-flight limit, counted.
    fn busy(&self) -> Problem {
        Stats::count(&self.stats.refused_in_flight);
        Problem::unavailable("the server is handling as many requests as it can; retry later")
    }
}

/// Refusals, for the accept loop.
struct Gate {
    /// Refusals being written at once; a flood of refused connections beyond it is closed
    /// without an answer, so refusing costs bounded tasks and sockets.
    refusals: Arc<Semaphore>,
}

/// Time a refused connection gets to take its answer.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the log thread may summarise refusals and timeouts.
const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// How long exit waits for stderr to take the last line.
const LOG_PATIENCE: Duration = Duration::from_secs(2);

impl ValidServeParams {
    /// Loads the models, binds, and serves until SIGTERM or SIGINT. `on_ready` gets the bound
    /// address (useful with port 0) once the server accepts connections.
    pub fn run(self, on_ready: impl FnOnce(SocketAddr)) -> Result<()> {
        let p = &self.params;
        let mut loaded = Vec::with_capacity(p.models.len());
        for (id, path) in &p.models {
            let language = self.project_languages.get(id).copied().or(self.language);
            let thesaurus = match p.project_thesauri.get(id) {
                Some(path) => Some(crate::thesaurus::Thesaurus::load(path)?),
                None => None,
            };
            let mut project = Project::load(id, path, language, thesaurus)?;
            if let Some(decision) = p.project_decisions.get(id) {
                project.decision = *decision;
            }
            loaded.push(Arc::new(project));
        }
        release_large_buffers_to_the_system();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dtag-serve-io")
            .enable_all()
            .build()
            .map_err(|e| Error::Server(format!("cannot start the async runtime: {e}")))?;
        let stats = Arc::new(Stats::default());
        let log = Log::start(stats.clone(), LOG_INTERVAL)
            .map_err(|e| Error::Server(format!("cannot start the log thread: {e}")))?;
        let journal = match &p.learn_log {
            Some(path) => Some(Arc::new(std::sync::Mutex::new(
                crate::train::journal::Journal::open(path)?,
            ))),
            None => None,
        };
        let learn = LearnSettings {
            enabled: p.learn,
            queue: p.learn_queue,
            holdout: p.learn_holdout,
            journal,
        };
        let mut workers = Vec::with_capacity(loaded.len());
        for project in &loaded {
            workers.push(
                Worker::start(project.clone(), learn.clone(), log.logger()).map_err(|e| {
                    Error::Server(format!("cannot start the model worker thread: {e}"))
                })?,
            );
        }
        let app = Arc::new(App {
            projects: loaded,
            workers,
            learn,
            in_flight: Arc::new(Semaphore::new(p.max_in_flight)),
            max_in_flight: p.max_in_flight,
            body_memory: Arc::new(Semaphore::new(p.max_body_memory)),
            max_body_bytes: p.max_body_bytes,
            body_timeout: p.body_timeout,
            idle_timeout: p.idle_timeout,
            receiving: AtomicUsize::new(0),
            clients: Clients::new(p.max_connections_per_client),
            max_connections_per_client: p.max_connections_per_client,
            trusted: TrustedProxies(p.trusted_proxies.clone()),
            tokens: self.tokens.clone(),
            connections: Arc::new(Semaphore::new(p.max_connections)),
            max_connections: p.max_connections,
            stats,
            log: log.logger(),
        });
        if p.learn {
            match &app.tokens {
                None => app.log.line(
                    "dtag serve: warning: --learn without --learn-tokens: anyone who can reach \
                     this server can teach its models"
                        .into(),
                ),
                Some(tokens) => app.log.line(format!(
                    "dtag serve: learning needs an indexer's token: {} indexer(s) in {}",
                    tokens.len(),
                    log::clip(&tokens.path().display().to_string())
                )),
            }
        }
        let served = runtime.block_on(serve(app, self.params, on_ready));
        // Tasks still running (connections past the grace period) end here, before the line
        // that counts them is written.
        drop(runtime);
        log.finish(LOG_PATIENCE);
        served
    }
}

/// Makes glibc return large freed buffers (request bodies, decoded texts) to the system.
///
/// glibc serves allocations of at least `M_MMAP_THRESHOLD` with their own mapping, returned
/// on free, but by default it raises that threshold up to 32 MiB each time such a buffer is
/// freed; after that, multi-megabyte bodies come from the heap arenas, whose memory is kept
/// after a burst of large requests (the server stayed near 1 GB RSS). Setting the threshold
/// explicitly turns the adjustment off.
fn release_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const THRESHOLD: libc::c_int = 256 << 10;
        // SAFETY: mallopt only changes allocator tuning; it is called before the server
        // starts its threads.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        }
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
    let mut hangup = signal(SignalKind::hangup()).map_err(signal_error)?;

    let listener = TcpListener::bind(params.bind)
        .await
        .map_err(|e| Error::Server(format!("cannot listen on {}: {e}", params.bind)))?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::Server(format!("cannot read the bound address: {e}")))?;
    on_ready(address);

    let gate = Arc::new(Gate {
        // As many refusals being answered as connections served: refusing costs at most what
        // serving does, and a burst of a full connection limit from one client is answered.
        refusals: Arc::new(Semaphore::new(params.max_connections)),
    });
    let (closing_tx, closing_rx) = watch::channel(false);
    let signal_name = loop {
        tokio::select! {
            _ = terminate.recv() => break "SIGTERM",
            _ = interrupt.recv() => break "SIGINT",
            _ = hangup.recv() => {
                for worker in &app.workers {
                    worker.reload();
                }
                if let Some(tokens) = &app.tokens {
                    // Never the tokens: the count, or why the file was not taken.
                    app.log.line(match tokens.reload() {
                        Ok(n) => format!("dtag serve: learn tokens read again (SIGHUP): {n} indexer(s)"),
                        Err(e) => format!(
                            "dtag serve: learn tokens not read again (SIGHUP), keeping those \
                             read before: {e}"
                        ),
                    });
                }
            }
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: pause instead of spinning.
                        let n = Stats::count(&app.stats.accept_errors);
                        if Stats::worth_a_line(n) {
                            app.log.line(format!("dtag serve: accept failed ({n} so far): {e}"));
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                admit(&app, &gate, stream, peer, &params, &closing_rx);
            }
        }
    };
    drop(listener);
    app.log.line(format!(
        "dtag serve: {signal_name} received, finishing requests in progress"
    ));
    let _ = closing_tx.send(true);
    let all = params.max_connections as u32;
    let drained =
        tokio::time::timeout(params.shutdown_grace, app.connections.acquire_many(all)).await;
    if drained.is_err() {
        app.log.line(format!(
            "dtag serve: {} connection(s) still open after {:?}; closing them",
            app.open_connections(),
            params.shutdown_grace
        ));
    }
    Ok(())
}

/// Serves a new connection, or refuses it when the server or its client has all the
/// connections it may have.
fn admit(
    app: &Arc<App>,
    gate: &Arc<Gate>,
    stream: TcpStream,
    peer: SocketAddr,
    params: &ServeParams,
    closing: &watch::Receiver<bool>,
) {
    // The client's own limit first: a client over it is told to slow down (429) even when
    // the server as a whole is also full. A trusted proxy speaks for many clients: each of
    // its requests is counted against the client it forwards (see `handle`).
    let proxied = app.trusted.trusts(peer.ip());
    let slot = if proxied {
        None
    } else {
        let Some(slot) = app.clients.try_open(peer.ip()) else {
            app.refused_client(peer.ip(), None);
            refuse(
                app,
                gate,
                stream,
                Problem::too_many_connections(params.max_connections_per_client),
            );
            return;
        };
        Some(slot)
    };
    let Ok(permit) = app.connections.clone().try_acquire_owned() else {
        Stats::count(&app.stats.refused_connections);
        refuse(
            app,
            gate,
            stream,
            Problem::unavailable("too many open connections; retry later"),
        );
        return;
    };
    tokio::spawn(serve_connection(
        stream,
        app.clone(),
        params.header_timeout,
        closing.clone(),
        (permit, slot),
        peer.ip(),
    ));
}

async fn serve_connection(
    stream: TcpStream,
    app: Arc<App>,
    header_timeout: Duration,
    mut closing: watch::Receiver<bool>,
    _held: (OwnedSemaphorePermit, Option<ClientSlot>),
    peer: IpAddr,
) {
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let service = {
        let app = app.clone();
        let activity = activity.clone();
        hyper::service::service_fn(move |request| {
            handle(app.clone(), activity.working(), peer, request)
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper's header timeout runs from the moment it starts waiting for a request, so it
    // bounds both slow headers and the wait for the next request on a kept-alive connection.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 << 10);
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    loop {
        let idle_deadline = activity.last() + app.idle_timeout;
        tokio::select! {
            finished = connection.as_mut() => {
                if let Err(e) = finished {
                    if e.is_timeout() {
                        Stats::count(&app.stats.header_timeouts);
                    }
                }
                return;
            }
            _ = closing.wait_for(|closing| *closing) => break,
            _ = tokio::time::sleep_until(idle_deadline) => {
                // Silence while a request is in the handler is bounded there (the body
                // timeout, or the server's own work); silence otherwise (no next request,
                // stalled headers, an answer nobody reads) is the client's, and must not hold
                // a connection slot.
                let idle = !activity.is_working()
                    && activity.last() + app.idle_timeout <= tokio::time::Instant::now();
                if idle {
                    Stats::count(&app.stats.idle_closed);
                    return;
                }
            }
        }
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// Answers a refused connection with `problem` and closes it; with too many refusals already
/// in progress, closes it at once.
fn refuse(app: &App, gate: &Gate, stream: TcpStream, problem: Problem) {
    let Ok(permit) = gate.refusals.clone().try_acquire_owned() else {
        Stats::count(&app.stats.refused_unanswered);
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(REFUSAL_TIMEOUT, write_refusal(stream, &problem)).await;
    });
}

async fn write_refusal(mut stream: TcpStream, problem: &Problem) -> std::io::Result<()> {
    let body = problem.to_json();
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {PROBLEM_JSON}\r\n\
content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await?;
    // Closing with the client's request unread would reset the connection and could destroy
    // the answer before the client reads it; read what it sent until it closes (bounded by
    // REFUSAL_TIMEOUT) instead.
    let mut sink = [0u8; 4096];
    while stream.read(&mut sink).await? > 0 {}
    Ok(())
}

type HttpResponse = Response<Full<Bytes>>;

async fn handle(
    app: Arc<App>,
    _working: Working,
    peer: IpAddr,
    request: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let client = app.client(peer, &request);
    // Behind a trusted proxy, the forwarded client's requests in progress are what its
    // connections are elsewhere: held until the answer is made.
    let _slot = if client.proxied {
        match app.clients.try_open(client.address) {
            Some(slot) => Some(slot),
            None => {
                app.refused_client(client.address, Some(peer));
                let problem = Problem::too_many_connections(app.max_connections_per_client);
                Stats::count(&app.stats.served);
                return Ok(problem_response(&problem));
            }
        }
    } else {
        None
    };
    let response = match respond(&app, request, &client).await {
        Ok(response) => response,
        Err(problem) => {
            if problem.status >= 500 && problem.status != 503 {
                let n = Stats::count(&app.stats.internal_errors);
                if Stats::worth_a_line(n) {
                    app.log.line(format!(
                        "dtag serve: {} {} ({n} so far)",
                        problem.status, problem.detail
                    ));
                }
            }
            problem_response(&problem)
        }
    };
    Stats::count(&app.stats.served);
    Ok(response)
}

/// Who sent a request: the socket's peer, or behind a trusted proxy the client it forwards.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub address: IpAddr,
    /// The request came through a trusted proxy (`--trusted-proxy`).
    pub proxied: bool,
}

/// Who asks to learn, for the learning log: the client (behind a trusted proxy, the one it
/// forwards) and the name of the indexer whose token the request carried (`--learn-tokens`;
/// `None` when learning needs no token). Never the token.
#[derive(Debug, Clone)]
pub struct LearnCaller {
    pub client: IpAddr,
    pub indexer: Option<String>,
}

impl App {
    /// The client of a request from `peer`.
    fn client(&self, peer: IpAddr, request: &Request<Incoming>) -> Client {
        if !self.trusted.trusts(peer) {
            return Client {
                address: peer,
                proxied: false,
            };
        }
        let values = |name: &str| {
            request
                .headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
        };
        Client {
            address: self
                .trusted
                .client(peer, values("x-forwarded-for"), values("forwarded")),
            proxied: true,
        }
    }

    /// Counts a refusal at `--max-connections-per-client`, and names the client in the log
    /// (once per log interval).
    fn refused_client(&self, client: IpAddr, proxy: Option<IpAddr>) {
        let n = Stats::count(&self.stats.refused_per_client);
        if self.stats.first_refusal_of(client) {
            let via = proxy.map_or(String::new(), |p| format!(" (forwarded by {p})"));
            self.log.line(format!(
                "dtag serve: client {client}{via} refused at --max-connections-per-client \
                 (429; {n} refusals of all clients so far)"
            ));
        }
    }

    /// Who may learn: with `--learn-tokens`, the indexer whose token the request carries,
    /// else a 401 (the token itself never reaches a message or the log).
    fn learn_caller(
        &self,
        request: &Request<Incoming>,
        client: &Client,
    ) -> Result<LearnCaller, Problem> {
        let Some(tokens) = &self.tokens else {
            return Ok(LearnCaller {
                client: client.address,
                indexer: None,
            });
        };
        let token = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(tokens::bearer_token);
        let Some(token) = token else {
            return Err(Problem::unauthorized(
                "learning needs an indexer's token: send `Authorization: Bearer TOKEN`",
                false,
            ));
        };
        match tokens.indexer(token) {
            Some(indexer) => Ok(LearnCaller {
                client: client.address,
                indexer: Some(indexer.to_string()),
            }),
            None => Err(Problem::unauthorized(
                "this token is not one of the indexers' tokens",
                true,
            )),
        }
    }
}

async fn respond(
    app: &Arc<App>,
    request: Request<Incoming>,
    client: &Client,
) -> Result<HttpResponse, Problem> {
    let route = Route::parse(request.method().as_str(), request.uri().path())?;
    if route == Route::Health {
        // Outside the in-flight limit: a saturated server is still alive.
        let sum = |f: &dyn Fn(&Project) -> u64| app.projects.iter().map(|p| f(p)).sum::<u64>();
        return Ok(json_response(&Health {
            status: "ok",
            projects: app.projects.len(),
            in_flight: app.in_flight_now(),
            receiving: app.receiving.load(Ordering::Relaxed),
            connections: app.open_connections(),
            requests_served: app.stats.served.load(Ordering::Relaxed),
            learning: app.learn.enabled,
            learn_queued: sum(&|p| p.learn_queued.load(Ordering::Relaxed) as u64),
            learned_documents: sum(&|p| p.learned_documents.load(Ordering::Relaxed)),
            learn_guard: if app.learn.holdout > 0.0 {
                "held-out check: a worse update is kept out of the model"
            } else {
                "no held-out check"
            },
            learn_log: app.learn.journal.is_some(),
            updates_kept_out: sum(&|p| p.kept_out_updates.load(Ordering::Relaxed)),
            model_reloads: sum(&|p| p.reloads.load(Ordering::Relaxed)),
        }));
    }
    let project = match route.project_id() {
        Some(id) => Some(
            app.projects
                .iter()
                .position(|p| p.id == id)
                .ok_or_else(|| Problem::project_not_found(id))?,
        ),
        None => None,
    };
    if !route.has_body() {
        let _permit = app
            .in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| app.busy())?;
        return match route {
            Route::Page => Ok(page_response()),
            Route::ApiInfo => Ok(json_response(&ApiInfo {
                title: "dtag (Annif-compatible REST API)",
                version: env!("CARGO_PKG_VERSION"),
            })),
            Route::ListProjects => Ok(json_response(&ProjectList {
                projects: app.projects.iter().map(|p| p.describe()).collect(),
            })),
            Route::ListVocabs => Ok(json_response(&VocabList {
                vocabs: app
                    .projects
                    .iter()
                    .map(|p| p.vocabulary(&p.current()))
                    .collect(),
            })),
            Route::ShowProject(id) => Ok(json_response(&app.project(&id)?.describe())),
            _ => unreachable!("answered above or has a body"),
        };
    }
    if let (Route::Learn(id), false) = (&route, app.learn.enabled) {
        // Refused before the body is read: anyone who can reach the port must not be able to
        // change a model unless the server was started to learn.
        return Err(Problem::forbidden(format!(
            "learning is not allowed for project '{id}': start dtag serve with --learn to \
             allow it"
        )));
    }
    // Also before the body is read: only indexers teach.
    let caller = match route {
        Route::Learn(_) => Some(app.learn_caller(&request, client)?),
        _ => None,
    };
    // Already saturated: say so now instead of after receiving a body that would be refused.
    if app.in_flight.available_permits() == 0 {
        return Err(app.busy());
    }
    let content_type = header_text(&request, CONTENT_TYPE)?;
    let query = request.uri().query().map(str::to_string);
    let (body, body_memory) = {
        let _receiving = Receiving::new(&app.receiving);
        read_body(app, request.into_body()).await?
    };
    let in_flight = app
        .in_flight
        .clone()
        .try_acquire_owned()
        .map_err(|_| app.busy())?;
    let job_app = app.clone();
    if let Route::Learn(_) = route {
        let project = project.expect("learn names a project");
        // Decoded within the in-flight limit like any body; the decoded documents then wait
        // in the project's bounded queue, holding no request slot.
        let documents = off_runtime(move || {
            let _held = (in_flight, body_memory);
            request::decode_learn(content_type.as_deref(), &body)
        })
        .await??;
        // `caller` says who teaches: the indexer's name (`--learn-tokens`) and the client;
        // both go into the learning log.
        let caller = caller.expect("learn requests have a caller");
        app.workers[project]
            .learn(
                documents,
                Some(caller.client.to_string()),
                caller.indexer.clone(),
            )
            .await?;
        return Ok(no_content());
    }
    // Decoding a large body is CPU work too, so it runs with the scoring, off the async
    // threads, and the permits (and with them the body) are given back when the job ends,
    // even if the client went away meanwhile.
    let json = off_runtime(move || {
        let _held = (in_flight, body_memory);
        match (route, project) {
            (Route::DetectLanguage, _) => detect_language(content_type.as_deref(), &body),
            (Route::Suggest(_), Some(project)) => {
                suggest(&job_app.projects[project], content_type.as_deref(), &body)
            }
            (_, Some(project)) => suggest_batch(
                &job_app.projects[project],
                query.as_deref(),
                content_type.as_deref(),
                &body,
            ),
            (_, None) => unreachable!("the other routes with a body name a project"),
        }
    })
    .await??;
    Ok(with_body(StatusCode::OK, "application/json", json))
}

/// Counts a request as receiving its body while alive.
struct Receiving<'a>(&'a AtomicUsize);

impl<'a> Receiving<'a> {
    fn new(counter: &'a AtomicUsize) -> Receiving<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        Receiving(counter)
    }
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `suggest`: the JSON answer for a form body.
fn suggest(project: &Project, content_type: Option<&str>, body: &[u8]) -> Result<Vec<u8>, Problem> {
    let call = request::decode_suggest(content_type, body)?;
    let loaded = project.current();
    let suggester = &loaded.suggester;
    let language = label_language(project, suggester.model(), &call.options)?;
    let suggestions = match decision_rule(&call.options, &project.decision)? {
        None => Vec::new(),
        Some(rule) => suggester.suggest(&call.text, &rule),
    };
    Ok(to_json(&SuggestionResults {
        results: results(&suggestions, language),
    }))
}

/// `suggest-batch`: the JSON answer for a JSON body and query options.
fn suggest_batch(
    project: &Project,
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, Problem> {
    let call = request::decode_batch(query, content_type, body)?;
    let loaded = project.current();
    let suggester = &loaded.suggester;
    let language = label_language(project, suggester.model(), &call.options)?;
    let per_document = match decision_rule(&call.options, &project.decision)? {
        None => vec![Vec::new(); call.documents.len()],
        Some(rule) => {
            let texts: Vec<&str> = call.documents.iter().map(|d| d.text.as_str()).collect();
            suggester.suggest_batch(&texts, &rule)
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

/// `detect-language`: the JSON answer for a JSON body.
fn detect_language(content_type: Option<&str>, body: &[u8]) -> Result<Vec<u8>, Problem> {
    let call = request::decode_detect_language(content_type, body)?;
    Ok(to_json(&language::detect(&call)?))
}

impl App {
    /// Requests holding an in-flight permit (the healthz request itself holds none).
    fn in_flight_now(&self) -> usize {
        self.max_in_flight - self.in_flight.available_permits()
    }

    fn open_connections(&self) -> usize {
        self.max_connections - self.connections.available_permits()
    }
}

/// The language of the labels: the one asked for, which must be one the project labels in
/// (its own, and English and Chinese with a thesaurus), else the project's.
fn label_language(
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

/// The decision of a request as a [`DecisionRule`]; `None` means "no results" (`limit=0`).
///
/// What the request does not set comes from the project (a projects file's `limit` and
/// `threshold`), else from the defaults: at most [`request::DEFAULT_LIMIT`] results.
/// Without `threshold` in the request, the decision `dtag suggest --project ID` makes: the
/// project's threshold (at least the best descriptor), or without one the model's tuned
/// per-descriptor thresholds (0.5 for an untuned model), at least the best one. With
/// `threshold` in the request, Annif's filter: at most `limit` results with a score of at
/// least `threshold`, and none at all when nothing reaches it.
fn decision_rule(
    options: &SuggestOptions,
    project: &ProjectDecision,
) -> Result<Option<DecisionRule>, Problem> {
    let limit = options
        .limit
        .or(project.limit)
        .unwrap_or(request::DEFAULT_LIMIT);
    if limit == 0 {
        return Ok(None);
    }
    let rule = match (options.threshold, project.threshold) {
        (None, None) => DecisionRule {
            limit,
            ..DecisionRule::default()
        },
        (None, Some(threshold)) => DecisionRule {
            limit,
            threshold,
            at_least_one: true,
            use_model_thresholds: false,
            min_score: 0.0,
        },
        (Some(threshold), _) => DecisionRule {
            limit,
            threshold,
            at_least_one: false,
            use_model_thresholds: false,
            min_score: 0.0,
        },
    }
    .check()
    .map_err(|e| Problem::bad_request(e.to_string()))?;
    Ok(Some(rule))
}

/// Runs CPU-bound work on rayon's pool and waits for it without blocking the runtime.
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

/// Reads the whole body, refusing more than `max_body_bytes` (413), bodies slower than the
/// body timeout (408), and bodies that do not fit in what is left of the body memory budget
/// (503). Returns the body and its share of the budget, to be held as long as the body.
async fn read_body(
    app: &App,
    mut body: Incoming,
) -> Result<(Vec<u8>, Option<OwnedSemaphorePermit>), Problem> {
    let limit = app.max_body_bytes;
    if body.size_hint().lower() > limit as u64 {
        return Err(Problem::payload_too_large(limit));
    }
    // One buffer of the declared size: no doubling while it fills, and no second copy to
    // join chunks. Only the pages written to take memory.
    let declared = body.size_hint().exact().unwrap_or(0) as usize;
    let mut buffer = Vec::with_capacity(declared.min(limit));
    let mut held: Option<OwnedSemaphorePermit> = None;
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| Problem::bad_request(format!("cannot read the request body: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers: nothing dtag uses
            };
            if data.is_empty() {
                continue;
            }
            if buffer.len() + data.len() > limit {
                return Err(Problem::payload_too_large(limit));
            }
            let taken = u32::try_from(data.len())
                .ok()
                .and_then(|n| app.body_memory.clone().try_acquire_many_owned(n).ok());
            let Some(taken) = taken else {
                Stats::count(&app.stats.refused_body_memory);
                return Err(Problem::unavailable(
                    "the server holds as much request data as it may; retry later",
                ));
            };
            match held.as_mut() {
                Some(held) => held.merge(taken),
                None => held = Some(taken),
            }
            buffer.extend_from_slice(&data);
        }
        Ok(())
    };
    match tokio::time::timeout(app.body_timeout, read).await {
        Err(_) => {
            Stats::count(&app.stats.body_timeouts);
            Err(Problem::request_timeout(format!(
                "the request body did not arrive within {:?}",
                app.body_timeout
            )))
        }
        Ok(Err(problem)) => Err(problem),
        Ok(Ok(())) => Ok((buffer, held)),
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
    /// Requests whose body is being received (not yet in flight).
    receiving: usize,
    /// Open connections, this one included.
    connections: usize,
    /// Requests answered since start (of any kind, errors included).
    requests_served: u64,
    /// `POST …/learn` is allowed (`--learn`).
    learning: bool,
    /// Learn requests waiting for (or in) the learners.
    learn_queued: u64,
    /// Documents learned since start, over all projects.
    learned_documents: u64,
    /// What becomes of an update the held-out check finds worse.
    learn_guard: &'static str,
    /// Learned documents are appended to a learning log (`--learn-log`).
    learn_log: bool,
    /// Updates kept out of the models by the held-out check since start.
    updates_kept_out: u64,
    /// Times a model file was read again after a replacement or SIGHUP.
    model_reloads: u64,
}

#[derive(Serialize)]
struct ApiInfo {
    title: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct ProjectList {
    projects: Vec<projects::ProjectInfo>,
}

#[derive(Serialize)]
struct VocabList {
    vocabs: Vec<projects::Vocabulary>,
}

/// One suggested subject, as Annif returns it.
#[derive(Serialize)]
struct SuggestionResult {
    uri: String,
    label: String,
    notation: Option<String>,
    score: f32,
}

#[derive(Serialize)]
struct SuggestionResults {
    results: Vec<SuggestionResult>,
}

#[derive(Serialize)]
struct BatchResult<'a> {
    results: Vec<SuggestionResult>,
    document_id: Option<&'a str>,
}

fn results(suggestions: &[Suggestion], language: LanguageTag) -> Vec<SuggestionResult> {
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

fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("response types serialise")
}

fn json_response(value: &impl Serialize) -> HttpResponse {
    with_body(StatusCode::OK, "application/json", to_json(value))
}

/// `204 No Content`: what `learn` answers.
fn no_content() -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
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
