//! The one table the bench prints (Markdown): per figure, what berth measured, its baseline in
//! the same run, how the two relate, the target and whether it is met (by how much not).

pub struct Row {
    pub figure: String,
    pub measured: String,
    pub baseline: String,
    pub relation: String,
    pub target: String,
    pub verdict: String,
}

impl Row {
    pub fn new(figure: impl Into<String>, measured: impl Into<String>) -> Row {
        Row {
            figure: figure.into(),
            measured: measured.into(),
            baseline: "—".into(),
            relation: "—".into(),
            target: "—".into(),
            verdict: "—".into(),
        }
    }

    pub fn baseline(mut self, name: &str, shown: &str) -> Row {
        self.baseline = format!("{name}: {shown}");
        self
    }

    pub fn relation(mut self, relation: impl Into<String>) -> Row {
        self.relation = relation.into();
        self
    }

    /// Met when `value` ≤ `limit`; otherwise by how much it is over.
    pub fn at_most(mut self, value: f64, limit: f64, unit: &str, decimals: usize) -> Row {
        self.target = format!("≤ {limit}{unit}");
        self.verdict = verdict(value, limit, unit, decimals);
        self
    }

    pub fn target(mut self, target: impl Into<String>, verdict: impl Into<String>) -> Row {
        self.target = target.into();
        self.verdict = verdict.into();
        self
    }
}

pub fn verdict(value: f64, limit: f64, unit: &str, decimals: usize) -> String {
    if value.is_nan() {
        "no figure".into()
    } else if value <= limit {
        "PASS".into()
    } else {
        format!(
            "**MISS** by {:.decimals$}{unit} ({:.2} × the target)",
            value - limit,
            value / limit
        )
    }
}

pub fn print(rows: &[Row]) {
    println!(
        "| figure | berth, median (min–max) | baseline, same run | relation | target | result |"
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.figure, r.measured, r.baseline, r.relation, r.target, r.verdict
        );
    }
}
