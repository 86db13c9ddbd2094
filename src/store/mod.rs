//! The store of jobs: what a job is on disk (`JobRecord`, `JobStatus`), and the operations the
//! jobs service (crate::jobs) asks of a store, whichever database holds it. `Store` is an enum
//! with one variant per database: the embedded SQLite (`sqlite.rs`, under `DATA_DIR`, the
//! default), and PostgreSQL (`postgres.rs`, with `DATABASE_URL`, shared by several instances).
//! The schema is `migrations/<database>/` at the repository's root, applied at start-up (sqlx's migrator).
//!
//! The script library's tables and operations are `scripts/`'s: the same store, the same
//! databases.
//!
//! Not here: when jobs run and how they are cancelled (crate::jobs), the HTTP side
//! (crate::routes::jobs), statuses (crate::error: a store that fails is a 503).

mod postgres;
pub mod scripts;
mod sqlite;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::configuration::JobSettings;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Where a job is in its life. The first two are live, the others final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Lost,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

/// One job as stored. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// The listing's order and cursor.
    pub seq: i64,
    pub id: String,
    /// The SHA-256 of the API key that submitted it (crate::routes::jobs), never the key.
    pub owner: Option<String>,
    pub status: JobStatus,
    /// The POST /jobs body as it arrived.
    pub request: String,
    /// The rendered /execute envelope, once finished (succeeded or failed).
    pub answer: Option<String>,
    /// The status /execute would have answered with.
    pub http_status: Option<u16>,
    /// Why it was lost or cancelled.
    pub message: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub attempts: i64,
    /// The saved script it ran (POST /scripts/{id}/jobs), if any.
    pub script: Option<ScriptRef>,
}

/// Which saved script, and which of its versions, a job ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRef {
    pub id: String,
    pub version: i64,
}

/// A job to store, queued.
pub struct NewJob {
    pub id: String,
    pub owner: Option<String>,
    pub request: String,
    /// Where its end is POSTed (checked against the operator's list: crate::jobs::callback).
    pub callback_url: Option<String>,
    /// How many times it may be claimed (1: never run again after its instance died).
    pub max_attempts: i64,
    pub created_at: i64,
    /// The saved script it runs, if it came from the library.
    pub script: Option<ScriptRef>,
}

/// A job this instance has claimed: it is `running`, and this instance must finish it.
pub struct Claimed {
    pub id: String,
    pub request: String,
    pub callback_url: Option<String>,
    /// Which attempt this claim is (the job's `attempts` after it): every later write of this
    /// claim names it, so that a claim whose lease expired cannot write over a later one.
    pub attempt: i64,
}

/// How a running job ended.
pub struct Finish {
    pub status: JobStatus,
    pub answer: Option<String>,
    pub http_status: Option<u16>,
    pub message: Option<String>,
}

/// The database failed (unreachable, full, corrupt): the detail is for the log, the client gets
/// a 503.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError(format!("migrating the job store: {e}"))
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The store: one variant per database.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// One call on whichever store it is.
macro_rules! each {
    ($store:expr, $s:ident => $call:expr) => {
        match $store {
            Store::Sqlite($s) => $call,
            Store::Postgres($s) => $call,
        }
    };
}

impl Store {
    /// Opens (creating it if needed) the store the settings name, and applies the migrations.
    pub async fn open(settings: &JobSettings) -> Result<Store, StoreError> {
        match &settings.database_url {
            Some(url) => Ok(Store::Postgres(PostgresStore::open(url).await?)),
            None => Ok(Store::Sqlite(SqliteStore::open(&settings.data_dir).await?)),
        }
    }

    /// Extends the lease of a job this instance runs. `None` when it no longer runs; otherwise
    /// whether a cancel was asked of another instance (`request_cancel`).
    pub async fn renew(
        &self,
        id: &str,
        attempt: i64,
        lease_until: i64,
    ) -> Result<Option<bool>, StoreError> {
        each!(self, s => s.renew(id, attempt, lease_until).await)
    }

    /// Asks the instance that runs job `id` to stop it (it sees it when it renews the lease).
    /// False when the job is not running.
    pub async fn request_cancel(&self, id: &str) -> Result<bool, StoreError> {
        each!(self, s => s.request_cancel(id).await)
    }

    /// Marks `lost` the running jobs whose lease expired before `now` (their instance died), or
    /// queues them again while they have attempts left (`max_attempts`).
    pub async fn expire_leases(&self, message: &str, now: i64) -> Result<u64, StoreError> {
        each!(self, s => s.expire_leases(message, now).await)
    }

    pub async fn insert(&self, job: &NewJob) -> Result<(), StoreError> {
        each!(self, s => s.insert(job).await)
    }

    pub async fn get(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        each!(self, s => s.get(id).await)
    }

    /// An owner's jobs (`None`: those with no owner, API keys off), newest first, those with a
    /// `seq` below `before` only, at most `limit`.
    pub async fn list(
        &self,
        owner: Option<&str>,
        status: Option<JobStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StoreError> {
        each!(self, s => s.list(owner, status, before, limit).await)
    }

    /// Takes the oldest queued job, if any, and makes it `running` (started now, leased until
    /// `lease_until`) in one statement: no other claim can take it too.
    pub async fn claim(&self, now: i64, lease_until: i64) -> Result<Option<Claimed>, StoreError> {
        each!(self, s => s.claim(now, lease_until).await)
    }

    /// Puts a claimed job back in the queue (the sandbox had no room for it).
    pub async fn requeue(&self, id: &str, attempt: i64) -> Result<(), StoreError> {
        each!(self, s => s.requeue(id, attempt).await)
    }

    /// Ends a running job. False when it was not running (cancelled meanwhile).
    pub async fn finish(
        &self,
        id: &str,
        attempt: i64,
        finish: &Finish,
        now: i64,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.finish(id, attempt, finish, now).await)
    }

    /// Cancels a job that is still queued. False when it was not queued.
    pub async fn cancel_queued(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        each!(self, s => s.cancel_queued(id, now).await)
    }

    /// At start-up, for the jobs of a process that died: every `running` job becomes `lost` (or
    /// queued again, while it has attempts left) in
    /// a store that is this process's alone (SQLite); in a shared one (PostgreSQL), only those
    /// whose lease has expired.
    pub async fn mark_running_lost(&self, message: &str, now: i64) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.mark_running_lost(message, now).await,
            Store::Postgres(s) => s.expire_leases(message, now).await,
        }
    }

    /// Deletes the jobs that finished before `cutoff`, with their outputs.
    pub async fn delete_finished_before(&self, cutoff: i64) -> Result<u64, StoreError> {
        each!(self, s => s.delete_finished_before(cutoff).await)
    }
}

#[cfg(test)]
mod tests {
    use super::JobStatus;

    #[test]
    fn statuses_round_trip_and_only_two_are_live() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(JobStatus::parse("done"), None);
        let live: Vec<_> = JobStatus::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .collect();
        assert_eq!(live, [JobStatus::Queued, JobStatus::Running]);
    }
}
