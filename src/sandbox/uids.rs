//! Each live jail's own outside uid, lent from a small range and given back when the jail is gone.
//!
//! The kernel keeps several budgets per user: per uid (pipe buffer pages, epoll watches, file
//! descriptors in flight on unix sockets) or per uid and user namespace (queued signals, and
//! without a user namespace of its own every other per-user count). Were every jail uid 65534 on
//! the host, one run could use up such a budget and make the calls of concurrent runs fail. With a
//! uid of its own, a run can only exhaust its own share, which its rlimits bound.
//!
//! A uid goes back to the range only when the jail's processes are gone (the lease is dropped
//! after nsjail is reaped and the run's cgroup killed), so two live jails never share one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// How many uids a sandbox needs: every slot's run and every warm sandbox (or zygote) at once,
/// twice over for those being torn down while their successors start, and a margin; and one for
/// each session's zygote (SESSIONS_MAX), which is not replaced while it lives.
pub fn capacity(slots: usize, pool_size: usize, sessions_max: usize) -> u32 {
    let jails = slots
        .saturating_add(pool_size)
        .saturating_mul(2)
        .saturating_add(16)
        .saturating_add(sessions_max);
    u32::try_from(jails).unwrap_or(u32::MAX)
}

#[derive(Debug)]
pub struct JailUids {
    base: u32,
    capacity: usize,
    /// The offsets from `base` not lent out, least recently given back first: a uid whose jail
    /// was dropped on an error path (SIGKILL sent, not yet reaped) is the last to be lent again.
    free: Arc<Mutex<VecDeque<u32>>>,
}

/// One jail's uid, returned to the range when dropped.
#[derive(Debug)]
pub struct UidLease {
    base: u32,
    offset: u32,
    free: Arc<Mutex<VecDeque<u32>>>,
}

impl JailUids {
    pub fn new(base: u32, capacity: u32) -> JailUids {
        JailUids {
            base,
            capacity: capacity as usize,
            free: Arc::new(Mutex::new((0..capacity).collect())),
        }
    }

    /// The uid given back longest ago, or None when every one is lent (more live jails than the
    /// range was sized for: a bug, reported as a sandbox error rather than by sharing a uid).
    pub fn lease(&self) -> Option<UidLease> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        // Configuration keeps base + capacity below u32::MAX; an offset past it stays free.
        let offset = *free.front()?;
        self.base.checked_add(offset)?;
        free.pop_front();
        Some(UidLease {
            base: self.base,
            offset,
            free: self.free.clone(),
        })
    }

    pub fn leased(&self) -> usize {
        let free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        self.capacity - free.len()
    }
}

impl UidLease {
    pub fn uid(&self) -> u32 {
        self.base.saturating_add(self.offset)
    }
}

impl Drop for UidLease {
    fn drop(&mut self) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        free.push_back(self.offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_leases_never_share_a_uid_and_dropped_ones_come_back() {
        let uids = JailUids::new(60000, 3);
        let a = uids.lease().unwrap();
        let b = uids.lease().unwrap();
        let c = uids.lease().unwrap();
        assert_eq!([a.uid(), b.uid(), c.uid()], [60000, 60001, 60002]);
        assert!(uids.lease().is_none(), "the range is exhausted");
        drop(b);
        assert_eq!(uids.leased(), 2);
        assert_eq!(uids.lease().unwrap().uid(), 60001);
        drop((a, c));
        assert_eq!(uids.leased(), 0);
        // Least recently given back first: 60001 (dropped first), then 60000, then 60002.
        let order: Vec<u32> = (0..3)
            .map(|_| uids.lease().unwrap())
            .map(|l| l.uid())
            .collect();
        assert_eq!(order, [60001, 60000, 60002]);
    }

    #[test]
    fn capacity_covers_slots_and_pool_twice_and_every_session() {
        assert_eq!(capacity(2, 2, 0), 24);
        assert_eq!(capacity(2, 2, 8), 32);
        assert_eq!(capacity(1024, 1024, 1024), 5136);
    }
}
