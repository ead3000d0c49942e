//! The JSON Schema of berth.yaml (draft-07, as yaml-language-server reads it), so editors
//! complete keys and flag mistakes while typing. A test keeps it in step with `keys`.

use serde_json::{Value, json};

pub fn schema() -> Value {
    let duration = json!({
        "type": ["string", "integer"],
        "pattern": "^(0|([0-9]+(ms|s|m|h|d))+)$",
        "description": "A duration: `500ms`, `5s`, `2m`, `1h`, `1m30s`."
    });
    let port = json!({"type": "integer", "minimum": 1, "maximum": 65535});
    let range = json!({
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": 65535},
            {"type": "string", "pattern": "^[0-9]+(-[0-9]+)?$"}
        ]
    });
    let ranges = json!({"type": "array", "items": range});
    let command = json!({
        "oneOf": [
            {"type": "string", "minLength": 1, "description": "Run by `sh -c`."},
            {"type": "array", "minItems": 1, "items": {"type": ["string", "number"]}, "description": "Executed as argv, no shell."}
        ]
    });
    let env = json!({
        "type": "object",
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        "description": "Environment variables. `${VAR}`, `${port}`, `${name}` and `${services.NAME.port}` are expanded."
    });
    let env_file_item = json!({
        "oneOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {"path": {"type": "string"}, "required": {"type": "boolean", "default": true}},
                "required": ["path"],
                "additionalProperties": false
            }
        ]
    });
    let env_file = json!({
        "description": "dotenv file(s), relative to the file they are written in; later files override earlier ones.",
        "oneOf": [env_file_item, {"type": "array", "items": env_file_item}]
    });
    let signal = json!({"type": ["string", "integer"], "description": "A signal name (`TERM`, `SIGINT`, `quit`) or number."});
    let health = json!({
        "type": "object",
        "description": "Exactly one of `http`, `tcp` or `exec`. Confirms readiness, then watches liveness.",
        "properties": {
            "http": {"type": "string", "description": "GET this URL; healthy when the status is accepted."},
            "tcp": {"type": "string", "description": "HOST:PORT that must accept a connection."},
            "exec": command,
            "status": {"oneOf": [range, ranges], "description": "Accepted HTTP status codes; default 200-399."},
            "interval": merge(&duration, json!({"default": "5s"})),
            "timeout": merge(&duration, json!({"default": "2s"})),
            "retries": {"type": "integer", "minimum": 1, "default": 3}
        },
        "oneOf": [{"required": ["http"]}, {"required": ["tcp"]}, {"required": ["exec"]}],
        "additionalProperties": false
    });
    let condition = json!({"enum": ["started", "healthy", "completed"], "default": "healthy"});
    let export = json!({
        "type": "object",
        "additionalProperties": false,
        "description": "For `berth export`: the container image (Kubernetes, compose) and the number of copies.",
        "properties": {
            "image": {"type": "string", "minLength": 1, "description": "e.g. ghcr.io/acme/api:1.4"},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1}
        }
    });
    let service = json!({
        "type": "object",
        "required": ["command"],
        "additionalProperties": false,
        "patternProperties": {"^x-": {}},
        "properties": {
            "command": command,
            "cwd": {"type": "string", "description": "Working directory, relative to the file it is written in (default: that file's directory)."},
            "env": env,
            "env_file": env_file,
            "port": merge(&port, json!({"description": "The port the service listens on; given as PORT and ${port}."})),
            "alt_ports": merge(&ranges, json!({"description": "Where the service may move when `port` is taken."})),
            "depends_on": {
                "oneOf": [
                    {"type": "array", "items": {"type": "string"}},
                    {
                        "type": "object",
                        "additionalProperties": {
                            "oneOf": [
                                {"type": "null"},
                                {"type": "object", "properties": {"condition": condition}, "additionalProperties": false}
                            ]
                        }
                    }
                ]
            },
            "health": health,
            "ready_log": {"type": "string", "description": "Ready when an output line matches this regex."},
            "notify": {"type": "boolean", "default": false, "description": "Ready on sd_notify READY=1."},
            "start_timeout": merge(&duration, json!({"default": "60s"})),
            "restart": {"enum": ["on-failure", "always", "never"], "default": "on-failure"},
            "restart_delay": merge(&duration, json!({"default": "100ms"})),
            "restart_delay_max": merge(&duration, json!({"default": "30s"})),
            "min_uptime": merge(&duration, json!({"default": "10s"})),
            "max_restarts": {"type": "integer", "minimum": 0, "default": 5},
            "restart_window": merge(&duration, json!({"default": "60s"})),
            "success_codes": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255}, "default": [0]},
            "stop_signal": merge(&signal, json!({"default": "TERM"})),
            "stop_timeout": merge(&duration, json!({"default": "10s"})),
            "stop_command": {"type": "string", "description": "Run instead of sending stop_signal."},
            "pidfile": {"type": "string", "description": "For a command that daemonizes itself."},
            "match": {"type": "string", "description": "Regex on the command line recognising an instance berth did not start."},
            "critical": {"type": "boolean", "default": true},
            "autostart": {"type": "boolean", "default": true},
            "replicas": {
                "type": "integer", "minimum": 1, "maximum": crate::stack::replicas::MAX,
                "description": "Run this many instances, NAME.1 … NAME.N"
            },
            "log": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "max_size": {"type": ["string", "integer"], "default": "10MiB"},
                    "keep": {"type": "integer", "minimum": 0, "default": 5}
                }
            },
            "export": export,
            "watch": watch(&duration)
        }
    });
    let alerts = alerts(&duration);
    let service_override = json!({
        "type": "object",
        "properties": service["properties"].clone(),
        "patternProperties": {"^x-": {}},
        "additionalProperties": false
    });
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "berth.yaml",
        "description": "The services of a local stack, for berth.",
        "type": "object",
        "anyOf": [{"required": ["services"]}, {"required": ["include"]}],
        "additionalProperties": false,
        "patternProperties": {"^x-": {"description": "Ignored: a place for YAML anchors."}},
        "properties": {
            "include": {
                "description": "Other files merged into this one, before its own keys: paths and globs (`services/*.yaml`, `**/berth.part.yaml`) relative to this file. A path must exist; a glob may match nothing.",
                "oneOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "items": {"type": "string", "minLength": 1}}
                ]
            },
            "project": {"type": "string", "description": "Default: the config file's directory name."},
            "state_dir": {"type": "string", "description": "Default: .berth beside berth.yaml."},
            "env": env,
            "env_file": env_file,
            "ports": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "strategy": {"enum": ["intelligent", "conservative", "aggressive"], "default": "intelligent"},
                    "reserved": ranges,
                    "protect": {"type": "array", "items": {"type": "string"}, "description": "Regexes on command lines berth must never stop."}
                }
            },
            "monitor": {
                "type": "object",
                "additionalProperties": false,
                "description": "How often usage is sampled into history and how long it is kept.",
                "properties": {
                    "interval": merge(&duration, json!({"default": "5s", "description": "How often usage is sampled: 1s to 1h."})),
                    "retention": merge(&duration, json!({"default": "14d", "description": "How long history is kept: at least 1h."})),
                    "max_size": {"type": ["string", "integer"], "default": "200MiB", "description": "Cap on the history database, at least 1MiB; the oldest history goes first."},
                    "disks": {"type": "array", "items": {"type": "string", "minLength": 1}, "description": "File systems whose usage is tracked (paths that exist); default: the state dir's."}
                }
            },
            "api": {
                "type": "object",
                "additionalProperties": false,
                "description": "The API on TCP, off unless `listen` is set.",
                "properties": {
                    "listen": {
                        "type": "string",
                        "pattern": "^(localhost|[0-9.]+|\\[[0-9A-Fa-f:.]+\\]):[0-9]+$",
                        "description": "HOST:PORT with an IP address or `localhost`, e.g. 127.0.0.1:9400. A non-loopback address needs `allow_remote: true`."
                    },
                    "token": {"type": "string", "minLength": 1, "description": "The bearer token, at least 16 characters, e.g. `${BERTH_TOKEN}`; default: generated once into .berth/token."},
                    "metrics_without_token": {"type": "boolean", "default": false, "description": "Lets Prometheus scrape /metrics with no token."},
                    "allow_remote": {"type": "boolean", "default": false, "description": "Allows a non-loopback `listen`."}
                }
            },
            "alerts": alerts,
            "profiles": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "env": env,
                        "env_file": env_file,
                        "services": {"type": "object", "additionalProperties": service_override}
                    }
                }
            },
            "services": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"},
                "additionalProperties": service
            }
        }
    })
}

/// `alerts`: channels by name, and rules.
fn alerts(duration: &Value) -> Value {
    let url = json!({
        "type": "string",
        "pattern": "^(https?://|.*\\$\\{)",
        "description": "An http:// or https:// URL; `${VAR}` is expanded (env files, then the environment)."
    });
    let severity = json!({"enum": ["info", "warning", "critical"]});
    let names = |what: &str| {
        json!({
            "oneOf": [
                {"type": "string"},
                {"type": "array", "minItems": 1, "uniqueItems": true, "items": {"type": "string"}}
            ],
            "description": what
        })
    };
    let kinds = crate::api::monitoring::EVENT_KINDS;
    let channel = json!({
        "type": "object",
        "additionalProperties": false,
        "description": "Exactly one of `webhook`, `slack`, `exec` or `alertmanager`.",
        "properties": {
            "webhook": merge(&url, json!({"description": "POST the notification as JSON to this URL."})),
            "headers": {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
                "description": "Extra headers of a `webhook` request; `${VAR}` is expanded."
            },
            "slack": merge(&url, json!({"description": "A Slack incoming webhook's URL, e.g. `${SLACK_WEBHOOK_URL}`."})),
            "exec": {"type": "string", "minLength": 1, "description": "Run by `sh -c` with BERTH_ALERT_* set and the notification as JSON on stdin."},
            "timeout": merge(duration, json!({"default": "10s", "description": "How long an `exec` command may run."})),
            "alertmanager": merge(&url, json!({"description": "An Alertmanager's base URL; alerts go to /api/v2/alerts."}))
        },
        "oneOf": [
            {"required": ["webhook"]},
            {"required": ["slack"]},
            {"required": ["exec"]},
            {"required": ["alertmanager"]}
        ]
    });
    let rule = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["name"],
        "description": "Exactly one of `when` (a condition) or `on` (event kinds).",
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$", "description": "Unique among the rules."},
            "when": {
                "type": "string",
                "pattern": "^\\s*[A-Za-z0-9_.]+\\s*(>=|<=|==|!=|>|<)\\s*\\S",
                "description": "METRIC OP VALUE: `memory > 500MiB`, `cpu > 80%`, `restarts > 3 in 10m`, `health == unhealthy`, `state == failed`, `system.disk > 90%`."
            },
            "on": {
                "oneOf": [
                    {"enum": kinds},
                    {"type": "array", "minItems": 1, "uniqueItems": true, "items": {"enum": kinds}}
                ],
                "description": "Event kinds, one notification per event."
            },
            "for": merge(duration, json!({"default": "0", "description": "How long the condition must hold before the alert fires (`when` rules)."})),
            "services": names("The services the rule covers; default: every service."),
            "severity": merge(&severity, json!({"default": "warning"})),
            "escalate": {
                "type": "object",
                "additionalProperties": false,
                "required": ["after", "to"],
                "properties": {"after": duration, "to": severity},
                "description": "Raise the severity once the alert has fired this long."
            },
            "repeat": merge(duration, json!({"description": "Notify again while firing, at most this often (at least 1m)."})),
            "resolved": {"type": "boolean", "default": true, "description": "Notify when the alert resolves."},
            "action": {"enum": ["restart"], "description": "Restart the service when the alert fires."},
            "notify": names("The channels to notify; default: every channel.")
        },
        "oneOf": [{"required": ["when"]}, {"required": ["on"]}]
    });
    json!({
        "type": "object",
        "additionalProperties": false,
        "description": "Notifications: where they go (`channels`) and what sends them (`rules`).",
        "properties": {
            "channels": {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z0-9_-]+$"},
                "additionalProperties": channel
            },
            "rules": {"type": "array", "items": rule}
        }
    })
}

/// `base` with `extra`'s keys added.
fn merge(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
    out
}

/// `watch:`: a path, a list of paths, or the full form.
fn watch(duration: &Value) -> Value {
    let paths = json!({
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}, "minItems": 1}
        ]
    });
    json!({
        "description": "Restart the service when these files change (paths and globs, relative to its cwd).",
        "oneOf": [
            paths.clone(),
            {
                "type": "object",
                "required": ["paths"],
                "additionalProperties": false,
                "properties": {
                    "paths": paths,
                    "ignore": {
                        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                        "description": "Globs of files whose changes never restart it."
                    },
                    "debounce": merge(duration, json!({"default": "300ms"})),
                    "gitignore": {"type": "boolean", "default": true, "description": "Skip what .gitignore files exclude."}
                }
            }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys;

    fn properties(v: &Value) -> Vec<String> {
        let mut keys: Vec<String> = v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    fn sorted(list: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn schema_lists_exactly_the_keys_berth_reads() {
        let s = schema();
        let service = &s["properties"]["services"]["additionalProperties"];
        assert_eq!(properties(&s), sorted(keys::TOP));
        assert_eq!(properties(&s["properties"]["ports"]), sorted(keys::PORTS));
        assert_eq!(
            properties(&s["properties"]["monitor"]),
            sorted(keys::MONITOR)
        );
        assert_eq!(properties(&s["properties"]["api"]), sorted(keys::API));
        let alerts = &s["properties"]["alerts"];
        assert_eq!(properties(alerts), sorted(keys::ALERTS));
        assert_eq!(
            properties(&alerts["properties"]["channels"]["additionalProperties"]),
            sorted(keys::ALERT_CHANNEL)
        );
        let rule = &alerts["properties"]["rules"]["items"];
        assert_eq!(properties(rule), sorted(keys::ALERT_RULE));
        assert_eq!(
            properties(&rule["properties"]["escalate"]),
            sorted(keys::ALERT_ESCALATE)
        );
        assert_eq!(
            properties(&s["properties"]["profiles"]["additionalProperties"]),
            sorted(keys::PROFILE)
        );
        assert_eq!(properties(service), sorted(keys::SERVICE));
        assert_eq!(
            properties(&service["properties"]["health"]),
            sorted(keys::HEALTH)
        );
        assert_eq!(properties(&service["properties"]["log"]), sorted(keys::LOG));
        assert_eq!(
            properties(&service["properties"]["export"]),
            sorted(keys::EXPORT)
        );
    }
}
