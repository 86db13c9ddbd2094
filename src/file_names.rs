//! The rule for file names that cross the API: an input file's name, and each component of an
//! output file's path. One rule for both directions, in a room of its own below `files` (input)
//! and `sandbox` (output), so that neither needs the other for it.

/// NAME_MAX on Linux.
pub const MAX_NAME_BYTES: usize = 255;

/// Names the runner itself uses in the working directory.
const RESERVED: [&str; 2] = ["output", ".matplotlib"];

/// The longest path under output/ a run may return (workdir.py's MAX_OUTPUT_NAME_BYTES, checked by
/// a test): it bounds the frame's size per file.
pub const MAX_OUTPUT_PATH_BYTES: usize = 1024;

/// Why `part` cannot be one component of a file name, if it cannot: the rule for an input file's
/// name, and for each component of an output file's path. A client that saves files by these names
/// must stay in its folder, on Windows too (where `\\` separates).
fn component_problem(part: &str) -> Option<&'static str> {
    if part.is_empty() {
        Some("it is empty")
    } else if part.len() > MAX_NAME_BYTES {
        Some("it is longer than 255 bytes")
    } else if part == "." || part == ".." {
        Some("it names a directory")
    } else if part.contains('\\') {
        Some("it contains '\\' (a path separator on Windows)")
    } else if part.contains('\0') {
        Some("it contains a NUL byte")
    } else if part.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}

/// Why `name` cannot be an input file's name, if it cannot.
pub fn input_name_problem(name: &str) -> Option<&'static str> {
    if name.contains('/') {
        Some("it contains '/' (a file goes into the working directory itself, so no paths)")
    } else if let Some(problem) = component_problem(name) {
        Some(problem)
    } else if RESERVED.contains(&name) {
        Some("it is reserved (output/ is where the script leaves its files)")
    } else {
        None
    }
}

/// Why `path` cannot be the name of an output file (a path relative to output/), if it cannot:
/// every component must pass the input names' rule.
pub fn output_path_problem(path: &str) -> Option<&'static str> {
    if path.len() > MAX_OUTPUT_PATH_BYTES {
        Some("it is longer than 1024 bytes")
    } else if path.starts_with('/') {
        Some("it is an absolute path")
    } else {
        path.split('/').find_map(component_problem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_pass_the_same_rule_per_component() {
        for ok in ["a.png", "plots/deep/blob.bin", "output", ".matplotlib/x"] {
            assert_eq!(output_path_problem(ok), None, "{ok:?}");
        }
        let long = "n".repeat(256);
        let too_long = "a/".repeat(512) + "a";
        for bad in [
            "",
            "../../../home/user/.bashrc",
            "/etc/cron.d/evil",
            "a/../b",
            "a//b",
            "a/",
            "./a",
            "..\\..\\x",
            "a\nb",
            "x\0",
            &long,
            &too_long,
        ] {
            assert!(output_path_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn the_runner_caps_output_paths_like_the_server() {
        let line = format!("MAX_OUTPUT_NAME_BYTES = {MAX_OUTPUT_PATH_BYTES}\n");
        assert!(
            include_str!("sandbox/workdir.py").contains(&line),
            "workdir.py must say {line:?}"
        );
    }
}
