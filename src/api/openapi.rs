//! The API's OpenAPI 3.1 document (`GET /v1/openapi.json`), generated from the request and
//! response types (`utoipa::ToSchema`) and one description per route below, so that a
//! shape changed in the code is changed in the document. A test checks that the router's
//! routes and the document's operations are the same set.

use crate::api::alerts::{
    AlertsResponse, SilenceRequest, SilenceView, TestRequest, TestResponse, UnsilenceRequest,
};
use crate::api::monitoring::{EventView, Series, StatsResponse};
use crate::api::services::{
    ActionRequest, ActionResponse, LogLine, PortsResponse, SampleView, ServiceDetail,
};
use crate::api::types::{
    DashboardResponse, DownRequest, ErrorBody, ScaleRequest, ScaleResponse, StatusResponse,
    UpRequest, UpResponse,
};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

/// Routes the router serves that are not the API: the dashboard's pages (HTML, scripts,
/// styles), which no client of the API calls. They are left out of the document, and out of
/// the check that the document has every route.
pub const NOT_API: &[(&str, &str)] = &[("GET", "/"), ("GET", "/ui/{file}"), ("GET", "/login")];

/// The document, as `GET /v1/openapi.json` serves it.
pub fn document() -> Document {
    Doc::openapi()
}

/// The document as JSON, built once: it never changes while the daemon runs.
pub fn json() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| document().to_json().expect("the document serializes"))
}

/// `POST /v1/daemon/stop`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StopResponse {
    /// Always `true`: the daemon leaves once it has answered.
    pub stopping: bool,
}

/// `POST /v1/alerts/unsilence`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UnsilenceResponse {
    /// Whether there was such a silence.
    pub lifted: bool,
}

/// A bad query or body (the message says which value, and what it takes).
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct BadRequest(ErrorBody);

/// On TCP only: no token, or not the right one.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Unauthorized(ErrorBody);

/// On TCP only: a `Host` that does not name the listener, or a `POST` from a foreign
/// `Origin`.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Forbidden(ErrorBody);

/// No such service (rule, channel) in the config; or no such route.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct NotFound(ErrorBody);

/// It conflicts with what is happening (a stop or restart under way, no alert channel).
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Conflict(ErrorBody);

/// A body over 2 MiB.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct TooLarge(ErrorBody);

/// No stack loaded yet (no `berth up` has talked to this daemon), the history cannot be
/// read, the state dir cannot be written, or too many streams are open.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Unavailable(ErrorBody);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "berth",
        version = env!("CARGO_PKG_VERSION"),
        description = "The HTTP + JSON API of berth's daemon: the same routes on the Unix socket \
            `.berth/berth.sock` (no token: the socket's mode is the authentication) and, when \
            `api.listen` is set, on TCP with `Authorization: Bearer TOKEN`. Every refusal is \
            `{\"error\": \"message\"}` and changes nothing. For the streaming answers \
            (`application/x-ndjson`, `text/event-stream`) the schema is that of one line, or \
            one event: OpenAPI 3.1 has no `itemSchema`."
    ),
    paths(
        routes::status,
        routes::service,
        routes::start,
        routes::stop,
        routes::restart,
        routes::up,
        routes::down,
        routes::scale,
        routes::daemon_stop,
        routes::logs,
        routes::events,
        routes::history,
        routes::stats,
        routes::alerts,
        routes::alerts_history,
        routes::silence,
        routes::unsilence,
        routes::alerts_test,
        routes::ports,
        routes::stream,
        routes::metrics,
        routes::dashboard,
        routes::openapi,
    ),
    components(
        schemas(ErrorBody, SampleView, EventView, StatusResponse),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            TooLarge,
            Unavailable
        )
    ),
    modifiers(&Generated),
    tags(
        (name = "stack", description = "The stack as a whole: status, up, down, the daemon"),
        (name = "services", description = "One service: its detail, start, stop, restart, logs"),
        (name = "history", description = "Events, series and stats from the history"),
        (name = "alerts", description = "Alerts firing and pending, silences, channel tests"),
        (name = "live", description = "Server-Sent Events and the Prometheus metrics"),
    )
)]
struct Doc;

/// What the route descriptions cannot say by themselves: the lists the routes check values
/// against (event kinds, metrics), the answers every route can give on TCP, and the bearer
/// token.
struct Generated;

impl Modify for Generated {
    fn modify(&self, doc: &mut Document) {
        // utoipa fills one in from Cargo.toml, which names none.
        doc.info.license = None;
        let components = doc.components.get_or_insert_with(Default::default);
        components
            .schemas
            .insert("StreamEvent".to_string(), stream_event());
        if let Some(RefOr::T(utoipa::openapi::Schema::Object(silence))) =
            components.schemas.get_mut("SilenceRequest")
            && let Some(length) = silence.properties.get_mut("for")
        {
            with_pattern(length, DURATION);
        }
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // On TCP the token is needed; on the Unix socket nothing is (the empty requirement).
        doc.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::default(),
        ]);
        for (_, item) in doc.paths.paths.iter_mut() {
            for operation in operations(item) {
                let responses = &mut operation.responses.responses;
                for (code, name) in [("401", "Unauthorized"), ("403", "Forbidden")] {
                    responses.insert(
                        code.to_string(),
                        RefOr::Ref(utoipa::openapi::Ref::from_response_name(name)),
                    );
                }
                let parameters = operation.parameters.iter_mut().flatten();
                for parameter in parameters.filter_map(|p| match p {
                    RefOr::T(p) => Some(p),
                    RefOr::Ref(_) => None,
                }) {
                    let Some(schema) = parameter.schema.as_mut() else {
                        continue;
                    };
                    match parameter.name.as_str() {
                        "kind" => {
                            *schema = one_of_names(schema, crate::api::monitoring::EVENT_KINDS)
                        }
                        "metric" => {
                            *schema = one_of_names(schema, &crate::history::query::Metric::NAMES)
                        }
                        "since" | "step" => with_pattern(schema, DURATION),
                        "follow" | "all" => with_pattern(schema, FLAG),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// One event of `GET /v1/stream`: its name, and its `data` (JSON) by that name.
fn stream_event() -> RefOr<utoipa::openapi::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Ref, Type};
    let event = |names: &[&str], data: &str| {
        ObjectBuilder::new()
            .required("event")
            .required("data")
            .property(
                "event",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(names.iter().copied())),
            )
            .property(
                "data",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .content_media_type("application/json")
                    .content_schema(Some(Ref::from_schema_name(data))),
            )
    };
    OneOfBuilder::new()
        .description(Some(
            "`status` when the stack changes and every second while anything runs; `event` for \
             each new event, and `alert` besides for those of kind `alert`; `sample` after each \
             sampling round. A `: keepalive` comment comes every 15 s.",
        ))
        .item(event(&["status"], "StatusResponse"))
        .item(event(&["event", "alert"], "EventView"))
        .item(event(&["sample"], "SampleView"))
        .into()
}

/// Every operation of a path.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// A duration as `query_string::Query::duration` reads it (`500ms`, `15m`, `1h30m`, `0`).
const DURATION: &str = r"^\s*(0|([0-9]+\s*(ms|s|m|h|d)\s*)+)$";
/// A flag as `Query::flag` reads it.
const FLAG: &str = "^(0|1|true|false)?$";

/// Restricts a string `schema` to `pattern`.
fn with_pattern(schema: &mut RefOr<utoipa::openapi::Schema>, pattern: &str) {
    if let RefOr::T(utoipa::openapi::Schema::Object(object)) = schema {
        object.pattern = Some(pattern.to_string());
    }
}

/// `schema` (a string, or an array of strings) restricted to `names`.
fn one_of_names(
    schema: &RefOr<utoipa::openapi::Schema>,
    names: &[&str],
) -> RefOr<utoipa::openapi::Schema> {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
    let names = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names.iter().copied()))
        .build();
    match schema {
        RefOr::T(Schema::Array(_)) => ArrayBuilder::new().items(names).build().into(),
        _ => names.into(),
    }
}

/// One description per route: what it takes and what it answers. The functions are never
/// called; the router's handlers are in `daemon/`.
#[allow(dead_code)]
mod routes {
    use super::*;

    /// The stack: its health and score, the daemon, one row per service (`berth status --json`)
    #[utoipa::path(get, path = "/v1/status", tag = "stack",
        params(("usage" = Option<bool>, Query,
            description = "`false` leaves CPU and memory out (what `up` polls while it waits)")),
        responses((status = 200, description = "The stack's status", body = StatusResponse)))]
    pub fn status() {}

    /// One service: its status row, resolved definition, last 10 events and its alerts
    #[utoipa::path(get, path = "/v1/services/{name}", tag = "services",
        params(("name" = String, Path, description = "A service of the stack")),
        responses(
            (status = 200, description = "The service", body = ServiceDetail),
            (status = 404, response = NotFound),
            (status = 503, response = Unavailable)))]
    pub fn service() {}

    /// As `berth up NAME`: starts the service and what it depends on
    ///
    /// Answers at once with the services affected, in start order; follow the starts in
    /// `/v1/status` or `/v1/stream`.
    #[utoipa::path(post, path = "/v1/services/{name}/start", tag = "services",
        params(("name" = String, Path, description = "A service of the stack")),
        request_body(content = Option<ActionRequest>, description = "Optional; a start takes no `timeout_ms`"),
        responses(
            (status = 202, description = "The services being started, in start order", body = ActionResponse),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 409, response = Conflict),
            (status = 413, response = TooLarge),
            (status = 503, response = Unavailable)))]
    pub fn start() {}

    /// As `berth down NAME`: stops the service and what depends on it, dependents first
    #[utoipa::path(post, path = "/v1/services/{name}/stop", tag = "services",
        params(("name" = String, Path, description = "A service of the stack")),
        request_body(content = Option<ActionRequest>, description = "Optional; `timeout_ms` overrides every `stop_timeout` (0 kills at once)"),
        responses(
            (status = 202, description = "The services being stopped, in stop order", body = ActionResponse),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 409, response = Conflict),
            (status = 413, response = TooLarge),
            (status = 503, response = Unavailable)))]
    pub fn stop() {}

    /// As `berth restart NAME`: stopped, then started again with its running dependents
    #[utoipa::path(post, path = "/v1/services/{name}/restart", tag = "services",
        params(("name" = String, Path, description = "A service of the stack")),
        request_body(content = Option<ActionRequest>, description = "Optional; a restart takes no `timeout_ms`"),
        responses(
            (status = 202, description = "The services being restarted, in start order", body = ActionResponse),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 409, response = Conflict),
            (status = 413, response = TooLarge),
            (status = 503, response = Unavailable)))]
    pub fn restart() {}

    /// What `berth up` sends: the resolved stack, the services to start, the caller's environment
    #[utoipa::path(post, path = "/v1/up", tag = "stack",
        request_body = UpRequest,
        responses(
            (status = 200, description = "The services being brought up, in start order", body = UpResponse),
            (status = 400, response = BadRequest),
            (status = 413, response = TooLarge),
            (status = 503, response = Unavailable)))]
    pub fn up() {}

    /// What `berth down` sends: stops these services and what depends on them (empty: all)
    #[utoipa::path(post, path = "/v1/down", tag = "stack",
        request_body = DownRequest,
        responses(
            (status = 200, description = "The services stopped, once they have stopped", body = UpResponse),
            (status = 400, response = BadRequest),
            (status = 413, response = TooLarge),
            (status = 503, response = Unavailable)))]
    pub fn down() {}

    /// What `berth scale` sends: the number of instances of replicated services, in the running stack (not the file)
    #[utoipa::path(post, path = "/v1/scale", tag = "stack",
        request_body = ScaleRequest,
        responses(
            (status = 200, description = "The counts changed; the extra instances stopped (highest first), the new ones being started", body = ScaleResponse),
            (status = 400, response = BadRequest),
            (status = 413, response = TooLarge),
            (status = 503, response = Unavailable)))]
    pub fn scale() {}

    /// Stops the daemon; the services keep running
    #[utoipa::path(post, path = "/v1/daemon/stop", tag = "stack",
        responses((status = 200, description = "The daemon leaves", body = StopResponse)))]
    pub fn daemon_stop() {}

    /// The service's log as NDJSON, oldest first; `follow=1` keeps the answer open
    #[utoipa::path(get, path = "/v1/logs/{name}", tag = "services",
        params(
            ("name" = String, Path, description = "A service of the stack"),
            ("lines" = Option<u64>, Query, minimum = 0, maximum = 1000000,
                description = "The last N lines (default 100)"),
            ("since" = Option<String>, Query,
                description = "Only lines of the last D (`30s`, `15m`, `24h`)"),
            ("follow" = Option<String>, Query,
                description = "`1`: stream each new line as it is written, until the client goes away")),
        responses(
            (status = 200, description = "One `LogLine` a line", content_type = "application/x-ndjson", body = LogLine),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 503, response = Unavailable)))]
    pub fn logs() {}

    /// The event log as NDJSON, oldest first (`berth events --json`); `follow=1` keeps the answer open
    #[utoipa::path(get, path = "/v1/events", tag = "history",
        params(
            ("since" = Option<String>, Query,
                description = "Only events of the last D"),
            ("service" = Option<Vec<String>>, Query, explode, style = Form,
                description = "Only this service's events (repeatable)"),
            ("kind" = Option<Vec<String>>, Query, explode, style = Form,
                description = "Only events of this kind (repeatable)"),
            ("lines" = Option<u64>, Query, minimum = 1, maximum = 1000000,
                description = "The newest N events (default 1000)"),
            ("follow" = Option<String>, Query,
                description = "`1`: stream each new event as it is written")),
        responses(
            (status = 200, description = "One `EventView` a line", content_type = "application/x-ndjson", body = EventView),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 503, response = Unavailable)))]
    pub fn events() {}

    /// One series from history: `[[unix_ms, value], …]`
    #[utoipa::path(get, path = "/v1/history", tag = "history",
        params(
            ("metric" = String, Query, description = "What to read"),
            ("service" = Option<String>, Query,
                description = "The service, for a service's metric (required for those)"),
            ("disk" = Option<String>, Query, description = "The path, for `system.disk_used_bytes`"),
            ("since" = Option<String>, Query,
                description = "The window (default 1h)"),
            ("step" = Option<String>, Query,
                description = "At least 1s, at most 100,000 points (default: about 300 points)")),
        responses(
            (status = 200, description = "The series", body = Series),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 503, response = Unavailable)))]
    pub fn history() {}

    /// `berth stats --json` over a window
    #[utoipa::path(get, path = "/v1/stats", tag = "history",
        params(
            ("since" = Option<String>, Query,
                description = "The window (default 1h)"),
            ("service" = Option<Vec<String>>, Query, explode, style = Form,
                description = "Only these services (repeatable)")),
        responses(
            (status = 200, description = "The report", body = StatsResponse),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 503, response = Unavailable)))]
    pub fn stats() {}

    /// The alerts firing and pending, and the silences
    #[utoipa::path(get, path = "/v1/alerts", tag = "alerts",
        responses((status = 200, description = "The alerts", body = AlertsResponse)))]
    pub fn alerts() {}

    /// Every alert transition and delivery, as events of kind `alert` (NDJSON)
    #[utoipa::path(get, path = "/v1/alerts/history", tag = "alerts",
        params(
            ("since" = Option<String>, Query,
                description = "Only those of the last D"),
            ("service" = Option<Vec<String>>, Query, explode, style = Form,
                description = "Only this service's (repeatable)"),
            ("lines" = Option<u64>, Query, minimum = 1, maximum = 1000000,
                description = "The newest N (default 1000)")),
        responses(
            (status = 200, description = "One `EventView` a line", content_type = "application/x-ndjson", body = EventView),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 503, response = Unavailable)))]
    pub fn alerts_history() {}

    /// Mutes a rule (for one service, or all) for a while
    #[utoipa::path(post, path = "/v1/alerts/silence", tag = "alerts",
        request_body = SilenceRequest,
        responses(
            (status = 200, description = "The silence", body = SilenceView),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 413, response = TooLarge),
            (status = 503, response = Unavailable)))]
    pub fn silence() {}

    /// Lifts a silence
    #[utoipa::path(post, path = "/v1/alerts/unsilence", tag = "alerts",
        request_body = UnsilenceRequest,
        responses(
            (status = 200, description = "Whether there was one", body = UnsilenceResponse),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 413, response = TooLarge),
            (status = 503, response = Unavailable)))]
    pub fn unsilence() {}

    /// Sends a test notification to the channels (empty: all), waiting up to 20 s
    #[utoipa::path(post, path = "/v1/alerts/test", tag = "alerts",
        request_body = TestRequest,
        responses(
            (status = 200, description = "Each channel's outcome", body = TestResponse),
            (status = 400, response = BadRequest),
            (status = 404, response = NotFound),
            (status = 409, response = Conflict),
            (status = 413, response = TooLarge),
            (status = 503, response = Unavailable)))]
    pub fn alerts_test() {}

    /// The listening sockets and who holds them, the stack's ports flagged (`berth ports --json`)
    #[utoipa::path(get, path = "/v1/ports", tag = "stack",
        params(("all" = Option<String>, Query,
            description = "`1`: UDP too")),
        responses(
            (status = 200, description = "The ports", body = PortsResponse),
            (status = 400, response = BadRequest),
            (status = 503, response = Unavailable)))]
    pub fn ports() {}

    /// Server-Sent Events for live views
    ///
    /// `event: status` (a `StatusResponse`) at once, on every change and every second while
    /// anything runs; `event: event` and, for alerts, `event: alert` (an `EventView`);
    /// `event: sample` (a `SampleView`) after each sampling round; a `: keepalive` comment
    /// every 15 s. The answer stays open until the client goes away.
    #[utoipa::path(get, path = "/v1/stream", tag = "live",
        responses(
            (status = 200, description = "The stream (the schema is that of one event)",
                content_type = "text/event-stream", body = ref("#/components/schemas/StreamEvent")),
            (status = 503, response = Unavailable)))]
    pub fn stream() {}

    /// Prometheus metrics: the classic text format, or OpenMetrics when `Accept` prefers it
    #[utoipa::path(get, path = "/metrics", tag = "live",
        responses((status = 200, description = "The metrics", content(
            (String = "text/plain"),
            (String = "application/openmetrics-text")))))]
    pub fn metrics() {}

    /// A login address for the dashboard (its code works once, for `expires_in_s`)
    #[utoipa::path(post, path = "/v1/dashboard", tag = "stack",
        responses(
            (status = 200, description = "Where to open the dashboard", body = DashboardResponse),
            (status = 503, response = Unavailable)))]
    pub fn dashboard() {}

    /// This document
    #[utoipa::path(get, path = "/v1/openapi.json", tag = "stack",
        responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
    pub fn openapi() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The (method, path) pairs of every `.route(` of the router's source.
    fn routed(source: &str) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (at, call) in source.match_indices(".route(") {
            let rest = &source[at + call.len()..];
            let args = &rest[..closing(rest)];
            let path = args
                .trim_start()
                .strip_prefix('"')
                .and_then(|p| p.split('"').next())
                .unwrap_or_else(|| panic!("a route whose path is not a literal: {args}"));
            let handler = &args[args.find(',').expect("a route's handler") + 1..];
            // The method routers at the handler's top level: `get(…)`, `get(…).post(…)`.
            let mut depth = 0;
            let mut word = String::new();
            for c in handler.chars() {
                match c {
                    '(' if depth == 0 => {
                        if ["get", "post", "put", "delete", "patch"].contains(&word.as_str()) {
                            out.insert((word.to_uppercase(), path.to_string()));
                        }
                        depth += 1;
                    }
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    c if c.is_alphanumeric() || c == '_' => word.push(c),
                    _ => word.clear(),
                }
                if c == '(' || c == ')' {
                    word.clear();
                }
            }
        }
        out
    }

    /// Where the parenthesis opened just before `text` closes.
    fn closing(text: &str) -> usize {
        let mut depth = 1;
        for (i, c) in text.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => {}
            }
        }
        panic!("no closing parenthesis in {text}")
    }

    fn documented(doc: &Document) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            for (method, there) in [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("DELETE", item.delete.is_some()),
                ("PATCH", item.patch.is_some()),
            ] {
                if there {
                    out.insert((method.to_string(), path.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn the_document_has_every_route_of_the_router_and_no_other() {
        let source = include_str!("../daemon/server.rs");
        // Routes merged or nested in from another router would not be seen here.
        assert!(
            !source.contains(".merge(") && !source.contains(".nest("),
            "server.rs merges or nests a router: read its routes here too"
        );
        let routed = routed(source);
        assert!(
            routed.len() >= 20,
            "the router's routes were not found: {routed:?}"
        );
        assert!(routed.contains(&("POST".into(), "/v1/services/{name}/restart".into())));
        let not_api: BTreeSet<(String, String)> = NOT_API
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        let api: BTreeSet<_> = routed.difference(&not_api).cloned().collect();
        let documented = documented(&document());
        let undocumented: Vec<_> = api.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&api).collect();
        assert!(
            undocumented.is_empty() && unrouted.is_empty(),
            "routes missing from the document: {undocumented:?}; \
             documented but not routed: {unrouted:?}"
        );
    }

    #[test]
    fn the_parser_sees_chained_methods_and_routes_over_several_lines() {
        let source = r#"Router::new()
            .route("/a", get(reading(x::a)))
            .route(
                "/b/{name}",
                post(acting(x::b)).get(|| async { f(1) }),
            )
            .route("/c", get(streaming(c)).delete(d))"#;
        let pairs: Vec<(String, String)> = routed(source).into_iter().collect();
        let expected: Vec<(String, String)> = [
            ("DELETE", "/c"),
            ("GET", "/a"),
            ("GET", "/b/{name}"),
            ("GET", "/c"),
            ("POST", "/b/{name}"),
        ]
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
        assert_eq!(pairs, expected);
    }

    /// A query parameter's schema, as JSON.
    fn parameter(doc: &serde_json::Value, path: &str, name: &str) -> serde_json::Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no {name} on {path}"))["schema"]
            .clone()
    }

    #[test]
    fn bounds_and_names_are_those_the_routes_check() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let lines = parameter(&doc, "/v1/logs/{name}", "lines");
        assert_eq!(lines["minimum"], 0);
        assert_eq!(lines["maximum"], crate::daemon::log_routes::MAX_LINES);
        let kinds = parameter(&doc, "/v1/events", "kind");
        assert_eq!(
            kinds["items"]["enum"],
            serde_json::json!(crate::api::monitoring::EVENT_KINDS)
        );
        let metric = parameter(&doc, "/v1/history", "metric");
        assert_eq!(
            metric["enum"],
            serde_json::json!(crate::history::query::Metric::NAMES)
        );
        for (path, name, pattern) in [
            ("/v1/logs/{name}", "since", DURATION),
            ("/v1/logs/{name}", "follow", FLAG),
            ("/v1/history", "step", DURATION),
            ("/v1/ports", "all", FLAG),
        ] {
            assert_eq!(
                parameter(&doc, path, name)["pattern"],
                pattern,
                "{path} {name}"
            );
        }
        let silence = &doc["components"]["schemas"]["SilenceRequest"]["properties"]["for"];
        assert_eq!(silence["pattern"], DURATION);
        // Every operation can be refused on TCP, with the error shape.
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for code in ["401", "403"] {
                    assert!(
                        operation["responses"][code].is_object(),
                        "{method} {path}: no {code}"
                    );
                }
            }
        }
        let error = &doc["components"]["responses"]["NotFound"]["content"]["application/json"];
        assert_eq!(error["schema"]["$ref"], "#/components/schemas/ErrorBody");
    }

    #[test]
    fn durations_as_the_routes_read_them_match_the_pattern() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        let pattern = parameter(&doc, "/v1/stats", "since")["pattern"]
            .as_str()
            .unwrap()
            .to_string();
        let pattern = regex::Regex::new(&pattern).unwrap();
        for good in ["0", "500ms", "15m", "1h30m", "7d", " 2h "] {
            assert!(crate::config::units::parse_duration(good).is_ok(), "{good}");
            assert!(pattern.is_match(good), "{good}");
        }
        for bad in ["", "soon", "-5m", "5", "1.5h", "m"] {
            assert!(crate::config::units::parse_duration(bad).is_err(), "{bad}");
            assert!(!pattern.is_match(bad), "{bad}");
        }
    }
}
