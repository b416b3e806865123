//! Nothing lost under faults, proven on the recorder the screen uses: the
//! audit log is the truth and the snapshot a cache of it; a session is on
//! disk before its first key; one writer per session; a full disk holds
//! events instead of tearing lines; damage is named and, for a line cut off
//! mid-write, repaired on the record. (The binary under SIGKILL, SIGHUP and
//! SIGTERM is in `tests/e2e`.)

use std::path::{Path, PathBuf};

use stepguard::session::audit::{read_events, repair};
use stepguard::session::event::Decision;
use stepguard::session::{list_sessions, verify, Event, SessionDir};
use stepguard::tui::model::StepStatus;
use stepguard::tui::persist::{restore, Snapshot};
use stepguard::tui::recorder::{RecordError, Recorder, Resume};
use stepguard::tui::{update, Effect, Model, Msg};

use crate::common::*;

/// A walk recorded as the screen records it (shared with `session_attacks`).
pub(crate) struct Session {
    pub(crate) state: tempfile::TempDir,
    pub(crate) runbooks: tempfile::TempDir,
    pub(crate) model: Model,
    pub(crate) rec: Option<Recorder>,
}

impl Session {
    pub(crate) fn start() -> Session {
        let state = tempfile::tempdir().unwrap();
        Session::start_in(state)
    }

    pub(crate) fn start_in(state: tempfile::TempDir) -> Session {
        let runbooks = tempfile::tempdir().unwrap();
        let path = runbooks.path().join("walk-test.yaml");
        std::fs::write(&path, RUNBOOK).unwrap();
        let rb = stepguard::runbook::load_file(&path).unwrap();
        let mut model = model();
        model.now_ms = stepguard::clock::now_ms();
        model.start_walk(rb);
        let rec = Recorder::start(state.path(), &mut model).unwrap();
        Session {
            state,
            runbooks,
            model,
            rec: Some(rec),
        }
    }

    pub(crate) fn id(&self) -> String {
        self.model.session_id.clone()
    }

    pub(crate) fn dir(&self) -> SessionDir {
        SessionDir::open(self.state.path(), &self.id()).unwrap()
    }

    pub(crate) fn log(&self) -> PathBuf {
        self.dir().audit_path()
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        self.dir().read_snapshot().unwrap()
    }

    pub(crate) fn runbook_path(&self) -> PathBuf {
        self.runbooks.path().join("walk-test.yaml")
    }

    /// One message as the runtime handles it: update, audit effects to the
    /// log, then the save after the batch.
    pub(crate) fn send(&mut self, msg: Msg) -> Vec<Effect> {
        self.model.now_ms = stepguard::clock::now_ms();
        let effects = update(&mut self.model, msg);
        let rec = self.rec.as_mut().unwrap();
        for effect in &effects {
            if let Effect::Audit(event) = effect {
                rec.audit(&mut self.model, event);
            }
        }
        rec.save(&mut self.model);
        effects
    }

    pub(crate) fn preflight_ok(&mut self) {
        let effects = self.send(key('r'));
        let Some(Effect::RunCheck {
            run_id, command, ..
        }) = effects
            .into_iter()
            .find(|e| matches!(e, Effect::RunCheck { .. }))
        else {
            panic!("r did not start the pre-flight");
        };
        self.send(Msg::CheckDone {
            run_id,
            result: Ok(Box::new(outcome(&command, &["ok"], 0))),
        });
    }

    /// Stop writing, as a kill does (the lock goes with the process).
    pub(crate) fn kill(&mut self) {
        self.rec = None;
    }

    pub(crate) fn resume(&self) -> Result<(stepguard::runbook::Runbook, Resume), RecordError> {
        Resume::load(self.state.path(), &self.id())
    }

    pub(crate) fn events(&self) -> Vec<Event> {
        read_events(&self.dir().audit_path())
            .unwrap()
            .into_iter()
            .map(|r| r.event)
            .collect()
    }
}

pub(crate) fn decisions(events: &[Event]) -> Vec<(usize, Decision)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Decision(d) => Some((d.step_number, d.decision)),
            _ => None,
        })
        .collect()
}

/// A fresh model restored from a resume, with a recorder, as `run --resume` does.
pub(crate) fn resumed(s: &Session) -> (Model, Recorder) {
    let (rb, resume) = s.resume().unwrap();
    let mut m = model();
    m.ctx.vars = resume.snapshot.vars.clone();
    m.now_ms = stepguard::clock::now_ms();
    restore(&mut m, rb, &resume.snapshot);
    let rec = Recorder::resume(resume, &mut m).unwrap();
    (m, rec)
}

#[test]
fn a_session_is_whole_on_disk_before_its_first_key() {
    let s = Session::start();
    let dir = s.dir();
    for file in ["audit.jsonl", "session.json", "runbook.yaml", "lock"] {
        assert!(dir.dir.join(file).is_file(), "{file} missing");
    }
    let kinds: Vec<_> = s.events().iter().map(|e| e.to_parts().unwrap().0).collect();
    assert_eq!(kinds, ["session-start", "context"]);
    let Event::SessionStart(start) = &s.events()[0] else {
        unreachable!()
    };
    assert!(Path::new(&start.runbook_path).is_absolute());
    assert_eq!(start.runbook_copy, "runbook.yaml");
    let listed = list_sessions(s.state.path()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, s.id());
    assert!(listed[0].problems.is_empty(), "{:?}", listed[0].problems);
    // Killed right now: it resumes at step 1.
    let mut s = s;
    s.kill();
    let (_, resume) = s.resume().unwrap();
    assert_eq!(resume.snapshot.index, 0);
}

#[test]
fn a_decision_in_the_log_decides_its_step_whatever_the_snapshot_says() {
    let mut s = Session::start();
    s.preflight_ok();
    let before_p = std::fs::read(s.dir().snapshot_path()).unwrap();
    s.send(key('p'));
    assert_eq!(index(&s.model), 1);
    // Killed between the append and the snapshot: the log has the decision,
    // the snapshot is still on step 1.
    s.kill();
    std::fs::write(s.dir().snapshot_path(), &before_p).unwrap();
    let (_, resume) = s.resume().unwrap();
    assert_eq!(resume.snapshot.index, 1, "resumes after the decided step");
    assert!(resume.replayed >= 1);
    assert!(matches!(
        resume.snapshot.steps[0].status,
        StepStatus::Proceeded(_)
    ));
    assert!(
        resume.snapshot.preflight.is_none(),
        "step 1's verdict is gone with it"
    );
    drop(resume);
    // Going on decides step 2, never step 1 again.
    let (mut m, mut rec) = resumed(&s);
    assert_eq!(index(&m), 1);
    run_preflight(&mut m, &["ok"], 0);
    let effects = update(&mut m, key('p'));
    for e in &effects {
        if let Effect::Audit(ev) = e {
            rec.audit(&mut m, ev);
        }
    }
    // The high-risk step asks for the typed reason first: no decision yet.
    assert!(decisions(&s.events()).iter().all(|(n, _)| *n == 1));
    assert_eq!(decisions(&s.events()).len(), 1);
    verify(&s.dir().audit_path(), None).unwrap();
}

#[test]
fn a_lost_snapshot_is_rebuilt_from_the_log_and_named() {
    let mut s = Session::start();
    s.preflight_ok();
    s.send(key('p'));
    s.kill();
    std::fs::write(s.dir().snapshot_path(), "{\"summary\": {\"id\"").unwrap();
    let listed = list_sessions(s.state.path()).unwrap();
    assert_eq!(listed.len(), 1, "a damaged session is still listed");
    assert_eq!(listed[0].step, 2, "its place comes from the log");
    assert!(
        listed[0]
            .problems
            .iter()
            .any(|p| p.contains("snapshot unreadable")),
        "{:?}",
        listed[0].problems
    );
    let (_, resume) = s.resume().unwrap();
    assert_eq!(resume.snapshot.index, 1);
    assert_eq!(
        resume.snapshot.vars.get("ns").map(String::as_str),
        Some("payments")
    );
    assert!(resume
        .problems
        .iter()
        .any(|p| p.contains("rebuilt from the audit log")));
    // Deleted altogether: the same.
    drop(resume);
    std::fs::remove_file(s.dir().snapshot_path()).unwrap();
    let (_, resume) = s.resume().unwrap();
    assert_eq!(resume.snapshot.index, 1);
}

#[test]
fn a_second_writer_is_refused_and_told_who_holds_the_session() {
    let mut s = Session::start();
    let Err(RecordError::Lock(e)) = s.resume() else {
        panic!("a second writer was let in");
    };
    let text = e.to_string();
    assert!(
        text.contains(&format!("pid {}", std::process::id())) && text.contains("stepguard report"),
        "{text}"
    );
    // What the lock file says reaches the terminal in that message: a
    // planted escape sequence does not.
    std::fs::write(
        s.dir().lock_path(),
        r#"{"pid":1,"host":"evil\u001b[2J\u009b31m","since_ms":0}"#,
    )
    .unwrap();
    let Err(RecordError::Lock(e)) = s.resume() else {
        panic!("a second writer was let in");
    };
    assert!(
        !e.to_string().chars().any(|c| c.is_control()),
        "{:?}",
        e.to_string()
    );
    s.kill();
    assert!(s.resume().is_ok(), "the lock goes with its process");
}

#[test]
fn a_torn_last_line_blocks_resume_until_repaired_on_the_record() {
    let mut s = Session::start();
    s.preflight_ok();
    s.kill();
    let log = s.dir().audit_path();
    let mut bytes = std::fs::read(&log).unwrap();
    let whole = bytes.len();
    bytes.extend_from_slice(b"{\"seq\":99,\"ts_ms\":1,\"kind\":\"deci");
    std::fs::write(&log, &bytes).unwrap();
    let Err(e) = s.resume() else {
        panic!("resumed on a torn log")
    };
    assert!(e.to_string().contains("sessions repair"), "{e}");
    let listed = list_sessions(s.state.path()).unwrap();
    assert!(listed[0]
        .problems
        .iter()
        .any(|p| p.contains("sessions repair")));
    let repaired = repair(&log, 5).unwrap().expect("something to repair");
    assert_eq!(repaired.removed_bytes, (bytes.len() - whole) as u64);
    let events = s.events();
    assert!(matches!(events.last(), Some(Event::Repair { .. })));
    verify(&log, None).unwrap();
    assert!(s.resume().is_ok());
    // Any other damage is evidence: refused, and the file left as it was.
    let mut lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines[1] = lines[1].replace("payments", "paymentz");
    let tampered = lines.join("\n") + "\n";
    std::fs::write(&log, &tampered).unwrap();
    assert!(repair(&log, 6).is_err());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), tampered);
}

#[test]
fn a_changed_runbook_is_reported_and_a_deleted_one_resumes_from_the_copy() {
    let mut s = Session::start();
    s.preflight_ok();
    s.send(key('p'));
    s.kill();
    let changed = RUNBOOK.replace("delete pod x", "delete pod y");
    std::fs::write(s.runbook_path(), changed).unwrap();
    let (rb, resume) = s.resume().unwrap();
    assert_eq!(resume.runbook_changes, ["step 2 'high-step' changed"]);
    assert!(rb.steps[1].action.as_ref().unwrap().run.contains("pod y"));
    assert_eq!(resume.snapshot.index, 1);
    drop(resume);
    std::fs::remove_file(s.runbook_path()).unwrap();
    let (rb, resume) = s.resume().unwrap();
    assert!(resume.runbook_from_copy);
    assert_eq!(rb.id, "walk-test");
    assert!(rb.steps[1].action.as_ref().unwrap().run.contains("pod x"));
    // A missing pasted state is named, not silent.
    drop(resume);
    let mut snap: Snapshot = s.dir().read_snapshot().unwrap();
    snap.has_state = true;
    s.dir().write_snapshot(&snap).unwrap();
    let (_, resume) = s.resume().unwrap();
    assert!(resume.problems.iter().any(|p| p.contains("state.txt")));
}

#[test]
fn a_verdict_from_the_future_is_stale_and_latency_counts_from_the_first_showing() {
    let mut s = Session::start();
    s.preflight_ok();
    let shown = s.model.walk.as_ref().unwrap().shown_at_ms;
    s.kill();
    // The clock went back an hour across the resume.
    let mut snap: Snapshot = s.dir().read_snapshot().unwrap();
    assert_eq!(snap.shown_at_ms, shown);
    snap.preflight.as_mut().unwrap().at_ms += 3_600_000;
    s.dir().write_snapshot(&snap).unwrap();
    let (m, _rec) = resumed(&s);
    let walk = m.walk.as_ref().unwrap();
    assert_eq!(
        walk.shown_at_ms, shown,
        "latency is measured from the first showing"
    );
    let decision = stepguard::tui::step::decision(&m, walk);
    assert!(
        decision
            .wait
            .as_deref()
            .is_some_and(|w| w.contains("clock went back")),
        "{decision:?}"
    );
}

/// A tmpfs of 512 KiB (root only; CI runs as root).
pub(crate) struct SmallDisk {
    pub(crate) dir: tempfile::TempDir,
}

impl SmallDisk {
    pub(crate) fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { dir })
    }

    pub(crate) fn fill(&self) -> PathBuf {
        self.fill_leaving(0).0
    }

    /// Fill it, leaving `spare` bytes free (in whole pages).
    pub(crate) fn fill_leaving(&self, spare: usize) -> (PathBuf, PathBuf) {
        let keep = self.dir.path().join("spare");
        if spare > 0 {
            std::fs::write(&keep, vec![b's'; spare]).unwrap();
        }
        let filler = self.dir.path().join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![b'x'; 4096];
        while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
        while std::io::Write::write_all(&mut f, b"x").is_ok() {}
        if spare > 0 {
            std::fs::remove_file(&keep).unwrap();
        }
        (filler, keep)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_holds_events_and_loses_none_when_space_returns() {
    let Some(disk) = SmallDisk::mount() else {
        // Mounting needs root; CI runs as root, where this test does run.
        eprintln!("skipped: cannot mount a tmpfs (not root)");
        return;
    };
    let state = tempfile::Builder::new()
        .tempdir_in(disk.dir.path())
        .unwrap();
    let mut s = Session::start_in(state);
    s.preflight_ok();
    let filler = disk.fill();
    // Runs of the pre-flight until the log's last page is full too and an
    // append fails, then the decision.
    for _ in 0..50 {
        s.preflight_ok();
        if s.model
            .save_error
            .as_deref()
            .is_some_and(|e| e.contains("audit log cannot be written"))
        {
            break;
        }
    }
    s.send(key('p'));
    assert!(
        s.model
            .save_error
            .as_deref()
            .is_some_and(|e| e.contains("audit log cannot be written") && e.contains("held")),
        "no banner while the disk is full: {:?}",
        s.model.save_error
    );
    // Not a half line anywhere, and the snapshot is not ahead of the log.
    verify(&s.dir().audit_path(), None).unwrap();
    let snap: Snapshot = s.dir().read_snapshot().unwrap();
    assert_eq!(snap.index, 0, "the snapshot went ahead of the log");
    std::fs::remove_file(filler).unwrap();
    s.send(Msg::Tick);
    assert!(
        s.model.save_error.is_none(),
        "the banner stayed after space returned"
    );
    let events = s.events();
    assert_eq!(decisions(&events), [(1, Decision::Proceed)]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Storage { held, .. } if *held >= 1)),
        "the late writes are not on the record"
    );
    let snap: Snapshot = s.dir().read_snapshot().unwrap();
    verify(&s.dir().audit_path(), Some(&snap.audit_head)).unwrap();
    assert_eq!(snap.index, 1);
    s.kill();
}
