//! Attacks on sessions under faults: snapshots that lie, logs with odd
//! decisions, runbooks changed between resumes, copies tampered with,
//! stale locks and temp files, repairs of damage that is evidence, a full
//! disk at every write, odd directory contents and sessions of the
//! previous version. The log is the truth: whatever the snapshot says,
//! a resume lands where the log does, or refuses.

use std::path::{Path, PathBuf};

use serde_json::json;
use stepguard::session::audit::{read_events, repair};
use stepguard::session::event::Decision;
use stepguard::session::{list_sessions, verify, AuditLog, Event, Head, SessionDir};
use stepguard::tui::model::{StepStatus, WalkEnd};
use stepguard::tui::persist::Snapshot;
use stepguard::tui::recorder::{RecordError, Recorder, Resume};
use stepguard::tui::{update, Effect, Msg};

use crate::common::*;
use crate::session_faults::{decisions, resumed, Session, SmallDisk};

impl Session {
    /// Lines as another writer (or a forger who re-hashes) appends them.
    fn append(&self, kind: &str, data: serde_json::Value) {
        let mut log = AuditLog::open(&self.log()).unwrap();
        log.append_raw(kind, data, stepguard::clock::now_ms())
            .unwrap();
    }

    fn decide(&self, step: &str, number: usize, decision: &str) {
        self.append(
            "decision",
            json!({
                "step": step,
                "step_number": number,
                "decision": decision,
                "verdict": null,
                "note": format!("{decision} {step}"),
                "action": null,
                "action_sha256": null,
                "preflight": null,
            }),
        );
    }

    fn stepguard(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_stepguard"))
            .args(args)
            .env("STEPGUARD_STATE_DIR", self.state.path())
            .output()
            .unwrap()
    }
}

fn statuses(snap: &Snapshot) -> Vec<StepStatus> {
    snap.steps.iter().map(|s| s.status).collect()
}

fn decided(status: StepStatus) -> bool {
    status != StepStatus::Pending
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect()
}

// ---------------------------------------------------------------------------
// Snapshots that lie.

#[test]
fn a_forged_snapshot_cannot_decide_steps_the_log_never_decided() {
    let mut s = Session::start();
    s.preflight_ok();
    s.kill();
    // Same head as the log (so the chain and the end check pass), but every
    // step decided and the walk completed.
    let mut snap = s.snapshot();
    for step in &mut snap.steps {
        step.status = StepStatus::Proceeded(None);
    }
    snap.index = 2;
    snap.end = Some(WalkEnd::Completed);
    snap.summary.status = "completed".into();
    s.dir().write_snapshot(&snap).unwrap();
    assert!(decisions(&s.events()).is_empty());
    let (_, resume) = s.resume().unwrap();
    assert_eq!(
        statuses(&resume.snapshot),
        [StepStatus::Pending; 3],
        "steps decided on the snapshot's word alone"
    );
    assert_eq!(
        resume.snapshot.end, None,
        "a walk ended on the snapshot's word"
    );
    assert_eq!(resume.snapshot.index, 0);
}

#[test]
fn a_snapshot_index_out_of_range_resumes_where_the_log_is() {
    let mut s = Session::start();
    s.kill();
    let mut snap = s.snapshot();
    snap.index = 99;
    s.dir().write_snapshot(&snap).unwrap();
    let (m, _rec) = resumed(&s);
    assert_eq!(
        index(&m),
        0,
        "no decision in the log: the walk is at step 1"
    );
}

#[test]
fn a_snapshot_with_too_few_steps_still_gets_the_logs_decisions() {
    let mut s = Session::start();
    s.preflight_ok();
    s.send(key('p'));
    s.kill();
    // A snapshot as old as the session (head at nothing), with no steps.
    let mut snap = s.snapshot();
    snap.steps.clear();
    snap.index = 0;
    snap.end = None;
    snap.audit_head = Head::default();
    s.dir().write_snapshot(&snap).unwrap();
    let (_, resume) = s.resume().unwrap();
    assert!(
        matches!(resume.snapshot.steps[0].status, StepStatus::Proceeded(_)),
        "the log's decision was dropped: {:?}",
        statuses(&resume.snapshot)
    );
    assert_eq!(resume.snapshot.index, 1);
}

#[test]
fn a_snapshot_ahead_of_the_log_or_off_its_chain_is_refused_and_nothing_written() {
    let mut s = Session::start();
    s.preflight_ok();
    s.kill();
    let log_before = std::fs::read(s.log()).unwrap();
    let good = s.snapshot();
    for forged in [
        Head {
            seq: good.audit_head.seq + 3,
            hash: good.audit_head.hash.clone(),
        },
        Head {
            seq: good.audit_head.seq,
            hash: "0".repeat(64),
        },
    ] {
        let mut snap = good.clone();
        snap.audit_head = forged;
        s.dir().write_snapshot(&snap).unwrap();
        assert!(matches!(s.resume(), Err(RecordError::Log(_))));
        assert_eq!(std::fs::read(s.log()).unwrap(), log_before);
        let listed = list_sessions(s.state.path()).unwrap();
        assert!(
            listed[0].problems.iter().any(|p| p.contains("audit log")),
            "{:?}",
            listed[0].problems
        );
        let out = s.stepguard(&["audit", "verify", &s.id()]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
    }
}

#[test]
fn a_snapshot_cannot_point_the_session_at_another_runbook() {
    let mut s = Session::start();
    s.kill();
    // Another runbook with the same steps' ids but another action, and a
    // snapshot naming it (with its digest, so nothing looks changed).
    let other = s.runbooks.path().join("other.yaml");
    let text = RUNBOOK.replace("delete pod x", "delete namespace payments");
    std::fs::write(&other, &text).unwrap();
    let mut snap = s.snapshot();
    snap.runbook_path = other.clone();
    snap.runbook_sha256 = stepguard::digest::sha256_hex(text.as_bytes());
    s.dir().write_snapshot(&snap).unwrap();
    let (rb, resume) = s.resume().unwrap();
    assert!(
        rb.steps[1]
            .action
            .as_ref()
            .unwrap()
            .run
            .contains("delete pod x"),
        "the walk goes on with the runbook the snapshot names, not the log's: {}",
        rb.path.display()
    );
    assert!(resume.runbook_changes.is_empty());
}

#[test]
fn audit_verify_accepts_a_snapshot_that_lags_the_log() {
    let mut s = Session::start();
    s.preflight_ok();
    let lagging = std::fs::read(s.dir().snapshot_path()).unwrap();
    s.send(key('p'));
    s.kill();
    std::fs::write(s.dir().snapshot_path(), &lagging).unwrap();
    let out = s.stepguard(&["audit", "verify", &s.id()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // And `sessions` shows the log's place, not the snapshot's.
    let listed = list_sessions(s.state.path()).unwrap();
    assert_eq!(listed[0].step, 2);
    assert!(listed[0].problems.is_empty(), "{:?}", listed[0].problems);
}

// ---------------------------------------------------------------------------
// Logs with odd decisions (lines a re-hashing forger or another version wrote).

#[test]
fn decisions_out_of_range_are_ignored_by_resume_and_listing_alike() {
    let mut s = Session::start();
    s.kill();
    s.decide("nowhere", 0, "proceed");
    s.decide("nowhere", 7, "proceed");
    std::fs::remove_file(s.dir().snapshot_path()).unwrap();
    let listed = list_sessions(s.state.path()).unwrap();
    assert_eq!(
        (listed[0].step, listed[0].status.as_str()),
        (1, "open"),
        "sessions lists a step the runbook does not have"
    );
    let (_, resume) = s.resume().unwrap();
    assert_eq!(resume.snapshot.index, 0);
    assert_eq!(resume.snapshot.end, None);
    assert_eq!(statuses(&resume.snapshot), [StepStatus::Pending; 3]);
}

#[test]
fn a_halt_in_the_log_ends_the_walk_whatever_follows_it() {
    let mut s = Session::start();
    s.kill();
    s.decide("low-step", 1, "halt");
    s.decide("high-step", 2, "proceed");
    s.decide("manual-step", 3, "proceed");
    // Lagging snapshot: replayed.
    let (_, resume) = s.resume().unwrap();
    assert!(
        matches!(resume.snapshot.end, Some(WalkEnd::Halted { .. })),
        "replay: {:?}",
        resume.snapshot.end
    );
    assert_eq!(resume.snapshot.index, 0);
    drop(resume);
    // Lost snapshot: rebuilt, and listed.
    std::fs::remove_file(s.dir().snapshot_path()).unwrap();
    let listed = list_sessions(s.state.path()).unwrap();
    assert_eq!((listed[0].step, listed[0].status.as_str()), (1, "halted"));
    let (_, resume) = s.resume().unwrap();
    assert!(
        matches!(resume.snapshot.end, Some(WalkEnd::Halted { .. })),
        "rebuilt: {:?}",
        resume.snapshot.end
    );
    assert_eq!(resume.snapshot.index, 0);
}

#[test]
fn a_decision_for_an_earlier_step_does_not_move_the_walk_back() {
    let mut s = Session::start();
    s.preflight_ok();
    s.send(key('p'));
    s.kill();
    // A decision replayed twice (a duplicate line): the walk stays at 2.
    s.decide("low-step", 1, "proceed");
    let (_, resume) = s.resume().unwrap();
    assert_eq!(resume.snapshot.index, 1);
    assert_eq!(resume.snapshot.end, None);
}

// ---------------------------------------------------------------------------
// The runbook changes between resumes.

fn reordered() -> String {
    // A new first step; the old ones keep their ids.
    RUNBOOK.replace(
        "steps:\n",
        "steps:\n  - id: new-first\n    title: Added later\n    intent: Look first.\n",
    )
}

#[test]
fn a_changed_runbook_keeps_each_steps_record_across_two_resumes() {
    let mut s = Session::start();
    s.preflight_ok();
    s.send(key('p'));
    s.kill();
    std::fs::write(s.runbook_path(), reordered()).unwrap();
    let (m, rec) = resumed(&s);
    let walk = m.walk.as_ref().unwrap();
    let first: Vec<_> = walk.steps.iter().map(|s| s.status).collect();
    assert!(matches!(first[1], StepStatus::Proceeded(_)), "{first:?}");
    assert_eq!(walk.index, 2, "still on high-step");
    drop((m, rec));
    // Quit cleanly; resume again, with no change since the first resume.
    let (m, _rec) = resumed(&s);
    let walk = m.walk.as_ref().unwrap();
    let second: Vec<_> = walk.steps.iter().map(|s| s.status).collect();
    assert_eq!(
        second, first,
        "the second resume moved the records of an unchanged runbook"
    );
    assert_eq!(walk.index, 2);
}

#[test]
fn a_changed_runbook_and_a_lost_snapshot_still_follow_the_log() {
    let mut s = Session::start();
    s.preflight_ok();
    s.send(key('p'));
    s.kill();
    std::fs::write(s.runbook_path(), reordered()).unwrap();
    let (mut m, mut rec) = resumed(&s);
    assert_eq!(index(&m), 2);
    // Skip high-step (step 3 of the new runbook) with a reason.
    for msg in [key('s')] {
        let effects = update(&mut m, msg);
        for e in &effects {
            if let Effect::Audit(ev) = e {
                rec.audit(&mut m, ev);
            }
        }
    }
    typed(&mut m, "not needed");
    let effects = update(&mut m, code(crossterm::event::KeyCode::Enter));
    for e in &effects {
        if let Effect::Audit(ev) = e {
            rec.audit(&mut m, ev);
        }
    }
    rec.save(&mut m);
    assert_eq!(index(&m), 3, "on manual-step");
    drop((m, rec));
    std::fs::remove_file(s.dir().snapshot_path()).unwrap();
    let (rb, resume) = s.resume().unwrap();
    let ids: Vec<_> = rb.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["new-first", "low-step", "high-step", "manual-step"]);
    let got = statuses(&resume.snapshot);
    assert!(
        !decided(got[0]) && decided(got[1]) && got[2] == StepStatus::Skipped && !decided(got[3]),
        "records on the wrong steps: {got:?}"
    );
    assert_eq!(resume.snapshot.end, None, "an open walk shown as ended");
}

#[test]
fn a_removed_current_step_resumes_at_the_first_undecided_one() {
    let mut s = Session::start();
    s.preflight_ok();
    s.send(key('p'));
    s.kill();
    let without_high: String = {
        let start = RUNBOOK.find("  - id: high-step").unwrap();
        let end = RUNBOOK.find("  - id: manual-step").unwrap();
        format!("{}{}", &RUNBOOK[..start], &RUNBOOK[end..])
    };
    std::fs::write(s.runbook_path(), without_high).unwrap();
    let (rb, resume) = s.resume().unwrap();
    assert_eq!(rb.steps.len(), 2);
    assert!(resume
        .runbook_changes
        .iter()
        .any(|c| c.contains("'high-step' was removed")));
    assert!(matches!(
        resume.snapshot.steps[0].status,
        StepStatus::Proceeded(_)
    ));
    assert_eq!(resume.snapshot.index, 1, "manual-step is next");
    assert_eq!(resume.snapshot.steps.len(), 2);
}

#[test]
fn a_runbook_that_no_longer_parses_resumes_from_the_copy_and_says_so() {
    let mut s = Session::start();
    s.preflight_ok();
    s.send(key('p'));
    s.kill();
    std::fs::write(s.runbook_path(), "id: walk-test\nsteps: [oops\n").unwrap();
    let (rb, resume) = s.resume().unwrap();
    assert!(resume.runbook_from_copy);
    assert!(resume
        .runbook_changes
        .iter()
        .any(|c| c.contains("no longer loads")));
    assert_eq!(rb.steps.len(), 3);
    assert_eq!(resume.snapshot.index, 1);
}

#[test]
fn a_tampered_copy_is_never_walked_in_silence() {
    let mut s = Session::start();
    s.kill();
    std::fs::remove_file(s.runbook_path()).unwrap();
    let copy = s.dir().dir.join("runbook.yaml");
    let text = std::fs::read_to_string(&copy).unwrap();
    std::fs::write(
        &copy,
        text.replace("delete pod x", "delete namespace payments"),
    )
    .unwrap();
    match s.resume() {
        Err(_) => {}
        Ok((rb, resume)) => {
            let said = resume
                .problems
                .iter()
                .chain(&resume.runbook_changes)
                .any(|p| p.contains("copy"));
            assert!(
                said && !rb.steps[1]
                    .action
                    .as_ref()
                    .unwrap()
                    .run
                    .contains("namespace"),
                "the copy differs from the digest in the log and was walked: {:?} {:?}",
                resume.problems,
                resume.runbook_changes
            );
        }
    }
}

#[test]
fn a_missing_copy_and_a_missing_file_refuse_with_the_reason() {
    let mut s = Session::start();
    s.kill();
    std::fs::remove_file(s.runbook_path()).unwrap();
    std::fs::remove_file(s.dir().dir.join("runbook.yaml")).unwrap();
    let Err(RecordError::Runbook { .. }) = s.resume() else {
        panic!("resumed without a runbook");
    };
}

// ---------------------------------------------------------------------------
// Locks, temp files and kills inside the writes.

#[test]
fn a_stale_or_garbage_lock_file_does_not_block_and_is_rewritten() {
    let mut s = Session::start();
    s.kill();
    let lock = s.dir().lock_path();
    std::fs::write(&lock, b"\x00\xffnot json {{{").unwrap();
    let (_, resume) = s.resume().unwrap();
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(
        text.contains(&format!("\"pid\":{}", std::process::id())),
        "{text}"
    );
    drop(resume);
    // A lock file left by a dead process naming it.
    std::fs::write(&lock, r#"{"pid":999999,"host":"gone","since_ms":1}"#).unwrap();
    assert!(s.resume().is_ok());
    // Garbage while held: still refused (the holder is unknown, not "nobody").
    let (_m, _rec) = resumed(&s);
    std::fs::write(&lock, b"garbage").unwrap();
    assert!(matches!(s.resume(), Err(RecordError::Lock(_))));
}

#[test]
fn repair_is_refused_while_a_stepguard_writes_the_session() {
    let mut s = Session::start();
    s.preflight_ok();
    s.kill();
    let log = s.log();
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(b"{\"seq\":9,\"ts");
    std::fs::write(&log, &bytes).unwrap();
    // Held by a "live" stepguard (this process).
    let _held = s.dir().lock().unwrap();
    let out = s.stepguard(&["sessions", "repair", &s.id()]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        std::fs::read(&log).unwrap(),
        bytes,
        "repaired under a writer"
    );
}

#[test]
fn temp_files_left_by_a_kill_are_cleared_and_not_listed() {
    let mut s = Session::start();
    s.preflight_ok();
    s.kill();
    let dir = s.dir().dir.clone();
    std::fs::write(dir.join(".tmp-AbC123"), b"{\"half\": ").unwrap();
    std::fs::write(
        SessionDir::root(s.state.path()).join(".tmp-root"),
        b"check_state_dir",
    )
    .unwrap();
    let listed = list_sessions(s.state.path()).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].problems.is_empty(), "{:?}", listed[0].problems);
    let (_, resume) = s.resume().unwrap();
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));
    assert_eq!(resume.snapshot.index, 0);
}

#[test]
fn killed_at_each_point_of_start_resumes_or_is_never_a_session() {
    let mut s = Session::start();
    s.kill();
    let dir = s.dir().dir.clone();
    let log = s.log();
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(lines.len(), 2, "session-start and context");
    // After the start line, before the context and the snapshot.
    std::fs::write(&log, &lines[0]).unwrap();
    std::fs::remove_file(dir.join("session.json")).unwrap();
    let (rb, resume) = s.resume().unwrap();
    assert_eq!(rb.id, "walk-test");
    assert_eq!(resume.snapshot.index, 0);
    assert!(resume.problems.iter().any(|p| p.contains("rebuilt")));
    drop(resume);
    // After the context, before the snapshot: the values come back.
    std::fs::write(&log, lines.concat()).unwrap();
    let (_, resume) = s.resume().unwrap();
    assert_eq!(
        resume.snapshot.vars.get("ns").map(String::as_str),
        Some("payments")
    );
    drop(resume);
    // Before the log's first line (an empty log, the copy and the lock):
    // no id was shown; it is not resumable, and it is named when listed.
    std::fs::write(&log, b"").unwrap();
    assert!(s.resume().is_err());
    let listed = list_sessions(s.state.path()).unwrap();
    assert!(!listed[0].problems.is_empty());
}

// ---------------------------------------------------------------------------
// Repair.

#[test]
fn repair_of_a_log_that_is_only_a_torn_line_or_empty() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    std::fs::write(&log, b"{\"seq\":1,\"ts_ms\":5,\"kind\":\"sess").unwrap();
    let r = repair(&log, 7).unwrap().expect("a torn line to remove");
    assert_eq!((r.line, r.removed_bytes), (1, 31));
    assert_eq!(verify(&log, None).unwrap().seq, 1);
    assert!(matches!(
        read_events(&log).unwrap()[0].event,
        Event::Repair { .. }
    ));
    // Twice in a row: the second finds nothing to do and changes nothing.
    let after = std::fs::read(&log).unwrap();
    assert!(repair(&log, 8).unwrap().is_none());
    assert_eq!(std::fs::read(&log).unwrap(), after);
    // An empty log is whole.
    std::fs::write(&log, b"").unwrap();
    assert!(repair(&log, 9).unwrap().is_none());
    assert_eq!(std::fs::read(&log).unwrap(), b"");
}

#[test]
fn repair_refuses_a_log_cut_inside_the_lines_the_snapshot_recorded() {
    let mut s = Session::start();
    s.preflight_ok();
    s.send(key('p'));
    s.kill();
    let snap = s.snapshot();
    assert!(snap.audit_head.seq >= 4);
    // Cut mid-way through line 2: most of the log is gone, and what is left
    // ends without a newline, like a crash inside a write. It is not one:
    // the snapshot recorded lines the log no longer has.
    let log = s.log();
    let text = std::fs::read(&log).unwrap();
    let first = text.iter().position(|&b| b == b'\n').unwrap() + 1;
    let cut = text[..first + 40].to_vec();
    std::fs::write(&log, &cut).unwrap();
    let out = s.stepguard(&["sessions", "repair", &s.id()]);
    assert!(
        std::fs::read(&log).unwrap() == cut,
        "evidence changed by repair: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn a_repaired_session_resumes_with_nothing_lost_or_doubled() {
    let mut s = Session::start();
    s.preflight_ok();
    s.send(key('p'));
    s.kill();
    let log = s.log();
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(b"{\"seq\":99,\"ts_ms\":1,\"kind\":\"deci");
    std::fs::write(&log, &bytes).unwrap();
    let out = s.stepguard(&["sessions", "repair", &s.id()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = s.stepguard(&["sessions", "repair", &s.id()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to repair"));
    let out = s.stepguard(&["audit", "verify", &s.id()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let (m, mut rec) = resumed(&s);
    assert_eq!(index(&m), 1);
    let mut m = m;
    rec.save(&mut m);
    let events = s.events();
    assert_eq!(decisions(&events), [(1, Decision::Proceed)]);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Repair { .. }))
            .count(),
        1
    );
    verify(&log, Some(&s.snapshot().audit_head)).unwrap();
}

// ---------------------------------------------------------------------------
// Listing odd directory contents.

#[test]
fn listing_skips_what_is_not_a_session_and_names_what_is_damaged() {
    let mut s = Session::start();
    s.kill();
    let root = SessionDir::root(s.state.path());
    // A file with a session's name, a non-hex directory, a dangling
    // symlink, an empty session-shaped directory, one killed before its
    // log (lock and copy only), one whose log is a directory.
    std::fs::write(root.join("deadbeef"), b"not a dir").unwrap();
    std::fs::create_dir(root.join("zzzzzzzz")).unwrap();
    std::fs::write(root.join("zzzzzzzz/audit.jsonl"), b"").unwrap();
    std::os::unix::fs::symlink("/nonexistent/x", root.join("0badf00d")).unwrap();
    std::fs::create_dir(root.join("12345678")).unwrap();
    std::fs::create_dir(root.join("23456789")).unwrap();
    std::fs::write(root.join("23456789/lock"), b"").unwrap();
    std::fs::write(root.join("23456789/runbook.yaml"), RUNBOOK).unwrap();
    std::fs::create_dir_all(root.join("3456789a/audit.jsonl")).unwrap();
    std::fs::write(root.join("3456789a/session.json"), b"{}").unwrap();
    let listed = list_sessions(s.state.path()).unwrap();
    let ids: Vec<_> = listed.iter().map(|l| l.id.as_str()).collect();
    assert!(ids.contains(&s.id().as_str()));
    for not in ["deadbeef", "zzzzzzzz", "0badf00d", "12345678", "23456789"] {
        assert!(!ids.contains(&not), "{not} listed: {ids:?}");
    }
    let broken = listed.iter().find(|l| l.id == "3456789a").expect("listed");
    assert!(
        broken.problems.iter().any(|p| p.contains("audit log"))
            && broken.problems.iter().any(|p| p.contains("snapshot")),
        "{:?}",
        broken.problems
    );
    let ok = listed.iter().find(|l| l.id == s.id()).unwrap();
    assert!(ok.problems.is_empty(), "{:?}", ok.problems);
}

#[test]
fn a_symlinked_session_is_not_listed_twice() {
    let mut s = Session::start();
    s.kill();
    let root = SessionDir::root(s.state.path());
    std::os::unix::fs::symlink(root.join(s.id()), root.join("cafebabe")).unwrap();
    let listed = list_sessions(s.state.path()).unwrap();
    assert_eq!(
        listed.len(),
        1,
        "one session listed as {:?}",
        listed.iter().map(|l| &l.id).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------
// Sessions of the previous version.

fn old_session(state: &Path) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sessions/bb5291e6");
    let dir = SessionDir::root(state).join("bb5291e6");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["audit.jsonl", "session.json", "state.txt"] {
        std::fs::copy(fixture.join(f), dir.join(f)).unwrap();
    }
    dir
}

#[test]
fn an_old_session_lists_verifies_and_resumes() {
    let state = tempfile::tempdir().unwrap();
    let dir = old_session(state.path());
    let listed = list_sessions(state.path()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].step, listed[0].steps, listed[0].status.as_str()),
        (6, 6, "completed")
    );
    assert!(listed[0].problems.is_empty(), "{:?}", listed[0].problems);
    // Its relative path resolves from the crate root (the tests' directory).
    let (rb, resume) = Resume::load(state.path(), "bb5291e6").unwrap();
    assert_eq!(rb.id, "demo-checkout-logs");
    assert_eq!(resume.snapshot.end, Some(WalkEnd::Completed));
    assert_eq!(resume.snapshot.index, 5);
    assert!(!resume.runbook_from_copy);
    drop(resume);
    // Its snapshot lost: rebuilt from the log, completed all the same.
    std::fs::remove_file(dir.join("session.json")).unwrap();
    let (_, resume) = Resume::load(state.path(), "bb5291e6").unwrap();
    assert_eq!(resume.snapshot.end, Some(WalkEnd::Completed));
    assert_eq!(
        statuses(&resume.snapshot)
            .iter()
            .filter(|s| decided(**s))
            .count(),
        6
    );
}

// ---------------------------------------------------------------------------
// A full disk at each write.

#[test]
fn a_full_disk_at_the_snapshot_then_a_kill_loses_and_doubles_nothing() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("skipped: cannot mount a tmpfs (not root)");
        return;
    };
    let state = tempfile::Builder::new()
        .tempdir_in(disk.dir.path())
        .unwrap();
    let mut s = Session::start_in(state);
    s.preflight_ok();
    let (filler, _) = disk.fill_leaving(0);
    // The log's last page may still take a line; the snapshot's temp file
    // needs a new page and is refused.
    s.send(key('p'));
    let err = s.model.save_error.clone();
    assert!(err.is_some(), "nothing failed on a full disk");
    let dir = s.dir().dir.clone();
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));
    let snap = s.snapshot();
    verify(&s.log(), Some(&snap.audit_head)).unwrap();
    // Killed while the disk is full; then space comes back.
    s.kill();
    std::fs::remove_file(filler).unwrap();
    let in_log = decisions(&s.events());
    let (mut m, mut rec) = resumed(&s);
    rec.save(&mut m);
    assert!(m.save_error.is_none(), "{:?}", m.save_error);
    // What the log has decides; a decision never doubles.
    assert!(in_log.len() <= 1);
    assert_eq!(index(&m), in_log.len());
    assert_eq!(decisions(&s.events()), in_log);
    verify(&s.log(), Some(&s.snapshot().audit_head)).unwrap();
    assert!(temp_files(&dir).is_empty());
}

#[test]
fn a_full_disk_while_held_events_wait_then_quit_cleanly() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("skipped: cannot mount a tmpfs (not root)");
        return;
    };
    let state = tempfile::Builder::new()
        .tempdir_in(disk.dir.path())
        .unwrap();
    let mut s = Session::start_in(state);
    s.preflight_ok();
    let (filler, _) = disk.fill_leaving(0);
    for _ in 0..50 {
        s.preflight_ok();
        if !s.rec.as_ref().unwrap().unwritten().is_empty() {
            break;
        }
    }
    s.send(key('p'));
    let held = s.rec.as_ref().unwrap().unwritten();
    assert!(!held.is_empty(), "no event held on a full disk");
    // Space comes back; the next save writes everything, in order, once.
    std::fs::remove_file(filler).unwrap();
    s.send(Msg::Tick);
    assert!(s.rec.as_ref().unwrap().unwritten().is_empty());
    let events = s.events();
    assert_eq!(decisions(&events), [(1, Decision::Proceed)]);
    let storage: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::Storage { .. }))
        .collect();
    assert_eq!(storage.len(), 1, "{storage:?}");
    // Ordered: the storage event comes after the held decision.
    let pos = |f: &dyn Fn(&Event) -> bool| events.iter().position(f).unwrap();
    assert!(
        pos(&|e| matches!(e, Event::Decision(_))) < pos(&|e| matches!(e, Event::Storage { .. }))
    );
    verify(&s.log(), Some(&s.snapshot().audit_head)).unwrap();
    s.kill();
    let (_, resume) = s.resume().unwrap();
    assert_eq!(resume.snapshot.index, 1);
    assert_eq!(resume.replayed, 0, "the snapshot caught up with the log");
}

#[test]
fn a_session_whose_start_cannot_be_logged_is_not_shown_as_saved() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("skipped: cannot mount a tmpfs (not root)");
        return;
    };
    let state = tempfile::Builder::new()
        .tempdir_in(disk.dir.path())
        .unwrap();
    let runbooks = tempfile::tempdir().unwrap();
    let path = runbooks.path().join("walk-test.yaml");
    std::fs::write(&path, RUNBOOK).unwrap();
    let rb = stepguard::runbook::load_file(&path).unwrap();
    // Room for the lock's holder and the runbook's copy (a page each), not
    // for the log.
    let (filler, _) = disk.fill_leaving(2 * 4096);
    let mut m = model();
    m.now_ms = stepguard::clock::now_ms();
    m.start_walk(rb);
    let started = Recorder::start(state.path(), &mut m);
    let Ok(rec) = started else {
        // Refused: the screen says the session is not saved. Correct.
        return;
    };
    // Its id is on screen now. Killed, then the disk has room again: the
    // session the human saw must resume.
    let id = m.session_id.clone();
    drop(rec);
    std::fs::remove_file(filler).unwrap();
    assert!(
        Resume::load(state.path(), &id).is_ok(),
        "session {id} was shown but cannot be resumed: {:?}",
        Resume::load(state.path(), &id).err().map(|e| e.to_string())
    );
}
