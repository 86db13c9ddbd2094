//! The sandbox's own failures: one variant per operation that can fail, carrying the path and the
//! cause, so that a log line says which step failed on which file without a debugger.
//!
//! Not here: the script's failures (a timeout, a traceback, a forged frame), which are outcomes of a
//! run (`RunStatus::Failed`, outcome.rs), and how any of these become HTTP statuses (src/error.rs).

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    // Admission: the answer to load, or to a request the budget can never hold.
    /// No slot: the queue is full (for the expected wait, or at its cap), or the wait ran out.
    #[error("all {slots} sandboxes are busy and {queued} requests are waiting")]
    Overloaded {
        slots: usize,
        queued: usize,
        /// Seconds until a request sent then would be queued, as estimated (pace.rs).
        retry_after_secs: u32,
        /// Whether the request waited in the queue first (false: refused on arrival).
        waited: bool,
    },
    /// More than the runs' share of the memory budget: it could never run here.
    #[error(
        "memory {asked_mib} MiB can never fit in this server's memory budget: a run may have at \
         most {most_mib} MiB"
    )]
    MemoryOverBudget { asked_mib: u64, most_mib: u64 },
    /// The memory budget is held by other runs, and did not free up in time.
    #[error(
        "the server's memory budget is in use: this run needs {asked_mib} MiB, {free_mib} of \
         {runs_mib} MiB are free"
    )]
    MemoryBusy {
        asked_mib: u64,
        free_mib: u64,
        runs_mib: u64,
        /// Seconds until enough runs are expected to have ended (admission.rs fills it in).
        retry_after_secs: u32,
    },
    #[error("all {0} sandbox uids are in use (more live sandboxes than SANDBOX_SLOTS, SANDBOX_POOL_SIZE and SESSIONS_MAX allow)")]
    NoJailUid(u32),

    // The run's cgroup (limiter.rs).
    #[error("cannot create the run's cgroup at {path}: {source}")]
    CreateCgroup {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot set a limit of the run's cgroup in {path}: {source}")]
    SetCgroupLimit {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open {path} to join the run's cgroup: {source}")]
    OpenCgroupProcs {
        path: PathBuf,
        source: std::io::Error,
    },

    // The channels to a jail (process.rs, zygote.rs).
    #[error("cannot create a pipe: {0}")]
    CreatePipe(#[source] std::io::Error),
    #[error("cannot create a zygote's control socket: {0}")]
    CreateControlSocket(#[source] std::io::Error),
    #[error("cannot make a zygote's control socket non-blocking: {0}")]
    SetNonBlocking(#[source] std::io::Error),
    #[error("cannot open {path} for a zygote's output: {source}")]
    OpenDevNull {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot register a sandbox's fd with the async runtime: {0}")]
    RegisterFd(#[source] std::io::Error),

    // nsjail (process.rs, jail.rs).
    #[error("cannot start nsjail at {path}: {source}")]
    SpawnNsjail {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("waiting for nsjail failed: {0}")]
    WaitNsjail(#[source] std::io::Error),
    #[error("the task that watched a run ended without saying how the run ended")]
    WatcherGone,
    #[error("nsjail could not set up the sandbox ({status}): {log}")]
    JailSetup { status: ExitStatus, log: String },

    // Fork mode (zygote.rs).
    #[error("a zygote needs a cgroup, and this host has none")]
    ZygoteNeedsCgroup,
    #[error("a zygote did not become ready: {said} (nsjail: {nsjail}): {log}")]
    ZygoteNotReady {
        /// What the zygote said instead of "ready", or why nothing came.
        said: String,
        /// nsjail's exit status once killed, or why it could not be waited for.
        nsjail: String,
        /// nsjail's log.
        log: String,
    },
    #[error("expected one process besides nsjail in the zygote's cgroup, found {found:?}")]
    ZygoteProcesses { found: Vec<i32> },
    #[error("cannot ask a zygote to fork: {0}")]
    SendFork(#[source] std::io::Error),
    #[error("the zygote did not fork: {said}")]
    ForkRefused { said: String },
    #[error("the zygote did not answer a fork within {within:?}")]
    ForkNoAnswer { within: Duration },
    #[error("a forked sandbox failed to isolate itself: {said}")]
    ChildNotReady { said: String },

    // Sessions (session.rs).
    /// Sessions need fork mode (a zygote per session): spawn mode, no cgroup, or not x86_64.
    #[error("sessions need fork mode, which this server does not run: {why}")]
    SessionsUnavailable { why: String },
    /// SESSIONS_MAX sessions are open.
    #[error("{max} sessions are open, the most this server keeps (SESSIONS_MAX)")]
    TooManySessions { max: usize },
    /// The session's child failed before its first cell, for a reason of the server's.
    #[error("the session could not start: {said}")]
    SessionSetup { said: String },
    /// The session's input files do not fit in its memory: the client's to change.
    #[error(
        "the session's input files do not fit in its memory limit of {memory_mib} MiB: ask for \
         more memory, or send smaller files"
    )]
    SessionFilesDoNotFit { memory_mib: u64 },
}
