//! Requests and scripts refused before anything runs.

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn scripts_without_a_top_level_main_are_refused() {
    let app = spawn_app().await;
    for script in [
        "x = 1\n",
        "# def main():\nx = 1\n",
        "s = 'def main(): pass'\n",
        "\"\"\"\ndef main():\n    pass\n\"\"\"\n",
        "class A:\n    def main(self):\n        return 1\n",
        "def outer():\n    def main():\n        return 1\n",
    ] {
        let (status, body) = app.run(script).await;
        assert_eq!(status, 400, "{script}: {body}");
        assert_eq!(body["error_type"], "validation_error", "{script}: {body}");
        assert!(body["error"].as_str().unwrap().contains("main()"), "{body}");
    }
}

#[tokio::test]
async fn syntax_errors_name_line_and_column() {
    let app = spawn_app().await;
    let (status, body) = app.run("import os\n\ndef main(:\n    return 1\n").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_type"], "validation_error");
    assert_eq!(body["line"], 3);
    assert_eq!(body["column"], 10);
    assert!(body["error"].as_str().unwrap().contains("line 3"), "{body}");
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
        "{\"script\": \"\"}",
        "{\"script\": \"def main(): pass\", \"timeout\": \"10\"}",
        "{\"script\": \"def main(): pass\", \"timeout\": 1.5}",
        "{\"script\": \"def main(): pass\", \"timeout\": 0}",
        "{\"script\": \"def main(): pass\", \"timeout\": 301}",
        "{\"script\": \"def main(): pass\", \"timeout\": -1}",
        "{\"script\": \"def main(): pass\", \"memory\": 31}",
        "{\"script\": \"def main(): pass\", \"memory\": 4097}",
        "{\"script\": \"def main(): pass\", \"unknown\": 1}",
    ] {
        let (status, body) = app.post_raw(raw).await;
        assert_eq!(status, 400, "{raw}: {body}");
        assert_eq!(body["error_type"], "invalid_request", "{raw}: {body}");
        assert_eq!(body["success"], false);
        assert!(body["timestamp"].is_string());
    }
    app.assert_healthy().await;
}

#[tokio::test]
async fn oversize_bodies_and_scripts_are_413() {
    let app = spawn_app().await;
    // Over the script limit (1 MiB) but within the body limit.
    let big = format!("def main():\n    return 1\n{}", "#".repeat(1 << 20));
    let (status, body) = app.execute(json!({ "script": big })).await;
    assert_eq!(status, 413, "{:.300}", body.to_string());
    assert_eq!(body["error_type"], "payload_too_large");
    // Over the body limit.
    let huge = format!("{{\"script\": \"{}\"}}", "x".repeat(3 << 20));
    let (status, body) = app.post_raw(huge).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error_type"], "payload_too_large");
    app.assert_healthy().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/nope", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error_type"], "not_found");
    let r = app
        .client
        .get(format!("{}/execute", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error_type"], "method_not_allowed");
}

#[tokio::test]
async fn limits_above_a_lowered_maximum_are_refused() {
    let app = spawn_app_with(|s| {
        s.max_timeout_secs = 5;
        s.max_memory_mib = 128;
        s.default_memory_mib = 128;
        s.default_timeout_secs = 5;
    })
    .await;
    let (status, body) = app
        .execute(json!({"script": "def main(): pass", "timeout": 6}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("between 1 and 5"),
        "{body}"
    );
    let (status, _) = app
        .execute(json!({"script": "def main(): pass", "memory": 129}))
        .await;
    assert_eq!(status, 400);
}
