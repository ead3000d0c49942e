//! How log records look on screen: when several services interleave, each line starts with
//! `name | `, the names padded to one width and each in its own colour; berth's own notes
//! are dimmed and tagged `[berth]`; times are shown on request.

use crate::logs::read::Record;
use crate::style::Style;

pub struct LogLines {
    names: Vec<String>,
    width: usize,
    prefix: bool,
    timestamps: bool,
    style: Style,
}

impl LogLines {
    /// Prefixes only when there is more than one service to tell apart.
    pub fn new(names: &[String], timestamps: bool, style: Style) -> LogLines {
        LogLines {
            names: names.to_vec(),
            width: names.iter().map(String::len).max().unwrap_or(0),
            prefix: names.len() > 1,
            timestamps,
            style,
        }
    }

    pub fn format(&self, name: &str, record: &Record) -> String {
        let mut line = String::new();
        if self.prefix {
            let index = self.names.iter().position(|n| n == name).unwrap_or(0);
            let padded = format!("{name:<width$}", width = self.width);
            line.push_str(&self.style.tint(index, &padded));
            line.push_str(&self.style.dim(" | "));
        }
        if self.timestamps && !record.time.is_empty() {
            line.push_str(&record.time);
            line.push(' ');
        }
        if record.stream == "berth" {
            line.push_str(&self.style.dim(&format!("[berth] {}", record.text)));
        } else {
            line.push_str(&record.text);
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stream: &str, text: &str) -> Record {
        Record {
            time: "2026-11-22T04:30:00.123Z".into(),
            stream: stream.into(),
            text: text.into(),
        }
    }

    #[test]
    fn one_service_is_bare_several_are_prefixed_and_aligned() {
        let one = LogLines::new(&["api".into()], false, Style::PLAIN);
        assert_eq!(one.format("api", &record("out", "hello")), "hello");
        let two = LogLines::new(&["db".into(), "api".into()], true, Style::PLAIN);
        assert_eq!(
            two.format("db", &record("berth", "exited with code 0")),
            "db  | 2026-11-22T04:30:00.123Z [berth] exited with code 0"
        );
    }

    #[test]
    fn each_service_has_its_own_colour_on_a_terminal() {
        let style = Style::coloured();
        let lines = LogLines::new(&["db".into(), "api".into()], false, style);
        let db = lines.format("db", &record("out", "x"));
        let api = lines.format("api", &record("out", "x"));
        assert!(db.starts_with("\x1b[36mdb "), "{db:?}");
        assert!(api.starts_with("\x1b[35mapi"), "{api:?}");
    }
}
