//! POST /execute: read the body, admit the request, run it, and answer with its rendering. The
//! checks are `admission.rs`'s and the answer's shape is `render.rs`'s; this is only the order
//! in which they happen, and what a client that hangs up gets.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};

use super::admission::Admitted;
use super::render::{client_gone_response, render};
use super::request::ExecuteRequest;
use crate::body::BodyGate;
use crate::configuration::Settings;
use crate::disconnect::client_gone;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::sandbox::{OutputSender, Sandbox};

pub async fn execute(
    req: HttpRequest,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    settings: web::Data<Settings>,
    sandbox: web::Data<Arc<Sandbox>>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    // The body first, under its own budget and deadline; the slot only once it is complete. The
    // lease is held to the end: the request holds what its body became until then.
    let (request, _lease) = bodies.read_json::<ExecuteRequest>(&req, payload).await?;
    Ok(respond(&req, request, &settings, &sandbox, &metrics).await)
}

/// A decoded request's run, answered as POST /execute answers: what /execute does once it has
/// the body, and POST /scripts/{id}/execute with a saved script's (crate::routes::scripts).
pub(crate) async fn respond(
    req: &HttpRequest,
    request: ExecuteRequest,
    settings: &Settings,
    sandbox: &Sandbox,
    metrics: &Metrics,
) -> HttpResponse {
    let check_and_run = check_and_run(request, settings, sandbox, metrics);
    // A client that hangs up gets its run killed now (dropping the run kills the jail), not at
    // its timeout.
    let result = tokio::select! {
        result = check_and_run => result,
        () = client_gone(req) => {
            // The target this line had before /execute's module became a directory.
            log::info!(
                target: "python_script_api::routes::execute",
                "execute: the client disconnected; its run was killed"
            );
            return client_gone_response();
        }
    };
    render(result).into_response()
}

/// A decoded request's admission and run: what POST /execute does once it has the body, and
/// what MCP's `run_python` calls (crate::mcp), so both refuse and run the same requests the same
/// way. Dropping the future kills the run.
pub(crate) async fn check_and_run(
    request: ExecuteRequest,
    settings: &Settings,
    sandbox: &Sandbox,
    metrics: &Metrics,
) -> Result<crate::sandbox::Outcome, ApiError> {
    check_and_run_observed(request, settings, sandbox, metrics, None).await
}

/// `check_and_run`, with the script's output copied to `output` while it runs: a job's run
/// (crate::jobs), which GET /jobs/{id}/events streams.
pub(crate) async fn check_and_run_observed(
    request: ExecuteRequest,
    settings: &Settings,
    sandbox: &Sandbox,
    metrics: &Metrics,
    output: Option<OutputSender>,
) -> Result<crate::sandbox::Outcome, ApiError> {
    Admitted::prepare(request, settings, sandbox)
        .await?
        .run(sandbox, metrics, output)
        .await
}
