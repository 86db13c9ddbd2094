//! Black-box tests: each starts the real server on a free port, with real nsjail and Python, and
//! talks to it over HTTP.

mod bodies;
mod budget;
mod contract;
mod disclosure;
mod environment;
mod faults;
mod files;
mod fork;
mod harness;
mod helpers;
mod isolation;
mod jail_root;
mod lang_bash;
mod lang_javascript;
mod lang_r;
mod languages;
mod limits;
mod load;
mod mcp;
mod openapi;
mod operability;
mod origins;
mod policy;
mod pool;
mod preload;
mod profile;
mod python_client;
mod quotas;
mod session_ends;
mod sessions;
mod stream;
mod validate;
mod validation;
