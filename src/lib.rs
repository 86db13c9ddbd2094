pub mod auth;
pub mod body;
pub mod cli;
pub mod configuration;
pub mod disconnect;
pub mod environment;
pub mod error;
pub mod file_names;
pub mod files;
pub mod jobs;
pub mod language;
pub mod mcp;
pub mod metrics;
pub mod origin;
pub mod policy;
pub mod request_id;
pub mod routes;
pub mod sandbox;
pub mod script;
pub mod scripts;
pub mod sessions;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;

/// RFC 3339 in UTC with milliseconds, as every response carries it.
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
