//! Which CPUs each live jail runs on, when `SANDBOX_MAX_CPUS` gives a jail fewer CPUs than the
//! server has.
//!
//! nsjail's `--max_cpus N` keeps N CPUs of those its own process may use, chosen at random. With one
//! CPU per jail on a 2-CPU host, the two zygotes of a 2-slot server then share one CPU half the
//! time, and the runs of both slots queue on it while the other CPU idles: pandas throughput at 16
//! clients measured 30/s on such a server against 59 to 71/s on one whose zygotes had a CPU each
//! (bench/README.md). So the server chooses: each jail gets the N allowed CPUs that the fewest
//! live jails hold, set on nsjail's process before its exec (process.rs), from which nsjail's
//! random choice of N can only take those N. A zygote holds its CPUs for its life, and its children
//! (one run at a time) share them.
//!
//! Not here: the flag itself (nsjail.rs), and the seccomp rule that keeps a jail from widening its
//! mask (configs/python.cfg refuses sched_setaffinity).

use std::sync::{Arc, Mutex};

use nix::sched::CpuSet;

#[derive(Debug)]
pub struct JailCpus {
    /// The CPUs the server may use, in order.
    allowed: Vec<usize>,
    /// CPUs per jail: 0 when jails are not pinned (no limit, or no fewer than `allowed`).
    per_jail: usize,
    /// Live jails holding each of `allowed`, index for index.
    holders: Arc<Mutex<Vec<u32>>>,
}

/// The CPUs one live jail runs on; they count as free again when it is dropped.
#[derive(Debug)]
pub struct CpuLease {
    picked: Vec<usize>,
    set: CpuSet,
    holders: Arc<Mutex<Vec<u32>>>,
}

impl JailCpus {
    /// For jails of `max_cpus` CPUs (0: no limit) among the CPUs this process may use now.
    pub fn detect(max_cpus: u32) -> JailCpus {
        let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
            .map(|set| {
                (0..CpuSet::count())
                    .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
                    .collect()
            })
            .unwrap_or_default();
        JailCpus::new(allowed, max_cpus)
    }

    pub fn new(allowed: Vec<usize>, max_cpus: u32) -> JailCpus {
        let per_jail = usize::try_from(max_cpus).unwrap_or(usize::MAX);
        let per_jail = if per_jail < allowed.len() {
            per_jail
        } else {
            0
        };
        JailCpus {
            holders: Arc::new(Mutex::new(vec![0; allowed.len()])),
            allowed,
            per_jail,
        }
    }

    /// The `per_jail` CPUs the fewest live jails hold (the lower CPU on a tie), or `None` when
    /// jails are not pinned (nsjail's own `--max_cpus`, if any, then has all CPUs to choose from).
    pub fn lease(&self) -> Option<CpuLease> {
        if self.per_jail == 0 {
            return None;
        }
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        let mut order: Vec<usize> = (0..self.allowed.len()).collect();
        order.sort_by_key(|&i| (holders[i], i));
        let picked: Vec<usize> = order.into_iter().take(self.per_jail).collect();
        let mut set = CpuSet::new();
        for &i in &picked {
            // Every allowed CPU came from a CpuSet, so it fits one.
            set.set(self.allowed[i]).ok()?;
        }
        for &i in &picked {
            holders[i] += 1;
        }
        Some(CpuLease {
            picked,
            set,
            holders: self.holders.clone(),
        })
    }
}

impl CpuLease {
    /// The mask nsjail's process is given before its exec.
    pub fn set(&self) -> CpuSet {
        self.set
    }
}

impl Drop for CpuLease {
    fn drop(&mut self) {
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        for &i in &self.picked {
            holders[i] = holders[i].saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus(lease: &CpuLease) -> Vec<usize> {
        (0..8).filter(|&c| lease.set().is_set(c).unwrap()).collect()
    }

    #[test]
    fn each_jail_takes_the_least_held_cpus() {
        let jails = JailCpus::new(vec![0, 1], 1);
        let a = jails.lease().unwrap();
        let b = jails.lease().unwrap();
        assert_eq!((cpus(&a), cpus(&b)), (vec![0], vec![1]));
        let c = jails.lease().unwrap();
        assert_eq!(cpus(&c), vec![0]);
        drop(b);
        // CPU 1 is free again; CPU 0 has two holders.
        assert_eq!(cpus(&jails.lease().unwrap()), vec![1]);
    }

    #[test]
    fn several_cpus_per_jail_and_sparse_masks() {
        let jails = JailCpus::new(vec![2, 5, 7], 2);
        let a = jails.lease().unwrap();
        let b = jails.lease().unwrap();
        assert_eq!(cpus(&a), vec![2, 5]);
        assert_eq!(cpus(&b), vec![2, 7]);
    }

    #[test]
    fn no_pinning_without_a_limit_or_below_it() {
        assert!(JailCpus::new(vec![0, 1], 0).lease().is_none());
        assert!(JailCpus::new(vec![0, 1], 2).lease().is_none());
        assert!(JailCpus::new(vec![0], 1).lease().is_none());
        assert!(JailCpus::new(vec![], 1).lease().is_none());
    }
}
