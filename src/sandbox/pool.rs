//! Warm sandboxes: jails started ahead of time whose runner has already imported the preload
//! modules (numpy, pandas, scipy) and waits for a script. Each is used for one run only, then
//! discarded; a background task starts its replacement. With none ready, a run goes cold.
//!
//! In fork mode (zygote.rs) each slot of the pool is a zygote, and its warm sandbox a child the
//! zygote forked: after the run the zygote comes back to the slot's task, which has it fork the
//! next one. A replacement costs a fork, not a third of a second of imports.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use super::error::SandboxError;
use super::input::Limits;
use super::jail::Jail;
use super::process::JailContext;
use super::settings::PoolMode;
use super::zygote::Zygote;

/// A warm jail must become ready within this (its imports take about a third of a second).
pub const READY_WITHIN: Duration = Duration::from_secs(60);
/// Memory a run needs beyond what the warm jail already uses, for the pool to be worth it.
const MIN_HEADROOM: u64 = 16 << 20;
/// How long a run waits for a forked sandbox when none is ready (see `Pool::take`).
const FORK_WAIT: Duration = Duration::from_secs(1);
/// Back-off after a failed warm-up, doubling up to the maximum.
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The wait between failed warm-ups: it doubles with each failure, up to `BACKOFF_MAX`, so that a
/// broken host is not hammered, and starts again after a success.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(BACKOFF_START)
    }

    fn reset(&mut self) {
        self.0 = BACKOFF_START;
    }

    /// Logs the failure, counts it in the pool (if it is still there) and waits.
    async fn failed(&mut self, pool: &std::sync::Weak<Pool>, what: &str, e: &SandboxError) {
        let wait = self.0;
        log::warn!("{what} (retrying in {wait:?}): {e}");
        if let Some(p) = pool.upgrade() {
            p.failed();
        }
        tokio::time::sleep(wait).await;
        self.0 = (wait * 2).min(BACKOFF_MAX);
    }
}

pub struct Pool {
    target: usize,
    mode: PoolMode,
    /// The fork-mode slot tasks, awaited at shutdown so that no zygote outlives the server.
    slots: Mutex<Vec<JoinHandle<()>>>,
    /// Set at shutdown: no more warm-ups, and nothing handed out.
    closed: std::sync::atomic::AtomicBool,
    ready: Mutex<VecDeque<Jail>>,
    /// Wakes the refill task: a run that took a jail is over, a taken jail was unusable, or the
    /// pool is closing.
    wake: Arc<Notify>,
    /// Wakes runs waiting for a forked sandbox: one was added.
    pushed: Notify,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Zygotes started (fork mode): one per slot at start-up, then one per zygote replaced.
    pub zygote_starts: AtomicU64,
    /// Warm-ups that failed (a warm jail or a zygote that did not start, a fork that failed).
    pub failures: AtomicU64,
}

impl Pool {
    /// Starts the pool's refill task on the current runtime. Jails are spawned from that task,
    /// so they die with its thread (PR_SET_PDEATHSIG) if the server goes away.
    /// `limits` are the largest a request may ask for: `take` narrows memory, the server times
    /// the run.
    pub fn start(
        ctx: Arc<JailContext>,
        target: usize,
        limits: Limits,
        mode: PoolMode,
    ) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            target,
            mode,
            slots: Mutex::new(Vec::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
            ready: Mutex::new(VecDeque::with_capacity(target)),
            wake: Arc::new(Notify::new()),
            pushed: Notify::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            zygote_starts: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        });
        if target > 0 && mode == PoolMode::Spawn {
            tokio::spawn(refill(
                Arc::downgrade(&pool),
                pool.wake.clone(),
                ctx,
                limits,
            ));
        } else if target > 0 {
            let tasks = (0..target)
                .map(|_| tokio::spawn(keep_zygote(Arc::downgrade(&pool), ctx.clone(), limits)))
                .collect();
            *pool.slots.lock().unwrap_or_else(|e| e.into_inner()) = tasks;
        }
        pool
    }

    pub fn mode(&self) -> PoolMode {
        self.mode
    }

    /// Waits (bounded) for the fork-mode slot tasks to end after `close`: each destroys its
    /// zygote once the zygote is back from its last run.
    pub async fn join(&self) {
        let tasks = std::mem::take(&mut *self.slots.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .is_err()
            {
                abort.abort(); // dropping its zygote kills it all the same
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Jail>> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops warming and hands back every ready jail, for the caller to discard.
    pub fn close(&self) -> Vec<Jail> {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_waiters();
        self.wake.notify_one();
        self.lock().drain(..).collect()
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Lets the refill task start a replacement. Called once a run that took a jail is over:
    /// warming (a burst of CPU for the imports) while the run still goes would slow the run.
    pub fn refill_now(&self) {
        self.wake.notify_one();
    }

    /// Ready sandboxes, after dropping any that died while they waited (their slot or the
    /// refill task replaces them).
    pub fn ready_count(&self) -> usize {
        self.prune();
        self.lock().len()
    }

    fn prune(&self) {
        let mut ready = self.lock();
        let before = ready.len();
        ready.retain_mut(Jail::is_alive);
        if ready.len() < before {
            self.refill_now();
        }
    }

    pub fn target(&self) -> usize {
        self.target
    }

    /// The most memory any ready sandbox has held (its cgroup's peak: a spawned jail's import
    /// burst included), or `None` when none is ready or none is measured by a cgroup.
    pub fn largest_ready(&self) -> Option<u64> {
        self.lock().iter().filter_map(Jail::memory_peak).max()
    }

    fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// A ready jail narrowed to `limits`, or `None` (the run then goes cold): none is ready, or
    /// the request's memory does not leave room above what the preloaded modules already use. In
    /// fork mode a run waits (up to `FORK_WAIT`) for the next fork rather than go cold: a zygote
    /// finishing its previous run forks again within milliseconds, where a cold start costs a
    /// third of a second of CPU that the zygotes would then lack.
    pub async fn take(&self, limits: &Limits) -> Option<Jail> {
        if self.target == 0 || self.is_closed() {
            return None;
        }
        let deadline = tokio::time::Instant::now() + FORK_WAIT;
        loop {
            // Registered before looking, so that a push in between is not missed.
            let pushed = self.pushed.notified();
            tokio::pin!(pushed);
            pushed.as_mut().enable();
            let taken = self.try_take(limits);
            if let Taken::Empty = taken {
                if self.mode == PoolMode::Fork && tokio::time::Instant::now() < deadline {
                    let _ = tokio::time::timeout_at(deadline, pushed).await;
                    continue;
                }
                self.refill_now();
            }
            let Taken::Jail(jail) = taken else {
                self.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Some(*jail);
        }
    }

    fn try_take(&self, limits: &Limits) -> Taken {
        let taken = loop {
            let Some(mut jail) = self.lock().pop_front() else {
                break None;
            };
            if jail.is_alive() {
                break Some(jail);
            }
        };
        let Some(jail) = taken else {
            return Taken::Empty;
        };
        let limit = limits.memory_mib.saturating_mul(1 << 20);
        let fits = jail
            .memory_usage()
            .is_none_or(|used| used.saturating_add(MIN_HEADROOM) <= limit);
        if !fits {
            // Still good for a request that asks for more memory.
            self.lock().push_front(jail);
            return Taken::Unsuitable;
        }
        if jail.set_memory_limit(limit).is_err() {
            // Dropping it kills it and removes its cgroup; the refill task replaces it.
            self.refill_now();
            return Taken::Unsuitable;
        }
        Taken::Jail(Box::new(jail))
    }

    fn push(&self, jail: Jail) {
        self.lock().push_back(jail);
        self.pushed.notify_waiters();
    }
}

enum Taken {
    Jail(Box<Jail>),
    Empty,
    /// Too little memory asked for, or the jail could not be narrowed.
    Unsuitable,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.wake.notify_one(); // so that the refill task sees the pool gone and ends
    }
}

/// Keeps the pool full, one warm-up at a time (each is a burst of CPU for the imports). Ends
/// when the pool is dropped.
async fn refill(
    pool: std::sync::Weak<Pool>,
    wake: Arc<Notify>,
    ctx: Arc<JailContext>,
    limits: Limits,
) {
    let mut backoff = Backoff::new();
    loop {
        let Some(p) = pool.upgrade() else { return };
        if p.closed.load(Ordering::Acquire) {
            return;
        }
        if p.ready_count() >= p.target {
            drop(p);
            wake.notified().await;
            continue;
        }
        drop(p); // not held across the warm-up, so that dropping the Sandbox ends this task
        let warmed = Jail::spawn_warm(&ctx, &limits, &ctx.settings.preload, READY_WITHIN).await;
        let Some(p) = pool.upgrade() else { return };
        match warmed {
            Ok(jail) if p.closed.load(Ordering::Acquire) => {
                drop(p);
                jail.discard().await;
                return;
            }
            Ok(jail) => {
                p.push(jail);
                backoff.reset();
            }
            Err(e) => {
                drop(p);
                backoff
                    .failed(&pool, "warm sandbox failed to start", &e)
                    .await;
            }
        }
    }
}

/// One fork-mode slot: keeps a zygote with a forked child ready in the pool, and after each run
/// (the zygote comes back through a oneshot) has it fork the next child. A zygote that does not
/// come back (its jail was dropped, or its run did not end cleanly) is replaced by a new one.
async fn keep_zygote(pool: std::sync::Weak<Pool>, ctx: Arc<JailContext>, limits: Limits) {
    let mut backoff = Backoff::new();
    let mut zygote: Option<Zygote> = None;
    loop {
        let closed = pool.upgrade().is_none_or(|p| p.is_closed());
        if closed {
            if let Some(zygote) = zygote {
                zygote.destroy().await;
            }
            return;
        }
        let current = match zygote.take() {
            Some(zygote) => zygote,
            None => match Zygote::spawn(&ctx, &limits).await {
                Ok(zygote) => {
                    if let Some(p) = pool.upgrade() {
                        p.zygote_starts.fetch_add(1, Ordering::Relaxed);
                    }
                    zygote
                }
                Err(e) => {
                    backoff.failed(&pool, "zygote failed to start", &e).await;
                    continue;
                }
            },
        };
        let (back, returned) = oneshot::channel();
        match current.fork(back).await {
            Ok((run, pipes)) => {
                let jail = Jail::forked(run, pipes);
                let Some(p) = pool.upgrade().filter(|p| !p.is_closed()) else {
                    jail.discard().await;
                    return;
                };
                p.push(jail);
                backoff.reset();
            }
            Err(e) => {
                // The zygote was destroyed: the next turn starts a new one.
                backoff.failed(&pool, "zygote failed to fork", &e).await;
                continue;
            }
        }
        // The run (or the pool's close, which discards the ready child) decides when this ends;
        // a zygote that dies while its child waits is noticed within a second.
        let mut returned = returned;
        zygote = loop {
            tokio::select! {
                back = &mut returned => break back.ok(),
                () = tokio::time::sleep(Duration::from_secs(1)) => match pool.upgrade() {
                    Some(p) => p.prune(),
                    None => break None,
                },
            }
        };
    }
}
