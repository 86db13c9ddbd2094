//! What the server tells callers and scripts about its host: no host path in /health, no nsjail
//! log or cgroup path in a 500 (the caller gets the request id, the log gets the detail), and no
//! checkout path inside a run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, test_settings, unique};
use crate::operability::start_binary;

/// A path and, when it is a link or relative, what it resolves to.
fn forms(path: &Path) -> Vec<String> {
    let mut forms = vec![path.display().to_string()];
    if let Ok(real) = std::fs::canonicalize(path) {
        forms.push(real.display().to_string());
    }
    forms
}

fn assert_mentions_none(text: &str, paths: &[String], what: &str) {
    for path in paths {
        assert!(
            !text.contains(path.as_str()),
            "{what} shows the host path {path}: {text}"
        );
    }
}

#[tokio::test]
async fn health_names_no_host_path() {
    let s = test_settings().sandbox;
    let mut paths = vec![env!("CARGO_MANIFEST_DIR").to_string()];
    for path in [&s.nsjail_path, &s.config_path, &s.venv_path, &s.root_path] {
        paths.extend(forms(path));
    }
    let app = spawn_app().await;
    let (status, body) = app.health().await;
    assert_eq!(status, 200, "{body}");
    assert_mentions_none(&body.to_string(), &paths, "/health");

    // Unhealthy, it says what is wrong in words, not where.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-nsjail-here");
    let down = spawn_app_with(|s| s.sandbox.nsjail_path = missing.clone()).await;
    let (status, body) = down.health().await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("nsjail"),
        "{body}"
    );
    paths.push(dir.path().display().to_string());
    assert_mentions_none(&body.to_string(), &paths, "/health (unhealthy)");
}

/// Waits up to 5 s for a log line that contains every one of `needles`.
fn log_line_with(log: &std::sync::Mutex<Vec<String>>, needles: &[&str]) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = log
            .lock()
            .unwrap()
            .iter()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .cloned();
        if found.is_some() || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn a_sandbox_error_gives_the_caller_its_request_id_and_the_log_the_detail() {
    // An "nsjail" that fails to build the jail, and says why on nsjail's log fd (4), with a path.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("nsjail");
    let detail = unique("mount-failed");
    let host_path = dir.path().join("cgroup/memory/NSJAIL.42");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho '[E][2026-12-03T07:00:00+0000][42] {detail}: mkdir({}): Permission denied' >&4\nexit 255\n",
            host_path.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let server = start_binary(&[
        ("NSJAIL_PATH", fake.to_str().unwrap()),
        ("SANDBOX_POOL_SIZE", "0"),
    ]);
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", server.port);
    let secrets = [
        detail.clone(),
        dir.path().display().to_string(),
        "[E]".to_string(),
        "Permission denied".to_string(),
        env!("CARGO_MANIFEST_DIR").to_string(),
    ];
    let client = reqwest::Client::new();
    let script = json!({"script": "def main():\n    return 1\n"});

    let id = unique("fault-request");
    let r = client
        .post(url("/execute"))
        .header("X-Request-Id", &id)
        .json(&script)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_type"], "sandbox_error", "{body}");
    assert!(
        body["error"].as_str().unwrap().contains(&id),
        "the caller gets the request id: {body}"
    );
    assert_mentions_none(&body.to_string(), &secrets, "a 500 body");
    let line = log_line_with(&server.log, &[&id, &detail]);
    assert!(
        line.is_some(),
        "no log line carries both the request id and nsjail's words: {:?}",
        server.log.lock().unwrap()
    );

    // The streamed run's final event, made on a task of its own, is told the same way.
    let id = unique("fault-stream");
    let text = client
        .post(url("/execute/stream"))
        .header("X-Request-Id", &id)
        .header("Accept", "application/x-ndjson")
        .json(&script)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap_or("")).unwrap();
    assert_eq!(last["data"]["error_type"], "sandbox_error", "{text}");
    assert!(
        last["data"]["error"].as_str().unwrap().contains(&id),
        "{text}"
    );
    assert_mentions_none(&text, &secrets, "a streamed sandbox error");
    assert!(log_line_with(&server.log, &[&id, &detail]).is_some());

    // /health is unhealthy now, in words; the log has had the detail.
    let r = client.get(url("/health")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let text = r.text().await.unwrap();
    assert_mentions_none(&text, &secrets, "/health after a sandbox error");
}

#[tokio::test]
async fn a_run_cannot_see_where_the_checkout_is() {
    let checkout = env!("CARGO_MANIFEST_DIR");
    let venv = test_settings().sandbox.venv_path;
    let venv: PathBuf = std::fs::canonicalize(&venv).unwrap_or(venv);
    // The venv is bind-mounted into every run, and a bind mount shows its source path in
    // /proc/self/mountinfo; the venv's own files (pyvenv.cfg, .pyc) hold it too. So it must not
    // live in the checkout.
    assert!(
        !venv.starts_with(checkout),
        "the sandbox venv {} is inside the checkout {checkout}: every run can read that path. \
         Install the sandbox outside it (make setup, or scripts/setup-sandbox.sh \
         /opt/python-script-api) and point SANDBOX_VENV and NSJAIL_PATH there (or unset them)",
        venv.display()
    );
    let app = spawn_app().await;
    let script = "import importlib.util, numpy\n\
                  def read(path):\n\
                  \x20   try:\n\
                  \x20       with open(path, 'rb') as f:\n\
                  \x20           return f.read().decode('utf-8', 'replace')\n\
                  \x20   except OSError as e:\n\
                  \x20       return ''\n\
                  def main():\n\
                  \x20   return {\n\
                  \x20       'mountinfo': read('/proc/self/mountinfo'),\n\
                  \x20       'mounts': read('/proc/self/mounts'),\n\
                  \x20       'pyvenv': read('/venv/pyvenv.cfg'),\n\
                  \x20       'pyc': read(importlib.util.cache_from_source(numpy.__file__)),\n\
                  \x20   }\n";
    let (status, body) = app.execute(json!({"script": script, "memory": 512})).await;
    assert_eq!(status, 200, "{body}");
    let seen = &body["result"];
    assert!(
        seen["mountinfo"].as_str().unwrap().contains(" /venv "),
        "the run did not read its mount table: {seen}"
    );
    for (what, text) in seen.as_object().unwrap() {
        assert!(
            !text.as_str().unwrap().contains(checkout),
            "a run sees the checkout's path {checkout} in {what}"
        );
    }
    app.assert_healthy().await;
}
