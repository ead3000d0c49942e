//! The copies a source runs of one process (PM2's `instances`, process-compose's `replicas`)
//! as a service's `replicas:`, and, listed, what of theirs berth does not carry: the number
//! each copy is told (counted from 0 there, from 1 in berth) and PM2's cluster mode, whose
//! workers share one port.

use super::leftover::Leftover;
use crate::stack::replicas::MAX;

/// Where a setting stands in the source.
pub struct At<'a> {
    pub file: &'a str,
    pub line: Option<usize>,
    pub key: &'a str,
    pub service: &'a str,
}

/// How many copies the source asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copies {
    Exactly(u64),
    /// One per CPU of the machine, less `spare` (PM2's `max` and `0`; `-1` spares one).
    PerCpu {
        spare: u64,
    },
}

/// How the source runs its copies.
pub struct Source {
    /// The variable it tells each copy its number in, from 0 (`NODE_APP_INSTANCE`).
    pub number_var: &'static str,
    /// The copies share one listening port (PM2's cluster mode), which separate processes
    /// cannot.
    pub shares_port: bool,
}

/// What the import writes for the service.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Mapped {
    /// `replicas:`, `None` for one copy (berth's default).
    pub replicas: Option<u32>,
    /// `autostart: false` for no copy at all: berth runs at least one when it starts one.
    pub no_autostart: bool,
    pub notes: Vec<Leftover>,
}

/// `copies` on a machine of `cpus` CPUs, as berth writes it.
pub fn convert(copies: Copies, cpus: u32, source: &Source, at: &At) -> Mapped {
    let note = |why: String| Leftover::new(at.file, at.line, at.key, why).on(at.service);
    let mut mapped = Mapped::default();
    let count = match copies {
        Copies::Exactly(n) => n,
        Copies::PerCpu { spare } => {
            let n = u64::from(cpus).saturating_sub(spare).max(1);
            if !source.shares_port {
                mapped.notes.push(note(format!(
                    "one copy per CPU{}, written as {n}: the CPUs of the machine that imported \
                     it; change `replicas` for another",
                    if spare > 0 {
                        format!(" but {spare}")
                    } else {
                        String::new()
                    }
                )));
            }
            n
        }
    };
    match count {
        0 => {
            mapped.no_autostart = true;
            mapped.notes.push(note(format!(
                "0 copies: a berth service runs at least one, so it is imported with \
                 `autostart: false` (`berth up {}` starts it)",
                at.service
            )));
        }
        1 => {}
        n if source.shares_port => mapped.notes.push(note(format!(
            "{n} workers sharing one port in cluster mode: berth runs each copy as a process \
             of its own, which cannot share a port, so it runs one; for more, give the app \
             `port` with `alt_ports`, have it listen on PORT, and set `replicas`"
        ))),
        n => {
            let capped = n.min(u64::from(MAX)) as u32;
            if n > u64::from(MAX) {
                mapped.notes.push(note(format!(
                    "{n} copies: berth runs at most {MAX}, written as {MAX}"
                )));
            }
            mapped.replicas = Some(capped);
            mapped.notes.push(note(format!(
                "{} (0 to {}) is not set: each instance, {}.1 to {}.{capped}, is told its \
                 number from 1 in BERTH_REPLICA and `${{replica}}`",
                source.number_var,
                capped - 1,
                at.service,
                at.service
            )));
        }
    }
    mapped
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: At = At {
        file: "process-compose.yaml",
        line: Some(7),
        key: "replicas",
        service: "api",
    };
    const FORK: Source = Source {
        number_var: "PC_REPLICA_NUM",
        shares_port: false,
    };
    const CLUSTER: Source = Source {
        number_var: "NODE_APP_INSTANCE",
        shares_port: true,
    };

    fn whys(m: &Mapped) -> Vec<&str> {
        m.notes.iter().map(|l| l.why.as_str()).collect()
    }

    #[test]
    fn copies_are_replicas_with_the_number_they_are_told_listed() {
        assert_eq!(
            convert(Copies::Exactly(1), 8, &FORK, &AT),
            Mapped::default()
        );
        let m = convert(Copies::Exactly(3), 8, &FORK, &AT);
        assert_eq!((m.replicas, m.no_autostart), (Some(3), false));
        assert_eq!(
            whys(&m),
            [
                "PC_REPLICA_NUM (0 to 2) is not set: each instance, api.1 to api.3, is told its \
              number from 1 in BERTH_REPLICA and `${replica}`"
            ]
        );
        assert_eq!(m.notes[0].line, Some(7));
        assert_eq!(m.notes[0].comment_on.as_deref(), Some("api"));
    }

    #[test]
    fn one_per_cpu_is_this_machines_count_never_below_one() {
        let m = convert(Copies::PerCpu { spare: 0 }, 4, &FORK, &AT);
        assert_eq!(m.replicas, Some(4));
        assert!(whys(&m)[0].starts_with("one copy per CPU, written as 4"));
        let m = convert(Copies::PerCpu { spare: 1 }, 4, &FORK, &AT);
        assert_eq!(m.replicas, Some(3));
        assert!(whys(&m)[0].starts_with("one copy per CPU but 1, written as 3"));
        let m = convert(Copies::PerCpu { spare: 3 }, 2, &FORK, &AT);
        assert_eq!((m.replicas, m.notes.len()), (None, 1), "1 copy: {m:?}");
    }

    #[test]
    fn none_is_a_service_that_does_not_start_and_too_many_are_capped() {
        let m = convert(Copies::Exactly(0), 8, &FORK, &AT);
        assert_eq!((m.replicas, m.no_autostart), (None, true));
        assert!(whys(&m)[0].starts_with("0 copies"));
        let m = convert(Copies::Exactly(5000), 8, &FORK, &AT);
        assert_eq!(m.replicas, Some(MAX));
        assert!(whys(&m)[0].starts_with("5000 copies: berth runs at most 1000"));
    }

    #[test]
    fn workers_sharing_a_port_stay_one_process() {
        let m = convert(Copies::Exactly(4), 8, &CLUSTER, &AT);
        assert_eq!(m.replicas, None);
        assert_eq!(m.notes.len(), 1);
        assert!(whys(&m)[0].starts_with("4 workers sharing one port in cluster mode"));
        // Per CPU in cluster mode says the count once, in the cluster note.
        let m = convert(Copies::PerCpu { spare: 0 }, 2, &CLUSTER, &AT);
        assert_eq!((m.replicas, whys(&m).len()), (None, 1));
        assert!(whys(&m)[0].starts_with("2 workers sharing one port"));
        assert_eq!(
            convert(Copies::Exactly(1), 8, &CLUSTER, &AT),
            Mapped::default()
        );
    }
}
