//! Requests and responses of the control API, as the daemon and the CLI both see them.

use crate::daemon::supervisor::{HealthState, ServiceState};
use crate::stack::Stack;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `POST /v1/up`: make these services (and what they depend on) run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpRequest {
    /// The resolved stack as the CLI sends it: berth's own form, not berth.yaml's (scripts
    /// want the service routes instead).
    #[schema(value_type = Object)]
    pub stack: Stack,
    /// Empty: every `autostart` service.
    pub services: Vec<String>,
    /// The caller's environment, under each service's own.
    pub env: BTreeMap<String, String>,
}

/// `POST /v1/down`: stop these services and what depends on them (empty: all).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct DownRequest {
    pub services: Vec<String>,
    /// Overrides every `stop_timeout`; zero means SIGKILL at once.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// `POST /v1/scale`: how many instances each replicated service should have, in the running
/// stack (not in the file: the next `berth up` goes back to the file's `replicas`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ScaleRequest {
    /// Service name to instance count (1 to 1000), e.g. `{"api": 3}`.
    pub services: BTreeMap<String, u32>,
}

/// What `scale` changed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScaleResponse {
    pub services: Vec<Scaled>,
    /// The instances being started (and what they depend on), in start order.
    pub started: Vec<String>,
    /// The instances stopped, highest first, once they have stopped.
    pub stopped: Vec<String>,
}

/// One service's count before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Scaled {
    pub service: String,
    pub from: u32,
    pub to: u32,
}

/// What `up` is bringing up, in start order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpResponse {
    pub services: Vec<String>,
    /// What the user should hear about besides the services (the API's port was taken).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The API on TCP, as the daemon runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiListener {
    pub listen: String,
    pub serving: bool,
    /// Why it does not serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<String>,
}

/// `GET /v1/status`, the shape of SPEC.md's `berth status --json`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusResponse {
    pub project: String,
    pub health: StackHealth,
    pub daemon: DaemonInfo,
    pub services: Vec<ServiceView>,
    /// The stack's health score: the lowest of its critical services' (see SPEC.md).
    #[serde(default)]
    #[schema(required, maximum = 100)]
    pub score: Option<u8>,
    #[serde(default)]
    #[schema(required)]
    pub score_reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StackHealth {
    Healthy,
    Degraded,
    Unhealthy,
    Stopped,
}

impl StackHealth {
    /// The JSON's spelling.
    pub const fn name(self) -> &'static str {
        match self {
            StackHealth::Healthy => "healthy",
            StackHealth::Degraded => "degraded",
            StackHealth::Unhealthy => "unhealthy",
            StackHealth::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DaemonInfo {
    pub running: bool,
    #[schema(required)]
    pub pid: Option<u32>,
    /// The API on TCP, when `api.listen` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub api: Option<ApiListener>,
    /// Records history lost since the daemon started, and why writing fails now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub history: Option<crate::history::Health>,
}

// What serde always writes is `required` (an `Option` is then `null`, never absent); what
// it skips when empty is optional and, when there, never `null`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServiceView {
    pub name: String,
    pub state: ServiceState,
    pub health: HealthState,
    #[schema(required)]
    pub pid: Option<u32>,
    #[schema(required)]
    pub port: Option<u16>,
    /// The port of berth.yaml, when berth moved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub configured_port: Option<u16>,
    #[schema(required)]
    pub uptime_s: Option<f64>,
    pub restarts: u32,
    #[schema(required)]
    pub cpu_percent: Option<f64>,
    #[schema(required)]
    pub rss_bytes: Option<u64>,
    #[schema(required)]
    pub exit_code: Option<i32>,
    /// 0–100 while it runs (or has failed); `null` when stopped, exited or not started yet.
    #[serde(default)]
    #[schema(required, maximum = 100)]
    pub score: Option<u8>,
    /// Every point lost, in words.
    #[serde(default)]
    #[schema(required)]
    pub score_reasons: Vec<String>,
    /// Why it failed, or what it is waiting for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub reason: Option<String>,
    /// What berth decided about its port at its last start (moved, stopped a holder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub note: Option<String>,
    /// Not started because this service ended (failed, was stopped, could not start): the
    /// first such one down its dependencies, whose own `reason` says how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub blocked_by: Option<String>,
    /// Whether the instance is adopted: started outside berth and kept by no shim, watched
    /// from the outside (its output is not captured). Absent when it is not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    #[serde(skip)]
    pub critical: bool,
}

impl ServiceView {
    /// A service as it is before anything runs: what the other fields are filled into.
    pub fn stopped(service: &crate::stack::Service) -> ServiceView {
        ServiceView {
            name: service.name.clone(),
            state: ServiceState::Stopped,
            health: HealthState::Unknown,
            pid: None,
            port: service.port,
            configured_port: None,
            uptime_s: None,
            restarts: 0,
            cpu_percent: None,
            rss_bytes: None,
            exit_code: None,
            score: None,
            score_reasons: Vec::new(),
            reason: None,
            note: None,
            blocked_by: None,
            adopted: false,
            critical: service.critical,
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

impl StackHealth {
    /// The stack's health from its services': `stopped` when nothing runs, `unhealthy` when a
    /// critical service is not healthy, `degraded` when only non-critical ones are not.
    pub fn of(services: &[ServiceView]) -> StackHealth {
        let active =
            |s: &&ServiceView| !matches!(s.state, ServiceState::Stopped | ServiceState::Exited);
        if !services.iter().any(|s| active(&s)) {
            return StackHealth::Stopped;
        }
        let sick = |s: &&ServiceView| {
            active(s) && (s.health != HealthState::Healthy || s.state != ServiceState::Running)
                || s.state == ServiceState::Failed
        };
        if services.iter().filter(sick).any(|s| s.critical) {
            StackHealth::Unhealthy
        } else if services.iter().any(|s| sick(&s)) {
            StackHealth::Degraded
        } else {
            StackHealth::Healthy
        }
    }
}

/// `POST /v1/dashboard`: where to open the dashboard. `url` carries a one-time login code
/// (it works once, for `expires_in_s`); `listen` is the listener the page is served on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DashboardResponse {
    pub url: String,
    pub listen: String,
    pub expires_in_s: u64,
}
