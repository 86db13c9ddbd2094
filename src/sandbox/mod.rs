//! Runs one script in a fresh nsjail sandbox. Knows nothing of HTTP.
//!
//! A run: wait for a slot, make the run's cgroup, spawn nsjail (joining the cgroup between fork and
//! exec), feed the script on stdin, read stdout/stderr/result up to their caps while enforcing the
//! deadline, then kill and reap everything and classify what happened into an `Outcome`.

mod limiter;
pub mod nsjail;

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::configuration::{Profile, SandboxSettings};
use crate::script::PythonScript;
pub use limiter::Limiter;
use limiter::RunCgroup;

/// The wrapper that runs inside the jail: it executes the script, calls main() and sends the
/// result on its own fd. It arrives as the first line of stdin (a JSON string), read by BOOTSTRAP,
/// which keeps the jail's command line short and readable in `ps`.
const RUNNER: &str = include_str!("runner.py");
const BOOTSTRAP: &str =
    "import sys,json;exec(compile(json.loads(sys.stdin.buffer.readline()),'<runner>','exec'))";
const JAIL_PYTHON: &str = "/venv/bin/python3";
/// nsjail's own log is for operators; only its head is kept.
const MAX_LOG_BYTES: usize = 64 * 1024;
/// Time nsjail gets past the script's limit (its own set-up and teardown) before the server kills it.
const DEADLINE_GRACE: Duration = Duration::from_secs(2);
/// The first byte the runner writes on the result fd, before it runs any user code.
const STARTED_MARK: u8 = b'S';
/// Names runs uniquely within the process (cgroup names), across all `Sandbox` instances.
static RUNS: AtomicU64 = AtomicU64::new(0);
/// How long to wait for pipes to drain once nsjail has exited.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_mib: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("all {slots} sandboxes are busy and {queued} requests are waiting")]
    Overloaded { slots: usize, queued: usize },
    #[error("cannot create the run's cgroup at {path}: {source}")]
    CreateCgroup {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create a pipe: {0}")]
    CreatePipe(#[source] std::io::Error),
    #[error("cannot start nsjail at {path}: {source}")]
    SpawnNsjail {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("waiting for nsjail failed: {0}")]
    WaitNsjail(#[source] std::io::Error),
    #[error("nsjail could not set up the sandbox (exit status {status}): {log}")]
    JailSetup { status: String, log: String },
}

/// How a run that started ended.
#[derive(Debug)]
pub struct Outcome {
    pub status: RunStatus,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
    pub usage: Option<Usage>,
}

#[derive(Debug)]
pub enum RunStatus {
    /// main() returned; `result` is its value as JSON text, validated.
    Completed {
        result: Box<RawValue>,
    },
    Failed(Failure),
}

#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    pub traceback: Option<String>,
    pub exit_code: Option<i32>,
}

/// The user's own failures, as opposed to `SandboxError`, which is ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Validation,
    Runtime,
    InvalidResult,
    Exited,
    Timeout,
    MemoryLimit,
    OutputLimit,
}

#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct Usage {
    pub cpu_time_ms: u64,
    pub max_rss_kib: u64,
}

/// What /health reports about the sandbox.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SandboxHealth {
    pub healthy: bool,
    pub reason: Option<String>,
    pub nsjail_path: String,
    pub nsjail_executable: bool,
    pub nsjail_config: String,
    pub nsjail_config_exists: bool,
    pub python_version: Option<String>,
    pub profile: &'static str,
    pub limiter: &'static str,
    pub limiter_note: Option<String>,
    pub slots: usize,
    pub busy: usize,
    pub queued: usize,
}

pub struct Sandbox {
    settings: SandboxSettings,
    venv: PathBuf,
    limiter: Limiter,
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    state: Mutex<HealthState>,
}

#[derive(Debug, Default)]
struct HealthState {
    /// Why the last attempt to start a sandbox failed; cleared by the next one that starts.
    failure: Option<String>,
    python_version: Option<String>,
    last_probe: Option<Instant>,
}

/// How often an unhealthy sandbox is re-probed by /health, so that it recovers without traffic.
const REPROBE_EVERY: Duration = Duration::from_secs(5);

/// What the runner sends on the result fd (see runner.py).
#[derive(Debug, Deserialize)]
struct Frame {
    ok: bool,
    /// Present-but-null is a result (`None` returned), so null must not read as absent.
    #[serde(default, deserialize_with = "present")]
    result: Option<Box<RawValue>>,
    error_type: Option<String>,
    message: Option<String>,
    traceback: Option<String>,
    exit_code: Option<i32>,
    usage: Option<Usage>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

impl Sandbox {
    /// Detects the limiter and probes the sandbox once. A failed probe does not stop start-up:
    /// the server comes up and /health answers 503 with the reason.
    pub async fn start(settings: SandboxSettings) -> Sandbox {
        let limiter = Limiter::detect(&settings.cgroup_parent);
        // The bind mount needs an absolute source; an unresolvable venv shows up in the probe.
        let venv = std::fs::canonicalize(&settings.venv_path)
            .unwrap_or_else(|_| settings.venv_path.clone());
        let sandbox = Sandbox {
            slots: Arc::new(Semaphore::new(settings.slots)),
            queued: AtomicUsize::new(0),
            state: Mutex::new(HealthState::default()),
            settings,
            venv,
            limiter,
        };
        log::info!(
            "sandbox: profile {}, limiter {}, {} slots",
            sandbox.settings.profile.as_str(),
            sandbox.limiter.name(),
            sandbox.settings.slots
        );
        if let Limiter::Rlimits { reason } = &sandbox.limiter {
            log::warn!("no usable cgroup, memory and pids are limited by rlimits: {reason}");
        }
        sandbox.probe().await;
        sandbox
    }

    /// Runs a trivial script through the full path once, to learn the Python version and to find
    /// out now, not at the first request, whether this host can run the sandbox at all.
    async fn probe(&self) {
        self.lock_state().last_probe = Some(Instant::now());
        let probe = "import sys\ndef main():\n    return sys.version.split()[0]\n";
        let limits = Limits {
            timeout: Duration::from_secs(30),
            memory_mib: 256,
        };
        let script = match PythonScript::parse(probe.to_string(), usize::MAX) {
            Ok(script) => script,
            Err(e) => return log::error!("sandbox probe: {e}"),
        };
        match self.run(&script, limits).await {
            Ok(Outcome {
                status: RunStatus::Completed { result },
                ..
            }) => {
                let version = serde_json::from_str::<String>(result.get()).ok();
                log::info!("sandbox probe passed: python {version:?}");
                self.lock_state().python_version = version;
            }
            Ok(other) => {
                let reason = format!("the probe script failed: {:?}", other.status);
                log::error!("sandbox probe: {reason}");
                self.lock_state().failure = Some(reason);
            }
            Err(e) => log::error!("sandbox probe: {e}"),
        }
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, HealthState> {
        // The state is plain data: a panic while holding the lock cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The health report, after re-probing (at most every 5 s) a sandbox whose last start failed:
    /// a fixed host turns healthy again without waiting for a request to try.
    pub async fn check_health(&self) -> SandboxHealth {
        let reprobe = {
            let state = self.lock_state();
            state.failure.is_some()
                && state
                    .last_probe
                    .is_none_or(|at| at.elapsed() >= REPROBE_EVERY)
        };
        if reprobe && is_executable(&self.settings.nsjail_path) {
            self.probe().await;
        }
        self.health()
    }

    pub fn health(&self) -> SandboxHealth {
        let s = &self.settings;
        let nsjail_executable = is_executable(&s.nsjail_path);
        let nsjail_config_exists = s.config_path.is_file();
        let state = self.lock_state();
        let reason = if !nsjail_executable {
            Some(format!(
                "nsjail is missing or not executable at {}",
                s.nsjail_path.display()
            ))
        } else if !nsjail_config_exists {
            Some(format!(
                "the nsjail config is missing at {}",
                s.config_path.display()
            ))
        } else {
            state.failure.clone()
        };
        let available = self.slots.available_permits();
        SandboxHealth {
            healthy: reason.is_none(),
            reason,
            nsjail_path: s.nsjail_path.display().to_string(),
            nsjail_executable,
            nsjail_config: s.config_path.display().to_string(),
            nsjail_config_exists,
            python_version: state.python_version.clone(),
            profile: s.profile.as_str(),
            limiter: self.limiter.name(),
            limiter_note: match &self.limiter {
                Limiter::Rlimits { reason } => Some(reason.clone()),
                _ => None,
            },
            slots: s.slots,
            busy: s.slots.saturating_sub(available),
            queued: self.queued.load(Ordering::Relaxed),
        }
    }

    /// Waits (bounded) for a free slot, then runs the script in a fresh sandbox.
    pub async fn run(
        &self,
        script: &PythonScript,
        limits: Limits,
    ) -> Result<Outcome, SandboxError> {
        let _permit = self.admit().await?;
        let result = self.run_in_slot(script, limits).await;
        // Only failures to build the sandbox change health. What comes out of the jail (the result
        // frame, the exit status) is the script's to forge, and must not take the service down.
        match &result {
            Ok(_) => self.lock_state().failure = None,
            Err(SandboxError::Overloaded { .. }) => {}
            Err(e) => self.lock_state().failure = Some(e.to_string()),
        }
        result
    }

    async fn admit(&self) -> Result<OwnedSemaphorePermit, SandboxError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let overloaded = || SandboxError::Overloaded {
            slots: self.settings.slots,
            queued: self.queued.load(Ordering::Relaxed),
        };
        // Reserve a queue place atomically, so that a burst cannot overshoot the bound.
        let reserved = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q < self.settings.queue).then_some(q + 1)
            });
        if reserved.is_err() {
            return Err(overloaded());
        }
        let waited =
            tokio::time::timeout(self.settings.queue_wait, self.slots.clone().acquire_owned())
                .await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(overloaded()),
        }
    }

    async fn run_in_slot(
        &self,
        script: &PythonScript,
        limits: Limits,
    ) -> Result<Outcome, SandboxError> {
        let s = &self.settings;
        let id = format!(
            "run-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let cgroup = self.limiter.create_run(
            &id,
            limits.memory_mib.saturating_mul(1024 * 1024),
            s.max_pids,
        )?;

        let (result_r, result_w) = pipe()?;
        let (log_r, log_w) = pipe()?;
        let command = [JAIL_PYTHON, "-I", "-B", "-c", BOOTSTRAP];
        let argv = nsjail::args(&nsjail::JailSpec {
            settings: s,
            venv: &self.venv,
            limits: &limits,
            cgroup_limits: cgroup.is_some(),
            command: &command,
        });
        let mut cmd = tokio::process::Command::new(&s.nsjail_path);
        cmd.args(&argv)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a signal meant for the server's group does not reach it.
            .process_group(0)
            .kill_on_drop(true);
        let attach = cgroup
            .as_ref()
            .map(RunCgroup::attach_fds)
            .unwrap_or_default();
        let server_pid = nix::unistd::getpid();
        let child_fds = [
            (result_w.as_raw_fd(), nsjail::RESULT_FD),
            (log_w.as_raw_fd(), nsjail::LOG_FD),
        ];
        // SAFETY: the closure runs in the forked child before exec. It only makes async-signal-safe
        // system calls (prctl, getppid, write, fcntl, dup2) on fds opened before the fork, and
        // allocates nothing.
        unsafe {
            cmd.pre_exec(move || prepare_child(server_pid, &attach, &child_fds));
        }
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| SandboxError::SpawnNsjail {
            path: s.nsjail_path.clone(),
            source,
        })?;
        // The child holds its own copies now; ours must go, or the readers would never see EOF.
        drop(result_w);
        drop(log_w);

        let (overflow_tx, mut overflow_rx) = mpsc::channel::<()>(3);
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let mut payload = serde_json::to_string(RUNNER).unwrap_or_default();
        payload.push('\n');
        payload.push_str(
            &serde_json::json!({
                "script": script.source(),
                "max_result_bytes": s.max_result_bytes,
            })
            .to_string(),
        );
        tokio::spawn(async move {
            if let Some(mut stdin) = stdin {
                // A failed write means the jail is already gone; the outcome will say why.
                let _ = stdin.write_all(payload.as_bytes()).await;
            }
        });
        let stdout = spawn_reader(stdout, s.max_output_bytes, Some(overflow_tx.clone()));
        let stderr = spawn_reader(stderr, s.max_output_bytes, Some(overflow_tx.clone()));
        let result = spawn_reader(
            pipe_reader(result_r)?,
            s.max_result_bytes + 64 * 1024,
            Some(overflow_tx),
        );
        let log = spawn_reader(pipe_reader(log_r)?, MAX_LOG_BYTES, None);

        let deadline = started + limits.timeout + DEADLINE_GRACE;
        let mut ended = None;
        let mut deadline_hit = false;
        tokio::select! {
            status = child.wait() => ended = Some(status.map_err(SandboxError::WaitNsjail)?),
            _ = tokio::time::sleep_until(deadline.into()) => deadline_hit = true,
            Some(()) = overflow_rx.recv() => {}
        }
        let status = match ended {
            Some(status) => status,
            None => {
                // SIGKILL to nsjail; its child dies with it (PR_SET_PDEATHSIG), and with the jail's
                // pid 1 the whole pid namespace.
                let _ = child.start_kill();
                child.wait().await.map_err(SandboxError::WaitNsjail)?
            }
        };
        let duration = started.elapsed();
        let memory_hit = cgroup.as_ref().is_some_and(RunCgroup::oom_killed);
        if let Some(cgroup) = cgroup {
            // Anything that outlived nsjail dies here, before the response is sent.
            let _ = tokio::task::spawn_blocking(move || cgroup.destroy()).await;
        }

        let (stdout, stdout_over) = drain(stdout).await;
        let (stderr, stderr_over) = drain(stderr).await;
        let (result, result_over) = drain(result).await;
        let (log, _) = drain(log).await;

        let failure = |kind, message: String| {
            RunStatus::Failed(Failure {
                kind,
                message,
                traceback: None,
                exit_code: None,
            })
        };
        // The runner marks the channel before any user code runs: without the mark, the jail
        // never got as far as Python, and the failure is ours, not the script's.
        let started = result.first() == Some(&STARTED_MARK);
        let frame_bytes = result.get(1..).unwrap_or_default();
        let frame = if result_over || !started {
            None
        } else {
            serde_json::from_slice::<Frame>(frame_bytes).ok()
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
                    "main() returned more than {} bytes of JSON",
                    s.max_result_bytes
                ),
            )
        } else if let Some(frame) = frame {
            usage = frame.usage;
            frame_status(frame)
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
        } else if !started {
            let mut reason = jail_log_errors(&log);
            // nsjail names the failed clone flags; a refused user namespace has a known remedy.
            if s.profile == Profile::Standard && reason.contains("CLONE_NEWUSER") {
                reason.push_str(
                    "\n(this host refuses user namespaces, as containers often do: \
                     set SANDBOX_PROFILE=container)",
                );
            }
            return Err(SandboxError::JailSetup {
                status: status.to_string(),
                log: reason,
            });
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

/// Reads the runner's frame. The jail can write anything to the result fd, so a frame that makes
/// no sense is the script's doing (`invalid_result`), never a server error.
fn frame_status(frame: Frame) -> RunStatus {
    let kind = match (frame.ok, frame.error_type.as_deref()) {
        (true, _) => {
            return match frame.result {
                Some(result) => RunStatus::Completed { result },
                None => forged("a success without a result"),
            }
        }
        (false, Some("validation_error")) => FailureKind::Validation,
        (false, Some("runtime_error")) => FailureKind::Runtime,
        (false, Some("invalid_result")) => FailureKind::InvalidResult,
        (false, Some("exited")) => FailureKind::Exited,
        (false, Some("memory_limit")) => FailureKind::MemoryLimit,
        (false, Some("output_limit")) => FailureKind::OutputLimit,
        (false, Some("sandbox_error")) => {
            // The runner's own failure, or a script imitating one: either way it came out of the
            // jail, so it is reported to the caller and logged, but it is not a server error.
            log::warn!("the runner reported a failure: {:?}", frame.message);
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
        Some(c) if c > 128 => format!(
            "the script was killed by signal {} before main() returned",
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
    // it. The signal follows the forking *thread*: runs are spawned from the server's long-lived
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
        moved[i] = fcntl(src, FcntlArg::F_DUPFD(10))?;
    }
    for (i, &(_, target)) in fds.iter().enumerate() {
        // SAFETY: `moved[i]` was just created by F_DUPFD; dup2 onto the fixed fd clears CLOEXEC.
        if unsafe { nix::libc::dup2(moved[i], target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SandboxError::CreatePipe(e.into()))
}

fn pipe_reader(fd: OwnedFd) -> Result<Option<tokio::net::unix::pipe::Receiver>, SandboxError> {
    tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
        .map(Some)
        .map_err(SandboxError::CreatePipe)
}

type Reader = tokio::task::JoinHandle<(Vec<u8>, bool)>;

/// Reads a stream until EOF, keeping at most `cap` bytes. Past the cap it stops reading, reports
/// the overflow (so the run is killed) and returns what it kept: memory stays bounded.
fn spawn_reader<R>(stream: Option<R>, cap: usize, overflow: Option<mpsc::Sender<()>>) -> Reader
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut kept = Vec::new();
        let Some(stream) = stream else {
            return (kept, false);
        };
        let mut limited = stream.take(cap as u64 + 1);
        // An I/O error ends the stream like EOF: what was read so far is still the output.
        let _ = limited.read_to_end(&mut kept).await;
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

async fn drain(mut reader: Reader) -> (Vec<u8>, bool) {
    match tokio::time::timeout(DRAIN_TIMEOUT, &mut reader).await {
        Ok(Ok(read)) => read,
        _ => {
            reader.abort();
            (Vec::new(), false)
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
