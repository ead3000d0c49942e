//! Terminal styling: colour only when writing to a terminal and `NO_COLOR` is unset.

use std::io::IsTerminal;

/// Whether to colour output; chosen once per stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    colour: bool,
}

impl Style {
    pub const PLAIN: Style = Style { colour: false };

    /// Colour whatever the stream is (for tests of what a terminal would show).
    pub fn coloured() -> Style {
        Style { colour: true }
    }

    /// Colour for stderr when it is a terminal and `NO_COLOR` is not set.
    pub fn stderr() -> Style {
        Style::detect(std::io::stderr().is_terminal())
    }

    /// Colour for stdout when it is a terminal and `NO_COLOR` is not set.
    pub fn stdout() -> Style {
        Style::detect(std::io::stdout().is_terminal())
    }

    fn detect(is_terminal: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            colour: is_terminal && !no_color,
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
    pub fn red(self, text: &str) -> String {
        self.paint("1;31", text)
    }
    pub fn green(self, text: &str) -> String {
        self.paint("32", text)
    }
    pub fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// The `index`-th of six colours that tell services apart (cycling), for name prefixes.
    pub fn tint(self, index: usize, text: &str) -> String {
        const TINTS: [&str; 6] = ["36", "35", "34", "33", "32", "96"];
        self.paint(TINTS[index % TINTS.len()], text)
    }
}
