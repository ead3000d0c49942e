//! Signals a service may be stopped with, by name (`TERM`, `SIGTERM`, `int`) or number.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Linux signal numbers and names, in the order `kill -l` prints them.
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// A known signal; only values from the table above can exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Signal(i32);

impl Signal {
    pub const TERM: Signal = Signal(15);
    pub const KILL: Signal = Signal(9);

    pub fn number(self) -> i32 {
        self.0
    }

    pub fn name(self) -> &'static str {
        SIGNALS
            .iter()
            .find(|(_, n)| *n == self.0)
            .map(|(name, _)| *name)
            .unwrap_or("TERM")
    }
}

impl FromStr for Signal {
    type Err = String;

    fn from_str(text: &str) -> Result<Signal, String> {
        let upper = text.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Ok(n) = bare.parse::<i32>() {
            return SIGNALS
                .iter()
                .find(|(_, num)| *num == n)
                .map(|(_, num)| Signal(*num))
                .ok_or_else(|| {
                    format!("unknown signal number {n}; use 1 to 31 or a name like TERM")
                });
        }
        SIGNALS
            .iter()
            .find(|(name, _)| *name == bare)
            .map(|(_, n)| Signal(*n))
            .ok_or_else(|| {
                let names: Vec<&str> = SIGNALS.iter().map(|(name, _)| *name).collect();
                let hint = crate::config::suggest::did_you_mean(bare, names.iter().copied())
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                format!("unknown signal `{text}`; {hint}use a name like TERM, INT, QUIT or HUP")
            })
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for Signal {
    type Error = String;
    fn try_from(s: String) -> Result<Signal, String> {
        s.parse()
    }
}

impl From<Signal> for String {
    fn from(s: Signal) -> String {
        s.name().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_sig_in_any_case() {
        assert_eq!("TERM".parse(), Ok(Signal::TERM));
        assert_eq!("SIGTERM".parse(), Ok(Signal::TERM));
        assert_eq!("int".parse::<Signal>().unwrap().number(), 2);
        assert_eq!("9".parse(), Ok(Signal::KILL));
        assert_eq!("SIGQUIT".parse::<Signal>().unwrap().name(), "QUIT");
    }

    #[test]
    fn unknown_names_suggest_a_near_one() {
        let err = "TREM".parse::<Signal>().unwrap_err();
        assert!(err.contains("did you mean `TERM`"), "{err}");
        assert!("64".parse::<Signal>().is_err());
    }
}
