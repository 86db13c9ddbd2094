//! POST /execute/stream: /execute, with the script's stdout and stderr sent while it runs, as
//! server-sent events (or NDJSON when `Accept` asks for it), then one final event that carries
//! exactly the body /execute would have answered.
//!
//! Everything that can go wrong before the run (a bad body, an invalid script, 413, 429) is a
//! plain JSON error with /execute's status: the stream, and its 200, start only once the request
//! holds a slot and its script has been checked. What goes wrong afterwards (the script's errors,
//! and `sandbox_error`) is in the final event, whose `error_type` says what /execute's status
//! would have been.
//!
//! Here: the handler, which starts the run on a task of its own, and the content negotiation.
//! The body itself, events and all, is `events.rs`'s.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue, ACCEPT};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use tokio::sync::{mpsc, oneshot};

use super::admission::Admitted;
use super::events::{EventStream, Format, LOG_TARGET};
use super::render::{client_gone_response, render, Rendered};
use super::request::ExecuteRequest;
use crate::body::BodyGate;
use crate::configuration::Settings;
use crate::disconnect::client_gone;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::request_id::{with_request_id, RequestId};
use crate::sandbox::{OutputSender, Sandbox};

/// Chunks in flight between the run's readers and the body. When it is full the readers hold
/// and coalesce what does not fit (see `sandbox::OutputSender`), so its size only sets how often.
pub(crate) const CHANNEL_CHUNKS: usize = 64;

pub async fn execute_stream(
    req: HttpRequest,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    settings: web::Data<Settings>,
    sandbox: web::Data<Arc<Sandbox>>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    let format = negotiate(&req);
    // As /execute: the body, then the slot. The lease goes with the run's task below.
    let (request, lease) = bodies.read_json::<ExecuteRequest>(&req, payload).await?;
    // The wait for a slot and the parse happen before the response starts: their failures are
    // plain JSON errors. A client that hangs up meanwhile gives its place back.
    let admitted = tokio::select! {
        admitted = Admitted::prepare(request, &settings, &sandbox) => admitted?,
        () = client_gone(&req) => {
            log::info!(
                target: LOG_TARGET,
                "execute/stream: the client disconnected before its run started"
            );
            return Ok(client_gone_response());
        }
    };

    let (output_tx, output_rx) = mpsc::channel(CHANNEL_CHUNKS);
    let (done_tx, done_rx) = oneshot::channel();
    let sandbox = Arc::clone(&sandbox);
    let metrics = metrics.into_inner();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    // The run is a task of its own, not driven by polls of the body: a client that reads slowly
    // must not hold its slot past the run, nor delay its deadline. The body aborts the task when
    // it is dropped (the client went away), which kills the run and frees the slot. It runs under
    // the request's id, so that a sandbox error's detail is logged with that id.
    let run = actix_web::rt::spawn(with_request_id(request_id.clone(), async move {
        let _lease = lease;
        let result = admitted.run(&sandbox, &metrics, Some(output_tx)).await;
        let _ = done_tx.send(render(result));
    }));

    let events = EventStream::new(
        format,
        output_rx,
        done_rx,
        client_gone(&req),
        run,
        request_id,
    );
    Ok(streamed(format, events))
}

/// /execute/stream's run without HTTP, for the command line's local runs (crate::cli): the same
/// admission, run and rendering, with the script's output copied to `output` as it is read
/// instead of framed as events. The answer is the final event's body (or, for a request refused
/// before its run, the plain error /execute/stream would have answered).
pub(crate) async fn run_streamed(
    request: ExecuteRequest,
    settings: &Settings,
    sandbox: &Sandbox,
    metrics: &Metrics,
    output: OutputSender,
) -> Rendered {
    let result = match Admitted::prepare(request, settings, sandbox).await {
        Ok(admitted) => admitted.run(sandbox, metrics, Some(output)).await,
        Err(e) => Err(e),
    };
    render(result)
}

/// The streamed answer's response: its content type, and no caching or buffering on the way
/// (also for a session's streamed cell, routes/sessions.rs).
pub(crate) fn streamed(format: Format, events: EventStream) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, format.content_type()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // nginx would otherwise buffer the whole response, which defeats the point.
        .insert_header(("x-accel-buffering", HeaderValue::from_static("no")))
        .body(events)
}

/// SSE, unless `Accept` names application/x-ndjson (before any text/event-stream).
pub(crate) fn negotiate(req: &HttpRequest) -> Format {
    let accept = req
        .headers()
        .get_all(ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for range in accept {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        match media.as_str() {
            _ if refused => {}
            "application/x-ndjson" => return Format::Ndjson,
            "text/event-stream" => return Format::Sse,
            _ => {}
        }
    }
    Format::Sse
}
