//! Property tests: whatever text berth is given, loading it never panics, and every problem
//! it reports points at a real place in the file.

use crate::support::{fixture, repo};
use berth::config::source::Source;
use berth::config::{self, Options};
use proptest::prelude::*;
use std::path::PathBuf;

/// Every config the repository has, valid and broken: the seeds that mutations start from.
fn seeds() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for dir in [fixture("valid", ""), fixture("invalid", "")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    for entry in std::fs::read_dir(repo("examples")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() {
            files.push(dir.join("berth.yaml"));
        }
    }
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Edit {
    DeleteChar(usize),
    InsertChar(usize, char),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Indent(usize),
    Dedent(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let special = prop::sample::select(vec![
        ':', '-', ' ', '\n', '\t', '{', '}', '[', ']', ',', '"', '\'', '$', '#', '&', '*', '!',
        '|', '>', '<', '%', '@', '`', '?', 'a', '0', 'é', '\u{0}', '\u{feff}',
    ]);
    prop_oneof![
        any::<usize>().prop_map(Edit::DeleteChar),
        (any::<usize>(), special).prop_map(|(at, c)| Edit::InsertChar(at, c)),
        any::<usize>().prop_map(Edit::DeleteLine),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        any::<usize>().prop_map(Edit::Indent),
        any::<usize>().prop_map(Edit::Dedent),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let mut lines: Vec<String> = chars
            .iter()
            .collect::<String>()
            .split('\n')
            .map(String::from)
            .collect();
        let n = lines.len();
        match *e {
            Edit::DeleteChar(at) if !chars.is_empty() => {
                chars.remove(at % chars.len());
                continue;
            }
            Edit::InsertChar(at, c) => {
                chars.insert(at % (chars.len() + 1), c);
                continue;
            }
            Edit::DeleteLine(at) if n > 1 => {
                lines.remove(at % n);
            }
            Edit::DuplicateLine(at) => {
                let line = lines[at % n].clone();
                lines.insert(at % n, line);
            }
            Edit::SwapLines(a, b) => lines.swap(a % n, b % n),
            Edit::Indent(at) => lines[at % n].insert_str(0, "  "),
            Edit::Dedent(at) => {
                let l = &mut lines[at % n];
                let strip = l.len() - l.trim_start_matches(' ').len();
                l.replace_range(..strip.min(2), "");
            }
            _ => continue,
        }
        chars = lines.join("\n").chars().collect();
    }
    chars.into_iter().collect()
}

/// Loads `text` as if it were the file at `path`; checks every reported position.
fn load_checks_positions(path: &std::path::Path, text: String) -> Result<(), TestCaseError> {
    let source = Source::new(path, text);
    let options = Options {
        profile: None,
        state_dir: None,
        env: [("HOME".to_string(), "/home/x".to_string())].into(),
    };
    if let Err(diagnostics) = config::load_source(&source, &options) {
        prop_assert!(!diagnostics.is_empty());
        for d in diagnostics {
            if d.file != source.display {
                continue; // a problem inside an env file the config names
            }
            let lines: Vec<&str> = source.text.split('\n').collect();
            prop_assert!(
                d.line >= 1 && d.line <= lines.len() + 1,
                "line {} of {}: {}",
                d.line,
                lines.len(),
                d.message
            );
            let width = lines
                .get(d.line - 1)
                .map(|l| l.chars().count())
                .unwrap_or(0);
            prop_assert!(
                d.column >= 1 && d.column <= width + 1,
                "column {} of {width} on line {}: {}",
                d.column,
                d.line,
                d.message
            );
            prop_assert!(!d.message.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn mutated_configs_never_panic_and_point_at_real_places(
        seed in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..8),
    ) {
        let seeds = seeds();
        let (path, text) = &seeds[seed.index(seeds.len())];
        load_checks_positions(path, apply(text, &edits))?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ a-z:\\-\\n{}\\[\\],\"'$#&*!|>]{0,200}") {
        load_checks_positions(&fixture("valid", "arbitrary.yaml"), text)?;
    }
}
