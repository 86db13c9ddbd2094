//! The Model Context Protocol, served at POST /mcp (Streamable HTTP, stateless): an agent's way to
//! run Python here. Written by hand from the specification rather than with the official Rust SDK
//! (`rmcp`): rmcp's Streamable HTTP server is a tower `Service` made for axum and keeps sessions in
//! memory; under actix-web it would need a bridge between the two HTTP stacks, and it would bring
//! its own body reading, which must stay `crate::body`'s (caps, deadline, budget) as for every POST.
//! Stateless JSON-RPC over one POST is small enough to follow the specification exactly.
//!
//! - `protocol.rs`: JSON-RPC 2.0 messages, batches, the lifecycle (`initialize`, version
//!   negotiation, `ping`) and the dispatch of `tools/list` and `tools/call`.
//! - `tools.rs`: the tools, their schemas and descriptions, and their calls, each of which is a
//!   route's own domain call (crate::routes), so that limits, caps, conversion and ownership have
//!   one rule whichever door a request comes in by.
//!
//! Not here: the HTTP side (headers, the body, statuses: `crate::routes::mcp`), authentication and
//! the Origin check (the same middlewares as every route: `crate::auth`, `crate::origin`).

pub mod protocol;
pub mod tools;

/// JSON-RPC 2.0's code for a call whose parameters are wrong: the protocol's (an unknown tool, no
/// name) and the tools' (arguments that do not decode) alike. Here, below both, so that neither
/// imports the other for it.
pub(crate) const INVALID_PARAMS: i64 = -32602;

pub use protocol::{handle, Reply, SUPPORTED_VERSIONS};
pub use tools::Context;
