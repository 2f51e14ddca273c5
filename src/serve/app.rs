//! The running server's shared state, and who a request comes from.

use std::net::IpAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use tokio::sync::Semaphore;

use super::limits::Clients;
use super::live::{LearnSettings, Worker};
use super::log::{Logger, Stats};
use super::problem::Problem;
use super::projects::Project;
use super::proxy::TrustedProxies;
use super::tokens::{self, LearnTokens};
use crate::error::Result;

/// Shared state of the running server.
pub(super) struct App {
    pub(super) projects: Vec<Arc<Project>>,
    /// One per project, same order: learns and reloads its model.
    pub(super) workers: Vec<Worker>,
    pub(super) learn: LearnSettings,
    /// Requests being decoded and scored: the CPU-bound part, so this bounds CPU work and the
    /// memory of decoded texts. A request takes a permit only once its body is in, so clients
    /// that send slowly cannot occupy these.
    pub(super) in_flight: Arc<Semaphore>,
    pub(super) max_in_flight: usize,
    /// Bytes of request bodies held in memory, taken chunk by chunk as they arrive (so a
    /// client holds only what it has actually sent) and given back when the request is done.
    pub(super) body_memory: Arc<Semaphore>,
    pub(super) max_body_bytes: usize,
    pub(super) body_timeout: Duration,
    pub(super) idle_timeout: Duration,
    /// Requests whose body is being received.
    pub(super) receiving: AtomicUsize,
    /// Connections (or, behind a trusted proxy, requests) per client.
    pub(super) clients: Arc<Clients>,
    pub(super) max_connections_per_client: usize,
    pub(super) trusted: TrustedProxies,
    /// The indexers allowed to teach, when learning needs a token.
    pub(super) tokens: Option<Arc<LearnTokens>>,
    /// Open connections (refused ones excluded).
    pub(super) connections: Arc<Semaphore>,
    pub(super) max_connections: usize,
    pub(super) stats: Arc<Stats>,
    pub(super) log: Logger,
}

impl App {
    pub(super) fn project(&self, id: &str) -> Result<&Project, Problem> {
        self.projects
            .iter()
            .find(|p| p.id == id)
            .map(|p| &**p)
            .ok_or_else(|| Problem::project_not_found(id))
    }

    /// The project named `id`, to hand to a job off the async threads.
    pub(super) fn shared_project(&self, id: &str) -> Result<Arc<Project>, Problem> {
        self.projects
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| Problem::project_not_found(id))
    }

    /// The worker that learns and reloads project `id`'s model.
    pub(super) fn worker(&self, id: &str) -> Result<&Worker, Problem> {
        self.projects
            .iter()
            .position(|p| p.id == id)
            .map(|i| &self.workers[i])
            .ok_or_else(|| Problem::project_not_found(id))
    }

    /// A 503 at the in-flight limit, counted.
    pub(super) fn busy(&self) -> Problem {
        Stats::count(&self.stats.refused_in_flight);
        Problem::unavailable("the server is handling as many requests as it can; retry later")
    }
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
    pub(super) fn client(&self, peer: IpAddr, request: &Request<Incoming>) -> Client {
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
    pub(super) fn refused_client(&self, client: IpAddr, proxy: Option<IpAddr>) {
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
    pub(super) fn learn_caller(
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

impl App {
    /// Requests holding an in-flight permit (the healthz request itself holds none).
    pub(super) fn in_flight_now(&self) -> usize {
        self.max_in_flight - self.in_flight.available_permits()
    }

    pub(super) fn open_connections(&self) -> usize {
        self.max_connections - self.connections.available_permits()
    }
}
