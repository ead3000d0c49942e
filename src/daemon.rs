//! The daemon: the control API's server, the orchestrator that starts and stops services in
//! dependency order, one supervisor per service with its readiness and health probes, and
//! the pure restart policy they follow.

pub mod adopted;
pub mod alert_routes;
pub mod bell;
pub mod history_routes;
pub mod launch;
pub mod log_routes;
pub mod orchestrator;
pub mod paths;
pub mod policy;
pub mod port_plan;
pub mod port_routes;
pub mod probe;
pub mod query_string;
pub mod readiness;
pub mod rediscover;
pub mod scrape;
pub mod server;
pub mod service_routes;
pub mod spawner;
pub mod stream_routes;
pub mod supervisor;
pub mod tcp;
pub mod web_routes;

/// Writes one line to the daemon's log (its stderr). Never fails: `eprintln!` panics when
/// stderr cannot be written (a full disk under `daemon.log`), and a daemon thread that
/// panics over its log would stop supervising.
pub fn log(message: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "berth: {message}");
}
