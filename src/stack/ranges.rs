//! An ordered list of inclusive number ranges: `alt_ports`, `reserved` ports, HTTP status codes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Ranges in the order the user wrote them (order matters: `alt_ports` are tried first to last).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RangeList(Vec<(u16, u16)>);

impl RangeList {
    pub fn new(ranges: Vec<(u16, u16)>) -> RangeList {
        RangeList(ranges)
    }

    pub fn contains(&self, n: u16) -> bool {
        self.0.iter().any(|&(a, b)| a <= n && n <= b)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.0
    }

    /// Every number, in order, first occurrence only.
    pub fn values(&self) -> impl Iterator<Item = u16> + '_ {
        let mut seen = std::collections::HashSet::new();
        self.0
            .iter()
            .flat_map(|&(a, b)| a..=b)
            .filter(move |n| seen.insert(*n))
    }
}

impl fmt::Display for RangeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        f.write_str(&items.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_order_and_skip_repeats() {
        let r = RangeList::new(vec![(8001, 8002), (12000, 12001), (8002, 8002)]);
        assert_eq!(r.values().collect::<Vec<_>>(), [8001, 8002, 12000, 12001]);
        assert!(r.contains(12001) && !r.contains(8003));
        assert_eq!(r.to_string(), "8001-8002, 12000-12001, 8002");
    }
}
