//! The berth.yaml an import builds: only what the source set, in berth's own vocabulary, with
//! the source's order of services; written the way a person writes berth.yaml (short maps
//! inline, a blank line between services, notes as comments above what they are about).

use crate::config::units::{format_duration, format_size};
use crate::stack::service::{Condition, RestartMode};
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Draft {
    /// Comment lines on top of the file.
    pub header: Vec<String>,
    pub env_file: Vec<EnvFile>,
    pub env: Vec<(String, String)>,
    pub profiles: Vec<Profile>,
    /// `alerts.rules` that restart a service over a memory limit (PM2 `max_memory_restart`).
    pub memory_rules: Vec<MemoryRule>,
    pub services: Vec<Service>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EnvFile {
    pub path: String,
    pub required: bool,
}

/// A profile that only changes services' variables (PM2 `env_<profile>`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    pub name: String,
    pub services: Vec<(String, Vec<(String, String)>)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MemoryRule {
    pub service: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Shell(String),
    Exec(Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Probe {
    Http(String),
    Exec(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Health {
    pub probe: Probe,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
}

/// One service; `None` and empty fields are left out, so berth's defaults apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub name: String,
    /// Notes about the source kept above the service.
    pub comments: Vec<String>,
    pub command: Command,
    pub cwd: Option<String>,
    pub port: Option<u16>,
    pub env_file: Vec<EnvFile>,
    pub env: Vec<(String, String)>,
    pub depends_on: Vec<(String, Condition)>,
    pub health: Option<Health>,
    pub ready_log: Option<String>,
    pub restart: Option<RestartMode>,
    pub restart_delay: Option<Duration>,
    pub restart_delay_max: Option<Duration>,
    pub min_uptime: Option<Duration>,
    pub max_restarts: Option<u32>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<Duration>,
    pub stop_command: Option<String>,
    pub autostart: Option<bool>,
    pub replicas: Option<u32>,
    pub watch: Option<Watch>,
}

/// `watch:`: written as the shorthand list when only paths are set, else as the full form.
#[derive(Clone, Debug, PartialEq)]
pub struct Watch {
    /// Relative to the service's `cwd`; `.` is the whole of it.
    pub paths: Vec<String>,
    pub ignore: Vec<String>,
    pub debounce: Option<Duration>,
}

impl Service {
    pub fn new(name: &str, command: Command) -> Service {
        Service {
            name: name.to_string(),
            comments: Vec::new(),
            command,
            cwd: None,
            port: None,
            env_file: Vec::new(),
            env: Vec::new(),
            depends_on: Vec::new(),
            health: None,
            ready_log: None,
            restart: None,
            restart_delay: None,
            restart_delay_max: None,
            min_uptime: None,
            max_restarts: None,
            stop_signal: None,
            stop_timeout: None,
            stop_command: None,
            autostart: None,
            replicas: None,
            watch: None,
        }
    }
}

/// A YAML value to write.
#[derive(Clone, Debug, PartialEq)]
enum Yaml {
    Str(String),
    /// Written as it is: numbers, booleans.
    Raw(String),
    Seq(Vec<Yaml>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    key: String,
    value: Yaml,
    comments: Vec<String>,
    /// A blank line before it.
    gap: bool,
    /// Never inline: a service reads best as a block even when it is short.
    block: bool,
}

fn entry(key: &str, value: Yaml) -> Entry {
    Entry {
        key: key.to_string(),
        value,
        comments: Vec::new(),
        gap: false,
        block: false,
    }
}

fn s(text: &str) -> Yaml {
    Yaml::Str(text.to_string())
}

fn raw(value: impl ToString) -> Yaml {
    Yaml::Raw(value.to_string())
}

fn vars(list: &[(String, String)]) -> Yaml {
    Yaml::Map(list.iter().map(|(k, v)| entry(k, s(v))).collect())
}

fn env_files(files: &[EnvFile]) -> Yaml {
    let one = |f: &EnvFile| {
        if f.required {
            s(&f.path)
        } else {
            Yaml::Map(vec![
                entry("path", s(&f.path)),
                entry("required", raw(false)),
            ])
        }
    };
    match files {
        [f] => one(f),
        _ => Yaml::Seq(files.iter().map(one).collect()),
    }
}

fn command(c: &Command) -> Yaml {
    match c {
        Command::Shell(line) => s(line),
        Command::Exec(args) => Yaml::Seq(args.iter().map(|a| s(a)).collect()),
    }
}

fn service(svc: &Service) -> Yaml {
    let mut out = vec![entry("command", command(&svc.command))];
    let mut put = |key: &str, value: Option<Yaml>| {
        if let Some(value) = value {
            out.push(entry(key, value));
        }
    };
    let d = |d: Option<Duration>| d.map(|d| s(&format_duration(d)));
    put("cwd", svc.cwd.as_deref().map(s));
    put("port", svc.port.map(raw));
    put(
        "env_file",
        (!svc.env_file.is_empty()).then(|| env_files(&svc.env_file)),
    );
    put("env", (!svc.env.is_empty()).then(|| vars(&svc.env)));
    put("depends_on", depends_on(&svc.depends_on));
    put("health", svc.health.as_ref().map(health));
    put("ready_log", svc.ready_log.as_deref().map(s));
    put("restart", svc.restart.map(|m| s(m.name())));
    put("restart_delay", d(svc.restart_delay));
    put("restart_delay_max", d(svc.restart_delay_max));
    put("min_uptime", d(svc.min_uptime));
    put("max_restarts", svc.max_restarts.map(raw));
    put("stop_signal", svc.stop_signal.as_deref().map(s));
    put("stop_timeout", d(svc.stop_timeout));
    put("stop_command", svc.stop_command.as_deref().map(s));
    put("autostart", svc.autostart.map(raw));
    put("replicas", svc.replicas.map(raw));
    put("watch", svc.watch.as_ref().map(watch));
    Yaml::Map(out)
}

fn watch(w: &Watch) -> Yaml {
    let list = |items: &[String]| Yaml::Seq(items.iter().map(|i| s(i)).collect());
    if w.ignore.is_empty() && w.debounce.is_none() {
        return list(&w.paths);
    }
    let mut out = vec![entry("paths", list(&w.paths))];
    if !w.ignore.is_empty() {
        out.push(entry("ignore", list(&w.ignore)));
    }
    if let Some(d) = w.debounce {
        out.push(entry("debounce", s(&format_duration(d))));
    }
    Yaml::Map(out)
}

/// A list of names when every condition is the default (`healthy`), else a map of them.
fn depends_on(deps: &[(String, Condition)]) -> Option<Yaml> {
    if deps.is_empty() {
        return None;
    }
    if deps.iter().all(|(_, c)| *c == Condition::Healthy) {
        return Some(Yaml::Seq(deps.iter().map(|(n, _)| s(n)).collect()));
    }
    Some(Yaml::Map(
        deps.iter()
            .map(|(n, c)| entry(n, Yaml::Map(vec![entry("condition", s(c.name()))])))
            .collect(),
    ))
}

fn health(h: &Health) -> Yaml {
    let mut out = vec![match &h.probe {
        Probe::Http(url) => entry("http", s(url)),
        Probe::Exec(cmd) => entry("exec", s(cmd)),
    }];
    if let Some(i) = h.interval {
        out.push(entry("interval", s(&format_duration(i))));
    }
    if let Some(t) = h.timeout {
        out.push(entry("timeout", s(&format_duration(t))));
    }
    if let Some(r) = h.retries {
        out.push(entry("retries", raw(r)));
    }
    Yaml::Map(out)
}

fn profiles(list: &[Profile]) -> Yaml {
    Yaml::Map(
        list.iter()
            .map(|p| {
                let services = p
                    .services
                    .iter()
                    .map(|(name, env)| entry(name, Yaml::Map(vec![entry("env", vars(env))])))
                    .collect();
                entry(
                    &p.name,
                    Yaml::Map(vec![entry("services", Yaml::Map(services))]),
                )
            })
            .collect(),
    )
}

fn rules(list: &[MemoryRule]) -> Yaml {
    let rules = list
        .iter()
        .map(|r| {
            Yaml::Map(vec![
                entry("name", s(&format!("{}-memory", r.service))),
                entry("when", s(&format!("memory > {}", format_size(r.bytes)))),
                entry("services", Yaml::Seq(vec![s(&r.service)])),
                entry("action", s("restart")),
            ])
        })
        .collect();
    Yaml::Map(vec![entry("rules", Yaml::Seq(rules))])
}

/// The draft as berth.yaml text.
pub fn to_yaml(draft: &Draft) -> String {
    let mut top = Vec::new();
    if !draft.env_file.is_empty() {
        top.push(entry("env_file", env_files(&draft.env_file)));
    }
    if !draft.env.is_empty() {
        top.push(entry("env", vars(&draft.env)));
    }
    if !draft.profiles.is_empty() {
        top.push(entry("profiles", profiles(&draft.profiles)));
    }
    if !draft.memory_rules.is_empty() {
        top.push(entry("alerts", rules(&draft.memory_rules)));
    }
    let services = draft
        .services
        .iter()
        .enumerate()
        .map(|(i, svc)| Entry {
            key: svc.name.clone(),
            value: service(svc),
            comments: svc.comments.clone(),
            gap: i > 0,
            block: true,
        })
        .collect();
    top.push(entry("services", Yaml::Map(services)));
    let mut out = String::new();
    for line in &draft.header {
        comment(&mut out, 0, line);
    }
    for (i, e) in top.iter().enumerate() {
        if i > 0 || !draft.header.is_empty() {
            out.push('\n');
        }
        write_entry(&mut out, e, 0);
    }
    out
}

fn comment(out: &mut String, indent: usize, text: &str) {
    for line in text.lines() {
        out.push_str(&" ".repeat(indent));
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
}

/// How wide a line may get before a short map or list is written in block style instead.
const WIDTH: usize = 96;

fn write_entry(out: &mut String, e: &Entry, indent: usize) {
    if e.gap {
        out.push('\n');
    }
    for c in &e.comments {
        comment(out, indent, c);
    }
    let key = crate::yaml_writer::string(&e.key);
    let head = format!("{}{key}:", " ".repeat(indent));
    match &e.value {
        Yaml::Map(m) if m.is_empty() => out.push_str(&format!("{head} {{}}\n")),
        Yaml::Seq(v) if v.is_empty() => out.push_str(&format!("{head} []\n")),
        Yaml::Map(_) | Yaml::Seq(_) => match flow(&e.value).filter(|_| !e.block) {
            Some(f) if head.len() + 1 + f.len() <= WIDTH => {
                out.push_str(&format!("{head} {f}\n"));
            }
            _ => {
                out.push_str(&head);
                out.push('\n');
                write_block(out, &e.value, indent + 2);
            }
        },
        scalar => out.push_str(&format!("{head} {}\n", block_scalar(scalar))),
    }
}

fn write_block(out: &mut String, value: &Yaml, indent: usize) {
    match value {
        Yaml::Map(entries) => {
            for e in entries {
                write_entry(out, e, indent);
            }
        }
        Yaml::Seq(items) => {
            for item in items {
                let pad = " ".repeat(indent);
                match item {
                    Yaml::Map(entries) if !entries.is_empty() => {
                        // `- key: value` and the other keys aligned under the first.
                        let mut inner = String::new();
                        for e in entries {
                            write_entry(&mut inner, e, indent + 2);
                        }
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(&inner[indent + 2..]);
                    }
                    other => match flow(other) {
                        Some(f) => out.push_str(&format!("{pad}- {f}\n")),
                        None => {
                            out.push_str(&format!("{pad}-\n"));
                            write_block(out, other, indent + 2);
                        }
                    },
                }
            }
        }
        scalar => out.push_str(&format!("{}{}\n", " ".repeat(indent), block_scalar(scalar))),
    }
}

fn block_scalar(value: &Yaml) -> String {
    match value {
        Yaml::Str(text) => crate::yaml_writer::string(text),
        Yaml::Raw(text) => text.clone(),
        _ => unreachable!("collections are written by write_block"),
    }
}

/// `{ a: b }` / `[a, b]` for a collection of scalars (or of such collections) with at most
/// four entries, as people write short ones; `None` for longer or deeper ones.
fn flow(value: &Yaml) -> Option<String> {
    match value {
        Yaml::Str(text) => Some(flow_string(text)),
        Yaml::Raw(text) => Some(text.clone()),
        Yaml::Seq(items) if items.len() <= 6 && items.iter().all(is_scalar) => {
            let inner: Option<Vec<String>> = items.iter().map(flow).collect();
            Some(format!("[{}]", inner?.join(", ")))
        }
        Yaml::Map(entries)
            if entries.len() <= 4 && entries.iter().all(|e| e.comments.is_empty()) =>
        {
            let inner: Option<Vec<String>> = entries
                .iter()
                .map(|e| {
                    let nested_ok = is_scalar(&e.value)
                        || matches!(&e.value, Yaml::Map(m) if m.len() == 1 && is_scalar(&m[0].value));
                    nested_ok
                        .then(|| flow(&e.value).map(|v| format!("{}: {v}", flow_string(&e.key))))
                        .flatten()
                })
                .collect();
            Some(format!("{{ {} }}", inner?.join(", ")))
        }
        _ => None,
    }
}

fn is_scalar(value: &Yaml) -> bool {
    matches!(value, Yaml::Str(_) | Yaml::Raw(_))
}

/// Inside `{ }` and `[ ]` a plain scalar also must not hold `,`, brackets or braces; one with
/// `:` or `#` is quoted too, as people do (`{ http: "http://…" }`).
fn flow_string(text: &str) -> String {
    let plain = crate::yaml_writer::string(text);
    if plain.starts_with('"') || !text.contains([',', '[', ']', '{', '}', ':', '#']) {
        plain
    } else {
        serde_json::to_string(text).expect("a string serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_a_person_would() {
        let mut api = Service::new("api", Command::Shell("./api --port ${port}".into()));
        api.port = Some(5000);
        api.env = vec![("A".into(), "1".into()), ("B".into(), "x, y".into())];
        api.depends_on = vec![("db".into(), Condition::Started)];
        api.health = Some(Health {
            probe: Probe::Http("http://127.0.0.1:5000/health".into()),
            interval: Some(Duration::from_secs(2)),
            timeout: None,
            retries: None,
        });
        api.comments = vec!["namespace: backend".into()];
        let mut db = Service::new(
            "db",
            Command::Exec(vec!["postgres".into(), "-D".into(), "data".into()]),
        );
        db.restart = Some(RestartMode::Never);
        let draft = Draft {
            header: vec!["Imported from Procfile.".into()],
            env_file: vec![EnvFile {
                path: ".env".into(),
                required: false,
            }],
            memory_rules: vec![MemoryRule {
                service: "api".into(),
                bytes: 300 << 20,
            }],
            services: vec![api, db],
            ..Draft::default()
        };
        assert_eq!(
            to_yaml(&draft),
            "# Imported from Procfile.\n\
             \n\
             env_file: { path: .env, required: false }\n\
             \n\
             alerts:\n  rules:\n    - name: api-memory\n      when: memory > 300MiB\n      services: [api]\n      action: restart\n\
             \n\
             services:\n  \
               # namespace: backend\n  \
               api:\n    command: ./api --port ${port}\n    port: 5000\n    env: { A: \"1\", B: \"x, y\" }\n    \
               depends_on: { db: { condition: started } }\n    health: { http: \"http://127.0.0.1:5000/health\", interval: 2s }\n\
             \n  \
               db:\n    command: [postgres, -D, data]\n    restart: never\n"
        );
    }

    #[test]
    fn watching_only_paths_is_the_shorthand_and_more_the_full_form() {
        let mut w = Watch {
            paths: vec![".".into()],
            ignore: Vec::new(),
            debounce: None,
        };
        assert_eq!(flow(&watch(&w)).unwrap(), "[.]");
        w.ignore = vec![".*".into(), "node_modules".into()];
        w.debounce = Some(Duration::from_secs(1));
        let mut svc = Service::new("web", Command::Exec(vec!["node".into()]));
        svc.watch = Some(w);
        let draft = Draft {
            services: vec![svc],
            ..Draft::default()
        };
        assert_eq!(
            to_yaml(&draft),
            "services:\n  web:\n    command: [node]\n    watch:\n      paths: [.]\n      \
             ignore: [.*, node_modules]\n      debounce: 1s\n"
        );
    }

    #[test]
    fn healthy_dependencies_are_a_list() {
        let deps = vec![
            ("a".to_string(), Condition::Healthy),
            ("b".to_string(), Condition::Healthy),
        ];
        assert_eq!(flow(&depends_on(&deps).unwrap()).unwrap(), "[a, b]");
    }
}
