//! One jail: nsjail with the runner inside, and everything needed to drive one run through it.
//!
//! A jail is spawned (joining its own cgroup between fork and exec), the runner imports the preload
//! modules and marks the result channel "ready", then waits for its script. A cold run spawns a jail
//! and executes at once; a warm one was spawned and readied earlier by the pool. In fork mode the
//! pool's jails are children forked by a zygote (zygote.rs) instead: the same pipes and protocol,
//! but their end is reported by the zygote rather than by nsjail's exit.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};

use super::data::{frame_cap, results_are_an_object, RunInput, RunRequest};
use super::limiter::{Limiter, RunCgroup};
use super::outputs::{response_files, FilesError};
use super::uids::{self, JailUids, UidLease};
use super::zygote::{self, Zygote};
use super::{
    nsjail, Failure, FailureKind, Limits, Outcome, OutputChunk, OutputSender, OutputStream,
    RunStatus, SandboxError, Usage,
};
use crate::configuration::{Profile, SandboxSettings};
use crate::script::PythonScript;

/// The wrapper that runs inside the jail: it executes the script, calls main() and sends the
/// result on its own fd. It arrives as the first line of stdin (a JSON string), read by BOOTSTRAP,
/// which keeps the jail's command line short and readable in `ps`.
pub const RUNNER: &str = include_str!("runner.py");
/// The zygote and its children's isolation: sent only to a zygote, in its set-up line (zygote.rs).
pub const ZYGOTE: &str = include_str!("zygote.py");
const BOOTSTRAP: &str =
    "import sys,json;exec(compile(json.loads(sys.stdin.buffer.readline()),'<runner>','exec'))";
/// The jail's command: the runner arrives on stdin, read by BOOTSTRAP.
pub const RUNNER_COMMAND: [&str; 5] = ["/venv/bin/python3", "-I", "-B", "-c", BOOTSTRAP];
/// nsjail's own log is for operators; only its head is kept.
pub const MAX_LOG_BYTES: usize = 64 * 1024;
/// A cold run's deadline allows for nsjail's and Python's start, which a warm run has behind it.
const COLD_START: Duration = Duration::from_millis(500);
/// The first byte the runner writes on the result fd, once it is ready and before any user code.
pub const READY_MARK: u8 = b'S';
/// How long to wait for pipes to drain once nsjail has exited.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Names runs uniquely within the process (cgroup names), across all `Sandbox` instances.
static RUNS: AtomicU64 = AtomicU64::new(0);
static PROCESS_START: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
});

/// What spawning needs, shared by the cold path and the pool.
#[derive(Debug)]
pub struct JailContext {
    pub settings: SandboxSettings,
    /// Absolute host path of the venv.
    pub venv: std::path::PathBuf,
    pub limiter: Limiter,
    /// Each live jail's own outside uid.
    pub uids: JailUids,
}

impl JailContext {
    /// A uid for a new jail, held until its processes are gone.
    pub fn lease_uid(&self) -> Result<UidLease, SandboxError> {
        self.uids
            .lease()
            .ok_or(SandboxError::NoJailUid(uids::capacity(
                self.settings.slots,
                self.settings.pool_size,
            )))
    }
}

pub struct Jail {
    keeper: Keeper,
    /// The runtime the jail was spawned on: its pipes and its exit are registered with that
    /// runtime's driver, so the tasks that watch them run there (a warm jail is spawned by the
    /// pool's task and used by a request on another runtime; watching across runtimes is slow).
    home: tokio::runtime::Handle,
    stdin: pipe::Sender,
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
    result: pipe::Receiver,
    /// Whether the ready mark has been read already (by `wait_ready`).
    ready: bool,
}

/// Who holds the jail's processes, and so how its end is seen and how it is cleaned up.
enum Keeper {
    /// nsjail with one runner inside, in the run's own cgroup.
    Nsjail {
        child: Child,
        cgroup: Option<RunCgroup>,
        /// The jail's outside uid, given back once nsjail is reaped and its cgroup killed.
        uid: UidLease,
        log: pipe::Receiver,
        /// Whether nsjail enforces the wall-time limit (cold) or only the server does (warm:
        /// the limit is unknown when the jail starts).
        nsjail_timed: bool,
    },
    /// A child forked by a zygote, in the zygote's cgroup. The zygote goes back to its pool slot
    /// through `back` once the run is over and nothing of it is left.
    Forked {
        zygote: Zygote,
        back: oneshot::Sender<Zygote>,
    },
}

/// How a run's processes ended.
pub struct Ended {
    /// nsjail's exit status, or the zygote's report on its child in the same form.
    pub status: ExitStatus,
    /// Whether the kernel's OOM killer acted during the run.
    pub memory_hit: bool,
}

impl Jail {
    /// Spawns nsjail with the runner. `limits` sizes the cgroup and nsjail's limits; a warm jail
    /// gets the maxima, and is narrowed to the request's limits when it is taken.
    pub async fn spawn(
        ctx: &JailContext,
        limits: &Limits,
        preload: &[String],
        nsjail_timed: bool,
    ) -> Result<Jail, SandboxError> {
        let s = &ctx.settings;
        let id = cgroup_id(if nsjail_timed { "run" } else { "warm" });
        let cgroup =
            ctx.limiter
                .create_run(&id, limits.memory_mib.saturating_mul(1 << 20), s.max_pids)?;
        let uid = ctx.lease_uid()?;
        let argv = nsjail::args(&nsjail::JailSpec {
            settings: s,
            venv: &ctx.venv,
            limits,
            cgroup_limits: cgroup.is_some(),
            wall_limit: nsjail_timed,
            command: &RUNNER_COMMAND,
            zygote: false,
            uid: uid.uid(),
        });
        let (result_r, result_w) = pipe_pair()?;
        let (stdin_r, stdin_w) = pipe_pair()?;
        let (stdout_r, stdout_w) = pipe_pair()?;
        let (stderr_r, stderr_w) = pipe_pair()?;
        let (child, log) = spawn_nsjail(
            s,
            argv,
            cgroup.as_ref(),
            [stdin_r, stdout_w, stderr_w],
            result_w,
        )?;
        let mut jail = Jail {
            keeper: Keeper::Nsjail {
                child,
                cgroup,
                uid,
                log,
                nsjail_timed,
            },
            home: tokio::runtime::Handle::current(),
            stdin: pipe::Sender::from_owned_fd(stdin_w).map_err(SandboxError::CreatePipe)?,
            stdout: receiver(stdout_r)?,
            stderr: receiver(stderr_r)?,
            result: receiver(result_r)?,
            ready: false,
        };
        // The runner and its set-up line fit in the pipe (well under 64 KiB): this does not wait
        // for the runner. A jail that died already shows up when it is used.
        let head = runner_head(&serde_json::json!({ "preload": preload }));
        let _ = jail.stdin.write_all(head.as_bytes()).await;
        Ok(jail)
    }

    /// A child a zygote forked, ready (its mark read) and waiting for its script on `stdin`.
    pub fn forked(
        zygote: Zygote,
        back: oneshot::Sender<Zygote>,
        stdin: pipe::Sender,
        stdout: pipe::Receiver,
        stderr: pipe::Receiver,
        result: pipe::Receiver,
    ) -> Jail {
        Jail {
            keeper: Keeper::Forked { zygote, back },
            home: tokio::runtime::Handle::current(),
            stdin,
            stdout,
            stderr,
            result,
            ready: true,
        }
    }

    /// Waits for the runner's ready mark (its preload imports done). For the pool.
    pub async fn wait_ready(
        &mut self,
        within: Duration,
        profile: Profile,
    ) -> Result<(), SandboxError> {
        if self.ready {
            return Ok(());
        }
        let mut mark = [0u8; 1];
        let read = tokio::time::timeout(within, self.result.read_exact(&mut mark)).await;
        if matches!(read, Ok(Ok(_)) if mark[0] == READY_MARK) {
            self.ready = true;
            return Ok(());
        }
        let Keeper::Nsjail { child, log, .. } = &mut self.keeper else {
            return Err(SandboxError::JailSetup {
                status: "unknown".into(),
                log: "a forked sandbox lost its ready mark".into(),
            });
        };
        let _ = child.start_kill();
        let status = child.wait().await.map_err(SandboxError::WaitNsjail)?;
        let log = read_log(log).await;
        Err(jail_setup_error(status, &log, profile))
    }

    /// Kills the jail and removes its cgroup (a zygote's with it), waiting for all of it.
    pub async fn discard(self) {
        match self.keeper {
            Keeper::Nsjail {
                mut child, cgroup, ..
            } => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                if let Some(cgroup) = cgroup {
                    let _ = tokio::task::spawn_blocking(move || cgroup.destroy()).await;
                }
            }
            Keeper::Forked { zygote, .. } => zygote.destroy().await,
        }
    }

    /// Whether the jail is still alive (a warm jail may have died while it waited).
    pub fn is_alive(&mut self) -> bool {
        match &mut self.keeper {
            Keeper::Nsjail { child, .. } => matches!(child.try_wait(), Ok(None)),
            Keeper::Forked { zygote, .. } => zygote.is_alive(),
        }
    }

    fn cgroup(&self) -> Option<&RunCgroup> {
        match &self.keeper {
            Keeper::Nsjail { cgroup, .. } => cgroup.as_ref(),
            Keeper::Forked { zygote, .. } => Some(zygote.cgroup()),
        }
    }

    /// Memory the jail uses now, when a cgroup measures it (a forked one: with its zygote).
    pub fn memory_usage(&self) -> Option<u64> {
        self.cgroup().and_then(RunCgroup::memory_usage)
    }

    /// The most memory the jail has held since its cgroup was made (a forked one: with its
    /// zygote, and the zygote's earlier runs).
    pub fn memory_peak(&self) -> Option<u64> {
        self.cgroup().and_then(RunCgroup::memory_peak)
    }

    /// Narrows a warm jail's memory limit to the request's.
    pub fn set_memory_limit(&self, bytes: u64) -> Result<(), SandboxError> {
        match self.cgroup() {
            Some(cgroup) => cgroup.set_memory_limit(bytes),
            None => Ok(()),
        }
    }

    /// Runs the script: sends it, reads stdout/stderr/result up to their caps while enforcing the
    /// deadline, kills the jail as soon as the result is complete (or at the deadline, or at an
    /// output cap), reaps everything and classifies the outcome. With `output`, stdout and stderr
    /// are also copied there as they are read (see `Forward`).
    pub async fn execute(
        self,
        s: &SandboxSettings,
        script: &PythonScript,
        input: &RunInput,
        limits: Limits,
        output: Option<OutputSender>,
    ) -> Result<Outcome, SandboxError> {
        let started = Instant::now();
        let mut payload = serde_json::to_string(&RunRequest {
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
        })
        .unwrap_or_default();
        payload.push('\n');
        let home = self.home.clone();
        let mut stdin = self.stdin;
        home.spawn(async move {
            // A failed write means the jail is already gone; the outcome will say why.
            let _ = stdin.write_all(payload.as_bytes()).await;
        });

        let (overflow_tx, mut overflow_rx) = mpsc::channel::<()>(3);
        let (frame_tx, frame_rx) = oneshot::channel::<()>();
        let forward = |stream| output.clone().map(|tx| Forward::new(stream, tx));
        let stdout = spawn_reader(
            &home,
            self.stdout,
            s.max_output_bytes,
            Some(overflow_tx.clone()),
            forward(OutputStream::Stdout),
        );
        let stderr = spawn_reader(
            &home,
            self.stderr,
            s.max_output_bytes,
            Some(overflow_tx.clone()),
            forward(OutputStream::Stderr),
        );
        // The readers hold the only senders: the observer sees the channel close once they end.
        drop(output);
        let result = spawn_result_reader(
            &home,
            self.result,
            !self.ready,
            frame_cap(s),
            overflow_tx,
            frame_tx,
        );
        let (log, (kill, exit), cold) = match self.keeper {
            Keeper::Nsjail {
                child,
                cgroup,
                uid,
                log,
                nsjail_timed,
            } => (
                Some(spawn_reader(&home, log, MAX_LOG_BYTES, None, None)),
                watch_exit(&home, child, cgroup, uid),
                nsjail_timed,
            ),
            Keeper::Forked { zygote, back } => {
                (None, zygote::watch_run(&home, zygote, back), false)
            }
        };

        // The server's deadline is what times a run. A warm jail's counts from now; a cold one's
        // allows for the jail's start. (nsjail's own limit, for cold jails, is a later backstop.)
        let deadline = if cold {
            started + limits.timeout + COLD_START
        } else {
            started + limits.timeout
        };
        let mut deadline_hit = false;
        let mut exit = exit;
        let ended = tokio::select! {
            status = &mut exit => Some(status),
            _ = tokio::time::sleep_until(deadline.into()) => { deadline_hit = true; None }
            Some(()) = overflow_rx.recv() => None,
            // The result is complete: what is left (the runner's _exit, nsjail's teardown) is
            // not worth waiting for.
            Ok(()) = frame_rx => None,
        };
        let status = match ended {
            Some(status) => status,
            None => {
                drop(kill);
                exit.await
            }
        };
        // The watcher has sent SIGKILL to anything of the run that was still alive.
        let Ended { status, memory_hit } = status
            .map_err(|_| SandboxError::WaitNsjail(std::io::Error::other("the watcher is gone")))?
            .map_err(SandboxError::WaitNsjail)?;
        let duration = started.elapsed();

        let (stdout, stdout_over) = drain(stdout).await;
        let (stderr, stderr_over) = drain(stderr).await;
        let (result, result_over) = drain(result).await;
        let log = match log {
            Some(log) => drain(log).await.0,
            None => Vec::new(),
        };

        let failure = |kind, message: String| {
            RunStatus::Failed(Failure {
                kind,
                message,
                traceback: None,
                exit_code: None,
            })
        };
        // Without the ready mark the jail never got as far as Python, and the failure is ours.
        let ready = self.ready || result.first() == Some(&READY_MARK);
        let frame_bytes = if self.ready {
            &result[..]
        } else {
            result.get(1..).unwrap_or_default()
        };
        let frame = if result_over || !ready {
            None
        } else {
            parse_frame(frame_bytes)
        };
        let mut usage = None;
        let status = if stdout_over || stderr_over {
            let stream = if stdout_over { "stdout" } else { "stderr" };
            failure(
                FailureKind::OutputLimit,
                format!(
                    "the script wrote more than {} bytes to {stream}; it was stopped",
                    s.max_output_bytes
                ),
            )
        } else if result_over {
            failure(
                FailureKind::OutputLimit,
                format!(
                    "main()'s value, the saved results and the output files came to more than \
                     {} bytes",
                    frame_cap(s)
                ),
            )
        } else if let Some(frame) = frame {
            usage = frame.usage;
            frame_status(frame, s)
        } else if memory_hit && !deadline_hit {
            failure(
                FailureKind::MemoryLimit,
                format!(
                    "the script used more than its {} MiB memory limit and was killed",
                    limits.memory_mib
                ),
            )
        } else if deadline_hit || killed_by_time(status, duration, limits.timeout) {
            failure(
                FailureKind::Timeout,
                format!(
                    "the script ran past its {} s limit",
                    limits.timeout.as_secs()
                ),
            )
        } else if !ready {
            return Err(jail_setup_error(status, &log, s.profile));
        } else {
            exited(status, !frame_bytes.is_empty())
        };

        Ok(Outcome {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            duration,
            usage,
        })
    }
}

/// What the runner sends on the result fd (see runner.py). Nothing else: a field the runner never
/// writes means the script wrote the frame.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Frame {
    ok: bool,
    /// Present-but-null is a result (`None` returned), so null must not read as absent.
    #[serde(default, deserialize_with = "present")]
    result: Option<Box<RawValue>>,
    /// What save_result() saved (an object) and the files in ./output/, when there are any.
    results: Option<Box<RawValue>>,
    files: Option<Box<RawValue>>,
    error_type: Option<String>,
    message: Option<String>,
    traceback: Option<String>,
    exit_code: Option<i32>,
    usage: Option<Usage>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

/// Splits "<length>\n<json>" and returns the length of the whole frame once it is all there.
fn frame_len(bytes: &[u8]) -> Option<usize> {
    let newline = bytes.iter().take(20).position(|&b| b == b'\n')?;
    let len: usize = std::str::from_utf8(&bytes[..newline]).ok()?.parse().ok()?;
    // The length is the jail's to forge: a huge one must not overflow.
    let total = newline.checked_add(1)?.checked_add(len)?;
    (bytes.len() >= total).then_some(total)
}

fn parse_frame(bytes: &[u8]) -> Option<Frame> {
    let total = frame_len(bytes)?;
    // Anything after the frame was written by the script itself, not by the runner.
    if total != bytes.len() {
        return None;
    }
    let newline = bytes.iter().position(|&b| b == b'\n')?;
    serde_json::from_slice(&bytes[newline + 1..]).ok()
}

/// Reads the frame. The jail can write anything to the result fd, so a frame that makes no sense
/// is the script's doing (`invalid_result`), never a server error.
fn frame_status(frame: Frame, s: &SandboxSettings) -> RunStatus {
    let kind = match (frame.ok, frame.error_type.as_deref()) {
        (true, _) => {
            let Some(result) = frame.result else {
                return forged("a success without a result");
            };
            if !results_are_an_object(frame.results.as_deref()) {
                return forged("results that are not an object");
            }
            let files = match frame.files.as_deref().map(|f| response_files(f, s)) {
                None => None,
                Some(Ok(files)) => Some(files),
                Some(Err(FilesError::Malformed(what))) => return forged(&what),
                Some(Err(FilesError::BadName(message))) => {
                    return RunStatus::Failed(Failure {
                        kind: FailureKind::InvalidResult,
                        message,
                        traceback: None,
                        exit_code: None,
                    })
                }
                Some(Err(FilesError::OverLimit(message))) => {
                    return RunStatus::Failed(Failure {
                        kind: FailureKind::OutputLimit,
                        message,
                        traceback: None,
                        exit_code: None,
                    })
                }
            };
            return RunStatus::Completed {
                result,
                results: frame.results,
                files,
            };
        }
        (false, Some("validation_error")) => FailureKind::Validation,
        (false, Some("runtime_error")) => FailureKind::Runtime,
        (false, Some("invalid_result")) => FailureKind::InvalidResult,
        (false, Some("exited")) => FailureKind::Exited,
        (false, Some("memory_limit")) => FailureKind::MemoryLimit,
        (false, Some("output_limit")) => FailureKind::OutputLimit,
        (false, Some("policy_violation")) => FailureKind::PolicyViolation,
        (false, Some("sandbox_error")) => {
            // The runner's own failure, or a script imitating one: either way it came out of the
            // jail, so it is reported to the caller and logged, but it is not a server error.
            // Not its message: the script controls it, and script output is never logged.
            log::warn!("a result frame reported a runner failure");
            return forged("a runner failure report");
        }
        (false, _) => return forged("an unknown error type"),
    };
    RunStatus::Failed(Failure {
        kind,
        message: frame.message.unwrap_or_default(),
        traceback: frame.traceback,
        exit_code: frame.exit_code,
    })
}

fn forged(what: &str) -> RunStatus {
    RunStatus::Failed(Failure {
        kind: FailureKind::InvalidResult,
        message: format!("the result channel carried {what} (was fd 3 written to?)"),
        traceback: None,
        exit_code: None,
    })
}

/// nsjail reports a child killed by its time limit, or by RLIMIT_CPU, as 128 + the signal.
fn killed_by_time(status: ExitStatus, duration: Duration, timeout: Duration) -> bool {
    match status.code() {
        Some(137) => duration >= timeout,
        Some(152) => true, // SIGXCPU: the CPU-time limit
        _ => false,
    }
}

/// The error for a jail that never got as far as the runner, with what nsjail logged.
fn jail_setup_error(status: ExitStatus, log: &[u8], profile: Profile) -> SandboxError {
    let mut reason = jail_log_errors(log);
    // nsjail names the failed clone flags; a refused user namespace has a known remedy.
    if profile == Profile::Standard && reason.contains("CLONE_NEWUSER") {
        reason.push_str(
            "\n(this host refuses user namespaces, as containers often do: \
             set SANDBOX_PROFILE=container)",
        );
    }
    SandboxError::JailSetup {
        status: status.to_string(),
        log: reason,
    }
}

/// What nsjail said went wrong (its error and fatal lines), for a jail that never ran the runner.
fn jail_log_errors(log: &[u8]) -> String {
    let log = String::from_utf8_lossy(log);
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("[E]") || l.starts_with("[F]"))
        .collect();
    if errors.is_empty() {
        "the sandbox's Python never started (nsjail logged no error)".to_string()
    } else {
        errors.join("\n")
    }
}

fn exited(status: ExitStatus, garbled_result: bool) -> RunStatus {
    let code = status.code();
    let message = match code {
        _ if garbled_result => {
            "the result channel was written to, but not with a valid result (was fd 3 used?)"
                .to_string()
        }
        // nsjail reports a death by signal N as 128 + N, which os._exit(128 + N) can imitate.
        Some(c) if (129..=128 + 64).contains(&c) => format!(
            "the script exited with status {c} (killed by signal {}?) before main() returned",
            c - 128
        ),
        Some(c) => format!("the script exited with status {c} before main() returned"),
        None => "the sandbox was killed before main() returned".to_string(),
    };
    let kind = if garbled_result {
        FailureKind::InvalidResult
    } else {
        FailureKind::Exited
    };
    RunStatus::Failed(Failure {
        kind,
        message,
        traceback: None,
        exit_code: code,
    })
}

/// A unique cgroup name. A warm jail's (or a zygote's) says so, so that an idle pool is not
/// mistaken for leftovers. The pid says whose run it is (the start-up sweep of stale runs reads
/// it); the start time keeps a restarted server that got the same pid from colliding with stale names.
pub fn cgroup_id(kind: &str) -> String {
    format!(
        "{kind}-{}-{:x}-{}",
        std::process::id(),
        *PROCESS_START,
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

/// The first two lines of the jail's stdin: the runner's source and its set-up.
pub fn runner_head(setup: &serde_json::Value) -> String {
    let mut head = serde_json::to_string(RUNNER).unwrap_or_default();
    head.push('\n');
    head.push_str(&setup.to_string());
    head.push('\n');
    head
}

/// Spawns nsjail with `argv`, joined to `cgroup` before exec, with `stdio` as its stdin, stdout
/// and stderr and `fd3` on the jail's fd 3. Returns the child and the read end of nsjail's log.
pub fn spawn_nsjail(
    s: &SandboxSettings,
    argv: Vec<OsString>,
    cgroup: Option<&RunCgroup>,
    stdio: [OwnedFd; 3],
    fd3: OwnedFd,
) -> Result<(Child, pipe::Receiver), SandboxError> {
    let (log_r, log_w) = pipe_pair()?;
    let [stdin, stdout, stderr] = stdio;
    let mut cmd = tokio::process::Command::new(&s.nsjail_path);
    cmd.args(&argv)
        .env_clear()
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        // Its own process group: a signal meant for the server's group does not reach it.
        .process_group(0)
        .kill_on_drop(true);
    let attach = cgroup.map(RunCgroup::attach_fds).unwrap_or_default();
    let server_pid = nix::unistd::getpid();
    let child_fds = [
        (fd3.as_raw_fd(), nsjail::RESULT_FD),
        (log_w.as_raw_fd(), nsjail::LOG_FD),
    ];
    // SAFETY: the closure runs in the forked child before exec. It only makes async-signal-safe
    // system calls (prctl, getppid, write, fcntl, dup2) on fds opened before the fork, and
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || prepare_child(server_pid, &attach, &child_fds));
    }
    let child = cmd.spawn().map_err(|source| SandboxError::SpawnNsjail {
        path: s.nsjail_path.clone(),
        source,
    })?;
    // The child holds its own copies now; ours (the command keeps its stdio) must go, or the
    // readers would never see EOF.
    drop(cmd);
    drop(fd3);
    drop(log_w);
    Ok((child, receiver(log_r)?))
}

pub fn receiver(fd: OwnedFd) -> Result<pipe::Receiver, SandboxError> {
    pipe::Receiver::from_owned_fd(fd).map_err(SandboxError::CreatePipe)
}

/// The head of nsjail's log, for a jail that failed to start (nsjail has exited or been killed).
pub async fn read_log(log: &mut pipe::Receiver) -> Vec<u8> {
    let mut kept = Vec::new();
    let _ = tokio::time::timeout(
        DRAIN_TIMEOUT,
        log.take(MAX_LOG_BYTES as u64).read_to_end(&mut kept),
    )
    .await;
    kept
}

/// Runs in the forked child before exec: ties nsjail's life to the server's, joins the run's
/// cgroup, then puts the result and log pipes on their fixed fds.
fn prepare_child(
    server: nix::unistd::Pid,
    attach: &[RawFd],
    fds: &[(RawFd, RawFd); 2],
) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg};
    use std::os::fd::BorrowedFd;
    // If the server dies without killing it (SIGKILL, a crash), nsjail dies too, and the jail with
    // it. The signal follows the forking *thread*: jails are spawned from the server's long-lived
    // runtime threads, never from a transient blocking-pool thread.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
    if nix::unistd::getppid() != server {
        return Err(std::io::Error::other("the server exited during spawn"));
    }
    for &fd in attach {
        // SAFETY: the fd was opened by the parent before the fork and stays open until exec.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        // "0" means the writing process itself, in cgroup v1 and v2.
        nix::unistd::write(fd, b"0")?;
    }
    // The sources move above the targets first, so that a source that happens to be fd 3 or 4 is
    // not clobbered by the other's dup2.
    let mut moved = [0; 2];
    for (i, &(src, _)) in fds.iter().enumerate() {
        // SAFETY: as above.
        let src = unsafe { BorrowedFd::borrow_raw(src) };
        // Close-on-exec, so that nsjail keeps no extra write end of the pipes.
        moved[i] = fcntl(src, FcntlArg::F_DUPFD_CLOEXEC(10))?;
    }
    for (i, &(_, target)) in fds.iter().enumerate() {
        // SAFETY: `moved[i]` was just created by F_DUPFD_CLOEXEC; dup2 onto the fixed fd clears
        // CLOEXEC on the target only.
        if unsafe { nix::libc::dup2(moved[i], target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

pub fn pipe_pair() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SandboxError::CreatePipe(e.into()))
}

/// What a run's watcher gives `execute`: a sender that kills the run when it is dropped or sent
/// on, and the receiver of how it ended.
pub type Watch = (
    oneshot::Sender<()>,
    oneshot::Receiver<std::io::Result<Ended>>,
);

/// Watches nsjail on its home runtime. Dropping (or sending on) the returned sender kills it:
/// SIGKILL to nsjail, whose child dies with it (PR_SET_PDEATHSIG), and with the jail's pid 1 the
/// whole pid namespace. The receiver gets the exit status once nsjail is reaped.
fn watch_exit(
    home: &tokio::runtime::Handle,
    mut child: Child,
    cgroup: Option<RunCgroup>,
    uid: UidLease,
) -> Watch {
    let (kill_tx, kill_rx) = oneshot::channel::<()>();
    let (exit_tx, exit_rx) = oneshot::channel();
    home.spawn(async move {
        let status = tokio::select! {
            status = child.wait() => status,
            _ = kill_rx => {
                let _ = child.start_kill();
                child.wait().await
            }
        };
        let memory_hit = cgroup.as_ref().is_some_and(RunCgroup::oom_killed);
        if let Some(cgroup) = cgroup {
            // Anything that outlived nsjail is sent SIGKILL now, before the response: none of the
            // run's processes can execute another instruction of user code. The kernel's teardown
            // of them (unmapping their memory) and the cgroup's removal take 5 to 30 ms, which the
            // response does not wait for.
            cgroup.kill_all();
            tokio::task::spawn_blocking(move || cgroup.destroy());
        }
        // nsjail reaped means the jail's pid 1 is gone, and with it every process of its pid
        // namespace (and the cgroup's were just killed): no process holds this uid any more.
        drop(uid);
        let _ = exit_tx.send(status.map(|status| Ended { status, memory_hit }));
    });
    (kill_tx, exit_rx)
}

type Reader = tokio::task::JoinHandle<(Vec<u8>, bool)>;

/// How much room a reader makes in its buffer before each read.
const READ_CHUNK: usize = 8 * 1024;

/// Reads a stream until EOF, keeping at most `cap` bytes. Past the cap it stops reading, reports
/// the overflow (so the run is killed) and returns what it kept: memory stays bounded. With
/// `forward`, what it keeps is also copied to an observer as it is read.
fn spawn_reader<R>(
    home: &tokio::runtime::Handle,
    stream: R,
    cap: usize,
    overflow: Option<mpsc::Sender<()>>,
    mut forward: Option<Forward>,
) -> Reader
where
    R: AsyncRead + Unpin + Send + 'static,
{
    home.spawn(async move {
        let mut kept = Vec::new();
        let mut limited = stream.take(cap as u64 + 1);
        loop {
            let before = kept.len();
            kept.reserve(READ_CHUNK);
            // While something is held for the observer, room for it is awaited alongside the
            // pipe, never instead of it (both are cancel safe).
            let step = match forward.as_mut() {
                Some(f) if f.holds() => tokio::select! {
                    read = limited.read_buf(&mut kept) => Step::Read(read),
                    open = f.flush() => Step::Flushed(open),
                },
                _ => Step::Read(limited.read_buf(&mut kept).await),
            };
            match step {
                // An I/O error ends the stream like EOF: what was read so far is the output.
                Step::Read(Ok(0) | Err(_)) => break,
                Step::Read(Ok(_)) => {}
                Step::Flushed(open) => {
                    if !open {
                        forward = None;
                    }
                    continue;
                }
            }
            // Only bytes within the cap are copied: the observer never sees more than the
            // outcome keeps.
            let end = kept.len().min(cap);
            if let Some(f) = forward.as_mut() {
                if end > before && !f.push(&kept[before..end]) {
                    forward = None;
                }
            }
        }
        if let Some(f) = forward {
            f.finish();
        }
        let over = kept.len() > cap;
        if over {
            kept.truncate(cap);
            if let Some(tx) = overflow {
                let _ = tx.try_send(());
            }
        }
        (kept, over)
    })
}

enum Step {
    Read(std::io::Result<usize>),
    /// Whether the observer is still there.
    Flushed(bool),
}

/// Copies a stream's bytes to an observer (the streaming endpoint) without ever making the reader
/// wait for it: a slow client must not stall the pipe, and so the script, into its deadline, nor
/// change its outcome. What the bounded channel cannot take yet is held and coalesced into one
/// chunk, handed over as soon as there is room. Nothing is dropped, and what is held is part of
/// the first `cap` bytes of the stream, so it is bounded by the output cap.
struct Forward {
    stream: OutputStream,
    tx: OutputSender,
    held: Vec<u8>,
}

impl Forward {
    fn new(stream: OutputStream, tx: OutputSender) -> Forward {
        Forward {
            stream,
            tx,
            held: Vec::new(),
        }
    }

    fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    fn chunk(&mut self) -> OutputChunk {
        OutputChunk {
            stream: self.stream,
            bytes: std::mem::take(&mut self.held),
        }
    }

    /// Passes `bytes` on, or holds them if the channel is full. False once the observer is gone.
    fn push(&mut self, bytes: &[u8]) -> bool {
        self.held.extend_from_slice(bytes);
        let chunk = self.chunk();
        match self.tx.try_send(chunk) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(chunk)) => {
                self.held = chunk.bytes;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Waits for room and passes on what is held. False once the observer is gone.
    async fn flush(&mut self) -> bool {
        match self.tx.reserve().await {
            Ok(permit) => {
                // Taken only once there is room: a flush cancelled while waiting loses nothing.
                permit.send(OutputChunk {
                    stream: self.stream,
                    bytes: std::mem::take(&mut self.held),
                });
                true
            }
            Err(_) => false,
        }
    }

    /// At EOF: what is still held is handed over by a task of its own, so that neither the reader
    /// nor the end of the run waits for the observer. The task ends when the observer takes it or
    /// goes away.
    fn finish(mut self) {
        if self.holds() {
            let chunk = self.chunk();
            tokio::spawn(async move {
                let _ = self.tx.send(chunk).await;
            });
        }
    }
}

/// Like `spawn_reader`, and also says when the runner's frame is complete, so that the run can
/// end without waiting for the jail to exit. It keeps reading until EOF: anything the script
/// writes after the frame makes the frame invalid.
fn spawn_result_reader(
    home: &tokio::runtime::Handle,
    mut stream: pipe::Receiver,
    expect_mark: bool,
    cap: usize,
    overflow: mpsc::Sender<()>,
    frame_done: oneshot::Sender<()>,
) -> Reader {
    home.spawn(async move {
        let mut kept = Vec::new();
        let mut frame_done = Some(frame_done);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            kept.extend_from_slice(&chunk[..n]);
            if kept.len() > cap {
                kept.truncate(cap);
                let _ = overflow.try_send(());
                return (kept, true);
            }
            let frame = if expect_mark {
                kept.get(1..).filter(|_| kept[0] == READY_MARK)
            } else {
                Some(&kept[..])
            };
            if frame.and_then(frame_len).is_some() {
                if let Some(done) = frame_done.take() {
                    let _ = done.send(());
                }
            }
        }
        (kept, false)
    })
}

async fn drain(mut reader: Reader) -> (Vec<u8>, bool) {
    match tokio::time::timeout(DRAIN_TIMEOUT, &mut reader).await {
        Ok(Ok(read)) => read,
        _ => {
            reader.abort();
            (Vec::new(), false)
        }
    }
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

    /// Writes `pieces` into a pipe-like stream and reads it back with `spawn_reader`, forwarding
    /// to a channel of `capacity` that nobody reads until the reader has finished.
    async fn read_forwarded(
        pieces: Vec<Vec<u8>>,
        cap: usize,
        capacity: usize,
        observe: bool,
    ) -> ((Vec<u8>, bool), Option<Vec<u8>>) {
        let (mut writer, reader) = tokio::io::duplex(256);
        let (tx, rx) = mpsc::channel(capacity);
        let forward = Some(Forward::new(OutputStream::Stdout, tx));
        let handle = tokio::runtime::Handle::current();
        let read = spawn_reader(&handle, reader, cap, None, forward);
        let rx = observe.then_some(rx);
        tokio::spawn(async move {
            for piece in pieces {
                if writer.write_all(&piece).await.is_err() {
                    break;
                }
            }
        });
        let kept = tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("the reader never waits for the observer")
            .unwrap();
        let Some(mut rx) = rx else {
            return (kept, None);
        };
        let mut seen = Vec::new();
        while let Some(chunk) = rx.recv().await {
            assert_eq!(chunk.stream, OutputStream::Stdout);
            seen.extend_from_slice(&chunk.bytes);
        }
        (kept, Some(seen))
    }

    #[tokio::test]
    async fn a_full_channel_neither_blocks_the_reader_nor_loses_bytes() {
        let pieces: Vec<Vec<u8>> = (0..200u8).map(|i| vec![i; 100]).collect();
        let all: Vec<u8> = pieces.concat();
        let ((kept, over), seen) = read_forwarded(pieces, 1 << 20, 1, true).await;
        assert!(!over);
        assert_eq!(kept, all);
        assert_eq!(seen.unwrap(), all, "in order, complete");
    }

    #[tokio::test]
    async fn only_bytes_within_the_cap_are_forwarded() {
        let pieces: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 100]).collect();
        let all: Vec<u8> = pieces.concat();
        let ((kept, over), seen) = read_forwarded(pieces, 1000, 4, true).await;
        assert!(over);
        assert_eq!(kept, all[..1000]);
        assert_eq!(seen.unwrap(), all[..1000]);
    }

    #[tokio::test]
    async fn a_gone_observer_does_not_disturb_the_reader() {
        let pieces: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 100]).collect();
        let all: Vec<u8> = pieces.concat();
        let ((kept, over), _) = read_forwarded(pieces, 1 << 20, 1, false).await;
        assert!(!over);
        assert_eq!(kept, all);
    }
}
