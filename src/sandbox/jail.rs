//! One jail and the driver of the one run it serves.
//!
//! A jail is nsjail with the runner inside (spawned cold for a request, or warm ahead of one by the
//! pool), or, in fork mode, a child a zygote forked (zygote.rs). Either way the run speaks on the
//! same four pipes (`RunPipes`) and its end is seen by the same watcher (process.rs); only who holds
//! its processes differs (`Keeper`). `execute` sends the script, reads what comes back while it
//! enforces the deadline, ends the run and hands what it saw to `verdict::classify`.
//!
//! Not here: starting processes and watching them (process.rs), reading pipes (capture.rs), the
//! wire format (protocol.rs), deciding what happened (verdict.rs).

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use super::capture::{self, Forward, DRAIN_TIMEOUT, MAX_LOG_BYTES};
use super::error::SandboxError;
use super::input::{Limits, RunInput};
use super::limiter::RunCgroup;
use super::outcome::{Outcome, OutputSender, OutputStream};
use super::process::{self, JailContext, Launch, Nsjail, RunPipes};
use super::protocol::{self, Setup};
use super::verdict::{self, Observed};
use super::zygote::ForkedRun;
use crate::script::PythonScript;

/// A cold run's deadline allows for nsjail's and Python's start, which a warm run has behind it.
const COLD_START: Duration = Duration::from_millis(500);

pub struct Jail {
    keeper: Keeper,
    /// The runtime the jail was started on: its pipes and its exit are registered with that
    /// runtime's driver, so the tasks that watch them run there (a warm jail is started by the
    /// pool's task and used by a request on another runtime; watching across runtimes is slow).
    home: tokio::runtime::Handle,
    pipes: RunPipes,
    /// Whether the ready mark has been read already (a warm jail's).
    ready: bool,
}

/// Who holds the jail's processes, and so how its end is seen and how it is cleaned up.
enum Keeper {
    /// nsjail with one runner inside, in the run's own cgroup.
    Nsjail {
        nsjail: Nsjail,
        log: pipe::Receiver,
        /// Whether nsjail enforces the wall-time limit (cold) or only the server does (warm:
        /// the limit is unknown when the jail starts).
        timed: bool,
    },
    /// A child forked by a zygote, in the zygote's cgroup.
    Forked(ForkedRun),
}

impl Jail {
    /// Starts nsjail with the runner for a cold run, timed by nsjail too. `limits` sizes the
    /// cgroup and nsjail's limits.
    pub async fn spawn(ctx: &JailContext, limits: &Limits) -> Result<Jail, SandboxError> {
        let (nsjail, log, pipes) = start(ctx, limits, &[], true).await?;
        Ok(Jail::new(
            Keeper::Nsjail {
                nsjail,
                log,
                timed: true,
            },
            pipes,
            false,
        ))
    }

    /// Starts a warm jail that imports `preload` and waits until it is ready (its ready mark
    /// read). It gets the largest limits; `set_memory_limit` narrows it to a request's.
    pub async fn spawn_warm(
        ctx: &JailContext,
        limits: &Limits,
        preload: &[String],
        within: Duration,
    ) -> Result<Jail, SandboxError> {
        let (mut nsjail, mut log, mut pipes) = start(ctx, limits, preload, false).await?;
        if pipes.read_ready_mark(within).await {
            let keeper = Keeper::Nsjail {
                nsjail,
                log,
                timed: false,
            };
            return Ok(Jail::new(keeper, pipes, true));
        }
        let _ = nsjail.child.start_kill();
        let status = nsjail
            .child
            .wait()
            .await
            .map_err(SandboxError::WaitNsjail)?;
        let log = capture::read_head(&mut log, MAX_LOG_BYTES, DRAIN_TIMEOUT).await;
        Err(verdict::jail_setup_error(status, &log, ctx.profile))
    }

    fn new(keeper: Keeper, pipes: RunPipes, ready: bool) -> Jail {
        Jail {
            keeper,
            home: tokio::runtime::Handle::current(),
            pipes,
            ready,
        }
    }

    /// A child a zygote forked, ready (its mark read) and waiting for its script.
    pub fn forked(run: ForkedRun, pipes: RunPipes) -> Jail {
        Jail::new(Keeper::Forked(run), pipes, true)
    }

    /// Kills the jail and removes its cgroup (a zygote's with it), waiting for all of it.
    pub async fn discard(self) {
        match self.keeper {
            Keeper::Nsjail { nsjail, .. } => nsjail.destroy().await,
            Keeper::Forked(run) => run.destroy().await,
        }
    }

    /// Whether the jail is still alive (a warm jail may have died while it waited).
    pub fn is_alive(&mut self) -> bool {
        match &mut self.keeper {
            Keeper::Nsjail { nsjail, .. } => matches!(nsjail.child.try_wait(), Ok(None)),
            Keeper::Forked(run) => run.is_alive(),
        }
    }

    fn cgroup(&self) -> Option<&RunCgroup> {
        match &self.keeper {
            Keeper::Nsjail { nsjail, .. } => nsjail.cgroup.as_ref(),
            Keeper::Forked(run) => Some(run.cgroup()),
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
    /// are also copied there as they are read (see `capture::Forward`).
    pub async fn execute(
        self,
        ctx: &JailContext,
        script: &PythonScript,
        input: &RunInput,
        limits: Limits,
        output: Option<OutputSender>,
    ) -> Result<Outcome, SandboxError> {
        let (s, profile) = (&ctx.settings, ctx.profile);
        let started = Instant::now();
        let Jail {
            keeper,
            home,
            pipes,
            ready,
        } = self;
        let request = protocol::request_line(s, &ctx.languages, script, input, &limits);
        let mut stdin = pipes.stdin;
        home.spawn(async move {
            // A failed write means the jail is already gone; the outcome will say why.
            let _ = stdin.write_all(request.as_bytes()).await;
        });

        // The readers first, then the watcher: nothing the run writes may find its pipe unread.
        let (overflow_tx, mut overflow_rx) = mpsc::channel::<()>(3);
        let (frame_tx, frame_rx) = tokio::sync::oneshot::channel::<()>();
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
        // The readers hold the only senders: the observer sees the channel close once they end.
        drop(output);
        let result = capture::spawn_result_reader(
            &home,
            pipes.result,
            !ready,
            protocol::frame_cap(s),
            overflow_tx,
            frame_tx,
        );
        let (log, (kill, mut exit), cold) = match keeper {
            Keeper::Nsjail { nsjail, log, timed } => (
                Some(capture::spawn_reader(&home, log, MAX_LOG_BYTES, None, None)),
                process::watch(&home, nsjail),
                timed,
            ),
            Keeper::Forked(run) => (None, process::watch(&home, run), false),
        };

        // The server's deadline is what times a run. A warm jail's counts from now; a cold one's
        // allows for the jail's start. (nsjail's own limit, for cold jails, is a later backstop.)
        let deadline = if cold {
            started + limits.timeout + COLD_START
        } else {
            started + limits.timeout
        };
        let mut deadline_hit = false;
        let ended = tokio::select! {
            ended = &mut exit => Some(ended),
            _ = tokio::time::sleep_until(deadline.into()) => { deadline_hit = true; None }
            Some(()) = overflow_rx.recv() => None,
            // The result is complete: what is left (the runner's _exit, nsjail's teardown) is
            // not worth waiting for.
            Ok(()) = frame_rx => None,
        };
        let ended = match ended {
            Some(ended) => ended,
            None => {
                drop(kill);
                exit.await
            }
        };
        // The watcher has sent SIGKILL to anything of the run that was still alive.
        let ended = ended
            .map_err(|_| SandboxError::WatcherGone)?
            .map_err(SandboxError::WaitNsjail)?;
        let duration = started.elapsed();

        let (stdout, stdout_over) = capture::drain(stdout).await;
        let (stderr, stderr_over) = capture::drain(stderr).await;
        let (result, result_over) = capture::drain(result).await;
        let log = match log {
            Some(log) => capture::drain(log).await.0,
            None => Vec::new(),
        };
        let (status, usage) = verdict::classify(
            Observed {
                stdout_over,
                stderr_over,
                result: &result,
                result_over,
                was_ready: ready,
                ended,
                deadline_hit,
                duration,
                log: &log,
            },
            s,
            profile,
            &limits,
        )?;
        Ok(Outcome {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            duration,
            usage,
        })
    }
}

/// Starts nsjail with the runner and sends it its head: the runner's source, then `preload`.
async fn start(
    ctx: &JailContext,
    limits: &Limits,
    preload: &[String],
    timed: bool,
) -> Result<(Nsjail, pipe::Receiver, RunPipes), SandboxError> {
    let (mut pipes, theirs) = RunPipes::create()?;
    let (nsjail, log) = ctx.launch(
        Launch {
            limits,
            kind: if timed { "run" } else { "warm" },
            wall_limit: timed,
            zygote: false,
            extra_pids: 0,
            background: false,
        },
        [theirs.stdin, theirs.stdout, theirs.stderr],
        theirs.result,
    )?;
    // A jail that died already shows up when it is used.
    let head = protocol::runner_head(&Setup {
        preload,
        zygote: None,
    });
    let _ = pipes.stdin.write_all(head.as_bytes()).await;
    Ok((nsjail, log, pipes))
}
