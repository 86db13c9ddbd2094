//! How fast the slots turn over, and the two rules that follow from it: how many requests may
//! wait for a slot (`queue_limit`) and how long a refused client should wait before it tries
//! again (`retry_after_secs`).
//!
//! Why by time and not by count. A queue place is worth what it costs its request in waiting:
//! position × (how long a slot is held) / slots. With runs of a few milliseconds, hundreds of
//! requests wait less than a second; with 30-second runs, a third place already waits 45 s on two
//! slots, past `SANDBOX_QUEUE_WAIT_SECS`, so it would get its 429 late instead of at once. So a
//! request is queued only while its expected wait stays within the wait budget, and the count
//! (`SANDBOX_QUEUE`, or its default) is only the hard cap that bounds what the queue holds
//! (each place is a connection, and its body within `MAX_BODIES_IN_FLIGHT_BYTES`).
//!
//! The hold time is a moving average (each new hold counts for 1/8) of how long admitted requests
//! held their slot, from admission to the end of the run (the script's parse, the jail and the
//! run), started at `FIRST_ESTIMATE` before any run has ended.
//!
//! Not here: the slot semaphore and the queue counter themselves (admission.rs), and the header
//! that carries the answer (src/error.rs).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The estimate before the first run ends: a second, between a hello world (milliseconds) and a
/// long analysis; the first runs correct it within a few dozen.
pub const FIRST_ESTIMATE: Duration = Duration::from_secs(1);

/// The longest `Retry-After` the server gives: beyond this the estimate says little anyway.
pub const MAX_RETRY_AFTER_SECS: u32 = 300;

/// Weight of a new hold time in the average: 1/2^SHIFT.
const SHIFT: u32 = 3;

/// The moving estimate of how long a slot is held, shared by every request (lock-free).
#[derive(Debug)]
pub struct Pace {
    slots: usize,
    /// Microseconds.
    hold_us: AtomicU64,
}

impl Pace {
    pub fn new(slots: usize) -> Pace {
        Pace {
            slots: slots.max(1),
            hold_us: AtomicU64::new(micros(FIRST_ESTIMATE)),
        }
    }

    /// Counts one slot's hold into the estimate.
    pub fn record(&self, held: Duration) {
        let sample = micros(held);
        // fetch_update cannot fail with a closure that always returns Some.
        let _ = self
            .hold_us
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                Some(blend(old, sample))
            });
    }

    /// How long a slot is held, as estimated now.
    pub fn hold(&self) -> Duration {
        Duration::from_micros(self.hold_us.load(Ordering::Acquire))
    }

    /// How many requests may wait now: see `queue_limit`.
    pub fn queue_limit(&self, wait: Duration, cap: usize) -> usize {
        queue_limit(self.hold(), self.slots, wait, cap)
    }

    /// What a refused request is told to wait: see `retry_after_secs`.
    pub fn retry_after_secs(&self, queued: usize, limit: usize) -> u32 {
        retry_after_secs(self.hold(), self.slots, queued, limit)
    }

    /// What a request refused for the memory budget is told to wait: the time for `runs` runs to
    /// end and give their memory back (at least one).
    pub fn runs_end_secs(&self, runs: u64) -> u32 {
        let places = usize::try_from(runs.max(1)).unwrap_or(usize::MAX);
        retry_after_secs(self.hold(), self.slots, places.saturating_sub(1), 0)
    }
}

/// The moving average: old + (sample - old) / 2^SHIFT.
fn blend(old: u64, sample: u64) -> u64 {
    let old = i128::from(old);
    let next = old + ((i128::from(sample) - old) >> SHIFT);
    u64::try_from(next.max(1)).unwrap_or(u64::MAX)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The queue's length now: the most requests that wait no longer than `wait` for a slot when
/// `slots` slots are each held for `hold` (place p waits about p × hold / slots), and never more
/// than `cap`.
pub fn queue_limit(hold: Duration, slots: usize, wait: Duration, cap: usize) -> usize {
    let hold_us = micros(hold).max(1);
    let fits = u128::from(micros(wait)) * slots.max(1) as u128 / u128::from(hold_us);
    usize::try_from(fits).unwrap_or(usize::MAX).min(cap)
}

/// Whole seconds a refused client should wait before it tries again: the time for the queue to
/// move far enough that a request sent then is queued. `queued` wait now and `limit` may: a new
/// request needs `queued + 1 - limit` places to move, at least one (a request that timed out in a
/// queue that is not full needs one), and one place moves every `hold / slots`. Rounded up, at
/// least 1 s, at most `MAX_RETRY_AFTER_SECS`.
pub fn retry_after_secs(hold: Duration, slots: usize, queued: usize, limit: usize) -> u32 {
    let places = (queued + 1).saturating_sub(limit).max(1) as u128;
    let us = places * u128::from(micros(hold)) / slots.max(1) as u128;
    let secs = us.div_ceil(1_000_000);
    secs.clamp(1, u128::from(MAX_RETRY_AFTER_SECS)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_queue_holds_what_waits_within_the_budget() {
        let wait = Duration::from_secs(30);
        // Hello world on 2 slots (7 ms a hold): 8571 places wait under 30 s; the cap decides.
        assert_eq!(queue_limit(7 * MS, 2, wait, 64), 64);
        assert_eq!(queue_limit(7 * MS, 2, wait, 100_000), 8571);
        // 30-second runs on 2 slots: the second place waits 30 s, the third 45 s.
        assert_eq!(queue_limit(Duration::from_secs(30), 2, wait, 64), 2);
        // Runs longer than the budget on one slot: no place waits within it.
        assert_eq!(queue_limit(Duration::from_secs(31), 1, wait, 64), 0);
        // No wait at all, or no place: no queue.
        assert_eq!(queue_limit(7 * MS, 2, Duration::ZERO, 64), 0);
        assert_eq!(queue_limit(7 * MS, 2, wait, 0), 0);
        // A zero estimate (cannot happen: blend keeps it at 1 µs) does not divide by zero.
        assert_eq!(queue_limit(Duration::ZERO, 2, wait, 64), 64);
    }

    #[test]
    fn retry_after_is_the_time_for_the_queue_to_make_room() {
        // Fast runs: a place frees within milliseconds; never below one second.
        assert_eq!(retry_after_secs(7 * MS, 2, 64, 64), 1);
        // 30-second runs, 2 slots, 2 waiting of 2: one place moves every 15 s.
        assert_eq!(retry_after_secs(Duration::from_secs(30), 2, 2, 2), 15);
        // The estimate grew after 6 were queued, and 2 fit now: 5 places must move.
        assert_eq!(retry_after_secs(Duration::from_secs(30), 2, 6, 2), 75);
        // A timeout in a queue that is not full: one place.
        assert_eq!(retry_after_secs(Duration::from_secs(4), 2, 0, 8), 2);
        // Rounded up, and capped.
        assert_eq!(retry_after_secs(Duration::from_millis(2500), 1, 0, 0), 3);
        assert_eq!(
            retry_after_secs(Duration::from_secs(300), 1, 100, 0),
            MAX_RETRY_AFTER_SECS
        );
    }

    #[test]
    fn the_estimate_moves_an_eighth_of_the_way() {
        let pace = Pace::new(2);
        assert_eq!(pace.hold(), FIRST_ESTIMATE);
        pace.record(Duration::from_millis(200));
        assert_eq!(pace.hold(), Duration::from_millis(900));
        // A few dozen fast runs bring a first guess of a second down to milliseconds.
        for _ in 0..60 {
            pace.record(7 * MS);
        }
        assert!(pace.hold() < 10 * MS, "{:?}", pace.hold());
        // One slow run among fast ones moves it by an eighth of its length, not all the way.
        pace.record(Duration::from_secs(30));
        assert!(pace.hold() < Duration::from_secs(4), "{:?}", pace.hold());
        assert_eq!(pace.queue_limit(Duration::from_secs(30), 64), 15);
        // Memory: two runs must end, one ends every 2 s on 2 slots.
        let pace = Pace::new(2);
        for _ in 0..200 {
            pace.record(Duration::from_secs(4));
        }
        assert_eq!(pace.runs_end_secs(2), 4);
        assert_eq!(pace.runs_end_secs(0), 2);
    }
}
