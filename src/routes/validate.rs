//! POST /validate: checks a script as /execute would and says what it imports, without running
//! anything.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::execute::ExecuteRequest;
use crate::body::BodyGate;
use crate::configuration::Settings;
use crate::environment::Environment;
use crate::error::ApiError;
use crate::language::Language;
use crate::policy::RefusedImport;
use crate::sandbox::{Limits, RunInput, RunStatus, Sandbox};
use crate::script::{MainSignature, Problem, PythonScript, Report};

/// Bounds the parsing /validate does. It runs nothing, so it takes no sandbox slot and never
/// waits behind runs; but the parser spends up to a second of CPU and ~150 MiB on a pathological
/// 1 MiB script, so an unbounded burst would starve the runs of CPU and the server of memory.
/// Its own small semaphore rather than a sandbox slot: validation stays available while every
/// slot runs a long script. At most `VALIDATE_PARSERS` (default: half the CPUs) parse at once,
/// `VALIDATE_QUEUE` more wait, and the rest get 429 at once, as /execute's do when its queue is
/// full. The permits move into the blocking task, so a client that hangs up does not free its
/// place before the parser has finished. Checking the input files (base64 decoding) happens
/// under the same permits.
pub struct ValidateGate {
    parsing: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    parsers: usize,
    waiting: usize,
}

impl ValidateGate {
    pub fn new(parsers: usize, waiting: usize) -> ValidateGate {
        let parsers = parsers.max(1);
        ValidateGate {
            parsing: Arc::new(Semaphore::new(parsers)),
            admitted: Arc::new(Semaphore::new(parsers + waiting)),
            parsers,
            waiting,
        }
    }

    /// Runs `check` (CPU work: a parse, base64 decoding) on a blocking thread, within the gate:
    /// /validate's checks, and POST /jobs' (crate::routes::jobs).
    pub(crate) async fn check<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = || ApiError::ValidateOverloaded {
            parsers: self.parsers,
            waiting: self.waiting,
        };
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| busy())?;
        // The semaphores are never closed, so this only waits.
        let parsing = self
            .parsing
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| busy())?;
        tokio::task::spawn_blocking(move || {
            let _permits = (admitted, parsing);
            check()
        })
        .await
        // The check panicked (or was cancelled): the server's fault, not a finding about the
        // script, so not a report.
        .map_err(|e| ApiError::task_failed("checking the script", e))
    }
}

/// /validate's answer.
#[derive(Serialize)]
pub(crate) struct Validation {
    pub(crate) valid: bool,
    errors: Vec<Problem>,
    /// Python only: another language's main is its interpreter's to find, at run time.
    #[serde(skip_serializing_if = "Option::is_none")]
    main: Option<MainSignature>,
    /// Another language's: whose parser checked the syntax (in the jail). Absent for Python,
    /// which the server parses itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    checked_by: Option<String>,
    imports: Vec<String>,
    unavailable_imports: Vec<String>,
    /// Only when the server has an import policy. Not among `errors`: /execute refuses nothing
    /// by source, the jail refuses the import when it runs (see crate::policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    refused_imports: Option<Vec<RefusedImport>>,
}

/// The body is /execute's own (`ExecuteRequest`): the same fields are accepted and a typo is
/// refused the same way. A script that fails its checks is still a 200: the report is the answer.
pub async fn validate(
    req: HttpRequest,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    settings: web::Data<Settings>,
    gate: web::Data<ValidateGate>,
    environment: web::Data<Environment>,
    sandbox: web::Data<Arc<Sandbox>>,
) -> Result<HttpResponse, ApiError> {
    // The body under the shared budget and deadline first; this gate only once it is complete.
    let (request, _lease) = bodies.read_json::<ExecuteRequest>(&req, payload).await?;
    let language = sandbox
        .languages()
        .resolve(request.language.as_deref())
        .map_err(ApiError::InvalidRequest)?;
    if language != Language::Python {
        let validation = check_in_jail(request, language, &settings, &sandbox).await?;
        return Ok(HttpResponse::Ok().json(validation));
    }
    let validation = check(
        request,
        settings.into_inner(),
        &gate,
        environment.into_inner(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(validation))
}

/// A decoded request's report, within the gate: what POST /validate answers, and what MCP's
/// `validate_python` returns (crate::mcp).
pub(crate) async fn check(
    request: ExecuteRequest,
    settings: Arc<Settings>,
    gate: &ValidateGate,
    environment: Arc<Environment>,
) -> Result<Validation, ApiError> {
    gate.check(move || report(request, &settings, &environment))
        .await
}

/// Checks `request` as /execute would, without running it: the answer of /validate (through
/// `check`), and of the command line's local `validate` (crate::cli). CPU work (a parse of up to a second, base64
/// decoding): call it off the async executor.
pub(crate) fn report(
    mut request: ExecuteRequest,
    settings: &Settings,
    environment: &Environment,
) -> Validation {
    if let Some(name) = request.language.as_deref().filter(|n| *n != "python") {
        // The command line's local check: the server's own parser is Python's.
        return Validation::problems(
            vec![Problem::general(format!(
                "only a server can check a {name} script (its interpreter's parser runs in the \
                 jail): use --url"
            ))],
            None,
        );
    }
    // /execute refuses out-of-range limits before it looks at the script, so they are errors here.
    let limits = request.limits(settings).err();
    // And bad parameters or input files (names, encoding, caps).
    let input = request.take_input(settings).err();
    let report = Report::inspect(&request.script, settings.max_script_bytes);
    let mut errors = report.errors;
    errors.extend(limits.map(|e| Problem::general(e.to_string())));
    errors.extend(input.map(|e| Problem::general(e.to_string())));
    let unavailable_imports = environment.unavailable(&report.imports);
    let refused_imports = settings
        .sandbox
        .import_policy
        .as_ref()
        .map(|policy| policy.findings(&report.import_sites));
    Validation {
        valid: errors.is_empty(),
        errors,
        main: Some(report.main),
        checked_by: None,
        imports: report.imports,
        unavailable_imports,
        refused_imports,
    }
}

impl Validation {
    /// A report of another language's script: only problems, and who checked it.
    fn problems(errors: Vec<Problem>, checked_by: Option<String>) -> Validation {
        Validation {
            valid: errors.is_empty(),
            errors,
            main: None,
            checked_by,
            imports: Vec::new(),
            unavailable_imports: Vec::new(),
            refused_imports: None,
        }
    }
}

/// How long a syntax check may take in the jail: a parser, not a run.
const JAIL_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// What foreign.py's syntax check returns as its result.
#[derive(Deserialize)]
struct JailCheck {
    valid: bool,
    message: String,
    line: Option<usize>,
}

/// Another language's script, checked as /execute would (limits, input, size) and then by its
/// interpreter's own parser in a jail of its own (node --check, R's parse(), bash -n): nothing of
/// the script runs. It takes a sandbox slot, as a run does.
async fn check_in_jail(
    mut request: ExecuteRequest,
    language: Language,
    settings: &Settings,
    sandbox: &Sandbox,
) -> Result<Validation, ApiError> {
    let checked_by = language.spec().checked_by.to_string();
    let mut errors = Vec::new();
    if let Err(e) = request.limits(settings) {
        errors.push(Problem::general(e.to_string()));
    }
    let checker = settings.clone();
    let source = std::mem::take(&mut request.script);
    let (input, script) = web::block(move || {
        let input = request.take_input(&checker).err();
        let script = PythonScript::foreign(language, source, checker.max_script_bytes);
        (input, script)
    })
    .await
    .map_err(|e| ApiError::task_failed("checking the script", e))?;
    errors.extend(input.map(|e| Problem::general(e.to_string())));
    let script = match script {
        Ok(script) => script,
        Err(e) => {
            errors.push(e.into());
            return Ok(Validation::problems(errors, Some(checked_by)));
        }
    };
    let limits = Limits {
        timeout: JAIL_CHECK_TIMEOUT.min(Duration::from_secs(settings.max_timeout_secs)),
        memory_mib: settings.default_memory_mib,
    };
    let input = RunInput {
        check_syntax: true,
        ..RunInput::default()
    };
    let outcome = sandbox.run(&script, &input, limits).await?;
    match outcome.status {
        RunStatus::Completed { result, .. } => {
            match serde_json::from_str::<JailCheck>(result.get()) {
                Ok(check) if check.valid => {}
                Ok(check) => errors.push(Problem {
                    line: check.line,
                    column: None,
                    message: check.message,
                }),
                Err(e) => errors.push(Problem::general(format!(
                    "the syntax check answered something unexpected: {e}"
                ))),
            }
        }
        RunStatus::Failed(failure) => errors.push(Problem::general(format!(
            "the syntax check did not finish: {}",
            failure.message
        ))),
    }
    Ok(Validation::problems(errors, Some(checked_by)))
}
