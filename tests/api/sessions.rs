//! Sessions (issue 14): a live Python kept between calls. Each test starts the real server, with
//! real nsjail, and drives sessions over HTTP: the contract (create, cells, GET, DELETE, 404 with
//! the reason, 409, expiry, timeouts, memory), what sessions cannot see of each other and of
//! one-shot runs, and that nothing of a session is left once it has ended. `make test` runs them
//! under both profiles; sessions need fork mode, the default on x86_64, so these servers run it
//! whatever SANDBOX_POOL_MODE the pass sets (`without_fork_mode_sessions_are_unavailable` covers
//! spawn mode).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use python_script_api::configuration::Settings;
use python_script_api::sandbox::PoolMode;

use crate::helpers::{processes_with, spawn_app_with, unique, TestApp};

/// A server that can hold sessions: fork mode, whatever the pass's SANDBOX_POOL_MODE.
pub(crate) async fn session_app() -> TestApp {
    session_app_with(|_| {}).await
}

pub(crate) async fn session_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.sandbox.pool_mode = Some(PoolMode::Fork);
        tweak(s);
    })
    .await
}

impl TestApp {
    /// Sends `method` to `path` with an optional JSON body; the answer's status and JSON body
    /// (`Null` for an empty one).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.address);
        let builder = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url),
        };
        let builder = match body {
            Some(body) => builder
                .header("Content-Type", "application/json")
                .body(body.to_string()),
            None => builder,
        };
        let response = builder.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        if text.is_empty() {
            return (status, Value::Null);
        }
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {text:.300}"));
        (status, value)
    }

    /// Creates a session with `body`; panics unless it is created. Its id.
    pub async fn new_session(&self, body: Value) -> String {
        let (status, created) = self.call("POST", "/sessions", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        created["session_id"]
            .as_str()
            .expect("session_id")
            .to_string()
    }

    /// Runs one cell.
    pub async fn cell(&self, id: &str, code: &str) -> (u16, Value) {
        self.cell_with(id, json!({ "code": code })).await
    }

    pub async fn cell_with(&self, id: &str, body: Value) -> (u16, Value) {
        self.call("POST", &format!("/sessions/{id}/execute"), Some(body))
            .await
    }

    /// Runs one cell that must succeed; its result.
    pub async fn cell_ok(&self, id: &str, code: &str) -> Value {
        let (status, answer) = self.cell(id, code).await;
        assert_eq!(status, 200, "{code}: {answer}");
        assert_eq!(answer["success"], true, "{answer}");
        answer["result"].clone()
    }
}

#[tokio::test]
async fn a_session_keeps_variables_imports_functions_and_files_between_cells() {
    let app = session_app().await;
    let id = app.new_session(json!({})).await;
    assert_eq!(
        app.cell_ok(&id, "import pandas as pd\nx = 41\ndef f(v):\n    return v + 1\nwith open('kept.txt', 'w') as fh:\n    fh.write('hello')").await,
        Value::Null,
        "a cell whose last statement is not an expression has a null result"
    );
    assert_eq!(app.cell_ok(&id, "f(x)").await, 42);
    assert_eq!(
        app.cell_ok(&id, "pd.DataFrame({'a': [1, 2]}).a.sum()")
            .await,
        3
    );
    assert_eq!(app.cell_ok(&id, "open('kept.txt').read()").await, "hello");
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_cell_answers_with_the_execute_envelope() {
    let app = session_app().await;
    let id = app.new_session(json!({})).await;
    let (status, answer) = app
        .cell(&id, "print('out')\nimport sys\nprint('err', file=sys.stderr)\n{'a': float('nan'), 'b': (1, 2)}")
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], json!({"a": null, "b": [1, 2]}));
    assert_eq!(answer["stdout"], "out\n");
    assert_eq!(answer["stderr"], "err\n");
    assert!(answer["duration_ms"].is_u64(), "{answer}");
    assert!(answer["usage"]["cpu_time_ms"].is_u64(), "{answer}");
    assert!(answer["timestamp"].is_string(), "{answer}");
    // The files a cell leaves in ./output/ come back with it, once.
    let (_, answer) = app
        .cell(&id, "open('output/r.txt', 'w').write('x')\n1")
        .await;
    assert_eq!(answer["files"][0]["name"], "r.txt", "{answer}");
    let (_, answer) = app.cell(&id, "2").await;
    assert!(answer.get("files").is_none(), "{answer}");
    // So do the figures it leaves open in pyplot, once too.
    let (_, answer) = app
        .cell(&id, "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n3")
        .await;
    assert_eq!(answer["result"], 3, "{answer}");
    assert_eq!(answer["files"][0]["name"], "figure-1.png", "{answer}");
    let (_, answer) = app.cell(&id, "4").await;
    assert!(answer.get("files").is_none(), "{answer}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn an_exception_is_a_runtime_error_and_the_session_lives_on() {
    let app = session_app().await;
    let id = app.new_session(json!({})).await;
    app.cell_ok(&id, "kept = 'still here'").await;
    let (status, answer) = app.cell(&id, "print('before')\n1 / 0").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_type"], "runtime_error");
    assert_eq!(answer["stdout"], "before\n");
    let traceback = answer["traceback"].as_str().unwrap();
    assert!(traceback.contains("ZeroDivisionError"), "{traceback}");
    assert!(traceback.contains("<cell 2>"), "{traceback}");
    assert!(
        !traceback.contains("session"),
        "our frames are left out: {traceback}"
    );
    assert_eq!(app.cell_ok(&id, "kept").await, "still here");
    let (status, answer) = app.cell(&id, "def broken(:").await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error_type"], "validation_error");
    assert_eq!(app.cell_ok(&id, "kept").await, "still here");
}

#[tokio::test]
async fn get_reports_the_session_and_its_variables_but_never_their_values() {
    let app = session_app().await;
    let id = app.new_session(json!({"idle_timeout": 120})).await;
    app.cell_ok(
        &id,
        "import numpy as np\nsecret = 'x' * 1000\nn = 7\n_hidden = 1",
    )
    .await;
    let (status, view) = app.call("GET", &format!("/sessions/{id}"), None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["session_id"], id.as_str());
    assert_eq!(view["cells_run"], 1);
    assert_eq!(view["idle_timeout"], 120);
    assert!(view["memory_used_bytes"].as_u64().unwrap() > 0, "{view}");
    assert!(view["created_at"].is_string() && view["expires_at"].is_string());
    let vars = view["variables"].as_array().unwrap();
    let names: Vec<&str> = vars.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["secret", "n"], "{view}");
    assert_eq!(vars[1], json!({"name": "n", "type": "int", "repr": "7"}));
    assert!(
        vars[0]["repr"].as_str().unwrap().len() <= 200,
        "a short repr: {view}"
    );
}

#[tokio::test]
async fn delete_ends_the_session_at_once_and_later_calls_say_why() {
    let app = session_app().await;
    let marker = unique("sessdel");
    let id = app.new_session(json!({})).await;
    app.cell_ok(
        &id,
        &format!(
            "import subprocess\np = subprocess.Popen(['sh', '-c', 'exec sleep 300 # {marker}'])"
        ),
    )
    .await;
    // The cell's own children end with the cell.
    assert!(
        processes_with(&marker).is_empty(),
        "a cell's process outlived it"
    );
    let (status, body) = app.call("DELETE", &format!("/sessions/{id}"), None).await;
    assert_eq!(status, 204, "{body}");
    for (method, path) in [
        ("GET", format!("/sessions/{id}")),
        ("POST", format!("/sessions/{id}/execute")),
        ("DELETE", format!("/sessions/{id}")),
    ] {
        let body = (method == "POST").then(|| json!({"code": "1"}));
        let (status, answer) = app.call(method, &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["error_type"], "session_not_found");
        assert!(
            answer["error"].as_str().unwrap().contains("deleted"),
            "{answer}"
        );
    }
    let (status, answer) = app.cell(&"0".repeat(32), "1").await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("never existed"),
        "{answer}"
    );
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn a_second_cell_while_one_runs_is_session_busy() {
    let app = session_app().await;
    let id = app.new_session(json!({})).await;
    let slow = app.cell(&id, "import time\ntime.sleep(3)\n'slow'");
    let second = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        app.cell(&id, "1").await
    };
    let ((s1, a1), (s2, a2)) = tokio::join!(slow, second);
    assert_eq!(s1, 200, "{a1}");
    assert_eq!(a1["result"], "slow");
    assert_eq!(s2, 409, "{a2}");
    assert_eq!(a2["error_type"], "session_busy");
    assert_eq!(app.cell_ok(&id, "2").await, 2);
}

#[tokio::test]
async fn a_cell_past_its_timeout_is_interrupted_and_the_session_lives_on() {
    let app = session_app().await;
    let id = app.new_session(json!({"timeout": 1})).await;
    app.cell_ok(&id, "kept = 5").await;
    let started = Instant::now();
    let (status, answer) = app
        .cell(&id, "import time\nprint('going')\ntime.sleep(30)")
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not killed in time"
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_type"], "timeout");
    assert!(
        answer["error"].as_str().unwrap().contains("interrupted"),
        "{answer}"
    );
    assert!(
        answer["error"].as_str().unwrap().contains("lives on"),
        "{answer}"
    );
    assert_eq!(answer["stdout"], "going\n");
    assert!(
        answer["traceback"]
            .as_str()
            .unwrap()
            .contains("KeyboardInterrupt"),
        "{answer}"
    );
    assert_eq!(app.cell_ok(&id, "kept").await, 5);
}

#[tokio::test]
async fn a_cell_that_ignores_its_interrupt_ends_the_session() {
    let app = session_app().await;
    let id = app.new_session(json!({})).await;
    let started = Instant::now();
    let code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.1)";
    let (status, answer) = app
        .cell_with(&id, json!({"code": code, "timeout": 1}))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "not killed in time"
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_type"], "timeout");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("session was ended"),
        "{answer}"
    );
    let (status, answer) = app.cell(&id, "1").await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("timed out"),
        "{answer}"
    );
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn a_cell_past_the_sessions_memory_ends_it_with_memory_limit() {
    let app = session_app().await;
    let id = app.new_session(json!({"memory": 256})).await;
    let (status, answer) = app
        .cell(&id, "import numpy as np\nblocks = []\nwhile True:\n    blocks.append(np.ones(32 << 20, dtype=np.uint8))")
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_type"], "memory_limit");
    let (status, answer) = app.cell(&id, "1").await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("memory"),
        "{answer}"
    );
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn idle_sessions_are_reaped_on_time_without_traffic() {
    let app = session_app().await;
    let id = app.new_session(json!({"idle_timeout": 1})).await;
    // No request meanwhile: the reaper alone must end it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, health) = app.health().await;
    assert_eq!(health["sessions"]["open"], 0, "{health}");
    let (status, answer) = app.cell(&id, "1").await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("expired"),
        "{answer}"
    );
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn session_files_land_in_the_working_directory() {
    let app = session_app().await;
    let id = app
        .new_session(json!({"files": [{"name": "data.csv", "content": "a,b\n1,2\n3,4\n"}]}))
        .await;
    assert_eq!(
        app.cell_ok(&id, "import pandas as pd\npd.read_csv('data.csv').b.sum()")
            .await,
        6
    );
}

#[tokio::test]
async fn session_options_out_of_range_are_invalid_requests() {
    let app = session_app().await;
    for body in [
        json!({"idle_timeout": 0}),
        json!({"idle_timeout": 999_999}),
        json!({"timeout": 0}),
        json!({"memory": 1}),
        json!({"unknown": 1}),
    ] {
        let (status, answer) = app.call("POST", "/sessions", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error_type"], "invalid_request", "{answer}");
    }
}

#[tokio::test]
async fn past_sessions_max_creating_one_gets_429() {
    let app = session_app_with(|s| s.sandbox.sessions_max = 1).await;
    let first = app.new_session(json!({})).await;
    let (status, answer) = app.call("POST", "/sessions", Some(json!({}))).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["error_type"], "overloaded");
    app.call("DELETE", &format!("/sessions/{first}"), None)
        .await;
    app.new_session(json!({})).await;
}

#[tokio::test]
async fn without_fork_mode_sessions_are_unavailable() {
    let app =
        spawn_app_with(|s| s.sandbox.pool_mode = Some(python_script_api::sandbox::PoolMode::Spawn))
            .await;
    let (status, answer) = app.call("POST", "/sessions", Some(json!({}))).await;
    assert_eq!(status, 501, "{answer}");
    assert_eq!(answer["error_type"], "sessions_unavailable");
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_cell_that_forges_its_frame_and_runs_on_is_still_timed() {
    let app = session_app().await;
    let id = app.new_session(json!({})).await;
    let marker = unique("forged");
    // A complete success frame, then the channel closed, then more work: the cell is not over
    // until its code is, so it is interrupted at its deadline like any other.
    let code = format!(
        "import os, time\nframe = b'{{\"ok\":true,\"result\":\"{marker}\"}}'\nos.write(3, b'%d\\n' % len(frame) + frame)\nos.close(3)\ntime.sleep(30)"
    );
    let started = Instant::now();
    let (status, answer) = app
        .cell_with(&id, json!({"code": code, "timeout": 2}))
        .await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "answered before the cell was over: {answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "not stopped in time"
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_type"], "timeout", "{answer}");
    // The session goes on: its loop got the interrupt and is back, waiting.
    assert_eq!(app.cell_ok(&id, "'after'").await, "after");
}

/// What a session leaves for others to find: files in its working directory and /dev/shm, a SysV
/// segment, an abstract socket and a TCP port listening (the session's globals hold them), as long
/// as the session lives.
const LEAVE: &str = r#"
import ctypes, os, socket, threading
open("left", "w").write("secret")
open("/dev/shm/left", "w").write("secret")
libc = ctypes.CDLL(None, use_errno=True)
shm_id = libc.shmget(0x5054, 4096, 0o1666)
unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
unix.bind("\0psa-session-leak")
unix.listen()
tcp = socket.socket()
tcp.bind(("127.0.0.1", 47011))
tcp.listen()
shm_id >= 0
"#;

/// What another sandbox sees of `LEAVE`'s traces: nothing.
const LOOK: &str = r#"
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def reach(family, address):
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.connect(address)
        return "connected"
    except OSError as e:
        return e.errno
    finally:
        s.close()
def look():
    return {
        "tmp": sorted(n for n in os.listdir(".") if n not in (".matplotlib", "output")),
        "shm": os.listdir("/dev/shm"),
        "sysv": libc.shmget(0x5054, 4096, 0o666),
        "abstract": reach(socket.AF_UNIX, "\0psa-session-leak"),
        "tcp": reach(socket.AF_INET, ("127.0.0.1", 47011)),
        "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    }
"#;

fn assert_sees_nothing(seen: &Value) {
    assert_eq!(seen["tmp"], json!([]), "{seen}");
    assert_eq!(seen["shm"], json!([]), "{seen}");
    assert_eq!(seen["sysv"], -1, "a SysV segment is shared: {seen}");
    assert_eq!(seen["abstract"], 111, "ECONNREFUSED expected: {seen}");
    // ENETUNREACH where the namespace's loopback is down (a forked child's), ECONNREFUSED where
    // it is up: either way nothing listens there for this sandbox.
    assert!(
        seen["tcp"] == 101 || seen["tcp"] == 111,
        "ENETUNREACH or ECONNREFUSED expected: {seen}"
    );
    assert_eq!(seen["procs"], json!([1]), "{seen}");
}

#[tokio::test]
async fn sessions_cannot_see_each_other_or_one_shot_runs() {
    let app = session_app().await;
    let a = app.new_session(json!({})).await;
    let b = app.new_session(json!({})).await;
    assert_eq!(app.cell_ok(&a, LEAVE).await, true);
    // Another session, while the first one lives and holds its traces.
    app.cell_ok(&b, LOOK).await;
    assert_sees_nothing(&app.cell_ok(&b, "look()").await);
    // A one-shot run meanwhile.
    let (status, answer) = app
        .run(&format!("{LOOK}\ndef main():\n    return look()"))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_sees_nothing(&answer["result"]);
    // And the other way: a one-shot run's traces, while it runs, are not a session's to see.
    let one_shot = format!(
        "{}\ndef main():\n    import time\n    time.sleep(3)\n    return True",
        LEAVE.replace("shm_id >= 0", "")
    );
    let run = app.run(&one_shot);
    let look = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        app.cell_ok(&b, "look()").await
    };
    let ((status, answer), seen) = tokio::join!(run, look);
    assert_eq!(status, 200, "{answer}");
    assert_sees_nothing(&seen);
    // The first session still has its own.
    assert_eq!(app.cell_ok(&a, "open('left').read()").await, "secret");
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_session_runs_unprivileged_in_its_own_namespaces() {
    let app = session_app().await;
    let id = app.new_session(json!({})).await;
    let status = app
        .cell_ok(
            &id,
            "s = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())\n{k: s[k].strip() for k in ('CapEff', 'CapPrm', 'CapBnd', 'NoNewPrivs', 'Seccomp')}",
        )
        .await;
    assert_eq!(
        status,
        json!({"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapBnd": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"})
    );
    // Its pid namespace has only itself: not its zygote, nor nsjail.
    assert_eq!(app.cell_ok(&id, "import os\nos.getpid()").await, 1);
}

#[tokio::test]
async fn a_cell_streams_its_output_then_its_answer() {
    let app = session_app().await;
    let id = app.new_session(json!({})).await;
    app.cell_ok(&id, "n = 3").await;
    let response = app
        .client
        .post(format!("{}/sessions/{id}/execute/stream", app.address))
        .header("Accept", "application/x-ndjson")
        .body(json!({"code": "import time\nfor i in range(n):\n    print('step', i, flush=True)\n    time.sleep(0.2)\n'done'"}).to_string())
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = events.last().unwrap();
    assert_eq!(last["type"], "result", "{text}");
    assert_eq!(last["data"]["result"], "done", "{text}");
    assert_eq!(last["data"]["stdout"], "step 0\nstep 1\nstep 2\n", "{text}");
    let streamed: String = events
        .iter()
        .filter(|e| e["type"] == "stdout")
        .map(|e| e["data"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, "step 0\nstep 1\nstep 2\n");
    assert!(events.len() >= 3, "the output came in pieces: {text}");
    // A gone session is a plain 404, before any stream.
    app.call("DELETE", &format!("/sessions/{id}"), None).await;
    let (status, answer) = app
        .call(
            "POST",
            &format!("/sessions/{id}/execute/stream"),
            Some(json!({"code": "1"})),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error_type"], "session_not_found");
}

#[tokio::test]
async fn a_batch_runs_its_cells_in_one_fresh_session_and_ends_it() {
    let app = session_app().await;
    let (status, answer) = app
        .call(
            "POST",
            "/batch",
            Some(json!({"cells": ["x = 20", "x * 2", "1 / 0", "'never'"]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["success"], false, "{answer}");
    assert_eq!(
        answer["cells_run"], 3,
        "stop_on_error is the default: {answer}"
    );
    assert_eq!(answer["cells"][0]["result"], Value::Null);
    assert_eq!(answer["cells"][1]["result"], 40);
    assert_eq!(answer["cells"][2]["error_type"], "runtime_error");
    let (_, answer) = app
        .call(
            "POST",
            "/batch",
            Some(json!({"cells": ["1 / 0", "'ran'"], "stop_on_error": false})),
        )
        .await;
    assert_eq!(answer["cells_run"], 2, "{answer}");
    assert_eq!(answer["cells"][1]["result"], "ran");
    // Every answer is kept until the batch answers: their number is bounded.
    let cells = vec![json!("1"); 101]; // routes/sessions.rs MAX_BATCH_CELLS, plus one
    let (status, answer) = app
        .call("POST", "/batch", Some(json!({ "cells": cells })))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error_type"], "invalid_request", "{answer}");
    let (_, health) = app.health().await;
    assert_eq!(health["sessions"]["open"], 0, "{health}");
    assert_eq!(health["sessions"]["ended"]["batch_done"], 2, "{health}");
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn with_api_keys_a_session_belongs_to_the_key_that_created_it() {
    let app = session_app_with(|s| s.api_keys = vec!["key-one".into(), "key-two".into()]).await;
    let post = |key: &'static str, path: String, body: Value| {
        app.client
            .post(format!("{}{path}", app.address))
            .bearer_auth(key)
            .body(body.to_string())
            .send()
    };
    let created: Value = post("key-one", "/sessions".into(), json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["session_id"].as_str().unwrap().to_string();
    let other = post(
        "key-two",
        format!("/sessions/{id}/execute"),
        json!({"code": "1"}),
    )
    .await
    .unwrap();
    assert_eq!(other.status(), 404);
    let body: Value = other.json().await.unwrap();
    assert_eq!(body["error_type"], "session_not_found");
    let mine = post(
        "key-one",
        format!("/sessions/{id}/execute"),
        json!({"code": "1"}),
    )
    .await
    .unwrap();
    assert_eq!(mine.status(), 200);
    let deleted = app
        .client
        .delete(format!("{}/sessions/{id}", app.address))
        .bearer_auth("key-two")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 404, "another key cannot delete it");
    // Once it has ended, only its owner is told why; to another key it never existed.
    let deleted = app
        .client
        .delete(format!("{}/sessions/{id}", app.address))
        .bearer_auth("key-one")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    for (key, says) in [("key-one", "deleted"), ("key-two", "never existed")] {
        let later = post(key, format!("/sessions/{id}/execute"), json!({"code": "1"}))
            .await
            .unwrap();
        assert_eq!(later.status(), 404);
        let body: Value = later.json().await.unwrap();
        let message = body["error"].as_str().unwrap_or_default().to_string();
        assert!(message.contains(says), "{key}: {body}");
    }
}

#[tokio::test]
async fn metrics_count_sessions_by_how_they_ended() {
    let app = session_app().await;
    let id = app.new_session(json!({"memory": 300})).await;
    // An open session holds its memory in the budget.
    let (_, health) = app.health().await;
    assert_eq!(health["sessions"]["open"], 1, "{health}");
    assert_eq!(health["sessions"]["reserved_mib"], 300, "{health}");
    assert!(
        health["sessions"]["memory_bytes"].as_u64().unwrap() > 0,
        "{health}"
    );
    app.call("DELETE", &format!("/sessions/{id}"), None).await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("psa_sessions_created_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("psa_sessions_ended_total{reason=\"deleted\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("psa_sessions_open 0"), "{metrics}");
}

#[tokio::test]
async fn session_answers_fit_the_openapi_description() {
    use crate::openapi::{check, response_schema, spec};
    let spec = spec();
    let app = session_app().await;
    let (status, created) = app
        .call(
            "POST",
            "/sessions",
            Some(json!({"idle_timeout": 60, "files": [{"name": "a.txt", "content": "a"}]})),
        )
        .await;
    check(
        &spec,
        &response_schema(&spec, "/sessions", "post", status),
        &created,
        "POST /sessions",
    );
    let id = created["session_id"].as_str().unwrap().to_string();
    let cell = format!("/sessions/{id}/execute");
    for code in [
        "x = [1, 2.5, None]\nx",
        "1 / 0",
        "def f(:",
        "import sys\nsys.exit(3)",
    ] {
        let (status, answer) = app.call("POST", &cell, Some(json!({"code": code}))).await;
        check(
            &spec,
            &response_schema(&spec, "/sessions/{id}/execute", "post", status),
            &answer,
            code,
        );
    }
    // sys.exit ended it: every route of it is a 404 now.
    let (status, answer) = app.call("GET", &format!("/sessions/{id}"), None).await;
    assert_eq!(status, 404);
    check(
        &spec,
        &response_schema(&spec, "/sessions/{id}", "get", status),
        &answer,
        "GET ended",
    );
    let id = app.new_session(json!({})).await;
    app.cell_ok(&id, "import pandas as pd\ndf = pd.DataFrame({'a': [1]})")
        .await;
    let (status, view) = app.call("GET", &format!("/sessions/{id}"), None).await;
    check(
        &spec,
        &response_schema(&spec, "/sessions/{id}", "get", status),
        &view,
        "GET",
    );
    for body in [json!({"unknown": 1}), json!({"timeout": 0})] {
        let (status, answer) = app.call("POST", "/sessions", Some(body)).await;
        check(
            &spec,
            &response_schema(&spec, "/sessions", "post", status),
            &answer,
            "bad POST /sessions",
        );
    }
    let (status, answer) = app
        .call(
            "POST",
            "/batch",
            Some(json!({"cells": ["x = 1", "x + 1", "1 / 0"]})),
        )
        .await;
    check(
        &spec,
        &response_schema(&spec, "/batch", "post", status),
        &answer,
        "POST /batch",
    );
}

#[tokio::test]
async fn sessions_never_take_the_memory_the_largest_run_needs() {
    // A budget of 1024 MiB: about 930 for runs beside the warm pool (two zygotes, whatever pool
    // the pass sets), 512 of it for the largest run.
    let app = session_app_with(|s| {
        s.sandbox.pool_size = 2;
        s.sandbox.memory_budget_mib = Some(1024);
        s.max_memory_mib = 512;
        s.max_memory_set = true;
    })
    .await;
    let first = app.new_session(json!({"memory": 256})).await;
    // A second would leave less than 512 MiB for one-shot runs.
    let (status, answer) = app
        .call("POST", "/sessions", Some(json!({"memory": 256})))
        .await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["error_type"], "overloaded");
    let (status, answer) = app
        .execute(
            json!({"script": "def main():\n    return len(bytearray(400 << 20))", "memory": 512}),
        )
        .await;
    assert_eq!(status, 200, "the largest run still fits: {answer}");
    app.call("DELETE", &format!("/sessions/{first}"), None)
        .await;
    app.new_session(json!({"memory": 256})).await;
}
