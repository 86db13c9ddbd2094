//! The settings of jobs and their store (`JobSettings`): where the embedded database lives
//! (`DATA_DIR`), or the shared PostgreSQL one (`DATABASE_URL`), and how long finished jobs are
//! kept (`JOBS_RETENTION_SECS`), and how soon a dead instance's jobs are noticed
//! (`JOBS_LEASE_SECS`). Parsed with the
//! rest in `Settings::from_lookup`; their own module so that configuration.rs does not grow.
//!
//! Not here: the store itself (crate::store), the jobs service (crate::jobs).

use std::path::PathBuf;
use std::time::Duration;

use super::{num, ConfigError, Env};

/// Where the embedded store lives when `DATA_DIR` is unset.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/python-script-api";

#[derive(Clone)]
pub struct JobSettings {
    /// The directory of the embedded SQLite store (`jobs.sqlite3`), created if needed.
    pub data_dir: PathBuf,
    /// `postgres://...`: the shared store instead of the embedded one. May hold a password:
    /// never logged (Debug hides it).
    pub database_url: Option<String>,
    /// The longest `timeout` a job may ask for (`/execute`'s is `MAX_TIMEOUT_SECS`, at most this).
    pub max_timeout_secs: u64,
    /// The hosts (`host` or `host:port`, lowercase) a job's `callback_url` may name.
    pub callback_hosts: Vec<String>,
    /// How long a finished job is kept, with its outputs, before it is deleted.
    pub retention: Duration,
    /// How long a running job's claim lasts without being renewed (it is renewed every second
    /// while it runs): a job whose instance died is noticed this long after, at most.
    pub lease: Duration,
}

impl std::fmt::Debug for JobSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSettings")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "(hidden)"),
            )
            .field("callback_hosts", &self.callback_hosts)
            .field("max_timeout_secs", &self.max_timeout_secs)
            .field("retention", &self.retention)
            .field("lease", &self.lease)
            .finish()
    }
}

pub(super) fn job_settings(env: Env, max_timeout_secs: u64) -> Result<JobSettings, ConfigError> {
    let data_dir = match env("DATA_DIR") {
        None => PathBuf::from(DEFAULT_DATA_DIR),
        Some(dir) if dir.trim().is_empty() => {
            return Err(ConfigError {
                name: "DATA_DIR",
                value: dir,
                reason: "must name a directory".to_string(),
            })
        }
        Some(dir) => PathBuf::from(dir.trim()),
    };
    let database_url = match env("DATABASE_URL").map(|url| url.trim().to_string()) {
        None => None,
        Some(url) if url.is_empty() => None,
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Some(url)
        }
        Some(_) => {
            return Err(ConfigError {
                name: "DATABASE_URL",
                value: "(hidden)".to_string(),
                reason: "must be a postgres:// or postgresql:// URL".to_string(),
            })
        }
    };
    // At least a minute (a client needs time to collect), at most a year.
    let retention = num(env, "JOBS_RETENTION_SECS", 7 * 86_400, 60, 365 * 86_400)?;
    // Renewed every second: 3 s leaves room for two missed renewals (a busy database), and an
    // hour is the most a dead instance's job should look `running`.
    let lease = num(env, "JOBS_LEASE_SECS", 30, 3, 3600)?;
    // Exact host names (or host:port), comma-separated: no wildcards, so that a listed name
    // cannot cover more than the operator meant.
    let callback_hosts: Vec<String> = env("JOBS_CALLBACK_HOSTS")
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if let Some(bad) = callback_hosts
        .iter()
        .find(|h| h.contains(['/', '*', '@', ' ']) || h.contains("://"))
    {
        return Err(ConfigError {
            name: "JOBS_CALLBACK_HOSTS",
            value: bad.clone(),
            reason: "each entry is a host name or host:port, without a scheme, path or wildcard"
                .to_string(),
        });
    }
    // A job outlives its client's connection, so it may run longer than /execute's requests; a day
    // at most. Never less than /execute's own maximum.
    let jobs_max_timeout = num(
        env,
        "JOBS_MAX_TIMEOUT_SECS",
        max_timeout_secs,
        max_timeout_secs,
        86_400.max(max_timeout_secs),
    )?;
    Ok(JobSettings {
        data_dir,
        database_url,
        max_timeout_secs: jobs_max_timeout,
        callback_hosts,
        retention: Duration::from_secs(retention),
        lease: Duration::from_secs(lease),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Settings;
    use super::DEFAULT_DATA_DIR;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, super::ConfigError> {
        Settings::from_lookup(&|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn jobs_default_to_a_week_under_var_lib() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.jobs.data_dir.to_str(), Some(DEFAULT_DATA_DIR));
        assert_eq!(s.jobs.retention.as_secs(), 7 * 86_400);
    }

    #[test]
    fn jobs_settings_are_read_and_checked() {
        let s = settings(&[("DATA_DIR", "/tmp/jobs"), ("JOBS_RETENTION_SECS", "3600")]).unwrap();
        assert_eq!(s.jobs.data_dir.to_str(), Some("/tmp/jobs"));
        assert_eq!(s.jobs.retention.as_secs(), 3600);
        let e = settings(&[("JOBS_RETENTION_SECS", "5")]).err().unwrap();
        assert_eq!(e.name, "JOBS_RETENTION_SECS");
        assert_eq!(settings(&[]).unwrap().jobs.lease.as_secs(), 30);
        let s = settings(&[("JOBS_LEASE_SECS", "5")]).unwrap();
        assert_eq!(s.jobs.lease.as_secs(), 5);
        let e = settings(&[("JOBS_LEASE_SECS", "2")]).err().unwrap();
        assert_eq!(e.name, "JOBS_LEASE_SECS");
        let e = settings(&[("DATA_DIR", " ")]).err().unwrap();
        assert_eq!(e.name, "DATA_DIR");
        assert_eq!(settings(&[]).unwrap().jobs.database_url, None);
        assert_eq!(
            settings(&[]).unwrap().jobs.max_timeout_secs,
            300,
            "MAX_TIMEOUT_SECS's"
        );
        let s = settings(&[("JOBS_MAX_TIMEOUT_SECS", "7200")]).unwrap();
        assert_eq!(s.jobs.max_timeout_secs, 7200);
        assert_eq!(
            s.max_limits().timeout.as_secs(),
            7200,
            "warm jails allow a job's longest"
        );
        let e = settings(&[("MAX_TIMEOUT_SECS", "600"), ("JOBS_MAX_TIMEOUT_SECS", "60")])
            .err()
            .unwrap();
        assert_eq!(e.name, "JOBS_MAX_TIMEOUT_SECS");
        let s = settings(&[(
            "JOBS_CALLBACK_HOSTS",
            " Hooks.example.com, 127.0.0.1:9000 ,",
        )])
        .unwrap();
        assert_eq!(
            s.jobs.callback_hosts,
            ["hooks.example.com", "127.0.0.1:9000"]
        );
        let e = settings(&[("JOBS_CALLBACK_HOSTS", "*.example.com")])
            .err()
            .unwrap();
        assert_eq!(e.name, "JOBS_CALLBACK_HOSTS");
        let url = "postgres://u:secret@db:5432/jobs";
        let s = settings(&[("DATABASE_URL", url)]).unwrap();
        assert_eq!(s.jobs.database_url.as_deref(), Some(url));
        assert!(
            !format!("{:?}", s.jobs).contains("secret"),
            "the password stays out of logs"
        );
        let e = settings(&[("DATABASE_URL", "mysql://u:secret@db/jobs")])
            .err()
            .unwrap();
        assert_eq!(e.name, "DATABASE_URL");
        assert!(!e.to_string().contains("secret"));
    }
}
