mod environment;
mod execute;
mod health;
mod metrics;
mod openapi;
mod validate;

pub use environment::environment;
pub use execute::{execute, execute_stream, ExecuteRequest};
pub use health::health;
pub use metrics::metrics;
pub use openapi::{openapi, OPENAPI};
pub use validate::{validate, ValidateGate};
