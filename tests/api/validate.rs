//! POST /validate: the checks of /execute and the script's imports, with nothing run.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with};

fn messages(body: &Value) -> Vec<&str> {
    body["errors"]
        .as_array()
        .expect("errors is an array")
        .iter()
        .map(|e| e["message"].as_str().expect("a message"))
        .collect()
}

#[tokio::test]
async fn a_valid_script_is_described() {
    let app = spawn_app().await;
    let (status, body) = app
        .validate(
            "import json\n\nasync def main(data, *rest, flag=False, **kw):\n    return data\n",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "valid": true,
            "errors": [],
            "main": {"defined": true, "parameters": ["data", "*rest", "flag", "**kw"], "is_async": true},
            "imports": ["json"],
            "unavailable_imports": [],
        })
    );
}

#[tokio::test]
async fn syntax_errors_name_line_and_column() {
    let app = spawn_app().await;
    let (status, body) = app
        .validate("import os\n\ndef main(:\n    return 1\n")
        .await;
    assert_eq!(status, 200, "a failed check is still an answer: {body}");
    assert_eq!(body["valid"], false);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(
        (errors[0]["line"].as_u64(), errors[0]["column"].as_u64()),
        (Some(3), Some(10))
    );
    assert!(
        errors[0]["message"].as_str().unwrap().contains("syntax"),
        "{body}"
    );
    // /execute names the same place.
    let (status, executed) = app.run("import os\n\ndef main(:\n    return 1\n").await;
    assert_eq!(status, 400);
    assert_eq!(
        (executed["line"].clone(), executed["column"].clone()),
        (json!(3), json!(10))
    );
}

#[tokio::test]
async fn a_missing_main_is_an_error() {
    let app = spawn_app().await;
    for script in [
        "import json\nx = 1\n",
        "class A:\n    def main(self):\n        return 1\n",
        "def outer():\n    def main():\n        return 1\n",
    ] {
        let (status, body) = app.validate(script).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["valid"], false, "{script}: {body}");
        assert_eq!(body["main"]["defined"], false, "{body}");
        let (_, executed) = app.run(script).await;
        assert_eq!(
            messages(&body),
            [executed["error"].as_str().unwrap()],
            "{script}"
        );
        assert_eq!(body["errors"][0]["line"], Value::Null);
    }
    // The imports are still listed: the script parsed.
    let (_, body) = app.validate("import json\nx = 1\n").await;
    assert_eq!(body["imports"], json!(["json"]));
}

#[tokio::test]
async fn main_may_take_no_parameter_or_one() {
    let app = spawn_app().await;
    for (script, params) in [
        ("def main():\n    return 1\n", json!([])),
        ("def main(data):\n    return data\n", json!(["data"])),
        (
            "def main(data, scale=2, *, verbose=False):\n    return data\n",
            json!(["data", "scale", "verbose"]),
        ),
        (
            "def main(*args, **kwargs):\n    return args\n",
            json!(["*args", "**kwargs"]),
        ),
    ] {
        let (status, body) = app.validate(script).await;
        assert_eq!(status, 200);
        assert_eq!(body["valid"], true, "{script}: {body}");
        assert_eq!(body["main"]["parameters"], params, "{script}");
        assert_eq!(body["main"]["is_async"], false);
    }
    for (script, line) in [
        ("import os\n\ndef main(a, b):\n    return a\n", 3),
        ("def main(*, key):\n    return key\n", 1),
        ("def main(a, /, b):\n    return a\n", 1),
    ] {
        let (status, body) = app.validate(script).await;
        assert_eq!(status, 200);
        assert_eq!(body["valid"], false, "{script}: {body}");
        assert_eq!(body["main"]["defined"], true);
        assert_eq!(body["errors"][0]["line"], line, "{script}: {body}");
        assert_eq!(body["errors"][0]["column"], 1, "{script}: {body}");
    }
}

#[tokio::test]
async fn imports_are_listed_and_checked_against_the_sandbox() {
    let app = spawn_app().await;
    let script = "import pandas as pd\nimport json, os.path\nfrom . import sibling\nfrom .pkg import helper\n\
                  from nosuchmodule_xyz.sub import thing\nimport pandas.io\n\n\
                  def main():\n    try:\n        import scipy.stats\n    except ImportError:\n        import numpy\n    return 1\n";
    let (status, body) = app.validate(script).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["valid"], true,
        "a missing module is not a check /execute makes: {body}"
    );
    assert_eq!(
        body["imports"],
        json!(["pandas", "json", "os", "nosuchmodule_xyz", "scipy", "numpy"])
    );
    assert_eq!(body["unavailable_imports"], json!(["nosuchmodule_xyz"]));

    let (_, body) = app
        .validate("import nosuchmodule_xyz\ndef main():\n    return 1\n")
        .await;
    assert_eq!(body["unavailable_imports"], json!(["nosuchmodule_xyz"]));
}

#[tokio::test]
async fn without_a_manifest_no_import_is_called_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|s| s.sandbox.venv_path = dir.path().join("venv")).await;
    let (status, body) = app
        .validate("import nosuchmodule_xyz\nimport json\ndef main():\n    return 1\n")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["imports"], json!(["nosuchmodule_xyz", "json"]));
    assert_eq!(body["unavailable_imports"], json!([]));
}

#[tokio::test]
async fn the_request_checks_of_execute_are_errors() {
    let app = spawn_app().await;
    // Over the script limit (1 MiB) but within the body limit: /execute says 413, /validate
    // reports the same message.
    let big = format!("def main():\n    return 1\n{}", "#".repeat(1 << 20));
    let (status, executed) = app.execute(json!({ "script": big })).await;
    assert_eq!(status, 413);
    let (status, body) = app.validate_raw(json!({ "script": big }).to_string()).await;
    assert_eq!(status, 200, "{:.300}", body.to_string());
    assert_eq!(body["valid"], false);
    assert_eq!(messages(&body), [executed["error"].as_str().unwrap()]);

    let (status, body) = app.validate(" \n").await;
    assert_eq!(status, 200);
    assert_eq!(messages(&body), ["the script is empty"]);

    let (status, body) = app
        .validate_raw(
            json!({"script": "def main():\n    return 1\n", "timeout": 0, "memory": 4097})
                .to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let errors = messages(&body);
    assert_eq!(
        errors.len(),
        1,
        "the first refused limit, as /execute: {body}"
    );
    assert!(
        errors[0].contains("timeout must be between 1 and 300"),
        "{body}"
    );
    assert_eq!(body["main"]["defined"], true);
}

#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    let app = spawn_app().await;
    for raw in [
        "not json",
        "{\"script\": ",
        "[]",
        "{}",
        "{\"script\": 42}",
        "{\"script\": \"def main(): pass\", \"timeout\": \"10\"}",
        "{\"script\": \"def main(): pass\", \"scirpt\": 1}",
    ] {
        let (status, body) = app.validate_raw(raw).await;
        assert_eq!(status, 400, "{raw}: {body}");
        assert_eq!(body["error_type"], "invalid_request", "{raw}: {body}");
        assert_eq!(body["success"], false);
    }
    // Beyond MAX_BODY_BYTES (its default leaves room for the input files' cap too).
    let huge = format!("{{\"script\": \"{}\"}}", "x".repeat(32 << 20));
    let (status, body) = app.validate_raw(huge).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error_type"], "payload_too_large");
}

#[tokio::test]
async fn validation_takes_no_sandbox_slot_and_runs_nothing() {
    let app = spawn_app_with(|s| {
        s.sandbox.slots = 1;
        s.sandbox.queue = 0;
        s.sandbox.pool_size = 0;
    })
    .await;
    let sleeper = {
        let client = app.client.clone();
        let url = format!("{}/execute", app.address);
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"script": "import time\ndef main():\n    time.sleep(3)\n    return 1\n"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    // Wait until the only slot is taken.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, health) = app.health().await;
        if health["busy"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the run never started: {health}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = app.run("def main():\n    return 1\n").await;
    assert_eq!(status, 429, "the slot is busy and there is no queue");
    let before = app.metrics().await;
    let (status, body) = app
        .validate("import os\nos.system('touch /tmp/should-not-run')\ndef main():\n    return 1\n")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["valid"], true);
    let executions = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("psa_executions_total"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(executions(&before), executions(&app.metrics().await));
    assert_eq!(sleeper.await.unwrap().unwrap(), 200);
}

#[tokio::test]
async fn pathological_scripts_are_bounded_and_leave_the_server_healthy() {
    let app = spawn_app_with(|s| {
        s.validate_parsers = 1;
        s.validate_queue = 1;
    })
    .await;
    // Half a million nested binary operations: the parser's worst case, within the script limit.
    let chain = json!({"script": format!("def main():\n    return {}1\n", "a+".repeat(500_000))})
        .to_string();
    let (status, body) = app.validate_raw(chain.clone()).await;
    assert_eq!(status, 200, "{:.300}", body.to_string());
    assert_eq!(body["valid"], true, "{:.300}", body.to_string());
    // One parses, one waits, the rest are refused at once instead of piling up. (A shorter
    // chain: still a second or more of parsing in a debug build, long enough for the burst.)
    let chain = json!({"script": format!("def main():\n    return {}1\n", "a+".repeat(200_000))})
        .to_string();
    let burst: Vec<_> = (0..5)
        .map(|_| {
            let client = app.client.clone();
            let url = format!("{}/validate", app.address);
            let body = chain.clone();
            tokio::spawn(async move {
                let r = client.post(url).body(body).send().await.unwrap();
                let status = r.status().as_u16();
                let retry_after = r.headers().contains_key("retry-after");
                let body: Value = r.json().await.unwrap();
                (status, retry_after, body["error_type"].clone())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in burst {
        let (status, retry_after, error_type) = task.await.unwrap();
        if status == 429 {
            assert!(retry_after);
            assert_eq!(error_type, "overloaded");
        }
        statuses.push(status);
    }
    statuses.sort();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");
    app.assert_healthy().await;
    let (status, body) = app.validate("def main():\n    return 1\n").await;
    assert_eq!((status, body["valid"].clone()), (200, json!(true)));
}

#[tokio::test]
async fn bad_input_files_and_parameters_are_errors_too() {
    let app = spawn_app().await;
    let body = json!({
        "script": "def main(data):\n    return data\n",
        "files": [{"name": "../escape.csv", "content": "a\n1\n"}],
    });
    let (status, report) = app.validate_raw(body.to_string()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["valid"], false, "{report}");
    let message = report["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("escape.csv"), "{report}");

    let body = json!({"script": "def main():\n    return 1\n", "parameters": [1, 2]});
    let (status, report) = app.validate_raw(body.to_string()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["valid"], false, "{report}");
    // The same body is refused by /execute, with the same reason.
    let (status, refused) = app.execute(body).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(report["errors"][0]["message"], refused["error"]);
}
