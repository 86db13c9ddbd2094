//! Runs one script in a fresh nsjail sandbox. Knows nothing of HTTP.
//!
//! A run: wait for a slot, take a warm jail from the pool (or spawn a cold one), send the script,
//! read stdout/stderr/result up to their caps while enforcing the deadline, then kill and reap
//! everything and classify what happened into an `Outcome` (see jail.rs).

mod data;
mod jail;
mod limiter;
pub mod nsjail;
mod outputs;
mod pool;
mod reaper;
pub mod uids;
mod zygote;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::configuration::{Profile, SandboxSettings};
use crate::script::PythonScript;
pub use data::{Encoding, InputFile, RunInput};
use jail::{Jail, JailContext};
pub use limiter::Limiter;
use pool::Pool;
pub use pool::PoolMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_mib: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("all {slots} sandboxes are busy and {queued} requests are waiting")]
    Overloaded { slots: usize, queued: usize },
    #[error("cannot create the run's cgroup at {path}: {source}")]
    CreateCgroup {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create a pipe: {0}")]
    CreatePipe(#[source] std::io::Error),
    #[error("cannot start nsjail at {path}: {source}")]
    SpawnNsjail {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("waiting for nsjail failed: {0}")]
    WaitNsjail(#[source] std::io::Error),
    #[error("nsjail could not set up the sandbox (exit status {status}): {log}")]
    JailSetup { status: String, log: String },
    #[error("cannot start a zygote: {0}")]
    StartZygote(String),
    #[error("cannot fork a sandbox from its zygote: {0}")]
    ForkSandbox(String),
    #[error("all {0} sandbox uids are in use (more live sandboxes than SANDBOX_SLOTS and SANDBOX_POOL_SIZE allow)")]
    NoJailUid(u32),
}

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
/// run, its readers hold and coalesce what does not fit (see `jail::Forward`).
pub type OutputSender = mpsc::Sender<OutputChunk>;

/// The runner's own report of the run's resources. It comes out of the jail like the rest of the
/// frame: its shape is checked, its numbers are the script's to forge (for its own response only).
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    pub cpu_time_ms: u64,
    pub max_rss_kib: u64,
}

/// What /health reports about the sandbox. Anyone may ask, so it names no host path and quotes
/// no nsjail log: `reason` is in generic words, and the detail goes to the server's log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SandboxHealth {
    pub healthy: bool,
    pub reason: Option<String>,
    pub nsjail_executable: bool,
    pub nsjail_config_exists: bool,
    pub python_version: Option<String>,
    pub profile: &'static str,
    pub limiter: &'static str,
    pub limiter_note: Option<String>,
    pub slots: usize,
    pub busy: usize,
    pub queued: usize,
    /// Warm sandboxes kept ready, how they are made ("fork" or "spawn"), and how many are ready.
    pub pool_size: usize,
    pub pool_mode: &'static str,
    pub pool_ready: usize,
}

pub struct Sandbox {
    ctx: Arc<JailContext>,
    pool: Arc<Pool>,
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    state: Mutex<HealthState>,
}

#[derive(Debug, Default)]
struct HealthState {
    /// Why the last attempt to start a sandbox failed; cleared by the next one that starts.
    failure: Option<String>,
    python_version: Option<String>,
    last_probe: Option<Instant>,
}

/// How often an unhealthy sandbox is re-probed by /health, so that it recovers without traffic.
const REPROBE_EVERY: Duration = Duration::from_secs(5);

/// Pool counters for /metrics.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub target: usize,
    pub ready: usize,
    pub hits: u64,
    pub misses: u64,
    pub zygote_starts: u64,
}

impl Sandbox {
    /// Detects the limiter, starts the warm pool and probes the sandbox once. A failed probe does
    /// not stop start-up: the server comes up and /health answers 503 with the reason.
    /// `max_limits` are the largest limits a request may ask for (warm jails start with them).
    pub async fn start(settings: SandboxSettings, max_limits: Limits) -> Sandbox {
        reaper::start_if_init();
        let limiter = Limiter::detect(&settings.cgroup_parent);
        // The bind mount needs an absolute source; an unresolvable venv shows up in the probe.
        let venv = std::fs::canonicalize(&settings.venv_path)
            .unwrap_or_else(|_| settings.venv_path.clone());
        log::info!(
            "sandbox: profile {}, limiter {}, {} slots, {} warm ({}); nsjail {}, config {}, venv {}",
            settings.profile.as_str(),
            limiter.name(),
            settings.slots,
            settings.pool_size,
            settings.preload.join(", "),
            settings.nsjail_path.display(),
            settings.config_path.display(),
            venv.display()
        );
        if let Limiter::Rlimits { reason } = &limiter {
            log::warn!("no usable cgroup, memory and pids are limited by rlimits: {reason}");
        }
        let uids = uids::JailUids::new(
            settings.uid_base,
            uids::capacity(settings.slots, settings.pool_size),
        );
        let ctx = Arc::new(JailContext {
            settings,
            venv,
            limiter,
            uids,
        });
        // Without a cgroup a warm jail could not be narrowed to its request's memory (its
        // RLIMIT_AS was fixed at the maximum when it started), so there is no pool then.
        let pool_size = if ctx.limiter.uses_cgroups() {
            ctx.settings.pool_size
        } else {
            0
        };
        // Configuration refuses fork mode without a user namespace; this holds even for settings
        // built another way: the zygote's capabilities would be real root's.
        let mode = match (ctx.settings.pool_mode, ctx.settings.profile) {
            (PoolMode::Fork, Profile::Standard) => PoolMode::Fork,
            (PoolMode::Fork, _) => {
                log::warn!("fork mode needs the standard profile: warm sandboxes are spawned");
                PoolMode::Spawn
            }
            (mode, _) => mode,
        };
        let pool = Pool::start(ctx.clone(), pool_size, max_limits, mode);
        let sandbox = Sandbox {
            slots: Arc::new(Semaphore::new(ctx.settings.slots)),
            queued: AtomicUsize::new(0),
            state: Mutex::new(HealthState::default()),
            ctx,
            pool,
        };
        sandbox.probe(true).await;
        sandbox
    }

    /// Runs a trivial script through the full path once, to learn the Python version and to find
    /// out now, not at the first request, whether this host can run the sandbox at all. With
    /// `wait` false it gives up at once when no slot is free (a health check must not queue).
    async fn probe(&self, wait: bool) {
        self.lock_state().last_probe = Some(Instant::now());
        let probe = "import sys\ndef main():\n    return sys.version.split()[0]\n";
        let limits = Limits {
            timeout: Duration::from_secs(30),
            memory_mib: 256,
        };
        let script = match PythonScript::parse(probe.to_string(), usize::MAX) {
            Ok(script) => script,
            Err(e) => return log::error!("sandbox probe: {e}"),
        };
        let outcome = if wait {
            self.run(&script, &RunInput::default(), limits).await
        } else {
            match self.slots.clone().try_acquire_owned() {
                Ok(permit) => {
                    self.run_admitted(
                        Admission { _slot: permit },
                        &script,
                        &RunInput::default(),
                        limits,
                    )
                    .await
                }
                Err(_) => return,
            }
        };
        match outcome {
            Ok(Outcome {
                status: RunStatus::Completed { result, .. },
                ..
            }) => {
                let version = serde_json::from_str::<String>(result.get()).ok();
                log::info!("sandbox probe passed: python {version:?}");
                self.lock_state().python_version = version;
            }
            Ok(other) => {
                let reason = format!("the probe script failed: {:?}", other.status);
                log::error!("sandbox probe: {reason}");
                self.lock_state().failure = Some(reason);
            }
            Err(e) => log::error!("sandbox probe: {e}"),
        }
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, HealthState> {
        // The state is plain data: a panic while holding the lock cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The health report, after re-probing (at most every 5 s) a sandbox whose last start failed:
    /// a fixed host turns healthy again without waiting for a request to try.
    pub async fn check_health(&self) -> SandboxHealth {
        let reprobe = {
            let state = self.lock_state();
            state.failure.is_some()
                && state
                    .last_probe
                    .is_none_or(|at| at.elapsed() >= REPROBE_EVERY)
        };
        if reprobe && is_executable(&self.ctx.settings.nsjail_path) {
            self.probe(false).await;
        }
        let (health, detail) = self.health_and_detail();
        if let Some(detail) = detail {
            log::warn!("unhealthy: {detail}");
        }
        health
    }

    pub fn health(&self) -> SandboxHealth {
        self.health_and_detail().0
    }

    /// The report, and what is wrong in full (host paths, nsjail's words) for the log.
    fn health_and_detail(&self) -> (SandboxHealth, Option<String>) {
        let s = &self.ctx.settings;
        let nsjail_executable = is_executable(&s.nsjail_path);
        let nsjail_config_exists = s.config_path.is_file();
        let state = self.lock_state();
        let (reason, detail) = if !nsjail_executable {
            (
                Some("nsjail is missing or not executable (see NSJAIL_PATH)"),
                Some(format!(
                    "nsjail is missing or not executable at {}",
                    s.nsjail_path.display()
                )),
            )
        } else if !nsjail_config_exists {
            (
                Some("the nsjail config is missing (see NSJAIL_CONFIG)"),
                Some(format!(
                    "the nsjail config is missing at {}",
                    s.config_path.display()
                )),
            )
        } else if let Some(failure) = &state.failure {
            (
                Some("the last attempt to start a sandbox failed (the server's log says why)"),
                Some(format!(
                    "the last attempt to start a sandbox failed: {failure}"
                )),
            )
        } else {
            (None, None)
        };
        let available = self.slots.available_permits();
        let health = SandboxHealth {
            healthy: reason.is_none(),
            reason: reason.map(str::to_owned),
            nsjail_executable,
            nsjail_config_exists,
            python_version: state.python_version.clone(),
            profile: s.profile.as_str(),
            limiter: self.ctx.limiter.name(),
            // The full reason (cgroup paths) was logged at start-up.
            limiter_note: match &self.ctx.limiter {
                Limiter::Rlimits { .. } => Some(
                    "no usable cgroup v1 or v2 hierarchy (the server's start-up log says why)"
                        .to_string(),
                ),
                _ => None,
            },
            slots: s.slots,
            busy: s.slots.saturating_sub(available),
            queued: self.queued.load(Ordering::Relaxed),
            pool_size: self.pool.target(),
            pool_mode: self.pool.mode().as_str(),
            pool_ready: self.pool.ready_count(),
        };
        (health, detail)
    }

    /// Kills the warm sandboxes and removes their cgroups, and stops the pool from warming more.
    /// For shutdown: nothing is left behind when the process exits.
    pub async fn shutdown(&self) {
        for jail in self.pool.close() {
            jail.discard().await;
        }
        self.pool.join().await;
    }

    pub fn pool_stats(&self) -> PoolStats {
        PoolStats {
            target: self.pool.target(),
            ready: self.pool.ready_count(),
            hits: self.pool.hits.load(Ordering::Relaxed),
            misses: self.pool.misses.load(Ordering::Relaxed),
            zygote_starts: self.pool.zygote_starts.load(Ordering::Relaxed),
        }
    }

    /// Waits (bounded) for a free slot, then runs the script (see `run_admitted`).
    pub async fn run(
        &self,
        script: &PythonScript,
        input: &RunInput,
        limits: Limits,
    ) -> Result<Outcome, SandboxError> {
        let admission = self.admit().await?;
        self.run_admitted(admission, script, input, limits).await
    }

    /// Runs the script in a fresh sandbox, in the slot `admission` holds: a warm one from the pool
    /// when the script imports a preloaded module and one is ready and fits the limits, a cold one
    /// otherwise.
    pub async fn run_admitted(
        &self,
        admission: Admission,
        script: &PythonScript,
        input: &RunInput,
        limits: Limits,
    ) -> Result<Outcome, SandboxError> {
        self.run_observed(admission, script, input, limits, None)
            .await
    }

    /// `run_admitted`, also copying stdout and stderr to `output` as they are read. The outcome
    /// still holds all of both. Dropping the future kills the run and frees the slot.
    pub async fn run_observed(
        &self,
        _admission: Admission,
        script: &PythonScript,
        input: &RunInput,
        limits: Limits,
        output: Option<OutputSender>,
    ) -> Result<Outcome, SandboxError> {
        // A spawned warm jail is worth its warm-up (a third of a second of CPU) only to a script
        // that imports what it preloaded; a cold jail starts a plain script in about 40 ms. A
        // forked one costs a fork, and starts any script faster than a cold jail.
        let preloads = |module: &str| {
            self.ctx
                .settings
                .preload
                .iter()
                .any(|p| p.split('.').next() == Some(module))
        };
        // load_file() turns CSV, TSV and Parquet files into DataFrames: pandas without an import.
        let tables = input.files.iter().any(|f| {
            let name = f.name.to_ascii_lowercase();
            [".csv", ".tsv", ".parquet"]
                .iter()
                .any(|x| name.ends_with(x))
        });
        let wants_warm = self.pool.mode() == PoolMode::Fork
            || script.imports().iter().any(|m| preloads(m))
            || (tables && preloads("pandas"));
        let warm = if wants_warm {
            self.pool.take(&limits).await
        } else {
            None
        };
        let result = match warm {
            Some(jail) => {
                // Refill once the run is over, however it ends (a dropped request included).
                let _refill = RefillWhenDone(&self.pool);
                jail.execute(&self.ctx.settings, script, input, limits, output)
                    .await
            }
            None => match Jail::spawn(&self.ctx, &limits, &[], true).await {
                Ok(jail) => {
                    jail.execute(&self.ctx.settings, script, input, limits, output)
                        .await
                }
                Err(e) => Err(e),
            },
        };
        // Only failures to build the sandbox change health. What comes out of the jail (the result
        // frame, the exit status) is the script's to forge, and must not take the service down.
        match &result {
            Ok(_) => self.lock_state().failure = None,
            Err(SandboxError::Overloaded { .. }) => {}
            Err(e) => self.lock_state().failure = Some(e.to_string()),
        }
        result
    }

    /// Waits (bounded) for a free slot; beyond the queue, or past the wait, `Overloaded`.
    pub async fn admit(&self) -> Result<Admission, SandboxError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(Admission { _slot: permit });
        }
        let s = &self.ctx.settings;
        let overloaded = || SandboxError::Overloaded {
            slots: s.slots,
            queued: self.queued.load(Ordering::Relaxed),
        };
        // Reserve a queue place atomically, so that a burst cannot overshoot the bound.
        let reserved = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q < s.queue).then_some(q + 1)
            });
        if reserved.is_err() {
            return Err(overloaded());
        }
        // Given back however the wait ends, including when the request is dropped mid-wait (its
        // client hung up): a place that leaked would shrink the queue for good.
        let _place = QueuePlace(&self.queued);
        let waited = tokio::time::timeout(s.queue_wait, self.slots.clone().acquire_owned()).await;
        match waited {
            Ok(Ok(permit)) => Ok(Admission { _slot: permit }),
            _ => Err(overloaded()),
        }
    }
}

/// A sandbox slot, held from admission to the end of the run: dropping it frees the slot.
pub struct Admission {
    _slot: OwnedSemaphorePermit,
}

struct RefillWhenDone<'a>(&'a Pool);

impl Drop for RefillWhenDone<'_> {
    fn drop(&mut self) {
        self.0.refill_now();
    }
}

struct QueuePlace<'a>(&'a AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
