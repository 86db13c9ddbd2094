mod environment;
mod execute;
mod health;
mod jobs;
mod mcp;
mod metrics;
mod openapi;
mod scripts;
mod sessions;
mod validate;
mod web;

pub use environment::environment;
pub(crate) use execute::run_streamed;
pub use execute::{execute, execute_stream, ExecuteRequest};
pub use health::health;
pub use jobs::{cancel_job, describe_job, job_events, list_jobs, submit_job};
pub use metrics::metrics;
pub use openapi::{openapi, OPENAPI};
pub use scripts::{
    create_script, delete_script, describe_script, execute_script, list_scripts, script_job,
    script_version, update_script,
};
pub use sessions::{
    batch, create_session, delete_session, describe_session, execute_cell, execute_cell_stream,
};
pub(crate) use validate::report as validation_report;
pub use validate::{validate, ValidateGate};
pub use web::{asset, docs, playground};

pub use mcp::mcp;

// The domain calls the routes above make once a body is decoded, for MCP's tools (crate::mcp):
// one rule in one place, whichever door a request came in by.
pub(crate) use environment::describe as describe_environment;
pub(crate) use execute::render::{render, Rendered};
pub(crate) use execute::{check_and_run, check_and_run_observed};
pub(crate) use sessions::{
    close as close_session, open as open_session, run_cell, CellRequest, CreateSession,
    MAX_BATCH_ANSWER_BYTES, MAX_BATCH_CELLS,
};
pub(crate) use validate::check as check_script;
