//! Hostile values: validation refuses them under the default pattern, and
//! whatever a runbook's own pattern lets through is quoted so that the real
//! shell hands it to the program as one literal argument.

use std::process::Command;

use stepguard::draft::values::{quote, validate};
use stepguard::runbook::Variable;

const HOSTILE: &[&str] = &[
    "payments; rm -rf /",
    "$(touch /tmp/stepguard-pwned)",
    "`id`",
    "a && b",
    "a || b",
    "a | sh",
    "a > /etc/passwd",
    "a < /etc/shadow",
    "-rf",
    "--kubeconfig=/tmp/evil",
    "x\ny",
    "x\rkubectl delete",
    "x\0y",
    "\x1b[2Jx",
    "\x1b]52;c;ZXZpbA==\x07",
    "it's",
    "\"quoted\"",
    "a\\b",
    "${IFS}",
    "$HOME",
    "*",
    "~root",
    "a b",
    "\u{202e}gnp.exe",
    "",
    " leading",
    "#comment",
    "!event",
    "a\tb",
];

fn var(pattern: Option<&str>) -> Variable {
    Variable {
        description: String::new(),
        pattern: pattern.map(String::from),
        from: vec![],
        extract: None,
        default: None,
    }
}

#[test]
fn default_pattern_refuses_every_hostile_value() {
    let default = var(None);
    let accepted: Vec<&&str> = HOSTILE
        .iter()
        .filter(|v| validate(&default, v).is_ok())
        .collect();
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
}

#[test]
fn control_characters_are_refused_even_by_a_permissive_pattern() {
    let anything = var(Some(".*"));
    for v in HOSTILE.iter().filter(|v| v.chars().any(char::is_control)) {
        assert!(validate(&anything, v).is_err(), "{v:?}");
    }
}

#[test]
fn what_a_permissive_pattern_allows_stays_one_literal_argument() {
    let anything = var(Some("(?s).*"));
    let dir = tempfile::tempdir().unwrap();
    for value in HOSTILE.iter().filter(|v| validate(&anything, v).is_ok()) {
        let quoted = quote(value);
        // printf receives exactly one argument, byte for byte.
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s|' {quoted}"))
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{value}|"),
            "value {value:?} quoted as {quoted}"
        );
    }
    assert!(!std::path::Path::new("/tmp/stepguard-pwned").exists());
}
