//! What the sandbox is configured with, and the rules for which of its modes combine.
//!
//! Lives here: `SandboxSettings` (everything the sandbox needs, nothing of HTTP), the isolation
//! profile as asked for (`ProfileSetting`: auto, standard or container) and as used (`Profile`,
//! never auto), the warm pool's `PoolMode`, and the rules that tie the mode axes together
//! (profile, pool mode, pool size and the limiter found at start-up): `ProfileSetting::resolve`,
//! which turns what was asked for and what the start-up probe found into the profile used;
//! `PoolMode::check`, which configuration applies to what an operator asked for; and
//! `SandboxSettings::pool_plan`, which decides the pool a server actually runs. No other
//! file decides a mode.
//!
//! Not here: reading the environment (configuration.rs parses every variable and builds these
//! values), running the probe (userns.rs), the limits of one run (`Limits`, mod.rs), and nsjail's
//! flags (nsjail.rs).

use std::path::PathBuf;
use std::time::Duration;

/// Which isolation the sandbox applies: the profile used, decided once at start-up from
/// `SANDBOX_PROFILE` (`ProfileSetting::resolve`), reported by /health as `profile`.
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

/// What `SANDBOX_PROFILE` asks for, reported by /health as `profile_setting`. Not a profile: only
/// `resolve` turns it into one, so that no code can run a jail under `Auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileSetting {
    /// The default: standard where a standard-profile jail can start (user namespaces work),
    /// container where it cannot. The start-up probe (userns.rs) finds out.
    Auto,
    Standard,
    Container,
}

/// What the start-up probe found: whether a jail of each profile started on this host. The
/// container profile is tried only when the standard one failed (`None`: not tried).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeFindings {
    pub standard: bool,
    pub container: Option<bool>,
}

/// The profile a server uses, what was asked for, and why (generic words, for /health and the
/// log; the probe's detail goes to the log only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileChoice {
    pub setting: ProfileSetting,
    pub profile: Profile,
    pub reason: &'static str,
}

impl ProfileSetting {
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileSetting::Auto => "auto",
            ProfileSetting::Standard => "standard",
            ProfileSetting::Container => "container",
        }
    }

    /// The profile asked for by name, or `None` for auto (the probe decides).
    pub fn fixed(self) -> Option<Profile> {
        match self {
            ProfileSetting::Auto => None,
            ProfileSetting::Standard => Some(Profile::Standard),
            ProfileSetting::Container => Some(Profile::Container),
        }
    }

    /// The profile a server uses. A profile asked for by name is used as asked (the probe is not
    /// run). Auto takes the standard profile when a standard jail started, the container profile
    /// when only a container jail did. When neither started (nsjail missing, the venv missing, no
    /// privilege at all) nothing was learnt about user namespaces: auto keeps the standard
    /// profile, which gives up no isolation, and /health is unhealthy anyway until the host is
    /// fixed (and the server restarted, to probe again).
    pub fn resolve(self, probe: Option<ProbeFindings>) -> ProfileChoice {
        let choice = |profile, reason| ProfileChoice {
            setting: self,
            profile,
            reason,
        };
        if let Some(profile) = self.fixed() {
            return choice(profile, "set by SANDBOX_PROFILE");
        }
        match probe {
            Some(ProbeFindings { standard: true, .. }) => choice(
                Profile::Standard,
                "user namespaces work here: a jail of the standard profile started",
            ),
            Some(ProbeFindings {
                container: Some(true),
                ..
            }) => choice(
                Profile::Container,
                "user namespaces are refused here: a jail of the standard profile could not \
                 start, one of the container profile did",
            ),
            Some(_) => choice(
                Profile::Standard,
                "no jail could start under either profile (the server's log says why): the \
                 standard profile is kept",
            ),
            None => choice(
                Profile::Standard,
                "not probed: the standard profile is kept",
            ),
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

    /// Fork mode's children build their isolation with a seccomp filter written for x86_64
    /// (zygote.py); both profiles allow it (SECURITY.md, "Fork mode", says what differs under the
    /// container one). `Err` says why a mode cannot be used.
    pub fn check(self) -> Result<PoolMode, &'static str> {
        match self {
            PoolMode::Fork if !cfg!(target_arch = "x86_64") => {
                Err("fork mode needs x86_64 (its children's seccomp filter is written for it)")
            }
            mode => Ok(mode),
        }
    }
}

/// The mode used when none is asked for: fork where it is possible, under either profile.
impl Default for PoolMode {
    fn default() -> PoolMode {
        PoolMode::Fork.check().unwrap_or(PoolMode::Spawn)
    }
}

/// What the sandbox needs, and nothing of HTTP.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub nsjail_path: PathBuf,
    pub config_path: PathBuf,
    pub venv_path: PathBuf,
    /// The jail's root filesystem (SANDBOX_ROOT), built from chroot/ by the setup script: nsjail
    /// mounts it read-only as the jail's `/`. Nothing of the host's /usr is seen without it.
    pub root_path: PathBuf,
    /// The profile as asked for; `JailContext::profile` is the one used.
    pub profile: ProfileSetting,
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
    /// How warm sandboxes are made, as asked for (`None`: `PoolMode::default`): `pool_plan` says
    /// what is used.
    pub pool_mode: Option<PoolMode>,
    /// Sessions open at once (SESSIONS_MAX; 0: no sessions). Each has a zygote of its own.
    pub sessions_max: usize,
    /// Modules a warm sandbox imports before it waits for its script.
    pub preload: Vec<String>,
    /// The languages enabled (SANDBOX_LANGUAGES), Python always; those whose interpreter the
    /// jail's root lacks are found at start-up (`crate::language::Languages::detect`).
    pub languages: Vec<crate::language::Language>,
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
    /// The pool this server runs, given whether a cgroup limits each jail. Without a cgroup a warm jail could not be narrowed to its request's memory (its
    /// RLIMIT_AS was fixed at the maximum when it started), so there is no pool. The mode is
    /// checked here again: settings built some other way than by configuration.rs must not start
    /// a zygote where its children cannot isolate themselves.
    pub fn pool_plan(&self, cgroups: bool) -> PoolPlan {
        let asked = PoolPlan {
            size: self.pool_size,
            mode: self.pool_mode.unwrap_or_default(),
            note: None,
        };
        if !cgroups && self.pool_size > 0 {
            return PoolPlan {
                size: 0,
                note: Some("no cgroup: every run starts cold"),
                ..asked
            };
        }
        match asked.mode.check() {
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
    fn fork_mode_is_the_default_under_both_profiles_on_x86_64() {
        assert_eq!(PoolMode::Spawn.check(), Ok(PoolMode::Spawn));
        if cfg!(target_arch = "x86_64") {
            assert_eq!(PoolMode::Fork.check(), Ok(PoolMode::Fork));
            assert_eq!(PoolMode::default(), PoolMode::Fork);
        } else {
            assert!(PoolMode::Fork.check().is_err());
            assert_eq!(PoolMode::default(), PoolMode::Spawn);
        }
    }

    #[test]
    fn the_pool_plan_has_no_pool_without_a_cgroup() {
        let mut s = crate::configuration::Settings::from_lookup(&|_| None)
            .map(|s| s.sandbox)
            .unwrap();
        s.pool_size = 3;
        s.pool_mode = Some(PoolMode::Spawn);
        assert_eq!(
            s.pool_plan(true),
            PoolPlan {
                size: 3,
                mode: PoolMode::Spawn,
                note: None
            }
        );
        let plan = s.pool_plan(false);
        assert_eq!(plan.size, 0);
        assert!(plan.note.is_some());
        s.pool_mode = None;
        let plan = s.pool_plan(true);
        assert_eq!(
            (plan.size, plan.mode, plan.note),
            (3, PoolMode::default(), None)
        );
    }

    #[test]
    fn auto_follows_the_probe_and_a_named_profile_ignores_it() {
        let works = |standard, container| {
            Some(ProbeFindings {
                standard,
                container,
            })
        };
        let auto = ProfileSetting::Auto;
        assert_eq!(auto.resolve(works(true, None)).profile, Profile::Standard);
        let refused = auto.resolve(works(false, Some(true)));
        assert_eq!(refused.profile, Profile::Container);
        assert!(refused.reason.contains("refused"), "{}", refused.reason);
        // Nothing learnt: no isolation is given up.
        for nothing in [works(false, Some(false)), works(false, None), None] {
            assert_eq!(auto.resolve(nothing).profile, Profile::Standard);
        }
        for (setting, profile) in [
            (ProfileSetting::Standard, Profile::Standard),
            (ProfileSetting::Container, Profile::Container),
        ] {
            for probe in [works(true, None), works(false, Some(true)), None] {
                let choice = setting.resolve(probe);
                assert_eq!((choice.setting, choice.profile), (setting, profile));
                assert_eq!(choice.reason, "set by SANDBOX_PROFILE");
            }
        }
        // The reasons are for /health: generic words, no path.
        for probe in [
            works(true, None),
            works(false, Some(true)),
            works(false, Some(false)),
        ] {
            assert!(!auto.resolve(probe).reason.contains('/'));
        }
    }
}
