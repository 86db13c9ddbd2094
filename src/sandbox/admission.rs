//! Admission: a run waits (bounded) for a sandbox slot and for its memory in the budget, and holds
//! both until it is over. Beyond the queue, or past the wait, the answer is 429; a request for more
//! memory than runs may ever hold is refused at once.
//!
//! Not here: the memory budget's own accounting (budget.rs).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;

use super::budget::MemoryReservation;
use super::error::SandboxError;
use super::input::Limits;
use super::Sandbox;

impl Sandbox {
    /// Waits (bounded) for a free slot, then for the run's `memory` in the budget: both waits
    /// end together, SANDBOX_QUEUE_WAIT_SECS after this call. Beyond the queue, or past the wait
    /// for a slot, `Overloaded`; past the wait for memory, `MemoryBusy` (both 429); more memory
    /// than runs may ever hold, `MemoryOverBudget`.
    pub async fn admit(&self, limits: &Limits) -> Result<Admission, SandboxError> {
        let deadline = Instant::now() + self.ctx.settings.queue_wait;
        let slot = self.slot().await?;
        Ok(Admission {
            _slot: slot,
            _memory: self.budget.reserve(limits.memory_mib, deadline).await?,
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
        })
    }

    /// Waits (bounded) for a free slot; beyond the queue, or past the wait, `Overloaded`.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, SandboxError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let s = &self.ctx.settings;
        let overloaded = || SandboxError::Overloaded {
            slots: s.slots,
            queued: self.queued.load(Ordering::Relaxed),
        };
        // Reserve a queue place atomically, so that a burst cannot overshoot the bound.
        let reserved = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q < s.queue).then_some(q + 1)
            });
        if reserved.is_err() {
            return Err(overloaded());
        }
        // Given back however the wait ends, including when the request is dropped mid-wait (its
        // client hung up): a place that leaked would shrink the queue for good.
        let _place = QueuePlace(&self.queued);
        let waited = tokio::time::timeout(s.queue_wait, self.slots.clone().acquire_owned()).await;
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(overloaded()),
        }
    }
}

/// A sandbox slot and the run's share of the memory budget, held from admission to the end of
/// the run: dropping it frees both.
pub struct Admission {
    _slot: OwnedSemaphorePermit,
    _memory: MemoryReservation,
}

struct QueuePlace<'a>(&'a AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
