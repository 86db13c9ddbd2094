mod environment;
mod execute;
mod health;
mod metrics;
mod openapi;
mod sessions;
mod validate;

pub use environment::environment;
pub use execute::{execute, execute_stream, ExecuteRequest};
pub use health::health;
pub use metrics::metrics;
pub use openapi::{openapi, OPENAPI};
pub use sessions::{
    batch, create_session, delete_session, describe_session, execute_cell, execute_cell_stream,
};
pub use validate::{validate, ValidateGate};
