//! The playground (GET /) and the API reference (GET /docs) in a real browser (issue 17): this test
//! starts two real servers (real nsjail; one with API keys), and runs tests/browser/test_playground.py
//! against them in `.sandbox/browser-venv` (Selenium, pinned by hash) with Debian's chromium and
//! chromedriver, all installed by scripts/setup-browser.sh, which `make test` runs. It fails with
//! the suite's output when any of it fails or skips. What the browser checks is in that file.
//! Screenshots land in tests/browser/screenshots/ (git-ignored).
//!
//! Run it alone: `cargo test --test browser -- --nocapture`.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::path::PathBuf;
use std::process::Command;

use python_script_api::sandbox::PoolMode;

use helpers::spawn_app_with;

/// The keyed server's key (at least 16 visible characters, as the server requires).
const KEY: &str = "browser-test-key-0123456789";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn the_playground_and_the_docs_work_in_a_real_browser() {
    let root = repo_root();
    let python = root.join(".sandbox/browser-venv/bin/python");
    for (what, path) in [
        ("the browser tests' venv", python.clone()),
        ("chromium", PathBuf::from("/usr/bin/chromium")),
        ("chromedriver", PathBuf::from("/usr/bin/chromedriver")),
    ] {
        assert!(
            path.exists(),
            "{what} is missing ({}): run `bash scripts/setup-browser.sh` (make test runs it)",
            path.display()
        );
    }
    // Sessions need fork mode, whatever the pass's SANDBOX_POOL_MODE (see tests/api/sessions.rs).
    let app = spawn_app_with(|s| s.sandbox.pool_mode = Some(PoolMode::Fork)).await;
    let keyed = spawn_app_with(|s| s.api_keys = vec![KEY.to_string()]).await;
    let env = [
        ("PSA_URL", app.address.clone()),
        ("PSA_KEYED_URL", keyed.address.clone()),
        ("PSA_KEY", KEY.to_string()),
    ];
    // BROWSER_TESTS picks tests by name, for a run by hand: comma-separated substrings
    // (unittest's -k).
    let mut args: Vec<String> = ["-m", "unittest", "-v"].map(String::from).to_vec();
    for name in std::env::var("BROWSER_TESTS")
        .unwrap_or_default()
        .split(',')
    {
        if !name.trim().is_empty() {
            args.extend(["-k".to_string(), name.trim().to_string()]);
        }
    }
    // Off the async runtime: the servers run on this test's runtime and must go on answering.
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .args(&args)
            .arg("tests/browser/test_playground.py")
            .current_dir(&root)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .envs(env)
            .output()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()))
    })
    .await
    .expect("the browser tests ran");
    // unittest reports on stderr.
    let report = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "the browser tests failed:\n{report}\n--- stdout\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        report.contains("\nOK") && !report.contains("skipped") && !report.contains("Ran 0 tests"),
        "every browser test must run and pass:\n{report}"
    );
    println!("{report}");
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
    keyed.assert_no_leftovers().await;
}
