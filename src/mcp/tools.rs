//! MCP's tools: `run_python`, `validate_python`, `list_environment`, `create_session`,
//! `close_session`. Each call decodes its arguments, makes the same domain call as its HTTP route
//! (crate::routes: limits, caps, parse, run, conversion, ownership are theirs) and turns the
//! route's answer into a tool result: the answer's JSON as `structuredContent`, a text block, and
//! for `run_python` every image the run left in `./output/` as an `image` block.
//!
//! A session cell is `run_python` with a `session_id` (one tool that runs code, rather than two a
//! model must choose between); its other arguments are then the cell's own (`code`, `timeout`).
//!
//! Errors: an unknown tool is a JSON-RPC error (invalid params); everything else, arguments that
//! do not decode included, is a tool result with `isError: true` carrying the API's error body, so
//! that a model reads what went wrong and can correct itself (the 2025-11-25 revision's rule).
//!
//! Not here: JSON-RPC and the lifecycle (`protocol.rs`), HTTP (`crate::routes::mcp`).

use std::sync::Arc;

use actix_web::HttpRequest;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::INVALID_PARAMS;
use crate::configuration::Settings;
use crate::environment::Environment;
use crate::error::ApiError;
use crate::files::FileRequest;
use crate::metrics::Metrics;
use crate::routes::{self, ExecuteRequest, Rendered, ValidateGate};
use crate::sandbox::Sandbox;
use crate::sessions::Sessions;

/// What a tool call may use: the POST's request (its API key owns the sessions it makes) and the
/// app's shared state.
pub struct Context<'a> {
    pub req: &'a HttpRequest,
    pub settings: &'a Arc<Settings>,
    pub sandbox: &'a Sandbox,
    pub sessions: &'a Arc<Sessions>,
    pub metrics: &'a Metrics,
    pub environment: &'a Arc<Environment>,
    pub validate_gate: &'a ValidateGate,
}

/// `initialize`'s instructions: how the tools fit together.
pub const INSTRUCTIONS: &str = "Runs Python 3 in an isolated sandbox with no network. \
Use run_python for a self-contained script (it must define main(); main()'s return value comes \
back as JSON), or create_session once and then run_python with its session_id to keep variables \
between calls like a notebook. validate_python checks a script without running it; \
list_environment lists the packages that can be imported.";

/// Output files of these types come back as MCP image blocks (what a model can look at).
const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// The tool list, with descriptions that name what the sandbox really has (its environment.json).
pub fn list(ctx: &Context<'_>) -> Value {
    let installed = match ctx.environment.manifest() {
        Ok(m) => {
            let packages: Vec<String> = m
                .packages
                .iter()
                .map(|p| format!("{} {}", p.name, p.version))
                .collect();
            format!(
                "Python {} with the standard library and these packages: {}.",
                m.python_version,
                packages.join(", ")
            )
        }
        Err(_) => "The package list is unavailable; call list_environment.".to_string(),
    };
    let limits = format!(
        "timeout is in seconds (default {}, at most {}); memory in MiB for the whole run \
         (default {}, {} to {}).",
        ctx.settings.default_timeout_secs,
        ctx.settings.max_timeout_secs,
        ctx.settings.default_memory_mib,
        ctx.settings.min_memory_mib,
        ctx.settings.max_memory_mib
    );
    let run_python = format!(
        "Run Python 3 in a fresh, isolated sandbox with no network access. {installed} \
         The code must define main() (or async def main()) at top level; it runs once top to \
         bottom, then main() is called (with `input` as its argument if it takes one) and its \
         return value comes back as `result`, converted to JSON (numpy numbers and arrays, \
         pandas Series and DataFrames, dates and sets are converted; a DataFrame becomes a \
         list of row objects; NaN becomes null; an object with no JSON form is an \
         invalid_result error: return plain values). print() output comes back as stdout/stderr. Input `files` are \
         written to the working directory before the code runs; every file the code writes into \
         ./output/ comes back in `files`, and matplotlib figures still open when main() returns \
         are saved there as figure-N.png and also sent as images you can see. {limits} \
         With `session_id` (from create_session) the code is instead a notebook cell in that \
         session: no main() needed, variables persist between cells, `result` is the value of \
         the last expression; only `code` and `timeout` apply then. A failure (exception, \
         timeout, memory) is an error result with `error_type`, `error` and the traceback."
    );
    let file_schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "A plain file name, no directories."},
            "content": {"type": "string"},
            "encoding": {"type": "string", "enum": ["utf8", "base64"], "default": "utf8"}
        },
        "required": ["name", "content"],
        "additionalProperties": false
    });
    let run_output = json!({
        "type": "object",
        "properties": {
            "success": {"type": "boolean"},
            "result": {"description": "main()'s return value (a cell's last expression), as JSON."},
            "results": {"description": "What save_result() saved, if anything."},
            "stdout": {"type": "string"},
            "stderr": {"type": "string"},
            "files": {
                "type": "array",
                "description": "The files left in ./output/. Images are sent as image content and have no content_base64 here.",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "size": {"type": "integer"},
                        "mime_type": {"type": "string"},
                        "content_base64": {"type": "string"},
                        "sent_as_image": {"type": "boolean"}
                    },
                    "required": ["name", "size", "mime_type"]
                }
            },
            "error": {"type": "string"},
            "error_type": {"type": "string"},
            "traceback": {"type": "string"},
            "exit_code": {"type": "integer"},
            "line": {"type": "integer"},
            "column": {"type": "integer"},
            "timestamp": {"type": "string"},
            "duration_ms": {"type": "integer"},
            "usage": {"type": "object"}
        },
        "required": ["success"]
    });
    json!({"tools": [
        {
            "name": "run_python",
            "title": "Run Python",
            "description": run_python,
            "inputSchema": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "Python 3 source; defines main() unless session_id is given."},
                    "input": {"description": "Any JSON value: main()'s argument and the input_data global."},
                    "files": {"type": "array", "items": file_schema, "description": "Files written into the working directory before the code runs."},
                    "timeout": {"type": "integer", "minimum": 1, "description": "Seconds."},
                    "memory": {"type": "integer", "description": "MiB for the whole run."},
                    "session_id": {"type": "string", "description": "Run the code as a cell of this session (create_session)."},
                    "language": {"type": "string", "enum": ["python", "javascript", "r", "bash"], "description": "The code's language (default python; not with session_id). JavaScript and R: main(input)'s value is the result; Bash: the result is null and exit_code is reported."}
                },
                "required": ["code"],
                "additionalProperties": false
            },
            "outputSchema": run_output,
            "annotations": {"readOnlyHint": false, "destructiveHint": false, "openWorldHint": false}
        },
        {
            "name": "validate_python",
            "title": "Check a Python script",
            "description": format!(
                "Check a script as run_python would, without running it: syntax (with line and \
                 column), a top-level main(), the limits and files, and which imports are not \
                 installed in the sandbox. {installed}"
            ),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "input": {},
                    "files": {"type": "array", "items": file_schema},
                    "timeout": {"type": "integer"},
                    "memory": {"type": "integer"}
                },
                "required": ["code"],
                "additionalProperties": false
            },
            "outputSchema": {
                "type": "object",
                "properties": {
                    "valid": {"type": "boolean"},
                    "errors": {"type": "array"},
                    "main": {"type": "object"},
                    "imports": {"type": "array", "items": {"type": "string"}},
                    "unavailable_imports": {"type": "array", "items": {"type": "string"}},
                    "refused_imports": {"type": "array"}
                },
                "required": ["valid"]
            },
            "annotations": {"readOnlyHint": true, "openWorldHint": false}
        },
        {
            "name": "list_environment",
            "title": "List the sandbox's packages",
            "description": "The sandbox's Python version, its installed packages with versions, \
                the top-level modules that can be imported (standard library included), and the \
                operator's import policy if there is one, and the `timeout` (seconds) and \
                `memory` (MiB) a run may ask for (`limits`). There is no network: nothing else \
                can be installed.",
            "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false},
            "outputSchema": {
                "type": "object",
                "properties": {
                    "python_version": {"type": "string"},
                    "packages": {"type": "array", "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "version": {"type": "string"}}}},
                    "modules": {"type": "array", "items": {"type": "string"}},
                    "import_policy": {"type": "object"},
                    "limits": {"type": "object"}
                },
                "required": ["python_version", "packages", "modules"]
            },
            "annotations": {"readOnlyHint": true, "openWorldHint": false}
        },
        {
            "name": "create_session",
            "title": "Start a Python session",
            "description": "Start a live Python session that keeps variables, imports and files \
                between run_python calls that pass its session_id, like a notebook kernel. It \
                ends after idle_timeout seconds without a cell (default 600), or with \
                close_session; close it when done, sessions are few. memory (MiB) is for the whole \
                session; timeout (seconds) is each cell's default; files are written into its \
                working directory.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "memory": {"type": "integer"},
                    "timeout": {"type": "integer"},
                    "idle_timeout": {"type": "integer"},
                    "files": {"type": "array", "items": file_schema}
                },
                "additionalProperties": false
            },
            "outputSchema": {
                "type": "object",
                "properties": {
                    "session_id": {"type": "string"},
                    "created_at": {"type": "string"},
                    "expires_at": {"type": "string"},
                    "memory": {"type": "integer"},
                    "timeout": {"type": "integer"},
                    "idle_timeout": {"type": "integer"}
                },
                "required": ["session_id"]
            },
            "annotations": {"readOnlyHint": false, "destructiveHint": false, "openWorldHint": false}
        },
        {
            "name": "close_session",
            "title": "End a Python session",
            "description": "End a session at once (a running cell included); its state is gone.",
            "inputSchema": {
                "type": "object",
                "properties": {"session_id": {"type": "string"}},
                "required": ["session_id"],
                "additionalProperties": false
            },
            "outputSchema": {
                "type": "object",
                "properties": {"session_id": {"type": "string"}, "closed": {"type": "boolean"}},
                "required": ["session_id", "closed"]
            },
            "annotations": {"readOnlyHint": false, "destructiveHint": true, "idempotentHint": true, "openWorldHint": false}
        }
    ]})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunPython {
    code: String,
    #[serde(default, deserialize_with = "present")]
    input: Option<Value>,
    files: Option<Vec<FileRequest>>,
    timeout: Option<u64>,
    memory: Option<u64>,
    session_id: Option<String>,
    /// The code's language (crate::language); not with a session, whose cells are Python.
    language: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidatePython {
    code: String,
    #[serde(default, deserialize_with = "present")]
    input: Option<Value>,
    files: Option<Vec<FileRequest>>,
    timeout: Option<u64>,
    memory: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArguments {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseSession {
    session_id: String,
}

/// A present `input`, even `null`, is an input (as /execute's).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A tool call's result: `Err` only for an unknown tool (a JSON-RPC error).
pub async fn call(
    name: &str,
    arguments: Map<String, Value>,
    ctx: &Context<'_>,
) -> Result<Value, (i64, String)> {
    let arguments = Value::Object(arguments);
    let result = match name {
        "run_python" => match decode::<RunPython>(arguments) {
            Ok(args) => run_python(args, ctx).await,
            Err(e) => failed(&e),
        },
        "validate_python" => match decode::<ValidatePython>(arguments) {
            Ok(args) => {
                let request = execute_request(
                    args.code,
                    args.input,
                    args.files,
                    args.timeout,
                    args.memory,
                    None,
                );
                match request {
                    Ok(request) => structured(
                        routes::check_script(
                            request,
                            ctx.settings.clone(),
                            ctx.validate_gate,
                            ctx.environment.clone(),
                        )
                        .await
                        .and_then(to_json),
                    ),
                    Err(e) => failed(&e),
                }
            }
            Err(e) => failed(&e),
        },
        "list_environment" => match decode::<NoArguments>(arguments) {
            Ok(_) => structured(
                routes::describe_environment(ctx.environment, ctx.settings).and_then(to_json),
            ),
            Err(e) => failed(&e),
        },
        "create_session" => match decode::<routes::CreateSession>(arguments) {
            Ok(args) => {
                structured(routes::open_session(ctx.req, ctx.settings, ctx.sessions, args).await)
            }
            Err(e) => failed(&e),
        },
        "close_session" => match decode::<CloseSession>(arguments) {
            Ok(args) => structured(
                routes::close_session(ctx.req, &args.session_id, ctx.sessions)
                    .await
                    .map(|()| json!({"session_id": args.session_id, "closed": true})),
            ),
            Err(e) => failed(&e),
        },
        other => {
            return Err((
                INVALID_PARAMS,
                format!(
                    "Unknown tool: {}",
                    other.chars().take(100).collect::<String>()
                ),
            ))
        }
    };
    Ok(result)
}

fn decode<T: DeserializeOwned>(arguments: Value) -> Result<T, ApiError> {
    serde_json::from_value(arguments)
        .map_err(|e| ApiError::InvalidRequest(format!("invalid arguments: {e}")))
}

fn to_json(value: impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::task_failed("encoding the answer", e))
}

/// /execute's request from a tool's arguments (`code` is its `script`).
fn execute_request(
    code: String,
    input: Option<Value>,
    files: Option<Vec<FileRequest>>,
    timeout: Option<u64>,
    memory: Option<u64>,
    language: Option<String>,
) -> Result<ExecuteRequest, ApiError> {
    let input = input
        .map(|v| RawValue::from_string(v.to_string()))
        .transpose()
        .map_err(|e| ApiError::InvalidRequest(format!("invalid input: {e}")))?;
    Ok(ExecuteRequest {
        script: code,
        timeout,
        memory,
        input,
        parameters: None,
        files,
        capture_figures: None,
        language,
    })
}

async fn run_python(args: RunPython, ctx: &Context<'_>) -> Value {
    let rendered = match args.session_id {
        Some(id) => {
            if args.input.is_some()
                || args.files.is_some()
                || args.memory.is_some()
                || args.language.as_deref().is_some_and(|l| l != "python")
            {
                return failed(&ApiError::InvalidRequest(
                    "a session cell takes only code and timeout (and is Python): give files and \
                     memory to create_session, and keep data in the session's variables"
                        .to_string(),
                ));
            }
            let cell = routes::CellRequest {
                code: args.code,
                timeout: args.timeout,
            };
            routes::render(routes::run_cell(ctx.req, &id, cell, ctx.settings, ctx.sessions).await)
        }
        None => {
            match execute_request(
                args.code,
                args.input,
                args.files,
                args.timeout,
                args.memory,
                args.language,
            ) {
                Ok(request) => routes::render(
                    routes::check_and_run(request, ctx.settings, ctx.sandbox, ctx.metrics).await,
                ),
                Err(e) => return failed(&e),
            }
        }
    };
    run_result(&rendered)
}

/// A run's rendering (/execute's body) as a tool result: the body as structured content, less
/// the images' base64, which go as image blocks; and a text summary.
fn run_result(rendered: &Rendered) -> Value {
    let mut body: Value = match serde_json::from_slice(&rendered.body) {
        Ok(body) => body,
        Err(e) => return failed(&ApiError::task_failed("reading the run's answer", e)),
    };
    let mut images = Vec::new();
    if let Some(files) = body.get_mut("files").and_then(Value::as_array_mut) {
        for file in files.iter_mut().filter_map(Value::as_object_mut) {
            let mime = file
                .get("mime_type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if IMAGE_TYPES.contains(&mime.as_str()) {
                if let Some(Value::String(data)) = file.remove("content_base64") {
                    images.push(json!({"type": "image", "data": data, "mimeType": mime}));
                    file.insert("sent_as_image".into(), Value::Bool(true));
                }
            }
        }
    }
    let mut content = vec![json!({"type": "text", "text": summary(&body)})];
    content.extend(images);
    json!({
        "content": content,
        "structuredContent": body,
        "isError": rendered.error_type.is_some(),
    })
}

/// What a model reads first: the outcome, then the result, the output and the files.
fn summary(body: &Value) -> String {
    let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or("");
    let mut out = String::new();
    if body.get("success").and_then(Value::as_bool) == Some(true) {
        let result = body.get("result").cloned().unwrap_or(Value::Null);
        out.push_str(&format!("Succeeded. result: {result}\n"));
    } else {
        out.push_str(&format!(
            "Failed ({}): {}\n",
            text("error_type"),
            text("error")
        ));
        if !text("traceback").is_empty() {
            out.push_str(&format!("traceback:\n{}\n", text("traceback")));
        }
    }
    for stream in ["stdout", "stderr"] {
        if !text(stream).is_empty() {
            out.push_str(&format!("{stream}:\n{}\n", text(stream)));
        }
    }
    if let Some(files) = body.get("files").and_then(Value::as_array) {
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                let name = f.get("name").and_then(Value::as_str).unwrap_or("?");
                let size = f.get("size").and_then(Value::as_u64).unwrap_or(0);
                if f.get("sent_as_image").is_some() {
                    format!("{name} ({size} bytes, shown as an image)")
                } else {
                    format!("{name} ({size} bytes, base64 in structuredContent.files)")
                }
            })
            .collect();
        out.push_str(&format!("files in ./output/: {}\n", names.join(", ")));
    }
    out
}

/// A domain call's answer as a tool result: its JSON as structured content and as text (the
/// spec's advice for clients that read only text), or the API's error body with `isError`.
fn structured(answer: Result<Value, ApiError>) -> Value {
    match answer {
        Ok(value) => json!({
            "content": [{"type": "text", "text": value.to_string()}],
            "structuredContent": value,
            "isError": false,
        }),
        Err(e) => failed(&e),
    }
}

/// An error as a tool result: the API's error body (`error_type`, `error`), as the route would
/// have answered.
fn failed(error: &ApiError) -> Value {
    let body = error.body();
    let value = serde_json::to_value(&body).unwrap_or_else(|_| json!({"success": false}));
    json!({
        "content": [{"type": "text", "text": format!("Failed ({}): {}", body.error_type, body.error)}],
        "structuredContent": value,
        "isError": true,
    })
}
