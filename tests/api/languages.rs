//! What the three language test files (lang_javascript.rs, lang_r.rs, lang_bash.rs) share: a
//! server that must offer the language (a test that cannot run fails loudly and says why), and
//! the contract checks every language answers the same way. Also the `language` field's own
//! rules: Python by default, and a 400 naming the available languages for any other name.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// A test server that offers `language`; panics with the reason when it does not (the jail's
/// root was built without it: run scripts/setup-sandbox.sh with SANDBOX_LANGUAGES including it).
pub async fn app_with(language: &str) -> TestApp {
    let app = spawn_app().await;
    let (status, env) = app.environment().await;
    assert_eq!(status, 200, "{env}");
    let entry = env["languages"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == language))
        .unwrap_or_else(|| panic!("/environment does not list {language}: {env}"))
        .clone();
    assert!(
        entry["available"] == true,
        "this server does not offer {language} ({}): the jail's root (SANDBOX_ROOT) must be built \
         by scripts/setup-sandbox.sh with {language} in SANDBOX_LANGUAGES",
        entry["reason"]
    );
    assert!(entry["version"].is_string(), "{entry}");
    app
}

/// Runs `script` in `language` with the extra fields of `body`.
pub async fn run_in(app: &TestApp, language: &str, script: &str, body: Value) -> (u16, Value) {
    let mut request = json!({"language": language, "script": script});
    if let (Some(r), Value::Object(extra)) = (request.as_object_mut(), body) {
        r.extend(extra);
    }
    app.execute(request).await
}

/// The files of a response, by name, decoded.
pub fn output_file(body: &Value, name: &str) -> String {
    use base64::Engine;
    let file = body["files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["name"] == name))
        .unwrap_or_else(|| panic!("no file {name:?} in {body:.2000}"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(file["content_base64"].as_str().expect("base64 content"))
        .expect("valid base64");
    String::from_utf8(bytes).expect("utf-8")
}

/// A success, with the fields every language reports.
pub fn assert_success(status: u16, body: &Value) {
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["exit_code"], 0, "{body}");
    assert!(body["duration_ms"].is_u64(), "{body}");
    assert!(body["usage"]["cpu_time_ms"].is_u64(), "{body}");
}

/// A failure of `error_type`.
pub fn assert_failure(status: u16, body: &Value, error_type: &str) {
    assert!(status >= 400, "{status} {body:.2000}");
    assert_eq!(body["success"], false, "{body:.2000}");
    assert_eq!(body["error_type"], error_type, "{body:.2000}");
}

/// The limits every language hits the same way: the deadline, the memory limit and the output cap.
pub async fn assert_limits(app: &TestApp, language: &str, spin: &str, hog: &str, flood: &str) {
    let (status, body) = run_in(app, language, spin, json!({"timeout": 2})).await;
    assert_failure(status, &body, "timeout");
    let (status, body) = run_in(app, language, hog, json!({"memory": 64})).await;
    assert_failure(status, &body, "memory_limit");
    let (status, body) = run_in(app, language, flood, json!({})).await;
    assert_failure(status, &body, "output_limit");
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn python_is_the_default_and_an_unknown_language_names_the_available_ones() {
    let app = spawn_app().await;
    let (status, body) = app
        .execute(json!({"script": "def main():\n    return 1\n", "language": "python"}))
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(1)), "{body}");
    assert!(
        body.get("exit_code").is_none(),
        "Python's success is unchanged: {body}"
    );
    for name in ["cobol", "Python", ""] {
        let (status, body) = app
            .execute(json!({"script": "echo", "language": name}))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error_type"], "invalid_request", "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("available: python"), "{error}");
        let (status, body) = app
            .validate_raw(json!({"script": "x", "language": name}).to_string())
            .await;
        assert_eq!(status, 400, "{body}");
    }
    let (_, env) = app.environment().await;
    let names: Vec<&str> = env["languages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["python", "javascript", "r", "bash"]);
}

#[tokio::test]
async fn a_language_left_out_is_a_400_that_says_so() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.sandbox.languages = vec![python_script_api::language::Language::Python];
    })
    .await;
    let (status, body) = app
        .execute(json!({"script": "echo hi", "language": "bash"}))
        .await;
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("SANDBOX_LANGUAGES") && error.contains("available: python"),
        "{error}"
    );
    let (_, env) = app.environment().await;
    let bash = &env["languages"][3];
    assert_eq!(
        (&bash["name"], &bash["available"]),
        (&json!("bash"), &json!(false)),
        "{env}"
    );
}

#[tokio::test]
async fn language_answers_fit_the_openapi_description() {
    use crate::openapi::{check, response_schema, spec};
    let spec = spec();
    let app = app_with("bash").await;
    let (status, body) = run_in(&app, "bash", "echo ok", json!({})).await;
    assert_eq!(status, 200, "{body}");
    check(
        &spec,
        &response_schema(&spec, "/execute", "post", 200),
        &body,
        "bash success",
    );
    let (status, body) = run_in(&app, "bash", "exit 2", json!({})).await;
    check(
        &spec,
        &response_schema(&spec, "/execute", "post", status),
        &body,
        "bash exited",
    );
    let (status, body) = app
        .validate_raw(json!({"language": "bash", "script": "if"}).to_string())
        .await;
    assert_eq!(status, 200, "{body}");
    check(
        &spec,
        &response_schema(&spec, "/validate", "post", 200),
        &body,
        "bash validate",
    );
    let (status, body) = app
        .execute(json!({"language": "cobol", "script": "x"}))
        .await;
    check(
        &spec,
        &response_schema(&spec, "/execute", "post", status),
        &body,
        "unknown language",
    );
    let (status, body) = app.environment().await;
    check(
        &spec,
        &response_schema(&spec, "/environment", "get", status),
        &body,
        "environment",
    );
}

/// README's "Languages" examples: each request (the JSON in a `curl ... <<'EOF'` block) is sent as
/// it is, and every field of the response shown after it must be what the server answers.
#[tokio::test]
async fn readme_language_examples_run_as_shown() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("\n## Languages\n")
        .expect("README has a Languages section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut pairs = Vec::new();
    let mut rest = section;
    while let Some(i) = rest.find("<<'EOF'\n") {
        let after = &rest[i + "<<'EOF'\n".len()..];
        let end = after.find("\nEOF\n").expect("the heredoc ends");
        let request: Value = serde_json::from_str(&after[..end]).expect("the request is JSON");
        let shown = after.find("```json\n").expect("a response follows") + "```json\n".len();
        let close = after[shown..].find("\n```").unwrap();
        let response: Value =
            serde_json::from_str(&after[shown..shown + close]).expect("the response shown is JSON");
        pairs.push((request, response));
        rest = &after[shown + close..];
    }
    assert_eq!(pairs.len(), 3, "one example per language");
    let mut apps = std::collections::HashMap::new();
    for (request, shown) in pairs {
        let language = request["language"].as_str().unwrap().to_string();
        if !apps.contains_key(&language) {
            apps.insert(language.clone(), app_with(&language).await);
        }
        let (status, body) = apps[&language].execute(request.clone()).await;
        assert_eq!(status, 200, "{request}: {body}");
        for (key, want) in shown.as_object().unwrap() {
            assert_eq!(&body[key], want, "{language}: {key} in {body}");
        }
    }
}

/// MCP's run_python takes `language` too (not with a session: cells are Python).
#[tokio::test]
async fn the_mcp_tool_runs_other_languages() {
    let app = app_with("bash").await;
    let call = |arguments: Value| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "run_python", "arguments": arguments}})
        .to_string()
    };
    let (status, body) = app
        .mcp_raw(
            call(json!({"code": "echo from-bash", "language": "bash"})),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let run = &body["result"]["structuredContent"];
    assert_eq!(
        (&run["stdout"], &run["exit_code"]),
        (&json!("from-bash\n"), &json!(0)),
        "{body}"
    );
    let (_, body) = app
        .mcp_raw(
            call(json!({"code": "echo", "language": "bash", "session_id": "x"})),
            None,
            &[],
        )
        .await;
    assert_eq!(body["result"]["isError"], true, "{body}");
}

/// /execute/stream takes `language` too: the output as it comes, then the same final answer.
#[tokio::test]
async fn the_stream_runs_other_languages() {
    let app = app_with("bash").await;
    let response = app
        .client
        .post(format!("{}/execute/stream", app.address))
        .header("Content-Type", "application/json")
        .header("Accept", "application/x-ndjson")
        .body(json!({"language": "bash", "script": "echo one\necho two >&2\nexit 3"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events.contains(&json!({"type": "stdout", "data": "one\n"})),
        "{text}"
    );
    assert!(
        events.contains(&json!({"type": "stderr", "data": "two\n"})),
        "{text}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "result", "{text}");
    assert_eq!(
        (&last["data"]["error_type"], &last["data"]["exit_code"]),
        (&json!("exited"), &json!(3))
    );
}

#[tokio::test]
async fn jobs_run_other_languages_and_refuse_an_unknown_one() {
    let app = app_with("javascript").await;
    let (status, accepted) = app
        .call(
            "POST",
            "/jobs",
            Some(json!({"language": "javascript", "input": 20,
                        "script": "function main(x) { console.log('js'); return x + 1; }"})),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["job_id"].as_str().unwrap().to_string();
    let job = app
        .wait_for(&id, |job| {
            !["queued", "running"].contains(&job["status"].as_str().unwrap())
        })
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["envelope"]["result"], 21, "{job}");
    assert_eq!(job["envelope"]["stdout"], "js\n", "{job}");
    // Refused as /execute refuses it, before anything is stored.
    let (status, refused) = app
        .call(
            "POST",
            "/jobs",
            Some(json!({"language": "cobol", "script": "DISPLAY 'x'."})),
        )
        .await;
    assert_eq!(
        (status, refused["error_type"].as_str()),
        (400, Some("invalid_request")),
        "{refused}"
    );
    assert!(
        refused["error"].as_str().unwrap().contains("javascript"),
        "{refused}"
    );
    app.assert_healthy().await;
}
