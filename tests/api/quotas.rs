//! Per-user kernel budgets (issue 11, part 1). A run grabs every per-user budget it can reach and
//! holds it; meanwhile host root (this test process) and a concurrent run must still get theirs.
//! Since Linux 5.11 the kernel charges inotify instances, queued signals and message queues to
//! every user up the user-namespace chain, so a jail's count lands on host root, who owns its
//! namespace; and budgets kept per outside uid (pipe pages, fds in flight) were shared by every
//! run. The test watches the host and another run, not the hog's response.

use std::time::{Duration, Instant};

use nix::libc;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};
use crate::stream::{open, take_events};

/// Grabs all it can of each budget, says so on stdout, then holds it for HOLD_SECS.
const HOG: &str = r#"
import ctypes, fcntl, json, os, signal, socket, threading, time
libc = ctypes.CDLL(None, use_errno=True)
HOLD_SECS = 20

def pipes_child():
    # Pipe buffer pages count per outside uid (fs.pipe-user-pages-soft): a child of its own holds
    # them, for the fds they take.
    r, w = os.pipe()
    if os.fork() == 0:
        keep, pages = [], 0
        for _ in range(100):
            p = os.pipe()
            keep.append(p)
            try:
                fcntl.fcntl(p[1], fcntl.F_SETPIPE_SZ, 1 << 20)
            except OSError:
                break
            pages += 256
        os.write(w, b"%d\n" % pages)
        time.sleep(HOLD_SECS + 30)
        os._exit(0)
    return int(os.read(r, 64))

def main():
    got = {"pipe_pages": pipes_child()}
    held = []
    n = 0
    while n < 130 and libc.inotify_init1(0) >= 0:
        n += 1
    got["inotify"] = n
    n = 0
    while n < 16 and libc.mq_open(b"/hog-%d" % n, os.O_CREAT | os.O_RDWR, 0o600, None) >= 0:
        n += 1
    got["mqueues"] = n
    ctx = ctypes.c_ulong(0)
    got["aio_events"] = 65536 if libc.syscall(206, 65536, ctypes.byref(ctx)) == 0 else 0
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN])
    me, n = threading.get_ident(), 0
    try:
        while n < 120000:
            signal.pthread_kill(me, signal.SIGRTMIN)
            n += 1
    except OSError:
        pass
    got["queued_signals"] = n
    timer, n = ctypes.c_void_p(), 0
    while n < 1000 and libc.timer_create(1, None, ctypes.byref(timer)) == 0:
        n += 1
    got["timers"] = n
    # File descriptors in flight on a unix socket count per outside uid.
    a, b = socket.socketpair()
    a.setblocking(False)
    n = 0
    try:
        while n < 4000:
            socket.send_fds(a, [b"x"], [0] * 200)
            n += 200
    except OSError:
        pass
    got["fds_in_flight"] = n
    print("holding " + json.dumps(got), flush=True)
    time.sleep(HOLD_SECS)
    return got
"#;

/// What a script may ordinarily do with those budgets: a few queued signals, a timer, fds passed
/// to a child, a pipe of the usual size that can grow, an epoll set.
const NEIGHBOUR: &str = r#"
import ctypes, fcntl, os, select, signal, socket, threading
libc = ctypes.CDLL(None, use_errno=True)

def main():
    failed = []
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN])
    try:
        for _ in range(4):
            signal.pthread_kill(threading.get_ident(), signal.SIGRTMIN)
    except OSError as e:
        failed.append("queue a real-time signal: %s" % e)
    timer = ctypes.c_void_p()
    if libc.timer_create(1, None, ctypes.byref(timer)) != 0:
        failed.append("timer_create: %s" % os.strerror(ctypes.get_errno()))
    a, b = socket.socketpair()
    try:
        socket.send_fds(a, [b"x"], [0, 1, 2] * 3)
    except OSError as e:
        failed.append("pass fds: %s" % e)
    r, w = os.pipe()
    if fcntl.fcntl(w, fcntl.F_GETPIPE_SZ) != 65536:
        failed.append("a new pipe holds %d bytes" % fcntl.fcntl(w, fcntl.F_GETPIPE_SZ))
    try:
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20)
    except OSError as e:
        failed.append("grow a pipe: %s" % e)
    ep = select.epoll()
    ep.register(r, select.EPOLLIN)
    return failed or "ok"
"#;

/// Host root's own calls on the budgets a run could reach: each must succeed.
fn host_root_calls() -> Vec<String> {
    let mut failed = Vec::new();
    let errno = || std::io::Error::last_os_error();
    // SAFETY: inotify_init1 takes flags only; the fd it returns is ours and closed here.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        failed.push(format!("inotify_init1: {}", errno()));
    } else {
        // SAFETY: fd was just returned to us and is closed once.
        unsafe { libc::close(fd) };
    }
    let mut timer: libc::timer_t = std::ptr::null_mut();
    // SAFETY: a null sigevent means SIGALRM on expiry (the timer is never armed); `timer` is a
    // valid place for the id, which is deleted here.
    if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, std::ptr::null_mut(), &mut timer) } != 0 {
        failed.push(format!("timer_create: {}", errno()));
    } else {
        // SAFETY: the id timer_create just gave us, deleted once.
        unsafe { libc::timer_delete(timer) };
    }
    let name = format!("/psa-quota-test-{}\0", std::process::id());
    let attr: *const libc::mq_attr = std::ptr::null();
    // SAFETY: a NUL-terminated name; a null attr asks for the defaults (10 messages of 8 KiB).
    let mq = unsafe {
        libc::mq_open(
            name.as_ptr().cast(),
            libc::O_CREAT | libc::O_RDWR | libc::O_CLOEXEC,
            0o600 as libc::mode_t,
            attr,
        )
    };
    if mq < 0 {
        failed.push(format!("mq_open: {}", errno()));
    } else {
        // SAFETY: the queue descriptor and name just used, released once.
        unsafe {
            libc::mq_close(mq);
            libc::mq_unlink(name.as_ptr().cast());
        }
    }
    let mut ctx: libc::c_ulong = 0;
    // SAFETY: io_setup writes the context id into `ctx`; it is destroyed right after.
    if unsafe { libc::syscall(libc::SYS_io_setup, 128, &mut ctx) } != 0 {
        failed.push(format!("io_setup(128): {}", errno()));
    } else {
        // SAFETY: the context io_setup just created.
        unsafe { libc::syscall(libc::SYS_io_destroy, ctx) };
    }
    failed
}

/// Starts the hog on /execute/stream and returns once it says it holds what it could grab, with
/// what it grabbed and a task that finishes (with the final event) when its run is over.
async fn start_hog(app: &TestApp) -> (Value, tokio::task::JoinHandle<Value>) {
    let mut response = open(
        app,
        &json!({ "script": HOG, "timeout": 60 }),
        Some("application/x-ndjson"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut buffer = Vec::new();
    let mut stdout = String::new();
    let grabbed = loop {
        assert!(Instant::now() < deadline, "the hog never said it holds");
        let chunk = response.chunk().await.expect("body read");
        let Some(chunk) = chunk else {
            panic!("the hog ended before it held anything: {stdout}")
        };
        buffer.extend_from_slice(&chunk);
        for event in take_events(&mut buffer, true, Instant::now()) {
            assert_ne!(event.kind, "result", "the hog ended early: {}", event.data);
            if event.kind == "stdout" {
                stdout.push_str(event.data["data"].as_str().unwrap_or_default());
            }
        }
        if let Some(line) = stdout.lines().find(|l| l.starts_with("holding ")) {
            break serde_json::from_str::<Value>(&line["holding ".len()..]).expect("hog's JSON");
        }
    };
    let rest = tokio::spawn(async move {
        let mut last = Value::Null;
        while let Ok(Some(chunk)) = response.chunk().await {
            buffer.extend_from_slice(&chunk);
            for event in take_events(&mut buffer, true, Instant::now()) {
                if event.kind == "result" {
                    last = event.data;
                }
            }
        }
        last
    });
    (grabbed, rest)
}

/// Host root keeps its inotify instances, queued signals (timer_create), message queues and AIO
/// events, and a concurrent run its queued signals, timers, fds in flight and pipe pages, while
/// a run holds all of each that it can get.
#[tokio::test]
async fn a_run_cannot_exhaust_host_roots_or_another_runs_per_user_budgets() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test watches host root's own budgets and must run as root (so must nsjail)"
    );
    let app = spawn_app_with(|s| {
        s.sandbox.slots = 2;
        s.sandbox.pool_size = 2;
    })
    .await;
    let before = host_root_calls();
    assert!(
        before.is_empty(),
        "host root's calls fail before any run: {before:?}"
    );

    let (grabbed, hog) = start_hog(&app).await;
    eprintln!("the hog holds {grabbed}");
    let host = tokio::task::spawn_blocking(host_root_calls).await.unwrap();
    let (status, neighbour) = app.run(NEIGHBOUR).await;
    assert!(
        !hog.is_finished(),
        "the hog let go before the checks were done (a very slow host?): cannot conclude"
    );
    assert_eq!(status, 200, "{neighbour}");
    assert!(
        host.is_empty() && neighbour["result"] == "ok",
        "while a run held {grabbed}, host root's own calls failed: {host:?}, \
         and a concurrent run got: {}",
        neighbour["result"]
    );

    // The hog got only its own share: what the sandbox refuses, it got none of.
    for refused in ["inotify", "mqueues", "aio_events"] {
        assert_eq!(grabbed[refused], 0, "{refused}: {grabbed}");
    }
    assert!(
        grabbed["queued_signals"].as_u64().unwrap() + grabbed["timers"].as_u64().unwrap() <= 16,
        "RLIMIT_SIGPENDING: {grabbed}"
    );
    let end = tokio::time::timeout(Duration::from_secs(60), hog)
        .await
        .expect("the hog's run ends")
        .unwrap();
    assert_eq!(end["success"], true, "{end}");
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}
