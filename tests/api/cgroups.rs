//! Where a test server's cgroups are, under cgroup v1 or v2, and what is left in them: the listing
//! behind `TestApp::assert_no_leftovers`. It takes the roots as arguments, so that the v2 layout,
//! which this project's CI host does not use, is checked over a fake tree (tests/api/leftovers.rs).
//! Starting servers and talking to them is helpers.rs's job, not this file's.
//!
//! The layouts are the server's (src/sandbox/limiter.rs):
//! - cgroup v1: each run in `<v1>/memory/<parent>/<run>` and `<v1>/pids/<parent>/<run>`, and a
//!   session's jails also in `<v1>/cpu/<parent>/<run>` (their low CPU weight);
//! - cgroup v2: each run in `<v2>/<base>/<parent>/runs/<run>`, where `<base>` is the server's own
//!   cgroup when it started (the `0::` line of /proc/self/cgroup); the server then moves its whole
//!   process (for an in-process test server: the test process) into `<base>/<parent>/server`.
//!
//! Warm sandboxes (`warm-*`, and in fork mode the zygotes with their runs) sit beside the runs.

use std::path::PathBuf;

use serde_json::Value;

/// The host's cgroup mounts.
#[derive(Debug, Clone)]
pub struct CgroupRoots {
    /// Where cgroup v1's hierarchies are mounted (`memory/`, `pids/`).
    pub v1: PathBuf,
    /// The cgroup v2 mount, if the host has one.
    pub v2: Option<PathBuf>,
}

impl CgroupRoots {
    /// This host's: v1 under /sys/fs/cgroup (where the limiter looks for it); v2 at
    /// /sys/fs/cgroup/unified on a hybrid host, at /sys/fs/cgroup on a v2-only one.
    pub fn host() -> CgroupRoots {
        let v2 = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(PathBuf::from)
            .find(|root| root.join("cgroup.controllers").exists());
        CgroupRoots {
            v1: PathBuf::from("/sys/fs/cgroup"),
            v2,
        }
    }
}

/// Which of the two layouts a server uses, as its /health's `limiter` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    V1,
    V2,
}

/// The layout /health's `limiter` names. A server that limits runs with rlimits has no run cgroups
/// to look at: that is an error, because a check that needs them cannot run there.
pub fn layout(health: &Value) -> Result<Layout, String> {
    match health["limiter"].as_str() {
        Some("cgroup_v1") => Ok(Layout::V1),
        Some("cgroup_v2") => Ok(Layout::V2),
        Some("rlimits") => Err(format!(
            "the server limits runs with rlimits ({}), so there are no run cgroups to check: this \
             check needs a cgroup limiter (run the tests as root on a host with cgroup v1's memory \
             and pids hierarchies, or cgroup v2 with those controllers)",
            health["limiter_note"]
        )),
        _ => Err(format!(
            "/health names no limiter this test knows: {health}"
        )),
    }
}

/// The own cgroup v2 path of the process `pid` ("self" for this one): the `0::` line of its
/// /proc/<pid>/cgroup.
pub fn own_v2_cgroup(pid: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|own| own.trim().to_string())
}

/// One server's cgroups: its parent's name (`SANDBOX_CGROUP`) and where its v2 base may be.
#[derive(Debug, Clone)]
pub struct ServerCgroups {
    pub parent: String,
    /// The server's own v2 cgroup when it started. Read before it started and after (when a v2
    /// server has moved itself into `<base>/<parent>/server`); the two differ only when another
    /// server of the same process moved it in between.
    pub v2_bases: Vec<String>,
}

/// The directories a server makes its runs' cgroups in, under one layout: v1's `memory` then
/// `pids` parent, or v2's `runs`.
#[derive(Debug, Clone)]
pub struct RunParents {
    pub layout: Layout,
    pub dirs: Vec<PathBuf>,
}

impl RunParents {
    /// The file that holds the memory limit of the parent the runs share (the memory budget).
    pub fn memory_limit_file(&self) -> PathBuf {
        match self.layout {
            Layout::V1 => self.dirs[0].join("memory.limit_in_bytes"),
            Layout::V2 => self.dirs[0].join("memory.max"),
        }
    }
}

/// What is in a server's run parents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Run cgroups, as `<parent dir's name>/<run>`: none may outlive its response.
    pub runs: Vec<String>,
    /// Warm sandboxes' cgroups, the most found in one parent dir.
    pub warm: usize,
}

impl ServerCgroups {
    /// `before` and `after`: the `0::` cgroup of the server's process before it started and after.
    pub fn new(parent: &str, before: Option<String>, after: Option<String>) -> ServerCgroups {
        let moved = format!("/{parent}/server");
        let after = after.map(|own| match own.strip_suffix(&moved) {
            Some("") => "/".to_string(),
            Some(base) => base.to_string(),
            None => own,
        });
        let mut v2_bases = Vec::new();
        for base in before.into_iter().chain(after) {
            if !v2_bases.contains(&base) {
                v2_bases.push(base);
            }
        }
        ServerCgroups {
            parent: parent.to_string(),
            v2_bases,
        }
    }

    /// The v2 `runs` directory for each base, whether it exists or not.
    fn v2_runs(&self, roots: &CgroupRoots) -> Vec<PathBuf> {
        let Some(v2) = &roots.v2 else {
            return Vec::new();
        };
        self.v2_bases
            .iter()
            .map(|base| {
                v2.join(base.trim_start_matches('/'))
                    .join(&self.parent)
                    .join("runs")
            })
            .collect()
    }

    /// The directories this server makes its runs' cgroups in, under `layout`. An error names
    /// what is missing: the server makes them at start, and again at a run that finds one gone.
    pub fn run_parents(&self, roots: &CgroupRoots, layout: Layout) -> Result<RunParents, String> {
        let dirs = match layout {
            Layout::V1 => {
                let dirs: Vec<PathBuf> = ["memory", "pids"]
                    .iter()
                    .map(|c| roots.v1.join(c).join(&self.parent))
                    .collect();
                let missing: Vec<&PathBuf> = dirs.iter().filter(|d| !d.is_dir()).collect();
                if !missing.is_empty() {
                    return Err(format!("no cgroup v1 parent at {missing:?}"));
                }
                dirs
            }
            Layout::V2 => {
                let candidates = self.v2_runs(roots);
                match candidates.iter().find(|d| d.is_dir()) {
                    Some(dir) => vec![dir.clone()],
                    None if roots.v2.is_none() => return Err("no cgroup v2 mount".into()),
                    None => return Err(format!("no cgroup v2 runs parent at {candidates:?}")),
                }
            }
        };
        Ok(RunParents { layout, dirs })
    }

    /// The layout whose run parents exist, v1's first (the limiter tries it first), for a server
    /// that cannot be asked (one that failed to start).
    pub fn found_layout(&self, roots: &CgroupRoots) -> Result<Layout, String> {
        let v1 = match self.run_parents(roots, Layout::V1) {
            Ok(_) => return Ok(Layout::V1),
            Err(why) => why,
        };
        match self.run_parents(roots, Layout::V2) {
            Ok(_) => Ok(Layout::V2),
            Err(v2) => Err(format!("{v1}; {v2}")),
        }
    }

    /// What is in the run parents under `layout`; an error if they are not there.
    pub fn listing(&self, roots: &CgroupRoots, layout: Layout) -> Result<Listing, String> {
        let parents = self.run_parents(roots, layout)?;
        let mut listing = Listing::default();
        // v1's `cpu/<parent>` holds the sessions' jails (at their low CPU weight), where the host
        // has that hierarchy: what is left there is left over too.
        let sessions_cpu = roots.v1.join("cpu").join(&self.parent);
        let cpu = (parents.layout == Layout::V1 && sessions_cpu.is_dir()).then_some(sessions_cpu);
        for dir in parents.dirs.iter().chain(cpu.as_ref()) {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
            // v1: the hierarchy's name (`memory`, `pids`); v2: `runs`.
            let named = match parents.layout {
                Layout::V1 => dir.parent().and_then(|p| p.file_name()),
                Layout::V2 => dir.file_name(),
            };
            let label = named.unwrap_or_default().to_string_lossy();
            let mut warm = 0;
            // v2: the sessions' jails sit one level down, in `runs/sessions` (their CPU group).
            let nested = (parents.layout == Layout::V2)
                .then(|| std::fs::read_dir(dir.join("sessions")).ok())
                .flatten()
                .into_iter()
                .flatten();
            for entry in entries.chain(nested).filter_map(Result::ok) {
                if !entry.path().is_dir() {
                    continue; // a control file of the parent
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                if parents.layout == Layout::V2 && name == "sessions" {
                    continue; // the sessions' group itself, listed through above
                }
                if name.starts_with("warm-") {
                    warm += 1;
                } else {
                    listing.runs.push(format!("{label}/{name}"));
                }
            }
            listing.warm = listing.warm.max(warm);
        }
        Ok(listing)
    }

    /// The listing of a server whose /health answered `health`: an error when the check cannot
    /// run (no cgroup limiter) or when the limiter's directories are not where they must be.
    pub fn check(&self, roots: &CgroupRoots, health: &Value) -> Result<Listing, String> {
        let layout = layout(health)?;
        self.listing(roots, layout).map_err(|why| {
            format!(
                "/health says the limiter is {}, but this server's run cgroups are not there: {why}",
                health["limiter"]
            )
        })
    }

    /// Removes what the server made, as far as it is empty (best effort, when a test is over). A
    /// v2 server's `server` leaf stays while a process is in it.
    pub fn remove_all(&self, roots: &CgroupRoots) {
        // `cpu`: the sessions' group (limiter.rs), made by every server on a host that has it.
        for controller in ["memory", "pids", "cpu"] {
            let _ = std::fs::remove_dir(roots.v1.join(controller).join(&self.parent));
        }
        for runs in self.v2_runs(roots) {
            let _ = std::fs::remove_dir(&runs);
            if let Some(parent) = runs.parent() {
                let _ = std::fs::remove_dir(parent.join("server"));
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

/// Removes the v1 parents (`psa-test-<pid>-<n>`, and `psa-bin-<pid>-<ns>` of the tests that run the
/// binary) of test processes that are gone. A `TestApp` is
/// dropped while its server's warm sandboxes still hold their cgroups, so its own `remove_all`
/// leaves the parent behind (about 470 per `make test`); the next test process sweeps them, once.
/// Only empty cgroups can be removed, so a live server's are never touched.
pub fn sweep_parents_of_dead_tests(roots: &CgroupRoots) {
    fn remove_tree(dir: &std::path::Path) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.filter_map(Result::ok) {
                if entry.path().is_dir() {
                    remove_tree(&entry.path());
                }
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
    for controller in ["memory", "pids", "cpu"] {
        let Ok(entries) = std::fs::read_dir(roots.v1.join(controller)) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = ["psa-test-", "psa-bin-"]
                .iter()
                .find_map(|prefix| name.strip_prefix(prefix))
                .and_then(|rest| rest.split('-').next())
            else {
                continue;
            };
            if !std::path::Path::new("/proc").join(pid).exists() {
                remove_tree(&entry.path());
            }
        }
    }
}
