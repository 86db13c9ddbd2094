//! POST /execute: decode the request, check the script, run it, encode the outcome.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::body::BodyGate;
use crate::configuration::Settings;
use crate::disconnect::client_gone;
use crate::error::{error_response, ApiError, ErrorBody, ErrorType};
use crate::files::{check_files, FileRequest};
use crate::metrics::Metrics;
use crate::sandbox::{
    Admission, Limits, Outcome, OutputSender, RunInput, RunStatus, Sandbox, Usage,
};
use crate::script::PythonScript;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    pub script: String,
    /// Seconds of wall time (and of CPU time per process).
    pub timeout: Option<u64>,
    /// MiB of memory for the whole run.
    pub memory: Option<u64>,
    /// main()'s argument and the `input_data` global. Present-but-null is an input (None).
    #[serde(default, deserialize_with = "present")]
    pub input: Option<Box<RawValue>>,
    /// The `parameters` global; must be an object.
    pub parameters: Option<Box<RawValue>>,
    /// Written into the run's working directory before the script starts.
    pub files: Option<Vec<FileRequest>>,
    /// Whether pyplot figures left open come back as PNG files (default true).
    pub capture_figures: Option<bool>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
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
    timestamp: String,
    duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

impl ExecuteRequest {
    /// The run's limits: the request's values or the defaults, range-checked against the settings.
    pub fn limits(&self, settings: &Settings) -> Result<Limits, ApiError> {
        let timeout = self.timeout.unwrap_or(settings.default_timeout_secs);
        if !(1..=settings.max_timeout_secs).contains(&timeout) {
            return Err(ApiError::InvalidRequest(format!(
                "timeout must be between 1 and {} seconds, not {timeout}",
                settings.max_timeout_secs
            )));
        }
        let memory = self.memory.unwrap_or(settings.default_memory_mib);
        if !(settings.min_memory_mib..=settings.max_memory_mib).contains(&memory) {
            return Err(ApiError::InvalidRequest(format!(
                "memory must be between {} and {} MiB, not {memory}",
                settings.min_memory_mib, settings.max_memory_mib
            )));
        }
        Ok(Limits {
            timeout: Duration::from_secs(timeout),
            memory_mib: memory,
        })
    }

    /// Takes out everything but the script for the run, checking the files (CPU work for large
    /// base64: call it off the async executor).
    pub fn take_input(&mut self, settings: &Settings) -> Result<RunInput, ApiError> {
        let parameters = self.parameters.take();
        if parameters
            .as_ref()
            .is_some_and(|p| !p.get().trim_start().starts_with('{'))
        {
            return Err(ApiError::InvalidRequest(
                "parameters must be a JSON object".to_string(),
            ));
        }
        let files = check_files(
            self.files.take().unwrap_or_default(),
            settings.max_input_files,
            settings.max_input_files_bytes,
        )?;
        Ok(RunInput {
            input: self.input.take(),
            parameters,
            files,
            capture_figures: self.capture_figures.unwrap_or(true),
        })
    }
}

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
    let check_and_run = async {
        Admitted::prepare(request, &settings, &sandbox)
            .await?
            .run(&sandbox, &metrics, None)
            .await
    };
    // A client that hangs up gets its run killed now (dropping the run kills the jail), not at
    // its timeout.
    let outcome = tokio::select! {
        outcome = check_and_run => outcome?,
        () = client_gone(&req) => {
            log::info!("execute: the client disconnected; its run was killed");
            return Ok(client_gone_response());
        }
    };
    Ok(respond(outcome))
}

/// A request that passed every check that comes before its run: it holds a sandbox slot and its
/// parsed script. Shared by /execute and /execute/stream, so that both refuse the same requests.
pub(crate) struct Admitted {
    admission: Admission,
    script: PythonScript,
    input: RunInput,
    limits: Limits,
}

impl Admitted {
    /// Checks the limits, waits (bounded) for a slot, then parses the script in it.
    pub(crate) async fn prepare(
        mut request: ExecuteRequest,
        settings: &Settings,
        sandbox: &Sandbox,
    ) -> Result<Admitted, ApiError> {
        let limits = request.limits(settings)?;
        // The slot comes first: it also bounds how many scripts are parsed at once (a
        // pathological one takes half a second of CPU and a large AST).
        // The run's memory comes with it, from the service's budget (it may wait, bounded, too).
        let admission = sandbox.admit(&limits).await?;
        // Parsing and decoding are CPU work: not on the async executor. The slot travels with
        // them, so that a client that hangs up mid-parse does not free its slot while the parse
        // still runs.
        let checker = settings.clone();
        let (checked, admission) = web::block(move || {
            let checked = request.take_input(&checker).and_then(|input| {
                let script = PythonScript::parse(request.script, checker.max_script_bytes)?;
                Ok::<_, ApiError>((script, input))
            });
            (checked, admission)
        })
        .await
        .map_err(|e| ApiError::InvalidRequest(format!("the script could not be checked: {e}")))?;
        let (script, input) = checked?;
        Ok(Admitted {
            admission,
            script,
            input,
            limits,
        })
    }

    /// Runs the script (copying its output to `output`, if given) and counts the run in the
    /// metrics. Dropping the future kills the run and frees the slot.
    pub(crate) async fn run(
        self,
        sandbox: &Sandbox,
        metrics: &Metrics,
        output: Option<OutputSender>,
    ) -> Result<Outcome, ApiError> {
        let outcome = sandbox
            .run_observed(
                self.admission,
                &self.script,
                &self.input,
                self.limits,
                output,
            )
            .await
            .inspect_err(|_| {
                metrics.record_execution(ErrorType::SandboxError.as_str(), Duration::ZERO)
            })?;
        let label = match &outcome.status {
            RunStatus::Completed { .. } => "success",
            RunStatus::Failed(f) => ErrorType::from(f.kind).as_str(),
        };
        metrics.record_execution(label, outcome.duration);
        Ok(outcome)
    }
}

/// For a client that hung up before its answer: nobody reads it, the status is for the log.
pub(crate) fn client_gone_response() -> HttpResponse {
    HttpResponse::new(actix_web::http::StatusCode::from_u16(499).unwrap_or_default())
}

/// /execute's answer to a run that happened (also the final event of /execute/stream).
pub(crate) fn respond(outcome: Outcome) -> HttpResponse {
    let duration_ms = u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX);
    match outcome.status {
        RunStatus::Completed {
            result,
            results,
            files,
        } => HttpResponse::Ok().json(Success {
            success: true,
            result: &result,
            results: results.as_deref(),
            files: files.as_deref(),
            stdout: outcome.stdout,
            stderr: outcome.stderr,
            timestamp: crate::timestamp(),
            duration_ms,
            usage: outcome.usage,
        }),
        RunStatus::Failed(failure) => {
            let error_type = ErrorType::from(failure.kind);
            let mut body = ErrorBody::new(error_type, failure.message);
            body.stdout = outcome.stdout;
            body.stderr = outcome.stderr;
            body.traceback = failure.traceback;
            body.exit_code = failure.exit_code;
            body.duration_ms = Some(duration_ms);
            error_response(&body)
        }
    }
}
