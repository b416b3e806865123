//! The session on disk while the screen runs. The audit log is the truth:
//! every event is appended (and synced) before the snapshot that reflects
//! it is written or the screen shows it. When the disk refuses a write the
//! events are held in memory, in order, the snapshot is not written ahead
//! of the log, and everything is appended as soon as writing works again.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use super::model::{Model, StepRecord, StepStatus};
use super::persist::{from_log, replay, sha256_file, snapshot, Snapshot};
use crate::runbook::{self, LoadError, Runbook};
use crate::session::audit::read_events;
use crate::session::event::SessionStart;
use crate::session::store::{LockError, SessionLock};
use crate::session::VerifyError;
use crate::session::{now_ms, AuditLog, AuditSink, Event, SessionDir};

/// Why a session cannot be recorded or resumed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Log(#[from] VerifyError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("session {id}: its runbook cannot be loaded: {error}")]
    Runbook { id: String, error: LoadError },
    #[error("session {id}: {why}")]
    Unusable { id: String, why: String },
}

/// A saved session to continue, checked and brought up to its log.
pub struct Resume {
    pub session: SessionDir,
    pub lock: SessionLock,
    /// The snapshot with the log's later events replayed (or rebuilt from
    /// the log when it was unreadable).
    pub snapshot: Snapshot,
    pub replayed: u64,
    /// What changed in the runbook file since the session started.
    pub runbook_changes: Vec<String>,
    /// The file is gone (or no longer loads): the walk uses the copy.
    pub runbook_from_copy: bool,
    /// What is damaged and was worked around (shown as a banner).
    pub problems: Vec<String>,
}

impl Resume {
    /// Open session `id` for writing: take its lock, verify its log, bring
    /// its snapshot up to the log, and find its runbook (the file, else the
    /// session's copy). Works from any working directory.
    pub fn load(state_dir: &Path, id: &str) -> Result<(Runbook, Resume), RecordError> {
        let session = SessionDir::open(state_dir, id)?;
        let lock = session.lock()?;
        session.remove_stale_temp_files();
        let mut problems = Vec::new();
        let saved: Result<Snapshot, String> = session.read_snapshot().map_err(|e| e.to_string());
        let head = crate::session::verify(
            &session.audit_path(),
            saved.as_ref().ok().map(|s| &s.audit_head),
        )
        .map_err(|e| {
            if e.torn {
                RecordError::Unusable {
                    id: id.to_string(),
                    why: format!("{e}: run `stepguard sessions repair {id}`, then resume"),
                }
            } else {
                e.into()
            }
        })?;
        let events = read_events(&session.audit_path())?;
        let start = events.iter().find_map(|r| match &r.event {
            Event::SessionStart(s) => Some(s.clone()),
            _ => None,
        });
        let Some(start) = start else {
            return Err(RecordError::Unusable {
                id: id.to_string(),
                why: "its audit log has no session-start: nothing to resume".into(),
            });
        };
        // The log names the runbook and its digest, not the snapshot (which
        // is not part of the chain).
        let found = find_runbook(&session, &start)?;
        let walked: Vec<String> = found.runbook.steps.iter().map(|s| s.id.clone()).collect();
        // The layout a snapshot of an older version was written in: the
        // runbook as the session started.
        let started: Vec<String> = found.saved.as_ref().map_or_else(
            || walked.clone(),
            |r| r.steps.iter().map(|s| s.id.clone()).collect(),
        );
        // The snapshot is a cache, not part of the chain: where it disagrees
        // with the log up to the line it covers, it is rebuilt from the log.
        let saved = saved.and_then(|mut snap| {
            if snap.step_ids.is_empty() {
                snap.step_ids = started.clone();
            }
            if agrees_with_log(&snap, &events) {
                Ok(snap)
            } else {
                Err("it disagrees with the audit log".to_string())
            }
        });
        let (mut snapshot, replayed) = match saved {
            Ok(mut snap) => {
                let n = replay(&mut snap, &events);
                (snap, n)
            }
            Err(why) => {
                problems.push(format!(
                    "the snapshot was unreadable ({why}): rebuilt from the audit log (output and typed text are gone)"
                ));
                (from_log(id, &events, &walked), head.seq)
            }
        };
        snapshot.audit_head = head;
        snapshot.runbook_path = PathBuf::from(&start.runbook_path);
        snapshot.runbook_sha256 = start.runbook_sha256.clone();
        // Each step's record goes where its id is in the runbook walked now.
        remap_steps(&mut snapshot, &walked);
        if snapshot.has_state && !session.state_path().is_file() {
            problems.push(
                "this session's pasted state (state.txt) is missing: paste it again with i".into(),
            );
        }
        Ok((
            found.runbook,
            Resume {
                session,
                lock,
                snapshot,
                replayed,
                runbook_changes: found.changes,
                runbook_from_copy: found.from_copy,
                problems,
            },
        ))
    }
}

/// The snapshot's decided steps, current step and end are the log's up to
/// the line it covers (replayed in the snapshot's own step layout).
fn agrees_with_log(snap: &Snapshot, events: &[crate::session::Recorded]) -> bool {
    let covered: Vec<_> = events
        .iter()
        .filter(|r| r.seq <= snap.audit_head.seq)
        .cloned()
        .collect();
    let log = from_log(&snap.summary.id, &covered, &snap.step_ids);
    let statuses = |s: &Snapshot| s.steps.iter().map(|r| r.status).collect::<Vec<_>>();
    let end = |s: &Snapshot| s.end.as_ref().map(std::mem::discriminant);
    statuses(snap) == statuses(&log) && snap.index == log.index && end(snap) == end(&log)
}

struct Found {
    runbook: Runbook,
    /// The runbook as the session started (its copy), when there is one.
    saved: Option<Runbook>,
    changes: Vec<String>,
    from_copy: bool,
}

/// The session's runbook: the file at its absolute path; its copy when the
/// file is gone or no longer loads. A file changed since is used, and what
/// changed is said.
fn find_runbook(session: &SessionDir, start: &SessionStart) -> Result<Found, RecordError> {
    let path = PathBuf::from(&start.runbook_path);
    let copy_path = if start.runbook_copy.is_empty() {
        session.runbook_copy_path(&path)
    } else {
        session.dir.join(&start.runbook_copy)
    };
    // Parsed as if it were the original file: same id, same kind. A copy
    // that is not the text the log recorded is not the runbook as it was.
    let copy = std::fs::read_to_string(&copy_path).ok();
    let tampered = copy
        .as_ref()
        .is_some_and(|text| crate::digest::sha256_hex(text.as_bytes()) != start.runbook_sha256);
    let saved = copy
        .filter(|_| !tampered)
        .and_then(|text| runbook::load_text(&text, &path).ok());
    let unusable = |error| RecordError::Runbook {
        id: session.id.clone(),
        error,
    };
    match runbook::load_file(&path) {
        Ok(current) => {
            if sha256_file(&path) == start.runbook_sha256 {
                return Ok(Found {
                    runbook: current,
                    saved,
                    changes: Vec::new(),
                    from_copy: false,
                });
            }
            let changes = match &saved {
                Some(old) => runbook_changes(old, &current),
                None => vec!["the file differs from when the session started".into()],
            };
            let changes = if changes.is_empty() {
                vec!["the file changed (formatting only: no step differs)".into()]
            } else {
                changes
            };
            Ok(Found {
                runbook: current,
                saved,
                changes,
                from_copy: false,
            })
        }
        Err(error) => match saved {
            Some(copy) => Ok(Found {
                runbook: copy.clone(),
                saved: Some(copy),
                changes: match error {
                    LoadError::Io { .. } => Vec::new(),
                    e => vec![format!(
                        "the file no longer loads ({}): the walk goes on from the session's copy",
                        e.problems().join("; ")
                    )],
                },
                from_copy: true,
            }),
            None if tampered => Err(RecordError::Unusable {
                id: session.id.clone(),
                why: format!(
                    "its runbook cannot be loaded ({error}) and the session's copy {} differs from the runbook the audit log recorded",
                    copy_path.display()
                ),
            }),
            None => Err(unusable(error)),
        },
    }
}

/// What differs between the runbook as the session started and now, step
/// by step (by id, as a teammate's edit would move them).
pub fn runbook_changes(old: &Runbook, new: &Runbook) -> Vec<String> {
    let mut changes = Vec::new();
    let strip = |r: &Runbook| {
        let mut r = r.clone();
        r.steps.clear();
        r.path = PathBuf::new();
        r
    };
    if strip(old) != strip(new) {
        changes.push("its header changed (title, alerts, variables or assumptions)".into());
    }
    let before: BTreeMap<&str, (usize, &runbook::Step)> = old
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), (i, s)))
        .collect();
    for (j, step) in new.steps.iter().enumerate() {
        match before.get(step.id.as_str()) {
            None => changes.push(format!("step {} '{}' was added", j + 1, step.id)),
            Some((_, was)) if *was != step => {
                changes.push(format!("step {} '{}' changed", j + 1, step.id))
            }
            Some((i, _)) if *i != j => changes.push(format!(
                "step '{}' moved from {} to {}",
                step.id,
                i + 1,
                j + 1
            )),
            Some(_) => {}
        }
    }
    for step in &old.steps {
        if !new.steps.iter().any(|s| s.id == step.id) {
            changes.push(format!("step '{}' was removed", step.id));
        }
    }
    changes
}

/// Carry each step's record over to where its id is in `walked`; the
/// current step stays the one the human was on (or, if it was removed, the
/// first step not yet decided). A no-op when the layout is the same.
fn remap_steps(snap: &mut Snapshot, walked: &[String]) {
    if snap.step_ids == walked {
        return;
    }
    let current = snap.step_ids.get(snap.index).cloned();
    let mut steps = vec![StepRecord::pending(); walked.len()];
    for (id, record) in snap.step_ids.iter().zip(&snap.steps) {
        if let Some(j) = walked.iter().position(|w| w == id) {
            steps[j] = record.clone();
        }
    }
    let index = current
        .and_then(|id| walked.iter().position(|w| *w == id))
        .or_else(|| steps.iter().position(|s| s.status == StepStatus::Pending))
        .unwrap_or(walked.len().saturating_sub(1));
    let moved = walked.get(index) != snap.step_ids.get(snap.index);
    if moved {
        // Another step: what was on screen belongs to the old one.
        snap.preflight = None;
        snap.verify = None;
        snap.output.clear();
        snap.edited_action = None;
        snap.gates.clear();
        snap.answers.clear();
        snap.prompt = None;
    }
    snap.index = index;
    snap.steps = steps;
    snap.step_ids = walked.to_vec();
}

pub struct Recorder {
    session: SessionDir,
    _lock: SessionLock,
    log: Box<dyn AuditSink + Send>,
    /// Ships the log to the team database, when there is one.
    shipper: Option<crate::team::ship::Shipper>,
    created_ms: u64,
    runbook_sha256: String,
    last_snapshot: String,
    state_version_saved: Option<u64>,
    /// Events not yet in the log (the disk refused them), oldest first.
    held: VecDeque<(u64, Event)>,
    /// Most events held at once since writing failed, and why it failed.
    failure: Option<(usize, String)>,
}

impl Recorder {
    /// A new session for the walk that just opened: its directory, lock,
    /// runbook copy, state, first events and snapshot are all on disk when
    /// this returns (before the screen shows its id).
    pub fn start(state_dir: &Path, model: &mut Model) -> Result<Recorder, RecordError> {
        let session = SessionDir::create(state_dir)?;
        let lock = session.lock()?;
        let session_log = session.audit_path();
        let walk = model.walk.as_ref().expect("a walk is open");
        let path =
            std::fs::canonicalize(&walk.runbook.path).unwrap_or_else(|_| walk.runbook.path.clone());
        let text = std::fs::read(&path)?;
        let runbook_sha256 = crate::digest::sha256_hex(&text);
        let copy = session.runbook_copy_path(&path);
        crate::session::store::write_replace(&copy, &text)?;
        crate::session::store::sync_in_background(vec![copy.clone()]);
        let start = Event::SessionStart(SessionStart {
            session: session.id.clone(),
            runbook: walk.runbook.id.clone(),
            runbook_path: path.to_string_lossy().into_owned(),
            runbook_sha256: runbook_sha256.clone(),
            steps: walk.runbook.steps.len(),
            drafter: model.drafter.clone(),
            runbook_copy: copy
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        });
        if let Some(walk) = model.walk.as_mut() {
            // Resumes find it from any directory.
            walk.runbook.path = path;
        }
        let mut rec = Recorder {
            session,
            _lock: lock,
            log: Box::new(AuditLog::open(&session_log)?),
            shipper: None,
            created_ms: model.now_ms,
            runbook_sha256,
            last_snapshot: String::new(),
            state_version_saved: None,
            held: VecDeque::new(),
            failure: None,
        };
        model.session_id = rec.session.id.clone();
        // Start and context in one write and one sync.
        rec.held.push_back((now_ms(), start));
        if let super::msg::Effect::Audit(context) = super::update::context_event(model) {
            rec.held.push_back((now_ms(), context));
        }
        rec.save(model);
        if rec.log.head().seq == 0 {
            // Not even its start is in the log: no session to resume, so
            // none is shown (the screen says it is not saved).
            let why = model.save_error.take().unwrap_or_default();
            model.session_id.clear();
            let dir = rec.session.dir.clone();
            drop(rec);
            let _ = std::fs::remove_dir_all(dir);
            return Err(RecordError::Io(std::io::Error::other(why)));
        }
        Ok(rec)
    }

    /// Continue a saved session (see [`Resume::load`]).
    pub fn resume(resume: Resume, model: &mut Model) -> Result<Recorder, RecordError> {
        let log = AuditLog::open(&resume.session.audit_path())?;
        let mut rec = Recorder {
            session: resume.session,
            _lock: resume.lock,
            log: Box::new(log),
            shipper: None,
            created_ms: resume.snapshot.summary.created_ms,
            runbook_sha256: resume.snapshot.runbook_sha256.clone(),
            last_snapshot: String::new(),
            state_version_saved: Some(model.state_version),
            held: VecDeque::new(),
            failure: None,
        };
        model.session_id = rec.session.id.clone();
        let mut banner = resume.problems.clone();
        let changed = !resume.runbook_changes.is_empty();
        if resume.runbook_from_copy {
            banner.push("the runbook file is gone: resumed from the session's copy".into());
        }
        if changed {
            banner.push(format!(
                "the runbook changed since this session started ({}): read each card again",
                resume.runbook_changes.join("; ")
            ));
        }
        if !banner.is_empty() {
            let old = model.banner.take();
            banner.extend(old);
            model.banner = Some(banner.join(" · "));
        }
        let resumed = Event::Resume {
            session: rec.session.id.clone(),
            step: resume.snapshot.index + 1,
            runbook_changed: changed,
            runbook_changes: resume.runbook_changes.clone(),
            runbook_from_copy: resume.runbook_from_copy,
            replayed: resume.replayed,
        };
        rec.audit(model, &resumed);
        rec.save(model);
        Ok(rec)
    }

    /// Record an event: appended and synced now, or held (in order) until
    /// the disk takes it.
    pub fn audit(&mut self, model: &mut Model, event: &Event) {
        let mut event = event.clone();
        // A copy names the step on screen: effects come back before any
        // queued key, so it is the step the copy was asked on.
        if let Some(step) = model
            .walk
            .as_ref()
            .and_then(|w| w.runbook.steps.get(w.index))
        {
            event.name_step(&step.id);
        }
        self.held.push_back((now_ms(), event));
        self.flush(model);
    }

    /// Append every held event, in one write and one sync; false while the
    /// log refuses them.
    fn flush(&mut self, model: &mut Model) -> bool {
        if !self.held.is_empty() {
            if let Err(e) = self.log.append_all(self.held.make_contiguous()) {
                let held = self.held.len();
                let peak = self.failure.as_ref().map_or(0, |f| f.0).max(held);
                self.failure = Some((peak, e.to_string()));
                model.save_error = Some(format!(
                    "the audit log cannot be written ({e}): {} held in memory, written as soon as the disk takes them",
                    crate::words::count(held as u64, "event", "events")
                ));
                return false;
            }
            self.held.clear();
        }
        if let Some((held, error)) = self.failure.take() {
            // Say in the log itself that its last lines were written late.
            let event = Event::Storage { held, error };
            if let Err(e) = self.log.append(now_ms(), &event) {
                self.failure = Some((held, e.to_string()));
                return false;
            }
        }
        true
    }

    /// Save the snapshot, and the state when it changed, if anything moved.
    /// Never ahead of the log: while events are held, nothing is saved.
    pub fn save(&mut self, model: &mut Model) {
        if !self.flush(model) {
            return;
        }
        if self.state_version_saved != Some(model.state_version) {
            if let Some(state) = model.ctx.state.clone() {
                // A shared handle: the paste itself is not copied.
                if let Err(e) = self.session.write_state(state.text()) {
                    model.save_error = Some(format!("the pasted state cannot be saved ({e})"));
                    return;
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
        if key != self.last_snapshot {
            if let Err(e) = self.session.write_snapshot(&snap) {
                model.save_error = Some(format!(
                    "the session snapshot cannot be saved ({e}); the audit log still records every decision"
                ));
                return;
            }
            self.last_snapshot = key;
        }
        model.save_error = None;
    }

    /// Ship this session's log to the team database too: a second sink
    /// behind the file, fed from the file (the local queue), so a database
    /// that is down gets every line on reconnect, in order.
    pub fn ship_to(self, team: crate::team::Settings) -> Recorder {
        let shipper = crate::team::ship::Shipper::spawn(
            team,
            self.session.id.clone(),
            self.session.audit_path(),
        );
        Recorder {
            log: Box::new(crate::team::ship::Teed {
                file: self.log,
                shipper: shipper.clone(),
            }),
            shipper: Some(shipper),
            ..self
        }
    }

    /// Quitting: give the shipper a moment to send the last lines.
    pub async fn flush_team(&self, limit: std::time::Duration) -> Option<bool> {
        let shipper = self.shipper.as_ref()?;
        Some(shipper.flush(self.log.head().seq, limit).await)
    }

    /// Where shipping stands (None: no team database): the last line the
    /// database has (None: not known yet), the log's last, the error.
    pub fn team_progress(&self) -> Option<(Option<u64>, u64, Option<String>)> {
        let p = self.shipper.as_ref()?.progress();
        Some((p.shipped, self.log.head().seq, p.error))
    }

    /// Events the disk never took (given back at exit, so none is lost silently).
    pub fn unwritten(&self) -> Vec<(u64, Event)> {
        self.held.iter().cloned().collect()
    }

    pub fn session(&self) -> &SessionDir {
        &self.session
    }
}
