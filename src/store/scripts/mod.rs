//! The script library in the store: what a saved script is (`ScriptRecord`, `VersionRecord`), and
//! the operations crate::scripts asks of the store, in whichever database holds the jobs (the
//! same `Store`). Tables `scripts` and `script_versions` (migrations/<database>/0002_scripts.sql).
//! A name is unique per owner: the database enforces it (a unique index), so that two requests
//! racing for one name cannot both win; a version number is taken by the same statement that
//! bumps the script's `latest`, so two racing PUTs get two numbers.
//!
//! Not here: the checks and the owner rule (crate::scripts), the HTTP side
//! (crate::routes::scripts). The jobs' retention never deletes scripts.

mod postgres;
mod sqlite;

use super::{Store, StoreError};

/// A saved script, as its newest version describes it. Times are milliseconds since the epoch.
#[derive(Debug, Clone)]
pub struct ScriptRecord {
    /// The listing's order and cursor.
    pub seq: i64,
    pub id: String,
    /// The SHA-256 of the API key that saved it (as a job's owner), never the key.
    pub owner: Option<String>,
    pub name: String,
    /// The newest version's number.
    pub latest: i64,
    /// The newest version's description.
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One version of a script.
#[derive(Debug, Clone)]
pub struct VersionRecord {
    pub version: i64,
    pub source: String,
    pub description: String,
    pub created_at: i64,
}

/// A script to save, as version 1.
pub struct NewScript {
    pub id: String,
    pub owner: Option<String>,
    pub name: String,
    pub source: String,
    pub description: String,
    pub created_at: i64,
}

/// A new version of script `id` of `owner`.
pub struct NewVersion<'a> {
    pub id: &'a str,
    pub owner: Option<&'a str>,
    /// A new name, if it changes.
    pub name: Option<&'a str>,
    pub source: &'a str,
    pub description: &'a str,
    pub created_at: i64,
}

/// What a write that names a script came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Saved<T> {
    Done(T),
    /// Another script of the same owner has that name (the unique index said so).
    NameTaken,
}

/// Whether `e` is the database refusing a duplicate (the unique index on owner and name).
fn name_taken(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// Runs a write, with a duplicate name as `Saved::NameTaken` rather than an error.
fn saved<T>(result: Result<T, sqlx::Error>) -> Result<Saved<T>, StoreError> {
    match result {
        Ok(done) => Ok(Saved::Done(done)),
        Err(e) if name_taken(&e) => Ok(Saved::NameTaken),
        Err(e) => Err(e.into()),
    }
}

impl Store {
    /// Saves a new script with its version 1.
    pub async fn create_script(&self, script: &NewScript) -> Result<Saved<()>, StoreError> {
        match self {
            Store::Sqlite(s) => saved(s.create_script(script).await),
            Store::Postgres(s) => saved(s.create_script(script).await),
        }
    }

    pub async fn get_script(&self, id: &str) -> Result<Option<ScriptRecord>, StoreError> {
        match self {
            Store::Sqlite(s) => s.get_script(id).await,
            Store::Postgres(s) => s.get_script(id).await,
        }
    }

    /// Version `version` of script `id`.
    pub async fn script_version(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<VersionRecord>, StoreError> {
        match self {
            Store::Sqlite(s) => s.script_version(id, version).await,
            Store::Postgres(s) => s.script_version(id, version).await,
        }
    }

    /// Every version of script `id` (number and time), oldest first.
    pub async fn script_versions(&self, id: &str) -> Result<Vec<(i64, i64)>, StoreError> {
        match self {
            Store::Sqlite(s) => s.script_versions(id).await,
            Store::Postgres(s) => s.script_versions(id).await,
        }
    }

    /// An owner's scripts (`None`: those with no owner, API keys off), newest first, those with a
    /// `seq` below `before` only, at most `limit`.
    pub async fn list_scripts(
        &self,
        owner: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ScriptRecord>, StoreError> {
        match self {
            Store::Sqlite(s) => s.list_scripts(owner, before, limit).await,
            Store::Postgres(s) => s.list_scripts(owner, before, limit).await,
        }
    }

    /// Adds a version to `owner`'s script: its number, or `None` when there is no such script.
    pub async fn add_version(
        &self,
        version: &NewVersion<'_>,
    ) -> Result<Saved<Option<i64>>, StoreError> {
        match self {
            Store::Sqlite(s) => saved(s.add_version(version).await),
            Store::Postgres(s) => saved(s.add_version(version).await),
        }
    }

    /// Deletes `owner`'s script `id` with every version. False when there was none.
    pub async fn delete_script(&self, id: &str, owner: Option<&str>) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => s.delete_script(id, owner).await,
            Store::Postgres(s) => s.delete_script(id, owner).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{NewScript, NewVersion, Saved};
    use crate::configuration::JobSettings;
    use crate::store::Store;

    fn script(id: &str, owner: Option<&str>, name: &str) -> NewScript {
        NewScript {
            id: id.to_string(),
            owner: owner.map(str::to_string),
            name: name.to_string(),
            source: "def main(): return 1".to_string(),
            description: String::new(),
            created_at: 1,
        }
    }

    #[tokio::test]
    async fn names_are_unique_per_owner_and_a_delete_takes_every_version() {
        let dir = tempfile::tempdir().unwrap();
        let settings = JobSettings {
            data_dir: dir.path().join("data"),
            database_url: None,
            callback_hosts: Vec::new(),
            max_timeout_secs: 300,
            retention: std::time::Duration::from_secs(60),
            lease: std::time::Duration::from_secs(30),
        };
        let s = Store::open(&settings).await.unwrap();
        assert_eq!(
            s.create_script(&script("a", None, "n")).await.unwrap(),
            Saved::Done(())
        );
        // Owner-less scripts (API keys off) are one owner's too: NULLs do not make duplicates.
        assert_eq!(
            s.create_script(&script("b", None, "n")).await.unwrap(),
            Saved::NameTaken
        );
        assert_eq!(
            s.create_script(&script("c", Some("k"), "n")).await.unwrap(),
            Saved::Done(())
        );
        let version = |owner, name| NewVersion {
            id: "a",
            owner,
            name,
            source: "def main(): return 2",
            description: "two",
            created_at: 2,
        };
        // Another owner's script is not there to add to.
        assert_eq!(
            s.add_version(&version(Some("k"), None)).await.unwrap(),
            Saved::Done(None)
        );
        assert_eq!(
            s.add_version(&version(None, None)).await.unwrap(),
            Saved::Done(Some(2))
        );
        let got = s.get_script("a").await.unwrap().unwrap();
        assert_eq!((got.latest, got.description.as_str()), (2, "two"));
        assert_eq!(s.script_versions("a").await.unwrap(), [(1, 1), (2, 2)]);
        assert!(!s.delete_script("a", Some("k")).await.unwrap());
        assert!(s.delete_script("a", None).await.unwrap());
        // The versions went with it (the foreign key's cascade).
        assert!(s.script_version("a", 1).await.unwrap().is_none());
        assert!(s.script_versions("a").await.unwrap().is_empty());
        assert_eq!(s.list_scripts(Some("k"), None, 10).await.unwrap().len(), 1);
        assert!(s.list_scripts(None, None, 10).await.unwrap().is_empty());
    }
}
