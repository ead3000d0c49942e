//! `.env` files as dotenv users expect them: `KEY=VALUE`, `export KEY=VALUE`, `#` comments,
//! single quotes (literal), double quotes (escapes, may span lines), unquoted values with
//! trailing comments, and `$VAR` / `${VAR}` / `${VAR:-default}` expansion outside single quotes.

use super::source::Span;

/// What an env file holds: its variables in file order, and every problem found.
#[derive(Debug, Default)]
pub struct Parsed {
    pub vars: Vec<(String, String)>,
    pub problems: Vec<(Span, String)>,
}

/// Parses an env file. `outer` looks up variables not defined earlier in this file.
pub fn parse(text: &str, outer: &dyn Fn(&str) -> Option<String>) -> Parsed {
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut problems = Vec::new();
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut n = 0;
    while n < lines.len() {
        let line_no = n + 1;
        let raw = lines[n];
        n += 1;
        let indent = raw.len() - raw.trim_start().len();
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let body = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let body_col = raw.chars().count() - body.chars().count() + 1;
        let Some(eq) = body.find('=') else {
            problems.push((
                Span::new(line_no, indent + 1, line.chars().count()),
                "expected `KEY=VALUE`".to_string(),
            ));
            continue;
        };
        let key = body[..eq].trim_end();
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid {
            problems.push((
                Span::new(line_no, body_col, key.chars().count().max(1)),
                format!("invalid variable name `{key}`: use letters, digits and `_`, not starting with a digit"),
            ));
            continue;
        }
        let value_raw = body[eq + 1..].trim_start();
        let value_col = raw.chars().count() - value_raw.chars().count() + 1;
        let lookup = |name: &str| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| outer(name))
        };
        let value = if let Some(rest) = value_raw.strip_prefix('\'') {
            match rest.find('\'') {
                Some(end) => Ok(rest[..end].to_string()),
                None => Err("unterminated single quote: add a closing `'`"),
            }
        } else if let Some(rest) = value_raw.strip_prefix('"') {
            // A double-quoted value may run over several lines until its closing quote.
            let mut joined = rest.to_string();
            loop {
                if let Some(end) = closing_double_quote(&joined) {
                    break Ok(expand(&unescape(&joined[..end]), &lookup));
                }
                if n >= lines.len() {
                    break Err("unterminated double quote: add a closing `\"`");
                }
                joined.push('\n');
                joined.push_str(lines[n]);
                n += 1;
            }
        } else {
            let value = match value_raw.find(" #").or_else(|| value_raw.find("\t#")) {
                Some(comment) => &value_raw[..comment],
                None => value_raw,
            };
            Ok(expand(value.trim_end(), &lookup))
        };
        match value {
            Ok(v) => vars.push((key.to_string(), v)),
            Err(message) => problems.push((Span::new(line_no, value_col, 1), message.to_string())),
        }
    }
    Parsed { vars, problems }
}

fn closing_double_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            // `\$` stays escaped for `expand`, which turns it into a literal `$`.
            Some('$') => out.push_str("\\$"),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR-default}`; unknown variables are empty, as
/// in every dotenv implementation; `\$` is a literal `$`.
fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'$') => {
                out.push('$');
                i += 2;
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                let Some(close) = chars[i + 2..].iter().position(|&c| c == '}') else {
                    out.extend(&chars[i..]);
                    break;
                };
                let inner: String = chars[i + 2..i + 2 + close].iter().collect();
                let (name, default, if_empty) = match inner.split_once(":-") {
                    Some((n, d)) => (n.to_string(), Some(d.to_string()), true),
                    None => match inner.split_once('-') {
                        Some((n, d)) => (n.to_string(), Some(d.to_string()), false),
                        None => (inner.clone(), None, false),
                    },
                };
                let value = lookup(&name).filter(|v| !(if_empty && v.is_empty()));
                out.push_str(&value.or(default).unwrap_or_default());
                i += 3 + close;
            }
            '$' if chars
                .get(i + 1)
                .is_some_and(|&c| c.is_ascii_alphabetic() || c == '_') =>
            {
                let len = chars[i + 1..].iter().take_while(|&&c| is_name(c)).count();
                let name: String = chars[i + 1..i + 1 + len].iter().collect();
                out.push_str(&lookup(&name).unwrap_or_default());
                i += 1 + len;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Vec<(String, String)> {
        let outer = |name: &str| (name == "OUTER").then(|| "o".to_string());
        let parsed = parse(text, &outer);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        parsed.vars
    }

    fn get(text: &str, key: &str) -> String {
        vars(text)
            .into_iter()
            .rev()
            .find(|(k, _)| k == key)
            .unwrap()
            .1
    }

    #[test]
    fn the_forms_dotenv_users_write() {
        let text = "# comment\n\nA=1\nexport B=two words # trailing\nC='single $A #x'\nD=\"dq \\\"$A\\\" \\n end\"\nE=${A}-${OUTER}-${NONE:-dflt}-$A-\\$A\nF=\"multi\nline\"\nG=\n  H = spaced\n";
        assert_eq!(get(text, "A"), "1");
        assert_eq!(get(text, "B"), "two words");
        assert_eq!(get(text, "C"), "single $A #x");
        assert_eq!(get(text, "D"), "dq \"1\" \n end");
        assert_eq!(get(text, "E"), "1-o-dflt-1-$A");
        assert_eq!(get(text, "F"), "multi\nline");
        assert_eq!(get(text, "G"), "");
        assert_eq!(get(text, "H"), "spaced");
        assert_eq!(vars("A=1\nA=2\n").len(), 2);
        assert_eq!(get("A=1\nA=2\n", "A"), "2");
        assert_eq!(get("URL=http://x/#frag\n", "URL"), "http://x/#frag");
    }

    #[test]
    fn problems_have_positions() {
        let problems = parse("GOOD=1\nnot a var\n1BAD=x\nQ='open\n", &|_| None).problems;
        let at: Vec<(usize, usize)> = problems
            .iter()
            .map(|(s, _)| (s.start.line, s.start.column))
            .collect();
        assert_eq!(at, [(2, 1), (3, 1), (4, 3)]);
        assert!(problems[2].1.contains("unterminated single quote"));
        let problems = parse("A=\"never closed\nB=1\n", &|_| None).problems;
        assert!(problems[0].1.contains("unterminated double quote"));
    }
}
