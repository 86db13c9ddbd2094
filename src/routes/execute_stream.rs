//! POST /execute/stream: /execute, with the script's stdout and stderr sent while it runs, as
//! server-sent events (or NDJSON when `Accept` asks for it), then one final event that carries
//! exactly the body /execute would have answered.
//!
//! Everything that can go wrong before the run (a bad body, an invalid script, 413, 429) is a
//! plain JSON error with /execute's status: the stream, and its 200, start only once the request
//! holds a slot and its script has been checked. What goes wrong afterwards (the script's errors,
//! and `sandbox_error`) is in the final event, whose `error_type` says what /execute's status
//! would have been.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::{self, HeaderValue, ACCEPT};
use actix_web::web::Bytes;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};

use super::execute::{client_gone_response, respond, Admitted, ExecuteRequest};
use crate::body::BodyGate;
use crate::configuration::Settings;
use crate::disconnect::client_gone;
use crate::error::ErrorType;
use crate::metrics::Metrics;
use crate::request_id::{with_request_id, RequestId};
use crate::sandbox::{OutputChunk, OutputStream, Sandbox};

/// A partial line (no newline yet) is sent once it is this old.
const PARTIAL_LINE_AFTER: Duration = Duration::from_millis(50);
/// An SSE comment goes out after this long without any event, so that proxies and clients do
/// not take a silent run for a dead connection.
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);
/// Chunks in flight between the run's readers and this body. When it is full the readers hold
/// and coalesce what does not fit (see `sandbox::OutputSender`), so its size only sets how often.
const CHANNEL_CHUNKS: usize = 64;
/// Chunks taken from the channel per poll, so that a flood of output cannot hog the worker.
const CHUNKS_PER_POLL: usize = 64;

/// The two wire formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// text/event-stream: `event: stdout\ndata: {"data":"..."}\n\n`.
    Sse,
    /// application/x-ndjson: `{"type":"stdout","data":"..."}\n`.
    Ndjson,
}

impl Format {
    /// SSE, unless `Accept` names application/x-ndjson (before any text/event-stream).
    fn negotiate(req: &HttpRequest) -> Format {
        let accept = req
            .headers()
            .get_all(ACCEPT)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        for range in accept {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            match media.as_str() {
                _ if refused => {}
                "application/x-ndjson" => return Format::Ndjson,
                "text/event-stream" => return Format::Sse,
                _ => {}
            }
        }
        Format::Sse
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Sse => "text/event-stream",
            Format::Ndjson => "application/x-ndjson",
        }
    }
}

pub async fn execute_stream(
    req: HttpRequest,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    settings: web::Data<Settings>,
    sandbox: web::Data<Arc<Sandbox>>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, crate::error::ApiError> {
    let format = Format::negotiate(&req);
    // As /execute: the body, then the slot. The lease goes with the run's task below.
    let (request, lease) = bodies.read_json::<ExecuteRequest>(&req, payload).await?;
    // The wait for a slot and the parse happen before the response starts: their failures are
    // plain JSON errors. A client that hangs up meanwhile gives its place back.
    let admitted = tokio::select! {
        admitted = Admitted::prepare(request, &settings, &sandbox) => admitted?,
        () = client_gone(&req) => {
            log::info!("execute/stream: the client disconnected before its run started");
            return Ok(client_gone_response());
        }
    };

    let (output_tx, output_rx) = mpsc::channel(CHANNEL_CHUNKS);
    let (done_tx, done_rx) = oneshot::channel();
    let sandbox = Arc::clone(&sandbox);
    let metrics = metrics.into_inner();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    // The run is a task of its own, not driven by polls of the body: a client that reads slowly
    // must not hold its slot past the run, nor delay its deadline. The body aborts the task when
    // it is dropped (the client went away), which kills the run and frees the slot. It runs under
    // the request's id, so that a sandbox error's detail is logged with that id.
    let run = actix_web::rt::spawn(with_request_id(request_id.clone(), async move {
        let _lease = lease;
        let outcome = admitted.run(&sandbox, &metrics, Some(output_tx)).await;
        let response = match outcome {
            Ok(outcome) => respond(outcome),
            Err(e) => e.error_response(),
        };
        let _ = done_tx.send(Final::from_response(response).await);
    }));

    let events = EventStream {
        format,
        output: output_rx,
        output_open: true,
        done: Some(done_rx),
        finale: None,
        gone: Box::pin(client_gone(&req)),
        pending: [Pending::default(), Pending::default()],
        flush: Box::pin(tokio::time::sleep(PARTIAL_LINE_AFTER)),
        keep_alive: Box::pin(tokio::time::sleep(KEEP_ALIVE_EVERY)),
        run: AbortOnDrop(run),
        ended: false,
        request_id,
        started: Instant::now(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, format.content_type()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // nginx would otherwise buffer the whole response, which defeats the point.
        .insert_header(("x-accel-buffering", HeaderValue::from_static("no")))
        .body(events))
}

/// The final event: /execute's body for the same run, and what it says, for the log.
struct Final {
    body: Bytes,
    status: u16,
    error_type: Option<ErrorType>,
}

impl Final {
    async fn from_response(response: HttpResponse) -> Final {
        let status = response.status().as_u16();
        let error_type = response.extensions().get::<ErrorType>().copied();
        // The body is in memory already: this does not wait.
        match actix_web::body::to_bytes(response.into_body()).await {
            Ok(body) => Final {
                body,
                status,
                error_type,
            },
            Err(_) => Final::lost(),
        }
    }

    /// For a run task that ended without an answer (it cannot, short of a panic).
    fn lost() -> Final {
        let body = crate::error::ErrorBody::new(
            ErrorType::SandboxError,
            "the run ended without an outcome",
        );
        Final {
            body: serde_json::to_vec(&body).unwrap_or_default().into(),
            status: 500,
            error_type: Some(ErrorType::SandboxError),
        }
    }
}

/// Aborts the run's task when the body goes away, however that happens.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Output of one stream that has not been sent yet.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// When the oldest byte that could be sent arrived.
    since: Option<Instant>,
}

impl Pending {
    fn push(&mut self, bytes: &[u8], now: Instant) {
        self.bytes.extend_from_slice(bytes);
        self.since.get_or_insert(now);
    }

    fn due(&self) -> Option<Instant> {
        self.since.map(|since| since + PARTIAL_LINE_AFTER)
    }

    /// Every complete line, if there is one; the partial line after them stays.
    fn take_lines(&mut self, now: Instant) -> Option<String> {
        let end = self.bytes.iter().rposition(|&b| b == b'\n')? + 1;
        let rest = self.bytes.split_off(end);
        let lines = std::mem::replace(&mut self.bytes, rest);
        self.since = (!self.bytes.is_empty()).then_some(now);
        // A newline cannot be part of a UTF-8 sequence, so no character is split here.
        Some(String::from_utf8_lossy(&lines).into_owned())
    }

    /// The partial line, except the start of a character whose other bytes have not come yet.
    fn take_partial(&mut self) -> Option<String> {
        self.since = None;
        let end = self.bytes.len() - incomplete_tail(&self.bytes);
        if end == 0 {
            return None;
        }
        let tail = self.bytes.split_off(end);
        let text = std::mem::replace(&mut self.bytes, tail);
        Some(String::from_utf8_lossy(&text).into_owned())
    }

    /// Everything, at the end of the run.
    fn take_all(&mut self) -> Option<String> {
        self.since = None;
        if self.bytes.is_empty() {
            return None;
        }
        let text = std::mem::take(&mut self.bytes);
        Some(String::from_utf8_lossy(&text).into_owned())
    }
}

/// Where a stream's pending output is kept.
fn index(stream: OutputStream) -> usize {
    match stream {
        OutputStream::Stdout => 0,
        OutputStream::Stderr => 1,
    }
}

/// How many bytes at the end of `bytes` begin a UTF-8 character that is not complete yet.
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0xC0 == 0x80 {
            continue; // a continuation byte: the character starts further back
        }
        let needs = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0, // ASCII, or a byte no character starts with
        };
        return if needs > back { back } else { 0 };
    }
    0
}

/// The response body: output events while the run goes, then the final event.
struct EventStream {
    format: Format,
    output: mpsc::Receiver<OutputChunk>,
    /// Until every reader has finished passing output on.
    output_open: bool,
    done: Option<oneshot::Receiver<Final>>,
    finale: Option<Final>,
    gone: Pin<Box<dyn Future<Output = ()>>>,
    /// stdout, stderr.
    pending: [Pending; 2],
    flush: Pin<Box<Sleep>>,
    keep_alive: Pin<Box<Sleep>>,
    run: AbortOnDrop,
    ended: bool,
    request_id: String,
    started: Instant,
}

impl EventStream {
    fn event(&self, out: &mut Vec<u8>, stream: OutputStream, text: &str) {
        #[derive(Serialize)]
        struct Event<'a> {
            #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
            kind: Option<&'a str>,
            data: &'a str,
        }
        let name = match stream {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        };
        let (prefix, kind, suffix) = match self.format {
            Format::Sse => (format!("event: {name}\ndata: "), None, "\n\n"),
            Format::Ndjson => (String::new(), Some(name), "\n"),
        };
        out.extend_from_slice(prefix.as_bytes());
        // Serializing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &Event { kind, data: text });
        out.extend_from_slice(suffix.as_bytes());
    }

    fn final_event(&self, out: &mut Vec<u8>, body: &[u8]) {
        // The body is JSON, so a CR or LF byte in it can only be whitespace between tokens
        // (inside strings they are escaped): a space keeps the value and keeps the event on one
        // line. It matters for a result a script forged on the result channel.
        let body = body
            .iter()
            .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b });
        match self.format {
            Format::Sse => {
                out.extend_from_slice(b"event: result\ndata: ");
                out.extend(body);
                out.extend_from_slice(b"\n\n");
            }
            Format::Ndjson => {
                out.extend_from_slice(br#"{"type":"result","data":"#);
                out.extend(body);
                out.extend_from_slice(b"}\n");
            }
        }
    }

    /// The one log line of the stream's end (the request's own line went out with the headers,
    /// with status 200). `status` is what /execute would have answered, or 499 for a client that
    /// went away before the final event.
    fn log_end(&mut self, completed: bool) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, error_type) = match (&self.finale, completed) {
            (Some(f), true) => (f.status, f.error_type.map_or("", ErrorType::as_str)),
            _ => (499, ""),
        };
        let how = if completed {
            "final event sent"
        } else {
            "the client went away before the final event; its run was killed"
        };
        log::info!(
            request_id = self.request_id.as_str(), path = "/execute/stream", status = status,
            duration_ms = duration_ms, error_type = error_type;
            "execute/stream: {how} ({duration_ms} ms){}{error_type}",
            if error_type.is_empty() { "" } else { " " }
        );
    }

    fn poll_events(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.gone.as_mut().poll(cx).is_ready() {
            // Ending the body drops it, and with it the run: the jail is killed now.
            self.run.0.abort();
            self.log_end(false);
            return Poll::Ready(None);
        }
        if let Some(done) = self.done.as_mut() {
            if let Poll::Ready(finale) = Pin::new(done).poll(cx) {
                self.finale = Some(finale.unwrap_or_else(|_| Final::lost()));
                self.done = None;
            }
        }
        let now = Instant::now();
        let mut out = Vec::new();
        let mut taken = 0;
        while self.output_open {
            if taken == CHUNKS_PER_POLL {
                cx.waker().wake_by_ref(); // more may be waiting: come back after this event
                break;
            }
            match self.output.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => {
                    taken += 1;
                    let i = index(chunk.stream);
                    self.pending[i].push(&chunk.bytes, now);
                    if chunk.bytes.contains(&b'\n') {
                        if let Some(text) = self.pending[i].take_lines(now) {
                            self.event(&mut out, chunk.stream, &text);
                        }
                    }
                }
                Poll::Ready(None) => self.output_open = false,
                Poll::Pending => break,
            }
        }
        for (i, stream) in [OutputStream::Stdout, OutputStream::Stderr]
            .into_iter()
            .enumerate()
        {
            if self.pending[i].due().is_some_and(|due| due <= now) {
                if let Some(text) = self.pending[i].take_partial() {
                    self.event(&mut out, stream, &text);
                }
            }
        }
        // The end: every byte of output passed on, and the answer known.
        if !self.output_open {
            if let Some(finale) = self.finale.as_ref() {
                let body = finale.body.clone();
                for (i, stream) in [OutputStream::Stdout, OutputStream::Stderr]
                    .into_iter()
                    .enumerate()
                {
                    if let Some(text) = self.pending[i].take_all() {
                        self.event(&mut out, stream, &text);
                    }
                }
                self.final_event(&mut out, &body);
                self.log_end(true);
                return Poll::Ready(Some(out.into()));
            }
        }
        let next_due = self.pending.iter().filter_map(Pending::due).min();
        if let Some(due) = next_due {
            self.flush.as_mut().reset(due);
            if self.flush.as_mut().poll(cx).is_ready() {
                cx.waker().wake_by_ref();
            }
        }
        if out.is_empty() && self.format == Format::Sse {
            if self.keep_alive.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            out.extend_from_slice(b": keep-alive\n\n");
        }
        if out.is_empty() {
            return Poll::Pending;
        }
        self.keep_alive
            .as_mut()
            .reset(Instant::now() + KEEP_ALIVE_EVERY);
        Poll::Ready(Some(out.into()))
    }
}

impl MessageBody for EventStream {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.get_mut().poll_events(cx).map(|bytes| bytes.map(Ok))
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        // actix drops the body early when it cannot write to the client any more.
        self.log_end(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_characters_are_held_back() {
        assert_eq!(incomplete_tail(b""), 0);
        assert_eq!(incomplete_tail(b"abc"), 0);
        assert_eq!(incomplete_tail("é".as_bytes()), 0);
        assert_eq!(incomplete_tail(&"é".as_bytes()[..1]), 1);
        assert_eq!(incomplete_tail(&"€".as_bytes()[..2]), 2);
        assert_eq!(incomplete_tail(&"😀".as_bytes()[..3]), 3);
        assert_eq!(incomplete_tail("a😀".as_bytes()), 0);
        assert_eq!(incomplete_tail(b"a\xff"), 0, "invalid: sent (as U+FFFD)");
        assert_eq!(incomplete_tail(b"\x80\x80\x80"), 0);
    }

    #[test]
    fn pieces_decode_like_the_whole() {
        let text = "ab€c😀\n\u{e9}x".as_bytes();
        let mut invalid = text.to_vec();
        invalid.insert(3, 0xff);
        for whole in [text.to_vec(), invalid] {
            for cut in 0..=whole.len() {
                let now = Instant::now();
                let mut pending = Pending::default();
                let mut sent = String::new();
                pending.push(&whole[..cut], now);
                sent.extend(pending.take_lines(now));
                sent.extend(pending.take_partial());
                pending.push(&whole[cut..], now);
                sent.extend(pending.take_lines(now));
                sent.extend(pending.take_partial());
                sent.extend(pending.take_all());
                assert_eq!(sent, String::from_utf8_lossy(&whole), "cut at {cut}");
            }
        }
    }

    #[test]
    fn the_partial_line_waits_for_its_time() {
        let now = Instant::now();
        let mut pending = Pending::default();
        pending.push(b"one\ntw", now);
        assert_eq!(pending.take_lines(now).as_deref(), Some("one\n"));
        assert_eq!(pending.due(), Some(now + PARTIAL_LINE_AFTER));
        assert_eq!(pending.take_partial().as_deref(), Some("tw"));
        assert_eq!(pending.due(), None);
        pending.push(&"€".as_bytes()[..1], now);
        assert_eq!(pending.take_partial(), None, "half a character is held");
        assert_eq!(
            pending.due(),
            None,
            "and does not fire again until more comes"
        );
    }
}
