//! The one place where failures become HTTP statuses and JSON error bodies.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use serde::Serialize;

use crate::files::FileError;
use crate::sandbox::{FailureKind, SandboxError};
use crate::script::ScriptError;

/// The stable `error_type` codes of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    InvalidRequest,
    ValidationError,
    PayloadTooLarge,
    RuntimeError,
    InvalidResult,
    Exited,
    Timeout,
    MemoryLimit,
    OutputLimit,
    Overloaded,
    SandboxError,
    NotFound,
    MethodNotAllowed,
    Unauthorized,
    EnvironmentUnavailable,
    RequestTimeout,
    PolicyViolation,
    ForbiddenOrigin,
    SessionNotFound,
    SessionBusy,
    SessionsUnavailable,
    JobNotFound,
    StoreUnavailable,
    ScriptNotFound,
    ScriptNameTaken,
}

impl ErrorType {
    pub const ALL: [ErrorType; 25] = [
        ErrorType::InvalidRequest,
        ErrorType::ValidationError,
        ErrorType::PayloadTooLarge,
        ErrorType::RuntimeError,
        ErrorType::InvalidResult,
        ErrorType::Exited,
        ErrorType::Timeout,
        ErrorType::MemoryLimit,
        ErrorType::OutputLimit,
        ErrorType::Overloaded,
        ErrorType::SandboxError,
        ErrorType::NotFound,
        ErrorType::MethodNotAllowed,
        ErrorType::Unauthorized,
        ErrorType::EnvironmentUnavailable,
        ErrorType::RequestTimeout,
        ErrorType::PolicyViolation,
        ErrorType::ForbiddenOrigin,
        ErrorType::SessionNotFound,
        ErrorType::SessionBusy,
        ErrorType::SessionsUnavailable,
        ErrorType::JobNotFound,
        ErrorType::StoreUnavailable,
        ErrorType::ScriptNotFound,
        ErrorType::ScriptNameTaken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request",
            ErrorType::ValidationError => "validation_error",
            ErrorType::PayloadTooLarge => "payload_too_large",
            ErrorType::RuntimeError => "runtime_error",
            ErrorType::InvalidResult => "invalid_result",
            ErrorType::Exited => "exited",
            ErrorType::Timeout => "timeout",
            ErrorType::MemoryLimit => "memory_limit",
            ErrorType::OutputLimit => "output_limit",
            ErrorType::Overloaded => "overloaded",
            ErrorType::SandboxError => "sandbox_error",
            ErrorType::NotFound => "not_found",
            ErrorType::MethodNotAllowed => "method_not_allowed",
            ErrorType::Unauthorized => "unauthorized",
            ErrorType::EnvironmentUnavailable => "environment_unavailable",
            ErrorType::RequestTimeout => "request_timeout",
            ErrorType::PolicyViolation => "policy_violation",
            ErrorType::ForbiddenOrigin => "forbidden_origin",
            ErrorType::SessionNotFound => "session_not_found",
            ErrorType::SessionBusy => "session_busy",
            ErrorType::SessionsUnavailable => "sessions_unavailable",
            ErrorType::JobNotFound => "job_not_found",
            ErrorType::StoreUnavailable => "store_unavailable",
            ErrorType::ScriptNotFound => "script_not_found",
            ErrorType::ScriptNameTaken => "script_name_taken",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::InvalidRequest | ErrorType::ValidationError => StatusCode::BAD_REQUEST,
            ErrorType::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorType::RuntimeError
            | ErrorType::InvalidResult
            | ErrorType::Exited
            | ErrorType::Timeout
            | ErrorType::MemoryLimit
            | ErrorType::OutputLimit => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ErrorType::SandboxError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorType::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorType::EnvironmentUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            // Not 422 with the script's own failures: the script did what it meant to, and the
            // operator's policy forbids it; sending it again cannot succeed.
            ErrorType::PolicyViolation => StatusCode::FORBIDDEN,
            ErrorType::ForbiddenOrigin => StatusCode::FORBIDDEN,
            ErrorType::SessionNotFound => StatusCode::NOT_FOUND,
            // The session exists and is the caller's: it is running their previous cell.
            ErrorType::SessionBusy => StatusCode::CONFLICT,
            // Not 503: no retry helps, this server does not run sessions (fork mode is off).
            ErrorType::SessionsUnavailable => StatusCode::NOT_IMPLEMENTED,
            ErrorType::JobNotFound => StatusCode::NOT_FOUND,
            // The database of jobs could not be opened or written: a retry may succeed, and the
            // request was not stored (never accepted silently).
            ErrorType::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::ScriptNotFound => StatusCode::NOT_FOUND,
            // Another of the caller's scripts has that name: a rename or a DELETE first.
            ErrorType::ScriptNameTaken => StatusCode::CONFLICT,
        }
    }
}

impl From<FailureKind> for ErrorType {
    fn from(kind: FailureKind) -> Self {
        match kind {
            FailureKind::Validation => ErrorType::ValidationError,
            FailureKind::Runtime => ErrorType::RuntimeError,
            FailureKind::InvalidResult => ErrorType::InvalidResult,
            FailureKind::Exited => ErrorType::Exited,
            FailureKind::Timeout => ErrorType::Timeout,
            FailureKind::MemoryLimit => ErrorType::MemoryLimit,
            FailureKind::OutputLimit => ErrorType::OutputLimit,
            FailureKind::PolicyViolation => ErrorType::PolicyViolation,
        }
    }
}

/// Every error body: `success: false`, a human message and the stable code, plus whatever the
/// script printed before it failed and details that help (traceback, exit code, position).
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    #[serde(skip)]
    pub kind: ErrorType,
    pub success: bool,
    pub error: String,
    pub error_type: &'static str,
    pub stdout: String,
    pub stderr: String,
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// For a 429: the `Retry-After` header's seconds (not in the body). `None`: the floor.
    #[serde(skip)]
    pub retry_after_secs: Option<u32>,
}

impl ErrorBody {
    pub fn new(error_type: ErrorType, error: impl Into<String>) -> ErrorBody {
        ErrorBody {
            kind: error_type,
            success: false,
            error: error.into(),
            error_type: error_type.as_str(),
            stdout: String::new(),
            stderr: String::new(),
            timestamp: crate::timestamp(),
            traceback: None,
            exit_code: None,
            line: None,
            column: None,
            duration_ms: None,
            retry_after_secs: None,
        }
    }
}

/// Errors raised before or around a run: bad requests, overload, and the sandbox's own failures.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error(transparent)]
    Script(#[from] ScriptError),
    #[error(transparent)]
    Files(#[from] FileError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("no such endpoint")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("a valid API key is required: Authorization: Bearer <key>")]
    Unauthorized,
    /// /validate's parsers are all busy and its queue is full.
    #[error("all {parsers} script checkers are busy and {waiting} requests are waiting")]
    ValidateOverloaded { parsers: usize, waiting: usize },
    #[error("the sandbox's environment is unknown: {0}")]
    EnvironmentUnavailable(String),
    /// The body did not arrive within `BODY_READ_TIMEOUT_SECS` (see `body.rs`).
    #[error("the request body did not arrive within {secs} s")]
    BodyTimeout { secs: u64 },
    /// The bodies in flight hold `MAX_BODIES_IN_FLIGHT_BYTES`: the server's answer to load, so 429.
    #[error("the request bodies in flight fill the server's budget of {budget} bytes")]
    BodiesOverloaded {
        budget: usize,
        /// Seconds until a request is expected to finish and give its body's bytes back.
        retry_after_secs: u32,
    },
    /// A browser request from a web origin the operator did not allow (see src/origin.rs).
    #[error("{0}")]
    ForbiddenOrigin(String),
    /// Work handed to a blocking thread (decoding the input, parsing the script) panicked or was
    /// cancelled. The server's fault whatever the request held, so never a 4xx.
    #[error("{task} did not finish: {cause}")]
    TaskFailed { task: &'static str, cause: String },
    /// A session that never existed, belongs to another key, or has ended (the message says why
    /// when the server knows).
    #[error("{0}")]
    SessionNotFound(String),
    /// A cell sent while the session runs another.
    #[error("session {0} is running another cell; send the next one when it has answered")]
    SessionBusy(String),
    /// A job that never existed, belongs to another key, or was deleted after its retention.
    #[error("no such job: it never existed, belongs to another API key, or was deleted after the retention period")]
    JobNotFound,
    /// A saved script (or one of its versions) that never existed, belongs to another key, or
    /// was deleted; the message says which.
    #[error("{0}")]
    ScriptNotFound(String),
    /// Another of the owner's scripts has this name (names are unique per API key).
    #[error("a script named {0:?} exists already (names are unique per API key): rename one, or PUT a new version of it")]
    ScriptNameTaken(String),
    /// The job store failed (crate::store); the detail goes to the log, not to the client.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

/// Why /mcp's transport refused a POST before any tool ran (crate::mcp). Its body is a JSON-RPC
/// error, not the API's envelope: the MCP specification chooses both the shape and these statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpRefusal {
    /// The body is not JSON (JSON-RPC's parse error).
    ParseError,
    /// Not a JSON-RPC message, or a batch where the revision has none.
    InvalidMessage,
    /// An `MCP-Protocol-Version` header this server does not speak.
    UnsupportedVersion,
    /// `Accept` admits no `application/json`.
    NotAcceptable,
    /// The body is not declared `application/json`.
    UnsupportedMediaType,
}

impl McpRefusal {
    pub fn status(self) -> StatusCode {
        match self {
            McpRefusal::ParseError
            | McpRefusal::InvalidMessage
            | McpRefusal::UnsupportedVersion => StatusCode::BAD_REQUEST,
            McpRefusal::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            McpRefusal::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }
}

/// Seconds a client should wait after a 429 whose error carries no estimate (/validate's), and
/// the least any 429 says.
const RETRY_AFTER_SECS: u32 = 1;

/// The most any 429's `Retry-After` says: the sandbox's own cap on its estimate.
const MAX_RETRY_AFTER_SECS: u32 = crate::sandbox::MAX_RETRY_AFTER_SECS;

impl ApiError {
    pub fn error_type(&self) -> ErrorType {
        match self {
            ApiError::InvalidRequest(_) => ErrorType::InvalidRequest,
            ApiError::PayloadTooLarge(_) => ErrorType::PayloadTooLarge,
            ApiError::Script(ScriptError::TooLarge { .. }) => ErrorType::PayloadTooLarge,
            ApiError::Script(ScriptError::Empty) => ErrorType::InvalidRequest,
            // The parser's thread could not start or panicked, or the parser broke its own
            // contract: nothing the script can be blamed for.
            ApiError::Script(ScriptError::CheckFailed(_)) => ErrorType::SandboxError,
            ApiError::Script(_) => ErrorType::ValidationError,
            ApiError::Files(FileError::TooMany { .. } | FileError::TooLarge { .. }) => {
                ErrorType::PayloadTooLarge
            }
            ApiError::Files(_) => ErrorType::InvalidRequest,
            ApiError::Sandbox(
                SandboxError::Overloaded { .. } | SandboxError::MemoryBusy { .. },
            )
            | ApiError::ValidateOverloaded { .. }
            | ApiError::BodiesOverloaded { .. } => ErrorType::Overloaded,
            // A request for more memory than the budget can ever give: the client's to change.
            ApiError::Sandbox(SandboxError::MemoryOverBudget { .. }) => ErrorType::InvalidRequest,
            // As a one-shot run whose input files do not fit: the request's memory is too small.
            ApiError::Sandbox(SandboxError::SessionFilesDoNotFit { .. }) => ErrorType::MemoryLimit,
            // SESSIONS_MAX: the answer to load, as a full queue is.
            ApiError::Sandbox(SandboxError::TooManySessions { .. }) => ErrorType::Overloaded,
            ApiError::Sandbox(SandboxError::SessionsUnavailable { .. }) => {
                ErrorType::SessionsUnavailable
            }
            ApiError::SessionNotFound(_) => ErrorType::SessionNotFound,
            ApiError::SessionBusy(_) => ErrorType::SessionBusy,
            ApiError::JobNotFound => ErrorType::JobNotFound,
            ApiError::Store(_) => ErrorType::StoreUnavailable,
            ApiError::ScriptNotFound(_) => ErrorType::ScriptNotFound,
            ApiError::ScriptNameTaken(_) => ErrorType::ScriptNameTaken,
            ApiError::Sandbox(_) | ApiError::TaskFailed { .. } => ErrorType::SandboxError,
            ApiError::NotFound => ErrorType::NotFound,
            ApiError::MethodNotAllowed => ErrorType::MethodNotAllowed,
            ApiError::Unauthorized => ErrorType::Unauthorized,
            ApiError::EnvironmentUnavailable(_) => ErrorType::EnvironmentUnavailable,
            ApiError::BodyTimeout { .. } => ErrorType::RequestTimeout,
            ApiError::ForbiddenOrigin(_) => ErrorType::ForbiddenOrigin,
        }
    }

    /// For a 429: the seconds the client should wait, as the error estimated them.
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            ApiError::Sandbox(
                SandboxError::Overloaded {
                    retry_after_secs, ..
                }
                | SandboxError::MemoryBusy {
                    retry_after_secs, ..
                },
            )
            | ApiError::BodiesOverloaded {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// For a blocking task's failure: `task` says what it was doing, for the log.
    pub fn task_failed(task: &'static str, cause: impl std::fmt::Display) -> ApiError {
        ApiError::TaskFailed {
            task,
            cause: cause.to_string(),
        }
    }

    /// The body this error is answered with (its status is `body.kind.status()`). A server-side
    /// failure's detail is logged here, under the request's id, and left out of the body: call
    /// this once per answer.
    pub fn body(&self) -> ErrorBody {
        let error_type = self.error_type();
        let message = if error_type == ErrorType::SandboxError {
            // nsjail's log lines, host paths and cgroup paths are for the operator: they go to
            // the log, under the request's id, and the caller gets that id to quote.
            internal_error(&self.to_string())
        } else if let ApiError::Store(e) = self {
            store_error(&e.0)
        } else {
            self.to_string()
        };
        let mut body = ErrorBody::new(error_type, message);
        body.retry_after_secs = self.retry_after_secs();
        if let ApiError::Script(ScriptError::Syntax { line, column, .. }) = self {
            body.line = Some(*line);
            body.column = Some(*column);
        }
        body
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.error_type().status()
    }

    fn error_response(&self) -> HttpResponse {
        error_response(&self.body())
    }
}

/// Logs the detail of a server-side failure with the current request's id, and returns what the
/// caller may see instead: a generic message that names that id.
fn internal_error(detail: &str) -> String {
    match crate::request_id::current_request_id() {
        Some(id) => {
            log::error!(request_id = id.as_str(); "sandbox error (request {id}): {detail}");
            format!(
                "the sandbox failed to run the script (a fault of the server, not of the script); \
                 the server's log has the detail under request id {id}"
            )
        }
        None => {
            log::error!("sandbox error: {detail}");
            "the sandbox failed to run the script (a fault of the server, not of the script); \
             the server's log has the detail"
                .to_string()
        }
    }
}

/// As `internal_error`, for the job store: the database's detail (paths, SQL) goes to the log.
fn store_error(detail: &str) -> String {
    let id = crate::request_id::current_request_id();
    let quoted = id
        .as_deref()
        .map_or(String::new(), |id| format!(" under request id {id}"));
    log::error!("job store error{quoted}: {detail}");
    format!(
        "the job store is unavailable, so nothing was stored or changed; try again later (the \
         server's log has the detail{quoted})"
    )
}

/// Builds every error response: the status and headers that go with the error type, the JSON
/// body, and the error type in the response's extensions for the request log and metrics.
pub fn error_response(body: &ErrorBody) -> HttpResponse {
    error_response_builder(body.kind, body.retry_after_secs).json(body)
}

/// An error response, but for its body: the status and headers that go with `error_type` (a
/// 429's `Retry-After` from `retry_after_secs`, whole seconds between 1 and 300), and
/// `error_type` in the response's extensions. For a body serialized already (see
/// `routes::execute::render`); `error_response` is the rest of the time.
pub fn error_response_builder(
    error_type: ErrorType,
    retry_after_secs: Option<u32>,
) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(error_type.status());
    match error_type {
        ErrorType::Overloaded => {
            let secs = retry_after_secs
                .unwrap_or(RETRY_AFTER_SECS)
                .clamp(RETRY_AFTER_SECS, MAX_RETRY_AFTER_SECS);
            builder.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        ErrorType::Unauthorized => {
            builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        _ => {}
    }
    builder.extensions_mut().insert(error_type);
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_statuses() {
        let expect = [
            (ErrorType::InvalidRequest, 400),
            (ErrorType::ValidationError, 400),
            (ErrorType::PayloadTooLarge, 413),
            (ErrorType::RuntimeError, 422),
            (ErrorType::InvalidResult, 422),
            (ErrorType::Exited, 422),
            (ErrorType::Timeout, 422),
            (ErrorType::MemoryLimit, 422),
            (ErrorType::OutputLimit, 422),
            (ErrorType::Overloaded, 429),
            (ErrorType::SandboxError, 500),
            (ErrorType::EnvironmentUnavailable, 503),
            (ErrorType::RequestTimeout, 408),
            (ErrorType::PolicyViolation, 403),
            (ErrorType::ForbiddenOrigin, 403),
            (ErrorType::JobNotFound, 404),
            (ErrorType::StoreUnavailable, 503),
            (ErrorType::ScriptNotFound, 404),
            (ErrorType::ScriptNameTaken, 409),
        ];
        for (t, code) in expect {
            assert_eq!(t.status().as_u16(), code, "{}", t.as_str());
        }
    }

    #[test]
    fn the_openapi_description_lists_every_error_type() {
        let spec: serde_json::Value = serde_json::from_str(crate::routes::OPENAPI).unwrap();
        let listed: Vec<&str> = spec["components"]["schemas"]["Error"]["properties"]["error_type"]
            ["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let ours: Vec<&str> = ErrorType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(listed, ours);
    }

    #[test]
    fn a_sandbox_error_body_keeps_the_detail_for_the_log() {
        let err = ApiError::Sandbox(SandboxError::JailSetup {
            status: std::os::unix::process::ExitStatusExt::from_raw(255 << 8),
            log: "[E][2026][1] mount('/work/main/.sandbox/venv'): failed".into(),
        });
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_text(response);
        assert!(body.contains("sandbox_error"), "{body}");
        assert!(!body.contains("/work") && !body.contains("[E]"), "{body}");
    }

    /// The body's text, for the checks below.
    fn body_text(response: HttpResponse) -> String {
        actix_web::body::MessageBody::try_into_bytes(response.into_body())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    #[actix_web::test]
    async fn a_blocking_task_that_panics_is_the_servers_fault() {
        // What /execute and /validate do with the task that decodes the input and parses the
        // script, when it panics (the panic's message is printed: it is expected).
        let failed = actix_web::web::block(|| -> u8 { panic!("a checker's bug") })
            .await
            .map_err(|e| ApiError::task_failed("checking the script", e));
        let Err(err) = failed else {
            panic!("a task that panicked returned a value")
        };
        assert_eq!(err.error_type(), ErrorType::SandboxError);
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.extensions().get::<ErrorType>(),
            Some(&ErrorType::SandboxError),
            "the request log reads it"
        );
        let body = body_text(response);
        assert!(body.contains(r#""error_type":"sandbox_error""#), "{body}");
        assert!(
            !body.contains("checking the script"),
            "the detail is for the log: {body}"
        );
        // So does tokio's own JoinError (/validate's parser pool).
        let failed = tokio::task::spawn_blocking(|| -> u8 { panic!("a parser's bug") })
            .await
            .map_err(|e| ApiError::task_failed("checking the script", e));
        assert!(
            matches!(&failed, Err(e) if e.error_type() == ErrorType::SandboxError),
            "{failed:?}"
        );
    }

    #[test]
    fn a_parser_that_fails_is_not_the_scripts_fault() {
        let err = ApiError::Script(ScriptError::CheckFailed("the parser panicked".into()));
        assert_eq!(err.error_type(), ErrorType::SandboxError);
        let body = err.body();
        assert_eq!(body.kind.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.error.contains("panicked"), "{}", body.error);
        // The script's own faults stay the script's.
        let err = ApiError::Script(ScriptError::NoMain);
        assert_eq!(err.error_type(), ErrorType::ValidationError);
    }

    #[test]
    fn the_body_is_the_responses() {
        let err = ApiError::Script(ScriptError::Syntax {
            line: 3,
            column: 7,
            message: "invalid syntax".into(),
        });
        let body = err.body();
        assert_eq!(
            (body.kind, body.line, body.column),
            (ErrorType::ValidationError, Some(3), Some(7))
        );
        let response = err.error_response();
        assert_eq!(response.status(), body.kind.status());
        let text = body_text(response);
        let mut ours = serde_json::to_value(&body).unwrap();
        let mut theirs: serde_json::Value = serde_json::from_str(&text).unwrap();
        // The timestamps are taken apart, a moment from each other.
        ours["timestamp"].take();
        theirs["timestamp"].take();
        assert_eq!(ours, theirs);
    }

    /// The `Retry-After` header of the response `err` is answered with.
    fn retry_after(err: &ApiError) -> Option<String> {
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let value = response.headers().get(header::RETRY_AFTER)?;
        Some(value.to_str().unwrap().to_string())
    }

    #[test]
    fn overload_carries_the_retry_after_its_error_estimated() {
        let err = ApiError::Sandbox(SandboxError::Overloaded {
            slots: 2,
            queued: 8,
            retry_after_secs: 15,
            waited: false,
        });
        assert_eq!(retry_after(&err).as_deref(), Some("15"));
        let err = ApiError::Sandbox(SandboxError::MemoryBusy {
            asked_mib: 300,
            free_mib: 100,
            runs_mib: 500,
            retry_after_secs: 4,
        });
        assert_eq!(retry_after(&err).as_deref(), Some("4"));
        let err = ApiError::BodiesOverloaded {
            budget: 100,
            retry_after_secs: 2,
        };
        assert_eq!(retry_after(&err).as_deref(), Some("2"));
        // /validate's carries no estimate: the floor. Whole seconds, at least 1, at most 300.
        let err = ApiError::ValidateOverloaded {
            parsers: 1,
            waiting: 4,
        };
        assert_eq!(retry_after(&err).as_deref(), Some("1"));
        for (secs, header) in [(0, "1"), (301, "300"), (u32::MAX, "300")] {
            let err = ApiError::BodiesOverloaded {
                budget: 100,
                retry_after_secs: secs,
            };
            assert_eq!(retry_after(&err).as_deref(), Some(header));
        }
        // Only 429s carry it.
        let response = ApiError::NotFound.error_response();
        assert!(!response.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn memory_that_can_never_fit_is_the_requests_fault() {
        let err = ApiError::Sandbox(SandboxError::MemoryOverBudget {
            asked_mib: 4096,
            most_mib: 500,
        });
        assert_eq!(err.error_type(), ErrorType::InvalidRequest);
        assert!(err.to_string().contains("at most 500 MiB"), "{err}");
    }
}
