//! The integration tests: one binary, one module per feature.

mod alerts;
mod api_routes;
mod api_tcp;
mod chaos;
mod check_cli;
mod config_errors;
mod config_fuzz;
mod config_valid;
mod dashboard;
mod doctor;
mod engine;
mod foreground;
mod forker;
mod history;
mod monitoring;
mod ports_cli;
mod ports_up;
mod prometheus;
mod readiness;
mod rediscovery;
mod schema;
mod shim;
mod soak;
mod state_dir;
mod supervisor;
mod support;
