//! The ports side of starting a service: who holds its port right now (the socket table,
//! the holders' classes, whether an instance of the service holding it is healthy), what
//! `ports::plan` decides about it, and carrying that out (adopt the holder, stop it, or take
//! another port). Also: every service's port as assigned, shared by the
//! supervisors so a dependent started after a move is given the new port.

use crate::ports::Proto;
use crate::ports::holders::{self, Holder};
use crate::ports::plan::{self, Decision, Holding};
use crate::ports::protect::{Class, Context, classify};
use crate::ports::socket_table::{listeners, listeners_on};
use crate::process::ProcessId;
use crate::stack::{Service, Stack};
use std::collections::BTreeMap;
use std::sync::RwLock;

/// Every service's port as assigned: the configured one, or where it was moved.
#[derive(Default)]
pub struct Assigned(RwLock<BTreeMap<String, u16>>);

impl Assigned {
    pub fn get(&self, name: &str) -> Option<u16> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied()
    }

    pub fn set(&self, name: &str, port: u16) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), port);
    }

    /// A service no longer in the stack (an instance scaled away) has no port.
    pub fn forget(&self, name: &str) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// Ports of every service but `name`: assigned, or configured.
    fn claimed_by_others(&self, stack: &Stack, name: &str) -> Vec<u16> {
        let assigned = self.0.read().unwrap_or_else(|e| e.into_inner());
        stack
            .services
            .iter()
            .filter(|s| s.name != name)
            .flat_map(|s| [s.port, assigned.get(&s.name).copied()])
            .flatten()
            .collect()
    }
}

/// Decides what to do about `service`'s configured port, from the machine as it is now.
/// `healthy` runs the service's health check against an instance of it berth does not keep
/// (asked only when the strategy adopts a healthy one: `intelligent`).
pub fn decide(
    stack: &Stack,
    service: &Service,
    assigned: &Assigned,
    healthy: &dyn Fn() -> bool,
) -> Option<Decision> {
    let port = service.port?;
    // The common case costs one read of the port's TCP sockets, filtered by the kernel: free.
    match listeners_on(port, false) {
        Ok(on) if on.is_empty() => return Some(Decision::Use(port)),
        Ok(_) => {}
        // Nothing known: start, and let readiness tell.
        Err(_) => return Some(Decision::Use(port)),
    }
    let Ok(sockets) = listeners(false) else {
        return Some(Decision::Use(port));
    };
    let candidates: std::collections::HashSet<u16> = std::iter::once(port)
        .chain(service.alt_ports.values())
        .collect();
    // Taken: the holders of the port and of the alternatives, in one scan of the processes.
    let tcp: Vec<Holder> = holders::resolve(
        sockets
            .into_iter()
            .filter(|l| l.proto == Proto::Tcp && candidates.contains(&l.port))
            .collect(),
    );
    let context = Context::here(
        Some(stack.state_dir.to_string_lossy().into_owned()),
        stack.ports.protect.clone(),
    );
    let strategy = stack.ports.strategy;
    let holding = |p: u16| -> Holding {
        let on: Vec<&Holder> = tcp.iter().filter(|h| h.port == p).collect();
        // Only the configured port's holder can be adopted, and the check is a probe: made
        // where its answer counts.
        let judge = || p == port && strategy == crate::stack::Strategy::Intelligent && healthy();
        holding_of(&on, service, &context, &judge)
    };
    let claimed = assigned.claimed_by_others(stack, &service.name);
    let request = plan::Request {
        service: &service.name,
        port,
        alt_ports: &service.alt_ports,
        reserved: &stack.ports.reserved,
        strategy,
        claimed: &claimed,
    };
    Some(plan::decide(&request, &holding))
}

/// The class of a port's holders taken together: the most protected one decides. `healthy`
/// is asked when they are an instance of the service itself.
fn holding_of(
    on: &[&Holder],
    service: &Service,
    context: &Context,
    healthy: &dyn Fn() -> bool,
) -> Holding {
    if on.is_empty() {
        return Holding::Free;
    }
    let mut ids: Vec<ProcessId> = Vec::new();
    let mut foreign: Option<String> = None;
    for h in on {
        let class = match classify(h, context) {
            Class::Foreign
                if service
                    .matches
                    .as_ref()
                    .is_some_and(|m| m.is_match(h.command.as_deref().unwrap_or(""))) =>
            {
                Class::Ours(service.name.clone())
            }
            class => class,
        };
        match class {
            Class::Ours(name) if name == service.name => {}
            Class::Ours(other) => {
                return Holding::Protected {
                    who: format!("`{other}` of this stack"),
                    why: "a service of the same stack".into(),
                };
            }
            Class::OtherStack {
                project, service, ..
            } => {
                return Holding::Protected {
                    who: format!("`{service}` of berth project `{project}`"),
                    why: "its own supervisor would start it again".into(),
                };
            }
            Class::Protected(why) => {
                return Holding::Protected {
                    who: h.describe(),
                    why,
                };
            }
            Class::Unseen => {
                return Holding::Protected {
                    who: h.describe(),
                    why: "berth cannot see that process".into(),
                };
            }
            Class::Foreign => {
                foreign.get_or_insert_with(|| h.describe());
            }
        }
        ids.extend(h.process);
    }
    ids.sort_by_key(|id| (id.pid, id.start_time));
    ids.dedup();
    match foreign {
        Some(who) => Holding::Foreign { who, ids },
        None => Holding::StaleOwn {
            ids,
            healthy: healthy(),
        },
    }
}

/// Whether someone other than the service's own instance `shim` listens on `port` now: a
/// start that failed because the port was grabbed meanwhile.
pub fn grabbed(port: u16, shim: u32) -> Option<String> {
    let on = holders::on_port(port).ok()?;
    let own = crate::process::table::descendants(shim);
    on.iter()
        .filter(|h| h.proto == Proto::Tcp)
        .find(|h| h.pid.is_none_or(|p| p != shim && !own.contains(&p)))
        .map(Holder::describe)
}
