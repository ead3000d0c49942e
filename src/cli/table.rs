//! Columns aligned for a terminal: the first row is the header (dimmed), each cell padded to
//! its column's widest, trailing space trimmed. Shared by `status`, `stats` and `alerts`.

use crate::style::Style;

pub fn render(rows: &[Vec<String>], style: &Style) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |cell| cell.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let line = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string();
        out.push_str(&if i == 0 { style.dim(&line) } else { line });
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_each_column_to_its_widest_cell() {
        let rows = vec![
            vec!["NAME".to_string(), "STATE".into()],
            vec!["api".into(), "running".into()],
            vec!["database".into(), "-".into()],
        ];
        assert_eq!(
            render(&rows, &Style::PLAIN),
            "NAME      STATE\napi       running\ndatabase  -\n"
        );
    }
}
