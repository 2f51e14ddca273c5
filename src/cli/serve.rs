//! `dtag serve`: Annif's REST API and a web page over HTTP.

use std::path::PathBuf;

use clap::Args;

use dtag::serve::ServeParams;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A model to serve as Annif project NAME (repeatable).
    #[arg(long = "model", required_unless_present = "config", value_name = "NAME=FILE", value_parser = dtag::serve::parse_model_spec)]
    models: Vec<(String, PathBuf)>,

    /// Serve every project of this projects file (as Annif serves its projects.cfg), beside
    /// any --model.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value_t = ServeParams::default().bind, value_name = "ADDR:PORT")]
    bind: std::net::SocketAddr,

    /// Language code reported for the projects and their labels (default: each model's own
    /// language; a projects file's `language` wins).
    #[arg(long, value_name = "CODE")]
    language: Option<String>,

    /// Largest accepted request body in bytes (larger ones get 413).
    #[arg(long, default_value_t = ServeParams::default().max_body_bytes, value_name = "N")]
    max_body_bytes: usize,

    /// Bytes of request bodies held in memory at once, over all requests (a body that would
    /// cross it gets 503).
    #[arg(long, default_value_t = ServeParams::default().max_body_memory, value_name = "N")]
    max_body_memory: usize,

    /// Requests decoded and scored at once (more get 503).
    #[arg(long, default_value_t = ServeParams::default().max_in_flight, value_name = "N")]
    max_in_flight: usize,

    /// Open connections at once (more get 503 and are closed).
    #[arg(long, default_value_t = ServeParams::default().max_connections, value_name = "N")]
    max_connections: usize,

    /// Open connections of one client address, IPv6 addresses counted by /64 (more get 429
    /// and are closed).
    #[arg(long, default_value_t = ServeParams::default().max_connections_per_client, value_name = "N")]
    max_connections_per_client: usize,

    /// A reverse proxy (address or network, such as 127.0.0.1/32 or 10.0.0.0/8) whose
    /// `X-Forwarded-For` (or `Forwarded`) names the client: per-client limits, 429s and logs
    /// then use the last address in it that is not a trusted proxy (repeatable). The headers
    /// of anyone else are ignored.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    trusted_proxies: Vec<dtag::serve::proxy::Cidr>,

    /// Seconds allowed for the request headers, from the connection's opening or its previous
    /// response.
    #[arg(long, default_value_t = ServeParams::default().header_timeout.as_secs_f64(), value_name = "S")]
    header_timeout: f64,

    /// Seconds allowed for the whole request body (then 408).
    #[arg(long, default_value_t = ServeParams::default().body_timeout.as_secs_f64(), value_name = "S")]
    body_timeout: f64,

    /// Seconds without a byte moving, while no request of it is being received or worked on,
    /// after which a connection is closed.
    #[arg(long, default_value_t = ServeParams::default().idle_timeout.as_secs_f64(), value_name = "S")]
    idle_timeout: f64,

    /// Seconds shutdown waits for requests in progress.
    #[arg(long, default_value_t = ServeParams::default().shutdown_grace.as_secs_f64(), value_name = "S", allow_negative_numbers = true)]
    shutdown_grace: f64,

    /// Allow `POST /v1/projects/{id}/learn`: learned documents update the model served and
    /// its file (atomically). Without it learn requests get 403.
    #[arg(long)]
    learn: bool,

    /// Only the indexers of this file may teach: lines `NAME TOKEN` (or `NAME sha256:HEX`, the
    /// token's SHA-256); learn requests need `Authorization: Bearer TOKEN` (else 401). Read
    /// again on SIGHUP.
    #[arg(long, value_name = "FILE", requires = "learn")]
    learn_tokens: Option<PathBuf>,

    /// Learn requests waiting at most per project (more get 503).
    #[arg(long, default_value_t = ServeParams::default().learn_queue, value_name = "N")]
    learn_queue: usize,

    /// Share of each update's documents held out to check it, as `dtag learn --holdout`: an
    /// update the check finds worse is kept out of the model and counted in /healthz, its
    /// documents stay in the learning log (0: no check).
    #[arg(long, default_value_t = ServeParams::default().learn_holdout, value_name = "F", allow_negative_numbers = true)]
    learn_holdout: f64,

    /// Append every learned document to this JSON Lines file (synced before the request is
    /// answered), and at start apply the batches it holds that a model file lacks; `dtag
    /// learn --replay` rebuilds a model from it.
    #[arg(long, value_name = "FILE", requires = "learn")]
    learn_log: Option<PathBuf>,
}

fn seconds(name: &str, value: f64) -> anyhow::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(value)
        .map_err(|_| anyhow::anyhow!("--{name} must be a non-negative number of seconds"))
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut projects = Vec::new();
    for (id, model) in &args.models {
        projects.push(dtag::projects::Project::of_model(id, model)?);
    }
    if let Some(config) = &args.config {
        projects.extend(
            dtag::projects::Projects::load(config)?
                .projects
                .into_values(),
        );
    }
    let params = ServeParams {
        projects,
        bind: args.bind,
        language: args.language,
        max_body_bytes: args.max_body_bytes,
        max_body_memory: args.max_body_memory,
        max_in_flight: args.max_in_flight,
        max_connections: args.max_connections,
        max_connections_per_client: args.max_connections_per_client,
        trusted_proxies: args.trusted_proxies,
        header_timeout: seconds("header-timeout", args.header_timeout)?,
        body_timeout: seconds("body-timeout", args.body_timeout)?,
        idle_timeout: seconds("idle-timeout", args.idle_timeout)?,
        shutdown_grace: seconds("shutdown-grace", args.shutdown_grace)?,
        learn: args.learn,
        learn_queue: args.learn_queue,
        learn_tokens: args.learn_tokens,
        learn_holdout: args.learn_holdout,
        learn_log: args.learn_log,
    }
    .check()?;
    params.run(|address| {
        // Scripts and tests read this line to find the port.
        let _ = super::output::print_out(format_args!("listening on http://{address}\n"));
    })?;
    Ok(())
}
