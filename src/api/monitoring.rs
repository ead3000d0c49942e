//! The shapes of what history answers, shared by the daemon's routes and the CLI: `stats
//! --json` (`/v1/stats`), `events --json` (`/v1/events`), one series (`/v1/history`).

use serde::{Deserialize, Serialize};

/// `berth stats --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    pub project: String,
    /// RFC 3339.
    pub since: String,
    pub until: String,
    pub services: Vec<ServiceStats>,
    pub system: SystemStats,
}

/// One service over the window; `None` where history has nothing for it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceStats {
    pub name: String,
    pub cpu_avg_percent: Option<f64>,
    pub cpu_max_percent: Option<f64>,
    pub rss_avg_bytes: Option<u64>,
    pub rss_max_bytes: Option<u64>,
    pub restarts: u64,
    /// The share of the window's sampling rounds in which it was running and healthy.
    pub healthy_ratio: Option<f64>,
    pub check_p50_ms: Option<f64>,
    pub check_p95_ms: Option<f64>,
    pub checks_failed: u64,
    /// Start to ready, of its last start.
    pub ready_ms: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemStats {
    pub cpu_max_percent: Option<f64>,
    pub memory_max_bytes: Option<u64>,
    pub load1_max: Option<f64>,
    pub disks: Vec<DiskStats>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskStats {
    pub path: String,
    pub used_max_bytes: u64,
    pub total_bytes: u64,
}

/// One line of `berth events --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    /// RFC 3339 UTC, milliseconds.
    pub time: String,
    /// `null` for the stack's own events.
    pub service: Option<String>,
    pub kind: String,
    pub message: String,
    pub data: serde_json::Value,
}

/// `GET /v1/history`: one series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub metric: String,
    pub service: Option<String>,
    /// `[unix_ms, value]`, oldest first; a step with no sample has no point.
    pub points: Vec<(u64, f64)>,
}

/// The event kinds `--kind` takes.
pub const EVENT_KINDS: &[&str] = &[
    "started",
    "ready",
    "exited",
    "restarting",
    "failed",
    "stopped",
    "completed",
    "adopted",
    "port",
    "health",
    "alert",
    "watch",
    "config",
    "history",
    "api",
];
