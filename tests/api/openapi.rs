//! The OpenAPI description matches the server: its examples fit its schemas, real responses fit
//! them too (every schema forbids unknown fields, so a new field without documentation fails),
//! and it documents exactly the routes the server has.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with};

pub(crate) fn spec() -> Value {
    serde_json::from_str(python_script_api::routes::OPENAPI).expect("openapi.json is JSON")
}

/// Validates `instance` against `schema`, resolving `#/components/...` in the spec.
pub(crate) fn check(spec: &Value, schema: &Value, instance: &Value, what: &str) {
    let errors = violations(spec, schema, instance);
    assert!(errors.is_empty(), "{what}: {errors:?}\n{instance}");
}

fn violations(spec: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    let mut root = schema.clone();
    if let Some(obj) = root.as_object_mut() {
        obj.insert("components".into(), spec["components"].clone());
    }
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .unwrap_or_else(|e| panic!("bad schema: {e}"));
    validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn the_schemas_refuse_undocumented_fields() {
    let spec = spec();
    let schema = json!({"$ref": "#/components/schemas/ExecuteSuccess"});
    let good = json!({"success": true, "result": 1, "stdout": "", "stderr": "", "timestamp": "2026-01-01T00:00:00Z", "duration_ms": 1});
    assert!(violations(&spec, &schema, &good).is_empty());
    let mut bad = good.clone();
    bad["surprise"] = json!(1);
    assert!(!violations(&spec, &schema, &bad).is_empty());

    let schema = json!({"$ref": "#/components/schemas/ValidateResult"});
    let good = json!({"valid": true, "errors": [], "main": {"defined": true, "parameters": [], "is_async": false}, "imports": [], "unavailable_imports": []});
    assert!(violations(&spec, &schema, &good).is_empty());
    let mut bad = good.clone();
    bad["main"]["surprise"] = json!(1);
    assert!(!violations(&spec, &schema, &bad).is_empty());
}

pub(crate) fn response_schema(spec: &Value, path: &str, method: &str, status: u16) -> Value {
    let content = &spec["paths"][path][method]["responses"][status.to_string()]["content"];
    let media = content
        .as_object()
        .and_then(|c| c.values().next())
        .unwrap_or_else(|| panic!("{method} {path} {status} is not documented"));
    media["schema"].clone()
}

#[test]
fn every_documented_example_fits_its_schema() {
    let spec = spec();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let bodies = op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten();
            let responses = op["responses"]
                .as_object()
                .unwrap()
                .values()
                .flat_map(|r| r["content"].as_object().into_iter().flatten());
            for (_, media) in bodies.chain(responses) {
                for (name, example) in media["examples"].as_object().into_iter().flatten() {
                    check(
                        &spec,
                        &media["schema"],
                        &example["value"],
                        &format!("{method} {path} {name}"),
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 10, "only {checked} examples");
}

#[tokio::test]
async fn real_responses_fit_the_description() {
    let spec = spec();
    let app = spawn_app().await;
    let cases = [
        json!({"script": "def main():\n    print('hi')\n    return {'a': [1, 2.5, None]}\n"}),
        json!({"script": "def main(:\n"}),
        json!({"script": "x = 1\n"}),
        json!({"script": "def main(): pass", "timeout": 0}),
        json!({"script": "def main():\n    return 1 / 0\n"}),
        json!({"script": "import sys\ndef main():\n    sys.exit(2)\n"}),
        json!({"script": "def main():\n    return object()\n"}),
        json!({"script": "import time\ndef main():\n    time.sleep(5)\n", "timeout": 1}),
        json!({"script": "def main():\n    return bytearray(1 << 30)\n", "memory": 64}),
        json!({"script": format!("#{}\ndef main(): pass", "x".repeat(1 << 20))}),
        // Data in and out: input, parameters, files, save_result(), output files and a figure.
        json!({"script": "import matplotlib.pyplot as plt\ndef main(data):\n    save_result('n', len(load_file('a.csv')))\n    plt.plot([1, 2])\n    open('output/y.txt', 'w').write('y')\n    return data, parameters\n",
               "input": {"k": [1]}, "parameters": {"p": 1}, "capture_figures": true,
               "files": [{"name": "a.csv", "content": "a\n1\n"}, {"name": "b", "content": "AA==", "encoding": "base64"}]}),
        json!({"script": "def main(): pass", "files": [{"name": "../x", "content": ""}]}),
        json!({"script": "def main():\n    for i in range(100): open('output/%d' % i, 'w')\n"}),
    ];
    let mut statuses = Vec::new();
    let mut with_data = false;
    for case in cases {
        let (status, body) = app.execute(case).await;
        check(
            &spec,
            &response_schema(&spec, "/execute", "post", status),
            &body,
            &format!("POST /execute {status}"),
        );
        // The request itself fits the request schema (except the deliberately invalid one).
        statuses.push(status);
        with_data |= body.get("files").is_some() && body.get("results").is_some();
    }
    assert!(with_data, "no response carried files and results");
    assert!(
        statuses.contains(&200)
            && statuses.contains(&400)
            && statuses.contains(&413)
            && statuses.contains(&422)
    );

    let (status, body) = app.health().await;
    check(
        &spec,
        &response_schema(&spec, "/health", "get", status),
        &body,
        "GET /health",
    );

    let validations = [
        json!({"script": "import pandas\nimport nosuchmodule_xyz\ndef main(data):\n    return data\n"}).to_string(),
        json!({"script": "def main(:\n"}).to_string(),
        json!({"script": "def main(a, b): pass", "timeout": 0}).to_string(),
        json!({"script": "x = 1\n"}).to_string(),
        json!({"script": format!("#{}\ndef main(): pass", "x".repeat(1 << 20))}).to_string(),
        "not json".to_string(),
        format!("{{\"script\": \"{}\"}}", "x".repeat(32 << 20)),
    ];
    let mut statuses = Vec::new();
    for raw in validations {
        let (status, body) = app.validate_raw(raw).await;
        check(
            &spec,
            &response_schema(&spec, "/validate", "post", status),
            &body,
            &format!("POST /validate {status}"),
        );
        statuses.push(status);
    }
    assert!(statuses.contains(&200) && statuses.contains(&400) && statuses.contains(&413));

    let (status, body) = app.environment().await;
    assert_eq!(status, 200, "{body}");
    check(
        &spec,
        &response_schema(&spec, "/environment", "get", status),
        &body,
        "GET /environment",
    );

    let down = spawn_app_with(|s| s.sandbox.nsjail_path = "/nonexistent/nsjail".into()).await;
    let (status, body) = down.health().await;
    assert_eq!(status, 503);
    check(
        &spec,
        &response_schema(&spec, "/health", "get", status),
        &body,
        "GET /health 503",
    );

    let no_manifest = tempfile::tempdir().unwrap();
    let unknown = spawn_app_with(|s| s.sandbox.venv_path = no_manifest.path().join("venv")).await;
    let (status, body) = unknown.environment().await;
    assert_eq!(status, 503);
    check(
        &spec,
        &response_schema(&spec, "/environment", "get", status),
        &body,
        "GET /environment 503",
    );

    let served: Value = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, spec);
}

#[tokio::test]
async fn every_documented_route_exists() {
    let spec = spec();
    // Fork mode whatever the pass sets: the session routes get a live session below.
    let app =
        spawn_app_with(|s| s.sandbox.pool_mode = Some(python_script_api::sandbox::PoolMode::Fork))
            .await;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // A session's (a job's) routes answer 404 for one that does not exist: each gets a live one.
            let path = if path.starts_with("/jobs/{id}") {
                let accepted: Value = app
                    .client
                    .post(format!("{}/jobs", app.address))
                    .body(r#"{"script": "def main(): pass"}"#)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                path.replace("{id}", accepted["job_id"].as_str().unwrap())
            } else if path.starts_with("/scripts/{id}") {
                let created: Value = app
                    .client
                    .post(format!("{}/scripts", app.address))
                    .body(
                        json!({"name": crate::helpers::unique("route"), "script": "def main(): pass"})
                            .to_string(),
                    )
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                path.replace("{id}", created["id"].as_str().unwrap())
                    .replace("{version}", "1")
            } else if path.contains("{id}") {
                let created: Value = app
                    .client
                    .post(format!("{}/sessions", app.address))
                    .body("{}")
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                path.replace("{id}", created["session_id"].as_str().unwrap())
            } else {
                path.clone()
            };
            let r = app
                .client
                .request(method.clone(), format!("{}{path}", app.address))
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            assert!(status != 404 && status != 405, "{method} {path}: {status}");
        }
    }
}

#[tokio::test]
async fn streamed_events_fit_the_description() {
    use crate::stream::stream;

    let spec = spec();
    let app = spawn_app().await;
    let output = json!({"$ref": "#/components/schemas/StreamOutput"});
    let line = json!({"$ref": "#/components/schemas/StreamLine"});
    let result = json!({"oneOf": [
        {"$ref": "#/components/schemas/ExecuteSuccess"},
        {"$ref": "#/components/schemas/Error"}
    ]});
    let script = "import sys\ndef main():\n    print('out')\n    print('err', file=sys.stderr)\n    return [1, 2.5, None]\n";
    let failing = "def main():\n    print('before')\n    return 1 / 0\n";
    for script in [script, failing] {
        let sse = stream(&app, json!({ "script": script }), None).await;
        for event in &sse.events {
            let schema = if event.kind == "result" {
                &result
            } else {
                &output
            };
            check(&spec, schema, &event.data, &format!("SSE {}", event.kind));
        }
        let ndjson = stream(
            &app,
            json!({ "script": script }),
            Some("application/x-ndjson"),
        )
        .await;
        assert!(ndjson.events.len() >= 2);
        for event in &ndjson.events {
            // As it came: `take_events` checked that a line holds exactly type and data.
            let data = if event.kind == "result" {
                event.data.clone()
            } else {
                event.data["data"].clone()
            };
            let sent = json!({"type": event.kind, "data": data});
            check(&spec, &line, &sent, "NDJSON line");
        }
    }
    let r = app
        .client
        .post(format!("{}/execute/stream", app.address))
        .body(json!({"script": "x = 1\n"}).to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(status, 400);
    let body: Value = r.json().await.unwrap();
    check(
        &spec,
        &response_schema(&spec, "/execute/stream", "post", status),
        &body,
        "POST /execute/stream 400",
    );
}
