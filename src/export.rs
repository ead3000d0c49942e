//! `berth export`: the stack handed to an engine that runs it elsewhere — systemd user
//! units, Kubernetes manifests, a docker compose file. A client of the model only: it reads
//! the loaded `Stack`; each target's mapping is pure and says what it could not carry over.

pub mod compose;
pub mod kubernetes;
pub mod systemd;

use crate::stack::service::Command;
use crate::stack::{Service, Stack};
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Systemd,
    Kubernetes,
    Compose,
}

/// A file the export writes: its name (for a directory target) and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub name: String,
    pub text: String,
}

/// Something of the stack the target has no place for, with the services it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub services: Vec<String>,
    pub key: String,
    pub why: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.services.join(", "),
            self.key,
            self.why
        )
    }
}

/// What an export produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    pub files: Vec<File>,
    pub notes: Vec<Note>,
}

/// Collects notes, one per (key, reason) with every service it concerns, in first-seen order.
#[derive(Default)]
pub struct Notes(Vec<Note>);

impl Notes {
    pub fn add(&mut self, service: &str, key: &str, why: impl Into<String>) {
        let why = why.into();
        match self.0.iter_mut().find(|n| n.key == key && n.why == why) {
            Some(n) => n.services.push(service.to_string()),
            None => self.0.push(Note {
                services: vec![service.to_string()],
                key: key.to_string(),
                why,
            }),
        }
    }

    pub fn into_vec(self) -> Vec<Note> {
        self.0
    }
}

/// Options of `berth export`.
#[derive(Clone, Debug)]
pub struct Options {
    pub skip_missing: bool,
    /// `MAJOR.MINOR` of the Kubernetes the manifests are for.
    pub kube_version: String,
}

/// The services an image-based target leaves out for having no `export.image`, as a refusal
/// when `--skip-missing` was not given.
pub fn without_image<'a>(
    stack: &'a Stack,
    options: &Options,
    notes: &mut Notes,
) -> Result<Vec<&'a Service>, String> {
    let missing: Vec<&str> = stack
        .services
        .iter()
        .filter(|s| s.export.image.is_none())
        .map(|s| s.name.as_str())
        .collect();
    if !missing.is_empty() && !options.skip_missing {
        let list: Vec<String> = missing
            .iter()
            .map(|n| {
                format!("  {n}: no `export.image`, so there is nothing for a container to run")
            })
            .collect();
        return Err(format!(
            "{} service{} cannot be exported without an image:\n{}\ngive each one `export: {{ image: \"registry/name:tag\" }}`, or pass --skip-missing to leave them out",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            list.join("\n")
        ));
    }
    for name in &missing {
        notes.add(
            name,
            "export.image",
            "none given; left out (--skip-missing)",
        );
    }
    Ok(stack
        .services
        .iter()
        .filter(|s| s.export.image.is_some())
        .collect())
}

/// Exports `stack` to `target`.
/// A service with `replicas` is exported as its instances, each its own unit.
pub fn export(stack: &Stack, target: Target, options: &Options) -> Result<Exported, String> {
    let stack = &stack.with_instance_dependencies();
    match target {
        Target::Systemd => Ok(systemd::export(stack)),
        Target::Kubernetes => kubernetes::export(stack, options),
        Target::Compose => compose::export(stack, options),
    }
}

/// A template with the configured ports filled in.
pub fn render(stack: &Stack, t: &crate::stack::template::Template) -> String {
    t.render(&|name| stack.configured_port(name))
}

/// The service's argv as a container runs it: a shell line under `sh -c`.
pub fn argv(stack: &Stack, command: &Command) -> Vec<String> {
    command.argv(&|name| stack.configured_port(name))
}

/// The variables the service is given: its config's, and `PORT` as berth sets it.
pub fn environment(stack: &Stack, s: &Service) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = s
        .env
        .iter()
        .map(|(k, v)| (k.clone(), render(stack, v)))
        .collect();
    if let Some(port) = s.port
        && !s.env.contains_key("PORT")
    {
        env.push(("PORT".to_string(), port.to_string()));
    }
    env
}

/// The service's working directory, absolute (relative ones are from the config's directory).
pub fn working_dir(stack: &Stack, s: &Service) -> PathBuf {
    let dir = stack.file.parent().unwrap_or(Path::new("/"));
    let cwd = render(stack, &s.cwd);
    let path = if cwd.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(cwd)
    };
    path.components().collect()
}

/// Seconds as the engines take them: whole, at least one.
pub fn whole_seconds(d: std::time::Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

/// A service's value that reaches another service on this machine (`127.0.0.1:PORT` or
/// `localhost:PORT` of a service's port): on other machines services are found by name.
pub fn local_references(stack: &Stack, s: &Service) -> bool {
    let refs = s
        .env
        .values()
        .chain(s.command.templates())
        .any(|t| t.port_refs().any(|n| n != s.name));
    refs && stack
        .services
        .iter()
        .any(|o| o.name != s.name && o.port.is_some())
}

/// `HOST:PORT` or a URL's authority split into host and port.
pub fn host_port(text: &str) -> Option<(String, u16)> {
    let authority = text.split_once("://").map_or(text, |(_, rest)| rest);
    let authority = authority.split('/').next().unwrap_or(authority);
    let (host, port) = authority.rsplit_once(':')?;
    Some((
        host.trim_matches(['[', ']']).to_string(),
        port.parse().ok()?,
    ))
}

/// The path (and query) of an http URL, `/` when none.
pub fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_addresses_split() {
        assert_eq!(
            host_port("http://127.0.0.1:8000/health"),
            Some(("127.0.0.1".into(), 8000))
        );
        assert_eq!(host_port("[::1]:9000"), Some(("::1".into(), 9000)));
        assert_eq!(host_port("localhost"), None);
        assert_eq!(url_path("http://127.0.0.1:8000/health?x=1"), "/health?x=1");
        assert_eq!(url_path("http://127.0.0.1:8000"), "/");
        assert_eq!(whole_seconds(std::time::Duration::from_millis(100)), 1);
        assert_eq!(whole_seconds(std::time::Duration::from_millis(2500)), 3);
    }

    #[test]
    fn notes_group_services() {
        let mut notes = Notes::default();
        notes.add("a", "health", "no checks");
        notes.add("b", "health", "no checks");
        notes.add("b", "ready_log", "no logs");
        let v = notes.into_vec();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].to_string(), "a, b: health: no checks");
    }
}
