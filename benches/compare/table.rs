//! The one table the comparison prints (Markdown, so it reads in a terminal and pastes into
//! docs/benchmarks.md): per figure, berth, each peer, the floor, and berth's ratio to each,
//! taken pair by pair; a target where the engine or ports issue set one.

use crate::support::samples::Samples;

/// A measured column, or why it is empty.
pub enum Cell {
    Measured(Samples),
    Absent(String),
}

impl Cell {
    fn show(&self) -> String {
        match self {
            Cell::Measured(s) => s.show(),
            Cell::Absent(why) => why.clone(),
        }
    }

    fn samples(&self) -> Option<&Samples> {
        match self {
            Cell::Measured(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }
}

/// What berth's figure should be.
#[derive(Clone, Copy)]
pub enum Target {
    /// The median at most this (in the figure's unit).
    AtMost(f64),
    /// The median at most this times the floor's, pair by pair.
    TimesFloor(f64),
    /// The median at most the floor's plus this (in the figure's unit), pair by pair.
    FloorPlus(f64),
}

pub struct Row {
    pub figure: String,
    pub berth: Cell,
    /// One per peer column, in the table's order.
    pub peers: Vec<Cell>,
    /// The floor's name (in the figure's text) and figures.
    pub floor: Option<(String, Samples)>,
    pub target: Option<Target>,
}

impl Row {
    pub fn new(figure: impl Into<String>, berth: Samples) -> Row {
        Row {
            figure: figure.into(),
            berth: Cell::Measured(berth),
            peers: Vec::new(),
            floor: None,
            target: None,
        }
    }

    pub fn peers(mut self, peers: Vec<Cell>) -> Row {
        self.peers = peers;
        self
    }

    pub fn floor(mut self, name: &str, floor: Samples) -> Row {
        self.floor = Some((name.into(), floor));
        self
    }

    pub fn target(mut self, target: Target) -> Row {
        self.target = Some(target);
        self
    }

    /// A target that holds only for some of the figure's cases (the issues set them for 20
    /// services).
    pub fn target_if(mut self, applies: bool, target: Target) -> Row {
        self.target = applies.then_some(target);
        self
    }

    fn verdict(&self) -> String {
        let (Some(target), Some(berth)) = (self.target, self.berth.samples()) else {
            return String::new();
        };
        let floor = self.floor.as_ref().map(|(_, f)| f);
        let (wanted, met) = match (target, floor) {
            (Target::AtMost(limit), _) => (
                format!("≤ {limit}{}", berth.unit.suffix()),
                berth.median() <= limit,
            ),
            (Target::TimesFloor(k), Some(floor)) => (
                format!("≤ {k} × floor"),
                berth.ratio(floor).is_some_and(|r| r <= k),
            ),
            (Target::FloorPlus(extra), Some(floor)) => {
                let over = berth.median() - floor.median();
                (
                    format!("≤ floor + {extra}{}", berth.unit.suffix()),
                    over <= extra,
                )
            }
            _ => return String::new(),
        };
        format!("{wanted}: {}", if met { "met" } else { "**missed**" })
    }
}

fn ratio(berth: &Cell, other: Option<&Samples>) -> String {
    let r = match (berth.samples(), other) {
        (Some(b), Some(o)) => b.ratio(o).unwrap_or(b.median() / o.median()),
        _ => f64::NAN,
    };
    // 0 / 0 (no line lost on either side) says nothing.
    if r.is_finite() {
        format!("{r:.3}")
    } else {
        "—".into()
    }
}

/// The figure's number in the list (`4. kill -9 …`), to print them in that order.
fn number(figure: &str) -> u32 {
    figure
        .split('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

pub struct Table {
    peers: Vec<String>,
    rows: Vec<Row>,
}

impl Table {
    pub fn new(peers: Vec<String>) -> Table {
        Table {
            peers,
            rows: Vec::new(),
        }
    }

    /// Adds a row, and shows it at once on stderr (the table comes at the end).
    pub fn add(&mut self, row: Row) {
        let peers: Vec<String> = self
            .peers
            .iter()
            .zip(&row.peers)
            .map(|(name, cell)| format!("{name} {}", cell.show()))
            .collect();
        eprintln!(
            "   {}: berth {}; {}{}",
            row.figure,
            row.berth.show(),
            peers.join("; "),
            row.floor
                .as_ref()
                .map(|(name, f)| format!("; {name} {}", f.show()))
                .unwrap_or_default()
        );
        self.rows.push(row);
    }

    /// Prints the rows so far (also after each section, so a long run shows progress).
    pub fn print(&self) {
        let mut header = vec!["figure".to_owned(), "berth".to_owned()];
        header.extend(self.peers.iter().cloned());
        header.push("floor".into());
        header.extend(self.peers.iter().map(|p| format!("berth / {p}")));
        header.extend(["berth / floor".to_owned(), "target".to_owned()]);
        println!("| {} |", header.join(" | "));
        println!("|{}", "---|".repeat(header.len()));
        let mut rows: Vec<&Row> = self.rows.iter().collect();
        rows.sort_by_key(|r| number(&r.figure));
        for row in rows {
            let mut cells = vec![row.figure.clone(), row.berth.show()];
            for i in 0..self.peers.len() {
                cells.push(row.peers.get(i).map(Cell::show).unwrap_or("—".into()));
            }
            let floor = row.floor.as_ref().map(|(_, f)| f);
            cells.push(floor.map(Samples::show).unwrap_or("—".into()));
            for i in 0..self.peers.len() {
                cells.push(ratio(&row.berth, row.peers.get(i).and_then(Cell::samples)));
            }
            cells.push(ratio(&row.berth, floor));
            cells.push(row.verdict());
            println!("| {} |", cells.join(" | "));
        }
    }
}
