mod execute;
mod health;
mod metrics;

pub use execute::{execute, ExecuteRequest};
pub use health::health;
pub use metrics::metrics;
