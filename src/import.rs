//! `berth import`: another tool's configuration (a Procfile, process-compose.yaml, a PM2
//! ecosystem file) as the equivalent berth.yaml, and the list of what had no equivalent.
//! Reading files and running `node` happen here; the mapping itself is pure, per format.

pub mod draft;
pub mod leftover;
pub mod pm2;
pub mod process_compose;
pub mod procfile;
pub mod replicas;
pub mod tree;
pub mod words;

use leftover::Leftover;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Procfile,
    ProcessCompose,
    Pm2,
}

impl Format {
    /// The format a file's name tells, as the tools themselves name their files.
    pub fn detect(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.starts_with("procfile") {
            return Some(Format::Procfile);
        }
        let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        if yaml && (name.starts_with("process-compose") || name.starts_with("compose")) {
            return Some(Format::ProcessCompose);
        }
        let js = [".js", ".cjs", ".mjs", ".json"]
            .iter()
            .any(|e| name.ends_with(e));
        if js && (name.starts_with("ecosystem") || name.contains("pm2") || name == "process.json") {
            return Some(Format::Pm2);
        }
        None
    }
}

/// What an import produced: the berth.yaml text and what it could not carry over.
#[derive(Debug)]
pub struct Imported {
    pub yaml: String,
    pub leftovers: Vec<Leftover>,
    pub services: usize,
}

/// Why an import did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportError {
    /// The source is not what its format says (at FILE:LINE:COL where it has a place).
    Source(String),
    /// A file could not be read, or `node` could not be run.
    Tool(String),
}

impl From<String> for ImportError {
    fn from(message: String) -> ImportError {
        ImportError::Source(message)
    }
}

/// How deep `extends` may chain before it is taken for a loop.
const MAX_EXTENDS: usize = 16;

/// Imports `path` read as `format`; `shown` is the file's name in messages. Errors say where.
pub fn import(path: &Path, shown: &str, format: Format) -> Result<Imported, ImportError> {
    let text = read(path, shown)?;
    let (draft, mut leftovers) = match format {
        Format::Procfile => procfile::convert(shown, &text, foreman_base_port()?)?,
        Format::ProcessCompose => {
            let files = extends_chain(path, shown, text)?;
            let parsed: Vec<tree::Parsed> = files
                .iter()
                .map(|(name, text)| tree::parse(name, text))
                .collect::<Result<_, _>>()?;
            // The base files first, each extending file laid over them.
            let mut merged = tree::Tree::of(parsed.last().expect("the file itself"));
            for p in parsed.iter().rev().skip(1) {
                merged = merged.merge(tree::Tree::of(p));
            }
            process_compose::convert(&merged, shown)?
        }
        Format::Pm2 => {
            // PM2 reads an app's `cwd` from the ecosystem file's directory, as berth does
            // from berth.yaml's, written beside it.
            let dir = path.parent().unwrap_or(Path::new("."));
            let exists = |p: &Path| dir.join(p).exists();
            let machine = pm2::Machine {
                exists: &exists,
                cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            };
            let is_json = shown.to_ascii_lowercase().ends_with(".json");
            if is_json {
                let parsed = tree::parse(shown, &text)?;
                pm2::convert(&tree::Tree::of(&parsed), shown, &pm2::own_line, &machine)?
            } else {
                let json = evaluate_js(path, shown)?;
                let parsed = tree::parse(shown, &json)?;
                let locate = |_: &tree::Tree, app: &str, key: &str| pm2::js_line(&text, app, key);
                pm2::convert(&tree::Tree::of(&parsed), shown, &locate, &machine)?
            }
        }
    };
    // In the order of the source (stable: what shares a line keeps its order).
    leftovers.sort_by_key(|l| (l.file != shown, l.line));
    Ok(Imported {
        services: draft.services.len(),
        yaml: render(&draft, &leftovers),
        leftovers,
    })
}

/// The draft as text, each note about a service kept as a comment above it.
pub fn render(draft: &draft::Draft, leftovers: &[Leftover]) -> String {
    let mut draft = draft.clone();
    for l in leftovers {
        match &l.comment_on {
            Some(name) => {
                if let Some(s) = draft.services.iter_mut().find(|s| &s.name == name) {
                    s.comments
                        .push(format!("not carried over: {}", l.comment()));
                }
            }
            None if l.line.is_none() => draft.header.push(format!("Note: {}", l.why)),
            None => {}
        }
    }
    draft::to_yaml(&draft)
}

fn read(path: &Path, shown: &str) -> Result<String, ImportError> {
    std::fs::read_to_string(path)
        .map_err(|e| ImportError::Tool(format!("cannot read {shown}: {e}")))
}

/// foreman's base port: `PORT` when set, else 5000.
fn foreman_base_port() -> Result<u16, String> {
    match std::env::var("PORT") {
        Ok(p) if !p.is_empty() => p.parse().map_err(|_| {
            format!("PORT={p} is not a port; foreman reads it as the base port (e.g. 5000)")
        }),
        _ => Ok(procfile::BASE_PORT),
    }
}

/// The file and the files it `extends`, the file itself first, each with its text.
fn extends_chain(path: &Path, shown: &str, text: String) -> Result<Vec<(String, String)>, String> {
    let mut files = vec![(shown.to_string(), text)];
    let mut at: PathBuf = path.to_path_buf();
    let mut shown_at = shown.to_string();
    loop {
        let (name, text) = files.last().expect("one at least");
        let parsed = tree::parse(name, text)?;
        let Some(base) = parsed.root.get("extends") else {
            return Ok(files);
        };
        let base_name = base
            .scalar()
            .ok_or_else(|| {
                format!(
                    "{name}:{}: extends: expected a file name",
                    base.span.start.line
                )
            })?
            .to_string();
        if files.len() > MAX_EXTENDS {
            return Err(format!(
                "{name}: `extends` goes {MAX_EXTENDS} files deep; is there a loop?"
            ));
        }
        let dir = at.parent().unwrap_or(Path::new("."));
        let next = dir.join(&base_name);
        let next_shown = Path::new(&shown_at)
            .parent()
            .map(|p| p.join(&base_name).display().to_string())
            .unwrap_or(base_name.clone());
        let text = std::fs::read_to_string(&next).map_err(|e| {
            format!(
                "{name}:{}: extends: cannot read {next_shown}: {e}",
                base.span.start.line
            )
        })?;
        files.push((next_shown.clone(), text));
        at = next;
        shown_at = next_shown;
    }
}

/// The JavaScript ecosystem file as JSON, made by `node` (the file may compute its values).
fn evaluate_js(path: &Path, shown: &str) -> Result<String, ImportError> {
    let absolute = std::fs::canonicalize(path)
        .map_err(|e| ImportError::Tool(format!("cannot read {shown}: {e}")))?;
    // import() reads CommonJS and ES modules alike; `default` is what either exports. A
    // regular expression (an `ignore_watch` entry) is kept as its source, not as JSON's `{}`.
    let script = format!(
        "const {{pathToFileURL}} = require('url');\
        import(pathToFileURL(process.argv[1]).href).then(m => {{\
          const c = (m && m.default !== undefined) ? m.default : m;\
          const keep = (k, v) => v instanceof RegExp ? {{ '{key}': v.source, flags: v.flags }} : v;\
          process.stdout.write(JSON.stringify(c, keep, 2));\
        }}).catch(e => {{ console.error(String(e && e.stack || e)); process.exit(1); }});",
        key = pm2::REGEXP_KEY
    );
    let out = Command::new("node")
        .arg("-e")
        .arg(script)
        .arg(&absolute)
        .current_dir(absolute.parent().unwrap_or(Path::new("/")))
        .output()
        .map_err(|e| {
            ImportError::Tool(if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{shown} is JavaScript, and reading it needs `node`, which is not installed: install Node.js (e.g. `apt-get install nodejs`), or convert the file to JSON (`node -e \"console.log(JSON.stringify(require('./{shown}'), null, 2))\" > ecosystem.config.json`) and import that"
                )
            } else {
                format!("cannot run node to read {shown}: {e}")
            })
        })?;
    if !out.status.success() {
        return Err(ImportError::Source(format!(
            "node could not evaluate {shown}:\n{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        )));
    }
    String::from_utf8(out.stdout).map_err(|_| {
        ImportError::Source(format!("{shown}: node printed something that is not UTF-8"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_tell_the_format() {
        for (name, format) in [
            ("Procfile", Some(Format::Procfile)),
            ("Procfile.dev", Some(Format::Procfile)),
            ("process-compose.yaml", Some(Format::ProcessCompose)),
            ("process-compose.override.yml", Some(Format::ProcessCompose)),
            ("ecosystem.config.js", Some(Format::Pm2)),
            ("ecosystem.config.cjs", Some(Format::Pm2)),
            ("ecosystem.json", Some(Format::Pm2)),
            ("pm2.json", Some(Format::Pm2)),
            ("berth.yaml", None),
            ("package.json", None),
        ] {
            assert_eq!(Format::detect(Path::new(name)), format, "{name}");
        }
    }
}
