//! Request bodies: clients that promise a large body, send part of it and stall. They must not
//! grow the server's memory past the bodies' budget, must get a 408 at the read deadline, must not
//! hold the sandbox's slots, and the budget must refuse what does not fit with a 429.
//!
//! The clients are raw TCP: an HTTP client library would not send a body it cannot finish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::helpers::{spawn_app_with, TestApp};

const MIB: usize = 1 << 20;
/// What each slow client promises, as in the review's report.
const PROMISED: usize = 20 * MIB;
/// Generous bounds, for a loaded 2-core machine.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
const HEALTH_WITHIN: Duration = Duration::from_secs(5);

/// One raw HTTP/1.1 client whose request is under way: its answer is read as soon as it comes,
/// while the body is still being sent; its connection stays open until it is dropped.
struct Client {
    writer: OwnedWriteHalf,
    /// Body bytes sent so far.
    sent: usize,
    answer: JoinHandle<Option<(u16, Value)>>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.answer.abort();
    }
}

impl Client {
    /// Sends the request head: `Content-Length: length`, or a chunked body when `length` is None.
    async fn start(app: &TestApp, path: &str, length: Option<usize>, extra: &str) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", app.port))
            .await
            .expect("connects");
        let (reader, mut writer) = stream.into_split();
        let framing = match length {
            Some(n) => format!("Content-Length: {n}"),
            None => "Transfer-Encoding: chunked".to_string(),
        };
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{framing}\r\n{extra}\r\n"
        );
        writer.write_all(head.as_bytes()).await.expect("head sent");
        Client {
            writer,
            sent: 0,
            answer: tokio::spawn(read_response(reader)),
        }
    }

    /// Sends `n` more bytes of a JSON body that would be valid once finished (`{"script": "xxx...`),
    /// as chunks of the chunked encoding when `chunked`. A write that fails (the server answered
    /// and closed) ends the sending quietly: the answer says what happened.
    async fn send(&mut self, n: usize, chunked: bool) {
        const PIECE: usize = 64 * 1024;
        let start = br#"{"script": ""#;
        let filler = vec![b'x'; PIECE];
        let end = self.sent + n;
        while self.sent < end {
            let piece: &[u8] = if self.sent == 0 {
                start
            } else {
                &filler[..PIECE.min(end - self.sent)]
            };
            let written = if chunked {
                let mut framed = format!("{:x}\r\n", piece.len()).into_bytes();
                framed.extend_from_slice(piece);
                framed.extend_from_slice(b"\r\n");
                self.writer.write_all(&framed).await
            } else {
                self.writer.write_all(piece).await
            };
            if written.is_err() {
                return;
            }
            self.sent += piece.len();
        }
    }

    fn answered(&self) -> bool {
        self.answer.is_finished()
    }

    /// The answer, within `within`; None if there was none (or the connection closed without one).
    async fn answer(&mut self, within: Duration) -> Option<(u16, Value)> {
        tokio::time::timeout(within, &mut self.answer)
            .await
            .ok()
            .and_then(|joined| joined.ok())
            .flatten()
    }
}

/// Reads one HTTP response with a Content-Length and a JSON body.
async fn read_response(mut reader: OwnedReadHalf) -> Option<(u16, Value)> {
    let mut buf = Vec::new();
    let mut piece = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = reader.read(&mut piece).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&piece[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())?;
    while buf.len() < head_end + length {
        let n = reader.read(&mut piece).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&piece[..n]);
    }
    let body = serde_json::from_slice(&buf[head_end..head_end + length]).ok()?;
    Some((status, body))
}

/// This process's resident memory. The server runs in it (spawn_app), so its bodies count here.
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// /health answers 200 within a generous bound.
async fn assert_health_is_fast(app: &TestApp) {
    let started = Instant::now();
    let (status, body) = tokio::time::timeout(HEALTH_WITHIN, app.health())
        .await
        .unwrap_or_else(|_| panic!("/health did not answer within {HEALTH_WITHIN:?}"));
    assert_eq!(status, 200, "{body}");
    eprintln!("/health answered in {:?}", started.elapsed());
}

#[tokio::test]
async fn stalled_bodies_hold_no_more_memory_than_the_bodies_budget() {
    const BUDGET: usize = 24 * MIB;
    const CLIENTS: usize = 12;
    const SENT: usize = 16 * MIB;
    // Far beyond the measurement: the budget, not the deadline, must bound the memory.
    let app = spawn_app_with(|s| {
        s.max_body_bytes = PROMISED;
        s.max_bodies_in_flight_bytes = BUDGET;
        s.body_read_timeout = Duration::from_secs(300);
    })
    .await;
    // The server's own first allocations are made before the baseline.
    app.assert_healthy().await;
    let before = rss_bytes();
    let stop = Arc::new(AtomicBool::new(false));
    let sampling = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_bytes());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak.max(rss_bytes())
        }
    });

    // Twelve clients each promise 20 MiB. They send 1 MiB each (12 MiB: within the budget, held),
    // then the rest of 16 MiB each at once (192 MiB in all), and stall.
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(Client::start(&app, "/execute", Some(PROMISED), "").await);
    }
    for client in &mut clients {
        client.send(MIB, false).await;
    }
    // A client whose head the server reads only once others have sent their first MiB may already
    // be refused on its declared length (429, checked with the rest below): how many is timing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sending = clients.iter_mut().map(|c| c.send(SENT - MIB, false));
    futures_util::future::join_all(sending).await;
    // They stall now; the server has read what it was going to read.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_health_is_fast(&app).await;
    stop.store(true, Ordering::Relaxed);
    let peak = sampling.await.unwrap();
    let growth = peak.saturating_sub(before);
    eprintln!(
        "RSS {} MiB before, peak {} MiB while {CLIENTS} clients stalled: {} MiB growth",
        before / MIB,
        peak / MIB,
        growth / MIB
    );
    assert!(
        growth < 64 * MIB,
        "the stalled bodies grew RSS by {} MiB (budget {} MiB)",
        growth / MIB,
        BUDGET / MIB
    );
    // Whoever did not fit was refused with the documented 429, not cut off silently.
    let mut refused = 0;
    for client in clients.iter_mut().filter(|c| c.answered()) {
        if let Some((status, body)) = client.answer(ANSWER_WITHIN).await {
            assert_eq!(status, 429, "{body}");
            assert_eq!(body["error_type"], "overloaded", "{body}");
            refused += 1;
        }
    }
    assert!(refused > 0, "no client was refused past the budget");
    eprintln!("{refused} of {CLIENTS} clients were refused with 429, the others stall");
    drop(clients);
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn a_stalled_body_gets_408_at_the_read_deadline() {
    let spec = crate::openapi::spec();
    let app = spawn_app_with(|s| s.body_read_timeout = Duration::from_secs(1)).await;
    for path in ["/execute", "/execute/stream", "/validate"] {
        for chunked in [false, true] {
            let length = (!chunked).then_some(PROMISED);
            let mut client = Client::start(&app, path, length, "").await;
            client.send(64 * 1024, chunked).await;
            let started = Instant::now();
            let (status, body) = client
                .answer(ANSWER_WITHIN)
                .await
                .unwrap_or_else(|| panic!("{path}: no answer to a stalled body"));
            eprintln!(
                "{path} (chunked: {chunked}): {status} after {:?}",
                started.elapsed()
            );
            assert_eq!(status, 408, "{path}: {body}");
            assert_eq!(body["error_type"], "request_timeout", "{body}");
            crate::openapi::check(
                &spec,
                &crate::openapi::response_schema(&spec, path, "post", status),
                &body,
                &format!("POST {path} {status}"),
            );
        }
    }
    assert_health_is_fast(&app).await;
    app.assert_healthy().await;
}

#[tokio::test]
async fn stalled_bodies_take_no_sandbox_slot() {
    // No queue: a run needs a free slot at once, so a slot held by a stalled body would be a 429.
    let app = spawn_app_with(|s| {
        s.sandbox.queue = 0;
        s.body_read_timeout = Duration::from_secs(300);
    })
    .await;
    let (_, health) = app.health().await;
    let slots = health["slots"].as_u64().expect("slots in /health") as usize;
    let mut clients = Vec::new();
    for path in ["/execute", "/execute/stream", "/validate"] {
        for _ in 0..slots + 2 {
            let mut client = Client::start(&app, path, Some(PROMISED), "").await;
            client.send(64 * 1024, false).await;
            clients.push(client);
        }
    }
    let (_, health) = app.health().await;
    assert_eq!(health["busy"], 0, "{health}");
    for _ in 0..3 {
        let (status, body) = app.run("def main():\n    return 'ran'\n").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], "ran");
    }
    assert!(
        clients.iter().all(|c| !c.answered()),
        "a stalled client was answered"
    );
    drop(clients);
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

/// How long the budget test retries: the server reads what a concurrent client sent at its own
/// pace, so a body that should not fit may still fit for a moment.
const RETRY_FOR: Duration = Duration::from_secs(20);

#[tokio::test]
async fn the_bodies_budget_refuses_past_it_with_429() {
    const BUDGET: usize = 4 * MIB;
    let app = spawn_app_with(|s| {
        s.max_body_bytes = BUDGET;
        s.max_bodies_in_flight_bytes = BUDGET;
        s.body_read_timeout = Duration::from_secs(300);
    })
    .await;

    // Over MAX_BODY_BYTES by its Content-Length: 413 before a byte of it is sent.
    let mut over = Client::start(&app, "/execute", Some(BUDGET + 1), "").await;
    let (status, body) = over.answer(ANSWER_WITHIN).await.expect("answered");
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error_type"], "payload_too_large");

    // One stalled body holds 3 of the 4 MiB.
    let mut holder = Client::start(&app, "/execute", Some(BUDGET), "").await;
    holder.send(3 * MIB, false).await;

    // A 2 MiB body no longer fits: 429 from its Content-Length, before it is sent.
    let retry_until = Instant::now() + RETRY_FOR;
    let (status, body) = loop {
        let mut client = Client::start(&app, "/execute", Some(2 * MIB), "").await;
        if let Some(answer) = client.answer(Duration::from_millis(500)).await {
            break answer;
        }
        assert!(
            Instant::now() < retry_until,
            "a body past the budget was read"
        );
    };
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error_type"], "overloaded");
    assert!(body["error"].as_str().unwrap().contains("budget"), "{body}");
    // Nor does a chunked one, which declares nothing: its bytes are counted as they arrive.
    for path in ["/execute/stream", "/validate"] {
        let mut chunked = Client::start(&app, path, None, "").await;
        chunked.send(2 * MIB, true).await;
        let (status, body) = chunked.answer(ANSWER_WITHIN).await.expect("answered");
        assert_eq!(status, 429, "{path}: {body}");
        assert_eq!(body["error_type"], "overloaded");
    }
    // A small request still fits in what is left.
    let (status, body) = app.run("def main():\n    return 'small'\n").await;
    assert_eq!(status, 200, "{body}");

    // Once the holder goes, its share comes back: the 2 MiB body now runs.
    drop(holder);
    let input = "y".repeat(2 * MIB);
    let retry_until = Instant::now() + RETRY_FOR;
    let (status, body) = loop {
        let request = json!({"script": "def main(x):\n    return len(x)\n", "input": input});
        let (status, body) = app.execute(request).await;
        if status != 429 || Instant::now() > retry_until {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], 2 * MIB);
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn a_body_is_not_read_before_its_api_key_is_checked() {
    let key = "body-test-key-0123456789";
    let app = spawn_app_with(|s| s.api_keys = vec![key.to_owned()]).await;
    for path in ["/execute", "/execute/stream", "/validate"] {
        // Nothing of the promised body is sent: the 401 cannot have waited for it.
        let mut client = Client::start(&app, path, Some(PROMISED), "").await;
        let (status, body) = client.answer(ANSWER_WITHIN).await.expect("answered");
        assert_eq!(status, 401, "{path}: {body}");
        // With the key, the server waits for the body instead.
        let mut client = Client::start(
            &app,
            path,
            Some(PROMISED),
            &format!("Authorization: Bearer {key}\r\n"),
        )
        .await;
        assert!(
            client.answer(Duration::from_secs(1)).await.is_none(),
            "{path}: answered without its body"
        );
    }
    let (status, _) = app.health().await;
    assert_eq!(status, 200);
}
