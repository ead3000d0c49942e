//! Fitting lines to the terminal: how wide stderr's terminal is (none when it is not one:
//! lines then go out whole, for a log or a pipe to keep), wrapping at word boundaries with
//! a hanging indent, and cutting a line that must stay one row (the live block, which is
//! redrawn by moving up as many rows as it printed lines). Widths are columns on screen:
//! wide characters count two, colour codes none.

use std::io::IsTerminal;
use unicode_width::UnicodeWidthChar;

/// Columns of stderr's terminal; `None` when stderr is not a terminal. A terminal that does
/// not tell its size is taken at `COLUMNS`, else 80.
pub fn stderr_width() -> Option<usize> {
    let stderr = std::io::stderr();
    if !stderr.is_terminal() {
        return None;
    }
    let told = rustix::termios::tcgetwinsize(&stderr)
        .ok()
        .map(|size| usize::from(size.ws_col))
        .filter(|&cols| cols > 0);
    let from_env = || {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse().ok())
            .filter(|&cols: &usize| cols > 0)
    };
    Some(told.or_else(from_env).unwrap_or(80))
}

/// Columns `text` takes on screen (ANSI escape sequences take none).
pub fn width_of(text: &str) -> usize {
    cells(text).map(|(_, _, w)| w).sum()
}

/// The characters of `text` that show, each with where it starts and the columns it takes;
/// escape sequences (colours) are passed over, so no break or cut falls inside one.
fn cells(text: &str) -> impl Iterator<Item = (usize, char, usize)> + '_ {
    let mut chars = text.char_indices();
    std::iter::from_fn(move || {
        loop {
            let (i, c) = chars.next()?;
            if c != '\x1b' {
                return Some((i, c, c.width().unwrap_or(0)));
            }
            // `ESC [ parameters final`: the final byte is in `@`..=`~`, after the `[`.
            let mut seq = 0;
            for (_, c) in chars.by_ref() {
                seq += 1;
                if seq > 1 && ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    })
}

/// `line` cut to `width` columns, ending in `…` when cut; colour codes are kept (and reset
/// after a cut, which may fall inside a coloured part).
pub fn cut(line: &str, width: Option<usize>) -> String {
    let Some(width) = width.filter(|&w| width_of(line) > w) else {
        return line.to_string();
    };
    let room = width.saturating_sub(1); // the `…`
    let mut used = 0;
    let end = cells(line)
        .find(|&(_, _, w)| {
            used += w;
            used > room
        })
        .map_or(line.len(), |(i, _, _)| i);
    // No space left before the `…`.
    let mut out = format!("{}…", line[..end].trim_end());
    if line.contains('\x1b') {
        out.push_str("\x1b[0m");
    }
    out
}

/// `text` in pieces that fit `width` once the first is put after `first` columns and every
/// other after `rest`; broken at spaces, but not inside a `command` in backticks (one to be
/// copied whole) while it fits a row; a word longer than a whole row broken where it must.
/// No width: the text whole. Colour codes stay with the text they paint.
pub fn wrap(text: &str, width: Option<usize>, first: usize, rest: usize) -> Vec<String> {
    let Some(width) = width else {
        return vec![text.to_string()];
    };
    let mut pieces = Vec::new();
    let mut left = text;
    let mut room = width.saturating_sub(first).max(1);
    // Whether `left` begins inside backticks (a command broken over rows).
    let mut in_code = false;
    while width_of(left) > room {
        let (mut used, mut end, mut code) = (0, left.len(), in_code);
        // The last space outside backticks, and the last one at all.
        let (mut between, mut last_space) = (None, None);
        for (i, c, w) in cells(left) {
            if used + w > room && used > 0 {
                end = i;
                break;
            }
            match c {
                '`' => code = !code,
                ' ' if i > 0 => {
                    last_space = Some(i);
                    if !code {
                        between = Some(i);
                    }
                }
                _ => {}
            }
            used += w;
        }
        let at = match (between, last_space) {
            _ if !code && left[end..].starts_with(' ') => end,
            (Some(space), _) | (None, Some(space)) => space,
            (None, None) => end,
        };
        pieces.push(left[..at].trim_end().to_string());
        in_code ^= left[..at].matches('`').count() % 2 == 1;
        left = left[at..].trim_start_matches(' ');
        room = width.saturating_sub(rest).max(1);
    }
    pieces.push(left.to_string());
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_wrapped_at_spaces_with_room_for_its_indents() {
        /// Text, width, first and other rows' indents, the pieces.
        type Case<'a> = (&'a str, Option<usize>, usize, usize, &'a [&'a str]);
        let table: [Case; 8] = [
            ("short", Some(20), 2, 2, &["short"]),
            (
                "it exited with code 1 after 5 restarts",
                Some(20),
                7,
                7,
                &["it exited", "with code 1", "after 5", "restarts"],
            ),
            // The first row has less room than the rest.
            (
                "aaa bbb ccc ddd",
                Some(10),
                6,
                2,
                &["aaa", "bbb ccc", "ddd"],
            ),
            // A space where the row ends is where it breaks.
            ("aaaa bbbb", Some(4), 0, 0, &["aaaa", "bbbb"]),
            // A word longer than a row is broken.
            (
                "see /a/very/long/path/to/a/file",
                Some(12),
                0,
                0,
                &["see", "/a/very/long", "/path/to/a/f", "ile"],
            ),
            // A command in backticks is kept whole while it fits a row.
            (
                "then run `berth up web` again",
                Some(18),
                0,
                0,
                &["then run", "`berth up web`", "again"],
            ),
            (
                "run `berth logs --since 5m db` now",
                Some(12),
                0,
                0,
                // Too long for a row: broken inside, at its spaces.
                &["run", "`berth logs", "--since 5m", "db` now"],
            ),
            // Not a terminal: whole.
            ("aaa bbb ccc ddd", None, 6, 2, &["aaa bbb ccc ddd"]),
        ];
        for (text, width, first, rest, pieces) in table {
            assert_eq!(
                wrap(text, width, first, rest),
                pieces,
                "{text:?} in {width:?}"
            );
        }
    }

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(width_of("日本語 ok"), 9);
        assert_eq!(wrap("日本語 日本語", Some(8), 0, 0), ["日本語", "日本語"]);
        assert_eq!(cut("日本語です", Some(6)), "日本…");
    }

    #[test]
    fn a_cut_line_ends_in_an_ellipsis_and_keeps_its_colours_whole() {
        assert_eq!(cut("· api not started", Some(20)), "· api not started");
        assert_eq!(cut("· api not started", Some(10)), "· api not…");
        assert_eq!(cut("· api not started", Some(11)), "· api not…");
        assert_eq!(cut("· api not started", None), "· api not started");
        let red = "\x1b[1;31m✗\x1b[0m db failed";
        assert_eq!(width_of(red), 11);
        assert_eq!(cut(red, Some(11)), red);
        assert_eq!(cut(red, Some(6)), "\x1b[1;31m✗\x1b[0m db…\x1b[0m");
        let dim = "\x1b[2m· web not started: db failed\x1b[0m";
        assert_eq!(cut(dim, Some(8)), "\x1b[2m· web n…\x1b[0m");
        // Wrapped, the colour stays with its words.
        assert_eq!(
            wrap(dim, Some(16), 0, 2),
            ["\x1b[2m· web not", "started: db", "failed\x1b[0m"]
        );
    }
}
