//! Shared by the TUI tests: a small runbook and helpers that drive `update`
//! the way the runtime does.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use stepguard::draft::Context;
use stepguard::exec::{KeptOutput, RunOutcome};
use stepguard::runbook::parse_str;
use stepguard::tui::{update, CheckKind, Effect, Model, Msg};

pub const RUNBOOK: &str = r#"
id: walk-test
title: Walk test
risk: low
variables:
  ns:
    pattern: '^[a-z]+$'
    from: [var:ns]
    extract: '(?m)^ns: (\S+)'
steps:
  - id: low-step
    title: A low-risk step
    intent: Check then act.
    preflight: {run: 'echo {{ns}}', proceed_if: 'ok', stop_if: 'circuit open', explain: stop if the circuit is open}
    action: {run: 'touch /tmp/x-{{ns}}', blast_radius: one file}
    rollback: {run: 'rm /tmp/x-{{ns}}'}
  - id: high-step
    title: A high-risk step
    intent: Dangerous.
    risk: high
    preflight: {run: 'echo {{ns}}', proceed_if: 'ok', explain: must say ok}
    action: {run: 'kubectl -n {{ns}} delete pod x', blast_radius: one pod}
    rollback: none
    reason: pods come back by themselves
  - id: manual-step
    title: By hand
    intent: Look at the dashboard.
"#;

pub fn model() -> Model {
    let rb = parse_str(RUNBOOK, Path::new("walk-test.yaml")).unwrap();
    let mut ctx = Context::default();
    ctx.vars.insert("ns".into(), "payments".into());
    let mut m = Model::new(vec![rb.clone()], ctx);
    m.start_walk(rb);
    m
}

pub fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

pub fn code(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn typed(m: &mut Model, text: &str) {
    for c in text.chars() {
        update(m, key(c));
    }
}

pub fn index(m: &Model) -> usize {
    m.walk.as_ref().unwrap().index
}

pub fn outcome(command: &str, stdout: &[&str], exit: i32) -> RunOutcome {
    let mut output = KeptOutput::default();
    for l in stdout {
        output.push(
            stepguard::exec::Stream::Stdout,
            l.to_string(),
            &Default::default(),
        );
    }
    RunOutcome {
        command: command.into(),
        exit_code: Some(exit),
        signal: None,
        timed_out: false,
        cancelled: false,
        duration: Duration::from_millis(5),
        output,
        stop_hit: stdout
            .iter()
            .find(|l| l.contains("circuit open"))
            .map(|l| l.to_string()),
        proceed_hit: stdout
            .iter()
            .find(|l| l.contains("ok"))
            .map(|l| l.to_string()),
        pgid: None,
        rule_uses: Vec::new(),
        sandbox: stepguard::exec::SandboxStatus::Enforced { abi: 6 },
    }
}

/// Press r and deliver the result the runner would.
pub fn run_preflight(m: &mut Model, stdout: &[&str], exit: i32) {
    let effects = update(m, key('r'));
    let Some(Effect::RunCheck {
        run_id,
        command,
        kind: CheckKind::Preflight,
        ..
    }) = effects.first().cloned()
    else {
        panic!("r did not start the pre-flight: {effects:?}");
    };
    for line in stdout {
        update(
            m,
            Msg::CheckLine {
                run_id,
                stream: stepguard::exec::Stream::Stdout,
                text: line.to_string(),
            },
        );
    }
    update(
        m,
        Msg::CheckDone {
            run_id,
            result: Ok(Box::new(outcome(&command, stdout, exit))),
        },
    );
}
