//! `berth schema`: the JSON Schema of berth.yaml, for editors.

use super::{Exit, Failure};

pub fn run() -> Result<Exit, Failure> {
    let text = serde_json::to_string_pretty(&crate::config::schema::schema())
        .expect("the schema serializes");
    println!("{text}");
    Ok(Exit::Done)
}
