//! A string from berth.yaml after interpolation, with references to service ports kept open:
//! a port can move at start time, and dependents must be told the port the service really got.

use serde::{Deserialize, Serialize};

/// Text with holes for service ports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Text(String),
    /// The port of the named service, as assigned when it starts (`${port}` names its own).
    Port(String),
}

impl Template {
    /// A template with no holes.
    pub fn literal(text: impl Into<String>) -> Template {
        let text = text.into();
        let parts = if text.is_empty() {
            vec![]
        } else {
            vec![Part::Text(text)]
        };
        Template { parts }
    }

    pub fn from_parts(parts: Vec<Part>) -> Template {
        let mut t = Template::default();
        for part in parts {
            t.push(part);
        }
        t
    }

    /// Appends a part, joining neighbouring text.
    pub fn push(&mut self, part: Part) {
        match (self.parts.last_mut(), part) {
            (_, Part::Text(t)) if t.is_empty() => {}
            (Some(Part::Text(prev)), Part::Text(t)) => prev.push_str(&t),
            (_, part) => self.parts.push(part),
        }
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The services whose ports this template uses.
    pub fn port_refs(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Port(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// The text with every port filled in by `port_of` (the validated model guarantees every
    /// referenced service has one; a missing one is shown as the reference itself).
    pub fn render(&self, port_of: &dyn Fn(&str) -> Option<u16>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Port(name) => match port_of(name) {
                    Some(port) => out.push_str(&port.to_string()),
                    None => out.push_str(&format!("${{services.{name}.port}}")),
                },
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_ports_as_assigned() {
        let t = Template::from_parts(vec![
            Part::Text("http://127.0.0.1:".into()),
            Part::Port("api".into()),
            Part::Text("/".into()),
            Part::Text("health".into()),
        ]);
        assert_eq!(t.parts().len(), 3);
        assert_eq!(t.render(&|_| Some(8001)), "http://127.0.0.1:8001/health");
        assert_eq!(t.port_refs().collect::<Vec<_>>(), ["api"]);
    }
}
