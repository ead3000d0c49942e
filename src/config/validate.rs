//! Rules that span services: names, one port per service, dependencies that exist, no
//! cycles, distinct `BERTH_<NAME>_PORT` variables.

use super::decode::service::Outline;
use super::reader::Reader;
use super::source::Span;
use super::suggest;
use crate::stack::graph::Graph;
use std::collections::BTreeMap;

/// Names used in file names, process markers and env variables.
pub fn is_name(name: &str) -> bool {
    name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

pub fn service_name(r: &mut Reader, name: &str, span: Span) -> bool {
    if is_name(name) {
        return true;
    }
    r.error(
        span,
        format!("services: invalid service name `{name}`; use up to 63 letters, digits, `_`, `-` and `.`, starting with a letter or digit"),
    );
    false
}

/// The variable every service is given with this service's port.
pub fn port_variable(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| {
            if c == '-' || c == '.' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    format!("BERTH_{upper}_PORT")
}

pub fn stack(r: &mut Reader, services: &[Outline]) {
    unique_ports(r, services);
    unique_port_variables(r, services);
    dependencies(r, services);
    cycles(r, services);
}

fn unique_ports(r: &mut Reader, services: &[Outline]) {
    let mut owners: BTreeMap<u16, &Outline> = BTreeMap::new();
    for d in services {
        let (Some(port), Some(span)) = (d.port, d.port_span) else {
            continue;
        };
        match owners.get(&port) {
            Some(first) => r.error(
                span,
                format!(
                    "services.{}.port: port {port} is also the port of service `{}` (line {}); give each service its own port",
                    d.name,
                    first.name,
                    first.port_span.map(|s| s.start.line).unwrap_or(0)
                ),
            ),
            None => {
                owners.insert(port, d);
            }
        }
    }
}

fn unique_port_variables(r: &mut Reader, services: &[Outline]) {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for d in services.iter().filter(|d| d.port.is_some()) {
        let var = port_variable(d.name);
        match seen.get(&var) {
            Some(first) => r.error(
                d.name_span,
                format!(
                    "services: `{}` and `{first}` would both set {var}; rename one of them",
                    d.name
                ),
            ),
            None => {
                seen.insert(var, d.name);
            }
        }
    }
}

/// Every `depends_on` names a service.
fn dependencies(r: &mut Reader, services: &[Outline]) {
    let names: Vec<&str> = services.iter().map(|s| s.name).collect();
    for d in services {
        for (dep, span) in d.depends_on.iter().zip(&d.dep_spans) {
            if !names.contains(&dep.service.as_str()) {
                r.error(
                    *span,
                    format!(
                        "services.{}.depends_on: no service `{}`{}",
                        d.name,
                        dep.service,
                        suggest::hint(&dep.service, names.iter().copied())
                    ),
                );
            }
        }
    }
}

/// One error per cycle, at the dependency that starts it (unknown names are not edges).
fn cycles(r: &mut Reader, services: &[Outline]) {
    let graph = Graph::from_deps(
        services
            .iter()
            .map(|s| {
                (
                    s.name,
                    s.depends_on.iter().map(|d| d.service.as_str()).collect(),
                )
            })
            .collect(),
    );
    for cycle in graph.cycles() {
        let (from, to) = (cycle[0], cycle[1]);
        let d = services
            .iter()
            .find(|d| d.name == from)
            .expect("cycle member is a service");
        let span = d
            .depends_on
            .iter()
            .zip(&d.dep_spans)
            .find(|(dep, _)| dep.service == to)
            .map(|(_, s)| *s)
            .unwrap_or(d.name_span);
        let message = if cycle.len() == 2 {
            format!(
                "services.{from}.depends_on: dependency cycle: {from} -> {from} (a service cannot depend on itself)"
            )
        } else {
            format!(
                "services.{from}.depends_on: dependency cycle: {}",
                cycle.join(" -> ")
            )
        };
        r.error(span, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_variables() {
        assert!(is_name("api") && is_name("web-2") && is_name("a.b_c"));
        assert!(
            !is_name("") && !is_name("-api") && !is_name("my api") && !is_name(&"a".repeat(64))
        );
        assert_eq!(port_variable("my-api.v2"), "BERTH_MY_API_V2_PORT");
    }
}
