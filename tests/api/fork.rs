//! Fork mode (issue 6, part 3; under the container profile, issue 13): every run is a fresh fork of
//! a zygote, isolated before user code runs. These tests pin what must hold between runs of the
//! same zygote and between concurrent runs of different zygotes, under the profile being tested:
//! `make test` runs them under both. Under the container profile the zygote is root of the
//! container and each child drops to the jail's own uid, so the identity a run must have differs
//! (`run_identity`); everything else must hold alike.

use std::time::{Duration, Instant};

use python_script_api::sandbox::PoolMode;
use serde_json::{json, Value};

use crate::helpers::{product_preload, spawn_app_with, TestApp};
use crate::pool::{pool_counter, wait_ready};

pub(crate) async fn fork_app(size: usize) -> TestApp {
    let app = spawn_app_with(|s| {
        s.sandbox.pool_size = size;
        s.sandbox.pool_mode = Some(PoolMode::Fork);
        s.sandbox.preload = product_preload();
    })
    .await;
    let (_, health) = app.health().await;
    assert_eq!(health["pool_mode"], "fork", "{health}");
    wait_ready(&app, size).await;
    app
}

/// The uid a forked run must have under the profile the server uses, and the range of uids a
/// jail may have on the host (the default `SANDBOX_UID_BASE` and its capacity).
async fn expected_uid(app: &TestApp, uid: u64) -> bool {
    let (_, health) = app.health().await;
    match health["profile"].as_str() {
        Some("standard") => uid == 65534,
        Some("container") => (60000..65534).contains(&uid),
        other => panic!("unknown profile {other:?}: {health}"),
    }
}

/// Runs `script` (which must return a value) on a forked sandbox, and checks that it was one.
pub(crate) async fn run_forked(app: &TestApp, body: Value) -> Value {
    wait_ready(app, 1).await;
    let hits = pool_counter(app, "psa_pool_hits_total").await;
    let (status, response) = app.execute(body).await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(
        pool_counter(app, "psa_pool_hits_total").await,
        hits + 1,
        "the run did not take a forked sandbox"
    );
    response["result"].clone()
}

#[tokio::test]
async fn forked_runs_hold_no_privilege() {
    let app = fork_app(1).await;
    let script = r#"
import ctypes, os
def main():
    status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
    libc = ctypes.CDLL(None, use_errno=True)
    def errno(ret):
        return ctypes.get_errno() if ret != 0 else 0
    return {
        "caps": {k: status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
        "no_new_privs": status["NoNewPrivs"].strip(),
        "filters": int(status["Seccomp_filters"]),
        "pid": os.getpid(), "ppid": os.getppid(),
        "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "ids": [status[k].split() for k in ("Uid", "Gid")],
        "groups": status["Groups"].split(),
        "uid": os.getuid(),
        "unshare_user": errno(libc.unshare(0x10000000)),
        "unshare_net": errno(libc.unshare(0x40000000)),
        "mount": errno(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
        "setns": errno(libc.setns(0, 0)),
        "interfaces": sorted(os.listdir("/sys/class/net")) if os.path.exists("/sys/class/net") else None,
        "oom_score_adj": open("/proc/self/oom_score_adj").read().strip(),
    }
"#;
    let r = run_forked(&app, json!({ "script": script })).await;
    for (cap, value) in r["caps"].as_object().unwrap() {
        assert_eq!(value, "0000000000000000", "{cap}: {r}");
    }
    assert_eq!(r["no_new_privs"], "1", "{r}");
    assert!(r["filters"].as_u64().unwrap() >= 2, "{r}");
    // pid 1 of its own pid namespace: neither the zygote nor any other run is visible.
    assert_eq!(r["pid"], 1, "{r}");
    assert_eq!(r["ppid"], 0, "{r}");
    assert_eq!(r["procs"], json!([1]), "{r}");
    let uid = r["uid"].as_u64().unwrap();
    assert!(expected_uid(&app, uid).await, "{r}");
    let (uid, gid) = (uid.to_string(), "65534".to_string());
    assert_eq!(
        r["ids"],
        json!([[&uid, &uid, &uid, &uid], [&gid, &gid, &gid, &gid]]),
        "{r}"
    );
    assert_eq!(r["groups"], json!([]), "{r}");
    for call in ["unshare_user", "unshare_net", "mount", "setns"] {
        assert_eq!(r[call], 1, "{call} must fail with EPERM: {r}");
    }
    assert_eq!(r["oom_score_adj"], "1000", "{r}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn nothing_of_one_forked_run_reaches_the_next() {
    let app = fork_app(1).await;
    // Files, shared memory, a SysV segment, an abstract socket and a background process: each
    // would outlive its run if the next one shared the first one's namespaces or tmpfs.
    let leave = r#"
import ctypes, os, socket, subprocess, sys
def main():
    open("/tmp/left", "w").write("secret")
    open("/dev/shm/left", "w").write("secret")
    libc = ctypes.CDLL(None, use_errno=True)
    shm = libc.shmget(0x5053, 4096, 0o1666)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0psa-fork-leak")
    s.listen()
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    return {"shm": shm >= 0, "random": __import__("random").random()}
"#;
    let look = r#"
import ctypes, os, random, socket
import numpy
def main():
    libc = ctypes.CDLL(None, use_errno=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect("\0psa-fork-leak")
        abstract = "connected"
    except OSError as e:
        abstract = e.errno
    return {
        "tmp": os.listdir("/tmp"), "shm": os.listdir("/dev/shm"),
        "sysv": libc.shmget(0x5053, 4096, 0o666), "abstract": abstract,
        "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "random": random.random(), "numpy_random": float(numpy.random.rand()),
    }
"#;
    let left = run_forked(&app, json!({ "script": leave })).await;
    assert_eq!(left["shm"], true, "{left}");
    let first = run_forked(&app, json!({ "script": look })).await;
    let second = run_forked(&app, json!({ "script": look })).await;
    for r in [&first, &second] {
        // Only what the runner makes for every run: output/ (matplotlib's config dir is not made:
        // the preloaded matplotlib read its font list in the zygote).
        assert_eq!(r["tmp"], json!(["output"]), "{r}");
        assert_eq!(r["shm"], json!([]), "{r}");
        assert_eq!(r["sysv"], -1, "a SysV segment survived: {r}");
        assert_eq!(r["abstract"], 111, "ECONNREFUSED expected: {r}");
        assert_eq!(r["procs"], json!([1]), "{r}");
    }
    // Forks start from the same zygote; their random state must not.
    assert_ne!(first["random"], second["random"]);
    assert_ne!(first["random"], left["random"]);
    assert_ne!(first["numpy_random"], second["numpy_random"]);
    assert_eq!(
        pool_counter(&app, "psa_pool_zygote_starts_total").await,
        1,
        "the zygote was replaced instead of reused"
    );
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn concurrent_forked_runs_cannot_reach_each_other() {
    let app = fork_app(2).await;
    let listen = r#"
import socket, time
def main():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0psa-fork-neighbour")
    s.listen()
    s.settimeout(3)
    try:
        s.accept()
        return "reached"
    except OSError:
        return "alone"
"#;
    let reach = r#"
import socket, time
def main():
    time.sleep(0.5)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect("\0psa-fork-neighbour")
        return "reached"
    except OSError as e:
        return e.errno
"#;
    let hits = pool_counter(&app, "psa_pool_hits_total").await;
    let (a, b) = tokio::join!(app.run(listen), app.run(reach));
    assert_eq!(a.0, 200, "{}", a.1);
    assert_eq!(b.0, 200, "{}", b.1);
    assert_eq!(a.1["result"], "alone");
    assert_eq!(b.1["result"], 111, "ECONNREFUSED expected");
    assert_eq!(pool_counter(&app, "psa_pool_hits_total").await, hits + 2);
    app.assert_no_leftovers().await;
}

/// What a run could use to reach a process outside itself, tried against every pid it can name and
/// every uid the zygotes and other runs have: signals (one by one, to all, by user priority),
/// ptrace, pidfds, and /proc. The attack corpus's escape_27 does it once; here two runs on two
/// zygotes repeat it for 1.5 s at once, so that each has a live neighbour and a live zygote to find.
#[tokio::test]
async fn a_forked_run_cannot_signal_trace_or_see_its_zygote_or_another_run() {
    let app = fork_app(2).await;
    let probe = format!(
        "{}\n_once = main\n\ndef main():\n    import time\n    deadline = time.monotonic() + 1.5\n    \
         while time.monotonic() < deadline:\n        got = _once()\n        if got != \"contained\":\n            \
         return got\n        time.sleep(0.05)\n    return \"contained\"\n",
        include_str!("../attacks/escape_27_reach_the_zygote.py")
    );
    let hits = pool_counter(&app, "psa_pool_hits_total").await;
    let (a, b) = tokio::join!(app.run(&probe), app.run(&probe));
    for (status, body) in [a, b] {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], "contained", "{body}");
    }
    assert_eq!(pool_counter(&app, "psa_pool_hits_total").await, hits + 2);
    assert_eq!(
        pool_counter(&app, "psa_pool_zygote_starts_total").await,
        2,
        "a zygote was harmed"
    );
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
}

#[tokio::test]
async fn killed_forked_runs_leave_the_zygote_serving() {
    let app = fork_app(1).await;
    // At the deadline, at the memory limit, and after a fork bomb: each time the run (and all it
    // started) is killed, and the same zygote forks the next sandbox.
    let cases = [
        (
            json!({"script": "def main():\n    while True:\n        pass\n", "timeout": 1}),
            "timeout",
        ),
        (
            json!({"script": "def main():\n    return len(bytearray(400 * 1024 * 1024))\n", "memory": 256}),
            "memory_limit",
        ),
    ];
    for (body, error_type) in cases {
        wait_ready(&app, 1).await;
        let started = Instant::now();
        let (status, response) = app.execute(body).await;
        assert_eq!(status, 422, "{response}");
        assert_eq!(response["error_type"], error_type, "{response}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let r = run_forked(&app, json!({"script": "def main():\n    return 7\n"})).await;
        assert_eq!(r, 7);
    }
    wait_ready(&app, 1).await;
    let (status, response) = app
        .run("import os\ndef main():\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n")
        .await;
    assert_eq!(status, 422, "{response}");
    let r = run_forked(&app, json!({"script": "def main():\n    return 8\n"})).await;
    assert_eq!(r, 8);
    assert_eq!(
        pool_counter(&app, "psa_pool_zygote_starts_total").await,
        1,
        "the zygote was replaced instead of reused"
    );
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_dead_zygote_is_replaced() {
    let app = fork_app(1).await;
    // A run cannot reach its zygote (another pid namespace); an operator's kill -9 can.
    // The zygote: the member of a warm cgroup that is pid 1 of its jail (NSpid: <host> 1); the
    // forked runs are a level deeper.
    // Each process is in one cgroup of each hierarchy: the first run parent is enough.
    let parent = app.run_parents().await.dirs[0].clone();
    let mut zygotes = Vec::new();
    for dir in std::fs::read_dir(&parent).unwrap().filter_map(Result::ok) {
        let procs = std::fs::read_to_string(dir.path().join("cgroup.procs")).unwrap_or_default();
        for pid in procs
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let nspid: Vec<&str> = status
                .lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            if nspid.len() == 2 && nspid[1] == "1" {
                zygotes.push(pid);
            }
        }
    }
    assert!(!zygotes.is_empty(), "no zygote found");
    for pid in &zygotes {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool_counter(&app, "psa_pool_zygote_starts_total").await < 2 && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = run_forked(&app, json!({"script": "def main():\n    return 9\n"})).await;
    assert_eq!(r, 9);
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
}
