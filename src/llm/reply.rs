//! The model's reply (SPEC §3): parsed leniently (small models write junk),
//! then validated by code. For templated steps only values, stale flags and
//! notes are taken; model-written commands (prose steps only) must pass the
//! guard to run and are otherwise shown, never executed.

use serde_json::Value;

pub use crate::draft::proposal::{
    accept, compose, DraftAction, DraftCheck, DraftFailure, DraftMetrics, DraftRollback,
    DraftValue, ModelDraft, ModelOutcome, RejectedPart, StaleFlag,
};
use crate::sanitize::sanitize_line;

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
