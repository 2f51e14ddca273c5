//! Routing: each route to its handler. Every route but `/healthz` works within the in-flight
//! limit; routes with a body read it first ([`super::body`]), then decode and score it off the
//! async threads ([`super::handlers`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, StatusCode};
use tokio::sync::OwnedSemaphorePermit;

use super::api::{
    json_response, no_content, page_response, with_body, ApiInfo, Health, HttpResponse,
    ProjectList, VocabList,
};
use super::app::{App, Client};
use super::body::{read_body, Receiving};
use super::handlers::{
    complete, detect_language, explain, extract_text, off_runtime, suggest, suggest_batch,
};
use super::problem::Problem;
use super::projects::Project;
use super::request::{self, Route};

pub(super) async fn respond(
    app: &Arc<App>,
    request: Request<Incoming>,
    client: &Client,
) -> Result<HttpResponse, Problem> {
    let route = Route::parse(request.method().as_str(), request.uri().path())?;
    match route {
        // Outside the in-flight limit: a saturated server is still alive.
        Route::Health => Ok(json_response(&health(app))),
        Route::Page => within_limit(app, || Ok(page_response())),
        Route::ApiInfo => within_limit(app, || {
            Ok(json_response(&ApiInfo {
                title: "dtag (Annif-compatible REST API)",
                version: env!("CARGO_PKG_VERSION"),
            }))
        }),
        Route::ListProjects => within_limit(app, || {
            Ok(json_response(&ProjectList {
                projects: app.projects.iter().map(|p| p.describe()).collect(),
            }))
        }),
        Route::ListVocabs => within_limit(app, || {
            Ok(json_response(&VocabList {
                vocabs: app
                    .projects
                    .iter()
                    .map(|p| p.vocabulary(&p.current()))
                    .collect(),
            }))
        }),
        Route::ShowProject(id) => {
            let project = app.project(&id)?;
            within_limit(app, || Ok(json_response(&project.describe())))
        }
        Route::DetectLanguage => {
            let received = receive(app, request).await?;
            answer(received, move |r| {
                detect_language(r.content_type.as_deref(), &r.body)
            })
            .await
        }
        Route::Suggest(id) => {
            let project = app.shared_project(&id)?;
            let received = receive(app, request).await?;
            answer(received, move |r| {
                suggest(&project, r.content_type.as_deref(), &r.body)
            })
            .await
        }
        Route::SuggestBatch(id) => {
            let project = app.shared_project(&id)?;
            let received = receive(app, request).await?;
            answer(received, move |r| {
                suggest_batch(
                    &project,
                    r.query.as_deref(),
                    r.content_type.as_deref(),
                    &r.body,
                )
            })
            .await
        }
        Route::Learn(id) => learn(app, request, client, &id).await,
        Route::Explain(id) => {
            let project = app.shared_project(&id)?;
            let received = receive(app, request).await?;
            answer(received, move |r| {
                explain(&project, r.content_type.as_deref(), &r.body)
            })
            .await
        }
        Route::Complete(id) => {
            let project = app.shared_project(&id)?;
            let call = request::decode_complete(request.uri().query())?;
            // Off the async threads: the first call builds the project's label index.
            let _permit = app
                .in_flight
                .clone()
                .try_acquire_owned()
                .map_err(|_| app.busy())?;
            let json = off_runtime(move || complete(&project, &call)).await??;
            Ok(with_body(StatusCode::OK, "application/json", json))
        }
        Route::ExtractText => {
            let name = request::decode_extract(request.uri().query())?;
            let max_text = app.max_body_bytes;
            let received = receive(app, request).await?;
            answer(received, move |r| extract_text(&name, &r.body, max_text)).await
        }
    }
}

/// `/healthz`: counters of the whole server.
fn health(app: &App) -> Health {
    let sum = |f: &dyn Fn(&Project) -> u64| app.projects.iter().map(|p| f(p)).sum::<u64>();
    Health {
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
    }
}

/// Answers a request without a body while holding an in-flight permit.
fn within_limit(
    app: &App,
    answer: impl FnOnce() -> Result<HttpResponse, Problem>,
) -> Result<HttpResponse, Problem> {
    let _permit = app
        .in_flight
        .clone()
        .try_acquire_owned()
        .map_err(|_| app.busy())?;
    answer()
}

/// A request whose body is in, with the permits that hold it: its share of the body memory
/// and an in-flight place.
struct Received {
    content_type: Option<String>,
    query: Option<String>,
    body: Vec<u8>,
    _body_memory: Option<OwnedSemaphorePermit>,
    _in_flight: OwnedSemaphorePermit,
}

/// Reads the body of a request, then takes an in-flight place for decoding and scoring it.
async fn receive(app: &App, request: Request<Incoming>) -> Result<Received, Problem> {
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
    Ok(Received {
        content_type,
        query,
        body,
        _body_memory: body_memory,
        _in_flight: in_flight,
    })
}

/// Decoding a large body is CPU work too, so it runs with the scoring, off the async
/// threads; the permits (and with them the body) are given back when the job ends, even if
/// the client went away meanwhile.
async fn answer(
    received: Received,
    job: impl FnOnce(&Received) -> Result<Vec<u8>, Problem> + Send + 'static,
) -> Result<HttpResponse, Problem> {
    let json = off_runtime(move || job(&received)).await??;
    Ok(with_body(StatusCode::OK, "application/json", json))
}

/// `POST …/learn`: checked before the body is read (learning allowed, the caller an
/// indexer), decoded within the in-flight limit like any body; the decoded documents then
/// wait in the project's bounded queue, holding no request slot.
async fn learn(
    app: &Arc<App>,
    request: Request<Incoming>,
    client: &Client,
    id: &str,
) -> Result<HttpResponse, Problem> {
    let worker = app.worker(id)?;
    if !app.learn.enabled {
        // Refused before the body is read: anyone who can reach the port must not be able to
        // change a model unless the server was started to learn.
        return Err(Problem::forbidden(format!(
            "learning is not allowed for project '{id}': start dtag serve with --learn to \
             allow it"
        )));
    }
    // Also before the body is read: only indexers teach. The caller (the indexer's name with
    // `--learn-tokens`, and the client) goes into the learning log.
    let caller = app.learn_caller(&request, client)?;
    let received = receive(app, request).await?;
    let documents = off_runtime(move || {
        request::decode_learn(received.content_type.as_deref(), &received.body)
    })
    .await??;
    worker
        .learn(documents, Some(caller.client.to_string()), caller.indexer)
        .await?;
    Ok(no_content())
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
