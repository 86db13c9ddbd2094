//! The Python client (clients/python, issue 15) against the real server: this test starts the two
//! servers its pytest suite needs, runs that suite in `.sandbox/client-venv` (made by
//! scripts/setup-client-venv.sh, which `make test` runs), and fails with its output when any of
//! it fails or skips. A second test runs `mypy --strict` over the package and its tests. What the
//! client's tests check is in their own files (clients/python/tests/); not here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use python_script_api::sandbox::PoolMode;

use crate::helpers::spawn_app_with;

/// The key of the server with API_KEYS (at least 16 visible characters, as the server requires).
const LIMITED_KEY: &str = "python-client-test-key-0123456789";

/// Proxy variables a developer's shell may export: httpx would send the local test traffic
/// through them.
const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's interpreter; a missing venv fails the test and says how to make it.
fn venv_python() -> PathBuf {
    let python = repo_root().join(".sandbox/client-venv/bin/python");
    assert!(
        python.exists(),
        "the Python client's test venv is missing ({}): run `bash scripts/setup-client-venv.sh` \
         (make test runs it)",
        python.display()
    );
    python
}

/// Runs the venv's Python with `args` in clients/python, off the async runtime: the servers under
/// test run on this test's runtime and must go on answering while the client's tests wait.
async fn run_python(args: &[&str], env: Vec<(&'static str, String)>) -> Output {
    let python = venv_python();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let dir: PathBuf = repo_root().join("clients/python");
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(&python);
        command
            .args(&args)
            .current_dir(Path::new(&dir))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .envs(env);
        for var in PROXY_VARS {
            command.env_remove(var);
        }
        command
            .output()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()))
    })
    .await
    .expect("the client's tests ran")
}

fn report(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn the_python_client_passes_its_tests_against_the_real_server() {
    // Sessions need fork mode, whatever the pass's SANDBOX_POOL_MODE (see sessions.rs).
    let app = spawn_app_with(|s| s.sandbox.pool_mode = Some(PoolMode::Fork)).await;
    // One slot and no queue: a second run at once gets 429, for the retry's acceptance test.
    let limited = spawn_app_with(|s| {
        s.sandbox.slots = 1;
        s.sandbox.queue = 0;
        s.api_keys = vec![LIMITED_KEY.to_string()];
    })
    .await;
    let env = vec![
        ("PSA_URL", app.address.clone()),
        ("PSA_LIMITED_URL", limited.address.clone()),
        ("PSA_LIMITED_KEY", LIMITED_KEY.to_string()),
        ("PSA_REPO_ROOT", repo_root().display().to_string()),
    ];
    let output = run_python(
        &["-m", "pytest", "-q", "-rfEs", "--durations=8", "tests"],
        env,
    )
    .await;
    let text = report(&output);
    assert!(
        output.status.success(),
        "the client's tests failed:\n{text}"
    );
    // Shown with --nocapture: the counts and the slowest tests.
    println!("{text}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(" passed") && !stdout.contains("skipped") && !stdout.contains("xfail"),
        "every client test must run and pass:\n{text}"
    );
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
    limited.assert_no_leftovers().await;
}

#[tokio::test]
async fn the_python_client_is_strictly_typed() {
    let cache = repo_root().join(".sandbox/client-venv/mypy-cache");
    let output = run_python(
        &[
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            &cache.display().to_string(),
            "src",
            "tests",
        ],
        Vec::new(),
    )
    .await;
    assert!(
        output.status.success(),
        "mypy --strict found problems:\n{}",
        report(&output)
    );
}
