//! The walk's rules, proven on the pure `update` with no terminal: only `p`
//! (with its typed confirmations) advances; a paste never acts as keys; a
//! verdict counts only for the command it judged.

use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use stepguard::draft::Context;
use stepguard::exec::Verdict;
use stepguard::runbook::parse_str;
use stepguard::session::Event;
use stepguard::tui::model::{Gate, Overlay, Phase, PromptKind, Screen, StepStatus};
use stepguard::tui::{update, Effect, Model, Msg};

use crate::common::*;

fn every_key_but(excluded: &[char]) -> Vec<Msg> {
    let mut keys: Vec<Msg> = (' '..='~')
        .filter(|c| !excluded.contains(c))
        .map(key)
        .collect();
    for c in [
        KeyCode::Enter,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Backspace,
        KeyCode::Esc,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::Delete,
        KeyCode::Insert,
        KeyCode::F(1),
        KeyCode::F(5),
        KeyCode::Null,
    ] {
        keys.push(code(c));
    }
    for c in ['p', 'c', 'd', 'n', 'm', 'j'] {
        keys.push(Msg::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::CONTROL,
        )));
        keys.push(Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT)));
    }
    keys.push(Msg::Key(KeyEvent::new(
        KeyCode::Char('P'),
        KeyModifiers::SHIFT,
    )));
    keys
}

#[test]
fn no_key_but_p_advances_even_after_a_pass() {
    // 'p' proceeds; 's' skips only after a typed reason (tested below).
    for msg in every_key_but(&['p', 's']) {
        let mut m = model();
        run_preflight(&mut m, &["ok"], 0);
        let label = format!("{msg:?}");
        update(&mut m, msg);
        // Whatever the key opened, an Enter and more keys must not advance either.
        update(&mut m, code(KeyCode::Enter));
        update(&mut m, code(KeyCode::Esc));
        assert_eq!(index(&m), 0, "{label} advanced the walk");
        assert_eq!(m.screen(), Screen::Walk, "{label} left the walk");
        assert_eq!(
            m.walk.as_ref().unwrap().steps[0].status,
            StepStatus::Pending,
            "{label}"
        );
    }
    let mut m = model();
    run_preflight(&mut m, &["ok"], 0);
    update(&mut m, key('p'));
    assert_eq!(index(&m), 1, "p after a PASS on a low-risk step advances");
    assert_eq!(
        m.walk.as_ref().unwrap().steps[0].status,
        StepStatus::Proceeded(Some(Verdict::Pass))
    );
}

#[test]
fn worker_messages_never_advance() {
    let mut m = model();
    run_preflight(&mut m, &["ok"], 0);
    let run_id = 99;
    for msg in [
        Msg::CheckLine {
            run_id,
            stream: stepguard::exec::Stream::Stdout,
            text: "p".into(),
        },
        Msg::CheckDone {
            run_id,
            result: Ok(Box::new(outcome("echo payments", &["ok"], 0))),
        },
        Msg::Copied {
            what: "rollback",
            step: 0,
            text: "rm /tmp/x-payments".into(),
            result: Ok("tmux buffer".into()),
        },
        Msg::Edited {
            step: 0,
            result: Ok("touch /tmp/other".into()),
        },
        Msg::Resize(80, 24),
    ] {
        update(&mut m, msg);
        assert_eq!(index(&m), 0);
    }
}

#[test]
fn a_paste_never_acts_as_keys() {
    for text in [
        "p",
        "p\n",
        "p\r",
        "r",
        "q",
        "s",
        "h",
        "\r\r\r",
        "proceed\n",
        "payments\np\n",
        "\x1b[A",
        "y",
    ] {
        let mut m = model();
        run_preflight(&mut m, &["ok"], 0);
        let effects = update(&mut m, Msg::Paste(text.into()));
        assert!(effects.is_empty(), "paste {text:?} produced {effects:?}");
        assert_eq!(index(&m), 0, "paste {text:?} advanced");
        // It is offered as cluster state, pending the human's Enter.
        assert!(
            matches!(&m.overlay, Overlay::State { pending: Some(p), .. } if *p == text.replace('\r', "\n")),
            "paste {text:?} gave {:?}",
            m.overlay
        );
        update(&mut m, code(KeyCode::Esc));
        assert_eq!(index(&m), 0);
        assert_eq!(m.overlay, Overlay::None);
    }
}

#[test]
fn p_needs_a_verdict() {
    let mut m = model();
    assert!(update(&mut m, key('p')).is_empty());
    assert_eq!(index(&m), 0);
    assert!(m
        .status
        .as_deref()
        .unwrap()
        .contains("run the pre-flight first"));
}

#[test]
fn p_is_refused_while_the_preflight_runs() {
    let mut m = model();
    update(&mut m, key('r'));
    update(&mut m, key('p'));
    assert_eq!(index(&m), 0);
    assert_eq!(m.overlay, Overlay::None);
}

#[test]
fn stop_needs_a_typed_reason() {
    let mut m = model();
    run_preflight(&mut m, &["ok", "payment-gateway: circuit open"], 0);
    assert_eq!(
        m.walk
            .as_ref()
            .unwrap()
            .preflight
            .as_ref()
            .unwrap()
            .judgement
            .verdict,
        Verdict::Stop
    );
    update(&mut m, key('p'));
    let Some(p) = m.prompt() else {
        panic!("no prompt")
    };
    assert!(matches!(p.kind, PromptKind::Gate(Gate::Override { .. })));
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 0, "an empty reason is not a reason");
    typed(&mut m, "breaker is expected during failover");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 1);
    let rec = &m.walk.as_ref().unwrap().steps[0];
    assert_eq!(rec.status, StepStatus::Proceeded(Some(Verdict::Stop)));
    assert_eq!(rec.note, "breaker is expected during failover");
}

#[test]
fn high_risk_needs_the_target_typed_not_pasted() {
    let mut m = model();
    run_preflight(&mut m, &["ok"], 0);
    update(&mut m, key('p'));
    assert_eq!(index(&m), 1);
    run_preflight(&mut m, &["ok"], 0);
    update(&mut m, key('p'));
    let Some(p) = m.prompt() else {
        panic!("no prompt")
    };
    assert_eq!(
        p.kind,
        PromptKind::Gate(Gate::TypeTarget {
            target: "payments".into()
        })
    );
    update(&mut m, Msg::Paste("payments".into()));
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 1, "a pasted confirmation must not count");
    typed(&mut m, "paymentz");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 1, "a wrong name must not count");
    for _ in 0..8 {
        update(&mut m, code(KeyCode::Backspace));
    }
    typed(&mut m, "payments");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 2);
}

#[test]
fn esc_in_a_prompt_cancels_the_whole_proceed() {
    let mut m = model();
    run_preflight(&mut m, &["circuit open"], 0);
    update(&mut m, key('p'));
    typed(&mut m, "reason");
    update(&mut m, code(KeyCode::Esc));
    assert_eq!(m.overlay, Overlay::None);
    assert_eq!(index(&m), 0);
    assert_eq!(m.walk.as_ref().unwrap().phase, Phase::Reading);
}

#[test]
fn manual_step_needs_a_note_and_ends_the_walk() {
    let mut m = model();
    run_preflight(&mut m, &["ok"], 0);
    update(&mut m, key('p'));
    run_preflight(&mut m, &["ok"], 0);
    update(&mut m, key('p'));
    typed(&mut m, "payments");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 2);
    assert!(
        update(&mut m, key('r')).is_empty(),
        "a manual step has nothing to run"
    );
    update(&mut m, key('p'));
    typed(&mut m, "dashboard is green");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(m.screen(), Screen::End);
    assert_eq!(
        update(&mut m, key('q')),
        vec![Effect::Audit(Event::Quit { signal: None }), Effect::Quit]
    );
}

#[test]
fn a_verdict_counts_only_for_the_command_it_judged() {
    let mut m = model();
    m.ctx.vars.clear();
    update(&mut m, Msg::Paste("ns: checkout\n".into()));
    update(&mut m, code(KeyCode::Enter));
    run_preflight(&mut m, &["ok"], 0);
    assert!(m.walk.as_ref().unwrap().current_preflight().is_some());
    // New state changes the value, hence the command: the PASS no longer applies.
    update(&mut m, Msg::Paste("ns: billing\n".into()));
    update(&mut m, code(KeyCode::Enter));
    assert!(m
        .walk
        .as_ref()
        .unwrap()
        .card
        .preflight
        .as_ref()
        .unwrap()
        .command
        .contains("billing"));
    update(&mut m, key('p'));
    assert_eq!(index(&m), 0);
    // Editing the action also asks for a fresh pre-flight.
    run_preflight(&mut m, &["ok"], 0);
    update(
        &mut m,
        Msg::Edited {
            step: 0,
            result: Ok("touch /tmp/x-billing-2\n".into()),
        },
    );
    assert_eq!(
        m.walk.as_ref().unwrap().action(),
        Some("touch /tmp/x-billing-2")
    );
    update(&mut m, key('p'));
    assert_eq!(index(&m), 0);
}

#[test]
fn copy_keys_copy_exact_commands_and_never_run_them() {
    let mut m = model();
    assert_eq!(
        update(&mut m, key('a')),
        vec![Effect::Copy {
            what: "action",
            step: 0,
            text: "touch /tmp/x-payments".into()
        }]
    );
    assert_eq!(
        update(&mut m, key('y')),
        vec![Effect::Copy {
            what: "rollback",
            step: 0,
            text: "rm /tmp/x-payments".into()
        }]
    );
    // No key ever asks the runtime to run anything but the pre-flight or verify.
    for msg in every_key_but(&[]) {
        let mut m = model();
        for effect in update(&mut m, msg) {
            if let Effect::RunCheck { command, .. } = effect {
                assert_eq!(command, "echo payments");
            }
        }
    }
}

#[test]
fn esc_cancels_a_running_check_and_q_quits_cleanly() {
    let mut m = model();
    let effects = update(&mut m, key('r'));
    let Some(Effect::RunCheck { run_id, .. }) = effects.first().cloned() else {
        panic!()
    };
    assert_eq!(
        update(&mut m, code(KeyCode::Esc)),
        vec![
            Effect::CancelCheck { run_id },
            Effect::Audit(Event::Cancel { run_id })
        ]
    );
    assert_eq!(
        update(
            &mut m,
            Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL))
        ),
        vec![
            Effect::CancelCheck { run_id },
            Effect::Audit(Event::Cancel { run_id })
        ]
    );
    assert_eq!(
        update(&mut m, key('q')),
        vec![
            Effect::CancelCheck { run_id },
            Effect::Audit(Event::Cancel { run_id }),
            Effect::Audit(Event::Quit { signal: None }),
            Effect::Quit
        ]
    );
}

#[test]
fn lines_from_a_stale_run_are_ignored() {
    let mut m = model();
    update(&mut m, key('r'));
    update(
        &mut m,
        Msg::CheckLine {
            run_id: 12345,
            stream: stepguard::exec::Stream::Stdout,
            text: "stale".into(),
        },
    );
    assert!(m.walk.as_ref().unwrap().output.lines.is_empty());
}

#[test]
fn skip_and_halt_need_reasons() {
    let mut m = model();
    update(&mut m, key('s'));
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 0);
    typed(&mut m, "not applicable");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 1);
    assert_eq!(
        m.walk.as_ref().unwrap().steps[0].status,
        StepStatus::Skipped
    );
    update(&mut m, key('h'));
    typed(&mut m, "paging the database team");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(m.screen(), Screen::End);
    assert_eq!(m.walk.as_ref().unwrap().steps[1].status, StepStatus::Halted);
}

#[test]
fn picker_filters_and_opens() {
    let rb = parse_str(RUNBOOK, Path::new("walk-test.yaml")).unwrap();
    let mut m = Model::new(vec![rb], Context::default());
    typed(&mut m, "nothing-matches");
    assert!(m.filtered().is_empty());
    for _ in 0.."nothing-matches".len() {
        update(&mut m, code(KeyCode::Backspace));
    }
    typed(&mut m, "walk");
    assert_eq!(m.filtered().len(), 1);
    // Opening a runbook starts the session before anything else happens.
    assert_eq!(
        update(&mut m, code(KeyCode::Enter)).first(),
        Some(&Effect::StartSession)
    );
    assert_eq!(m.screen(), Screen::Walk);
    let mut m = Model::new(vec![], Context::default());
    assert_eq!(
        update(&mut m, code(KeyCode::Esc)),
        vec![Effect::Audit(Event::Quit { signal: None }), Effect::Quit]
    );
}

fn outcome_for(values: &[(&str, &str, &str)], evidence: &str) -> Box<stepguard::llm::ModelOutcome> {
    let mut draft = stepguard::llm::ModelDraft::default();
    for (name, value, ev) in values {
        draft.values.insert(
            name.to_string(),
            stepguard::llm::reply::DraftValue {
                value: value.to_string(),
                evidence: Some(ev.to_string()),
            },
        );
    }
    draft.notes = Some("advice only".into());
    Box::new(stepguard::llm::ModelOutcome {
        draft,
        model: "fake-model".into(),
        evidence: evidence.into(),
        suspicious: vec![],
        usage: Some((10, 5)),
        cached: false,
        redactions: 0,
        prompt_sha256: String::new(),
        elapsed_ms: 0,
        metrics: Default::default(),
    })
}

fn model_walk() -> (Model, Vec<Effect>) {
    let rb = parse_str(RUNBOOK, Path::new("walk-test.yaml")).unwrap();
    let mut m = Model::new(vec![rb.clone()], Context::default());
    m.model_enabled = true;
    m.start_walk(rb);
    let effects = stepguard::tui::update::request_drafts(&mut m, None, false);
    (m, effects)
}

#[test]
fn the_next_step_is_prefetched_and_used_on_p() {
    let (mut m, effects) = model_walk();
    let requested: Vec<usize> = effects
        .iter()
        .map(|e| match e {
            Effect::RequestDraft { job, .. } => job.step_index,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(requested, vec![0, 1], "the current step and the next one");
    let generation = m.walk.as_ref().unwrap().generation;
    // Step 0's draft supplies the value (with evidence); step 1's arrives early.
    update(
        &mut m,
        Msg::DraftDone {
            step_index: 0,
            generation,
            result: Ok(outcome_for(
                &[("ns", "payments", "ns: payments")],
                "ns: payments",
            )),
        },
    );
    assert_eq!(m.walk.as_ref().unwrap().card.drafter, "fake-model");
    assert_eq!(
        m.walk
            .as_ref()
            .unwrap()
            .card
            .preflight
            .as_ref()
            .unwrap()
            .command,
        "echo payments"
    );
    update(
        &mut m,
        Msg::DraftDone {
            step_index: 1,
            generation,
            result: Ok(outcome_for(
                &[("ns", "payments", "ns: payments")],
                "ns: payments",
            )),
        },
    );
    assert_eq!(index(&m), 0, "a draft never advances");
    run_preflight(&mut m, &["ok"], 0);
    let effects = update(&mut m, key('p'));
    assert_eq!(index(&m), 1);
    let card = &m.walk.as_ref().unwrap().card;
    assert_eq!(
        card.drafter, "fake-model",
        "the prefetched draft is used at once"
    );
    assert_eq!(card.notes, "advice only");
    // Moving on prefetches the step after.
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::RequestDraft { job, .. } if job.step_index == 2)));
}

#[test]
fn new_state_discards_drafts_and_late_replies() {
    let (mut m, _) = model_walk();
    let old = m.walk.as_ref().unwrap().generation;
    update(&mut m, Msg::Paste("ns: billing\n".into()));
    let effects = update(&mut m, code(KeyCode::Enter));
    let drafts = effects
        .iter()
        .filter(|e| matches!(e, Effect::RequestDraft { .. }))
        .count();
    assert_eq!(drafts, 2, "current and next step drafted again");
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::Audit(stepguard::session::Event::Context(_)))));
    let walk = m.walk.as_ref().unwrap();
    assert!(walk.generation > old);
    // A reply to the old request arrives late: ignored.
    update(
        &mut m,
        Msg::DraftDone {
            step_index: 0,
            generation: old,
            result: Ok(outcome_for(&[("ns", "payments", "x")], "x")),
        },
    );
    let card = &m.walk.as_ref().unwrap().card;
    assert_eq!(card.drafter, "offline");
    assert!(card.preflight.as_ref().unwrap().command.contains("billing"));
}

#[test]
fn a_failed_draft_falls_back_with_a_banner() {
    let (mut m, _) = model_walk();
    let generation = m.walk.as_ref().unwrap().generation;
    update(
        &mut m,
        Msg::DraftDone {
            step_index: 0,
            generation,
            result: Err("cannot reach the endpoint: refused".into()),
        },
    );
    assert!(m.banner.as_deref().unwrap().contains("model unavailable"));
    assert_eq!(m.walk.as_ref().unwrap().card.drafter, "offline");
    assert_eq!(index(&m), 0);
    // Esc while a draft is in flight cancels it; d asks for a hint and drafts afresh.
    let (mut m, _) = model_walk();
    let effects = update(&mut m, code(KeyCode::Esc));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::CancelDraft { step_index: 0, .. }]
        ),
        "{effects:?}"
    );
    update(&mut m, key('d'));
    typed(&mut m, "the pod is in billing");
    let effects = update(&mut m, code(KeyCode::Enter));
    match effects.as_slice() {
        [Effect::RequestDraft { job, .. }] => {
            assert_eq!(job.hint.as_deref(), Some("the pod is in billing"));
            assert!(job.fresh);
        }
        other => panic!("{other:?}"),
    }
}

/// A model value nothing in the data shows is a suggestion: never rendered
/// into a command, listed for `=` to pick; picked, it is the engineer's.
#[test]
fn a_model_value_without_evidence_is_only_a_suggestion() {
    let (mut m, _) = model_walk();
    let generation = m.walk.as_ref().unwrap().generation;
    update(
        &mut m,
        Msg::DraftDone {
            step_index: 0,
            generation,
            result: Ok(outcome_for(&[("ns", "payments", "invented")], "ns: other")),
        },
    );
    let card = &m.walk.as_ref().unwrap().card;
    assert_eq!(card.missing, vec!["ns"], "{:?}", card.flags);
    assert!(card.unverified.is_empty());
    let pre = card.preflight.as_ref().unwrap();
    assert!(!pre.command.contains("payments") && !pre.missing.is_empty());
    let ns = card.values.iter().find(|v| v.name == "ns").unwrap();
    assert_eq!(ns.value, None);
    assert!(ns.candidates.iter().any(|c| c.value == "payments"));
    assert!(card
        .flags
        .iter()
        .any(|f| f.contains("the model suggests ns=payments")));
    // p waits for the value, not for an override of a model's guess.
    update(&mut m, key('p'));
    assert!(m.prompt().is_none());
    assert_eq!(index(&m), 0);
    // `=` offers the suggestion; picked, it is the engineer's, recorded so.
    update(&mut m, key('='));
    update(&mut m, code(KeyCode::Down));
    let effects = update(&mut m, code(KeyCode::Enter));
    let set = effects.iter().find_map(|e| match e {
        Effect::Audit(Event::Value {
            name, value, found, ..
        }) => Some((name.clone(), value.clone(), found.is_none())),
        _ => None,
    });
    assert_eq!(
        set,
        Some(("ns".into(), "payments".into(), true)),
        "{effects:?}"
    );
    let card = &m.walk.as_ref().unwrap().card;
    assert!(card
        .preflight
        .as_ref()
        .unwrap()
        .command
        .contains("payments"));
    assert!(card.missing.is_empty());
}

#[test]
fn earlier_rejections_reach_the_card_and_the_model() {
    let (mut m, _) = model_walk();
    m.now_ms = 10 * 60_000 + 5;
    m.rejections = vec![stepguard::session::Rejection {
        session: "ab12cd34".into(),
        runbook_id: "walk-test".into(),
        step_id: "low-step".into(),
        decision: "skip".into(),
        reason: "the cache was already warm".into(),
        at_ms: 5,
    }];
    let walk = m.walk.as_mut().unwrap();
    walk.drafts.clear();
    let effects = stepguard::tui::update::request_drafts(&mut m, None, false);
    let Some(Effect::RequestDraft { job, .. }) = effects.first() else {
        panic!("{effects:?}")
    };
    let earlier = job
        .history
        .iter()
        .find(|h| h.step.contains("earlier session"))
        .expect("rejection in the context");
    assert_eq!(earlier.outcome, "skipped 10 min ago");
    assert_eq!(earlier.reason, "the cache was already warm");
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
    terminal
        .draw(|f| stepguard::tui::view::draw(f, &m, stepguard::tui::view::Theme { color: false }))
        .unwrap();
    let screen = terminal.backend().to_string();
    assert!(
        screen.contains("skipped 10 min ago (session ab12cd34): the cache was already warm"),
        "{screen}"
    );
}

/// The picker over the bundled runbooks, with their index for ranking.
fn bundled_model() -> Model {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog = stepguard::runbook::load_dir(&root.join("runbooks")).unwrap();
    let mut m = Model::new(catalog.clone(), Context::default());
    m.matcher = Some(std::sync::Arc::new(stepguard::matching::Matcher::new(
        &catalog,
    )));
    m
}

#[test]
fn the_picker_ranks_by_the_pasted_state() {
    let mut m = bundled_model();
    let first = |m: &Model| m.catalog[m.filtered()[0]].id.clone();
    update(
        &mut m,
        Msg::Paste("redis used_memory is at 98% of maxmemory, evictions climbing\n".into()),
    );
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(first(&m), "redis-near-maxmemory");
    assert!(m.confidence(m.filtered()[0]).unwrap() > 0.0);
    update(
        &mut m,
        Msg::Paste(
            "NAME READY STATUS\ncheckout-7d9f 0/1 CrashLoopBackOff after the rollout\n".into(),
        ),
    );
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(first(&m), "k8s-crashloop-bad-rollout");
    // Typing still filters, in ranked order.
    typed(&mut m, "k8s");
    assert_eq!(first(&m), "k8s-crashloop-bad-rollout");
}

#[test]
fn starting_from_an_alert() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog = stepguard::runbook::load_dir(&root.join("runbooks")).unwrap();
    let alert = |json: &str| stepguard::draft::Alerts::parse(json).unwrap().0[0].clone();
    let crash = alert(
        r#"{"labels": {"alertname": "KubePodCrashLooping", "namespace": "payments", "pod": "checkout-1"}}"#,
    );
    let watchdog = alert(r#"{"labels": {"alertname": "Watchdog"}}"#);
    let mut m = Model::new(catalog.clone(), Context::default());
    m.matcher = Some(std::sync::Arc::new(stepguard::matching::Matcher::new(
        &catalog,
    )));
    m.alerts = vec![crash, watchdog];
    m.nav = Screen::Alerts;
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 12)).unwrap();
    terminal
        .draw(|f| stepguard::tui::view::draw(f, &m, stepguard::tui::view::Theme { color: false }))
        .unwrap();
    let screen = terminal.backend().to_string();
    assert!(
        screen.contains("0.99 k8s-crashloop-bad-rollout") && screen.contains("no runbook"),
        "{screen}"
    );

    update(&mut m, code(KeyCode::Down));
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(
        m.screen(),
        Screen::Picker,
        "an alert nothing matches opens the picker"
    );
    m.nav = Screen::Alerts;
    update(&mut m, code(KeyCode::Up));
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(m.screen(), Screen::Walk);
    let walk = m.walk.as_ref().unwrap();
    assert_eq!(walk.runbook.id, "k8s-crashloop-bad-rollout");
    let ns = walk
        .card
        .values
        .iter()
        .find(|v| v.name == "namespace")
        .unwrap();
    assert_eq!(ns.value.as_deref(), Some("payments"));
    assert!(ns
        .evidence
        .as_ref()
        .unwrap()
        .text
        .contains("alert label namespace"));
    let confidence = stepguard::tui::step::match_confidence(
        true,
        &m.ranking,
        &m.catalog,
        "k8s-crashloop-bad-rollout",
    );
    assert!(confidence.unwrap() >= 0.99);
    // A poorly matching runbook for this alert escalates.
    let low = stepguard::tui::step::match_confidence(
        true,
        &m.ranking,
        &m.catalog,
        "redis-near-maxmemory",
    )
    .unwrap();
    assert!(low < 0.5);
}

/// Press v and deliver the verify's result.
fn run_verify(m: &mut Model, stdout: &[&str], exit: i32) {
    let effects = update(m, key('v'));
    let Some(Effect::RunCheck {
        run_id, command, ..
    }) = effects.first().cloned()
    else {
        panic!("v did not start the verify: {effects:?}");
    };
    update(
        m,
        Msg::CheckDone {
            run_id,
            result: Ok(Box::new(crate::common::outcome(&command, stdout, exit))),
        },
    );
}

#[test]
fn a_verify_stop_gates_p_with_a_typed_reason() {
    let mut m = model();
    run_preflight(&mut m, &["ok"], 0);
    let check = m.walk.as_ref().unwrap().card.preflight.clone();
    m.walk.as_mut().unwrap().card.verify = check;
    run_verify(&mut m, &["circuit open"], 0);
    update(&mut m, key('p'));
    let Some(p) = m.prompt() else {
        panic!("a verify STOP let p advance with no prompt")
    };
    assert!(
        matches!(&p.kind, PromptKind::Gate(Gate::Override { why }) if why.starts_with("verify said STOP")),
        "{p:?}"
    );
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 0, "an empty reason is not a reason");
    typed(&mut m, "the breaker is expected to close in a minute");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 1);
    let rec = &m.walk.as_ref().unwrap().steps[0];
    assert_eq!(rec.note, "the breaker is expected to close in a minute");
}

#[test]
fn a_standing_rule_reaches_the_card_as_data() {
    const RB: &str = r#"
id: rule-test
title: Rule test
risk: low
variables:
  ns: {pattern: '^[a-z]+$', from: [var:ns]}
steps:
  - id: inspect
    title: Inspect
    intent: A read the allowlist does not know.
    preflight: {run: 'mycorp-cli inspect {{ns}}', explain: any output}
"#;
    let rb = parse_str(RB, Path::new("rule-test.yaml")).unwrap();
    let mut ctx = Context::default();
    ctx.vars.insert("ns".into(), "payments".into());
    let mut m = Model::new(vec![rb.clone()], ctx);
    m.now_ms = 1_000_000_000;
    m.start_walk(rb);
    assert!(
        update(&mut m, key('r')).is_empty(),
        "the bare guard ran an unknown program"
    );
    let rule = stepguard::guard::StandingRule {
        id: "0badc0de".into(),
        program: "mycorp-cli".into(),
        args: vec![
            stepguard::guard::ArgRule::Exact("inspect".into()),
            stepguard::guard::ArgRule::Any,
        ],
        max_uses: None,
        uses: 0,
        created_at: 0,
        expires_at: Some(2_000_000),
        revoked_at: None,
        reason: "vendor read".into(),
        created_by: "tester".into(),
    };
    update(&mut m, Msg::Rules(vec![rule.clone()].into()));
    let effects = update(&mut m, key('r'));
    assert!(
        matches!(effects.first(), Some(Effect::RunCheck { command, .. }) if command == "mycorp-cli inspect payments"),
        "{effects:?} {:?}",
        m.status
    );
    // The same rule, expired at the time handed in: the card refuses again.
    let mut m2 = Model::new(vec![], Context::default());
    m2.ctx.vars.insert("ns".into(), "payments".into());
    m2.now_ms = 3_000_000_000;
    m2.start_walk(parse_str(RB, Path::new("rule-test.yaml")).unwrap());
    update(&mut m2, Msg::Rules(vec![rule].into()));
    assert!(
        update(&mut m2, key('r')).is_empty(),
        "an expired rule still allowed it"
    );
}

#[test]
fn one_key_table_drives_dispatch_footer_and_help() {
    use stepguard::tui::keys;
    let mut m = model();
    let lines: Vec<String> = (0..40).map(|i| format!("line {i} ok")).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    run_preflight(&mut m, &lines, 0);
    let walk = m.walk.as_ref().unwrap();
    // The footer and ? name only keys the table dispatches, and only those
    // that apply: no re-draft without a model, no verify on this card.
    let footer = keys::footer(walk, m.model_enabled);
    let help = keys::help(Some(walk), m.model_enabled);
    for (key, _) in footer.iter().chain(&help) {
        let binding = keys::WALK.iter().find(|b| b.key == *key).unwrap();
        assert!(
            keys::applies(binding.command, walk, m.model_enabled),
            "{key}"
        );
        assert_eq!(keys::command(binding.codes[0]), Some(binding.command));
    }
    for absent in ["d", "v"] {
        assert!(!footer.iter().any(|(k, _)| *k == absent), "{absent}");
        assert!(!help.iter().any(|(k, _)| *k == absent), "{absent}");
    }
    // j/k/g/G scroll the focused pane (the output, after a run).
    let scroll = |m: &Model| m.walk.as_ref().unwrap().output.scroll;
    update(&mut m, key('k'));
    assert_eq!(scroll(&m), 1);
    update(&mut m, key('j'));
    assert_eq!(scroll(&m), 0);
    update(&mut m, key('g'));
    assert_eq!(scroll(&m), 40, "g goes to the top");
    update(&mut m, key('G'));
    assert_eq!(scroll(&m), 0, "G follows the end again");
    assert_eq!(index(&m), 0, "no scroll key advanced");
}

#[test]
fn a_card_that_changes_while_p_asks_is_read_again() {
    let mut m = model();
    m.model_enabled = true;
    run_preflight(&mut m, &["ok"], 0);
    update(&mut m, key('p'));
    run_preflight(&mut m, &["ok"], 0);
    update(&mut m, key('p'));
    assert!(matches!(
        m.walk.as_ref().unwrap().phase,
        Phase::Gating { .. }
    ));
    typed(&mut m, "paym");
    // The same card again (a draft that adds nothing new): the gate stays.
    let generation = m.walk.as_ref().unwrap().generation;
    update(&mut m, Msg::Rules(Vec::new().into()));
    assert!(matches!(
        m.walk.as_ref().unwrap().phase,
        Phase::Gating { .. }
    ));
    // A late draft flags a stale assumption: the gates asked were for the
    // card without it, so p must be pressed again on the new card.
    let mut outcome = outcome_for(&[], "");
    outcome.draft.stale = vec![stepguard::llm::reply::StaleFlag {
        assumption: "the pod is crash-looping".into(),
        why: "state shows it Running".into(),
    }];
    m.walk.as_mut().unwrap().drafts.insert(
        1,
        stepguard::tui::model::DraftSlot::InFlight {
            elapsed_ms: 0,
            chars: 0,
            tail: String::new(),
            usage: None,
            note: None,
        },
    );
    update(
        &mut m,
        Msg::DraftDone {
            step_index: 1,
            generation,
            result: Ok(outcome),
        },
    );
    let walk = m.walk.as_ref().unwrap();
    assert_eq!(walk.phase, Phase::Reading, "{:?}", m.status);
    assert!(!walk.card.stale.is_empty());
    typed(&mut m, "ent");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(index(&m), 1, "typing after the reset advanced");
    update(&mut m, key('p'));
    let Some(p) = m.prompt() else {
        panic!("no gate")
    };
    assert!(
        matches!(p.kind, PromptKind::Gate(Gate::Override { .. })),
        "the stale flag is asked first: {p:?}"
    );
}

#[test]
fn a_token_pasted_into_a_reason_is_not_in_the_decision_record() {
    let mut m = model();
    update(&mut m, key('s'));
    update(
        &mut m,
        Msg::Paste("rotated ghp_0123456789abcdefghijABCDEFGHIJ012345 already".into()),
    );
    let effects = update(&mut m, code(KeyCode::Enter));
    let note = effects
        .iter()
        .find_map(|e| match e {
            Effect::Audit(Event::Decision(d)) => Some(d.note.clone()),
            _ => None,
        })
        .expect("a decision event");
    assert!(!note.contains("ghp_0123456789"), "{note}");
    assert!(note.contains("[REDACTED"), "{note}");
}

#[test]
fn a_signal_cancels_the_running_check_and_quits_on_the_record() {
    let mut m = model();
    let effects = update(&mut m, key('r'));
    let Some(Effect::RunCheck { run_id, .. }) = effects.first().cloned() else {
        panic!("r did not start the pre-flight: {effects:?}");
    };
    assert_eq!(
        update(&mut m, Msg::Signal("SIGHUP")),
        vec![
            Effect::CancelCheck { run_id },
            Effect::Audit(Event::Cancel { run_id }),
            Effect::Audit(Event::Quit {
                signal: Some("SIGHUP".into())
            }),
            Effect::Quit
        ]
    );
    // With nothing running, at the picker too: just the quit.
    let mut picker = Model::new(Vec::new(), Context::default());
    assert_eq!(
        update(&mut picker, Msg::Signal("SIGTERM")),
        vec![
            Effect::Audit(Event::Quit {
                signal: Some("SIGTERM".into())
            }),
            Effect::Quit
        ]
    );
}

/// A runbook whose first pre-flight finds the namespace the second uses.
const FINDS: &str = r#"
id: finds
title: Finds its namespace
risk: low
variables:
  namespace: {description: Where the operator runs}
steps:
  - id: find
    title: Find the namespace
    preflight: {run: 'oc get kubevirt -A -o name', sets: namespace}
  - id: use
    title: Look at its pods
    preflight: {run: 'oc -n {{namespace}} get pods'}
"#;

fn finds_model() -> (Model, stepguard::runbook::Runbook) {
    let rb = stepguard::runbook::parse_str(FINDS, Path::new("finds.yaml")).unwrap();
    let mut m = Model::new(vec![rb.clone()], Context::default());
    m.start_walk(rb.clone());
    (m, rb)
}

#[test]
fn a_pre_flight_that_sets_a_variable_fills_it_for_the_steps_after() {
    let (mut m, rb) = finds_model();
    // The header printed empty (custom-columns="":…) is no value.
    run_preflight(&mut m, &["", "openshift-cnv"], 0);
    let found = m.ctx.found.get("namespace").expect("found");
    assert_eq!(
        (found.value.as_str(), found.line, found.step.as_str()),
        ("openshift-cnv", 2, "find")
    );
    assert!(
        m.status
            .as_deref()
            .unwrap()
            .contains("namespace = openshift-cnv found (output line 2)"),
        "{:?}",
        m.status
    );
    let card = stepguard::draft::compose(&rb, 1, &m.ctx, None);
    let pf = card.preflight.as_ref().unwrap();
    assert_eq!(pf.command, "oc -n openshift-cnv get pods");
    assert!(pf.runnable);
    let v = &card.values[0];
    assert!(v.verified);
    let evidence = v.evidence.as_ref().unwrap();
    assert_eq!(evidence.source, stepguard::draft::Source::Output);
    assert_eq!(
        evidence.text,
        "printed by the pre-flight of step find (output line 2: openshift-cnv)"
    );
    // The engineer's own value still wins.
    m.ctx.vars.insert("namespace".into(), "other".into());
    let card = stepguard::draft::compose(&rb, 1, &m.ctx, None);
    assert_eq!(card.preflight.unwrap().command, "oc -n other get pods");
}

#[test]
fn a_pre_flight_that_sets_a_variable_takes_only_one_clean_value() {
    for (stdout, exit, why) in [
        (
            &["openshift-cnv", "kubevirt-hyperconverged"][..],
            0,
            "more than one value",
        ),
        (&["ns-a", "ns-a", ""][..], 1, "did not succeed"),
        (&[""][..], 0, "printed nothing"),
        (&["x; rm -rf /"][..], 0, "is not taken"),
        (&["--all-namespaces"][..], 0, "is not taken"),
        (&["$(reboot)"][..], 0, "is not taken"),
        (&["a\u{202e}b"][..], 0, "is not taken"),
    ] {
        let (mut m, rb) = finds_model();
        run_preflight(&mut m, stdout, exit);
        assert!(m.ctx.found.is_empty(), "{stdout:?}");
        let status = m.status.clone().unwrap_or_default();
        assert!(
            status.contains("namespace not found: ") && status.contains(why),
            "{stdout:?}: {status}"
        );
        let card = stepguard::draft::compose(&rb, 1, &m.ctx, None);
        assert!(!card.preflight.unwrap().runnable, "{stdout:?}");
    }
    // The same value on several lines is one value.
    let (mut m, _) = finds_model();
    run_preflight(&mut m, &["ns-a", "  ns-a  "], 0);
    assert_eq!(m.ctx.found["namespace"].value, "ns-a");
}

#[test]
fn a_found_value_is_recorded_as_found_and_restored_on_resume() {
    use stepguard::session::{Event, Recorded};
    let found = stepguard::draft::FoundValue {
        value: "openshift-cnv".into(),
        step: "find".into(),
        line: 2,
        excerpt: "openshift-cnv".into(),
    };
    let event = Event::Value {
        step: "find".into(),
        name: "namespace".into(),
        value: "openshift-cnv".into(),
        previous: None,
        found: Some(found.clone()),
        voided: false,
    };
    // Through the log's JSON and back; an operator's value keeps its old shape.
    let json = serde_json::to_string(&event).unwrap();
    assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
    let old =
        r#"{"kind":"value","data":{"step":"use","name":"namespace","value":"x","previous":null}}"#;
    assert!(matches!(
        serde_json::from_str::<Event>(old).unwrap(),
        Event::Value { found: None, .. }
    ));
    let log = [Recorded {
        seq: 1,
        ts_ms: 1,
        event,
    }];
    let snap = stepguard::tui::persist::from_log("s", &log, &["find".into(), "use".into()]);
    assert_eq!(snap.found.get("namespace"), Some(&found));
    assert!(
        snap.vars.is_empty(),
        "found by a read, not set by the operator"
    );
}

#[test]
fn a_found_value_stands_only_while_the_read_still_finds_it() {
    let (mut m, rb) = finds_model();
    run_preflight(&mut m, &["payments"], 0);
    assert_eq!(m.ctx.found["namespace"].value, "payments");
    // A re-run that fails, or prints two values, voids it.
    run_preflight(&mut m, &["payments"], 1);
    assert!(m.ctx.found.is_empty());
    assert!(m
        .status
        .as_deref()
        .unwrap()
        .contains("the value found before no longer counts"));
    run_preflight(&mut m, &["payments"], 0);
    run_preflight(&mut m, &["payments", "billing"], 0);
    assert!(m.ctx.found.is_empty());
    // A value that replaces another is what the steps after use; this
    // step's own commands do not use it, so its verdict still stands (see
    // the next test for a step whose action does).
    run_preflight(&mut m, &["payments"], 0);
    run_preflight(&mut m, &["billing"], 0);
    assert_eq!(m.ctx.found["namespace"].value, "billing");
    assert!(m.walk.as_ref().unwrap().preflight.is_some());
    assert!(m
        .status
        .as_deref()
        .unwrap()
        .starts_with("namespace = billing found"));
    // Found again, unchanged: the verdict stands.
    run_preflight(&mut m, &["billing"], 0);
    assert!(m.walk.as_ref().unwrap().preflight.is_some());
    let card = stepguard::draft::compose(&rb, 1, &m.ctx, None);
    assert_eq!(card.preflight.unwrap().command, "oc -n billing get pods");
}

#[test]
fn the_engineers_values_win_and_secrets_are_not_found() {
    let src = FINDS.replace(
        "namespace: {description: Where the operator runs}",
        "namespace: {description: Where the operator runs, from: ['var:ns']}",
    );
    let rb = stepguard::runbook::parse_str(&src, Path::new("finds.yaml")).unwrap();
    let mut ctx = Context::default();
    ctx.vars.insert("ns".into(), "checkout".into());
    let mut m = Model::new(vec![rb.clone()], ctx);
    m.start_walk(rb.clone());
    run_preflight(&mut m, &["payments"], 0);
    let card = stepguard::draft::compose(&rb, 1, &m.ctx, None);
    assert_eq!(
        card.preflight.unwrap().command,
        "oc -n checkout get pods",
        "--var ns wins"
    );
    assert!(
        m.status
            .as_deref()
            .unwrap()
            .contains("but your value checkout wins"),
        "{:?}",
        m.status
    );
    // A token printed by the read is not carried into commands or the record.
    let (mut m, _) = finds_model();
    run_preflight(&mut m, &["ghp_0123456789abcdefghijABCDEFGHIJ012345"], 0);
    assert!(m.ctx.found.is_empty());
    assert!(
        m.status.as_deref().unwrap().contains("looks like a secret"),
        "{:?}",
        m.status
    );
}

#[test]
fn a_found_value_that_changes_the_steps_commands_voids_the_verdict_and_the_edit() {
    // The step's own action uses the value it finds, and the alert's label
    // gave a value before: the first find changes the action on screen.
    let src = r#"
id: finds-own
title: Finds and acts
risk: low
variables:
  namespace: {description: Where, from: ['label:namespace']}
  password: {description: A secret}
steps:
  - id: find
    title: Find the namespace
    preflight: {run: 'oc get kubevirt -A -o name', sets: namespace}
    action: {run: 'kubectl -n {{namespace}} rollout restart deploy/web', blast_radius: one deployment}
    rollback: none
    reason: a restart has nothing to undo
  - id: secret
    title: Find a password
    preflight: {run: 'cat pw', sets: password}
"#;
    let rb = stepguard::runbook::parse_str(src, Path::new("own.yaml")).unwrap();
    let ctx = Context {
        alert: Some(stepguard::draft::Alert {
            labels: [("namespace".to_string(), "billing".to_string())].into(),
            annotations: Default::default(),
            firing: true,
        }),
        ..Context::default()
    };
    let mut m = Model::new(vec![rb.clone()], ctx);
    m.start_walk(rb.clone());
    m.walk.as_mut().unwrap().edited_action =
        Some("kubectl -n billing rollout restart deploy/web --dry-run=server".into());
    run_preflight(&mut m, &["payments"], 0);
    let walk = m.walk.as_ref().unwrap();
    assert_eq!(
        walk.card.action.as_ref().unwrap().command,
        "kubectl -n payments rollout restart deploy/web"
    );
    assert!(walk.edited_action.is_none(), "the edit was for billing");
    assert!(
        walk.preflight.is_none(),
        "the verdict was for the card before"
    );
    let status = m.status.clone().unwrap();
    assert!(
        status.contains("the step's commands changed with it") && status.contains("edited action"),
        "{status}"
    );
    // Run again: the same value, nothing changes, the verdict stands.
    run_preflight(&mut m, &["payments"], 0);
    assert!(m.walk.as_ref().unwrap().preflight.is_some());
    // A password is not carried, whatever its shape.
    let mut m = Model::new(vec![rb.clone()], Context::default());
    m.start_walk(rb);
    m.walk.as_mut().unwrap().index = 1;
    stepguard::tui::step::recompose(&mut m);
    run_preflight(&mut m, &["hunter2hunter2"], 0);
    assert!(m.ctx.found.is_empty(), "{:?}", m.status);
    assert!(
        m.status.as_deref().unwrap().contains("looks like a secret"),
        "{:?}",
        m.status
    );
}

#[test]
fn an_alert_several_runbooks_answer_opens_the_picker_not_one_of_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog = stepguard::runbook::load_dir(&root.join("runbooks")).unwrap();
    // Two bundled runbooks list KubeDeploymentReplicasMismatch.
    let alert = stepguard::draft::Alerts::parse(
        r#"{"labels": {"alertname": "KubeDeploymentReplicasMismatch", "namespace": "payments", "deployment": "ledger"}}"#,
    )
    .unwrap()
    .0[0]
        .clone();
    let mut m = Model::new(catalog.clone(), Context::default());
    m.matcher = Some(std::sync::Arc::new(stepguard::matching::Matcher::new(
        &catalog,
    )));
    m.alerts = vec![alert];
    m.nav = Screen::Alerts;
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 8)).unwrap();
    terminal
        .draw(|f| stepguard::tui::view::draw(f, &m, stepguard::tui::view::Theme { color: false }))
        .unwrap();
    let screen = terminal.backend().to_string();
    assert!(screen.contains("(+1 more)"), "{screen}");
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(m.screen(), Screen::Picker);
    assert!(m.walk.is_none());
    let status = m.status.clone().unwrap();
    assert!(
        status.starts_with("2 runbooks answer KubeDeploymentReplicasMismatch equally"),
        "{status}"
    );
}

#[test]
fn an_alert_naming_an_alert_two_runbooks_list_opens_the_picker_too() {
    let rb = |id: &str| {
        let src =
            format!("id: {id}\ntitle: {id}\nalerts: [DiskFull]\nsteps:\n  - id: a\n    title: A\n");
        stepguard::runbook::parse_str(&src, Path::new("x.yaml")).unwrap()
    };
    let catalog = vec![rb("disk-official"), rb("disk-intruder")];
    let alert = stepguard::draft::Alerts::parse(
        r#"{"labels": {"alertname": "NodeTrouble"}, "annotations": {"description": "caused by DiskFull"}}"#,
    )
    .unwrap()
    .0[0]
        .clone();
    let mut m = Model::new(catalog.clone(), Context::default());
    m.matcher = Some(std::sync::Arc::new(stepguard::matching::Matcher::new(
        &catalog,
    )));
    m.alerts = vec![alert];
    m.nav = Screen::Alerts;
    update(&mut m, code(KeyCode::Enter));
    assert_eq!(m.screen(), Screen::Picker);
    assert!(m.walk.is_none());
    assert!(
        m.status
            .as_deref()
            .unwrap()
            .starts_with("2 runbooks answer NodeTrouble equally"),
        "{:?}",
        m.status
    );
}

/// `Ctrl-R` in the picker asks the model about the five best of the ranking;
/// its pick moves first with the ranker's confidence (a weak match still
/// escalates), an answer outside them or about an older ranking changes
/// nothing, and the runbook opened from the ranking is recorded with the
/// model's answer.
#[test]
fn the_model_reorders_only_the_five_best_and_the_log_says_so() {
    use stepguard::llm::rerank::Verdict as Said;
    use stepguard::tui::model::Rerank;
    let mut m = bundled_model();
    let ctrl_r = || Msg::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL));
    // Offline, nothing is asked.
    update(
        &mut m,
        Msg::Paste("pods restarting after the deploy, disk full\n".into()),
    );
    update(&mut m, code(KeyCode::Enter));
    assert!(update(&mut m, ctrl_r()).is_empty());
    assert!(
        m.status.as_deref().unwrap().contains("offline"),
        "{:?}",
        m.status
    );

    m.model_enabled = true;
    m.drafter = "smollm2".into();
    let ranked: Vec<(String, f64)> = m
        .ranking
        .iter()
        .map(|&(i, c)| (m.catalog[i].id.clone(), c))
        .collect();
    assert!(ranked.len() >= 3, "{ranked:?}");
    let effects = update(&mut m, ctrl_r());
    let [Effect::Rerank {
        generation,
        query,
        candidates,
    }] = effects.as_slice()
    else {
        panic!("{effects:?}")
    };
    assert!(query.contains("disk full"));
    let asked: Vec<String> = candidates.iter().map(|c| c.id.clone()).collect();
    assert_eq!(
        asked,
        ranked
            .iter()
            .take(5)
            .map(|r| r.0.clone())
            .collect::<Vec<_>>()
    );
    // A second Ctrl-R while asking does not ask twice.
    assert!(update(&mut m, ctrl_r()).is_empty());

    // An id of the catalogue that was not asked is not an answer.
    let outsider = m
        .catalog
        .iter()
        .map(|r| r.id.clone())
        .find(|id| !asked.contains(id))
        .unwrap();
    update(
        &mut m,
        Msg::Reranked {
            generation: *generation,
            asked: asked.clone(),
            answer: Ok(Said::Picked(outsider.clone())),
        },
    );
    assert_eq!(m.catalog[m.ranking[0].0].id, ranked[0].0);
    let Rerank::Answered(r) = &m.rerank else {
        panic!("{:?}", m.rerank)
    };
    assert_eq!(r.picked, None);

    // Asked again, the third of the five is picked: it moves first, its
    // confidence the ranker's.
    let effects = update(&mut m, ctrl_r());
    let [Effect::Rerank { generation, .. }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    update(
        &mut m,
        Msg::Reranked {
            generation: *generation,
            asked: asked.clone(),
            answer: Ok(Said::Picked(asked[2].clone())),
        },
    );
    assert_eq!(m.catalog[m.ranking[0].0].id, asked[2]);
    assert_eq!(
        m.ranking[0].1, ranked[2].1,
        "the confidence stays the ranker's"
    );
    assert!(m
        .status
        .as_deref()
        .unwrap()
        .contains(&format!("model: picked {} over {}", asked[2], asked[0])));
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(140, 20)).unwrap();
    terminal
        .draw(|f| stepguard::tui::view::draw(f, &m, stepguard::tui::view::Theme { color: false }))
        .unwrap();
    let screen = terminal.backend().to_string();
    assert!(screen.contains("model's pick first"), "{screen}");

    // Enter opens it, and the log records the ranking and the answer.
    let effects = update(&mut m, code(KeyCode::Enter));
    let matched = effects
        .iter()
        .find_map(|e| match e {
            Effect::Audit(Event::Matched(m)) => Some(m.clone()),
            _ => None,
        })
        .expect("the ranking is recorded");
    assert_eq!(matched.opened, asked[2]);
    assert_eq!(matched.by, "state");
    assert_eq!(matched.ranked[0].id, asked[2]);
    assert_eq!(matched.ranked.len(), 5.min(ranked.len()));
    let rerank = matched.rerank.unwrap();
    assert_eq!(rerank.picked.as_deref(), Some(asked[2].as_str()));
    assert_eq!(rerank.model, "smollm2");
    assert_eq!(rerank.asked, asked);
    assert!(matches!(effects.first(), Some(Effect::StartSession)));
}

/// A late answer about a ranking that a new paste replaced is dropped.
#[test]
fn a_late_model_answer_about_an_old_ranking_is_dropped() {
    use stepguard::tui::model::Rerank;
    let mut m = bundled_model();
    m.model_enabled = true;
    update(
        &mut m,
        Msg::Paste("redis evicting keys, used_memory at maxmemory\n".into()),
    );
    update(&mut m, code(KeyCode::Enter));
    let effects = update(
        &mut m,
        Msg::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)),
    );
    let [Effect::Rerank {
        generation,
        candidates,
        ..
    }] = effects.as_slice()
    else {
        panic!("{effects:?}")
    };
    let asked: Vec<String> = candidates.iter().map(|c| c.id.clone()).collect();
    update(
        &mut m,
        Msg::Paste("node worker-3 NotReady for 20 minutes\n".into()),
    );
    update(&mut m, code(KeyCode::Enter));
    let before = m.ranking.clone();
    update(
        &mut m,
        Msg::Reranked {
            generation: *generation,
            asked: asked.clone(),
            answer: Ok(stepguard::llm::rerank::Verdict::Picked(
                asked.last().unwrap().clone(),
            )),
        },
    );
    assert_eq!(m.ranking, before);
    assert_eq!(m.rerank, Rerank::NotAsked);
    // Opened without asking: the ranking is recorded, with no answer.
    let effects = update(&mut m, code(KeyCode::Enter));
    let recorded = effects.iter().any(
        |e| matches!(e, Effect::Audit(Event::Matched(x)) if x.rerank.is_none() && x.by == "state"),
    );
    assert!(recorded, "{effects:?}");
}
