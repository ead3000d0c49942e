//! Folding the repeats out of a log's last lines: a service that fails the same way on
//! every restart writes the same few lines each time, and five copies of them hide what
//! little else it said. Each run of copies is shown once with how many times it came.

/// Lines that came `times` times in a row (once: lines as they are).
#[derive(Debug, PartialEq, Eq)]
pub struct Run<'a> {
    pub lines: &'a [String],
    pub times: usize,
}

/// The longest block of lines looked for as repeating: a failed start's few lines and the
/// keeper's `exited with code 1`, with room to spare.
const LONGEST_BLOCK: usize = 16;

/// `lines` as runs, in order. Copies are found from the end, so that a block ends where the
/// log does (the last start's last line); when the lines begin inside an earlier copy (where
/// the tail was cut), that part copy is left out rather than shown as lines of their own.
pub fn fold(lines: &[String]) -> Vec<Run<'_>> {
    let mut runs = Vec::new();
    let mut end = lines.len();
    while end > 0 {
        let (block, times) = best_block(&lines[..end]);
        let start = end - block * times;
        runs.push(Run {
            lines: &lines[start..start + block],
            times,
        });
        end = start;
        if times > 1 {
            let part = part_copy(&lines[..end], &lines[start..start + block]);
            if part == end {
                end = 0;
            }
        }
    }
    runs.reverse();
    runs
}

/// The block ending `lines` that repeats over the most lines (the shortest of equals), and
/// how many times; a single line once when nothing repeats.
fn best_block(lines: &[String]) -> (usize, usize) {
    let mut best = (1, 1);
    for block in 1..=LONGEST_BLOCK.min(lines.len() / 2) {
        let last = &lines[lines.len() - block..];
        let times = lines
            .rchunks_exact(block)
            .take_while(|chunk| *chunk == last)
            .count();
        if times > 1 && block * times > best.0 * best.1 {
            best = (block, times);
        }
    }
    best
}

/// How many of the last lines of `before` are the last lines of `block` (a copy of it cut
/// short at its start), fewer than the whole block.
fn part_copy(before: &[String], block: &[String]) -> usize {
    (1..block.len())
        .rev()
        .find(|&n| before.len() >= n && before[before.len() - n..] == block[block.len() - n..])
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    /// The runs as `a b ×3` words.
    fn folded(text: &str) -> String {
        let lines = lines(text);
        let runs: Vec<String> = fold(&lines)
            .iter()
            .map(|run| match run.times {
                1 => run.lines.join(" "),
                n => format!("{} ×{n}", run.lines.join(" ")),
            })
            .collect();
        runs.join(" | ")
    }

    #[test]
    fn repeats_are_shown_once_with_their_count() {
        let table = [
            ("", ""),
            ("a b c", "a | b | c"),
            ("a a a a a", "a ×5"),
            ("start a a a end", "start | a ×3 | end"),
            // A block of lines written on every restart.
            ("x y z x y z x y z", "x y z ×3"),
            ("boot x y z x y z", "boot | x y z ×2"),
            // The tail began inside a copy: the part copy is dropped.
            ("y z x y z x y z", "x y z ×2"),
            // Inside the log a line that ends like the block is its own line.
            ("q z x y z x y z", "q | z | x y z ×2"),
            // The longest cover wins; of equal covers the shorter block.
            ("a b a b a b", "a b ×3"),
            ("a a a a", "a ×4"),
            ("a b a b b", "a | b | a | b ×2"),
        ];
        for (text, want) in table {
            assert_eq!(folded(text), want, "{text:?}");
        }
    }
}
