use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use python_script_api::configuration::Settings;
use python_script_api::startup::Application;
use serde_json::{json, Value};

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    /// This app's own parent cgroup name, so that leftovers can be checked per app.
    pub cgroup: String,
}

static APPS: AtomicU32 = AtomicU32::new(0);

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server with the environment's settings (see the Makefile), port 0, and `tweak` applied.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let _ = env_logger::builder().is_test(true).try_init();
    let mut settings = Settings::from_env().expect("valid settings");
    settings.host = "127.0.0.1".into();
    settings.port = 0;
    let cgroup = format!(
        "psa-test-{}-{}",
        std::process::id(),
        APPS.fetch_add(1, Ordering::Relaxed)
    );
    settings.sandbox.cgroup_parent = cgroup.clone();
    tweak(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
        cgroup,
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
    /// waits up to 5 s for that.
    pub async fn assert_no_leftovers(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !self.leftover_runs().is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = self.leftover_runs();
        assert!(left.is_empty(), "left-over run cgroups: {left:?}");
    }

    fn leftover_runs(&self) -> Vec<String> {
        let mut left = Vec::new();
        for controller in ["memory", "pids"] {
            let parent = PathBuf::from("/sys/fs/cgroup")
                .join(controller)
                .join(&self.cgroup);
            let Ok(entries) = std::fs::read_dir(&parent) else {
                continue; // not a cgroup v1 host
            };
            left.extend(
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .filter(|e| !e.file_name().to_string_lossy().starts_with("warm-"))
                    .map(|e| format!("{controller}/{}", e.file_name().to_string_lossy())),
            );
        }
        left
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        remove_parent_cgroups(&self.cgroup);
    }
}

/// The (by then empty) parent cgroups a test server created.
pub fn remove_parent_cgroups(name: &str) {
    for controller in ["memory", "pids"] {
        let _ = std::fs::remove_dir(PathBuf::from("/sys/fs/cgroup").join(controller).join(name));
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
