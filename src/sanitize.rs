//! Sanitizer placeholder.
pub fn sanitize(text: &str) -> String { text.replace('\x1b', "^[") }
pub fn sanitize_line(line: &str, _max_chars: usize) -> std::borrow::Cow<'_, str> { std::borrow::Cow::Owned(sanitize(line)) }
