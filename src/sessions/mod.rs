//! The registry of sessions: which are live, whose they are, why the ended ones ended, and the
//! counters /health and /metrics report. It creates a session (a fresh id, a jail from the
//! sandbox), runs a cell in one (one at a time: a second is `session_busy`), lists its
//! variables, and ends it (DELETE, expiry, the end of a cell that ended it, shutdown), always
//! with every process of it gone before it says so.
//!
//! The rooms: this file (`Sessions`); session.rs (one live session: its clocks, its lock);
//! reaper.rs (the task that expires idle sessions, with or without traffic).
//!
//! Not here: the jail and its cells (crate::sandbox::SessionJail), HTTP (crate::routes::sessions),
//! statuses (crate::error).

mod reaper;
mod session;

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use session::{CellClaim, Session};

use crate::error::ApiError;
use crate::sandbox::{
    CellOutcome, InputFile, Limits, Outcome, OutputSender, Sandbox, SandboxError, SessionEnd,
    SessionJail, SessionStart,
};

/// How many ended sessions' ids are remembered, with why they ended, for a clear 404.
const REMEMBERED_ENDS: usize = 4096;
/// How long a claimed cell waits for the jail's lock: an inspection (GET) holds it at most its
/// timeout and the interrupt's grace, and an end (DELETE, expiry) about as long. Past it, busy.
const LOCK_WAIT: Duration = Duration::from_secs(10);

pub struct Sessions {
    sandbox: Arc<Sandbox>,
    /// SESSIONS_MAX.
    max: usize,
    inner: Mutex<Inner>,
    created: AtomicU64,
    ended: [AtomicU64; SessionEnd::ALL.len()],
    /// Set at shutdown: no session starts after it.
    closed: AtomicBool,
    /// The server's long-lived runtime (the one that built it): sessions start there, so their
    /// processes and fds belong to a runtime that outlives the HTTP workers (shutdown ends
    /// sessions after the workers are gone).
    home: tokio::runtime::Handle,
}

#[derive(Default)]
struct Inner {
    live: HashMap<String, Arc<Session>>,
    /// Sessions being started: they count against SESSIONS_MAX already.
    starting: usize,
    /// Why each remembered session ended, and whose it was: another key is told nothing.
    ended: HashMap<String, (SessionEnd, Option<String>)>,
    /// `ended`'s ids, oldest first.
    order: VecDeque<String>,
}

/// What /health and /metrics report.
#[derive(Debug, Clone)]
pub struct SessionStats {
    pub open: usize,
    pub max: usize,
    pub created: u64,
    /// Ended sessions by reason (every reason, zeros included).
    pub ended: Vec<(&'static str, u64)>,
    /// Bytes the open sessions' cgroups held when last looked at.
    pub memory_bytes: u64,
    /// MiB the open sessions hold in the memory budget.
    pub reserved_mib: u64,
    /// Where sessions get their low CPU weight (see `Sandbox::sessions_cpu_weight`).
    pub cpu_weight: Option<String>,
}

/// A new session's parameters, checked.
pub struct NewSession {
    pub owner: Option<String>,
    pub limits: Limits,
    /// What the session must leave free in the memory budget (see `SessionStart::keep_mib`).
    pub keep_mib: u64,
    pub idle: Duration,
    pub files: Vec<InputFile>,
}

impl Sessions {
    /// The registry, with its reaper running on the current runtime.
    pub fn start(sandbox: Arc<Sandbox>) -> Arc<Sessions> {
        let max = sandbox.sessions_max();
        let sessions = Arc::new(Sessions {
            sandbox,
            max,
            inner: Mutex::new(Inner::default()),
            created: AtomicU64::new(0),
            ended: Default::default(),
            closed: AtomicBool::new(false),
            home: tokio::runtime::Handle::current(),
        });
        reaper::spawn(Arc::downgrade(&sessions));
        sessions
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while the map was held cannot leave it half-changed: every change is one call.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a session on the registry's runtime (see `home`), where a caller that goes away
    /// cannot cancel it midway: a session whose client left expires like any idle one.
    pub async fn create(self: &Arc<Self>, new: NewSession) -> Result<Arc<Session>, ApiError> {
        let this = self.clone();
        self.home
            .spawn(async move { this.start_one(new).await })
            .await
            .map_err(|e| ApiError::task_failed("starting a session", e))?
    }

    /// Counts the session against SESSIONS_MAX, starts its jail, gives it an id.
    async fn start_one(self: &Arc<Self>, new: NewSession) -> Result<Arc<Session>, ApiError> {
        if self.max == 0 {
            return Err(SandboxError::SessionsUnavailable {
                why: "SESSIONS_MAX is 0".into(),
            }
            .into());
        }
        {
            let mut inner = self.lock();
            if self.closed.load(Ordering::Relaxed) {
                return Err(SandboxError::SessionsUnavailable {
                    why: "the server is shutting down".into(),
                }
                .into());
            }
            if inner.live.len() + inner.starting >= self.max {
                return Err(SandboxError::TooManySessions { max: self.max }.into());
            }
            inner.starting += 1;
        }
        let started = self
            .sandbox
            .start_session(SessionStart {
                limits: new.limits,
                files: &new.files,
                keep_mib: new.keep_mib,
            })
            .await;
        let started = match started {
            Ok(jail) => match new_id() {
                Ok(id) => Ok((id, jail)),
                Err(e) => {
                    jail.destroy().await;
                    Err(e)
                }
            },
            Err(e) => Err(ApiError::from(e)),
        };
        let session = {
            let mut inner = self.lock();
            inner.starting = inner.starting.saturating_sub(1);
            let (id, jail) = started?;
            let session = Arc::new(Session::new(
                id.clone(),
                new.owner,
                jail,
                new.idle,
                new.limits.timeout,
            ));
            inner.live.insert(id, session.clone());
            session
        };
        self.created.fetch_add(1, Ordering::Relaxed);
        if self.closed.load(Ordering::Relaxed) {
            // Shutdown swept the map before this one was in it.
            self.end(&session, SessionEnd::Shutdown).await;
            return Err(SandboxError::SessionsUnavailable {
                why: "the server is shutting down".into(),
            }
            .into());
        }
        Ok(session)
    }

    /// The caller's live session `id`, or a 404 that says why when the server knows. Another
    /// key's session is answered as one that never existed.
    pub fn find(&self, id: &str, owner: Option<&str>) -> Result<Arc<Session>, ApiError> {
        let inner = self.lock();
        if let Some(session) = inner.live.get(id) {
            if session.owner.as_deref() == owner {
                return Ok(session.clone());
            }
            return Err(never_existed());
        }
        match inner.ended.get(id) {
            Some((why, whose)) if whose.as_deref() == owner => Err(ended(*why)),
            _ => Err(never_existed()),
        }
    }

    /// Runs one cell: claims the session (a second cell meanwhile is `session_busy`), then
    /// `run_claimed`.
    pub async fn run_cell(
        self: &Arc<Self>,
        session: &Arc<Session>,
        code: String,
        timeout: Duration,
        output: Option<OutputSender>,
    ) -> Result<Outcome, ApiError> {
        let claim = session.claim()?;
        self.run_claimed(claim, code, timeout, output).await
    }

    /// Runs the claimed cell, on the session's home runtime, holding its lock (after an
    /// inspection that holds it, if one does). A cell that ended the session ends it here,
    /// processes first. The cell goes on if the caller hangs up (its state is the session's),
    /// within its timeout.
    pub async fn run_claimed(
        self: &Arc<Self>,
        claim: CellClaim,
        code: String,
        timeout: Duration,
        output: Option<OutputSender>,
    ) -> Result<Outcome, ApiError> {
        let session = claim.session().clone();
        let session = &session;
        let guard = tokio::time::timeout(LOCK_WAIT, session.jail.clone().lock_owned())
            .await
            .map_err(|_| ApiError::SessionBusy(session.id.clone()))?;
        let mut end = session.end.subscribe();
        if guard.is_none() || end.borrow().is_some() {
            return Err(self.why_not_found(&session.id));
        }
        let this = self.clone();
        let s = session.clone();
        // A task of its own, so that a caller who leaves does not cut a cell in half; on the
        // session's home runtime, where its zygote's socket is registered (polling it from an
        // HTTP worker's runtime measured slower, and twice as spread at p90).
        let task = session.home.spawn(async move {
            // Held until the cell is over, even if its caller left.
            let _claim = claim;
            let mut guard = guard;
            let Some(jail) = guard.as_mut() else {
                return Err(this.why_not_found(&s.id));
            };
            let ran = jail.cell(&code, timeout, output, &mut end).await;
            s.record_memory(jail);
            s.cells_run.fetch_add(1, Ordering::Relaxed);
            s.touch();
            this.end_if_over(&s, &mut guard, &ran).await;
            drop(guard);
            match ran {
                Ok(cell) => cell.outcome.ok_or_else(|| this.why_not_found(&s.id)),
                Err(e) => Err(e.into()),
            }
        });
        task.await
            .map_err(|e| ApiError::task_failed("a session's cell", e))?
    }

    /// The session's variables (name, type, short repr), listed now if no cell runs, or as last
    /// listed if one does; and whether one does.
    pub async fn variables(self: &Arc<Self>, session: &Arc<Session>) -> (serde_json::Value, bool) {
        let cached = || {
            session
                .variables
                .lock()
                .map(|v| v.clone())
                .unwrap_or_default()
        };
        if session.is_busy() {
            return (cached(), true);
        }
        let Ok(guard) = session.jail.clone().try_lock_owned() else {
            return (cached(), session.is_busy());
        };
        let mut end = session.end.subscribe();
        if guard.is_none() || end.borrow().is_some() {
            return (cached(), false);
        }
        let this = self.clone();
        let s = session.clone();
        // As a cell (see `run_cell`).
        let task = session.home.spawn(async move {
            let mut guard = guard;
            let jail = guard.as_mut()?;
            let ran = jail.inspect(&mut end).await;
            s.record_memory(jail);
            this.end_if_over(&s, &mut guard, &ran).await;
            let outcome = ran.ok()?.outcome?;
            match outcome.status {
                crate::sandbox::RunStatus::Completed { result, .. } => {
                    serde_json::from_str(result.get()).ok()
                }
                crate::sandbox::RunStatus::Failed(_) => None,
            }
        });
        if let Ok(Some(listed)) = task.await {
            if let Ok(mut v) = session.variables.lock() {
                *v = listed;
            }
        }
        (cached(), false)
    }

    /// After a cell or a listing of the variables: one that ended the session (or failed to run)
    /// ends it here, its processes first, while the caller still holds its lock.
    async fn end_if_over(
        &self,
        session: &Session,
        jail: &mut Option<SessionJail>,
        ran: &Result<CellOutcome, SandboxError>,
    ) {
        let why = match ran {
            Ok(cell) => cell.ended,
            Err(_) => Some(SessionEnd::Exited),
        };
        if let Some(why) = why {
            self.finish(&session.id, why);
            if let Some(jail) = jail.take() {
                destroy_at_home(session, jail).await;
            }
        }
    }

    /// Ends a session now (DELETE, expiry, shutdown): later calls get 404 with `why`, a running
    /// cell is stopped, and it returns once every process of the session is gone.
    pub async fn end(&self, session: &Arc<Session>, why: SessionEnd) {
        self.finish(&session.id, why);
        session.end.send_replace(Some(why));
        // On its home runtime, where its processes were started and are reaped.
        let jail = session.jail.clone();
        let destroyed = session.home.spawn(async move {
            let mut guard = jail.lock().await;
            if let Some(jail) = guard.take() {
                jail.destroy().await;
            }
        });
        if let Err(e) = destroyed.await {
            log::error!(
                "session {}: its end did not finish: {e}",
                shown(&session.id)
            );
        }
    }

    /// Ends it if it is idle past its time and no cell runs (reaper.rs).
    async fn expire_if_idle(&self, session: &Arc<Session>) {
        if session.expires() > std::time::Instant::now() {
            return;
        }
        if session.is_busy() {
            return; // a cell runs or waits: its own timeout bounds it, and it restarts the clock
        }
        let Ok(mut guard) = session.jail.clone().try_lock_owned() else {
            return; // a listing of its variables, or its end, is under way
        };
        self.finish(&session.id, SessionEnd::Expired);
        session.end.send_replace(Some(SessionEnd::Expired));
        if let Some(jail) = guard.take() {
            jail.destroy().await;
        }
    }

    /// Moves a session from the live map to the remembered ends, and counts its end: once.
    fn finish(&self, id: &str, why: SessionEnd) {
        let mut inner = self.lock();
        let Some(session) = inner.live.remove(id) else {
            return;
        };
        inner
            .ended
            .insert(id.to_string(), (why, session.owner.clone()));
        inner.order.push_back(id.to_string());
        while inner.order.len() > REMEMBERED_ENDS {
            if let Some(old) = inner.order.pop_front() {
                inner.ended.remove(&old);
            }
        }
        drop(inner);
        if let Some(i) = SessionEnd::ALL.iter().position(|&w| w == why) {
            self.ended[i].fetch_add(1, Ordering::Relaxed);
        }
        log::info!("session {} ended: {}", shown(id), why.as_str());
    }

    /// Why a session the caller already owned (it passed `find`) is gone.
    fn why_not_found(&self, id: &str) -> ApiError {
        match self.lock().ended.get(id) {
            Some((why, _)) => ended(*why),
            None => never_existed(),
        }
    }

    fn live(&self) -> Vec<Arc<Session>> {
        self.lock().live.values().cloned().collect()
    }

    /// Ends every session, and no new one starts: for graceful shutdown.
    pub async fn shutdown(&self) {
        self.closed.store(true, Ordering::Relaxed);
        for session in self.live() {
            self.end(&session, SessionEnd::Shutdown).await;
        }
    }

    pub fn stats(&self) -> SessionStats {
        let live = self.live();
        SessionStats {
            open: live.len(),
            max: self.max,
            created: self.created.load(Ordering::Relaxed),
            ended: SessionEnd::ALL
                .iter()
                .zip(&self.ended)
                .map(|(why, n)| (why.as_str(), n.load(Ordering::Relaxed)))
                .collect(),
            memory_bytes: live
                .iter()
                .map(|s| s.memory_bytes.load(Ordering::Relaxed))
                .sum(),
            reserved_mib: live.iter().map(|s| s.memory_mib).sum(),
            cpu_weight: self.sandbox.sessions_cpu_weight(),
        }
    }
}

/// Destroys a session's jail on its home runtime, where its nsjail was started and is reaped.
async fn destroy_at_home(session: &Session, jail: crate::sandbox::SessionJail) {
    if let Err(e) = session.home.spawn(jail.destroy()).await {
        log::error!(
            "session {}: its end did not finish: {e}",
            shown(&session.id)
        );
    }
}

/// How many characters of a session id the logs show: enough to follow one session through them,
/// too few to use it (the other 104 bits stay secret). Without API keys the id is its only secret,
/// and logs are read by more people than hold the sessions.
const SHOWN_ID_CHARS: usize = 6;

/// A session id as the logs show it.
pub fn shown(id: &str) -> &str {
    id.char_indices()
        .nth(SHOWN_ID_CHARS)
        .map_or(id, |(end, _)| &id[..end])
}

/// A request path as the request log shows it: a session's (or a job's) id cut to what `shown`
/// keeps.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    let Some((prefix, rest)) = ["/sessions/", "/jobs/"]
        .into_iter()
        .find_map(|prefix| Some((prefix, path.strip_prefix(prefix)?)))
    else {
        return path.into();
    };
    let (id, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let short = shown(id);
    if short.len() == id.len() {
        return path.into();
    }
    format!("{prefix}{short}…{tail}").into()
}

fn never_existed() -> ApiError {
    ApiError::SessionNotFound(
        "no such session: it never existed, belongs to another API key, or ended long ago".into(),
    )
}

fn ended(why: SessionEnd) -> ApiError {
    ApiError::SessionNotFound(format!("the session has ended: {}", why.reason()))
}

/// 128 random bits from the kernel, as 32 hex digits: unguessable, so an id is its own secret
/// when API keys are off. A session's, and a job's (crate::jobs).
pub(crate) fn new_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| ApiError::task_failed("reading /dev/urandom for an id", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::{loggable_path, new_id};

    #[test]
    fn logs_show_only_the_start_of_a_session_id() {
        let id = "5d0c1f0e8c9a4b7f2e61a03b9d4c7e18";
        assert_eq!(
            loggable_path(&format!("/sessions/{id}/execute")),
            "/sessions/5d0c1f…/execute"
        );
        assert_eq!(
            loggable_path(&format!("/sessions/{id}")),
            "/sessions/5d0c1f…"
        );
        assert_eq!(
            loggable_path(&format!("/jobs/{id}/events")),
            "/jobs/5d0c1f…/events"
        );
        assert_eq!(loggable_path("/jobs"), "/jobs");
        assert_eq!(loggable_path("/sessions"), "/sessions");
        assert_eq!(loggable_path("/sessions/ab"), "/sessions/ab");
        assert_eq!(loggable_path("/execute"), "/execute");
        // Characters, not bytes: never cut inside one.
        assert_eq!(loggable_path("/sessions/aéééééé/x"), "/sessions/aééééé…/x");
    }

    #[test]
    fn session_ids_are_128_random_bits_in_hex() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
