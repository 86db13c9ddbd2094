//! POST /mcp with the official MCP Python SDK (tests/mcp/client.py, in .sandbox/mcp-venv, which
//! scripts/setup-mcp-tools.sh installs and `make test` runs first): the tools, a pandas plot that
//! comes back as structured content and an image block, errors as tool results, sessions, and the
//! API key. Then the transport's own rules with raw HTTP: JSON-RPC errors, statuses, headers.
//! The conformance suite runs elsewhere (scripts/mcp-conformance.sh, from .ci/run).

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};
use python_script_api::sandbox::PoolMode;

const KEY: &str = "mcp-test-key-0123456789";

/// Runs tests/mcp/client.py against the app; what it printed, as JSON.
async fn sdk(app: &TestApp, scenario: &str, key: Option<&str>) -> Value {
    let mut args = vec![format!("{}/mcp", app.address), scenario.to_string()];
    args.extend(key.map(str::to_string));
    let stdout = python("client.py", &args, None).await;
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Runs a script of tests/mcp/ with the MCP venv's Python (in `cwd`, if given); its stdout.
async fn python(script: &str, args: &[String], cwd: Option<&std::path::Path>) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".sandbox/mcp-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/setup-mcp-tools.sh` (make test does)",
        python.display()
    );
    let mut command = tokio::process::Command::new(&python);
    command.arg(root.join("tests/mcp").join(script)).args(args);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
        .await
        .expect("the MCP client finished within 120 s")
        .expect("the MCP client ran");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the MCP client failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_readme_example_runs() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("tests/mcp/example.py")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    // The README shows the file from its imports on (its header comment is for the repository).
    let code = &example[example.find("import asyncio").unwrap()..];
    assert!(
        readme.contains(code),
        "README.md's MCP example differs from tests/mcp/example.py"
    );
    let app = keyed_app(false).await;
    let dir = tempfile::tempdir().unwrap();
    let args = [format!("{}/mcp", app.address), KEY.to_string()];
    let stdout = python("example.py", &args, Some(dir.path())).await;
    assert!(stdout.contains("'run_python'"), "{stdout}");
    assert!(
        stdout.contains("result: {'max': 8.0, 'mean': 5.0}"),
        "{stdout}"
    );
    assert!(stdout.contains("saved figure.png, image/png"), "{stdout}");
    let png = std::fs::read(dir.path().join("figure.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
}

async fn keyed_app(fork: bool) -> TestApp {
    spawn_app_with(|s| {
        s.api_keys = vec![KEY.to_owned()];
        if fork {
            // Sessions need fork mode, whatever the pass's SANDBOX_POOL_MODE (as session_app()).
            s.sandbox.pool_mode = Some(PoolMode::Fork);
        }
    })
    .await
}

#[tokio::test]
async fn an_agent_lists_the_tools_and_sees_its_plot() {
    let app = keyed_app(false).await;
    let seen = sdk(&app, "tools", Some(KEY)).await;

    assert_eq!(seen["protocol_version"], "2025-11-25", "{seen}");
    let names: Vec<&str> = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "run_python",
            "validate_python",
            "list_environment",
            "create_session",
            "close_session"
        ]
    );
    for tool in seen["tools"].as_array().unwrap() {
        assert_eq!(tool["has_input_schema"], true, "{tool}");
        assert_eq!(tool["has_output_schema"], true, "{tool}");
    }
    // The description names what is really installed, from environment.json.
    let description = seen["tools"][0]["description"].as_str().unwrap();
    assert!(description.contains("pandas "), "{description}");
    assert!(description.contains("no network"), "{description}");

    let plot = &seen["plot"];
    assert_eq!(plot["isError"], false, "{plot}");
    assert_eq!(plot["structured"]["success"], true, "{plot}");
    assert_eq!(plot["structured"]["result"], json!({"total": 14}), "{plot}");
    assert_eq!(plot["structured"]["stdout"], "plotted 3\n", "{plot}");
    let file = &plot["structured"]["files"][0];
    assert_eq!(file["name"], "figure-1.png", "{plot}");
    assert_eq!(file["sent_as_image"], true, "{plot}");
    assert!(file.get("content_base64").is_none(), "{plot}");
    let blocks = plot["content"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "text", "{plot}");
    assert!(blocks[0]["text"].as_str().unwrap().contains("\"total\":14"));
    let images: Vec<&Value> = blocks.iter().filter(|b| b["type"] == "image").collect();
    assert_eq!(images.len(), 1, "{plot}");
    assert_eq!(images[0]["mimeType"], "image/png");
    assert_eq!(images[0]["png"], true);
    assert_eq!(images[0]["bytes"], file["size"]);

    let failing = &seen["failing"];
    assert_eq!(failing["isError"], true, "{failing}");
    assert_eq!(failing["structured"]["error_type"], "runtime_error");
    assert!(failing["structured"]["traceback"]
        .as_str()
        .unwrap()
        .contains("ZeroDivisionError"));

    let validate = &seen["validate"];
    assert_eq!(validate["isError"], false, "{validate}");
    assert_eq!(validate["structured"]["valid"], true, "{validate}");
    assert_eq!(
        validate["structured"]["unavailable_imports"],
        json!(["nosuchmodule"])
    );

    let environment = &seen["environment"];
    assert_eq!(environment["isError"], false, "{environment}");
    let (_, direct) = app.call_keyed("GET", "/environment", None, Some(KEY)).await;
    assert_eq!(environment["structured"], direct);

    // Arguments that do not decode are a tool error a model can read, as the 2025-11-25 revision says.
    let bad = &seen["bad_arguments"];
    assert_eq!(bad["isError"], true, "{bad}");
    assert_eq!(bad["structured"]["error_type"], "invalid_request", "{bad}");

    app.assert_mcp_healthy(Some(KEY)).await;
}

#[tokio::test]
async fn sessions_round_trip_through_mcp() {
    let app = keyed_app(true).await;
    let seen = sdk(&app, "sessions", Some(KEY)).await;
    assert_eq!(seen["created"]["isError"], false, "{seen}");
    assert_eq!(seen["first"]["isError"], false, "{seen}");
    assert_eq!(seen["second"]["structured"]["result"], 6, "{seen}");
    assert_eq!(seen["closed"]["structured"]["closed"], true, "{seen}");
    assert_eq!(seen["after"]["isError"], true, "{seen}");
    assert_eq!(
        seen["after"]["structured"]["error_type"], "session_not_found",
        "{seen}"
    );
    app.assert_mcp_healthy(Some(KEY)).await;
}

#[tokio::test]
async fn mcp_needs_the_api_key() {
    let app = keyed_app(false).await;
    let seen = sdk(&app, "refused", None).await;
    assert_eq!(seen["refused"], true, "{seen}");
    assert_eq!(seen["statuses"], json!([401]), "{seen}");
    let seen = sdk(&app, "refused", Some("wrong-key-0123456789")).await;
    assert_eq!(seen["refused"], true, "{seen}");
    let (status, body) = app
        .mcp_raw(
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string(),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error_type"], "unauthorized");
    app.assert_mcp_healthy(Some(KEY)).await;
}

#[tokio::test]
async fn the_transport_follows_the_specification() {
    // A small body cap, to pass it cheaply.
    let app = spawn_app_with(|s| s.max_body_bytes = 64 << 10).await;
    let ping = json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}).to_string();

    let (status, body) = app.mcp_raw(ping.clone(), None, &[]).await;
    assert_eq!(
        (status, &body),
        (200, &json!({"jsonrpc": "2.0", "id": 7, "result": {}}))
    );

    // Not JSON: JSON-RPC's parse error, with a null id.
    let (status, body) = app.mcp_raw("{not json".into(), None, &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32700, "{body}");
    assert_eq!(body["id"], Value::Null);

    // Not a JSON-RPC message.
    let (status, body) = app
        .mcp_raw(json!({"id": 1, "method": "ping"}).to_string(), None, &[])
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32600, "{body}");

    // An unknown method, an unknown tool, params of the wrong type.
    let (status, body) = app
        .mcp_raw(
            json!({"jsonrpc": "2.0", "id": 2, "method": "resources/list"}).to_string(),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (200, json!(-32601)),
        "{body}"
    );
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                      "params": {"name": "rm_rf", "arguments": {}}});
    let (_, body) = app.mcp_raw(call.to_string(), None, &[]).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    let call = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": ["run_python"]});
    let (_, body) = app.mcp_raw(call.to_string(), None, &[]).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");

    // Notifications and responses: 202, no body.
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let (status, body) = app.mcp_raw(note, None, &[]).await;
    assert_eq!((status, body), (202, Value::Null));

    // Batches only where the revision has them: 2025-03-26 (assumed without the header).
    let batch = format!("[{ping}, {ping}]");
    let (status, body) = app.mcp_raw(batch.clone(), None, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(2), "{body}");
    let (status, body) = app
        .mcp_raw(batch, None, &[("MCP-Protocol-Version", "2025-06-18")])
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!(-32600)),
        "{body}"
    );
    // POST /batch's bound on the number of messages (routes/sessions.rs MAX_BATCH_CELLS, plus one).
    let long = format!("[{}]", vec![ping.to_string(); 101].join(","));
    let (status, body) = app.mcp_raw(long, None, &[]).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!(-32600)),
        "{body}"
    );
    let (status, _) = app
        .mcp_raw(
            ping.clone(),
            None,
            &[("MCP-Protocol-Version", "1999-01-01")],
        )
        .await;
    assert_eq!(status, 400);

    // Headers: a client that cannot take JSON, a body not declared JSON, a page from elsewhere.
    let (status, _) = app
        .mcp_raw(ping.clone(), None, &[("Accept", "text/event-stream")])
        .await;
    assert_eq!(status, 406);
    let (status, _) = app
        .mcp_raw(ping.clone(), None, &[("Content-Type", "text/plain")])
        .await;
    assert_eq!(status, 415);
    let (status, body) = app
        .mcp_raw(ping.clone(), None, &[("Origin", "https://evil.example")])
        .await;
    assert_eq!(
        (status, body["error_type"].clone()),
        (403, json!("forbidden_origin"))
    );

    // The SDK's high-level client probes 2026-07-28's server/discover first: "method not found"
    // sends it back to the initialize handshake.
    let seen = sdk(&app, "auto", None).await;
    assert_eq!(seen["protocol_version"], "2025-11-25", "{seen}");
    assert_eq!(seen["run"]["structured"]["result"], json!([1, 2]), "{seen}");

    // Answers fit the OpenAPI description of /mcp.
    let spec = crate::openapi::spec();
    let call = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                      "params": {"name": "run_python", "arguments": {"code": "def main():\n    return 6 * 7\n"}}});
    for (body, extra, want) in [
        (call.to_string(), ("X-Nothing", "1"), 200),
        ("{not json".to_string(), ("X-Nothing", "1"), 400),
        (ping.clone(), ("Accept", "text/html"), 406),
        (ping.clone(), ("Content-Type", "text/plain"), 415),
    ] {
        let (status, answer) = app.mcp_raw(body, None, &[extra]).await;
        assert_eq!(status, want, "{answer}");
        let schema = crate::openapi::response_schema(&spec, "/mcp", "post", status);
        crate::openapi::check(&spec, &schema, &answer, &format!("POST /mcp {status}"));
    }

    // Stateless: no stream to GET, no session to DELETE.
    for method in ["GET", "DELETE"] {
        let (status, _) = app.call_keyed(method, "/mcp", None, None).await;
        assert_eq!(status, 405, "{method}");
    }

    // The body's cap is /execute's.
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"x\":\"{}\"}}}}",
        "a".repeat(65 << 10)
    );
    let (status, body) = app.mcp_raw(huge, None, &[]).await;
    assert_eq!(
        (status, body["error_type"].clone()),
        (413, json!("payload_too_large"))
    );

    app.assert_healthy().await;
}

impl TestApp {
    /// Healthy, and still runs a script through MCP (with the app's key, if it has one).
    async fn assert_mcp_healthy(&self, key: Option<&str>) {
        let (status, body) = self.health().await;
        assert_eq!(
            (status, &body["status"]),
            (200, &json!("healthy")),
            "{body}"
        );
        let call = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
            "name": "run_python", "arguments": {"code": "def main():\n    return 'still here'\n"}}});
        let (status, body) = self.mcp_raw(call.to_string(), key, &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["result"]["structuredContent"]["result"], "still here",
            "{body}"
        );
    }

    /// POSTs `body` to /mcp with the headers an MCP client sends, `extra` replacing them.
    pub(crate) async fn mcp_raw(
        &self,
        body: String,
        key: Option<&str>,
        extra: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("Content-Type", "application/json".parse().unwrap());
        headers.insert(
            "Accept",
            "application/json, text/event-stream".parse().unwrap(),
        );
        if let Some(key) = key {
            headers.insert("Authorization", format!("Bearer {key}").parse().unwrap());
        }
        for (name, value) in extra {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let response = self
            .client
            .post(format!("{}/mcp", self.address))
            .headers(headers)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn call_keyed(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.address);
        let mut builder = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url),
        };
        if let Some(key) = key {
            builder = builder.bearer_auth(key);
        }
        if let Some(body) = body {
            builder = builder.body(body.to_string());
        }
        let response = builder.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
