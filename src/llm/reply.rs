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

/// The keys of the contract: an object with none of them is not a draft
/// (a value's `{"value": …}` inside a broken reply is not the reply).
const DRAFT_KEYS: [&str; 7] = [
    "values",
    "preflight",
    "action",
    "verify",
    "rollback",
    "stale",
    "notes",
];

/// Raw line breaks and tabs inside strings escaped: small models write
/// them (JSON forbids them), and one should not cost the whole reply.
/// The scan starts at the first `{`: a quote in prose before the object
/// (`a 6" answer:`) is not a string.
fn escape_raw_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(first) = text.find('{') else {
        return text.into();
    };
    if !text[first..].contains(['\n', '\r', '\t']) {
        return text.into();
    }
    let (mut out, mut in_string, mut escaped) = (String::with_capacity(text.len()), false, false);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        match c {
            '\n' | '\r' | '\t' if in_string => out.push_str(match c {
                '\n' => "\\n",
                '\r' => "\\r",
                _ => "\\t",
            }),
            _ => out.push(c),
        }
        if in_string && !escaped && c == '"' {
            in_string = false;
        } else if !in_string && c == '"' {
            in_string = true;
        }
        escaped = in_string && !escaped && c == '\\';
    }
    out.into()
}

/// The JSON object that `text` begins with, if it does.
pub(crate) fn object_at(text: &str) -> Option<Value> {
    match serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .next()
    {
        Some(Ok(v @ Value::Object(_))) => Some(v),
        _ => None,
    }
}

/// The reply's first JSON object that holds any of the contract's keys:
/// the whole text, inside a code fence, or after some prose.
fn first_object(text: &str) -> Option<Value> {
    let text = escape_raw_controls(text.trim());
    let is_draft = |v: &Value| {
        v.as_object()
            .is_some_and(|o| DRAFT_KEYS.iter().any(|k| o.contains_key(*k)))
    };
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        if is_draft(&v) {
            return Some(v);
        }
    }
    text.match_indices('{')
        .find_map(|(start, _)| object_at(&text[start..]).filter(is_draft))
}

/// The draft in the reply.
pub fn parse_reply(text: &str) -> Result<ModelDraft, String> {
    match first_object(text) {
        Some(v) => serde_json::from_value(v).map_err(|e| format!("not a draft: {e}")),
        None => {
            let excerpt: String = sanitize_line(text.trim(), 80).into_owned();
            Err(format!("the reply holds no JSON object: {excerpt:?}"))
        }
    }
}

/// Does the reply hold a JSON object at all (a reply worth keeping)?
pub fn holds_object(text: &str) -> bool {
    text.match_indices('{')
        .any(|(i, _)| object_at(&text[i..]).is_some())
}

/// Does the reply's JSON object carry the contract's keys (`values`,
/// `stale`, `notes`), whatever their contents?
pub fn has_contract_keys(text: &str) -> bool {
    first_object(text).is_some_and(|v| {
        ["values", "stale", "notes"]
            .iter()
            .all(|k| v.get(k).is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_models_reply_reads_as_it_was_meant() {
        // A raw line break in a string (JSON forbids it) costs only that string.
        let text = "{ \"values\": { \"deployment\": { \"value\" : \"x\", \"evidence\":\"1\"} }, \"stale\": [], \"notes\": \"\n[\n  {\n    \" }";
        let d = parse_reply(text).unwrap();
        assert_eq!(d.values["deployment"].value, "x");
        assert_eq!(d.notes.as_deref(), Some("\n[\n  {\n    "));
        assert!(has_contract_keys(text));
        // An inner object is not the reply.
        let broken = "{\"values\": {\"deployment\": {\"value\": \"x\"}}, \"notes\": oops";
        assert!(parse_reply(broken).is_err());
        assert!(!has_contract_keys(broken));
        // A quote in prose before the object is no string.
        let prose =
            "Here is the 6\" answer:\n{\n  \"values\": {},\n  \"stale\": [],\n  \"notes\": \"\"\n}";
        assert!(has_contract_keys(prose));
        // Escapes and quotes inside strings stay as they were.
        let quoted =
            "```json\n{\"values\": {}, \"stale\": [], \"notes\": \"say \\\"hi\\\"\tnow\"}\n```";
        assert_eq!(
            parse_reply(quoted).unwrap().notes.as_deref(),
            Some("say \"hi\"\tnow")
        );
        assert!(has_contract_keys(quoted));
    }
}
