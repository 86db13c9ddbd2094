//! Tests of the test harness itself (helpers.rs, cgroups.rs): the test servers read only the
//! variables that choose the sandbox, and the leftover check finds runs under cgroup v1 and v2
//! (v2 over a fake tree: this project's CI host limits runs with cgroup v1) and fails when it
//! cannot look. The server's own behaviour is the other files' subject, not this one's.

use std::path::Path;

use serde_json::json;

use crate::helpers::cgroups::{CgroupRoots, Layout, Listing, ServerCgroups};
use crate::helpers::{settings_from, spawn_app_with};

fn mkdirs(root: &Path, dirs: &[&str]) {
    for dir in dirs {
        std::fs::create_dir_all(root.join(dir)).expect("a fake cgroup directory");
    }
}

#[test]
fn test_servers_read_only_the_variables_that_choose_the_sandbox() {
    let settings = settings_from(&|name| match name {
        "API_KEYS" => Some("0123456789abcdef0123".into()),
        "ALLOWED_ORIGINS" => Some("https://app.example.com".into()),
        "IMPORT_DENY" => Some("json".into()),
        "PORT" => Some("1".into()),
        "SANDBOX_POOL_SIZE" => Some("3".into()),
        "SANDBOX_PROFILE" => Some("container".into()),
        _ => None,
    });
    assert!(settings.api_keys.is_empty());
    assert!(settings.allowed_origins.is_empty());
    assert!(settings.sandbox.import_policy.is_none());
    assert_eq!(settings.port, 8080);
    assert_eq!(settings.sandbox.pool_size, 3);
    assert_eq!(settings.sandbox.profile.as_str(), "container");
}

#[test]
fn a_v2_tree_is_listed_where_the_server_puts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = CgroupRoots {
        v1: tmp.path().join("v1"),
        v2: Some(tmp.path().join("v2")),
    };
    // The server started in /system.slice/x.scope and moved itself into <parent>/server.
    let cgroups = ServerCgroups::new(
        "psa-test-1",
        Some("/system.slice/x.scope".into()),
        Some("/system.slice/x.scope/psa-test-1/server".into()),
    );
    assert_eq!(cgroups.v2_bases, ["/system.slice/x.scope"]);
    let parent = roots
        .v2
        .as_ref()
        .unwrap()
        .join("system.slice/x.scope/psa-test-1");
    mkdirs(
        &parent,
        &[
            "server",
            "runs/run-1-2",
            "runs/warm-3-4",
            "runs/sessions/run-7-8",
        ],
    );
    std::fs::write(parent.join("runs/memory.max"), "734003200\n").unwrap();

    let parents = cgroups.run_parents(&roots, Layout::V2).expect("found");
    assert_eq!(parents.dirs, [parent.join("runs")]);
    assert_eq!(parents.memory_limit_file(), parent.join("runs/memory.max"));
    assert_eq!(
        cgroups.listing(&roots, Layout::V2),
        Ok(Listing {
            // The sessions' jails, one level down in their CPU group, are listed with the runs.
            runs: vec!["runs/run-1-2".into(), "runs/run-7-8".into()],
            warm: 1,
        })
    );
    assert_eq!(cgroups.found_layout(&roots), Ok(Layout::V2));
    // The check follows /health: a v1 limiter's directories are not there.
    assert!(cgroups
        .check(&roots, &json!({"limiter": "cgroup_v2"}))
        .is_ok());
    let v1 = cgroups.check(&roots, &json!({"limiter": "cgroup_v1"}));
    assert!(v1.is_err_and(|e| e.contains("not there")));

    // Emptied, everything the server made is removed.
    std::fs::remove_file(parent.join("runs/memory.max")).unwrap();
    for run in [
        "runs/run-1-2",
        "runs/warm-3-4",
        "runs/sessions/run-7-8",
        "runs/sessions",
    ] {
        std::fs::remove_dir(parent.join(run)).unwrap();
    }
    cgroups.remove_all(&roots);
    assert!(!parent.exists());
}

#[test]
fn a_v2_server_started_inside_another_servers_leaf_is_found() {
    // Another in-process server moved the test process between the two readings.
    let tmp = tempfile::tempdir().unwrap();
    let roots = CgroupRoots {
        v1: tmp.path().join("v1"),
        v2: Some(tmp.path().to_path_buf()),
    };
    let cgroups = ServerCgroups::new(
        "psa-test-2",
        Some("/".into()),
        Some("/psa-test-1/server/psa-test-2/server".into()),
    );
    assert_eq!(cgroups.v2_bases, ["/", "/psa-test-1/server"]);
    mkdirs(tmp.path(), &["psa-test-1/server/psa-test-2/runs/run-5-6"]);
    let listing = cgroups.listing(&roots, Layout::V2).expect("found");
    assert_eq!(listing.runs, ["runs/run-5-6"]);
}

#[test]
fn a_v1_tree_is_listed_per_hierarchy() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = CgroupRoots {
        v1: tmp.path().to_path_buf(),
        v2: None,
    };
    let cgroups = ServerCgroups::new("psa-test-3", Some("/".into()), Some("/".into()));
    mkdirs(
        tmp.path(),
        &["memory/psa-test-3/run-1", "memory/psa-test-3/warm-2"],
    );
    // Only the memory hierarchy: the pids one is missing, and that is an error.
    let missing = cgroups.listing(&roots, Layout::V1);
    assert!(missing.is_err_and(|e| e.contains("pids/psa-test-3")));
    mkdirs(
        tmp.path(),
        &["pids/psa-test-3/run-1", "pids/psa-test-3/warm-2"],
    );
    assert_eq!(
        cgroups.listing(&roots, Layout::V1),
        Ok(Listing {
            runs: vec!["memory/run-1".into(), "pids/run-1".into()],
            warm: 1,
        })
    );
    assert_eq!(cgroups.found_layout(&roots), Ok(Layout::V1));
    assert!(cgroups.listing(&roots, Layout::V2).is_err());
    // The sessions' CPU group, where the host has a cpu hierarchy, is listed too.
    mkdirs(tmp.path(), &["cpu/psa-test-3/run-9"]);
    let listing = cgroups.listing(&roots, Layout::V1).expect("found");
    assert!(
        listing.runs.contains(&"cpu/run-9".to_string()),
        "{listing:?}"
    );
}

/// No directory of either version: the check fails whatever /health's limiter, where it once
/// passed ("not a cgroup v1 host").
#[tokio::test]
async fn a_cgroup_limiter_without_its_directories_fails_the_check() {
    let tmp = tempfile::tempdir().unwrap();
    let nowhere = CgroupRoots {
        v1: tmp.path().join("v1"),
        v2: Some(tmp.path().join("v2")),
    };
    let cgroups = ServerCgroups::new("psa-test-4", Some("/".into()), Some("/".into()));
    for limiter in ["cgroup_v1", "cgroup_v2"] {
        let checked = cgroups.check(&nowhere, &json!({ "limiter": limiter }));
        assert!(checked.is_err_and(|e| e.contains("not there")), "{limiter}");
    }
    let rlimits = json!({"limiter": "rlimits", "limiter_note": "no cgroup"});
    assert!(cgroups
        .check(&nowhere, &rlimits)
        .is_err_and(|e| e.contains("needs a cgroup limiter")));
    assert!(cgroups.found_layout(&nowhere).is_err());

    // A real server: found where it is, not found elsewhere.
    let app = spawn_app_with(|s| s.sandbox.pool_size = 0).await;
    app.assert_no_leftovers().await; // the start-up probe's run is gone
    let (_, health) = app.health().await;
    assert_eq!(
        app.cgroups.check(&CgroupRoots::host(), &health),
        Ok(Listing::default())
    );
    assert!(app.cgroups.check(&nowhere, &health).is_err());
}

/// A run cgroup left in a real server's parents fails `assert_no_leftovers`.
#[tokio::test]
async fn a_left_over_run_cgroup_fails_the_check() {
    let app = spawn_app_with(|s| s.sandbox.pool_size = 0).await;
    let parents = app.run_parents().await;
    let fakes: Vec<_> = parents
        .dirs
        .iter()
        .map(|d| d.join("run-left-over"))
        .collect();
    for fake in &fakes {
        std::fs::create_dir(fake).expect("a cgroup made by hand");
    }
    let app = std::sync::Arc::new(app);
    let checker = app.clone();
    let checked = tokio::spawn(async move { checker.assert_no_leftovers().await }).await;
    for fake in &fakes {
        std::fs::remove_dir(fake).expect("the hand-made cgroup removed");
    }
    let panic = checked.expect_err("the left-over cgroup was not found");
    let text = panic
        .into_panic()
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert!(text.contains("run-left-over"), "{text}");
    app.assert_no_leftovers().await;
}
