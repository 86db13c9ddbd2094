//! POST /execute and POST /execute/stream: one request type, one admission, one rendering, and
//! two ways of sending the answer. A request goes down this list and never comes back up:
//!
//! - `request.rs`: `ExecuteRequest`, the body both endpoints (and /validate) decode, with its
//!   limits and the input it carries for the run.
//! - `admission.rs`: `Admitted`, a request that passed everything that comes before its run
//!   (limits, a sandbox slot and its memory, the script's parse); then the run, counted in the
//!   metrics.
//! - `render.rs`: `render()`, the one place where a run's result, or the error that stopped it,
//!   becomes status, `error_type` and JSON body.
//! - `plain.rs`: POST /execute, which sends that rendering as its response.
//! - `stream.rs`: POST /execute/stream: content negotiation, the run on a task of its own, and
//!   the streamed response; and the same run without HTTP, for the command line (`run_streamed`).
//! - `events.rs`: that response's body: output events while the run goes, then the rendering as
//!   the final event.
//! - `pending.rs`: one stream's output that has not been sent yet (whole lines at once, a partial
//!   line when it is old enough, never half a character).
//!
//! Not here: statuses and error bodies (`crate::error`), the run itself (`crate::sandbox`), the
//! request body's budget and deadline (`crate::body`).

mod admission;
pub(super) mod events;
mod pending;
mod plain;
pub(super) mod render;
pub(super) mod request;
pub(super) mod stream;

pub(crate) use admission::check as check_request;
pub use plain::execute;
pub(crate) use plain::{check_and_run, check_and_run_observed, respond};
pub use request::ExecuteRequest;
pub use stream::execute_stream;
pub(crate) use stream::run_streamed;
