//! The script library (issue 16): scripts saved with POST /scripts, read, versioned with PUT,
//! deleted, and run by id with POST /scripts/{id}/execute and /scripts/{id}/jobs. Each test
//! starts the real server (real nsjail) on the store `PSA_JOBS_STORE` names, as the jobs' contract
//! tests do (jobs.rs: `sqlite`, unset, or `postgres`, a PostgreSQL server per app); `make test`
//! runs both passes. Every answer is checked against src/openapi.json. Not here: the name and
//! description rules' unit tests (src/scripts.rs), the docstring's (src/script.rs).

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};
use crate::jobs::{fits, jobs_app_with, stable, JobsApp};

async fn scripts_app() -> JobsApp {
    jobs_app_with(|_| {}).await
}

const SUM: &str = "def main(numbers):\n    \"\"\"Adds the numbers it is given.\n\n    Any iterable of numbers.\n    \"\"\"\n    print('summing')\n    return sum(numbers)\n";
const PRODUCT: &str = "import math\n\ndef main(numbers):\n    '''Multiplies them.'''\n    return math.prod(numbers)\n";

impl TestApp {
    /// `method path` with an optional JSON body and API key: the status and the JSON body
    /// (`Null` when empty).
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut builder = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(body) = body {
            builder = builder.body(body.to_string());
        }
        if let Some(key) = key {
            builder = builder.bearer_auth(key);
        }
        let response = builder.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        if text.is_empty() {
            return (status, Value::Null);
        }
        (status, serde_json::from_str(&text).unwrap())
    }

    /// POST /scripts; panics unless it is created. The 201's body.
    async fn save(&self, name: &str, script: &str) -> Value {
        let (status, saved) = self
            .send(
                "POST",
                "/scripts",
                Some(json!({"name": name, "script": script})),
                None,
            )
            .await;
        assert_eq!(status, 201, "{saved}");
        fits("/scripts", "post", 201, &saved);
        saved
    }
}

#[tokio::test]
async fn a_script_is_saved_read_versioned_and_deleted() {
    let app = scripts_app().await;
    let saved = app.save("sum-numbers", SUM).await;
    let id = saved["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32, "128 random bits, in hex: {saved}");
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["name"], "sum-numbers");
    assert_eq!(saved["script"], SUM);
    assert_eq!(
        saved["description"], "Adds the numbers it is given.\n\nAny iterable of numbers.",
        "main()'s docstring, cleaned: {saved}"
    );
    assert_eq!(saved["versions"].as_array().unwrap().len(), 1);
    let response = app
        .client
        .post(format!("{}/scripts", app.address))
        .body(json!({"name": "located", "script": SUM}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let located: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/scripts/{}", located["id"].as_str().unwrap())
    );
    let (status, _) = app.send("DELETE", &location, None, None).await;
    assert_eq!(status, 204);

    let (status, got) = app.send("GET", &format!("/scripts/{id}"), None, None).await;
    assert_eq!(status, 200, "{got}");
    fits("/scripts/{id}", "get", 200, &got);
    assert_eq!(got, saved, "GET answers what POST did");

    // A new version: its own docstring, unless a description is given.
    let (status, put) = app
        .send(
            "PUT",
            &format!("/scripts/{id}"),
            Some(json!({"script": PRODUCT})),
            None,
        )
        .await;
    assert_eq!(status, 200, "{put}");
    fits("/scripts/{id}", "put", 200, &put);
    assert_eq!(
        (&put["version"], &put["description"], &put["name"]),
        (&json!(2), &json!("Multiplies them."), &json!("sum-numbers"))
    );
    let (status, put) = app
        .send(
            "PUT",
            &format!("/scripts/{id}"),
            Some(json!({"script": PRODUCT, "description": "mine", "name": "product"})),
            None,
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(
        (&put["version"], &put["description"], &put["name"]),
        (&json!(3), &json!("mine"), &json!("product"))
    );
    let listed: Vec<i64> = put["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [1, 2, 3]);

    // Older versions stay readable; the newest is GET's.
    let (status, first) = app
        .send("GET", &format!("/scripts/{id}/versions/1"), None, None)
        .await;
    assert_eq!(status, 200, "{first}");
    fits("/scripts/{id}/versions/{version}", "get", 200, &first);
    assert_eq!(
        (&first["script"], &first["version"]),
        (&json!(SUM), &json!(1))
    );
    assert!(first.get("versions").is_none(), "{first}");
    let (_, newest) = app.send("GET", &format!("/scripts/{id}"), None, None).await;
    assert_eq!(
        (&newest["script"], &newest["version"]),
        (&json!(PRODUCT), &json!(3))
    );
    for missing in ["4", "0", "-1", "x"] {
        let path = format!("/scripts/{id}/versions/{missing}");
        let (status, body) = app.send("GET", &path, None, None).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error_type"], "script_not_found");
        fits("/scripts/{id}/versions/{version}", "get", 404, &body);
    }

    let (status, body) = app
        .send("DELETE", &format!("/scripts/{id}"), None, None)
        .await;
    assert_eq!((status, body), (204, Value::Null));
    // Gone, every version with it.
    for (method, path, body) in [
        ("GET", format!("/scripts/{id}"), None),
        ("GET", format!("/scripts/{id}/versions/1"), None),
        ("DELETE", format!("/scripts/{id}"), None),
        (
            "PUT",
            format!("/scripts/{id}"),
            Some(json!({"script": SUM})),
        ),
        ("POST", format!("/scripts/{id}/execute"), Some(json!({}))),
        ("POST", format!("/scripts/{id}/jobs"), Some(json!({}))),
    ] {
        let (status, answer) = app.send(method, &path, body, None).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["error_type"], "script_not_found");
    }
    let (_, listed) = app.send("GET", "/scripts", None, None).await;
    assert_eq!(listed["scripts"], json!([]));
    // Its name is free again.
    app.save("sum-numbers", SUM).await;
    app.assert_healthy().await;
}

#[tokio::test]
async fn an_unknown_script_is_a_404() {
    let app = scripts_app().await;
    for (method, path) in [
        ("GET", "/scripts/0123456789abcdef0123456789abcdef"),
        ("DELETE", "/scripts/0123456789abcdef0123456789abcdef"),
        (
            "GET",
            "/scripts/0123456789abcdef0123456789abcdef/versions/1",
        ),
        ("POST", "/scripts/0123456789abcdef0123456789abcdef/execute"),
        ("POST", "/scripts/not-an-id/jobs"),
    ] {
        let (status, body) = app.send(method, path, None, None).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["error_type"], "script_not_found");
    }
    let (status, body) = app
        .send(
            "PUT",
            "/scripts/0123456789abcdef0123456789abcdef",
            Some(json!({"script": SUM})),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (404, Some("script_not_found"))
    );
    fits("/scripts/{id}", "put", 404, &body);
    for query in ["limit=0", "limit=101", "cursor=x", "status=queued"] {
        let (status, body) = app
            .send("GET", &format!("/scripts?{query}"), None, None)
            .await;
        assert_eq!(
            (status, body["error_type"].as_str()),
            (400, Some("invalid_request")),
            "{query}"
        );
    }
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_script_is_refused_as_execute_refuses_it_and_nothing_is_saved() {
    let app = jobs_app_with(|s| {
        s.max_body_bytes = 64 * 1024;
        s.max_script_bytes = 32 * 1024;
    })
    .await;
    let big = format!("def main():\n    return '{}'\n", "x".repeat(40 * 1024));
    let huge = format!("def main():\n    return '{}'\n", "x".repeat(70 * 1024));
    let scripts = [
        ("def main(:\n    pass", 400, "validation_error"),
        ("print('no main')", 400, "validation_error"),
        ("   ", 400, "invalid_request"),
        (big.as_str(), 413, "payload_too_large"),
        (huge.as_str(), 413, "payload_too_large"),
    ];
    for (script, status, error_type) in scripts {
        let (execute_status, execute) = app.execute(json!({"script": script})).await;
        let (saved_status, saved) = app
            .send(
                "POST",
                "/scripts",
                Some(json!({"name": "refused", "script": script})),
                None,
            )
            .await;
        assert_eq!((saved_status, execute_status), (status, status), "{saved}");
        assert_eq!(saved["error_type"], error_type, "{saved}");
        assert_eq!(
            saved["error"], execute["error"],
            "the same refusal: {saved}"
        );
        fits("/scripts", "post", status, &saved);
    }
    // The body's own rules: the name, the description, unknown fields.
    let long = "d".repeat(4097);
    for body in [
        json!({"name": "", "script": SUM}),
        json!({"name": "-x", "script": SUM}),
        json!({"name": "a/b", "script": SUM}),
        json!({"name": "x".repeat(101), "script": SUM}),
        json!({"name": "ok", "script": SUM, "description": long}),
        json!({"name": "ok", "script": SUM, "scirpt": 1}),
        json!({"script": SUM}),
        json!(["not", "an", "object"]),
    ] {
        let (status, answer) = app.send("POST", "/scripts", Some(body.clone()), None).await;
        assert_eq!(
            (status, answer["error_type"].as_str()),
            (400, Some("invalid_request")),
            "{body}: {answer}"
        );
        fits("/scripts", "post", 400, &answer);
    }
    let (_, listed) = app.send("GET", "/scripts", None, None).await;
    assert_eq!(listed["scripts"], json!([]), "nothing saved: {listed}");

    // A new version is checked the same way, and a refused one leaves the script as it was.
    let saved = app.save("kept", SUM).await;
    let path = format!("/scripts/{}", saved["id"].as_str().unwrap());
    for (body, status) in [
        (json!({"script": "def main(:\n"}), 400),
        (json!({"script": big}), 413),
        (json!({"script": SUM, "name": "no spaces"}), 400),
        (json!({"name": "only-a-name"}), 400),
    ] {
        let (answer_status, answer) = app.send("PUT", &path, Some(body.clone()), None).await;
        assert_eq!(answer_status, status, "{body}: {answer}");
        fits("/scripts/{id}", "put", status, &answer);
    }
    let (_, still) = app.send("GET", &path, None, None).await;
    assert_eq!(
        (&still["version"], &still["name"]),
        (&json!(1), &json!("kept"))
    );
    // A run's body over MAX_BODY_BYTES is a 413, by id as on /execute and /jobs.
    let input = json!({"input": "x".repeat(70 * 1024)});
    for route in ["execute", "jobs"] {
        let (status, answer) = app
            .send(
                "POST",
                &format!("{path}/{route}"),
                Some(input.clone()),
                None,
            )
            .await;
        assert_eq!(
            (status, answer["error_type"].as_str()),
            (413, Some("payload_too_large")),
            "{route}: {answer}"
        );
        fits(&format!("/scripts/{{id}}/{route}"), "post", 413, &answer);
    }
    let (_, jobs) = app.send("GET", "/jobs", None, None).await;
    assert_eq!(jobs["jobs"], json!([]), "no job stored: {jobs}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn names_are_unique_per_key_and_a_script_is_its_owners_alone() {
    let (one, two) = ("scripts-key-one-0001", "scripts-key-two-0002");
    let app = jobs_app_with(|s| s.api_keys = vec![one.into(), two.into()]).await;
    let body = json!({"name": "report", "script": SUM});
    let (status, mine) = app
        .send("POST", "/scripts", Some(body.clone()), Some(one))
        .await;
    assert_eq!(status, 201, "{mine}");
    let (status, taken) = app
        .send("POST", "/scripts", Some(body.clone()), Some(one))
        .await;
    assert_eq!(
        (status, taken["error_type"].as_str()),
        (409, Some("script_name_taken")),
        "{taken}"
    );
    fits("/scripts", "post", 409, &taken);
    // Another key has names of its own.
    let (status, theirs) = app.send("POST", "/scripts", Some(body), Some(two)).await;
    assert_eq!(status, 201, "{theirs}");

    let id = mine["id"].as_str().unwrap();
    let path = format!("/scripts/{id}");
    for (method, path, body) in [
        ("GET", path.clone(), None),
        ("GET", format!("{path}/versions/1"), None),
        ("PUT", path.clone(), Some(json!({"script": PRODUCT}))),
        ("DELETE", path.clone(), None),
        (
            "POST",
            format!("{path}/execute"),
            Some(json!({"input": [1]})),
        ),
        ("POST", format!("{path}/jobs"), Some(json!({"input": [1]}))),
    ] {
        let (status, answer) = app.send(method, &path, body, Some(two)).await;
        assert_eq!(
            (status, answer["error_type"].as_str()),
            (404, Some("script_not_found")),
            "{method} {path}: another key's is as one that never existed"
        );
    }
    let (status, _) = app
        .send("GET", &path, None, Some("wrong-key-00000000"))
        .await;
    assert_eq!(status, 401);
    let (status, _) = app.send("GET", "/scripts", None, None).await;
    assert_eq!(status, 401);

    // Each key lists its own; a rename onto a taken name is a 409 too.
    for (key, script) in [(one, &mine), (two, &theirs)] {
        let (status, listed) = app.send("GET", "/scripts", None, Some(key)).await;
        assert_eq!(status, 200);
        let ids: Vec<&Value> = listed["scripts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["id"])
            .collect();
        assert_eq!(ids, [&script["id"]], "{listed}");
    }
    let (status, other) = app
        .send(
            "POST",
            "/scripts",
            Some(json!({"name": "other", "script": SUM})),
            Some(one),
        )
        .await;
    assert_eq!(status, 201);
    let (status, renamed) = app
        .send(
            "PUT",
            &format!("/scripts/{}", other["id"].as_str().unwrap()),
            Some(json!({"script": SUM, "name": "report"})),
            Some(one),
        )
        .await;
    assert_eq!(
        (status, renamed["error_type"].as_str()),
        (409, Some("script_name_taken"))
    );
    // Still the untouched script: the refused version was not saved.
    let (_, other) = app
        .send(
            "GET",
            &format!("/scripts/{}", other["id"].as_str().unwrap()),
            None,
            Some(one),
        )
        .await;
    assert_eq!(
        (&other["version"], &other["name"]),
        (&json!(1), &json!("other"))
    );
    let (status, ran) = app
        .send(
            "POST",
            &format!("{path}/execute"),
            Some(json!({"input": [2, 3]})),
            Some(one),
        )
        .await;
    assert_eq!((status, &ran["result"]), (200, &json!(5)), "{ran}");
}

#[tokio::test]
async fn a_saved_script_runs_as_execute_and_post_jobs_would_run_it() {
    let app = scripts_app().await;
    let saved = app.save("sum", SUM).await;
    let id = saved["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .send(
            "PUT",
            &format!("/scripts/{id}"),
            Some(json!({"script": PRODUCT})),
            None,
        )
        .await;
    assert_eq!(status, 200);

    // The newest version, or `version`, with /execute's input, limits and answer.
    let execute_path = format!("/scripts/{id}/execute");
    for (body, source) in [
        (json!({"input": [2, 3, 4]}), PRODUCT),
        (
            json!({"input": [2, 3, 4], "version": 1, "timeout": 10}),
            SUM,
        ),
        (
            json!({"input": [2, 3, 4], "version": 2, "memory": 128}),
            PRODUCT,
        ),
    ] {
        let (status, ran) = app
            .send("POST", &execute_path, Some(body.clone()), None)
            .await;
        fits("/scripts/{id}/execute", "post", status, &ran);
        let mut direct = body.clone();
        direct.as_object_mut().unwrap().remove("version");
        direct["script"] = json!(source);
        let (execute_status, executed) = app.execute(direct).await;
        assert_eq!(
            (status, stable(&ran)),
            (execute_status, stable(&executed)),
            "{body}"
        );
    }
    // A failing run answers as /execute does; an empty body runs the newest with no input.
    let (status, ran) = app
        .send("POST", &execute_path, Some(json!({"input": 5})), None)
        .await;
    assert_eq!(
        (status, ran["error_type"].as_str()),
        (422, Some("runtime_error")),
        "{ran}"
    );
    fits("/scripts/{id}/execute", "post", 422, &ran);
    let (status, ran) = app.send("POST", &execute_path, None, None).await;
    assert_eq!(
        (status, ran["error_type"].as_str()),
        (422, Some("runtime_error")),
        "main(None): {ran}"
    );
    // What the body may not say.
    for (body, status, error_type) in [
        (json!({"script": SUM}), 400, "invalid_request"),
        (json!({"version": 0}), 400, "invalid_request"),
        (json!({"version": "1"}), 400, "invalid_request"),
        (json!({"timeout": 0}), 400, "invalid_request"),
        (json!({"parameters": [1]}), 400, "invalid_request"),
        (json!({"inptu": 1}), 400, "invalid_request"),
        (json!({"version": 3}), 404, "script_not_found"),
    ] {
        let (answer_status, answer) = app
            .send("POST", &execute_path, Some(body.clone()), None)
            .await;
        assert_eq!(
            (answer_status, answer["error_type"].as_str()),
            (status, Some(error_type)),
            "{body}: {answer}"
        );
        fits("/scripts/{id}/execute", "post", status, &answer);
    }

    // As a job: it records the script and version it ran.
    let jobs_path = format!("/scripts/{id}/jobs");
    let (status, accepted) = app
        .send(
            "POST",
            &jobs_path,
            Some(json!({"input": [1, 2, 3], "version": 1})),
            None,
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    fits("/scripts/{id}/jobs", "post", 202, &accepted);
    assert_eq!(accepted["script"], json!({"id": id, "version": 1}));
    let job_id = accepted["job_id"].as_str().unwrap().to_string();
    let newest = app
        .send("POST", &jobs_path, Some(json!({"input": [1, 2, 3]})), None)
        .await
        .1;
    assert_eq!(newest["script"], json!({"id": id, "version": 2}));
    let job = app.finished(&job_id).await;
    fits("/jobs/{id}", "get", 200, &job);
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["script"], json!({"id": id, "version": 1}));
    let (_, executed) = app
        .execute(json!({"script": SUM, "input": [1, 2, 3]}))
        .await;
    assert_eq!(stable(&job["envelope"]), stable(&executed));
    let newest = app.finished(newest["job_id"].as_str().unwrap()).await;
    assert_eq!(newest["envelope"]["result"], 6);
    // Listed with it too.
    let (_, listed) = app.send("GET", "/jobs", None, None).await;
    assert!(
        listed["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["script"]["id"] == json!(id)),
        "{listed}"
    );
    // A job's body is POST /jobs': its own checks, with the jobs' options.
    for (body, status) in [
        (json!({"script": SUM}), 400),
        (json!({"max_attempts": 0}), 400),
        (json!({"callback_url": "https://not-listed.example/x"}), 400),
        (json!({"version": 9}), 404),
    ] {
        let (answer_status, answer) = app.send("POST", &jobs_path, Some(body.clone()), None).await;
        assert_eq!(answer_status, status, "{body}: {answer}");
        fits("/scripts/{id}/jobs", "post", status, &answer);
    }
    // A deleted script's jobs keep what they ran.
    let (status, _) = app
        .send("DELETE", &format!("/scripts/{id}"), None, None)
        .await;
    assert_eq!(status, 204);
    let (status, kept) = app
        .send("GET", &format!("/jobs/{job_id}"), None, None)
        .await;
    assert_eq!((status, &kept["script"]["version"]), (200, &json!(1)));
    app.assert_healthy().await;
}

#[tokio::test]
async fn scripts_are_listed_newest_first_in_pages() {
    let app = scripts_app().await;
    let mut ids = Vec::new();
    for name in ["first", "second", "third"] {
        ids.push(app.save(name, SUM).await["id"].clone());
    }
    ids.reverse();
    let (status, page) = app.send("GET", "/scripts?limit=2", None, None).await;
    assert_eq!(status, 200, "{page}");
    fits("/scripts", "get", 200, &page);
    let got: Vec<Value> = page["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(got, ids[..2]);
    assert!(
        page["scripts"][0].get("script").is_none(),
        "no sources in a listing: {page}"
    );
    assert_eq!(
        page["scripts"][0]["description"],
        "Adds the numbers it is given.\n\nAny iterable of numbers."
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .send(
            "GET",
            &format!("/scripts?limit=2&cursor={cursor}"),
            None,
            None,
        )
        .await;
    let got: Vec<Value> = rest["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(got, ids[2..]);
    assert_eq!(rest["next_cursor"], Value::Null);
    app.assert_healthy().await;
}

#[tokio::test]
async fn racing_puts_each_get_a_version_of_their_own_and_racing_posts_one_name() {
    // Room for every PUT at /validate's checkers (the gate that bounds the parses would answer
    // 429 to the rest: a correct answer, but not what this test is about).
    let app = jobs_app_with(|s| s.validate_queue = 16).await;
    let id = app.save("raced", SUM).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/scripts/{id}");
    let puts = (0..8).map(|i| {
        let app = &app;
        let path = path.clone();
        async move {
            let body = json!({"script": SUM, "description": format!("put {i}")});
            app.send("PUT", &path, Some(body), None).await
        }
    });
    let mut versions: Vec<i64> = futures_util::future::join_all(puts)
        .await
        .into_iter()
        .map(|(status, put)| {
            assert_eq!(status, 200, "{put}");
            put["version"].as_i64().unwrap()
        })
        .collect();
    versions.sort();
    assert_eq!(versions, (2..=9).collect::<Vec<_>>());
    let (_, got) = app.send("GET", &path, None, None).await;
    assert_eq!(got["versions"].as_array().unwrap().len(), 9);
    // Racing POSTs of one name: the database's unique index lets exactly one win.
    let posts = (0..6).map(|_| {
        let app = &app;
        async move {
            let body = json!({"name": "contested", "script": SUM});
            app.send("POST", "/scripts", Some(body), None).await
        }
    });
    let mut statuses: Vec<u16> = futures_util::future::join_all(posts)
        .await
        .into_iter()
        .map(|(status, answer)| {
            if status == 409 {
                assert_eq!(answer["error_type"], "script_name_taken");
            }
            status
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409]);
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_store_that_cannot_open_is_a_503_for_scripts_and_execute_still_works() {
    let blocker = tempfile::NamedTempFile::new().unwrap();
    let dir = blocker.path().join("data");
    let app = spawn_app_with(|s| s.jobs.data_dir = dir).await;
    let id = "0123456789abcdef0123456789abcdef";
    for (method, path, body) in [
        (
            "POST",
            "/scripts".to_string(),
            Some(json!({"name": "x", "script": SUM})),
        ),
        ("GET", "/scripts".to_string(), None),
        ("GET", format!("/scripts/{id}"), None),
        ("GET", format!("/scripts/{id}/versions/1"), None),
        (
            "PUT",
            format!("/scripts/{id}"),
            Some(json!({"script": SUM})),
        ),
        ("DELETE", format!("/scripts/{id}"), None),
        ("POST", format!("/scripts/{id}/execute"), Some(json!({}))),
        ("POST", format!("/scripts/{id}/jobs"), Some(json!({}))),
    ] {
        let (status, answer) = app.send(method, &path, body, None).await;
        assert_eq!(
            (status, answer["error_type"].as_str()),
            (503, Some("store_unavailable")),
            "{method} {path}: {answer}"
        );
        assert!(
            !answer["error"]
                .as_str()
                .unwrap()
                .contains(blocker.path().to_str().unwrap()),
            "paths stay in the log: {answer}"
        );
    }
    let (status, body) = app
        .send(
            "POST",
            "/scripts",
            Some(json!({"name": "x", "script": SUM})),
            None,
        )
        .await;
    fits("/scripts", "post", status, &body);
    let (status, _) = app.run("def main():\n    return 1\n").await;
    assert_eq!(status, 200);
    app.assert_healthy().await;
}

#[tokio::test]
async fn an_unreachable_postgresql_is_a_503_for_scripts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres:secret-password@127.0.0.1:{port}/postgres");
    let app = spawn_app_with(|s| s.jobs.database_url = Some(url)).await;
    let (status, body) = app
        .send(
            "POST",
            "/scripts",
            Some(json!({"name": "x", "script": SUM})),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (503, Some("store_unavailable")),
        "{body}"
    );
    assert!(
        !body["error"].as_str().unwrap().contains("secret-password"),
        "{body}"
    );
    app.assert_healthy().await;
}
