//! The command line, in the server's own binary: `serve` (what the binary does with no
//! subcommand), `run` (one script, here in the sandbox or on a server with `--url`) and
//! `validate`. Here: the arguments and their help (clap), and the exit codes. main.rs only
//! dispatches.
//!
//! The rooms: `serve.rs` (the HTTP server, as main.rs started it before), `request.rs` (the
//! arguments turned into /execute's JSON body), `local.rs` (a run in this process's sandbox,
//! through /execute/stream's own path), `remote.rs` (the same over HTTP), `output.rs` (the
//! script's output as it comes, the final JSON, files written to --out), `validate.rs`.
//!
//! Not here: any rule about scripts, limits or file names. Local runs and checks go through the
//! server's own domain calls (routes::run_streamed, routes::validation_report, file_names), so a
//! script is refused, run and answered exactly as the server would.

mod local;
mod output;
mod remote;
mod request;
mod serve;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use serve::serve;

const ABOUT: &str = "Runs untrusted Python scripts inside the nsjail sandbox: as an HTTP service \
(the default), or one script from the command line.";

const LONG_ABOUT: &str =
    "Runs untrusted Python scripts inside the nsjail sandbox and returns what \
their main() returned.

With no subcommand (or `serve`) it is the HTTP service: every setting comes from the environment \
(README, \"Configuration\"). `run` and `validate` do the same work from the command line, with no \
server: in this machine's sandbox, or on a server given by --url.";

const AFTER_HELP: &str = "Examples:
  python-script-api                        serve the API on 127.0.0.1:8080 (PORT, HOST)
  python-script-api run analysis.py        run a script here, in the sandbox
  python-script-api run job.py --url https://my-service.run.app --out results/
  python-script-api validate analysis.py   check a script without running it

The sandbox is found through the environment variables `make run` sets (or their defaults, \
where scripts/setup-sandbox.sh installs it): NSJAIL_PATH, SANDBOX_VENV, SANDBOX_ROOT (under \
/opt/python-script-api/) and NSJAIL_CONFIG (configs/python.cfg, relative to the working \
directory: run from the checkout, or set it). `make setup` installs the sandbox. Local runs need \
root on Linux, as the server does (nsjail makes namespaces and cgroups).

Run `python-script-api help run` for a subcommand's options and exit codes.";

const RUN_AFTER_HELP: &str = "The script defines main() (or async def main()); main(data) is \
called with --input's JSON. While it runs, what it prints goes to this terminal's stdout and \
stderr. At the end, one line of JSON goes to stdout: the answer of POST /execute without stdout \
and stderr (already shown) and without the files' content, with each saved file's `path`. Files \
the script leaves in ./output/ and its open pyplot figures (figure-1.png, ...) are written to \
--out; without --out they are listed but not saved. On failure the error type and message (and \
the script's traceback) go to stderr.

Without --url the script runs here, in the same sandbox as the server's (the same environment \
variables, see `python-script-api --help`), started for this one run: no warm sandbox, so \
imports cost what they cost in a fresh Python (pandas: about half a second).

Exit codes:
  0  the script ran and main() returned
  1  the script failed: runtime_error, timeout, memory_limit, exited, output_limit, \
invalid_result, policy_violation, validation_error
  2  usage: bad arguments, an unreadable file, --input that is not JSON, or a request the \
service refuses (invalid_request, payload_too_large, unauthorized, ...)
  3  the server given by --url could not be reached, or did not answer as this API does
  4  the sandbox or the service failed (sandbox_error, overloaded, ...), or this machine's \
sandbox is not installed or configured. With --url, a busy server (429) is tried again after \
its Retry-After, up to 5 times and 60 s in all, before overloaded stands
  5  the script succeeded but a file could not be written to --out (an unsafe name, a \
symlink in the way, a write error)
  130  interrupted (Ctrl-C): the run was killed

Examples:
  python-script-api run hello.py
  python-script-api run analysis.py --input params.json --file sales.csv --out results/
  echo 'def main(): return 6 * 7' | python-script-api run -
  PYTHON_SCRIPT_API_KEY=... python-script-api run job.py --url https://my-service.run.app";

const VALIDATE_AFTER_HELP: &str = "Checks the script as POST /validate does: it parses, it has a \
top-level main() that takes at most one argument, and what it imports (with the modules the \
sandbox does not have). Prints /validate's JSON report on stdout, and each problem as \
FILE:LINE:COLUMN: message on stderr. Without --url the check is local: no sandbox starts, and \
the list of what the sandbox has comes from $SANDBOX_VENV/environment.json.

Exit codes: 0 valid; 1 invalid; 2 usage (or a request the service refuses); 3 the server could \
not be reached; 4 the service failed.

Examples:
  python-script-api validate analysis.py
  python-script-api validate analysis.py --url http://127.0.0.1:8080";

#[derive(Debug, Parser)]
#[command(
    name = "python-script-api",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default: what the binary does with no subcommand)
    #[command(
        long_about = "Serve the HTTP API. The same as no subcommand: the image and \
`make run` start the binary without one. Every setting is an environment variable (README, \
\"Configuration\"); PORT and HOST say where it listens (default 127.0.0.1:8080)."
    )]
    Serve,
    /// Run one script in the sandbox (here, or on a server with --url) and print its result
    #[command(after_help = RUN_AFTER_HELP)]
    Run(RunArgs),
    /// Check a script without running it: syntax, main(), imports
    #[command(after_help = VALIDATE_AFTER_HELP)]
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The script: Python, which defines main(); or JavaScript, R or Bash (--language, or the
    /// extension); `-` reads it from stdin
    #[arg(value_name = "SCRIPT")]
    pub script: PathBuf,
    /// A JSON file: main()'s argument (main(data)) and the global `input_data`
    #[arg(long, value_name = "FILE.json")]
    pub input: Option<PathBuf>,
    /// A file to put in the script's working directory, under its own name (repeat for more);
    /// the script reads it with open() or load_file("name") (CSV, TSV, Parquet: a DataFrame)
    #[arg(long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Where to write the files the script leaves in ./output/ and its figures (created if
    /// missing)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Wall-clock limit in seconds (default 30, at most MAX_TIMEOUT_SECS: 300)
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Memory for the whole run in MiB (default 256)
    #[arg(long, value_name = "MB")]
    pub memory: Option<u64>,
    /// The script's language: python, javascript, r or bash (default: from the script's
    /// extension, .js, .R or .sh; else python)
    #[arg(long, value_name = "LANGUAGE")]
    pub language: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The Python script; `-` reads it from stdin
    #[arg(value_name = "SCRIPT")]
    pub script: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// A server to send the script to (http://127.0.0.1:8080, https://NAME.run.app) instead of
    /// the sandbox on this machine
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The server's API key (its API_KEYS), sent as `Authorization: Bearer KEY` (unused
    /// without --url: an exported key must not stop local runs)
    #[arg(
        long,
        value_name = "KEY",
        env = "PYTHON_SCRIPT_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
}

/// An answer of /execute (or /execute/stream's final event): its values as they came, so that
/// the result's objects keep the order of the script's keys.
type Answer = std::collections::BTreeMap<String, Box<serde_json::value::RawValue>>;

/// The exit codes of `run` and `validate` (the help above says the same). clap's own usage
/// errors exit with 2 too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    ScriptFailed = 1,
    Usage = 2,
    Unreachable = 3,
    ServiceFailed = 4,
    NotSaved = 5,
    /// Ctrl-C during a local run (128 + SIGINT, as shells report it).
    Interrupted = 130,
}

impl Exit {
    /// What an answer's `error_type` says about whose failure it was.
    fn of_error_type(error_type: &str) -> Exit {
        match error_type {
            "validation_error" | "runtime_error" | "invalid_result" | "exited" | "timeout"
            | "memory_limit" | "output_limit" | "policy_violation" => Exit::ScriptFailed,
            "invalid_request" | "payload_too_large" | "unauthorized" | "forbidden_origin"
            | "not_found" | "method_not_allowed" | "session_not_found" | "job_not_found"
            | "script_not_found" => Exit::Usage,
            _ => Exit::ServiceFailed,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// A failure of the command itself (not of the script), with the code it exits with.
#[derive(Debug)]
pub struct Failed {
    exit: Exit,
    message: String,
}

impl Failed {
    fn new(exit: Exit, message: impl Into<String>) -> Failed {
        Failed {
            exit,
            message: message.into(),
        }
    }

    fn usage(message: impl Into<String>) -> Failed {
        Failed::new(Exit::Usage, message)
    }

    /// Says what failed on stderr and gives the exit code.
    fn report(self) -> ExitCode {
        eprintln!("python-script-api: {}", self.message);
        self.exit.into()
    }
}

/// `python-script-api run`.
pub async fn run(args: RunArgs) -> ExitCode {
    let outcome = async {
        let body = request::execute_body(&args)?;
        let mut printer = output::Printer::default();
        let answer = match &args.server.url {
            Some(url) => {
                remote::execute(url, args.server.api_key.as_deref(), &body, &mut printer).await?
            }
            None => local::execute(body, &mut printer).await?,
        };
        Ok::<_, Failed>(printer.finish(answer, args.out.as_deref()))
    };
    match outcome.await {
        Ok(exit) => exit.into(),
        Err(failed) => failed.report(),
    }
}

/// `python-script-api validate`.
pub async fn validate(args: ValidateArgs) -> ExitCode {
    match validate::validate(&args).await {
        Ok(exit) => exit.into(),
        Err(failed) => failed.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorType;
    use clap::CommandFactory;

    #[test]
    fn the_arguments_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_error_type_has_an_exit_code_that_says_whose_failure_it_is() {
        for kind in ErrorType::ALL {
            let exit = Exit::of_error_type(kind.as_str());
            let expected = match kind.status().as_u16() {
                // The script's own failures: 422, 403 for the import policy, 400 for a script
                // that does not parse.
                422 => Exit::ScriptFailed,
                _ if kind == ErrorType::PolicyViolation || kind == ErrorType::ValidationError => {
                    Exit::ScriptFailed
                }
                400 | 401 | 403 | 404 | 405 | 413 => Exit::Usage,
                _ => Exit::ServiceFailed,
            };
            assert_eq!(exit, expected, "{}", kind.as_str());
        }
    }
}
