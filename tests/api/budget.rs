//! The memory budget of the whole service: the parent cgroup carries it as its limit, a request
//! that can never fit is refused before it runs, and runs that do not fit together take turns
//! (or get 429) instead of pushing each other into the OOM killer.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::cgroups::{own_v2_cgroup, CgroupRoots, Listing, ServerCgroups};
use crate::helpers::{spawn_app_with, test_settings, TestApp};

/// A budget small enough that two runs of `SHARE_MIB` cannot hold it together, with or without a
/// warm pool (two warm sandboxes hold about 90 MiB).
const BUDGET_MIB: u64 = 700;
const SHARE_MIB: u64 = 400;

async fn budget_app(
    tweak: impl FnOnce(&mut python_script_api::configuration::Settings),
) -> TestApp {
    spawn_app_with(|s| {
        s.sandbox.memory_budget_mib = Some(BUDGET_MIB);
        s.sandbox.slots = 2;
        tweak(s);
    })
    .await
}

async fn budget_health(app: &TestApp) -> Value {
    let (status, body) = app.health().await;
    assert_eq!(status, 200, "{body}");
    body["memory_budget"].clone()
}

/// The memory limit of the app's parent cgroup, where the runs' cgroups are made. Fails loudly
/// where there is none: this test is about the cgroup.
async fn parent_memory_limit(app: &TestApp) -> u64 {
    let file = app.run_parents().await.memory_limit_file();
    let value = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    value.trim().parse().unwrap_or(u64::MAX)
}

async fn executions(app: &TestApp) -> u64 {
    app.metrics()
        .await
        .lines()
        .filter(|l| l.starts_with("psa_executions_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A script that holds `hold_mib` of touched memory for `secs`, and says when it held it (the
/// jail's clock is the host's).
fn holder(hold_mib: u64, secs: f64) -> String {
    format!(
        "import time\ndef main():\n    start = time.time()\n    data = b'x' * ({hold_mib} << 20)\n    time.sleep({secs})\n    return {{'start': start, 'end': time.time(), 'held': len(data) >> 20}}\n"
    )
}

#[tokio::test]
async fn the_parent_cgroup_is_limited_to_the_memory_budget() {
    let app = budget_app(|_| {}).await;
    let budget = budget_health(&app).await;
    assert_eq!(budget["mib"], BUDGET_MIB, "{budget}");
    assert_eq!(budget["source"], "setting", "{budget}");
    assert_eq!(budget["enforced"], true, "{budget}");
    assert!(
        !budget.to_string().contains('/'),
        "a path in /health: {budget}"
    );
    assert_eq!(parent_memory_limit(&app).await, BUDGET_MIB << 20);
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn a_parent_cgroup_made_again_gets_the_budget_back() {
    // Without a pool the parent holds no warm sandbox, so it can be removed between runs.
    let app = budget_app(|s| s.sandbox.pool_size = 0).await;
    assert_eq!(parent_memory_limit(&app).await, BUDGET_MIB << 20);
    // Nor a run's: the start-up probe's goes a moment after it ends.
    app.assert_no_leftovers().await;
    for parent in app.run_parents().await.dirs {
        std::fs::remove_dir(&parent)
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", parent.display()));
    }
    let (status, body) = app.run("def main():\n    return 1\n").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(parent_memory_limit(&app).await, BUDGET_MIB << 20);
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn memory_above_what_the_budget_can_ever_hold_is_refused_before_it_runs() {
    let app = budget_app(|_| {}).await;
    let budget = budget_health(&app).await;
    let most = budget["runs_mib"].as_u64().expect("runs_mib");
    assert_eq!(
        most,
        BUDGET_MIB - budget["pool_mib"].as_u64().expect("pool_mib"),
        "{budget}"
    );
    let before = executions(&app).await;
    for memory in [most + 1, 4096] {
        let (status, body) = app
            .execute(json!({"script": "def main():\n    return 1\n", "memory": memory}))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error_type"], "invalid_request", "{body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(&format!("{most} MiB")),
            "names the most: {error}"
        );
    }
    assert_eq!(executions(&app).await, before, "a refused request ran");
    // The most that fits still runs.
    let (status, body) = app
        .execute(json!({"script": "def main():\n    return 1\n", "memory": most}))
        .await;
    assert_eq!(status, 200, "{body}");
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn runs_that_exceed_the_budget_together_take_turns_and_neither_is_killed() {
    let app = budget_app(|_| {}).await;
    let body = json!({"script": holder(250, 1.5), "memory": SHARE_MIB, "timeout": 60});
    let ((s1, b1), (s2, b2)) = tokio::join!(app.execute(body.clone()), app.execute(body));
    assert_eq!(s1, 200, "{b1}");
    assert_eq!(s2, 200, "{b2}");
    assert_eq!(b1["result"]["held"], 250);
    assert_eq!(b2["result"]["held"], 250);
    let span = |b: &Value| {
        (
            b["result"]["start"].as_f64().unwrap(),
            b["result"]["end"].as_f64().unwrap(),
        )
    };
    let ((start1, end1), (start2, end2)) = (span(&b1), span(&b2));
    assert!(
        start2 >= end1 || start1 >= end2,
        "the runs held their memory at the same time: {start1}..{end1} and {start2}..{end2}"
    );
    assert_eq!(budget_health(&app).await["reserved_mib"], 0);
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn a_run_whose_memory_does_not_free_up_in_time_gets_429() {
    let app = budget_app(|s| s.sandbox.queue_wait = Duration::from_secs(1)).await;
    let first = {
        let body = json!({"script": holder(100, 6.0), "memory": SHARE_MIB, "timeout": 60});
        let client = app.client.clone();
        let url = format!("{}/execute", app.address);
        tokio::spawn(async move {
            let response = client.post(url).body(body.to_string()).send().await;
            let response = response.expect("request sent");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("JSON"))
        })
    };
    // Until the first run holds its share.
    let deadline = Instant::now() + Duration::from_secs(30);
    while budget_health(&app).await["reserved_mib"].as_u64() != Some(SHARE_MIB) {
        assert!(
            Instant::now() < deadline,
            "the first run never reserved its memory"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = app
        .client
        .post(format!("{}/execute", app.address))
        .body(json!({"script": holder(100, 0.0), "memory": SHARE_MIB}).to_string())
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status().as_u16(), 429);
    // Estimated from how long slots are held (the time for the run holding the memory to end):
    // whole seconds, at least 1, at most the cap.
    let retry_after = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .to_string();
    let secs: u64 = retry_after.parse().expect("whole seconds");
    assert!((1..=300).contains(&secs), "Retry-After {retry_after}");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error_type"], "overloaded", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("memory budget"),
        "{body}"
    );
    let (status, body) = first.await.expect("first run");
    assert_eq!(
        status, 200,
        "the run that held the memory was harmed: {body}"
    );
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn a_max_memory_set_above_the_budget_stops_start_up_and_names_the_variables() {
    use python_script_api::startup::Application;
    let mut settings = test_settings();
    settings.host = "127.0.0.1".into();
    settings.port = 0;
    let cgroup = crate::helpers::unique("psa-test-budget");
    settings.sandbox.cgroup_parent = cgroup.clone();
    settings.sandbox.memory_budget_mib = Some(BUDGET_MIB);
    settings.max_memory_mib = 4096;
    settings.max_memory_set = true;
    let before = own_v2_cgroup("self");
    let error = match Application::build(settings).await {
        Ok(_) => panic!("a server started with MAX_MEMORY_MB=4096 in a {BUDGET_MIB} MiB budget"),
        Err(e) => e,
    };
    let config = Application::config_error(&error).expect("a configuration error");
    assert_eq!(config.name, "MAX_MEMORY_MB");
    let text = config.to_string();
    for named in [
        "SANDBOX_MEMORY_BUDGET_MB",
        "SANDBOX_POOL_SIZE",
        "MAX_MEMORY_MB",
    ] {
        assert!(text.contains(named), "{text}");
    }
    // The pool it had started goes with it (a spawned warm-up in progress ends within seconds).
    // It had made its parent cgroups, under whichever version the host offers, before it failed.
    let cgroups = ServerCgroups::new(&cgroup, before, own_v2_cgroup("self"));
    let roots = CgroupRoots::host();
    let layout = cgroups.found_layout(&roots).unwrap_or_else(|why| {
        panic!(
            "this test checks that the pool's cgroups went with the server, and needs them: {why}"
        )
    });
    let groups = || -> Listing { cgroups.listing(&roots, layout).expect("the parent stays") };
    let deadline = Instant::now() + Duration::from_secs(10);
    while groups() != Listing::default() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = groups();
    cgroups.remove_all(&roots);
    assert_eq!(left, Listing::default(), "left behind");
}
