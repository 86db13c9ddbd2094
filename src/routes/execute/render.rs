//! `render()`: what a run's result, or the error that stopped it, says to the client: a status,
//! an `error_type` and the JSON body, once. /execute sends it as its response; /execute/stream
//! sends the body as its final event and logs the status and the `error_type`. Neither reads a
//! response back. An `ApiError` is rendered by `ApiError::body` (crate::error), exactly as its
//! `ResponseError` impl renders it; which status goes with which `error_type` is error.rs's.

use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::{error_response_builder, ApiError, ErrorBody, ErrorType};
use crate::sandbox::{Outcome, RunStatus, Usage};

/// A run's answer, rendered: what both endpoints send.
pub(crate) struct Rendered {
    /// None for a success.
    pub(crate) error_type: Option<ErrorType>,
    /// A 429's `Retry-After` seconds, as its error estimated them.
    pub(super) retry_after_secs: Option<u32>,
    /// The JSON body.
    pub(crate) body: Bytes,
}

#[derive(Serialize)]
struct Success<'a> {
    success: bool,
    result: &'a RawValue,
    /// What save_result() saved; absent when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<&'a RawValue>,
    /// The files left in ./output/ (figures included); absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<&'a RawValue>,
    stdout: String,
    stderr: String,
    /// The interpreter's exit status (JavaScript, R, Bash); absent for Python.
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    timestamp: String,
    duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

/// The answer to a request that was admitted: its run's outcome, or the error that stopped it
/// before, or instead of, an outcome.
pub(crate) fn render(result: Result<Outcome, ApiError>) -> Rendered {
    let outcome = match result {
        Ok(outcome) => outcome,
        // Logs a server-side failure's detail, under the request's id: once, here.
        Err(e) => return Rendered::error(&e.body()),
    };
    let duration_ms = u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX);
    match outcome.status {
        RunStatus::Completed {
            result,
            results,
            files,
            exit_code,
        } => Rendered {
            error_type: None,
            retry_after_secs: None,
            body: json(&Success {
                success: true,
                result: &result,
                results: results.as_deref(),
                files: files.as_deref(),
                stdout: outcome.stdout,
                stderr: outcome.stderr,
                exit_code,
                timestamp: crate::timestamp(),
                duration_ms,
                usage: outcome.usage,
            }),
        },
        RunStatus::Failed(failure) => {
            let mut body = ErrorBody::new(ErrorType::from(failure.kind), failure.message);
            body.stdout = outcome.stdout;
            body.stderr = outcome.stderr;
            body.traceback = failure.traceback;
            body.exit_code = failure.exit_code;
            body.duration_ms = Some(duration_ms);
            Rendered::error(&body)
        }
    }
}

impl Rendered {
    /// A rendering stored earlier (a finished job's envelope, crate::jobs), to send again.
    pub(crate) fn stored(body: Bytes, error_type: Option<ErrorType>) -> Rendered {
        Rendered {
            error_type,
            retry_after_secs: None,
            body,
        }
    }

    pub(super) fn error(body: &ErrorBody) -> Rendered {
        Rendered {
            error_type: Some(body.kind),
            retry_after_secs: body.retry_after_secs,
            body: json(body),
        }
    }

    /// The status /execute answers with.
    pub(super) fn status(&self) -> StatusCode {
        self.error_type.map_or(StatusCode::OK, ErrorType::status)
    }

    /// /execute's response: an error's carries the headers and the response extension that
    /// `crate::error::error_response` gives every error (the request log reads the latter).
    pub(crate) fn into_response(self) -> HttpResponse {
        let mut builder = match self.error_type {
            None => HttpResponse::Ok(),
            Some(error_type) => error_response_builder(error_type, self.retry_after_secs),
        };
        builder.insert_header(ContentType::json()).body(self.body)
    }
}

/// Both bodies are plain structs with string keys: serializing them cannot fail.
fn json(value: &impl Serialize) -> Bytes {
    match serde_json::to_vec(value) {
        Ok(body) => body.into(),
        Err(e) => {
            log::error!("a response body could not be serialized: {e}");
            Bytes::new()
        }
    }
}

/// For a client that hung up before its answer: nobody reads it, the status is for the log.
pub(super) fn client_gone_response() -> HttpResponse {
    HttpResponse::new(StatusCode::from_u16(499).unwrap_or_default())
}
