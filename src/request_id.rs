//! A request's id: what the request log, the responses and the log lines of errors deep in a
//! handler share. Its own room, below both telemetry (which assigns the id and logs the request)
//! and error (which logs a sandbox error's detail under it), so that neither imports the other.

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's ID, in the request's extensions: the caller's `X-Request-Id` when it is sane,
/// otherwise a new random one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

tokio::task_local! {
    /// The id of the request whose handler is running, so that an error deep in a handler can
    /// log its detail under that id without every layer passing it along.
    static CURRENT_REQUEST_ID: String;
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `future` (a task of its own, such as a streamed run) as part of request `id`.
pub async fn with_request_id<F: std::future::Future>(id: String, future: F) -> F::Output {
    CURRENT_REQUEST_ID.scope(id, future).await
}
