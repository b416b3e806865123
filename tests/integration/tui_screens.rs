//! Screens that show everything: a value set in the walk, the whole state
//! with search, long output lines, a card taller than the screen.

use std::path::Path;
use std::sync::Arc;

use crossterm::event::KeyCode;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use stepguard::draft::Context;
use stepguard::runbook::parse_str;
use stepguard::session::Event;
use stepguard::tui::model::{Overlay, PromptKind};
use stepguard::tui::view::{decision_text, draw, Theme};
use stepguard::tui::{update, Effect, Model, Msg};

use crate::common::*;

fn render(m: &Model, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| draw(f, m, Theme { color: false }))
        .unwrap();
    terminal.backend().to_string()
}

const NEEDS_VALUES: &str = r#"
id: needs-values
title: Needs values
risk: low
variables:
  namespace:
    description: Namespace of the Deployment
    pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
    from: [var:namespace]
  pod:
    description: The crash-looping pod
    pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$'
steps:
  - id: look
    title: Look at the pod
    intent: Read its state.
    preflight: {run: 'kubectl -n {{namespace}} get pod {{pod}}', proceed_if: 'Running'}
  - id: logs
    title: Read its logs
    intent: Why it dies.
    preflight: {run: 'kubectl -n {{namespace}} logs {{pod}} --tail=20', proceed_if: '.'}
"#;

fn needs_values() -> Model {
    let rb = parse_str(NEEDS_VALUES, Path::new("needs-values.yaml")).unwrap();
    let mut m = Model::new(vec![rb.clone()], Context::default());
    m.now_ms = 1_000_000;
    m.start_walk(rb);
    m
}

fn audit(effects: &[Effect]) -> Vec<&Event> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Audit(event) => Some(event),
            _ => None,
        })
        .collect()
}

#[test]
fn a_missing_value_is_named_and_set_in_the_walk_on_the_record() {
    let mut m = needs_values();
    // Named as missing wherever it shows: the line, r, the card.
    assert!(
        decision_text(&m).contains("missing namespace, pod"),
        "{}",
        decision_text(&m)
    );
    update(&mut m, key('r'));
    let status = m.status.clone().unwrap();
    assert!(status.contains("missing namespace, pod"), "{status}");
    assert!(
        !status.contains("guard"),
        "a missing value is not a refusal: {status}"
    );

    // `=` asks for the first missing value, with what it is.
    update(&mut m, key('='));
    let Overlay::Prompt(prompt) = &m.overlay else {
        panic!("= opened no prompt: {:?}", m.overlay)
    };
    let PromptKind::SetValue { name, about, .. } = &prompt.kind else {
        panic!("{prompt:?}")
    };
    assert_eq!(name, "namespace");
    assert!(about.contains("Namespace of the Deployment") && about.contains("missing"));

    // The pattern decides: a hostile value is refused and nothing changes.
    typed(&mut m, "pay;rm");
    let effects = update(&mut m, code(KeyCode::Enter));
    assert!(effects.is_empty(), "{effects:?}");
    let Overlay::Prompt(prompt) = &m.overlay else {
        panic!("the prompt closed on a refused value")
    };
    assert!(prompt.error.as_deref().unwrap().starts_with("not taken"));
    assert!(m.ctx.vars.is_empty());
    for _ in 0.."pay;rm".len() {
        update(&mut m, code(KeyCode::Backspace));
    }

    // A paste is text for the prompt, never keys.
    update(&mut m, Msg::Paste("payments\n".into()));
    let effects = update(&mut m, code(KeyCode::Enter));
    let events = audit(&effects);
    assert!(
        matches!(events.first(), Some(Event::Value { step, name, value, previous: None, found: None, voided: false })
            if step == "look" && name == "namespace" && value == "payments"),
        "{events:?}"
    );
    assert!(
        matches!(events.get(1), Some(Event::Context(c)) if c.vars.get("namespace").map(String::as_str) == Some("payments")),
        "the context event carries the value, so a resume has it: {events:?}"
    );
    let walk = m.walk.as_ref().unwrap();
    let pre = walk.card.preflight.as_ref().unwrap();
    assert_eq!(pre.missing, ["pod"]);
    assert!(decision_text(&m).contains("missing pod"));

    // Tab moves to another value; the second one completes the command.
    update(&mut m, key('='));
    typed(&mut m, "checkout-7d9f8c6b5-xk2lq");
    update(&mut m, code(KeyCode::Enter));
    let walk = m.walk.as_ref().unwrap();
    let pre = walk.card.preflight.as_ref().unwrap();
    assert!(pre.missing.is_empty());
    assert_eq!(
        pre.command,
        "kubectl -n payments get pod checkout-7d9f8c6b5-xk2lq"
    );
    assert!(pre.runnable, "{:?}", pre.guard);

    // The pre-flight runs, then a changed value makes it run again.
    run_preflight(&mut m, &["checkout-7d9f8c6b5-xk2lq 1/1 Running"], 0);
    assert!(
        decision_text(&m).trim_start().starts_with("p: PROCEED"),
        "{}",
        decision_text(&m)
    );
    update(&mut m, key('='));
    let Overlay::Prompt(prompt) = &m.overlay else {
        panic!()
    };
    assert!(matches!(&prompt.kind, PromptKind::SetValue { name, .. } if name == "namespace"));
    update(&mut m, code(KeyCode::Tab));
    let Overlay::Prompt(prompt) = &m.overlay else {
        panic!()
    };
    assert!(
        matches!(&prompt.kind, PromptKind::SetValue { name, choices, .. }
        if name == "pod" && choices.first().map(String::as_str) == Some("checkout-7d9f8c6b5-xk2lq"))
    );
    // ↓ puts the current value in the input; the same value changes nothing.
    update(&mut m, code(KeyCode::Down));
    let effects = update(&mut m, code(KeyCode::Enter));
    assert!(audit(&effects).is_empty(), "{effects:?}");
    assert!(m.walk.as_ref().unwrap().current_preflight().is_some());
    update(&mut m, key('='));
    update(&mut m, code(KeyCode::Tab));
    typed(&mut m, "checkout-7d9f8c6b5-zz9p1");
    let effects = update(&mut m, code(KeyCode::Enter));
    assert!(
        matches!(audit(&effects).first(), Some(Event::Value { previous: Some(p), .. }) if p == "checkout-7d9f8c6b5-xk2lq")
    );
    assert!(
        m.walk.as_ref().unwrap().current_preflight().is_none(),
        "a verdict on the old command does not count"
    );
    assert!(decision_text(&m).contains("p: WAIT"));
    update(&mut m, key('p'));
    assert_eq!(
        index(&m),
        0,
        "p moved on without a verdict on the new command"
    );

    // The value stays for the later steps: the engineer's, like --var.
    run_preflight(&mut m, &["Running"], 0);
    update(&mut m, key('p'));
    let walk = m.walk.as_ref().unwrap();
    assert_eq!(walk.index, 1);
    assert_eq!(
        walk.card.preflight.as_ref().unwrap().command,
        "kubectl -n payments logs checkout-7d9f8c6b5-zz9p1 --tail=20"
    );
}

#[test]
fn esc_leaves_a_value_prompt_with_nothing_changed() {
    let mut m = needs_values();
    update(&mut m, key('='));
    typed(&mut m, "payments");
    let effects = update(&mut m, code(KeyCode::Esc));
    assert!(effects.is_empty());
    assert_eq!(m.overlay, Overlay::None);
    assert!(m.ctx.vars.is_empty());
}

fn kubectl_pods(rows: usize) -> String {
    let mut s = String::from(
        "NAME                                READY   STATUS             RESTARTS        AGE     IP            NODE                          NOMINATED NODE   READINESS GATES\n",
    );
    for i in 0..rows {
        let status = if i == rows / 2 {
            "CrashLoopBackOff"
        } else {
            "Running"
        };
        s.push_str(&format!(
            "checkout-7d9f8c6b5-{i:05}            1/1     {status:<18} {:<15} 41m     10.0.3.{:<5} ip-10-0-3-17.ec2.internal    <none>           <none>\n",
            i % 7,
            i % 250
        ));
    }
    s
}

#[test]
fn the_whole_state_is_viewed_searched_and_scrolled() {
    let mut m = model();
    let state = kubectl_pods(5_000);
    m.ctx.state = Some(Arc::new(state.clone().into()));
    m.state = stepguard::tui::model::StateView::of(Some(&state));
    update(&mut m, key('S'));
    let Overlay::Viewer(v) = &m.overlay else {
        panic!("S opened no viewer: {:?}", m.overlay)
    };
    assert_eq!(v.starts.len(), 5_001);
    let screen = render(&m, 200, 50);
    insta::assert_snapshot!("state_viewer_200x50", screen);
    assert!(
        screen.contains("READINESS GATES"),
        "a wide table keeps its columns at 200"
    );

    // Search: the crash-looping row, then nothing more below it.
    update(&mut m, key('/'));
    typed(&mut m, "crashloop");
    update(&mut m, code(KeyCode::Enter));
    let Overlay::Viewer(v) = &m.overlay else {
        panic!()
    };
    assert_eq!(v.hit, Some(2_501), "the line of checkout-…-02500");
    let screen = render(&m, 80, 24);
    insta::assert_snapshot!("state_viewer_search_80x24", screen);
    assert!(
        screen.contains("2502"),
        "the hit's line number is on screen"
    );
    update(&mut m, key('n'));
    let Overlay::Viewer(v) = &m.overlay else {
        panic!()
    };
    assert_eq!(v.hit, Some(2_501), "one match: n wraps to it again");

    update(&mut m, key('/'));
    typed(&mut m, "no-such-pod");
    update(&mut m, code(KeyCode::Enter));
    let Overlay::Viewer(v) = &m.overlay else {
        panic!()
    };
    assert!(v.note.as_deref().unwrap().starts_with("not found"));

    // Sideways at 80 columns: the NODE column comes into view.
    assert!(!render(&m, 80, 24).contains("ec2.internal"));
    for _ in 0..10 {
        update(&mut m, code(KeyCode::Right));
    }
    assert!(render(&m, 80, 24).contains("ec2.internal"));
    update(&mut m, key('G'));
    assert!(render(&m, 80, 24).contains("5001"), "G shows the last line");
    // Keys inside the viewer are the viewer's: `p` does not proceed.
    update(&mut m, key('p'));
    assert!(matches!(m.overlay, Overlay::Viewer(_)));
    update(&mut m, code(KeyCode::Esc));
    assert_eq!(m.overlay, Overlay::None);
    assert_eq!(index(&m), 0);
}

#[test]
fn a_long_output_line_scrolls_sideways_and_says_so() {
    let mut m = model();
    let long = format!(
        "Error from server (Forbidden): pods is forbidden: User \"system:serviceaccount:ci:deployer\" cannot list resource \"pods\" in API group \"\" in the namespace \"payments\" {}END",
        "x".repeat(120)
    );
    run_preflight(&mut m, &[long.as_str(), "ok"], 0);
    let screen = render(&m, 80, 24);
    insta::assert_snapshot!("long_output_line_80x24", screen);
    assert!(screen.contains("→ lines run on"), "{screen}");
    assert!(!screen.contains("END"));
    for _ in 0..40 {
        update(&mut m, code(KeyCode::Right));
    }
    let screen = render(&m, 80, 24);
    assert!(screen.contains("END"), "{screen}");
    insta::assert_snapshot!("long_output_line_scrolled_200x50", render(&m, 200, 50));
}

const TALL: &str = r#"
id: tall
title: A card taller than the screen
risk: medium
variables:
  ns: {pattern: '^[a-z]+$', from: [var:ns]}
steps:
  - id: tall-step
    title: Roll the Deployment back to the previous revision and keep the pipeline from deploying it again
    intent: >-
      This intent is long on purpose. It explains at length why the step
      exists, what the engineer should look for, and which dashboards show
      the same picture, so that at 80 by 24 the card is taller than its pane
      and the rollback would fall below the fold without the pinned line.
    preflight:
      run: 'echo {{ns}}'
      proceed_if: 'ok'
      stop_if: 'circuit open'
      explain: >-
        Proceed only if the output says ok. Stop if the circuit breaker is
        open, because a rollback then only moves the failure elsewhere and
        the on-call engineer of the upstream service must be paged first.
    action: {run: 'kubectl -n {{ns}} rollout undo deployment/checkout', blast_radius: every pod of checkout restarts}
    verify: {run: 'echo {{ns}} verify', proceed_if: 'ok'}
    rollback: {run: 'kubectl -n {{ns}} rollout undo deployment/checkout --to-revision=7'}
"#;

#[test]
fn a_card_taller_than_its_pane_pins_its_rollback_and_marks_what_is_hidden() {
    let rb = parse_str(TALL, Path::new("tall.yaml")).unwrap();
    let mut ctx = Context::default();
    ctx.vars.insert("ns".into(), "payments".into());
    let mut m = Model::new(vec![rb.clone()], ctx);
    m.start_walk(rb);
    let screen = render(&m, 80, 24);
    insta::assert_snapshot!("tall_card_80x24", screen);
    assert!(screen.contains("more below"), "{screen}");
    assert!(
        screen.contains("ROLLBACK (y copies) $ kubectl -n payments rollout undo")
            && screen.contains("--to-revision=7"),
        "the rollback is on screen: {screen}"
    );
    // The title wraps in the card, whole.
    assert!(screen.contains("deploying it again"), "{screen}");

    // G goes to the end of the card, not to the top, and not past it.
    update(&mut m, key('G'));
    let bottom = render(&m, 80, 24);
    assert!(bottom.contains("more above"), "{bottom}");
    assert!(!bottom.contains("more below"), "{bottom}");
    assert!(bottom.contains("VALUES"), "{bottom}");
    assert!(m.walk.as_ref().unwrap().card_scroll > 0);
    // PgDn at the end stays at the end (no blank space), and one ↑ moves.
    update(&mut m, code(KeyCode::PageDown));
    assert_eq!(render(&m, 80, 24), bottom);
    update(&mut m, code(KeyCode::Up));
    assert_ne!(
        render(&m, 80, 24),
        bottom,
        "↑ at the end did nothing visible"
    );
    update(&mut m, key('G'));
    insta::assert_snapshot!("tall_card_end_80x24", bottom);
    // At 200×50 everything fits: nothing hidden, nothing pinned.
    let wide = render(&m, 200, 50);
    insta::assert_snapshot!("tall_card_200x50", wide);
    assert!(!wide.contains("more below"));
}

#[test]
fn a_binary_paste_is_questioned_before_it_is_kept() {
    let mut m = model();
    let mut binary = String::from("ELF");
    binary.push_str(&"\0\u{1}\u{2}garbage".repeat(2_000));
    update(&mut m, Msg::Paste(binary));
    let Overlay::State { warning, .. } = &m.overlay else {
        panic!("{:?}", m.overlay)
    };
    assert!(
        warning.as_deref().unwrap().contains("binary"),
        "{warning:?}"
    );
    let screen = render(&m, 100, 30);
    assert!(screen.contains("This looks binary"), "{screen}");
    assert!(screen.contains("Enter keeps it anyway"), "{screen}");
    update(&mut m, code(KeyCode::Esc));
    assert!(m.ctx.state.is_none(), "Esc dropped it");
    // Ordinary state is not questioned.
    update(
        &mut m,
        Msg::Paste("NAME READY STATUS\ncheckout-7d9f 0/1 CrashLoopBackOff\n".into()),
    );
    let Overlay::State { warning, .. } = &m.overlay else {
        panic!()
    };
    assert!(warning.is_none());
}

const ACTION_NEEDS: &str = r#"
id: action-needs
title: The action needs a value the pre-flight does not
risk: low
variables:
  namespace: {pattern: '^[a-z]+$', from: [var:namespace]}
  pod: {pattern: '^[a-z0-9-]+$'}
steps:
  - id: act
    title: Delete the stuck pod
    intent: It comes back.
    preflight: {run: 'echo {{namespace}}', proceed_if: 'ok'}
    action: {run: 'kubectl -n {{namespace}} delete pod {{pod}}', blast_radius: one pod}
    rollback: {run: 'kubectl -n {{namespace}} get pod {{pod}}'}
"#;

#[test]
fn an_action_lacking_a_value_is_not_copied_and_p_waits() {
    let rb = parse_str(ACTION_NEEDS, Path::new("action-needs.yaml")).unwrap();
    let mut ctx = Context::default();
    ctx.vars.insert("namespace".into(), "payments".into());
    let mut m = Model::new(vec![rb.clone()], ctx);
    m.now_ms = 1_000_000;
    m.start_walk(rb);
    run_preflight(&mut m, &["ok"], 0);
    for (k, what) in [('a', "action"), ('y', "rollback")] {
        let effects = update(&mut m, key(k));
        assert!(
            !effects.iter().any(|e| matches!(e, Effect::Copy { .. })),
            "{what} with a placeholder was copied: {effects:?}"
        );
        let status = m.status.clone().unwrap();
        assert!(
            status.contains(&format!("the {what} lacks pod")),
            "{status}"
        );
    }
    assert!(
        decision_text(&m).contains("p: WAIT"),
        "{}",
        decision_text(&m)
    );
    update(&mut m, key('p'));
    assert_eq!(index(&m), 0, "p moved on with an incomplete action");
    // Set, it is copied whole and p proceeds (after the pre-flight again).
    update(&mut m, key('='));
    typed(&mut m, "web-1");
    update(&mut m, code(KeyCode::Enter));
    let effects = update(&mut m, key('a'));
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Copy { text, .. } if text == "kubectl -n payments delete pod web-1")),
        "{effects:?}"
    );
    run_preflight(&mut m, &["ok"], 0);
    update(&mut m, key('p'));
    assert_eq!(index(&m), 0, "last step: the walk ends instead");
    assert!(m.walk.as_ref().unwrap().end().is_some());
}
