//! `run` and `validate` with --url: the same JSON body sent to a server. A run goes to
//! POST /execute/stream as NDJSON, so that its output is shown as it comes; its final event, or
//! the plain JSON error of a request refused before its run, is the answer. Nothing the server
//! sends is trusted beyond its shape: a body that is not this API's is "not reachable" (exit 3).

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Response, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::output::Printer;
use super::{Answer, Exit, Failed};
use crate::sandbox::OutputStream;

/// A connection that does not open within this is a server that cannot be reached. There is no
/// limit on the whole exchange: a run may wait in the server's queue, then run for its timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest line of the stream taken: the final event carries the result, the saved results
/// and the output files in base64 (within the server's caps, far below this).
const MAX_LINE_BYTES: usize = 512 << 20;
/// The largest plain answer taken (an error, or /validate's report: a few KiB from this API).
const MAX_ANSWER_BYTES: usize = 16 << 20;
/// 429s retried after their `Retry-After`, and the most waited in all before the 429 stands.
const RETRIES: u32 = 5;
const RETRY_WITHIN: Duration = Duration::from_secs(60);
/// How much of a body that is not the API's is quoted.
const EXCERPT_CHARS: usize = 200;

/// Runs `body` on the server at `url` and gives its answer; the output on the way goes to
/// `printer`.
pub(super) async fn execute(
    url: &str,
    key: Option<&str>,
    body: &Value,
    printer: &mut Printer,
) -> Result<Answer, Failed> {
    let mut response = post(url, "/execute/stream", key, body, "application/x-ndjson").await?;
    let ndjson = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-ndjson"));
    if response.status() != StatusCode::OK || !ndjson {
        return answer(url, response).await;
    }
    let mut buffer: Vec<u8> = Vec::new();
    let mut scanned = 0;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unreachable(url, "the stream broke", &e))?
    {
        buffer.extend_from_slice(&chunk);
        while let Some(at) = buffer[scanned..].iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=scanned + at).collect();
            scanned = 0;
            if let Some(answer) = event(url, &line, printer)? {
                return Ok(answer);
            }
        }
        scanned = buffer.len();
        if buffer.len() > MAX_LINE_BYTES {
            return Err(not_the_api(url, "a line of its stream that never ends"));
        }
    }
    Err(Failed::new(
        Exit::Unreachable,
        format!("{url}: the stream ended before the run's result"),
    ))
}

/// /validate's report from the server at `url`, or the error it answered with.
pub(super) async fn validate(url: &str, key: Option<&str>, body: &Value) -> Result<Answer, Failed> {
    let response = post(url, "/validate", key, body, "application/json").await?;
    let status = response.status();
    let answer = answer(url, response).await?;
    if status == StatusCode::OK && answer.contains_key("valid") {
        return Ok(answer);
    }
    let text = |key: &str| -> String {
        answer
            .get(key)
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or_default()
    };
    Err(Failed::new(
        Exit::of_error_type(&text("error_type")),
        format!("{}: {}", text("error_type"), text("error")),
    ))
}

/// One line of the NDJSON stream: output is shown, the result is the answer.
fn event(url: &str, line: &[u8], printer: &mut Printer) -> Result<Option<Answer>, Failed> {
    #[derive(Deserialize)]
    struct Event {
        #[serde(rename = "type")]
        kind: String,
        data: Box<RawValue>,
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let event: Event = serde_json::from_slice(line)
        .map_err(|_| not_the_api(url, "a stream line that is not an event"))?;
    let stream = match event.kind.as_str() {
        "stdout" => OutputStream::Stdout,
        "stderr" => OutputStream::Stderr,
        "result" => {
            return serde_json::from_str(event.data.get())
                .map(Some)
                .map_err(|_| not_the_api(url, "a result event that is not an object"));
        }
        // Event types a later server may add are not this client's to show.
        _ => return Ok(None),
    };
    let text: String = serde_json::from_str(event.data.get())
        .map_err(|_| not_the_api(url, "an output event without text"))?;
    printer.output(stream, text.as_bytes());
    Ok(None)
}

async fn post(
    url: &str,
    path: &str,
    key: Option<&str>,
    body: &Value,
    accept: &str,
) -> Result<Response, Failed> {
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("python-script-api/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failed::new(Exit::ServiceFailed, format!("no HTTP client: {e}")))?;
    let endpoint = format!("{}{path}", url.trim_end_matches('/'));
    let mut request = client
        .post(&endpoint)
        .header(ACCEPT, accept)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    // 429: the server says when to come back (Retry-After, whole seconds). Waited for, within
    // RETRIES attempts and RETRY_WITHIN in all, as the Python client does; then its answer stands.
    let mut waited = Duration::ZERO;
    let mut attempt = 0;
    loop {
        let sent = request.try_clone().map(|r| r.send());
        let response = match sent {
            Some(sent) => sent.await,
            None => return Err(Failed::usage("the request cannot be sent twice")),
        }
        .map_err(|e| {
            if e.is_builder() {
                Failed::usage(format!("--url {url} is not a usable URL: {}", chain(&e)))
            } else {
                unreachable(url, "cannot reach it", &e)
            }
        })?;
        let wait = retry_after(&response);
        match wait {
            Some(wait) if attempt < RETRIES && waited + wait <= RETRY_WITHIN => {
                eprintln!(
                    "python-script-api: {url} is busy (429); trying again in {} s",
                    wait.as_secs()
                );
                tokio::time::sleep(wait).await;
                waited += wait;
                attempt += 1;
            }
            _ => return Ok(response),
        }
    }
}

/// How long a 429 asks to wait (`Retry-After` in whole seconds, at least 1); `None` for any other
/// answer, or a 429 without a usable `Retry-After`.
fn retry_after(response: &Response) -> Option<Duration> {
    if response.status() != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let secs: u64 = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.max(1)))
}

/// A whole JSON answer (an error's, or /validate's report), read up to `MAX_ANSWER_BYTES`.
async fn answer(url: &str, mut response: Response) -> Result<Answer, Failed> {
    let status = response.status();
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unreachable(url, "the answer broke off", &e))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_ANSWER_BYTES {
            return Err(not_the_api(
                url,
                &format!("{status}, an answer of more than {MAX_ANSWER_BYTES} bytes"),
            ));
        }
    }
    match serde_json::from_slice::<Answer>(&bytes) {
        Ok(answer) if answer.contains_key("error_type") || answer.contains_key("valid") => {
            Ok(answer)
        }
        _ => {
            let text = String::from_utf8_lossy(&bytes);
            let excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
            Err(not_the_api(url, &format!("{status} {excerpt:?}")))
        }
    }
}

fn unreachable(url: &str, what: &str, e: &reqwest::Error) -> Failed {
    Failed::new(Exit::Unreachable, format!("{url}: {what}: {}", chain(e)))
}

fn not_the_api(url: &str, what: &str) -> Failed {
    Failed::new(
        Exit::Unreachable,
        format!("{url} did not answer as python-script-api does: {what}"),
    )
}

/// An error and its causes, which reqwest's own message leaves out ("error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
