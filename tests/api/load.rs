//! Bounded concurrency: a burst beyond capacity gets 200s and 429s, nothing else, and leaves nothing.

use serde_json::json;

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn a_burst_beyond_capacity_gets_200s_and_429s_only() {
    let app = spawn_app_with(|s| {
        s.sandbox.slots = 2;
        s.sandbox.queue = 2;
        s.sandbox.queue_wait = std::time::Duration::from_secs(30);
    })
    .await;
    let script = "import time\ndef main():\n    time.sleep(1)\n    return 'ok'\n";
    let requests = (0..12).map(|_| {
        let client = app.client.clone();
        let url = format!("{}/execute", app.address);
        async move {
            let r = client
                .post(url)
                .json(&json!({ "script": script }))
                .send()
                .await
                .expect("sent");
            let status = r.status().as_u16();
            let retry_after = r.headers().contains_key("retry-after");
            let body: serde_json::Value = r.json().await.expect("json");
            (status, retry_after, body)
        }
    });
    let results = futures_join_all(requests).await;
    let ok = results.iter().filter(|(s, _, _)| *s == 200).count();
    let overloaded = results.iter().filter(|(s, _, _)| *s == 429).count();
    for (status, retry_after, body) in &results {
        assert!(*status == 200 || *status == 429, "{status}: {body}");
        if *status == 429 {
            assert!(retry_after, "429 without Retry-After");
            assert_eq!(body["error_type"], "overloaded");
        }
    }
    // Two slots and two queue places: at least four succeed, and the rest are turned away.
    assert!(ok >= 4, "ok {ok}");
    assert!(overloaded >= 1, "no 429 among {} requests", results.len());
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
}

/// join_all without a futures dependency: spawn each and await in order.
async fn futures_join_all<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn a_client_that_gives_up_in_the_queue_gives_its_place_back() {
    let app = spawn_app_with(|s| {
        s.sandbox.slots = 1;
        s.sandbox.queue = 2;
        s.sandbox.pool_size = 0;
    })
    .await;
    let busy = {
        let client = app.client.clone();
        let url = format!("{}/execute", app.address);
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"script": "import time\ndef main():\n    time.sleep(3)\n"}))
                .send()
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(500))
        .build()
        .unwrap();
    for _ in 0..2 {
        let gave_up = impatient
            .post(format!("{}/execute", app.address))
            .json(&json!({"script": "def main():\n    return 1\n"}))
            .send()
            .await;
        assert!(gave_up.is_err(), "should have waited in the queue");
    }
    // The server notices the hang-ups within its 200 ms check.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let (_, health) = app.health().await;
    assert_eq!(health["queued"], 0, "{health}");
    let _ = busy.await;
    let (status, body) = app.run("def main():\n    return 2\n").await;
    assert_eq!(status, 200, "{body}");
}
