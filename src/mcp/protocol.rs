//! JSON-RPC 2.0 as MCP uses it, for one POST to /mcp: a message (or, in the revisions that have
//! them, a batch) in, what to answer out. Stateless: nothing is kept between POSTs, so there is no
//! `Mcp-Session-Id`, and a client that skipped `initialize` is served all the same (the spec lets
//! a server answer before initialization; a stateless one cannot tell).
//!
//! Not here: the tools (`tools.rs`), HTTP headers and statuses (`crate::routes::mcp`).

use serde_json::{json, Map, Value};

use super::tools::{self, Context};
use super::INVALID_PARAMS;
use crate::error::McpRefusal;
use crate::routes::{MAX_BATCH_ANSWER_BYTES, MAX_BATCH_CELLS};

/// The revisions this server speaks, newest first: those the official SDKs negotiate with
/// `initialize` (2026-07-28's handshake-free envelope is not served; its clients fall back).
pub const SUPPORTED_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// What a request without `MCP-Protocol-Version` speaks: the spec tells servers to assume it.
const ASSUMED_VERSION: &str = "2025-03-26";

/// The revisions with JSON-RPC batches (2025-06-18 removed them).
const BATCH_VERSIONS: [&str; 2] = ["2025-03-26", "2024-11-05"];

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;

/// What the transport answers one POST with.
#[derive(Debug)]
pub enum Reply {
    /// Only notifications or responses came: 202 Accepted, no body.
    Accepted,
    /// 200 with this JSON-RPC response (or array of them, for a batch).
    Json(Value),
    /// The POST is refused as a whole: the status is `McpRefusal`'s, the body this JSON-RPC error.
    Refused(McpRefusal, Value),
}

/// A JSON-RPC error response. `id` is `Value::Null` when the request's id is unknown.
pub fn error(id: Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

fn refused(kind: McpRefusal, code: i64, message: impl Into<String>) -> Reply {
    Reply::Refused(kind, error(Value::Null, code, message))
}

/// The `MCP-Protocol-Version` header's check: a revision this server does not speak is refused
/// before the body is read. `None` when there is no header.
pub fn check_version_header(header: Option<&str>) -> Result<(), Reply> {
    match header {
        Some(v) if !SUPPORTED_VERSIONS.contains(&v) => Err(refused(
            McpRefusal::UnsupportedVersion,
            INVALID_REQUEST,
            format!(
                "Bad Request: unsupported MCP-Protocol-Version {:?}; this server speaks {}",
                v.chars().take(40).collect::<String>(),
                SUPPORTED_VERSIONS.join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

/// Handles one POST's body: `version` is its `MCP-Protocol-Version` header (already checked).
pub async fn handle(body: &[u8], version: Option<&str>, ctx: &Context<'_>) -> Reply {
    let message: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            return refused(
                McpRefusal::ParseError,
                PARSE_ERROR,
                format!("Parse error: {e}"),
            )
        }
    };
    match message {
        Value::Array(batch) => {
            let version = version.unwrap_or(ASSUMED_VERSION);
            if !BATCH_VERSIONS.contains(&version) {
                return refused(
                    McpRefusal::InvalidMessage,
                    INVALID_REQUEST,
                    format!("Invalid Request: revision {version} has no JSON-RPC batches"),
                );
            }
            if batch.is_empty() {
                return refused(
                    McpRefusal::InvalidMessage,
                    INVALID_REQUEST,
                    "Invalid Request: an empty batch",
                );
            }
            // POST /batch's bounds: a batch's answers are all kept until it answers, and nobody
            // may be waiting for its end any more.
            if batch.len() > MAX_BATCH_CELLS {
                return refused(
                    McpRefusal::InvalidMessage,
                    INVALID_REQUEST,
                    format!(
                        "Invalid Request: a batch holds at most {MAX_BATCH_CELLS} messages; this \
                         one has {}",
                        batch.len()
                    ),
                );
            }
            let started = std::time::Instant::now();
            let budget = std::time::Duration::from_secs(ctx.settings.max_timeout_secs);
            let mut kept = 0usize;
            let mut answers = Vec::new();
            for message in batch {
                if started.elapsed() >= budget || kept > MAX_BATCH_ANSWER_BYTES {
                    // What was not run is answered, each request by its id, never dropped.
                    if let Kind::Request = classify(&message) {
                        answers.push(error(
                            message.get("id").cloned().unwrap_or(Value::Null),
                            INVALID_REQUEST,
                            format!(
                                "not run: the batch went past MAX_TIMEOUT_SECS ({} s) or its \
                                 answers past {} MiB",
                                budget.as_secs(),
                                MAX_BATCH_ANSWER_BYTES >> 20
                            ),
                        ));
                    }
                    continue;
                }
                // In turn, not at once: each tool call takes its own sandbox slot anyway.
                if let Some(answer) = one(message, true, ctx).await {
                    kept = kept.saturating_add(answer.to_string().len());
                    answers.push(answer);
                }
            }
            if answers.is_empty() {
                Reply::Accepted
            } else {
                Reply::Json(Value::Array(answers))
            }
        }
        message => match classify(&message) {
            Kind::Invalid(id, why) => Reply::Refused(
                McpRefusal::InvalidMessage,
                error(id, INVALID_REQUEST, format!("Invalid Request: {why}")),
            ),
            Kind::Notification | Kind::Response => Reply::Accepted,
            Kind::Request => match one(message, false, ctx).await {
                Some(answer) => Reply::Json(answer),
                None => Reply::Accepted,
            },
        },
    }
}

enum Kind {
    Request,
    Notification,
    Response,
    /// Not a JSON-RPC message: the id when one could be read, and why.
    Invalid(Value, &'static str),
}

fn classify(message: &Value) -> Kind {
    let Some(object) = message.as_object() else {
        return Kind::Invalid(Value::Null, "a message must be a JSON object");
    };
    let id = object.get("id");
    // MCP's ids are strings or numbers, never null.
    let id_ok = id.is_some_and(|id| id.is_string() || id.is_number());
    let shown_id = if id_ok {
        id.cloned().unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Kind::Invalid(shown_id, "\"jsonrpc\" must be \"2.0\"");
    }
    match object.get("method") {
        Some(Value::String(_)) => match id {
            None => Kind::Notification,
            Some(_) if id_ok => Kind::Request,
            Some(_) => Kind::Invalid(Value::Null, "\"id\" must be a string or a number"),
        },
        Some(_) => Kind::Invalid(shown_id, "\"method\" must be a string"),
        None if id_ok && (object.contains_key("result") || object.contains_key("error")) => {
            Kind::Response
        }
        None => Kind::Invalid(shown_id, "neither a request, a notification nor a response"),
    }
}

/// One message's answer: `None` for notifications and responses (the server sends no requests,
/// so a response from the client answers nothing and is dropped).
async fn one(message: Value, in_batch: bool, ctx: &Context<'_>) -> Option<Value> {
    match classify(&message) {
        Kind::Invalid(id, why) => Some(error(
            id,
            INVALID_REQUEST,
            format!("Invalid Request: {why}"),
        )),
        Kind::Notification | Kind::Response => None,
        Kind::Request => {
            let Value::Object(mut object) = message else {
                return None;
            };
            let id = object.remove("id").unwrap_or(Value::Null);
            let method = match object.remove("method") {
                Some(Value::String(method)) => method,
                _ => String::new(),
            };
            let params = object.remove("params");
            Some(match request(&method, params, in_batch, ctx).await {
                Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
                Err((code, message)) => error(id, code, message),
            })
        }
    }
}

async fn request(
    method: &str,
    params: Option<Value>,
    in_batch: bool,
    ctx: &Context<'_>,
) -> Result<Value, (i64, String)> {
    let params = match params {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => {
            return Err((
                INVALID_PARAMS,
                "Invalid params: params must be an object".into(),
            ))
        }
    };
    match method {
        "initialize" if in_batch => Err((
            INVALID_REQUEST,
            "Invalid Request: initialize must not be part of a batch".into(),
        )),
        "initialize" => Ok(initialize(&params)),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(tools::list(ctx)),
        "tools/call" => {
            let Some(Value::String(name)) = params.get("name") else {
                return Err((
                    INVALID_PARAMS,
                    "Invalid params: tools/call needs a \"name\"".into(),
                ));
            };
            let arguments = match params.get("arguments") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(arguments)) => arguments.clone(),
                Some(_) => {
                    return Err((
                        INVALID_PARAMS,
                        "Invalid params: \"arguments\" must be an object".into(),
                    ))
                }
            };
            tools::call(name, arguments, ctx).await
        }
        other => Err((
            METHOD_NOT_FOUND,
            format!(
                "Method not found: {}",
                other.chars().take(100).collect::<String>()
            ),
        )),
    }
}

/// The handshake: the client's revision when this server speaks it, else the newest one (the
/// client then decides whether it can go on).
fn initialize(params: &Map<String, Value>) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked
        .and_then(|asked| SUPPORTED_VERSIONS.iter().find(|v| **v == asked))
        .unwrap_or(&SUPPORTED_VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {
            "name": "python-script-api",
            "title": "Python sandbox",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "instructions": tools::INSTRUCTIONS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_classified() {
        let kind = |v: Value| match classify(&v) {
            Kind::Request => "request",
            Kind::Notification => "notification",
            Kind::Response => "response",
            Kind::Invalid(..) => "invalid",
        };
        assert_eq!(
            kind(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
            "request"
        );
        assert_eq!(
            kind(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})),
            "notification"
        );
        assert_eq!(
            kind(json!({"jsonrpc": "2.0", "id": "a", "result": {}})),
            "response"
        );
        for bad in [
            json!({"jsonrpc": "2.0", "id": null, "method": "ping"}),
            json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}),
            json!({"jsonrpc": "2.0", "id": 1, "method": 3}),
            json!({"jsonrpc": "2.0", "id": 1}),
            json!([1]),
            json!("ping"),
        ] {
            assert_eq!(kind(bad.clone()), "invalid", "{bad}");
        }
    }

    #[test]
    fn versions_are_negotiated() {
        for v in SUPPORTED_VERSIONS {
            let answer = initialize(json!({"protocolVersion": v}).as_object().unwrap());
            assert_eq!(answer["protocolVersion"], v);
        }
        for asked in [json!("2099-01-01"), json!(5), Value::Null] {
            let answer = initialize(json!({"protocolVersion": asked}).as_object().unwrap());
            assert_eq!(answer["protocolVersion"], SUPPORTED_VERSIONS[0]);
        }
        assert!(check_version_header(Some("2025-06-18")).is_ok());
        assert!(check_version_header(None).is_ok());
        assert!(check_version_header(Some("1999-01-01")).is_err());
    }
}
