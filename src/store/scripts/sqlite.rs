//! The script library's statements for the embedded store (SQLite). A new version is one
//! transaction: the `UPDATE` that bumps `latest` takes SQLite's write lock first, so two PUTs
//! never get one number.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{NewScript, NewVersion, ScriptRecord, StoreError, VersionRecord};
use crate::store::SqliteStore;

/// A script with its newest version's description.
const SELECT: &str = "SELECT s.seq, s.id, s.owner, s.name, s.latest, v.description, \
                      s.created_at, s.updated_at FROM scripts s \
                      JOIN script_versions v ON v.script_id = s.id AND v.version = s.latest";

impl SqliteStore {
    pub(in crate::store) async fn create_script(
        &self,
        script: &NewScript,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO scripts (id, owner, name, latest, created_at, updated_at) \
             VALUES (?, ?, ?, 1, ?, ?)",
        )
        .bind(&script.id)
        .bind(&script.owner)
        .bind(&script.name)
        .bind(script.created_at)
        .bind(script.created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO script_versions (script_id, version, source, description, created_at) \
             VALUES (?, 1, ?, ?, ?)",
        )
        .bind(&script.id)
        .bind(&script.source)
        .bind(&script.description)
        .bind(script.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    pub(in crate::store) async fn get_script(
        &self,
        id: &str,
    ) -> Result<Option<ScriptRecord>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} WHERE s.id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| script(&row)).transpose()
    }

    pub(in crate::store) async fn script_version(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<VersionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT version, source, description, created_at FROM script_versions \
             WHERE script_id = ? AND version = ?",
        )
        .bind(id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(VersionRecord {
                version: row.try_get("version")?,
                source: row.try_get("source")?,
                description: row.try_get("description")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
    }

    pub(in crate::store) async fn script_versions(
        &self,
        id: &str,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, created_at FROM script_versions WHERE script_id = ? ORDER BY version",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("version")?, row.try_get("created_at")?)))
            .collect()
    }

    pub(in crate::store) async fn list_scripts(
        &self,
        owner: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ScriptRecord>, StoreError> {
        // `IS` compares NULLs as equal: the scripts of no key when API keys are off.
        let rows = sqlx::query(&format!(
            "{SELECT} WHERE s.owner IS ? AND s.seq < ? ORDER BY s.seq DESC LIMIT ?"
        ))
        .bind(owner)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(script).collect()
    }

    pub(in crate::store) async fn add_version(
        &self,
        version: &NewVersion<'_>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE scripts SET latest = latest + 1, updated_at = ?, name = COALESCE(?, name) \
             WHERE id = ? AND owner IS ? RETURNING latest",
        )
        .bind(version.created_at)
        .bind(version.name)
        .bind(version.id)
        .bind(version.owner)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let number: i64 = row.try_get("latest")?;
        sqlx::query(
            "INSERT INTO script_versions (script_id, version, source, description, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(version.id)
        .bind(number)
        .bind(version.source)
        .bind(version.description)
        .bind(version.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(number))
    }

    pub(in crate::store) async fn delete_script(
        &self,
        id: &str,
        owner: Option<&str>,
    ) -> Result<bool, StoreError> {
        // The versions go with it (ON DELETE CASCADE; the pool turns foreign keys on).
        let done = sqlx::query("DELETE FROM scripts WHERE id = ? AND owner IS ?")
            .bind(id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn script(row: &SqliteRow) -> Result<ScriptRecord, StoreError> {
    Ok(ScriptRecord {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        name: row.try_get("name")?,
        latest: row.try_get("latest")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
