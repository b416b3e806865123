//! The line under the output says first what `p` will do or ask for, is
//! never cut (it wraps), and agrees with what `p` then does: one case per
//! policy outcome, drawn at 80×24 and 200×50.

use std::path::Path;

use crossterm::event::KeyCode;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use stepguard::draft::{Alert, Context};
use stepguard::runbook::parse_str;
use stepguard::tui::model::Phase;
use stepguard::tui::view::{decision_text, draw, Theme};
use stepguard::tui::{update, CheckKind, Effect, Model, Msg};

use crate::common::*;

const TIERS: &str = r#"
id: tiers
title: Tiers
risk: low
variables:
  ns: {pattern: '^[a-z]+$', from: [var:ns]}
  pod: {pattern: '^[a-z0-9-]+$', from: [var:pod]}
  zone: {pattern: '^[a-z]+$', default: eu}
steps:
  - id: low
    title: Low
    intent: A low-risk step.
    preflight: {run: 'echo {{ns}}', proceed_if: 'ok', stop_if: 'circuit open'}
    action: {run: 'touch /tmp/x-{{ns}}', blast_radius: one file}
    verify: {run: 'echo {{ns}}', proceed_if: 'ok', stop_if: 'circuit open'}
    rollback: {run: 'rm /tmp/x-{{ns}}'}
  - id: medium
    title: Medium
    intent: A medium-risk step.
    risk: medium
    preflight: {run: 'echo {{ns}}', proceed_if: 'ok', stop_if: 'circuit open'}
    action: {run: 'touch /tmp/y-{{ns}}', blast_radius: one file}
    rollback: {run: 'rm /tmp/y-{{ns}}'}
  - id: medium-check
    title: Medium, no proceed rule
    intent: Read the output.
    risk: medium
    preflight: {run: 'echo {{ns}}', stop_if: 'circuit open'}
  - id: high
    title: High
    intent: A high-risk step.
    risk: high
    preflight: {run: 'echo {{ns}}', proceed_if: 'ok'}
    action: {run: 'kubectl -n {{ns}} delete pod x', blast_radius: one pod}
    rollback: none
    reason: pods come back by themselves
  - id: critical
    title: Critical
    intent: A critical step.
    risk: critical
    preflight: {run: 'echo {{ns}}', proceed_if: 'ok'}
    action: {run: 'kubectl -n {{ns}} delete deployment x', blast_radius: the service}
    rollback: none
    reason: redeploy from the pipeline
  - id: missing
    title: A value is missing
    intent: Needs the pod.
    preflight: {run: 'echo {{pod}}', proceed_if: 'ok'}
  - id: refused
    title: The guard refuses the pre-flight
    intent: Writes.
    preflight: {run: 'touch /tmp/z-{{ns}}', proceed_if: 'ok'}
  - id: unverified
    title: An unverified value
    intent: Uses a default.
    preflight: {run: 'echo {{zone}}', proceed_if: 'ok'}
  - id: manual
    title: By hand
    intent: Look at the dashboard.
"#;

const MIN: u64 = 60_000;

fn model_at(step: &str) -> Model {
    let rb = parse_str(TIERS, Path::new("tiers.yaml")).unwrap();
    let mut ctx = Context::default();
    ctx.vars.insert("ns".into(), "payments".into());
    let mut m = Model::new(vec![rb.clone()], ctx);
    m.now_ms = 1_000 * MIN;
    m.start_walk(rb);
    let walk = m.walk.as_mut().unwrap();
    walk.index = walk
        .runbook
        .steps
        .iter()
        .position(|s| s.id == step)
        .unwrap();
    walk.shown_at_ms = m.now_ms;
    stepguard::tui::step::recompose(&mut m);
    m
}

fn run_verify(m: &mut Model, stdout: &[&str]) {
    let effects = update(m, key('v'));
    let Some(Effect::RunCheck {
        run_id,
        command,
        kind: CheckKind::Verify,
        ..
    }) = effects.first().cloned()
    else {
        panic!("v did not start the verify: {effects:?}");
    };
    update(
        m,
        Msg::CheckDone {
            run_id,
            result: Ok(Box::new(outcome(&command, stdout, 0))),
        },
    );
}

/// The rows the decision line takes on screen, from where `p:` starts.
fn drawn_decision(m: &Model, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| draw(f, m, Theme { color: false }))
        .unwrap();
    let screen = terminal.backend().to_string();
    let rows: Vec<Vec<char>> = screen
        .lines()
        .map(|l| l.trim_matches('"').chars().collect())
        .collect();
    let (r, c) = rows
        .iter()
        .enumerate()
        .find_map(|(r, row)| {
            let s: String = row.iter().collect();
            s.find("p: ").map(|byte| (r, s[..byte].chars().count()))
        })
        .unwrap_or_else(|| panic!("no decision line:\n{screen}"));
    let expected = words(&decision_text(m));
    let mut out = Vec::new();
    let mut joined = String::new();
    for row in &rows[r..] {
        let part: String = row[c.min(row.len())..].iter().collect();
        out.push(part.trim_end().to_string());
        joined.push(' ');
        joined.push_str(&part);
        if words(&joined).len() >= expected.len() {
            break;
        }
    }
    assert_eq!(
        words(&joined),
        expected,
        "the decision line is cut or garbled at {width}x{height}:\n{screen}"
    );
    out
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(String::from).collect()
}

#[test]
fn every_policy_outcome_is_said_first_whole_and_done_by_p() {
    type Setup = fn(&mut Model);
    // (name, step, set-up, the word the line starts with, what it must say)
    let table: &[(&str, &str, Setup, &str, &str)] = &[
        (
            "no-verdict",
            "low",
            |_| {},
            "WAIT",
            "run the pre-flight first (r)",
        ),
        (
            "pass",
            "low",
            |m| run_preflight(m, &["ok"], 0),
            "PROCEED",
            "goes to step 2",
        ),
        (
            "stop",
            "low",
            |m| run_preflight(m, &["circuit open"], 0),
            "HALT",
            "asks a typed reason",
        ),
        (
            "stale",
            "low",
            |m| {
                run_preflight(m, &["ok"], 0);
                m.now_ms += 11 * MIN;
            },
            "WAIT",
            "run it again (r)",
        ),
        (
            "clock-back",
            "low",
            |m| {
                run_preflight(m, &["ok"], 0);
                m.now_ms -= 50 * MIN;
            },
            "WAIT",
            "the clock went back",
        ),
        (
            "verify-stop",
            "low",
            |m| {
                run_preflight(m, &["ok"], 0);
                run_verify(m, &["circuit open"]);
            },
            "HALT",
            "verify said STOP",
        ),
        (
            "medium-no-pass",
            "medium-check",
            |m| run_preflight(m, &["nothing to see"], 0),
            "CONFIRM",
            "asks 'proceed' typed",
        ),
        (
            "medium-pass",
            "medium",
            |m| run_preflight(m, &["ok"], 0),
            "PROCEED",
            "goes to step 3",
        ),
        (
            "high",
            "high",
            |m| run_preflight(m, &["ok"], 0),
            "CONFIRM",
            "asks the target 'payments' typed",
        ),
        (
            "critical",
            "critical",
            |m| run_preflight(m, &["ok"], 0),
            "ESCALATE",
            "a second person's handle",
        ),
        (
            "missing",
            "missing",
            |_| {},
            "WAIT",
            "missing pod: = sets a value",
        ),
        (
            "guard-refuses",
            "refused",
            |_| {},
            "WAIT",
            "the guard refuses the pre-flight",
        ),
        (
            "unverified",
            "unverified",
            |m| run_preflight(m, &["ok"], 0),
            "HALT",
            "unverified value: zone",
        ),
        (
            "suspicious",
            "low",
            |m| {
                run_preflight(m, &["ok"], 0);
                m.walk.as_mut().unwrap().card.suspicious =
                    vec!["line 3: ignore previous instructions".into()];
            },
            "HALT",
            "suspicious content in the state",
        ),
        (
            "weak-match",
            "low",
            |m| {
                m.ctx.alert = Some(Alert {
                    labels: [("alertname".to_string(), "Unrelated".to_string())].into(),
                    ..Alert::default()
                });
                run_preflight(m, &["ok"], 0);
            },
            "ESCALATE",
            "runbook match 0.00 is below 0.50",
        ),
        (
            "manual",
            "manual",
            |_| {},
            "CONFIRM",
            "asks a note of what you checked by hand, then ends the runbook",
        ),
    ];
    for (name, step, setup, word, says) in table {
        let mut m = model_at(step);
        setup(&mut m);
        let text = decision_text(&m);
        assert!(
            text.trim_start().starts_with(&format!("p: {word} ")),
            "{name}: {text}"
        );
        assert!(text.contains(says), "{name}: {text}");
        for (w, h) in [(80, 24), (200, 50)] {
            let rows = drawn_decision(&m, w, h);
            insta::assert_snapshot!(format!("decision_{name}_{w}x{h}"), rows.join("\n"));
        }

        let before = index(&m);
        let walk = m.walk.as_ref().unwrap();
        let outcome = stepguard::tui::step::decision(&m, walk);
        update(&mut m, key('p'));
        let walk = m.walk.as_ref().unwrap();
        match *word {
            "WAIT" => {
                assert_eq!(walk.phase, Phase::Reading, "{name}");
                assert_eq!(index(&m), before, "{name}: p advanced");
                assert_eq!(m.status, outcome.wait, "{name}");
                assert!(text.contains(outcome.wait.as_deref().unwrap()), "{name}");
            }
            "PROCEED" => assert_eq!(index(&m), before + 1, "{name}: p did not advance"),
            _ => {
                assert_eq!(index(&m), before, "{name}: p advanced without its gates");
                let Phase::Gating { gates, .. } = &walk.phase else {
                    panic!("{name}: p asked nothing: {:?}", walk.phase);
                };
                assert_eq!(gates, &outcome.gates, "{name}");
                for gate in gates {
                    assert!(text.contains(&gate.asks()), "{name}: {text} lacks {gate:?}");
                }
                assert!(m.prompt().is_some(), "{name}: no prompt on screen");
                // While the gates are asked, the line says so.
                assert!(
                    decision_text(&m).trim_start().starts_with("p: ASKING"),
                    "{name}"
                );
                update(&mut m, code(KeyCode::Esc));
            }
        }
    }
}
