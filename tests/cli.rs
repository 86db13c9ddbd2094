//! The command line, black-box: the real binary (`CARGO_BIN_EXE_python-script-api`) run as a
//! user would. `run` and `validate` here, in the sandbox under test (the binary sees only the
//! variables that choose it, as the test servers do), and against a real server (`spawn_app`)
//! with --url; the help; and the server still started by the binary with no subcommand.
//! README's "Command line" example runs here for real.
//!
//! Each local run starts its own sandbox (no warm pool); the whole file takes 3 to 4 s. `make test`
//! runs it in its first pass only (`cargo test --all-targets`): the command line adds no path of
//! its own through the sandbox, and the passes' settings reach it as they reach a server (each
//! pass's were tried by hand: `SANDBOX_PROFILE=container`, `SANDBOX_POOL_MODE=spawn`,
//! `SANDBOX_POOL_SIZE=0`, all green).

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use helpers::cgroups::{own_v2_cgroup, CgroupRoots, ServerCgroups};
use helpers::{sandbox_env, spawn_app_with, unique};

const BINARY: &str = env!("CARGO_BIN_EXE_python-script-api");
const KEY: &str = "cli-test-key-0123456789";

/// The binary with the sandbox under test and nothing else the shell exports (an exported
/// PYTHON_SCRIPT_API_KEY or API_KEYS would change what these tests check), in `dir`, with a
/// parent cgroup of its own, removed when dropped.
struct Cli {
    command: Command,
    cgroups: ServerCgroups,
}

impl Cli {
    fn new(dir: &Path) -> Cli {
        Cli::program(BINARY, dir)
    }

    /// `program` (the binary, or a shell that runs it) with the binary's environment.
    fn program(program: &str, dir: &Path) -> Cli {
        let cgroup = unique("psa-bin");
        let mut command = Command::new(program);
        command.env_clear().envs(sandbox_env()).current_dir(dir);
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command.env("SANDBOX_CGROUP", &cgroup);
        // A job store of its own, inside the test's directory, not the default under /var/lib.
        command.env("DATA_DIR", dir.join("data"));
        Cli {
            command,
            cgroups: ServerCgroups::new(&cgroup, own_v2_cgroup("self"), None),
        }
    }

    fn args<'a>(mut self, args: impl IntoIterator<Item = &'a str>) -> Cli {
        self.command.args(args);
        self
    }

    fn env(mut self, name: &str, value: &str) -> Cli {
        self.command.env(name, value);
        self
    }

    /// The command, to start by hand; the cgroups stay this one's to remove.
    fn take_command(&mut self) -> Command {
        std::mem::replace(&mut self.command, Command::new("true"))
    }

    /// Runs it to its end, off the async runtime (a test server may share it).
    async fn output(mut self, stdin: &str) -> Ran {
        let stdin = stdin.to_string();
        let command = self.take_command();
        let output = tokio::task::spawn_blocking(move || run_to_end(command, &stdin))
            .await
            .unwrap();
        Ran { output, cli: self }
    }

    /// A local run's sandbox left no run behind: every run's cgroup is gone once it answered.
    fn assert_no_leftovers(&self) {
        let roots = CgroupRoots::host();
        let layout = self
            .cgroups
            .found_layout(&roots)
            .unwrap_or_else(|why| panic!("the local run made no cgroups: {why}"));
        let listing = self.cgroups.listing(&roots, layout).unwrap();
        assert!(
            listing.runs.is_empty(),
            "left-over runs: {:?}",
            listing.runs
        );
        assert_eq!(listing.warm, 0, "a local run keeps no warm sandbox");
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        self.cgroups.remove_all(&CgroupRoots::host());
    }
}

fn run_to_end(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

struct Ran {
    output: Output,
    cli: Cli,
}

impl Ran {
    fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// The last line of stdout: the answer, as JSON.
    fn answer(&self) -> Value {
        let stdout = self.stdout();
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| {
            panic!(
                "the last line of stdout is not JSON ({e}): {stdout:?}\nstderr: {}",
                self.stderr()
            )
        })
    }

    fn expect(self, code: i32) -> Ran {
        assert_eq!(
            self.code(),
            code,
            "stdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

fn write(dir: &Path, name: &str, content: &str) {
    std::fs::write(dir.join(name), content).unwrap();
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

/// README's "Command line" example: its `sh` block runs as it is, with the binary on PATH, in an
/// empty directory; what it prints must be what README shows, and its files must be in --out.
#[tokio::test]
async fn the_readme_example_runs_as_shown() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("\n## Command line\n")
        .nth(1)
        .expect("README has a \"Command line\" section");
    let block = |fence: &str| -> String {
        let start = section
            .find(fence)
            .unwrap_or_else(|| panic!("the section has a {fence} block"));
        let body = &section[start + fence.len()..];
        body[..body.find("\n```").unwrap()].to_string()
    };
    let script = block("```sh\n");
    let shown = block("```console\n");
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(BINARY).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cli = Cli::program("sh", dir.path())
        .env("PATH", &path)
        .args(["-ec", &script]);
    let ran = cli.output("").await.expect(0);
    let stdout = ran.stdout();
    let shown_lines: Vec<&str> = shown.lines().collect();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        shown_lines.len(),
        "{stdout}\nREADME shows:\n{shown}"
    );
    // What the script printed, exactly; then the answer, whose figures vary (time, sizes).
    assert_eq!(
        lines[..lines.len() - 1],
        shown_lines[..shown_lines.len() - 1]
    );
    let answer = ran.answer();
    let shown_answer: Value = serde_json::from_str(shown_lines[shown_lines.len() - 1])
        .expect("README's answer line is JSON");
    assert_eq!(answer["success"], true);
    assert_eq!(answer["result"], shown_answer["result"]);
    let names = |a: &Value| -> Vec<(String, String)> {
        a["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap().to_string(),
                    f["path"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(names(&answer), names(&shown_answer));
    for (_, path) in names(&answer) {
        let saved = std::fs::read(dir.path().join(&path)).unwrap();
        if path.ends_with(".png") {
            assert!(saved.starts_with(PNG), "{path} is not a PNG");
        }
        assert!(!saved.is_empty(), "{path} is empty");
    }
    assert!(answer["files"][0].get("content_base64").is_none());
    ran.cli.assert_no_leftovers();
}

/// The lines of a child's stdout, each with when it came, its stderr, and its exit code.
struct Timed {
    lines: Vec<(Instant, String)>,
    stderr: String,
    code: Option<i32>,
}

impl Timed {
    /// Runs `command` with `stdin`, off the async runtime (a test server may share it).
    async fn run(mut command: Command, stdin: &str) -> Timed {
        let stdin = stdin.to_string();
        tokio::task::spawn_blocking(move || {
            let mut child: Child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the binary starts");
            {
                use std::io::Write;
                let mut input = child.stdin.take().unwrap();
                input.write_all(stdin.as_bytes()).unwrap();
            }
            let mut stderr = child.stderr.take().unwrap();
            let errors = std::thread::spawn(move || {
                let mut text = String::new();
                stderr.read_to_string(&mut text).unwrap();
                text
            });
            let lines = BufReader::new(child.stdout.take().unwrap())
                .lines()
                .map(|line| (Instant::now(), line.unwrap()))
                .collect();
            let stderr = errors.join().unwrap();
            Timed {
                lines,
                stderr,
                code: child.wait().unwrap().code(),
            }
        })
        .await
        .unwrap()
    }

    /// The first line came at least `gap` before the last (the answer): it was shown while the
    /// script still ran (the scripts sleep 1.5 s after it).
    fn assert_streamed(&self, first: &str) {
        let (at, line) = &self.lines[0];
        assert_eq!(line, first, "stderr: {}", self.stderr);
        let (end, _) = self.lines.last().unwrap();
        assert!(
            *end - *at >= Duration::from_millis(700),
            "the first line came {:?} before the answer: not while the script ran",
            *end - *at
        );
    }

    fn answer(&self) -> Value {
        let (_, last) = self.lines.last().unwrap();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"))
    }
}

/// Output is shown while the script runs, not at its end; a failure exits 1 with its error type
/// on stderr (and the script's traceback), the answer on stdout. The script comes from stdin.
#[tokio::test]
async fn a_failing_script_streams_then_exits_1_with_its_error_type() {
    let dir = tempfile::tempdir().unwrap();
    let mut cli = Cli::new(dir.path()).args(["run", "-"]);
    let script = "import sys, time\n\
                  def main():\n    print('before')\n    \
                  print('warned', file=sys.stderr)\n    time.sleep(1.5)\n    return 1 / 0\n";
    let ran = Timed::run(cli.take_command(), script).await;
    assert_eq!(ran.code, Some(1), "stderr: {}", ran.stderr);
    ran.assert_streamed("before");
    let stderr = &ran.stderr;
    assert!(stderr.contains("warned\n"), "{stderr}");
    assert!(
        stderr.contains("python-script-api: runtime_error: ZeroDivisionError: division by zero"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 6, in main"),
        "the traceback: {stderr}"
    );
    let answer = ran.answer();
    assert_eq!(answer["success"], false);
    assert_eq!(answer["error_type"], "runtime_error");
    assert!(answer.get("stdout").is_none(), "shown already: {answer}");
    cli.assert_no_leftovers();
}

/// A request the service refuses is a usage error (2), a file that cannot be read too, and a
/// server that is not there is 3.
#[tokio::test]
async fn usage_errors_exit_2_and_an_unreachable_server_3() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.py", "def main():\n    return 1\n");
    let ran = Cli::new(dir.path())
        .args(["run", "ok.py", "--timeout", "0"])
        .output("")
        .await
        .expect(2);
    assert!(ran
        .stderr()
        .contains("invalid_request: timeout must be between"));
    assert_eq!(ran.answer()["error_type"], "invalid_request");
    let ran = Cli::new(dir.path())
        .args(["run", "ok.py", "--input", "missing.json"])
        .output("")
        .await
        .expect(2);
    assert!(ran.stderr().contains("cannot read --input missing.json"));
    write(dir.path(), "bad.json", "{not json");
    let ran = Cli::new(dir.path())
        .args(["run", "ok.py", "--input", "bad.json"])
        .output("")
        .await
        .expect(2);
    assert!(ran.stderr().contains("is not JSON"), "{}", ran.stderr());
    // A port nobody listens on (1 is privileged and unused here).
    let ran = Cli::new(dir.path())
        .args(["run", "ok.py", "--url", "http://127.0.0.1:1"])
        .output("")
        .await
        .expect(3);
    assert!(ran.stderr().contains("cannot reach it"), "{}", ran.stderr());
}

/// --url: the same run on a real server (with an API key), its output streamed, its files
/// saved; validate on it too; a missing key is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_and_validate_against_a_server() {
    let app = spawn_app_with(|s| s.api_keys = vec![KEY.to_string()]).await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "job.py",
        "import sys, time\n\
         def main(data):\n    print('rows', len(data['rows']))\n    \
         print('careful', file=sys.stderr)\n    time.sleep(1.5)\n    \
         open('output/names.txt', 'w').write(load_file('names.txt').decode().upper())\n    \
         return sum(data['rows'])\n",
    );
    write(dir.path(), "input.json", r#"{"rows": [1, 2, 3, 4]}"#);
    write(dir.path(), "names.txt", "ada\ngrace\n");
    let url = app.address.as_str();
    let mut cli = Cli::new(dir.path())
        .args(["run", "job.py", "--url", url, "--input", "input.json"])
        .args(["--file", "names.txt", "--out", "saved"])
        .env("PYTHON_SCRIPT_API_KEY", KEY);
    let ran = Timed::run(cli.take_command(), "").await;
    assert_eq!(ran.code, Some(0), "stderr: {}", ran.stderr);
    ran.assert_streamed("rows 4");
    assert!(ran.stderr.contains("careful\n"), "{}", ran.stderr);
    let answer = ran.answer();
    assert_eq!(answer["result"], 10);
    assert_eq!(answer["files"][0]["path"], "saved/names.txt");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("saved/names.txt")).unwrap(),
        "ADA\nGRACE\n"
    );

    let ran = Cli::new(dir.path())
        .args(["run", "job.py", "--url", url])
        .output("")
        .await
        .expect(2);
    assert!(ran.stderr().contains("unauthorized"), "{}", ran.stderr());

    write(dir.path(), "broken.py", "def main(:\n    pass\n");
    let ran = Cli::new(dir.path())
        .args(["validate", "broken.py", "--url", url, "--api-key", KEY])
        .output("")
        .await
        .expect(1);
    assert!(
        ran.stderr().starts_with("broken.py:1:10: syntax error"),
        "{}",
        ran.stderr()
    );
    assert_eq!(ran.answer()["valid"], false);
    let (status, health) = app.health().await;
    assert_eq!(status, 200, "{health}");
    app.assert_no_leftovers().await;
}

/// validate, locally: no sandbox starts, the report is /validate's.
#[tokio::test]
async fn validate_locally() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "ok.py",
        "import pandas as pd\nimport nosuchmodule_xyz\ndef main(data):\n    return data\n",
    );
    // An exported key is for --url: it does not stop a local check.
    let ran = Cli::new(dir.path())
        .args(["validate", "ok.py"])
        .env("PYTHON_SCRIPT_API_KEY", KEY)
        .output("")
        .await
        .expect(0);
    let report = ran.answer();
    assert_eq!(report["valid"], true);
    assert_eq!(report["main"]["parameters"][0], "data");
    assert_eq!(report["unavailable_imports"][0], "nosuchmodule_xyz");
    let ran = Cli::new(dir.path())
        .args(["validate", "-"])
        .output("x = 1\n")
        .await
        .expect(1);
    assert!(ran.stderr().starts_with("-:"), "{}", ran.stderr());
    assert!(ran.stderr().contains("main"), "{}", ran.stderr());
    assert_eq!(ran.answer()["valid"], false);
}

/// --help says what each command does, with an example, and where the sandbox comes from.
#[tokio::test]
async fn the_help_is_for_a_newcomer() {
    let dir = tempfile::tempdir().unwrap();
    let help = Cli::new(dir.path())
        .args(["--help"])
        .output("")
        .await
        .expect(0)
        .stdout();
    for needed in [
        "serve",
        "run",
        "validate",
        "python-script-api run analysis.py",
        "NSJAIL_PATH",
        "SANDBOX_VENV",
        "make setup",
    ] {
        assert!(help.contains(needed), "--help lacks {needed:?}:\n{help}");
    }
    let help = Cli::new(dir.path())
        .args(["help", "run"])
        .output("")
        .await
        .expect(0)
        .stdout();
    for needed in [
        "--input",
        "--file",
        "--out",
        "--url",
        "--api-key",
        "PYTHON_SCRIPT_API_KEY",
        "Exit codes",
        "main()",
    ] {
        assert!(
            help.contains(needed),
            "run's help lacks {needed:?}:\n{help}"
        );
    }
    let help = Cli::new(dir.path())
        .args(["validate", "--help"])
        .output("")
        .await
        .expect(0)
        .stdout();
    assert!(
        help.contains("python-script-api validate analysis.py"),
        "{help}"
    );
    let ran = Cli::new(dir.path())
        .args(["run"])
        .output("")
        .await
        .expect(2);
    assert!(ran.stderr().contains("<SCRIPT>"), "{}", ran.stderr());
}

/// The image and `make run` start the binary with no argument: it serves, as `serve` does.
#[tokio::test]
async fn no_subcommand_still_serves() {
    for args in [&[][..], &["serve"][..]] {
        let dir = tempfile::tempdir().unwrap();
        let mut cli = Cli::new(dir.path())
            .args(args.iter().copied())
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            // Dispatch is what is tested here, not the pool: no warm sandbox to wait for.
            .env("SANDBOX_POOL_SIZE", "0");
        let mut child = cli
            .take_command()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let port = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("listening on port ")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .and_then(|p| p.parse::<u16>().ok())
                {
                    return Some(port);
                }
                if Instant::now() > deadline {
                    break;
                }
            }
            None
        })
        .await
        .unwrap();
        let health = match port {
            Some(port) => reqwest::get(format!("http://127.0.0.1:{port}/health"))
                .await
                .ok(),
            None => None,
        };
        let _ = child.kill();
        let _ = child.wait();
        let health = health.unwrap_or_else(|| panic!("{args:?}: the server did not come up"));
        assert_eq!(health.status(), 200, "{args:?}");
        let body: Value = health.json().await.unwrap();
        assert_eq!(body["status"], "healthy", "{args:?}: {body}");
    }
}

/// Ctrl-C during a local run kills the run: exit 130, no process and no cgroup of it left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_kills_a_local_run() {
    let dir = tempfile::tempdir().unwrap();
    let marker = unique("cli-interrupted");
    write(
        dir.path(),
        "slow.py",
        &format!(
            "import time\ndef main():\n    print('{marker}', flush=True)\n    time.sleep(60)\n"
        ),
    );
    let mut cli = Cli::new(dir.path()).args(["run", "slow.py"]);
    let mut child = cli
        .take_command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::task::block_in_place(|| stdout.read_line(&mut line)).unwrap();
    assert_eq!(line.trim_end(), marker);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let output = tokio::task::block_in_place(|| child.wait_with_output()).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        helpers::processes_left("time.sleep(60)").await.is_empty(),
        "the run's processes outlived it"
    );
    cli.assert_no_leftovers();
}

#[tokio::test]
async fn a_busy_server_is_tried_again_after_its_retry_after() {
    // One slot and no queue: while a run holds the slot, another gets 429 with Retry-After.
    let app = spawn_app_with(|s| {
        s.sandbox.slots = 1;
        s.sandbox.queue = 0;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "quick.py",
        "def main():\n    return 'after the wait'\n",
    );
    let holder = app.run("import time\ndef main():\n    time.sleep(2)\n    return 'held'");
    let retried = async {
        // Sent once the slot is surely taken.
        tokio::time::sleep(Duration::from_millis(700)).await;
        Cli::new(dir.path())
            .args(["run", "quick.py", "--url", app.address.as_str()])
            .output("")
            .await
    };
    let ((status, held), ran) = tokio::join!(holder, retried);
    assert_eq!(status, 200, "{held}");
    let ran = ran.expect(0);
    assert!(
        ran.stderr().contains("busy (429); trying again in"),
        "the run did not meet the held slot, or did not say it waits: {}",
        ran.stderr()
    );
    assert_eq!(ran.answer()["result"], "after the wait");
}
