//! What `run` shows and writes: the script's stdout and stderr on this process's own, as they
//! come; at the end the answer as one line of JSON on stdout, the error on stderr, and the files
//! written to --out. The same for a local run and a server's: both give /execute's JSON body.
//!
//! A server's answer is not trusted to name files safely: each name must pass the rule the server
//! itself applies to output paths (crate::file_names), and no symlink under --out is followed.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use super::{Answer, Exit};
use crate::file_names::output_path_problem;
use crate::sandbox::OutputStream;

/// Passes the script's output on as it comes, and ends the run's output.
#[derive(Default)]
pub(super) struct Printer {
    /// The script's stdout so far does not end with a newline: the final JSON needs its own line.
    open_line: bool,
}

impl Printer {
    /// Writes `bytes` of the script's `stream` to ours, at once. A terminal or pipe that is gone
    /// is not the run's business: the run goes on and its answer still decides the exit code.
    pub(super) fn output(&mut self, stream: OutputStream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match stream {
            OutputStream::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(bytes).and_then(|()| out.flush());
                self.open_line = bytes.last() != Some(&b'\n');
            }
            OutputStream::Stderr => {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(bytes).and_then(|()| err.flush());
            }
        }
    }

    /// Ends the run: writes its files to `out` (a success's), prints the answer without its
    /// stdout and stderr (already shown) and without the files' content, says what failed on
    /// stderr, and gives the exit code.
    pub(super) fn finish(self, answer: Answer, out: Option<&Path>) -> Exit {
        let mut answer = answer;
        answer.remove("stdout");
        answer.remove("stderr");
        let text = |key: &str| -> String {
            answer
                .get(key)
                .and_then(|raw| serde_json::from_str(raw.get()).ok())
                .unwrap_or_default()
        };
        let mut exit = Exit::Success;
        if answer.get("success").map(|raw| raw.get()) == Some("true") {
            if let Some(files) = answer.get_mut("files") {
                let mut list: Vec<Value> = serde_json::from_str(files.get()).unwrap_or_default();
                if !save_files(&mut list, out) {
                    exit = Exit::NotSaved;
                }
                if let Ok(raw) = serde_json::value::to_raw_value(&list) {
                    *files = raw;
                }
            }
        } else {
            let error_type = match text("error_type") {
                kind if kind.is_empty() => "unknown".to_string(),
                kind => kind,
            };
            let mut message = format!("python-script-api: {error_type}: {}\n", text("error"));
            let traceback = text("traceback");
            if !traceback.is_empty() {
                message.push_str(&traceback);
                if !message.ends_with('\n') {
                    message.push('\n');
                }
            }
            let _ = std::io::stderr().lock().write_all(message.as_bytes());
            exit = Exit::of_error_type(&error_type);
        }
        let mut stdout = std::io::stdout().lock();
        let newline = if self.open_line { "\n" } else { "" };
        let _ = writeln!(stdout, "{newline}{}", in_order(&answer));
        let _ = stdout.flush();
        exit
    }
}

/// The answer as one line of JSON, its most telling keys first; each value as it came (the
/// keys of a result's objects keep the script's order).
fn in_order(answer: &Answer) -> String {
    const FIRST: [&str; 4] = ["success", "result", "error_type", "error"];
    let keys = FIRST
        .iter()
        .copied()
        .filter(|k| answer.contains_key(*k))
        .chain(
            answer
                .keys()
                .map(String::as_str)
                .filter(|k| !FIRST.contains(k)),
        );
    let fields: Vec<String> = keys
        .filter_map(|k| Some(format!("{}:{}", Value::from(k), answer.get(k)?.get())))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// Writes each file to `out` (if given) and replaces its content by its `path`; without `out`,
/// says on stderr that they were not saved. False when one could not be written.
fn save_files(files: &mut [Value], out: Option<&Path>) -> bool {
    let mut all_saved = true;
    let mut unsaved = Vec::new();
    for file in files.iter_mut() {
        let Some(file) = file.as_object_mut() else {
            continue;
        };
        let content = file.remove("content_base64");
        let name = file.get("name").and_then(Value::as_str).unwrap_or("");
        let Some(dir) = out else {
            unsaved.push(name.to_string());
            continue;
        };
        match save(dir, name, content.as_ref().and_then(Value::as_str)) {
            Ok(path) => {
                file.insert("path".into(), path.display().to_string().into());
            }
            Err(why) => {
                eprintln!("python-script-api: output file {name:?} not saved: {why}");
                all_saved = false;
            }
        }
    }
    if !unsaved.is_empty() {
        eprintln!(
            "python-script-api: {} output file(s) not saved ({}): pass --out DIR to write them",
            unsaved.len(),
            unsaved.join(", ")
        );
    }
    all_saved
}

/// Writes one output file under `dir`, creating its directories, following no symlink.
fn save(dir: &Path, name: &str, content: Option<&str>) -> Result<PathBuf, String> {
    if let Some(problem) = output_path_problem(name) {
        return Err(format!("not a safe file name: {problem}"));
    }
    let content = content.ok_or("the answer has no content_base64 for it")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content)
        .map_err(|e| format!("its content is not base64: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let parts: Vec<&str> = name.split('/').collect();
    let mut path = dir.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let last = i + 1 == parts.len();
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!("{} is a symlink, not followed", path.display()));
            }
            Ok(meta) if !last && !meta.is_dir() => {
                return Err(format!("{} is not a directory", path.display()));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !last {
                    std::fs::create_dir(&path)
                        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                }
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_saved_under_their_names_and_unsafe_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let hi = base64::engine::general_purpose::STANDARD.encode("hi");
        assert_eq!(
            save(&out, "plots/a.txt", Some(&hi)).unwrap(),
            out.join("plots/a.txt")
        );
        assert_eq!(std::fs::read(out.join("plots/a.txt")).unwrap(), b"hi");
        for bad in ["../escape.txt", "/etc/x", "a/../../b", "a\\..\\b", ""] {
            assert!(save(&out, bad, Some(&hi)).is_err(), "{bad:?}");
        }
        assert!(!dir.path().join("escape.txt").exists());
        std::os::unix::fs::symlink(dir.path(), out.join("link")).unwrap();
        let refused = save(&out, "link/x.txt", Some(&hi)).unwrap_err();
        assert!(refused.contains("symlink"), "{refused}");
        assert!(!dir.path().join("x.txt").exists());
    }
}
