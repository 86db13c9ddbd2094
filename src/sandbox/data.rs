//! What a run takes in besides its script (input, parameters, files) and what it gives back besides
//! main()'s value (saved results, output files), as they cross the runner's channels.

use std::borrow::Cow;

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
    /// A name of at most 1024 bytes (the runner's limit), JSON-escaped, and the other fields.
    const PER_FILE: usize = 8 * 1024;
    let base64 = s.max_output_files_bytes.div_ceil(3) * 4;
    s.max_result_bytes + base64 + s.max_output_files * PER_FILE + 64 * 1024
}

/// One entry of the frame's `files`, read only to check it: the frame is the script's to forge,
/// so what the response carries must still have the documented shape and stay within the caps.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputFile<'a> {
    #[serde(borrow, rename = "name")]
    _name: Cow<'a, str>,
    size: u64,
    #[serde(borrow, rename = "mime_type")]
    _mime_type: Cow<'a, str>,
    #[serde(borrow, rename = "content_base64")]
    _content_base64: Cow<'a, str>,
}

/// Why a frame's extras cannot go into the response.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ExtrasError {
    /// Not the documented shape: the result channel was written to by the script.
    Malformed(&'static str),
    /// Over the output files' caps.
    OverLimit(String),
}

/// Checks a frame's `results` (an object) and `files` (the documented entries, within the caps).
pub(super) fn check_extras(
    results: Option<&RawValue>,
    files: Option<&RawValue>,
    s: &SandboxSettings,
) -> Result<(), ExtrasError> {
    if let Some(results) = results {
        if !results.get().trim_start().starts_with('{') {
            return Err(ExtrasError::Malformed("results that are not an object"));
        }
    }
    if let Some(files) = files {
        let entries: Vec<OutputFile> = serde_json::from_str(files.get())
            .map_err(|_| ExtrasError::Malformed("an ill-formed list of files"))?;
        if entries.len() > s.max_output_files {
            return Err(ExtrasError::OverLimit(format!(
                "the script left {} files in output/; the limit is {}",
                entries.len(),
                s.max_output_files
            )));
        }
        let total = entries
            .iter()
            .map(|f| f.size)
            .fold(0u64, u64::saturating_add);
        if total > s.max_output_files_bytes as u64 {
            return Err(ExtrasError::OverLimit(format!(
                "the files in output/ come to {total} bytes; the limit is {}",
                s.max_output_files_bytes
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn extras_are_checked() {
        let mut s = Settings::from_lookup(&|_| None).unwrap().sandbox;
        s.max_output_files = 2;
        s.max_output_files_bytes = 10;
        let file =
            r#"{"name":"a/b.png","size":4,"mime_type":"image/png","content_base64":"AAAAAA=="}"#;
        let ok = raw(&format!("[{file},{file}]"));
        assert_eq!(check_extras(Some(&raw("{}")), Some(&ok), &s), Ok(()));
        assert!(matches!(
            check_extras(Some(&raw("[1]")), None, &s),
            Err(ExtrasError::Malformed(_))
        ));
        let extra_field =
            raw(r#"[{"name":"a","size":1,"mime_type":"x","content_base64":"","x":1}]"#);
        assert!(matches!(
            check_extras(None, Some(&extra_field), &s),
            Err(ExtrasError::Malformed(_))
        ));
        let three = raw(&format!("[{file},{file},{file}]"));
        assert!(matches!(
            check_extras(None, Some(&three), &s),
            Err(ExtrasError::OverLimit(_))
        ));
        let big = raw(r#"[{"name":"a","size":11,"mime_type":"x","content_base64":""}]"#);
        assert!(matches!(
            check_extras(None, Some(&big), &s),
            Err(ExtrasError::OverLimit(_))
        ));
    }

    #[test]
    fn the_frame_cap_holds_the_files() {
        let s = Settings::from_lookup(&|_| None).unwrap().sandbox;
        assert!(frame_cap(&s) > s.max_result_bytes + s.max_output_files_bytes * 4 / 3);
    }
}
