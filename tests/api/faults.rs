//! Faults around the sandbox: nsjail disappearing or broken, the cgroup parent removed, SIGTERM
//! under load. Each ends with the server recovering or exiting cleanly.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::helpers::{spawn_app_with, test_settings, TestApp};

fn real_nsjail() -> PathBuf {
    let configured = test_settings().sandbox.nsjail_path;
    std::fs::canonicalize(configured).expect("nsjail is installed (make setup)")
}

async fn wait_healthy(app: &TestApp, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if app.health().await.0 == 200 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

#[tokio::test]
async fn nsjail_vanishing_mid_run_gives_500_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("nsjail");
    std::os::unix::fs::symlink(real_nsjail(), &link).unwrap();
    // Cold runs only: a run forked from a zygote that is already running needs no nsjail binary.
    let app = spawn_app_with(|s| {
        s.sandbox.nsjail_path = link.clone();
        s.sandbox.pool_size = 0;
    })
    .await;
    assert_eq!(app.run("def main():\n    return 1\n").await.0, 200);

    std::fs::remove_file(&link).unwrap();
    let (status, body) = app.run("def main():\n    return 1\n").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error_type"], "sandbox_error");
    let (status, body) = app.health().await;
    assert_eq!(status, 503, "{body}");

    std::os::unix::fs::symlink(real_nsjail(), &link).unwrap();
    assert!(
        wait_healthy(&app, Duration::from_secs(15)).await,
        "no recovery"
    );
    app.assert_healthy().await;
}

#[tokio::test]
async fn nsjail_missing_at_start_recovers_once_installed() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("nsjail");
    let app = spawn_app_with(|s| s.sandbox.nsjail_path = link.clone()).await;
    assert_eq!(app.health().await.0, 503);
    std::os::unix::fs::symlink(real_nsjail(), &link).unwrap();
    // The start-up probe failed; /health re-probes (every 5 s at most) without any request.
    assert!(
        wait_healthy(&app, Duration::from_secs(15)).await,
        "no recovery"
    );
    let (_, body) = app.health().await;
    assert!(body["python_version"].as_str().is_some(), "{body}");
}

#[tokio::test]
async fn a_non_executable_nsjail_is_a_sandbox_error() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("nsjail");
    std::fs::write(&fake, "not a program").unwrap();
    let app = spawn_app_with(|s| s.sandbox.nsjail_path = fake.clone()).await;
    let (status, body) = app.health().await;
    assert_eq!(status, 503);
    assert!(
        body["reason"].as_str().unwrap().contains("not executable"),
        "{body}"
    );
    let (status, body) = app.run("def main():\n    return 1\n").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error_type"], "sandbox_error");
    // Executable but not nsjail at all: still our error, never the script's.
    std::fs::write(&fake, "#!/bin/sh\nexit 255\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (status, body) = app.run("def main():\n    return 1\n").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error_type"], "sandbox_error");
}

#[tokio::test]
async fn a_removed_cgroup_parent_is_recreated() {
    // Without a pool: a warm sandbox's cgroup would keep its parent busy, and it could not be
    // removed.
    let app = spawn_app_with(|s| s.sandbox.pool_size = 0).await;
    // Nor may a run's cgroup be in it: the start-up probe's goes a moment after it ends.
    app.assert_no_leftovers().await;
    for parent in app.run_parents().await.dirs {
        std::fs::remove_dir(&parent)
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", parent.display()));
    }
    let (status, body) = app
        .execute(serde_json::json!({"script": "def main():\n    return len(bytearray(1 << 30))\n", "memory": 64}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error_type"], "memory_limit",
        "the limit still applies: {body}"
    );
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}
