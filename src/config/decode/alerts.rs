//! Decoding the `alerts:` section: channels (where notifications go) and rules (what fires
//! them). A rule's `when:` is parsed here into its typed condition, with every mistake at its
//! place inside the string; `condition_text` writes a condition back the way it is read.

use crate::api::monitoring::EVENT_KINDS;
use crate::config::interpolate::Scope;
use crate::config::keys;
use crate::config::reader::{Reader, at};
use crate::config::suggest;
use crate::config::units::{format_duration, format_size, parse_duration, parse_size};
use crate::config::yaml::{Kind, Node};
use crate::daemon::supervisor::{HealthState, ServiceState};
use crate::stack::alerts::{
    Action, Alerts, Channel, ChannelKind, Condition, Escalation, Metric, Op, Rule, Severity,
    Threshold, Trigger, Unit,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long an `exec` channel's command may run before it is killed.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// Notifying again more often than once a minute is noise, not news.
const REPEAT_MIN: Duration = Duration::from_secs(60);
/// The keys of a channel that name its kind; a channel has exactly one.
pub const CHANNEL_KINDS: [&str; 4] = ["webhook", "slack", "exec", "alertmanager"];
/// The words a condition may start with besides `Metric::NAMES`.
const SPECIAL_WORDS: [&str; 3] = ["restarts", "health", "state"];
const CONDITION_EXAMPLES: &str =
    "`memory > 500MiB`, `restarts > 3 in 10m`, `health == unhealthy` or `state == failed`";

/// `alerts`. `vars` is where `${VAR}` in URLs, headers and commands is looked up (top-level
/// env files, then the environment); `root_services` is the `services` mapping, for the
/// names rules may cover (and port references, which channels refuse).
pub fn alerts(
    r: &mut Reader,
    node: &Node,
    vars: &[&BTreeMap<String, String>],
    root_services: Option<&Node>,
) -> Option<Alerts> {
    let path = "alerts";
    let fields = r.map(node, path, keys::ALERTS)?;
    let ports = super::monitor::configured_ports(root_services);
    let scope = Scope {
        service: None,
        ports: &ports,
        vars,
    };
    // Every channel's name counts for `notify`, also one whose body is wrong: that problem
    // is reported once, at the channel.
    let channel_names: Vec<&str> = match fields.get("channels").map(|n| &n.kind) {
        Some(Kind::Map(entries)) => entries.iter().filter_map(|(k, _)| k.scalar()).collect(),
        _ => Vec::new(),
    };
    let channels = match fields.get("channels") {
        Some(n) => channels(r, n, &scope),
        None => Some(Vec::new()),
    };
    // Without a `services` mapping (reported elsewhere) no service name can be checked.
    let services: Option<Vec<&str>> = match root_services.map(|n| &n.kind) {
        Some(Kind::Map(entries)) => Some(entries.iter().filter_map(|(k, _)| k.scalar()).collect()),
        _ => None,
    };
    let known = Known {
        services: services.as_deref(),
        channels: &channel_names,
    };
    let rules = match fields.get("rules") {
        Some(n) => rules(r, n, &known),
        None => Some(Vec::new()),
    };
    Some(Alerts {
        channels: channels?,
        rules: rules?,
    })
}

/// Channel names end up in `berth alerts test CHANNEL` and in history rows.
fn is_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Rule names also end up in `berth alerts silence RULE/SERVICE` and Alertmanager's
/// `alertname`: no `/`, no spaces.
fn is_rule_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

fn channels(r: &mut Reader, node: &Node, scope: &Scope) -> Option<Vec<Channel>> {
    let path = "alerts.channels";
    let entries = r.entries(node, path)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (name, key, body) in entries {
        if !is_channel_name(name) {
            r.error(
                key.span,
                at(
                    path,
                    format!("invalid channel name `{name}`; use letters, digits, `_` and `-`"),
                ),
            );
            ok = false;
        }
        match channel(r, name, body, scope) {
            Some(kind) => out.push(Channel {
                name: name.to_string(),
                kind,
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn channel(r: &mut Reader, name: &str, node: &Node, scope: &Scope) -> Option<ChannelKind> {
    let path = format!("alerts.channels.{name}");
    let fields = r.map(node, &path, keys::ALERT_CHANNEL)?;
    let p = |k: &str| format!("{path}.{k}");
    let kinds: Vec<(&str, &Node, &Node)> = fields
        .iter()
        .filter(|(k, _, _)| CHANNEL_KINDS.contains(k))
        .collect();
    let kind = match kinds.as_slice() {
        [] => {
            r.error(
                node.span,
                format!(
                    "{path}: needs one kind: `webhook: URL`, `slack: URL`, `exec: COMMAND` or `alertmanager: URL`"
                ),
            );
            None
        }
        [(kind, _, value)] => match *kind {
            "webhook" => {
                let url = url(r, value, &p("webhook"), scope);
                let headers = match fields.get("headers") {
                    Some(n) => headers(r, n, &p("headers"), scope),
                    None => Some(Vec::new()),
                };
                url.zip(headers)
                    .map(|(url, headers)| ChannelKind::Webhook { url, headers })
            }
            "slack" => url(r, value, &p("slack"), scope).map(|url| ChannelKind::Slack { url }),
            "exec" => {
                let command = command(r, value, &p("exec"), scope);
                let timeout = r.key_or(
                    &fields,
                    &path,
                    "timeout",
                    EXEC_TIMEOUT,
                    Reader::positive_duration,
                );
                command
                    .zip(timeout)
                    .map(|(command, timeout)| ChannelKind::Exec { command, timeout })
            }
            _ => url(r, value, &p("alertmanager"), scope)
                .map(|url| ChannelKind::Alertmanager { url }),
        },
        [(first, _, _), (second, key, _), ..] => {
            r.error(
                key.span,
                format!("{path}: has both `{first}` and `{second}`; keep one kind"),
            );
            None
        }
    };
    let mut misplaced = false;
    if let [(kind, _, _)] = kinds.as_slice() {
        for (key, owner) in [("headers", "webhook"), ("timeout", "exec")] {
            if let Some((k, _)) = fields.entry(key)
                && *kind != owner
            {
                r.error(
                    k.span,
                    format!("{path}: `{key}` applies to `{owner}` channels only"),
                );
                misplaced = true;
            }
        }
    }
    kind.filter(|_| !misplaced)
}

/// A string with `${VAR}` expanded; a service's port is refused, since a channel is set up
/// before any service has started (and a port may move when one does).
fn expand(r: &mut Reader, node: &Node, path: &str, scope: &Scope) -> Option<String> {
    let template = r.template(node, path, scope)?;
    if template.port_refs().next().is_some() {
        r.error(
            node.span,
            at(
                path,
                "a service's port cannot be used here: it is only known once the service starts",
            ),
        );
        return None;
    }
    Some(template.render(&|_| None))
}

/// An `http://` or `https://` URL with a host. A URL that came from a variable is shown as
/// written, never expanded: it is often a secret (a Slack webhook's is).
fn url(r: &mut Reader, node: &Node, path: &str, scope: &Scope) -> Option<String> {
    let text = expand(r, node, path, scope)?;
    let written = node.scalar().unwrap_or_default();
    let shown = if written == text {
        format!("`{text}`")
    } else {
        format!("`{written}` (once expanded)")
    };
    match url_problem(&text) {
        Some(problem) => {
            r.error(
                node.span,
                at(path, format!("invalid URL {shown}: {problem}")),
            );
            None
        }
        None => Some(text),
    }
}

fn url_problem(text: &str) -> Option<String> {
    let Some(rest) = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
    else {
        return Some("use an `http://` or `https://` URL".to_string());
    };
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains whitespace; write a space as `%20`".to_string());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => return Some("`[` is not closed".to_string()),
        },
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Some("it has no host, e.g. `https://hooks.example.com/berth`".to_string());
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Some(format!("`{port}` is not a port from 1 to 65535"));
    }
    None
}

/// `exec`: a line for `sh -c`, `${VAR}` expanded (`$NAME` is left to the shell, which gets
/// `BERTH_ALERT_*` in its environment).
fn command(r: &mut Reader, node: &Node, path: &str, scope: &Scope) -> Option<String> {
    let line = expand(r, node, path, scope)?;
    if line.trim().is_empty() {
        r.error(
            node.span,
            at(path, "empty command; give the program and its arguments"),
        );
        return None;
    }
    Some(line)
}

fn headers(
    r: &mut Reader,
    node: &Node,
    path: &str,
    scope: &Scope,
) -> Option<Vec<(String, String)>> {
    let entries = r.entries(node, path)?;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut ok = true;
    for (name, key, value) in entries {
        // RFC 9110 token characters.
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
        if !valid {
            r.error(
                key.span,
                at(
                    path,
                    format!("`{name}` is not a header name; use letters, digits and `-`"),
                ),
            );
            ok = false;
        } else if out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            r.error(
                key.span,
                at(
                    path,
                    format!("`{name}` is given twice (header names ignore case)"),
                ),
            );
            ok = false;
        }
        let value_path = format!("{path}.{name}");
        match expand(r, value, &value_path, scope) {
            // Never shown: header values are where API keys go.
            Some(text) if text.chars().any(|c| c.is_control()) => {
                r.error(
                    value.span,
                    at(
                        &value_path,
                        "the value has a line break or another control character",
                    ),
                );
                ok = false;
            }
            Some(text) => out.push((name.to_string(), text)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// What a rule may refer to.
struct Known<'a> {
    /// `None` when the config has no readable `services` mapping.
    services: Option<&'a [&'a str]>,
    channels: &'a [&'a str],
}

fn rules(r: &mut Reader, node: &Node, known: &Known) -> Option<Vec<Rule>> {
    let items = r.list(node, "alerts.rules")?;
    let mut names: Vec<(&str, usize)> = Vec::new();
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.into_iter().enumerate() {
        match rule(r, i, item, known, &mut names) {
            Some(rule) => out.push(rule),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A rule's `when:` or `on:`, before `for` is known.
enum Cause {
    When(Condition),
    On(Vec<String>),
}

fn rule<'n>(
    r: &mut Reader,
    index: usize,
    node: &'n Node,
    known: &Known,
    names: &mut Vec<(&'n str, usize)>,
) -> Option<Rule> {
    // Messages name the rule when it has a usable name, else its place in the list.
    let path = match node.get("name").and_then(Node::scalar) {
        Some(name) if is_rule_name(name) => format!("alerts.rules.{name}"),
        _ => format!("alerts.rules[{index}]"),
    };
    let fields = r.map(node, &path, keys::ALERT_RULE)?;
    let p = |k: &str| format!("{path}.{k}");
    let start_errors = r.diags.len();

    let name = match fields.get("name") {
        None => {
            r.error(
                node.span,
                format!("{path}: missing `name`, e.g. `name: api-memory`"),
            );
            None
        }
        Some(n) => r.string(n, &p("name")).and_then(|name| {
            if !is_rule_name(name) {
                r.error(
                    n.span,
                    at(
                        &p("name"),
                        format!(
                            "invalid rule name `{name}`; use letters, digits, `_`, `-` and `.`"
                        ),
                    ),
                );
                return None;
            }
            if let Some((_, line)) = names.iter().find(|(other, _)| *other == name) {
                r.error(
                    n.span,
                    format!(
                        "alerts.rules: duplicate rule name `{name}`; the first is at line {line}"
                    ),
                );
                return None;
            }
            names.push((name, n.span.start.line));
            Some(name.to_string())
        }),
    };

    let triggers: Vec<(&str, &Node, &Node)> = fields
        .iter()
        .filter(|(k, _, _)| *k == "when" || *k == "on")
        .collect();
    // `Some(true)` for an `on:` rule, `Some(false)` for `when:`, `None` when unclear.
    let (is_event, trigger) = match triggers.as_slice() {
        [] => {
            r.error(
                node.span,
                format!(
                    "{path}: needs `when: CONDITION` (e.g. `when: memory > 500MiB`) or `on: EVENT_KIND` (e.g. `on: failed`)"
                ),
            );
            (None, None)
        }
        [("when", _, value)] => (
            Some(false),
            condition(r, value, &p("when")).map(Cause::When),
        ),
        [(_, _, value)] => (Some(true), event_kinds(r, value, &p("on")).map(Cause::On)),
        [(first, _, _), (second, key, _), ..] => {
            r.error(
                key.span,
                format!("{path}: has both `{first}` and `{second}`; a rule has one trigger"),
            );
            (None, None)
        }
    };
    // The metric of a condition about the machine rather than each service.
    let system = match &trigger {
        Some(Cause::When(Condition::Compare { metric, .. })) if metric.is_system() => {
            Some(metric.name())
        }
        _ => None,
    };
    // Keys that only mean something for a `when:` rule; on an `on:` rule they are reported
    // once, and not read.
    let event_rule = is_event == Some(true);
    for key in ["for", "escalate", "repeat", "resolved", "action"] {
        if let Some((k, _)) = fields.entry(key)
            && event_rule
        {
            r.error(
                k.span,
                format!(
                    "{path}: `{key}` has no meaning for an `on:` rule, which notifies once per event; remove it"
                ),
            );
        }
    }
    let when_key = |key: &str| fields.entry(key).filter(|_| !event_rule);
    let for_ = match when_key("for") {
        Some((_, n)) => r.duration(n, &p("for")),
        None => Some(Duration::ZERO),
    };
    let services = match fields.entry("services") {
        None => Some(Vec::new()),
        Some((k, n)) => match system {
            Some(metric) => {
                r.error(
                    k.span,
                    format!(
                        "{path}: `services` has no meaning for {metric}, which is about the machine; remove it"
                    ),
                );
                None
            }
            None => names_of(r, n, &p("services"), "service", known.services),
        },
    };
    let severity = r.key_or(&fields, &path, "severity", Severity::Warning, |r, n, p| {
        r.choice(n, p, &Severity::NAMES, Severity::parse)
    });
    let escalate = match when_key("escalate") {
        Some((_, n)) => escalation(r, n, &p("escalate"), severity).map(Some),
        None => Some(None),
    };
    let repeat = match when_key("repeat") {
        Some((_, n)) => repeat(r, n, &p("repeat")).map(Some),
        None => Some(None),
    };
    let resolved = match when_key("resolved") {
        Some((_, n)) => r.bool(n, &p("resolved")),
        None => Some(true),
    };
    let action = match when_key("action") {
        None => Some(None),
        Some((k, n)) => {
            let action = r.choice(n, &p("action"), &["restart"], |t| {
                (t == "restart").then_some(Action::Restart)
            });
            if let Some(metric) = system {
                r.error(
                    k.span,
                    format!(
                        "{path}: `action: restart` has no service to restart: {metric} is about the machine; remove it"
                    ),
                );
            }
            action.map(Some)
        }
    };
    let notify = match fields.get("notify") {
        Some(n) => names_of(r, n, &p("notify"), "channel", Some(known.channels)),
        None => Some(Vec::new()),
    };
    if r.diags.len() > start_errors {
        return None;
    }
    let trigger = match trigger? {
        Cause::When(condition) => Trigger::When {
            condition,
            for_: for_?,
        },
        Cause::On(kinds) => Trigger::On { kinds },
    };
    Some(Rule {
        name: name?,
        trigger,
        services: services?,
        severity: severity?,
        escalate: escalate?,
        repeat: repeat?,
        resolved: resolved?,
        action: action?,
        notify: notify?,
    })
}

/// `services` or `notify`: one name or a list of them, each one of `defined` (unchecked
/// when `defined` is unknown), none twice.
fn names_of(
    r: &mut Reader,
    node: &Node,
    path: &str,
    what: &str,
    defined: Option<&[&str]>,
) -> Option<Vec<String>> {
    let key = path.rsplit('.').next().unwrap_or(path);
    let all = if what == "service" {
        "cover every service"
    } else {
        "notify every channel"
    };
    let items = r.some_of(node, path, format!("empty; leave `{key}` out to {all}"))?;
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(name) = r.string(item, path) else {
            ok = false;
            continue;
        };
        if let Some(defined) = defined
            && !defined.contains(&name)
        {
            let detail = if defined.is_empty() {
                if what == "channel" {
                    "; `alerts.channels` defines none".to_string()
                } else {
                    String::new()
                }
            } else {
                suggest::hint(name, defined.iter().copied())
            };
            r.error(item.span, at(path, format!("no {what} `{name}`{detail}")));
            ok = false;
        } else if out.iter().any(|n| n == name) {
            r.error(item.span, at(path, format!("`{name}` is listed twice")));
            ok = false;
        } else {
            out.push(name.to_string());
        }
    }
    ok.then_some(out)
}

/// `on:` one event kind or a list of them, as `berth events --kind` knows them.
fn event_kinds(r: &mut Reader, node: &Node, path: &str) -> Option<Vec<String>> {
    let items = r.some_of(
        node,
        path,
        "empty; name the kinds of event to notify about, e.g. `on: [port, failed]`",
    )?;
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(kind) = r.string(item, path) else {
            ok = false;
            continue;
        };
        if !EVENT_KINDS.contains(&kind) {
            let message = format!(
                "unknown event kind `{kind}`{}",
                hint_or_list(kind, EVENT_KINDS.iter().copied())
            );
            r.error(item.span, at(path, message));
            ok = false;
        } else if kind == "alert" {
            // An alert's own transitions and deliveries would notify of themselves.
            r.error(
                item.span,
                at(
                    path,
                    "`alert` events cannot trigger a rule: each would notify of itself; use `notify` on the rules whose alerts you want",
                ),
            );
            ok = false;
        } else if out.iter().any(|k| k == kind) {
            r.error(item.span, at(path, format!("`{kind}` is listed twice")));
            ok = false;
        } else {
            out.push(kind.to_string());
        }
    }
    ok.then_some(out)
}

/// `; did you mean `x`?` when one is close, else the whole list.
fn hint_or_list<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str> + Clone) -> String {
    let hint = suggest::hint(word, candidates.clone());
    if hint.is_empty() {
        let all: Vec<&str> = candidates.into_iter().collect();
        format!("; expected one of: {}", all.join(", "))
    } else {
        hint
    }
}

/// `escalate: {after: D, to: SEVERITY}`, `to` above the rule's own severity (unchecked
/// when that one is wrong: it is reported already).
fn escalation(
    r: &mut Reader,
    node: &Node,
    path: &str,
    severity: Option<Severity>,
) -> Option<Escalation> {
    let fields = r.map(node, path, keys::ALERT_ESCALATE)?;
    let missing: Vec<String> = keys::ALERT_ESCALATE
        .iter()
        .filter(|k| fields.get(k).is_none())
        .map(|k| format!("`{k}`"))
        .collect();
    if !missing.is_empty() {
        r.error(
            node.span,
            at(
                path,
                format!(
                    "missing {}; write e.g. `escalate: {{after: 10m, to: critical}}`",
                    missing.join(" and ")
                ),
            ),
        );
    }
    let after = fields
        .get("after")
        .and_then(|n| r.positive_duration(n, &format!("{path}.after")));
    let to = fields.get("to").and_then(|n| {
        let to_path = format!("{path}.to");
        let to = r.choice(n, &to_path, &Severity::NAMES, Severity::parse)?;
        let severity = severity?;
        if to > severity {
            return Some(to);
        }
        let message = if severity == Severity::Critical {
            "a `critical` rule cannot escalate: nothing is above critical; remove `escalate`"
                .to_string()
        } else {
            let higher: Vec<String> = Severity::NAMES
                .iter()
                .filter(|s| Severity::parse(s).is_some_and(|s| s > severity))
                .map(|s| format!("`{s}`"))
                .collect();
            format!(
                "`{}` is not above the rule's severity, `{}`; escalate to {}",
                to.name(),
                severity.name(),
                higher.join(" or ")
            )
        };
        r.error(n.span, at(&to_path, message));
        None
    });
    Some(Escalation {
        after: after?,
        to: to?,
    })
}

/// `repeat`: at least a minute.
fn repeat(r: &mut Reader, node: &Node, path: &str) -> Option<Duration> {
    let d = r.duration(node, path)?;
    if d < REPEAT_MIN {
        let text = node.scalar().map(str::trim).unwrap_or_default();
        r.error(
            node.span,
            at(
                path,
                format!(
                    "{text} is too short; use at least {}",
                    format_duration(REPEAT_MIN)
                ),
            ),
        );
        return None;
    }
    Some(d)
}

/// `when:`, each problem at its place inside the string.
fn condition(r: &mut Reader, node: &Node, path: &str) -> Option<Condition> {
    let text = r.string(node, path)?;
    match parse_condition(text) {
        Ok(condition) => Some(condition),
        Err(problems) => {
            for p in problems {
                let span = r.inner_span(node, p.offset, p.len);
                r.error(span, at(path, p.message));
            }
            None
        }
    }
}

/// A problem at a character offset inside a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub offset: usize,
    pub len: usize,
    pub message: String,
}

/// A word of the condition: its text and where it starts and ends (bytes).
#[derive(Clone, Copy)]
struct Word<'t> {
    text: &'t str,
    start: usize,
    end: usize,
}

impl<'t> Word<'t> {
    fn problem(&self, whole: &str, message: impl Into<String>) -> Problem {
        Problem {
            offset: whole[..self.start].chars().count(),
            len: self.text.chars().count().max(1),
            message: message.into(),
        }
    }
}

/// The run of characters from byte `from` (after any whitespace) that satisfy `take`.
fn word(text: &str, from: usize, take: impl Fn(char) -> bool) -> Word<'_> {
    let start = from + (text[from..].len() - text[from..].trim_start().len());
    let len = text[start..]
        .char_indices()
        .find(|(_, c)| !take(*c))
        .map_or(text.len() - start, |(i, _)| i);
    Word {
        text: &text[start..start + len],
        start,
        end: start + len,
    }
}

/// The rest of the text from byte `from`, trimmed.
fn rest(text: &str, from: usize) -> Word<'_> {
    let start = from + (text[from..].len() - text[from..].trim_start().len());
    let end = start + text[start..].trim_end().len();
    Word {
        text: &text[start..end],
        start,
        end,
    }
}

fn is_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn is_operator_char(c: char) -> bool {
    c.is_ascii_punctuation() && !"._%$\"'`".contains(c)
}

const OPERATORS: &str = ">, >=, <, <=, == or !=";

/// `METRIC OP VALUE`, `restarts OP N in D`, `health ==|!= HEALTH` or `state ==|!= STATE`,
/// with whitespace optional around OP.
pub fn parse_condition(text: &str) -> Result<Condition, Vec<Problem>> {
    let whole = |message: String| Problem {
        offset: 0,
        len: text.chars().count().max(1),
        message,
    };
    if text.trim().is_empty() {
        return Err(vec![whole(format!(
            "empty condition; write e.g. {CONDITION_EXAMPLES}"
        ))]);
    }
    let subject = word(text, 0, is_metric_char);
    if subject.text.is_empty() {
        return Err(vec![whole(format!(
            "expected a condition like {CONDITION_EXAMPLES}, found `{}`",
            text.trim()
        ))]);
    }
    let mut problems = Vec::new();
    let metric = Metric::parse(subject.text);
    if metric.is_none() && !SPECIAL_WORDS.contains(&subject.text) {
        let names = Metric::NAMES
            .iter()
            .map(|(n, _)| *n)
            .chain(SPECIAL_WORDS.iter().copied());
        problems.push(subject.problem(
            text,
            format!(
                "unknown metric `{}`{}",
                subject.text,
                hint_or_list(subject.text, names)
            ),
        ));
    }
    let op_word = word(text, subject.end, is_operator_char);
    let op = if op_word.text.is_empty() {
        let found = word(text, subject.end, |c| !c.is_whitespace());
        let message = if found.text.is_empty() {
            format!(
                "`{}` needs an operator and a value, e.g. `memory > 500MiB`; the operators are {OPERATORS}",
                subject.text
            )
        } else {
            format!(
                "expected an operator after `{}`, found `{}`; use {OPERATORS}",
                subject.text, found.text
            )
        };
        let at = if found.text.is_empty() {
            subject
        } else {
            found
        };
        problems.push(at.problem(text, message));
        None
    } else {
        match Op::SYMBOLS.iter().find(|(s, _)| *s == op_word.text) {
            Some((_, op)) => Some(*op),
            None => {
                let likely = match op_word.text {
                    "=" => Some("=="),
                    "=>" => Some(">="),
                    "=<" => Some("<="),
                    "=!" | "<>" => Some("!="),
                    _ => suggest::did_you_mean(op_word.text, Op::SYMBOLS.iter().map(|(s, _)| *s)),
                };
                let advice = match likely {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("use {OPERATORS}"),
                };
                problems.push(op_word.problem(
                    text,
                    format!("unknown operator `{}`; {advice}", op_word.text),
                ));
                None
            }
        }
    };
    let (Some(op), true) = (op, problems.is_empty()) else {
        return Err(problems);
    };
    let value = rest(text, op_word.end);
    let result = match (metric, subject.text) {
        (Some(metric), _) => {
            if value.text.is_empty() {
                Err(op_word.problem(
                    text,
                    format!(
                        "missing the value after `{}`; write e.g. `{}`",
                        op.symbol(),
                        example(metric)
                    ),
                ))
            } else {
                threshold(metric, value.text)
                    .map(|threshold| Condition::Compare {
                        metric,
                        op,
                        threshold,
                    })
                    .map_err(|message| value.problem(text, message))
            }
        }
        (None, "restarts") => restarts(text, op, op_word, value),
        (None, subject_text) => {
            let health = subject_text == "health";
            let names: Vec<&str> = if health {
                HealthState::ALL.iter().map(|h| h.name()).collect()
            } else {
                ServiceState::ALL.iter().map(|s| s.name()).collect()
            };
            let example = if health {
                "health == unhealthy"
            } else {
                "state == failed"
            };
            let equal = match op {
                Op::Eq => Some(true),
                Op::Ne => Some(false),
                _ => None,
            };
            match equal {
                None => Err(op_word.problem(
                    text,
                    format!("`{subject_text}` is compared with `==` or `!=`, e.g. `{example}`"),
                )),
                Some(_) if value.text.is_empty() => Err(op_word.problem(
                    text,
                    format!(
                        "missing the {subject_text} after `{}`; use {}",
                        op.symbol(),
                        names.join(", ")
                    ),
                )),
                Some(equal) => {
                    let found = if health {
                        HealthState::ALL
                            .into_iter()
                            .find(|h| h.name() == value.text)
                            .map(|health| Condition::Health { equal, health })
                    } else {
                        ServiceState::ALL
                            .into_iter()
                            .find(|s| s.name() == value.text)
                            .map(|state| Condition::State { equal, state })
                    };
                    found.ok_or_else(|| {
                        value.problem(
                            text,
                            format!(
                                "unknown {subject_text} `{}`{}",
                                value.text,
                                hint_or_list(value.text, names.iter().copied())
                            ),
                        )
                    })
                }
            }
        }
    };
    result.map_err(|p| vec![p])
}

/// `restarts OP N in D`, from the count on.
fn restarts(text: &str, op: Op, op_word: Word, value: Word) -> Result<Condition, Problem> {
    let example = "write e.g. `restarts > 3 in 10m`";
    if value.text.is_empty() {
        return Err(op_word.problem(
            text,
            format!(
                "missing the count and the window after `{}`; {example}",
                op.symbol()
            ),
        ));
    }
    let count = word(text, value.start, |c| !c.is_whitespace());
    let Ok(n) = count.text.parse::<u32>() else {
        return Err(count.problem(
            text,
            format!("`{}` is not a whole number; {example}", count.text),
        ));
    };
    let keyword = word(text, count.end, |c| !c.is_whitespace());
    if keyword.text != "in" {
        return Err(if keyword.text.is_empty() {
            count.problem(
                text,
                format!("missing the window after `{}`; {example}", count.text),
            )
        } else {
            keyword.problem(
                text,
                format!(
                    "expected `in` after the count, found `{}`; {example}",
                    keyword.text
                ),
            )
        });
    }
    let window = rest(text, keyword.end);
    if window.text.is_empty() {
        return Err(keyword.problem(text, format!("missing the window after `in`; {example}")));
    }
    let within = parse_duration(window.text).map_err(|m| window.problem(text, m))?;
    if within.is_zero() {
        return Err(window.problem(text, "the window must be more than 0"));
    }
    Ok(Condition::Restarts {
        op,
        count: n,
        within,
    })
}

/// How a value is written, to say why it does not fit a metric.
enum Written {
    Percent(f64),
    Number(f64),
    Size(u64),
    Duration(Duration),
    Negative,
    Unreadable,
}

/// Digits with an optional fraction: no sign, no exponent, no `inf`.
fn plain_number(text: &str) -> Option<f64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(whole) && digits(fraction))
        .then(|| text.parse().ok())
        .flatten()
}

fn written(value: &str) -> Written {
    if let Some(number) = value.strip_suffix('%') {
        return match plain_number(number.trim_end()) {
            Some(p) => Written::Percent(p),
            None if number.starts_with('-') => Written::Negative,
            None => Written::Unreadable,
        };
    }
    if let Some(n) = plain_number(value) {
        Written::Number(n)
    } else if value.starts_with('-') {
        Written::Negative
    } else if let Ok(bytes) = parse_size(value) {
        Written::Size(bytes)
    } else if let Ok(d) = parse_duration(value) {
        Written::Duration(d)
    } else {
        Written::Unreadable
    }
}

/// What a metric is, for the message when a value does not fit it.
fn description(metric: Metric) -> &'static str {
    match metric {
        Metric::Cpu => "a percent of one core",
        Metric::SystemCpu => "a percent of the whole machine",
        Metric::Memory | Metric::SystemMemory => "a size or a percent of the machine's memory",
        Metric::SystemSwap => "a size",
        Metric::SystemDisk => "a size or a percent of each disk",
        Metric::CheckLatency => "a duration",
        Metric::Fds => "a number of open descriptors",
        Metric::Threads => "a number of threads",
        Metric::Score => "a number from 0 to 100",
        Metric::SystemLoad1 => "a load average",
    }
}

/// A condition on the metric as one would write it.
fn example(metric: Metric) -> &'static str {
    match metric {
        Metric::Cpu => "cpu > 80%",
        Metric::SystemCpu => "system.cpu > 90%",
        Metric::Memory => "memory > 500MiB",
        Metric::SystemMemory => "system.memory > 90%",
        Metric::SystemSwap => "system.swap > 1GiB",
        Metric::SystemDisk => "system.disk > 90%",
        Metric::CheckLatency => "check_latency > 200ms",
        Metric::Fds => "fds > 1000",
        Metric::Threads => "threads > 500",
        Metric::Score => "score < 50",
        Metric::SystemLoad1 => "system.load1 > 4",
    }
}

/// A threshold in the metric's base unit (see `Threshold`), or why `value` does not fit.
fn threshold(metric: Metric, value: &str) -> Result<Threshold, String> {
    let name = metric.name();
    let misfit = |what: &str| {
        let examples = match metric.unit() {
            Unit::BytesOrPercent => {
                let other = match metric {
                    Metric::Memory => "memory > 50%".to_string(),
                    _ => format!("{name} > 10GiB"),
                };
                format!("`{}` or `{other}`", example(metric))
            }
            _ => format!("`{}`", example(metric)),
        };
        format!(
            "{what}, but {name} is {}; write e.g. {examples}",
            description(metric)
        )
    };
    let shown = format!("`{value}`");
    let whole_share = |p: f64| {
        if p > 100.0 {
            Err(format!(
                "{shown} is more than the whole; {name} takes 0% to 100%"
            ))
        } else {
            Ok(p)
        }
    };
    let written = written(value);
    if let Written::Negative = written {
        return Err(format!(
            "{shown} is negative; write e.g. `{}`",
            example(metric)
        ));
    }
    match (metric.unit(), written) {
        (Unit::Percent, Written::Percent(p) | Written::Number(p)) => {
            if metric == Metric::SystemCpu {
                whole_share(p).map(Threshold::Amount)
            } else {
                Ok(Threshold::Amount(p))
            }
        }
        (Unit::BytesOrPercent, Written::Size(bytes)) => Ok(Threshold::Amount(bytes as f64)),
        // berth does not read the swap's size, so a share of it could never be computed.
        (Unit::BytesOrPercent, Written::Percent(_)) if metric == Metric::SystemSwap => Err(
            "system.swap takes a size (e.g. `system.swap > 1GiB`): berth does not know the swap space's total".to_string(),
        ),
        (Unit::BytesOrPercent, Written::Percent(p)) => whole_share(p).map(Threshold::Percent),
        (Unit::Duration, Written::Duration(d)) => Ok(Threshold::Amount(d.as_millis() as f64)),
        (Unit::Duration, Written::Number(0.0)) => Ok(Threshold::Amount(0.0)),
        (Unit::Number, Written::Number(n)) => {
            if metric == Metric::Score && n > 100.0 {
                Err(format!(
                    "{shown} is out of range; score is a number from 0 to 100"
                ))
            } else {
                Ok(Threshold::Amount(n))
            }
        }
        // A number with a unit the parser does not know: its message says which it knows.
        (Unit::BytesOrPercent, Written::Unreadable)
            if value.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            Err(parse_size(value).expect_err("unreadable"))
        }
        (Unit::Duration, Written::Unreadable)
            if value.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            Err(parse_duration(value).expect_err("unreadable"))
        }
        (_, Written::Percent(_)) => Err(misfit(&format!("{shown} is a percent"))),
        (_, Written::Size(_)) => Err(misfit(&format!("{shown} is a size"))),
        (_, Written::Duration(_)) => Err(misfit(&format!("{shown} is a duration"))),
        (_, Written::Number(_)) => Err(misfit(&format!("{shown} has no unit"))),
        (_, Written::Negative | Written::Unreadable) => {
            Err(misfit(&format!("cannot read {shown} as a value")))
        }
    }
}

/// A condition as `when:` reads it: `memory > 500MiB`, `restarts > 3 in 10m`.
pub fn condition_text(condition: &Condition) -> String {
    match condition {
        Condition::Compare {
            metric,
            op,
            threshold,
        } => {
            let value = match (metric.unit(), threshold) {
                (_, Threshold::Percent(p)) => format!("{p}%"),
                (Unit::Percent, Threshold::Amount(p)) => format!("{p}%"),
                (Unit::BytesOrPercent, Threshold::Amount(bytes)) => format_size(*bytes as u64),
                (Unit::Duration, Threshold::Amount(ms)) => {
                    format_duration(Duration::from_millis(*ms as u64))
                }
                (Unit::Number, Threshold::Amount(n)) => format!("{n}"),
            };
            format!("{} {} {value}", metric.name(), op.symbol())
        }
        Condition::Restarts { op, count, within } => format!(
            "restarts {} {count} in {}",
            op.symbol(),
            format_duration(*within)
        ),
        Condition::Health { equal, health } => {
            format!(
                "health {} {}",
                if *equal { "==" } else { "!=" },
                health.name()
            )
        }
        Condition::State { equal, state } => {
            format!(
                "state {} {}",
                if *equal { "==" } else { "!=" },
                state.name()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Condition {
        parse_condition(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    /// The message and the characters it points at.
    fn err(text: &str) -> Vec<(String, String)> {
        let chars: Vec<char> = text.chars().collect();
        parse_condition(text)
            .unwrap_err()
            .into_iter()
            .map(|p| {
                let end = (p.offset + p.len).min(chars.len());
                (chars[p.offset.min(end)..end].iter().collect(), p.message)
            })
            .collect()
    }

    #[test]
    fn conditions_of_every_form() {
        let compare = |metric, op, threshold| Condition::Compare {
            metric,
            op,
            threshold,
        };
        use Threshold::{Amount, Percent};
        assert_eq!(
            ok("memory > 500MiB"),
            compare(Metric::Memory, Op::Gt, Amount((500 << 20) as f64))
        );
        assert_eq!(
            ok("memory>=50%"),
            compare(Metric::Memory, Op::Ge, Percent(50.0))
        );
        assert_eq!(ok("cpu > 80%"), compare(Metric::Cpu, Op::Gt, Amount(80.0)));
        assert_eq!(
            ok(" cpu<=150 "),
            compare(Metric::Cpu, Op::Le, Amount(150.0))
        );
        assert_eq!(
            ok("check_latency > 1m30s"),
            compare(Metric::CheckLatency, Op::Gt, Amount(90_000.0))
        );
        assert_eq!(
            ok("system.load1 != 2.5"),
            compare(Metric::SystemLoad1, Op::Ne, Amount(2.5))
        );
        assert_eq!(
            ok("score < 50"),
            compare(Metric::Score, Op::Lt, Amount(50.0))
        );
        assert_eq!(
            ok("system.disk > 90 %"),
            compare(Metric::SystemDisk, Op::Gt, Percent(90.0))
        );
        assert_eq!(
            ok("restarts > 3 in 10m"),
            Condition::Restarts {
                op: Op::Gt,
                count: 3,
                within: Duration::from_secs(600)
            }
        );
        assert_eq!(
            ok("restarts>=1 in 1h"),
            Condition::Restarts {
                op: Op::Ge,
                count: 1,
                within: Duration::from_secs(3600)
            }
        );
        assert_eq!(
            ok("health == unhealthy"),
            Condition::Health {
                equal: true,
                health: HealthState::Unhealthy
            }
        );
        assert_eq!(
            ok("state!=running"),
            Condition::State {
                equal: false,
                state: ServiceState::Running
            }
        );
    }

    #[test]
    fn mistakes_point_at_their_word() {
        let one = |text: &str| err(text).remove(0);
        assert_eq!(
            one("memry > 1GiB"),
            (
                "memry".into(),
                "unknown metric `memry`; did you mean `memory`?".into()
            )
        );
        assert_eq!(
            one("memory => 1GiB"),
            (
                "=>".into(),
                "unknown operator `=>`; did you mean `>=`?".into()
            )
        );
        assert_eq!(
            one("memory = 1GiB").1,
            "unknown operator `=`; did you mean `==`?"
        );
        assert_eq!(
            one("cpu > 5MiB"),
            (
                "5MiB".into(),
                "`5MiB` is a size, but cpu is a percent of one core; write e.g. `cpu > 80%`".into()
            )
        );
        assert_eq!(
            one("restarts > x in 10m"),
            (
                "x".into(),
                "`x` is not a whole number; write e.g. `restarts > 3 in 10m`".into()
            )
        );
        assert_eq!(one("restarts > 3 within 10m").0, "within");
        assert_eq!(one("restarts > 3").0, "3");
        assert_eq!(
            one("restarts > 3 in 0s").1,
            "the window must be more than 0"
        );
        assert_eq!(one("health > healthy").0, ">");
        assert_eq!(
            one("health == unhealty").1,
            "unknown health `unhealty`; did you mean `unhealthy`?"
        );
        assert_eq!(one("state == gone").0, "gone");
        assert_eq!(one("memory 5GiB").0, "5GiB");
        assert_eq!(one("memory").0, "memory");
        assert_eq!(one("memory >").0, ">");
        assert_eq!(
            one("memory > 150%").1,
            "`150%` is more than the whole; memory takes 0% to 100%"
        );
        assert!(
            one("memory > 90")
                .1
                .starts_with("`90` has no unit, but memory is")
        );
        assert!(
            one("memory > 5 parsecs")
                .1
                .contains("unknown size unit `parsecs`")
        );
        assert!(one("check_latency > 5").1.starts_with("`5` has no unit"));
        assert_eq!(one("score > 101").0, "101");
        assert_eq!(
            one("fds > -1").1,
            "`-1` is negative; write e.g. `fds > 1000`"
        );
        assert_eq!(one("> 5").0, "> 5");
        assert_eq!(one("").1.split(';').next(), Some("empty condition"));
        // Both the metric and the operator are wrong: both are said.
        assert_eq!(err("memry => 1GiB").len(), 2);
        // Characters beyond ASCII never split.
        assert_eq!(one("mémoire > 1GiB").0, "m");
        assert_eq!(one("memory > 1GiB€").0, "1GiB€");
    }

    #[test]
    fn conditions_are_written_as_they_are_read() {
        for text in [
            "memory > 500MiB",
            "memory >= 50%",
            "cpu > 80%",
            "cpu < 12.5%",
            "check_latency > 200ms",
            "check_latency > 0s",
            "fds > 1000",
            "score < 50",
            "system.load1 > 2.5",
            "system.disk > 90%",
            "system.swap > 1000000000B",
            "restarts > 3 in 10m",
            "health == unhealthy",
            "health != healthy",
            "state == failed",
            "state != backoff",
        ] {
            assert_eq!(condition_text(&ok(text)), text);
        }
    }

    #[test]
    fn urls() {
        assert_eq!(url_problem("https://hooks.slack.com/services/T/B/X"), None);
        assert_eq!(url_problem("http://127.0.0.1:9093"), None);
        assert_eq!(url_problem("http://user:pw@[::1]:80/x"), None);
        assert!(
            url_problem("ftp://x")
                .unwrap()
                .contains("`http://` or `https://`")
        );
        assert!(url_problem("http://").unwrap().contains("no host"));
        assert!(url_problem("http://:80/x").unwrap().contains("no host"));
        assert!(
            url_problem("http://h:0")
                .unwrap()
                .contains("`0` is not a port")
        );
        assert!(url_problem("http://h/a b").unwrap().contains("whitespace"));
        assert!(url_problem("http://[::1/x").unwrap().contains("not closed"));
    }
}
