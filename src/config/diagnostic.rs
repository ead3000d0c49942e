//! A problem found in a config file, with its exact position, and how it is shown to people
//! (`FILE:LINE:COL: message` plus the offending line) and to scripts (JSON).

use super::source::{Source, Span};
use crate::style::Style;
use serde::Serialize;

/// One problem, pointing at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The offending line's text, for display.
    #[serde(skip)]
    pub source_line: String,
    /// How many characters to underline.
    #[serde(skip)]
    pub len: usize,
}

impl Diagnostic {
    pub fn new(source: &Source, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: source.display.clone(),
            line: span.start.line,
            column: span.start.column,
            message: message.into(),
            source_line: source.line(span.start.line).to_string(),
            len: span.len.max(1),
        }
    }

    /// Renders the diagnostic as `FILE:LINE:COL: message`, the line, and a caret under the spot.
    pub fn render(&self, style: Style) -> String {
        let gutter = self.line.to_string();
        let pad = " ".repeat(gutter.len());
        // Tabs are kept so the caret lines up with the text above it.
        let lead: String = self
            .source_line
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let available = self
            .source_line
            .chars()
            .count()
            .saturating_sub(self.column.saturating_sub(1));
        let width = self.len.min(available.max(1));
        format!(
            "{}: {}\n {} {} {}\n {} {} {}{}\n",
            style.bold(&format!("{}:{}:{}", self.file, self.line, self.column)),
            self.message,
            style.dim(&gutter),
            style.dim("|"),
            self.source_line,
            pad,
            style.dim("|"),
            lead,
            style.red(&"^".repeat(width)),
        )
    }
}

/// Sorts diagnostics by file and position and drops exact repeats (a problem in a part that
/// several profiles share is found once per profile).
pub fn normalize(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| {
        (&a.file, a.line, a.column, &a.message).cmp(&(&b.file, b.line, b.column, &b.message))
    });
    diags.dedup_by(|a, b| {
        a.file == b.file && a.line == b.line && a.column == b.column && a.message == b.message
    });
}
