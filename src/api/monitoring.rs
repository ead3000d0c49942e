//! The shapes of what history answers, shared by the daemon's routes and the CLI: `stats
//! --json` (`/v1/stats`), `events --json` (`/v1/events`), one series (`/v1/history`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `berth stats --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsResponse {
    pub project: String,
    /// RFC 3339.
    pub since: String,
    pub until: String,
    pub services: Vec<ServiceStats>,
    pub system: SystemStats,
}

/// One service over the window; `None` where history has nothing for it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceStats {
    pub name: String,
    #[schema(required)]
    pub cpu_avg_percent: Option<f64>,
    #[schema(required)]
    pub cpu_max_percent: Option<f64>,
    #[schema(required)]
    pub rss_avg_bytes: Option<u64>,
    #[schema(required)]
    pub rss_max_bytes: Option<u64>,
    pub restarts: u64,
    /// The share of the window's sampling rounds in which it was running and healthy.
    #[schema(required)]
    pub healthy_ratio: Option<f64>,
    #[schema(required)]
    pub check_p50_ms: Option<f64>,
    #[schema(required)]
    pub check_p95_ms: Option<f64>,
    pub checks_failed: u64,
    /// Start to ready, of its last start.
    #[schema(required)]
    pub ready_ms: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SystemStats {
    #[schema(required)]
    pub cpu_max_percent: Option<f64>,
    #[schema(required)]
    pub memory_max_bytes: Option<u64>,
    #[schema(required)]
    pub load1_max: Option<f64>,
    pub disks: Vec<DiskStats>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DiskStats {
    pub path: String,
    pub used_max_bytes: u64,
    pub total_bytes: u64,
}

/// One line of `berth events --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// RFC 3339 UTC, milliseconds.
    pub time: String,
    /// `null` for the stack's own events.
    #[schema(required)]
    pub service: Option<String>,
    pub kind: String,
    pub message: String,
    pub data: serde_json::Value,
}

/// `GET /v1/history`: one series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Series {
    pub metric: String,
    #[schema(required)]
    pub service: Option<String>,
    /// `[unix_ms, value]`, oldest first; a step with no sample has no point.
    #[schema(schema_with = points)]
    pub points: Vec<(u64, f64)>,
}

/// `[[unix_ms, value], …]`: pairs of numbers. Not `prefixItems` (an integer, then a number),
/// which schemathesis 4 cannot read in a response's schema.
fn points() -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let pair = ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::Number))
        .min_items(Some(2))
        .max_items(Some(2))
        .description(Some("`[unix_ms, value]`"));
    ArrayBuilder::new()
        .items(pair)
        .description(Some(
            "`[unix_ms, value]`, oldest first; a step with no sample has no point.",
        ))
        .build()
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
