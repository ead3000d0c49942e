//! The shapes of the service routes and the live views, shared by the daemon and its clients:
//! one service in full (`GET /v1/services/{name}`), what a start, stop or restart affects
//! (`POST /v1/services/{name}/…`), a log line (`GET /v1/logs/{name}`), the ports
//! (`GET /v1/ports`) and a sampling round (`event: sample` of `GET /v1/stream`).

use crate::api::alerts::AlertView;
use crate::api::monitoring::EventView;
use crate::api::types::ServiceView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /v1/services/{name}`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceDetail {
    /// Its row of `GET /v1/status`.
    pub service: ServiceView,
    /// Its definition as `berth config --json` shows it (profile applied, defaults filled
    /// in, `$` written as `$$`).
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
    /// Its last 10 events, oldest first, as `events --json` prints them.
    pub events: Vec<EventView>,
    /// Its pending and firing alerts, as `GET /v1/alerts` lists them.
    pub alerts: Vec<AlertView>,
}

/// The optional body of `POST /v1/services/{name}/start`, `/stop` and `/restart`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// `stop` only: overrides every `stop_timeout`, as `down --timeout`; zero kills at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// The 202 answer of a start, stop or restart: the services it affects, in the order it
/// acts on them (start order for a start or restart, stop order for a stop).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ActionResponse {
    pub services: Vec<String>,
}

/// One line of `GET /v1/logs/{name}` (NDJSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogLine {
    /// RFC 3339 UTC, milliseconds; `null` for a line berth did not write (kept as it is).
    #[schema(required)]
    pub time: Option<String>,
    /// `out`, `err` or `berth` (what berth itself wrote into the log).
    #[schema(pattern = "^(out|err|berth)$")]
    pub stream: String,
    pub line: String,
}

/// `GET /v1/ports`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PortsResponse {
    /// Every listening socket, as `ports --json` (`?all=1`: UDP too), each flagged.
    pub listening: Vec<ListeningView>,
    /// Each service of the stack with a port: who holds it now.
    pub services: Vec<ServicePort>,
}

/// One listening socket: an entry of `ports --json` and how it touches the stack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListeningView {
    pub port: u16,
    /// `tcp` or `udp`.
    #[schema(pattern = "^(tcp|udp)$")]
    pub proto: String,
    pub address: String,
    #[schema(required)]
    pub pid: Option<u32>,
    #[schema(required)]
    pub user: Option<String>,
    #[schema(required)]
    pub command: Option<String>,
    /// The berth service holding it (by its marks), of this stack or another.
    #[schema(required)]
    pub service: Option<String>,
    /// The project of that service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub project: Option<String>,
    /// The service of this stack whose port this is (the one it uses, or the configured
    /// one when it was moved), whoever holds it.
    #[schema(required)]
    pub configured_for: Option<String>,
    /// Held by a service of this stack.
    pub ours: bool,
}

/// A port of the stack and who holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServicePort {
    pub service: String,
    /// The port it uses (where it was moved to, if it was), else the configured one.
    pub port: u16,
    /// The port of berth.yaml, when it was moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub configured_port: Option<u16>,
    /// `free`, `ours` (held by this service alone) or `conflict` (someone else holds it).
    #[schema(pattern = "^(free|ours|conflict)$")]
    pub state: String,
    /// Who holds it against the service (`pid 4242 (alice: python3 -m http.server 8000)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub holder: Option<String>,
}

/// `event: sample` of `GET /v1/stream`: the latest sampling round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SampleView {
    /// When the round was taken (RFC 3339).
    pub time: String,
    pub services: Vec<ServiceSampleView>,
    /// The machine (as the sampler reads it), `null` before its first reading.
    #[schema(required)]
    pub system: Option<crate::monitor::system::SystemReading>,
}

/// One service in a sampling round: its process tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceSampleView {
    pub name: String,
    pub pid: u32,
    /// % of one core, since the round before.
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub open_fds: u64,
    pub threads: u64,
    pub processes: u32,
}
