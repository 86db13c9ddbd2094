//! What a run that started gives back: how it ended (`RunStatus`), what it printed, how long it
//! took and what it used, and the chunks of output passed on while it runs.
//!
//! Not here: how a run's end is classified (verdict.rs), the sandbox's own failures (error.rs).

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

/// How a run that started ended.
#[derive(Debug)]
pub struct Outcome {
    pub status: RunStatus,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
    pub usage: Option<Usage>,
}

#[derive(Debug)]
pub enum RunStatus {
    /// main() returned; `result` is its value as JSON text, validated. `results` (an object of
    /// what save_result() saved) and `files` (what it left in ./output/) are checked likewise.
    Completed {
        result: Box<RawValue>,
        results: Option<Box<RawValue>>,
        files: Option<Box<RawValue>>,
        /// The interpreter's exit status, for the languages that report it on success
        /// (JavaScript, R, Bash); `None` for Python, whose success has none.
        exit_code: Option<i32>,
    },
    Failed(Failure),
}

#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    pub traceback: Option<String>,
    pub exit_code: Option<i32>,
}

impl Failure {
    /// A failure the server tells, without a traceback or an exit code of the script's.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            traceback: None,
            exit_code: None,
        }
    }
}

/// The user's own failures, as opposed to `SandboxError`, which is ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Validation,
    Runtime,
    InvalidResult,
    Exited,
    Timeout,
    MemoryLimit,
    OutputLimit,
    /// An import the operator's import policy refuses (see crate::policy).
    PolicyViolation,
}

/// Which of the script's output streams a chunk was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// Bytes the script wrote, passed on as they are read (for streaming). Only bytes within the
/// output cap are passed on, and each stream's chunks come in order.
#[derive(Debug)]
pub struct OutputChunk {
    pub stream: OutputStream,
    pub bytes: Vec<u8>,
}

/// Where a run copies its output while it runs. A bounded channel: a full one never slows the
/// run, its readers hold and coalesce what does not fit (see `capture::Forward`).
pub type OutputSender = mpsc::Sender<OutputChunk>;

/// The runner's own report of the run's resources. It comes out of the jail like the rest of the
/// frame: its shape is checked, its numbers are the script's to forge (for its own response only).
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    pub cpu_time_ms: u64,
    pub max_rss_kib: u64,
}
