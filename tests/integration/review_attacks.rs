//! Adversarial review of the step machine (`tui::step`), the router
//! (`tui::update`), the snapshot restore (`tui::persist`), the policy's
//! `wait`, and standing rules handed to cards as data.
//!
//! Each attack that once broke an invariant says so in a `// Found:`
//! comment (what broke, and where the fix is); all of them pass now.

use std::collections::VecDeque;
use std::path::Path;

use crossterm::event::KeyCode;
use stepguard::draft::Context;
use stepguard::exec::Verdict;
use stepguard::guard::{ArgRule, StandingRule};
use stepguard::llm::reply::{DraftAction, DraftCheck, DraftValue, StaleFlag};
use stepguard::llm::{ModelDraft, ModelOutcome};
use stepguard::runbook::{parse_str, Runbook};
use stepguard::session::event::Decision;
use stepguard::session::Event;
use stepguard::tui::model::{
    DraftSlot, Gate, Overlay, Phase, PromptKind, Screen, StepStatus, WalkEnd,
};
use stepguard::tui::{persist, step, update, CheckKind, Effect, Model, Msg};

use crate::common::*;

const MIN: u64 = 60_000;
/// A wall-clock "now" (ms) well past zero, so going back is possible.
const T0: u64 = 1_000_000_000_000;

// ---------------------------------------------------------------- helpers

fn walk(m: &Model) -> &stepguard::tui::model::Walk {
    m.walk.as_ref().unwrap()
}

fn common_runbook() -> Runbook {
    parse_str(RUNBOOK, Path::new("walk-test.yaml")).unwrap()
}

/// common::model() with a wall clock and (optionally) a model configured.
fn model_at(now: u64, drafting: bool) -> Model {
    let mut m = model();
    m.now_ms = now;
    m.model_enabled = drafting;
    if drafting {
        stepguard::tui::update::request_drafts(&mut m, None, false);
    }
    m
}

/// Step 0 PASS and `p`, step 1 (high risk) PASS and `p`: the target gate.
fn at_high_gate(m: &mut Model) {
    run_preflight(m, &["ok"], 0);
    update(m, key('p'));
    assert_eq!(index(m), 1);
    run_preflight(m, &["ok"], 0);
    update(m, key('p'));
    assert!(
        matches!(&walk(m).phase, Phase::Gating { gates, .. }
            if gates == &vec![Gate::TypeTarget { target: "payments".into() }]),
        "{:?}",
        walk(m).phase
    );
}

fn draft(
    values: &[(&str, &str)],
    stale: &[&str],
    evidence: &str,
    tweak: impl FnOnce(&mut ModelDraft),
) -> Box<ModelOutcome> {
    let mut d = ModelDraft::default();
    for (name, value) in values {
        d.values.insert(
            name.to_string(),
            DraftValue {
                value: value.to_string(),
                evidence: Some(format!("{name}: {value}")),
            },
        );
    }
    for s in stale {
        d.stale.push(StaleFlag {
            assumption: s.to_string(),
            why: "the state says otherwise".into(),
        });
    }
    tweak(&mut d);
    Box::new(ModelOutcome {
        draft: d,
        model: "fake-model".into(),
        evidence: evidence.into(),
        suspicious: vec![],
        usage: None,
        cached: false,
        redactions: 0,
        prompt_sha256: String::new(),
        elapsed_ms: 0,
        metrics: Default::default(),
    })
}

fn decisions(effects: &[Effect]) -> Vec<stepguard::session::event::Decided> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Audit(Event::Decision(d)) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn rule(id: &str, program: &str, args: Vec<ArgRule>, expires_at: Option<u64>) -> StandingRule {
    StandingRule {
        id: id.into(),
        program: program.into(),
        args,
        max_uses: None,
        uses: 0,
        created_at: 0,
        expires_at,
        revoked_at: None,
        reason: "review".into(),
        created_by: "reviewer".into(),
    }
}

// ------------------------------------------- A1: a late CheckDone (stale id)

#[test]
// Found: step::check_done does `mem::replace(&mut walk.phase, Phase::Reading)`
// before it looks at the phase: a CheckDone whose run is not running turns
// Decided(Halted) back into Reading, and `p` then proceeds the halted step.
fn a_stale_check_done_reopens_a_halted_walk() {
    let mut m = model_at(T0, false);
    run_preflight(&mut m, &["ok"], 0);
    update(&mut m, key('h'));
    typed(&mut m, "escalating to the db team");
    update(&mut m, code(KeyCode::Enter));
    assert!(matches!(walk(&m).end(), Some(WalkEnd::Halted { .. })));
    update(
        &mut m,
        Msg::CheckDone {
            run_id: 999,
            result: Err("late result of a run long gone".into()),
        },
    );
    assert!(
        matches!(walk(&m).end(), Some(WalkEnd::Halted { .. })),
        "a worker message un-decided the walk: {:?}",
        walk(&m).phase
    );
    let effects = update(&mut m, key('p'));
    assert_eq!(index(&m), 0, "a halted step was proceeded: {effects:?}");
    assert_eq!(walk(&m).steps[0].status, StepStatus::Halted);
}

#[test]
// Found: same root cause; a completed walk re-opens and its last step is
// decided a second time (a second `decision` audit event for step 3).
fn a_stale_check_done_reopens_a_completed_walk() {
    let mut m = model_at(T0, false);
    at_high_gate(&mut m);
    typed(&mut m, "payments");
    update(&mut m, code(KeyCode::Enter));
    update(&mut m, key('p'));
    typed(&mut m, "dashboard green");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(walk(&m).end(), Some(&WalkEnd::Completed));
    update(
        &mut m,
        Msg::CheckDone {
            run_id: 0,
            result: Err("x".into()),
        },
    );
    assert_eq!(
        walk(&m).end(),
        Some(&WalkEnd::Completed),
        "{:?}",
        walk(&m).phase
    );
    update(&mut m, key('p'));
    typed(&mut m, "again");
    let effects = update(&mut m, code(KeyCode::Enter));
    assert!(decisions(&effects).is_empty(), "step decided twice");
}

#[test]
// Found: same root cause, fail-closed but wrong: a stale CheckDone throws
// away the gates being answered (and what was typed at them).
fn a_stale_check_done_does_not_touch_the_gates() {
    let mut m = model_at(T0, false);
    at_high_gate(&mut m);
    typed(&mut m, "paym");
    update(
        &mut m,
        Msg::CheckDone {
            run_id: 12_345,
            result: Err("late".into()),
        },
    );
    assert!(matches!(walk(&m).phase, Phase::Gating { ref input, .. } if input == "paym"));
}

#[test]
fn stale_check_lines_and_done_never_touch_a_running_check() {
    let mut m = model_at(T0, false);
    let effects = update(&mut m, key('r'));
    let Some(Effect::RunCheck { run_id, .. }) = effects.first().cloned() else {
        panic!("{effects:?}")
    };
    for id in [0, run_id + 1, u64::MAX] {
        update(
            &mut m,
            Msg::CheckLine {
                run_id: id,
                stream: stepguard::exec::Stream::Stdout,
                text: "ok".into(),
            },
        );
        update(
            &mut m,
            Msg::CheckDone {
                run_id: id,
                result: Ok(Box::new(outcome("echo payments", &["ok"], 0))),
            },
        );
        assert_eq!(walk(&m).running(), Some((run_id, CheckKind::Preflight)));
        assert!(walk(&m).output.lines.is_empty());
        assert!(walk(&m).preflight.is_none());
    }
}

// ------------------------------- A2: a model reply while p's gates are asked

#[test]
// Found: on_draft_done recomposes the card while Phase::Gating keeps the
// gates computed for the card `p` saw. A stale-assumption flag arriving
// mid-gate is never asked: the step closes on the target alone, and the
// decision event records a card whose policy asks an Override.
fn a_draft_mid_gating_adds_a_stale_flag_that_is_never_asked() {
    let mut m = model_at(T0, true);
    at_high_gate(&mut m);
    let generation = walk(&m).generation;
    assert!(matches!(
        walk(&m).drafts.get(&1),
        Some(DraftSlot::InFlight { .. })
    ));
    update(
        &mut m,
        Msg::DraftDone {
            step_index: 1,
            generation,
            result: Ok(draft(
                &[("ns", "payments")],
                &["the pod is already gone"],
                "ns: payments",
                |_| {},
            )),
        },
    );
    assert!(!walk(&m).card.stale.is_empty());
    let now = step::decision(&m, walk(&m));
    assert!(now.gates.iter().any(|g| matches!(g, Gate::Override { .. })));
    typed(&mut m, "payments");
    let effects = update(&mut m, code(KeyCode::Enter));
    assert_eq!(
        index(&m),
        1,
        "advanced past a stale-assumption Override nobody answered: {:?}",
        decisions(&effects)
    );
}

#[test]
// Found: same root cause, worse: on a prose step the ManualNote gate (which
// accepts a paste) was asked for a card with no commands; a model reply
// mid-gate gives the card a model-written action and pre-flight, and the
// step closes with that action recorded as decided — though the policy for
// the card now says "run the pre-flight first".
fn a_draft_mid_gating_swaps_in_a_model_action() {
    let mut m = model_at(T0, true);
    at_high_gate(&mut m);
    typed(&mut m, "payments");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 2);
    let generation = walk(&m).generation;
    assert!(walk(&m).card.action.is_none());
    update(&mut m, key('p'));
    assert!(
        matches!(&walk(&m).phase, Phase::Gating { gates, .. } if gates == &vec![Gate::ManualNote])
    );
    update(
        &mut m,
        Msg::DraftDone {
            step_index: 2,
            generation,
            result: Ok(draft(&[], &[], "", |d| {
                d.preflight = Some(DraftCheck {
                    command: Some("kubectl get pods -n payments".into()),
                    ..DraftCheck::default()
                });
                d.action = Some(DraftAction {
                    command: Some("kubectl -n payments delete deploy checkout".into()),
                    blast_radius: None,
                });
            })),
        },
    );
    assert!(step::decision(&m, walk(&m)).wait.is_some());
    update(&mut m, Msg::Paste("looked at the dashboard".into()));
    let effects = update(&mut m, code(KeyCode::Enter));
    let d = decisions(&effects);
    assert!(
        d.is_empty(),
        "closed a step on a model action the gates never saw: {:?}",
        d.first().map(|d| &d.action)
    );
}

// -------------------------------- A3: an edit result arriving at the wrong time

#[test]
// Found: on_edited runs in any phase. Mid-gate it replaces the action and
// voids the pre-flight (`walk.preflight = None`), yet the gates stay and
// the last Enter closes the step as Proceeded(None) with the edited action:
// a step with a pre-flight advanced with no verdict.
fn an_edit_mid_gating_voids_the_verdict_but_the_step_still_closes() {
    let mut m = model_at(T0, false);
    at_high_gate(&mut m);
    update(
        &mut m,
        Msg::Edited {
            step: 1,
            result: Ok("kubectl -n payments delete pod --all".into()),
        },
    );
    assert!(step::decision(&m, walk(&m)).wait.is_some());
    typed(&mut m, "payments");
    let effects = update(&mut m, code(KeyCode::Enter));
    assert_eq!(
        index(&m),
        1,
        "advanced without a verdict: {:?}",
        decisions(&effects)
    );
}

#[test]
// Found: Msg::Edited carries no step. The runtime performs EditAction and
// pushes Msg::Edited to the BACK of `pending`, behind keys already read in
// the same batch: `e` then `p` typed ahead closes step 0 first, and the
// edit of step 0's action lands on step 1 as its action (and `a` copies it).
fn a_late_edit_lands_on_the_next_step() {
    let mut m = model_at(T0, false);
    run_preflight(&mut m, &["ok"], 0);
    let e = update(&mut m, key('e'));
    assert!(matches!(e.as_slice(), [Effect::EditAction { .. }]));
    update(&mut m, key('p'));
    assert_eq!(index(&m), 1);
    update(
        &mut m,
        Msg::Edited {
            step: 0,
            result: Ok("touch /tmp/x-payments-edited".into()),
        },
    );
    assert_eq!(
        walk(&m).action(),
        Some("kubectl -n payments delete pod x"),
        "step 0's edit became step 1's action"
    );
    assert!(!walk(&m).steps[1].edited);
}

#[test]
// Found (minor, record only): Msg::Copied has the same shape; a copy of
// step 0's rollback is recorded in step 1's StepRecord.copied.
fn a_late_copied_is_recorded_on_the_next_step() {
    let mut m = model_at(T0, false);
    run_preflight(&mut m, &["ok"], 0);
    update(&mut m, key('y'));
    update(&mut m, key('p'));
    update(
        &mut m,
        Msg::Copied {
            what: "rollback",
            step: 0,
            text: "rm /tmp/x-payments".into(),
            result: Ok("tmux buffer".into()),
        },
    );
    assert!(walk(&m).steps[1].copied.is_empty(), "{:?}", walk(&m).steps);
    assert_eq!(walk(&m).steps[0].copied, vec!["rollback".to_string()]);
}

// ------------------------------------ A4: restoring a snapshot taken mid-gate

fn snapshot(m: &Model) -> persist::Snapshot {
    persist::snapshot(m, "s1", T0, "sha", &Default::default()).unwrap()
}

fn restored(snap: &persist::Snapshot, now: u64) -> Model {
    let mut ctx = Context::default();
    ctx.vars.insert("ns".into(), "payments".into());
    let mut m = Model::new(vec![common_runbook()], ctx);
    m.now_ms = now;
    persist::restore(&mut m, common_runbook(), snap);
    m
}

#[test]
// Found: restore puts the saved `gates` back as Phase::Gating without
// asking the policy again: resumed a day later, the verdict is far outside
// the freshness window (p would WAIT), yet typing the target closes the
// step on it.
fn a_restore_mid_gate_skips_the_freshness_window() {
    let mut m = model_at(T0, false);
    at_high_gate(&mut m);
    let snap = snapshot(&m);
    let mut m = restored(&snap, T0 + 24 * 60 * MIN);
    // Fixed: restore asks the policy again and lands in reading.
    assert_eq!(walk(&m).phase, Phase::Reading);
    assert!(step::decision(&m, walk(&m)).wait.is_some());
    typed(&mut m, "payments");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 1, "a day-old verdict closed a high-risk step");
}

#[test]
// Found: the snapshot is not covered by the audit chain (only its
// audit_head is checked), and restore trusts its `gates`: an edited
// snapshot turns a high-risk target gate into a ManualNote, which a paste
// answers.
fn a_restore_trusts_the_saved_gates() {
    let mut m = model_at(T0, false);
    at_high_gate(&mut m);
    let mut snap = snapshot(&m);
    snap.gates = vec![Gate::ManualNote];
    snap.prompt.as_mut().unwrap().kind = PromptKind::Gate(Gate::ManualNote);
    let mut m = restored(&snap, T0);
    update(&mut m, Msg::Paste("fine".into()));
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 1, "a pasted note closed a high-risk step");
}

#[test]
fn a_restore_of_a_reading_step_asks_the_policy_again() {
    let mut m = model_at(T0, false);
    run_preflight(&mut m, &["ok"], 0);
    let snap = snapshot(&m);
    let mut m = restored(&snap, T0 + 11 * MIN);
    assert_eq!(walk(&m).phase, Phase::Reading);
    update(&mut m, key('p'));
    assert_eq!(index(&m), 0, "a stale verdict restored from disk counted");
    let mut m = restored(&snap, T0 - MIN);
    update(&mut m, key('p'));
    assert_eq!(index(&m), 0, "a verdict from the future counted");
    let mut m = restored(&snap, T0 + MIN);
    update(&mut m, key('p'));
    assert_eq!(index(&m), 1, "a fresh verdict restored must still count");
}

// ------------------------------------- A5: the clock while the gates are asked

#[test]
// Found: freshness is judged only when `p` is pressed. The human answers
// gates for 30 minutes (or the clock steps back an hour): the last Enter
// still closes the step on a verdict `p` would now refuse.
fn the_last_gate_does_not_recheck_freshness() {
    for later in [T0 + 30 * MIN, T0 - 60 * MIN] {
        let mut m = model_at(T0, false);
        at_high_gate(&mut m);
        m.now_ms = later;
        assert!(step::decision(&m, walk(&m)).wait.is_some());
        typed(&mut m, "payments");
        update(&mut m, code(KeyCode::Enter));
        assert_eq!(index(&m), 1, "now={later}: closed on a verdict p refuses");
    }
}

#[test]
fn the_clock_never_makes_a_verdict_fresh() {
    // Back then forward again, and a verdict stamped in the future.
    let mut m = model_at(T0, false);
    run_preflight(&mut m, &["ok"], 0);
    for now in [T0 - 1, T0 - 60 * MIN, 0, T0 + 10 * MIN + 1, u64::MAX] {
        m.now_ms = now;
        update(&mut m, key('p'));
        assert_eq!(index(&m), 0, "now={now}");
    }
    m.now_ms = T0 + 10 * MIN;
    update(&mut m, key('p'));
    assert_eq!(index(&m), 1, "the edge of the window is fresh");
    let mut m = model_at(u64::MAX, false);
    run_preflight(&mut m, &["ok"], 0);
    m.now_ms = T0;
    update(&mut m, key('p'));
    assert_eq!(index(&m), 0);
}

// ------------------------------------------------ A6: pastes at typed gates

const CRITICAL: &str = r#"
id: crit
title: Critical
risk: low
variables:
  ns: {pattern: '^[a-z]+$', from: [var:ns]}
steps:
  - id: med
    title: Medium
    intent: x
    risk: medium
    preflight: {run: 'echo {{ns}}', proceed_if: 'ok'}
    action: {run: 'kubectl -n {{ns}} rollout restart deploy/web', blast_radius: one deploy}
    rollback: {run: 'kubectl -n {{ns}} rollout undo deploy/web'}
  - id: crit
    title: Critical
    intent: x
    risk: critical
    preflight: {run: 'echo {{ns}}', proceed_if: 'ok'}
    action: {run: 'kubectl delete ns {{ns}}', blast_radius: everything}
    rollback: none
    reason: there is none
"#;

fn critical_model() -> Model {
    let rb = parse_str(CRITICAL, Path::new("crit.yaml")).unwrap();
    let mut ctx = Context::default();
    ctx.vars.insert("ns".into(), "payments".into());
    let mut m = Model::new(vec![rb.clone()], ctx);
    m.now_ms = T0;
    m.operator = "alice".into();
    m.start_walk(rb);
    m
}

#[test]
fn typed_gates_refuse_pastes_in_every_shape() {
    let mut m = critical_model();
    // Medium without a PASS: 'proceed' must be typed.
    run_preflight(&mut m, &["nope"], 0);
    update(&mut m, key('p'));
    // STOP (the proceed rule did not match): an Override first, pastable.
    update(&mut m, Msg::Paste("expected during failover".into()));
    update(&mut m, code(KeyCode::Enter));
    assert!(matches!(
        m.prompt().unwrap().kind,
        PromptKind::Gate(Gate::TypeProceed)
    ));
    for paste in ["proceed", "proceed\n", "\rproceed\r", "pro"] {
        update(&mut m, Msg::Paste(paste.into()));
        assert!(matches!(&walk(&m).phase, Phase::Gating { input, .. } if input.is_empty()));
        update(&mut m, code(KeyCode::Enter));
        assert_eq!(index(&m), 0, "{paste:?}");
    }
    // Half typed, half pasted.
    typed(&mut m, "pro");
    update(&mut m, Msg::Paste("ceed".into()));
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 0);
    typed(&mut m, "ceed");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 1);
    // Critical: the target, then a second person, both typed.
    run_preflight(&mut m, &["ok"], 0);
    update(&mut m, key('p'));
    update(&mut m, Msg::Paste("payments".into()));
    update(&mut m, code(KeyCode::Enter));
    assert!(matches!(
        m.prompt().unwrap().kind,
        PromptKind::Gate(Gate::TypeTarget { .. })
    ));
    typed(&mut m, "payments");
    update(&mut m, code(KeyCode::Enter));
    assert!(matches!(
        m.prompt().unwrap().kind,
        PromptKind::Gate(Gate::SecondPerson { .. })
    ));
    update(&mut m, Msg::Paste("bob".into()));
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(walk(&m).end(), None);
    for me in ["alice", "ALICE", " alice "] {
        typed(&mut m, me);
        update(&mut m, code(KeyCode::Enter));
        assert_eq!(walk(&m).end(), None, "{me:?} is the operator");
        for _ in 0..me.len() {
            update(&mut m, code(KeyCode::Backspace));
        }
    }
    typed(&mut m, "bob");
    let effects = update(&mut m, code(KeyCode::Enter));
    assert_eq!(walk(&m).end(), Some(&WalkEnd::Completed));
    let d = decisions(&effects);
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].note,
        "confirmed 'payments'; second person (self-attested, typed here): bob"
    );
}

// ---------------------------------------------------- A7: the verify's STOP

#[test]
fn a_verify_stop_survives_everything_but_a_new_verify() {
    let mut m = prop_model(&mut Rng(1));
    m.model_enabled = false;
    run_preflight(&mut m, &["ok"], 0);
    let effects = update(&mut m, key('v'));
    let Some(Effect::RunCheck {
        run_id, command, ..
    }) = effects.first().cloned()
    else {
        panic!("{effects:?}")
    };
    assert_eq!(command, "echo verify payments");
    update(
        &mut m,
        Msg::CheckDone {
            run_id,
            result: Ok(Box::new(outcome(&command, &["circuit open"], 0))),
        },
    );
    // Re-running the pre-flight (PASS), new rules, a resize, a target: still gated.
    run_preflight(&mut m, &["ok"], 0);
    update(&mut m, Msg::Rules(vec![].into()));
    update(&mut m, Msg::Resize(10, 10));
    update(&mut m, Msg::Target("other".into()));
    let out = step::decision(&m, walk(&m));
    assert!(out
        .gates
        .iter()
        .any(|g| matches!(g, Gate::Override { why } if why.starts_with("verify"))));
    update(&mut m, key('p'));
    assert_eq!(index(&m), 0);
    // A verify re-run that is cancelled is a STOP again, not a clean slate.
    update(&mut m, code(KeyCode::Esc));
    let effects = update(&mut m, key('v'));
    let Some(Effect::RunCheck { run_id, .. }) = effects.first().cloned() else {
        panic!("{effects:?}")
    };
    update(&mut m, code(KeyCode::Esc));
    update(
        &mut m,
        Msg::CheckDone {
            run_id,
            result: Err("cancelled".into()),
        },
    );
    update(&mut m, key('p'));
    assert_eq!(index(&m), 0);
    assert!(matches!(
        m.prompt().unwrap().kind,
        PromptKind::Gate(Gate::Override { .. })
    ));
}

// --------------------------- A8: standing rules as data, on cards and actions

#[test]
fn a_rule_never_widens_the_structure_of_a_line() {
    let now = 1_000_000;
    let rules: Vec<StandingRule> = vec![
        rule(
            "00000001",
            "mycorp-cli",
            vec![ArgRule::Exact("inspect".into()), ArgRule::Any],
            None,
        ),
        rule(
            "00000002",
            "mycorp-cli",
            vec![
                ArgRule::Exact("inspect".into()),
                ArgRule::Pattern(".*".into()),
            ],
            None,
        ),
        rule(
            "00000003",
            "mycorp-cli",
            vec![ArgRule::Pattern(".*".into()); 3],
            None,
        ),
    ];
    let allowed = |c: &str| stepguard::guard::check_with_rules(c, &rules, now).allowed;
    assert!(
        allowed("mycorp-cli inspect payments"),
        "the rule itself works"
    );
    for line in [
        "mycorp-cli inspect $(id)",
        "mycorp-cli inspect `id`",
        "mycorp-cli inspect \"$(id)\"",
        "mycorp-cli inspect ${HOME}",
        "mycorp-cli inspect <(id)",
        "mycorp-cli inspect x > /etc/passwd",
        "mycorp-cli inspect x >> ~/.bashrc",
        "mycorp-cli inspect x 2>/tmp/f",
        "mycorp-cli inspect < /etc/shadow",
        "mycorp-cli inspect *",
        "mycorp-cli inspect /etc/*",
        "mycorp-cli inspect ?",
        "mycorp-cli inspect [ab]",
        "mycorp-cli inspect ~",
        "mycorp-cli inspect ~root",
        "mycorp-cli inspect x; rm -rf /",
        "mycorp-cli inspect x && rm -rf /",
        "mycorp-cli inspect x || sh",
        "mycorp-cli inspect x | sh",
        "mycorp-cli inspect x &",
        "mycorp-cli inspect 'a\nb'",
        "mycorp-cli inspect x\nrm -rf /",
        "FOO=1 mycorp-cli inspect x",
        "LD_PRELOAD=/tmp/x.so mycorp-cli inspect x",
        "/tmp/evil/mycorp-cli inspect x",
        "./mycorp-cli inspect x",
        "../mycorp-cli inspect x",
        "{ mycorp-cli inspect x; }",
        "(mycorp-cli inspect x)",
        "if mycorp-cli inspect x; then id; fi",
        "mycorp-cli a b c > x",
        "exec mycorp-cli inspect x",
        "env mycorp-cli inspect x",
        "timeout 5 mycorp-cli inspect x | sh",
        "xargs mycorp-cli inspect",
        "sudo mycorp-cli inspect x",
    ] {
        assert!(!allowed(line), "a standing rule allowed {line:?}");
    }
    // Rules that may not exist are inert on cards too (they are not vetted
    // against the store there, only judged by the guard).
    let bad: Vec<StandingRule> = vec![
        rule(
            "00000004",
            "sh",
            vec![ArgRule::Exact("-c".into()), ArgRule::Any],
            None,
        ),
        rule("00000005", "bash", vec![ArgRule::Any], None),
        rule("00000006", "rm", vec![ArgRule::Any], None),
        rule(
            "00000007",
            "kubectl",
            vec![ArgRule::Exact("delete".into()), ArgRule::Any, ArgRule::Any],
            None,
        ),
        rule(
            "00000008",
            "kubectl",
            vec![ArgRule::Exact("del".into()), ArgRule::Any, ArgRule::Any],
            None,
        ),
        rule(
            "00000009",
            "kubectl",
            vec![
                ArgRule::Exact("config".into()),
                ArgRule::Exact("use".into()),
                ArgRule::Any,
            ],
            None,
        ),
        rule(
            "0000000a",
            "python3",
            vec![ArgRule::Exact("-c".into()), ArgRule::Any],
            None,
        ),
        rule("0000000b", "/bin/rm", vec![ArgRule::Any], None),
        rule("0000000c", "touch", vec![ArgRule::Any], None),
        rule("0000000d", "tee", vec![ArgRule::Any], None),
        rule("0000000e", "eval", vec![ArgRule::Any], None),
        rule(
            "0000000f",
            "sed",
            vec![ArgRule::Exact("-i".into()), ArgRule::Any, ArgRule::Any],
            None,
        ),
    ];
    for line in [
        "sh -c id",
        "bash x",
        "rm x",
        "kubectl delete pod x",
        "kubectl del pod x",
        "kubectl config use prod",
        "python3 -c print",
        "/bin/rm x",
        "touch x",
        "tee x",
        "eval x",
        "sed -i s/a/b/ f",
    ] {
        assert!(
            !stepguard::guard::check_with_rules(line, &bad, now).allowed,
            "an inadmissible rule allowed {line:?} on a card"
        );
    }
    // Expired, revoked and future rules allow nothing.
    let mut expired = rule(
        "00000010",
        "mycorp-cli",
        vec![ArgRule::Exact("inspect".into()), ArgRule::Any],
        Some(now - 1),
    );
    assert!(
        !stepguard::guard::check_with_rules("mycorp-cli inspect x", &[expired.clone()], now)
            .allowed
    );
    expired.expires_at = None;
    expired.revoked_at = Some(now - 1);
    assert!(!stepguard::guard::check_with_rules("mycorp-cli inspect x", &[expired], now).allowed);
}

const VENDOR: &str = r#"
id: vendor
title: Vendor
risk: low
variables:
  ns: {pattern: '^[a-z]+$', from: [var:ns]}
steps:
  - id: inspect
    title: Inspect
    intent: x
    preflight: {run: 'mycorp-cli inspect {{ns}}', proceed_if: 'ok'}
    action: {run: 'mycorp-cli restart {{ns}}', blast_radius: the service}
    rollback: {run: 'mycorp-cli inspect {{ns}}'}
    verify: {run: 'mycorp-cli inspect {{ns}}', proceed_if: 'ok'}
"#;

fn vendor_model(now_ms: u64) -> Model {
    let rb = parse_str(VENDOR, Path::new("vendor.yaml")).unwrap();
    let mut ctx = Context::default();
    ctx.vars.insert("ns".into(), "payments".into());
    let mut m = Model::new(vec![rb.clone()], ctx);
    m.now_ms = now_ms;
    m.start_walk(rb);
    m
}

#[test]
fn rules_never_make_an_action_run() {
    let mut m = vendor_model(T0);
    // A rule for the action's very shape, and one for anything.
    let rules: Vec<StandingRule> = vec![
        rule(
            "00000001",
            "mycorp-cli",
            vec![ArgRule::Exact("restart".into()), ArgRule::Any],
            None,
        ),
        rule(
            "00000002",
            "mycorp-cli",
            vec![ArgRule::Pattern(".*".into()), ArgRule::Pattern(".*".into())],
            None,
        ),
    ];
    update(&mut m, Msg::Rules(rules.into()));
    let action = walk(&m).action().unwrap().to_string();
    assert!(stepguard::guard::check_with_rules(&action, &m.ctx.rules, T0 / 1000).allowed);
    let mut keys: Vec<Msg> = ('a'..='z').map(key).collect();
    keys.extend([KeyCode::Enter, KeyCode::Esc, KeyCode::Tab].map(code));
    keys.push(Msg::Paste("mycorp-cli restart payments".into()));
    keys.push(Msg::Edited {
        step: walk(&m).index,
        result: Ok("mycorp-cli restart payments".into()),
    });
    for k in keys {
        let label = format!("{k:?}");
        for e in update(&mut m, k) {
            if let Effect::RunCheck { command, kind, .. } = &e {
                let card = &walk(&m).card;
                let expected = match kind {
                    CheckKind::Preflight => &card.preflight,
                    CheckKind::Verify => &card.verify,
                };
                assert_eq!(
                    Some(command),
                    expected.as_ref().map(|c| &c.command),
                    "{label}"
                );
                assert_ne!(command, &action, "{label} ran the action");
            }
        }
        // Let whatever started finish, so the next key is judged from Reading.
        if let Some((run_id, _)) = walk(&m).running() {
            update(
                &mut m,
                Msg::CheckDone {
                    run_id,
                    result: Err("done".into()),
                },
            );
        }
        m.overlay = Overlay::None;
    }
}

#[test]
// Found: the card's guard decision is computed when the card is composed
// (ctx.now_secs of that moment) and `r` trusts `card_check.guard.allowed`:
// after the rule expires the card still says "stepguard runs this" and `r`
// emits RunCheck (and a run_start audit event) for a command the guard with
// the same rules refuses now. The runner refuses it, so nothing runs, but
// the card is more permissive than guard + rule semantics at `now`.
fn an_expired_rule_still_starts_a_check_from_an_old_card() {
    let now_s = T0 / 1000;
    let mut m = vendor_model(T0);
    let r = rule(
        "00000001",
        "mycorp-cli",
        vec![ArgRule::Exact("inspect".into()), ArgRule::Any],
        Some(now_s + 60),
    );
    update(&mut m, Msg::Rules(vec![r].into()));
    assert!(walk(&m).card.preflight.as_ref().unwrap().runnable);
    m.now_ms = T0 + 2 * MIN;
    let effects = update(&mut m, key('r'));
    let cmd = "mycorp-cli inspect payments";
    assert!(!stepguard::guard::check_with_rules(cmd, &m.ctx.rules, m.now_ms / 1000).allowed);
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::RunCheck { .. })),
        "r started a check the guard refuses now: {effects:?}"
    );
}

// ----------------------------------------- A9: the audit decision vs the step

#[test]
fn the_decision_event_is_what_happened() {
    let mut m = model_at(T0, false);
    run_preflight(&mut m, &["circuit open"], 0);
    update(&mut m, key('p'));
    typed(&mut m, "breaker expected");
    let effects = update(&mut m, code(KeyCode::Enter));
    let d = decisions(&effects);
    assert_eq!(d.len(), 1);
    let d = &d[0];
    assert_eq!((d.step.as_str(), d.step_number), ("low-step", 1));
    assert_eq!(d.decision, Decision::Proceed);
    assert_eq!(d.verdict, Some(Verdict::Stop));
    assert_eq!(d.note, "breaker expected");
    assert_eq!(d.action.as_deref(), Some("touch /tmp/x-payments"));
    assert_eq!(
        d.action_sha256.as_deref(),
        Some(stepguard::digest::sha256_hex(b"touch /tmp/x-payments").as_str())
    );
    assert_eq!(d.preflight.as_ref().unwrap().command, "echo payments");
    assert_eq!(
        walk(&m).steps[0].status,
        StepStatus::Proceeded(Some(Verdict::Stop))
    );
    // Skip and halt: one event each, with the typed reason.
    let effects = {
        update(&mut m, key('s'));
        typed(&mut m, "not needed");
        update(&mut m, code(KeyCode::Enter))
    };
    let d = decisions(&effects);
    assert_eq!(
        (d.len(), d[0].decision, d[0].note.as_str()),
        (1, Decision::Skip, "not needed")
    );
    update(&mut m, key('h'));
    let effects = update(&mut m, code(KeyCode::Enter));
    assert!(
        decisions(&effects).is_empty(),
        "an empty halt reason decided"
    );
    typed(&mut m, "   ");
    let effects = update(&mut m, code(KeyCode::Enter));
    assert!(
        decisions(&effects).is_empty(),
        "a blank halt reason decided"
    );
    typed(&mut m, "x");
    let effects = update(&mut m, code(KeyCode::Enter));
    assert_eq!(decisions(&effects)[0].decision, Decision::Halt);
    assert_eq!(m.screen(), Screen::End);
}

// ------------------------------------------- A10: random walks (property)

const PROP: &str = r#"
id: prop
title: Prop
risk: low
variables:
  ns:
    pattern: '^[a-z]+$'
    from: [var:ns]
    extract: '(?m)^ns: (\S+)'
  pod:
    pattern: '^[a-z0-9-]+$'
    default: web-1
steps:
  - id: low
    title: Low
    intent: x
    preflight: {run: 'echo {{ns}}', proceed_if: 'ok', stop_if: 'circuit open'}
    verify: {run: 'echo verify {{ns}}', proceed_if: 'ok', stop_if: 'circuit open'}
    action: {run: 'touch /tmp/x-{{ns}}', blast_radius: one file}
    rollback: {run: 'rm /tmp/x-{{ns}}'}
  - id: vendor
    title: Vendor
    intent: x
    preflight: {run: 'mycorp-cli inspect {{ns}}', proceed_if: 'ok'}
    action: {run: 'mycorp-cli restart {{ns}}', blast_radius: the service}
    rollback: none
    reason: it restarts by itself
  - id: medium
    title: Medium
    intent: x
    risk: medium
    preflight: {run: 'echo {{ns}}', proceed_if: 'ok'}
    action: {run: 'kubectl -n {{ns}} rollout restart deploy/web', blast_radius: one deploy}
    rollback: {run: 'kubectl -n {{ns}} rollout undo deploy/web'}
  - id: high
    title: High
    intent: x
    risk: high
    preflight: {run: 'echo {{ns}} {{pod}}', proceed_if: 'ok'}
    action: {run: 'kubectl -n {{ns}} delete pod {{pod}}', blast_radius: one pod}
    rollback: none
    reason: pods come back
  - id: critical
    title: Critical
    intent: x
    risk: critical
    preflight: {run: 'echo {{ns}}', proceed_if: 'ok'}
    verify: {run: 'echo verify {{ns}}', proceed_if: 'ok'}
    action: {run: 'kubectl delete ns {{ns}}', blast_radius: everything}
    rollback: none
    reason: none
  - id: manual
    title: By hand
    intent: Look at the dashboard.
"#;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Keys, pastes, the running check's own lines and result, rules
    /// without expiry, targets, resizes, copies, a slow clock.
    Core,
    /// Also model replies, edit results and stale check results at any
    /// time, expiring rules and clock jumps.
    Everything,
}

fn prop_model(rng: &mut Rng) -> Model {
    let rb = parse_str(PROP, Path::new("prop.yaml")).unwrap();
    let mut ctx = Context::default();
    ctx.vars.insert("ns".into(), "payments".into());
    let mut m = Model::new(vec![rb.clone()], ctx);
    m.now_ms = T0;
    m.operator = "alice".into();
    m.model_enabled = rng.below(2) == 0;
    m.start_walk(rb);
    stepguard::tui::update::request_drafts(&mut m, None, false);
    m
}

/// What must hold across one message, judged from the state before it.
struct Before {
    index: usize,
    statuses: Vec<StepStatus>,
    phase: Phase,
    overlay: Overlay,
    ended: bool,
    outcome: stepguard::policy::Outcome,
    preflight: Option<(String, bool)>,
    verify: Option<(String, bool)>,
    action: Option<String>,
    rollback: Option<String>,
    step_id: String,
    nav_walk: bool,
}

fn before(m: &Model) -> Before {
    let w = walk(m);
    let check = |c: &Option<stepguard::draft::card::CardCheck>| {
        c.as_ref()
            .map(|c| (c.command.clone(), c.guard.allowed && c.missing.is_empty()))
    };
    Before {
        index: w.index,
        statuses: w.steps.iter().map(|s| s.status).collect(),
        phase: w.phase.clone(),
        overlay: m.overlay.clone(),
        ended: w.end().is_some(),
        outcome: step::decision(m, w),
        preflight: check(&w.card.preflight),
        verify: check(&w.card.verify),
        action: w.action().map(str::to_string),
        rollback: w.card.rollback.command().map(str::to_string),
        step_id: w.card.step_id.clone(),
        nav_walk: m.nav == Screen::Walk,
    }
}

/// The key a message is (no modifiers), the only part of it the judge reads.
fn plain_key(msg: &Msg) -> Option<KeyCode> {
    match msg {
        Msg::Key(k) if k.modifiers.is_empty() => Some(k.code),
        _ => None,
    }
}

/// The invariants; Err says which broke.
fn judge_step(
    b: &Before,
    pressed: Option<KeyCode>,
    effects: &[Effect],
    m: &Model,
    asked: &Option<Vec<Gate>>,
) -> Result<(), String> {
    let w = walk(m);
    let statuses: Vec<StepStatus> = w.steps.iter().map(|s| s.status).collect();
    let decided = decisions(effects);
    let changed = w.index != b.index
        || statuses != b.statuses
        || b.ended != w.end().is_some()
        || !decided.is_empty();
    if changed {
        if b.ended {
            return Err(format!("a decided walk changed (phase now {:?})", w.phase));
        }
        let by_p = pressed == Some(KeyCode::Char('p'))
            && b.overlay == Overlay::None
            && b.nav_walk
            && b.phase == Phase::Reading
            && b.outcome.wait.is_none()
            && b.outcome.gates.is_empty();
        let by_last_gate = pressed == Some(KeyCode::Enter)
            && b.overlay == Overlay::None
            && matches!(&b.phase, Phase::Gating { gates, input, .. }
                if gates.len() == 1 && gates[0].check(input.trim()).is_ok());
        if by_last_gate {
            // The gates passed must be the ones the policy asks for the
            // card as it is now, and `p` must not be waiting now.
            if b.outcome.wait.is_some() {
                return Err(format!(
                    "closed by the last gate while p would wait: {:?}",
                    b.outcome.wait
                ));
            }
            if asked.as_ref() != Some(&b.outcome.gates) {
                return Err(format!(
                    "closed with gates {asked:?} but the card now asks {:?}",
                    b.outcome.gates
                ));
            }
        }
        let by_reason = pressed == Some(KeyCode::Enter)
            && matches!(&b.overlay, Overlay::Prompt(p)
                if matches!(p.kind, PromptKind::SkipReason | PromptKind::HaltReason)
                    && !p.input.trim().is_empty());
        if !(by_p || by_last_gate || by_reason) {
            return Err(format!(
                "the step closed without p, its gates or a reason (phase was {:?})",
                b.phase
            ));
        }
        if decided.len() != 1 {
            return Err(format!("{} decision events", decided.len()));
        }
        let d = &decided[0];
        if d.step != b.step_id || d.step_number != b.index + 1 || d.action != b.action {
            return Err(format!("the decision event is not the step decided: {d:?}"));
        }
    }
    for e in effects {
        if let Effect::RunCheck { kind, command, .. } = e {
            let key_ok = match kind {
                CheckKind::Preflight => pressed == Some(KeyCode::Char('r')),
                CheckKind::Verify => pressed == Some(KeyCode::Char('v')),
            };
            let card = match kind {
                CheckKind::Preflight => &b.preflight,
                CheckKind::Verify => &b.verify,
            };
            if !key_ok || b.phase != Phase::Reading || b.overlay != Overlay::None {
                return Err(format!("RunCheck without its key: {e:?}"));
            }
            if card.as_ref() != Some(&(command.clone(), true)) {
                return Err(format!(
                    "RunCheck for another command than the card's: {e:?} card {card:?}"
                ));
            }
            if Some(command) == b.action.as_ref() || Some(command) == b.rollback.as_ref() {
                return Err(format!("RunCheck carries the action or rollback: {e:?}"));
            }
            if !stepguard::guard::check_with_rules(command, &m.ctx.rules, m.now_ms / 1000).allowed {
                return Err(format!(
                    "RunCheck for a command the guard refuses now: {command}"
                ));
            }
        }
    }
    Ok(())
}

/// How often each closing path and each check was exercised.
#[derive(Debug, Default)]
struct Tally {
    by_p: usize,
    by_gate: usize,
    by_reason: usize,
    gating: usize,
    checks: usize,
    walks_ended: usize,
}

/// Random walks; the first broken invariant of each seed (with the last
/// messages that led to it), and what was exercised.
fn random_walks(mode: Mode, seeds: std::ops::Range<u64>, steps: usize) -> (Vec<String>, Tally) {
    let mut failures = Vec::new();
    let mut tally = Tally::default();
    let words = ["payments", "proceed", "bob", "alice", "because", "web-1"];
    let pastes = [
        "payments",
        "proceed",
        "bob",
        "a reason",
        "p\n",
        "ns: billing\n",
        "ns: payments\n",
    ];
    let key_chars = [
        'p', 'p', 'p', 'p', 'r', 'r', 'r', 'v', 'a', 'y', 'e', 'd', 'i', 'q', '?', 'j', 'k', 'x',
    ];
    let keys_code = [
        KeyCode::Enter,
        KeyCode::Enter,
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Backspace,
        KeyCode::Tab,
    ];
    'seeds: for seed in seeds {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (seed + 1).wrapping_mul(0x1000_0000_01B3));
        let mut m = prop_model(&mut rng);
        let mut running: Option<(u64, String)> = None;
        let mut asked: Option<Vec<Gate>> = None;
        let mut trace: VecDeque<String> = VecDeque::new();
        let mut queue: VecDeque<Msg> = VecDeque::new();
        let mut walks = 0;
        for n in 0..steps {
            if walk(&m).end().is_some() && rng.below(4) == 0 {
                m = prop_model(&mut rng);
                running = None;
                asked = None;
                walks += 1;
                trace.push_back("---- new walk ----".into());
            }
            let msg = match queue.pop_front() {
                Some(msg) => msg,
                None => {
                    let w = walk(&m);
                    let roll = rng.below(100);
                    match roll {
                        0..=34 => key(*rng.pick(&key_chars)),
                        35..=49 => code(*rng.pick(&keys_code)),
                        50..=59 => {
                            let word = rng.pick(&words);
                            queue.extend(word.chars().map(key));
                            queue.pop_front().unwrap()
                        }
                        60..=62 => Msg::Paste(rng.pick(&pastes).to_string()),
                        63 => key(*rng.pick(&['s', 'h'])),
                        64..=78 if running.is_some() => {
                            let (run_id, command) = running.clone().unwrap();
                            if rng.below(3) == 0 {
                                Msg::CheckLine {
                                    run_id,
                                    stream: stepguard::exec::Stream::Stdout,
                                    text: "line".into(),
                                }
                            } else {
                                let out = *rng.pick(&[
                                    &["ok"][..],
                                    &["ok"],
                                    &["ok"],
                                    &["circuit open"],
                                    &["nothing"],
                                    &[],
                                ]);
                                let result = match rng.below(5) {
                                    0 => Err("failed to start".into()),
                                    _ => Ok(Box::new(outcome(
                                        &command,
                                        out,
                                        rng.below(4).min(1) as i32,
                                    ))),
                                };
                                Msg::CheckDone { run_id, result }
                            }
                        }
                        79..=81 => {
                            let expires = match mode {
                                Mode::Core => None,
                                Mode::Everything => Some(m.now_ms / 1000 + rng.below(600)),
                            };
                            let rules: Vec<StandingRule> = match rng.below(3) {
                                0 => vec![],
                                _ => vec![rule(
                                    "0000abcd",
                                    "mycorp-cli",
                                    vec![ArgRule::Exact("inspect".into()), ArgRule::Any],
                                    expires,
                                )],
                            };
                            Msg::Rules(rules.into())
                        }
                        82 => Msg::Target(rng.pick(&["prod", "payments", "\x1b[31mx"]).to_string()),
                        83 => Msg::Resize(rng.below(200) as u16, rng.below(60) as u16),
                        84 => Msg::Copied {
                            what: "action",
                            step: w.index,
                            text: "x".into(),
                            result: Ok("tmux".into()),
                        },
                        85..=89 if mode == Mode::Everything => {
                            let step_index = w.index + rng.below(2) as usize;
                            let generation = w.generation.saturating_sub(rng.below(4).min(1));
                            let result = match rng.below(5) {
                                0 => Err("model down".into()),
                                1 => Ok(draft(
                                    &[("ns", "payments")],
                                    &["a stale assumption"],
                                    "ns: payments",
                                    |_| {},
                                )),
                                2 => Ok(draft(&[("pod", "web-2")], &[], "", |_| {})),
                                3 => Ok(draft(&[], &[], "", |d| {
                                    d.preflight = Some(DraftCheck {
                                        command: Some("kubectl get pods -n payments".into()),
                                        ..DraftCheck::default()
                                    });
                                    d.action = Some(DraftAction {
                                        command: Some("kubectl delete ns payments".into()),
                                        blast_radius: None,
                                    });
                                })),
                                _ => Ok(draft(
                                    &[("ns", "payments"), ("pod", "web-1")],
                                    &[],
                                    "ns: payments pod: web-1",
                                    |_| {},
                                )),
                            };
                            Msg::DraftDone {
                                step_index,
                                generation,
                                result,
                            }
                        }
                        90..=91 if mode == Mode::Everything => Msg::Edited {
                            step: w.index,
                            result: Ok(rng
                                .pick(&["touch /tmp/edited", "kubectl delete ns prod"])
                                .to_string()),
                        },
                        92..=93 if mode == Mode::Everything => Msg::CheckDone {
                            run_id: rng.below(50),
                            result: Err("late".into()),
                        },
                        94..=95 if mode == Mode::Everything => {
                            let jump = rng.below(3 * 60) * MIN;
                            m.now_ms = if rng.below(2) == 0 {
                                m.now_ms + jump
                            } else {
                                m.now_ms.saturating_sub(jump)
                            };
                            Msg::Resize(80, 24)
                        }
                        _ => key(*rng.pick(&key_chars)),
                    }
                }
            };
            // The clock moves a little with every message (runtime sets now_ms).
            m.now_ms += match mode {
                Mode::Core => 50,
                Mode::Everything => 1_000,
            };
            let b = before(&m);
            let pressed = plain_key(&msg);
            let label: String = format!("{msg:?}").chars().take(160).collect();
            trace.push_back(match pressed {
                Some(KeyCode::Char(c)) => format!("key {c:?}"),
                Some(other) => format!("key {other:?}"),
                None => label,
            });
            if trace.len() > 40 {
                trace.pop_front();
            }
            let effects = update(&mut m, msg);
            if let Err(why) = judge_step(&b, pressed, &effects, &m, &asked) {
                let tail: Vec<String> = trace.iter().cloned().collect();
                failures.push(format!(
                    "seed {seed}, message {n} (walk {walks}): {why}\nlast messages:\n  {}",
                    tail.join("\n  ")
                ));
                continue 'seeds;
            }
            if w_index(&m) != b.index || walk(&m).end().is_some() != b.ended {
                match (pressed, &b.overlay) {
                    (_, Overlay::Prompt(_)) => tally.by_reason += 1,
                    (Some(KeyCode::Enter), _) => tally.by_gate += 1,
                    _ => tally.by_p += 1,
                }
                if walk(&m).end().is_some() {
                    tally.walks_ended += 1;
                }
            }
            // Track what p asked, and the running check.
            let w = walk(&m);
            match (&b.phase, &w.phase) {
                (Phase::Reading, Phase::Gating { gates, .. }) => {
                    tally.gating += 1;
                    asked = Some(gates.clone())
                }
                (_, Phase::Gating { .. }) => {}
                _ => asked = None,
            }
            for e in &effects {
                if let Effect::RunCheck {
                    run_id, command, ..
                } = e
                {
                    tally.checks += 1;
                    running = Some((*run_id, command.clone()));
                }
            }
            if w.running().is_none() {
                running = None;
            }
        }
    }
    (failures, tally)
}

fn w_index(m: &Model) -> usize {
    walk(m).index
}

#[test]
fn random_walks_keep_the_invariants() {
    let (failures, tally) = random_walks(Mode::Core, 0..12, 3_000);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Not vacuous: every way to close a step, gates and checks happened.
    assert!(
        tally.by_p > 10
            && tally.by_gate > 10
            && tally.by_reason > 10
            && tally.gating > 50
            && tally.checks > 100
            && tally.walks_ended > 5,
        "{tally:?}"
    );
}

#[test]
// Found: with model replies, edit results, stale check results and clock
// jumps mixed in, the walk closes steps on gates the card no longer asks,
// while p would wait, or re-opens a decided walk (A1–A5 above). The panic
// prints the seed and the last 40 messages.
fn random_walks_with_every_message_keep_the_invariants() {
    let (failures, tally) = random_walks(Mode::Everything, 0..12, 3_000);
    assert!(
        failures.is_empty(),
        "{} of 12 seeds broke an invariant ({tally:?}):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ------------------------------- A11: typed and pasted text sent to the model

const TOKEN: &str = "ghp_R2d2C3poBB8Luke5Leia9Han1Solo4Yoda7Xx";

fn built_user_prompt(job: &stepguard::llm::DraftJob) -> String {
    let input = stepguard::llm::DraftInput {
        runbook: &job.runbook,
        step_index: job.step_index,
        ctx: &job.ctx,
        history: &job.history,
        hint: job.hint.as_deref(),
        budget_tokens: 4_000,
    };
    stepguard::llm::prompt::build(&stepguard::llm::Prompts::default(), &input).user
}

#[test]
// Found: the state and the alert are redacted before a request is built,
// but the walk's history is not: a reason pasted at an Override gate (the
// gate accepts pastes, and on-call people paste the error they saw) becomes
// the step's note, goes into the next DraftJob's history and is sent to the
// model verbatim (earlier sessions' skip/halt reasons likewise).
fn a_secret_pasted_as_a_reason_reaches_the_model() {
    assert!(
        !stepguard::redact::redact(&format!("Authorization: Bearer {TOKEN}"))
            .text
            .contains(TOKEN),
        "the redactor itself knows this token"
    );
    let mut m = model_at(T0, true);
    run_preflight(&mut m, &["circuit open"], 0);
    update(&mut m, key('p'));
    update(
        &mut m,
        Msg::Paste(format!("curl said 401 with Authorization: Bearer {TOKEN}")),
    );
    let effects = update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 1);
    let jobs: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::RequestDraft { job, .. } => Some(job.clone()),
            _ => None,
        })
        .collect();
    assert!(!jobs.is_empty(), "{effects:?}");
    for job in &jobs {
        let user = built_user_prompt(job);
        assert!(
            !user.contains(TOKEN),
            "a pasted secret is in the prompt:\n{user}"
        );
    }
}

#[test]
// Found: same hole for the `d` hint (its prompt accepts a paste).
fn a_secret_pasted_as_a_redraft_hint_reaches_the_model() {
    let mut m = model_at(T0, true);
    update(&mut m, key('d'));
    update(&mut m, Msg::Paste(format!("token is {TOKEN}")));
    let effects = update(&mut m, code(KeyCode::Enter));
    let Some(Effect::RequestDraft { job, .. }) = effects.first() else {
        panic!("{effects:?}")
    };
    assert!(
        !built_user_prompt(job).contains(TOKEN),
        "a pasted hint is sent as is"
    );
}

#[test]
// Found (cosmetic): a verdict stamped in the future is treated as
// u64::MAX old, and the line under the output says "the pre-flight is
// 307445734561825 min old". It should say the clock went back.
fn a_future_verdict_is_not_called_ancient() {
    let mut m = model_at(T0, false);
    run_preflight(&mut m, &["ok"], 0);
    m.now_ms = T0 - MIN;
    let wait = step::decision(&m, walk(&m)).wait.unwrap();
    assert!(!wait.contains("307445734561825"), "{wait}");
}

// ------------------------------------ A12: outside text on the screen, raw?

fn screen_controls(m: &Model) -> Vec<String> {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 50)).unwrap();
    terminal
        .draw(|f| stepguard::tui::view::draw(f, m, stepguard::tui::view::Theme { color: false }))
        .unwrap();
    terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol().to_string())
        .filter(|s| {
            s.chars()
                .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c))
        })
        .collect()
}

/// Note: ratatui's buffer itself drops zero-width characters (ESC, BEL,
/// U+202E) when a string is set, so this is a safety net over every path
/// the walk draws, not a proof that each path sanitizes on its own.
#[test]
fn hostile_text_never_reaches_the_screen_raw() {
    let evil = "x\x1b]52;c;cm0gLXJmIC8=\x07y\x1b[2J\u{202e}z\r\x08\x00";
    let mut m = model_at(T0, true);
    let generation = walk(&m).generation;
    update(&mut m, Msg::Target(format!("ctx{evil}")));
    update(
        &mut m,
        Msg::DraftDone {
            step_index: 0,
            generation,
            result: Ok(draft(&[("ns", "payments")], &[evil], "ns: payments", |d| {
                d.notes = Some(format!("note {evil}"));
            })),
        },
    );
    let effects = update(&mut m, key('r'));
    let Some(Effect::RunCheck {
        run_id, command, ..
    }) = effects.first().cloned()
    else {
        panic!("{effects:?}")
    };
    let lines = [format!("line {evil}"), format!("circuit open {evil}")];
    for l in &lines {
        update(
            &mut m,
            Msg::CheckLine {
                run_id,
                stream: stepguard::exec::Stream::Stdout,
                text: l.clone(),
            },
        );
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    update(
        &mut m,
        Msg::CheckDone {
            run_id,
            result: Ok(Box::new(outcome(&command, &refs, 0))),
        },
    );
    assert!(screen_controls(&m).is_empty(), "{:?}", screen_controls(&m));
    // The gates: an Override whose title carries the STOP reason, and a
    // pasted reason with controls in it.
    update(&mut m, key('p'));
    update(&mut m, Msg::Paste(format!("reason {evil}")));
    assert!(screen_controls(&m).is_empty(), "{:?}", screen_controls(&m));
    update(&mut m, code(KeyCode::Esc));
    // A failed check's error, and a state paste waiting for Enter.
    update(&mut m, Msg::Paste(format!("ns: payments\n{evil}\n")));
    assert!(screen_controls(&m).is_empty(), "{:?}", screen_controls(&m));
    update(&mut m, code(KeyCode::Enter));
    let effects = update(&mut m, key('r'));
    if let Some(Effect::RunCheck { run_id, .. }) = effects.first().cloned() {
        update(
            &mut m,
            Msg::CheckDone {
                run_id,
                result: Err(format!("spawn {evil}")),
            },
        );
    }
    assert!(screen_controls(&m).is_empty(), "{:?}", screen_controls(&m));
    // Typed control characters at a prompt (a terminal can send them).
    update(&mut m, key('h'));
    for c in evil.chars() {
        update(&mut m, key(c));
    }
    assert!(screen_controls(&m).is_empty(), "{:?}", screen_controls(&m));
}
