//! What the sandbox is configured with, and the rules for which of its modes combine.
//!
//! Lives here: `SandboxSettings` (everything the sandbox needs, nothing of HTTP), the isolation
//! `Profile`, the warm pool's `PoolMode`, and the two rules that tie the four mode axes together
//! (profile, pool mode, pool size and the limiter found at start-up): `PoolMode::check`, which
//! configuration applies to what an operator asked for, and `SandboxSettings::pool_plan`, which
//! decides the pool a server actually runs. No other file decides a mode.
//!
//! Not here: reading the environment (configuration.rs parses every variable and builds these
//! values), the limits of one run (`Limits`, mod.rs), and nsjail's flags (nsjail.rs).

use std::path::PathBuf;
use std::time::Duration;

/// Which isolation the sandbox applies. Chosen by `SANDBOX_PROFILE`, reported by /health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// nsjail creates a user namespace and maps uid/gid 65534 inside to the jail's own uid
    /// (uids.rs) and gid 65534 outside.
    Standard,
    /// Root inside a container that refuses user namespaces (Cloud Run): no new user namespace,
    /// nsjail drops to the jail's own uid and gid 65534 itself. Every other namespace, rlimit and
    /// seccomp stays.
    Container,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Standard => "standard",
            Profile::Container => "container",
        }
    }
}

/// How the pool makes its warm sandboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// A new nsjail per sandbox, which imports the preload modules itself.
    Spawn,
    /// A fork of a zygote that has imported them (one zygote per slot).
    Fork,
}

impl PoolMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PoolMode::Spawn => "spawn",
            PoolMode::Fork => "fork",
        }
    }

    /// Fork mode's zygote keeps its capabilities inside the jail's user namespace; without one (the
    /// container profile) they would be real root capabilities. Its children's seccomp filter is
    /// written for x86_64. So fork mode needs both; `Err` says why a mode cannot be used.
    pub fn check(self, profile: Profile) -> Result<PoolMode, &'static str> {
        match self {
            PoolMode::Fork if profile != Profile::Standard || !cfg!(target_arch = "x86_64") => {
                Err("fork mode needs the standard profile (a user namespace) on x86_64")
            }
            mode => Ok(mode),
        }
    }

    /// The mode used when none is asked for: fork where it is possible.
    pub fn default_for(profile: Profile) -> PoolMode {
        PoolMode::Fork.check(profile).unwrap_or(PoolMode::Spawn)
    }
}

/// What the sandbox needs, and nothing of HTTP.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub nsjail_path: PathBuf,
    pub config_path: PathBuf,
    pub venv_path: PathBuf,
    pub profile: Profile,
    /// Sandboxes that run at once.
    pub slots: usize,
    /// Requests that may wait for a slot; beyond them the answer is 429.
    pub queue: usize,
    /// How long a queued request waits for a slot before it gets 429.
    pub queue_wait: Duration,
    pub max_output_bytes: usize,
    pub max_result_bytes: usize,
    /// Files a run may return from ./output/ (figures included), and their total size.
    pub max_output_files: usize,
    pub max_output_files_bytes: usize,
    pub tmp_size_mib: u64,
    pub max_pids: u64,
    pub max_cpus: u32,
    /// Name of the parent cgroup under each controller's mount.
    pub cgroup_parent: String,
    /// Warm sandboxes kept ready (0: every run starts cold).
    pub pool_size: usize,
    /// How warm sandboxes are made, as asked for: `pool_plan` says what is used.
    pub pool_mode: PoolMode,
    /// Modules a warm sandbox imports before it waits for its script.
    pub preload: Vec<String>,
    /// The operator's import policy (`IMPORT_ALLOW` or `IMPORT_DENY`), enforced in the jail.
    pub import_policy: Option<crate::policy::ImportPolicy>,
    /// The first of the outside uids lent to jails, one per live jail (see uids.rs).
    pub uid_base: u32,
    /// MiB that all sandboxes together may use (SANDBOX_MEMORY_BUDGET_MB); `None`: detected from
    /// the container's limit or the host's RAM.
    pub memory_budget_mib: Option<u64>,
}

/// The warm pool a server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolPlan {
    pub size: usize,
    pub mode: PoolMode,
    /// Why the plan differs from the settings, for the start-up log.
    pub note: Option<&'static str>,
}

impl SandboxSettings {
    /// The pool this server runs, given whether a cgroup limits each jail. Without a cgroup a warm
    /// jail could not be narrowed to its request's memory (its RLIMIT_AS was fixed at the maximum
    /// when it started), so there is no pool. Fork mode is checked again here, so that settings
    /// built some other way than by configuration.rs cannot give a zygote real root capabilities.
    pub fn pool_plan(&self, cgroups: bool) -> PoolPlan {
        let asked = PoolPlan {
            size: self.pool_size,
            mode: self.pool_mode,
            note: None,
        };
        if !cgroups && self.pool_size > 0 {
            return PoolPlan {
                size: 0,
                note: Some("no cgroup: every run starts cold"),
                ..asked
            };
        }
        match self.pool_mode.check(self.profile) {
            Ok(_) => asked,
            Err(why) => PoolPlan {
                mode: PoolMode::Spawn,
                note: Some(why),
                ..asked
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fork_mode_needs_the_standard_profile() {
        assert!(PoolMode::Fork.check(Profile::Container).is_err());
        assert_eq!(
            PoolMode::Spawn.check(Profile::Container),
            Ok(PoolMode::Spawn)
        );
        assert_eq!(PoolMode::default_for(Profile::Container), PoolMode::Spawn);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(PoolMode::default_for(Profile::Standard), PoolMode::Fork);
        }
    }

    #[test]
    fn the_pool_plan_refuses_what_cannot_combine() {
        let mut s = crate::configuration::Settings::from_lookup(&|_| None)
            .map(|s| s.sandbox)
            .unwrap();
        s.pool_size = 3;
        s.pool_mode = PoolMode::Fork;
        s.profile = Profile::Container;
        let plan = s.pool_plan(true);
        assert_eq!((plan.size, plan.mode), (3, PoolMode::Spawn));
        assert!(plan.note.is_some());
        let plan = s.pool_plan(false);
        assert_eq!(plan.size, 0);
        s.profile = Profile::Standard;
        s.pool_mode = PoolMode::Spawn;
        assert_eq!(
            s.pool_plan(true),
            PoolPlan {
                size: 3,
                mode: PoolMode::Spawn,
                note: None
            }
        );
    }
}
