//! Adversarial review of values read from pasted state (`draft::facts`,
//! `draft::values`), `=` in the walk, the state viewer, the decision line
//! and offline injection flagging.
//!
//! The pasted state is attacker-influenced: pod names, labels, event
//! messages and log lines can come from a compromised cluster. Each attack
//! that once broke an invariant says so in a `// Found:` comment.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::KeyCode;
use stepguard::draft::values::resolve;
use stepguard::draft::{compose, Context, Source};
use stepguard::runbook::{parse_str, Runbook};
use stepguard::session::Event;
use stepguard::tui::model::{Overlay, Prompt, PromptKind, Viewer};
use stepguard::tui::{update, Effect, Model, Msg};

use crate::common::*;

// ---------------------------------------------------------------- helpers

/// A runbook whose two values take `pattern` (None: the default pattern).
fn runbook(pattern: Option<&str>) -> Runbook {
    let pat = pattern
        .map(|p| format!("    pattern: '{p}'\n"))
        .unwrap_or_default();
    let src = format!(
        r#"
id: review-values
title: Review values
summary: values from state
alerts: [KubePodCrashLooping]
symptoms: [CrashLoopBackOff after deploy]
risk: low
variables:
  namespace:
    description: the namespace
{pat}    from: [label:namespace, var:namespace]
  pod:
    description: the pod
{pat}    from: [label:pod, var:pod]
steps:
  - id: look
    title: Look
    intent: look at the pod
    preflight:
      run: kubectl -n {{{{namespace}}}} get pod {{{{pod}}}} -o wide
      proceed_if: 'CrashLoopBackOff'
      explain: must crash-loop
    action:
      run: kubectl -n {{{{namespace}}}} delete pod {{{{pod}}}}
      blast_radius: one pod
    rollback: none
    reason: the pod comes back
"#
    );
    parse_str(&src, Path::new("review-values.yaml")).unwrap()
}

fn ctx_with_state(state: &str) -> Context {
    Context {
        state: Some(Arc::new(state.to_string().into())),
        ..Context::default()
    }
}

/// The words `sh` makes of `command` (without running it: `set --`).
fn sh_words(command: &str) -> Vec<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("set -- {command}; printf '%s\\0' \"$@\""))
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{command}: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

const CANARY: &str = "/tmp/stepguard-review-values-pwned";

/// Values a compromised cluster could print where a name goes.
fn hostile_names() -> Vec<String> {
    vec![
        format!("$(touch${{IFS}}{CANARY})"),
        format!("`touch {CANARY}`"),
        "a;b".into(),
        "a|b".into(),
        "a&&b".into(),
        "*".into(),
        "../../etc/passwd".into(),
        "-oyaml".into(),
        "--all-namespaces".into(),
        "--kubeconfig=/tmp/evil".into(),
        "x'y".into(),
        "x\"y".into(),
        "pay\u{202e}stnem".into(),
        "pay\u{200b}ments".into(),
        "pay\u{2066}ments\u{2069}".into(),
        "pay\u{feff}ments".into(),
        "a\u{1b}[2Jb".into(),
        "ab\u{85}cd".into(),
        "x".repeat(600),
        "é".repeat(300),
        "~root".into(),
        "=cmd".into(),
        "!!".into(),
        "{a,b}".into(),
    ]
}

/// States that put `name` where kubectl prints a pod or namespace name.
fn hostile_states(name: &str) -> Vec<String> {
    vec![
        // A `get pods -A` table.
        format!(
            "NAMESPACE   NAME   READY   STATUS             RESTARTS   AGE\n\
             {name}   checkout-7d9f8c6b5-xk2lq   0/1   CrashLoopBackOff   17   41m\n\
             payments   {name}   0/1   CrashLoopBackOff   17   41m\n"
        ),
        // `-o yaml`.
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {name}\nstatus:\n  phase: CrashLoopBackOff\n"
        ),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"{name}\"\n  namespace: '{name}'\n"
        ),
        // `-o json`.
        format!(
            "{{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"metadata\": {{\n    \"name\": {n},\n    \"namespace\": {n}\n  }}\n}}\n",
            n = serde_json::to_string(name).unwrap()
        ),
        // The echoed command line.
        format!("$ kubectl -n {name} get pods\nNAME READY STATUS\nx-1 0/1 CrashLoopBackOff\n"),
        format!("$ kubectl -n '{name}' get pod '{name}'\nNAME READY STATUS\n{name} 0/1 CrashLoopBackOff\n"),
        format!("$ kubectl --namespace=\"{name}\" describe pod {name}\n"),
        // describe.
        format!("Name:         {name}\nNamespace:    {name}\nStatus:       CrashLoopBackOff\n"),
        // An event's message.
        format!(
            "LAST SEEN   TYPE      REASON    OBJECT        MESSAGE\n\
             2m          Warning   BackOff   pod/{name}   Back-off restarting failed container in pod {name}\n"
        ),
    ]
}

// ------------------------------------------- hostile values never become code

/// Every value the state offers, under a permissive pattern and the
/// default one: no control or invisible format character, no leading `-`
/// (an option, however it is quoted); the rendered command splits into
/// exactly the template's words, each value one literal word; nothing runs.
// Found: `Variable::validate` refused only `char::is_control` (Cc), so a
// pattern like `^\S+$` took bidi overrides, isolates and zero-width
// characters from a pasted pod name into a command to copy (`pay<U+200B>ments`
// is not `payments`). Fixed in `Variable::validate` (every hidden format
// character, as `sanitize` defines them, is refused).
// Found: a state value beginning with `-` passed a permissive pattern and
// was rendered `'-oyaml'`: quoted, but still an option to kubectl. Fixed in
// `values::resolve_one`: a value from outside (state, alert label) that
// begins with `-` is refused whatever the pattern; the engineer may still
// type one with `=` or `--var`.
#[test]
fn a_hostile_name_in_any_state_format_never_becomes_code() {
    let _ = std::fs::remove_file(CANARY);
    for pattern in [Some(r"^\S+$"), Some("^.+$"), None] {
        let rb = runbook(pattern);
        for name in hostile_names() {
            for state in hostile_states(&name) {
                let ctx = ctx_with_state(&state);
                let values = resolve(&rb, &ctx);
                for v in values.values() {
                    for c in &v.candidates {
                        let bad = c.value.chars().find(|&ch| {
                            ch.is_control() || stepguard::sanitize::is_hidden_format(ch)
                        });
                        assert!(
                            bad.is_none(),
                            "{pattern:?}: {:?} offered for {} from state {state:?}",
                            c.value,
                            v.name
                        );
                        if c.evidence.source == Source::State {
                            assert!(
                                !c.value.starts_with('-'),
                                "{pattern:?}: option {:?} offered for {} from {state:?}",
                                c.value,
                                v.name
                            );
                        }
                        assert!(c.value.len() <= 512);
                    }
                }
                let card = compose(&rb, 0, &ctx, None);
                let pre = card.preflight.as_ref().unwrap();
                if !pre.missing.is_empty() {
                    continue;
                }
                let ns = values["namespace"].value.clone().unwrap();
                let pod = values["pod"].value.clone().unwrap();
                let words = sh_words(&pre.command);
                assert_eq!(
                    words,
                    ["kubectl", "-n", &ns, "get", "pod", &pod, "-o", "wide"],
                    "{pattern:?} {state:?} rendered {}",
                    pre.command
                );
                if let Some(action) = &card.action {
                    let words = sh_words(&action.command);
                    assert_eq!(words, ["kubectl", "-n", &ns, "delete", "pod", &pod]);
                }
            }
        }
    }
    assert!(!Path::new(CANARY).exists(), "a value ran as code");
}

/// A value read from the state is on the line it names (derived ones aside,
/// which are unverified): the card never cites a line that does not show it.
#[test]
fn a_state_value_is_printed_on_the_line_it_cites() {
    let rb = runbook(Some(r"^\S+$"));
    let mut states: Vec<String> = hostile_names()
        .iter()
        .flat_map(|n| hostile_states(n))
        .collect();
    states.push(
        "NAMESPACE     NAME                       READY   STATUS             RESTARTS   AGE\n\
         kube-system   coredns-5d78c9869d-abcde   1/1     Running            0          9d\n\
         payments      checkout-7d9f8c6b5-xk2lq   0/1     CrashLoopBackOff   17         41m\n"
            .into(),
    );
    for state in &states {
        let ctx = ctx_with_state(state);
        for v in resolve(&rb, &ctx).values() {
            for c in &v.candidates {
                if c.evidence.source != Source::State {
                    continue;
                }
                let line = c.line.expect("a state value names its line");
                let text = state.split('\n').nth(line - 1).unwrap_or("");
                if c.derived {
                    assert!(!v.verified || v.value.as_ref() != Some(&c.value));
                    continue;
                }
                assert!(
                    text.contains(c.value.as_str()),
                    "{:?} cited from line {line} {text:?} of {state:?}",
                    c.value
                );
            }
        }
    }
}
