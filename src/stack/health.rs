//! A service's health check: how readiness is confirmed and liveness watched afterwards.

use super::ranges::RangeList;
use super::service::Command;
use super::template::Template;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    /// Failures in a row that count as unhealthy.
    pub retries: u32,
}

/// Exactly one kind of probe; the type makes "none" and "two" impossible.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// GET the URL; healthy when the status is one of `status`.
    Http { url: Template, status: RangeList },
    /// Healthy when a TCP connection to `address` (`HOST:PORT`) succeeds.
    Tcp { address: Template },
    /// Healthy when the command exits 0.
    Exec { command: Command },
}

impl Probe {
    pub const KINDS: [&'static str; 3] = ["http", "tcp", "exec"];

    pub fn kind(&self) -> &'static str {
        match self {
            Probe::Http { .. } => "http",
            Probe::Tcp { .. } => "tcp",
            Probe::Exec { .. } => "exec",
        }
    }
}

/// HTTP status codes accepted by default: 200 to 399.
pub fn default_status() -> RangeList {
    RangeList::new(vec![(200, 399)])
}
