//! What a run takes in besides its script (input, parameters, files) and what it gives back besides
//! main()'s value (saved results, output files), as they cross the runner's channels.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::configuration::SandboxSettings;

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

/// The request line the runner reads (line 3 of its stdin, see runner.py).
#[derive(Serialize)]
pub(super) struct RunRequest<'a> {
    pub script: &'a str,
    pub max_result_bytes: usize,
    pub cpu_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<&'a RawValue>,
    pub files: &'a [InputFile],
    pub capture_figures: bool,
    pub max_output_files: usize,
    pub max_output_files_bytes: usize,
    /// Absent without a policy: then the runner installs no import hook at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_policy: Option<&'a crate::policy::ImportPolicy>,
}

/// The largest frame the result channel may carry: main()'s value and the saved results
/// (`MAX_RESULT_BYTES` together), the output files in base64 with their names and types, and
/// room for the rest of the frame. Past it the run is stopped (`output_limit`).
pub(super) fn frame_cap(s: &SandboxSettings) -> usize {
    let base64 = s.max_output_files_bytes.div_ceil(3) * 4;
    s.max_result_bytes + base64 + s.max_output_files * FRAME_ROOM_PER_FILE + 64 * 1024
}

/// The frame's room for each output file besides its content: a name of at most 1024 bytes (the
/// runner's MAX_OUTPUT_NAME_BYTES), JSON-escaped, and the other fields (agreement.rs checks).
pub(super) const FRAME_ROOM_PER_FILE: usize = 8 * 1024;

/// Checks a frame's `results`: what save_result() saved is an object. (Its files are checked by
/// `outputs::response_files`.)
pub(super) fn results_are_an_object(results: Option<&RawValue>) -> bool {
    results.is_none_or(|r| r.get().trim_start().starts_with('{'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn results_must_be_an_object() {
        assert!(results_are_an_object(None));
        assert!(results_are_an_object(Some(&raw(" {}"))));
        assert!(!results_are_an_object(Some(&raw("[1]"))));
        assert!(!results_are_an_object(Some(&raw("null"))));
    }

    #[test]
    fn the_frame_cap_holds_the_files() {
        let s = Settings::from_lookup(&|_| None).unwrap().sandbox;
        assert!(frame_cap(&s) > s.max_result_bytes + s.max_output_files_bytes * 4 / 3);
    }
}
