//! A YAML document as a tree whose every node knows where it stands in the file, built from
//! saphyr's event stream so that decoding can report every problem with its exact position.
//! Duplicate keys are reported here; anchors, aliases and `<<` merge keys are resolved here.

use super::source::{FileId, Span};
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// A YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `null`, `~` or nothing at all.
    Null,
    /// Any other scalar; `quoted` scalars are always strings.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A problem found while reading the YAML itself.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub span: Span,
    pub message: String,
}

impl Node {
    /// The scalar's text for a plain or quoted scalar; `None` for null, lists and maps.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The entry of a mapping node with key `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node of a mapping entry.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// What the node is, for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Null => "nothing".to_string(),
            Kind::Scalar { text, quoted } => {
                if !quoted && (text == "true" || text == "false") {
                    format!("`{text}`")
                } else {
                    format!("{text:?}")
                }
            }
            Kind::Seq(_) => "a list".to_string(),
            Kind::Map(_) => "a mapping".to_string(),
        }
    }
}

/// Parses one YAML document. Returns the root (`None` for an empty file) and every problem
/// found; a syntax error stops the parse, duplicate keys do not.
pub fn parse(text: &str) -> (Option<Node>, Vec<YamlError>) {
    parse_in(text, FileId::ROOT)
}

/// Parses the text of `file`, one of a config's files: every span says it is there.
pub fn parse_in(text: &str, file: FileId) -> (Option<Node>, Vec<YamlError>) {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        match next {
            Ok((event, span)) => builder.event(event, to_span(span).in_file(file)),
            Err(err) => {
                let m = err.marker();
                builder.errors.push(YamlError {
                    span: Span::new(m.line(), m.col() + 1, 1).in_file(file),
                    message: format!("YAML syntax error: {}{}", err.info(), hint(text, m.line())),
                });
                return (None, builder.errors);
            }
        }
    }
    (builder.root, builder.errors)
}

/// Hints for the mistakes behind most syntax errors in configs: `${...}` unquoted inside
/// `{ }` or `[ ]`, where YAML reads its braces as structure; and a bracket left open on an
/// earlier line, which the parser only notices later.
fn hint(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.get(line.saturating_sub(1)).copied().unwrap_or("");
    if at.contains("${") && at.contains(['{', '[']) {
        return "; quote values that contain `${...}` inside `{ }` or `[ ]`".to_string();
    }
    let open_on = |l: &str| {
        let unquoted: String = l
            .split('#')
            .next()
            .unwrap_or("")
            .split(['"', '\''])
            .step_by(2)
            .collect();
        let opened = unquoted.matches(['[', '{']).count();
        let closed = unquoted.matches([']', '}']).count();
        opened > closed
    };
    (1..line)
        .rev()
        .take(20)
        .find(|&n| open_on(lines.get(n - 1).copied().unwrap_or("")))
        .map(|n| format!("; is the bracket opened on line {n} closed?"))
        .unwrap_or_default()
}

fn to_span(span: saphyr_parser::Span) -> Span {
    let len = if span.start.line() == span.end.line() {
        span.len()
    } else {
        1
    };
    Span::new(span.start.line(), span.start.col() + 1, len)
}

enum Frame {
    Seq {
        span: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        span: Span,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        merges: Vec<Node>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
    errors: Vec<YamlError>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents == 2 {
                    self.errors.push(YamlError {
                        span,
                        message: "a berth config holds one YAML document; remove this `---` and what follows, or merge it into the first".to_string(),
                    });
                }
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = style != ScalarStyle::Plain;
                let kind = if !quoted && matches!(&*text, "" | "~" | "null" | "Null" | "NULL") {
                    Kind::Null
                } else {
                    Kind::Scalar {
                        text: text.into_owned(),
                        quoted,
                    }
                };
                self.value(Node { span, kind }, anchor);
            }
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some(target) => Node {
                        span,
                        kind: target.kind.clone(),
                    },
                    None => Node {
                        span,
                        kind: Kind::Null,
                    },
                };
                self.value(node, 0);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                span,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                span,
                anchor,
                entries: Vec::new(),
                key: None,
                merges: Vec::new(),
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq {
                        span,
                        anchor,
                        items,
                    }) => (
                        Node {
                            span,
                            kind: Kind::Seq(items),
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        span,
                        anchor,
                        entries,
                        merges,
                        ..
                    }) => (
                        Node {
                            span,
                            kind: Kind::Map(merge(entries, merges, &mut self.errors)),
                        },
                        anchor,
                    ),
                    None => return,
                };
                self.value(node, anchor);
            }
            _ => {}
        }
    }

    /// Places a finished node: as the root, a list item, a mapping key or a mapping value.
    fn value(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                key,
                merges,
                ..
            }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    if k.scalar() == Some("<<") {
                        merges.push(node);
                    } else if let Some((first, _)) = entries
                        .iter()
                        .find(|(e, _)| e.scalar().is_some() && e.scalar() == k.scalar())
                    {
                        self.errors.push(YamlError {
                            span: k.span,
                            message: format!(
                                "duplicate key `{}` (first defined at line {}); remove one of them",
                                k.scalar().unwrap_or_default(),
                                first.span.start.line
                            ),
                        });
                    } else {
                        entries.push((k, node));
                    }
                }
            },
        }
    }
}

/// Applies `<<: *anchor` (or a list of anchors): keys the mapping does not set itself are taken
/// from the merged mappings, the first one listed winning.
fn merge(
    mut entries: Vec<(Node, Node)>,
    merges: Vec<Node>,
    errors: &mut Vec<YamlError>,
) -> Vec<(Node, Node)> {
    let sources = merges.into_iter().flat_map(|m| match m.kind {
        Kind::Seq(items) => items,
        _ => vec![m],
    });
    for source in sources {
        match source.kind {
            Kind::Map(extra) => {
                for (k, v) in extra {
                    if !entries.iter().any(|(e, _)| e.scalar() == k.scalar()) {
                        entries.push((k, v));
                    }
                }
            }
            _ => errors.push(YamlError {
                span: source.span,
                message: format!(
                    "`<<` merges mappings, found {}; write `<<: *anchor` naming a mapping",
                    source.describe()
                ),
            }),
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        let (node, errors) = parse(text);
        assert!(errors.is_empty(), "{errors:?}");
        node.unwrap()
    }

    #[test]
    fn positions_are_one_based_characters() {
        let node = root("a:\n  bé: x\n  c: [1, 2]\n");
        let a = node.get("a").unwrap();
        let (k, v) = a.entry("c").unwrap();
        assert_eq!(k.span, Span::new(3, 3, 1));
        assert_eq!(v.span.start.column, 6);
        assert_eq!(a.get("bé").unwrap().span.start.column, 7);
    }

    #[test]
    fn null_forms_and_quoted_strings() {
        let node = root("a:\nb: ~\nc: null\nd: 'null'\n");
        assert_eq!(node.get("a").unwrap().kind, Kind::Null);
        assert_eq!(node.get("b").unwrap().kind, Kind::Null);
        assert_eq!(node.get("c").unwrap().kind, Kind::Null);
        assert_eq!(node.get("d").unwrap().scalar(), Some("null"));
    }

    #[test]
    fn duplicate_keys_are_reported_at_the_second() {
        let (_, errors) = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].span.start.line, 3);
        assert!(errors[0].message.contains("first defined at line 1"));
    }

    #[test]
    fn merge_keys_fill_in_what_is_missing() {
        let node = root("base: &b { x: 1, y: 2 }\nsvc:\n  <<: *b\n  y: 3\n");
        let svc = node.get("svc").unwrap();
        assert_eq!(svc.get("x").unwrap().scalar(), Some("1"));
        assert_eq!(svc.get("y").unwrap().scalar(), Some("3"));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let (node, errors) = parse("a: [1, 2\nb: 3\n");
        assert!(node.is_none());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.starts_with("YAML syntax error"));
        assert!(errors[0].span.start.line >= 1);
    }

    #[test]
    fn a_second_document_is_an_error() {
        let (_, errors) = parse("a: 1\n---\nb: 2\n");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].span.start.line, 2);
    }
}
