//! Memory and process-count limits: a cgroup per run when the host offers one, rlimits otherwise;
//! and the low CPU weight of sessions, which must never take the CPUs from one-shot runs.
//!
//! The server owns each run's cgroup (rather than letting nsjail make one) so that, after the run,
//! it can still read whether the memory or pids limit was hit, and can kill every process in it.
//!
//! CPU: runs are not placed in any CPU group, so each of their threads weighs as much as any task
//! of the server's own group (1024 in v1's `cpu.shares`, 100 in v2's `cpu.weight`). A session's
//! zygote and child are "background" jails: in v1 they go into `cpu/<parent>`, whose
//! `cpu.shares` of `SESSIONS_CPU_SHARES` all sessions share, so that all of them together weigh
//! an eighth of one run's thread; in v2, where the `cpu` controller is available, they go into
//! `runs/sessions`, whose `cpu.weight` of `SESSIONS_CPU_WEIGHT` they share beside each run's 100.
//! One group for all of them in both: however many sessions there are, together they weigh the
//! same. The weight only matters when the CPUs are contended: an idle host still gives a session
//! all the CPU it asks for.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::error::SandboxError;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// v1: the `cpu.shares` of the group that holds every session (the default, a task's, is 1024).
pub const SESSIONS_CPU_SHARES: u64 = 128;
/// v2: the `cpu.weight` of the group that holds every session (the default, a run's, is 100).
pub const SESSIONS_CPU_WEIGHT: u64 = 12;

/// Which mechanism enforces memory and pids limits, decided once at start-up.
#[derive(Debug)]
pub enum Limiter {
    /// cgroup v1: `memory` and `pids` hierarchies, each with our parent group. `budget` is the
    /// memory limit the parent carries, once `limit_parent` set it. `cpu`: the parent group of
    /// the sessions in the `cpu` hierarchy, with its low shares, where the host has one.
    CgroupV1 {
        memory: PathBuf,
        pids: PathBuf,
        budget: Option<u64>,
        cpu: Option<PathBuf>,
    },
    /// cgroup v2: one parent group for the runs with the memory and pids controllers enabled for
    /// its children (`<SANDBOX_CGROUP>/runs`; the server itself is in `<SANDBOX_CGROUP>/server`,
    /// outside the budget).
    CgroupV2 {
        parent: PathBuf,
        budget: Option<u64>,
        /// `runs/sessions`, the group of every session with its low weight, where the `cpu`
        /// controller is offered.
        sessions: Option<PathBuf>,
    },
    /// No usable cgroup: RLIMIT_AS and RLIMIT_NPROC, set by nsjail. `reason` says why.
    Rlimits { reason: String },
}

impl Limiter {
    /// Finds the best mechanism the host permits and prepares its parent cgroup.
    pub fn detect(parent_name: &str) -> Limiter {
        let root = Path::new(CGROUP_ROOT);
        let v1 = match Self::try_v1(root, parent_name) {
            Ok(limiter) => return limiter,
            Err(e) => e,
        };
        let v2 = match Self::try_v2(root, parent_name) {
            Ok(limiter) => return limiter,
            Err(e) => e,
        };
        Limiter::Rlimits {
            reason: format!("cgroup v1: {v1}; cgroup v2: {v2}"),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Limiter::CgroupV1 { .. } => "cgroup_v1",
            Limiter::CgroupV2 { .. } => "cgroup_v2",
            Limiter::Rlimits { .. } => "rlimits",
        }
    }

    pub fn uses_cgroups(&self) -> bool {
        !matches!(self, Limiter::Rlimits { .. })
    }

    /// Gives the parent group (the one every run's cgroup is made in) the memory budget as its
    /// limit, so that the runs and the warm pool together can never take more: if they try, the
    /// kernel reclaims and, at worst, OOM-kills inside this group, never elsewhere on the host.
    pub fn limit_parent(&mut self, bytes: u64) -> Result<(), String> {
        let (dir, v2, budget) = match self {
            Limiter::Rlimits { .. } => return Err("no cgroup".into()),
            Limiter::CgroupV1 { memory, budget, .. } => (memory.clone(), false, budget),
            Limiter::CgroupV2 { parent, budget, .. } => (parent.clone(), true, budget),
        };
        if !v2 {
            // v1 charges a child to its parent only with use_hierarchy (always on since Linux
            // 5.10; older kernels let it be switched off, and then a parent limit limits nothing).
            let hierarchy = dir.join("memory.use_hierarchy");
            if fs::read_to_string(&hierarchy).is_ok_and(|v| v.trim() == "0") {
                fs::write(&hierarchy, "1")
                    .map_err(|e| format!("cannot write {}: {e}", hierarchy.display()))?;
            }
        }
        set_limit(&dir, bytes, v2)?;
        *budget = Some(bytes);
        Ok(())
    }

    fn try_v1(root: &Path, parent_name: &str) -> Result<Limiter, String> {
        let memory = root.join("memory");
        let pids = root.join("pids");
        for hierarchy in [&memory, &pids] {
            if !hierarchy.join("cgroup.procs").exists() {
                return Err(format!("{} is not mounted", hierarchy.display()));
            }
        }
        let memory = memory.join(parent_name);
        let pids = pids.join(parent_name);
        for dir in [&memory, &pids] {
            fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            sweep_stale_runs(dir);
        }
        let cpu = match Self::sessions_cpu_v1(root, parent_name) {
            Ok(dir) => Some(dir),
            Err(e) => {
                log::warn!("sessions will run at the runs' CPU weight: {e}");
                None
            }
        };
        Ok(Limiter::CgroupV1 {
            memory,
            pids,
            budget: None,
            cpu,
        })
    }

    /// v1's `cpu/<parent>`, with the low shares that all sessions split between them.
    fn sessions_cpu_v1(root: &Path, parent_name: &str) -> Result<PathBuf, String> {
        let hierarchy = root.join("cpu");
        if !hierarchy.join("cpu.shares").exists() {
            return Err(format!("{} is not mounted", hierarchy.display()));
        }
        let dir = hierarchy.join(parent_name);
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        sweep_stale_runs(&dir);
        let shares = dir.join("cpu.shares");
        fs::write(&shares, SESSIONS_CPU_SHARES.to_string())
            .map_err(|e| format!("cannot write {}: {e}", shares.display()))?;
        Ok(dir)
    }

    /// How background jails (sessions) get their low CPU weight, for /health (which anyone may
    /// read: no host path) and the log.
    pub fn background_cpu(&self) -> Option<String> {
        match self {
            Limiter::CgroupV1 { cpu: Some(_), .. } => Some(format!(
                "cgroup v1 cpu.shares {SESSIONS_CPU_SHARES}, one group for all sessions"
            )),
            Limiter::CgroupV2 {
                sessions: Some(_), ..
            } => Some(format!(
                "cgroup v2 cpu.weight {SESSIONS_CPU_WEIGHT}, one group for all sessions"
            )),
            _ => None,
        }
    }

    /// v2's `runs/sessions`, with the low weight all sessions share. Its children get memory and
    /// pids limits of their own, as the runs do.
    fn sessions_cpu_v2(runs: &Path) -> Result<PathBuf, String> {
        let dir = runs.join("sessions");
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        sweep_stale_runs(&dir);
        for (file, value) in [
            ("cpu.weight", SESSIONS_CPU_WEIGHT.to_string()),
            ("cgroup.subtree_control", "+memory +pids".to_string()),
        ] {
            let path = dir.join(file);
            fs::write(&path, value).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(dir)
    }

    /// cgroup v2 allows controllers only for groups without processes of their own. So the server
    /// moves itself into a leaf (`<parent>/server`) before it enables memory and pids below `<parent>`.
    /// The runs go below `<parent>/runs`, whose memory limit is the budget: the server's own
    /// memory is not the sandboxes' to use, and an OOM kill at the budget must not take it.
    fn try_v2(root: &Path, parent_name: &str) -> Result<Limiter, String> {
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let own = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .ok_or("the server is not in a cgroup v2 hierarchy")?;
        let base = root.join(own.trim_start_matches('/'));
        let controllers = fs::read_to_string(base.join("cgroup.controllers"))
            .map_err(|e| format!("{}: {e}", base.join("cgroup.controllers").display()))?;
        for needed in ["memory", "pids"] {
            if !controllers.split_whitespace().any(|c| c == needed) {
                return Err(format!(
                    "the {needed} controller is not available in {}",
                    base.display()
                ));
            }
        }
        let write = |file: PathBuf, value: &str| {
            fs::write(&file, value).map_err(|e| format!("cannot write {}: {e}", file.display()))
        };
        let parent = base.join(parent_name);
        let server_leaf = parent.join("server");
        fs::create_dir_all(&server_leaf)
            .map_err(|e| format!("cannot create {}: {e}", server_leaf.display()))?;
        // Every process of the server's group moves to the leaf (in a container, the server may
        // share its group with an init process).
        let procs = fs::read_to_string(base.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.split_whitespace() {
            let _ = write(server_leaf.join("cgroup.procs"), pid);
        }
        write(base.join("cgroup.subtree_control"), "+memory +pids")?;
        write(parent.join("cgroup.subtree_control"), "+memory +pids")?;
        let runs = parent.join("runs");
        fs::create_dir_all(&runs).map_err(|e| format!("cannot create {}: {e}", runs.display()))?;
        write(runs.join("cgroup.subtree_control"), "+memory +pids")?;
        sweep_stale_runs(&runs);
        // The cpu controller only for the sessions' weight, and only where it is offered: without
        // it sessions weigh as much as runs (the log says so).
        let cpu = controllers.split_whitespace().any(|c| c == "cpu")
            && [&base, &parent, &runs]
                .iter()
                .all(|dir| write(dir.join("cgroup.subtree_control"), "+cpu").is_ok());
        let sessions = if cpu {
            Self::sessions_cpu_v2(&runs)
        } else {
            Err(format!(
                "the cpu controller is not available in {}",
                base.display()
            ))
        };
        let sessions = match sessions {
            Ok(dir) => Some(dir),
            Err(e) => {
                log::warn!("sessions will run at the runs' CPU weight: {e}");
                None
            }
        };
        Ok(Limiter::CgroupV2 {
            parent: runs,
            budget: None,
            sessions,
        })
    }

    /// Makes a cgroup for one jail, named after `kind` ("run" or "warm", so that an idle pool is
    /// not mistaken for leftovers) and this server, with its limits set. `background`: a
    /// session's jail, at the low CPU weight (see the module's header). `None` when limits are
    /// rlimits only.
    pub fn create_run(
        &self,
        kind: &str,
        memory_bytes: u64,
        max_pids: u64,
        background: bool,
    ) -> Result<Option<RunCgroup>, SandboxError> {
        let id = &run_name(kind);
        let mut run = RunCgroup {
            dirs: Vec::new(),
            attach: Vec::new(),
            v2: matches!(self, Limiter::CgroupV2 { .. }),
        };
        match self {
            Limiter::Rlimits { .. } => return Ok(None),
            Limiter::CgroupV1 {
                memory,
                pids,
                budget,
                cpu,
            } => {
                let mem = run.make_dir(memory.join(id), *budget)?;
                write_file(
                    &mem.join("memory.limit_in_bytes"),
                    &memory_bytes.to_string(),
                )?;
                // memory+swap at the same ceiling: the run cannot swap its way past the limit.
                let memsw = mem.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write_file(&memsw, &memory_bytes.to_string())?;
                }
                let pids = run.make_dir(pids.join(id), None)?;
                write_file(&pids.join("pids.max"), &max_pids.to_string())?;
                if let (true, Some(cpu)) = (background, cpu) {
                    // Its own group below the sessions' (default shares): sessions split the
                    // parent's weight evenly among themselves.
                    run.make_dir(cpu.join(id), None)?;
                }
            }
            Limiter::CgroupV2 {
                parent,
                budget,
                sessions,
            } => {
                // A session's group goes below `runs/sessions` (still under the budget, which
                // `runs` carries), where there is one.
                let dir = match (background, sessions) {
                    (true, Some(sessions)) => run.make_dir(sessions.join(id), None)?,
                    _ => run.make_dir(parent.join(id), *budget)?,
                };
                write_file(&dir.join("memory.max"), &memory_bytes.to_string())?;
                let swap = dir.join("memory.swap.max");
                if swap.exists() {
                    write_file(&swap, "0")?;
                }
                write_file(&dir.join("pids.max"), &max_pids.to_string())?;
            }
        }
        for dir in run.dirs.clone() {
            let procs = dir.join("cgroup.procs");
            let file = OpenOptions::new()
                .write(true)
                .open(&procs)
                .map_err(|source| SandboxError::OpenCgroupProcs {
                    path: procs.clone(),
                    source,
                })?;
            run.attach.push(file);
        }
        Ok(Some(run))
    }
}

/// One run's cgroup (one directory per v1 hierarchy, one in v2). Dropping it kills whatever is
/// still inside and removes the directories.
#[derive(Debug)]
pub struct RunCgroup {
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each directory, opened before the fork so that the child only has to
    /// write(2) to them: no allocation or path lookup between fork and exec.
    attach: Vec<File>,
    v2: bool,
}

impl RunCgroup {
    /// Makes the run's directory. `budget`: the memory limit its parent must carry, put back if
    /// the parent has to be made again.
    fn make_dir(&mut self, dir: PathBuf, budget: Option<u64>) -> Result<PathBuf, SandboxError> {
        let v2 = self.v2;
        let created = fs::create_dir(&dir).or_else(|e| match (e.kind(), dir.parent()) {
            // Someone removed the parent group while the server ran: make it again, with the
            // budget's limit (a parent without it would let the runs take the host's memory).
            (io::ErrorKind::NotFound, Some(parent)) => {
                log::warn!("re-creating the missing cgroup {}", parent.display());
                fs::create_dir_all(parent)?;
                if v2 {
                    fs::write(parent.join("cgroup.subtree_control"), "+memory +pids")?;
                }
                if let Some(bytes) = budget {
                    set_limit(parent, bytes, v2).map_err(io::Error::other)?;
                }
                fs::create_dir(&dir)
            }
            _ => Err(e),
        });
        created.map_err(|source| SandboxError::CreateCgroup {
            path: dir.clone(),
            source,
        })?;
        self.dirs.push(dir.clone());
        Ok(dir)
    }

    /// Raw fds to write "0" to, in the child, to join the cgroup before it execs nsjail.
    pub fn attach_fds(&self) -> Vec<RawFd> {
        self.attach.iter().map(|f| f.as_raw_fd()).collect()
    }

    fn memory_dir(&self) -> Option<&PathBuf> {
        // v1: the memory hierarchy's directory comes first; v2: the only one.
        self.dirs.first()
    }

    /// Bytes of memory charged to the run now.
    pub fn memory_usage(&self) -> Option<u64> {
        let file = if self.v2 {
            "memory.current"
        } else {
            "memory.usage_in_bytes"
        };
        fs::read_to_string(self.memory_dir()?.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The most memory charged to the group since it was made (v2 before Linux 5.19 has no
    /// record of it: then what it uses now).
    pub fn memory_peak(&self) -> Option<u64> {
        let file = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        let peak = fs::read_to_string(self.memory_dir()?.join(file))
            .ok()
            .and_then(|v| v.trim().parse().ok());
        peak.max(self.memory_usage())
    }

    /// Changes the memory limit (a warm jail is narrowed to its request's limit). In v1 the
    /// memory+swap limit may never be below the memory limit, so the order depends on the direction.
    pub fn set_memory_limit(&self, bytes: u64) -> Result<(), SandboxError> {
        let Some(dir) = self.memory_dir() else {
            return Ok(());
        };
        set_limit(dir, bytes, self.v2).map_err(|e| SandboxError::SetCgroupLimit {
            path: dir.clone(),
            source: io::Error::other(e),
        })
    }

    /// Whether the kernel's OOM killer acted inside this run's cgroup.
    pub fn oom_killed(&self) -> bool {
        self.oom_kills() > 0
    }

    /// How many times the kernel's OOM killer acted inside this cgroup so far (a zygote's cgroup
    /// serves many runs: each compares the count before and after).
    pub fn oom_kills(&self) -> u64 {
        let (file, key) = if self.v2 {
            ("memory.events", "oom_kill")
        } else {
            ("memory.oom_control", "oom_kill")
        };
        self.dirs
            .iter()
            .filter_map(|d| counter(&d.join(file), key))
            .max()
            .unwrap_or(0)
    }

    /// The processes in the cgroup now (host pids).
    pub fn members(&self) -> Vec<i32> {
        self.dirs.first().map_or_else(Vec::new, |dir| procs(dir))
    }

    /// Sends SIGKILL to every process in the cgroup but `keep` (a zygote and its nsjail), and
    /// says how many there were. Quick: it does not wait for them to die.
    pub fn kill_all_except(&self, keep: &[i32]) -> usize {
        let mut others = 0;
        for dir in &self.dirs {
            for pid in procs(dir).into_iter().filter(|p| !keep.contains(p)) {
                others += 1;
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        others
    }

    /// Sends SIGKILL to every process in the cgroup. Quick: it does not wait for them to die.
    pub fn kill_all(&self) {
        for dir in &self.dirs {
            kill_members(dir, self.v2);
        }
    }

    /// Kills every process left in the cgroup and removes it. Blocks (briefly): call it off the
    /// async executor.
    pub fn destroy(mut self) {
        remove_cgroups(std::mem::take(&mut self.dirs), self.v2);
    }
}

impl Drop for RunCgroup {
    /// A run that was cancelled (its request dropped) still must not leave processes or cgroups
    /// behind; removal may have to wait for dying processes, so it happens on its own thread.
    fn drop(&mut self) {
        let dirs = std::mem::take(&mut self.dirs);
        if !dirs.is_empty() {
            let v2 = self.v2;
            std::thread::spawn(move || remove_cgroups(dirs, v2));
        }
    }
}

/// Names runs uniquely within the process, across all `Sandbox` instances.
static RUNS: AtomicU64 = AtomicU64::new(0);
/// This server's start time (see `run_name`), read once.
static SERVER_START: std::sync::LazyLock<u64> =
    std::sync::LazyLock::new(|| start_time(std::process::id()).unwrap_or(0));

/// A unique cgroup name: `<kind>-<server pid>-t<server start>-<n>`. The pid and the server's start
/// time (in clock ticks since boot, from /proc) say whose run it is: a later server can tell the
/// groups of one that is gone even when it got the same pid, as a container's server always does.
fn run_name(kind: &str) -> String {
    format!(
        "{kind}-{}-t{}-{}",
        std::process::id(),
        *SERVER_START,
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

/// A process's start time, in clock ticks since boot (field 22 of /proc/<pid>/stat).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may contain spaces or parentheses.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    rest.split(' ').nth(19)?.parse().ok()
}

/// Whether a group named by `run_name` (or by a server from before the start time was in the
/// name: `<kind>-<pid>-<hex>-<n>`) belongs to a server that is gone. Other names are not ours.
fn is_stale(name: &str, start_of: impl Fn(u32) -> Option<u64>) -> bool {
    let Some(rest) = name
        .strip_prefix("run-")
        .or_else(|| name.strip_prefix("warm-"))
    else {
        return false;
    };
    let mut parts = rest.split('-');
    let Some(pid) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    let started = parts
        .next()
        .and_then(|t| t.strip_prefix('t'))
        .and_then(|t| t.parse::<u64>().ok());
    match (start_of(pid), started) {
        (None, _) => true,
        (Some(now), Some(then)) => now != then,
        // An older name: only a pid that is gone says the server is.
        (Some(_), None) => false,
    }
}

/// Removes the run cgroups of servers that no longer exist (killed without cleaning up), with
/// whatever still runs in them.
fn sweep_stale_runs(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let stale: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| is_stale(n, start_time))
        })
        .map(|e| e.path())
        .collect();
    if !stale.is_empty() {
        log::warn!(
            "removing {} run cgroups left by a previous server",
            stale.len()
        );
        remove_cgroups(stale, false);
    }
}

fn procs(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .collect()
}

fn kill_members(dir: &Path, v2: bool) {
    if v2 {
        let _ = fs::write(dir.join("cgroup.kill"), "1");
    }
    for pid in procs(dir) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Processes die asynchronously after SIGKILL, so removal is retried for a short while.
fn remove_cgroups(dirs: Vec<PathBuf>, v2: bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    for dir in dirs.into_iter().rev() {
        loop {
            kill_members(&dir, v2);
            match fs::remove_dir(&dir) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if Instant::now() >= deadline => {
                    log::error!("cannot remove cgroup {}: {e}", dir.display());
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}

/// Sets a group's memory limit (memory+swap too: nothing can swap its way past it). In v1 the
/// memory+swap limit may never be below the memory limit, so the order depends on the direction.
fn set_limit(dir: &Path, bytes: u64, v2: bool) -> Result<(), String> {
    let write = |file: PathBuf, value: &str| {
        fs::write(&file, value).map_err(|e| format!("cannot write {}: {e}", file.display()))
    };
    let value = bytes.to_string();
    if v2 {
        write(dir.join("memory.max"), &value)?;
        let swap = dir.join("memory.swap.max");
        return if swap.exists() {
            write(swap, "0")
        } else {
            Ok(())
        };
    }
    let limit = dir.join("memory.limit_in_bytes");
    let memsw = dir.join("memory.memsw.limit_in_bytes");
    if !memsw.exists() {
        return write(limit, &value);
    }
    let current: u64 = fs::read_to_string(&limit)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(u64::MAX);
    if bytes < current {
        write(limit, &value)?;
        write(memsw, &value)
    } else {
        write(memsw, &value)?;
        write(limit, &value)
    }
}

fn write_file(path: &Path, value: &str) -> Result<(), SandboxError> {
    let mut f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|source| SandboxError::SetCgroupLimit {
            path: path.to_path_buf(),
            source,
        })?;
    f.write_all(value.as_bytes())
        .map_err(|source| SandboxError::SetCgroupLimit {
            path: path.to_path_buf(),
            source,
        })
}

/// Reads `key N` from a flat-keyed cgroup file such as memory.events.
fn counter(path: &Path, key: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_stale_when_its_server_is_gone_even_if_its_pid_is_reused() {
        let alive = |pid: u32| (pid == 1).then_some(500);
        assert!(!is_stale("run-1-t500-3", alive), "this server's own");
        assert!(
            is_stale("run-1-t400-3", alive),
            "PID 1 again, but another start"
        );
        assert!(is_stale("warm-77-t500-0", alive), "a pid that is gone");
        assert!(
            is_stale("run-77-6756a3b1-0", alive),
            "an older name, pid gone"
        );
        assert!(
            !is_stale("run-1-6756a3b1-0", alive),
            "an older name, pid alive"
        );
        assert!(!is_stale("server", alive));
        assert!(!is_stale("runs", alive));
        assert!(!is_stale("run-x-t1-0", alive));
        let own = run_name("run");
        assert!(!is_stale(&own, start_time), "{own}");
        assert!(start_time(std::process::id()).is_some());
    }

    #[test]
    fn counters_are_read_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("memory.events");
        fs::write(&file, "low 0\nhigh 0\nmax 12\noom 1\noom_kill 2\n").unwrap();
        assert_eq!(counter(&file, "oom_kill"), Some(2));
        assert_eq!(counter(&file, "oom"), Some(1));
        assert_eq!(counter(&file, "missing"), None);
    }
}
