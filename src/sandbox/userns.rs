//! The start-up probe behind `SANDBOX_PROFILE=auto`: can this host run a jail of the standard
//! profile (nsjail in a user namespace), and if not, one of the container profile?
//!
//! The probe runs the real nsjail once, with the real config and the argv `nsjail.rs` builds for a
//! run of that profile, on the venv's Python with nothing to do. A smaller test (fork a child that
//! unshares CLONE_NEWUSER and writes its uid_map) would miss what makes a standard jail fail in a
//! container while user namespaces themselves work: a `/proc` partly masked by the runtime (the
//! kernel then refuses the jail's fresh `/proc`), a seccomp profile that refuses `sethostname` or
//! `setns`, a uid map that needs `CAP_SETUID`. Only nsjail itself, run as every jail runs, finds
//! all of them; and it is a process of its own, so the probe forks nothing in the server.
//!
//! Bounded (nsjail's own time limit, then ours, after which it is killed and reaped), leaving
//! nothing behind (no cgroup; the jail's pid 1 dies with nsjail; its uid goes back to the range
//! once nsjail is reaped), and never panics: every failure is a "no", with its detail in the log.
//!
//! Not here: the rule that turns what the probe found into the profile used
//! (`ProfileSetting::resolve`, settings.rs), and when it runs (once, in `Sandbox::start`, before the
//! pool starts).

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use super::capture::{read_head, MAX_LOG_BYTES};
use super::input::Limits;
use super::nsjail::{self, JailSpec, JAIL_VENV};
use super::process::spawn_nsjail;
use super::settings::{ProbeFindings, Profile, SandboxSettings};
use super::uids::JailUids;

/// nsjail's own limit for the probe's jail (its wall time is this plus a backstop).
const JAIL_TIMEOUT: Duration = Duration::from_secs(5);
/// Ours, past nsjail's: a jail that has not ended by then is killed and counts as failed.
const PROBE_WITHIN: Duration = Duration::from_secs(10);
/// How long the log is read once nsjail has ended.
const LOG_WITHIN: Duration = Duration::from_secs(1);

/// Tries the standard profile, and the container profile only if that failed.
pub(super) async fn probe(s: &SandboxSettings, venv: &Path, uids: &JailUids) -> ProbeFindings {
    let standard = starts(s, venv, uids, Profile::Standard).await;
    let container = if standard {
        None
    } else {
        Some(starts(s, venv, uids, Profile::Container).await)
    };
    ProbeFindings {
        standard,
        container,
    }
}

/// Whether a jail of `profile` starts here and runs its command to a clean exit. Logs why not.
async fn starts(s: &SandboxSettings, venv: &Path, uids: &JailUids, profile: Profile) -> bool {
    match try_jail(s, venv, uids, profile).await {
        Ok(()) => {
            log::info!(
                "profile probe: a jail of the {} profile started",
                profile.as_str()
            );
            true
        }
        Err(why) => {
            log::warn!(
                "profile probe: a jail of the {} profile could not start: {why}",
                profile.as_str()
            );
            false
        }
    }
}

async fn try_jail(
    s: &SandboxSettings,
    venv: &Path,
    uids: &JailUids,
    profile: Profile,
) -> Result<(), String> {
    // The same uid range as every jail: the probe is one more jail, lent one like the others.
    let uid = uids.lease().ok_or("no sandbox uid is free")?;
    let limits = Limits {
        timeout: JAIL_TIMEOUT,
        memory_mib: 256,
    };
    // The venv's Python, which every jail runs, without site (-S) so that it exits at once: the
    // question is whether the jail can be built, not what Python imports.
    let python = format!("{JAIL_VENV}/bin/python3");
    let command = [python.as_str(), "-I", "-S", "-c", ""];
    let argv = nsjail::args(&JailSpec {
        settings: s,
        profile,
        venv,
        limits: &limits,
        // No cgroup: the limiter's parent may not exist yet, and nothing runs here that needs
        // one. nsjail's rlimits bound it instead.
        cgroup_limits: false,
        wall_limit: true,
        command: &command,
        zygote: false,
        uid: uid.uid(),
    });
    let null = || -> Result<OwnedFd, String> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|e| format!("cannot open /dev/null: {e}"))
    };
    let (mut child, mut log) =
        spawn_nsjail(s, argv, None, None, [null()?, null()?, null()?], null()?)
            .map_err(|e| e.to_string())?;
    let status = match tokio::time::timeout(PROBE_WITHIN, child.wait()).await {
        Ok(status) => status.map_err(|e| format!("cannot wait for nsjail: {e}"))?,
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(format!(
                "nsjail had not ended after {} s (killed)",
                PROBE_WITHIN.as_secs()
            ));
        }
    };
    // nsjail reaped: its jail's pid 1 died with it, no process holds the uid any more.
    drop(uid);
    if status.success() {
        return Ok(());
    }
    let log = read_head(&mut log, MAX_LOG_BYTES, LOG_WITHIN).await;
    let log = String::from_utf8_lossy(&log);
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| ["[W]", "[E]", "[F]"].iter().any(|p| l.starts_with(p)))
        .collect();
    Err(format!(
        "nsjail ended with {status}: {}",
        errors.join(" | ")
    ))
}
