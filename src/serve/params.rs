//! `dtag serve`'s settings, checked before anything is loaded.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::live::{self};
use super::projects;
use super::proxy::{self};
use super::request::LanguageTag;
use super::tokens::LearnTokens;
use crate::error::{Error, Result};

/// Server settings, checked by [`ServeParams::check`] before anything is loaded.
#[derive(Debug, Clone)]
pub struct ServeParams {
    /// The projects served: each with its id, name, model file, and any language, thesaurus,
    /// limit and threshold of its own (a projects file's; `--model ID=FILE` gives a project
    /// with none, [`crate::projects::Project::of_model`]).
    pub projects: Vec<crate::projects::Project>,
    pub bind: SocketAddr,
    /// Language of the documents and labels of every project without a language of its own,
    /// reported in project descriptions; `None`: each model's own language.
    pub language: Option<String>,
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
            projects: Vec::new(),
            bind: SocketAddr::from(([127, 0, 0, 1], 5000)),
            language: None,
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
    pub(super) params: ServeParams,
    pub(super) tokens: Option<Arc<LearnTokens>>,
}

impl ServeParams {
    pub fn check(self) -> Result<ValidServeParams> {
        if self.projects.is_empty() {
            return Err(Error::param("model", "give at least one NAME=FILE"));
        }
        for (i, project) in self.projects.iter().enumerate() {
            let id = &project.id;
            projects::check_project_id(id)?;
            if self.projects[..i].iter().any(|other| other.id == *id) {
                return Err(Error::param(
                    "model",
                    format!("project name `{id}` is given twice"),
                ));
            }
            project
                .decision
                .check()
                .map_err(|e| Error::param("config", format!("project `{id}`: {e}")))?;
        }
        if let Some(code) = &self.language {
            if LanguageTag::parse(code).is_none() {
                return Err(Error::param(
                    "language",
                    "must be a language code such as `zh` or `en`",
                ));
            }
        }
        for project in &self.projects {
            if let Some(code) = &project.language {
                if LanguageTag::parse(code).is_none() {
                    return Err(Error::param(
                        "language",
                        format!(
                            "project `{}`: `{code}` is not a language code such as `zh` or `en`",
                            project.id
                        ),
                    ));
                }
            }
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
            for project in &self.projects {
                live::check_writable(&project.model)?;
            }
        }
        if let Some(log) = &self.learn_log {
            if self
                .projects
                .iter()
                .any(|p| crate::io_guard::same_file(&p.model, log))
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
