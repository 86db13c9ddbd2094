//! Admission: a run waits (bounded) for a sandbox slot and for its memory in the budget, and holds
//! both until it is over. Beyond the queue, or past the wait, the answer is 429; a request for more
//! memory than runs may ever hold is refused at once.
//!
//! The queue's length is not a fixed count: a request waits only while its expected wait stays
//! within `SANDBOX_QUEUE_WAIT_SECS`, up to the cap `SANDBOX_QUEUE` (pace.rs has the rule and the
//! estimate it uses; every admission's hold feeds that estimate when it ends). Every 429 carries
//! how long the client should wait, from the same estimate.
//!
//! Not here: the memory budget's own accounting (budget.rs).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;

use super::budget::MemoryReservation;
use super::error::SandboxError;
use super::input::Limits;
use super::pace::Pace;
use super::Sandbox;

impl Sandbox {
    /// Waits (bounded) for a free slot, then for the run's `memory` in the budget: both waits
    /// end together, SANDBOX_QUEUE_WAIT_SECS after this call. Beyond the queue, or past the wait
    /// for a slot, `Overloaded`; past the wait for memory, `MemoryBusy` (both 429); more memory
    /// than runs may ever hold, `MemoryOverBudget`.
    pub async fn admit(&self, limits: &Limits) -> Result<Admission, SandboxError> {
        let deadline = Instant::now() + self.ctx.settings.queue_wait;
        let slot = self.slot().await?;
        let since = Instant::now();
        let memory = match self.budget.reserve(limits.memory_mib, deadline).await {
            Ok(memory) => memory,
            Err(SandboxError::MemoryBusy {
                asked_mib,
                free_mib,
                runs_mib,
                ..
            }) => {
                // The memory comes back as runs end: as many as hold what is missing, at what
                // one holds on average (the slots taken but this one).
                let running = self.busy_slots().saturating_sub(1).max(1) as u64;
                let per_run = self.budget.reserved_mib().div_ceil(running).max(1);
                let runs = asked_mib.saturating_sub(free_mib).div_ceil(per_run);
                return Err(SandboxError::MemoryBusy {
                    asked_mib,
                    free_mib,
                    runs_mib,
                    retry_after_secs: self.pace.runs_end_secs(runs),
                });
            }
            Err(e) => return Err(e),
        };
        Ok(Admission {
            _slot: slot,
            _memory: memory,
            _timer: HoldTimer {
                pace: self.pace.clone(),
                since,
            },
        })
    }

    /// A slot and the run's memory if both are free now, without waiting (a health check must
    /// not queue).
    pub(super) fn try_admit(&self, limits: &Limits) -> Option<Admission> {
        let slot = self.slots.clone().try_acquire_owned().ok()?;
        let memory = self.budget.try_reserve(limits.memory_mib).ok()?;
        Some(Admission {
            _slot: slot,
            _memory: memory,
            _timer: HoldTimer {
                pace: self.pace.clone(),
                since: Instant::now(),
            },
        })
    }

    /// The slots held now.
    pub(super) fn busy_slots(&self) -> usize {
        self.ctx
            .settings
            .slots
            .saturating_sub(self.slots.available_permits())
    }

    /// How many requests may wait for a slot now (pace.rs's rule under the cap).
    pub fn queue_limit(&self) -> usize {
        let s = &self.ctx.settings;
        self.pace.queue_limit(s.queue_wait, s.queue)
    }

    /// The moving estimate of how long a slot is held.
    pub fn pace(&self) -> &Arc<Pace> {
        &self.pace
    }

    /// The queue's length now and the estimate behind it, for /metrics.
    pub fn queue_stats(&self) -> QueueStats {
        QueueStats {
            limit: self.queue_limit(),
            hold_seconds: self.pace.hold().as_secs_f64(),
        }
    }

    /// Waits (bounded) for a free slot; beyond the queue, or past the wait, `Overloaded`.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, SandboxError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let s = &self.ctx.settings;
        let limit = self.queue_limit();
        let overloaded = |waited: bool| {
            let queued = self.queued.load(Ordering::Relaxed);
            // A request that waited still holds its own place here: the others are ahead of it.
            let ahead = queued.saturating_sub(usize::from(waited));
            SandboxError::Overloaded {
                slots: s.slots,
                queued,
                retry_after_secs: self.pace.retry_after_secs(ahead, limit),
                waited,
            }
        };
        // Reserve a queue place atomically, so that a burst cannot overshoot the bound.
        let reserved = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q < limit).then_some(q + 1)
            });
        if reserved.is_err() {
            return Err(overloaded(false));
        }
        // Given back however the wait ends, including when the request is dropped mid-wait (its
        // client hung up): a place that leaked would shrink the queue for good.
        let _place = QueuePlace(&self.queued);
        let waited = tokio::time::timeout(s.queue_wait, self.slots.clone().acquire_owned()).await;
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(overloaded(true)),
        }
    }
}

/// What /metrics reports of the queue's sizing.
#[derive(Debug, Clone, Copy)]
pub struct QueueStats {
    pub limit: usize,
    pub hold_seconds: f64,
}

/// A sandbox slot and the run's share of the memory budget, held from admission to the end of
/// the run: dropping it frees both, and counts how long the slot was held into the estimate.
pub struct Admission {
    _slot: OwnedSemaphorePermit,
    _memory: MemoryReservation,
    _timer: HoldTimer,
}

/// Records the slot's hold when dropped: from when the slot was taken (a wait for memory holds
/// the slot too) to the end of the run.
struct HoldTimer {
    pace: Arc<Pace>,
    since: Instant,
}

impl Drop for HoldTimer {
    fn drop(&mut self) {
        self.pace.record(self.since.elapsed());
    }
}

struct QueuePlace<'a>(&'a AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
