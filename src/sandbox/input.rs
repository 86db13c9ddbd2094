//! What a run takes in besides its script: its limits, and its input, parameters and files,
//! already checked.
//!
//! Not here: how they travel to the runner (protocol.rs's request line), and what a run gives back
//! (outcome.rs; the output files are checked in outputs.rs).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A run's limits: the request's, within the settings' range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_mib: u64,
}

/// The request's data for one run, already checked (see `crate::files`).
#[derive(Debug, Default)]
pub struct RunInput {
    /// main()'s argument and the `input_data` global. `Some(null)` was sent; `None` was not.
    pub input: Option<Box<RawValue>>,
    /// The `parameters` global: a JSON object.
    pub parameters: Option<Box<RawValue>>,
    /// Written into the run's working directory before the script starts.
    pub files: Vec<InputFile>,
    /// Whether pyplot figures left open are saved as PNG files.
    pub capture_figures: bool,
    /// Only check the script's syntax with its interpreter's parser, never run it (/validate, for
    /// a language the server cannot parse itself).
    pub check_syntax: bool,
}

/// One input file, as the runner gets it: a checked name, and the content as it came (text, or
/// base64 known to decode).
#[derive(Debug, Serialize)]
pub struct InputFile {
    pub name: String,
    pub content: String,
    pub encoding: Encoding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Utf8,
    Base64,
}
