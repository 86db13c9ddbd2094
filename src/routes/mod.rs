mod execute;
mod health;
mod metrics;
mod openapi;

pub use execute::{execute, ExecuteRequest};
pub use health::health;
pub use metrics::metrics;
pub use openapi::{openapi, OPENAPI};
