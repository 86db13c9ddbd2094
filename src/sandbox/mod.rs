//! Runs one script in a fresh nsjail sandbox. Knows nothing of HTTP.
//!
//! A run: wait for a slot, take a warm jail from the pool (or spawn a cold one), send the script,
//! read stdout/stderr/result up to their caps while enforcing the deadline, then kill and reap
//! everything and classify what happened into an `Outcome` (see jail.rs).

#[cfg(test)]
mod agreement;
mod budget;
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
use budget::MemoryReservation;
pub use budget::{BudgetSource, MemoryBudget};
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
    },
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
    pub memory_budget: BudgetHealth,
}

/// What /health reports about the memory budget (no host paths: the start-up log has those).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BudgetHealth {
    /// The budget of all sandboxes together, in MiB.
    pub mib: u64,
    /// Where it came from: the setting, the container's cgroup limit, or the host's RAM.
    pub source: BudgetSource,
    /// The limit found (container or host) before the server's reserve; null with the setting.
    pub detected_mib: Option<u64>,
    /// Whether the parent cgroup carries the budget as its memory limit.
    pub enforced: bool,
    /// What one warm sandbox was measured to hold at start-up.
    pub warm_sandbox_mib: Option<u64>,
    /// Set aside for the warm pool.
    pub pool_mib: u64,
    /// What runs may hold together (the budget less the pool): no request may ask for more.
    pub runs_mib: u64,
    /// What running (and starting) runs hold now.
    pub reserved_mib: u64,
}

pub struct Sandbox {
    ctx: Arc<JailContext>,
    pool: Arc<Pool>,
    budget: MemoryBudget,
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
        // Before the limiter: under cgroup v2 it moves the server into a group of its own, and
        // the container's limit is found from the server's group.
        let detected = budget::detect(settings.memory_budget_mib);
        let mut limiter = Limiter::detect(&settings.cgroup_parent);
        let enforced = match limiter.limit_parent(detected.budget_mib.saturating_mul(1 << 20)) {
            Ok(()) => true,
            Err(e) => {
                if limiter.uses_cgroups() {
                    log::error!("the parent cgroup could not be given the memory budget: {e}");
                }
                false
            }
        };
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
        // A warm sandbox starts at the largest limit a request may ask for, never above the budget.
        let warm_limits = Limits {
            memory_mib: max_limits.memory_mib.min(detected.budget_mib.max(1)),
            ..max_limits
        };
        let pool = Pool::start(ctx.clone(), pool_size, warm_limits, mode);
        let warm_mib = measure_warm(&pool).await;
        let pool_mib =
            (pool_size as u64).saturating_mul(warm_mib.unwrap_or(budget::UNMEASURED_WARM_MIB));
        let budget = MemoryBudget::new(detected, enforced, warm_mib, pool_mib);
        let d = &budget.detected;
        let found = match d.detected_mib {
            Some(limit) => format!(
                "{limit} MiB found in {} less {} MiB kept for the server",
                d.detail,
                budget::server_reserve_mib(limit)
            ),
            None => "set by SANDBOX_MEMORY_BUDGET_MB".to_string(),
        };
        let warm = match warm_mib {
            Some(mib) => format!("{mib} MiB measured"),
            None if pool_size == 0 => "no pool".to_string(),
            None => format!("not measured, {} MiB assumed", budget::UNMEASURED_WARM_MIB),
        };
        log::info!(
            "memory budget: {} MiB ({found}; source {}), enforced by the parent cgroup: {enforced}; \
             warm pool {pool_size} x ({warm}) = {pool_mib} MiB; runs may hold {} MiB together",
            d.budget_mib,
            d.source.as_str(),
            budget.runs_mib,
        );
        let sandbox = Sandbox {
            slots: Arc::new(Semaphore::new(ctx.settings.slots)),
            queued: AtomicUsize::new(0),
            state: Mutex::new(HealthState::default()),
            ctx,
            pool,
            budget,
        };
        sandbox.probe(true).await;
        sandbox
    }

    /// The memory budget, as detected and measured at start-up.
    pub fn memory_budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// Runs a trivial script through the full path once, to learn the Python version and to find
    /// out now, not at the first request, whether this host can run the sandbox at all. With
    /// `wait` false it gives up at once when no slot is free (a health check must not queue).
    async fn probe(&self, wait: bool) {
        self.lock_state().last_probe = Some(Instant::now());
        let probe = "import sys\ndef main():\n    return sys.version.split()[0]\n";
        // A small budget may leave runs less than the usual 256 MiB (start-up then refuses
        // the configuration, see `Settings::fit_memory`).
        let limits = Limits {
            timeout: Duration::from_secs(30),
            memory_mib: 256.min(self.budget.runs_mib),
        };
        let script = match PythonScript::parse(probe.to_string(), usize::MAX) {
            Ok(script) => script,
            Err(e) => return log::error!("sandbox probe: {e}"),
        };
        let outcome = if wait {
            self.run(&script, &RunInput::default(), limits).await
        } else {
            let slot = self.slots.clone().try_acquire_owned();
            let memory = self.budget.try_reserve(limits.memory_mib);
            match (slot, memory) {
                (Ok(permit), Ok(memory)) => {
                    self.run_admitted(
                        Admission {
                            _slot: permit,
                            _memory: memory,
                        },
                        &script,
                        &RunInput::default(),
                        limits,
                    )
                    .await
                }
                _ => return,
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
            memory_budget: BudgetHealth {
                mib: self.budget.detected.budget_mib,
                source: self.budget.detected.source,
                detected_mib: self.budget.detected.detected_mib,
                enforced: self.budget.enforced,
                warm_sandbox_mib: self.budget.warm_mib,
                pool_mib: self.budget.pool_mib,
                runs_mib: self.budget.runs_mib,
                reserved_mib: self.budget.reserved_mib(),
            },
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
        let admission = self.admit(&limits).await?;
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
    /// still holds all of both. Dropping the future kills the run and frees the slot and the
    /// run's memory reservation.
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

    /// Waits (bounded) for a free slot, then for the run's `memory` in the budget: both waits
    /// end together, SANDBOX_QUEUE_WAIT_SECS after this call. Beyond the queue, or past the wait
    /// for a slot, `Overloaded`; past the wait for memory, `MemoryBusy` (both 429); more memory
    /// than runs may ever hold, `MemoryOverBudget`.
    pub async fn admit(&self, limits: &Limits) -> Result<Admission, SandboxError> {
        let deadline = Instant::now() + self.ctx.settings.queue_wait;
        let slot = self.slot().await?;
        Ok(Admission {
            _slot: slot,
            _memory: self.budget.reserve(limits.memory_mib, deadline).await?,
        })
    }

    /// Waits (bounded) for a free slot; beyond the queue, or past the wait, `Overloaded`.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, SandboxError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
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
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(overloaded()),
        }
    }
}

/// A sandbox slot and the run's share of the memory budget, held from admission to the end of
/// the run: dropping it frees both.
pub struct Admission {
    _slot: OwnedSemaphorePermit,
    _memory: MemoryReservation,
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

/// What one warm sandbox holds: the largest peak among the first ready ones, waited for (as long
/// as one may take to warm up) until one is ready or a warm-up failed. `None` without a pool or
/// without a cgroup to measure it.
async fn measure_warm(pool: &Pool) -> Option<u64> {
    if pool.target() == 0 {
        return None;
    }
    let deadline = Instant::now() + pool::READY_WITHIN;
    while Instant::now() < deadline {
        if let Some(bytes) = pool.largest_ready() {
            return Some(bytes.div_ceil(1 << 20));
        }
        if pool.failures.load(Ordering::Relaxed) > 0 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
