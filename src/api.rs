//! The control API: HTTP + JSON on the daemon's Unix socket, like docker.sock. The CLI, tests
//! and scripts (`curl --unix-socket .berth/berth.sock http://berth/v1/status`) all use it.
//! Request and response types live in `types` for both sides.

pub mod alerts;
pub mod auth;
pub mod client;
pub mod metrics;
pub mod monitoring;
pub mod openapi;
pub mod services;
pub mod session;
pub mod types;
