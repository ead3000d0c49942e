//! A config file's text with the name it is shown under, positions inside it, and the set of
//! files one config is read from (berth.yaml, what it includes, its override), so that every
//! position says which of them it is in.

use std::path::{Path, PathBuf};

/// A position in a source file: 1-based line, 1-based column counted in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// Which of a config's files a position is in: an index into its `Sources`. The file named
/// on the command line (or found) is `ROOT`, so a span made without thinking of includes
/// points there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FileId(u32);

impl FileId {
    pub const ROOT: FileId = FileId(0);
}

/// A range of a source file. `len` is how many characters to underline (at least one is shown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    pub start: Pos,
    pub len: usize,
    pub file: FileId,
}

impl Span {
    /// A span in the root file.
    pub fn new(line: usize, column: usize, len: usize) -> Span {
        Span {
            start: Pos { line, column },
            len,
            file: FileId::ROOT,
        }
    }

    /// The same place, in `file`.
    pub fn in_file(self, file: FileId) -> Span {
        Span { file, ..self }
    }

    /// A span `offset` characters into this one, `len` long, when both lie on the same line.
    pub fn sub(self, offset: usize, len: usize) -> Span {
        Span::new(self.start.line, self.start.column + offset, len).in_file(self.file)
    }
}

/// The text of a file that diagnostics point into.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path used to read the file.
    pub path: PathBuf,
    /// The path as shown to the user (relative to the working directory when below it).
    pub display: String,
    pub text: String,
}

impl Source {
    /// `text` with its line breaks made `\n`: YAML counts CRLF and a lone CR as a break too,
    /// and positions must mean the same lines to the parser, to messages and to editors.
    pub fn new(path: &Path, text: String) -> Source {
        let text = if text.contains('\r') {
            text.replace("\r\n", "\n").replace('\r', "\n")
        } else {
            text
        };
        Source {
            path: path.to_path_buf(),
            display: display_path(path),
            text,
        }
    }

    /// The text of 1-based line `line`, without its line break.
    pub fn line(&self, line: usize) -> &str {
        self.text
            .split('\n')
            .nth(line.saturating_sub(1))
            .unwrap_or("")
    }
}

/// Every file of one config, in the order they were read; the root first.
#[derive(Debug, Clone)]
pub struct Sources {
    files: Vec<Source>,
}

impl Sources {
    pub fn new(root: Source) -> Sources {
        Sources { files: vec![root] }
    }

    pub fn add(&mut self, source: Source) -> FileId {
        self.files.push(source);
        FileId(u32::try_from(self.files.len() - 1).expect("fewer than 2^32 files"))
    }

    pub fn root(&self) -> &Source {
        &self.files[0]
    }

    pub fn get(&self, file: FileId) -> &Source {
        &self.files[file.0 as usize]
    }

    /// The directory of the file a span is in: what relative paths written there mean.
    pub fn dir(&self, file: FileId) -> &Path {
        self.get(file).path.parent().unwrap_or(Path::new("/"))
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &Source)> {
        (0u32..).map(FileId).zip(&self.files)
    }
}

/// How a path is shown in messages: relative to the current directory when it lies below it.
pub fn display_path(path: &Path) -> String {
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(rel) = path.strip_prefix(&cwd)
        && !rel.as_os_str().is_empty()
    {
        return rel.display().to_string();
    }
    path.display().to_string()
}

#[cfg(test)]
mod line_break_tests {
    use super::*;
    use crate::config::{self, Options};

    #[test]
    fn crlf_and_lone_cr_are_line_breaks_everywhere() {
        let source = Source::new(Path::new("b.yaml"), "a: 1\r\nb: 2\rc: 3\n".into());
        assert_eq!(source.text, "a: 1\nb: 2\nc: 3\n");
        assert_eq!(source.line(3), "c: 3");
        // Found by fuzzing: a problem on the line after a lone CR was reported past the end.
        let source = Source::new(
            Path::new("berth.yaml"),
            "services:\r  api:\r    comand: x\r".into(),
        );
        let problems = config::load_source(&source, &Options::default()).unwrap_err();
        let typo = problems
            .iter()
            .find(|d| d.message.contains("comand"))
            .unwrap();
        assert_eq!((typo.line, typo.column), (3, 5));
        assert_eq!(source.line(typo.line), "    comand: x");
    }
}
