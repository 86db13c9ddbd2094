mod execute;
mod health;

pub use execute::{execute, ExecuteRequest};
pub use health::health;
