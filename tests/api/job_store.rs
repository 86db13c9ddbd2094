//! The job store's faults and its housekeeping (issue 16): finished jobs deleted with their
//! outputs after the retention period, a store that is full (503, and nothing already stored is
//! lost), and, on PostgreSQL, a dead instance's running jobs noticed by their expired lease by
//! another instance (lost, or run again when they asked for attempts). Each test starts its own
//! servers (the real binary where one must die) and, for PostgreSQL, its own database server,
//! whatever `PSA_JOBS_STORE` says. Not here: the jobs' contract (jobs.rs).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::spawn_app_with;
use crate::operability::start_binary;

/// GET `path` on the server at `port`: status and JSON body.
async fn get(port: u16, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// POST /jobs on the server at `port`: the job's id.
async fn submit(port: u16, body: Value) -> String {
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/jobs"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    accepted["job_id"].as_str().unwrap().to_string()
}

/// GET /jobs/{id} on `port` until `done` says so (at most 120 s).
async fn wait_for(port: u16, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, job) = get(port, &format!("/jobs/{id}")).await;
        assert_eq!(status, 200, "{job}");
        if done(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} never got there: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ended(job: &Value) -> bool {
    !["queued", "running"].contains(&job["status"].as_str().unwrap_or("queued"))
}

#[tokio::test]
async fn finished_jobs_are_deleted_with_their_outputs_after_the_retention_period() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let mut first = start_binary(&[("DATA_DIR", dir), ("JOBS_RETENTION_SECS", "3600")]);
    let old = submit(
        first.port,
        json!({"script": "def main():\n    print('old')\n    return 1\n"}),
    )
    .await;
    let recent = submit(first.port, json!({"script": "def main():\n    return 2\n"})).await;
    for id in [&old, &recent] {
        let job = wait_for(first.port, id, ended).await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    // The first finished two hours ago, as far as the store knows.
    let url = format!("sqlite://{}", data.path().join("jobs.sqlite3").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let moved = sqlx::query("UPDATE jobs SET finished_at = finished_at - 7200000 WHERE id = ?")
        .bind(&old)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(moved.rows_affected(), 1);
    pool.close().await;
    // The reaper's first pass comes at start-up.
    let second = start_binary(&[("DATA_DIR", dir), ("JOBS_RETENTION_SECS", "3600")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(second.port, &format!("/jobs/{old}")).await;
        if status == 404 {
            assert_eq!(body["error_type"], "job_not_found");
            break;
        }
        assert!(Instant::now() < deadline, "never deleted: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Its row is gone, with the envelope (the outputs) it held.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM jobs WHERE id = ?")
        .bind(&old)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    // The recent one stays.
    let (status, job) = get(second.port, &format!("/jobs/{recent}")).await;
    assert_eq!(
        (status, &job["envelope"]["result"]),
        (200, &json!(2)),
        "{job}"
    );
    let (status, health) = get(second.port, "/health").await;
    assert_eq!(status, 200, "{health}");
}

/// A tmpfs of `size`, mounted on a new directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "this test mounts a small tmpfs to fill the job store, which needs root (CI runs as \
             root): mount said {status}"
        );
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l"])
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_store_is_a_503_and_loses_nothing_it_had_stored() {
    let disk = SmallDisk::mount("1m");
    let data = disk.dir.path().to_path_buf();
    // One slot, busy with a long job first: the rest stay queued, only the submissions write.
    let app = spawn_app_with(|s| {
        s.jobs.data_dir = data;
        s.sandbox.slots = 1;
    })
    .await;
    let (status, first) = app
        .call(
            "POST",
            "/jobs",
            Some(json!({"script": "def main():\n    return 'kept'\n"})),
        )
        .await;
    assert_eq!(status, 202, "{first}");
    let first = first["job_id"].as_str().unwrap().to_string();
    // 64 KiB of comment each: the disk is full within a few dozen.
    let padding = format!("# {}\n", "x".repeat(64 * 1024));
    let script = format!("{padding}def main():\n    return 0\n");
    let mut refused = None;
    for n in 0..64 {
        let (status, body) = app
            .call("POST", "/jobs", Some(json!({"script": script})))
            .await;
        match status {
            202 => continue,
            503 => {
                refused = Some((n, body));
                break;
            }
            other => panic!("submission {n}: {other} {body}"),
        }
    }
    let (n, body) = refused.expect("a 1 MiB disk never filled up");
    assert!(n > 0, "the first submission fitted");
    assert_eq!(body["error_type"], "store_unavailable", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("nothing was stored"),
        "{body}"
    );
    // What was stored before is still there, and /execute does not need the store.
    let (status, job) = app.call("GET", &format!("/jobs/{first}"), None).await;
    assert_eq!(status, 200, "{job}");
    let (status, ran) = app
        .call(
            "POST",
            "/execute",
            Some(json!({"script": "def main():\n    return 'still'\n"})),
        )
        .await;
    assert_eq!((status, &ran["result"]), (200, &json!("still")), "{ran}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn on_postgresql_a_dead_instances_jobs_are_noticed_by_their_lease() {
    let postgres = crate::postgres::PostgresServer::start();
    let data = tempfile::tempdir().unwrap();
    let mut first = start_binary(&[
        ("DATABASE_URL", &postgres.url),
        ("DATA_DIR", data.path().to_str().unwrap()),
        ("JOBS_LEASE_SECS", "3"),
        ("SANDBOX_SLOTS", "2"),
    ]);
    let once = submit(
        first.port,
        json!({"script": "import time\ndef main():\n    time.sleep(60)\n", "timeout": 120}),
    )
    .await;
    let twice = submit(
        first.port,
        json!({"script": "import time\ndef main():\n    time.sleep(3)\n    return 'again'\n",
               "max_attempts": 2}),
    )
    .await;
    for id in [&once, &twice] {
        wait_for(first.port, id, |job| job["status"] == "running").await;
    }
    // SIGKILL: nothing written, the leases are left to expire.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let url = postgres.url.clone();
    let second = spawn_app_with(|s| {
        s.jobs.database_url = Some(url);
        s.jobs.lease = Duration::from_secs(3);
    })
    .await;
    let lost = wait_for(second.port, &once, ended).await;
    assert_eq!(lost["status"], "lost", "{lost}");
    assert!(
        lost["message"].as_str().unwrap().contains("lease expired"),
        "{lost}"
    );
    let again = wait_for(second.port, &twice, ended).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(again["envelope"]["result"], "again");
    second.assert_healthy().await;
}
