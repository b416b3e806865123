//! Redaction placeholder.
pub fn redact(text: &str) -> String { text.to_string() }
