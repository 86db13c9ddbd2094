//! `run` without --url: the sandbox started in this process, as the server starts it
//! (startup::start_sandbox, from the same environment variables), one script run through
//! /execute/stream's own path (routes::run_streamed: the same checks, limits, run and answer),
//! and the sandbox shut down. No HTTP server, no port.
//!
//! What differs from a server, and why: no warm pool (a warm sandbox imports its preload, about
//! 2 s of CPU, before it could serve the one run it would ever serve), one slot and no sessions.
//! Logs go to stderr as text, warnings and errors only unless RUST_LOG says otherwise.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

use super::output::Printer;
use super::{Answer, Exit, Failed};
use crate::configuration::{LogFormat, Settings};
use crate::metrics::Metrics;
use crate::routes::{run_streamed, ExecuteRequest};
use crate::sandbox::Sandbox;
use crate::startup::{start_sandbox, Application};
use crate::telemetry::init_logging_at;

/// Output chunks in flight between the run's readers and the terminal (as /execute/stream's).
const CHANNEL_CHUNKS: usize = 64;

/// How long an interrupted run's cgroup is given to be removed before the process exits.
const INTERRUPTED_CLEANUP: std::time::Duration = std::time::Duration::from_millis(500);

/// What to do when this machine's sandbox is not there.
const INSTALL_HINT: &str = "install it with `make setup` (scripts/setup-sandbox.sh), or point \
NSJAIL_PATH, SANDBOX_VENV, SANDBOX_ROOT and NSJAIL_CONFIG at it (see `python-script-api --help`)";

/// Runs `body` (/execute's JSON body) here and gives the answer /execute would have given.
pub(super) async fn execute(body: Value, printer: &mut Printer) -> Result<Answer, Failed> {
    let request: ExecuteRequest = serde_json::from_value(body)
        .map_err(|e| Failed::usage(format!("the request cannot be made: {e}")))?;
    let (settings, sandbox) = start().await?;
    let (output, mut chunks) = mpsc::channel(CHANNEL_CHUNKS);
    let metrics = Metrics::default();
    let run = run_streamed(request, &settings, &sandbox, &metrics, output);
    // The run's sender goes with it: the chunks end when the run does.
    let show = async {
        while let Some(chunk) = chunks.recv().await {
            printer.output(chunk.stream, &chunk.bytes);
        }
    };
    let rendered = tokio::select! {
        (rendered, ()) = async { tokio::join!(run, show) } => Some(rendered),
        // Ctrl-C: the run is dropped, which kills its jail and removes its cgroup.
        _ = tokio::signal::ctrl_c() => None,
    };
    sandbox.shutdown().await;
    let Some(rendered) = rendered else {
        // The dropped run's cgroup is removed by a thread of its own once its killed processes
        // are gone (a few ms, RunCgroup's Drop); a process that exits at once would leave it to
        // the next start's sweep. Half a second is ample for it and unnoticeable after a Ctrl-C.
        tokio::time::sleep(INTERRUPTED_CLEANUP).await;
        return Err(Failed::new(
            Exit::Interrupted,
            "interrupted; the run was killed",
        ));
    };
    serde_json::from_slice(&rendered.body)
        .map_err(|_| Failed::new(Exit::ServiceFailed, "the run's answer could not be read"))
}

/// The sandbox, started from the environment as the server's is, or why it cannot run here.
async fn start() -> Result<(Settings, Arc<Sandbox>), Failed> {
    let configuration =
        |e: &dyn std::fmt::Display| Failed::new(Exit::ServiceFailed, format!("configuration: {e}"));
    let mut settings = Settings::from_env().map_err(|e| configuration(&e))?;
    init_logging_at(LogFormat::Text, "warn");
    settings.sandbox.pool_size = 0;
    settings.sandbox.slots = 1;
    settings.sandbox.sessions_max = 0;
    let (sandbox, notes) = match start_sandbox(&mut settings).await {
        Ok(started) => started,
        Err(e) => {
            return Err(match Application::config_error(&e) {
                Some(config) => configuration(config),
                None => Failed::new(
                    Exit::ServiceFailed,
                    format!("the sandbox could not start: {e}"),
                ),
            })
        }
    };
    notes.iter().for_each(|n| log::info!("memory budget: {n}"));
    let health = sandbox.health();
    if !health.healthy {
        sandbox.shutdown().await;
        let reason = health.reason.unwrap_or_default();
        return Err(Failed::new(
            Exit::ServiceFailed,
            format!("the sandbox cannot run scripts here: {reason}; {INSTALL_HINT}"),
        ));
    }
    Ok((settings, sandbox))
}
