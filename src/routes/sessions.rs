//! The session routes: POST /sessions, POST /sessions/{id}/execute, GET and DELETE
//! /sessions/{id}. They decode and check bodies, find the caller's session, and answer; a cell's
//! answer is rendered exactly as /execute's (`execute::render`).
//!
//! Not here: the registry and its rules (crate::sessions), the jail (crate::sandbox), statuses
//! (crate::error).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::execute::events::EventStream;
use super::execute::render::render;
use super::execute::request::{timeout_in_range, ExecuteRequest};
use super::execute::stream::{negotiate, streamed, CHANNEL_CHUNKS};
use crate::body::BodyGate;
use crate::configuration::Settings;
use crate::disconnect::client_gone;
use crate::error::ApiError;
use crate::files::{check_files, FileRequest};
use crate::sessions::{NewSession, Session, Sessions};

/// A session's idle timeout when the request names none.
pub const DEFAULT_IDLE_SECS: u64 = 600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// MiB for the whole session (its Python and everything it starts).
    pub memory: Option<u64>,
    /// The cells' default timeout, in seconds.
    pub timeout: Option<u64>,
    /// Seconds without a cell after which the session ends.
    pub idle_timeout: Option<u64>,
    /// Written into the working directory before the first cell.
    pub files: Option<Vec<FileRequest>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellRequest {
    pub code: String,
    /// Seconds; the session's `timeout` when absent.
    pub timeout: Option<u64>,
}

#[derive(Serialize)]
struct Created<'a> {
    session_id: &'a str,
    created_at: String,
    expires_at: String,
    memory: u64,
    timeout: u64,
    idle_timeout: u64,
}

#[derive(Serialize)]
struct Described<'a> {
    session_id: &'a str,
    created_at: String,
    expires_at: String,
    memory: u64,
    timeout: u64,
    idle_timeout: u64,
    cells_run: u64,
    /// Bytes the session's processes hold (its cgroup's memory, its zygote's included).
    memory_used_bytes: u64,
    busy: bool,
    variables: serde_json::Value,
}

/// The key the request presented, when API keys are on: the session's owner.
fn owner(req: &HttpRequest) -> Option<String> {
    crate::auth::owner(req)
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new session's parameters from its request, checked as /execute checks its own.
async fn new_session(
    req: &HttpRequest,
    settings: &Settings,
    body: CreateSession,
) -> Result<NewSession, ApiError> {
    // The same limits, ranges and messages as /execute's.
    let limits = ExecuteRequest {
        script: String::new(),
        timeout: body.timeout,
        memory: body.memory,
        input: None,
        parameters: None,
        files: None,
        capture_figures: None,
        language: None,
    }
    .limits(settings)?;
    let idle = body.idle_timeout.unwrap_or(DEFAULT_IDLE_SECS);
    if !(1..=settings.session_max_idle_secs).contains(&idle) {
        return Err(ApiError::InvalidRequest(format!(
            "idle_timeout must be between 1 and {} seconds, not {idle}",
            settings.session_max_idle_secs
        )));
    }
    let (max_files, max_bytes) = (settings.max_input_files, settings.max_input_files_bytes);
    let requested = body.files.unwrap_or_default();
    let files = web::block(move || check_files(requested, max_files, max_bytes))
        .await
        .map_err(|e| ApiError::task_failed("checking the session's files", e))??;
    Ok(NewSession {
        owner: owner(req),
        limits,
        keep_mib: settings.max_memory_mib,
        idle: Duration::from_secs(idle),
        files,
    })
}

pub async fn create_session(
    req: HttpRequest,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    settings: web::Data<Settings>,
    sessions: web::Data<Arc<Sessions>>,
) -> Result<HttpResponse, ApiError> {
    let (body, _lease) = bodies.read_json::<CreateSession>(&req, payload).await?;
    Ok(HttpResponse::Created().json(open(&req, &settings, &sessions, body).await?))
}

/// A new session for the request's key: what POST /sessions answers, and what MCP's
/// `create_session` returns (crate::mcp).
pub(crate) async fn open(
    req: &HttpRequest,
    settings: &Settings,
    sessions: &Arc<Sessions>,
    body: CreateSession,
) -> Result<serde_json::Value, ApiError> {
    let new = new_session(req, settings, body).await?;
    let session = sessions.create(new).await?;
    serde_json::to_value(Created {
        session_id: &session.id,
        created_at: rfc3339(session.created_at),
        expires_at: rfc3339(session.expires_at()),
        memory: session.memory_mib,
        timeout: session.timeout.as_secs(),
        idle_timeout: session.idle.as_secs(),
    })
    .map_err(|e| ApiError::task_failed("describing the new session", e))
}

/// The session and the cell's timeout, checked; for the plain and the streamed cell alike.
pub(super) fn prepare_cell(
    req: &HttpRequest,
    id: &str,
    cell: &CellRequest,
    settings: &Settings,
    sessions: &Sessions,
) -> Result<(Arc<Session>, Duration), ApiError> {
    let session = sessions.find(id, owner(req).as_deref())?;
    if cell.code.len() > settings.max_script_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "the cell's code is {} bytes, more than the {} allowed",
            cell.code.len(),
            settings.max_script_bytes
        )));
    }
    let timeout = cell_timeout(cell.timeout, settings)?.unwrap_or(session.timeout);
    Ok((session, timeout))
}

/// A cell's own timeout, if it asks for one: within /execute's range.
fn cell_timeout(asked: Option<u64>, settings: &Settings) -> Result<Option<Duration>, ApiError> {
    asked
        .map(|t| timeout_in_range(t, settings).map(Duration::from_secs))
        .transpose()
}

pub async fn execute_cell(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    settings: web::Data<Settings>,
    sessions: web::Data<Arc<Sessions>>,
) -> Result<HttpResponse, ApiError> {
    let (cell, _lease) = bodies.read_json::<CellRequest>(&req, payload).await?;
    Ok(render(run_cell(&req, &path, cell, &settings, &sessions).await).into_response())
}

/// One cell in the request key's session: what POST /sessions/{id}/execute runs, and what MCP's
/// `run_python` with a `session_id` runs (crate::mcp).
pub(crate) async fn run_cell(
    req: &HttpRequest,
    id: &str,
    cell: CellRequest,
    settings: &Settings,
    sessions: &Arc<Sessions>,
) -> Result<crate::sandbox::Outcome, ApiError> {
    let (session, timeout) = prepare_cell(req, id, &cell, settings, sessions)?;
    sessions.run_cell(&session, cell.code, timeout, None).await
}

/// POST /sessions/{id}/execute/stream: the cell's stdout and stderr as they come, then its
/// answer as the final event, with /execute/stream's formats and rules. Failures before the cell
/// starts (404, 409, a bad body) are plain JSON errors.
pub async fn execute_cell_stream(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    settings: web::Data<Settings>,
    sessions: web::Data<Arc<Sessions>>,
) -> Result<HttpResponse, ApiError> {
    use actix_web::HttpMessage;

    let format = negotiate(&req);
    let (cell, lease) = bodies.read_json::<CellRequest>(&req, payload).await?;
    let (session, timeout) = prepare_cell(&req, &path, &cell, &settings, &sessions)?;
    // Busy is a plain 409, before the stream starts: the session is claimed here and the claim
    // handed on to the cell.
    let claim = session.claim()?;
    let (output_tx, output_rx) = tokio::sync::mpsc::channel(CHANNEL_CHUNKS);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let registry = sessions.get_ref().clone();
    let request_id = req
        .extensions()
        .get::<crate::request_id::RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    // Aborting this task (the client left) does not stop the cell: it runs on, within its
    // timeout, on a task of the session's (the session's state is the cell's to finish).
    let run = actix_web::rt::spawn(crate::request_id::with_request_id(
        request_id.clone(),
        async move {
            let _lease = lease;
            let result = registry
                .run_claimed(claim, cell.code, timeout, Some(output_tx))
                .await;
            let _ = done_tx.send(render(result));
        },
    ));
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

/// One cell of a batch: its code, or its code and a timeout of its own.
#[derive(Debug, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub enum BatchCell {
    Code(String),
    Cell(CellRequest),
}

impl TryFrom<serde_json::Value> for BatchCell {
    type Error = String;

    /// With an error that says what a cell may be (serde's untagged enums say only that nothing
    /// matched).
    fn try_from(value: serde_json::Value) -> Result<Self, String> {
        match value {
            serde_json::Value::String(code) => Ok(BatchCell::Code(code)),
            object @ serde_json::Value::Object(_) => serde_json::from_value(object)
                .map(BatchCell::Cell)
                .map_err(|e| format!("a batch cell: {e}")),
            _ => Err(
                "each batch cell is a string of code, or an object {\"code\": ..., \"timeout\"?: s}"
                    .into(),
            ),
        }
    }
}

impl BatchCell {
    fn code(&self) -> &str {
        match self {
            BatchCell::Code(code) => code,
            BatchCell::Cell(cell) => &cell.code,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The cells, run in order in one fresh session.
    pub cells: Vec<BatchCell>,
    /// Whether a failed cell stops the batch (default true).
    pub stop_on_error: Option<bool>,
    /// As POST /sessions: the session's memory, each cell's timeout, its input files.
    pub memory: Option<u64>,
    pub timeout: Option<u64>,
    pub files: Option<Vec<FileRequest>>,
}

#[derive(Serialize)]
struct BatchAnswer {
    /// Whether every cell ran and succeeded.
    success: bool,
    /// Each cell that ran, in order: the body its POST /sessions/{id}/execute would have had.
    cells: Vec<Box<serde_json::value::RawValue>>,
    cells_run: usize,
    timestamp: String,
    duration_ms: u64,
}

/// The most cells a batch may hold: each answer is kept until the batch answers.
pub(crate) const MAX_BATCH_CELLS: usize = 100;
/// What the kept answers of a batch may come to; past it the batch stops (`success` false, and
/// `cells_run` says how far it got). A cell's answer alone can reach the output caps (stdout,
/// stderr, the result and the output files, in base64), so without it a long batch of such cells
/// would hold gigabytes in the server.
pub(crate) const MAX_BATCH_ANSWER_BYTES: usize = 64 << 20;

/// POST /batch: the cells in order in a fresh temporary session, ended with the batch (even if
/// the client leaves first); each cell's outcome, as a cell's answer. The whole batch runs within
/// MAX_TIMEOUT_SECS (each cell's timeout is cut to what is left), so that one that nobody waits
/// for any more does not hold a session for hours.
pub async fn batch(
    req: HttpRequest,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    settings: web::Data<Settings>,
    sessions: web::Data<Arc<Sessions>>,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let (body, _lease) = bodies.read_json::<BatchRequest>(&req, payload).await?;
    if body.cells.len() > MAX_BATCH_CELLS {
        return Err(ApiError::InvalidRequest(format!(
            "a batch holds at most {MAX_BATCH_CELLS} cells; this one has {}",
            body.cells.len()
        )));
    }
    let total: usize = body.cells.iter().map(|c| c.code().len()).sum();
    if total > settings.max_script_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "the cells come to {total} bytes, more than the {} allowed",
            settings.max_script_bytes
        )));
    }
    let new = new_session(
        &req,
        &settings,
        CreateSession {
            memory: body.memory,
            timeout: body.timeout,
            idle_timeout: None,
            files: body.files,
        },
    )
    .await?;
    // Each cell's own timeout, checked as a cell's, before the session starts.
    let mut cells = Vec::with_capacity(body.cells.len());
    for cell in body.cells {
        let (code, timeout) = match cell {
            BatchCell::Code(code) => (code, None),
            BatchCell::Cell(cell) => {
                let timeout = cell_timeout(cell.timeout, &settings)?;
                (cell.code, timeout)
            }
        };
        cells.push((code, timeout));
    }
    let stop_on_error = body.stop_on_error.unwrap_or(true);
    let registry = sessions.get_ref().clone();
    let budget = Duration::from_secs(settings.max_timeout_secs);
    let ran = tokio::spawn(async move {
        let session = registry.create(new).await?;
        let mut answers = Vec::with_capacity(cells.len());
        let mut kept = 0usize;
        let mut all_ok = true;
        for (code, timeout) in cells {
            let left = budget.saturating_sub(started.elapsed());
            if left.is_zero() || kept > MAX_BATCH_ANSWER_BYTES {
                all_ok = false;
                break;
            }
            let timeout = timeout.unwrap_or(session.timeout).min(left);
            let result = registry.run_cell(&session, code, timeout, None).await;
            let gone = matches!(result, Err(ApiError::SessionNotFound(_)));
            let rendered = render(result);
            let ok = rendered.error_type.is_none();
            all_ok &= ok;
            let text = String::from_utf8_lossy(&rendered.body).into_owned();
            kept = kept.saturating_add(text.len());
            if let Ok(raw) = serde_json::value::RawValue::from_string(text) {
                answers.push(raw);
            }
            if gone || (!ok && stop_on_error) {
                break;
            }
        }
        registry
            .end(&session, crate::sandbox::SessionEnd::BatchDone)
            .await;
        Ok::<_, ApiError>((answers, all_ok))
    })
    .await
    .map_err(|e| ApiError::task_failed("a batch", e))?;
    let (answers, all_ok) = ran?;
    Ok(HttpResponse::Ok().json(BatchAnswer {
        success: all_ok,
        cells_run: answers.len(),
        cells: answers,
        timestamp: crate::timestamp(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }))
}

pub async fn describe_session(
    req: HttpRequest,
    path: web::Path<String>,
    sessions: web::Data<Arc<Sessions>>,
) -> Result<HttpResponse, ApiError> {
    let session = sessions.find(&path, owner(&req).as_deref())?;
    let (variables, busy) = sessions.variables(&session).await;
    // The listing may have found the session ended (a __repr__ that ran out of memory).
    let session = sessions.find(&path, owner(&req).as_deref())?;
    Ok(HttpResponse::Ok().json(Described {
        session_id: &session.id,
        created_at: rfc3339(session.created_at),
        expires_at: rfc3339(session.expires_at()),
        memory: session.memory_mib,
        timeout: session.timeout.as_secs(),
        idle_timeout: session.idle.as_secs(),
        cells_run: session.cells_run.load(std::sync::atomic::Ordering::Relaxed),
        memory_used_bytes: session
            .memory_bytes
            .load(std::sync::atomic::Ordering::Relaxed),
        busy,
        variables,
    }))
}

pub async fn delete_session(
    req: HttpRequest,
    path: web::Path<String>,
    sessions: web::Data<Arc<Sessions>>,
) -> Result<HttpResponse, ApiError> {
    close(&req, &path, &sessions).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ends the request key's session at once: DELETE /sessions/{id}, and MCP's `close_session`.
pub(crate) async fn close(
    req: &HttpRequest,
    id: &str,
    sessions: &Sessions,
) -> Result<(), ApiError> {
    let session = sessions.find(id, owner(req).as_deref())?;
    sessions
        .end(&session, crate::sandbox::SessionEnd::Deleted)
        .await;
    Ok(())
}
