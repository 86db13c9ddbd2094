//! Fork mode: one long-lived jailed Python per pool slot (the zygote) that has imported the preload
//! modules and never runs user code. For each run it forks a child, which isolates itself (fresh
//! namespaces and tmpfs, no capabilities, one more seccomp filter: see zygote.py) and then speaks
//! the ordinary runner protocol on four pipes the server created and passed over the control
//! socket. The fork is made ahead of the request, so a request only sends its script.
//!
//! The zygote's cgroup holds nsjail, the zygote and one run at a time. A run is over when every
//! process in the cgroup but those two has been killed and is gone; only then is the zygote asked
//! for its next child, so no process of one run ever sees the next.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use nix::sys::socket::{
    recv, sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::process::Child;
use tokio::sync::oneshot;

use super::capture::{self, DRAIN_TIMEOUT, MAX_LOG_BYTES};
use super::cpus::CpuLease;
use super::error::SandboxError;
use super::input::Limits;
use super::limiter::RunCgroup;
use super::nsjail;
use super::process::{
    pipe_pair, stdin_pipe, Ended, JailContext, Launch, Nsjail, RunPipes, Watched,
};
use super::protocol::{self, Setup, ZygoteSetup};
use super::uids::UidLease;

/// Processes in a zygote's cgroup besides those a cold jail has (nsjail and the runner): the
/// zygote. The pids limit is raised by as many.
const OVERHEAD_PIDS: u64 = 1;
/// The zygote's imports take about a third of a second; a child's isolation a few milliseconds.
const ZYGOTE_READY_WITHIN: Duration = Duration::from_secs(60);
const CHILD_READY_WITHIN: Duration = Duration::from_secs(10);
/// How long a failed child's last words (its stderr) are read for.
const CHILD_WORDS_WITHIN: Duration = Duration::from_secs(1);
/// How long a killed run may take to be reported and to leave the cgroup before the zygote is
/// given up on (and replaced) instead of being reused.
const SETTLE_WITHIN: Duration = Duration::from_secs(5);
/// Size of each child's private /dev/shm, as the config gives a cold jail (agreement.rs checks).
pub(super) const SHM_MIB: u64 = 16;

pub struct Zygote {
    nsjail: Child,
    cgroup: RunCgroup,
    /// The server's end of the SOCK_SEQPACKET control socket (the zygote's fd 3).
    control: AsyncFd<OwnedFd>,
    /// Host pids of nsjail and of the zygote: the members of the cgroup that a run's end spares.
    keep: [i32; 2],
    /// The cgroup's memory limit between runs (a run narrows it to its request's).
    max_memory: u64,
    /// The jail's outside uid, which its children (one run at a time) share; given back when the
    /// zygote is dropped, after `destroy` has killed and reaped it.
    uid: UidLease,
    /// The CPUs it and its children run on (cpus.rs), held for its life.
    _cpus: Option<CpuLease>,
}

impl Zygote {
    /// Starts a zygote in its own cgroup and waits until it has imported the preload modules.
    pub async fn spawn(ctx: &JailContext, limits: &Limits) -> Result<Zygote, SandboxError> {
        Self::start(ctx, limits, false).await
    }

    /// As `spawn`, for a session: its cgroup is at the sessions' low CPU weight (limiter.rs), so
    /// that what its cells leave running never takes the CPUs from one-shot runs.
    pub async fn spawn_for_session(
        ctx: &JailContext,
        limits: &Limits,
    ) -> Result<Zygote, SandboxError> {
        Self::start(ctx, limits, true).await
    }

    async fn start(
        ctx: &JailContext,
        limits: &Limits,
        background: bool,
    ) -> Result<Zygote, SandboxError> {
        let s = &ctx.settings;
        if !ctx.limiter.uses_cgroups() {
            return Err(SandboxError::ZygoteNeedsCgroup);
        }
        // Not non-blocking at creation: the zygote's end must stay blocking.
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| SandboxError::CreateControlSocket(e.into()))?;
        set_nonblocking(&ours)?;
        let (stdin_r, stdin_w) = stdin_pipe()?;
        // The zygote prints nothing; its failures come over the control socket or nsjail's log.
        let null = || {
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .map(OwnedFd::from)
                .map_err(|source| SandboxError::OpenDevNull {
                    path: "/dev/null".into(),
                    source,
                })
        };
        let (
            Nsjail {
                child,
                cgroup,
                uid,
                cpus,
            },
            mut log,
        ) = ctx.launch(
            Launch {
                limits,
                kind: "warm",
                wall_limit: false,
                zygote: true,
                extra_pids: OVERHEAD_PIDS,
                background,
            },
            [stdin_r, null()?, null()?],
            theirs,
        )?;
        // Dropping `child` kills nsjail (kill_on_drop), and the cgroup removes itself.
        let cgroup = cgroup.ok_or(SandboxError::ZygoteNeedsCgroup)?;
        let nsjail_pid = child.id().map_or(0, |p| p as i32);
        // SAFETY: an OwnedFd's fd is open and is the same fd for as long as the AsyncFd owns it.
        let control =
            unsafe { AsyncFd::register(ours) }.map_err(|e| SandboxError::RegisterFd(e.into()))?;
        let mut zygote = Zygote {
            nsjail: child,
            cgroup,
            control,
            keep: [nsjail_pid, 0],
            max_memory: limits.memory_mib.saturating_mul(1 << 20),
            uid,
            _cpus: cpus,
        };
        let (run_uid, run_gid) = nsjail::run_identity(ctx.profile, zygote.uid.uid());
        let head = protocol::runner_head(&Setup {
            preload: &s.preload,
            zygote: Some(ZygoteSetup {
                tmp_mib: s.tmp_size_mib,
                shm_mib: SHM_MIB,
                uid: run_uid,
                gid: run_gid,
                source: protocol::ZYGOTE,
            }),
        });
        {
            // Dropped after the write: the zygote reads nothing more from its stdin.
            let mut stdin =
                pipe::Sender::from_owned_fd(stdin_w).map_err(SandboxError::RegisterFd)?;
            let _ = stdin.write_all(head.as_bytes()).await;
        }
        let ready = tokio::time::timeout(ZYGOTE_READY_WITHIN, zygote.recv()).await;
        if !matches!(&ready, Ok(Ok(m)) if m == b"ready") {
            let _ = zygote.nsjail.start_kill();
            let nsjail = match zygote.nsjail.wait().await {
                Ok(status) => status.to_string(),
                Err(e) => format!("cannot wait for it: {e}"),
            };
            let log = capture::read_head(&mut log, MAX_LOG_BYTES, DRAIN_TIMEOUT).await;
            let said = match ready {
                Ok(Ok(m)) => String::from_utf8_lossy(&m).into_owned(),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("not ready within {ZYGOTE_READY_WITHIN:?}"),
            };
            zygote.destroy().await;
            return Err(SandboxError::ZygoteNotReady {
                said,
                nsjail,
                log: String::from_utf8_lossy(&log).trim().to_string(),
            });
        }
        let others: Vec<i32> = zygote
            .cgroup
            .members()
            .into_iter()
            .filter(|&p| p != nsjail_pid)
            .collect();
        let [pid] = others[..] else {
            zygote.destroy().await;
            return Err(SandboxError::ZygoteProcesses { found: others });
        };
        // The OOM killer must take the run, not the zygote: each child raises its own score to
        // the maximum (zygote.py). Lowering the zygote's instead would need CAP_SYS_RESOURCE,
        // which a container's root often lacks.
        zygote.keep[1] = pid;
        tokio::spawn(forward_log(log));
        Ok(zygote)
    }

    pub fn is_alive(&mut self) -> bool {
        matches!(self.nsjail.try_wait(), Ok(None))
    }

    /// Has the zygote fork its next child and waits until the child is isolated and ready. The
    /// zygote goes back through `back` once the child's run is over (see `ForkedRun`). On failure
    /// the zygote is destroyed (its slot starts a new one).
    pub async fn fork(
        self,
        back: oneshot::Sender<Zygote>,
    ) -> Result<(ForkedRun, RunPipes), SandboxError> {
        let (mut pipes, theirs) = match RunPipes::create() {
            Ok(pipes) => pipes,
            Err(e) => {
                self.destroy().await;
                return Err(e);
            }
        };
        let fds = [
            &theirs.stdin,
            &theirs.stdout,
            &theirs.stderr,
            &theirs.result,
        ]
        .map(|fd| fd.as_raw_fd());
        let sent = self.send_fork(&fds);
        // The zygote has its own copies now (or never will); ours would keep the pipes open.
        drop(theirs);
        let answer = match sent {
            Ok(()) => tokio::time::timeout(CHILD_READY_WITHIN, self.recv()).await,
            Err(e) => {
                self.destroy().await;
                return Err(SandboxError::SendFork(e));
            }
        };
        let refused = match answer {
            Ok(Ok(m)) if m.starts_with(b"forked ") => None,
            Ok(Ok(m)) => Some(SandboxError::ForkRefused {
                said: String::from_utf8_lossy(&m).into_owned(),
            }),
            Ok(Err(e)) => Some(SandboxError::ForkRefused {
                said: e.to_string(),
            }),
            Err(_) => Some(SandboxError::ForkNoAnswer {
                within: CHILD_READY_WITHIN,
            }),
        };
        if let Some(refused) = refused {
            self.destroy().await;
            return Err(refused);
        }
        if !pipes.read_ready_mark(CHILD_READY_WITHIN).await {
            // The child failed to isolate itself and said why on its stderr (zygote.py).
            self.cgroup.kill_all_except(&self.keep);
            let said =
                capture::read_head(&mut pipes.stderr, MAX_LOG_BYTES, CHILD_WORDS_WITHIN).await;
            self.destroy().await;
            let said = String::from_utf8_lossy(&said).trim().to_string();
            return Err(SandboxError::ChildNotReady {
                said: if said.is_empty() {
                    "the child ended before it was ready, without a word".into()
                } else {
                    said
                },
            });
        }
        let oom_before = self.cgroup.oom_kills();
        let run = ForkedRun {
            zygote: self,
            back,
            oom_before,
            reported: None,
        };
        Ok((run, pipes))
    }

    /// Has the zygote fork a session's child (session.rs): like `fork`, but the child's fd 3 is
    /// a SOCK_SEQPACKET socket the session keeps for its life, over which each cell's own pipes
    /// arrive. Waits until the child is isolated and has sent its ready mark. On failure the
    /// caller destroys the zygote.
    pub async fn fork_session(&self) -> Result<SessionChild, SandboxError> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| SandboxError::CreateControlSocket(e.into()))?;
        set_nonblocking(&ours)?;
        let (stdin_r, stdin_w) = stdin_pipe()?;
        let (stdout_r, stdout_w) = pipe_pair()?;
        let (stderr_r, stderr_w) = pipe_pair()?;
        let fds = [&stdin_r, &stdout_w, &stderr_w, &theirs].map(|fd| fd.as_raw_fd());
        let sent = self.send_fork(&fds);
        // The zygote has its own copies now (or never will).
        drop((stdin_r, stdout_w, stderr_w, theirs));
        sent.map_err(SandboxError::SendFork)?;
        match tokio::time::timeout(CHILD_READY_WITHIN, self.recv()).await {
            Ok(Ok(m)) if m.starts_with(b"forked ") => {}
            Ok(Ok(m)) => {
                return Err(SandboxError::ForkRefused {
                    said: String::from_utf8_lossy(&m).into_owned(),
                })
            }
            Ok(Err(e)) => {
                return Err(SandboxError::ForkRefused {
                    said: e.to_string(),
                })
            }
            Err(_) => {
                return Err(SandboxError::ForkNoAnswer {
                    within: CHILD_READY_WITHIN,
                })
            }
        }
        let stdin = pipe::Sender::from_owned_fd(stdin_w).map_err(SandboxError::RegisterFd)?;
        let stdout = super::process::receiver(stdout_r)?;
        let mut stderr = super::process::receiver(stderr_r)?;
        // SAFETY: an OwnedFd's fd is open and is the same fd for as long as the AsyncFd owns it.
        let socket =
            unsafe { AsyncFd::register(ours) }.map_err(|e| SandboxError::RegisterFd(e.into()))?;
        let mark = tokio::time::timeout(CHILD_READY_WITHIN, recv_from(&socket)).await;
        if !matches!(&mark, Ok(Ok(m)) if m[..] == [super::protocol::READY_MARK]) {
            self.cgroup.kill_all_except(&self.keep);
            let said = capture::read_head(&mut stderr, MAX_LOG_BYTES, CHILD_WORDS_WITHIN).await;
            let said = String::from_utf8_lossy(&said).trim().to_string();
            return Err(SandboxError::ChildNotReady {
                said: if said.is_empty() {
                    "the session's child ended before it was ready, without a word".into()
                } else {
                    said
                },
            });
        }
        // The zygote's only other process now: the child, by its host pid (signals are ours).
        let others: Vec<i32> = self
            .cgroup
            .members()
            .into_iter()
            .filter(|p| !self.keep.contains(p))
            .collect();
        let [pid] = others[..] else {
            return Err(SandboxError::ZygoteProcesses { found: others });
        };
        Ok(SessionChild {
            socket,
            stdin,
            stdout,
            stderr,
            pid,
        })
    }

    pub fn cgroup(&self) -> &RunCgroup {
        &self.cgroup
    }

    /// Host pids of nsjail and of the zygote.
    pub fn keep(&self) -> [i32; 2] {
        self.keep
    }

    /// The zygote's report that its child exited (see `recv_exit`): for a session, which has
    /// only the one child.
    pub async fn child_exit(&self) -> Option<i32> {
        self.recv_exit().await
    }

    /// Kills nsjail (the zygote and any run die with it) and removes the cgroup.
    pub async fn destroy(self) {
        let Zygote {
            mut nsjail, cgroup, ..
        } = self;
        let _ = nsjail.start_kill();
        let _ = nsjail.wait().await;
        let _ = tokio::task::spawn_blocking(move || cgroup.destroy()).await;
    }

    fn send_fork(&self, fds: &[RawFd; 4]) -> std::io::Result<()> {
        send_fds(self.control.as_raw_fd(), b"fork", fds)
    }

    /// The next message from the zygote. An empty one means the zygote is gone.
    async fn recv(&self) -> std::io::Result<Vec<u8>> {
        recv_from(&self.control).await
    }

    /// Waits for the zygote's report that its child exited: the exit code, or 128 + the signal.
    /// `None` when the zygote is gone.
    async fn recv_exit(&self) -> Option<i32> {
        loop {
            let message = self.recv().await.ok()?;
            if message.is_empty() {
                return None;
            }
            if let Some(code) = message.strip_prefix(b"exit ") {
                return std::str::from_utf8(code).ok()?.trim().parse().ok();
            }
            log::warn!(
                "zygote {}: {}",
                self.keep[1],
                String::from_utf8_lossy(&message)
            );
        }
    }

    /// SIGKILL to every process of the run (all of the cgroup but nsjail and the zygote).
    fn kill_run(&self) -> usize {
        self.cgroup.kill_all_except(&self.keep)
    }

    /// Waits until nothing of the run is left in the cgroup. False if that takes too long.
    async fn settle(&self) -> bool {
        let deadline = Instant::now() + SETTLE_WITHIN;
        while self.kill_run() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }
}

/// A run in a child the zygote forked. Its watcher (process::watch) sees it end through the
/// zygote's report, kills what is left of it (all of the cgroup but nsjail and the zygote), then
/// gives the zygote back to its pool slot once nothing of the run is left and its memory limit is
/// reset; or destroys it, if anything went wrong.
pub struct ForkedRun {
    zygote: Zygote,
    back: oneshot::Sender<Zygote>,
    /// The cgroup's OOM kills before the run: the cgroup outlives runs, so a run compares counts.
    oom_before: u64,
    /// The zygote's report on the child, once the watcher has it: the exit code, or `None` when
    /// the zygote is gone.
    reported: Option<Option<i32>>,
}

impl ForkedRun {
    pub fn cgroup(&self) -> &RunCgroup {
        &self.zygote.cgroup
    }

    pub fn is_alive(&mut self) -> bool {
        self.zygote.is_alive()
    }

    /// Kills the zygote, its child with it, and removes their cgroup.
    pub async fn destroy(self) {
        self.zygote.destroy().await;
    }

    fn memory_hit(&self) -> bool {
        self.zygote.cgroup.oom_kills() > self.oom_before
    }
}

impl Watched for ForkedRun {
    async fn ended(&mut self) -> std::io::Result<Ended> {
        let code = self.zygote.recv_exit().await;
        // Whatever of the run outlived its first process (a fork of the script's) goes now,
        // before the response.
        self.zygote.kill_run();
        self.reported = Some(code);
        let killed = ExitStatus::from_raw(nix::libc::SIGKILL);
        let status = code.map_or(killed, |c| ExitStatus::from_raw((c & 0xff) << 8));
        Ok(Ended {
            status,
            memory_hit: self.memory_hit(),
        })
    }

    /// The run is over (its frame is complete, or its deadline or a cap was hit): its exit
    /// status decides nothing now, so the response does not wait for the zygote's report.
    async fn kill(&mut self) -> std::io::Result<Ended> {
        self.zygote.kill_run();
        Ok(Ended {
            status: ExitStatus::from_raw(nix::libc::SIGKILL),
            memory_hit: self.memory_hit(),
        })
    }

    async fn release(self) {
        let ForkedRun {
            mut zygote,
            back,
            reported,
            ..
        } = self;
        let reported = match reported {
            Some(code) => code,
            None => tokio::time::timeout(SETTLE_WITHIN, zygote.recv_exit())
                .await
                .ok()
                .flatten(),
        };
        let reusable = reported.is_some()
            && zygote.settle().await
            && zygote.cgroup.set_memory_limit(zygote.max_memory).is_ok()
            && zygote.is_alive();
        if !reusable {
            log::warn!("a zygote is replaced: its run did not end cleanly");
            return zygote.destroy().await;
        }
        if let Err(zygote) = back.send(zygote) {
            zygote.destroy().await; // its slot is gone: the pool closed
        }
    }
}

/// A session's child, forked and ready: the server's end of its socket (each cell's pipes go over
/// it), the pipes it started with (only its failures before the first cell are read from them),
/// and its host pid, which the server interrupts at a cell's deadline.
pub struct SessionChild {
    pub socket: AsyncFd<OwnedFd>,
    pub stdin: pipe::Sender,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
    pub pid: i32,
}

/// The next message on a SOCK_SEQPACKET socket, at most 256 bytes of it. An empty one means the
/// other end is gone.
pub(super) async fn recv_from(socket: &AsyncFd<OwnedFd>) -> std::io::Result<Vec<u8>> {
    loop {
        let mut guard = socket.readable().await?;
        let mut buf = [0u8; 256];
        let read = guard.try_io(|fd| {
            recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(std::io::Error::from)
        });
        match read {
            Ok(Ok(n)) => return Ok(buf[..n].to_vec()),
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
}

/// Sends `message` with `fds` (SCM_RIGHTS) on a SOCK_SEQPACKET socket, without waiting.
pub(super) fn send_fds(socket: RawFd, message: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
    let iov = [IoSlice::new(message)];
    let rights = [ControlMessage::ScmRights(fds)];
    sendmsg::<()>(socket, &iov, &rights, MsgFlags::MSG_DONTWAIT, None)
        .map(|_| ())
        .map_err(std::io::Error::from)
}

fn set_nonblocking(fd: &OwnedFd) -> Result<(), SandboxError> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| SandboxError::SetNonBlocking(e.into()))?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map(|_| ())
    .map_err(|e| SandboxError::SetNonBlocking(e.into()))
}

/// nsjail's log for a zygote's whole life, to the server's log (it rarely says anything).
async fn forward_log(log: pipe::Receiver) {
    let mut lines = tokio::io::BufReader::new(log.take(1 << 20)).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        log::warn!("zygote nsjail: {line}");
    }
}
