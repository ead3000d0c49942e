//! Kubernetes manifests: per service a ConfigMap of its environment, a Deployment (image,
//! replicas, probes from `health` or the port, initContainers that wait for what it depends
//! on, terminationGracePeriodSeconds from `stop_timeout`) and, with a port, a Service.

use super::{
    Exported, File, Notes, Options, argv, environment, host_port, url_path, whole_seconds,
};
use crate::stack::health::{Health, Probe};
use crate::stack::service::{Condition, RestartMode};
use crate::stack::{Service, Stack};
use crate::yaml_writer::to_yaml;
use serde_json::{Map, Value, json};

/// The image the init containers that wait for a dependency run (`nc` is in busybox).
pub const WAIT_IMAGE: &str = "busybox:1.36";

pub fn export(stack: &Stack, options: &Options) -> Result<Exported, String> {
    let mut notes = Notes::default();
    let services = super::without_image(stack, options, &mut notes)?;
    let exported: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    let mut docs = Vec::new();
    for s in &services {
        let name = dns_name(&s.name);
        if name != s.name {
            notes.add(
                &s.name,
                "name",
                format!("Kubernetes names are DNS labels: `{name}`"),
            );
        }
        let env = environment(stack, s);
        if !env.is_empty() {
            docs.push(json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": metadata(stack, &format!("{name}-env"), &s.name),
                "data": env.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>(),
            }));
        }
        docs.push(deployment(
            stack,
            s,
            &name,
            !env.is_empty(),
            &exported,
            &mut notes,
        ));
        if let Some(port) = s.port {
            docs.push(json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata(stack, &name, &s.name),
                "spec": {
                    "selector": labels(stack, &s.name),
                    "ports": [{"name": "main", "port": port, "targetPort": port, "protocol": "TCP"}],
                },
            }));
        }
        lost(stack, s, &mut notes);
    }
    let text: Vec<String> = docs.iter().map(to_yaml).collect();
    Ok(Exported {
        files: vec![File {
            name: format!("{}.yaml", stack.project),
            text: format!(
                "# The {} stack for Kubernetes {}, exported by `berth export kubernetes`.\n---\n{}",
                stack.project,
                options.kube_version,
                text.join("---\n")
            ),
        }],
        notes: notes.into_vec(),
    })
}

/// A DNS-1123 label: lower case, digits and `-`, at most 63 characters.
pub fn dns_name(name: &str) -> String {
    let mut out: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    out.truncate(63);
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "service".to_string()
    } else {
        out
    }
}

fn labels(stack: &Stack, service: &str) -> Value {
    json!({
        "app.kubernetes.io/name": dns_name(service),
        "app.kubernetes.io/part-of": dns_name(&stack.project),
    })
}

fn metadata(stack: &Stack, name: &str, service: &str) -> Value {
    json!({"name": name, "labels": labels(stack, service)})
}

fn deployment(
    stack: &Stack,
    s: &Service,
    name: &str,
    has_env: bool,
    exported: &[&str],
    notes: &mut Notes,
) -> Value {
    let mut container = Map::new();
    container.insert("name".into(), json!(name));
    container.insert("image".into(), json!(s.export.image));
    container.insert("command".into(), json!(argv(stack, &s.command)));
    if has_env {
        container.insert(
            "envFrom".into(),
            json!([{"configMapRef": {"name": format!("{name}-env")}}]),
        );
    }
    if let Some(port) = s.port {
        container.insert(
            "ports".into(),
            json!([{"containerPort": port, "name": "main"}]),
        );
    }
    if let Some(probe) = probe(stack, s, notes) {
        container.insert("readinessProbe".into(), probe.clone());
        container.insert("livenessProbe".into(), probe);
    }
    let mut pod = Map::new();
    let waits = init_containers(stack, s, exported, notes);
    if !waits.is_empty() {
        pod.insert("initContainers".into(), json!(waits));
    }
    pod.insert("containers".into(), json!([container]));
    pod.insert(
        "terminationGracePeriodSeconds".into(),
        json!(whole_seconds(s.stop.timeout)),
    );
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(stack, name, &s.name),
        "spec": {
            "replicas": s.export.replicas,
            "selector": {"matchLabels": labels(stack, &s.name)},
            "template": {
                "metadata": {"labels": labels(stack, &s.name)},
                "spec": pod,
            },
        },
    })
}

/// One init container per dependency with a port, waiting until its Service answers.
fn init_containers(stack: &Stack, s: &Service, exported: &[&str], notes: &mut Notes) -> Vec<Value> {
    let mut out = Vec::new();
    for d in &s.depends_on {
        let dep = stack
            .service(&d.service)
            .expect("a stack's dependencies exist");
        let key = format!("depends_on.{}", d.service);
        if !exported.contains(&d.service.as_str()) {
            notes.add(
                &s.name,
                &key,
                "the dependency is not exported; nothing waits for it",
            );
            continue;
        }
        if d.condition == Condition::Completed {
            notes.add(&s.name, &key, "a Deployment cannot wait for another to complete; run the dependency as a Job first");
            continue;
        }
        let Some(port) = dep.port else {
            notes.add(
                &s.name,
                &key,
                "the dependency has no port to wait for; the pods start together",
            );
            continue;
        };
        let host = dns_name(&d.service);
        out.push(json!({
            "name": format!("wait-for-{host}"),
            "image": WAIT_IMAGE,
            "command": ["sh", "-c", format!("until nc -z {host} {port}; do sleep 1; done")],
        }));
    }
    out
}

/// The probe from `health`, else a TCP check of the port, else none.
fn probe(stack: &Stack, s: &Service, notes: &mut Notes) -> Option<Value> {
    let Some(h) = &s.health else {
        return s
            .port
            .map(|port| json!({"tcpSocket": {"port": port}, "periodSeconds": 5}));
    };
    let mut p = match &h.probe {
        Probe::Http { url, status } => {
            let url = super::render(stack, url);
            if status != &crate::stack::health::default_status() {
                notes.add(
                    &s.name,
                    "health.status",
                    "Kubernetes takes 200-399 as healthy",
                );
            }
            let port = host_port(&url).map(|(_, p)| p)?;
            json!({"httpGet": {"path": url_path(&url), "port": port}})
        }
        Probe::Tcp { address } => {
            let port = host_port(&super::render(stack, address)).map(|(_, p)| p)?;
            json!({"tcpSocket": {"port": port}})
        }
        Probe::Exec { command } => json!({"exec": {"command": argv(stack, command)}}),
    };
    timing(&mut p, h);
    Some(p)
}

fn timing(p: &mut Value, h: &Health) {
    p["periodSeconds"] = json!(whole_seconds(h.interval));
    p["timeoutSeconds"] = json!(whole_seconds(h.timeout));
    p["failureThreshold"] = json!(h.retries.max(1));
}

fn lost(stack: &Stack, s: &Service, notes: &mut Notes) {
    if s.restart.mode != RestartMode::Always {
        notes.add(&s.name, "restart", format!(
            "a Deployment restarts its pods whatever they exit with (berth: {}); a run-once service is a Job",
            s.restart.mode.name()
        ));
    }
    if !s.cwd.parts().is_empty() {
        notes.add(
            &s.name,
            "cwd",
            "a path of this machine; the image sets the working directory",
        );
    }
    if s.ready_log.is_some() {
        notes.add(
            &s.name,
            "ready_log",
            "Kubernetes cannot wait for a log line",
        );
    }
    if s.stop.signal != crate::stack::signal::Signal::TERM {
        notes.add(
            &s.name,
            "stop_signal",
            "Kubernetes stops with SIGTERM; set STOPSIGNAL in the image",
        );
    }
    if s.stop.command.is_some() {
        notes.add(
            &s.name,
            "stop_command",
            "put it in a preStop hook if the image has what it runs",
        );
    }
    if super::local_references(stack, s) {
        notes.add(&s.name, "env", "refers to other services by 127.0.0.1 and their port; in Kubernetes they are found by their Service's name");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_name("api"), "api");
        assert_eq!(dns_name("Worker_Fast.1"), "worker-fast-1");
        assert_eq!(dns_name("__"), "service");
        assert_eq!(dns_name(&"x".repeat(70)).len(), 63);
    }
}
