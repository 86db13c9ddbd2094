//! The warm pool: runs on pre-started sandboxes get the same limits, isolation and cleanup as
//! cold ones.

use std::time::{Duration, Instant};

use serde_json::json;

use python_script_api::configuration::Settings;
use python_script_api::sandbox::PoolMode;
use python_script_api::sandbox::ProfileSetting;

use crate::helpers::{spawn_app_with, TestApp};

/// A pool of `size` in the mode the environment chooses (SANDBOX_POOL_MODE, else the profile's
/// default): these tests hold for both modes.
async fn pool_app(size: usize) -> TestApp {
    let app = spawn_app_with(|s| s.sandbox.pool_size = size).await;
    wait_ready(&app, size).await;
    app
}

pub async fn wait_ready(app: &TestApp, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = app.health().await;
        if body["pool_ready"].as_u64() == Some(n as u64) {
            return;
        }
        // Without a cgroup limiter there is no pool at all: /health's limiter_note says why.
        assert!(
            Instant::now() < deadline,
            "the pool never had {n} ready sandboxes: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn pool_counter(app: &TestApp, name: &str) -> u64 {
    app.metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing"))
}

#[tokio::test]
async fn warm_runs_have_modules_preloaded_and_are_single_use() {
    let app = pool_app(1).await;
    let hits = pool_counter(&app, "psa_pool_hits_total").await;
    // It imports numpy, so it gets a warm sandbox, where pandas was preloaded as well. (A spawned
    // warm jail also has matplotlib's config dir in its /tmp, a forked one does not: left out.)
    let script = "import sys, os\nimport numpy\ndef main():\n    open('/tmp/mark', 'w').write('x')\n    return {'preloaded': 'pandas' in sys.modules, 'tmp': sorted(f for f in os.listdir('/tmp') if f != '.matplotlib')}\n";
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"],
        json!({"preloaded": true, "tmp": ["mark", "output"]})
    );
    assert_eq!(pool_counter(&app, "psa_pool_hits_total").await, hits + 1);
    // The next warm run is a new sandbox: nothing of the first is there.
    wait_ready(&app, 1).await;
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["tmp"], json!(["mark", "output"]));
    assert_eq!(pool_counter(&app, "psa_pool_hits_total").await, hits + 2);
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn warm_runs_keep_the_time_limits() {
    let app = pool_app(1).await;
    // The start-up probe may have taken a warm sandbox already (in fork mode every script does).
    let hits = pool_counter(&app, "psa_pool_hits_total").await;
    let started = Instant::now();
    let (status, body) = app
        .execute(json!({"script": "import time, numpy\ndef main():\n    time.sleep(30)\n", "timeout": 1}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "timeout");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(pool_counter(&app, "psa_pool_hits_total").await, hits + 1);

    wait_ready(&app, 1).await;
    let (status, body) = app
        .execute(json!({"script": "import numpy\ndef main():\n    while True:\n        pass\n", "timeout": 2}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "timeout");
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
}

#[tokio::test]
async fn warm_runs_are_narrowed_to_the_requested_memory() {
    let app = pool_app(1).await;
    let hits = pool_counter(&app, "psa_pool_hits_total").await;
    let (status, body) = app
        .execute(json!({"script": "import pandas\ndef main():\n    return len(bytearray(400 * 1024 * 1024))\n", "memory": 256}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "memory_limit");
    assert_eq!(pool_counter(&app, "psa_pool_hits_total").await, hits + 1);
    // Too little memory for a warm sandbox (the preloaded modules use more): the run goes cold.
    wait_ready(&app, 1).await;
    let misses = pool_counter(&app, "psa_pool_misses_total").await;
    let (status, body) = app
        .execute(json!({"script": "def main():\n    if False:\n        import numpy\n    return 1\n", "memory": 32}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        pool_counter(&app, "psa_pool_misses_total").await,
        misses + 1
    );
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
}

#[tokio::test]
async fn warm_runs_leave_no_processes_behind() {
    let app = pool_app(1).await;
    let marker = crate::helpers::unique("warm-bg");
    let script = format!(
        "import subprocess, sys, numpy\ndef main():\n    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', '{marker}'])\n    return 'spawned'\n"
    );
    let (status, body) = app.run(&script).await;
    assert_eq!(status, 200, "{body}");
    assert!(crate::helpers::processes_left(&marker).await.is_empty());
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn spawned_pools_run_scripts_that_import_nothing_preloaded_cold() {
    let app = spawn_app_with(|s| {
        s.sandbox.pool_size = 1;
        s.sandbox.pool_mode = Some(PoolMode::Spawn);
    })
    .await;
    wait_ready(&app, 1).await;
    let hits = pool_counter(&app, "psa_pool_hits_total").await;
    let (status, body) = app
        .run("import sys, json\ndef main():\n    return 'pandas' in sys.modules\n")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"], false,
        "a plain script ran in a warm sandbox"
    );
    assert_eq!(pool_counter(&app, "psa_pool_hits_total").await, hits);
    assert_eq!(
        app.health().await.1["pool_ready"],
        1,
        "the warm sandbox was kept"
    );
}

#[tokio::test]
async fn without_a_pool_every_run_is_cold() {
    let app = spawn_app_with(|s| s.sandbox.pool_size = 0).await;
    let (status, body) = app
        .run("import sys\ndef main():\n    return 'pandas' in sys.modules\n")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], false);
    assert_eq!(pool_counter(&app, "psa_pool_hits_total").await, 0);
}

/// Fork mode is the default under the container profile too, and a configuration may ask for it
/// there: its zygote is root of the container and each child drops to the jail's own uid before it
/// is used (fork.rs checks what a forked run holds, under each profile `make test` runs).
#[tokio::test]
async fn fork_mode_serves_under_the_container_profile() {
    let lookup = |pairs: &'static [(&'static str, &'static str)]| {
        Settings::from_lookup(&move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    };
    let asked = lookup(&[
        ("SANDBOX_PROFILE", "container"),
        ("SANDBOX_POOL_MODE", "fork"),
    ])
    .expect("fork mode under the container profile is accepted");
    assert_eq!(asked.sandbox.pool_mode, Some(PoolMode::Fork));
    let default = lookup(&[("SANDBOX_PROFILE", "container")]).expect("valid settings");
    assert_eq!(default.sandbox.pool_mode, None);

    let app = spawn_app_with(|s| {
        s.sandbox.profile = ProfileSetting::Container;
        s.sandbox.pool_size = 1;
        s.sandbox.pool_mode = None;
    })
    .await;
    let (status, health) = app.health().await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["profile"], "container", "{health}");
    assert_eq!(
        health["pool_mode"],
        PoolMode::default().as_str(),
        "{health}"
    );
    wait_ready(&app, 1).await;
    let hits = pool_counter(&app, "psa_pool_hits_total").await;
    let (status, body) = app
        .run("import os\ndef main():\n    return [os.getuid(), os.getgid(), os.getpid()]\n")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(pool_counter(&app, "psa_pool_hits_total").await, hits + 1);
    let ids = body["result"].as_array().cloned().unwrap_or_default();
    let uid = ids.first().and_then(|v| v.as_u64()).unwrap_or(0);
    assert!(
        (60000..65534).contains(&uid),
        "the run is not the jail's uid: {body}"
    );
    assert_eq!(ids.get(1), Some(&json!(65534)), "{body}");
    if health["pool_mode"] == "fork" {
        // pid 1 of the child's own pid namespace (a spawned jail's runner is pid 1 too).
        assert_eq!(ids.get(2), Some(&json!(1)), "{body}");
        assert_eq!(pool_counter(&app, "psa_pool_zygote_starts_total").await, 1);
    }
    app.assert_no_leftovers().await;
}
