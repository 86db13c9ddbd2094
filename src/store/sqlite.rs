//! The embedded store: one SQLite database, `jobs.sqlite3` under `DATA_DIR`, in WAL mode. Nothing
//! to start; a job finished before a restart can still be read after it. SQLite has one writer at
//! a time, so a claim is a single `UPDATE ... WHERE status = 'queued' ... RETURNING`: no two claims
//! can take the same job. One process per database: two servers must not share the file (that is
//! what PostgreSQL is for).
//!
//! Not here: what the operations mean (`mod.rs`), when they are called (crate::jobs).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row;

use super::{Claimed, Finish, JobRecord, JobStatus, NewJob, ScriptRef, StoreError};

/// The database's file under `DATA_DIR`.
pub const FILE_NAME: &str = "jobs.sqlite3";

#[derive(Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
}

const COLUMNS: &str = "seq, id, owner, status, request, answer, http_status, message, \
                       created_at, started_at, finished_at, attempts, script_id, script_version";

impl SqliteStore {
    /// Creates `data_dir` and the database if needed, and applies the migrations.
    pub async fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        let cannot = |e: std::io::Error| {
            StoreError(format!(
                "cannot create DATA_DIR {}: {e}",
                data_dir.display()
            ))
        };
        if !tokio::fs::try_exists(data_dir).await.unwrap_or(false) {
            // The jobs' scripts, inputs and outputs are the server's alone: a directory it makes
            // is its user's only. One the operator made keeps the operator's permissions.
            tokio::fs::create_dir_all(data_dir).await.map_err(cannot)?;
            let private = std::fs::Permissions::from_mode(0o700);
            tokio::fs::set_permissions(data_dir, private)
                .await
                .map_err(cannot)?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(data_dir.join(FILE_NAME))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError(format!(
                    "cannot open {}: {e}",
                    data_dir.join(FILE_NAME).display()
                ))
            })?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    pub async fn insert(&self, job: &NewJob) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO jobs (id, owner, status, request, callback_url, max_attempts, created_at, \
             script_id, script_version) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
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
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?"))
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
        // `IS` compares NULLs as equal: the jobs of no key when API keys are off.
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE owner IS ? AND (? IS NULL OR status = ?) \
             AND seq < ? ORDER BY seq DESC LIMIT ?"
        ))
        .bind(owner)
        .bind(status.map(JobStatus::as_str))
        .bind(status.map(JobStatus::as_str))
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    pub async fn claim(&self, now: i64, lease_until: i64) -> Result<Option<Claimed>, StoreError> {
        let row = sqlx::query(
            "UPDATE jobs SET status = 'running', started_at = ?, lease_until = ?, \
             attempts = attempts + 1 \
             WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1) \
             AND status = 'queued' RETURNING id, request, callback_url, attempts",
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
            "UPDATE jobs SET lease_until = ? WHERE id = ? AND attempts = ? AND status = 'running' \
             RETURNING cancel_requested",
        )
        .bind(lease_until)
        .bind(id)
        .bind(attempt)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|row| row.try_get::<i64, _>("cancel_requested"))
            .transpose()?
            .map(|c| c != 0))
    }

    pub async fn request_cancel(&self, id: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'")
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn expire_leases(&self, message: &str, now: i64) -> Result<u64, StoreError> {
        self.release_running(message, now, now).await
    }

    /// The running jobs whose lease ends before `lease_before`: queued again while they have
    /// attempts left, `lost` with `message` after.
    async fn release_running(
        &self,
        message: &str,
        now: i64,
        lease_before: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET status = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'lost' END, \
             message = CASE WHEN attempts < max_attempts THEN NULL ELSE ? END, \
             finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE ? END, \
             started_at = CASE WHEN attempts < max_attempts THEN NULL ELSE started_at END, \
             lease_until = NULL, cancel_requested = 0 \
             WHERE status = 'running' AND COALESCE(lease_until, 0) < ?",
        )
        .bind(message)
        .bind(now)
        .bind(lease_before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn requeue(&self, id: &str, attempt: i64) -> Result<(), StoreError> {
        // The attempt did not happen: it is given back.
        sqlx::query(
            "UPDATE jobs SET status = 'queued', started_at = NULL, lease_until = NULL, \
             attempts = attempts - 1 WHERE id = ? AND attempts = ? AND status = 'running'",
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
            "UPDATE jobs SET status = ?, answer = ?, http_status = ?, message = ?, \
             finished_at = ?, lease_until = NULL \
             WHERE id = ? AND attempts = ? AND status = 'running'",
        )
        .bind(finish.status.as_str())
        .bind(&finish.answer)
        .bind(finish.http_status)
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
            "UPDATE jobs SET status = 'cancelled', finished_at = ?, \
             message = 'cancelled before it started' WHERE id = ? AND status = 'queued'",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every running job: this process's store alone, so a job left `running` is a dead
    /// process's, whatever its lease says.
    pub async fn mark_running_lost(&self, message: &str, now: i64) -> Result<u64, StoreError> {
        self.release_running(message, now, i64::MAX).await
    }

    pub async fn delete_finished_before(&self, cutoff: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ? \
             AND status NOT IN ('queued', 'running')",
        )
        .bind(cutoff)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

fn record(row: &SqliteRow) -> Result<JobRecord, StoreError> {
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

#[cfg(test)]
mod tests {
    use super::super::{Finish, JobStatus, NewJob, Store};
    use crate::configuration::JobSettings;

    fn job(id: &str, owner: Option<&str>, created_at: i64) -> NewJob {
        NewJob {
            id: id.to_string(),
            owner: owner.map(str::to_string),
            request: r#"{"script": "def main(): return 1"}"#.to_string(),
            callback_url: None,
            max_attempts: 1,
            created_at,
            script: None,
        }
    }

    async fn store(dir: &tempfile::TempDir) -> Store {
        let settings = JobSettings {
            data_dir: dir.path().join("data"),
            database_url: None,
            callback_hosts: Vec::new(),
            max_timeout_secs: 300,
            retention: std::time::Duration::from_secs(60),
            lease: std::time::Duration::from_secs(30),
        };
        Store::open(&settings).await.unwrap()
    }

    #[tokio::test]
    async fn a_job_is_claimed_once_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        s.insert(&job("a", None, 1)).await.unwrap();
        s.insert(&job("b", Some("key"), 2)).await.unwrap();
        let first = s.claim(10, 20).await.unwrap().unwrap();
        assert_eq!(first.id, "a");
        let second = s.claim(10, 20).await.unwrap().unwrap();
        assert_eq!(second.id, "b");
        assert!(s.claim(10, 20).await.unwrap().is_none());
        let finish = Finish {
            status: JobStatus::Succeeded,
            answer: Some("{}".into()),
            http_status: Some(200),
            message: None,
        };
        assert_eq!((first.attempt, second.attempt), (1, 1));
        // Only by the claim that holds it.
        assert!(!s.finish("a", 2, &finish, 30).await.unwrap());
        assert!(s.finish("a", 1, &finish, 30).await.unwrap());
        // Not twice: it is no longer running.
        assert!(!s.finish("a", 1, &finish, 31).await.unwrap());
        drop(s);
        let s = store(&dir).await;
        let a = s.get("a").await.unwrap().unwrap();
        assert_eq!(a.status, JobStatus::Succeeded);
        assert_eq!(
            (a.started_at, a.finished_at, a.attempts),
            (Some(10), Some(30), 1)
        );
        assert_eq!(s.mark_running_lost("gone", 40).await.unwrap(), 1);
        assert_eq!(s.get("b").await.unwrap().unwrap().status, JobStatus::Lost);
    }

    #[tokio::test]
    async fn listing_is_per_owner_newest_first_and_paged() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        for (i, owner) in [None, Some("k"), None, None].into_iter().enumerate() {
            s.insert(&job(&format!("j{i}"), owner, i as i64))
                .await
                .unwrap();
        }
        let page = s.list(None, None, None, 2).await.unwrap();
        let ids: Vec<_> = page.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["j3", "j2"]);
        let rest = s.list(None, None, Some(page[1].seq), 2).await.unwrap();
        let ids: Vec<_> = rest.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["j0"]);
        assert!(s.cancel_queued("j0", 5).await.unwrap());
        assert!(!s.cancel_queued("j0", 5).await.unwrap());
        let cancelled = s
            .list(None, Some(JobStatus::Cancelled), None, 10)
            .await
            .unwrap();
        assert_eq!(cancelled.len(), 1);
        assert_eq!(s.list(Some("k"), None, None, 10).await.unwrap().len(), 1);
        assert_eq!(s.delete_finished_before(6).await.unwrap(), 1);
        assert!(s.get("j0").await.unwrap().is_none());
        // The directory it made is the server's user's alone.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("data"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
