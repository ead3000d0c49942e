//! What a notification says, and how each kind of channel is sent it: the webhook's JSON,
//! Slack's `text` and `blocks`, an `exec` command's environment and stdin, Alertmanager's
//! `/api/v2/alerts` body. Pure: built from a `Notification`, tested on literal output.

use crate::logs::time::rfc3339_ms;
use crate::stack::alerts::Severity;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Why a notification is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Firing,
    Resolved,
    /// An `on:` rule's event.
    Event,
    /// `berth alerts test`.
    Test,
}

/// One notification, whatever the channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub status: Status,
    pub rule: String,
    pub severity: Severity,
    pub project: String,
    /// `None` for the machine's (system) conditions.
    pub service: Option<String>,
    /// The value measured, in words with its unit (`612.0MiB`, `93.1%`).
    pub value: Option<String>,
    /// The threshold as written in the rule (`> 500MiB`).
    pub threshold: Option<String>,
    /// When the condition became true (unix ms).
    pub since_ms: u64,
    /// When it resolved (unix ms), for `resolved`.
    pub ended_ms: Option<u64>,
    /// One line: what is wrong.
    pub summary: String,
    /// What to run next (`berth logs api`, `berth restart api` …).
    pub suggestion: String,
    /// The service's last log lines (at most 10).
    pub logs: Vec<String>,
    /// The dashboard's address, when it is served.
    pub dashboard: Option<String>,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
            Status::Event => "event",
            Status::Test => "test",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The webhook's body, also an `exec` command's stdin: the SPEC's shape, every key always
/// present (`null` when unknown), so receivers can rely on it.
pub fn webhook_body(n: &Notification) -> Value {
    json!({
        "version": 1,
        "status": n.status.name(),
        "rule": n.rule,
        "severity": n.severity.name(),
        "project": n.project,
        "service": n.service,
        "value": n.value,
        "threshold": n.threshold,
        "since": rfc3339_ms(n.since_ms),
        "summary": n.summary,
        "suggestion": n.suggestion,
        "logs": n.logs,
        "dashboard": n.dashboard,
    })
}

/// Slack caps a section's text at 3,000 characters (a field's at 2,000, a header's at 150):
/// a longer message is refused whole (`invalid_blocks`), so every text is cut to fit.
const SLACK_TEXT_MAX: usize = 3000;
const SLACK_FIELD_MAX: usize = 2000;
const SLACK_HEADER_MAX: usize = 150;

/// The shortcode Slack shows for a notification: by severity while firing, so a glance at
/// the channel tells a page from a note.
fn slack_emoji(n: &Notification) -> &'static str {
    match n.status {
        Status::Firing => match n.severity {
            Severity::Critical => ":rotating_light:",
            Severity::Warning => ":warning:",
            Severity::Info => ":information_source:",
        },
        Status::Resolved => ":white_check_mark:",
        Status::Event => ":bell:",
        Status::Test => ":test_tube:",
    }
}

/// Where the condition is: the service, or the machine for system rules.
fn subject(n: &Notification) -> String {
    match &n.service {
        Some(service) => format!("{service} ({})", n.project),
        None => format!("the machine ({})", n.project),
    }
}

/// A Slack incoming-webhook message: `text` is what notifications and old clients show,
/// `blocks` the message itself.
pub fn slack_body(n: &Notification) -> Value {
    let emoji = slack_emoji(n);
    let status = n.status.name().to_uppercase();
    let text = format!(
        "{emoji} {status} {}: {}",
        slack_escape(&format!("{} on {}", n.rule, subject(n)), SLACK_TEXT_MAX),
        slack_escape(&n.summary, SLACK_TEXT_MAX)
    );
    // A header is plain text: no escaping, but the emoji shortcode is still rendered.
    let header = truncate(
        &format!("{emoji} {status}: {} on {}", n.rule, subject(n)),
        SLACK_HEADER_MAX,
    );
    let mut fields = vec![
        (
            "Service",
            n.service.clone().unwrap_or_else(|| "system".to_string()),
        ),
        ("Severity", n.severity.name().to_string()),
    ];
    if let Some(value) = &n.value {
        fields.push(("Value", value.clone()));
    }
    if let Some(threshold) = &n.threshold {
        fields.push(("Threshold", threshold.clone()));
    }
    fields.push(("Since", rfc3339_ms(n.since_ms)));
    if let (Status::Resolved, Some(ended)) = (n.status, n.ended_ms) {
        fields.push(("Ended", rfc3339_ms(ended)));
    }
    let fields: Vec<Value> = fields
        .into_iter()
        .map(|(name, value)| {
            let head = format!("*{name}*\n");
            let budget = SLACK_FIELD_MAX - head.chars().count();
            json!({"type": "mrkdwn", "text": format!("{head}{}", slack_escape(&value, budget))})
        })
        .collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": true}}),
        json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": slack_escape(&n.summary, SLACK_TEXT_MAX)},
            "fields": fields,
        }),
    ];
    if !n.suggestion.is_empty() {
        let head = "*Try*\n";
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("{head}{}", slack_code(&n.suggestion, SLACK_TEXT_MAX - head.len()))},
        }));
    }
    if !n.logs.is_empty() {
        let head = "*Last log lines*\n```\n";
        let tail = "\n```";
        let budget = SLACK_TEXT_MAX - head.len() - tail.len();
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("{head}{}{tail}", slack_last_lines(&n.logs, budget))},
        }));
    }
    let mut context = vec![json!({
        "type": "mrkdwn",
        "text": format!("berth · project *{}*", slack_escape(&n.project, 1000)),
    })];
    if let Some(dashboard) = &n.dashboard {
        // `<URL|label>` is Slack's link; a `|` or `>` in the URL would end it early.
        let url = dashboard.replace('|', "%7C").replace('>', "%3E");
        context.push(json!({"type": "mrkdwn", "text": format!("<{url}|dashboard>")}));
    }
    blocks.push(json!({"type": "context", "elements": context}));
    json!({"text": text, "blocks": blocks})
}

/// Slack's mrkdwn takes `&`, `<` and `>` as control characters: they must be sent as
/// entities. Cut to `max` characters *after* escaping, never inside an entity.
fn slack_escape(raw: &str, max: usize) -> String {
    let escaped_len = |c: char| match c {
        '&' => 5,
        '<' | '>' => 4,
        _ => 1,
    };
    let total: usize = raw.chars().map(escaped_len).sum();
    let budget = if total <= max { max } else { max - 1 };
    let mut out = String::with_capacity(raw.len());
    let mut used = 0;
    for c in raw.chars() {
        let n = escaped_len(c);
        if used + n > budget {
            out.push('…');
            break;
        }
        used += n;
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Text inside a code block: a "```" in it would close the block, so it is broken up with a
/// zero-width space (invisible, and copying the command still mostly works).
fn defuse_fences(raw: &str) -> String {
    raw.replace("```", "`\u{200b}``")
}

/// One command as inline code, or as a code block when it holds a backtick (which would end
/// inline code) or several lines.
fn slack_code(raw: &str, max: usize) -> String {
    if raw.contains('`') || raw.contains('\n') {
        format!("```\n{}\n```", slack_escape(&defuse_fences(raw), max - 8))
    } else {
        format!("`{}`", slack_escape(raw, max - 2))
    }
}

/// The newest log lines that fit in `budget` characters, oldest first, a `…` line standing
/// for those left out; a single line longer than that is cut at its end, since a log line
/// says most at its start.
fn slack_last_lines(lines: &[String], budget: usize) -> String {
    let escaped: Vec<String> = lines
        .iter()
        .map(|line| slack_escape(&defuse_fences(line), usize::MAX))
        .collect();
    let length = |line: &String| line.chars().count();
    let total: usize = escaped.iter().map(length).sum::<usize>() + escaped.len().saturating_sub(1);
    if total <= budget {
        return escaped.join("\n");
    }
    // Each kept line costs its length and a newline; "…\n" goes in front.
    let room = budget.saturating_sub(2);
    let mut kept: Vec<&str> = Vec::new();
    let mut used = 0;
    for line in escaped.iter().rev() {
        if used + length(line) + 1 > room {
            break;
        }
        used += length(line) + 1;
        kept.push(line);
    }
    if kept.is_empty() {
        let last = lines.last().map(String::as_str).unwrap_or("");
        return slack_escape(&defuse_fences(last), budget);
    }
    kept.push("…");
    kept.reverse();
    kept.join("\n")
}

/// `s` cut to `max` characters, an ellipsis marking the cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// An `exec` channel's environment (added to the daemon's, which the command needs for
/// `PATH`, `DISPLAY` and the like). Unknown values are empty, so `$BERTH_ALERT_VALUE` is
/// always set; the whole notification is on stdin as the webhook's JSON.
pub fn exec_env(n: &Notification) -> Vec<(String, String)> {
    let var = |name: &str, value: &str| (format!("BERTH_ALERT_{name}"), value.to_string());
    vec![
        var("STATUS", n.status.name()),
        var("RULE", &n.rule),
        var("SEVERITY", n.severity.name()),
        var("PROJECT", &n.project),
        var("SERVICE", n.service.as_deref().unwrap_or("")),
        var("VALUE", n.value.as_deref().unwrap_or("")),
        var("THRESHOLD", n.threshold.as_deref().unwrap_or("")),
        var("SUMMARY", &n.summary),
    ]
}

/// How long Alertmanager keeps a firing alert without hearing of it again.
pub const ALERTMANAGER_HOLD_MS: u64 = 5 * 60 * 1000;

/// The body of Alertmanager's `POST /api/v2/alerts`: an array of one alert. Its labels are
/// its identity (Alertmanager groups, silences and deduplicates by them), its annotations
/// what is shown.
pub fn alertmanager_body(n: &Notification, now_ms: u64) -> Value {
    let mut labels = Map::new();
    labels.insert("alertname".into(), n.rule.clone().into());
    labels.insert("project".into(), n.project.clone().into());
    // A system alert has no `service` label at all: Alertmanager drops labels whose value
    // is empty (an empty value means absent), so the key is left out rather than sent as "".
    if let Some(service) = &n.service {
        labels.insert("service".into(), service.clone().into());
    }
    labels.insert("severity".into(), n.severity.name().into());

    let mut description = Vec::new();
    match (&n.value, &n.threshold) {
        (Some(value), Some(threshold)) => {
            description.push(format!("value {value}, threshold {threshold}"))
        }
        (Some(value), None) => description.push(format!("value {value}")),
        (None, Some(threshold)) => description.push(format!("threshold {threshold}")),
        (None, None) => {}
    }
    if !n.suggestion.is_empty() {
        description.push(format!("try: {}", n.suggestion));
    }
    if !n.logs.is_empty() {
        description.push(format!("last log lines:\n{}", n.logs.join("\n")));
    }

    let ends_ms = match n.status {
        Status::Resolved => n.ended_ms.unwrap_or(now_ms),
        // While firing berth sends the alert again every minute, each time ending it five
        // minutes ahead: should berth die (or lose its network), Alertmanager resolves the
        // alert by itself instead of keeping it firing for ever. An event or a test is a
        // single sending, and goes away the same way.
        Status::Firing | Status::Event | Status::Test => now_ms + ALERTMANAGER_HOLD_MS,
    };
    let mut alert = Map::new();
    alert.insert("labels".into(), Value::Object(labels));
    alert.insert(
        "annotations".into(),
        json!({"summary": n.summary, "description": description.join("\n")}),
    );
    alert.insert("startsAt".into(), rfc3339_ms(n.since_ms).into());
    alert.insert("endsAt".into(), rfc3339_ms(ends_ms).into());
    // Alertmanager checks `generatorURL` is a URI: left out, rather than sent empty.
    if let Some(dashboard) = &n.dashboard {
        alert.insert("generatorURL".into(), dashboard.clone().into());
    }
    Value::Array(vec![Value::Object(alert)])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01T10:58:00.000Z, when the condition became true.
    const SINCE: u64 = 1_796_122_680_000;
    /// 2026-12-01T11:00:00.000Z, when it is sent.
    const NOW: u64 = 1_796_122_800_000;

    fn firing() -> Notification {
        Notification {
            status: Status::Firing,
            rule: "api-memory".into(),
            severity: Severity::Warning,
            project: "shop".into(),
            service: Some("api".into()),
            value: Some("612.0MiB".into()),
            threshold: Some("> 500MiB".into()),
            since_ms: SINCE,
            ended_ms: None,
            summary: "api uses 612.0MiB of memory (> 500MiB for 1m)".into(),
            suggestion: "berth logs api".into(),
            logs: vec!["GET /items 200 3ms".into(), "cache miss <items>".into()],
            dashboard: Some("http://127.0.0.1:7321/".into()),
        }
    }

    fn system() -> Notification {
        Notification {
            status: Status::Resolved,
            rule: "disk".into(),
            severity: Severity::Critical,
            service: None,
            value: Some("85.0%".into()),
            threshold: Some("> 90%".into()),
            ended_ms: Some(1_796_123_010_000),
            summary: "/ is 85.0% full".into(),
            suggestion: String::new(),
            logs: vec![],
            dashboard: None,
            ..firing()
        }
    }

    fn literal(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn webhook_body_is_the_spec_shape() {
        let body = webhook_body(&firing());
        assert_eq!(
            body,
            literal(
                r#"{"version":1,"status":"firing","rule":"api-memory","severity":"warning",
                "project":"shop","service":"api","value":"612.0MiB","threshold":"> 500MiB",
                "since":"2026-12-01T10:58:00.000Z",
                "summary":"api uses 612.0MiB of memory (> 500MiB for 1m)",
                "suggestion":"berth logs api","logs":["GET /items 200 3ms","cache miss <items>"],
                "dashboard":"http://127.0.0.1:7321/"}"#
            )
        );
        // In the SPEC's order, for people reading it raw.
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "version",
                "status",
                "rule",
                "severity",
                "project",
                "service",
                "value",
                "threshold",
                "since",
                "summary",
                "suggestion",
                "logs",
                "dashboard"
            ]
        );
        assert_eq!(
            webhook_body(&system()),
            literal(
                r#"{"version":1,"status":"resolved","rule":"disk","severity":"critical",
                "project":"shop","service":null,"value":"85.0%","threshold":"> 90%",
                "since":"2026-12-01T10:58:00.000Z","summary":"/ is 85.0% full",
                "suggestion":"","logs":[],"dashboard":null}"#
            )
        );
    }

    #[test]
    fn slack_body_has_text_and_blocks() {
        assert_eq!(
            slack_body(&firing()),
            literal(
                r#"{
                "text": ":warning: FIRING api-memory on api (shop): api uses 612.0MiB of memory (&gt; 500MiB for 1m)",
                "blocks": [
                  {"type":"header","text":{"type":"plain_text","text":":warning: FIRING: api-memory on api (shop)","emoji":true}},
                  {"type":"section",
                   "text":{"type":"mrkdwn","text":"api uses 612.0MiB of memory (&gt; 500MiB for 1m)"},
                   "fields":[
                     {"type":"mrkdwn","text":"*Service*\napi"},
                     {"type":"mrkdwn","text":"*Severity*\nwarning"},
                     {"type":"mrkdwn","text":"*Value*\n612.0MiB"},
                     {"type":"mrkdwn","text":"*Threshold*\n&gt; 500MiB"},
                     {"type":"mrkdwn","text":"*Since*\n2026-12-01T10:58:00.000Z"}]},
                  {"type":"section","text":{"type":"mrkdwn","text":"*Try*\n`berth logs api`"}},
                  {"type":"section","text":{"type":"mrkdwn","text":"*Last log lines*\n```\nGET /items 200 3ms\ncache miss &lt;items&gt;\n```"}},
                  {"type":"context","elements":[
                     {"type":"mrkdwn","text":"berth · project *shop*"},
                     {"type":"mrkdwn","text":"<http://127.0.0.1:7321/|dashboard>"}]}
                ]}"#
            )
        );
        assert_eq!(
            slack_body(&system()),
            literal(
                r#"{
                "text": ":white_check_mark: RESOLVED disk on the machine (shop): / is 85.0% full",
                "blocks": [
                  {"type":"header","text":{"type":"plain_text","text":":white_check_mark: RESOLVED: disk on the machine (shop)","emoji":true}},
                  {"type":"section",
                   "text":{"type":"mrkdwn","text":"/ is 85.0% full"},
                   "fields":[
                     {"type":"mrkdwn","text":"*Service*\nsystem"},
                     {"type":"mrkdwn","text":"*Severity*\ncritical"},
                     {"type":"mrkdwn","text":"*Value*\n85.0%"},
                     {"type":"mrkdwn","text":"*Threshold*\n&gt; 90%"},
                     {"type":"mrkdwn","text":"*Since*\n2026-12-01T10:58:00.000Z"},
                     {"type":"mrkdwn","text":"*Ended*\n2026-12-01T11:03:30.000Z"}]},
                  {"type":"context","elements":[{"type":"mrkdwn","text":"berth · project *shop*"}]}
                ]}"#
            )
        );
    }

    #[test]
    fn slack_emoji_follows_status_and_severity() {
        let text = |status, severity| {
            let n = Notification {
                status,
                severity,
                ..firing()
            };
            slack_body(&n)["text"]
                .as_str()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(text(Status::Firing, Severity::Critical), ":rotating_light:");
        assert_eq!(text(Status::Firing, Severity::Info), ":information_source:");
        assert_eq!(text(Status::Event, Severity::Critical), ":bell:");
        assert_eq!(text(Status::Test, Severity::Info), ":test_tube:");
    }

    #[test]
    fn slack_texts_fit_slacks_limits() {
        let n = Notification {
            summary: "&".repeat(5000),
            rule: "r".repeat(300),
            value: Some("v".repeat(2500)),
            suggestion: "berth `logs` api".into(),
            logs: (0..10)
                .map(|i| format!("line {i} ```{}", "<".repeat(400)))
                .collect(),
            ..firing()
        };
        let body = slack_body(&n);
        let mut texts = vec![body["text"].as_str().unwrap().to_string()];
        for block in body["blocks"].as_array().unwrap() {
            if let Some(text) = block["text"]["text"].as_str() {
                let max = if block["type"] == "header" { 150 } else { 3000 };
                assert!(
                    text.chars().count() <= max,
                    "{} > {max}",
                    text.chars().count()
                );
                texts.push(text.to_string());
            }
            for field in block["fields"].as_array().into_iter().flatten() {
                assert!(field["text"].as_str().unwrap().chars().count() <= 2000);
            }
        }
        // Cut between entities, never inside one.
        let summary = body["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(
            summary.ends_with("&amp;…"),
            "{}",
            &summary[summary.len() - 20..]
        );
        // A backtick in the suggestion makes it a block.
        assert_eq!(
            body["blocks"][2]["text"]["text"],
            "*Try*\n```\nberth `logs` api\n```"
        );
        // The newest lines are kept, the others stand as one `…` line; no fence inside.
        let logs = body["blocks"][3]["text"]["text"].as_str().unwrap();
        let inner = logs
            .strip_prefix("*Last log lines*\n```\n")
            .unwrap()
            .strip_suffix("\n```")
            .unwrap();
        assert!(!inner.contains("```"));
        let lines: Vec<&str> = inner.lines().collect();
        assert_eq!(lines[0], "…");
        assert!(lines.last().unwrap().starts_with("line 9 `\u{200b}``&lt;"));
        assert_eq!(lines.len(), 2, "each line is ~1600 escaped characters");
        // One line too long on its own is cut at its end.
        let one = slack_last_lines(&["x".repeat(5000)], 100);
        assert_eq!(one.chars().count(), 100);
        assert!(one.ends_with('…'));
    }

    #[test]
    fn exec_env_names_every_part() {
        assert_eq!(
            exec_env(&firing()),
            [
                ("BERTH_ALERT_STATUS", "firing"),
                ("BERTH_ALERT_RULE", "api-memory"),
                ("BERTH_ALERT_SEVERITY", "warning"),
                ("BERTH_ALERT_PROJECT", "shop"),
                ("BERTH_ALERT_SERVICE", "api"),
                ("BERTH_ALERT_VALUE", "612.0MiB"),
                ("BERTH_ALERT_THRESHOLD", "> 500MiB"),
                (
                    "BERTH_ALERT_SUMMARY",
                    "api uses 612.0MiB of memory (> 500MiB for 1m)"
                ),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let env = exec_env(&Notification {
            value: None,
            ..system()
        });
        assert!(env.contains(&("BERTH_ALERT_SERVICE".into(), String::new())));
        assert!(env.contains(&("BERTH_ALERT_VALUE".into(), String::new())));
    }

    #[test]
    fn alertmanager_body_is_one_postable_alert() {
        assert_eq!(
            alertmanager_body(&firing(), NOW),
            literal(
                r#"[{
                "labels":{"alertname":"api-memory","project":"shop","service":"api","severity":"warning"},
                "annotations":{
                  "summary":"api uses 612.0MiB of memory (> 500MiB for 1m)",
                  "description":"value 612.0MiB, threshold > 500MiB\ntry: berth logs api\nlast log lines:\nGET /items 200 3ms\ncache miss <items>"},
                "startsAt":"2026-12-01T10:58:00.000Z",
                "endsAt":"2026-12-01T11:05:00.000Z",
                "generatorURL":"http://127.0.0.1:7321/"}]"#
            )
        );
        // Resolved: ends when it ended; no service label for the machine; no empty URL.
        assert_eq!(
            alertmanager_body(&system(), NOW),
            literal(
                r#"[{
                "labels":{"alertname":"disk","project":"shop","severity":"critical"},
                "annotations":{"summary":"/ is 85.0% full","description":"value 85.0%, threshold > 90%"},
                "startsAt":"2026-12-01T10:58:00.000Z",
                "endsAt":"2026-12-01T11:03:30.000Z"}]"#
            )
        );
    }
}
