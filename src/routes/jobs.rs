//! The job routes: POST /jobs, GET /jobs, GET and DELETE /jobs/{id}, GET /jobs/{id}/events. They decode and check
//! requests (a job's body is /execute's, checked by /execute's own checks before it is stored),
//! ask the jobs service, and encode its jobs. A finished job carries the envelope /execute would
//! have answered with, rendered once by `execute::render` when the job ended.
//!
//! Not here: the queue, the worker and cancelling (crate::jobs), the database (crate::store),
//! statuses (crate::error).

use std::sync::Arc;

use std::time::Duration;

use actix_web::http::header::LOCATION;
use actix_web::web::Bytes;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use super::execute::events::EventStream;
use super::execute::render::{render, Rendered};
use super::execute::stream::{negotiate, streamed, CHANNEL_CHUNKS};
use super::execute::{check_request, ExecuteRequest};
use super::validate::ValidateGate;
use crate::body::{decode, BodyGate};
use crate::disconnect::client_gone;
use crate::error::{ApiError, ErrorType};
use crate::jobs::Jobs;
use crate::sandbox::{OutputChunk, OutputStream};
use crate::store::{JobRecord, JobStatus, ScriptRef};

/// `GET /jobs`' page size when `limit` is not given, and the most it may ask for.
pub const DEFAULT_LIST_LIMIT: u32 = 20;
pub const MAX_LIST_LIMIT: u32 = 100;

/// A list's page (GET /jobs, GET /scripts): `limit` (1 to MAX_LIST_LIMIT, DEFAULT_LIST_LIMIT when
/// absent) and the cursor a previous page of `list` gave, if any.
pub(super) fn page(
    limit: Option<u32>,
    cursor: Option<&str>,
    list: &str,
) -> Result<(u32, Option<i64>), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if !(1..=MAX_LIST_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!(
            "limit must be between 1 and {MAX_LIST_LIMIT}, not {limit}"
        )));
    }
    let before = match cursor {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            ApiError::InvalidRequest(format!("cursor {c:?} is not one GET {list} gave"))
        })?),
    };
    Ok((limit, before))
}

/// A job as the API shows it.
#[derive(Serialize)]
struct Described<'a> {
    job_id: &'a str,
    status: &'static str,
    status_url: String,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    /// The status /execute would have answered with (succeeded and failed jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    http_status: Option<u16>,
    /// /execute's whole answer (succeeded and failed jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    envelope: Option<Box<RawValue>>,
    /// Why the job was cancelled or lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    /// The saved script it runs (POST /scripts/{id}/jobs): its id and version.
    #[serde(skip_serializing_if = "Option::is_none")]
    script: Option<RanScript<'a>>,
}

/// Which saved script, and which version of it, a job runs.
#[derive(Serialize)]
struct RanScript<'a> {
    id: &'a str,
    version: i64,
}

/// The owner of the request's jobs: the SHA-256 of its API key, so that no key is written to
/// the store's disk in plain text (`None` when API keys are off).
pub(super) fn owner(req: &HttpRequest) -> Option<String> {
    use sha2::{Digest, Sha256};
    let key = crate::auth::owner(req)?;
    let digest = Sha256::new()
        .chain_update(b"python-script-api job owner\0")
        .chain_update(key.as_bytes())
        .finalize();
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

pub(super) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn status_url(id: &str) -> String {
    format!("/jobs/{id}")
}

fn describe(job: &JobRecord, with_envelope: bool) -> Described<'_> {
    Described {
        job_id: &job.id,
        status: job.status.as_str(),
        status_url: status_url(&job.id),
        created_at: rfc3339(job.created_at),
        started_at: job.started_at.map(rfc3339),
        finished_at: job.finished_at.map(rfc3339),
        http_status: job.http_status,
        envelope: job
            .answer
            .as_ref()
            .filter(|_| with_envelope)
            .and_then(|answer| RawValue::from_string(answer.clone()).ok()),
        message: job.message.as_deref(),
        script: job.script.as_ref().map(|s| RanScript {
            id: &s.id,
            version: s.version,
        }),
    }
}

/// POST /jobs: the body of /execute, checked as /execute checks it (a script /execute refuses
/// with a 400 is refused here with the same 400), stored, and answered 202 at once.
pub async fn submit_job(
    req: HttpRequest,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    gate: web::Data<ValidateGate>,
    jobs: web::Data<Arc<Jobs>>,
) -> Result<HttpResponse, ApiError> {
    let (body, _lease) = bodies.read(&req, payload).await?;
    submit(&req, &body, &gate, &jobs, None).await
}

/// A POST /jobs body's checks and submission: what POST /jobs does once it has the body, and
/// POST /scripts/{id}/jobs with a saved script's source in it (crate::routes::scripts), which
/// names that script in `script`.
pub(super) async fn submit(
    req: &HttpRequest,
    body: &[u8],
    gate: &ValidateGate,
    jobs: &Arc<Jobs>,
    script: Option<ScriptRef>,
) -> Result<HttpResponse, ApiError> {
    let (
        body,
        JobOptions {
            callback_url,
            max_attempts,
        },
    ) = split_callback(body)?;
    let request: ExecuteRequest = decode(body.as_bytes())?;
    // The parse is CPU work: within /validate's gate, which bounds exactly that. A job's limits
    // are /execute's but for its longer maximum timeout (the jobs service's settings).
    let checker = Arc::new(jobs.settings().clone());
    let languages = jobs.languages().clone();
    gate.check(move || check_request(request, &checker, &languages).map(drop))
        .await??;
    let job = jobs
        .submit(owner(req), body, callback_url, max_attempts, script)
        .await?;
    Ok(HttpResponse::Accepted()
        .insert_header((LOCATION, status_url(&job.id)))
        .json(describe(&job, false)))
}

/// The most attempts a job may ask for (`max_attempts`).
pub const MAX_ATTEMPTS: i64 = 10;

/// What a job's body holds beyond /execute's.
#[derive(Debug, PartialEq)]
struct JobOptions {
    callback_url: Option<String>,
    /// How many times it may be claimed: above 1, a job whose instance died is run again.
    max_attempts: i64,
}

/// A job's body is /execute's plus an optional `callback_url` and `max_attempts`: those are
/// taken out, and the rest, byte for byte as sent (no number is re-formatted), is /execute's body.
fn split_callback(body: &[u8]) -> Result<(String, JobOptions), ApiError> {
    let raw: std::collections::BTreeMap<String, Box<RawValue>> = match decode(body) {
        Ok(raw) => raw,
        // Not an object: /execute's own decoding says why, in its words.
        Err(_) => {
            decode::<ExecuteRequest>(body)?;
            return Err(ApiError::InvalidRequest(
                "the body must be a JSON object".to_string(),
            ));
        }
    };
    let mut rest = Vec::with_capacity(raw.len());
    let mut callback_url = None;
    let mut max_attempts = 1;
    for (name, value) in raw {
        if name == "max_attempts" {
            max_attempts = match serde_json::from_str::<Option<i64>>(value.get()) {
                Ok(None) => 1,
                Ok(Some(n)) if (1..=MAX_ATTEMPTS).contains(&n) => n,
                _ => {
                    return Err(ApiError::InvalidRequest(format!(
                        "max_attempts must be between 1 and {MAX_ATTEMPTS}"
                    )))
                }
            };
        } else if name == "callback_url" {
            callback_url = match serde_json::from_str::<Option<String>>(value.get()) {
                Ok(url) => url,
                Err(_) => {
                    return Err(ApiError::InvalidRequest(
                        "callback_url must be a string".to_string(),
                    ))
                }
            };
        } else {
            rest.push((name, value));
        }
    }
    let mut out = String::from("{");
    for (i, (name, value)) in rest.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(name).unwrap_or_default());
        out.push(':');
        out.push_str(value.get());
    }
    out.push('}');
    Ok((
        out,
        JobOptions {
            callback_url,
            max_attempts,
        },
    ))
}

/// GET /jobs/{id}: the job, with /execute's envelope once it has finished.
pub async fn describe_job(
    req: HttpRequest,
    id: web::Path<String>,
    jobs: web::Data<Arc<Jobs>>,
) -> Result<HttpResponse, ApiError> {
    let owner = owner(&req);
    let job = jobs.get(&id, owner.as_deref()).await?;
    Ok(HttpResponse::Ok().json(describe(&job, true)))
}

/// DELETE /jobs/{id}: cancels the job and answers with it as it now is (`cancelled`, or how it
/// had finished already).
pub async fn cancel_job(
    req: HttpRequest,
    id: web::Path<String>,
    jobs: web::Data<Arc<Jobs>>,
) -> Result<HttpResponse, ApiError> {
    let owner = owner(&req);
    let job = jobs.cancel(&id, owner.as_deref()).await?;
    Ok(HttpResponse::Ok().json(describe(&job, true)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct Listed<'a> {
    jobs: Vec<Described<'a>>,
    /// Pass it as `cursor` for the next (older) page; null on the last page.
    next_cursor: Option<String>,
}

/// GET /jobs?status=&limit=&cursor=: the caller's jobs, newest first, without their envelopes.
pub async fn list_jobs(
    req: HttpRequest,
    jobs: web::Data<Arc<Jobs>>,
) -> Result<HttpResponse, ApiError> {
    let query = web::Query::<ListQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::InvalidRequest(format!("invalid query: {e}")))?
        .into_inner();
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(JobStatus::parse(s).ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "status must be one of queued, running, succeeded, failed, cancelled, lost, not {s:?}"
            ))
        })?),
    };
    let (limit, before) = page(query.limit, query.cursor.as_deref(), "/jobs")?;
    let owner = owner(&req);
    let page = jobs.list(owner.as_deref(), status, before, limit).await?;
    let next_cursor = match page.last() {
        Some(last) if page.len() == limit as usize => Some(last.seq.to_string()),
        _ => None,
    };
    Ok(HttpResponse::Ok().json(Listed {
        jobs: page.iter().map(|job| describe(job, false)).collect(),
        next_cursor,
    }))
}

/// How often GET /jobs/{id}/events looks at a job that is queued, or runs elsewhere, at most: a
/// change on this instance wakes it at once.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// GET /jobs/{id}/events: the job as /execute/stream's events (SSE, or NDJSON on request): the
/// output it has written so far, then what it writes while it runs, then a final `result` event
/// with the envelope /execute would have answered with (for a cancelled or lost job, which has
/// none, the job itself). An unknown job is a plain 404 before the stream starts.
pub async fn job_events(
    req: HttpRequest,
    id: web::Path<String>,
    jobs: web::Data<Arc<Jobs>>,
) -> Result<HttpResponse, ApiError> {
    let owner = owner(&req);
    let id = id.into_inner();
    jobs.get(&id, owner.as_deref()).await?;
    let format = negotiate(&req);
    let (output_tx, output_rx) = mpsc::channel(CHANNEL_CHUNKS);
    let (done_tx, done_rx) = oneshot::channel();
    let jobs = Arc::clone(&jobs);
    // Following the job is a task of its own, aborted when the client goes away; the job itself
    // is not the stream's: it runs on.
    let follower = actix_web::rt::spawn(async move {
        let finale = follow(&jobs, &id, owner.as_deref(), &output_tx).await;
        let _ = done_tx.send(finale);
    });
    let request_id = req
        .extensions()
        .get::<crate::request_id::RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let events = EventStream::new(
        format,
        output_rx,
        done_rx,
        client_gone(&req),
        follower,
        request_id,
    );
    Ok(streamed(format, events))
}

/// Sends job `id`'s output to `output` until it has finished, and returns its final event.
async fn follow(
    jobs: &Jobs,
    id: &str,
    owner: Option<&str>,
    output: &mpsc::Sender<OutputChunk>,
) -> Rendered {
    let mut watched = false;
    loop {
        let changed = jobs.changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let job = match jobs.get(id, owner).await {
            Ok(job) => job,
            Err(e) => return render(Err(e)),
        };
        if job.status.is_final() {
            if !watched {
                for chunk in envelope_output(&job) {
                    let _ = output.send(chunk).await;
                }
            }
            return finale(&job);
        }
        if job.status == JobStatus::Running {
            if let Some((so_far, mut live)) = jobs.watch(id) {
                for chunk in so_far {
                    let _ = output.send(chunk).await;
                }
                while let Some(chunk) = live.recv().await {
                    let _ = output.send(chunk).await;
                }
                watched = true;
                continue;
            }
        }
        tokio::select! {
            () = changed => {}
            () = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
    }
}

/// A finished job's output, from its envelope: what a client that connects late gets.
fn envelope_output(job: &JobRecord) -> Vec<OutputChunk> {
    let Some(envelope) = job
        .answer
        .as_deref()
        .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
    else {
        return Vec::new();
    };
    [
        ("stdout", OutputStream::Stdout),
        ("stderr", OutputStream::Stderr),
    ]
    .into_iter()
    .filter_map(|(key, stream)| {
        let text = envelope.get(key)?.as_str()?;
        (!text.is_empty()).then(|| OutputChunk {
            stream,
            bytes: text.as_bytes().to_vec(),
        })
    })
    .collect()
}

/// A finished job's final event: its envelope, or for a job without one, the job itself.
fn finale(job: &JobRecord) -> Rendered {
    match job.answer.as_deref() {
        Some(answer) => {
            let error_type = serde_json::from_str::<serde_json::Value>(answer)
                .ok()
                .and_then(|a| a.get("error_type")?.as_str().map(str::to_string))
                .and_then(|t| ErrorType::ALL.into_iter().find(|e| e.as_str() == t));
            Rendered::stored(Bytes::from(answer.to_string()), error_type)
        }
        None => Rendered::stored(
            serde_json::to_vec(&describe(job, true))
                .unwrap_or_default()
                .into(),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::split_callback;

    #[test]
    fn the_callback_is_taken_out_and_the_rest_kept_as_sent() {
        let body = br#"{"script": "def main(x): return x", "input": 12345678901234567890123, "callback_url": "https://h/x"}"#;
        let (rest, options) = split_callback(body).unwrap();
        assert_eq!(options.callback_url.as_deref(), Some("https://h/x"));
        assert_eq!(options.max_attempts, 1);
        assert!(
            rest.contains("12345678901234567890123"),
            "numbers as sent: {rest}"
        );
        assert!(!rest.contains("callback_url"), "{rest}");
        let (rest, options) = split_callback(br#"{"script": "x", "max_attempts": 3}"#).unwrap();
        assert_eq!(rest, r#"{"script":"x"}"#);
        assert_eq!(
            options,
            super::JobOptions {
                callback_url: None,
                max_attempts: 3
            }
        );
        assert!(split_callback(br#"{"script": "x", "callback_url": 3}"#).is_err());
        assert!(split_callback(br#"{"script": "x", "max_attempts": 0}"#).is_err());
        assert!(split_callback(br#"{"script": "x", "max_attempts": 11}"#).is_err());
        assert!(split_callback(b"[1]").is_err());
    }
}
