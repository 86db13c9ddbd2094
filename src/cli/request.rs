//! `run`'s and `validate`'s arguments, read and turned into /execute's JSON body: the script, the
//! input, the files (base64, under their own names), the limits. The same body goes to a server
//! (--url) or, decoded as `ExecuteRequest`, to the local sandbox. Reading only: whether a file's
//! name is allowed, or a limit in range, is the server's rule (files.rs, ExecuteRequest::limits),
//! which answers with `invalid_request`.

use std::io::Read;
use std::path::Path;

use base64::Engine;
use serde_json::{json, Map, Value};

use super::{Failed, RunArgs};

/// The script at `path`, or stdin's for `-`.
pub(super) fn read_script(path: &Path) -> Result<String, Failed> {
    let bytes = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Failed::usage(format!("cannot read the script from stdin: {e}")))?;
        bytes
    } else {
        std::fs::read(path)
            .map_err(|e| Failed::usage(format!("cannot read the script {}: {e}", path.display())))?
    };
    String::from_utf8(bytes)
        .map_err(|_| Failed::usage(format!("the script {} is not UTF-8 text", path.display())))
}

/// /execute's body for `run`.
pub(super) fn execute_body(args: &RunArgs) -> Result<Value, Failed> {
    let mut body = Map::new();
    body.insert("script".into(), read_script(&args.script)?.into());
    if let Some(path) = &args.input {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failed::usage(format!("cannot read --input {}: {e}", path.display())))?;
        let input: Value = serde_json::from_str(&text)
            .map_err(|e| Failed::usage(format!("--input {} is not JSON: {e}", path.display())))?;
        body.insert("input".into(), input);
    }
    if !args.files.is_empty() {
        let files = args
            .files
            .iter()
            .map(|path| input_file(path))
            .collect::<Result<Vec<_>, _>>()?;
        body.insert("files".into(), files.into());
    }
    if let Some(timeout) = args.timeout {
        body.insert("timeout".into(), timeout.into());
    }
    if let Some(memory) = args.memory {
        body.insert("memory".into(), memory.into());
    }
    if let Some(language) = args.language.clone().or_else(|| language_of(&args.script)) {
        body.insert("language".into(), language.into());
    }
    Ok(Value::Object(body))
}

/// The language a script's extension names (README, "Languages"); `None`: Python, the default.
fn language_of(script: &Path) -> Option<String> {
    let language = match script.extension()?.to_str()? {
        "js" | "cjs" => "javascript",
        "R" | "r" => "r",
        "sh" | "bash" => "bash",
        _ => return None,
    };
    Some(language.to_string())
}

/// One of `files`: the file's last path component as its name (the service says whether that
/// name is allowed), its bytes in base64 (a binary file travels as it is).
fn input_file(path: &Path) -> Result<Value, Failed> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Failed::usage(format!(
            "--file {}: the file's name must be UTF-8 text",
            path.display()
        ))
    })?;
    let bytes = std::fs::read(path)
        .map_err(|e| Failed::usage(format!("cannot read --file {}: {e}", path.display())))?;
    Ok(json!({
        "name": name,
        "content": base64::engine::general_purpose::STANDARD.encode(bytes),
        "encoding": "base64",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_names_the_language() {
        assert_eq!(
            language_of(Path::new("a/b.js")).as_deref(),
            Some("javascript")
        );
        assert_eq!(language_of(Path::new("stats.R")).as_deref(), Some("r"));
        assert_eq!(language_of(Path::new("job.sh")).as_deref(), Some("bash"));
        assert_eq!(language_of(Path::new("main.py")), None);
        assert_eq!(language_of(Path::new("-")), None);
    }
}
