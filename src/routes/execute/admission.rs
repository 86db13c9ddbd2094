//! `Admitted`: a request that passed every check that comes before its run, and holds a sandbox
//! slot, its memory and its parsed script; then its run, counted in the metrics. Shared by
//! /execute and /execute/stream, so that both refuse the same requests the same way. What the
//! run's result becomes on the wire is `render.rs`'s.

use std::time::Duration;

use actix_web::web;

use super::request::ExecuteRequest;
use crate::configuration::Settings;
use crate::error::{ApiError, ErrorType};
use crate::language::{Language, Languages};
use crate::metrics::Metrics;
use crate::sandbox::{
    Admission, Limits, Outcome, OutputSender, RunInput, RunStatus, Sandbox, SandboxError,
};
use crate::script::PythonScript;

/// The checks a request passes before it runs, but for its slot: its limits, its parameters and
/// input files, and the script's parse. What POST /jobs asks before it stores a job, so that a
/// job is refused exactly as /execute would refuse it. CPU work (a parse, base64 decoding): call
/// it off the async executor; `check` returns what the run needs.
pub(crate) fn check(
    request: ExecuteRequest,
    settings: &Settings,
    languages: &Languages,
) -> Result<(PythonScript, RunInput), ApiError> {
    request.limits(settings)?;
    let language = resolve(&request, languages)?;
    parsed(request, settings, language)
}

/// The request's language, among those the sandbox offers (400 naming them otherwise).
fn resolve(request: &ExecuteRequest, languages: &Languages) -> Result<Language, ApiError> {
    languages
        .resolve(request.language.as_deref())
        .map_err(ApiError::InvalidRequest)
}

/// The script's parse and the input's checks (the part of `check` done within a slot).
fn parsed(
    mut request: ExecuteRequest,
    settings: &Settings,
    language: Language,
) -> Result<(PythonScript, RunInput), ApiError> {
    let input = request.take_input(settings)?;
    let script = PythonScript::for_language(language, request.script, settings.max_script_bytes)?;
    Ok((script, input))
}

/// How long a request refused on arrival (no slot, no queue place) waits before its 429 is sent.
/// Measured (bench/README.md, 2026-12-03): a 429 costs the server about 30 µs of CPU, most of it
/// the kernel's send and receive, a tenth the log line; the body's parse is under 1 %. So the
/// only way to make 429s cheap for the runs is to answer fewer of them: a client that ignores
/// `Retry-After` and spins on one connection then gets at most ten a second, not thousands. The
/// request holds nothing of the sandbox while it waits (its body's bytes stay counted, within
/// `MAX_BODIES_IN_FLIGHT_BYTES`), and a client that honours `Retry-After` (at least 1 s) never
/// notices.
const REFUSAL_PAUSE: Duration = Duration::from_millis(100);

pub(super) struct Admitted {
    admission: Admission,
    script: PythonScript,
    input: RunInput,
    limits: Limits,
}

impl Admitted {
    /// Checks the limits, waits (bounded) for a slot, then parses the script in it.
    pub(super) async fn prepare(
        request: ExecuteRequest,
        settings: &Settings,
        sandbox: &Sandbox,
    ) -> Result<Admitted, ApiError> {
        let limits = request.limits(settings)?;
        let language = resolve(&request, sandbox.languages())?;
        // The slot comes first: it also bounds how many scripts are parsed at once (a
        // pathological one takes half a second of CPU and a large AST).
        // The run's memory comes with it, from the service's budget (it may wait, bounded, too).
        let admission = match sandbox.admit(&limits).await {
            Ok(admission) => admission,
            Err(e) => {
                if matches!(e, SandboxError::Overloaded { waited: false, .. }) {
                    drop(request);
                    tokio::time::sleep(REFUSAL_PAUSE).await;
                }
                return Err(e.into());
            }
        };
        // Parsing and decoding are CPU work: not on the async executor. The slot travels with
        // them, so that a client that hangs up mid-parse does not free its slot while the parse
        // still runs.
        let checker = settings.clone();
        let (checked, admission) =
            web::block(move || (parsed(request, &checker, language), admission))
                .await
                // The task panicked (or was cancelled): the server's fault, whatever the request held.
                .map_err(|e| ApiError::task_failed("checking the script and its input", e))?;
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
    pub(super) async fn run(
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
