//! A string from berth.yaml after interpolation, with references to service ports kept open:
//! a port can move at start time, and dependents must be told the port the service really got.
//! `${replica}` is a hole too until a replicated service is made into its instances.

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
    /// `${services.NAME.ports}`: the ports of every instance of a replicated service (the
    /// one port of a plain one), comma-separated, as assigned.
    Ports(String),
    /// `${replica}`: the instance's number, filled in when the instances are made.
    Replica,
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
            Part::Port(name) | Part::Ports(name) => Some(name.as_str()),
            Part::Text(_) | Part::Replica => None,
        })
    }

    /// Whether `${replica}` is in it.
    pub fn uses_replica(&self) -> bool {
        self.parts.contains(&Part::Replica)
    }

    /// The text with every port filled in by `port_of` (the validated model guarantees every
    /// referenced service has one; a missing one is shown as the reference itself).
    pub fn render(&self, port_of: &dyn Fn(&str) -> Option<u16>) -> String {
        self.render_parts(port_of, &|t| t.to_string())
    }

    /// As `render`, but in berth.yaml's own syntax: text with `$` written `$$`, and the holes
    /// nothing fills (`${replica}`, an unknown port) written as references, so that loading
    /// the output again yields the same template.
    pub fn render_escaped(&self, port_of: &dyn Fn(&str) -> Option<u16>) -> String {
        self.render_parts(port_of, &|t| t.replace('$', "$$"))
    }

    fn render_parts(
        &self,
        port_of: &dyn Fn(&str) -> Option<u16>,
        text: &dyn Fn(&str) -> String,
    ) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(&text(t)),
                Part::Port(name) => match port_of(name) {
                    Some(port) => out.push_str(&port.to_string()),
                    None => out.push_str(&format!("${{services.{name}.port}}")),
                },
                Part::Ports(name) => match ports_of(name, port_of) {
                    ports if ports.is_empty() => {
                        out.push_str(&format!("${{services.{name}.ports}}"))
                    }
                    ports => out.push_str(&ports.join(",")),
                },
                Part::Replica => out.push_str("${replica}"),
            }
        }
        out
    }

    /// The template of instance `index` of the replicated service `of`: `${replica}` filled
    /// in, and its own port (`${port}`) made the instance's.
    pub fn for_instance(&self, of: &str, index: u32) -> Template {
        Template::from_parts(
            self.parts
                .iter()
                .map(|part| match part {
                    Part::Replica => Part::Text(index.to_string()),
                    Part::Port(name) if name == of => {
                        Part::Port(super::replicas::instance_name(of, index))
                    }
                    other => other.clone(),
                })
                .collect(),
        )
    }

    /// A reference to the port of a replicated service `of` made the first instance's (the
    /// one that always exists), as `${services.NAME.port}` means.
    pub fn first_instance_of(&mut self, of: &str) {
        for part in &mut self.parts {
            if matches!(part, Part::Port(name) if name == of) {
                *part = Part::Port(super::replicas::instance_name(of, 1));
            }
        }
    }
}

/// The ports of `name`: its own when it is a plain service, else those of its instances
/// `NAME.1`, `NAME.2`, … (numbered without gaps) in order.
fn ports_of(name: &str, port_of: &dyn Fn(&str) -> Option<u16>) -> Vec<String> {
    if let Some(port) = port_of(name) {
        return vec![port.to_string()];
    }
    (1..)
        .map_while(|i| port_of(&super::replicas::instance_name(name, i)))
        .map(|p| p.to_string())
        .collect()
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

    #[test]
    fn instances_fill_in_their_number_and_own_port_and_lists_take_every_instance() {
        let t = Template::from_parts(vec![
            Part::Text("w-".into()),
            Part::Replica,
            Part::Text(" :".into()),
            Part::Port("api".into()),
            Part::Text(" db=".into()),
            Part::Port("db".into()),
            Part::Text(" all=".into()),
            Part::Ports("api".into()),
        ]);
        assert!(t.uses_replica());
        let second = t.for_instance("api", 2);
        assert!(!second.uses_replica());
        let ports = |name: &str| match name {
            "api.1" => Some(8000),
            "api.2" => Some(8001),
            "api.3" => Some(8003),
            "db" => Some(5432),
            _ => None,
        };
        assert_eq!(
            second.render(&ports),
            "w-2 :8001 db=5432 all=8000,8001,8003"
        );
        let mut web = Template::from_parts(vec![Part::Port("api".into())]);
        web.first_instance_of("api");
        assert_eq!(web.render(&ports), "8000");
        // Unfilled holes are written back as references; text is escaped.
        let raw = Template::from_parts(vec![
            Part::Text("$HOME/".into()),
            Part::Replica,
            Part::Ports("gone".into()),
        ]);
        assert_eq!(
            raw.render_escaped(&|_| None),
            "$$HOME/${replica}${services.gone.ports}"
        );
    }
}
