//! The model's reply (SPEC §3): parsed leniently (small models write junk),
//! then validated by code. For templated steps only values, stale flags and
//! notes are taken; model-written commands (prose steps only) must pass the
//! guard to run and are otherwise shown, never executed.

use serde_json::Value;

pub use crate::draft::proposal::{
    compose, DraftAction, DraftCheck, DraftRollback, DraftValue, ModelDraft, ModelOutcome,
    StaleFlag,
};
use crate::sanitize::sanitize_line;

/// The JSON schema sent with `response_format: json_schema`.
pub fn schema() -> Value {
    let nullable_str = serde_json::json!({"type": ["string", "null"]});
    let check = serde_json::json!({
        "type": ["object", "null"],
        "properties": {"command": nullable_str, "stop_if": nullable_str, "proceed_if": nullable_str, "explain": nullable_str},
    });
    serde_json::json!({
        "type": "object",
        "properties": {
            "values": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"value": {"type": "string"}, "evidence": {"type": "string"}},
                    "required": ["value", "evidence"]
                }
            },
            "preflight": check,
            "action": {"type": ["object", "null"], "properties": {"command": nullable_str, "blast_radius": nullable_str}},
            "verify": check,
            "rollback": {"type": ["object", "null"], "properties": {"command": nullable_str}},
            "stale": {"type": "array", "items": {"type": "object", "properties": {"assumption": {"type": "string"}, "why": {"type": "string"}}, "required": ["assumption", "why"]}},
            "notes": {"type": "string"}
        },
        "required": ["values", "stale", "notes"]
    })
}

/// The first JSON object in the reply: the whole text, inside a code fence,
/// or after some prose.
pub fn parse_reply(text: &str) -> Result<ModelDraft, String> {
    let trimmed = text.trim();
    if let Ok(d) = serde_json::from_str::<ModelDraft>(trimmed) {
        return Ok(d);
    }
    for (start, _) in trimmed.match_indices('{') {
        let mut stream = serde_json::Deserializer::from_str(&trimmed[start..]).into_iter::<Value>();
        if let Some(Ok(value @ Value::Object(_))) = stream.next() {
            if let Ok(d) = serde_json::from_value::<ModelDraft>(value) {
                return Ok(d);
            }
        }
    }
    let excerpt: String = sanitize_line(trimmed, 80).into_owned();
    Err(format!("the reply holds no JSON object: {excerpt:?}"))
}
