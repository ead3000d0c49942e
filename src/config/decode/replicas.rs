//! Making the services with `replicas` into their instances once every service is decoded,
//! and the rules only the instances can break: enough ports, no instance's name or port
//! taken by another service.

use super::service::Outline;
use crate::config::reader::Reader;
use crate::config::source::Span;
use crate::config::validate::port_variable;
use crate::stack::Service;
use crate::stack::ranges::RangeList;
use crate::stack::replicas::{self, Replicated};
use std::collections::BTreeMap;

pub type Expanded = (Vec<Service>, BTreeMap<String, Replicated>);

/// The stack's services with each replicated one as its instances, and the definitions;
/// `None` when a rule is broken (the reader then holds why).
pub fn expand(
    r: &mut Reader,
    outlines: &[Outline],
    services: Vec<Service>,
    reserved: &RangeList,
) -> Option<Expanded> {
    let groups: Vec<&str> = outlines
        .iter()
        .filter(|o| o.replicas.is_some())
        .map(|o| o.name)
        .collect();
    if groups.is_empty() {
        // Nothing to expand, settle or clash: the services as they are, not copied (every
        // command reads the config first, and copies of 200 services were a third of it).
        return Some((services, BTreeMap::new()));
    }
    let before = r.diags.len();
    for o in outlines {
        // `api.7` would be an instance's name once `api` is scaled: never a service's own.
        let taken = o.name.rsplit_once('.').filter(|(of, n)| {
            groups.contains(of) && !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())
        });
        if let Some((of, _)) = taken {
            r.error(
                o.name_span,
                format!(
                    "services: `{}` is the name of an instance of `{of}`, which has `replicas`; rename it",
                    o.name
                ),
            );
        }
    }
    let mut out = Vec::new();
    let mut replicated = BTreeMap::new();
    for (o, service) in outlines.iter().zip(services) {
        let Some((count, span)) = o.replicas else {
            out.push(replicas::settle(&service, &groups));
            continue;
        };
        if let Err(e) = replicas::check_count(&service, count, reserved) {
            r.error(span, format!("services.{}.replicas: {e}", o.name));
            continue;
        }
        out.extend(replicas::instances(&service, count, reserved, &groups));
        replicated.insert(
            o.name.to_string(),
            Replicated {
                count,
                definition: service,
            },
        );
    }
    // `worker.1` sets BERTH_WORKER_1_PORT, as a service `worker_1` would.
    let mut variables: BTreeMap<String, &Service> = BTreeMap::new();
    for s in out.iter().filter(|s| s.port.is_some()) {
        let Some(first) = variables.insert(port_variable(&s.name), s) else {
            continue;
        };
        // Two plain services: `validate` has said so already.
        if let Some(replica) = s.replica.as_ref().or(first.replica.as_ref()) {
            r.error(
                replicas_span(outlines, &replica.of),
                format!(
                    "services.{}.replicas: `{}` and `{}` would both set {}; rename one of them",
                    replica.of,
                    first.name,
                    s.name,
                    port_variable(&s.name)
                ),
            );
        }
    }
    if let Some((instance, other, port)) = replicas::port_clash(&out) {
        let of = instance.rsplit_once('.').map_or(instance, |(of, _)| of);
        r.error(
            replicas_span(outlines, of),
            format!(
                "services.{of}.replicas: {}",
                replicas::describe_clash((instance, other, port))
            ),
        );
    }
    (r.diags.len() == before).then_some((out, replicated))
}

/// Where `replicas` of the service `of` was written.
fn replicas_span(outlines: &[Outline], of: &str) -> Span {
    outlines
        .iter()
        .find(|o| o.name == of)
        .and_then(|o| o.replicas.map(|(_, s)| s))
        .unwrap_or_default()
}
