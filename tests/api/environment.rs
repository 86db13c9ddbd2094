//! GET /environment: what the sandbox offers, as its own interpreter reported it at setup.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn the_environment_lists_the_analysis_packages() {
    let app = spawn_app().await;
    let (status, body) = app.environment().await;
    assert_eq!(status, 200, "{body}");
    let packages = body["packages"].as_array().expect("packages");
    for wanted in ["numpy", "pandas", "scipy"] {
        let package = packages
            .iter()
            .find(|p| p["name"] == wanted)
            .unwrap_or_else(|| panic!("{wanted} is missing: {body}"));
        let version = package["version"].as_str().unwrap();
        assert!(
            version.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{package}"
        );
    }
    let modules: Vec<&str> = body["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for wanted in [
        "numpy",
        "pandas",
        "scipy",
        "json",
        "math",
        "sys",
        "collections",
    ] {
        assert!(modules.contains(&wanted), "{wanted} is not listed");
    }
    for absent in ["msvcrt", "winreg", "sitecustomize", "nosuchmodule_xyz"] {
        assert!(!modules.contains(&absent), "{absent} is listed");
    }
    let mut sorted = modules.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, modules, "sorted, without repeats");

    let (_, health) = app.health().await;
    assert!(health["python_version"].is_string(), "{health}");
    assert_eq!(body["python_version"], health["python_version"]);
}

/// The manifest is written on the host; the jail must agree with it: the same interpreter,
/// the same packages, and every listed module locatable inside.
#[tokio::test]
async fn the_jail_agrees_with_the_environment() {
    let app = spawn_app().await;
    let (_, env) = app.environment().await;
    let script = format!(
        "import importlib.metadata, importlib.util, sys\n\
         MODULES = {modules}\n\
         def main():\n\
         \x20   missing = [m for m in MODULES if importlib.util.find_spec(m) is None]\n\
         \x20   packages = sorted(({{'name': d.metadata['Name'], 'version': d.version}} for d in importlib.metadata.distributions()), key=lambda p: p['name'].lower())\n\
         \x20   return {{'python_version': sys.version.split()[0], 'packages': packages, 'missing': missing}}\n",
        modules = env["modules"]
    );
    let (status, body) = app.execute(json!({"script": script, "memory": 512})).await;
    assert_eq!(status, 200, "{body}");
    let result = &body["result"];
    assert_eq!(result["missing"], json!([]), "listed but not in the jail");
    assert_eq!(result["python_version"], env["python_version"]);
    assert_eq!(result["packages"], env["packages"]);
}

#[tokio::test]
async fn without_a_manifest_the_environment_is_503() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|s| s.sandbox.venv_path = dir.path().join("venv")).await;
    let (status, body) = app.environment().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error_type"], "environment_unavailable");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("environment.json") && error.contains("setup-sandbox.sh"),
        "{body}"
    );
}

#[tokio::test]
async fn api_keys_guard_validate_and_environment() {
    let key = "test-key-0123456789abcdef";
    let app = spawn_app_with(|s| s.api_keys = vec![key.to_owned()]).await;
    let (status, body) = app.environment().await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = app.validate("def main():\n    return 1\n").await;
    assert_eq!(status, 401, "{body}");
    let r = app
        .client
        .get(format!("{}/environment", app.address))
        .header("Authorization", format!("Bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let _: Value = r.json().await.unwrap();
}
