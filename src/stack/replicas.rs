//! Replicas: a service with `replicas: N` runs as N instances `NAME.1` … `NAME.N`, each a
//! service of the stack in its own right (a slot in the daemon, a log, a run file, a row of
//! `status`, a metrics label), made from the definition as written. Pure: how instances are
//! made, named and numbered, and what `berth scale` changes, decided here and tested from
//! tables; the daemon and the CLI only ever see services.

use super::Stack;
use super::health::Probe;
use super::ranges::RangeList;
use super::service::{Command, Dependency, Service};
use super::template::Template;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most instances one service may have: more is a typo, not a pool.
pub const MAX: u32 = 1000;

/// What an instance knows of its service: the definition's name and its own number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    pub of: String,
    /// 1 … count.
    pub index: u32,
}

/// A service with `replicas` as written (templates with `${replica}` open), and how many
/// instances of it the stack has: what new instances are made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replicated {
    pub count: u32,
    pub definition: Service,
}

/// The name of instance `index` of `of`.
pub fn instance_name(of: &str, index: u32) -> String {
    format!("{of}.{index}")
}

/// The ports instances 1, 2, … are configured with: `port`, then `alt_ports` in order, the
/// reserved ones left out. Empty for a service without a port.
pub fn ports(definition: &Service, reserved: &RangeList) -> Vec<u16> {
    let Some(first) = definition.port else {
        return Vec::new();
    };
    let mut out = vec![first];
    for p in definition.alt_ports.values() {
        if !reserved.contains(p) && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Why `count` instances of `definition` cannot be made, if they cannot.
pub fn check_count(definition: &Service, count: u32, reserved: &RangeList) -> Result<(), String> {
    if !(1..=MAX).contains(&count) {
        return Err(format!(
            "{count} instances: the count is 1 to {MAX} (to stop every instance, `berth down {}`; to keep a service defined without starting it, `autostart: false`)",
            definition.name
        ));
    }
    let ports = ports(definition, reserved);
    if definition.port.is_some() && ports.len() < count as usize {
        return Err(format!(
            "{count} instances need {count} ports, and `port` and `alt_ports` give {} ({}); add ports to `alt_ports`",
            ports.len(),
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

/// Instances 1 … `count` of `definition` (the count checked by `check_count`): named
/// `NAME.i`, `${replica}` filled in, its own port the *i*-th of `ports`, and a reference to
/// another replicated service's port (one of `groups`) made that service's first instance's.
pub fn instances(
    definition: &Service,
    count: u32,
    reserved: &RangeList,
    groups: &[&str],
) -> Vec<Service> {
    let ports = ports(definition, reserved);
    (1..=count)
        .map(|index| {
            let of = definition.name.as_str();
            let mut instance = map_templates(definition, &|t| {
                let mut t = t.for_instance(of, index);
                for group in groups.iter().filter(|g| **g != of) {
                    t.first_instance_of(group);
                }
                t
            });
            instance.name = instance_name(of, index);
            instance.port = ports.get(index as usize - 1).copied();
            instance.replica = Some(Replica {
                of: of.to_string(),
                index,
            });
            instance
        })
        .collect()
}

/// The first instance configured with a port another service (or instance) has: the
/// instance, the other, the port.
pub fn port_clash(services: &[Service]) -> Option<(&str, &str, u16)> {
    let mut owners: BTreeMap<u16, &Service> = BTreeMap::new();
    for s in services {
        let Some(port) = s.port else { continue };
        if let Some(other) = owners.insert(port, s) {
            let (instance, other) = match s.replica {
                Some(_) => (s, other),
                None => (other, s),
            };
            if instance.replica.is_some() {
                return Some((&instance.name, &other.name, port));
            }
        }
    }
    None
}

/// The words for a `port_clash`.
pub fn describe_clash((instance, other, port): (&str, &str, u16)) -> String {
    format!(
        "instance `{instance}` would be configured with port {port}, which `{other}` has; give `alt_ports` that no other service uses"
    )
}

/// A plain service's references to the ports of replicated ones (`groups`) made their first
/// instances'.
pub fn settle(service: &Service, groups: &[&str]) -> Service {
    map_templates(service, &|t| {
        let mut t = t.clone();
        for group in groups {
            t.first_instance_of(group);
        }
        t
    })
}

/// `service` with `f` applied to every template it holds.
fn map_templates(service: &Service, f: &dyn Fn(&Template) -> Template) -> Service {
    let command = |c: &Command| match c {
        Command::Shell(line) => Command::Shell(f(line)),
        Command::Exec(args) => Command::Exec(args.iter().map(f).collect()),
    };
    let mut out = service.clone();
    out.command = command(&service.command);
    out.cwd = f(&service.cwd);
    out.env = service.env.iter().map(|(k, v)| (k.clone(), f(v))).collect();
    if let Some(health) = &mut out.health {
        health.probe = match &health.probe {
            Probe::Http { url, status } => Probe::Http {
                url: f(url),
                status: status.clone(),
            },
            Probe::Tcp { address } => Probe::Tcp {
                address: f(address),
            },
            Probe::Exec { command: c } => Probe::Exec {
                command: command(c),
            },
        };
    }
    out.stop.command = service.stop.command.as_ref().map(f);
    out
}

impl Stack {
    /// The services `name` stands for: itself, or every instance of a replicated service.
    pub fn members(&self, name: &str) -> Vec<&Service> {
        match self.service(name) {
            Some(s) => vec![s],
            None => self
                .services
                .iter()
                .filter(|s| s.replica.as_ref().is_some_and(|r| r.of == name))
                .collect(),
        }
    }

    /// Whether `name` is a service or a replicated service of the stack.
    pub fn knows(&self, name: &str) -> bool {
        self.service(name).is_some() || self.replicated.contains_key(name)
    }

    /// `names` with each replicated service replaced by its instances, in config order, each
    /// name once; unknown names are kept (for the caller to refuse).
    pub fn expand_names(&self, names: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for name in names {
            let members: Vec<String> = match self.members(name) {
                m if m.is_empty() => vec![name.clone()],
                m => m.into_iter().map(|s| s.name.clone()).collect(),
            };
            for m in members {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        out
    }

    /// Every service's name, a replicated one as itself and as each of its instances: what
    /// a command line may name.
    pub fn nameable(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for s in &self.services {
            match &s.replica {
                Some(r) if r.index == 1 => out.extend([r.of.as_str(), s.name.as_str()]),
                _ => out.push(s.name.as_str()),
            }
        }
        out
    }

    /// The stack with `count` instances of the replicated service `name`: the new ones made
    /// after the last, the extra ones (the highest) taken away. Other services are unchanged.
    pub fn scale(&mut self, name: &str, count: u32) -> Result<(), String> {
        let Some(replicated) = self.replicated.get(name) else {
            return Err(match self.service(name) {
                Some(_) => format!(
                    "`{name}` has no `replicas` key; add `replicas: 1` to its definition (its instance is then `{name}.1`) and run `berth up` to make it scalable"
                ),
                None => format!("no service `{name}` in the config"),
            });
        };
        let definition = replicated.definition.clone();
        check_count(&definition, count, &self.ports.reserved)
            .map_err(|e| format!("`{name}`: {e}"))?;
        let groups: Vec<String> = self.replicated.keys().cloned().collect();
        let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
        let fresh = instances(&definition, count, &self.ports.reserved, &groups);
        let at = self
            .services
            .iter()
            .position(|s| s.replica.as_ref().is_some_and(|r| r.of == name))
            .unwrap_or(self.services.len());
        let mut services = self.services.clone();
        services.retain(|s| s.replica.as_ref().is_none_or(|r| r.of != name));
        services.splice(at..at, fresh);
        if let Some(clash) = port_clash(&services) {
            return Err(format!("`{name}`: {}", describe_clash(clash)));
        }
        self.services = services;
        if let Some(r) = self.replicated.get_mut(name) {
            r.count = count;
        }
        Ok(())
    }

    /// The stack with each dependency on a replicated service written as one on each of its
    /// instances, for what reads `depends_on` as names of services (`berth export`).
    pub fn with_instance_dependencies(&self) -> Stack {
        let mut out = self.clone();
        for service in &mut out.services {
            service.depends_on = service
                .depends_on
                .iter()
                .flat_map(|d| {
                    self.members(&d.service).into_iter().map(|m| Dependency {
                        service: m.name.clone(),
                        condition: d.condition,
                    })
                })
                .collect();
        }
        out
    }

    /// How many instances each replicated service has.
    pub fn counts(&self) -> BTreeMap<String, u32> {
        self.replicated
            .iter()
            .map(|(name, r)| (name.clone(), r.count))
            .collect()
    }
}

/// The stack a berth.yaml of `yaml` loads as (the directory kept while it is used).
#[cfg(test)]
pub(crate) fn load(yaml: &str) -> (tempfile::TempDir, Stack) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("berth.yaml");
    std::fs::write(&file, yaml).unwrap();
    let stack = crate::config::load(&file, &Default::default()).unwrap();
    (dir, stack)
}

#[cfg(test)]
mod tests {
    use super::load;

    const POOL: &str = "ports: { reserved: [8001] }\nservices:\n  db:\n    command: db\n    port: 5432\n  api:\n    command: api --id ${replica} --port ${port} --db ${services.db.port}\n    cwd: w${replica}\n    env: { SLOT: 'n${replica}' }\n    port: 8000\n    alt_ports: [8001-8004]\n    replicas: 3\n    health: { http: 'http://127.0.0.1:${port}/' }\n  web:\n    command: web ${services.api.port} ${services.api.ports}\n    depends_on: [api]\n";

    #[test]
    fn instances_are_named_numbered_and_given_ports_in_order() {
        let (_dir, stack) = load(POOL);
        let names: Vec<&str> = stack.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "api.1", "api.2", "api.3", "web"]);
        let port_of = |n: &str| stack.configured_port(n);
        // 8001 is reserved: the ports handed out are 8000, 8002, 8003.
        let ports: Vec<Option<u16>> = stack.members("api").iter().map(|s| s.port).collect();
        assert_eq!(ports, [Some(8000), Some(8002), Some(8003)]);
        let second = stack.service("api.2").unwrap();
        assert_eq!(
            second.command.argv(&port_of),
            ["sh", "-c", "api --id 2 --port 8002 --db 5432"]
        );
        assert_eq!(second.cwd.render(&port_of), "w2");
        assert_eq!(second.env["SLOT"].render(&port_of), "n2");
        assert_eq!(second.replica.as_ref().unwrap().of, "api");
        let web = stack.service("web").unwrap();
        assert_eq!(
            web.command.argv(&port_of)[2],
            "web 8000 8000,8002,8003",
            "${{services.api.port}} is the first instance's"
        );
        assert_eq!(stack.counts()["api"], 3);
        assert!(stack.knows("api") && stack.knows("api.3") && !stack.knows("api.4"));
        assert_eq!(
            stack.expand_names(&["web".into(), "api".into(), "api.2".into()]),
            ["web", "api.1", "api.2", "api.3"]
        );
        assert_eq!(
            stack.nameable(),
            ["db", "api", "api.1", "api.2", "api.3", "web"]
        );
    }

    #[test]
    fn scaling_adds_after_the_last_and_takes_the_highest_away() {
        let (_dir, mut stack) = load(POOL);
        let before = stack.clone();
        stack.scale("api", 4).unwrap();
        let names: Vec<&str> = stack.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "api.1", "api.2", "api.3", "api.4", "web"]);
        assert_eq!(stack.service("api.4").unwrap().port, Some(8004));
        assert_eq!(
            stack.service("api.1"),
            before.service("api.1"),
            "kept instances are unchanged"
        );
        stack.scale("api", 1).unwrap();
        let names: Vec<&str> = stack.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "api.1", "web"]);
        stack.scale("api", 3).unwrap();
        assert_eq!(stack, before, "scaling back gives the stack as loaded");
        let web = stack.with_instance_dependencies();
        let deps: Vec<&str> = web
            .service("web")
            .unwrap()
            .depends_on
            .iter()
            .map(|d| d.service.as_str())
            .collect();
        assert_eq!(deps, ["api.1", "api.2", "api.3"]);

        let refusals = [
            (
                "api",
                5,
                "5 instances need 5 ports, and `port` and `alt_ports` give 4 (8000, 8002, 8003, 8004)",
            ),
            ("api", 0, "the count is 1 to 1000"),
            ("web", 2, "`web` has no `replicas` key"),
            ("cache", 2, "no service `cache` in the config"),
        ];
        for (name, count, expected) in refusals {
            let err = stack.scale(name, count).unwrap_err();
            assert!(err.contains(expected), "{name}={count}: {err}");
            assert_eq!(stack, before, "a refused scale changes nothing");
        }
    }
}
