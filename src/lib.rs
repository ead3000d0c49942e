//! berth: starts, watches and stops the services of a local stack from one berth.yaml.
//! The library holds everything; the binary only calls `cli::main`.

pub mod alerts;
pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod doctor;
pub mod export;
pub mod history;
pub mod import;
pub mod logs;
pub mod mcp;
pub mod monitor;
pub mod ports;
pub mod process;
pub mod shim;
pub mod stack;
pub mod state;
pub mod style;
pub mod timeout;
pub mod tui;
pub mod watch;
pub mod yaml_writer;
