//! Jobs (issue 16): a script submitted with POST /jobs and collected later. Each test starts the
//! real server (real nsjail) with a job store of its own (helpers.rs gives every app its own
//! DATA_DIR) and drives jobs over HTTP: the answer is /execute's, refusals are /execute's,
//! cancelling (queued and running, with no process left), owners, listing, events, callbacks, a
//! restart on the same store, a killed and a stopped server, a store that cannot be opened, and
//! two servers on one PostgreSQL. The tests of the contract run on the store `PSA_JOBS_STORE`
//! names: `sqlite` (unset: the embedded store) or `postgres` (each app then gets a PostgreSQL
//! server of its own, tests/api/postgres.rs); `make test` runs both passes. Not here: the store's
//! own unit tests (src/store/).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{processes_with_async, spawn_app, spawn_app_with, unique, TestApp};
use crate::stream::{take_events, Streamed};

/// A test server for the tests of the contract, on the store `PSA_JOBS_STORE` names, and the
/// PostgreSQL server it uses (stopped with it).
pub(crate) struct JobsApp {
    app: TestApp,
    _postgres: Option<crate::postgres::PostgresServer>,
}

impl std::ops::Deref for JobsApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

async fn jobs_app() -> JobsApp {
    jobs_app_with(|_| {}).await
}

pub(crate) async fn jobs_app_with(
    tweak: impl FnOnce(&mut python_script_api::configuration::Settings),
) -> JobsApp {
    let postgres = match std::env::var("PSA_JOBS_STORE").as_deref() {
        Ok("postgres") => Some(crate::postgres::PostgresServer::start()),
        Ok("sqlite") | Err(_) => None,
        Ok(other) => panic!("PSA_JOBS_STORE={other:?}: sqlite or postgres"),
    };
    let url = postgres.as_ref().map(|p| p.url.clone());
    let app = spawn_app_with(|s| {
        s.jobs.database_url = url;
        tweak(s);
    })
    .await;
    JobsApp {
        app,
        _postgres: postgres,
    }
}

impl TestApp {
    /// POST /jobs; panics unless it is accepted. The 202's body.
    pub(crate) async fn submit(&self, body: Value) -> Value {
        let (status, accepted) = self.call("POST", "/jobs", Some(body)).await;
        assert_eq!(status, 202, "{accepted}");
        accepted
    }

    /// GET /jobs/{id} until the job is no longer queued or running (at most 120 s).
    pub(crate) async fn finished(&self, id: &str) -> Value {
        self.wait_for(id, |job| {
            !["queued", "running"].contains(&job["status"].as_str().unwrap())
        })
        .await
    }

    /// GET /jobs/{id} until `done` says so (at most 120 s).
    pub(crate) async fn wait_for(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, job) = self.call("GET", &format!("/jobs/{id}"), None).await;
            assert_eq!(status, 200, "{job}");
            if done(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} never got there: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `body`, answered with `status` to `method path`, fits src/openapi.json's description.
pub(crate) fn fits(path: &str, method: &str, status: u16, body: &Value) {
    let spec = crate::openapi::spec();
    let schema = crate::openapi::response_schema(&spec, path, method, status);
    crate::openapi::check(&spec, &schema, body, &format!("{method} {path} {status}"));
}

/// The parts of an /execute answer that do not depend on when it ran.
pub(crate) fn stable(answer: &Value) -> Value {
    let mut answer = answer.clone();
    for key in ["timestamp", "duration_ms", "usage"] {
        answer.as_object_mut().unwrap().remove(key);
    }
    answer
}

#[tokio::test]
async fn a_job_answers_what_execute_would_have() {
    let app = jobs_app().await;
    let cases = [
        (
            json!({"script": "def main(x):\n    print('hi')\n    return {'double': x * 2}\n", "input": 21}),
            "succeeded",
            200,
        ),
        (
            json!({"script": "def main():\n    print('before')\n    raise ValueError('boom')\n"}),
            "failed",
            422,
        ),
    ];
    for (body, status, http_status) in cases {
        let accepted = app.submit(body.clone()).await;
        let id = accepted["job_id"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 32, "128 random bits, in hex: {accepted}");
        assert_eq!(accepted["status"], "queued");
        assert_eq!(accepted["status_url"], format!("/jobs/{id}"));
        assert!(accepted["created_at"].is_string());
        fits("/jobs", "post", 202, &accepted);
        let job = app.finished(&id).await;
        fits("/jobs/{id}", "get", 200, &job);
        assert_eq!(job["status"], status, "{job}");
        assert_eq!(job["http_status"], http_status, "{job}");
        assert!(job["started_at"].is_string() && job["finished_at"].is_string());
        let (execute_status, execute) = app.execute(body).await;
        assert_eq!(execute_status, http_status);
        assert_eq!(stable(&job["envelope"]), stable(&execute), "{job}");
    }
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_job_is_refused_as_execute_refuses_it_and_nothing_is_stored() {
    let app = jobs_app_with(|s| s.max_body_bytes = 64 * 1024).await;
    let refused = [
        (
            json!({"script": "def main(:\n    pass"}),
            400,
            "validation_error",
        ),
        (
            json!({"script": "print('no main')"}),
            400,
            "validation_error",
        ),
        (
            json!({"script": "def main(): pass", "timeout": 0}),
            400,
            "invalid_request",
        ),
        (
            json!({"script": "def main(): pass", "parameters": [1]}),
            400,
            "invalid_request",
        ),
        (
            json!({"script": "def main(): pass", "scirpt": 1}),
            400,
            "invalid_request",
        ),
        (
            json!({"script": format!("def main():\n    return '{}'\n", "x".repeat(70 * 1024))}),
            413,
            "payload_too_large",
        ),
    ];
    for (body, status, error_type) in refused {
        let (execute_status, execute) = app.execute(body.clone()).await;
        let (job_status, job) = app.call("POST", "/jobs", Some(body)).await;
        assert_eq!((job_status, execute_status), (status, status), "{job}");
        assert_eq!(job["error_type"], error_type, "{job}");
        assert_eq!(job["error"], execute["error"], "the same refusal: {job}");
        fits("/jobs", "post", status, &job);
    }
    let (status, listed) = app.call("GET", "/jobs", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["jobs"], json!([]), "{listed}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn an_unknown_job_is_a_404() {
    let app = jobs_app().await;
    for (method, path) in [
        ("GET", "/jobs/0123456789abcdef0123456789abcdef"),
        ("DELETE", "/jobs/0123456789abcdef0123456789abcdef"),
        ("GET", "/jobs/not-an-id"),
    ] {
        let (status, body) = app.call(method, path, None).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["error_type"], "job_not_found");
        fits("/jobs/{id}", &method.to_lowercase(), 404, &body);
    }
    let (status, body) = app.call("GET", "/jobs?limit=0", None).await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _) = app.call("GET", "/jobs?status=done", None).await;
    assert_eq!(status, 400);
    let (status, _) = app.call("GET", "/jobs?cursor=x", None).await;
    assert_eq!(status, 400);
    app.assert_healthy().await;
}

#[tokio::test]
async fn with_api_keys_a_job_is_its_owners_alone() {
    let app = jobs_app_with(|s| {
        s.api_keys = vec!["jobs-key-one-0001".into(), "jobs-key-two-0002".into()]
    })
    .await;
    let send = |method: &str, key: &str, path: &str, body: Option<Value>| {
        let url = format!("{}{path}", app.address);
        let builder = match method {
            "GET" => app.client.get(url),
            "DELETE" => app.client.delete(url),
            _ => app.client.post(url),
        };
        let builder = match body {
            Some(body) => builder.body(body.to_string()),
            None => builder,
        };
        let builder = builder.bearer_auth(key);
        async move {
            let response = builder.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, accepted) = send(
        "POST",
        "jobs-key-one-0001",
        "/jobs",
        Some(json!({"script": "def main():\n    return 1\n"})),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["job_id"].as_str().unwrap();
    let path = format!("/jobs/{id}");
    let (status, body) = send("GET", "jobs-key-two-0002", &path, None).await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (404, Some("job_not_found"))
    );
    let (status, _) = send("DELETE", "jobs-key-two-0002", &path, None).await;
    assert_eq!(status, 404, "another key cannot cancel it");
    let (status, listed) = send("GET", "jobs-key-two-0002", "/jobs", None).await;
    assert_eq!((status, listed["jobs"].clone()), (200, json!([])));
    let (status, listed) = send("GET", "jobs-key-one-0001", "/jobs", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["jobs"][0]["job_id"], id);
    let (status, mine) = send("GET", "jobs-key-one-0001", &path, None).await;
    assert_eq!(status, 200, "{mine}");
    let (status, _) = send("GET", "wrong-key-000000000", &path, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_cancelled_job_never_starts_and_a_running_one_is_killed() {
    // One slot: the second job waits in the queue behind the first.
    let app = jobs_app_with(|s| {
        s.sandbox.slots = 1;
        s.sandbox.pool_size = s.sandbox.pool_size.min(1);
    })
    .await;
    let marker = unique("jobcancel");
    let long = format!(
        "import subprocess, time\ndef main():\n    subprocess.Popen(['sh', '-c', 'sleep 300; echo {marker}'])\n    time.sleep(300)\n"
    );
    let running = app.submit(json!({"script": long, "timeout": 300})).await;
    let running = running["job_id"].as_str().unwrap().to_string();
    let queued = app
        .submit(json!({"script": "def main():\n    return 'ran'\n"}))
        .await;
    let queued = queued["job_id"].as_str().unwrap().to_string();
    app.wait_for(&running, |job| job["status"] == "running")
        .await;
    // The child is started once the job runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    while processes_with_async(&marker).await.is_empty() {
        if Instant::now() > deadline {
            let (_, job) = app.call("GET", &format!("/jobs/{running}"), None).await;
            panic!("the job's child never started: {job}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, cancelled) = app.call("DELETE", &format!("/jobs/{queued}"), None).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["started_at"], Value::Null, "{cancelled}");

    let started = Instant::now();
    let (status, cancelled) = app.call("DELETE", &format!("/jobs/{running}"), None).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    fits("/jobs/{id}", "delete", 200, &cancelled);
    assert!(cancelled["started_at"].is_string() && cancelled["finished_at"].is_string());
    assert!(started.elapsed() < Duration::from_secs(30));
    // Gone when the cancel answered, not a moment later.
    assert_eq!(processes_with_async(&marker).await, Vec::<String>::new());
    app.assert_no_leftovers().await;
    // Cancelling again changes nothing; the queued one never ran.
    let (status, again) = app.call("DELETE", &format!("/jobs/{running}"), None).await;
    assert_eq!((status, again["status"].as_str()), (200, Some("cancelled")));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, never) = app.call("GET", &format!("/jobs/{queued}"), None).await;
    assert_eq!(never["status"], "cancelled", "{never}");
    assert!(never.get("envelope").is_none(), "{never}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn jobs_are_listed_newest_first_in_pages() {
    let app = jobs_app().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let accepted = app
            .submit(json!({"script": format!("def main():\n    return {n}\n")}))
            .await;
        ids.push(accepted["job_id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        app.finished(id).await;
    }
    let (status, page) = app.call("GET", "/jobs?limit=2", None).await;
    assert_eq!(status, 200, "{page}");
    fits("/jobs", "get", 200, &page);
    let listed: Vec<_> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].clone())
        .collect();
    assert_eq!(listed, [json!(ids[2]), json!(ids[1])]);
    assert!(
        page["jobs"][0].get("envelope").is_none(),
        "a listing carries no envelopes"
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .call("GET", &format!("/jobs?limit=2&cursor={cursor}"), None)
        .await;
    assert_eq!(rest["jobs"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["jobs"][0]["job_id"], json!(ids[0]));
    assert_eq!(rest["next_cursor"], Value::Null);
    let (_, succeeded) = app.call("GET", "/jobs?status=succeeded", None).await;
    assert_eq!(
        succeeded["jobs"].as_array().unwrap().len(),
        3,
        "{succeeded}"
    );
    let (_, queued) = app.call("GET", "/jobs?status=queued", None).await;
    assert_eq!(queued["jobs"], json!([]));
}

#[tokio::test]
async fn a_restarted_server_keeps_finished_jobs_and_marks_interrupted_ones_lost() {
    let first = spawn_app().await;
    let done = first
        .submit(json!({"script": "def main():\n    return 'kept'\n"}))
        .await;
    let done = done["job_id"].as_str().unwrap().to_string();
    let kept = first.finished(&done).await;
    let interrupted = first
        .submit(json!({"script": "import time\ndef main():\n    time.sleep(60)\n", "timeout": 60}))
        .await;
    let interrupted = interrupted["job_id"].as_str().unwrap().to_string();
    first
        .wait_for(&interrupted, |job| job["status"] == "running")
        .await;
    // A second server on the same store starts as a server restarted after a crash would: the
    // job the first one was running is nobody's any more.
    let dir = first.data_dir.path().to_path_buf();
    let second = spawn_app_with(|s| s.jobs.data_dir = dir).await;
    let (status, again) = second.call("GET", &format!("/jobs/{done}"), None).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, kept, "the same job, read after the restart");
    let (_, lost) = second
        .call("GET", &format!("/jobs/{interrupted}"), None)
        .await;
    assert_eq!(lost["status"], "lost", "{lost}");
    assert!(lost["message"]
        .as_str()
        .unwrap()
        .contains("stopped while this job ran"));
    // The first server's run ends (killed here); it does not write over `lost`.
    first
        .call("DELETE", &format!("/jobs/{interrupted}"), None)
        .await;
    let (_, still) = second
        .call("GET", &format!("/jobs/{interrupted}"), None)
        .await;
    assert_eq!(still["status"], "lost", "{still}");
    second.assert_healthy().await;
}

#[tokio::test]
async fn a_store_that_cannot_open_is_a_503_and_execute_still_works() {
    let blocker = tempfile::NamedTempFile::new().unwrap();
    // A DATA_DIR below a regular file cannot be created.
    let dir = blocker.path().join("data");
    let app = spawn_app_with(|s| s.jobs.data_dir = dir).await;
    let (status, body) = app
        .call(
            "POST",
            "/jobs",
            Some(json!({"script": "def main():\n    return 1\n"})),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error_type"], "store_unavailable");
    fits("/jobs", "post", 503, &body);
    assert!(
        !body["error"]
            .as_str()
            .unwrap()
            .contains(blocker.path().to_str().unwrap()),
        "paths stay in the log: {body}"
    );
    let (status, _) = app.call("GET", "/jobs", None).await;
    assert_eq!(status, 503);
    app.assert_healthy().await;
}

/// GET /jobs/{id}/events, read to its end.
async fn job_events(app: &TestApp, id: &str) -> Streamed {
    let mut response = app
        .client
        .get(format!("{}/jobs/{id}/events", app.address))
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("body read") {
        buffer.extend_from_slice(&chunk);
        events.extend(take_events(&mut buffer, false, Instant::now()));
    }
    Streamed {
        status,
        headers,
        events,
    }
}

#[tokio::test]
async fn a_jobs_events_are_its_output_live_then_its_envelope_and_the_same_for_a_late_client() {
    let app = jobs_app().await;
    let script = "import time\ndef main():\n    print('first', flush=True)\n    time.sleep(1)\n    print('second', flush=True)\n    return 'done'\n";
    let accepted = app.submit(json!({"script": script})).await;
    let id = accepted["job_id"].as_str().unwrap().to_string();
    app.wait_for(&id, |job| job["status"] != "queued").await;
    let live = job_events(&app, &id).await;
    assert_eq!(live.status, 200);
    assert_eq!(live.headers["content-type"], "text/event-stream");
    assert_eq!(live.text("stdout"), "first\nsecond\n", "{:?}", live.events);
    let job = app.finished(&id).await;
    assert_eq!(
        live.result(),
        &job["envelope"],
        "the final event is the envelope"
    );
    assert_eq!(live.result()["result"], "done");
    // A client that connects once the job has finished gets the same.
    let late = job_events(&app, &id).await;
    assert_eq!(late.text("stdout"), "first\nsecond\n", "{:?}", late.events);
    assert_eq!(late.result(), &job["envelope"]);
    // An unknown job is a plain 404, before any stream.
    let (status, body) = app
        .call("GET", "/jobs/0123456789abcdef0123456789abcdef/events", None)
        .await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (404, Some("job_not_found"))
    );
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_server_killed_mid_job_leaves_it_lost_after_the_restart() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let mut first = crate::operability::start_binary(&[("DATA_DIR", dir)]);
    let client = reqwest::Client::new();
    let url = |port: u16, path: &str| format!("http://127.0.0.1:{port}{path}");
    let accepted: Value = client
        .post(url(first.port, "/jobs"))
        .json(&json!({"script": "import time\ndef main():\n    time.sleep(120)\n", "timeout": 120}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = accepted["job_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job: Value = client
            .get(url(first.port, &format!("/jobs/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "never ran: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // SIGKILL: no shutdown, nothing written.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let second = crate::operability::start_binary(&[("DATA_DIR", dir)]);
    let job: Value = client
        .get(url(second.port, &format!("/jobs/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(job["status"], "lost", "{job}");
    assert!(job["finished_at"].is_string(), "{job}");
    assert!(
        job["message"]
            .as_str()
            .unwrap()
            .contains("will not be run again"),
        "{job}"
    );
    // The restarted server runs new jobs.
    let accepted: Value = client
        .post(url(second.port, "/jobs"))
        .json(&json!({"script": "def main():\n    return 'after'\n"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = accepted["job_id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job: Value = client
            .get(url(second.port, &format!("/jobs/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] == "succeeded" {
            assert_eq!(job["envelope"]["result"], "after");
            break;
        }
        assert!(Instant::now() < deadline, "never finished: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_cancel_that_arrives_while_the_job_starts_wins() {
    let app = jobs_app().await;
    let script = "import time\ndef main():\n    time.sleep(30)\n";
    for round in 0..10 {
        let accepted = app.submit(json!({"script": script, "timeout": 60})).await;
        let id = accepted["job_id"].as_str().unwrap().to_string();
        // Round by round, the cancel comes a little later: before the claim, at it, or after.
        tokio::time::sleep(Duration::from_millis(round * 3)).await;
        let (status, cancelled) = app.call("DELETE", &format!("/jobs/{id}"), None).await;
        assert_eq!(status, 200, "{cancelled}");
        assert_eq!(
            cancelled["status"], "cancelled",
            "round {round}: {cancelled}"
        );
    }
    // None of them runs on, or starts later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, listed) = app.call("GET", "/jobs?limit=100", None).await;
    let statuses: Vec<_> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, vec!["cancelled"; 10], "{listed}");
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
}

#[tokio::test]
async fn two_servers_on_one_postgresql_run_each_job_once_and_answer_for_any() {
    let postgres = crate::postgres::PostgresServer::start();
    let url = postgres.url.clone();
    // One slot each: two long jobs then run one on each instance.
    let shared = |s: &mut python_script_api::configuration::Settings| {
        s.jobs.database_url = Some(url.clone());
        s.sandbox.slots = 1;
        s.sandbox.pool_size = s.sandbox.pool_size.min(1);
    };
    let first = spawn_app_with(shared).await;
    let second = spawn_app_with(shared).await;
    // Submitted to both, alternately: both workers race for all of them.
    let mut ids = Vec::new();
    for n in 0..16 {
        let app = if n % 2 == 0 { &first } else { &second };
        let accepted = app
            .submit(json!({"script": format!("import time\ndef main():\n    time.sleep(0.2)\n    return {n}\n")}))
            .await;
        ids.push(accepted["job_id"].as_str().unwrap().to_string());
    }
    for (n, id) in ids.iter().enumerate() {
        // Any instance answers for any job.
        let app = if n % 2 == 0 { &second } else { &first };
        let job = app.finished(id).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["envelope"]["result"], n, "{job}");
    }
    // Each ran once: claimed once, never requeued by a second claim.
    let pool = sqlx::PgPool::connect(&postgres.url).await.unwrap();
    let claims: Vec<(String, i64)> = sqlx::query_as("SELECT id, attempts FROM jobs")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(claims.len(), 16);
    assert!(
        claims.iter().all(|(_, attempts)| *attempts == 1),
        "{claims:?}"
    );
    let (_, listed) = first.call("GET", "/jobs?limit=100", None).await;
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 16, "{listed}");
    // Two long jobs, one running on each instance: both cancelled through the first, which
    // kills its own and has the other instance kill the other.
    let mut long = Vec::new();
    for _ in 0..2 {
        let accepted = first
            .submit(
                json!({"script": "import time\ndef main():\n    time.sleep(60)\n", "timeout": 120}),
            )
            .await;
        long.push(accepted["job_id"].as_str().unwrap().to_string());
    }
    for id in &long {
        first.wait_for(id, |job| job["status"] == "running").await;
    }
    let started = Instant::now();
    for id in &long {
        let (status, cancelled) = first.call("DELETE", &format!("/jobs/{id}"), None).await;
        assert_eq!(
            (status, cancelled["status"].as_str()),
            (200, Some("cancelled")),
            "{cancelled}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    first.assert_no_leftovers().await;
    second.assert_no_leftovers().await;
    first.assert_healthy().await;
    second.assert_healthy().await;
}

#[tokio::test]
async fn an_unreachable_postgresql_is_a_503() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres:secret-password@127.0.0.1:{port}/postgres");
    let app = spawn_app_with(|s| s.jobs.database_url = Some(url)).await;
    let (status, body) = app
        .call(
            "POST",
            "/jobs",
            Some(json!({"script": "def main():\n    return 1\n"})),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error_type"], "store_unavailable");
    assert!(
        !body["error"].as_str().unwrap().contains("secret-password"),
        "{body}"
    );
    app.assert_healthy().await;
}

/// A one-shot HTTP server that answers 200 to one request and hands over its body.
async fn one_callback() -> (u16, tokio::sync::oneshot::Receiver<Value>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            let n = socket.read(&mut buffer).await.unwrap();
            received.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&received).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if received.len() >= end + 4 + length {
                    let body: Value =
                        serde_json::from_slice(&received[end + 4..end + 4 + length]).unwrap();
                    socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await
                        .unwrap();
                    let _ = tx.send(body);
                    return;
                }
            }
            if n == 0 {
                return;
            }
        }
    });
    (port, rx)
}

#[tokio::test]
async fn a_jobs_end_is_posted_to_its_callback_url_on_a_listed_host_only() {
    let (port, delivered) = one_callback().await;
    let app = jobs_app_with(|s| s.jobs.callback_hosts = vec![format!("127.0.0.1:{port}")]).await;
    let accepted = app
        .submit(json!({
            "script": "def main(x):\n    return x + 1\n",
            "input": 41,
            "callback_url": format!("http://127.0.0.1:{port}/done"),
        }))
        .await;
    let id = accepted["job_id"].as_str().unwrap().to_string();
    let job = app.finished(&id).await;
    let body = tokio::time::timeout(Duration::from_secs(60), delivered)
        .await
        .expect("the callback came")
        .unwrap();
    assert_eq!(body["job_id"], json!(id));
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["http_status"], 200);
    assert_eq!(body["envelope"], job["envelope"], "{body}");
    assert_eq!(body["envelope"]["result"], 42);
    // Another host, or another port, is refused before anything is stored.
    for url in [
        format!("http://127.0.0.1:{}/done", port.wrapping_add(1)),
        "http://169.254.169.254/computeMetadata/v1/".to_string(),
    ] {
        let (status, refused) = app
            .call(
                "POST",
                "/jobs",
                Some(json!({"script": "def main(): pass", "callback_url": url})),
            )
            .await;
        assert_eq!(status, 400, "{refused}");
        assert!(
            refused["error"]
                .as_str()
                .unwrap()
                .contains("JOBS_CALLBACK_HOSTS"),
            "{refused}"
        );
    }
    let (_, listed) = app.call("GET", "/jobs", None).await;
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1, "{listed}");
    // A server that lists no host calls no one back.
    let closed = jobs_app().await;
    let (status, refused) = closed
        .call(
            "POST",
            "/jobs",
            Some(json!({"script": "def main(): pass", "callback_url": "http://127.0.0.1:1/"})),
        )
        .await;
    assert_eq!(
        (status, refused["error_type"].as_str()),
        (400, Some("invalid_request")),
        "{refused}"
    );
}

#[tokio::test]
async fn a_graceful_shutdown_stops_its_running_jobs_and_writes_them_lost() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let mut server = crate::operability::start_binary(&[("DATA_DIR", dir)]);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", server.port);
    let accepted: Value = client
        .post(format!("{base}/jobs"))
        .json(&json!({"script": "import time\ndef main():\n    time.sleep(120)\n", "timeout": 120}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = accepted["job_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job: Value = client
            .get(format!("{base}/jobs/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "never ran: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().unwrap();
        (status, server)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "{:?}", status.0);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "it did not wait for the job"
    );
    let again = crate::operability::start_binary(&[("DATA_DIR", dir)]);
    let job: Value = client
        .get(format!("http://127.0.0.1:{}/jobs/{id}", again.port))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(job["status"], "lost", "{job}");
    assert!(
        job["message"].as_str().unwrap().contains("shut down"),
        "{job}"
    );
}

#[tokio::test]
async fn a_job_may_run_longer_than_execute_allows() {
    let app = jobs_app_with(|s| {
        s.max_timeout_secs = 2;
        s.default_timeout_secs = 2;
        s.jobs.max_timeout_secs = 20;
    })
    .await;
    let body = json!({"script": "import time\ndef main():\n    time.sleep(3)\n    return 'slow'\n", "timeout": 10});
    let (status, refused) = app.execute(body.clone()).await;
    assert_eq!(status, 400, "/execute keeps MAX_TIMEOUT_SECS: {refused}");
    let accepted = app.submit(body).await;
    let job = app.finished(accepted["job_id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["envelope"]["result"], "slow");
    let (status, refused) = app
        .call(
            "POST",
            "/jobs",
            Some(json!({"script": "def main(): pass", "timeout": 21})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("between 1 and 20"),
        "{refused}"
    );
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_job_that_asked_for_attempts_runs_again_after_its_server_was_killed() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let mut first = crate::operability::start_binary(&[("DATA_DIR", dir), ("SANDBOX_SLOTS", "1")]);
    let client = reqwest::Client::new();
    let get = |port: u16, id: String| {
        let client = client.clone();
        async move {
            client
                .get(format!("http://127.0.0.1:{port}/jobs/{id}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let accepted: Value = client
        .post(format!("http://127.0.0.1:{}/jobs", first.port))
        .json(&json!({
            "script": "import time\ndef main():\n    time.sleep(2)\n    return 'again'\n",
            "max_attempts": 2,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = accepted["job_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(first.port, id.clone()).await["status"] != "running" {
        assert!(Instant::now() < deadline, "never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    // The restarted server queues it again (one attempt left) and runs it to its end.
    let second = crate::operability::start_binary(&[("DATA_DIR", dir)]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let job = get(second.port, id.clone()).await;
        if !["queued", "running"].contains(&job["status"].as_str().unwrap()) {
            break job;
        }
        assert!(Instant::now() < deadline, "never finished: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["envelope"]["result"], "again");
}
