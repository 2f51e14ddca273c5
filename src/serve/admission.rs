//! Admission: binding, accepting or refusing connections, per-client places and timeouts,
//! then handing each admitted request to [`super::routing`]. Nothing here knows what a route
//! means.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::api::{problem_response, HttpResponse};
use super::app::App;
use super::limits::{Activity, ClientSlot, Clients, Watched, Working};
use super::live::{LearnSettings, Worker};
use super::log::{self, Log, Stats};
use super::params::{ServeParams, ValidServeParams};
use super::problem::{Problem, PROBLEM_JSON};
use super::projects::Project;
use super::proxy::TrustedProxies;
use super::routing::respond;
use crate::error::{Error, Result};

/// Refusals, for the accept loop.
pub(super) struct Gate {
    /// Refusals being written at once; a flood of refused connections beyond it is closed
    /// without an answer, so refusing costs bounded tasks and sockets.
    pub(super) refusals: Arc<Semaphore>,
}

/// Time a refused connection gets to take its answer.
pub(super) const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the log thread may summarise refusals and timeouts.
pub(super) const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// How long exit waits for stderr to take the last line.
pub(super) const LOG_PATIENCE: Duration = Duration::from_secs(2);

impl ValidServeParams {
    /// Loads the models, binds, and serves until SIGTERM or SIGINT. `on_ready` gets the bound
    /// address (useful with port 0) once the server accepts connections.
    pub fn run(self, on_ready: impl FnOnce(SocketAddr)) -> Result<()> {
        let p = &self.params;
        let mut loaded = Vec::with_capacity(p.projects.len());
        // One analyzer per settings and one model per file, for every project.
        let shared = super::projects::SharedResources::default();
        // `--language` is the language of every project without one of its own.
        let overrides = crate::session::Overrides {
            language: p.language.clone(),
            ..Default::default()
        };
        for settings in &p.projects {
            let settings = settings.clone().with_overrides(&overrides);
            loaded.push(Arc::new(Project::load(settings, &shared)?));
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
pub(super) fn release_large_buffers_to_the_system() {
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

pub(super) async fn serve(
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
pub(super) fn admit(
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

pub(super) async fn serve_connection(
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
pub(super) fn refuse(app: &App, gate: &Gate, stream: TcpStream, problem: Problem) {
    let Ok(permit) = gate.refusals.clone().try_acquire_owned() else {
        Stats::count(&app.stats.refused_unanswered);
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(REFUSAL_TIMEOUT, write_refusal(stream, &problem)).await;
    });
}

pub(super) async fn write_refusal(mut stream: TcpStream, problem: &Problem) -> std::io::Result<()> {
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

pub(super) async fn handle(
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
