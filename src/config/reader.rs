//! Typed reading of YAML nodes. Every accessor reports its own problem with the node's
//! position and returns `None`, so decoding goes on and collects every problem at once.

use super::diagnostic::Diagnostic;
use super::interpolate::{self, Scope};
use super::keys::EXTENSION_PREFIX;
use super::source::{FileId, Sources, Span};
use super::suggest;
use super::units;
use super::yaml::{Kind, Node};
use crate::stack::pattern::Pattern;
use crate::stack::ranges::RangeList;
use crate::stack::service::Command;
use crate::stack::signal::Signal;
use crate::stack::template::{Part, Template};
use std::time::Duration;

pub struct Reader<'a> {
    /// Every file of the config: a node's span says which one it was written in.
    pub sources: &'a Sources,
    pub diags: Vec<Diagnostic>,
}

/// The entries of a mapping whose keys were checked.
pub struct Fields<'n> {
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node.
    pub fn entry(&self, key: &str) -> Option<(&'n Node, &'n Node)> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, k, v)| (*k, *v))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'n str, &'n Node, &'n Node)> + '_ {
        self.entries.iter().copied()
    }
}

/// `path: message`, or just the message at the top level.
pub fn at(path: &str, message: impl AsRef<str>) -> String {
    if path.is_empty() {
        message.as_ref().to_string()
    } else {
        format!("{path}: {}", message.as_ref())
    }
}

impl<'a> Reader<'a> {
    pub fn new(sources: &'a Sources) -> Reader<'a> {
        Reader {
            sources,
            diags: Vec::new(),
        }
    }

    pub fn error(&mut self, span: Span, message: impl Into<String>) {
        let source = self.sources.get(span.file);
        self.diags.push(Diagnostic::new(source, span, message));
    }

    /// What a relative path written at `span` is relative to: the directory of its file.
    pub fn dir(&self, span: Span) -> &'a std::path::Path {
        self.sources.dir(span.file)
    }

    /// A path written at `span` (possibly empty, for "this directory") as the same place seen
    /// from the root file's directory, which the model's relative paths are joined to: one
    /// written in an included file in another directory is put under that file's directory.
    pub fn from_root(&self, path: Template, span: Span) -> Template {
        let dir = self.dir(span);
        let absolute = matches!(path.parts().first(), Some(Part::Text(t)) if t.starts_with('/'));
        if absolute || dir == self.sources.dir(FileId::ROOT) {
            return path;
        }
        if let [] | [Part::Text(_)] = path.parts() {
            // Plain text: joined now, `..` and `.` folded, so `berth config` shows the place.
            let text = path.render(&|_| None);
            return Template::literal(lexical(&dir.join(text)).to_string_lossy());
        }
        let mut parts = vec![Part::Text(format!("{}/", dir.to_string_lossy()))];
        parts.extend(path.parts().iter().cloned());
        Template::from_parts(parts)
    }

    fn expected(&mut self, node: &Node, path: &str, what: &str) {
        let message = at(path, format!("expected {what}, found {}", node.describe()));
        self.error(node.span, message);
    }

    /// The entries of a mapping with string keys; `null` is an empty mapping.
    pub fn entries<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
    ) -> Option<Vec<(&'n str, &'n Node, &'n Node)>> {
        match &node.kind {
            Kind::Null => Some(Vec::new()),
            Kind::Map(entries) => {
                let mut out = Vec::new();
                for (k, v) in entries {
                    match k.scalar() {
                        Some(key) => out.push((key, k, v)),
                        None => self.expected(k, path, "a string key"),
                    }
                }
                Some(out)
            }
            _ => {
                self.expected(node, path, "a mapping");
                None
            }
        }
    }

    /// A mapping whose keys must be among `known` (or start with `x-`).
    pub fn map<'n>(&mut self, node: &'n Node, path: &str, known: &[&str]) -> Option<Fields<'n>> {
        let entries = self.entries(node, path)?;
        let mut kept = Vec::new();
        for (key, k, v) in entries {
            if known.contains(&key) {
                kept.push((key, k, v));
            } else if !key.starts_with(EXTENSION_PREFIX) {
                let place = if path.is_empty() {
                    format!("unknown top-level key `{key}`")
                } else {
                    format!("unknown key `{key}` in `{path}`")
                };
                let hint = suggest::hint(key, known.iter().copied());
                let known_list = if hint.is_empty() {
                    format!("; expected one of: {}", known.join(", "))
                } else {
                    hint
                };
                self.error(k.span, format!("{place}{known_list}"));
            }
        }
        Some(Fields { entries: kept })
    }

    /// Reads `key` of `fields` (a mapping at `path`) with `read`, or gives `default` when the
    /// key is absent.
    pub fn key_or<T>(
        &mut self,
        fields: &Fields,
        path: &str,
        key: &str,
        default: T,
        read: impl FnOnce(&mut Self, &Node, &str) -> Option<T>,
    ) -> Option<T> {
        match fields.get(key) {
            Some(node) => read(self, node, &format!("{path}.{key}")),
            None => Some(default),
        }
    }

    pub fn string<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n str> {
        match node.scalar() {
            Some(text) => Some(text),
            None => {
                self.expected(node, path, "a string");
                None
            }
        }
    }

    pub fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node.scalar() {
            Some("true" | "True" | "TRUE") => Some(true),
            Some("false" | "False" | "FALSE") => Some(false),
            _ => {
                self.expected(node, path, "`true` or `false`");
                None
            }
        }
    }

    /// A whole number within `min..=max`.
    pub fn int(&mut self, node: &Node, path: &str, min: i64, max: i64) -> Option<i64> {
        let Some(n) = node.scalar().and_then(|t| t.trim().parse::<i64>().ok()) else {
            self.expected(node, path, &format!("a whole number from {min} to {max}"));
            return None;
        };
        if n < min || n > max {
            self.error(
                node.span,
                at(path, format!("{n} is out of range; use {min} to {max}")),
            );
            return None;
        }
        Some(n)
    }

    pub fn port(&mut self, node: &Node, path: &str) -> Option<u16> {
        let Some(n) = node.scalar().and_then(|t| t.trim().parse::<i64>().ok()) else {
            self.expected(node, path, "a port number from 1 to 65535");
            return None;
        };
        if !(1..=65535).contains(&n) {
            self.error(
                node.span,
                at(path, format!("port {n} is out of range; use 1 to 65535")),
            );
            return None;
        }
        Some(n as u16)
    }

    /// A value parsed from a string by `parse`, whose error is the message.
    fn parsed<T>(
        &mut self,
        node: &Node,
        path: &str,
        what: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let Some(text) = node.scalar() else {
            self.expected(node, path, what);
            return None;
        };
        match parse(text) {
            Ok(v) => Some(v),
            Err(message) => {
                self.error(node.span, at(path, message));
                None
            }
        }
    }

    pub fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        self.parsed(node, path, "a duration like `5s`", units::parse_duration)
    }

    /// A duration that must be more than zero.
    pub fn positive_duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let d = self.duration(node, path)?;
        if d.is_zero() {
            self.error(node.span, at(path, "must be more than 0"));
            return None;
        }
        Some(d)
    }

    pub fn size(&mut self, node: &Node, path: &str) -> Option<u64> {
        self.parsed(node, path, "a size like `10MiB`", units::parse_size)
    }

    pub fn signal(&mut self, node: &Node, path: &str) -> Option<Signal> {
        self.parsed(node, path, "a signal name like `TERM`", |t| t.parse())
    }

    pub fn pattern(&mut self, node: &Node, path: &str) -> Option<Pattern> {
        self.parsed(node, path, "a regular expression", |t| {
            Pattern::new(t).map_err(|e| {
                let detail = e.to_string();
                let last = detail.lines().last().unwrap_or("").trim();
                let last = last.strip_prefix("error: ").unwrap_or(last);
                format!("invalid regular expression: {last}")
            })
        })
    }

    /// One of `names`, turned into a value by `parse`.
    pub fn choice<T>(
        &mut self,
        node: &Node,
        path: &str,
        names: &[&str],
        parse: fn(&str) -> Option<T>,
    ) -> Option<T> {
        let text = self.string(node, path)?;
        match parse(text) {
            Some(v) => Some(v),
            None => {
                let hint = suggest::hint(text, names.iter().copied());
                self.error(
                    node.span,
                    at(
                        path,
                        format!(
                            "unknown value `{text}`; expected one of: {}{hint}",
                            names.join(", ")
                        ),
                    ),
                );
                None
            }
        }
    }

    /// A list; anything else is reported.
    pub fn list<'n>(&mut self, node: &'n Node, path: &str) -> Option<Vec<&'n Node>> {
        match &node.kind {
            Kind::Seq(items) => Some(items.iter().collect()),
            Kind::Null => Some(Vec::new()),
            _ => {
                self.expected(node, path, "a list");
                None
            }
        }
    }

    /// A single item or a list of them.
    pub fn one_or_many<'n>(&mut self, node: &'n Node) -> Vec<&'n Node> {
        match &node.kind {
            Kind::Seq(items) => items.iter().collect(),
            Kind::Null => Vec::new(),
            _ => vec![node],
        }
    }

    /// One or a list, where an empty list is a mistake: it is reported at `path` with `why`
    /// (what to write instead), and `None` returned.
    pub fn some_of<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        why: impl Into<String>,
    ) -> Option<Vec<&'n Node>> {
        let items = self.one_or_many(node);
        if items.is_empty() {
            self.error(node.span, at(path, why.into()));
            return None;
        }
        Some(items)
    }

    /// Numbers and `"A-B"` ranges within `min..=max`, one or a list of them.
    pub fn ranges(&mut self, node: &Node, path: &str, min: u16, max: u16) -> Option<RangeList> {
        let mut out = Vec::new();
        let mut ok = true;
        for item in self.one_or_many(node) {
            match self.range(item, path, min, max) {
                Some(r) => out.push(r),
                None => ok = false,
            }
        }
        ok.then(|| RangeList::new(out))
    }

    fn range(&mut self, node: &Node, path: &str, min: u16, max: u16) -> Option<(u16, u16)> {
        let what = format!("a number from {min} to {max} or a range like \"{min}-{max}\"");
        let Some(text) = node.scalar() else {
            self.expected(node, path, &what);
            return None;
        };
        let bound = |t: &str| t.trim().parse::<i64>().ok();
        let (a, b) = match text.split_once('-') {
            Some((a, b)) => (bound(a), bound(b)),
            None => (bound(text), bound(text)),
        };
        let (Some(a), Some(b)) = (a, b) else {
            self.expected(node, path, &what);
            return None;
        };
        for n in [a, b] {
            if n < min as i64 || n > max as i64 {
                self.error(
                    node.span,
                    at(path, format!("{n} is out of range; use {min} to {max}")),
                );
                return None;
            }
        }
        if a > b {
            self.error(
                node.span,
                at(path, format!("range {a}-{b} is backwards; write {b}-{a}")),
            );
            return None;
        }
        Some((a as u16, b as u16))
    }

    /// A string with `${...}` resolved in `scope`; problems point inside the string.
    pub fn template(&mut self, node: &Node, path: &str, scope: &Scope) -> Option<Template> {
        let text = self.string(node, path)?;
        match interpolate::interpolate(text, scope) {
            Ok(t) => Some(t),
            Err(problems) => {
                for p in problems {
                    let span = self.inner_span(node, p.offset, p.len);
                    self.error(span, at(path, p.message));
                }
                None
            }
        }
    }

    /// `command`-like values: a string run by `sh -c`, or a list exec'd as argv.
    pub fn command(&mut self, node: &Node, path: &str, scope: &Scope) -> Option<Command> {
        match &node.kind {
            Kind::Seq(items) => {
                if items.is_empty() {
                    self.error(
                        node.span,
                        at(path, "empty command; give the program and its arguments"),
                    );
                    return None;
                }
                let args: Vec<Option<Template>> = items
                    .iter()
                    .map(|i| self.template(i, path, scope))
                    .collect();
                args.into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(Command::Exec)
            }
            _ => {
                let line = self.template(node, path, scope)?;
                if line.parts().is_empty() || node.scalar().is_some_and(|t| t.trim().is_empty()) {
                    self.error(
                        node.span,
                        at(path, "empty command; give the program and its arguments"),
                    );
                    return None;
                }
                Some(Command::Shell(line))
            }
        }
    }

    /// The span of characters `offset..offset+len` of a scalar's value, when the scalar is
    /// written on one line without escapes; otherwise the scalar's own span.
    pub(crate) fn inner_span(&self, node: &Node, offset: usize, len: usize) -> Span {
        let Some(text) = node.scalar() else {
            return node.span;
        };
        let line = self.sources.get(node.span.file).line(node.span.start.line);
        let rest: String = line
            .chars()
            .skip(node.span.start.column.saturating_sub(1))
            .collect();
        if rest.starts_with(text) {
            node.span.sub(offset, len)
        } else if (rest.starts_with('"') || rest.starts_with('\'')) && rest[1..].starts_with(text) {
            node.span.sub(offset + 1, len)
        } else {
            node.span
        }
    }
}

/// `path` with `.` dropped and `..` taking back the name before it, without asking the file
/// system (a directory that does not exist yet still has a place).
fn lexical(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}
