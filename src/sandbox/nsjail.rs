//! The one place that turns the base policy, the profile and a run's limits into nsjail's argv.
//! Everything static lives in `configs/python.cfg`; only per-host, per-request and per-mode values
//! (the jail's root and venv paths, the end of the seccomp policy, which differs for a fork-mode
//! zygote) are here.

use std::ffi::OsString;
use std::path::Path;

use super::input::Limits;
use super::settings::{Profile, SandboxSettings};

/// Inside the jail, the result channel (a zygote's control socket) and nsjail's own log use these
/// fds (see runner.py).
pub const RESULT_FD: i32 = 3;
pub const LOG_FD: i32 = 4;

/// Under rlimits only, RLIMIT_AS must leave room for the interpreter's mappings: Python with numpy,
/// pandas and scipy maps about 300 MiB of address space while using about 130 MiB.
pub const RLIMIT_AS_HEADROOM_MIB: u64 = 384;

/// nsjail checks its time limit in whole seconds, so it could fire up to a second early, even
/// before Python starts. It is a backstop here: the server's own deadline times the run.
pub const TIME_LIMIT_BACKSTOP_SECS: u64 = 2;

/// The jail's uid and gid inside the user namespace (standard profile).
pub const JAIL_ID: u32 = 65534;

/// Where the sandbox's venv appears inside the jail.
pub const JAIL_VENV: &str = "/venv";

/// The end of the seccomp policy (the rest is in the config), for a jail that runs a script: it
/// may neither mount, nor unshare or enter a namespace.
pub(super) const RUN_POLICY_TAIL: &str = "ERRNO(1) { mount, unshare, setns } DEFAULT ALLOW";
/// For a fork-mode zygote, to isolate each child it forks: it may mount, unshare namespaces but
/// never a user, cgroup or time namespace (0x12000080), and enter only a pid namespace (to reset
/// the one its next child gets, 0x20000000). Each child drops every capability and adds a filter
/// that refuses mount, unshare and setns before user code runs (zygote.py).
pub(super) const ZYGOTE_POLICY_TAIL: &str =
    "ERRNO(1) { unshare { (unshare_flags & 0x12000080) != 0 }, \
     setns { nstype != 0x20000000 } } DEFAULT ALLOW";

pub struct JailSpec<'a> {
    pub settings: &'a SandboxSettings,
    /// The profile used (never auto: `SandboxSettings::profile` is only what was asked for).
    pub profile: Profile,
    /// Absolute host path of the venv.
    pub venv: &'a Path,
    pub limits: &'a Limits,
    /// Whether a cgroup enforces memory and pids (the server attaches it; nsjail is not told).
    pub cgroup_limits: bool,
    /// Whether nsjail enforces the wall time. A warm jail waits for an unknown time before its
    /// script arrives, so only the server can time its run.
    pub wall_limit: bool,
    /// The program to run inside: `python3 -I -B -c <runner>` or a probe.
    pub command: &'a [&'a str],
    /// A fork-mode zygote (see zygote.py): it keeps its capabilities inside the jail's user
    /// namespace to isolate its children, lives across runs (no wall or CPU limit of its own; each
    /// child sets its CPU limit), and its seccomp policy allows mount and unshare.
    pub zygote: bool,
    /// The jail's own outside uid, lent for its life (uids.rs).
    pub uid: u32,
}

pub fn args(spec: &JailSpec) -> Vec<OsString> {
    let s = spec.settings;
    let secs = spec.limits.timeout.as_secs().max(1);
    let mut a = Argv(Vec::with_capacity(40));

    a.push("--config").push(&s.config_path);
    // The jail's `/`: the tree built from chroot/, mounted read-only (nsjail's default without
    // --rw). The mounts below and in the config go onto its empty mount points.
    a.push("--chroot").push(&s.root_path);
    a.push("--log_fd").push(LOG_FD.to_string());
    a.push("--pass_fd").push(RESULT_FD.to_string());
    // The server times the run; nsjail's wall-time limit is a backstop a little later. 0: none.
    let wall = if spec.wall_limit && !spec.zygote {
        secs + TIME_LIMIT_BACKSTOP_SECS
    } else {
        0
    };
    a.push("--time_limit").push(wall.to_string());
    // RLIMIT_CPU is per process; wall time bounds the total. One second above the limit: the
    // runner sets the soft limit to the limit itself (see runner.py), below this hard one.
    // A zygote's children start their own count and set their own limit.
    if spec.zygote {
        a.push("--rlimit_cpu").push("inf");
        // Under the standard profile they are the capabilities of the jail's user namespace; under
        // the container profile they are real, and the zygote is root (see `user` below). Either
        // way each child drops them all, and its uid, before it reports ready (zygote.py).
        a.push("--keep_caps");
        a.push("--seccomp_string").push(ZYGOTE_POLICY_TAIL);
    } else {
        a.push("--rlimit_cpu").push((secs + 1).to_string());
        a.push("--seccomp_string").push(RUN_POLICY_TAIL);
    }
    if spec.cgroup_limits {
        // The cgroup counts real memory (tmpfs pages included); address space is not the measure.
        a.push("--rlimit_as").push("inf");
    } else {
        let as_mib = spec.limits.memory_mib + RLIMIT_AS_HEADROOM_MIB;
        a.push("--rlimit_as").push(as_mib.to_string());
        // Counted per outside uid across all runs: a weaker stand-in for the pids cgroup.
        a.push("--rlimit_nproc").push(s.max_pids.to_string());
    }
    if s.max_cpus > 0 {
        a.push("--max_cpus").push(s.max_cpus.to_string());
    }
    // The jail's own outside uid: the kernel's per-user budgets (pipe pages, epoll watches, fds in
    // flight, and without a user namespace queued signals too) are then its own, not shared by
    // every run. The gid is the config's (65534), which no budget counts.
    if spec.profile == Profile::Container {
        // The host refuses user namespaces: nsjail, root in the container, drops to the uid
        // itself (and to the config's gid). Every other namespace stays.
        a.push("--disable_clone_newuser");
    }
    a.push("--user")
        .push(user(spec.profile, spec.zygote, spec.uid));
    a.push("--mount").push(format!(
        "none:/tmp:tmpfs:size={}m,mode=1777",
        s.tmp_size_mib
    ));
    let mut venv = spec.venv.as_os_str().to_owned();
    venv.push(":");
    venv.push(JAIL_VENV);
    a.push("--bindmount_ro").push(venv);
    a.push("--");
    for part in spec.command {
        a.push(part);
    }
    a.0
}

/// Who a run's processes are inside the jail, as (uid, gid): 65534 under the standard profile (the
/// user namespace maps it to the jail's own outside uid), the jail's own uid itself under the
/// container profile. A spawned jail gets it from nsjail (`user`); a forked child sets it on itself
/// from the zygote's set-up (zygote.py).
pub fn run_identity(profile: Profile, uid: u32) -> (u32, u32) {
    match profile {
        Profile::Standard => (JAIL_ID, JAIL_ID),
        Profile::Container => (uid, JAIL_ID),
    }
}

/// nsjail's `--user` (inside:outside:count). Without a user namespace the inside id is the one
/// nsjail switches to; a container-profile zygote stays root (uid 0, gid 65534), so that no child,
/// once it has dropped to the run's uid, shares a uid with it: a run could not signal its zygote
/// even if it could name it (its pid namespace already hides it).
fn user(profile: Profile, zygote: bool, uid: u32) -> String {
    let inside = match (profile, zygote) {
        (Profile::Container, true) => 0,
        _ => run_identity(profile, uid).0,
    };
    format!("{inside}:{uid}:1")
}

struct Argv(Vec<OsString>);

impl Argv {
    fn push(&mut self, arg: impl Into<OsString>) -> &mut Self {
        self.0.push(arg.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;
    use std::time::Duration;

    fn argv(profile: Profile, cgroup_limits: bool) -> Vec<String> {
        spec_argv(profile, cgroup_limits, false)
    }

    fn spec_argv(profile: Profile, cgroup_limits: bool, zygote: bool) -> Vec<String> {
        let settings = Settings::from_lookup(&|_| None).unwrap().sandbox;
        let limits = Limits {
            timeout: Duration::from_secs(7),
            memory_mib: 128,
        };
        let spec = JailSpec {
            settings: &settings,
            profile,
            venv: Path::new("/opt/sandbox/venv"),
            limits: &limits,
            cgroup_limits,
            wall_limit: true,
            command: &["/venv/bin/python3", "-c", "pass"],
            zygote,
            uid: 60007,
        };
        args(&spec)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    fn has_pair(a: &[String], flag: &str, value: &str) -> bool {
        a.windows(2).any(|w| w[0] == flag && w[1] == value)
    }

    #[test]
    fn the_config_leaves_the_uid_to_the_argv_and_maps_the_jail_gid() {
        let config = include_str!("../../configs/python.cfg");
        let live = |l: &&str| !l.trim_start().starts_with('#');
        assert!(
            !config.lines().filter(live).any(|l| l.contains("uidmap")),
            "python.cfg must not map uids: --user gives each jail its own"
        );
        let gidmap =
            format!("gidmap {{ inside_id: \"{JAIL_ID}\" outside_id: \"{JAIL_ID}\" count: 1 }}");
        assert!(
            config.lines().filter(live).any(|l| l.trim() == gidmap),
            "{gidmap}"
        );
    }

    #[test]
    fn per_request_limits_reach_nsjail() {
        let a = argv(Profile::Standard, true);
        assert!(has_pair(&a, "--time_limit", "9"));
        assert!(has_pair(&a, "--rlimit_cpu", "8"));
        assert!(has_pair(&a, "--rlimit_as", "inf"));
        assert!(has_pair(&a, "--bindmount_ro", "/opt/sandbox/venv:/venv"));
        assert!(has_pair(&a, "--config", "configs/python.cfg"));
        assert!(has_pair(&a, "--chroot", "/opt/python-script-api/root"));
        assert!(
            !a.contains(&"--rw".to_string()),
            "the jail's root must stay read-only"
        );
        assert!(!a.contains(&"--disable_clone_newuser".to_string()));
        assert!(has_pair(&a, "--user", "65534:60007:1"));
        let sep = a.iter().position(|s| s == "--").unwrap();
        assert_eq!(&a[sep + 1..], ["/venv/bin/python3", "-c", "pass"]);
    }

    #[test]
    fn without_cgroups_rlimits_carry_memory_and_pids() {
        let a = argv(Profile::Standard, false);
        assert!(has_pair(
            &a,
            "--rlimit_as",
            &(128 + RLIMIT_AS_HEADROOM_MIB).to_string()
        ));
        assert!(has_pair(&a, "--rlimit_nproc", "64"));
    }

    #[test]
    fn container_profile_drops_only_the_user_namespace() {
        let a = argv(Profile::Container, true);
        assert!(a.contains(&"--disable_clone_newuser".to_string()));
        assert!(has_pair(&a, "--user", "60007:60007:1"));
        for weakening in [
            "--disable_clone_newnet",
            "--disable_clone_newns",
            "--disable_clone_newpid",
            "--disable_clone_newipc",
            "--disable_proc",
            "--keep_caps",
            "--disable_no_new_privs",
            "--keep_env",
        ] {
            assert!(!a.contains(&weakening.to_string()), "{weakening}");
        }
        assert!(has_pair(&a, "--seccomp_string", RUN_POLICY_TAIL));
    }

    #[test]
    fn only_a_zygote_keeps_capabilities_and_may_mount() {
        let a = spec_argv(Profile::Standard, true, true);
        assert!(a.contains(&"--keep_caps".to_string()));
        assert!(has_pair(&a, "--seccomp_string", ZYGOTE_POLICY_TAIL));
        assert!(has_pair(&a, "--time_limit", "0"));
        assert!(has_pair(&a, "--rlimit_cpu", "inf"));
        let run = argv(Profile::Standard, true);
        assert!(!run.contains(&"--keep_caps".to_string()));
        assert!(has_pair(&run, "--seccomp_string", RUN_POLICY_TAIL));
    }

    #[test]
    fn a_container_zygote_is_root_and_its_runs_are_the_jails_uid() {
        let zygote = spec_argv(Profile::Container, true, true);
        assert!(zygote.contains(&"--disable_clone_newuser".to_string()));
        assert!(zygote.contains(&"--keep_caps".to_string()));
        assert!(has_pair(&zygote, "--user", "0:60007:1"));
        assert!(has_pair(&zygote, "--seccomp_string", ZYGOTE_POLICY_TAIL));
        // What each child drops to (zygote.py), and what a spawned jail of each profile is.
        assert_eq!(run_identity(Profile::Container, 60007), (60007, JAIL_ID));
        assert_eq!(run_identity(Profile::Standard, 60007), (JAIL_ID, JAIL_ID));
        let standard = spec_argv(Profile::Standard, true, true);
        assert!(has_pair(&standard, "--user", "65534:60007:1"));
    }
}
