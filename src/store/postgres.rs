//! The shared store: PostgreSQL at `DATABASE_URL`, for several instances (Cloud Run with more than
//! one). Any instance answers for any job. A claim takes the oldest queued job with
//! `FOR UPDATE SKIP LOCKED`, so two instances never take the same one (a job runs at most once);
//! the claiming instance renews the job's lease while it runs, and a running job whose lease has
//! expired (its instance died) is marked `lost` by whichever instance looks.
//!
//! Not here: what the operations mean (`mod.rs`), when they are called (crate::jobs).

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::Row;

use super::{Claimed, Finish, JobRecord, JobStatus, NewJob, ScriptRef, StoreError};

#[derive(Clone)]
pub struct PostgresStore {
    pub(super) pool: PgPool,
}

const COLUMNS: &str = "seq, id, owner, status, request, answer, http_status, message, \
                       created_at, started_at, finished_at, attempts, script_id, script_version";

impl PostgresStore {
    /// Connects and applies the migrations. The URL is never logged (it may hold a password).
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| StoreError(format!("cannot connect to DATABASE_URL: {e}")))?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    pub async fn insert(&self, job: &NewJob) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO jobs (id, owner, status, request, callback_url, max_attempts, created_at, \
             script_id, script_version) VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8)",
        )
        .bind(&job.id)
        .bind(&job.owner)
        .bind(&job.request)
        .bind(&job.callback_url)
        .bind(job.max_attempts)
        .bind(job.created_at)
        .bind(job.script.as_ref().map(|s| s.id.as_str()))
        .bind(job.script.as_ref().map(|s| s.version))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| record(&row)).transpose()
    }

    pub async fn list(
        &self,
        owner: Option<&str>,
        status: Option<JobStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE owner IS NOT DISTINCT FROM $1 \
             AND ($2::TEXT IS NULL OR status = $2) AND seq < $3 ORDER BY seq DESC LIMIT $4"
        ))
        .bind(owner)
        .bind(status.map(JobStatus::as_str))
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    pub async fn claim(&self, now: i64, lease_until: i64) -> Result<Option<Claimed>, StoreError> {
        let row = sqlx::query(
            "UPDATE jobs SET status = 'running', started_at = $1, lease_until = $2, \
             attempts = attempts + 1 \
             WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1 \
                          FOR UPDATE SKIP LOCKED) \
             RETURNING id, request, callback_url, attempts",
        )
        .bind(now)
        .bind(lease_until)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Claimed {
                id: row.try_get("id")?,
                request: row.try_get("request")?,
                callback_url: row.try_get("callback_url")?,
                attempt: row.try_get("attempts")?,
            })
        })
        .transpose()
    }

    pub async fn renew(
        &self,
        id: &str,
        attempt: i64,
        lease_until: i64,
    ) -> Result<Option<bool>, StoreError> {
        let row = sqlx::query(
            "UPDATE jobs SET lease_until = $1 \
             WHERE id = $2 AND attempts = $3 AND status = 'running' RETURNING cancel_requested",
        )
        .bind(lease_until)
        .bind(id)
        .bind(attempt)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|row| row.try_get::<bool, _>("cancel_requested"))
            .transpose()?)
    }

    pub async fn request_cancel(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND status = 'running'",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn requeue(&self, id: &str, attempt: i64) -> Result<(), StoreError> {
        // The attempt did not happen: it is given back.
        sqlx::query(
            "UPDATE jobs SET status = 'queued', started_at = NULL, lease_until = NULL, \
             attempts = attempts - 1 WHERE id = $1 AND attempts = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(attempt)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn finish(
        &self,
        id: &str,
        attempt: i64,
        finish: &Finish,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET status = $1, answer = $2, http_status = $3, message = $4, \
             finished_at = $5, lease_until = NULL \
             WHERE id = $6 AND attempts = $7 AND status = 'running'",
        )
        .bind(finish.status.as_str())
        .bind(&finish.answer)
        .bind(finish.http_status.map(i64::from))
        .bind(&finish.message)
        .bind(now)
        .bind(id)
        .bind(attempt)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn cancel_queued(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'cancelled', finished_at = $1, \
             message = 'cancelled before it started' WHERE id = $2 AND status = 'queued'",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks `lost` (or queues again, while it has attempts left) the running jobs whose lease
    /// expired before `now`.
    pub async fn expire_leases(&self, message: &str, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'lost' END, \
             message = CASE WHEN attempts < max_attempts THEN NULL ELSE $1 END, \
             finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE $2 END, \
             started_at = CASE WHEN attempts < max_attempts THEN NULL ELSE started_at END, \
             lease_until = NULL, cancel_requested = FALSE \
             WHERE status = 'running' AND lease_until < $2",
        )
        .bind(message)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn delete_finished_before(&self, cutoff: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1 \
             AND status NOT IN ('queued', 'running')",
        )
        .bind(cutoff)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

fn record(row: &PgRow) -> Result<JobRecord, StoreError> {
    let status: String = row.try_get("status")?;
    let http_status: Option<i64> = row.try_get("http_status")?;
    Ok(JobRecord {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| StoreError(format!("a job has an unknown status {status:?}")))?,
        request: row.try_get("request")?,
        answer: row.try_get("answer")?,
        http_status: http_status.and_then(|s| u16::try_from(s).ok()),
        message: row.try_get("message")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        attempts: row.try_get("attempts")?,
        script: match (
            row.try_get::<Option<String>, _>("script_id")?,
            row.try_get::<Option<i64>, _>("script_version")?,
        ) {
            (Some(id), Some(version)) => Some(ScriptRef { id, version }),
            _ => None,
        },
    })
}
