//! Merging one config file's tree onto what the files before it made (pure: trees in, tree
//! and problems out). Mappings merge key by key, lists and scalars are replaced, and each
//! node keeps the position it was written at, so a problem is still reported in its own file.
//! A service is defined in one file: a second definition is a `Duplicate`, unless it comes
//! from an override file, whose service entries merge into the definition like any mapping.

use super::source::Span;
use super::yaml::{Kind, Node};

/// What a file is to the files merged before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// The config itself and what it includes: each service is defined in one of them.
    Part,
    /// The override file (and what it includes): changes to what the parts define.
    Override,
}

/// A service defined in two parts: the second definition is left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate {
    pub name: String,
    /// The definition kept (the one merged first).
    pub first: Span,
    /// The one left out.
    pub again: Span,
}

/// Keys of which a mapping holds exactly one (a probe's kind, a channel's kind): a later
/// file naming one of them replaces the one the earlier file named instead of adding a second
/// one, which would make the merged mapping invalid. `*` matches any key.
const EXCLUSIVE: &[(&[&str], &[&str])] = &[
    (&["services", "*", "health"], &["http", "tcp", "exec"]),
    (
        &["profiles", "*", "services", "*", "health"],
        &["http", "tcp", "exec"],
    ),
    (
        &["alerts", "channels", "*"],
        &["webhook", "slack", "exec", "alertmanager"],
    ),
];

/// Merges the top-level mapping `next` onto `base` (both the entries of a file's root).
pub fn merge_root(
    base: &mut Vec<(Node, Node)>,
    next: Vec<(Node, Node)>,
    layer: Layer,
    duplicates: &mut Vec<Duplicate>,
) {
    let mut path = Vec::new();
    for (key, value) in next {
        match (key.scalar(), layer, find(base, &key)) {
            (Some("services"), Layer::Part, Some(services)) => {
                add_services(services, value, duplicates)
            }
            (_, _, Some(existing)) => {
                path.push(key.scalar().unwrap_or_default().to_string());
                merge_value(existing, value, &mut path);
                path.pop();
            }
            (_, _, None) => base.push((key, value)),
        }
    }
}

/// Adds a part's services to the ones defined before; a name defined already is a duplicate.
fn add_services(base: &mut Node, next: Node, duplicates: &mut Vec<Duplicate>) {
    match (&mut base.kind, next.kind) {
        (Kind::Map(defined), Kind::Map(more)) => {
            for (name, definition) in more {
                match defined.iter().find(|(k, _)| same_key(k, &name)) {
                    Some((first, _)) => duplicates.push(Duplicate {
                        name: name.scalar().unwrap_or_default().to_string(),
                        first: first.span,
                        again: name.span,
                    }),
                    None => defined.push((name, definition)),
                }
            }
        }
        (Kind::Map(_), Kind::Null) => {}
        // Not a mapping: replaced as any value is, so that decoding reports it where written.
        (_, kind) => {
            *base = Node {
                span: next.span,
                kind,
            }
        }
    }
}

/// `next` onto `base`: mappings key by key, `null` onto a mapping changes nothing (an empty
/// mapping has no key to merge), anything else replaces `base` whole.
fn merge_value(base: &mut Node, next: Node, path: &mut Vec<String>) {
    match (&mut base.kind, next.kind) {
        (Kind::Map(entries), Kind::Map(more)) => {
            if let Some(group) = exclusive_group(path)
                && let Some(kept) = more
                    .iter()
                    .filter_map(|(k, _)| k.scalar())
                    .find(|k| group.contains(k))
            {
                entries
                    .retain(|(k, _)| k.scalar().is_none_or(|k| k == kept || !group.contains(&k)));
            }
            for (key, value) in more {
                match find(entries, &key) {
                    Some(existing) => {
                        path.push(key.scalar().unwrap_or_default().to_string());
                        merge_value(existing, value, path);
                        path.pop();
                    }
                    None => entries.push((key, value)),
                }
            }
        }
        (Kind::Map(_), Kind::Null) => {}
        (_, kind) => {
            *base = Node {
                span: next.span,
                kind,
            }
        }
    }
}

fn exclusive_group(path: &[String]) -> Option<&'static [&'static str]> {
    EXCLUSIVE
        .iter()
        .find(|(pattern, _)| {
            pattern.len() == path.len()
                && pattern.iter().zip(path).all(|(p, k)| *p == "*" || p == k)
        })
        .map(|(_, group)| *group)
}

fn same_key(a: &Node, b: &Node) -> bool {
    a.scalar().is_some() && a.scalar() == b.scalar()
}

fn find<'a>(entries: &'a mut [(Node, Node)], key: &Node) -> Option<&'a mut Node> {
    entries
        .iter_mut()
        .find(|(k, _)| same_key(k, key))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::FileId;
    use crate::config::yaml;

    /// Each file parsed as its own file, then merged in order; the result as YAML-ish text
    /// with the file each scalar came from, and the duplicates.
    fn merged(files: &[(&str, Layer)]) -> (String, Vec<Duplicate>) {
        let mut base = Vec::new();
        let mut duplicates = Vec::new();
        for (i, (text, layer)) in files.iter().enumerate() {
            let (root, errors) = yaml::parse_in(text, FileId::ROOT);
            assert!(errors.is_empty(), "{errors:?}");
            let root = root.unwrap();
            let Kind::Map(entries) = root.kind else {
                panic!("not a mapping")
            };
            let entries = entries.into_iter().map(|(k, v)| (k, mark(v, i))).collect();
            merge_root(&mut base, entries, *layer, &mut duplicates);
        }
        let root = Node {
            span: Span::default(),
            kind: Kind::Map(base),
        };
        (show(&root), duplicates)
    }

    /// Stamps every scalar with the index of its file, so results say where values came from.
    fn mark(node: Node, file: usize) -> Node {
        let kind = match node.kind {
            Kind::Scalar { text, quoted } => Kind::Scalar {
                text: format!("{text}@{file}"),
                quoted,
            },
            Kind::Seq(items) => Kind::Seq(items.into_iter().map(|n| mark(n, file)).collect()),
            Kind::Map(entries) => Kind::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, mark(v, file)))
                    .collect(),
            ),
            Kind::Null => Kind::Null,
        };
        Node { kind, ..node }
    }

    fn show(node: &Node) -> String {
        match &node.kind {
            Kind::Null => "~".into(),
            Kind::Scalar { text, .. } => text.clone(),
            Kind::Seq(items) => format!(
                "[{}]",
                items.iter().map(show).collect::<Vec<_>>().join(", ")
            ),
            Kind::Map(entries) => format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.scalar().unwrap_or("?"), show(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    use Layer::{Override, Part};

    #[test]
    fn mappings_merge_key_by_key_and_lists_and_scalars_are_replaced() {
        let cases: &[(&[(&str, Layer)], &str)] = &[
            (
                &[("env: {A: 1, B: 2}", Part), ("env: {B: 3, C: 4}", Part)],
                "{env: {A: 1@0, B: 3@1, C: 4@1}}",
            ),
            (
                &[
                    ("ports: {reserved: [1, 2], strategy: intelligent}", Part),
                    ("ports: {reserved: [3]}", Part),
                ],
                "{ports: {reserved: [3@1], strategy: intelligent@0}}",
            ),
            (
                &[("project: a", Part), ("project: b", Part)],
                "{project: b@1}",
            ),
            // A list replaced by a mapping and back: the later file's kind wins.
            (
                &[("env_file: [a, b]", Part), ("env_file: {path: c}", Part)],
                "{env_file: {path: c@1}}",
            ),
            (&[("env: {A: 1}", Part), ("env:", Part)], "{env: {A: 1@0}}"),
            (&[("project: a", Part), ("project:", Part)], "{project: ~}"),
            (
                &[
                    ("profiles: {dev: {env: {A: 1}}}", Part),
                    ("profiles: {dev: {env: {B: 2}}, prod: {env: {A: 3}}}", Part),
                ],
                "{profiles: {dev: {env: {A: 1@0, B: 2@1}}, prod: {env: {A: 3@1}}}}",
            ),
            // Keys new to the base come after its own, in the later file's order.
            (
                &[("b: 1\na: 2", Part), ("c: 3\na: 4", Part)],
                "{b: 1@0, a: 4@1, c: 3@1}",
            ),
        ];
        for (files, want) in cases {
            let (got, duplicates) = merged(files);
            assert_eq!(&got, want, "{files:?}");
            assert!(duplicates.is_empty());
        }
    }

    #[test]
    fn a_service_in_two_parts_is_a_duplicate_and_the_first_is_kept() {
        let (got, duplicates) = merged(&[
            ("services:\n  api: {command: a}\n  db: {command: d}", Part),
            ("services:\n  web: {command: w}\n  api: {command: b}", Part),
        ]);
        assert_eq!(
            got,
            "{services: {api: {command: a@0}, db: {command: d@0}, web: {command: w@1}}}"
        );
        assert_eq!(
            duplicates,
            vec![Duplicate {
                name: "api".into(),
                first: Span::new(2, 3, 3),
                again: Span::new(3, 3, 3),
            }]
        );
    }

    #[test]
    fn an_override_merges_into_a_service_key_by_key() {
        let (got, duplicates) = merged(&[
            (
                "services:\n  api:\n    command: a\n    env: {A: 1, B: 2}\n    depends_on: [db]\n    health: {http: h, interval: 5s}",
                Part,
            ),
            (
                "services:\n  api:\n    env: {B: 3}\n    depends_on: []\n    health: {tcp: t}\n  extra: {command: x}",
                Override,
            ),
        ]);
        assert_eq!(
            got,
            "{services: {api: {command: a@0, env: {A: 1@0, B: 3@1}, depends_on: [], health: {interval: 5s@0, tcp: t@1}}, extra: {command: x@1}}}"
        );
        assert!(duplicates.is_empty());
    }

    #[test]
    fn a_later_kind_key_replaces_the_earlier_kind() {
        let cases: &[(&[(&str, Layer)], &str)] = &[
            (
                &[
                    ("alerts: {channels: {team: {slack: s, timeout: 5s}}}", Part),
                    ("alerts: {channels: {team: {webhook: w}}}", Override),
                ],
                "{alerts: {channels: {team: {timeout: 5s@0, webhook: w@1}}}}",
            ),
            (
                &[
                    ("profiles: {p: {services: {a: {health: {exec: e}}}}}", Part),
                    ("profiles: {p: {services: {a: {health: {http: h}}}}}", Part),
                ],
                "{profiles: {p: {services: {a: {health: {http: h@1}}}}}}",
            ),
            // The same kind twice merges as any key; elsewhere `exec` is just a key.
            (
                &[
                    ("services: {a: {health: {exec: e, retries: 2}}}", Part),
                    ("services: {a: {health: {exec: f}}}", Override),
                ],
                "{services: {a: {health: {exec: f@1, retries: 2@0}}}}",
            ),
            (
                &[("x-h: {http: h}", Part), ("x-h: {tcp: t}", Part)],
                "{x-h: {http: h@0, tcp: t@1}}",
            ),
        ];
        for (files, want) in cases {
            assert_eq!(&merged(files).0, want, "{files:?}");
        }
    }

    #[test]
    fn services_that_are_not_mappings_are_left_for_decoding_to_report() {
        let (got, duplicates) = merged(&[("services: [a]", Part), ("services: {b: 1}", Part)]);
        assert_eq!(got, "{services: {b: 1@1}}");
        assert!(duplicates.is_empty());
        let (got, _) = merged(&[("services: {a: 1}", Part), ("services:", Part)]);
        assert_eq!(got, "{services: {a: 1@0}}");
    }
}
