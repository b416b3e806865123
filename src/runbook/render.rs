//! `{{name}}` templates. Values are validated and shell-quoted by the drafter
//! before they reach here; this module only finds and substitutes.

use std::sync::OnceLock;

use regex::Regex;

fn placeholder_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}").expect("static regex"))
}

/// The variable names a template uses, in order of appearance.
pub fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    placeholder_re()
        .captures_iter(template)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
}

/// A `{{` that does not open a well-formed placeholder, if any.
pub fn malformed_placeholder(template: &str) -> Option<&str> {
    let good: Vec<usize> = placeholder_re()
        .find_iter(template)
        .map(|m| m.start())
        .collect();
    let (start, _) = template
        .match_indices("{{")
        .find(|(i, _)| !good.contains(i))?;
    let end = template[start..]
        .find(char::is_whitespace)
        .map_or(template.len(), |e| start + e);
    Some(&template[start..end])
}

/// Substitute each placeholder with `value(name)`; names with no value are
/// rendered as `<name>` and listed in `missing`.
pub fn render(template: &str, mut value: impl FnMut(&str) -> Option<String>) -> Rendered {
    let mut missing = Vec::new();
    let text = placeholder_re()
        .replace_all(template, |caps: &regex::Captures| {
            let name = &caps[1];
            match value(name) {
                Some(v) => v,
                None => {
                    if !missing.iter().any(|m| m == name) {
                        missing.push(name.to_string());
                    }
                    format!("<{name}>")
                }
            }
        })
        .into_owned();
    Rendered { text, missing }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub missing: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reports_missing() {
        let r = render(
            "kubectl -n {{namespace}} get deploy/{{ deployment }} {{x}}",
            |n| (n == "namespace").then(|| "payments".to_string()),
        );
        assert_eq!(r.text, "kubectl -n payments get deploy/<deployment> <x>");
        assert_eq!(r.missing, vec!["deployment", "x"]);
    }

    #[test]
    fn finds_malformed() {
        assert_eq!(
            malformed_placeholder("a {{ok}} b {{bad-name}}"),
            Some("{{bad-name}}")
        );
        assert_eq!(malformed_placeholder("a {{ok}}"), None);
        assert_eq!(malformed_placeholder("jq '{a: 1}'"), None);
    }
}
