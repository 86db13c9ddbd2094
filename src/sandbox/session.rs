//! One session's jail, the sandbox's half of a session: a zygote of its own (its own nsjail,
//! cgroup, uid and CPUs, never one of the /execute pool's), and the one child it forked for the
//! session, kept alive between cells. `SessionJail::cell` runs one cell on fresh pipes passed over
//! the session's socket (session.py's header has the protocol), enforces its deadline (SIGINT,
//! a grace, then the end of the session), and reads what comes back with /execute's caps.
//!
//! Not here: session ids, owners, expiry and the map of live sessions (crate::sessions), HTTP
//! (crate::routes::sessions), and the frame's wire format and meaning (protocol.rs, verdict.rs),
//! which a cell shares with a one-shot run.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot, watch};

use super::budget::MemoryReservation;
use super::capture::{self, Forward};
use super::error::SandboxError;
use super::input::{InputFile, Limits};
use super::outcome::{Failure, FailureKind, Outcome, OutputSender, OutputStream, RunStatus};
use super::process::{JailContext, RunPipes};
use super::protocol::{self, parse_frame};
use super::verdict::frame_status;
use super::zygote::{self, Zygote};

/// The cell loop (the Python half), sent in the session's request line.
pub const SESSION: &str = include_str!("session.py");
/// How long a cell has to stop after its interrupt (SIGINT at its deadline) before the session is
/// ended: long enough for a `KeyboardInterrupt` to unwind Python code, short enough that a client
/// waits at most this past its timeout.
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(2);
/// How long the child has to write a session's input files and say it is ready.
const SETUP_WITHIN: Duration = Duration::from_secs(30);
/// session.py's exit code when the input files do not fit (`_setup_failed`).
const FILES_DO_NOT_FIT_EXIT: i32 = 73;
/// x86_64's recvmsg, as /proc/<pid>/syscall names it, and the session socket's fd in session.py
/// (SOCKET_FD = 100), in the kernel's hex: the loop waiting for its next cell.
const RECVMSG: &str = "47";
const SOCKET_FD_HEX: &str = "0x64";
/// How long the end of a cell's result channel waits for the loop to be back at once, and how
/// often it looks again after that, while the cell runs on.
const BACK_WITHIN: Duration = Duration::from_millis(5);
const BACK_POLL: Duration = Duration::from_millis(10);
/// How long GET's inspection of the variables may take (it runs the variables' `__repr__`).
pub const INSPECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a session ended: what a later call's `session_not_found` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Idle past its `idle_timeout`.
    Expired,
    /// DELETE.
    Deleted,
    /// A cell went past the session's memory.
    MemoryLimit,
    /// A cell did not stop within the grace after its interrupt.
    Timeout,
    /// A cell wrote past an output cap.
    OutputLimit,
    /// Its Python ended (sys.exit, os._exit, a fatal signal), or its jail failed.
    Exited,
    /// The server shut down.
    Shutdown,
    /// A /batch's session, ended with its batch.
    BatchDone,
}

impl SessionEnd {
    pub const ALL: [SessionEnd; 8] = [
        SessionEnd::Expired,
        SessionEnd::Deleted,
        SessionEnd::MemoryLimit,
        SessionEnd::Timeout,
        SessionEnd::OutputLimit,
        SessionEnd::Exited,
        SessionEnd::Shutdown,
        SessionEnd::BatchDone,
    ];

    /// The metrics' label.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEnd::Expired => "expired",
            SessionEnd::Deleted => "deleted",
            SessionEnd::MemoryLimit => "memory_limit",
            SessionEnd::Timeout => "timeout",
            SessionEnd::OutputLimit => "output_limit",
            SessionEnd::Exited => "exited",
            SessionEnd::Shutdown => "shutdown",
            SessionEnd::BatchDone => "batch_done",
        }
    }

    /// Why, in the words of a `session_not_found` message.
    pub fn reason(self) -> &'static str {
        match self {
            SessionEnd::Expired => "it expired (idle past its idle_timeout)",
            SessionEnd::Deleted => "it was deleted",
            SessionEnd::MemoryLimit => "a cell went past its memory limit (out of memory)",
            SessionEnd::Timeout => "a cell timed out and did not stop when interrupted",
            SessionEnd::OutputLimit => "a cell wrote past an output limit",
            SessionEnd::Exited => "its Python process ended",
            SessionEnd::Shutdown => "the server shut down",
            SessionEnd::BatchDone => "its batch is over",
        }
    }
}

/// What a session needs at its start.
pub struct SessionStart<'a> {
    pub limits: Limits,
    pub files: &'a [InputFile],
    /// MiB of the budget the session must leave free: the largest one-shot run (MAX_MEMORY_MB,
    /// as fitted into the budget at start-up).
    pub keep_mib: u64,
}

/// A cell's request, as session.py reads it from the cell's stdin.
#[derive(Serialize)]
struct CellLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    inspect: bool,
}

/// The session's request line (runner.py reads it, then hands over to session.py).
#[derive(Serialize)]
struct SessionLine<'a> {
    session: SessionSetup<'a>,
}

#[derive(Serialize)]
struct SessionSetup<'a> {
    source: &'static str,
    max_result_bytes: usize,
    max_output_files: usize,
    max_output_files_bytes: usize,
    capture_figures: bool,
    files: &'a [InputFile],
    #[serde(skip_serializing_if = "Option::is_none")]
    import_policy: Option<&'a crate::policy::ImportPolicy>,
}

/// How a cell ended: its outcome, as a one-shot run's, and whether the session ended with it.
/// No outcome: the session was ended from outside (DELETE, expiry, shutdown) while the cell ran.
pub struct CellOutcome {
    pub outcome: Option<Outcome>,
    pub ended: Option<SessionEnd>,
}

pub struct SessionJail {
    zygote: Zygote,
    socket: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    /// The child's host pid: the one process of the cgroup besides nsjail and the zygote that
    /// outlives a cell.
    pid: i32,
    ctx: Arc<JailContext>,
    limits: Limits,
    /// The cgroup's OOM kills when the session started (the zygote's own start is not a cell's).
    oom_before: u64,
    /// The session's memory in the service's budget, held for its life.
    _memory: MemoryReservation,
}

impl SessionJail {
    /// Starts the session's zygote, forks its child, and has it write the input files.
    pub(super) async fn start(
        ctx: Arc<JailContext>,
        start: SessionStart<'_>,
        memory: MemoryReservation,
    ) -> Result<SessionJail, SandboxError> {
        let zygote = Zygote::spawn_for_session(&ctx, &start.limits).await?;
        let oom_at_start = zygote.cgroup().oom_kills();
        let child = match zygote.fork_session().await {
            Ok(child) => child,
            Err(e) => {
                zygote.destroy().await;
                return Err(e);
            }
        };
        let zygote::SessionChild {
            socket,
            mut stdin,
            mut stdout,
            mut stderr,
            pid,
        } = child;
        let s = &ctx.settings;
        let mut line = serde_json::to_string(&SessionLine {
            session: SessionSetup {
                source: SESSION,
                max_result_bytes: s.max_result_bytes,
                max_output_files: s.max_output_files,
                max_output_files_bytes: s.max_output_files_bytes,
                capture_figures: true,
                files: start.files,
                import_policy: s.import_policy.as_ref(),
            },
        })
        .unwrap_or_default();
        line.push('\n');
        // The child reads the line while this writes it (files can be larger than a pipe).
        let writer = tokio::spawn(async move {
            let _ = stdin.write_all(line.as_bytes()).await;
        });
        // Before any user code the child's stdout is the server's to trust: "ready" once the
        // files are written, then EOF (it parks its fds).
        let said = capture::read_head(&mut stdout, 64, SETUP_WITHIN).await;
        let _ = writer.await;
        if said != b"ready\n" {
            // How the child ended, if it did (before it is killed, which would say SIGKILL).
            let status = tokio::time::timeout(Duration::from_millis(200), zygote.child_exit())
                .await
                .ok()
                .flatten();
            let no_room =
                status == Some(FILES_DO_NOT_FIT_EXIT) || zygote.cgroup().oom_kills() > oom_at_start;
            zygote.cgroup().kill_all_except(&zygote.keep());
            if no_room {
                zygote.destroy().await;
                return Err(SandboxError::SessionFilesDoNotFit {
                    memory_mib: start.limits.memory_mib,
                });
            }
            let words =
                capture::read_head(&mut stderr, capture::MAX_LOG_BYTES, Duration::from_secs(1))
                    .await;
            zygote.destroy().await;
            let words = String::from_utf8_lossy(&words).trim().to_string();
            return Err(SandboxError::SessionSetup {
                said: if words.is_empty() {
                    format!(
                        "the session's child ended before it was ready ({})",
                        describe_exit(status)
                    )
                } else {
                    words
                },
            });
        }
        let oom_before = zygote.cgroup().oom_kills();
        Ok(SessionJail {
            zygote,
            socket,
            pid,
            ctx,
            limits: start.limits,
            oom_before,
            _memory: memory,
        })
    }

    /// The session's limits: its memory and its cells' default timeout.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Memory the session's cgroup holds now (its zygote included).
    pub fn memory_usage(&self) -> Option<u64> {
        self.zygote.cgroup().memory_usage()
    }

    /// Kills every process of the session and removes its cgroup, waiting for all of it.
    pub async fn destroy(self) {
        let SessionJail { zygote, socket, .. } = self;
        drop(socket);
        zygote.destroy().await;
    }

    /// Runs one cell (see the module's header). `end` is the registry's: a value on it ends the
    /// session now, whatever the cell is doing.
    pub async fn cell(
        &mut self,
        code: &str,
        timeout: Duration,
        output: Option<OutputSender>,
        end: &mut watch::Receiver<Option<SessionEnd>>,
    ) -> Result<CellOutcome, SandboxError> {
        let line = CellLine {
            code: Some(code),
            inspect: false,
        };
        self.exchange(&line, timeout, output, end).await
    }

    /// The session's variables (name, type, short repr), as session.py lists them: a cell of the
    /// server's own, under the same deadline rules.
    pub async fn inspect(
        &mut self,
        end: &mut watch::Receiver<Option<SessionEnd>>,
    ) -> Result<CellOutcome, SandboxError> {
        let line = CellLine {
            code: None,
            inspect: true,
        };
        self.exchange(&line, INSPECT_TIMEOUT, None, end).await
    }

    async fn exchange(
        &mut self,
        line: &CellLine<'_>,
        timeout: Duration,
        output: Option<OutputSender>,
        end: &mut watch::Receiver<Option<SessionEnd>>,
    ) -> Result<CellOutcome, SandboxError> {
        let started = Instant::now();
        let s = &self.ctx.settings;
        let (pipes, theirs) = RunPipes::create()?;
        let fds = [
            &theirs.stdin,
            &theirs.stdout,
            &theirs.stderr,
            &theirs.result,
        ]
        .map(|fd| fd.as_raw_fd());
        let sent = zygote::send_fds(self.socket.as_raw_fd(), b"cell", &fds);
        drop(theirs);
        if sent.is_err() {
            // The child is gone (its end of the socket closed with it).
            return Ok(self.gone(started, None));
        }
        let mut request = serde_json::to_string(line).unwrap_or_default();
        request.push('\n');
        // Then EOF (the sender dropped): the child reads its request to the end. A request that
        // fits in the pipe (most do) is written at once, without a task.
        let stdin = pipes.stdin;
        let written = stdin.try_write(request.as_bytes()).unwrap_or(0);
        if written < request.len() {
            let mut stdin = stdin;
            tokio::spawn(async move {
                let _ = stdin.write_all(&request.as_bytes()[written..]).await;
            });
        }
        let home = tokio::runtime::Handle::current();
        let (overflow_tx, mut overflow_rx) = mpsc::channel::<()>(3);
        // A cell's frame may be forged by the cell (it can write on fd 3): what ends a cell is
        // the end of its result channel (the loop closes it after its frame), and the loop back
        // in its wait for the next cell (`back_in_loop`).
        let (frame_tx, mut frame_rx) = oneshot::channel::<()>();
        let forward = |stream| output.clone().map(|tx| Forward::new(stream, tx));
        let cap = s.max_output_bytes;
        let stdout = capture::spawn_reader(
            &home,
            pipes.stdout,
            cap,
            Some(overflow_tx.clone()),
            forward(OutputStream::Stdout),
        );
        let stderr = capture::spawn_reader(
            &home,
            pipes.stderr,
            cap,
            Some(overflow_tx.clone()),
            forward(OutputStream::Stderr),
        );
        drop(output);
        let mut result = capture::spawn_result_reader(
            &home,
            pipes.result,
            false,
            protocol::frame_cap(s),
            overflow_tx,
            frame_tx,
        );

        let deadline = started + timeout;
        let mut interrupted = false;
        let mut result_read: Option<Vec<u8>> = None;
        // Whether a whole frame has come, though the channel may not have ended: a process the
        // cell forked (and did not exec or end) holds a copy of its write end.
        let mut frame_seen = false;
        // The child's exit status, when it ended during the cell (the zygote's report).
        let mut exit_status: Option<i32> = None;
        // Whether the loop was found back at the deadline (see the deadline's branch).
        let mut in_time = false;
        // What ended the wait: the frame (None), or the end of the session.
        let ended: Option<SessionEnd> = loop {
            let grace_over = deadline + INTERRUPT_GRACE;
            tokio::select! {
                read = &mut result, if result_read.is_none() => {
                    let (bytes, over) = read.unwrap_or_default();
                    // Kept even past the cap: a finished reader is never polled again.
                    result_read = Some(bytes);
                    if over {
                        break Some(SessionEnd::OutputLimit);
                    }
                    if self.back_in_loop(Instant::now() + BACK_WITHIN).await {
                        break None;
                    }
                    // The cell closed its channel and runs on: it is over when the loop is
                    // back (polled below), or at its deadline.
                },
                _ = &mut frame_rx, if !frame_seen => frame_seen = true,
                // After the frame, or the end of the channel: the cell is over once the loop is
                // back. Processes it left holding the channel are killed below, which ends it.
                _ = tokio::time::sleep(BACK_POLL), if result_read.is_some() || frame_seen => {
                    let back = if result_read.is_some() {
                        self.is_back()
                    } else {
                        self.looks_back() == Some(true)
                    };
                    if back {
                        break None;
                    }
                },
                Some(()) = overflow_rx.recv() => break Some(SessionEnd::OutputLimit),
                code = self.zygote.child_exit() => {
                    log::info!("a session's Python ended: {code:?}");
                    exit_status = code;
                    break Some(SessionEnd::Exited);
                }
                changed = end.changed() => {
                    let why = match changed {
                        Ok(()) => *end.borrow(),
                        Err(_) => Some(SessionEnd::Shutdown),
                    };
                    if let Some(why) = why {
                        self.kill_everything();
                        return Ok(CellOutcome { outcome: None, ended: Some(why) });
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()), if !interrupted && !in_time => {
                    if self.looks_back() == Some(true) {
                        // The cell ended just in time: its frame is written, and only the
                        // channel's end (or the next poll) is still to come. Not a timeout.
                        in_time = true;
                        frame_seen = true;
                        continue;
                    }
                    interrupted = true;
                    // The server owns signals: the child's host pid, which only the session's
                    // own zygote could have reaped (and then it said so on its socket).
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(self.pid),
                        nix::sys::signal::Signal::SIGINT,
                    );
                }
                _ = tokio::time::sleep_until(grace_over.into()), if interrupted => {
                    break Some(SessionEnd::Timeout);
                }
            }
        };
        let memory_hit = self.zygote.cgroup().oom_kills() > self.oom_before;
        let ended = if memory_hit {
            Some(SessionEnd::MemoryLimit)
        } else {
            ended
        };
        // A cell never keeps running after its answer: what it started goes now, and all of the
        // session if it is over.
        if ended.is_some() {
            self.kill_everything();
        } else {
            let [nsjail, zygote] = self.zygote.keep();
            let keep = [nsjail, zygote, self.pid];
            let cgroup = self.zygote.cgroup();
            // One listing first (a process is in every hierarchy of its cgroup): most cells
            // start no process, and then the other hierarchies need not be read.
            if cgroup.members().iter().any(|p| !keep.contains(p)) {
                cgroup.kill_all_except(&keep);
            }
        }
        let duration = started.elapsed();
        let (stdout, _) = capture::drain(stdout).await;
        let (stderr, _) = capture::drain(stderr).await;
        let result = match result_read {
            Some(bytes) => bytes,
            None => capture::drain(result).await.0,
        };
        let stdout = String::from_utf8_lossy(&stdout).into_owned();
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        let frame = parse_frame(&result);
        let usage = frame.as_ref().and_then(|f| f.usage);
        let failure = |kind, message: String| RunStatus::Failed(Failure::new(kind, message));
        let (status, ended) = match ended {
            None => {
                let Some(frame) = frame else {
                    let status = failure(
                        FailureKind::InvalidResult,
                        "the cell's result channel carried no valid frame (was fd 3 written to?)"
                            .into(),
                    );
                    return Ok(self.answer(status, stdout, stderr, duration, usage, None));
                };
                let status = frame_status(frame, s);
                // The cell loop ends its process after these (session.py).
                let over = match &status {
                    RunStatus::Failed(f) if f.kind == FailureKind::Exited => {
                        Some(SessionEnd::Exited)
                    }
                    RunStatus::Failed(f) if f.kind == FailureKind::MemoryLimit => {
                        Some(SessionEnd::MemoryLimit)
                    }
                    _ => None,
                };
                if over.is_some() {
                    self.kill_everything();
                }
                let status = if interrupted {
                    let traceback = match status {
                        RunStatus::Failed(f) => f.traceback,
                        RunStatus::Completed { .. } => None,
                    };
                    RunStatus::Failed(Failure {
                        kind: FailureKind::Timeout,
                        message: format!(
                            "the cell ran past its {} s limit and was interrupted \
                             (KeyboardInterrupt); the session lives on",
                            timeout.as_secs()
                        ),
                        traceback,
                        exit_code: None,
                    })
                } else {
                    status
                };
                (status, over)
            }
            Some(SessionEnd::Timeout) => (
                failure(
                    FailureKind::Timeout,
                    format!(
                        "the cell ran past its {} s limit and did not stop within {} s of its \
                         interrupt (KeyboardInterrupt): the session was ended",
                        timeout.as_secs(),
                        INTERRUPT_GRACE.as_secs()
                    ),
                ),
                ended,
            ),
            Some(SessionEnd::MemoryLimit) => (
                failure(
                    FailureKind::MemoryLimit,
                    format!(
                        "the session used more than its {} MiB memory limit: it was ended",
                        self.limits.memory_mib
                    ),
                ),
                ended,
            ),
            Some(SessionEnd::OutputLimit) => (
                failure(
                    FailureKind::OutputLimit,
                    format!(
                        "the cell wrote more than {} bytes to stdout or stderr, or a result \
                         larger than {} bytes: the session was ended",
                        s.max_output_bytes,
                        protocol::frame_cap(s)
                    ),
                ),
                ended,
            ),
            // The child ended during the cell. session.py ends it on purpose after the frame of
            // a cell that called sys.exit() or ran out of memory in Python: that frame (its
            // exit code, its traceback) and the output already read are the answer.
            Some(SessionEnd::Exited) => match frame.map(|f| frame_status(f, s)) {
                Some(RunStatus::Failed(f)) if f.kind == FailureKind::MemoryLimit => {
                    (RunStatus::Failed(f), Some(SessionEnd::MemoryLimit))
                }
                Some(RunStatus::Failed(f)) if f.kind == FailureKind::Exited => {
                    (RunStatus::Failed(f), Some(SessionEnd::Exited))
                }
                _ => (
                    RunStatus::Failed(Failure {
                        kind: FailureKind::Exited,
                        message: format!(
                            "the session's Python process ended during the cell ({}): the \
                             session is over",
                            describe_exit(exit_status)
                        ),
                        traceback: None,
                        exit_code: exit_status,
                    }),
                    Some(SessionEnd::Exited),
                ),
            },
            Some(other) => {
                return Ok(self.gone(started, Some(other)));
            }
        };
        Ok(self.answer(status, stdout, stderr, duration, usage, ended))
    }

    fn answer(
        &self,
        status: RunStatus,
        stdout: String,
        stderr: String,
        duration: Duration,
        usage: Option<super::outcome::Usage>,
        ended: Option<SessionEnd>,
    ) -> CellOutcome {
        CellOutcome {
            outcome: Some(Outcome {
                status,
                stdout,
                stderr,
                duration,
                usage,
            }),
            ended,
        }
    }

    /// The child ended without a frame (os._exit, a fatal signal), or could not be sent its cell.
    fn gone(&self, started: Instant, why: Option<SessionEnd>) -> CellOutcome {
        self.kill_everything();
        let memory_hit = self.zygote.cgroup().oom_kills() > self.oom_before;
        let (kind, message, why) = if memory_hit {
            (
                FailureKind::MemoryLimit,
                format!(
                    "the session used more than its {} MiB memory limit: it was ended",
                    self.limits.memory_mib
                ),
                SessionEnd::MemoryLimit,
            )
        } else {
            (
                FailureKind::Exited,
                "the session's Python process ended during the cell: the session is over".into(),
                why.unwrap_or(SessionEnd::Exited),
            )
        };
        self.answer(
            RunStatus::Failed(Failure::new(kind, message)),
            String::new(),
            String::new(),
            started.elapsed(),
            None,
            Some(why),
        )
    }

    /// Whether the child's main thread is back in its wait for the next cell (blocked in recvmsg
    /// on the session's socket, as the kernel's /proc/<pid>/syscall shows), waiting until
    /// `until` at most. A cell that closed its result channel early is not. Where the file cannot
    /// be read, the channel's end is taken as the cell's.
    async fn back_in_loop(&self, until: Instant) -> bool {
        let mut spins = 0u32;
        loop {
            if self.is_back() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            // The loop gets there microseconds after it closes the channel: yield first, then
            // poll at the timer's pace.
            spins += 1;
            if spins < 200 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    /// Whether the loop is back, where the end of the result channel has come: a kernel that
    /// cannot say lets the channel's end decide (see `looks_back`).
    fn is_back(&self) -> bool {
        self.looks_back().unwrap_or(true)
    }

    /// One look at /proc/<pid>/syscall (see `back_in_loop`). `None`: this kernel does not say (no
    /// CONFIG_HAVE_ARCH_TRACEHOOK, or no ptrace access to the jail's uid), and only a caller that
    /// has another sign of the cell's end (its channel's end) may take that as a yes; the deadline
    /// and a frame alone may not.
    fn looks_back(&self) -> Option<bool> {
        match std::fs::read_to_string(format!("/proc/{}/syscall", self.pid)) {
            Ok(text) => {
                let mut fields = text.split_whitespace();
                Some(fields.next() == Some(RECVMSG) && fields.next() == Some(SOCKET_FD_HEX))
            }
            // The child is gone (or a zombie): its end comes from the zygote's report.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
            Err(e) if e.raw_os_error() == Some(nix::libc::ESRCH) => Some(false),
            Err(_) => None,
        }
    }

    /// SIGKILL to the child and whatever it started (nsjail and the zygote go with `destroy`).
    fn kill_everything(&self) {
        self.zygote.cgroup().kill_all_except(&self.zygote.keep());
    }
}

/// The zygote's report of its child's end, in words: "exit code N", "killed by signal N (NAME)".
fn describe_exit(status: Option<i32>) -> String {
    match status {
        Some(code) if code > 128 => {
            let signal = code - 128;
            match nix::sys::signal::Signal::try_from(signal) {
                Ok(name) => format!("killed by signal {signal} ({name})"),
                Err(_) => format!("killed by signal {signal}"),
            }
        }
        Some(code) => format!("exit code {code}"),
        None => "its zygote did not say how".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_childs_end_is_told_in_words() {
        assert_eq!(describe_exit(Some(3)), "exit code 3");
        assert_eq!(describe_exit(Some(137)), "killed by signal 9 (SIGKILL)");
        assert_eq!(describe_exit(None), "its zygote did not say how");
    }

    /// The constants the Rust half repeats from session.py's.
    #[test]
    fn the_socket_fd_agrees_with_session_py() {
        let fd = SESSION
            .lines()
            .find_map(|l| l.strip_prefix("SOCKET_FD = "))
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap();
        assert_eq!(SOCKET_FD_HEX, format!("{fd:#x}"));
        assert!(SESSION.contains("RESULT_FD = 3\n"));
        assert!(SESSION.contains(&format!("os._exit({FILES_DO_NOT_FIT_EXIT})")));
    }

    #[test]
    fn every_end_has_a_label_and_a_reason() {
        let labels: std::collections::HashSet<_> =
            SessionEnd::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(labels.len(), SessionEnd::ALL.len());
        assert!(SessionEnd::ALL.iter().all(|e| !e.reason().is_empty()));
    }
}
