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

mod admission;
mod api;
mod app;
mod body;
pub mod complete;
mod handlers;
pub mod language;
pub mod limits;
pub mod live;
pub mod log;
mod params;
pub mod problem;
pub mod projects;
pub mod proxy;
pub mod request;
mod routing;
pub mod tokens;

pub use crate::predict::ProjectDecision;
pub use app::{Client, LearnCaller};
pub use params::{parse_model_spec, ServeParams, ValidServeParams};
