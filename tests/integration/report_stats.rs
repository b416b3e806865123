//! Reports and stats from recorded sessions: a real walk of the demo
//! (tests/fixtures/sessions/bb5291e6, recorded with the TUI) and sessions
//! written here through the audit log API.

use std::path::Path;

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde_json::json;
use stepguard::session::{AuditLog, SessionDir};

fn fixture_state_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn the_demo_walk_reports_as_markdown() {
    let events = stepguard::session::audit::read_events(
        &fixture_state_dir().join("sessions/bb5291e6/audit.jsonl"),
    )
    .unwrap();
    let report = stepguard::report::build("bb5291e6", &events);
    assert_eq!(report.totals.proceeded, 5);
    assert_eq!(report.totals.skipped, 1);
    assert_eq!(
        report.totals.overrides, 1,
        "step 5 went ahead on a STOP with a reason"
    );
    assert!(report.totals.time_to_first_action_ms.is_some());
    insta::assert_snapshot!("demo_report", report.to_markdown());
    // JSON for tools.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["steps"].as_array().unwrap().len(), 6);
}

#[test]
fn cli_report_refuses_a_tampered_log() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = dir.path().join("sessions");
    std::fs::create_dir_all(&sessions).unwrap();
    let copy = sessions.join("bb5291e6");
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["audit.jsonl", "session.json", "state.txt"] {
        std::fs::copy(
            fixture_state_dir().join("sessions/bb5291e6").join(f),
            copy.join(f),
        )
        .unwrap();
    }
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_stepguard"))
            .args(args)
            .env("STEPGUARD_STATE_DIR", dir.path())
            .output()
            .unwrap()
    };
    let out = run(&["report", "bb5291e6"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("# Incident timeline: demo-checkout-logs")
    );
    let log = std::fs::read_to_string(copy.join("audit.jsonl")).unwrap();
    std::fs::write(
        copy.join("audit.jsonl"),
        log.replacen("actions were not run", "actions were run", 1),
    )
    .unwrap();
    let out = run(&["report", "bb5291e6"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
}

/// A session whose every step was approved in two seconds, never rejected,
/// never edited: the stats must call it rubber-stamping.
fn write_rubber_stamp_session(state_dir: &Path) {
    let session = SessionDir::create(state_dir).unwrap();
    let mut log = AuditLog::open(&session.audit_path()).unwrap();
    let mut t = 1_700_000_000_000;
    log.append_raw("session-start", json!({"runbook": "k8s-node-notready"}), t)
        .unwrap();
    for step in [
        "confirm-notready",
        "read-conditions",
        "list-pods-on-node",
        "cordon",
        "drain",
        "uncordon",
    ] {
        t += 2_000;
        log.append_raw(
            "run",
            json!({"kind": "preflight", "step": step, "verdict": "PASS"}),
            t,
        )
        .unwrap();
        log.append_raw(
            "decision",
            json!({"step": step, "decision": "proceed", "verdict": "PASS", "latency_ms": 2_000}),
            t,
        )
        .unwrap();
    }
}

#[test]
fn stats_flag_rubber_stamping_and_draw_as_charts() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = dir.path().join("sessions");
    std::fs::create_dir_all(&sessions).unwrap();
    std::fs::create_dir_all(sessions.join("bb5291e6")).unwrap();
    std::fs::copy(
        fixture_state_dir().join("sessions/bb5291e6/audit.jsonl"),
        sessions.join("bb5291e6/audit.jsonl"),
    )
    .unwrap();

    let careful = stepguard::stats::compute(&stepguard::stats::load_all(dir.path()));
    assert_eq!(careful.sessions, 1);
    assert!(
        careful.rubber_stamp.is_none(),
        "a skip and an override are not rubber-stamping"
    );
    assert!(careful.overall.rejection_rate > 0.1);
    assert_eq!(careful.overall.stop_trips, 2);

    write_rubber_stamp_session(dir.path());
    let stamped = stepguard::stats::compute(&stepguard::stats::load_all(dir.path()));
    let only_stamp = {
        let all = stepguard::stats::load_all(dir.path());
        stepguard::stats::compute(
            &all.into_iter()
                .filter(|(id, _)| id != "bb5291e6")
                .collect::<Vec<_>>(),
        )
    };
    assert!(only_stamp
        .rubber_stamp
        .as_deref()
        .unwrap()
        .starts_with("RUBBER-STAMPING"));
    assert_eq!(stamped.per_runbook.len(), 2);
    assert_eq!(
        stamped.per_runbook["k8s-node-notready"].latency_p50_ms,
        2_000
    );
    assert!(stamped.to_text().contains("k8s-node-notready"));

    let mut terminal = Terminal::new(TestBackend::new(100, 24)).unwrap();
    terminal
        .draw(|f| {
            stepguard::tui::view::stats::draw(
                f,
                f.area(),
                &only_stamp,
                stepguard::tui::view::Theme { color: false },
            )
        })
        .unwrap();
    insta::assert_snapshot!("stats_screen_rubber_stamp", terminal.backend().to_string());
    let mut terminal = Terminal::new(TestBackend::new(100, 24)).unwrap();
    terminal
        .draw(|f| {
            stepguard::tui::view::stats::draw(
                f,
                f.area(),
                &stamped,
                stepguard::tui::view::Theme { color: false },
            )
        })
        .unwrap();
    insta::assert_snapshot!("stats_screen", terminal.backend().to_string());
}

/// Text from a log (a model's notes, command output, names a runbook
/// chose) with terminal controls, C1 and bidi characters in it.
const HOSTILE_RUNBOOK: &str = "k8s\u{9b}31m-\u{202e}kcab-\u{2066}x";
const HOSTILE_NOTE: &str = "fine \u{1b}]52;c;Zm9v\u{7}\u{2067}\u{9d}\n# Approved by everyone";
const HOSTILE_TAIL: &str = "pods\u{9b}2J\nready\u{202e}\u{200b}\r\n\u{85}done";

fn write_hostile_session(state_dir: &Path) -> String {
    let session = SessionDir::create(state_dir).unwrap();
    // `report` opens sessions by their snapshot.
    session.write_snapshot(&json!({})).unwrap();
    let mut log = AuditLog::open(&session.audit_path()).unwrap();
    let t = 1_700_000_000_000;
    let events = [
        (
            "session-start",
            json!({"runbook": HOSTILE_RUNBOOK, "runbook_path": "rb\u{202e}.yaml", "drafter": "gpt\u{9b}\n# x"}),
        ),
        (
            "context",
            json!({"state_lines": 3, "state_sha256": "é\u{202e}abcdef0123456789abcdef",
                   "values": [{"name": "ns", "value": "pay\u{200b}ments", "source": "label", "verified": true}]}),
        ),
        (
            "run",
            json!({"kind": "preflight", "step": "look\u{2066}", "command": "kubectl get pods \u{1b}[2J",
                   "verdict": "PASS", "reason": "ok\u{9b}\n# Fake heading", "exit_code": 0,
                   "duration_ms": 12, "output_tail": HOSTILE_TAIL}),
        ),
        (
            "copy",
            json!({"step": "look\u{2066}", "what": "action\n# x", "via": "tmux\u{9c}", "text": "kubectl rollout undo \u{202e}x"}),
        ),
        (
            "edit",
            json!({"step": "look\u{2066}", "before": "a\u{9b}", "after": "b\u{202e}"}),
        ),
        (
            "decision",
            json!({"step": "look\u{2066}", "decision": "proceed", "verdict": "PASS",
                   "note": HOSTILE_NOTE, "latency_ms": 3_000}),
        ),
        // Words that are not a verdict or a decision: lines that do not
        // read as events, left out of the report and the stats.
        (
            "run",
            json!({"kind": "preflight", "step": "look\u{2066}", "verdict": "PASS\u{9b}",
                   "output_tail": "# Fake heading"}),
        ),
        (
            "decision",
            json!({"step": "look\u{2066}", "decision": "proceed\n# Fake heading"}),
        ),
        (
            "draft",
            json!({"model": "gpt\u{9b}", "error": "bad \u{202e} reply"}),
        ),
    ];
    for (n, (kind, data)) in events.into_iter().enumerate() {
        log.append_raw(kind, data, t + n as u64 * 1_000).unwrap();
    }
    session.id
}

/// Controls a terminal acts on or bidi/invisible characters that disguise
/// text, checked independently of the implementation.
fn raw_controls(text: &str) -> Vec<String> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c as u32, 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x2069 | 0xFEFF)
        })
        .map(|c| format!("U+{:04X}", c as u32))
        .collect()
}

#[test]
fn machine_and_markdown_reports_carry_no_raw_controls() {
    let dir = tempfile::tempdir().unwrap();
    let id = write_hostile_session(dir.path());
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_stepguard"))
            .args(args)
            .env("STEPGUARD_STATE_DIR", dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    // JSON: escaped in the bytes, the same strings once parsed.
    let json = run(&["report", &id, "--format", "json"]);
    assert_eq!(raw_controls(&json), Vec::<String>::new(), "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["runbook"], HOSTILE_RUNBOOK);
    assert_eq!(report["steps"][0]["note"], HOSTILE_NOTE);
    assert_eq!(report["steps"][0]["output_tail"], HOSTILE_TAIL);
    assert_eq!(report["steps"][0]["decision"], "proceed");

    let json = run(&["stats", "--json"]);
    assert_eq!(raw_controls(&json), Vec::<String>::new(), "{json}");
    let stats: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(stats["per_runbook"][HOSTILE_RUNBOOK]["decisions"], 1);
    assert_eq!(
        stats["per_step"][format!("{HOSTILE_RUNBOOK}/look\u{2066}")]["decisions"],
        1
    );

    // Markdown: nothing raw, and no recorded text starts a line of its own.
    let events = stepguard::session::audit::read_events(
        &dir.path().join("sessions").join(&id).join("audit.jsonl"),
    )
    .unwrap();
    let markdown = stepguard::report::build(&id, &events).to_markdown();
    for md in [markdown, run(&["report", &id])] {
        assert_eq!(raw_controls(&md), Vec::<String>::new(), "{md}");
        for line in md.lines() {
            assert!(
                !line.starts_with("# Fake") && !line.starts_with("# Approved") && line != "# x",
                "a recorded text made its own line: {line:?}\n{md}"
            );
        }
    }
}

/// A walk of four steps, recorded the way the screen records it: each
/// event goes under the step that was on screen when it happened, not
/// under the last step an event named.
fn walk_events(copies_name_their_step: bool) -> Vec<stepguard::session::Recorded> {
    let copy = |step: &str, what: &str| {
        let mut data =
            json!({"what": what, "text": format!("{what} of {step}"), "via": "tmux buffer"});
        if copies_name_their_step {
            data["step"] = json!(step);
        }
        ("copy", data)
    };
    let run = |step: &str| {
        (
            "run",
            json!({"kind": "preflight", "step": step, "verdict": "PASS"}),
        )
    };
    let decide = |step: &str, n: usize| {
        (
            "decision",
            json!({"step": step, "step_number": n, "decision": "proceed", "verdict": "PASS"}),
        )
    };
    let events = vec![
        (
            "session-start",
            json!({"runbook": "k8s-node-notready", "steps": 4}),
        ),
        ("context", json!({"state_lines": 1})),
        run("confirm"),
        decide("confirm", 1),
        // Step 2 is prefetched while step 1 is read: a draft moves nothing.
        (
            "draft",
            json!({"step": "cordon", "model": "m", "usage": null}),
        ),
        run("read"),
        decide("read", 2),
        // On step 3 before anything else names it: a copy, then a quit
        // and a resume.
        copy("cordon", "rollback"),
        ("quit", json!({})),
        ("resume", json!({"session": "s", "step": 3})),
        (
            "draft",
            json!({"step": "drain", "model": "m", "usage": null}),
        ),
        run("cordon"),
        decide("cordon", 3),
        // Step 4: a copy of the action (with an override), a new paste.
        (
            "override",
            json!({"what": "copy to another target", "reason": "same cluster"}),
        ),
        copy("drain", "action"),
        ("context", json!({"state_lines": 2})),
        decide("drain", 4),
        ("quit", json!({})),
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(n, (kind, data))| stepguard::session::Recorded {
            seq: n as u64 + 1,
            ts_ms: 1_700_000_000_000 + n as u64 * 1_000,
            event: stepguard::session::Event::from_parts(kind, data),
        })
        .collect()
}

#[test]
fn the_report_puts_each_event_under_the_step_on_screen() {
    for named in [true, false] {
        let report = stepguard::report::build("s", &walk_events(named));
        let rows: Vec<(&str, &str)> = report
            .timeline
            .iter()
            .map(|e| (e.step.as_str(), e.text.as_str()))
            .collect();
        let under = |text: &str| {
            rows.iter()
                .filter(|(_, t)| t.starts_with(text))
                .map(|(s, _)| *s)
                .collect::<Vec<_>>()
        };
        let label = if named {
            "copies naming their step"
        } else {
            "a log from before"
        };
        assert_eq!(
            under("copied the rollback"),
            ["cordon"],
            "{label}: {rows:?}"
        );
        assert_eq!(under("copied the action"), ["drain"], "{label}: {rows:?}");
        assert_eq!(under("override"), ["drain"], "{label}: {rows:?}");
        assert_eq!(
            under("cluster state given"),
            ["confirm", "drain"],
            "{label}: {rows:?}"
        );
        assert_eq!(under("quit"), ["cordon", "drain"], "{label}: {rows:?}");
        assert_eq!(under("session resumed"), ["cordon"], "{label}: {rows:?}");
        assert_eq!(
            under("drafted by"),
            ["cordon", "drain"],
            "a draft keeps its own step"
        );
        assert_eq!(under("session started"), [""], "the session is no step's");
        let copies = |id: &str| {
            report
                .steps
                .iter()
                .find(|s| s.step == id)
                .map(|s| s.copies.clone())
                .unwrap_or_default()
        };
        assert_eq!(copies("read"), Vec::<String>::new(), "{label}");
        assert_eq!(copies("cordon").len(), 1, "{label}");
        assert!(copies("drain")[0].starts_with("action"), "{label}");
    }
}

/// A copy on a step no later event names (an old log, quit right after):
/// said by number rather than put under the step before it.
#[test]
fn a_step_no_event_names_is_said_by_number() {
    let mut events = walk_events(false);
    events.truncate(9); // up to the quit on step 3, before the resume
    let report = stepguard::report::build("s", &events);
    let copy = report
        .timeline
        .iter()
        .find(|e| e.text.starts_with("copied the rollback"))
        .unwrap();
    assert_eq!(copy.step, "step 3");
}

/// The recorder the screen uses names the step on screen on a copy, and
/// the report of that log puts the copy there: a rollback copied on step 2
/// right after step 1 was decided is step 2's.
#[test]
fn a_copy_recorded_by_the_screen_names_its_step() {
    use stepguard::tui::Msg;
    let mut s = crate::session_faults::Session::start();
    s.preflight_ok();
    s.send(crate::common::key('p'));
    assert_eq!(crate::common::index(&s.model), 1, "on step 2");
    s.send(Msg::Copied {
        what: "rollback",
        step: 1,
        text: "kubectl undo".into(),
        result: Ok("tmux buffer".into()),
    });
    let copies: Vec<_> = s
        .events()
        .into_iter()
        .filter_map(|e| match e {
            stepguard::session::Event::Copy(c) => Some(c.step),
            _ => None,
        })
        .collect();
    assert_eq!(copies, ["high-step"]);
    let events = stepguard::session::audit::read_events(&s.log()).unwrap();
    let report = stepguard::report::build(&s.id(), &events);
    let high = report.steps.iter().find(|x| x.step == "high-step").unwrap();
    assert_eq!(high.copies.len(), 1);
    assert!(report
        .steps
        .iter()
        .all(|x| x.step == "high-step" || x.copies.is_empty()));
}

#[test]
fn a_found_value_is_in_the_report_header_until_voided() {
    use stepguard::session::{Event, Recorded};
    let found = stepguard::draft::FoundValue {
        value: "billing".into(),
        step: "find".into(),
        line: 1,
        excerpt: "billing".into(),
    };
    let value = |found: Option<stepguard::draft::FoundValue>, voided: bool| Event::Value {
        step: "find".into(),
        name: "namespace".into(),
        value: found.as_ref().map(|f| f.value.clone()).unwrap_or_default(),
        previous: None,
        found,
        voided,
    };
    let at = |seq: u64, event: Event| Recorded {
        seq,
        ts_ms: seq,
        event,
    };
    let events = vec![at(1, value(Some(found), false))];
    let md = stepguard::report::build("s", &events).to_markdown();
    assert!(md.contains("  - `namespace` = `billing` (output)"), "{md}");
    assert!(
        md.contains("value found by the pre-flight of step find: namespace = `billing`"),
        "{md}"
    );
    let events = vec![events[0].clone(), at(2, value(None, true))];
    let md = stepguard::report::build("s", &events).to_markdown();
    assert!(!md.contains("`namespace` = `billing` (output)"), "{md}");
    assert!(
        md.contains("value found before no longer counts: namespace"),
        "{md}"
    );
}
