//! Measurements of one figure, one per round: median (min–max), and the ratio of two
//! figures taken pair by pair (round i against round i), which cancels the drift of a
//! shared machine's speed between rounds.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    Ms,
    Seconds,
    MiB,
    /// Per cent of one core.
    Cpu,
    /// Megabytes (10^6) per second.
    MBps,
    Count,
}

impl Unit {
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Ms => " ms",
            Unit::Seconds => " s",
            Unit::MiB => " MiB",
            Unit::Cpu => " %",
            Unit::MBps => " MB/s",
            Unit::Count => "",
        }
    }

    fn decimals(self) -> usize {
        match self {
            Unit::Ms | Unit::Seconds | Unit::Cpu => 2,
            Unit::MiB => 1,
            Unit::MBps | Unit::Count => 0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Samples {
    pub unit: Unit,
    values: Vec<f64>,
}

impl Samples {
    pub fn new(unit: Unit) -> Samples {
        Samples {
            unit,
            values: Vec::new(),
        }
    }

    pub fn of(unit: Unit, values: impl IntoIterator<Item = f64>) -> Samples {
        Samples {
            unit,
            values: values.into_iter().collect(),
        }
    }

    pub fn push(&mut self, value: f64) {
        self.values.push(value);
    }

    /// Adds a duration in this figure's unit (milliseconds or seconds).
    pub fn push_time(&mut self, took: Duration) {
        self.values.push(match self.unit {
            Unit::Seconds => took.as_secs_f64(),
            _ => took.as_secs_f64() * 1000.0,
        });
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.values.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    pub fn median(&self) -> f64 {
        median(self.sorted())
    }

    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }

    /// `1.80 ms (1.73–5.70)`, or just the value when there is one.
    pub fn show(&self) -> String {
        let v = self.sorted();
        let (d, unit) = (self.unit.decimals(), self.unit.suffix());
        match v.as_slice() {
            [] => "—".into(),
            [one] => format!("{one:.d$}{unit}"),
            _ => format!(
                "{:.d$}{unit} ({:.d$}–{:.d$})",
                median(v.clone()),
                v[0],
                v[v.len() - 1]
            ),
        }
    }

    /// The median of self[i] / other[i]; `None` unless both have the same number of rounds.
    pub fn ratio(&self, other: &Samples) -> Option<f64> {
        if self.values.len() != other.values.len() || self.values.is_empty() {
            return None;
        }
        let ratios = self
            .values
            .iter()
            .zip(&other.values)
            .map(|(a, b)| a / b)
            .collect();
        Some(median(ratios))
    }
}

/// The middle value (the upper middle for an even count): sorted input.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
