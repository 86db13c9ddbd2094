//! GET /, GET /docs and GET /assets/<name> (issue 17) over HTTP: what a browser gets, with no API
//! key; caching (ETag, 304) and compression; the security headers; and the API still closed.
//! The pages in a real browser: tests/browser.rs.

use reqwest::header;
use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_with};

const KEY: &str = "web-test-key-0123456789";

#[tokio::test]
async fn the_pages_and_every_asset_are_served_without_a_key_while_the_api_stays_closed() {
    let app = spawn_app_with(|s| s.api_keys = vec![KEY.to_string()]).await;
    for (path, kind) in [("/", "text/html"), ("/docs", "text/html")] {
        let r = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers();
        assert!(
            h[header::CONTENT_TYPE].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        for rule in [
            "default-src 'self'",
            "script-src 'self';",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "img-src 'self' data: blob:",
        ] {
            assert!(csp.contains(rule), "{path}: {rule} missing from {csp}");
        }
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        let html = r.text().await.unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("http://") && !html.contains("https://"),
            "{path}: inline script or another origin in the page"
        );
    }
    for name in python_script_api::web::names().filter(|n| !n.ends_with(".html")) {
        let r = app
            .client
            .get(format!("{}/assets/{name}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(r.headers()["cross-origin-resource-policy"], "same-origin");
        let served = r.bytes().await.unwrap();
        assert_eq!(
            &served[..],
            python_script_api::web::get(name).unwrap().bytes,
            "{name}"
        );
    }
    // The API itself still wants the key.
    let r = app
        .client
        .post(format!("{}/execute", app.address))
        .body(r#"{"script": "def main(): return 1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .get(format!("{}/environment", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn assets_are_cached_by_etag_and_gzipped_when_asked() {
    let app = spawn_app().await;
    let url = format!("{}/assets/codemirror.js", app.address);
    let plain = app.client.get(&url).send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(plain.headers()[header::CACHE_CONTROL], "no-cache");
    let etag = plain.headers()[header::ETAG].to_str().unwrap().to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong ETag: {etag}"
    );
    let size = plain.bytes().await.unwrap().len();

    let gz = app
        .client
        .get(&url)
        .header(header::ACCEPT_ENCODING, "br, gzip;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(gz.headers()[header::ETAG].to_str().unwrap(), etag);
    assert!(gz
        .headers()
        .get_all(header::VARY)
        .iter()
        .any(|v| v == "Accept-Encoding"));
    let compressed = gz.bytes().await.unwrap().len();
    println!("codemirror.js: {size} bytes, {compressed} gzipped");
    assert!(compressed * 2 < size, "{compressed} gzipped of {size}");
    // gzip;q=0 is a refusal.
    let refused = app
        .client
        .get(&url)
        .header(header::ACCEPT_ENCODING, "gzip;q=0")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get(header::CONTENT_ENCODING).is_none());

    let again = app
        .client
        .get(&url)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let other = app
        .client
        .get(&url)
        .header(header::IF_NONE_MATCH, "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    // HEAD answers like GET, without a body.
    let head = app
        .client
        .head(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().contains_key(header::ETAG));
}

#[tokio::test]
async fn unknown_assets_and_other_methods_get_the_apis_errors() {
    let app = spawn_app().await;
    for path in [
        "/assets/nope.js",
        "/assets/index.html",
        "/assets/..%2Fsrc%2Fmain.rs",
        "/assets/",
        "/index.html",
    ] {
        let r = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error_type"], "not_found", "{path}");
    }
    let r = app
        .client
        .post(format!("{}/", app.address))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    // A page on another origin may not load our files (the origin rules of every route).
    let r = app
        .client
        .get(format!("{}/assets/app.js", app.address))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Sec-Fetch-Mode", "no-cors")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.assert_healthy().await;
}

#[tokio::test]
async fn the_environment_reports_the_limits_the_server_accepts() {
    let app = spawn_app_with(|s| {
        s.max_timeout_secs = 60;
        s.default_timeout_secs = 20;
    })
    .await;
    let (status, env) = app.environment().await;
    assert_eq!(status, 200, "{env}");
    assert_eq!(
        env["limits"]["timeout"],
        serde_json::json!({"min": 1, "max": 60, "default": 20})
    );
    let memory = &env["limits"]["memory"];
    let (min, max) = (
        memory["min"].as_u64().unwrap(),
        memory["max"].as_u64().unwrap(),
    );
    // The bounds are what /execute enforces: just inside passes the check, just outside fails it.
    for (timeout, memory, valid) in [
        (60, max, true),
        (61, max, false),
        (1, min, true),
        (1, min - 1, false),
        (1, max + 1, false),
    ] {
        let (_, report) = app
            .validate_raw(format!(
                r#"{{"script": "def main(): pass", "timeout": {timeout}, "memory": {memory}}}"#
            ))
            .await;
        assert_eq!(
            report["valid"], valid,
            "timeout {timeout}, memory {memory}: {report}"
        );
    }
}
