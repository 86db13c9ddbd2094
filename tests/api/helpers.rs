//! The test server and what tests ask of it: `spawn_app`/`spawn_app_with` start the real server
//! in-process (port 0, real nsjail), `TestApp` talks to it over HTTP and checks that no run left a
//! cgroup behind, under cgroup v1 or v2. Process look-ups (`processes_with`) live here too. The
//! tests themselves do not: each file of tests/api/ holds one subject's.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use python_script_api::configuration::Settings;
use python_script_api::startup::Application;
use serde_json::{json, Value};

#[path = "cgroups.rs"]
pub mod cgroups;

use cgroups::{CgroupRoots, Listing, RunParents, ServerCgroups};

/// The environment variables that choose the sandbox under test, and the only ones the test
/// servers read: the Makefile's test target sets them for its passes. Every other setting takes
/// its default whatever the shell exports (an exported API_KEYS would turn every request into a
/// 401, an ALLOWED_ORIGINS or IMPORT_DENY would change what the tests check); a test that needs
/// another value sets it in its tweak.
pub const SANDBOX_UNDER_TEST: [&str; 7] = [
    "NSJAIL_PATH",
    "SANDBOX_VENV",
    "SANDBOX_ROOT",
    "NSJAIL_CONFIG",
    "SANDBOX_PROFILE",
    "SANDBOX_POOL_MODE",
    "SANDBOX_POOL_SIZE",
];

/// The preload of the servers the suite starts: numpy, pandas and scipy, without the default's
/// matplotlib, pyplot and seaborn. Every test server imports its preload once per slot (a zygote
/// each): about 2 s of CPU with the default's, under 0.5 s without, which made one pass of the
/// HTTP suite take about 8 minutes instead of about 3 on the 2-CPU machines. What a run finds in a
/// zygote with the default preload is tested with it (`product_preload`: fork.rs, preload.rs, the
/// attack corpus).
const SUITE_PRELOAD: [&str; 3] = ["numpy", "pandas", "scipy"];

/// The preload a server gets when `SANDBOX_PRELOAD` is unset.
pub fn product_preload() -> Vec<String> {
    settings_from(&|_| None).sandbox.preload
}

/// The settings a test server starts from: `SANDBOX_UNDER_TEST` from the environment, defaults
/// for everything else.
pub fn test_settings() -> Settings {
    settings_from(&|name| std::env::var(name).ok())
}

/// `test_settings` over any lookup: only the `SANDBOX_UNDER_TEST` names are looked up.
pub fn settings_from(env: &dyn Fn(&str) -> Option<String>) -> Settings {
    Settings::from_lookup(&|name| {
        if SANDBOX_UNDER_TEST.contains(&name) {
            env(name)
        } else {
            None
        }
    })
    .unwrap_or_else(|e| panic!("the sandbox under test is misconfigured: {e}"))
}

/// The sandbox-choosing variables that are set, for a server started as a process of its own.
pub fn sandbox_env() -> Vec<(&'static str, String)> {
    SANDBOX_UNDER_TEST
        .iter()
        .filter_map(|&name| Some((name, std::env::var(name).ok()?)))
        .collect()
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    /// This app's own parent cgroup (its name, and where it is under either cgroup version), so
    /// that leftovers can be checked per app.
    pub cgroups: ServerCgroups,
    /// This app's own DATA_DIR (its job store), removed with the app, unless a tweak named
    /// another (tests/api/jobs.rs shares one between two servers).
    pub data_dir: tempfile::TempDir,
}

static APPS: AtomicU32 = AtomicU32::new(0);

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server with `test_settings()` (the sandbox the Makefile's pass chose), port 0, and
/// `tweak` applied.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let _ = env_logger::builder().is_test(true).try_init();
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(|| cgroups::sweep_parents_of_dead_tests(&CgroupRoots::host()));
    let mut settings = test_settings();
    settings.sandbox.preload = SUITE_PRELOAD.map(String::from).to_vec();
    settings.host = "127.0.0.1".into();
    settings.port = 0;
    settings.sandbox.cgroup_parent = format!(
        "psa-test-{}-{}",
        std::process::id(),
        APPS.fetch_add(1, Ordering::Relaxed)
    );
    // A job store of its own: servers that shared one would run each other's jobs.
    let data_dir = tempfile::tempdir().expect("a data directory");
    settings.jobs.data_dir = data_dir.path().to_path_buf();
    tweak(&mut settings);
    let cgroup = settings.sandbox.cgroup_parent.clone();
    // Under cgroup v2 the server makes its cgroups below the one it starts in.
    let before = cgroups::own_v2_cgroup("self");
    let app = Application::build(settings).await.expect("app builds");
    let cgroups = ServerCgroups::new(&cgroup, before, cgroups::own_v2_cgroup("self"));
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
        cgroups,
        data_dir,
    }
}

impl TestApp {
    pub async fn post_raw(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        self.post_json("/execute", body).await
    }

    /// POST /validate with a raw body.
    pub async fn validate_raw(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        self.post_json("/validate", body).await
    }

    /// POSTs a raw JSON body to `path`; the answer must be JSON.
    async fn post_json(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.address))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {text:.300}"));
        (status, value)
    }

    /// Validates a script with default limits.
    pub async fn validate(&self, script: &str) -> (u16, Value) {
        self.validate_raw(json!({ "script": script }).to_string())
            .await
    }

    pub async fn environment(&self) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}/environment", self.address))
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        (status, response.json().await.expect("environment is JSON"))
    }

    pub async fn execute(&self, body: Value) -> (u16, Value) {
        self.post_raw(body.to_string()).await
    }

    /// Runs a script with default limits.
    pub async fn run(&self, script: &str) -> (u16, Value) {
        self.execute(json!({ "script": script })).await
    }

    /// GET /metrics, as text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("request sent")
            .text()
            .await
            .expect("body read")
    }

    pub async fn health(&self) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}/health", self.address))
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        (status, response.json().await.expect("health is JSON"))
    }

    /// Every hostile test ends with this: the server must still be healthy and still run scripts.
    pub async fn assert_healthy(&self) {
        let (status, body) = self.health().await;
        assert_eq!(status, 200, "unhealthy after a hostile script: {body}");
        assert_eq!(body["status"], "healthy");
        let (status, body) = self.run("def main():\n    return 'still here'\n").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], "still here");
    }

    /// No run of this app left a cgroup, and so no process, behind. Warm sandboxes waiting in the
    /// pool (`warm-*`) are not runs; at most the pool's size of them may exist.
    /// The server sends SIGKILL to every process of a run before it responds, and removes the
    /// run's cgroup right after (the kernel takes a few ms to tear the processes down), so this
    /// waits up to 5 s for that. It fails when it cannot look: when the server has no cgroup
    /// limiter, or when /health names one and this app's cgroups are not where it puts them.
    pub async fn assert_no_leftovers(&self) {
        let (_, health) = self.health().await;
        let pool_size = health["pool_size"].as_u64().unwrap_or(0) as usize;
        let roots = CgroupRoots::host();
        let check = || -> Listing {
            self.cgroups
                .check(&roots, &health)
                .unwrap_or_else(|why| panic!("cannot check for left-over runs: {why}"))
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut listing = check();
        while (!listing.runs.is_empty() || listing.warm > pool_size)
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
            listing = check();
        }
        assert!(
            listing.runs.is_empty(),
            "left-over run cgroups: {:?}",
            listing.runs
        );
        assert!(
            listing.warm <= pool_size,
            "{} warm sandboxes' cgroups, for a pool of {pool_size}",
            listing.warm
        );
    }

    /// The directories this app makes its runs' cgroups in, under the layout /health names.
    /// Fails when there are none: the caller's test is about them.
    pub async fn run_parents(&self) -> RunParents {
        let (_, health) = self.health().await;
        let found = cgroups::layout(&health)
            .and_then(|layout| self.cgroups.run_parents(&CgroupRoots::host(), layout));
        found.unwrap_or_else(|why| panic!("this test needs the app's run cgroups: {why}"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cgroups.remove_all(&CgroupRoots::host());
    }
}

/// Waits up to 5 s for every process whose command line contains `marker` to be gone (killed
/// processes take a few ms to disappear), and returns those still there.
/// `processes_with` off the async runtime: reading a busy process's cmdline can block for
/// seconds (it takes that process's mmap lock, which a fork or an OOM kill holds), and a blocked
/// runtime would also hold up this test's client and the server tasks that share it.
pub async fn processes_with_async(marker: &str) -> Vec<String> {
    let marker = marker.to_string();
    tokio::task::spawn_blocking(move || processes_with(&marker))
        .await
        .unwrap_or_default()
}

pub async fn processes_left(marker: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_with_async(marker).await;
        if left.is_empty() || std::time::Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Processes on the host whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) && !cmdline.contains("cargo") {
                found.push(cmdline);
            }
        }
    }
    found
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
