//! The jobs service (`Jobs`): a script submitted now and collected later. It stores jobs in the
//! store (crate::store), claims queued ones with a worker task, runs each exactly as /execute runs
//! a request (`routes::check_and_run`: the same checks, slots, queue and memory budget; a job
//! never bypasses admission), and stores the answer /execute would have given
//! (`routes::render`). It cancels jobs, marks the jobs of a process that died `lost` at
//! start-up, and deletes finished jobs after the retention period.
//!
//! How a cancel reaches a running job: the worker registers each job it claims in `running`
//! (under one lock with the claim itself, so a cancel can never fall between the two), with a
//! channel to its run task. A cancel sends a `Stop` down it; the run task drops the run (which
//! kills the jail: crate::sandbox), writes the job `cancelled`, and only then answers the cancel.
//!
//! A running job's output is kept here as it is read (`Live`: what was written so far, within
//! the run's output caps, and the watchers GET /jobs/{id}/events has subscribed), so that a late
//! client first gets what was already written; a finished job's output is its envelope's.
//!
//! Not here: the HTTP side (crate::routes::jobs), the database (crate::store), the run itself
//! (crate::sandbox).

pub mod callback;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use tokio::sync::{mpsc, oneshot, Mutex, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::configuration::Settings;
use crate::error::{ApiError, ErrorType};
use crate::metrics::Metrics;
use crate::routes::{check_and_run_observed, render, ExecuteRequest};
use crate::sandbox::{OutputChunk, Sandbox};
use crate::store::{
    now_ms, Claimed, Finish, JobRecord, JobStatus, NewJob, ScriptRef, Store, StoreError,
};

/// How often the worker looks at the queue when nothing woke it (jobs submitted elsewhere, a
/// claim that failed).
const POLL: Duration = Duration::from_secs(1);
/// The instance that runs a job renews its lease (`JOBS_LEASE_SECS`) every `RENEW_EVERY`, and
/// sees then whether another instance was asked to cancel it; a running job whose lease has
/// expired is marked `lost` (or queued again) by the reaper of any instance (with PostgreSQL: its
/// instance died).
const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How long a job that found no room in the sandbox waits before it is tried again.
const REQUEUE_PAUSE: Duration = Duration::from_millis(500);
/// How often the reaper looks for expired leases, at most (and at least every lease / 2), and
/// how often it deletes the jobs past their retention.
const EXPIRE_EVERY: Duration = Duration::from_secs(5);
const DELETE_EVERY: Duration = Duration::from_secs(60);
/// The longest a cancel or a shutdown waits for a run to be stopped and written.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// The message of a job that was running when its server died.
pub const LOST_AT_START: &str = "the server stopped while this job ran (it crashed, was killed \
    or restarted); it did not finish and will not be run again";
const LOST_LEASE: &str = "the instance that ran this job stopped answering for it (its lease \
    expired: it crashed, was killed or lost the database); it did not finish and will not be run again";
const LOST_AT_SHUTDOWN: &str =
    "the server shut down while this job ran; it did not finish and will not be run again";
const CANCELLED_RUNNING: &str = "cancelled while it ran; its processes were killed";

/// Chunks in flight from a job's run to its `Live` (as /execute/stream's channel).
const OUTPUT_CHUNKS: usize = 64;
/// Watchers of one running job's output at once; more are served when it has finished.
const MAX_WATCHERS: usize = 16;

/// A running job's output: what it wrote so far (bounded by the run's own output caps), and
/// where to copy what comes next.
#[derive(Default)]
struct Live {
    so_far: Vec<OutputChunk>,
    watchers: Vec<mpsc::UnboundedSender<OutputChunk>>,
}

type Lives = std::sync::Mutex<HashMap<String, Arc<std::sync::Mutex<Live>>>>;

fn copy(chunk: &OutputChunk) -> OutputChunk {
    OutputChunk {
        stream: chunk.stream,
        bytes: chunk.bytes.clone(),
    }
}

/// Where a cancelled running job is being stopped.
enum Stopping {
    Here(oneshot::Receiver<()>),
    Elsewhere,
}

#[derive(Clone, Copy)]
enum StopReason {
    Cancel,
    Shutdown,
}

/// Sent to a running job's task: stop, write why, then say so on `done`.
struct Stop {
    reason: StopReason,
    done: oneshot::Sender<()>,
}

pub struct Jobs {
    /// The store, or why it could not be opened (every call then answers 503).
    store: Result<Store, String>,
    settings: Settings,
    sandbox: Arc<Sandbox>,
    metrics: web::Data<Metrics>,
    /// The jobs this instance runs, by id: how to stop each.
    running: Mutex<HashMap<String, oneshot::Sender<Stop>>>,
    /// At most one job per sandbox slot is claimed at a time: the others stay queued in the
    /// store, where any instance may claim them.
    claims: Arc<Semaphore>,
    wake: Notify,
    /// Told whenever a job of this instance changes: its run's output is ready to watch, it has
    /// ended, it was cancelled. What follows a job (GET /jobs/{id}/events) waits on it, so that it
    /// does not wait for its next look at the store.
    changed: Notify,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    /// The output of the jobs running here, by id.
    lives: Lives,
}

impl Jobs {
    /// Opens the store, marks the jobs a dead process left `running` as `lost`, and starts the
    /// worker and the reaper. A store that cannot be opened is logged, and the job routes answer
    /// 503 with the rest of the server working.
    pub async fn start(
        settings: &Settings,
        sandbox: Arc<Sandbox>,
        metrics: web::Data<Metrics>,
    ) -> Arc<Jobs> {
        let store = match Store::open(&settings.jobs).await {
            Ok(store) => match store.mark_running_lost(LOST_AT_START, now_ms()).await {
                Ok(0) => Ok(store),
                Ok(n) => {
                    log::warn!("jobs: {n} jobs were running when the server stopped: now lost");
                    Ok(store)
                }
                Err(e) => Err(e.0),
            },
            Err(e) => Err(e.0),
        };
        if let Err(e) = &store {
            log::error!("jobs: the job store is unavailable, /jobs answers 503: {e}");
        }
        // A job's limits are checked as /execute's, but for its longer maximum.
        let mut settings = settings.clone();
        settings.max_timeout_secs = settings.jobs.max_timeout_secs;
        let jobs = Arc::new(Jobs {
            store,
            settings: settings.clone(),
            sandbox,
            metrics,
            running: Mutex::new(HashMap::new()),
            claims: Arc::new(Semaphore::new(settings.sandbox.slots.max(1))),
            wake: Notify::new(),
            changed: Notify::new(),
            tasks: std::sync::Mutex::new(Vec::new()),
            lives: std::sync::Mutex::new(HashMap::new()),
        });
        if jobs.store.is_ok() {
            let worker = tokio::spawn(jobs.clone().work());
            let reaper = tokio::spawn(jobs.clone().reap());
            if let Ok(mut tasks) = jobs.tasks.lock() {
                tasks.extend([worker, reaper]);
            }
        }
        jobs
    }

    /// The settings a job is checked and run with: the server's, with `JOBS_MAX_TIMEOUT_SECS` as
    /// the longest timeout.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The store, or a 503 when it could not be opened: the jobs', and the script library's
    /// (crate::scripts).
    /// The languages the sandbox offers (a job is checked against them as /execute's request).
    pub fn languages(&self) -> &crate::language::Languages {
        self.sandbox.languages()
    }

    pub(crate) fn store(&self) -> Result<&Store, ApiError> {
        self.store
            .as_ref()
            .map_err(|e| ApiError::Store(StoreError(e.clone())))
    }

    /// Stores a checked request (its body as it came) as a queued job of `owner`, naming the
    /// saved script it runs, if any (POST /scripts/{id}/jobs).
    pub async fn submit(
        &self,
        owner: Option<String>,
        request: String,
        callback_url: Option<String>,
        max_attempts: i64,
        script: Option<ScriptRef>,
    ) -> Result<JobRecord, ApiError> {
        let store = self.store()?;
        if let Some(url) = &callback_url {
            callback::check(url, &self.settings.jobs.callback_hosts)?;
        }
        let job = NewJob {
            id: crate::sessions::new_id()?,
            owner,
            request,
            callback_url,
            max_attempts,
            created_at: now_ms(),
            script,
        };
        store.insert(&job).await?;
        self.wake.notify_one();
        // The job as stored: the worker may have claimed it already, but it was queued.
        Ok(JobRecord {
            seq: 0,
            id: job.id,
            owner: job.owner,
            status: JobStatus::Queued,
            request: job.request,
            answer: None,
            http_status: None,
            message: None,
            created_at: job.created_at,
            started_at: None,
            finished_at: None,
            attempts: 0,
            script: job.script,
        })
    }

    /// `owner`'s job `id`: another owner's is a 404, as one that never existed.
    pub async fn get(&self, id: &str, owner: Option<&str>) -> Result<JobRecord, ApiError> {
        match self.store()?.get(id).await? {
            Some(job) if job.owner.as_deref() == owner => Ok(job),
            _ => Err(ApiError::JobNotFound),
        }
    }

    /// `owner`'s jobs, newest first: those older than `before` (a cursor), `status` only if given.
    pub async fn list(
        &self,
        owner: Option<&str>,
        status: Option<JobStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, ApiError> {
        Ok(self.store()?.list(owner, status, before, limit).await?)
    }

    /// Cancels `owner`'s job `id`: a queued one never starts; a running one is stopped, and
    /// written `cancelled`, before this returns. A finished job is left as it is. Returns the job
    /// as it now is.
    pub async fn cancel(&self, id: &str, owner: Option<&str>) -> Result<JobRecord, ApiError> {
        let job = self.get(id, owner).await?;
        if job.status.is_final() {
            return Ok(job);
        }
        let store = self.store()?;
        let stopped = {
            let mut running = self.running.lock().await;
            if store.cancel_queued(id, now_ms()).await? {
                self.changed.notify_waiters();
                None
            } else {
                match running.remove(id) {
                    Some(stop) => {
                        let (done, stopped) = oneshot::channel();
                        // A run that has just ended drops its receiver: `stopped` then says so
                        // at once.
                        let _ = stop.send(Stop {
                            reason: StopReason::Cancel,
                            done,
                        });
                        Some(Stopping::Here(stopped))
                    }
                    // Not ours: another instance runs it (a shared store), and stops it when it
                    // next renews the lease.
                    None => store
                        .request_cancel(id)
                        .await?
                        .then_some(Stopping::Elsewhere),
                }
            }
        };
        match stopped {
            Some(Stopping::Here(stopped)) => {
                let _ = tokio::time::timeout(STOP_WAIT, stopped).await;
            }
            Some(Stopping::Elsewhere) => {
                let deadline = tokio::time::Instant::now() + STOP_WAIT;
                while tokio::time::Instant::now() < deadline
                    && !self.get(id, owner).await?.status.is_final()
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            None => {}
        }
        self.get(id, owner).await
    }

    /// Resolves when a job of this instance changes (`changed`): `enable()` it before looking at
    /// the job, so that a change in between is not missed.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Stops job `id` if it runs here: a cancel asked of another instance.
    async fn stop_here(&self, id: &str) {
        if let Some(stop) = self.running.lock().await.remove(id) {
            let (done, _stopped) = oneshot::channel();
            let _ = stop.send(Stop {
                reason: StopReason::Cancel,
                done,
            });
        }
    }

    /// The output job `id` has written so far and a receiver of what it writes next, while it
    /// runs here (the receiver closes when its run ends). `None` when it does not run here (not
    /// yet, no more, on another instance) or has `MAX_WATCHERS` already.
    pub fn watch(
        &self,
        id: &str,
    ) -> Option<(Vec<OutputChunk>, mpsc::UnboundedReceiver<OutputChunk>)> {
        let live = self.lives.lock().ok()?.get(id)?.clone();
        let mut live = live.lock().ok()?;
        live.watchers.retain(|w| !w.is_closed());
        if live.watchers.len() >= MAX_WATCHERS {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        live.watchers.push(tx);
        Some((live.so_far.iter().map(copy).collect(), rx))
    }

    /// Keeps job `id`'s output in its `Live` as it comes, until its run ends.
    async fn keep_output(&self, id: String, mut output: mpsc::Receiver<OutputChunk>) {
        let live = Arc::new(std::sync::Mutex::new(Live::default()));
        if let Ok(mut lives) = self.lives.lock() {
            lives.insert(id.clone(), live.clone());
        }
        self.changed.notify_waiters();
        while let Some(chunk) = output.recv().await {
            if let Ok(mut live) = live.lock() {
                live.watchers.retain(|w| w.send(copy(&chunk)).is_ok());
                live.so_far.push(chunk);
            }
        }
        // Dropping the watchers' senders closes their receivers: the run has ended.
        if let Ok(mut lives) = self.lives.lock() {
            lives.remove(&id);
        }
    }

    /// Stops the worker and the reaper, and the jobs running here, which become `lost`.
    pub async fn shutdown(&self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.drain(..).for_each(|task| task.abort());
        }
        let stops: Vec<_> = self.running.lock().await.drain().collect();
        let mut waits = Vec::new();
        for (_, stop) in stops {
            let (done, stopped) = oneshot::channel();
            let _ = stop.send(Stop {
                reason: StopReason::Shutdown,
                done,
            });
            waits.push(stopped);
        }
        for stopped in waits {
            let _ = tokio::time::timeout(STOP_WAIT, stopped).await;
        }
    }

    /// The worker: claims a queued job whenever a slot's share is free, and runs it on a task
    /// of its own.
    async fn work(self: Arc<Self>) {
        let Ok(store) = self.store().cloned() else {
            return;
        };
        loop {
            let Ok(permit) = self.claims.clone().acquire_owned().await else {
                return;
            };
            let claimed = {
                let mut running = self.running.lock().await;
                let now = now_ms();
                match store.claim(now, self.lease_until(now)).await {
                    Ok(Some(job)) => {
                        let (stop, stops) = oneshot::channel();
                        running.insert(job.id.clone(), stop);
                        Some((job, stops))
                    }
                    Ok(None) => None,
                    Err(e) => {
                        log::error!("jobs: claiming a job failed: {e}");
                        None
                    }
                }
            };
            match claimed {
                Some((job, stops)) => {
                    tokio::spawn(self.clone().run(store.clone(), job, stops, permit));
                }
                None => {
                    drop(permit);
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(POLL) => {}
                    }
                }
            }
        }
    }

    /// One claimed job: its run, stopped by a cancel or a shutdown, then its answer written.
    async fn run(
        self: Arc<Self>,
        store: Store,
        job: Claimed,
        mut stops: oneshot::Receiver<Stop>,
        _permit: OwnedSemaphorePermit,
    ) {
        let started = match crate::body::decode::<ExecuteRequest>(job.request.as_bytes()) {
            Err(e) => Ok(Err(e)),
            Ok(request) => {
                let (output, kept) = mpsc::channel(OUTPUT_CHUNKS);
                let keeper = tokio::spawn({
                    let jobs = self.clone();
                    let id = job.id.clone();
                    async move { jobs.keep_output(id, kept).await }
                });
                // The lease, renewed while the run goes (the task ends with it).
                let renewer = tokio::spawn({
                    let jobs = self.clone();
                    let store = store.clone();
                    let id = job.id.clone();
                    let attempt = job.attempt;
                    async move { jobs.renew(&store, &id, attempt).await }
                });
                let _renewing = AbortOnDrop(renewer);
                let run = check_and_run_observed(
                    request,
                    &self.settings,
                    &self.sandbox,
                    &self.metrics,
                    Some(output),
                );
                let started = tokio::select! {
                    result = run => Ok(result),
                    stop = &mut stops => Err(stop.ok()),
                };
                // The run's sender is gone with it: the keeper has seen all the output.
                let _ = tokio::time::timeout(Duration::from_secs(5), keeper).await;
                started
            }
        };
        let mut running = self.running.lock().await;
        let written = match started {
            // No room in the sandbox (its queue is full of /execute requests): the job waits in
            // the store again, first in line.
            Ok(Err(e)) if e.error_type() == ErrorType::Overloaded => {
                let requeued = store.requeue(&job.id, job.attempt).await;
                running.remove(&job.id);
                drop(running);
                tokio::time::sleep(REQUEUE_PAUSE).await;
                self.wake.notify_one();
                requeued
            }
            Ok(result) => {
                let rendered = render(result);
                let finish = Finish {
                    status: match rendered.error_type {
                        None => JobStatus::Succeeded,
                        Some(_) => JobStatus::Failed,
                    },
                    http_status: Some(rendered.error_type.map_or(200, |t| t.status().as_u16())),
                    answer: Some(String::from_utf8_lossy(&rendered.body).into_owned()),
                    message: None,
                };
                let written = store
                    .finish(&job.id, job.attempt, &finish, now_ms())
                    .await
                    .map(drop);
                running.remove(&job.id);
                written
            }
            Err(stop) => {
                let (status, message) = match stop.as_ref().map(|s| s.reason) {
                    Some(StopReason::Cancel) => (JobStatus::Cancelled, CANCELLED_RUNNING),
                    _ => (JobStatus::Lost, LOST_AT_SHUTDOWN),
                };
                let finish = Finish {
                    status,
                    answer: None,
                    http_status: None,
                    message: Some(message.to_string()),
                };
                let written = store
                    .finish(&job.id, job.attempt, &finish, now_ms())
                    .await
                    .map(drop);
                running.remove(&job.id);
                if let Some(stop) = stop {
                    let _ = stop.done.send(());
                }
                written
            }
        };
        self.changed.notify_waiters();
        if let Err(e) = written {
            log::error!("jobs: writing job {}…'s end failed: {e}", short(&job.id));
        }
        // Its end, to its callback_url: from the store, so that it is what GET answers.
        if let Some(url) = job.callback_url {
            match store.get(&job.id).await {
                Ok(Some(ended)) if ended.status.is_final() => {
                    tokio::spawn(async move {
                        callback::deliver(&url, callback_body(&ended)).await;
                    });
                }
                Ok(_) => {}
                Err(e) => log::error!(
                    "jobs: reading job {}… for its callback: {e}",
                    short(&job.id)
                ),
            }
        }
    }

    /// Renews job `id`'s lease every `RENEW_EVERY`, for as long as it runs here, and stops it
    /// when another instance was asked to cancel it.
    async fn renew(&self, store: &Store, id: &str, attempt: i64) {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match store.renew(id, attempt, self.lease_until(now_ms())).await {
                Ok(Some(false)) => {}
                Ok(Some(true)) => return self.stop_here(id).await,
                Ok(None) => return,
                Err(e) => log::error!("jobs: renewing job {}…'s lease failed: {e}", short(id)),
            }
        }
    }

    /// When a claim made or renewed at `now` expires.
    fn lease_until(&self, now: i64) -> i64 {
        let lease = i64::try_from(self.settings.jobs.lease.as_millis()).unwrap_or(i64::MAX);
        now.saturating_add(lease)
    }

    /// Marks lost (or queues again) the running jobs whose lease expired, every few seconds,
    /// and deletes the finished jobs past the retention period, every minute.
    async fn reap(self: Arc<Self>) {
        let Ok(store) = self.store().cloned() else {
            return;
        };
        let retention = i64::try_from(self.settings.jobs.retention.as_millis()).unwrap_or(i64::MAX);
        // A dead instance's job is noticed at most a lease and half a lease after its last
        // renewal; a check costs one indexed UPDATE.
        let expire_every = EXPIRE_EVERY.min(self.settings.jobs.lease / 2);
        let mut last_delete: Option<Instant> = None;
        loop {
            match store.expire_leases(LOST_LEASE, now_ms()).await {
                Ok(0) => {}
                Ok(n) => {
                    log::warn!("jobs: {n} running jobs lost their lease: lost, or queued again")
                }
                Err(e) => log::error!("jobs: expiring leases failed: {e}"),
            }
            if last_delete.is_none_or(|at| at.elapsed() >= DELETE_EVERY) {
                last_delete = Some(Instant::now());
                match store
                    .delete_finished_before(now_ms().saturating_sub(retention))
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => log::info!("jobs: deleted {n} jobs past their retention"),
                    Err(e) => log::error!("jobs: deleting old jobs failed: {e}"),
                }
            }
            tokio::time::sleep(expire_every).await;
        }
    }
}

/// What a callback POSTs: the job's id, status and message, and /execute's envelope with its
/// status when it has one.
fn callback_body(job: &JobRecord) -> Vec<u8> {
    let envelope = job
        .answer
        .as_deref()
        .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok());
    let body = serde_json::json!({
        "job_id": job.id,
        "status": job.status.as_str(),
        "http_status": job.http_status,
        "envelope": envelope,
        "message": job.message,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The start of an id, for the log (as sessions' ids are logged).
fn short(id: &str) -> &str {
    id.get(..6).unwrap_or(id)
}
