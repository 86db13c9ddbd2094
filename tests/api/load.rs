//! Bounded concurrency: a burst beyond capacity gets 200s and 429s, nothing else, and leaves nothing;
//! the queue is as long as the expected wait allows, and every 429 says when to come back.

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
        let post = post_script(&app, script);
        async move {
            let (status, retry_after, body, _) = post.await;
            (status, retry_after, body)
        }
    });
    let results = futures_join_all(requests).await;
    let ok = results.iter().filter(|(s, _, _)| *s == 200).count();
    let overloaded = results.iter().filter(|(s, _, _)| *s == 429).count();
    for (status, retry_after, body) in &results {
        assert!(*status == 200 || *status == 429, "{status}: {body}");
        if *status == 429 {
            let secs = retry_after.expect("429 without Retry-After");
            // The runs take about a second each on two slots, and two wait: a few seconds at
            // most, never the 300 s cap.
            assert!((1..=30).contains(&secs), "Retry-After {secs}: {body}");
            assert_eq!(body["error_type"], "overloaded");
        }
    }
    // Two slots and two queue places: at least four succeed, and the rest are turned away.
    assert!(ok >= 4, "ok {ok}");
    assert!(overloaded >= 1, "no 429 among {} requests", results.len());
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
}

/// A response's `Retry-After`, which must be whole seconds when present.
/// POSTs `script` to /execute (a future of its own, for tokio::spawn): the status, `Retry-After`
/// in seconds, the body, and how long the answer took.
fn post_script(
    app: &crate::helpers::TestApp,
    script: &'static str,
) -> impl std::future::Future<Output = (u16, Option<u64>, serde_json::Value, std::time::Duration)>
       + Send
       + 'static {
    let request = app
        .client
        .post(format!("{}/execute", app.address))
        .json(&json!({ "script": script }));
    async move {
        let started = std::time::Instant::now();
        let r = request.send().await.expect("sent");
        let status = r.status().as_u16();
        let retry_after = retry_after_secs(&r);
        let body: serde_json::Value = r.json().await.expect("json");
        (status, retry_after, body, started.elapsed())
    }
}

fn retry_after_secs(r: &reqwest::Response) -> Option<u64> {
    let value = r.headers().get("retry-after")?.to_str().expect("ASCII");
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("Retry-After {value:?}")),
    )
}

/// The value of a single-sample series in /metrics' text.
fn gauge(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{metrics}"))
}

#[tokio::test]
async fn the_queue_is_as_long_as_the_wait_allows_not_its_cap() {
    // One slot, a cap of 10 places, a wait budget of 2 s: with slots held about a second (the
    // first estimate, and the start-up probe's run), only a place or two wait within it.
    let app = spawn_app_with(|s| {
        s.sandbox.slots = 1;
        s.sandbox.queue = 10;
        s.sandbox.queue_wait = std::time::Duration::from_secs(2);
        s.sandbox.pool_size = 0;
    })
    .await;
    let metrics = app.metrics().await;
    let limit = gauge(&metrics, "psa_queue_limit") as usize;
    let hold = gauge(&metrics, "psa_slot_hold_seconds");
    assert!(hold > 0.0, "{metrics}");
    assert!(
        limit < 10,
        "the cap, not the wait, sized the queue: {metrics}"
    );
    let script = "import time\ndef main():\n    time.sleep(0.5)\n    return 'ok'\n";
    let burst: usize = 8;
    let requests = (0..burst).map(|_| post_script(&app, script));
    let results = futures_join_all(requests).await;
    let refused: Vec<_> = results.iter().filter(|r| r.0 == 429).collect();
    for (status, retry_after, body, _) in &results {
        assert!(*status == 200 || *status == 429, "{status}: {body}");
        if *status == 429 {
            let secs = retry_after.expect("429 without Retry-After");
            assert!((1..=30).contains(&secs), "Retry-After {secs}: {body}");
        }
    }
    // One runs, `limit` wait; the rest are refused on arrival, and told so without waiting out
    // the 2 s budget (a generous bound: the refusal's pause is 0.1 s).
    assert!(
        refused.len() >= burst.saturating_sub(1 + limit),
        "limit {limit}, refused {}: {results:?}",
        refused.len()
    );
    let at_once = refused
        .iter()
        .filter(|r| r.3 < std::time::Duration::from_millis(1500))
        .count();
    assert!(at_once >= burst.saturating_sub(1 + limit), "{results:?}");
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
    // Every answer counted: nothing is left queued.
    let (_, health) = app.health().await;
    assert_eq!(health["queued"], 0, "{health}");
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
