//! The service's total memory budget for its sandboxes: how large it is (a setting, or detected
//! from the container's limit or the host's RAM), and the reservations that runs take from it.
//!
//! The budget is enforced twice. The parent cgroup gets it as its memory limit (limiter.rs), so
//! that if everything else goes wrong the kernel's OOM killer acts inside our cgroup, never on
//! the host's other processes. And each run reserves its `memory` here before it starts, so that
//! the runs and the warm pool together never ask the kernel for more than the budget: a run that
//! does not fit waits (bounded), then gets 429, instead of pushing another run over the limit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::SandboxError;

const MIB: u64 = 1 << 20;

/// Memory kept out of the budget for the server itself when the budget is detected: 256 MiB, or
/// a quarter of the limit on a smaller one. The server idles at about 14 MiB (measured); what
/// raises it is what it holds for requests: bodies in flight (MAX_BODY_BYTES each), the results
/// of running runs (MAX_RESULT_BYTES plus the output files in base64, each: two runs returning
/// 15 MiB at once took it to 92 MiB, about 2.6 times the result each), and the script parser
/// (about 150 MiB for a pathological 1 MiB script). 256 MiB covers two slots' full results and
/// more; an operator with more slots or larger caps sets SANDBOX_MEMORY_BUDGET_MB.
pub const SERVER_RESERVE_MIB: u64 = 256;

/// What a warm sandbox is assumed to hold when none could be measured (the pool could not start
/// one): about twice the 117 to 125 MiB measured with the default preload (numpy, pandas, scipy,
/// matplotlib, pyplot and seaborn, and the zygote's throw-away figure).
pub const UNMEASURED_WARM_MIB: u64 = 256;

/// Where the budget's figure came from. Reported by /health (no host paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetSource {
    /// SANDBOX_MEMORY_BUDGET_MB.
    Setting,
    /// The memory.max of the server's cgroup v2 (or of one of its ancestors).
    CgroupV2,
    /// The memory.limit_in_bytes of the server's cgroup v1 memory group (or of an ancestor).
    CgroupV1,
    /// No container limit: the host's MemTotal.
    Host,
}

impl BudgetSource {
    /// The name /health gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetSource::Setting => "setting",
            BudgetSource::CgroupV2 => "cgroup_v2",
            BudgetSource::CgroupV1 => "cgroup_v1",
            BudgetSource::Host => "host",
        }
    }
}

/// The budget and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub budget_mib: u64,
    pub source: BudgetSource,
    /// The limit found (container limit or host RAM) before the server's reserve; `None` when
    /// the setting gave the budget.
    pub detected_mib: Option<u64>,
    /// For the start-up log only: where the figure was read (may name host paths).
    pub detail: String,
}

/// Finds the budget: the setting if there is one, else the container's memory limit, else the
/// host's RAM, less the server's reserve.
pub fn detect(setting_mib: Option<u64>) -> Detected {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let root = Path::new("/sys/fs/cgroup");
    let v2 = own_cgroup(&own, None).and_then(|path| {
        let limit = smallest_limit(root, &path, "memory.max")?;
        Some((limit.0, BudgetSource::CgroupV2, limit.1))
    });
    let v1 = own_cgroup(&own, Some("memory")).and_then(|path| {
        let limit = smallest_limit(&root.join("memory"), &path, "memory.limit_in_bytes")?;
        Some((limit.0, BudgetSource::CgroupV1, limit.1))
    });
    let container = [v2, v1]
        .into_iter()
        .flatten()
        .min_by_key(|(bytes, ..)| *bytes);
    budget_from(setting_mib, container, parse_memtotal(&meminfo))
}

/// The budget from what was found (pure, for tests): a container limit counts only when it is
/// below the host's RAM (an unlimited group reads as a huge number).
pub fn budget_from(
    setting_mib: Option<u64>,
    container: Option<(u64, BudgetSource, PathBuf)>,
    memtotal_bytes: Option<u64>,
) -> Detected {
    if let Some(mib) = setting_mib {
        return Detected {
            budget_mib: mib,
            source: BudgetSource::Setting,
            detected_mib: None,
            detail: "SANDBOX_MEMORY_BUDGET_MB".into(),
        };
    }
    let host = memtotal_bytes.unwrap_or(u64::MAX);
    let (bytes, source, detail) = match container {
        Some((bytes, source, path)) if bytes < host => {
            (bytes, source, format!("{}", path.display()))
        }
        _ => (host, BudgetSource::Host, "/proc/meminfo MemTotal".into()),
    };
    let limit_mib = bytes / MIB;
    Detected {
        budget_mib: limit_mib.saturating_sub(server_reserve_mib(limit_mib)),
        source,
        detected_mib: Some(limit_mib),
        detail,
    }
}

/// The server's reserve out of a detected limit (see `SERVER_RESERVE_MIB`).
pub fn server_reserve_mib(limit_mib: u64) -> u64 {
    SERVER_RESERVE_MIB.min(limit_mib / 4)
}

/// The server's cgroup path from /proc/self/cgroup: the v2 line (`0::/path`) with `controller`
/// `None`, else the v1 line that lists `controller`.
fn own_cgroup(proc_self_cgroup: &str, controller: Option<&str>) -> Option<String> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controller {
            None => controllers.is_empty(),
            Some(c) => controllers.split(',').any(|x| x == c),
        };
        matches.then(|| path.to_string())
    })
}

/// The smallest limit in `file` of the group at `path` below `mount` and of its ancestors up to
/// the mount's root (a container's limit may sit on a parent; inside a cgroup namespace the
/// mount's root is the container's own group, and the path may not exist below it).
fn smallest_limit(mount: &Path, path: &str, file: &str) -> Option<(u64, PathBuf)> {
    let mut dir = mount.join(path.trim_start_matches('/'));
    let mut smallest: Option<(u64, PathBuf)> = None;
    loop {
        let at = dir.join(file);
        if let Some(bytes) = std::fs::read_to_string(&at)
            .ok()
            .and_then(|v| parse_limit(&v))
        {
            if smallest.as_ref().is_none_or(|(b, _)| bytes < *b) {
                smallest = Some((bytes, at));
            }
        }
        if dir == mount || !dir.pop() || !dir.starts_with(mount) {
            return smallest;
        }
    }
}

/// A cgroup memory limit: bytes, or `None` for "max" (v2) and v1's "unlimited" (a number near
/// 2^63).
fn parse_limit(value: &str) -> Option<u64> {
    let bytes: u64 = value.trim().parse().ok()?;
    (bytes < 1 << 62).then_some(bytes)
}

/// MemTotal from /proc/meminfo, in bytes.
fn parse_memtotal(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let kib = line.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
        kib.trim().parse::<u64>().ok()?.checked_mul(1024)
    })
}

/// The budget at run time: what the warm pool holds is set aside at start-up, the rest is shared
/// by the runs, each reserving its `memory` (in MiB) until it is over.
#[derive(Debug)]
pub struct MemoryBudget {
    pub detected: Detected,
    /// Whether the parent cgroup carries the budget as its memory limit.
    pub enforced: bool,
    /// What one warm sandbox was measured to hold (`None`: not measured, or no pool).
    pub warm_mib: Option<u64>,
    /// Set aside for the pool: its size times a warm sandbox.
    pub pool_mib: u64,
    /// What the runs may hold together: the budget less the pool.
    pub runs_mib: u64,
    free: Arc<Semaphore>,
}

/// A run's share of the budget, given back when dropped (however the run ends).
#[derive(Debug)]
pub struct MemoryReservation {
    _permits: OwnedSemaphorePermit,
    pub mib: u64,
}

impl MemoryBudget {
    pub fn new(detected: Detected, enforced: bool, warm_mib: Option<u64>, pool_mib: u64) -> Self {
        let runs_mib = detected.budget_mib.saturating_sub(pool_mib);
        // The semaphore counts MiB; no budget comes near its maximum (2^61 permits).
        let permits = usize::try_from(runs_mib)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        MemoryBudget {
            detected,
            enforced,
            warm_mib,
            pool_mib,
            runs_mib,
            free: Arc::new(Semaphore::new(permits)),
        }
    }

    /// MiB the runs hold now.
    pub fn reserved_mib(&self) -> u64 {
        self.runs_mib
            .saturating_sub(self.free.available_permits() as u64)
    }

    /// The permits for `mib`, or the error for a run that could never fit.
    fn permits(&self, mib: u64) -> Result<u32, SandboxError> {
        let too_large = || SandboxError::MemoryOverBudget {
            asked_mib: mib,
            most_mib: self.runs_mib,
        };
        if mib > self.runs_mib {
            return Err(too_large());
        }
        u32::try_from(mib).map_err(|_| too_large())
    }

    /// Reserves `mib` now, or says why not: never (more than the runs' share), or not now.
    pub fn try_reserve(&self, mib: u64) -> Result<MemoryReservation, SandboxError> {
        let permits = self.permits(mib)?;
        match self.free.clone().try_acquire_many_owned(permits) {
            Ok(p) => Ok(MemoryReservation { _permits: p, mib }),
            Err(_) => Err(self.busy(mib)),
        }
    }

    /// Reserves `mib`, waiting until `deadline` for runs to give memory back. Waiters are served
    /// in order, so a large run is not passed over for ever by small ones.
    pub async fn reserve(
        &self,
        mib: u64,
        deadline: Instant,
    ) -> Result<MemoryReservation, SandboxError> {
        let permits = self.permits(mib)?;
        let wait = self.free.clone().acquire_many_owned(permits);
        match tokio::time::timeout_at(deadline.into(), wait).await {
            Ok(Ok(p)) => Ok(MemoryReservation { _permits: p, mib }),
            _ => Err(self.busy(mib)),
        }
    }

    /// Reserves `mib` now only if `keep_mib` stay free after it: a session's reservation, held
    /// for the session's life, never takes the memory one-shot runs need (mod.rs says how much).
    pub fn try_reserve_leaving(
        &self,
        mib: u64,
        keep_mib: u64,
    ) -> Result<MemoryReservation, SandboxError> {
        self.permits(mib)?;
        let free = self.free.available_permits() as u64;
        if free < mib.saturating_add(keep_mib) {
            return Err(self.busy(mib));
        }
        self.try_reserve(mib)
    }

    fn busy(&self, mib: u64) -> SandboxError {
        SandboxError::MemoryBusy {
            asked_mib: mib,
            free_mib: self.free.available_permits() as u64,
            runs_mib: self.runs_mib,
            // The budget does not know how fast runs end: admission.rs, which does, replaces it.
            retry_after_secs: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_wins_and_keeps_its_figure() {
        let d = budget_from(
            Some(1000),
            Some((512 * MIB, BudgetSource::CgroupV2, PathBuf::from("/x"))),
            Some(8 << 30),
        );
        assert_eq!(d.budget_mib, 1000);
        assert_eq!(d.source, BudgetSource::Setting);
        // /health's names are serde's.
        for source in [
            BudgetSource::Setting,
            BudgetSource::CgroupV2,
            BudgetSource::CgroupV1,
            BudgetSource::Host,
        ] {
            assert_eq!(
                serde_json::to_value(source).unwrap(),
                serde_json::json!(source.as_str())
            );
        }
        assert_eq!(d.detected_mib, None);
    }

    #[test]
    fn a_container_limit_below_the_host_ram_is_used_less_the_reserve() {
        let container = Some((2048 * MIB, BudgetSource::CgroupV2, PathBuf::from("/x")));
        let d = budget_from(None, container, Some(16 << 30));
        assert_eq!(d.source, BudgetSource::CgroupV2);
        assert_eq!(d.detected_mib, Some(2048));
        assert_eq!(d.budget_mib, 2048 - SERVER_RESERVE_MIB);
        // A small instance keeps three quarters.
        let container = Some((512 * MIB, BudgetSource::CgroupV1, PathBuf::from("/x")));
        assert_eq!(budget_from(None, container, Some(16 << 30)).budget_mib, 384);
        // A "limit" above the host's RAM limits nothing.
        let container = Some((64 << 30, BudgetSource::CgroupV1, PathBuf::from("/x")));
        let d = budget_from(None, container, Some(16 << 30));
        assert_eq!(d.source, BudgetSource::Host);
        assert_eq!(d.budget_mib, 16384 - SERVER_RESERVE_MIB);
    }

    #[test]
    fn proc_files_are_parsed() {
        let own = "12:pids:/a\n4:memory,foo:/docker/abc\n0::/user.slice/x.scope\n";
        assert_eq!(
            own_cgroup(own, Some("memory")).as_deref(),
            Some("/docker/abc")
        );
        assert_eq!(
            own_cgroup(own, None).as_deref(),
            Some("/user.slice/x.scope")
        );
        assert_eq!(own_cgroup("4:memory:/m\n", None), None);
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit("2147483648\n"), Some(2 << 30));
        let meminfo = "MemTotal:       24683664 kB\nMemFree:         9703512 kB\n";
        assert_eq!(parse_memtotal(meminfo), Some(24683664 * 1024));
        assert_eq!(parse_memtotal("nothing"), None);
    }

    #[test]
    fn the_smallest_limit_on_the_way_up_counts() {
        let root = tempfile::tempdir().unwrap();
        let leaf = root.path().join("a/b");
        std::fs::create_dir_all(&leaf).unwrap();
        std::fs::write(root.path().join("memory.max"), "max\n").unwrap();
        std::fs::write(root.path().join("a/memory.max"), "1073741824\n").unwrap();
        std::fs::write(leaf.join("memory.max"), "max\n").unwrap();
        let (bytes, at) = smallest_limit(root.path(), "/a/b", "memory.max").unwrap();
        assert_eq!(bytes, 1 << 30);
        assert_eq!(at, root.path().join("a/memory.max"));
        // A path that does not exist below the mount (a cgroup namespace): the mount's root.
        std::fs::write(root.path().join("memory.max"), "536870912\n").unwrap();
        let (bytes, _) = smallest_limit(root.path(), "/elsewhere/c", "memory.max").unwrap();
        assert_eq!(bytes, 512 << 20);
    }

    #[tokio::test]
    async fn reservations_add_up_and_come_back_when_dropped() {
        let detected = budget_from(Some(1000), None, None);
        let budget = MemoryBudget::new(detected, true, Some(50), 100);
        assert_eq!(budget.runs_mib, 900);
        let first = budget.try_reserve(600).unwrap();
        assert_eq!(budget.reserved_mib(), 600);
        assert!(matches!(
            budget.try_reserve(400),
            Err(SandboxError::MemoryBusy { free_mib: 300, .. })
        ));
        assert!(matches!(
            budget.try_reserve(901),
            Err(SandboxError::MemoryOverBudget { most_mib: 900, .. })
        ));
        let soon = Instant::now() + std::time::Duration::from_millis(50);
        assert!(budget.reserve(400, soon).await.is_err());
        drop(first);
        assert_eq!(budget.reserved_mib(), 0);
        let later = Instant::now() + std::time::Duration::from_secs(5);
        let second = budget.reserve(900, later).await.unwrap();
        assert_eq!(second.mib, 900);
    }
}
