//! The JSON Schema that editors use accepts every valid config and flags typical mistakes,
//! checked with a real JSON Schema validator.

use crate::support::{fixture, valid_configs};
use berth::config::schema::schema;
use berth::config::yaml::{self, Kind, Node};
use serde_json::{Map, Value, json};
use std::path::Path;

/// The YAML as an editor's language server sees it: YAML 1.2 core-schema typed scalars.
fn to_json(node: &Node) -> Value {
    match &node.kind {
        Kind::Null => Value::Null,
        Kind::Scalar { text, quoted: true } => json!(text),
        Kind::Scalar {
            text,
            quoted: false,
        } => match text.as_str() {
            "true" | "True" | "TRUE" => json!(true),
            "false" | "False" | "FALSE" => json!(false),
            t => t
                .parse::<i64>()
                .map(|n| json!(n))
                .or_else(|_| t.parse::<f64>().map(|f| json!(f)))
                .unwrap_or_else(|_| json!(t)),
        },
        Kind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Kind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.scalar().unwrap_or_default().to_string(), to_json(v)))
                .collect::<Map<String, Value>>(),
        ),
    }
}

fn errors(path: &Path) -> Vec<String> {
    let (root, problems) = yaml::parse(&std::fs::read_to_string(path).unwrap());
    assert!(problems.is_empty(), "{}: {problems:?}", path.display());
    let validator =
        jsonschema::validator_for(&schema()).expect("the schema is a valid JSON Schema");
    validator
        .iter_errors(&to_json(&root.unwrap()))
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn every_valid_config_satisfies_the_schema() {
    for file in valid_configs() {
        let errors = errors(&file);
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
    }
}

#[test]
fn the_schema_flags_typical_mistakes() {
    for name in [
        "unknown-service-key.yaml",
        "unknown-top-key.yaml",
        "missing-command.yaml",
        "port-out-of-range.yaml",
        "health-two-probes.yaml",
        "health-no-probe.yaml",
        "bad-strategy.yaml",
        "bad-restart.yaml",
        "wrong-type-env.yaml",
        "bad-service-name.yaml",
        "depends-on-bad-condition.yaml",
    ] {
        assert!(
            !errors(&fixture("invalid", name)).is_empty(),
            "{name} passes the schema"
        );
    }
}
