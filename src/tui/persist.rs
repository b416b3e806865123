//! The durable part of the model: written after every change so that `q`,
//! a crash or `kill -9` resumes exactly where the human was, down to a
//! half-typed reason.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::model::{
    Judged, Model, Overlay, Phase, Prompt, PromptKind, StepRecord, StepStatus, WalkEnd,
};
use crate::draft::Alert;
use crate::exec::Stream;
use crate::runbook::Runbook;
use crate::session::{Head, SessionSummary};

/// Output lines kept in the snapshot (the pane keeps more while running).
const SAVED_OUTPUT_LINES: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub summary: SessionSummary,
    pub runbook_path: PathBuf,
    pub runbook_sha256: String,
    pub vars: BTreeMap<String, String>,
    pub alert: Option<Alert>,
    /// The pasted state lives in `state.txt` beside the snapshot.
    pub has_state: bool,
    pub index: usize,
    pub steps: Vec<StepRecord>,
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
        },
        runbook_path: walk.runbook.path.clone(),
        runbook_sha256: runbook_sha256.to_string(),
        vars: model.ctx.vars.clone(),
        alert: model.ctx.alert.clone(),
        has_state: model.ctx.state.is_some(),
        index: walk.index,
        steps: walk.steps.clone(),
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
    })
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
