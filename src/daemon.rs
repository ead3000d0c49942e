//! The supervisor. What exists so far is its pure decision logic; the server, orchestrator
//! and probes that carry the decisions out build on it.

pub mod launch;
pub mod orchestrator;
pub mod paths;
pub mod policy;
pub mod probe;
pub mod readiness;
pub mod server;
pub mod supervisor;
