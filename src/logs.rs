//! Service logs: `.berth/logs/NAME.log`, one line per output line with its time and stream,
//! rotated by size to `NAME.log.1` (newest) … `NAME.log.K`.

pub mod read;
pub mod time;
pub mod writer;
