//! Black-box tests: each starts the real server on a free port, with real nsjail and Python, and
//! talks to it over HTTP.

mod budget;
mod contract;
mod environment;
mod faults;
mod files;
mod fork;
mod helpers;
mod isolation;
mod limits;
mod load;
mod openapi;
mod operability;
mod pool;
mod stream;
mod validate;
mod validation;
