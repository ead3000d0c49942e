//! Text carried from another tool into berth.yaml: `$` escaped where berth would interpolate
//! it, `$PORT` turned into berth's `${port}`, and argument strings split into words as a
//! shell would.

/// `text` as a berth value that means the very same characters: a `$` before `{` or `$` is
/// written `$$`, so `${VAR}` reaches the service (or its shell) untouched. A bare `$VAR` needs
/// nothing: berth leaves it alone.
pub fn literal(text: &str) -> String {
    with_port(text, false)
}

/// Like [`literal`], and `$PORT` or `${PORT}` become `${port}` when `port` (the service has a
/// berth port, which berth also gives it as `PORT`).
pub fn with_port(text: &str, port: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if port && let Some(after) = port_reference(rest) {
            out.push_str("${port}");
            rest = after;
            continue;
        }
        if c == '$' && rest[1..].starts_with(['{', '$']) {
            out.push_str("$$");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// What follows `$PORT` or `${PORT}` at the start of `text`, if that is what starts it.
fn port_reference(text: &str) -> Option<&str> {
    if let Some(after) = text.strip_prefix("${PORT}") {
        return Some(after);
    }
    let after = text.strip_prefix("$PORT")?;
    let more = after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
    (!more).then_some(after)
}

/// Whether a shell line reads the port (`$PORT` or `${PORT}`, not `$PORTAL`).
pub fn mentions_port(line: &str) -> bool {
    line.match_indices('$')
        .any(|(i, _)| port_reference(&line[i..]).is_some())
}

/// Splits an argument string into words the way `sh` would, without expanding anything:
/// blanks separate, `'…'` is literal, `"…"` keeps blanks, a backslash escapes.
pub fn split(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(format!("unclosed `'` in `{text}`")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(format!("unclosed `\"` in `{text}`")),
                        },
                        Some(c) => w.push(c),
                        None => return Err(format!("unclosed `\"` in `{text}`")),
                    }
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(String::new);
                if let Some(c) = chars.next() {
                    w.push(c);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_berth_would_read_are_escaped() {
        for (from, to) in [
            ("plain", "plain"),
            ("$HOME/x", "$HOME/x"),
            ("${HOME}/x", "$${HOME}/x"),
            ("pid $$", "pid $$$"),
            ("a$", "a$"),
            ("${A:-b} and ${B}", "$${A:-b} and $${B}"),
        ] {
            assert_eq!(literal(from), to, "{from}");
        }
    }

    #[test]
    fn the_port_becomes_berths() {
        for (from, to) in [
            ("serve -p $PORT", "serve -p ${port}"),
            ("serve -p ${PORT}", "serve -p ${port}"),
            (
                "serve --bind=0.0.0.0:$PORT/x",
                "serve --bind=0.0.0.0:${port}/x",
            ),
            ("echo $PORTAL ${HOME}", "echo $PORTAL $${HOME}"),
            ("serve -p ${PORT:-3000}", "serve -p $${PORT:-3000}"),
        ] {
            assert_eq!(with_port(from, true), to, "{from}");
        }
        assert_eq!(with_port("serve -p $PORT", false), "serve -p $PORT");
        assert!(mentions_port("x -p $PORT"));
        assert!(mentions_port("x -p ${PORT}"));
        assert!(!mentions_port("x $PORTAL"));
        assert!(!mentions_port("x"));
    }

    #[test]
    fn words_split_as_a_shell_does() {
        let ok = |t: &str| split(t).unwrap();
        assert_eq!(ok("--port 80  -v"), ["--port", "80", "-v"]);
        assert_eq!(ok("'a b' \"c d\" e\\ f"), ["a b", "c d", "e f"]);
        assert_eq!(ok("\"say \\\"hi\\\"\" ''"), ["say \"hi\"", ""]);
        assert_eq!(ok(""), Vec::<String>::new());
        assert!(split("'open").is_err());
        assert!(split("\"open").is_err());
    }
}
