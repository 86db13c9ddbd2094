//! POST /execute/stream: output events while the script runs, then one final event that is what
//! /execute would have answered; errors before the run are plain JSON; a client that goes away
//! gets its run killed, and a slow one does not hold its slot.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{
    processes_left, processes_with_async, spawn_app, spawn_app_with, unique, TestApp,
};

/// One event as it arrived: its type ("stdout", "stderr" or "result"), its data, and when.
#[derive(Debug)]
pub struct Event {
    pub kind: String,
    pub data: Value,
    pub at: Instant,
}

pub struct Streamed {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub events: Vec<Event>,
}

impl Streamed {
    pub fn last(&self) -> &Event {
        self.events.last().expect("at least the final event")
    }

    /// The final event's data, checked to be the only result and the last event.
    pub fn result(&self) -> &Value {
        let results = self.events.iter().filter(|e| e.kind == "result").count();
        assert_eq!(results, 1, "exactly one final event: {:?}", self.events);
        assert_eq!(self.last().kind, "result", "the final event comes last");
        &self.last().data
    }

    /// What the output events of `kind` add up to.
    pub fn text(&self, kind: &str) -> String {
        self.events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.data["data"].as_str().expect("output data is a string"))
            .collect()
    }

    pub fn first(&self, kind: &str) -> &Event {
        self.events
            .iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} event: {:?}", self.events))
    }
}

pub async fn open(app: &TestApp, body: &Value, accept: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/execute/stream", app.address))
        .json(body);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    request.send().await.expect("request sent")
}

/// Posts to /execute/stream and reads the whole stream, noting when each event arrived.
pub async fn stream(app: &TestApp, body: Value, accept: Option<&str>) -> Streamed {
    let mut response = open(app, &body, accept).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let ndjson = headers["content-type"] == "application/x-ndjson";
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("body read") {
        buffer.extend_from_slice(&chunk);
        let at = Instant::now();
        events.extend(take_events(&mut buffer, ndjson, at));
    }
    assert!(buffer.is_empty(), "a torn event at the end: {buffer:?}");
    Streamed {
        status,
        headers,
        events,
    }
}

/// Parses the complete events at the start of `buffer` and removes them.
pub fn take_events(buffer: &mut Vec<u8>, ndjson: bool, at: Instant) -> Vec<Event> {
    let separator: &[u8] = if ndjson { b"\n" } else { b"\n\n" };
    let mut events = Vec::new();
    while let Some(end) = buffer.windows(separator.len()).position(|w| w == separator) {
        let block: Vec<u8> = buffer.drain(..end + separator.len()).collect();
        let block = std::str::from_utf8(&block[..end]).expect("events are UTF-8");
        if ndjson {
            let line: Value = serde_json::from_str(block).expect("each line is JSON");
            let object = line.as_object().expect("each line is an object");
            assert_eq!(object.len(), 2, "type and data only: {line}");
            let kind = line["type"].as_str().expect("a type").to_owned();
            let data = if kind == "result" {
                line["data"].clone()
            } else {
                json!({"data": line["data"]})
            };
            events.push(Event { kind, data, at });
            continue;
        }
        let mut kind = None;
        let mut data = None;
        for line in block.lines() {
            if line.starts_with(':') {
                continue; // a keep-alive comment
            } else if let Some(name) = line.strip_prefix("event: ") {
                kind = Some(name.to_owned());
            } else if let Some(text) = line.strip_prefix("data: ") {
                assert!(data.is_none(), "one data line per event: {block}");
                data = Some(serde_json::from_str(text).expect("data is JSON"));
            } else {
                panic!("unexpected line {line:?} in {block:?}");
            }
        }
        if let (Some(kind), Some(data)) = (kind, data) {
            events.push(Event { kind, data, at });
        }
    }
    events
}

/// What /execute and the final event may differ in: when and how long.
fn without_timing(mut body: Value) -> Value {
    if let Some(object) = body.as_object_mut() {
        for key in ["timestamp", "duration_ms", "usage"] {
            object.remove(key);
        }
    }
    body
}

#[tokio::test]
async fn output_arrives_while_the_script_runs() {
    let app = spawn_app().await;
    let script = "import sys, time\ndef main():\n    print('first')\n    print('oops', file=sys.stderr)\n    time.sleep(1.5)\n    print('second')\n    return {'done': True}\n";
    let started = Instant::now();
    let streamed = stream(&app, json!({ "script": script }), None).await;
    assert_eq!(streamed.status, 200);
    let h = &streamed.headers;
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-accel-buffering"], "no");
    assert!(h.contains_key("x-request-id"));

    let first = streamed.first("stdout");
    assert_eq!(first.data, json!({"data": "first\n"}));
    let end = streamed.last().at;
    // The script sleeps 1.5 s between its prints: the first line must not wait for that.
    assert!(
        end - first.at >= Duration::from_millis(700),
        "first stdout after {:?}, final event after {:?}",
        first.at - started,
        end - started
    );
    assert_eq!(streamed.first("stderr").data, json!({"data": "oops\n"}));
    assert!(streamed.first("stderr").at < end - Duration::from_millis(700));

    let result = streamed.result();
    assert_eq!(result["success"], true);
    assert_eq!(result["result"], json!({"done": true}));
    assert_eq!(result["stdout"], "first\nsecond\n");
    assert_eq!(streamed.text("stdout"), "first\nsecond\n");
    assert_eq!(streamed.text("stderr"), "oops\n");
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200);
    assert_eq!(without_timing(result.clone()), without_timing(body));
}

#[tokio::test]
async fn the_final_event_is_what_execute_answers_and_ndjson_on_request() {
    let app = spawn_app().await;
    let script = "import sys\ndef main():\n    print('before')\n    sys.stderr.write('warned\\n')\n    return 1 / 0\n";
    let (status, expected) = app.run(script).await;
    assert_eq!(status, 422);
    assert_eq!(expected["error_type"], "runtime_error");

    let sse = stream(&app, json!({ "script": script }), None).await;
    assert_eq!(
        sse.status, 200,
        "the stream started, so 200: the event says 422"
    );
    assert_eq!(
        without_timing(sse.result().clone()),
        without_timing(expected.clone())
    );
    assert!(sse.result()["traceback"]
        .as_str()
        .unwrap()
        .contains("ZeroDivisionError"));
    assert_eq!(sse.text("stdout"), "before\n");
    assert_eq!(sse.text("stderr"), "warned\n");

    let accept = "application/x-ndjson";
    let ndjson = stream(&app, json!({ "script": script }), Some(accept)).await;
    assert_eq!(ndjson.status, 200);
    assert_eq!(ndjson.headers["content-type"], accept);
    assert_eq!(
        without_timing(ndjson.result().clone()),
        without_timing(expected)
    );
    assert_eq!(ndjson.text("stdout"), "before\n");
    assert_eq!(ndjson.text("stderr"), "warned\n");

    // SSE stays the default whatever else Accept lists.
    let other = stream(
        &app,
        json!({"script": "def main():\n    return 1\n"}),
        Some("text/event-stream, application/x-ndjson"),
    )
    .await;
    assert_eq!(other.headers["content-type"], "text/event-stream");
    assert_eq!(other.result()["result"], 1);
}

#[tokio::test]
async fn a_partial_line_is_sent_without_waiting_for_its_newline() {
    let app = spawn_app().await;
    let script = "import os, time\ndef main():\n    print('waiting', end='', flush=True)\n    time.sleep(1.5)\n    print(' done')\n    os.write(1, '€'.encode()[:1])\n    time.sleep(0.3)\n    os.write(1, '€'.encode()[1:] + b'!\\n')\n";
    let streamed = stream(&app, json!({ "script": script }), None).await;
    let first = streamed.first("stdout");
    assert_eq!(first.data, json!({"data": "waiting"}));
    assert!(
        streamed.last().at - first.at >= Duration::from_millis(700),
        "the partial line waited for the rest of the run"
    );
    // Half a character is held back until the rest of it comes, not sent as U+FFFD.
    for event in &streamed.events {
        let text = event.data.to_string();
        assert!(!text.contains('\u{fffd}'), "a split character: {text}");
    }
    assert_eq!(streamed.text("stdout"), "waiting done\n€!\n");
    assert_eq!(streamed.result()["stdout"], "waiting done\n€!\n");
}

#[tokio::test]
async fn the_output_cap_holds_for_the_events_too() {
    let cap = 64 * 1024;
    let app = spawn_app_with(|s| s.sandbox.max_output_bytes = cap).await;
    let script = "def main():\n    while True:\n        print('x' * 999)\n";
    let streamed = stream(
        &app,
        json!({ "script": script }),
        Some("application/x-ndjson"),
    )
    .await;
    let result = streamed.result();
    assert_eq!(result["error_type"], "output_limit", "{result}");
    let streamed_out = streamed.text("stdout");
    assert_eq!(streamed_out.len(), cap, "the events carry exactly the cap");
    assert_eq!(result["stdout"].as_str().unwrap(), streamed_out);
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
}

/// /health's busy slots drop to 0 within `within`.
async fn wait_idle(app: &TestApp, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (_, health) = app.health().await;
        if health["busy"] == 0 || Instant::now() >= deadline {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_gets_its_run_killed() {
    let app = spawn_app().await;
    let marker = unique("stream-disconnect-marker");
    let script = format!(
        "import subprocess, sys, time\ndef main():\n    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', '{marker}'])\n    print('started', flush=True)\n    time.sleep(60)\n"
    );
    let mut response = open(&app, &json!({"script": script, "timeout": 60}), None).await;
    assert_eq!(response.status(), 200);
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    while events.is_empty() {
        let chunk = response
            .chunk()
            .await
            .expect("body read")
            .expect("the stream goes on");
        buffer.extend_from_slice(&chunk);
        events = take_events(&mut buffer, false, Instant::now());
    }
    assert_eq!(events[0].data, json!({"data": "started\n"}));
    // Popen returns once the child has begun its exec, a moment before its command line shows.
    let deadline = Instant::now() + Duration::from_secs(5);
    while processes_with_async(&marker).await.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        processes_with_async(&marker).await.len(),
        1,
        "the run did not start"
    );
    let (_, health) = app.health().await;
    assert_eq!(health["busy"], 1);

    // Hanging up mid-stream: the connection closes with the unfinished response.
    drop(response);
    let left = processes_left(&marker).await;
    assert!(left.is_empty(), "the run outlived its client: {left:?}");
    let health = wait_idle(&app, Duration::from_secs(5)).await;
    assert_eq!(health["busy"], 0, "the slot was not given back: {health}");
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
}

/// A client that reads nothing: its run still ends on time and frees its slot, and the output
/// waiting for it is complete when it reads at last.
#[tokio::test]
async fn a_slow_client_does_not_hold_its_slot_nor_lose_output() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    let script = "def main():\n    for i in range(20000):\n        print('line %05d ' % i + 'x' * 29)\n    return 'done'\n";
    let body = json!({ "script": script }).to_string();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    // A small window, so that the server cannot push the whole stream into socket buffers.
    socket.set_recv_buffer_size(4096).unwrap();
    let mut conn = socket
        .connect(format!("127.0.0.1:{}", app.port).parse().unwrap())
        .await
        .unwrap();
    let head = format!(
        "POST /execute/stream HTTP/1.1\r\nHost: test\r\nAccept: application/x-ndjson\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let health = wait_idle(&app, Duration::from_secs(20)).await;
    assert_eq!(health["busy"], 0, "the run waited for its reader: {health}");

    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), conn.read_to_end(&mut raw))
        .await
        .expect("the stream ends")
        .unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let mut rest = &raw[split + 4..];
    let mut body = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
        if size == 0 {
            break;
        }
        body.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[eol + 4 + size..];
    }
    let events = take_events(&mut body, true, Instant::now());
    let streamed = Streamed {
        status: 200,
        headers: Default::default(),
        events,
    };
    let result = streamed.result();
    assert_eq!(result["result"], "done", "{result:.300}");
    let out = streamed.text("stdout");
    assert_eq!(out.len(), 20000 * 41);
    assert_eq!(result["stdout"].as_str().unwrap(), out);
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn errors_before_the_run_are_plain_json() {
    let app = spawn_app_with(|s| {
        s.sandbox.slots = 1;
        s.sandbox.queue = 0;
    })
    .await;
    let post = |body: String| {
        app.client
            .post(format!("{}/execute/stream", app.address))
            .header("Accept", "text/event-stream")
            .body(body)
            .send()
    };
    let check = |r: reqwest::Response, status: u16, error_type: &'static str| async move {
        assert_eq!(r.status(), status);
        assert_eq!(r.headers()["content-type"], "application/json");
        let body: Value = r.json().await.expect("a JSON error");
        assert_eq!(body["error_type"], error_type, "{body}");
        assert_eq!(body["success"], false);
    };
    let r = post(json!({"script": "print(1)"}).to_string())
        .await
        .unwrap();
    check(r, 400, "validation_error").await;
    let r = post("not json".into()).await.unwrap();
    check(r, 400, "invalid_request").await;
    let r = post(json!({"script": "def main(): pass", "timeout": 0}).to_string())
        .await
        .unwrap();
    check(r, 400, "invalid_request").await;
    let big = format!("#{}\ndef main(): pass", "x".repeat(1 << 20));
    let r = post(json!({ "script": big }).to_string()).await.unwrap();
    check(r, 413, "payload_too_large").await;

    // The only slot is busy and nobody may wait: 429, before any stream starts.
    let busy = json!({"script": "import time\ndef main():\n    print('busy', flush=True)\n    time.sleep(2)\n"});
    let mut running = open(&app, &busy, None).await;
    assert_eq!(running.status(), 200);
    running.chunk().await.unwrap();
    let r = post(json!({"script": "def main(): pass"}).to_string())
        .await
        .unwrap();
    assert!(r.headers().contains_key("retry-after"));
    check(r, 429, "overloaded").await;
    while running.chunk().await.unwrap().is_some() {}
    app.assert_no_leftovers().await;
    app.assert_healthy().await;
}

#[tokio::test]
async fn keys_request_ids_and_metrics_apply_to_the_stream() {
    let key = "stream-key-0123456789";
    let app = spawn_app_with(|s| s.api_keys = vec![key.to_owned()]).await;
    let url = format!("{}/execute/stream", app.address);
    let body = json!({"script": "def main():\n    print('hi')\n    return 2\n"});
    let refused = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["content-type"], "application/json");

    let response = app
        .client
        .post(&url)
        .bearer_auth(key)
        .header("X-Request-Id", "stream-job-7")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "stream-job-7");
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with("event: stdout\ndata: {\"data\":\"hi\\n\"}\n\n"),
        "{text}"
    );
    assert!(
        text.contains("event: result\ndata: {\"success\":true,\"result\":2,"),
        "{text}"
    );

    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("psa_http_requests_total{endpoint=\"/execute/stream\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("psa_http_requests_total{endpoint=\"/execute/stream\",status=\"401\"} 1"),
        "{metrics}"
    );
    // The probe at start-up is not counted; this run is.
    assert!(
        metrics.contains("psa_executions_total{outcome=\"success\"} 1"),
        "{metrics}"
    );
}

/// The result channel is the script's to write: a frame whose JSON has raw line breaks between
/// its tokens must not break the event framing.
#[tokio::test]
async fn a_forged_result_cannot_break_the_framing() {
    let app = spawn_app().await;
    let script = "import os\ndef main():\n    body = b'{\"ok\":true,\\n\"result\":[1,\\r\\n\\n2]}'\n    os.write(3, b'%d\\n%s' % (len(body), body))\n    os._exit(0)\n";
    for accept in [None, Some("application/x-ndjson")] {
        let streamed = stream(&app, json!({ "script": script }), accept).await;
        assert_eq!(streamed.events.len(), 1, "{:?}", streamed.events);
        assert_eq!(streamed.result()["result"], json!([1, 2]));
    }
    app.assert_healthy().await;
}
