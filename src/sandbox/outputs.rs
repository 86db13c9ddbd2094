//! The output files a result frame carries, turned into what the response says about them.
//!
//! The frame is written inside the jail, so the script can forge it: the runner's word is taken
//! for nothing but a name and base64 content. Here each name must pass the input names' rule for
//! every component of its path (`crate::file_names::output_path_problem`), each content must decode,
//! and the sizes, the caps and the MIME types come from the decoded bytes and the server's own
//! table. What does not belong here: reading output/ (workdir.py does that inside the jail) and
//! the frame's other fields (jail.rs).

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::settings::SandboxSettings;
use crate::file_names::output_path_problem;

/// One entry of the frame's `files`, as the runner sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameFile {
    name: String,
    content_base64: String,
}

/// One entry of the response's `files`: everything but the content is the server's.
#[derive(Serialize)]
struct ResponseFile<'a> {
    name: &'a str,
    size: usize,
    mime_type: &'static str,
    content_base64: &'a str,
}

/// Why a frame's files cannot go into the response.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum FilesError {
    /// Not what the runner sends: the result channel was written to by the script.
    Malformed(String),
    /// A name no client may be given. The runner passes on whatever the script named its files,
    /// so this can be the script's honest doing (`output/a\b.csv`), not only a forgery.
    BadName(String),
    /// Over the output files' caps.
    OverLimit(String),
}

/// Checks the frame's `files` and renders the response's. The content passes through as it came
/// once it has decoded: the standard engine refuses non-canonical padding and trailing bits, so a
/// string that decodes is the one encoding of its bytes.
pub(super) fn response_files(
    files: &RawValue,
    s: &SandboxSettings,
) -> Result<Box<RawValue>, FilesError> {
    let entries: Vec<FrameFile> = serde_json::from_str(files.get())
        .map_err(|_| FilesError::Malformed("an ill-formed list of files".to_string()))?;
    if entries.len() > s.max_output_files {
        return Err(FilesError::OverLimit(format!(
            "the script left {} files in output/; the limit is {}",
            entries.len(),
            s.max_output_files
        )));
    }
    let mut total = 0usize;
    let mut sizes = Vec::with_capacity(entries.len());
    for entry in &entries {
        if let Some(reason) = output_path_problem(&entry.name) {
            return Err(FilesError::BadName(format!(
                "output/ holds a file whose name cannot be returned: {} ({reason}); a client \
                 saves files by these names, so each part of the path must be a plain file name",
                shown(&entry.name)
            )));
        }
        // Cheap bound first: a content far over the cap is not decoded.
        if entry.content_base64.len() / 4 * 3 > s.max_output_files_bytes.saturating_add(2) {
            return Err(over_bytes(s));
        }
        let size = base64::engine::general_purpose::STANDARD
            .decode(&entry.content_base64)
            .map_err(|_| {
                FilesError::Malformed(format!(
                    "output file {} whose content is not base64",
                    shown(&entry.name)
                ))
            })?
            .len();
        total = total
            .checked_add(size)
            .filter(|&t| t <= s.max_output_files_bytes)
            .ok_or_else(|| over_bytes(s))?;
        sizes.push(size);
    }
    let rendered: Vec<ResponseFile> = entries
        .iter()
        .zip(sizes)
        .map(|(entry, size)| ResponseFile {
            name: &entry.name,
            size,
            mime_type: mime_type(&entry.name),
            content_base64: &entry.content_base64,
        })
        .collect();
    let json = serde_json::to_string(&rendered)
        .map_err(|e| FilesError::Malformed(format!("files that cannot be rendered: {e}")))?;
    RawValue::from_string(json)
        .map_err(|e| FilesError::Malformed(format!("files that cannot be rendered: {e}")))
}

fn over_bytes(s: &SandboxSettings) -> FilesError {
    FilesError::OverLimit(format!(
        "the files in output/ come to more than {} bytes, the limit",
        s.max_output_files_bytes
    ))
}

/// The name as a message shows it: quoted, escaped and cut short (it is the script's text).
fn shown(name: &str) -> String {
    let cut: String = name.chars().take(60).collect();
    if cut.len() < name.len() {
        format!("{cut:?}...")
    } else {
        format!("{cut:?}")
    }
}

/// The MIME type by the file's extension, from a fixed table: what a data script leaves in
/// output/. Anything else is `application/octet-stream`, so that a client never renders an
/// unknown type as something it is not.
pub fn mime_type(name: &str) -> &'static str {
    let base = name.rsplit('/').next().unwrap_or(name);
    let Some((stem, extension)) = base.rsplit_once('.') else {
        return OCTET_STREAM;
    };
    if stem.is_empty() {
        return OCTET_STREAM; // a dot file: ".csv" has no extension
    }
    let extension = extension.to_ascii_lowercase();
    MIME_TYPES
        .iter()
        .find(|(x, _)| *x == extension)
        .map_or(OCTET_STREAM, |(_, t)| t)
}

const OCTET_STREAM: &str = "application/octet-stream";

const MIME_TYPES: [(&str, &str); 32] = [
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("svg", "image/svg+xml"),
    ("webp", "image/webp"),
    ("bmp", "image/bmp"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("pdf", "application/pdf"),
    ("eps", "application/postscript"),
    ("ps", "application/postscript"),
    ("csv", "text/csv"),
    ("tsv", "text/tab-separated-values"),
    ("txt", "text/plain"),
    ("log", "text/plain"),
    ("md", "text/markdown"),
    ("json", "application/json"),
    ("jsonl", "application/jsonl"),
    ("xml", "application/xml"),
    ("html", "text/html"),
    ("htm", "text/html"),
    ("py", "text/x-python"),
    ("parquet", "application/vnd.apache.parquet"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("xls", "application/vnd.ms-excel"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tar", "application/x-tar"),
    ("npy", OCTET_STREAM),
    ("wav", "audio/wav"),
    ("mp4", "video/mp4"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;

    fn settings() -> SandboxSettings {
        let mut s = Settings::from_lookup(&|_| None).unwrap().sandbox;
        s.max_output_files = 2;
        s.max_output_files_bytes = 10;
        s
    }

    fn check(files: &str) -> Result<serde_json::Value, FilesError> {
        let raw = RawValue::from_string(files.to_string()).unwrap();
        response_files(&raw, &settings()).map(|r| serde_json::from_str(r.get()).unwrap())
    }

    #[test]
    fn sizes_and_types_come_from_the_server() {
        let out = check(r#"[{"name":"plots/a.PNG","content_base64":"AAAAAA=="}]"#).unwrap();
        assert_eq!(out[0]["size"], 4);
        assert_eq!(out[0]["mime_type"], "image/png");
        assert_eq!(out[0]["name"], "plots/a.PNG");
        assert_eq!(out[0]["content_base64"], "AAAAAA==");
    }

    #[test]
    fn forged_entries_are_refused() {
        for bad in [
            r#"[{"name":"a","content_base64":"not base64!"}]"#,
            r#"[{"name":"a","content_base64":"AAE"}]"#,
            r#"[{"name":"a","size":1,"mime_type":"text/html","content_base64":""}]"#,
            r#"[{"name":"a"}]"#,
            r#"{"a":1}"#,
        ] {
            assert!(matches!(check(bad), Err(FilesError::Malformed(_))), "{bad}");
        }
        for bad in [
            r#"[{"name":"../../../home/user/.bashrc","content_base64":""}]"#,
            r#"[{"name":"/etc/cron.d/evil","content_base64":""}]"#,
            r#"[{"name":"a\\b.csv","content_base64":""}]"#,
        ] {
            assert!(matches!(check(bad), Err(FilesError::BadName(_))), "{bad}");
        }
    }

    #[test]
    fn caps_count_decoded_bytes() {
        // 12 bytes: over the 10-byte cap, whatever a forged size would have said.
        let big = r#"[{"name":"a","content_base64":"AAAAAAAAAAAAAAAA"}]"#;
        assert!(matches!(check(big), Err(FilesError::OverLimit(_))));
        let three = r#"[{"name":"a","content_base64":""},{"name":"b","content_base64":""},{"name":"c","content_base64":""}]"#;
        assert!(matches!(check(three), Err(FilesError::OverLimit(_))));
        let exact = r#"[{"name":"a","content_base64":"AAAAAAAAAAA="},{"name":"b","content_base64":"AAA="}]"#;
        assert!(check(exact).is_ok());
    }

    #[test]
    fn unknown_extensions_are_octet_streams() {
        assert_eq!(mime_type("report.csv"), "text/csv");
        assert_eq!(mime_type("blob.bin"), OCTET_STREAM);
        assert_eq!(mime_type("noext"), OCTET_STREAM);
        assert_eq!(mime_type("dir.png/file"), OCTET_STREAM);
        assert_eq!(mime_type(".csv"), OCTET_STREAM);
    }
}
