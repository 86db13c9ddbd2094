//! The Rust half of the runner protocol (runner.py's header describes both halves): the runner's
//! source, its modules' and the zygote's, and the command that starts it, the lines the server
//! writes on a jail's stdin, the ready mark, and the wire format of the result frame with its size
//! cap.
//!
//! Not here: what a frame means for the run (verdict.rs), and the reading of bytes off the pipes
//! (capture.rs).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::input::{InputFile, Limits, RunInput};
use super::outcome::Usage;
use super::settings::SandboxSettings;
use crate::language::{Language, Languages};
use crate::script::PythonScript;

/// The wrapper that runs inside the jail: it executes the script, calls main() and sends the
/// result on its own fd. It arrives as the first line of stdin (a JSON string), read by BOOTSTRAP,
/// which keeps the jail's command line short and readable in `ps`.
pub const RUNNER: &str = include_str!("runner.py");
/// The zygote and its children's isolation: sent only to a zygote, in its set-up line.
pub const ZYGOTE: &str = include_str!("zygote.py");
/// The conversion of values to JSON (a runner module).
pub const CONVERT: &str = include_str!("convert.py");
/// The import policy's hook (a runner module).
pub const POLICY: &str = include_str!("policy.py");
/// The working directory's files: input files, figures, output/ (a runner module).
pub const WORKDIR: &str = include_str!("workdir.py");
/// What the script finds defined, and main()'s arguments (a runner module).
pub const SCRIPT_API: &str = include_str!("script_api.py");
/// Scripts in other languages, run as the runner's child (a runner module).
pub const FOREIGN: &str = include_str!("foreign.py");
/// The runner's modules, by the names runner.py's MODULES loads them under: every jail gets them
/// in its set-up line (`runner_head`), and a zygote's children inherit them.
pub const RUNNER_MODULES: [(&str, &str); 5] = [
    ("convert", CONVERT),
    ("policy", POLICY),
    ("workdir", WORKDIR),
    ("script_api", SCRIPT_API),
    ("foreign", FOREIGN),
];
const BOOTSTRAP: &str =
    "import sys,json;exec(compile(json.loads(sys.stdin.buffer.readline()),'<runner>','exec'))";
/// The jail's command: the runner arrives on stdin, read by BOOTSTRAP.
pub const RUNNER_COMMAND: [&str; 5] = ["/venv/bin/python3", "-I", "-B", "-c", BOOTSTRAP];
/// The first byte the runner writes on the result fd, once it is ready and before any user code.
pub const READY_MARK: u8 = b'S';

/// The runner's set-up line (line 2 of its stdin), but for the runner's modules, which
/// `runner_head` adds to every jail's.
#[derive(Serialize)]
pub struct Setup<'a> {
    /// Modules imported at once; a warm sandbox then waits for its request.
    pub preload: &'a [String],
    /// Present for a fork-mode zygote only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zygote: Option<ZygoteSetup>,
}

/// What a zygote gives each child it forks, as a cold jail gets it from nsjail.
#[derive(Serialize)]
pub struct ZygoteSetup {
    pub tmp_mib: u64,
    pub shm_mib: u64,
    /// Who each child becomes before it is used (`nsjail::run_identity`): under the container
    /// profile the zygote is root and its children drop to the jail's own uid.
    pub uid: u32,
    pub gid: u32,
    /// zygote.py, which the runner compiles as a module of its own.
    pub source: &'static str,
}

/// The set-up line as sent: `Setup` and the runner's modules, which every jail gets.
#[derive(Serialize)]
struct SetupLine<'a> {
    #[serde(flatten)]
    setup: &'a Setup<'a>,
    modules: Modules,
}

/// `RUNNER_MODULES` as a JSON object, name -> source.
struct Modules;

impl Serialize for Modules {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(RUNNER_MODULES)
    }
}

/// The capacity the server gives a jail's stdin pipe (process::stdin_pipe): four times Linux's
/// default of 64 KiB, which a zygote's head (the runner, its modules and zygote.py, as JSON)
/// outgrew with issue 19. A test checks that the head fits with room to spare.
pub const HEAD_PIPE_BYTES: i32 = 256 * 1024;

/// The first two lines of the jail's stdin: the runner's source and its set-up, with the runner's
/// modules. They fit in the stdin pipe (HEAD_PIPE_BYTES, a test checks), so writing them does not
/// wait for the runner.
pub fn runner_head(setup: &Setup) -> String {
    let mut head = serde_json::to_string(RUNNER).unwrap_or_default();
    head.push('\n');
    let line = SetupLine {
        setup,
        modules: Modules,
    };
    head.push_str(&serde_json::to_string(&line).unwrap_or_default());
    head.push('\n');
    head
}

/// The request line the runner reads (line 3 of its stdin).
#[derive(Serialize)]
struct RunRequest<'a> {
    script: &'a str,
    max_result_bytes: usize,
    cpu_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'a RawValue>,
    files: &'a [InputFile],
    capture_figures: bool,
    max_output_files: usize,
    max_output_files_bytes: usize,
    /// Absent without a policy: then the runner installs no import hook at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    import_policy: Option<&'a crate::policy::ImportPolicy>,
    /// Absent for Python: then the request line is as it always was.
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<Foreign<'a>>,
}

/// A script in another language, for runner.py's foreign.py: what to start and how.
#[derive(Serialize)]
struct Foreign<'a> {
    name: &'static str,
    /// The interpreter's argv; `@script` and `@runner` stand for the script's and the runner's
    /// source (see foreign.py).
    command: &'static [&'static str],
    /// Only the syntax check (`check_syntax`): this argv instead, the script on fd 3.
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<&'static [&'static str]>,
    runner: Option<&'static str>,
    /// The language config's environment, on top of the jail's.
    env: &'a [(String, String)],
}

/// The run's request line, newline included.
pub fn request_line(
    s: &SandboxSettings,
    languages: &Languages,
    script: &PythonScript,
    input: &RunInput,
    limits: &Limits,
) -> String {
    let language = script.language();
    let spec = language.spec();
    let foreign = (language != Language::Python).then(|| Foreign {
        name: spec.name,
        command: spec.command,
        check: input.check_syntax.then_some(spec.check),
        runner: spec.runner,
        env: languages.env(language),
    });
    let mut line = serde_json::to_string(&RunRequest {
        script: script.source(),
        max_result_bytes: s.max_result_bytes,
        cpu_seconds: limits.timeout.as_secs(),
        input: input.input.as_deref(),
        parameters: input.parameters.as_deref(),
        files: &input.files,
        capture_figures: input.capture_figures,
        max_output_files: s.max_output_files,
        max_output_files_bytes: s.max_output_files_bytes,
        import_policy: s.import_policy.as_ref(),
        language: foreign,
    })
    .unwrap_or_default();
    line.push('\n');
    line
}

/// The largest frame the result channel may carry: main()'s value and the saved results
/// (`MAX_RESULT_BYTES` together), the output files in base64 with their names and types, and
/// room for the rest of the frame. Past it the run is stopped (`output_limit`).
pub fn frame_cap(s: &SandboxSettings) -> usize {
    let base64 = s.max_output_files_bytes.div_ceil(3) * 4;
    s.max_result_bytes + base64 + s.max_output_files * FRAME_ROOM_PER_FILE + 64 * 1024
}

/// The frame's room for each output file besides its content: a name of at most 1024 bytes
/// (workdir.py's MAX_OUTPUT_NAME_BYTES), JSON-escaped, and the other fields (agreement.rs checks).
pub const FRAME_ROOM_PER_FILE: usize = 8 * 1024;

/// What the runner sends on the result fd. Nothing else: a field the runner never writes means
/// the script wrote the frame.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    pub ok: bool,
    /// Present-but-null is a result (`None` returned), so null must not read as absent.
    #[serde(default, deserialize_with = "present")]
    pub result: Option<Box<RawValue>>,
    /// What save_result() saved (an object) and the files in ./output/, when there are any.
    pub results: Option<Box<RawValue>>,
    pub files: Option<Box<RawValue>>,
    pub error_type: Option<String>,
    pub message: Option<String>,
    pub traceback: Option<String>,
    pub exit_code: Option<i32>,
    pub usage: Option<Usage>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

/// Splits "<length>\n<json>" and returns the length of the whole frame once it is all there.
pub fn frame_len(bytes: &[u8]) -> Option<usize> {
    let newline = bytes.iter().take(20).position(|&b| b == b'\n')?;
    let len: usize = std::str::from_utf8(&bytes[..newline]).ok()?.parse().ok()?;
    // The length is the jail's to forge: a huge one must not overflow.
    let total = newline.checked_add(1)?.checked_add(len)?;
    (bytes.len() >= total).then_some(total)
}

/// The frame, if `bytes` are one whole frame and nothing else.
pub fn parse_frame(bytes: &[u8]) -> Option<Frame> {
    let total = frame_len(bytes)?;
    // Anything after the frame was written by the script itself, not by the runner.
    if total != bytes.len() {
        return None;
    }
    let newline = bytes.iter().position(|&b| b == b'\n')?;
    serde_json::from_slice(&bytes[newline + 1..]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_length_prefixed() {
        assert_eq!(frame_len(b"2\n{}"), Some(4));
        assert_eq!(frame_len(b"3\n{}"), None, "incomplete");
        assert_eq!(frame_len(b"{}"), None);
        assert!(parse_frame(b"11\n{\"ok\":true}").is_some());
        assert!(
            parse_frame(b"11\n{\"ok\":true}junk").is_none(),
            "trailing bytes"
        );
        assert!(parse_frame(b"x\n{\"ok\":true}").is_none());
        let frame = parse_frame(b"25\n{\"ok\":true,\"result\":null}").unwrap();
        assert_eq!(frame.result.unwrap().get(), "null");
    }

    #[test]
    fn the_frame_cap_holds_the_files() {
        let s = crate::configuration::Settings::from_lookup(&|_| None)
            .unwrap()
            .sandbox;
        assert!(frame_cap(&s) > s.max_result_bytes + s.max_output_files_bytes * 4 / 3);
    }

    #[test]
    fn the_head_is_the_runner_then_its_setup() {
        let preload = ["numpy".to_string()];
        let head = runner_head(&Setup {
            preload: &preload,
            zygote: Some(ZygoteSetup {
                tmp_mib: 64,
                shm_mib: 16,
                uid: 65534,
                gid: 65534,
                source: "pass",
            }),
        });
        let mut lines = head.lines();
        let runner: String = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(runner, RUNNER);
        let setup: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        let modules = serde_json::json!({
            "convert": CONVERT,
            "policy": POLICY,
            "workdir": WORKDIR,
            "script_api": SCRIPT_API,
            "foreign": FOREIGN,
        });
        assert_eq!(
            setup,
            serde_json::json!({
                "preload": ["numpy"],
                "zygote": {"tmp_mib": 64, "shm_mib": 16, "uid": 65534, "gid": 65534, "source": "pass"},
                "modules": modules,
            })
        );
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn every_jail_gets_the_runners_modules() {
        let cold = runner_head(&Setup {
            preload: &[],
            zygote: None,
        });
        let setup: serde_json::Value = serde_json::from_str(cold.lines().nth(1).unwrap()).unwrap();
        assert_eq!(setup["modules"]["convert"], CONVERT);
        assert_eq!(setup["modules"].as_object().unwrap().len(), 5);
    }

    #[test]
    fn a_zygotes_head_fits_in_a_pipe() {
        // The stdin pipe's capacity: a head that fits is written without waiting for the runner
        // to read it. Half of it, so that the next module added does not find the limit first.
        let preload: Vec<String> = ["numpy", "pandas", "scipy", "matplotlib", "seaborn"]
            .map(String::from)
            .to_vec();
        let head = runner_head(&Setup {
            preload: &preload,
            zygote: Some(ZygoteSetup {
                tmp_mib: 64,
                shm_mib: 16,
                uid: 65534,
                gid: 65534,
                source: ZYGOTE,
            }),
        });
        let room = usize::try_from(HEAD_PIPE_BYTES).unwrap_or(0) / 2;
        assert!(head.len() < room, "{} bytes", head.len());
    }
}
