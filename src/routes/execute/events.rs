//! The body of /execute/stream: a state machine that sends the run's output as events while it
//! runs (SSE or NDJSON), keeps a quiet connection alive, and ends with one final event that
//! carries the run's rendering (`render.rs`), then the stream's one log line. Dropping the body,
//! or a client that goes away, aborts the run's task. Not here: the handler that starts the run
//! (`stream.rs`) and the line buffering of each stream (`pending.rs`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};

use super::pending::{Pending, PARTIAL_LINE_AFTER};
use super::render::Rendered;
use crate::error::{ErrorBody, ErrorType};
use crate::sandbox::{OutputChunk, OutputStream};

/// An SSE comment goes out after this long without any event, so that proxies and clients do
/// not take a silent run for a dead connection.
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);
/// Chunks taken from the channel per poll, so that a flood of output cannot hog the worker.
const CHUNKS_PER_POLL: usize = 64;
/// The target of /execute/stream's log lines: its module's path before it had a directory, kept
/// so that the lines (whose JSON carries it) and `RUST_LOG` filters on it stay as they were.
pub(super) const LOG_TARGET: &str = "python_script_api::routes::execute_stream";

/// The two wire formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// text/event-stream: `event: stdout\ndata: {"data":"..."}\n\n`.
    Sse,
    /// application/x-ndjson: `{"type":"stdout","data":"..."}\n`.
    Ndjson,
}

impl Format {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Sse => "text/event-stream",
            Format::Ndjson => "application/x-ndjson",
        }
    }
}

/// For a run task that ended without an answer (it cannot, short of a panic).
fn lost() -> Rendered {
    Rendered::error(&ErrorBody::new(
        ErrorType::SandboxError,
        "the run ended without an outcome",
    ))
}

/// Aborts the run's task when the body goes away, however that happens.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The streams in the order of `EventStream::pending`; `index` is the other way round.
const STREAMS: [OutputStream; 2] = [OutputStream::Stdout, OutputStream::Stderr];

/// Where a stream's pending output is kept.
fn index(stream: OutputStream) -> usize {
    match stream {
        OutputStream::Stdout => 0,
        OutputStream::Stderr => 1,
    }
}

/// The response body: output events while the run goes, then the final event.
pub(crate) struct EventStream {
    format: Format,
    output: mpsc::Receiver<OutputChunk>,
    /// Until every reader has finished passing output on.
    output_open: bool,
    done: Option<oneshot::Receiver<Rendered>>,
    finale: Option<Rendered>,
    gone: Pin<Box<dyn Future<Output = ()>>>,
    /// stdout, stderr (see `STREAMS`).
    pending: [Pending; 2],
    flush: Pin<Box<Sleep>>,
    keep_alive: Pin<Box<Sleep>>,
    run: AbortOnDrop,
    ended: bool,
    request_id: String,
    started: Instant,
}

impl EventStream {
    /// The body for the run on task `run`, which sends its output to `output` and its rendering
    /// to `done`; `gone` resolves when the client has hung up.
    pub(crate) fn new(
        format: Format,
        output: mpsc::Receiver<OutputChunk>,
        done: oneshot::Receiver<Rendered>,
        gone: impl Future<Output = ()> + 'static,
        run: JoinHandle<()>,
        request_id: String,
    ) -> EventStream {
        EventStream {
            format,
            output,
            output_open: true,
            done: Some(done),
            finale: None,
            gone: Box::pin(gone),
            pending: [Pending::default(), Pending::default()],
            flush: Box::pin(tokio::time::sleep(PARTIAL_LINE_AFTER)),
            keep_alive: Box::pin(tokio::time::sleep(KEEP_ALIVE_EVERY)),
            run: AbortOnDrop(run),
            ended: false,
            request_id,
            started: Instant::now(),
        }
    }

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
            (Some(f), true) => (
                f.status().as_u16(),
                f.error_type.map_or("", ErrorType::as_str),
            ),
            _ => (499, ""),
        };
        let how = if completed {
            "final event sent"
        } else {
            "the client went away before the final event; its run was killed"
        };
        log::info!(
            target: LOG_TARGET,
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
                self.finale = Some(finale.unwrap_or_else(|_| lost()));
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
        for (i, stream) in STREAMS.into_iter().enumerate() {
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
                for (i, stream) in STREAMS.into_iter().enumerate() {
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
