//! Hostile values: validation refuses them under the default pattern, and
//! whatever a runbook's own pattern lets through is quoted so that the real
//! shell hands it to the program as one literal argument.

use std::process::Command;

use stepguard::draft::values::quote;
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
        .filter(|v| default.validate(v).is_ok())
        .collect();
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
}

#[test]
fn control_characters_are_refused_even_by_a_permissive_pattern() {
    let anything = var(Some(".*"));
    for v in HOSTILE.iter().filter(|v| v.chars().any(char::is_control)) {
        assert!(anything.validate(v).is_err(), "{v:?}");
    }
}

#[test]
fn what_a_permissive_pattern_allows_stays_one_literal_argument() {
    let anything = var(Some("(?s).*"));
    let dir = tempfile::tempdir().unwrap();
    for value in HOSTILE.iter().filter(|v| anything.validate(v).is_ok()) {
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

// --- placeholders where a value's quoting cannot hold -------------------------

use std::collections::BTreeMap;
use std::path::Path;

use stepguard::draft::{compose, Context};
use stepguard::runbook::parse_str;

/// A runbook whose variable `pat` takes anything, with `command` as the
/// YAML text of a pre-flight's `run:` (or a whole `action:` block).
fn runbook_with(run: &str) -> String {
    format!(
        "id: quoting\n\
         title: Quoting\n\
         variables:\n  \
           pat:\n    \
             pattern: '(?s).*'\n  \
           app:\n    \
             pattern: '(?s).*'\n\
         steps:\n  \
           - id: count\n    \
             title: Count\n    \
             intent: Count matching lines.\n\
         {run}"
    )
}

fn check(src: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quoting.yaml");
    std::fs::write(&path, src).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stepguard"))
        .env("STEPGUARD_CONFIG", "/dev/null")
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code(),
        path.display().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Regression: `grep -c '{{pat}}'` with a permissive pattern let a value
/// close the quote and add arguments. `stepguard check` refuses every such
/// template at the placeholder's own `path:line:col`.
#[test]
fn check_refuses_placeholders_where_quoting_cannot_hold() {
    // The `run:` text, the placeholder whose position is expected (its
    // `n`-th occurrence in the file, 0-based), and what the message says.
    let cases: &[(&str, &str, usize, &str)] = &[
        (
            "    preflight: {run: \"grep -c '{{pat}}' /var/log/syslog\", explain: x}\n",
            "{{pat}}",
            0,
            "inside single quotes",
        ),
        (
            "    preflight:\n      run: grep -c '{{pat}}' /var/log/syslog\n      explain: x\n",
            "{{pat}}",
            0,
            "inside single quotes",
        ),
        (
            "    preflight:\n      run: 'grep -c ''{{ pat }}'' /var/log/syslog'\n      explain: x\n",
            "{{ pat }}",
            0,
            "inside single quotes",
        ),
        (
            "    preflight:\n      run: \"kubectl get pods -l \\\"app={{app}}\\\"\"\n      explain: x\n",
            "{{app}}",
            0,
            "inside double quotes",
        ),
        (
            "    preflight:\n      run: grep -e \"ERROR\"{{pat}} /var/log/syslog\n      explain: x\n",
            "{{pat}}",
            0,
            "in a word that also has quotes",
        ),
        (
            "    preflight:\n      run: grep -c x $(ls {{pat}})\n      explain: x\n",
            "{{pat}}",
            0,
            "inside a command substitution",
        ),
        (
            "    preflight:\n      run: |\n        grep -c -f - /var/log/syslog <<EOF\n        {{pat}}\n        EOF\n      explain: x\n",
            "{{pat}}",
            0,
            "inside a here-document",
        ),
        (
            // The second of two identical commands is placed at its own line.
            "    preflight:\n      run: grep -c {{pat}} f\n      explain: x\n    action:\n      run: >-\n        kubectl patch deploy {{app}} -p '{\"a\": \"{{pat}}\"}'\n      blast_radius: one\n    rollback:\n      run: >-\n        kubectl patch deploy {{app}} -p '{\"a\": \"{{pat}}\"}'\n",
            "{{pat}}",
            2,
            "inside single quotes",
        ),
    ];
    for (run, placeholder, nth, context) in cases {
        let src = runbook_with(run);
        let (code, path, stderr) = check(&src);
        let offset = src.match_indices(placeholder).nth(*nth).unwrap().0;
        let line = src[..offset].matches('\n').count() + 1;
        let col = offset - src[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
        let want = format!("{path}:{line}:{col}: placeholder '{placeholder}' is {context}");
        assert_eq!(code, Some(1), "{run}: {stderr}");
        assert!(
            stderr.lines().any(|l| l.starts_with(&want)),
            "{run}\nwant {want}\ngot {stderr}"
        );
    }
    // Outside quotes, as words of their own or parts of unquoted words.
    for run in [
        "    preflight:\n      run: grep -c -e {{pat}} /var/log/{{app}}.log\n      explain: x\n",
        "    preflight:\n      run: kubectl get pods -l app={{app}} -o name\n      explain: x\n",
        "    preflight:\n      run: jq -r --arg p {{pat}} '.[] | select(.name == $p)' f\n      explain: x\n",
    ] {
        let (code, _, stderr) = check(&runbook_with(run));
        assert_eq!(code, Some(0), "{run}: {stderr}");
    }
}

/// Whatever a permissive pattern lets through, in every position a
/// template may put it, reaches the program as exactly that text, in one
/// argument with the template's own text around it.
#[test]
fn rendered_values_stay_one_argument_where_templates_may_put_them() {
    let rb = parse_str(
        &runbook_with(
            "    preflight:\n      run: printf '%s|' {{pat}} pre/{{pat}}/post a={{pat}} {{pat}}{{app}}\n      explain: x\n",
        ),
        Path::new("quoting.yaml"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let permissive = var(Some("(?s).*"));
    for value in HOSTILE.iter().filter(|v| permissive.validate(v).is_ok()) {
        let ctx = Context {
            vars: BTreeMap::from([
                ("pat".to_string(), value.to_string()),
                ("app".to_string(), "x'y".to_string()),
            ]),
            ..Context::default()
        };
        let card = compose(&rb, 0, &ctx, None);
        let command = &card.preflight.as_ref().unwrap().command;
        let out = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{value}|pre/{value}/post|a={value}|{value}x'y|"),
            "value {value:?} rendered as {command}"
        );
    }
    assert!(!Path::new("/tmp/stepguard-pwned").exists());
}

/// A template the loader would refuse, built in code: the renderer still
/// never substitutes a value where its quoting cannot hold.
#[test]
fn an_unchecked_quoted_placeholder_is_never_filled_in() {
    let mut rb = parse_str(
        &runbook_with("    preflight:\n      run: grep -c x f\n      explain: x\n"),
        Path::new("quoting.yaml"),
    )
    .unwrap();
    rb.steps[0].preflight.as_mut().unwrap().run = "grep -c '{{pat}}' /etc/hosts".into();
    let ctx = Context {
        vars: BTreeMap::from([("pat".to_string(), "x' /etc/shadow '".to_string())]),
        ..Context::default()
    };
    let card = compose(&rb, 0, &ctx, None);
    let pre = card.preflight.as_ref().unwrap();
    assert_eq!(pre.command, "grep -c '<pat>' /etc/hosts");
    assert!(!pre.runnable);
    assert_eq!(pre.missing, vec!["pat"]);
}
