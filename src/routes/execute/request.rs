//! `ExecuteRequest`: the JSON body of /execute and /execute/stream (and of /validate, which
//! checks it as /execute would), its limits, and the input it carries for the run. Decoding only:
//! the body's budget is `crate::body`'s, the script's parse is `crate::script`'s.

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::configuration::Settings;
use crate::error::ApiError;
use crate::files::{check_files, FileRequest};
use crate::sandbox::{Limits, RunInput};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    pub script: String,
    /// Seconds of wall time (and of CPU time per process).
    pub timeout: Option<u64>,
    /// MiB of memory for the whole run.
    pub memory: Option<u64>,
    /// main()'s argument and the `input_data` global. Present-but-null is an input (None).
    #[serde(default, deserialize_with = "present")]
    pub input: Option<Box<RawValue>>,
    /// The `parameters` global; must be an object.
    pub parameters: Option<Box<RawValue>>,
    /// Written into the run's working directory before the script starts.
    pub files: Option<Vec<FileRequest>>,
    /// Whether pyplot figures left open come back as PNG files (default true).
    pub capture_figures: Option<bool>,
    /// The script's language (crate::language): "python" when absent.
    pub language: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

/// The shortest timeout a request may ask for, in seconds (GET /environment reports it).
pub(crate) const MIN_TIMEOUT_SECS: u64 = 1;

/// A timeout in seconds, checked against MAX_TIMEOUT_SECS: a run's, and a session cell's.
pub(crate) fn timeout_in_range(timeout: u64, settings: &Settings) -> Result<u64, ApiError> {
    if !(MIN_TIMEOUT_SECS..=settings.max_timeout_secs).contains(&timeout) {
        return Err(ApiError::InvalidRequest(format!(
            "timeout must be between {MIN_TIMEOUT_SECS} and {} seconds, not {timeout}",
            settings.max_timeout_secs
        )));
    }
    Ok(timeout)
}

impl ExecuteRequest {
    /// The run's limits: the request's values or the defaults, range-checked against the settings.
    pub fn limits(&self, settings: &Settings) -> Result<Limits, ApiError> {
        let timeout = timeout_in_range(
            self.timeout.unwrap_or(settings.default_timeout_secs),
            settings,
        )?;
        let memory = self.memory.unwrap_or(settings.default_memory_mib);
        if !(settings.min_memory_mib..=settings.max_memory_mib).contains(&memory) {
            return Err(ApiError::InvalidRequest(format!(
                "memory must be between {} and {} MiB, not {memory}",
                settings.min_memory_mib, settings.max_memory_mib
            )));
        }
        Ok(Limits {
            timeout: Duration::from_secs(timeout),
            memory_mib: memory,
        })
    }

    /// Takes out everything but the script for the run, checking the files (CPU work for large
    /// base64: call it off the async executor).
    pub fn take_input(&mut self, settings: &Settings) -> Result<RunInput, ApiError> {
        let parameters = self.parameters.take();
        if parameters
            .as_ref()
            .is_some_and(|p| !p.get().trim_start().starts_with('{'))
        {
            return Err(ApiError::InvalidRequest(
                "parameters must be a JSON object".to_string(),
            ));
        }
        let files = check_files(
            self.files.take().unwrap_or_default(),
            settings.max_input_files,
            settings.max_input_files_bytes,
        )?;
        Ok(RunInput {
            input: self.input.take(),
            parameters,
            files,
            capture_figures: self.capture_figures.unwrap_or(true),
            check_syntax: false,
        })
    }
}
