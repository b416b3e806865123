//! A critical step with a team database: `p` files a request, and the step
//! moves on only when the database reports another engineer's approval of
//! exactly what was filed (the action and pre-flight digests). Pure
//! `update`; the database's side is proven by `scripts/e2e.sh`.

use std::path::Path;

use crossterm::event::KeyCode;
use stepguard::digest::sha256_hex;
use stepguard::runbook::parse_str;
use stepguard::session::event::ApprovalRecord;
use stepguard::session::Event;
use stepguard::team::approval::{DecisionRecord, Filed, Request, State, Status};
use stepguard::tui::model::{Gate, Phase, PromptKind, WalkEnd};
use stepguard::tui::{update, Effect, Model, Msg};

use crate::common::*;

const T0: u64 = 1_000_000_000_000;

const CRITICAL: &str = r#"
id: crit
title: Critical
risk: low
variables:
  ns: {pattern: '^[a-z]+$', from: [var:ns]}
steps:
  - id: look
    title: Look
    intent: x
    risk: low
    preflight: {run: 'echo {{ns}}', proceed_if: 'ok'}
  - id: crit
    title: Critical
    intent: x
    risk: critical
    preflight: {run: 'echo {{ns}}', proceed_if: 'ok'}
    action: {run: 'kubectl delete ns {{ns}}', blast_radius: everything in it}
    rollback: none
    reason: there is none
"#;

const ACTION: &str = "kubectl delete ns payments";

fn team_model() -> Model {
    let rb = parse_str(CRITICAL, Path::new("crit.yaml")).unwrap();
    let mut ctx = stepguard::draft::Context::default();
    ctx.vars.insert("ns".into(), "payments".into());
    let mut m = Model::new(vec![rb.clone()], ctx);
    m.now_ms = T0;
    m.operator = "alice".into();
    m.team = true;
    m.start_walk(rb);
    run_preflight(&mut m, &["ok"], 0);
    update(&mut m, key('p'));
    assert_eq!(index(&m), 1);
    m
}

/// At the critical step: PASS, `p`, the target typed; the team's gate asked.
fn at_team_gate(m: &mut Model) {
    run_preflight(m, &["ok"], 0);
    update(m, key('p'));
    typed(m, "payments");
    update(m, code(KeyCode::Enter));
    assert_eq!(
        m.prompt().map(|p| p.kind),
        Some(PromptKind::Gate(Gate::TeamApproval))
    );
}

/// Enter at the team's gate: the one request it files.
fn file(m: &mut Model) -> (u64, Request) {
    let effects = update(m, code(KeyCode::Enter));
    let filed: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::FileApproval { attempt, request } => Some((*attempt, (**request).clone())),
            _ => None,
        })
        .collect();
    assert_eq!(filed.len(), 1, "{effects:?}");
    filed[0].clone()
}

fn filed(m: &mut Model, attempt: u64, id: &str) -> Vec<Effect> {
    update(
        m,
        Msg::ApprovalFiled {
            attempt,
            result: Ok(Filed {
                id: id.into(),
                expires_in_ms: 600_000,
                approvals_required: 1,
                requested_by: "alice".into(),
                webhook_error: None,
            }),
        },
    )
}

/// At the critical step, its request filed and taken by the database as `id`.
fn waiting(id: &str) -> (Model, Request) {
    let mut m = team_model();
    at_team_gate(&mut m);
    let (attempt, request) = file(&mut m);
    filed(&mut m, attempt, id);
    (m, request)
}

fn status(id: &str, state: State, request: &Request, decisions: &[(&str, &str, &str)]) -> Msg {
    Msg::ApprovalState {
        id: id.into(),
        result: Ok(Box::new(Status {
            id: id.into(),
            state,
            requested_by: "alice".into(),
            expires_in_ms: 500_000,
            approvals_required: 1,
            approver_groups: Vec::new(),
            document_error: None,
            action_sha256: request.action_sha256.clone(),
            preflight_sha256: request.preflight_sha256.clone(),
            request_sha256: String::new(),
            decisions: decisions
                .iter()
                .map(|(by, decision, reason)| DecisionRecord {
                    by: by.to_string(),
                    decision: decision.to_string(),
                    reason: reason.to_string(),
                    after_ms: 30_000,
                })
                .collect(),
            request: request.clone(),
        })),
    }
}

/// The critical step's request, as the walk would file it (fields a test
/// sets itself go before `..`).
fn crit_request() -> Request {
    Request {
        runbook: "crit".into(),
        step: "crit".into(),
        step_number: 2,
        steps: 2,
        title: "Critical".into(),
        target: "payments".into(),
        risk: "critical".into(),
        ..Request::default()
    }
}

/// The database's word that bob approved request `id`.
fn approved_by_bob(id: &str, request: &Request) -> Msg {
    status(id, State::Approved, request, &[("bob", "approve", "")])
}

fn approvals(effects: &[Effect]) -> Vec<ApprovalRecord> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Audit(Event::Approval(a)) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

fn voided(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::VoidApproval { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_step_moves_only_on_the_databases_approval_of_what_was_filed() {
    let mut m = team_model();
    at_team_gate(&mut m);
    let (attempt, request) = file(&mut m);
    // What the approver is shown is what will be copied, with its digests.
    assert_eq!(request.action, ACTION);
    assert_eq!(request.action_sha256, sha256_hex(ACTION.as_bytes()));
    assert_eq!(request.preflight_sha256.len(), 64);
    assert_eq!(request.preflight, "echo payments");
    assert!(request.verdict.starts_with("PASS"), "{}", request.verdict);
    assert_eq!((request.step_number, request.steps), (2, 2));
    assert_eq!(request.blast_radius, "everything in it");
    // Enter again files nothing more.
    assert!(!update(&mut m, code(KeyCode::Enter))
        .iter()
        .any(|e| matches!(e, Effect::FileApproval { .. })));
    let effects = filed(&mut m, attempt, "a3f7b2c1");
    assert_eq!(approvals(&effects)[0].state, "filed");
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::WatchApproval { id } if id == "a3f7b2c1")));
    let note = m.prompt().and_then(|p| p.note).unwrap();
    assert!(
        note.contains("waiting for approval a3f7b2c1 · 10:00 left"),
        "{note}"
    );
    // Keys, pastes, ticks and a pending status move nothing.
    for msg in [
        key('p'),
        Msg::Paste("approve".into()),
        code(KeyCode::Enter),
        Msg::Tick,
        status("a3f7b2c1", State::Pending, &request, &[]),
        // Another request's approval is not this one's.
        approved_by_bob("ffffffff", &request),
    ] {
        update(&mut m, msg);
        assert_eq!(index(&m), 1);
        assert_eq!(m.walk.as_ref().unwrap().end(), None);
    }
    let effects = update(&mut m, approved_by_bob("a3f7b2c1", &request));
    assert_eq!(m.walk.as_ref().unwrap().end(), Some(&WalkEnd::Completed));
    let a = approvals(&effects);
    assert_eq!(
        (a[0].state.as_str(), a[0].by.clone()),
        ("approved", vec!["bob".to_string()])
    );
    let note = effects
        .iter()
        .find_map(|e| match e {
            Effect::Audit(Event::Decision(d)) => Some(d.note.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        note.ends_with("approved in the team database by bob (a3f7b2c1)"),
        "{note}"
    );
}

#[test]
fn an_approval_of_other_digests_does_not_count() {
    let (mut m, request) = waiting("a3f7b2c1");
    let mut other = request.clone();
    other.action_sha256 = sha256_hex(b"kubectl delete ns default");
    let effects = update(&mut m, approved_by_bob("a3f7b2c1", &other));
    assert_eq!(index(&m), 1);
    assert!(matches!(m.walk.as_ref().unwrap().phase, Phase::Reading));
    assert_eq!(approvals(&effects)[0].state, "voided");
}

#[test]
fn the_databases_approved_is_checked_against_its_own_record() {
    // Approved, says the state; but the approvers on record are the one who
    // asked, or fewer than required, or none: the walk does not move.
    for (decisions, required) in [
        (vec![("alice", "approve", "")], 1),
        (vec![("bob", "approve", ""), ("bob", "approve", "")], 2),
        (vec![], 1),
    ] {
        let (mut m, request) = waiting("a3f7b2c1");
        let mut msg = status("a3f7b2c1", State::Approved, &request, &decisions);
        if let Msg::ApprovalState { result: Ok(s), .. } = &mut msg {
            s.approvals_required = required;
        }
        let effects = update(&mut m, msg);
        assert_eq!(index(&m), 1, "{decisions:?}");
        assert_eq!(m.walk.as_ref().unwrap().end(), None);
        assert_eq!(approvals(&effects)[0].state, "voided");
    }
}

#[test]
fn leaving_the_gate_or_a_new_preflight_withdraws_the_request() {
    // Esc at the gate.
    let (mut m, request) = waiting("a3f7b2c1");
    let effects = update(&mut m, code(KeyCode::Esc));
    assert_eq!(voided(&effects), ["a3f7b2c1"]);
    assert_eq!(approvals(&effects)[0].state, "voided");
    // Its approval, arriving late, moves nothing.
    update(&mut m, approved_by_bob("a3f7b2c1", &request));
    assert_eq!(index(&m), 1);

    // The pre-flight's verdict ages past the freshness window while the
    // team decides: what was filed is no longer what `p` would ask.
    let mut m = team_model();
    m.policy.freshness_minutes = 2;
    at_team_gate(&mut m);
    let (attempt, request) = file(&mut m);
    filed(&mut m, attempt, "b4e8c3d2");
    m.now_ms += 3 * 60_000;
    let effects = update(&mut m, Msg::Tick);
    assert_eq!(voided(&effects), ["b4e8c3d2"], "{effects:?}");
    update(&mut m, approved_by_bob("b4e8c3d2", &request));
    assert_eq!(index(&m), 1);

    // Esc while the request is still being filed: voided when its id comes.
    let mut m = team_model();
    at_team_gate(&mut m);
    let (attempt, _) = file(&mut m);
    update(&mut m, code(KeyCode::Esc));
    let effects = filed(&mut m, attempt, "c5f9d4e3");
    assert_eq!(voided(&effects), ["c5f9d4e3"]);
}

#[test]
fn a_rejection_halts_with_the_reason_and_is_remembered() {
    let (mut m, request) = waiting("a3f7b2c1");
    let effects = update(
        &mut m,
        status(
            "a3f7b2c1",
            State::Rejected,
            &request,
            &[("bob", "reject", "not during the peak")],
        ),
    );
    match m.walk.as_ref().unwrap().end() {
        Some(WalkEnd::Halted { reason }) => assert_eq!(
            reason,
            "rejected by bob in the team database (a3f7b2c1): not during the peak"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(approvals(&effects)[0].reason, "not during the peak");
    // Later cards (and drafts) of that step see it.
    let seen = m.rejections_for("crit", "crit");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].said(), "rejected by bob");
}

#[test]
fn an_expired_request_must_be_filed_again() {
    let (mut m, request) = waiting("a3f7b2c1");
    m.now_ms += 600_000;
    let effects = update(&mut m, Msg::Tick);
    assert_eq!(approvals(&effects)[0].state, "expired");
    assert!(matches!(m.walk.as_ref().unwrap().phase, Phase::Reading));
    assert!(m.status.as_deref().unwrap().contains("expired"));
    // An approval that comes after it moves nothing.
    update(&mut m, approved_by_bob("a3f7b2c1", &request));
    assert_eq!(index(&m), 1);
    // p asks again (after a fresh pre-flight): a new request.
    at_team_gate(&mut m);
    let (again, _) = file(&mut m);
    assert!(again > 1, "attempt {again}");
}

#[test]
fn a_database_that_refuses_or_is_away_is_said_and_nothing_moves() {
    let mut m = team_model();
    at_team_gate(&mut m);
    let (attempt, request) = file(&mut m);
    update(
        &mut m,
        Msg::ApprovalFiled {
            attempt,
            result: Err("cannot connect to the team database".into()),
        },
    );
    assert_eq!(index(&m), 1);
    let prompt = m.prompt().unwrap();
    assert!(prompt.error.unwrap().contains("Enter tries again"));
    // Enter tries again: a new filing.
    let (again, _) = file(&mut m);
    filed(&mut m, again, "a3f7b2c1");
    update(
        &mut m,
        Msg::ApprovalState {
            id: "a3f7b2c1".into(),
            result: Err("connection refused".into()),
        },
    );
    let note = m.prompt().and_then(|p| p.note).unwrap();
    assert!(
        note.contains("unreachable (connection refused), still waiting"),
        "{note}"
    );
    update(&mut m, approved_by_bob("a3f7b2c1", &request));
    assert_eq!(m.walk.as_ref().unwrap().end(), Some(&WalkEnd::Completed));
}

#[test]
fn the_notifier_posts_the_slack_shape_redacted_and_says_when_refused() {
    use std::io::{Read, Write};
    let request = Request {
        action:
            "curl -H 'Authorization: Bearer ghp_0123456789abcdefghijklmnopqrstuvwxyzAB' https://x"
                .into(),
        preflight: "echo payments".into(),
        verdict: "PASS".into(),
        ..crit_request()
    };
    let filed = Filed {
        id: "a3f7b2c1".into(),
        expires_in_ms: 600_000,
        approvals_required: 1,
        requested_by: "alice".into(),
        webhook_error: None,
    };
    let body = stepguard::team::notify::message(&filed, &request);
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("alice asks for approval a3f7b2c1 (10 min left)"),
        "{text}"
    );
    assert!(text.contains("`stepguard approve a3f7b2c1`"), "{text}");
    assert!(!text.contains("ghp_0123456789"), "{text}");

    // A receiver on loopback: one answers 200, the other 500.
    for (answer, ok) in [("200 OK", true), ("500 Internal Server Error", false)] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let receiver = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = conn.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len: usize = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap();
                    if got.len() >= head_end + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            write!(
                conn,
                "HTTP/1.1 {answer}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            .unwrap();
            String::from_utf8(got).unwrap()
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let posted = rt.block_on(stepguard::team::notify::post(&url, &body));
        let got = receiver.join().unwrap();
        assert!(got.starts_with("POST /hook HTTP/1.1"), "{got}");
        assert!(got
            .to_ascii_lowercase()
            .contains("content-type: application/json"));
        let sent: serde_json::Value =
            serde_json::from_str(&got[got.find("\r\n\r\n").unwrap() + 4..]).unwrap();
        assert_eq!(sent, body);
        assert_eq!(posted.is_ok(), ok, "{posted:?}");
    }
}

fn render_approvals(screen: &stepguard::tui::approvals_screen::Screen) -> String {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30)).unwrap();
    terminal
        .draw(|f| {
            stepguard::tui::approvals_screen::draw(
                f,
                screen,
                stepguard::tui::view::Theme { color: false },
            )
        })
        .unwrap();
    terminal.backend().to_string()
}

#[test]
fn the_approvers_screen_lists_oldest_first_and_shows_the_whole_request_clean() {
    let mut request = Request {
        // A hostile document: escapes and a long action must not reach the
        // terminal raw, nor be cut.
        action: format!(
            "kubectl delete ns payments \u{1b}]52;c;ZXZpbA==\u{7} {}END",
            "x".repeat(300)
        ),
        preflight: "echo payments".into(),
        verdict: "PASS: ok".into(),
        output_tail: "ok\n\u{1b}[2Jcleared?".into(),
        ..crit_request()
    };
    request.action_sha256 = sha256_hex(request.action.as_bytes());
    let mut first = match status("a3f7b2c1", State::Pending, &request, &[]) {
        Msg::ApprovalState { result: Ok(s), .. } => *s,
        _ => unreachable!(),
    };
    first.request_sha256 = "ab".repeat(32);
    let mut second = first.clone();
    second.id = "b4e8c3d2".into();
    second.requested_by = "carol".into();
    let mut screen = stepguard::tui::approvals_screen::Screen {
        pending: vec![first, second],
        ..Default::default()
    };
    let list = render_approvals(&screen);
    let (a, b) = (
        list.find("a3f7b2c1").unwrap(),
        list.find("b4e8c3d2").unwrap(),
    );
    assert!(a < b, "{list}");
    assert!(list.contains("8:20"), "time left: {list}");
    assert!(!list.contains('\u{1b}'));
    screen.open = true;
    let detail = render_approvals(&screen);
    let joined: String = detail
        .lines()
        .map(|l| l.trim_matches('"').trim_end())
        .collect();
    assert!(
        !detail.contains('\u{1b}') && !detail.contains('\u{7}'),
        "{detail}"
    );
    assert!(
        joined.contains("END"),
        "the whole action, wrapped: {detail}"
    );
    assert!(
        joined.contains(&"ab".repeat(32)),
        "the request's digest: {detail}"
    );
    assert!(joined.contains("stepguard approve a3f7b2c1"), "{detail}");
}

#[test]
fn a_teammates_rejection_reaches_the_card_clean_and_the_model_redacted() {
    let mut m = team_model();
    update(
        &mut m,
        Msg::TeamRejections(vec![stepguard::session::Rejection {
            session: "approval a3f7b2c1".into(),
            runbook_id: "crit".into(),
            step_id: "crit".into(),
            decision: "rejected by mallory\u{1b}]52;c;ZXZpbA==\u{7}".into(),
            reason: "not now \u{1b}[2J token ghp_0123456789abcdefghijklmnopqrstuvwxyzAB".into(),
            at_ms: T0,
        }]),
    );
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 40)).unwrap();
    terminal
        .draw(|f| stepguard::tui::view::draw(f, &m, stepguard::tui::view::Theme { color: false }))
        .unwrap();
    let screen = terminal.backend().to_string();
    assert!(screen.contains("rejected by mallory"), "{screen}");
    assert!(
        !screen.contains('\u{1b}') && !screen.contains('\u{7}'),
        "{screen}"
    );
    // The model sees it as history, with the token redacted.
    m.model_enabled = true;
    let job = stepguard::tui::update::request_drafts(&mut m, None, false)
        .into_iter()
        .find_map(|e| match e {
            Effect::RequestDraft { job, .. } => Some(job),
            _ => None,
        })
        .expect("a draft is asked");
    let input = stepguard::llm::prompt::DraftInput {
        runbook: &job.runbook,
        step_index: job.step_index,
        ctx: &job.ctx,
        history: &job.history,
        hint: job.hint.as_deref(),
        budget_tokens: 800,
    };
    let prompt = stepguard::llm::prompt::build(&Default::default(), &input);
    assert!(prompt.user.contains("not now"), "{}", prompt.user);
    assert!(!prompt.user.contains("ghp_0123456789"), "{}", prompt.user);
}
