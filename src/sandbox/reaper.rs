//! Reaps orphans when the server is PID 1 (a container's entrypoint, as Dockerfile.prod runs it).
//!
//! A jail's processes can outlive nsjail: the server kills nsjail without waiting for it to reap
//! its child first (that would put nsjail's teardown on the request path). Orphans are re-parented
//! to PID 1, and if PID 1 is this server, nothing else would ever reap them: their zombies would
//! pile up until pids run out. tokio reaps the processes it spawned itself, so a zombie child is
//! reaped here only once it has stayed a zombie for a whole scan interval.

use std::collections::HashSet;
use std::time::Duration;

use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

const SCAN_EVERY: Duration = Duration::from_secs(1);

/// Starts the reaper thread if this process is PID 1; otherwise the host's init reaps orphans.
pub fn start_if_init() {
    if std::process::id() != 1 {
        return;
    }
    log::info!("running as PID 1: orphaned jail processes will be reaped by the server");
    let spawned = std::thread::Builder::new()
        .name("orphan-reaper".into())
        .spawn(|| {
            let mut seen_before = HashSet::new();
            loop {
                std::thread::sleep(SCAN_EVERY);
                let zombies = zombie_children();
                for pid in zombies.intersection(&seen_before) {
                    let _ = waitpid(Pid::from_raw(*pid), Some(WaitPidFlag::WNOHANG));
                }
                seen_before = zombies;
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot start the orphan reaper: {e}");
    }
}

/// Children of this process (PID 1) that are zombies, from /proc/<pid>/stat.
fn zombie_children() -> HashSet<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashSet::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // "pid (comm) state ppid ...": comm may contain spaces or parentheses.
                    let rest = &stat[stat.rfind(')')? + 2..];
                    let mut fields = rest.split(' ');
                    let state = fields.next()?;
                    let ppid: i32 = fields.next()?.parse().ok()?;
                    Some(state == "Z" && ppid == 1)
                })
                .unwrap_or(false)
        })
        .collect()
}
