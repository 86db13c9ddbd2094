//! The session routes: POST /sessions, POST /sessions/{id}/execute, GET and DELETE
//! /sessions/{id}. They decode and check bodies, find the caller's session, and answer; a cell's
//! answer is rendered exactly as /execute's (`execute::render`).
//!
//! Not here: the registry and its rules (crate::sessions), the jail (crate::sandbox), statuses
//! (crate::error).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::execute::render::render;
use super::execute::request::ExecuteRequest;
use crate::auth::ApiKeys;
use crate::body::BodyGate;
use crate::configuration::Settings;
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
    let keys = req.app_data::<web::Data<ApiKeys>>()?;
    if keys.0.is_empty() {
        return None;
    }
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|k| k.trim().to_string())
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub async fn create_session(
    req: HttpRequest,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    settings: web::Data<Settings>,
    sessions: web::Data<Arc<Sessions>>,
) -> Result<HttpResponse, ApiError> {
    let (body, _lease) = bodies.read_json::<CreateSession>(&req, payload).await?;
    // The same limits, ranges and messages as /execute's.
    let limits = ExecuteRequest {
        script: String::new(),
        timeout: body.timeout,
        memory: body.memory,
        input: None,
        parameters: None,
        files: None,
        capture_figures: None,
    }
    .limits(&settings)?;
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
    let new = NewSession {
        owner: owner(&req),
        limits,
        idle: Duration::from_secs(idle),
        files,
    };
    // On a task: a client that hangs up mid-start leaves a session that expires, never a
    // half-started one.
    let registry = sessions.get_ref().clone();
    let session = tokio::spawn(async move { registry.create(new).await })
        .await
        .map_err(|e| ApiError::task_failed("starting a session", e))??;
    Ok(HttpResponse::Created().json(Created {
        session_id: &session.id,
        created_at: rfc3339(session.created_at),
        expires_at: rfc3339(session.expires_at()),
        memory: session.memory_mib,
        timeout: session.timeout.as_secs(),
        idle_timeout: session.idle.as_secs(),
    }))
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
    let timeout = match cell.timeout {
        None => session.timeout,
        Some(t) if (1..=settings.max_timeout_secs).contains(&t) => Duration::from_secs(t),
        Some(t) => {
            return Err(ApiError::InvalidRequest(format!(
                "timeout must be between 1 and {} seconds, not {t}",
                settings.max_timeout_secs
            )))
        }
    };
    Ok((session, timeout))
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
    let (session, timeout) = prepare_cell(&req, &path, &cell, &settings, &sessions)?;
    let result = sessions.run_cell(&session, cell.code, timeout, None).await;
    Ok(render(result).into_response())
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
        cells_run: session
            .cells_run
            .load(std::sync::atomic::Ordering::Relaxed),
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
    let session = sessions.find(&path, owner(&req).as_deref())?;
    sessions
        .end(&session, crate::sandbox::SessionEnd::Deleted)
        .await;
    Ok(HttpResponse::NoContent().finish())
}
