mod environment;
mod execute;
mod execute_stream;
mod health;
mod metrics;
mod openapi;
mod validate;

pub use environment::environment;
pub use execute::{execute, ExecuteRequest};
pub use execute_stream::execute_stream;
pub use health::health;
pub use metrics::metrics;
pub use openapi::{openapi, OPENAPI};
pub use validate::{validate, ValidateGate};
