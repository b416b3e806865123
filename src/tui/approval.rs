//! A critical step's second person, with a team database: `p` reaches
//! [`Gate::TeamApproval`], Enter files a request (effect), and the step
//! moves on only when the database says another engineer approved exactly
//! what was filed. The request is bound to the action and pre-flight
//! digests: an edit, a new state or a re-run voids it ([`still_asked`],
//! checked after every message).

use super::model::*;
use super::msg::Effect;
use crate::digest::sha256_hex;
use crate::policy::Gate;
use crate::session::event::ApprovalRecord;
use crate::session::Event;
use crate::team::approval::{Filed, Request, State, Status};

/// The action as it will be copied, as a digest.
pub fn action_digest(walk: &Walk) -> String {
    sha256_hex(walk.action().unwrap_or("").as_bytes())
}

/// The pre-flight as judged (command, verdict, reason, when): a re-run is
/// another pre-flight. Empty when none ran.
pub fn preflight_digest(walk: &Walk) -> String {
    match walk.current_preflight() {
        None => String::new(),
        Some(j) => {
            let judged = serde_json::json!([
                j.command,
                j.judgement.verdict.to_string(),
                j.judgement.reason,
                j.at_ms
            ]);
            sha256_hex(judged.to_string().as_bytes())
        }
    }
}

/// Everything the approver needs, from what the screen shows now.
fn request(model: &Model, walk: &Walk) -> Request {
    let card = &walk.card;
    let judged = walk.current_preflight();
    let tail: Vec<&str> = walk
        .output
        .lines
        .iter()
        .rev()
        .take(12)
        .map(|(_, t)| t.as_str())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let alert = model
        .ctx
        .alert
        .as_ref()
        .map(|a| {
            a.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let redact = |s: &str| crate::redact::redact(s).text.into_owned();
    Request {
        runbook: walk.runbook.id.clone(),
        step: card.step_id.clone(),
        step_number: walk.index + 1,
        steps: walk.runbook.steps.len(),
        title: card.title.clone(),
        target: walk.target_name(),
        risk: card.risk.to_string(),
        action: walk.action().unwrap_or("").to_string(),
        action_sha256: action_digest(walk),
        blast_radius: card
            .action
            .as_ref()
            .map(|a| a.blast_radius.clone())
            .unwrap_or_default(),
        rollback: card.rollback.command().unwrap_or("").to_string(),
        preflight: judged.map(|j| j.command.clone()).unwrap_or_default(),
        verdict: judged
            .map(|j| redact(&format!("{}: {}", j.judgement.verdict, j.judgement.reason)))
            .unwrap_or_else(|| "no pre-flight ran".into()),
        output_tail: redact(&tail.join("\n")),
        preflight_sha256: preflight_digest(walk),
        alert: redact(&alert),
        // A verdict's reason can quote the output: redacted like it.
        why: super::step::decision(model, walk)
            .why
            .iter()
            .map(|w| redact(w))
            .collect(),
        session: model.session_id.clone(),
    }
}

/// Enter at the team's gate: file the request (once).
pub fn file(model: &mut Model) -> Vec<Effect> {
    let Some(walk) = model.walk.as_ref() else {
        return Vec::new();
    };
    if let Some(a) = &walk.approval {
        model.status = Some(match &a.id {
            Some(id) => format!("waiting for approval {id}: Esc withdraws it"),
            None => "asking the team database…".into(),
        });
        return Vec::new();
    }
    let request = request(model, walk);
    model.approval_attempts += 1;
    let attempt = model.approval_attempts;
    let Some(walk) = model.walk.as_mut() else {
        return Vec::new();
    };
    walk.approval = Some(Approval {
        attempt,
        step: walk.index,
        id: None,
        action_sha256: request.action_sha256.clone(),
        preflight_sha256: request.preflight_sha256.clone(),
        deadline_ms: None,
        requested_by: String::new(),
        required: 1,
        approvers: Vec::new(),
        trouble: None,
    });
    model.status = Some("asking the team database…".into());
    vec![Effect::FileApproval {
        attempt,
        request: Box::new(request),
    }]
}

fn record(
    a: &Approval,
    id: &str,
    step: &str,
    state: &str,
    by: Vec<String>,
    reason: String,
) -> Effect {
    Effect::Audit(Event::Approval(ApprovalRecord {
        id: id.to_string(),
        step: step.to_string(),
        state: state.to_string(),
        requested_by: a.requested_by.clone(),
        by,
        reason,
        action_sha256: a.action_sha256.clone(),
        preflight_sha256: a.preflight_sha256.clone(),
    }))
}

/// The database took the request (or refused it).
pub fn filed(model: &mut Model, attempt: u64, result: Result<Filed, String>) -> Vec<Effect> {
    let now = model.now_ms;
    let Some(walk) = model.walk.as_mut() else {
        return match result {
            Ok(f) => vec![void(f.id, "the walk is closed")],
            Err(_) => Vec::new(),
        };
    };
    let step_id = walk.card.step_id.clone();
    let ours = walk
        .approval
        .as_mut()
        .filter(|a| a.attempt == attempt && a.id.is_none());
    match (ours, result) {
        (Some(a), Ok(f)) => {
            a.id = Some(f.id.clone());
            a.deadline_ms = Some(now + f.expires_in_ms.max(0) as u64);
            a.requested_by = f.requested_by.clone();
            a.required = f.approvals_required;
            let a = a.clone();
            model.status = Some(match &f.webhook_error {
                None => format!(
                    "approval {} filed: another engineer runs `stepguard approve {}`",
                    f.id, f.id
                ),
                Some(e) => format!(
                    "approval {} filed, but the team was not told ({e}): ask for `stepguard approve {}`",
                    f.id, f.id
                ),
            });
            vec![
                record(&a, &f.id, &step_id, "filed", Vec::new(), String::new()),
                Effect::WatchApproval { id: f.id },
            ]
        }
        (Some(_), Err(e)) => {
            walk.approval = None;
            if let Phase::Gating { error, .. } = &mut walk.phase {
                *error = Some(format!(
                    "the team database did not take the request ({e}): Enter tries again, Esc cancels"
                ));
            }
            Vec::new()
        }
        // Filed for a step, an action or a pre-flight no longer asked.
        (None, Ok(f)) => vec![void(f.id, "filed for what is no longer asked")],
        (None, Err(_)) => Vec::new(),
    }
}

fn void(id: String, reason: &str) -> Effect {
    Effect::VoidApproval {
        id,
        reason: reason.to_string(),
    }
}

/// A new status of the request being waited for.
pub fn state(model: &mut Model, id: &str, result: Result<Status, String>) -> Vec<Effect> {
    let now = model.now_ms;
    let Some(walk) = model.walk.as_mut() else {
        return Vec::new();
    };
    let step_id = walk.card.step_id.clone();
    let (digests_now, a) = (
        (action_digest(walk), preflight_digest(walk)),
        match walk.approval.as_mut() {
            Some(a) if a.id.as_deref() == Some(id) => a,
            _ => return Vec::new(),
        },
    );
    let s = match result {
        Ok(s) => s,
        Err(e) => {
            a.trouble = Some(e);
            return Vec::new();
        }
    };
    a.trouble = None;
    a.approvers = s.approvers().into_iter().map(String::from).collect();
    a.required = s.approvals_required;
    a.deadline_ms = Some(now + s.expires_in_ms.max(0) as u64);
    let a = a.clone();
    match s.effective() {
        State::Pending => Vec::new(),
        State::Approved => {
            // Bound twice: the database's digests are the ones filed, and
            // the screen's are still those (else `still_asked` voided it).
            let bound = s.action_sha256 == a.action_sha256
                && s.preflight_sha256 == a.preflight_sha256
                && digests_now == (a.action_sha256.clone(), a.preflight_sha256.clone());
            // And the database's word is checked against its own record:
            // enough distinct approvers, none of them the one who asked.
            let mut approvers = s.approvers();
            approvers.sort_unstable();
            approvers.dedup();
            let four_eyes = s.requested_by == a.requested_by
                && !approvers.contains(&a.requested_by.as_str())
                && approvers.len() >= s.approvals_required.max(1) as usize;
            let bound = bound && four_eyes;
            walk.approval = None;
            if !bound {
                walk.phase = Phase::Reading;
                model.status = Some(format!(
                    "approval {id} does not hold (other digests, or not another engineer's): p asks again"
                ));
                return vec![record(
                    &a,
                    id,
                    &step_id,
                    "voided",
                    Vec::new(),
                    "approved for other digests, or not by others".into(),
                )];
            }
            let by = a.approvers.clone();
            let mut effects = vec![record(
                &a,
                id,
                &step_id,
                "approved",
                by.clone(),
                String::new(),
            )];
            // As at any gate, the policy is asked again: a verdict that
            // went stale while the team decided sends the step back to
            // reading (run the pre-flight again; p files a new request).
            if let Some(why) = super::step::changed_since_asked(model) {
                if let Some(walk) = model.walk.as_mut() {
                    walk.phase = Phase::Reading;
                }
                model.status = Some(format!("approval {id} came, but {why}"));
                return effects;
            }
            let Some(walk) = model.walk.as_mut() else {
                return effects;
            };
            if let Phase::Gating { gates, answers, .. } = &mut walk.phase {
                if gates.first() == Some(&Gate::TeamApproval) {
                    gates.remove(0);
                    answers.push(format!(
                        "approved in the team database by {} ({id})",
                        by.join(", ")
                    ));
                }
            }
            effects.extend(super::step::after_gate(model));
            effects
        }
        State::Rejected => {
            let (by, reason) = s
                .rejection()
                .map(|r| (r.by.clone(), r.reason.clone()))
                .unwrap_or_default();
            walk.approval = None;
            model.rejections.insert(
                0,
                crate::session::Rejection {
                    session: format!("approval {id}"),
                    runbook_id: walk.runbook.id.clone(),
                    step_id: step_id.clone(),
                    decision: format!("rejected by {by}"),
                    reason: reason.clone(),
                    at_ms: now,
                },
            );
            let mut effects = vec![record(
                &a,
                id,
                &step_id,
                "rejected",
                vec![by.clone()],
                reason.clone(),
            )];
            effects.extend(super::step::finish_step(
                model,
                StepStatus::Halted,
                format!("rejected by {by} in the team database ({id}): {reason}"),
            ));
            effects
        }
        gone @ (State::Expired | State::Voided) => {
            walk.approval = None;
            walk.phase = Phase::Reading;
            let word = gone.as_str();
            model.status = Some(format!("approval {id} {word} undecided: p asks again"));
            vec![record(&a, id, &step_id, word, Vec::new(), String::new())]
        }
    }
}

/// Each second: a request past its time is expired here too (the database
/// refuses a late approval by itself).
pub fn tick(model: &mut Model) -> Vec<Effect> {
    let now = model.now_ms;
    let Some(walk) = model.walk.as_mut() else {
        return Vec::new();
    };
    let Some(a) = walk.approval.clone() else {
        return Vec::new();
    };
    let (Some(id), Some(deadline)) = (a.id.clone(), a.deadline_ms) else {
        return Vec::new();
    };
    if now < deadline {
        return Vec::new();
    }
    let step_id = walk.card.step_id.clone();
    walk.approval = None;
    walk.phase = Phase::Reading;
    model.status = Some(format!("approval {id} expired undecided: p asks again"));
    vec![record(
        &a,
        &id,
        &step_id,
        "expired",
        Vec::new(),
        String::new(),
    )]
}

/// After every message: a request is withdrawn as soon as it no longer
/// asks about what is on screen (the gate left, another step, an edited
/// action, a new pre-flight). A request still being filed is voided when
/// its id comes back ([`filed`]).
pub fn still_asked(model: &mut Model) -> Vec<Effect> {
    if model
        .walk
        .as_ref()
        .and_then(|w| w.approval.as_ref())
        .is_none()
    {
        return Vec::new();
    }
    // A verdict gone stale, or a card asking other gates: not what was filed.
    let policy_moved = super::step::changed_since_asked(model);
    let Some(walk) = model.walk.as_mut() else {
        return Vec::new();
    };
    let Some(a) = walk.approval.as_ref() else {
        return Vec::new();
    };
    let at_gate = matches!(&walk.phase,
        Phase::Gating { gates, .. } if gates.first() == Some(&Gate::TeamApproval));
    let why = if !at_gate || a.step != walk.index {
        "the step's p was cancelled or left".to_string()
    } else if action_digest(walk) != a.action_sha256 {
        "the action changed".to_string()
    } else if preflight_digest(walk) != a.preflight_sha256 {
        "the pre-flight changed (run again, or a new state)".to_string()
    } else if let Some(why) = policy_moved {
        why
    } else {
        return Vec::new();
    };
    let a = walk.approval.take().expect("checked above");
    let step_id = walk.card.step_id.clone();
    if at_gate {
        walk.phase = Phase::Reading;
    }
    let Some(id) = a.id.clone() else {
        return Vec::new();
    };
    model.status = Some(format!("approval {id} withdrawn: {why}"));
    vec![
        record(&a, &id, &step_id, "voided", Vec::new(), why.clone()),
        void(id, &why),
    ]
}

/// What the gate's prompt says while a request waits.
pub fn waiting_line(model: &Model, a: &Approval) -> String {
    let Some(id) = &a.id else {
        return "asking the team database…".into();
    };
    let left = a
        .deadline_ms
        .map(|d| d.saturating_sub(model.now_ms) / 1000)
        .unwrap_or(0);
    let mut line = format!(
        "waiting for approval {id} · {}:{:02} left · approved by {} of {}",
        left / 60,
        left % 60,
        a.approvers.len(),
        a.required
    );
    if let Some(t) = &a.trouble {
        line.push_str(&format!(
            " · team database unreachable ({t}), still waiting"
        ));
    }
    line.push_str(" · Esc withdraws it");
    line
}
