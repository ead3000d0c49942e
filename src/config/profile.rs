//! Applying a profile to the config tree before it is decoded: the profile's `env` entries
//! override the top-level ones, its `env_file`s come after the top-level ones, and
//! `services.NAME` keys replace the service's own (its `env` entries merge). Working on the
//! tree keeps every value's own position, so a bad value in a profile is reported there.

use super::yaml::{Kind, Node};

/// The root with `profile` applied. Parts too malformed to merge are left as they are;
/// decoding reports them.
pub fn apply(root: &Node, profile: &Node) -> Node {
    let mut root = root.clone();
    let (Kind::Map(entries), Kind::Map(overlay)) = (&mut root.kind, &profile.kind) else {
        return root;
    };
    for (key, value) in overlay {
        match key.scalar() {
            Some("env") => merge_key(entries, key, value),
            Some("env_file") => append_key(entries, key, value),
            Some("services") => {
                let (Some(services), Kind::Map(overrides)) =
                    (find(entries, "services"), &value.kind)
                else {
                    continue;
                };
                for (name, changes) in overrides {
                    if let (Some(name), Kind::Map(changes)) = (name.scalar(), &changes.kind)
                        && let Some(service) = find(services.as_map_mut(), name)
                    {
                        if service.kind == Kind::Null {
                            service.kind = Kind::Map(Vec::new());
                        }
                        if let Kind::Map(fields) = &mut service.kind {
                            for (k, v) in changes {
                                if k.scalar() == Some("env") {
                                    merge_key(fields, k, v);
                                } else {
                                    set(fields, k, v.clone());
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    root
}

impl Node {
    /// The entries of a mapping node, or an empty list to write into for anything else.
    fn as_map_mut(&mut self) -> &mut Vec<(Node, Node)> {
        if !matches!(self.kind, Kind::Map(_)) {
            self.kind = Kind::Map(Vec::new());
        }
        match &mut self.kind {
            Kind::Map(entries) => entries,
            _ => unreachable!("made a mapping above"),
        }
    }
}

fn find<'a>(entries: &'a mut [(Node, Node)], key: &str) -> Option<&'a mut Node> {
    entries
        .iter_mut()
        .find(|(k, _)| k.scalar() == Some(key))
        .map(|(_, v)| v)
}

fn set(entries: &mut Vec<(Node, Node)>, key: &Node, value: Node) {
    match entries.iter_mut().find(|(k, _)| k.scalar() == key.scalar()) {
        Some((_, v)) => *v = value,
        None => entries.push((key.clone(), value)),
    }
}

/// Mapping values merge entry by entry, the overlay winning; anything else is replaced.
fn merge_key(entries: &mut Vec<(Node, Node)>, key: &Node, overlay: &Node) {
    let merged = match (
        entries.iter().find(|(k, _)| k.scalar() == key.scalar()),
        &overlay.kind,
    ) {
        (Some((_, base)), Kind::Map(over)) if matches!(base.kind, Kind::Map(_) | Kind::Null) => {
            let mut base = base.clone();
            let fields = base.as_map_mut();
            for (k, v) in over {
                set(fields, k, v.clone());
            }
            base
        }
        _ => overlay.clone(),
    };
    set(entries, key, merged);
}

/// Lists concatenate (a single item counts as a list of one).
fn append_key(entries: &mut Vec<(Node, Node)>, key: &Node, overlay: &Node) {
    let items = |n: &Node| match &n.kind {
        Kind::Seq(items) => items.clone(),
        Kind::Null => Vec::new(),
        _ => vec![n.clone()],
    };
    let mut all = entries
        .iter()
        .find(|(k, _)| k.scalar() == key.scalar())
        .map(|(_, v)| items(v))
        .unwrap_or_default();
    all.extend(items(overlay));
    set(
        entries,
        key,
        Node {
            span: overlay.span,
            kind: Kind::Seq(all),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    #[test]
    fn overlays_env_env_files_and_service_keys() {
        let (root, errors) = yaml::parse(
            "env: {A: '1', B: '1'}\nenv_file: a.env\nservices:\n  api:\n    command: x\n    env: {K: '1'}\n    port: 1\nprofiles:\n  p:\n    env: {B: '2'}\n    env_file: [b.env]\n    services:\n      api: {port: 2, env: {L: '2'}}\n",
        );
        assert!(errors.is_empty());
        let root = root.unwrap();
        let profile = root.get("profiles").unwrap().get("p").unwrap();
        let merged = apply(&root, profile);
        let env = merged.get("env").unwrap();
        assert_eq!(env.get("A").unwrap().scalar(), Some("1"));
        assert_eq!(env.get("B").unwrap().scalar(), Some("2"));
        let Kind::Seq(files) = &merged.get("env_file").unwrap().kind else {
            panic!("env_file should be a list")
        };
        assert_eq!(files.len(), 2);
        let api = merged.get("services").unwrap().get("api").unwrap();
        assert_eq!(api.get("port").unwrap().scalar(), Some("2"));
        assert_eq!(api.get("port").unwrap().span.start.line, 13);
        assert_eq!(api.get("command").unwrap().scalar(), Some("x"));
        assert_eq!(
            api.get("env").unwrap().get("K").unwrap().scalar(),
            Some("1")
        );
        assert_eq!(
            api.get("env").unwrap().get("L").unwrap().scalar(),
            Some("2")
        );
    }
}
