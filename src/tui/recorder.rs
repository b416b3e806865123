//! The session on disk while the screen runs: every audit effect appended
//! to the hash-chained log, and the snapshot (and the pasted state) saved
//! whenever they change.

use std::path::Path;

use super::model::Model;
use super::msg::Effect;
use super::persist::{sha256_file, snapshot, Snapshot};
use crate::session::event::SessionStart;
use crate::session::VerifyError;
use crate::session::{now_ms, AuditLog, AuditSink, Event, SessionDir};

/// Why a session cannot be recorded: its directory, or its log.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Log(#[from] VerifyError),
}

/// A saved session to continue.
pub struct Resume {
    pub session: SessionDir,
    pub snapshot: Snapshot,
}

pub struct Recorder {
    session: SessionDir,
    log: Box<dyn AuditSink>,
    created_ms: u64,
    runbook_sha256: String,
    last_snapshot: String,
    state_version_saved: Option<u64>,
    failed: bool,
}

impl Recorder {
    /// A new session for the walk that just opened.
    pub fn start(state_dir: &Path, model: &mut Model) -> Result<Recorder, RecordError> {
        let session = SessionDir::create(state_dir)?;
        let log = AuditLog::open(&session.audit_path())?;
        let walk = model.walk.as_ref().expect("a walk is open");
        let runbook_sha256 = sha256_file(&walk.runbook.path);
        let start = Event::SessionStart(SessionStart {
            session: session.id.clone(),
            runbook: walk.runbook.id.clone(),
            runbook_path: walk.runbook.path.to_string_lossy().into_owned(),
            runbook_sha256: runbook_sha256.clone(),
            steps: walk.runbook.steps.len(),
            drafter: model.drafter.clone(),
        });
        let mut rec = Recorder {
            session,
            log: Box::new(log),
            created_ms: now_ms(),
            runbook_sha256,
            last_snapshot: String::new(),
            state_version_saved: None,
            failed: false,
        };
        model.session_id = rec.session.id.clone();
        rec.audit(model, &start);
        if let Effect::Audit(context) = super::update::context_event(model) {
            rec.audit(model, &context);
        }
        Ok(rec)
    }

    /// Continue a saved session; a log that fails verification is refused.
    pub fn resume(resume: &Resume, model: &mut Model) -> Result<Recorder, RecordError> {
        crate::session::verify(
            &resume.session.audit_path(),
            Some(&resume.snapshot.audit_head),
        )?;
        let log = AuditLog::open(&resume.session.audit_path())?;
        let mut rec = Recorder {
            session: resume.session.clone(),
            log: Box::new(log),
            created_ms: resume.snapshot.summary.created_ms,
            runbook_sha256: resume.snapshot.runbook_sha256.clone(),
            last_snapshot: String::new(),
            state_version_saved: Some(model.state_version),
            failed: false,
        };
        model.session_id = rec.session.id.clone();
        let changed = sha256_file(&resume.snapshot.runbook_path) != rec.runbook_sha256;
        if changed {
            model.banner = Some(
                "the runbook file changed since this session started: read each card again".into(),
            );
        }
        let resumed = Event::Resume {
            session: rec.session.id.clone(),
            step: resume.snapshot.index + 1,
            runbook_changed: changed,
        };
        rec.audit(model, &resumed);
        Ok(rec)
    }

    pub fn audit(&mut self, model: &mut Model, event: &Event) {
        if let Err(e) = self.log.append(now_ms(), event) {
            self.fail(model, format!("the audit log cannot be written ({e})"));
        }
    }

    /// Save the snapshot, and the state when it changed, if anything moved.
    pub fn save(&mut self, model: &mut Model) {
        if self.state_version_saved != Some(model.state_version) {
            if let Some(state) = model.ctx.state.clone() {
                // A shared handle: the paste itself is not copied.
                if let Err(e) = self.session.write_state(state.text()) {
                    return self.fail(model, format!("the session cannot be saved ({e})"));
                }
            }
            self.state_version_saved = Some(model.state_version);
        }
        let Some(snap) = snapshot(
            model,
            &self.session.id,
            self.created_ms,
            &self.runbook_sha256,
            self.log.head(),
        ) else {
            return;
        };
        // updated_ms moves every time; compare without it.
        let mut key = snap.clone();
        key.summary.updated_ms = 0;
        let key = serde_json::to_string(&key).unwrap_or_default();
        if key == self.last_snapshot {
            return;
        }
        match self.session.write_snapshot(&snap) {
            Ok(()) => self.last_snapshot = key,
            Err(e) => self.fail(model, format!("the session cannot be saved ({e})")),
        }
    }

    fn fail(&mut self, model: &mut Model, why: String) {
        if !self.failed {
            self.failed = true;
            model.banner = Some(format!("{why}: decisions are NOT being recorded"));
        }
    }
}
