//! Web pages cannot use the API unless the operator lists their origin (ALLOWED_ORIGINS): a
//! browser's cross-origin request, a `text/plain` POST that needs no preflight included, is refused
//! before anything runs; clients without `Origin` (curl) work as before; listed origins get CORS.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

const SCRIPT: &str = "def main():\n    return 'ran'\n";

/// POSTs `/execute` as a page's `fetch(url, {method: 'POST', body})` would: no preflight, since
/// `text/plain` is a "simple" content type.
async fn post_from(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}{path}", app.address))
        .header("Content-Type", "text/plain")
        .body(json!({ "script": SCRIPT }).to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

async fn assert_forbidden(response: reqwest::Response, what: &str) {
    assert_eq!(response.status().as_u16(), 403, "{what}");
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin"),
        "{what}: a refused origin must not get CORS"
    );
    assert!(response.headers().contains_key("x-request-id"), "{what}");
    let body: Value = response.json().await.expect("a JSON error");
    assert_eq!(body["error_type"], "forbidden_origin", "{what}: {body}");
    assert_eq!(body["success"], false, "{what}: {body}");
}

/// How many scripts the server ran, by its own metrics.
async fn runs(app: &TestApp) -> usize {
    app.metrics()
        .await
        .lines()
        .filter(|l| l.starts_with("psa_executions_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<usize>().ok())
        .sum()
}

#[tokio::test]
async fn a_page_of_another_origin_cannot_run_or_check_a_script() {
    let app = spawn_app().await;
    let evil = [("Origin", "http://evil.example")];
    assert_forbidden(post_from(&app, "/execute", &evil).await, "/execute").await;
    assert_forbidden(
        post_from(&app, "/execute/stream", &evil).await,
        "/execute/stream",
    )
    .await;
    assert_forbidden(post_from(&app, "/validate", &evil).await, "/validate").await;
    // A sandboxed frame or a file: page sends `Origin: null`.
    let null = [("Origin", "null")];
    assert_forbidden(post_from(&app, "/execute", &null).await, "Origin: null").await;
    // Cross-origin reads of the GETs are refused too.
    for path in ["/environment", "/metrics", "/health"] {
        let r = app
            .client
            .get(format!("{}{path}", app.address))
            .header("Origin", "http://evil.example")
            .send()
            .await
            .unwrap();
        assert_forbidden(r, path).await;
    }
    // A page's cross-site image or script tag carries no Origin, but says where it comes from.
    let r = app
        .client
        .get(format!("{}/environment", app.address))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Sec-Fetch-Mode", "no-cors")
        .send()
        .await
        .unwrap();
    assert_forbidden(r, "cross-site, no Origin").await;
    assert_eq!(runs(&app).await, 0, "a refused request ran a script");
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn clients_without_an_origin_work_as_curl_does() {
    let app = spawn_app().await;
    // curl -d sends a form content type and no Origin.
    let r = app
        .client
        .post(format!("{}/execute", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(json!({ "script": SCRIPT }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"], "ran", "{body}");
    // Even one that names the page it was opened from, for a navigation (a link to the docs).
    let r = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Sec-Fetch-Mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // And the same server still refuses a page of another origin.
    let evil = [("Origin", "http://evil.example")];
    assert_forbidden(post_from(&app, "/execute", &evil).await, "evil").await;
}

#[tokio::test]
async fn a_listed_origin_gets_cors_and_its_preflight() {
    let key = "test-key-0123456789abcdef";
    let app = spawn_app_with(|s| {
        s.allowed_origins = vec!["https://app.example.com".to_string()];
        s.api_keys = vec![key.to_string()];
    })
    .await;
    let origin = "https://app.example.com";

    // fetch() with an Authorization header and JSON asks first.
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/execute", app.address))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "preflight: {}", r.status());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], origin);
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(h["vary"].to_str().unwrap().contains("Origin"));

    // The request itself, and its errors, can be read by the page.
    let r = app
        .client
        .post(format!("{}/execute", app.address))
        .header("Origin", origin)
        .header("Authorization", format!("Bearer {key}"))
        .json(&json!({ "script": SCRIPT }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], origin);
    assert!(h["vary"].to_str().unwrap().contains("Origin"));
    assert!(h["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("X-Request-Id"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"], "ran", "{body}");
    let r = post_from(&app, "/execute", &[("Origin", origin)]).await;
    assert_eq!(r.status().as_u16(), 401, "the key is still needed");
    assert_eq!(r.headers()["access-control-allow-origin"], origin);

    // Another origin's preflight and request are refused, with our JSON error.
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/execute", app.address))
        .header("Origin", "https://app.example.com.evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_forbidden(r, "unlisted preflight").await;
    let r = post_from(
        &app,
        "/execute",
        &[
            ("Origin", "http://app.example.com"),
            ("Authorization", &format!("Bearer {key}")),
        ],
    )
    .await;
    assert_forbidden(r, "http is another origin than https").await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn same_origin_pages_work_on_loopback_but_not_on_a_rebound_name() {
    let app = spawn_app().await;
    let port = app.port;
    // A page this server served itself, at the address it is reached by.
    for (origin, host) in [
        (
            format!("http://127.0.0.1:{port}"),
            format!("127.0.0.1:{port}"),
        ),
        (
            format!("http://localhost:{port}"),
            format!("localhost:{port}"),
        ),
    ] {
        let r = post_from(&app, "/execute", &[("Origin", &origin), ("Host", &host)]).await;
        assert_eq!(r.status().as_u16(), 200, "{origin}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["result"], "ran", "{origin}: {body}");
    }
    // DNS rebinding: evil.example first served the page, then resolved to this server. To the
    // browser the request is same-origin; its Origin and Host name the attacker's domain.
    let origin = format!("http://evil.example:{port}");
    let host = format!("evil.example:{port}");
    let r = post_from(&app, "/execute", &[("Origin", &origin), ("Host", &host)]).await;
    assert_forbidden(r, "rebinding").await;
    // Another port of the same machine is another origin (another local app).
    let r = post_from(
        &app,
        "/execute",
        &[
            ("Origin", "http://127.0.0.1:3000"),
            ("Host", &format!("127.0.0.1:{port}")),
        ],
    )
    .await;
    assert_forbidden(r, "another local port").await;
    assert_eq!(runs(&app).await, 2);
    app.assert_healthy().await;
}
