//! POST /mcp: MCP's Streamable HTTP transport, stateless. The headers first (`Accept`,
//! `Content-Type`, `MCP-Protocol-Version`), then the body under the same caps, deadline and budget
//! as every POST (crate::body), then the JSON-RPC (crate::mcp). Every answer is one JSON body:
//! a stateless server has nothing to stream to a client later, so it never opens an SSE stream,
//! and GET and DELETE /mcp answer 405 (startup.rs), as the spec allows.
//!
//! Not here: the API key and the Origin check (the middlewares every route has), the JSON-RPC.

use std::sync::Arc;

use actix_web::http::header::{self, ContentType, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::body::BodyGate;
use crate::configuration::Settings;
use crate::disconnect::client_gone;
use crate::environment::Environment;
use crate::error::{ApiError, McpRefusal};
use crate::mcp::{self, protocol::check_version_header, Context, Reply};
use crate::metrics::Metrics;
use crate::routes::ValidateGate;
use crate::sandbox::Sandbox;
use crate::sessions::Sessions;

// One extractor per piece of shared state the tools reach, as the other handlers take theirs.
#[allow(clippy::too_many_arguments)]
pub async fn mcp(
    req: HttpRequest,
    payload: web::Payload,
    bodies: web::Data<BodyGate>,
    settings: web::Data<Settings>,
    sandbox: web::Data<Arc<Sandbox>>,
    sessions: web::Data<Arc<Sessions>>,
    metrics: web::Data<Metrics>,
    environment: web::Data<Environment>,
    validate_gate: web::Data<ValidateGate>,
) -> Result<HttpResponse, ApiError> {
    if let Err(reply) = check_headers(req.headers()) {
        return Ok(respond(reply));
    }
    let version = req
        .headers()
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if let Err(reply) = check_version_header(version) {
        return Ok(respond(reply));
    }
    let (body, _lease) = bodies.read(&req, payload).await?;
    let settings = settings.into_inner();
    let environment = environment.into_inner();
    let ctx = Context {
        req: &req,
        settings: &settings,
        sandbox: &sandbox,
        sessions: &sessions,
        metrics: &metrics,
        environment: &environment,
        validate_gate: &validate_gate,
    };
    // A client that hangs up gets its run killed now, as /execute's does.
    let reply = tokio::select! {
        reply = mcp::handle(&body, version, &ctx) => reply,
        () = client_gone(&req) => {
            log::info!("mcp: the client disconnected; its call was dropped");
            return Ok(HttpResponse::new(
                actix_web::http::StatusCode::from_u16(499).unwrap_or_default(),
            ));
        }
    };
    Ok(respond(reply))
}

fn respond(reply: Reply) -> HttpResponse {
    match reply {
        Reply::Accepted => HttpResponse::Accepted().finish(),
        Reply::Json(body) => HttpResponse::Ok()
            .insert_header(ContentType::json())
            .body(body.to_string()),
        Reply::Refused(kind, body) => HttpResponse::build(kind.status())
            .insert_header(ContentType::json())
            .body(body.to_string()),
    }
}

/// The client must accept JSON (the spec has it list `application/json` and
/// `text/event-stream`; only the first is ever sent here, so only it is required; no `Accept` at
/// all accepts anything) and must send JSON, declared as such: a browser's form or `text/plain`
/// POST (one that needs no CORS preflight) is refused.
fn check_headers(headers: &HeaderMap) -> Result<(), Reply> {
    let refuse = |kind, message: &str| {
        Reply::Refused(
            kind,
            mcp::protocol::error(serde_json::Value::Null, -32600, message),
        )
    };
    if let Some(accept) = headers.get(header::ACCEPT) {
        let accept = accept.to_str().unwrap_or("");
        let admits_json = accept.split(',').any(|range| {
            let media = range.split(';').next().unwrap_or("").trim();
            ["application/json", "application/*", "*/*"]
                .iter()
                .any(|ok| media.eq_ignore_ascii_case(ok))
        });
        if !admits_json {
            return Err(refuse(
                McpRefusal::NotAcceptable,
                "Not Acceptable: the client must accept application/json (and text/event-stream)",
            ));
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(refuse(
            McpRefusal::UnsupportedMediaType,
            "Unsupported Media Type: the body must be JSON-RPC, sent as application/json",
        ));
    }
    Ok(())
}
