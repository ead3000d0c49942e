//! What an import could not carry over: a setting of the source with its place (FILE:LINE),
//! why berth has no equivalent, and whether the note is worth keeping in the output too.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftover {
    /// The source file as the user named it (a base file of `extends` names itself).
    pub file: String,
    /// 1-based; `None` where the source has no lines to point at.
    pub line: Option<usize>,
    /// The setting, as the source spells it (`availability.exit_on_end`).
    pub key: String,
    pub why: String,
    /// The service it belongs to, whose entry in the output carries the note as a comment;
    /// `None`: a note for stderr only.
    pub comment_on: Option<String>,
}

impl Leftover {
    pub fn new(file: &str, line: Option<usize>, key: &str, why: impl Into<String>) -> Leftover {
        Leftover {
            file: file.to_string(),
            line,
            key: key.to_string(),
            why: why.into(),
            comment_on: None,
        }
    }

    /// The same note, also kept as a comment on `service` in the output.
    pub fn on(mut self, service: &str) -> Leftover {
        self.comment_on = Some(service.to_string());
        self
    }

    /// The comment line the output carries for it.
    pub fn comment(&self) -> String {
        format!("{}: {}", self.key, self.why)
    }
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: ", self.file)?,
            None => write!(f, "{}: ", self.file)?,
        }
        // A note about the whole file has no key.
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        write!(f, "{}", self.why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_where_and_why() {
        let l = Leftover::new("Procfile", Some(3), "release", "a one-off task").on("web");
        assert_eq!(l.to_string(), "Procfile:3: release: a one-off task");
        assert_eq!(l.comment(), "release: a one-off task");
        assert_eq!(l.comment_on.as_deref(), Some("web"));
        let l = Leftover::new("ecosystem.config.js", None, "deploy", "no equivalent");
        assert_eq!(l.to_string(), "ecosystem.config.js: deploy: no equivalent");
        let l = Leftover::new("Procfile", None, "", "a note on all of it");
        assert_eq!(l.to_string(), "Procfile: a note on all of it");
    }
}
