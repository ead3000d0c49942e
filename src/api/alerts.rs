//! The shapes of the alerts' routes and commands, shared by the daemon and the CLI:
//! `berth alerts --json` (`GET /v1/alerts`), silences, `berth alerts test`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A pending or firing alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    pub rule: String,
    /// `null` for the machine's (system) conditions.
    #[schema(required)]
    pub service: Option<String>,
    /// The service, `system`, or `disk:PATH`.
    pub subject: String,
    /// `pending` or `firing`.
    #[schema(pattern = "^(pending|firing)$")]
    pub state: String,
    pub severity: String,
    /// The last value seen, with its unit.
    pub value: String,
    /// When the condition became true (RFC 3339).
    pub since: String,
    pub silenced: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SilenceView {
    pub rule: String,
    /// `null`: the rule is muted for every service.
    #[schema(required)]
    pub service: Option<String>,
    /// RFC 3339.
    pub until: String,
}

/// `GET /v1/alerts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertsResponse {
    pub alerts: Vec<AlertView>,
    pub silences: Vec<SilenceView>,
}

/// `POST /v1/alerts/silence`: mutes `rule` (for one service, or all) for `for`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    pub rule: String,
    #[serde(default)]
    pub service: Option<String>,
    /// A duration: `30m`, `2h`.
    #[serde(rename = "for")]
    pub for_: String,
}

/// `POST /v1/alerts/unsilence`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsilenceRequest {
    pub rule: String,
    #[serde(default)]
    pub service: Option<String>,
}

/// `POST /v1/alerts/test`: the channels to try (empty: all).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    #[serde(default)]
    pub channels: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TestResult {
    pub channel: String,
    pub delivered: bool,
    /// The receiver's answer, or why it was not delivered.
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TestResponse {
    pub results: Vec<TestResult>,
}
