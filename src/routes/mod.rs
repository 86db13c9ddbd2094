mod environment;
mod execute;
mod health;
mod metrics;
mod openapi;
mod sessions;
mod validate;

pub use environment::environment;
pub(crate) use execute::run_streamed;
pub use execute::{execute, execute_stream, ExecuteRequest};
pub use health::health;
pub use metrics::metrics;
pub use openapi::{openapi, OPENAPI};
pub use sessions::{
    batch, create_session, delete_session, describe_session, execute_cell, execute_cell_stream,
};
pub(crate) use validate::report as validation_report;
pub use validate::{validate, ValidateGate};
