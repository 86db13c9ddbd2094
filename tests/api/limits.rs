//! Time, memory, output and process limits: each is hit, reported plainly, and the server survives.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{processes_with_async, spawn_app, spawn_app_with, unique};

#[tokio::test]
async fn a_busy_loop_times_out() {
    let app = spawn_app().await;
    let started = Instant::now();
    let (status, body) = app
        .execute(json!({"script": "def main():\n    print('spinning', flush=True)\n    while True:\n        pass\n", "timeout": 2}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "timeout");
    assert_eq!(
        body["stdout"], "spinning\n",
        "output before the kill is kept"
    );
    // A generous bound: the kill deadline is the limit plus a small grace.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn a_sleep_times_out() {
    let app = spawn_app().await;
    let started = Instant::now();
    let (status, body) = app
        .execute(json!({"script": "import time\ndef main():\n    time.sleep(60)\n", "timeout": 1}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "timeout");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    app.assert_healthy().await;
}

#[tokio::test]
async fn one_big_allocation_hits_the_memory_limit() {
    let app = spawn_app().await;
    let (status, body) = app
        .execute(json!({"script": "def main():\n    x = bytearray(512 * 1024 * 1024)\n    return len(x)\n", "memory": 64}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "memory_limit");
    assert!(body["error"].as_str().unwrap().contains("64 MiB"), "{body}");
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn gradual_growth_hits_the_memory_limit() {
    let app = spawn_app().await;
    let script = "def main():\n    chunks = []\n    while True:\n        chunks.append(b'x' * (1024 * 1024))\n";
    let (status, body) = app
        .execute(json!({"script": script, "memory": 96, "timeout": 20}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "memory_limit");
    app.assert_healthy().await;
}

#[tokio::test]
async fn numpy_allocation_within_the_limit_works_and_beyond_fails() {
    let app = spawn_app().await;
    let ok = "import numpy as np\ndef main():\n    return float(np.ones(10_000_000).sum())\n";
    let (status, body) = app.execute(json!({"script": ok, "memory": 256})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], 10_000_000.0);
    let too_much = "import numpy as np\ndef main():\n    a = np.ones(100_000_000)\n    return float(a.sum())\n";
    let (status, body) = app
        .execute(json!({"script": too_much, "memory": 256}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "memory_limit");
}

#[tokio::test]
async fn an_output_flood_is_cut_at_the_cap() {
    let app = spawn_app().await;
    let script =
        "import sys\ndef main():\n    while True:\n        sys.stdout.write('x' * 65536)\n";
    let (status, body) = app.run(script).await;
    assert_eq!(status, 422, "{:.300}", body.to_string());
    assert_eq!(body["error_type"], "output_limit");
    assert_eq!(body["stdout"].as_str().unwrap().len(), 1 << 20);

    let script =
        "import sys\ndef main():\n    while True:\n        sys.stderr.write('e' * 65536)\n";
    let (status, body) = app.run(script).await;
    assert_eq!(status, 422);
    assert_eq!(body["error_type"], "output_limit");
    assert!(body["error"].as_str().unwrap().contains("stderr"));
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn output_just_under_the_cap_is_returned_whole() {
    let app = spawn_app().await;
    let script = "import sys\ndef main():\n    sys.stdout.write('y' * (1024 * 1024 - 1))\n    return 'done'\n";
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{:.300}", body.to_string());
    assert_eq!(body["stdout"].as_str().unwrap().len(), (1 << 20) - 1);
}

#[tokio::test]
async fn a_gigantic_result_is_refused() {
    let app = spawn_app_with(|s| s.sandbox.max_result_bytes = 1 << 20).await;
    let (status, body) = app
        .run("def main():\n    return 'z' * (3 * 1024 * 1024)\n")
        .await;
    assert_eq!(status, 422, "{:.300}", body.to_string());
    assert_eq!(body["error_type"], "output_limit");
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_fork_bomb_is_contained() {
    let app = spawn_app().await;
    let script = "import os\ndef main():\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n";
    let (status, body) = app.execute(json!({"script": script, "timeout": 3})).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        ["timeout", "exited", "memory_limit"].contains(&body["error_type"].as_str().unwrap()),
        "{body}"
    );
    // The host can still fork.
    assert!(std::process::Command::new("true")
        .status()
        .unwrap()
        .success());
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn number_of_pids_is_limited() {
    let app = spawn_app().await;
    let script = r#"
import threading, time
def main():
    stop = threading.Event()
    started = 0
    try:
        for _ in range(1000):
            threading.Thread(target=stop.wait, daemon=True).start()
            started += 1
    except RuntimeError:
        pass
    stop.set()
    return started
"#;
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    let started = body["result"].as_u64().unwrap();
    assert!(
        started < 64,
        "started {started} threads; the pids limit is 64"
    );
    app.assert_healthy().await;
}

#[tokio::test]
async fn background_processes_die_with_the_run() {
    let app = spawn_app().await;
    let marker = unique("bg-marker");
    let script = format!(
        r#"
import os, subprocess, sys
def main():
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{marker}"])
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", "{marker}"])
        os._exit(0)
    return "spawned"
"#
    );
    let (status, body) = app.run(&script).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "spawned");
    let left = crate::helpers::processes_left(&marker).await;
    assert!(left.is_empty(), "processes outlived their run: {left:?}");
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_client_that_disconnects_gets_its_run_killed() {
    let app = spawn_app().await;
    let marker = unique("disconnect-marker");
    let script = format!(
        "import subprocess, sys, time\ndef main():\n    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', '{marker}'])\n    time.sleep(60)\n"
    );
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let sent = impatient
        .post(format!("{}/execute", app.address))
        .json(&json!({"script": script, "timeout": 60}))
        .send()
        .await;
    assert!(
        sent.is_err(),
        "the request should have timed out on the client side"
    );
    // The server checks for hang-ups every 200 ms; allow generous time for the kill.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with_async(&marker).await.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        processes_with_async(&marker).await.is_empty(),
        "the run outlived its client"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
}

/// With one CPU per run (`SANDBOX_MAX_CPUS=1`, the default) two runs at once each get a CPU of their
/// own: nsjail's own choice is random, and two slots' runs then shared one CPU half the time,
/// halving throughput (src/sandbox/cpus.rs). Once the pool is ready: while a zygote still imports
/// its preload (about 2 s), a run that goes cold ties between its CPU and the other zygote's, and
/// may take the one a forked run is using (bench/README.md, issue 19).
#[tokio::test]
async fn concurrent_runs_each_get_a_cpu_of_their_own() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        cpus >= 2,
        "this test needs a host with 2 CPUs or more (it has {cpus}): it cannot run here"
    );
    let app = spawn_app_with(|s| {
        s.sandbox.slots = 2;
        s.sandbox.max_cpus = 1;
    })
    .await;
    // The pool this pass gives the server (none when SANDBOX_POOL_SIZE=0: every run is cold).
    let (_, health) = app.health().await;
    let pool = health["pool_size"].as_u64().unwrap_or(0);
    crate::pool::wait_ready(&app, usize::try_from(pool).unwrap_or(0)).await;
    let script = "import os, time\ndef main():\n    time.sleep(0.5)\n    return sorted(os.sched_getaffinity(0))\n";
    for _ in 0..3 {
        let (a, b) = tokio::join!(app.run(script), app.run(script));
        assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
        let (a, b) = (&a.1["result"], &b.1["result"]);
        assert_eq!(a.as_array().map(Vec::len), Some(1), "{a}");
        assert_eq!(b.as_array().map(Vec::len), Some(1), "{b}");
        assert_ne!(a, b, "two concurrent runs share a CPU");
    }
    app.assert_no_leftovers().await;
}
