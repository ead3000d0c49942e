//! A source file's YAML (or JSON) values with the file each comes from, so that a setting
//! merged in from a base file (process-compose `extends`) is still named at its own line;
//! and the readers the converters share, each failing with FILE:LINE:COL.

use crate::config::yaml::{self, Kind, Node};

/// One parsed source file.
#[derive(Debug)]
pub struct Parsed {
    pub file: String,
    pub root: Node,
}

/// Parses `text` (YAML or JSON) as `file`; a syntax error names its place.
pub fn parse(file: &str, text: &str) -> Result<Parsed, String> {
    let (root, errors) = yaml::parse(text);
    if let Some(e) = errors.first() {
        return Err(format!(
            "{file}:{}:{}: {}",
            e.span.start.line, e.span.start.column, e.message
        ));
    }
    let root = root.ok_or_else(|| format!("{file}: the file is empty"))?;
    Ok(Parsed {
        file: file.to_string(),
        root,
    })
}

/// A value and where it stands.
#[derive(Clone, Debug)]
pub enum Tree<'a> {
    Leaf {
        node: &'a Node,
        file: &'a str,
    },
    /// Entries in order: the base file's first, then what the extending file adds.
    Map {
        node: &'a Node,
        file: &'a str,
        entries: Vec<(String, Tree<'a>)>,
    },
}

impl<'a> Tree<'a> {
    pub fn of(parsed: &'a Parsed) -> Tree<'a> {
        Tree::new(&parsed.root, &parsed.file)
    }

    pub fn new(node: &'a Node, file: &'a str) -> Tree<'a> {
        match &node.kind {
            Kind::Map(entries) => Tree::Map {
                node,
                file,
                entries: entries
                    .iter()
                    .map(|(k, v)| (k.scalar().unwrap_or("").to_string(), Tree::new(v, file)))
                    .collect(),
            },
            _ => Tree::Leaf { node, file },
        }
    }

    /// `over` laid on `self`: maps merge key by key, anything else is replaced by `over`.
    pub fn merge(self, over: Tree<'a>) -> Tree<'a> {
        match (self, over) {
            (
                Tree::Map { mut entries, .. },
                Tree::Map {
                    node,
                    file,
                    entries: more,
                },
            ) => {
                for (key, value) in more {
                    match entries.iter().position(|(k, _)| *k == key) {
                        Some(i) => {
                            let old = entries.remove(i).1;
                            entries.insert(i, (key, old.merge(value)));
                        }
                        None => entries.push((key, value)),
                    }
                }
                Tree::Map {
                    node,
                    file,
                    entries,
                }
            }
            (_, over) => over,
        }
    }

    pub fn node(&self) -> &'a Node {
        match self {
            Tree::Leaf { node, .. } | Tree::Map { node, .. } => node,
        }
    }

    pub fn file(&self) -> &'a str {
        match self {
            Tree::Leaf { file, .. } | Tree::Map { file, .. } => file,
        }
    }

    pub fn line(&self) -> usize {
        self.node().span.start.line
    }

    /// `FILE:LINE:COL` of the value, for errors.
    pub fn at(&self) -> String {
        let s = self.node().span.start;
        format!("{}:{}:{}", self.file(), s.line, s.column)
    }

    pub fn get(&self, key: &str) -> Option<&Tree<'a>> {
        self.entries()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn entries(&self) -> &[(String, Tree<'a>)] {
        match self {
            Tree::Map { entries, .. } => entries,
            Tree::Leaf { .. } => &[],
        }
    }

    pub fn is_map(&self) -> bool {
        matches!(self, Tree::Map { .. })
    }

    pub fn items(&self) -> Vec<Tree<'a>> {
        match &self.node().kind {
            Kind::Seq(items) => items.iter().map(|n| Tree::new(n, self.file())).collect(),
            _ => Vec::new(),
        }
    }

    pub fn is_seq(&self) -> bool {
        matches!(self.node().kind, Kind::Seq(_))
    }

    pub fn is_null(&self) -> bool {
        matches!(self.node().kind, Kind::Null)
    }

    /// The text of a scalar, which is how YAML and JSON numbers and booleans come too.
    pub fn text(&self, what: &str) -> Result<&'a str, String> {
        self.node().scalar().ok_or_else(|| {
            format!(
                "{}: {what}: expected a value, found {}",
                self.at(),
                self.node().describe()
            )
        })
    }

    pub fn bool(&self, what: &str) -> Result<bool, String> {
        match self.text(what)? {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!(
                "{}: {what}: expected true or false, found {other:?}",
                self.at()
            )),
        }
    }

    pub fn number(&self, what: &str) -> Result<u64, String> {
        let text = self.text(what)?;
        text.parse().map_err(|_| {
            format!(
                "{}: {what}: expected a whole number, found {text:?}",
                self.at()
            )
        })
    }

    /// A string, or a list of them.
    pub fn strings(&self, what: &str) -> Result<Vec<&'a str>, String> {
        if self.is_seq() {
            self.items().iter().map(|i| i.text(what)).collect()
        } else {
            Ok(vec![self.text(what)?])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_keeps_each_value_s_own_file_and_line() {
        let base = parse("base.yaml", "a:\n  x: 1\n  y: 2\nb: [1]\n").unwrap();
        let over = parse("over.yaml", "a:\n  y: 3\n  z: 4\nb: [2]\nc: 5\n").unwrap();
        let tree = Tree::of(&base).merge(Tree::of(&over));
        let a = tree.get("a").unwrap();
        let keys: Vec<_> = a.entries().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["x", "y", "z"]);
        let x = a.get("x").unwrap();
        assert_eq!(
            (x.file(), x.line(), x.number("x").unwrap()),
            ("base.yaml", 2, 1)
        );
        let y = a.get("y").unwrap();
        assert_eq!(
            (y.file(), y.line(), y.number("y").unwrap()),
            ("over.yaml", 2, 3)
        );
        assert_eq!(tree.get("b").unwrap().items()[0].text("b").unwrap(), "2");
        assert_eq!(tree.get("c").unwrap().file(), "over.yaml");
    }

    #[test]
    fn wrong_values_say_where() {
        let p = parse("f.yaml", "a: yes\nb: [1]\n").unwrap();
        let t = Tree::of(&p);
        assert_eq!(
            t.get("a").unwrap().bool("a").unwrap_err(),
            "f.yaml:1:4: a: expected true or false, found \"yes\""
        );
        assert!(
            t.get("b")
                .unwrap()
                .text("b")
                .unwrap_err()
                .starts_with("f.yaml:2:4: b: expected a value")
        );
        assert!(
            parse("f.yaml", "a: [\n")
                .unwrap_err()
                .starts_with("f.yaml:")
        );
    }
}
