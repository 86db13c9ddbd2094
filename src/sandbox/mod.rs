//! Runs one script in a fresh sandbox. Knows nothing of HTTP.
//!
//! A run: wait for a slot and for its memory (admission.rs), take a warm jail from the pool or
//! spawn a cold one (pool.rs, jail.rs), send the script, read stdout/stderr/result up to their caps
//! while enforcing the deadline, then kill and reap everything and classify what happened into an
//! `Outcome` (verdict.rs).
//!
//! The rooms, from the top down:
//! - this file: `Sandbox` (start-up, a run, shutdown);
//! - admission.rs (slots, queue, memory), pace.rs (how long slots are held: the queue's length
//!   and Retry-After), health.rs (/health, the probe), budget.rs (the memory budget), settings.rs
//!   (the settings and which modes combine);
//! - pool.rs: warm jails, spawned or forked;
//! - jail.rs: one jail and the driver of its run; zygote.rs: fork mode's zygotes and their runs;
//! - process.rs (nsjail's process, the four pipes, the one watcher), capture.rs (reading the
//!   pipes), protocol.rs (the runner protocol's Rust half), verdict.rs (how a run ended),
//!   outputs.rs (a run's output files);
//! - nsjail.rs (the argv), limiter.rs (cgroups or rlimits), uids.rs (each jail's uid), cpus.rs
//!   (each jail's CPUs), reaper.rs (orphans when the server is PID 1), userns.rs (the start-up
//!   probe behind `SANDBOX_PROFILE=auto`);
//! - outcome.rs, input.rs, error.rs: the types that cross the sandbox's border;
//! - runner.py and its modules (convert.py, policy.py, workdir.py, script_api.py), zygote.py: the
//!   Python half, run inside the jail.

mod admission;
#[cfg(test)]
mod agreement;
mod budget;
mod capture;
mod cpus;
mod error;
mod health;
mod input;
mod jail;
mod limiter;
pub mod nsjail;
mod outcome;
mod outputs;
mod pace;
mod pool;
mod process;
mod protocol;
mod reaper;
mod session;
mod settings;
pub mod uids;
mod userns;
mod verdict;
mod zygote;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::script::PythonScript;
pub use admission::{Admission, QueueStats};
pub use budget::{BudgetSource, MemoryBudget};
pub use error::SandboxError;
use health::HealthState;
pub use health::{BudgetHealth, SandboxHealth};
pub use input::{Encoding, InputFile, Limits, RunInput};
use jail::Jail;
pub use limiter::Limiter;
pub use outcome::{
    Failure, FailureKind, Outcome, OutputChunk, OutputSender, OutputStream, RunStatus, Usage,
};
pub use pace::{Pace, MAX_RETRY_AFTER_SECS};
use pool::Pool;
use process::JailContext;
pub use session::{CellOutcome, SessionEnd, SessionJail, SessionStart, INTERRUPT_GRACE};
pub use settings::{
    PoolMode, PoolPlan, ProbeFindings, Profile, ProfileChoice, ProfileSetting, SandboxSettings,
};

pub struct Sandbox {
    ctx: Arc<JailContext>,
    pool: Arc<Pool>,
    budget: MemoryBudget,
    /// The profile used, what was asked for, and why (for /health).
    profile: ProfileChoice,
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    /// How long slots are held: sizes the queue and every 429's Retry-After.
    pace: Arc<Pace>,
    state: Mutex<HealthState>,
}

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
    /// Detects the limiter, decides the profile (under auto, by running one jail: userns.rs),
    /// starts the warm pool and probes the sandbox once. A failed probe does not stop start-up:
    /// the server comes up and /health answers 503 with the reason.
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
        let uids = uids::JailUids::new(
            settings.uid_base,
            uids::capacity(settings.slots, settings.pool_size, settings.sessions_max),
        );
        // Once, before the pool starts and before anything runs a jail: nothing else may see the
        // profile before it is decided (the types keep `auto` out of every jail's argv).
        let findings = match settings.profile {
            ProfileSetting::Auto => Some(userns::probe(&settings, &venv, &uids).await),
            _ => None,
        };
        let profile = settings.profile.resolve(findings);
        log::info!(
            "profile: {} (SANDBOX_PROFILE={}): {}",
            profile.profile.as_str(),
            profile.setting.as_str(),
            profile.reason
        );
        if !health::is_jail_root(&settings.root_path) {
            log::error!(
                "the jail's root filesystem is missing at {} (SANDBOX_ROOT), or is the host's own /: \
                 no run can start until scripts/setup-sandbox.sh builds it from chroot/",
                settings.root_path.display()
            );
        }
        log::info!(
            "sandbox: profile {}, limiter {}, {} slots, {} warm ({}); nsjail {}, config {}, venv {}, \
             root {}",
            profile.profile.as_str(),
            limiter.name(),
            settings.slots,
            settings.pool_size,
            settings.preload.join(", "),
            settings.nsjail_path.display(),
            settings.config_path.display(),
            venv.display(),
            settings.root_path.display()
        );
        if let Limiter::Rlimits { reason } = &limiter {
            log::warn!("no usable cgroup, memory and pids are limited by rlimits: {reason}");
        }
        let max_cpus = settings.max_cpus;
        let languages = crate::language::Languages::detect(
            &settings.languages,
            &settings.root_path,
            &settings.config_path,
        );
        log::info!("languages: {}", languages.names().join(", "));
        for language in crate::language::Language::ALL {
            if let Some(why) = languages.why_not(language) {
                log::warn!("language {} is not offered: {why}", language.name());
            }
        }
        let ctx = Arc::new(JailContext {
            languages,
            settings,
            profile: profile.profile,
            venv,
            limiter,
            uids,
            cpus: cpus::JailCpus::detect(max_cpus),
        });
        let plan = ctx.settings.pool_plan(ctx.limiter.uses_cgroups());
        if let Some(note) = plan.note {
            log::warn!(
                "warm pool: {} x {}, not the {} x {} asked for: {note}",
                plan.size,
                plan.mode.as_str(),
                ctx.settings.pool_size,
                ctx.settings.pool_mode.unwrap_or_default().as_str()
            );
        }
        let pool_size = plan.size;
        // A warm sandbox starts at the largest limit a request may ask for, never above the budget.
        let warm_limits = Limits {
            memory_mib: max_limits.memory_mib.min(detected.budget_mib.max(1)),
            ..max_limits
        };
        let pool = Pool::start(ctx.clone(), pool_size, warm_limits, plan.mode);
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
            pace: Arc::new(Pace::new(ctx.settings.slots)),
            state: Mutex::new(HealthState::default()),
            ctx,
            pool,
            budget,
            profile,
        };
        sandbox.probe(true).await;
        sandbox
    }

    /// The memory budget, as detected and measured at start-up.
    pub fn memory_budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// Kills the warm sandboxes and removes their cgroups, and stops the pool from warming more.
    /// For shutdown: nothing is left behind when the process exits.
    pub async fn shutdown(&self) {
        for jail in self.pool.close() {
            jail.discard().await;
        }
        self.pool.join().await;
    }

    /// Starts a session: a zygote of its own (never one of the pool's, so sessions cannot starve
    /// one-shot runs of warm sandboxes) and its child, with the session's memory reserved in the
    /// budget for its life. The reservation must leave the largest one-shot run room: sessions
    /// never take the memory /execute needs. A session's CPU is its own cgroup's (and its own
    /// CPU lease under SANDBOX_MAX_CPUS); it holds no slot. Needs fork mode: elsewhere the answer
    /// is `SessionsUnavailable`.
    pub async fn start_session(
        &self,
        start: SessionStart<'_>,
    ) -> Result<SessionJail, SandboxError> {
        let cgroups = self.ctx.limiter.uses_cgroups();
        let plan = self.ctx.settings.pool_plan(cgroups);
        if !cgroups {
            return Err(SandboxError::SessionsUnavailable {
                why: "no writable cgroup (a session's memory and its end need one)".into(),
            });
        }
        if plan.mode != PoolMode::Fork {
            return Err(SandboxError::SessionsUnavailable {
                why: plan
                    .note
                    .unwrap_or("SANDBOX_POOL_MODE is spawn")
                    .to_string(),
            });
        }
        let memory = self
            .budget
            .try_reserve_leaving(start.limits.memory_mib, start.keep_mib)?;
        SessionJail::start(self.ctx.clone(), start, memory).await
    }

    /// The languages this server offers (and why the others are not).
    pub fn languages(&self) -> &crate::language::Languages {
        &self.ctx.languages
    }

    /// SESSIONS_MAX.
    pub fn sessions_max(&self) -> usize {
        self.ctx.settings.sessions_max
    }

    /// Where sessions get their CPU weight below the runs' (limiter.rs); `None`: nowhere, they
    /// weigh as much as runs.
    pub fn sessions_cpu_weight(&self) -> Option<String> {
        self.ctx.limiter.background_cpu()
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
        // Another language's interpreter starts as the runner's child in either kind of jail: a
        // forked one saves nsjail's start, a spawned warm one only its Python imports.
        let python = script.language() == crate::language::Language::Python;
        let wants_warm = self.pool.mode() == PoolMode::Fork
            || (python && script.imports().iter().any(|m| preloads(m)))
            || (python && tables && preloads("pandas"));
        let warm = if wants_warm {
            self.pool.take(&limits).await
        } else {
            None
        };
        let result = async {
            // A warm jail's slot is refilled once the run is over, however it ends (a dropped
            // request included).
            let (jail, _refill) = match warm {
                Some(jail) => (jail, Some(RefillWhenDone(&self.pool))),
                None => (Jail::spawn(&self.ctx, &limits).await?, None),
            };
            jail.execute(&self.ctx, script, input, limits, output).await
        }
        .await;
        self.record(&result);
        result
    }
}

struct RefillWhenDone<'a>(&'a Pool);

impl Drop for RefillWhenDone<'_> {
    fn drop(&mut self) {
        self.0.refill_now();
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
