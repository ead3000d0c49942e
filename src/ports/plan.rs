//! What `up` does about a service's port before starting it, decided from facts alone (pure,
//! so every strategy and holder class is tested without a socket): use it, adopt a healthy
//! stale instance of the service, stop a stale instance and use the port, stop a foreign
//! holder and use it (aggressive only), move to the first free alternative, or refuse,
//! naming the holder and the way out. SPEC.md's table:
//!
//! | holder    | conservative | intelligent                              | aggressive |
//! |-----------|--------------|------------------------------------------|------------|
//! | stale own | move         | adopt it if its health passes, else replace | replace |
//! | foreign   | move         | move                                     | stop it    |
//! | protected | move         | move                                     | move       |
//!
//! A stale instance still kept by a live shim never reaches this: it is re-adopted fully
//! before. One with no keeper (an orphan of the stack, or a process `match` recognises) is
//! decided here like any holder; `unkept` decides for one that holds no configured port.

use crate::process::ProcessId;
use crate::stack::Strategy;
use crate::stack::ranges::RangeList;

/// Who holds a port, as far as the plan is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holding {
    Free,
    /// An instance of this very service that berth does not keep (marked, or matching
    /// `match`): these processes, and whether its health passes now (see `Decision::Adopt`).
    StaleOwn {
        ids: Vec<ProcessId>,
        healthy: bool,
    },
    /// The same user's process: its description, and the processes to stop.
    Foreign {
        who: String,
        ids: Vec<ProcessId>,
    },
    /// Never to be stopped: its description and why.
    Protected {
        who: String,
        why: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The port is free: start on it.
    Use(u16),
    /// The port is held by a healthy instance of the service nobody keeps: watch it as the
    /// service's instance instead of starting one (`intelligent`).
    Adopt { port: u16, ids: Vec<ProcessId> },
    /// Stop these, then start on the port. `what` says who they were; `stale`: an instance
    /// of the service itself (a replacement), else a foreign holder (aggressive).
    Stop {
        port: u16,
        ids: Vec<ProcessId>,
        what: String,
        stale: bool,
    },
    /// Start on another port.
    Move { from: u16, to: u16, why: String },
    /// Nothing to do but fail, with this message.
    Refuse(String),
}

impl Decision {
    /// What `berth_port_decisions_total` counts it as; a plain start is not a decision.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            Decision::Use(_) => None,
            Decision::Adopt { .. } => Some("adopted"),
            Decision::Stop { stale: true, .. } => Some("replaced"),
            Decision::Stop { stale: false, .. } => Some("stopped"),
            Decision::Move { .. } => Some("moved"),
            Decision::Refuse(_) => Some("refused"),
        }
    }

    /// The line `up` prints and the daemon logs, for anything but a plain start.
    pub fn describe(&self, service: &str) -> Option<String> {
        match self {
            Decision::Use(_) => None,
            Decision::Adopt { port, ids } => Some(format!(
                "{service}: port {port} is held by an instance of it berth did not start ({}), and its health passes, so it was adopted: output not captured",
                pids(ids)
            )),
            Decision::Stop { port, what, .. } => Some(format!(
                "{service}: port {port} was held by {what}; stopped it"
            )),
            Decision::Move { from, to, why } => {
                Some(format!("{service}: port {from} {why}; moved to {to}"))
            }
            Decision::Refuse(why) => Some(format!("{service}: {why}")),
        }
    }
}

pub struct Request<'a> {
    pub service: &'a str,
    pub port: u16,
    pub alt_ports: &'a RangeList,
    pub reserved: &'a RangeList,
    pub strategy: Strategy,
    /// Ports other services of the stack use or are configured with: never moved to.
    pub claimed: &'a [u16],
}

/// Decides for `request`, with `holding` telling who holds any port.
pub fn decide(request: &Request, holding: &dyn Fn(u16) -> Holding) -> Decision {
    let port = request.port;
    let why = match holding(port) {
        Holding::Free => return Decision::Use(port),
        Holding::StaleOwn { ids, healthy } => match (request.strategy, healthy) {
            (Strategy::Conservative, _) => {
                "is held by an instance of it berth does not keep (conservative)".to_string()
            }
            (Strategy::Intelligent, true) => return Decision::Adopt { port, ids },
            (Strategy::Intelligent, false) => {
                return Decision::Stop {
                    port,
                    ids,
                    what: "an instance of it berth did not keep, whose health fails".into(),
                    stale: true,
                };
            }
            (Strategy::Aggressive, _) => {
                return Decision::Stop {
                    port,
                    ids,
                    what: "an instance of it berth did not keep".into(),
                    stale: true,
                };
            }
        },
        Holding::Foreign { who, ids } => {
            if request.strategy == Strategy::Aggressive {
                return Decision::Stop {
                    port,
                    ids,
                    what: who,
                    stale: false,
                };
            }
            format!("is held by {who}")
        }
        Holding::Protected { who, why } => format!("is held by {who} ({why})"),
    };
    let alternative = request.alt_ports.values().find(|&p| {
        p != port
            && !request.reserved.contains(p)
            && !request.claimed.contains(&p)
            && holding(p) == Holding::Free
    });
    match alternative {
        Some(to) => Decision::Move {
            from: port,
            to,
            why,
        },
        None => Decision::Refuse(format!(
            "port {port} {why}, and no alternative is free{}. Free it with `berth ports free {port}`, add free ports to `alt_ports`, or set `ports.strategy`",
            if request.alt_ports.is_empty() {
                " (no `alt_ports`)"
            } else {
                ""
            }
        )),
    }
}

/// What becomes of an instance of the service nobody keeps that holds none of its ports (a
/// service with no port, or an orphan not listening): `intelligent` adopts it when its health
/// passes. Otherwise it is replaced, since there is nothing to move away from and a second
/// instance beside it would be a duplicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unkept {
    Adopt,
    Replace,
}

pub fn unkept(strategy: Strategy, healthy: bool) -> Unkept {
    match (strategy, healthy) {
        (Strategy::Intelligent, true) => Unkept::Adopt,
        _ => Unkept::Replace,
    }
}

/// `pid 41, pid 42`.
fn pids(ids: &[ProcessId]) -> String {
    let named: Vec<String> = ids.iter().map(|id| format!("pid {}", id.pid)).collect();
    named.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{Just, prop_assert, prop_assert_eq, prop_oneof, proptest};

    fn id(pid: u32) -> ProcessId {
        ProcessId { pid, start_time: 1 }
    }

    fn foreign() -> Holding {
        Holding::Foreign {
            who: "pid 7 (alice: node)".into(),
            ids: vec![id(7)],
        }
    }

    fn protected() -> Holding {
        Holding::Protected {
            who: "pid 9 (bob: nginx)".into(),
            why: "another user's".into(),
        }
    }

    fn request<'a>(strategy: Strategy, alt: &'a RangeList, reserved: &'a RangeList) -> Request<'a> {
        Request {
            service: "api",
            port: 8000,
            alt_ports: alt,
            reserved,
            strategy,
            claimed: &[8002],
        }
    }

    #[test]
    fn the_table_of_spec_md() {
        let alt = RangeList::new(vec![(8001, 8005)]);
        let none = RangeList::default();
        let held_at_8000 =
            |h: Holding| move |p: u16| if p == 8000 { h.clone() } else { Holding::Free };
        let moved = Decision::Move {
            from: 8000,
            to: 8001,
            why: String::new(),
        };
        let same = |a: &Decision, b: &Decision| {
            std::mem::discriminant(a) == std::mem::discriminant(b)
                && match (a, b) {
                    (Decision::Move { to: x, .. }, Decision::Move { to: y, .. }) => x == y,
                    (Decision::Adopt { ids: x, .. }, Decision::Adopt { ids: y, .. }) => x == y,
                    _ => true,
                }
        };
        let healthy = Holding::StaleOwn {
            ids: vec![id(5)],
            healthy: true,
        };
        let sick = Holding::StaleOwn {
            ids: vec![id(5)],
            healthy: false,
        };
        let stop = Decision::Stop {
            port: 8000,
            ids: vec![],
            what: String::new(),
            stale: true,
        };
        let adopt = Decision::Adopt {
            port: 8000,
            ids: vec![id(5)],
        };
        let cases = [
            (Strategy::Conservative, healthy.clone(), &moved),
            (Strategy::Conservative, sick.clone(), &moved),
            (Strategy::Intelligent, healthy.clone(), &adopt),
            (Strategy::Intelligent, sick.clone(), &stop),
            (Strategy::Aggressive, healthy, &stop),
            (Strategy::Aggressive, sick, &stop),
            (Strategy::Conservative, foreign(), &moved),
            (Strategy::Intelligent, foreign(), &moved),
            (Strategy::Aggressive, foreign(), &stop),
            (Strategy::Conservative, protected(), &moved),
            (Strategy::Intelligent, protected(), &moved),
            (Strategy::Aggressive, protected(), &moved),
        ];
        for (strategy, holder, expected) in cases {
            let got = decide(
                &request(strategy, &alt, &none),
                &held_at_8000(holder.clone()),
            );
            assert!(same(&got, expected), "{strategy:?} {holder:?}: {got:?}");
        }
        assert_eq!(
            decide(&request(Strategy::Intelligent, &alt, &none), &|_| {
                Holding::Free
            }),
            Decision::Use(8000)
        );
    }

    #[test]
    fn an_unkept_instance_holding_no_port_is_adopted_only_healthy_and_by_intelligent() {
        for (strategy, healthy, expected) in [
            (Strategy::Intelligent, true, Unkept::Adopt),
            (Strategy::Intelligent, false, Unkept::Replace),
            (Strategy::Conservative, true, Unkept::Replace),
            (Strategy::Conservative, false, Unkept::Replace),
            (Strategy::Aggressive, true, Unkept::Replace),
            (Strategy::Aggressive, false, Unkept::Replace),
        ] {
            assert_eq!(
                unkept(strategy, healthy),
                expected,
                "{strategy:?} {healthy}"
            );
        }
    }

    #[test]
    fn an_adoption_is_counted_and_told() {
        let adopt = Decision::Adopt {
            port: 8000,
            ids: vec![id(41), id(42)],
        };
        assert_eq!(adopt.kind(), Some("adopted"));
        assert_eq!(
            adopt.describe("api").unwrap(),
            "api: port 8000 is held by an instance of it berth did not start (pid 41, pid 42), and its health passes, so it was adopted: output not captured"
        );
    }

    #[test]
    fn moves_skip_reserved_claimed_and_taken_ports_and_refuse_when_none_is_left() {
        let alt = RangeList::new(vec![(8000, 8004)]);
        let reserved = RangeList::new(vec![(8001, 8001)]);
        // 8000 foreign, 8001 reserved, 8002 claimed by another service, 8003 taken.
        let holding = |p: u16| match p {
            8000 | 8003 => foreign(),
            _ => Holding::Free,
        };
        let r = request(Strategy::Intelligent, &alt, &reserved);
        assert!(matches!(
            decide(&r, &holding),
            Decision::Move { to: 8004, .. }
        ));
        let all_taken = |p: u16| if p == 8004 { protected() } else { holding(p) };
        match decide(&r, &all_taken) {
            Decision::Refuse(why) => {
                assert!(
                    why.starts_with(
                        "port 8000 is held by pid 7 (alice: node), and no alternative is free."
                    ),
                    "{why}"
                );
                assert!(why.contains("berth ports free 8000"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        let none = RangeList::default();
        match decide(&request(Strategy::Intelligent, &none, &none), &holding) {
            Decision::Refuse(why) => assert!(why.contains("(no `alt_ports`)"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        /// Whatever holds whatever, no plan stops a protected process, and a move only ever
        /// goes to a free, unreserved, unclaimed alternative.
        #[test]
        fn never_stops_the_protected_and_moves_only_to_free_ports(
            strategy in prop_oneof![Just(Strategy::Conservative), Just(Strategy::Intelligent), Just(Strategy::Aggressive)],
            kinds in proptest::collection::vec(0u8..5, 8),
            reserved_at in 0u16..8,
        ) {
            let alt = RangeList::new(vec![(8000, 8007)]);
            let reserved = RangeList::new(vec![(8000 + reserved_at, 8000 + reserved_at)]);
            let holding = |p: u16| match kinds[(p - 8000) as usize % 8] {
                0 => Holding::Free,
                1 => Holding::StaleOwn { ids: vec![id(p as u32)], healthy: true },
                2 => Holding::Foreign { who: "f".into(), ids: vec![id(p as u32)] },
                3 => Holding::Protected { who: "p".into(), why: "w".into() },
                _ => Holding::StaleOwn { ids: vec![id(p as u32)], healthy: false },
            };
            let r = request(strategy, &alt, &reserved);
            match decide(&r, &holding) {
                Decision::Stop { port, .. } => {
                    let held = holding(port);
                    let protected = matches!(held, Holding::Protected { .. });
                    let foreign = matches!(held, Holding::Foreign { .. });
                    prop_assert!(!protected);
                    prop_assert!(!foreign || strategy == Strategy::Aggressive);
                }
                Decision::Move { to, .. } => {
                    prop_assert_eq!(holding(to), Holding::Free);
                    prop_assert!(!reserved.contains(to) && to != 8002 && to != 8000);
                }
                Decision::Use(port) => prop_assert_eq!(holding(port), Holding::Free),
                // Only a healthy instance of the service itself, and only by `intelligent`.
                Decision::Adopt { port, .. } => {
                    let healthy = matches!(holding(port), Holding::StaleOwn { healthy: true, .. });
                    prop_assert!(healthy);
                    prop_assert_eq!(strategy, Strategy::Intelligent);
                }
                Decision::Refuse(_) => {}
            }
        }
    }
}
