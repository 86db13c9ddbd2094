//! One live session as the registry holds it: its id, owner and clocks, and its jail behind a lock
//! that one cell (or one inspection, or its end) holds at a time. A cell first claims the session
//! (`claim`): a second cell finds it claimed and is busy, while a cell that finds only an
//! inspection holding the lock waits for it.
//!
//! Not here: the map of sessions, their ends and counters (mod.rs), the jail itself
//! (crate::sandbox::SessionJail), and expiry (reaper.rs).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::sandbox::{SessionEnd, SessionJail};

pub struct Session {
    pub id: String,
    /// The API key that created it, when keys are on: any other key is told it does not exist.
    pub(super) owner: Option<String>,
    pub created_at: SystemTime,
    /// How long it may stay idle.
    pub idle: Duration,
    /// The cells' default timeout.
    pub timeout: Duration,
    pub memory_mib: u64,
    /// When its last cell (or its start) ended: the idle clock runs from here, and only while no
    /// cell runs.
    last_used: Mutex<Instant>,
    pub cells_run: AtomicU64,
    /// Bytes its cgroup held when last looked at (after each cell, and at each GET).
    pub memory_bytes: AtomicU64,
    /// The variables as last listed: what a GET while a cell runs reports.
    pub(super) variables: Mutex<serde_json::Value>,
    /// `None` once the session's processes are gone.
    pub(super) jail: Arc<tokio::sync::Mutex<Option<SessionJail>>>,
    /// A value here ends the session now, even mid-cell (the cell watches it).
    pub(super) end: watch::Sender<Option<SessionEnd>>,
    /// The runtime its zygote was started on (the registry's): its end runs there.
    pub(super) home: tokio::runtime::Handle,
    /// Whether a cell has claimed it (see `claim`): from before it waits for the jail's lock
    /// until its answer.
    claimed: AtomicBool,
}

/// A cell's claim on its session: the one cell that may run there now. Dropped when the cell is
/// over (or its caller left before it started).
pub struct CellClaim {
    session: Arc<Session>,
}

impl CellClaim {
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }
}

impl Drop for CellClaim {
    fn drop(&mut self) {
        self.session.claimed.store(false, Ordering::Release);
    }
}

impl Session {
    pub(super) fn new(
        id: String,
        owner: Option<String>,
        jail: SessionJail,
        idle: Duration,
        timeout: Duration,
    ) -> Session {
        let memory_mib = jail.limits().memory_mib;
        let memory = jail.memory_usage().unwrap_or(0);
        Session {
            id,
            owner,
            created_at: SystemTime::now(),
            idle,
            timeout,
            memory_mib,
            last_used: Mutex::new(Instant::now()),
            cells_run: AtomicU64::new(0),
            memory_bytes: AtomicU64::new(memory),
            variables: Mutex::new(serde_json::Value::Array(Vec::new())),
            jail: Arc::new(tokio::sync::Mutex::new(Some(jail))),
            end: watch::channel(None).0,
            home: tokio::runtime::Handle::current(),
            claimed: AtomicBool::new(false),
        }
    }

    /// Claims the session for one cell, or says it is busy: a cell of the caller's is running
    /// (or waiting for an inspection to end). One rule for the plain and the streamed cell.
    pub fn claim(self: &Arc<Self>) -> Result<CellClaim, crate::error::ApiError> {
        self.claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .map_err(|_| crate::error::ApiError::SessionBusy(self.id.clone()))?;
        Ok(CellClaim {
            session: self.clone(),
        })
    }

    /// Restarts the idle clock.
    pub(super) fn touch(&self) {
        if let Ok(mut last) = self.last_used.lock() {
            *last = Instant::now();
        }
    }

    /// When it expires if no cell comes, as an instant.
    pub(super) fn expires(&self) -> Instant {
        let last = self
            .last_used
            .lock()
            .map(|l| *l)
            .unwrap_or_else(|_| Instant::now());
        last + self.idle
    }

    /// When it expires if no cell comes, as wall-clock time.
    pub fn expires_at(&self) -> SystemTime {
        let left = self.expires().saturating_duration_since(Instant::now());
        SystemTime::now() + left
    }

    /// Whether a cell has claimed it now (what GET reports as `busy`).
    pub fn is_busy(&self) -> bool {
        self.claimed.load(Ordering::Acquire)
    }

    pub(super) fn record_memory(&self, jail: &SessionJail) {
        if let Some(bytes) = jail.memory_usage() {
            self.memory_bytes.store(bytes, Ordering::Relaxed);
        }
    }
}
