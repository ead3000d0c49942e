//! Reading a config's files into one tree: the root (berth.yaml, or the file `-f` names),
//! what it includes (`include:`, paths and globs relative to the including file, included
//! files including others, no cycles), and its override (`berth.override.yaml` beside it,
//! merged last). Every command that reads the config comes through here, so the files are
//! found and merged in one place; each node keeps the file it was written in (`Span::file`).

use super::glob;
use super::merge::{self, Duplicate, Layer};
use super::source::{FileId, Source, Sources, Span, display_path};
use super::yaml::{self, Kind, Node};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A config's files, merged.
pub struct Tree {
    pub sources: Sources,
    /// The merged tree; `None` when a file's content is missing from it (a YAML syntax
    /// error, an include that cannot be read), which would only cause confusing follow-ups.
    pub root: Option<Node>,
    /// Problems with the files themselves, each where it was written: YAML, include entries,
    /// services defined in two files.
    pub problems: Vec<(Span, String)>,
}

impl Tree {
    /// The files merged into the root, in the order they were read: each before what it
    /// includes, the override last.
    pub fn merged_files(&self) -> Vec<PathBuf> {
        self.sources
            .iter()
            .skip(1)
            .map(|(_, s)| s.path.clone())
            .collect()
    }

    /// The names of `profiles`, for checking the config under each.
    pub fn profile_names(&self) -> Vec<String> {
        match self
            .root
            .as_ref()
            .and_then(|r| r.get("profiles"))
            .map(|p| &p.kind)
        {
            Some(Kind::Map(entries)) => entries
                .iter()
                .filter_map(|(k, _)| k.scalar().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The override of a config file: `NAME.override.yaml` (or `.yml`) beside `NAME.yaml`, as
/// docker compose pairs `compose.override.yaml` with `compose.yaml`. It belongs to the file,
/// however that file was found: `-f` naming it gives the same stack as finding it, which
/// matters because both share one state dir and one set of running services.
pub fn override_of(root: &Path) -> Option<PathBuf> {
    let stem = root.file_stem()?.to_string_lossy();
    ["yaml", "yml"]
        .iter()
        .map(|ext| root.with_file_name(format!("{stem}.override.{ext}")))
        .find(|p| p.is_file())
}

/// Reads `root` (already read) and every file it brings in.
pub fn gather(root: Source) -> Tree {
    let root_path = canonical(&root.path);
    let override_path = override_of(&root.path);
    let mut loader = Loader {
        sources: Sources::new(root),
        problems: Vec::new(),
        merged: HashSet::from([root_path.clone()]),
        override_path: override_path.as_deref().map(canonical),
        complete: true,
        layers: Vec::new(),
    };
    let Some(top) = loader.file(FileId::ROOT, &mut vec![root_path], Layer::Part) else {
        // Not a mapping (empty, a list, a syntax error): decoding says so, as for one file.
        let bare = loader.layers.pop().map(|(node, _)| node);
        return loader.finish(bare);
    };
    if let Some(path) = override_path {
        let canonical = canonical(&path);
        let id = match std::fs::read_to_string(&path) {
            Ok(text) => loader.sources.add(Source::new(&canonical, text)),
            Err(e) => {
                let id = loader.sources.add(Source::new(&canonical, String::new()));
                loader.problem(
                    Span::new(1, 1, 1).in_file(id),
                    format!("cannot read the override file: {e}"),
                );
                loader.complete = false;
                id
            }
        };
        loader.merged.insert(canonical.clone());
        loader.file(id, &mut vec![canonical], Layer::Override);
    }
    let mut entries = Vec::new();
    let mut duplicates = Vec::new();
    for (node, layer) in std::mem::take(&mut loader.layers) {
        if let Kind::Map(more) = node.kind {
            merge::merge_root(&mut entries, more, layer, &mut duplicates);
        }
    }
    for d in duplicates {
        let message = loader.duplicate(&d);
        loader.problem(d.again, message);
    }
    loader.finish(Some(Node {
        span: top,
        kind: Kind::Map(entries),
    }))
}

struct Loader {
    sources: Sources,
    problems: Vec<(Span, String)>,
    /// Every file read (canonical paths): a file two others include is merged once.
    merged: HashSet<PathBuf>,
    override_path: Option<PathBuf>,
    complete: bool,
    /// Each file's own tree, in merge order: a file's includes before itself.
    layers: Vec<(Node, Layer)>,
}

impl Loader {
    fn problem(&mut self, span: Span, message: impl Into<String>) {
        self.problems.push((span, message.into()));
    }

    fn finish(self, root: Option<Node>) -> Tree {
        Tree {
            sources: self.sources,
            root: root.filter(|_| self.complete),
            problems: self.problems,
        }
    }

    /// Parses file `id` and queues it after what it includes. `chain` is the include path to
    /// it, itself last. For the root, returns the root's span when it is a mapping, and
    /// otherwise leaves it alone (queuing nothing) for decoding to report.
    fn file(&mut self, id: FileId, chain: &mut Vec<PathBuf>, layer: Layer) -> Option<Span> {
        let (root, errors) = yaml::parse_in(&self.sources.get(id).text, id);
        for e in errors {
            self.problem(e.span, e.message);
        }
        let Some(mut root) = root else {
            // An empty file adds nothing; a syntax error leaves its content out.
            if self.problems.iter().any(|(s, _)| s.file == id) {
                self.complete = false;
            }
            return None;
        };
        let Kind::Map(entries) = &mut root.kind else {
            if id == FileId::ROOT {
                self.layers.push((root, layer));
            } else if root.kind != Kind::Null {
                self.complete = false;
                self.problem(
                    root.span,
                    format!(
                        "a file merged into the config is a mapping of berth.yaml's keys, found {}",
                        root.describe()
                    ),
                );
            }
            return None;
        };
        if let Some(i) = entries
            .iter()
            .position(|(k, _)| k.scalar() == Some("include"))
        {
            let (_, list) = entries.remove(i);
            for (entry, path) in self.entries(id, &list) {
                self.include(entry, path, chain, layer);
            }
        }
        let span = root.span;
        self.layers.push((root, layer));
        Some(span)
    }

    /// The files an `include` value names, each with the entry that names it.
    fn entries(&mut self, id: FileId, list: &Node) -> Vec<(Span, PathBuf)> {
        let items = match &list.kind {
            Kind::Null => return Vec::new(),
            Kind::Seq(items) => items.iter().collect(),
            _ => vec![list],
        };
        let dir = self.sources.dir(id).to_path_buf();
        let including = canonical(&self.sources.get(id).path);
        let mut out = Vec::new();
        for item in items {
            let Some(text) = item.scalar().filter(|t| !t.is_empty()) else {
                self.problem(
                    item.span,
                    format!(
                        "include: expected a path or a glob such as `services/*.yaml`, found {}",
                        item.describe()
                    ),
                );
                continue;
            };
            if !glob::is_pattern(text) {
                let path = dir.join(text);
                if path.is_dir() {
                    self.problem(
                        item.span,
                        format!("include: `{text}` is a directory; include its files with a glob, e.g. `{}/*.yaml`", text.trim_end_matches('/')),
                    );
                    self.complete = false;
                } else if !path.exists() {
                    self.problem(
                        item.span,
                        format!(
                            "include: `{text}` not found (looked for {}); create it, or remove it from `include`",
                            display_path(&path)
                        ),
                    );
                    self.complete = false;
                } else {
                    out.push((item.span, path));
                }
                continue;
            }
            match glob::expand(&dir, text) {
                // A directory-wide glob would catch the file itself and the override, which
                // are merged by themselves: a glob passes over them.
                Ok(paths) => out.extend(
                    paths
                        .into_iter()
                        .filter(|p| {
                            let p = canonical(p);
                            p != including && Some(&p) != self.override_path.as_ref()
                        })
                        .map(|p| (item.span, p)),
                ),
                Err(message) => {
                    self.problem(item.span, format!("include: {message}"));
                    self.complete = false;
                }
            }
        }
        out
    }

    /// Reads and queues one included file, unless that would close a cycle or repeat a file.
    fn include(&mut self, entry: Span, path: PathBuf, chain: &mut Vec<PathBuf>, layer: Layer) {
        let full = canonical(&path);
        if let Some(at) = chain.iter().position(|p| *p == full) {
            let mut cycle: Vec<String> = chain[at..].iter().map(|p| display_path(p)).collect();
            cycle.push(display_path(&full));
            self.problem(
                entry,
                format!(
                    "include cycle: {}; a file cannot include itself, even through others",
                    cycle.join(" → ")
                ),
            );
            return;
        }
        if Some(&full) == self.override_path.as_ref() {
            self.problem(
                entry,
                format!(
                    "include: {} is the override file, merged last by itself; remove it from `include`",
                    display_path(&full)
                ),
            );
            return;
        }
        if !self.merged.insert(full.clone()) {
            return;
        }
        let text = match std::fs::read_to_string(&full) {
            Ok(text) => text,
            Err(e) => {
                self.problem(
                    entry,
                    format!("include: cannot read {}: {e}", display_path(&full)),
                );
                self.complete = false;
                return;
            }
        };
        let id = self.sources.add(Source::new(&full, text));
        chain.push(full);
        self.file(id, chain, layer);
        chain.pop();
    }

    /// "service `api` is also defined at base.yaml:3:3 …", for the second definition.
    fn duplicate(&self, d: &Duplicate) -> String {
        let first = self.sources.get(d.first.file);
        let root = &self.sources.root().path;
        let override_name = override_of(root)
            .unwrap_or_else(|| {
                let stem = root.file_stem().unwrap_or_default().to_string_lossy();
                root.with_file_name(format!("{stem}.override.yaml"))
            })
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!(
            "service `{}` is already defined at {}:{}:{}; define it in one file (changes of your own go in {override_name}, which merges into it)",
            d.name, first.display, d.first.start.line, d.first.start.column
        )
    }
}

/// The path with links and `..` resolved, so a file is known however it is reached; the path
/// itself when it cannot be resolved.
fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}
