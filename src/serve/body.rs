//! Request bodies: read whole, within the size limit, the body timeout and the memory budget
//! shared by all requests.

use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use tokio::sync::OwnedSemaphorePermit;

use super::app::App;
use super::log::Stats;
use super::problem::Problem;

/// Counts a request as receiving its body while alive.
pub(super) struct Receiving<'a>(&'a AtomicUsize);

impl<'a> Receiving<'a> {
    pub(super) fn new(counter: &'a AtomicUsize) -> Receiving<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        Receiving(counter)
    }
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Reads the whole body, refusing more than `max_body_bytes` (413), bodies slower than the
/// body timeout (408), and bodies that do not fit in what is left of the body memory budget
/// (503). Returns the body and its share of the budget, to be held as long as the body.
pub(super) async fn read_body(
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
