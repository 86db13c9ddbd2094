//! The processes of a jail: nsjail started in the run's own cgroup with the jail's own uid, the four
//! pipes a run speaks on (the same for a spawned and a forked sandbox), and the one watcher that
//! sees a run end, kills what is left of it and cleans up after it.
//!
//! Not here: what a jail is asked to do (jail.rs drives a run), what its bytes mean (protocol.rs,
//! verdict.rs), and nsjail's flags (nsjail.rs builds the argv).

use std::ffi::OsString;
use std::future::Future;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use tokio::net::unix::pipe;
use tokio::process::Child;
use tokio::sync::oneshot;

use super::cpus::{CpuLease, JailCpus};
use super::error::SandboxError;
use super::input::Limits;
use super::limiter::{Limiter, RunCgroup};
use super::nsjail;
use super::protocol::RUNNER_COMMAND;
use super::settings::{Profile, SandboxSettings};
use super::uids::{self, JailUids, UidLease};

/// What starting a jail needs, shared by the cold path, the pool and the zygotes.
#[derive(Debug)]
pub struct JailContext {
    pub settings: SandboxSettings,
    /// The profile used, decided once at start-up (`settings.profile` is only what was asked).
    pub profile: Profile,
    /// Absolute host path of the venv.
    pub venv: PathBuf,
    pub limiter: Limiter,
    /// Each live jail's own outside uid.
    pub uids: JailUids,
    /// The CPUs each live jail runs on, when SANDBOX_MAX_CPUS limits them.
    pub cpus: JailCpus,
    /// The languages offered: enabled, and found in the jail's root.
    pub languages: crate::language::Languages,
}

/// nsjail, running one jail: its process, the run's cgroup and the jail's outside uid. Dropping it
/// kills nsjail (`kill_on_drop`), and the cgroup kills what is left and removes itself.
pub struct Nsjail {
    pub child: Child,
    pub cgroup: Option<RunCgroup>,
    /// Given back once nsjail is reaped and its cgroup killed: no process holds the uid then.
    pub uid: UidLease,
    /// The CPUs it runs on (cpus.rs), counted as held until it is dropped.
    pub cpus: Option<CpuLease>,
}

/// How a jail is started.
pub struct Launch<'a> {
    pub limits: &'a Limits,
    /// "run" for a cold run, "warm" for a pool's sandbox or zygote (the cgroup's name says so).
    pub kind: &'static str,
    /// Whether nsjail enforces the wall-time limit (see `nsjail::JailSpec::wall_limit`).
    pub wall_limit: bool,
    /// A fork-mode zygote (see `nsjail::JailSpec::zygote`).
    pub zygote: bool,
    /// Processes the cgroup holds besides a cold jail's (nsjail and the runner).
    pub extra_pids: u64,
    /// A session's jail: at the low CPU weight below every run's (limiter.rs).
    pub background: bool,
}

impl JailContext {
    /// Starts nsjail with the runner, in a cgroup of its own and with a uid of its own, with
    /// `stdio` as its stdin, stdout and stderr and `fd3` on the jail's fd 3. Returns it and the read
    /// end of nsjail's log.
    pub fn launch(
        &self,
        how: Launch,
        stdio: [OwnedFd; 3],
        fd3: OwnedFd,
    ) -> Result<(Nsjail, pipe::Receiver), SandboxError> {
        let s = &self.settings;
        // The cgroup first: the child joins it between fork and exec, so it must exist by then.
        let cgroup = self.limiter.create_run(
            how.kind,
            how.limits.memory_mib.saturating_mul(1 << 20),
            s.max_pids.saturating_add(how.extra_pids),
            how.background,
        )?;
        let uid = self
            .uids
            .lease()
            .ok_or(SandboxError::NoJailUid(uids::capacity(
                s.slots,
                s.pool_size,
                s.sessions_max,
            )))?;
        let argv = nsjail::args(&nsjail::JailSpec {
            settings: s,
            profile: self.profile,
            venv: &self.venv,
            limits: how.limits,
            cgroup_limits: cgroup.is_some(),
            wall_limit: how.wall_limit,
            command: &RUNNER_COMMAND,
            zygote: how.zygote,
            uid: uid.uid(),
        });
        let cpus = self.cpus.lease();
        let mask = cpus.as_ref().map(CpuLease::set);
        let (child, log) = spawn_nsjail(s, argv, cgroup.as_ref(), mask, stdio, fd3)?;
        Ok((
            Nsjail {
                child,
                cgroup,
                uid,
                cpus,
            },
            log,
        ))
    }
}

/// The server's ends of a run's four pipes: the script's stdin, stdout and stderr, and the result
/// channel. A spawned jail and a forked one speak on the same four.
pub struct RunPipes {
    pub stdin: pipe::Sender,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
    pub result: pipe::Receiver,
}

/// The jail's ends of the same pipes: its fds 0, 1, 2 and 3. Ours must be closed once the jail
/// holds its copies, or the readers would never see EOF.
pub struct JailEnds {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub result: OwnedFd,
}

impl RunPipes {
    /// Makes the four pipes, the server's ends registered with the current runtime (the one whose
    /// tasks will read them).
    pub fn create() -> Result<(RunPipes, JailEnds), SandboxError> {
        let (stdin_r, stdin_w) = stdin_pipe()?;
        let (stdout_r, stdout_w) = pipe_pair()?;
        let (stderr_r, stderr_w) = pipe_pair()?;
        let (result_r, result_w) = pipe_pair()?;
        let pipes = RunPipes {
            stdin: pipe::Sender::from_owned_fd(stdin_w).map_err(SandboxError::RegisterFd)?,
            stdout: receiver(stdout_r)?,
            stderr: receiver(stderr_r)?,
            result: receiver(result_r)?,
        };
        let jail = JailEnds {
            stdin: stdin_r,
            stdout: stdout_w,
            stderr: stderr_w,
            result: result_w,
        };
        Ok((pipes, jail))
    }

    /// Waits (at most `within`) for the runner's ready mark: its imports are done, and no user
    /// code has run yet. False if anything else comes, or nothing.
    pub async fn read_ready_mark(&mut self, within: std::time::Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let mut mark = [0u8; 1];
        let read = tokio::time::timeout(within, self.result.read_exact(&mut mark)).await;
        matches!(read, Ok(Ok(_)) if mark[0] == super::protocol::READY_MARK)
    }
}

pub fn pipe_pair() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SandboxError::CreatePipe(e.into()))
}

/// The pipe for a jail's stdin, with room for the runner's head (protocol::HEAD_PIPE_BYTES), so
/// that writing it never waits for the runner. Best effort: should the kernel refuse the size
/// (its pipe-max-size is 1 MiB by default), the write waits until the runner reads it, which is
/// the first thing the runner does.
pub fn stdin_pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    use nix::fcntl::{fcntl, FcntlArg};
    let (read, write) = pipe_pair()?;
    let _ = fcntl(
        &write,
        FcntlArg::F_SETPIPE_SZ(super::protocol::HEAD_PIPE_BYTES),
    );
    Ok((read, write))
}

pub fn receiver(fd: OwnedFd) -> Result<pipe::Receiver, SandboxError> {
    pipe::Receiver::from_owned_fd(fd).map_err(SandboxError::RegisterFd)
}

/// Spawns nsjail with `argv`, joined to `cgroup` before exec, with `stdio` as its stdin, stdout
/// and stderr and `fd3` on the jail's fd 3. Returns the child and the read end of nsjail's log.
pub(super) fn spawn_nsjail(
    s: &SandboxSettings,
    argv: Vec<OsString>,
    cgroup: Option<&RunCgroup>,
    cpus: Option<nix::sched::CpuSet>,
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
    // SAFETY: the closure runs in the forked child before exec. `prepare_child` only makes
    // async-signal-safe system calls (prctl, getppid, sched_setaffinity, write, fcntl, dup2) on
    // fds opened before the fork, reads memory allocated before the fork (`attach`, `child_fds`;
    // `cpus` is a plain bit mask, copied in), and allocates nothing, on its error paths included
    // (its errors are raw errnos).
    unsafe {
        cmd.pre_exec(move || prepare_child(server_pid, &attach, cpus.as_ref(), &child_fds));
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

/// Runs in the forked child before exec: ties nsjail's life to the server's, joins the run's
/// cgroup, then puts the result and log pipes on their fixed fds. Every error is a raw errno, so
/// that no path of it allocates (see the SAFETY note at its call).
fn prepare_child(
    server: nix::unistd::Pid,
    attach: &[RawFd],
    cpus: Option<&nix::sched::CpuSet>,
    fds: &[(RawFd, RawFd); 2],
) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg};
    use std::os::fd::BorrowedFd;
    let errno = |e: nix::errno::Errno| std::io::Error::from_raw_os_error(e as i32);
    // If the server dies without killing it (SIGKILL, a crash), nsjail dies too, and the jail with
    // it. The signal follows the forking *thread*: jails are spawned from the server's long-lived
    // runtime threads, never from a transient blocking-pool thread.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(errno)?;
    // The server may have died between the fork and the prctl: then the signal never comes.
    if nix::unistd::getppid() != server {
        return Err(errno(nix::errno::Errno::ESRCH));
    }
    // The jail's CPUs (cpus.rs): nsjail's --max_cpus then chooses among exactly these.
    if let Some(cpus) = cpus {
        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), cpus).map_err(errno)?;
    }
    for &fd in attach {
        // SAFETY: the fd was opened by the parent before the fork and stays open until exec.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        // "0" means the writing process itself, in cgroup v1 and v2.
        nix::unistd::write(fd, b"0").map_err(errno)?;
    }
    // The sources move above the targets first, so that a source that happens to be fd 3 or 4 is
    // not clobbered by the other's dup2.
    let mut moved = [0; 2];
    for (i, &(src, _)) in fds.iter().enumerate() {
        // SAFETY: as above.
        let src = unsafe { BorrowedFd::borrow_raw(src) };
        // Close-on-exec, so that nsjail keeps no extra write end of the pipes.
        moved[i] = fcntl(src, FcntlArg::F_DUPFD_CLOEXEC(10)).map_err(errno)?;
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

/// How a run's processes ended.
pub struct Ended {
    /// nsjail's exit status, or the zygote's report on its child in the same form.
    pub status: ExitStatus,
    /// Whether the kernel's OOM killer acted during the run.
    pub memory_hit: bool,
}

/// A run's processes as the watcher sees them: nsjail with its runner, or a zygote's child.
pub trait Watched: Send + 'static {
    /// Waits for the run to end by itself, sends SIGKILL to whatever of it is left, and says how
    /// it ended. Cancel safe: the watcher drops it when the run is to be killed instead.
    fn ended(&mut self) -> impl Future<Output = std::io::Result<Ended>> + Send;
    /// Ends the run now: SIGKILL to every process of it. Says how it ended.
    fn kill(&mut self) -> impl Future<Output = std::io::Result<Ended>> + Send;
    /// What comes after the end is reported, off the response's path: removing the cgroup and
    /// giving the uid back, or readying a zygote for its next run.
    fn release(self) -> impl Future<Output = ()> + Send;
}

/// What a run's watcher gives the run: a sender that kills the run when it is dropped or sent on,
/// and the receiver of how it ended.
pub type Watch = (
    oneshot::Sender<()>,
    oneshot::Receiver<std::io::Result<Ended>>,
);

/// Watches a run on its home runtime (where its pipes and its exit are registered). Dropping (or
/// sending on) the returned sender kills the run; the receiver gets how it ended, once every
/// process of the run has been sent SIGKILL. Only then is the rest cleaned up.
pub fn watch<W: Watched>(home: &tokio::runtime::Handle, mut run: W) -> Watch {
    let (kill_tx, kill_rx) = oneshot::channel::<()>();
    let (exit_tx, exit_rx) = oneshot::channel();
    home.spawn(async move {
        let ended = tokio::select! {
            ended = run.ended() => ended,
            _ = kill_rx => run.kill().await,
        };
        let _ = exit_tx.send(ended);
        run.release().await;
    });
    (kill_tx, exit_rx)
}

impl Nsjail {
    /// How nsjail's wait ended, once the run's cgroup has been sent SIGKILL: none of the run's
    /// processes can execute another instruction of user code after this. (The kernel's teardown
    /// of them takes 5 to 30 ms, which the response does not wait for.)
    fn report(&self, status: std::io::Result<ExitStatus>) -> std::io::Result<Ended> {
        let memory_hit = self.cgroup.as_ref().is_some_and(RunCgroup::oom_killed);
        if let Some(cgroup) = &self.cgroup {
            cgroup.kill_all();
        }
        status.map(|status| Ended { status, memory_hit })
    }

    /// Kills nsjail and waits for it, then removes the cgroup and waits for that too.
    pub async fn destroy(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        if let Some(cgroup) = self.cgroup.take() {
            let _ = tokio::task::spawn_blocking(move || cgroup.destroy()).await;
        }
    }
}

impl Watched for Nsjail {
    async fn ended(&mut self) -> std::io::Result<Ended> {
        let status = self.child.wait().await;
        self.report(status)
    }

    /// SIGKILL to nsjail, whose child dies with it (PR_SET_PDEATHSIG), and with the jail's pid 1
    /// the whole pid namespace; then to the rest of the cgroup.
    async fn kill(&mut self) -> std::io::Result<Ended> {
        let _ = self.child.start_kill();
        let status = self.child.wait().await;
        self.report(status)
    }

    async fn release(self) {
        let Nsjail {
            cgroup, uid, cpus, ..
        } = self;
        if let Some(cgroup) = cgroup {
            tokio::task::spawn_blocking(move || cgroup.destroy());
        }
        // nsjail reaped means the jail's pid 1 is gone, and with it every process of its pid
        // namespace (and the cgroup's were killed): no process holds this uid, nor these CPUs.
        drop(uid);
        drop(cpus);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jails_stdin_pipe_has_room_for_the_runners_head() {
        use nix::fcntl::{fcntl, FcntlArg};
        let (_read, write) = stdin_pipe().unwrap();
        let size = fcntl(&write, FcntlArg::F_GETPIPE_SZ).unwrap();
        assert!(size >= super::super::protocol::HEAD_PIPE_BYTES, "{size}");
    }
}
