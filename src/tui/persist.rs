//! The durable part of the model: written after every change so that `q`,
//! a crash or `kill -9` resumes exactly where the human was, down to a
//! half-typed reason.
//!
//! The snapshot is a cache of the audit log, which is the truth: it records
//! the last event it covers, and a resume replays the events after it
//! ([`replay`]); a session whose snapshot is lost is rebuilt from its log
//! ([`from_log`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::model::{
    Judged, Model, Overlay, Phase, Prompt, PromptKind, StepRecord, StepStatus, WalkEnd,
};
use crate::draft::Alert;
use crate::exec::Stream;
use crate::runbook::Runbook;
use crate::session::event::Decision;
use crate::session::{Event, Head, Recorded, SessionSummary};

/// Output lines kept in the snapshot (the pane keeps more while running).
const SAVED_OUTPUT_LINES: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub summary: SessionSummary,
    pub runbook_path: PathBuf,
    pub runbook_sha256: String,
    pub vars: BTreeMap<String, String>,
    /// Values pre-flights found (`sets:`), with where they were printed.
    #[serde(default)]
    pub found: BTreeMap<String, crate::draft::FoundValue>,
    pub alert: Option<Alert>,
    /// The pasted state lives in `state.txt` beside the snapshot.
    pub has_state: bool,
    pub index: usize,
    pub steps: Vec<StepRecord>,
    /// The id of each step in `steps` (the runbook's layout when saved):
    /// records and the log's decisions are matched by id, so a runbook
    /// edited between resumes keeps each decision on its step.
    #[serde(default)]
    pub step_ids: Vec<String>,
    pub preflight: Option<Judged>,
    pub verify: Option<Judged>,
    pub output_title: String,
    pub output: Vec<(Stream, String)>,
    pub edited_action: Option<String>,
    pub gates: Vec<super::model::Gate>,
    pub answers: Vec<String>,
    /// A prompt open at the time, with what was typed so far.
    pub prompt: Option<Prompt>,
    pub end: Option<WalkEnd>,
    pub audit_head: Head,
    /// When the current step's card was first shown (decision latency is
    /// measured from it, across resumes).
    #[serde(default)]
    pub shown_at_ms: u64,
}

pub fn sha256_file(path: &std::path::Path) -> String {
    std::fs::read(path)
        .map(|b| crate::digest::sha256_hex(&b))
        .unwrap_or_default()
}

/// The snapshot of a walk (None before a runbook is open).
pub fn snapshot(
    model: &Model,
    session_id: &str,
    created_ms: u64,
    runbook_sha256: &str,
    audit_head: &Head,
) -> Option<Snapshot> {
    let walk = model.walk.as_ref()?;
    let status = match walk.end() {
        Some(WalkEnd::Completed) => "completed",
        Some(WalkEnd::Halted { .. }) => "halted",
        None => "open",
    };
    let skip = walk.output.lines.len().saturating_sub(SAVED_OUTPUT_LINES);
    Some(Snapshot {
        summary: SessionSummary {
            id: session_id.to_string(),
            runbook_id: walk.runbook.id.clone(),
            step: walk.index + 1,
            steps: walk.runbook.steps.len(),
            status: status.into(),
            created_ms,
            updated_ms: model.now_ms,
            problems: Vec::new(),
        },
        runbook_path: walk.runbook.path.clone(),
        runbook_sha256: runbook_sha256.to_string(),
        vars: model.ctx.vars.clone(),
        found: model.ctx.found.clone(),
        alert: model.ctx.alert.clone(),
        has_state: model.ctx.state.is_some(),
        index: walk.index,
        steps: walk.steps.clone(),
        step_ids: walk.runbook.steps.iter().map(|s| s.id.clone()).collect(),
        preflight: walk.preflight.clone(),
        verify: walk.verify.clone(),
        output_title: walk.output.title.clone(),
        output: walk.output.lines.iter().skip(skip).cloned().collect(),
        edited_action: walk.edited_action.clone(),
        gates: match &walk.phase {
            Phase::Gating { gates, .. } => gates.clone(),
            _ => Vec::new(),
        },
        answers: match &walk.phase {
            Phase::Gating { answers, .. } => answers.clone(),
            _ => Vec::new(),
        },
        prompt: model.prompt(),
        end: walk.end().cloned(),
        audit_head: audit_head.clone(),
        shown_at_ms: walk.shown_at_ms,
    })
}

/// A session's snapshot rebuilt from its log alone (its `session.json` is
/// lost or unreadable): the context the log recorded, every decision
/// replayed. What only the screen held (output, a half-typed reason) is gone.
pub fn from_log(id: &str, events: &[Recorded], step_ids: &[String]) -> Snapshot {
    let summary = crate::session::store::summary_from_log(id, events);
    let start = events.iter().find_map(|r| match &r.event {
        Event::SessionStart(s) => Some(s.clone()),
        _ => None,
    });
    let start = start.unwrap_or_default();
    let mut snap = Snapshot {
        summary,
        runbook_path: PathBuf::from(&start.runbook_path),
        runbook_sha256: start.runbook_sha256,
        vars: BTreeMap::new(),
        found: BTreeMap::new(),
        alert: None,
        has_state: false,
        index: 0,
        steps: vec![StepRecord::pending(); step_ids.len()],
        step_ids: step_ids.to_vec(),
        preflight: None,
        verify: None,
        output_title: String::new(),
        output: Vec::new(),
        edited_action: None,
        gates: Vec::new(),
        answers: Vec::new(),
        prompt: None,
        end: None,
        audit_head: Head::default(),
        shown_at_ms: events.first().map_or(0, |r| r.ts_ms),
    };
    replay(&mut snap, events);
    snap
}

/// Bring a snapshot up to its log: apply the events after the last one it
/// covers. A decision in the log decides its step, whatever the snapshot
/// said (a kill between the append and the save). Returns how many events
/// were after the snapshot.
pub fn replay(snap: &mut Snapshot, events: &[Recorded]) -> u64 {
    let after = snap.audit_head.seq;
    let mut replayed = 0;
    for r in events.iter().filter(|r| r.seq > after) {
        replayed += 1;
        match &r.event {
            Event::Context(context) => {
                snap.vars = context.vars.clone();
                if let Some(labels) = &context.alert {
                    let keep = snap.alert.as_ref().filter(|a| &a.labels == labels).cloned();
                    snap.alert = Some(keep.unwrap_or_else(|| Alert {
                        labels: labels.clone(),
                        annotations: BTreeMap::new(),
                        firing: true,
                    }));
                }
                snap.has_state = context.state_bytes > 0;
            }
            // Recorded before the Context event that carries it: a log cut
            // between the two still holds the value the operator set.
            Event::Value {
                name,
                found: Some(found),
                ..
            } if !name.is_empty() => {
                snap.found.insert(name.clone(), found.clone());
            }
            Event::Value {
                name, voided: true, ..
            } => {
                snap.found.remove(name);
            }
            Event::Value { name, value, .. } if !name.is_empty() => {
                snap.vars.insert(name.clone(), value.clone());
            }
            // A halt ends the walk: nothing after it decides a step.
            Event::Decision(_) if matches!(snap.end, Some(WalkEnd::Halted { .. })) => {}
            Event::Decision(d) => {
                // By the step's id when both sides know ids (a runbook
                // edited mid-session renumbers steps); by number otherwise.
                let by_id = !d.step.is_empty() && !snap.step_ids.is_empty();
                let at = if by_id {
                    snap.step_ids.iter().position(|id| *id == d.step)
                } else {
                    d.step_number.checked_sub(1)
                };
                let Some(i) = at.filter(|i| *i < snap.steps.len()) else {
                    continue;
                };
                let record = &mut snap.steps[i];
                record.status = match d.decision {
                    Decision::Proceed => StepStatus::Proceeded(d.verdict),
                    Decision::Skip => StepStatus::Skipped,
                    Decision::Halt => StepStatus::Halted,
                    Decision::Undecided => continue,
                };
                record.note = d.note.clone();
                if i < snap.index {
                    continue;
                }
                // The step is over: what was on screen for it is too.
                snap.preflight = None;
                snap.verify = None;
                snap.output_title = String::new();
                snap.output.clear();
                snap.edited_action = None;
                snap.gates.clear();
                snap.answers.clear();
                snap.prompt = None;
                if d.decision == Decision::Halt {
                    snap.index = i;
                    snap.end = Some(WalkEnd::Halted {
                        reason: d.note.clone(),
                    });
                } else if i + 1 >= snap.steps.len() {
                    snap.index = i;
                    snap.end = Some(WalkEnd::Completed);
                } else {
                    snap.index = i + 1;
                    snap.shown_at_ms = r.ts_ms;
                }
            }
            _ => {}
        }
    }
    snap.summary.step = snap.index + 1;
    snap.summary.status = match &snap.end {
        Some(WalkEnd::Completed) => "completed",
        Some(WalkEnd::Halted { .. }) => "halted",
        None => "open",
    }
    .into();
    if let Some(last) = events.last() {
        snap.summary.updated_ms = snap.summary.updated_ms.max(last.ts_ms);
    }
    replayed
}

/// Put a saved walk back into a fresh model (whose ctx already holds the
/// saved vars, alert and state).
pub fn restore(model: &mut Model, runbook: Runbook, snap: &Snapshot) {
    model.start_walk(runbook);
    let Some(walk) = model.walk.as_mut() else {
        return;
    };
    let index = snap.index.min(walk.runbook.steps.len().saturating_sub(1));
    walk.index = index;
    walk.card = crate::draft::compose(&walk.runbook, index, &model.ctx, None);
    for (slot, saved) in walk.steps.iter_mut().zip(&snap.steps) {
        *slot = saved.clone();
    }
    walk.preflight = snap.preflight.clone();
    walk.verify = snap.verify.clone();
    walk.output.title = snap.output_title.clone();
    walk.output.lines = snap.output.iter().cloned().collect();
    walk.edited_action = snap.edited_action.clone();
    if snap.shown_at_ms > 0 {
        walk.shown_at_ms = snap.shown_at_ms;
    }
    // The phase as it was saved: decided, answering `p`'s gates (with what
    // was typed at the current one), or reading (a check that was running
    // must run again). Saved gates are only taken back if the policy asks
    // exactly them now (the snapshot is not part of the audit chain, and
    // the verdict may have gone stale meanwhile).
    walk.phase = match &snap.end {
        Some(end) => Phase::Decided(end.clone()),
        None => Phase::Reading,
    };
    if let (
        None,
        Some(Prompt {
            kind: PromptKind::Gate(_),
            input,
            error,
            ..
        }),
    ) = (&snap.end, &snap.prompt)
    {
        let walk = model.walk.as_ref().expect("opened above");
        let now = super::step::decision(model, walk);
        let answered = snap.answers.len();
        let same = now.wait.is_none()
            && !snap.gates.is_empty()
            && now.gates.len() == answered + snap.gates.len()
            && now.gates[answered..] == snap.gates[..];
        if same {
            let walk = model.walk.as_mut().expect("opened above");
            walk.phase = Phase::Gating {
                asked: now.gates,
                gates: snap.gates.clone(),
                answers: snap.answers.clone(),
                input: input.clone(),
                error: error.clone(),
            };
        }
    }
    match &snap.prompt {
        Some(Prompt {
            kind: PromptKind::Gate(_),
            ..
        })
        | None => {}
        Some(p) => model.overlay = Overlay::Prompt(p.clone()),
    }
    let walk = model.walk.as_ref().expect("opened above");
    let done = walk
        .steps
        .iter()
        .filter(|s| s.status != StepStatus::Pending)
        .count();
    model.status = Some(format!(
        "resumed at step {}/{} ({done} decided); a pre-flight that was running must run again (r)",
        index + 1,
        walk.runbook.steps.len()
    ));
}
