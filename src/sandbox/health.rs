//! The sandbox's health: what /health and /metrics report (never a host path or nsjail's words:
//! anyone may ask), the probe run that finds out at start-up whether this host can run a sandbox
//! at all, and the re-probe that lets a fixed host turn healthy again without traffic.
//!
//! Not here: the counters of the pool (pool.rs) and of the memory budget (budget.rs), which this
//! only reads.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::budget::BudgetSource;
use super::error::SandboxError;
use super::input::{Limits, RunInput};
use super::limiter::Limiter;
use super::outcome::{Outcome, RunStatus};
use super::Sandbox;
use crate::script::PythonScript;

/// What /health reports about the sandbox. Anyone may ask, so it names no host path and quotes
/// no nsjail log: `reason` is in generic words, and the detail goes to the server's log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SandboxHealth {
    pub healthy: bool,
    pub reason: Option<String>,
    pub nsjail_executable: bool,
    pub nsjail_config_exists: bool,
    pub python_version: Option<String>,
    /// The profile used ("standard" or "container"), what SANDBOX_PROFILE asked for ("auto",
    /// "standard" or "container"), and why that profile (generic words).
    pub profile: &'static str,
    pub profile_setting: &'static str,
    pub profile_reason: &'static str,
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

#[derive(Debug, Default)]
pub(super) struct HealthState {
    /// Why the last attempt to start a sandbox failed; cleared by the next one that starts.
    failure: Option<String>,
    python_version: Option<String>,
    last_probe: Option<Instant>,
}

/// How often an unhealthy sandbox is re-probed by /health, so that it recovers without traffic.
const REPROBE_EVERY: Duration = Duration::from_secs(5);

impl Sandbox {
    /// Runs a trivial script through the full path once, to learn the Python version and to find
    /// out now, not at the first request, whether this host can run the sandbox at all. With
    /// `wait` false it gives up at once when no slot is free (a health check must not queue).
    pub(super) async fn probe(&self, wait: bool) {
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
            let Some(admission) = self.try_admit(&limits) else {
                return;
            };
            self.run_admitted(admission, &script, &RunInput::default(), limits)
                .await
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

    /// Only failures to build the sandbox change health. What comes out of the jail (the result
    /// frame, the exit status) is the script's to forge, and must not take the service down.
    pub(super) fn record(&self, result: &Result<Outcome, SandboxError>) {
        match result {
            Ok(_) => self.lock_state().failure = None,
            Err(SandboxError::Overloaded { .. }) => {}
            Err(e) => self.lock_state().failure = Some(e.to_string()),
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
        } else if !is_jail_root(&s.root_path) {
            (
                Some("the jail's root filesystem is missing (see SANDBOX_ROOT)"),
                Some(format!(
                    "the jail's root filesystem is missing at {} (SANDBOX_ROOT): \
                     scripts/setup-sandbox.sh builds it from chroot/",
                    s.root_path.display()
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
            profile: self.profile.profile.as_str(),
            profile_setting: self.profile.setting.as_str(),
            profile_reason: self.profile.reason,
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
}

/// A tree the setup script built: the interpreter the venv links is in it. Never the host's own
/// `/`, whatever SANDBOX_ROOT says: the jail must not fall back to the host's /usr.
pub(super) fn is_jail_root(path: &Path) -> bool {
    let built = path.join("usr/bin/python3.11").is_file() && path.join("etc/passwd").is_file();
    built && std::fs::canonicalize(path).is_ok_and(|p| p != Path::new("/"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
