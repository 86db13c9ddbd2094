//! Request IDs, metrics, API keys and graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::cgroups::{self, own_v2_cgroup, CgroupRoots, ServerCgroups};
use crate::helpers::{processes_with_async, sandbox_env, spawn_app, spawn_app_with, unique};

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(format!("{}/execute", app.address))
        .header("X-Request-Id", "caller-id-42")
        .json(&json!({"script": "def main():\n    return 1\n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "caller-id-42");
    for path in ["/health", "/nope", "/metrics"] {
        let r = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 32, "{path}: {id}");
    }
    // An ID that could forge log fields is replaced.
    let r = app
        .client
        .get(format!("{}/health", app.address))
        .header("X-Request-Id", "a b")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "a b");
}

#[tokio::test]
async fn metrics_count_requests_and_outcomes() {
    let app = spawn_app().await;
    app.run("def main():\n    return 1\n").await;
    app.run("def main():\n    return 1 / 0\n").await;
    app.run("print(1)\n").await;
    let text = app.metrics().await;
    for expected in [
        "psa_http_requests_total{endpoint=\"/execute\",status=\"200\"} 1",
        "psa_http_requests_total{endpoint=\"/execute\",status=\"422\"} 1",
        "psa_http_requests_total{endpoint=\"/execute\",status=\"400\"} 1",
        "psa_executions_total{outcome=\"success\"} 1",
        "psa_executions_total{outcome=\"runtime_error\"} 1",
        "psa_execution_duration_seconds_count 2",
        "psa_execution_duration_seconds_bucket{le=\"+Inf\"} 2",
        "psa_sandboxes_busy 0",
        "psa_queue_depth 0",
        // The queue's length and the estimate that sizes it (values: tests/api/load.rs).
        "# TYPE psa_queue_limit gauge",
        "# TYPE psa_slot_hold_seconds gauge",
        "psa_overloaded_total 0",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[tokio::test]
async fn api_keys_guard_execute_but_not_health() {
    let key = "test-key-0123456789abcdef";
    let app =
        spawn_app_with(|s| s.api_keys = vec![key.to_owned(), "other-key-0123456789".to_owned()])
            .await;
    let url = format!("{}/execute", app.address);
    let body = json!({"script": "def main():\n    return 'in'\n"});
    for auth in [
        None,
        Some("Bearer wrong-key-0123456789ab"),
        Some("test-key-0123456789abcdef"),
        Some("Bearer "),
    ] {
        let mut request = app.client.post(&url).json(&body);
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error_type"], "unauthorized");
    }
    let r = app
        .client
        .post(&url)
        .header("Authorization", format!("Bearer {key}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (status, _) = app.health().await;
    assert_eq!(status, 200, "/health never needs a key");
}

/// The real binary, with its own parent cgroup, removed when the test ends.
pub(crate) struct Binary {
    pub(crate) child: std::process::Child,
    pub(crate) port: u16,
    cgroups: ServerCgroups,
    /// Every line the server has logged so far.
    pub(crate) log: Arc<Mutex<Vec<String>>>,
    /// Its DATA_DIR (the job store), unless the test named one.
    _data: Option<tempfile::TempDir>,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.cgroups.remove_all(&CgroupRoots::host());
    }
}

/// Starts the real binary; its port is read from its log. Like `spawn_app`, it sees only the
/// variables that choose the sandbox under test, `PATH`, and `envs`: nothing else the shell
/// exports.
pub(crate) fn start_binary(envs: &[(&str, &str)]) -> Binary {
    start_binary_under(&[], envs)
}

/// Like `start_binary`, with `wrapper` (a command and its arguments) in front of the binary.
fn start_binary_under(wrapper: &[&str], envs: &[(&str, &str)]) -> Binary {
    let cgroup = unique("psa-bin");
    let binary = env!("CARGO_BIN_EXE_python-script-api");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(binary);
            c
        }
        None => Command::new(binary),
    };
    // The binary's cgroup v2 base is the one it inherits from this process.
    let before = own_v2_cgroup("self");
    command.env_clear().envs(sandbox_env());
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    // A job store of its own, not the default under /var/lib, unless the test names one.
    let data = match envs.iter().any(|(name, _)| *name == "DATA_DIR") {
        true => None,
        false => Some(tempfile::tempdir().expect("a data directory")),
    };
    if let Some(data) = &data {
        command.env("DATA_DIR", data.path());
    }
    let mut child = command
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("SANDBOX_CGROUP", &cgroup)
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            kept.lock().unwrap().push(line.clone());
            if let Some(port) = line
                .split("listening on port ")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .and_then(|p| p.parse::<u16>().ok())
            {
                let _ = tx.send(port);
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server logs its port");
    // Listening, it has made its cgroups (and, under v2, moved itself; under `wrapper` it is a
    // child of the wrapper, whose cgroup it moved along with its own).
    let after = own_v2_cgroup(&child.id().to_string());
    Binary {
        child,
        port,
        cgroups: ServerCgroups::new(&cgroup, before, after),
        log,
        _data: data,
    }
}

fn wait_exit(
    child: &mut std::process::Child,
    within: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn sigterm(child: &std::process::Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

#[tokio::test]
async fn sigterm_under_load_drains_and_exits_0() {
    // Two slots, a queue of two: four requests, two running and two waiting, when SIGTERM comes.
    let mut server = start_binary(&[
        ("SHUTDOWN_TIMEOUT_SECS", "20"),
        ("SANDBOX_SLOTS", "2"),
        ("SANDBOX_QUEUE", "2"),
    ]);
    let port = server.port;
    let health: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .expect("/health answers")
        .json()
        .await
        .expect("/health is JSON");
    let layout = cgroups::layout(&health).unwrap_or_else(|why| panic!("{why}"));
    let running: Vec<_> = (0..4)
        .map(|i| {
            let client = reqwest::Client::new();
            tokio::spawn(async move {
                client
                    .post(format!("http://127.0.0.1:{port}/execute"))
                    .json(&json!({"script": format!("import time\ndef main():\n    time.sleep(1)\n    return {i}\n")}))
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    sigterm(&server.child);
    for (i, request) in running.into_iter().enumerate() {
        let body = request.await.unwrap();
        assert_eq!(body["result"], i, "{body}");
    }
    let status = wait_exit(&mut server.child, Duration::from_secs(15)).expect("the server exits");
    assert!(status.success(), "{status:?}");
    // Runs, and the warm sandboxes that were still waiting, are all gone; their parents stay.
    let left = server
        .cgroups
        .listing(&CgroupRoots::host(), layout)
        .unwrap_or_else(|why| panic!("the server's run cgroups are not there: {why}"));
    assert_eq!(left, cgroups::Listing::default(), "left behind");
}

#[tokio::test]
async fn sigterm_kills_what_outlasts_the_shutdown_bound() {
    let mut server = start_binary(&[("SHUTDOWN_TIMEOUT_SECS", "1")]);
    let port = server.port;
    let marker = unique("shutdown-marker");
    let script = format!(
        "import subprocess, sys, time\ndef main():\n    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', '{marker}'])\n    time.sleep(60)\n"
    );
    let client = reqwest::Client::new();
    let _running = tokio::spawn(async move {
        let _ = client
            .post(format!("http://127.0.0.1:{port}/execute"))
            .json(&json!({"script": script, "timeout": 60}))
            .send()
            .await;
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with_async(&marker).await.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !processes_with_async(&marker).await.is_empty(),
        "the run did not start"
    );
    let started = Instant::now();
    sigterm(&server.child);
    let status = wait_exit(&mut server.child, Duration::from_secs(15)).expect("the server exits");
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_with_async(&marker).await.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        processes_with_async(&marker).await.is_empty(),
        "a sandbox outlived the server"
    );
}

#[tokio::test]
async fn as_pid_1_the_server_reaps_orphaned_jail_processes() {
    // The server as PID 1 of its own pid namespace, as a container runs it.
    let server = start_binary_under(
        &["unshare", "--fork", "--pid", "--mount-proc", "--kill-child"],
        &[("SANDBOX_POOL_SIZE", "1")],
    );
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", server.child.id())).unwrap();
    let server_pid: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    let client = reqwest::Client::new();
    for script in [
        "def main():\n    return 1\n",
        "import numpy\ndef main():\n    return 2\n",
        "import time\ndef main():\n    time.sleep(5)\n",
    ] {
        let r = client
            .post(format!("http://127.0.0.1:{}/execute", server.port))
            .json(&json!({"script": script, "timeout": 1}))
            .send()
            .await
            .unwrap();
        assert!(r.status().as_u16() == 200 || r.status().as_u16() == 422);
    }
    // The reaper scans every second and reaps what stayed a zombie across two scans.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let zombies: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            let rest = &stat[stat.rfind(')').unwrap_or(0) + 2..];
            let mut fields = rest.split(' ');
            fields.next() == Some("Z")
                && fields.next().and_then(|p| p.parse::<i32>().ok()) == Some(server_pid)
        })
        .collect();
    assert!(zombies.is_empty(), "zombies of the server: {zombies:?}");
}

#[tokio::test]
async fn sigterm_ends_open_sessions_and_leaves_nothing() {
    // Sessions need fork mode, whatever the pass sets.
    let mut server = start_binary(&[
        ("SHUTDOWN_TIMEOUT_SECS", "1"),
        ("SANDBOX_POOL_MODE", "fork"),
    ]);
    let port = server.port;
    let client = reqwest::Client::new();
    let health: serde_json::Value = client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .expect("/health answers")
        .json()
        .await
        .expect("/health is JSON");
    let layout = cgroups::layout(&health).unwrap_or_else(|why| panic!("{why}"));
    let mut ids = Vec::new();
    for _ in 0..2 {
        let created: serde_json::Value = client
            .post(format!("http://127.0.0.1:{port}/sessions"))
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(
            created["session_id"]
                .as_str()
                .expect("a session")
                .to_string(),
        );
    }
    // One idle, one in the middle of a cell that outlasts the shutdown bound.
    let busy = format!("http://127.0.0.1:{port}/sessions/{}/execute", ids[1]);
    let _running = tokio::spawn(async move {
        let _ = reqwest::Client::new()
            .post(busy)
            .json(&json!({"code": "import time\ntime.sleep(60)", "timeout": 60}))
            .send()
            .await;
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    sigterm(&server.child);
    let status = wait_exit(&mut server.child, Duration::from_secs(15)).expect("the server exits");
    assert!(status.success(), "{status:?}");
    let left = server
        .cgroups
        .listing(&CgroupRoots::host(), layout)
        .unwrap_or_else(|why| panic!("the server's cgroups are not there: {why}"));
    assert_eq!(
        left,
        cgroups::Listing::default(),
        "a session was left behind"
    );
}
