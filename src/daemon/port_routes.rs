//! `GET /v1/ports` (`?all=1`: UDP too): the machine's listening sockets as `ports --json`
//! lists them, each flagged with the service of this stack whose port it is and whether this
//! stack holds it; then each service's port as free, ours, or in conflict with whom (what
//! `berth ports` prints under the table). Works before any `up` (with no stack to flag).

use super::orchestrator::Orchestrator;
use super::query_string::Query;
use crate::api::services::{ListeningView, PortsResponse, ServicePort};
use crate::ports::Proto;
use crate::ports::holders::{self, Holder};
use crate::ports::protect::{Class, Context, classify};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

type Answer = Result<Response, (StatusCode, String)>;

/// A service's port as the flags need it: the one it uses, and the configured one when it
/// was moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub service: String,
    pub port: u16,
    pub configured_port: Option<u16>,
}

pub fn ports(orchestrator: &Orchestrator, q: &Query) -> Answer {
    let udp = q.flag("all").map_err(|e| (StatusCode::BAD_REQUEST, e))?;
    let stack = orchestrator.stack();
    let mut all = holders::all(udp).map_err(|e| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read the socket table: {e}"),
        )
    })?;
    let claims: Vec<Claim> = match &stack {
        Some(_) => orchestrator
            .status(false)
            .services
            .into_iter()
            .filter_map(|s| {
                Some(Claim {
                    port: s.port?,
                    configured_port: s.configured_port,
                    service: s.name,
                })
            })
            .collect(),
        None => Vec::new(),
    };
    let context = Context::for_stack(stack.as_deref());
    context.credit_adopted(&mut all);
    Ok(axum::Json(flag(&all, &claims, &|h| classify(h, &context))).into_response())
}

/// The answer from the sockets and the stack's ports; `class` says who a holder is.
pub fn flag(all: &[Holder], claims: &[Claim], class: &dyn Fn(&Holder) -> Class) -> PortsResponse {
    let tcp = |h: &&Holder| h.proto == Proto::Tcp;
    let listening = all
        .iter()
        .map(|h| ListeningView {
            port: h.port,
            proto: format!("{:?}", h.proto).to_lowercase(),
            address: h.address.clone(),
            pid: h.pid,
            user: h.user.clone(),
            command: h.command.clone(),
            service: h.service.clone(),
            project: h.project.clone(),
            configured_for: claims
                .iter()
                .find(|c| {
                    h.proto == Proto::Tcp && (c.port == h.port || c.configured_port == Some(h.port))
                })
                .map(|c| c.service.clone()),
            ours: matches!(class(h), Class::Ours(_)),
        })
        .collect();
    let services = claims
        .iter()
        .map(|c| {
            let holders: Vec<&Holder> = all
                .iter()
                .filter(tcp)
                .filter(|h| h.port == c.port)
                .collect();
            let other = holders
                .iter()
                .find(|h| class(h) != Class::Ours(c.service.clone()));
            let state = match (holders.is_empty(), other) {
                (true, _) => "free",
                (false, None) => "ours",
                (false, Some(_)) => "conflict",
            };
            ServicePort {
                service: c.service.clone(),
                port: c.port,
                configured_port: c.configured_port,
                state: state.into(),
                holder: other.map(|h| h.describe()),
            }
        })
        .collect();
    PortsResponse {
        listening,
        services,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(port: u16, proto: Proto, service: Option<&str>) -> Holder {
        Holder {
            port,
            proto,
            address: "127.0.0.1".into(),
            pid: Some(100 + u32::from(port % 100)),
            user: Some("alice".into()),
            command: Some("python3 -m http.server".into()),
            service: service.map(String::from),
            project: service.map(|_| "shop".into()),
            stack: service.map(|_| "/p/.berth".into()),
            process: None,
            uid: 1000,
        }
    }

    #[test]
    fn ports_are_flagged_free_ours_or_in_conflict() {
        let all = [
            holder(8000, Proto::Tcp, Some("api")),
            holder(8000, Proto::Udp, None),
            holder(8001, Proto::Tcp, None),
            holder(9999, Proto::Tcp, None),
        ];
        let claims = [
            Claim {
                service: "api".into(),
                port: 8000,
                configured_port: None,
            },
            Claim {
                service: "web".into(),
                port: 8001,
                configured_port: None,
            },
            Claim {
                service: "db".into(),
                port: 5432,
                configured_port: None,
            },
            Claim {
                service: "moved".into(),
                port: 8002,
                configured_port: Some(9999),
            },
        ];
        let class = |h: &Holder| match &h.service {
            Some(s) => Class::Ours(s.clone()),
            None => Class::Foreign,
        };
        let answer = flag(&all, &claims, &class);
        let flags: Vec<(u16, &str, Option<&str>, bool)> = answer
            .listening
            .iter()
            .map(|l| {
                (
                    l.port,
                    l.proto.as_str(),
                    l.configured_for.as_deref(),
                    l.ours,
                )
            })
            .collect();
        assert_eq!(
            flags,
            [
                (8000, "tcp", Some("api"), true),
                (8000, "udp", None, false),
                (8001, "tcp", Some("web"), false),
                (9999, "tcp", Some("moved"), false),
            ]
        );
        let states: Vec<(&str, &str, bool)> = answer
            .services
            .iter()
            .map(|s| (s.service.as_str(), s.state.as_str(), s.holder.is_some()))
            .collect();
        assert_eq!(
            states,
            [
                ("api", "ours", false),
                ("web", "conflict", true),
                ("db", "free", false),
                ("moved", "free", false),
            ]
        );
        assert_eq!(answer.services[3].configured_port, Some(9999));
    }
}
