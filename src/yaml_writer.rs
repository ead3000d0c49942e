//! Writes a JSON value as block-style YAML, quoting strings only where YAML would read them
//! as something else. Used to print resolved configs that people read and berth can re-read.

use serde_json::Value;

pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        other => {
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&string(key));
        out.push(':');
        write_child(out, value, indent);
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        write_child(out, item, indent);
    }
}

/// After `key:` or `-`: a scalar on the same line, a collection on the lines below.
fn write_child(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(out, items, indent + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

fn inline(value: &Value) -> String {
    match value {
        Value::String(s) => string(s),
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
        other => other.to_string(),
    }
}

/// Plain when unambiguous, else double-quoted (JSON escapes are valid YAML escapes).
pub fn string(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string serializes")
    }
}

/// Whether a plain scalar reads back as this very string under YAML 1.2's core schema.
fn is_plain_safe(s: &str) -> bool {
    let typed = matches!(
        s,
        "~" | "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
            // YAML 1.1 readers take these for booleans; quoting them costs nothing.
            | "yes" | "Yes" | "no" | "No" | "on" | "On" | "off" | "Off" | "y" | "n"
    ) || s.parse::<f64>().is_ok()
        || s.starts_with("0x")
        || s.starts_with("0o")
        || matches!(
            s.to_ascii_lowercase().trim_start_matches(['+', '-']),
            ".inf" | ".nan"
        );
    let indicator_start = s.starts_with([
        '[', ']', '{', '}', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '#', ',', '`',
    ]) || (s.starts_with(['-', '?', ':'])
        && s.chars().nth(1).is_none_or(char::is_whitespace));
    !s.is_empty()
        && !typed
        && !indicator_start
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && s.chars().all(|c| !c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::{self, Kind};
    use serde_json::json;

    #[test]
    fn writes_readable_yaml() {
        let v = json!({"a": 1, "b": {"c": "x y", "d": []}, "e": ["p", {"q": true}], "f": "8000", "g": "a: b"});
        assert_eq!(
            to_yaml(&v),
            "a: 1\nb:\n  c: x y\n  d: []\ne:\n  - p\n  -\n    q: true\nf: \"8000\"\ng: \"a: b\"\n"
        );
    }

    #[test]
    fn strings_read_back_as_the_same_strings() {
        for s in [
            "",
            "true",
            "5s",
            "--port",
            "1.5",
            "0x1F",
            ".inf",
            "-.INF",
            "-",
            "? x",
            "8000",
            "-x",
            "a: b",
            "x #y",
            " lead",
            "trail ",
            "[x]",
            "{y}",
            "*z",
            "line\nbreak",
            "tab\there",
            "ünï",
            "$$HOME",
            "q'uote\"s",
            "%x",
            "@y",
            "x:",
            "- a",
        ] {
            let text = to_yaml(&json!({"k": s}));
            let (root, errors) = yaml::parse(&text);
            assert!(errors.is_empty(), "{s:?} -> {text:?}: {errors:?}");
            let node = root.unwrap();
            let value = node.get("k").unwrap();
            let read = match &value.kind {
                Kind::Scalar { text, .. } => text.clone(),
                other => panic!("{s:?} -> {text:?} read as {other:?}"),
            };
            assert_eq!(read, s, "{text:?}");
        }
    }
}
