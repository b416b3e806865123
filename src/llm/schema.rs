//! The reply's JSON schema, built per step and in the contract's order.
//!
//! A server that constrains generation with the schema (llama.cpp turns it
//! into a grammar) writes the keys in the order they are listed: `values`
//! must come first and `notes` last, or a small model writes notes until it
//! is cut off. serde_json's map sorts keys, so the schema is built as
//! [`Ordered`], which serializes objects in the order they were written.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Value};

use crate::runbook::Runbook;

/// Caps on what the model may write: a draft is a few hundred tokens.
pub const VALUE_CHARS: usize = 80;
pub const EVIDENCE_CHARS: usize = 120;
pub const WHY_CHARS: usize = 100;
pub const NOTES_CHARS: usize = 160;
pub const COMMAND_CHARS: usize = 160;
pub use crate::draft::proposal::MAX_STALE;

/// A JSON value whose objects keep their keys in the order written.
#[derive(Debug, Clone, PartialEq)]
pub enum Ordered {
    Object(Vec<(String, Ordered)>),
    Leaf(Value),
}

impl Ordered {
    /// An object from `(key, value)` pairs, in that order.
    pub fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Ordered)>) -> Self {
        Ordered::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The same value as serde_json's (keys sorted): for reading it in code.
    pub fn to_value(&self) -> Value {
        match self {
            Ordered::Leaf(v) => v.clone(),
            Ordered::Object(pairs) => Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// The keys of an object, in order (empty for anything else).
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Ordered::Object(pairs) => pairs.iter().map(|(k, _)| k.as_str()).collect(),
            Ordered::Leaf(_) => Vec::new(),
        }
    }

    /// The value under `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Ordered> {
        match self {
            Ordered::Object(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Ordered::Leaf(_) => None,
        }
    }
}

impl From<Value> for Ordered {
    fn from(v: Value) -> Self {
        Ordered::Leaf(v)
    }
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ordered::Leaf(v) => v.serialize(s),
            Ordered::Object(pairs) => {
                let mut map = s.serialize_map(Some(pairs.len()))?;
                for (k, v) in pairs {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

fn leaf(v: Value) -> Ordered {
    Ordered::Leaf(v)
}

fn text(max: usize) -> Ordered {
    leaf(json!({"type": "string", "maxLength": max}))
}

/// An object schema with exactly these properties, all required.
fn closed(properties: Vec<(String, Ordered)>) -> Ordered {
    let required: Vec<Value> = properties
        .iter()
        .map(|(k, _)| Value::String(k.clone()))
        .collect();
    Ordered::object([
        ("type", leaf(json!("object"))),
        ("properties", Ordered::Object(properties)),
        ("required", leaf(Value::Array(required))),
        ("additionalProperties", leaf(json!(false))),
    ])
}

/// The schema for one step's draft: `values` may hold exactly `ask` (the
/// step's variables), each a value with the line that shows it; a prose
/// step adds its four commands; `stale` names the runbook's assumptions by
/// number; `notes` last.
pub fn draft_schema(runbook: &Runbook, step_index: usize, ask: &[String]) -> Ordered {
    let step = &runbook.steps[step_index];
    let value = || {
        closed(vec![
            ("value".into(), text(VALUE_CHARS)),
            ("evidence".into(), text(EVIDENCE_CHARS)),
        ])
    };
    // Each value may be left out: the data may not show it.
    let values = Ordered::object([
        ("type", leaf(json!("object"))),
        (
            "properties",
            Ordered::Object(ask.iter().map(|name| (name.clone(), value())).collect()),
        ),
        ("additionalProperties", leaf(json!(false))),
    ]);
    let mut properties = vec![("values".to_string(), values)];
    if step.is_manual() {
        let check = || {
            closed(vec![
                ("command".into(), text(COMMAND_CHARS)),
                ("stop_if".into(), text(WHY_CHARS)),
                ("explain".into(), text(WHY_CHARS)),
            ])
        };
        properties.push(("preflight".into(), check()));
        properties.push((
            "action".into(),
            closed(vec![
                ("command".into(), text(COMMAND_CHARS)),
                ("blast_radius".into(), text(WHY_CHARS)),
            ]),
        ));
        properties.push(("verify".into(), check()));
        properties.push((
            "rollback".into(),
            closed(vec![("command".into(), text(COMMAND_CHARS))]),
        ));
    }
    let assumptions = runbook.assumptions.len();
    let stale_item = closed(vec![
        (
            "assumption".into(),
            leaf(json!({"type": "integer", "minimum": 1, "maximum": assumptions.max(1)})),
        ),
        ("why".into(), text(WHY_CHARS)),
    ]);
    properties.push((
        "stale".into(),
        Ordered::object([
            ("type", leaf(json!("array"))),
            ("items", stale_item),
            ("maxItems", leaf(json!(MAX_STALE.min(assumptions)))),
        ]),
    ));
    properties.push(("notes".into(), text(NOTES_CHARS)));
    closed(properties)
}

/// Enough completion tokens for the longest reply the schema allows, and
/// no more: a server that constrains by the schema bounds every string by
/// its `maxLength` and every list by its `maxItems`, and no token is
/// shorter than a character, so a reply within the contract is never cut
/// (a small model repeating `8888…` fills a string to its cap and stops).
/// Whitespace between tokens is counted at a character per piece.
pub fn max_tokens(schema: &Ordered) -> u32 {
    fn chars(s: &Ordered) -> usize {
        match s {
            Ordered::Object(pairs) => {
                let max_items = s
                    .get("maxItems")
                    .and_then(|m| m.to_value().as_u64())
                    .unwrap_or(1) as usize;
                let own: usize = pairs
                    .iter()
                    .map(|(k, v)| match k.as_str() {
                        "properties" => match v {
                            Ordered::Object(props) => props
                                .iter()
                                .map(|(name, p)| name.len() + 8 + chars(p))
                                .sum(),
                            Ordered::Leaf(_) => 0,
                        },
                        "items" => max_items * (chars(v) + 4),
                        _ => 0,
                    })
                    .sum();
                let leaf = s
                    .get("maxLength")
                    .and_then(|m| m.to_value().as_u64())
                    .unwrap_or(0) as usize;
                own + leaf + 6
            }
            Ordered::Leaf(v) => {
                v.get("maxLength").and_then(Value::as_u64).unwrap_or(4) as usize + 6
            }
        }
    }
    (chars(schema) + 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runbook() -> Runbook {
        crate::runbook::parse_str(
            r#"
id: t
title: T
assumptions: ["one deployment", "two replicas"]
variables:
  namespace: {description: the namespace}
  deployment: {description: the deployment}
steps:
  - id: a
    title: look
    preflight: {run: "kubectl -n {{namespace}} get deploy {{deployment}}"}
  - id: b
    title: think about it
"#,
            std::path::Path::new("t.yaml"),
        )
        .unwrap()
    }

    #[test]
    fn keys_in_the_contracts_order_and_only_the_steps_values() {
        let rb = runbook();
        let s = draft_schema(&rb, 0, &["namespace".into()]);
        let wire = serde_json::to_string(&s).unwrap();
        let at = |k: &str| wire.find(&format!("\"{k}\"")).unwrap();
        assert!(
            at("values") < at("stale") && at("stale") < at("notes"),
            "{wire}"
        );
        let props = s.get("properties").unwrap();
        assert_eq!(props.keys(), ["values", "stale", "notes"]);
        let values = props.get("values").unwrap();
        assert_eq!(values.get("properties").unwrap().keys(), ["namespace"]);
        assert_eq!(values.to_value()["additionalProperties"], json!(false));
        assert!(
            values.get("required").is_none(),
            "a value the data lacks is left out"
        );
        let v = s.to_value();
        assert_eq!(v["additionalProperties"], json!(false));
        assert_eq!(v["properties"]["stale"]["maxItems"], json!(2));
        assert_eq!(
            v["properties"]["stale"]["items"]["properties"]["assumption"]["maximum"],
            json!(2)
        );
        assert_eq!(v["properties"]["notes"]["maxLength"], json!(NOTES_CHARS));
        // A prose step asks for its commands, between values and stale.
        let prose = draft_schema(&rb, 1, &[]);
        assert_eq!(
            prose.get("properties").unwrap().keys(),
            [
                "values",
                "preflight",
                "action",
                "verify",
                "rollback",
                "stale",
                "notes"
            ]
        );
        // A draft fits in a few hundred tokens.
        let (a, b) = (max_tokens(&s), max_tokens(&prose));
        assert!((200..=900).contains(&a), "{a}");
        assert!(a < b && b <= 2_000, "{b}");
    }
}
