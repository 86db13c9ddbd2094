//! How a session's cell ends, at the edges sessions.rs's contract tests leave out: processes a
//! cell forks and leaves, a cell that ends its own Python (sys.exit, os._exit, MemoryError), a
//! cell sent while GET lists the variables, input files that do not fit, and the CPU weight that
//! keeps sessions from taking the CPUs from one-shot runs. Real server, real nsjail, as there.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{processes_with, unique};
use crate::sessions::{session_app, session_app_with};

#[tokio::test]
async fn a_process_a_cell_forks_and_leaves_does_not_hold_the_cell_open() {
    let app = session_app().await;
    let id = app.new_session(json!({"timeout": 20})).await;
    // The child keeps the cell's result channel (fd 3) open while it sleeps: the cell is still
    // over when its frame is written and the loop is back, and the child is killed with it.
    let (status, answer) = app
        .cell(
            &id,
            "import os, time\npid = os.fork()\nif pid == 0:\n    time.sleep(60)\n    os._exit(0)\n'parent'",
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], "parent", "{answer}");
    assert!(
        answer["duration_ms"].as_u64().unwrap() < 20_000,
        "the cell waited for its deadline: {answer}"
    );
    // Killed with its cell: reaped at once, by SIGKILL.
    assert_eq!(app.cell_ok(&id, "os.waitpid(pid, 0)[1]").await, 9);
    // A child that returns from the cell into the loop does not answer for it.
    let (status, answer) = app
        .cell(
            &id,
            "import os\npid = os.fork()\n'child' if pid == 0 else 'parent'",
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], "parent", "{answer}");
    assert_eq!(app.cell_ok(&id, "1 + 1").await, 2);
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_multiprocessing_pool_left_open_does_not_hold_the_cell_open() {
    let app = session_app().await;
    let id = app.new_session(json!({"timeout": 20})).await;
    let (status, answer) = app
        .cell(
            &id,
            "from multiprocessing import Pool\npool = Pool(2)\npool.map(abs, [-1, -2, -3])",
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], json!([1, 2, 3]), "{answer}");
    assert!(
        answer["duration_ms"].as_u64().unwrap() < 20_000,
        "the cell waited for its deadline: {answer}"
    );
    assert_eq!(app.cell_ok(&id, "'alive'").await, "alive");
    app.assert_healthy().await;
}

#[tokio::test]
async fn sys_exit_in_a_cell_answers_its_exit_code_and_keeps_its_output() {
    let app = session_app().await;
    let id = app.new_session(json!({})).await;
    let (status, answer) = app.cell(&id, "import sys\nprint('bye')\nsys.exit(3)").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_type"], "exited", "{answer}");
    assert_eq!(answer["exit_code"], 3, "{answer}");
    assert_eq!(answer["stdout"], "bye\n", "{answer}");
    let (status, answer) = app.cell(&id, "1").await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("Python process ended"),
        "{answer}"
    );
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn os_exit_in_a_cell_answers_exited_with_its_code() {
    let app = session_app().await;
    let id = app.new_session(json!({})).await;
    let (status, answer) = app
        .cell(
            &id,
            "import os, sys\nprint('last words', flush=True)\nos._exit(5)",
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_type"], "exited", "{answer}");
    assert_eq!(answer["exit_code"], 5, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("exit code 5"),
        "{answer}"
    );
    assert_eq!(answer["stdout"], "last words\n", "{answer}");
    let (status, _) = app.cell(&id, "1").await;
    assert_eq!(status, 404);
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_memory_error_in_a_cell_answers_memory_limit() {
    let app = session_app().await;
    let id = app.new_session(json!({})).await;
    let (status, answer) = app.cell(&id, "print('before')\nraise MemoryError()").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_type"], "memory_limit", "{answer}");
    assert_eq!(answer["stdout"], "before\n", "{answer}");
    let (status, answer) = app.cell(&id, "1").await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("memory"),
        "{answer}"
    );
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_cell_sent_while_get_lists_the_variables_waits_for_the_listing() {
    let app = session_app().await;
    let id = app.new_session(json!({})).await;
    app.cell_ok(
        &id,
        "class Slow:\n    def __repr__(self):\n        import time\n        time.sleep(2)\n        return 'slow'\ns = Slow()",
    )
    .await;
    let path = format!("/sessions/{id}");
    let listing = app.call("GET", &path, None);
    let cell = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        app.cell(&id, "40 + 2").await
    };
    let ((s1, listed), (s2, answer)) = tokio::join!(listing, cell);
    assert_eq!(s1, 200, "{listed}");
    let s = listed["variables"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["name"] == "s"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(s["repr"], "slow", "{listed}");
    assert_eq!(
        s2, 200,
        "a cell waits for a listing, it is not busy: {answer}"
    );
    assert_eq!(answer["result"], 42, "{answer}");
}

#[tokio::test]
async fn session_input_files_that_do_not_fit_answer_memory_limit() {
    let app = session_app_with(|s| {
        s.max_input_files_bytes = 48 << 20;
        s.max_body_bytes = 128 << 20;
    })
    .await;
    let content = "a".repeat(40 << 20);
    let (status, answer) = app
        .call(
            "POST",
            "/sessions",
            Some(json!({"memory": 64, "files": [{"name": "big.txt", "content": content}]})),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_type"], "memory_limit", "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("64 MiB"),
        "{answer}"
    );
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

/// The group of every session in cgroup v1's cpu hierarchy, where /health says the weight is set.
fn sessions_cpu_group(app: &crate::helpers::TestApp, health: &serde_json::Value) -> PathBuf {
    let weight = health["sessions"]["cpu_weight"]
        .as_str()
        .unwrap_or_else(|| {
            panic!(
            "this server gives sessions no CPU weight of their own ({}): the check needs cgroup \
             v1's cpu hierarchy, or v2's cpu controller, writable by the tests (run as root)",
            health["sessions"]
        )
        });
    assert!(
        weight.starts_with("cgroup v1 cpu.shares 128,"),
        "not cgroup v1's layout, which this check reads: {weight}"
    );
    PathBuf::from("/sys/fs/cgroup/cpu").join(&app.cgroups.parent)
}

#[tokio::test]
async fn a_sessions_processes_weigh_an_eighth_of_a_run_on_the_cpus() {
    let app = session_app().await;
    let (_, health) = app.health().await;
    let group = sessions_cpu_group(&app, &health);
    let read = |p: PathBuf| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    assert_eq!(read(group.join("cpu.shares")).trim(), "128");
    let id = app.new_session(json!({})).await;
    let marker = unique("sesscpu");
    // A thread left spinning between cells: it is in the session's group, below the shares.
    app.cell_ok(
        &id,
        &format!("import threading\nMARK = '{marker}'\nthreading.Thread(target=lambda: [0 for _ in iter(int, 1)], daemon=True).start()"),
    )
    .await;
    let members: Vec<i32> = std::fs::read_dir(&group)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .flat_map(|e| {
            read(e.path().join("cgroup.procs"))
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    // nsjail, the zygote and the session's child.
    assert!(
        members.len() >= 3,
        "the session's processes are not in {group:?}: {members:?}"
    );
    let (status, _) = app.call("DELETE", &format!("/sessions/{id}"), None).await;
    assert_eq!(status, 204);
    let left: Vec<_> = std::fs::read_dir(&group)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    assert!(
        left.is_empty(),
        "the session's CPU group outlived it: {left:?}"
    );
    assert!(processes_with(&marker).is_empty());
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_batch_cell_may_carry_a_timeout_of_its_own() {
    let app = session_app().await;
    let (status, answer) = app
        .call(
            "POST",
            "/batch",
            Some(json!({
                "cells": ["x = 1", {"code": "import time\ntime.sleep(30)", "timeout": 1}, "x + 1"],
                "stop_on_error": false,
                "timeout": 60
            })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["cells_run"], 3, "{answer}");
    assert_eq!(answer["cells"][1]["error_type"], "timeout", "{answer}");
    assert_eq!(
        answer["cells"][2]["result"], 2,
        "interrupted, the session lives on: {answer}"
    );
    for bad in [
        json!(5),
        json!({"code": "1", "timeout": 0}),
        json!({"cod": "1"}),
    ] {
        let (status, answer) = app
            .call("POST", "/batch", Some(json!({ "cells": [bad] })))
            .await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert_eq!(answer["error_type"], "invalid_request", "{answer}");
    }
    app.assert_healthy().await;
}
