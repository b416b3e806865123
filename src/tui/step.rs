//! One step's life, every transition of [`Phase`] in one place:
//!
//! ```text
//! Reading ──r/v──▶ Checking ──done/cancel──▶ Reading
//! Reading ──p──▶ Gating (gates left) ──Enter on the last──▶ next step
//!                     └──Esc──▶ Reading
//! Reading ──p (no gate) / s / h──▶ next step, or Decided (halt, last step)
//! ```
//!
//! The step closes only by a decision the human typed or pressed: `p`
//! (through the gates the policy asks), `s` or `h` (each with a reason).
//! What `p` will do is [`decision`], computed from the same input the
//! screen shows, so the line under the output never promises what `p`
//! then refuses.

use super::model::*;
use super::msg::{CheckKind, Effect};
use crate::digest::sha256_hex;
use crate::draft::compose;
use crate::exec::{judge, Predicates, Verdict};
use crate::policy::{Outcome, PolicyInput};
use crate::sanitize::sanitize_line;
use crate::session::event::{CheckRun, Decided, Decision, PreflightSeen};
use crate::session::Event;

/// How well the open runbook matches the alert being answered (SPEC §7: a
/// match below the threshold escalates). None without an alert.
pub fn match_confidence(
    has_alert: bool,
    ranking: &[(usize, f64)],
    catalog: &[crate::runbook::Runbook],
    id: &str,
) -> Option<f64> {
    if !has_alert {
        return None;
    }
    let index = catalog.iter().position(|r| r.id == id)?;
    Some(
        ranking
            .iter()
            .find(|(i, _)| *i == index)
            .map_or(0.0, |(_, c)| *c),
    )
}

/// The policy's view of the current step, now.
pub fn policy_input(model: &Model, walk: &Walk) -> PolicyInput {
    let judged = walk.current_preflight();
    let verify = walk.verify.as_ref();
    PolicyInput {
        risk: walk.risk(),
        verdict: judged.map(|j| j.judgement.verdict),
        verdict_reason: judged
            .map(|j| j.judgement.reason.clone())
            .unwrap_or_default(),
        verdict_at_ms: judged.map(|j| j.at_ms),
        now_ms: model.now_ms,
        verify: verify.map(|j| j.judgement.verdict),
        verify_reason: verify
            .map(|j| j.judgement.reason.clone())
            .unwrap_or_default(),
        has_preflight: walk.card.preflight.is_some(),
        unverified: walk.card.unverified.clone(),
        stale: walk.card.stale.clone(),
        suspicious: !walk.card.suspicious.is_empty(),
        target: walk.target_name(),
        operator: model.operator.clone(),
        match_confidence: match_confidence(
            model.ctx.alert.is_some(),
            &model.ranking,
            &model.catalog,
            &walk.runbook.id,
        ),
        team: model.team,
    }
}

/// What `p` does now: wait (and why), advance, or ask these gates. A
/// pre-flight that cannot run yet says what it lacks, so the wait names the
/// key that helps (a value to set, not just "run it first").
pub fn decision(model: &Model, walk: &Walk) -> Outcome {
    let mut outcome = crate::policy::decide(&model.policy, &policy_input(model, walk));
    let lacking = walk.missing_for(false);
    if !lacking.is_empty() && outcome.wait.is_none() {
        outcome.wait = Some(format!(
            "the action lacks {}: = sets a value, then p",
            lacking.join(", ")
        ));
    }
    if let (Some(pre), None) = (&walk.card.preflight, walk.current_preflight()) {
        if !pre.missing.is_empty() {
            outcome.wait = Some(format!(
                "missing {}: = sets a value (or i pastes state), then r runs the pre-flight",
                pre.missing.join(", ")
            ));
        } else if !pre.guard.allowed {
            outcome.wait = Some(format!(
                "the guard refuses the pre-flight ({}): s skips or h halts, with a reason",
                pre.guard.reason
            ));
        }
    }
    outcome
}

/// `r` / `v`: run the card's read-only check.
pub fn start_check(model: &mut Model, kind: CheckKind) -> Vec<Effect> {
    let Some(walk) = model.walk.as_mut() else {
        return Vec::new();
    };
    if !matches!(walk.phase, Phase::Reading) {
        return Vec::new();
    }
    let card_check = match kind {
        CheckKind::Preflight => walk.card.preflight.as_ref(),
        CheckKind::Verify => walk.card.verify.as_ref(),
    };
    let Some(card_check) = card_check else {
        model.status = Some(format!("this step has no {kind}"));
        return Vec::new();
    };
    if !card_check.missing.is_empty() {
        model.status = Some(format!(
            "cannot run the {kind}: missing {} (= sets a value, i pastes state)",
            card_check.missing.join(", ")
        ));
        return Vec::new();
    }
    // Asked again now: a standing rule the card was built with may have
    // expired since (the runner asks once more, on disk, before running).
    let guard = model.ctx.guard(&card_check.command);
    if !card_check.guard.allowed || !guard.allowed {
        let reason = if card_check.guard.allowed {
            guard.reason
        } else {
            card_check.guard.reason.clone()
        };
        model.status = Some(format!("the guard refuses the {kind}: {reason}"));
        return Vec::new();
    }
    let run_id = model.next_run_id;
    model.next_run_id += 1;
    walk.phase = Phase::Checking {
        run_id,
        kind,
        proceed_if: card_check.proceed_if.clone(),
        stop_if: card_check.stop_if.clone(),
    };
    walk.output = OutputPane {
        title: format!("{kind}: {}", card_check.command),
        ..OutputPane::default()
    };
    match kind {
        CheckKind::Preflight => walk.preflight = None,
        CheckKind::Verify => walk.verify = None,
    }
    walk.focus = Focus::Output;
    model.status = Some(format!("running the {kind}… (Esc cancels)"));
    vec![
        Effect::RunCheck {
            run_id,
            kind,
            command: card_check.command.clone(),
            timeout_ms: card_check.timeout_ms,
            proceed_if: card_check.proceed_if.clone(),
            stop_if: card_check.stop_if.clone(),
        },
        Effect::Audit(Event::RunStart {
            kind,
            command: card_check.command.clone(),
        }),
    ]
}

/// The running check finished (or failed to run): judge it, back to reading.
pub fn check_done(
    model: &mut Model,
    run_id: u64,
    result: Result<Box<crate::exec::RunOutcome>, String>,
) -> Vec<Effect> {
    let now_ms = model.now_ms;
    let Some(walk) = model.walk.as_mut() else {
        return Vec::new();
    };
    // Only the result of the run in progress counts: a late one (of a
    // cancelled run) changes nothing, whatever the phase.
    if walk.running().map(|(id, _)| id) != Some(run_id) {
        return Vec::new();
    }
    let Phase::Checking {
        kind,
        proceed_if,
        stop_if,
        ..
    } = std::mem::replace(&mut walk.phase, Phase::Reading)
    else {
        return Vec::new();
    };
    let mut output_digest = String::new();
    let mut dropped = 0;
    let mut rule_uses = Vec::new();
    let mut output_tail = String::new();
    let mut sandbox = None;
    // A pre-flight that finds a variable (`sets:`): the variable, and the
    // value it printed or why none was taken.
    let sets = match kind {
        CheckKind::Preflight => walk
            .runbook
            .steps
            .get(walk.index)
            .and_then(|s| s.preflight.as_ref())
            .and_then(|c| c.sets.clone()),
        CheckKind::Verify => None,
    };
    let mut found: Option<Result<crate::draft::FoundValue, String>> = None;
    let judged = match result {
        Ok(outcome) => {
            let judgement = match Predicates::new(proceed_if.as_deref(), stop_if.as_deref()) {
                Ok(predicates) => judge(&outcome, &predicates),
                // Never a PASS on a rule that could not be checked.
                Err(e) => crate::exec::Judgement {
                    verdict: Verdict::Stop,
                    reason: format!("a rule does not compile: {e}"),
                },
            };
            let text: String = outcome
                .output
                .lines
                .iter()
                .map(|(_, l)| format!("{l}\n"))
                .collect();
            output_digest = sha256_hex(text.as_bytes());
            dropped = outcome.output.dropped_lines;
            rule_uses = outcome.rule_uses.clone();
            sandbox = Some(outcome.sandbox.clone());
            // The end of the output for the postmortem, secrets removed.
            let skip = outcome.output.lines.len().saturating_sub(20);
            let tail: String = outcome
                .output
                .lines
                .iter()
                .skip(skip)
                .map(|(_, l)| format!("{l}\n"))
                .collect();
            output_tail = crate::redact::redact(&tail).text.into_owned();
            if let Some(name) = &sets {
                found = Some(found_value(walk, name, &outcome, judgement.verdict));
            }
            Judged {
                command: outcome.command.clone(),
                judgement,
                exit_code: outcome.exit_code,
                duration_ms: outcome.duration.as_millis() as u64,
                suspicious: crate::injection::suspicious_lines(&text, 5),
                at_ms: now_ms,
            }
        }
        Err(reason) => Judged {
            command: String::new(),
            judgement: crate::exec::Judgement {
                verdict: Verdict::Stop,
                reason: sanitize_line(&reason, 300).into_owned(),
            },
            exit_code: None,
            duration_ms: 0,
            suspicious: Vec::new(),
            at_ms: now_ms,
        },
    };
    let event = Effect::Audit(Event::Run(CheckRun {
        kind,
        step: walk.card.step_id.clone(),
        command: judged.command.clone(),
        exit_code: judged.exit_code,
        verdict: judged.judgement.verdict,
        reason: judged.judgement.reason.clone(),
        duration_ms: judged.duration_ms,
        output_sha256: output_digest,
        dropped_lines: dropped,
        suspicious_lines: judged.suspicious.len(),
        standing_rules_used: rule_uses,
        output_tail,
        sandbox: Some(sandbox),
    }));
    let status = format!(
        "{kind}: {} — {}",
        judged.judgement.verdict, judged.judgement.reason
    );
    let step_id = walk.card.step_id.clone();
    match kind {
        CheckKind::Preflight => walk.preflight = Some(judged),
        CheckKind::Verify => walk.verify = Some(judged),
    }
    let mut effects = vec![event];
    if let Some(name) = sets {
        effects.extend(take_found(model, step_id, name, found, status));
    } else {
        model.status = Some(status);
    }
    effects
}

/// What a `sets:` pre-flight found becomes the variable's found value; a
/// run that found none voids the one found before (it no longer stands).
/// Both are recorded. When that changes a command of the card on screen,
/// it is handled like `=`: drafts, an edited action and the verdict were
/// for what was there before.
fn take_found(
    model: &mut Model,
    step: String,
    name: String,
    found: Option<Result<crate::draft::FoundValue, String>>,
    status: String,
) -> Vec<Effect> {
    let previous = model.ctx.found.get(&name).map(|f| f.value.clone());
    let (note, event) = match found {
        Some(Ok(value)) => {
            model.ctx.found.insert(name.clone(), value.clone());
            let mut note = format!(
                "{name} = {} found (output line {})",
                sanitize_line(&value.value, 60),
                value.line
            );
            // A value the engineer gave still wins: say which one runs.
            let runs = model.walk.as_ref().and_then(|w| {
                crate::draft::values::resolve(&w.runbook, &model.ctx)
                    .remove(&name)
                    .and_then(|v| v.value)
            });
            if let Some(runs) = runs.filter(|r| *r != value.value) {
                note.push_str(&format!(
                    ", but your value {} wins",
                    sanitize_line(&runs, 60)
                ));
            }
            let event = Event::Value {
                step,
                name,
                value: value.value.clone(),
                previous,
                found: Some(value),
                voided: false,
            };
            (note, Some(event))
        }
        failed => {
            let why = match failed {
                Some(Err(why)) => why,
                _ => "the run failed".into(),
            };
            let note = format!("{name} not found: {why} (= sets it)");
            match model.ctx.found.remove(&name) {
                Some(_) => (
                    format!("{note}; the value found before no longer counts"),
                    Some(Event::Value {
                        step,
                        name,
                        value: String::new(),
                        previous,
                        found: None,
                        voided: true,
                    }),
                ),
                None => (note, None),
            }
        }
    };
    let mut effects: Vec<Effect> = event.map(Effect::Audit).into_iter().collect();
    let mut note = note;
    if let Some(walk) = model.walk.as_mut() {
        let card = compose(&walk.runbook, walk.index, &model.ctx, None);
        let commands = |c: &crate::draft::Card| {
            (
                c.action.as_ref().map(|a| a.command.clone()),
                c.verify.as_ref().map(|v| v.command.clone()),
                c.rollback.command().map(str::to_string),
            )
        };
        if commands(&card) != commands(&walk.card) {
            walk.generation += 1;
            walk.drafts.clear();
            let dropped = walk.replace_card(card);
            // Both verdicts were for the commands before, as with `=`.
            walk.preflight = None;
            walk.verify = None;
            note.push_str(&format!(
                "; the step's commands changed with it: r runs the pre-flight again{}",
                if dropped {
                    ", and the edited action was for the old value and is dropped"
                } else {
                    ""
                }
            ));
            effects.extend(super::update::request_drafts(model, None, false));
        } else {
            recompose(model);
        }
    }
    // First: it is what the next steps run with.
    model.status = Some(format!("{note} · {status}"));
    effects
}

/// The value a `sets:` pre-flight printed for `name`: only from a run that
/// exited 0, was not judged STOP and kept its whole output, and only one
/// value printed on standard output ([`crate::draft::values::found_in_output`]).
fn found_value(
    walk: &Walk,
    name: &str,
    outcome: &crate::exec::RunOutcome,
    verdict: Verdict,
) -> Result<crate::draft::FoundValue, String> {
    if outcome.exit_code != Some(0) || verdict == Verdict::Stop {
        return Err("the read did not succeed".into());
    }
    if outcome.output.dropped_lines > 0 || outcome.output.dropped_bytes > 0 {
        return Err("its output was longer than what is kept".into());
    }
    let var = walk
        .runbook
        .variables
        .get(name)
        .ok_or("not a variable of this runbook")?;
    let stdout = outcome
        .output
        .lines
        .iter()
        .enumerate()
        .filter(|(_, (stream, _))| *stream == crate::exec::Stream::Stdout)
        .map(|(i, (_, l))| (i + 1, l.as_str()));
    let (value, line) = crate::draft::values::found_in_output(var, stdout)?;
    // A credential is not a value to carry into commands and the record:
    // by its shape, or by the variable's name (`password`, `token`).
    let pair = format!("{name}={value}");
    if crate::redact::redact(&value).text != value || crate::redact::redact(&pair).text != pair {
        return Err("it looks like a secret; not taken".into());
    }
    let excerpt = outcome.output.lines[line - 1].1.clone();
    Ok(crate::draft::FoundValue {
        value,
        step: walk.card.step_id.clone(),
        line,
        excerpt,
    })
}

/// `p`: the policy's decision, then its gates one by one; the step closes
/// when none is left.
pub fn proceed(model: &mut Model) -> Vec<Effect> {
    let Some(walk) = model.walk.as_ref() else {
        return Vec::new();
    };
    if !matches!(walk.phase, Phase::Reading) {
        return Vec::new();
    }
    let outcome = decision(model, walk);
    if let Some(wait) = outcome.wait {
        model.status = Some(wait);
        return Vec::new();
    }
    let Some(walk) = model.walk.as_mut() else {
        return Vec::new();
    };
    walk.phase = Phase::Gating {
        asked: outcome.gates.clone(),
        gates: outcome.gates,
        answers: Vec::new(),
        input: String::new(),
        error: None,
    };
    next_gate_or_advance(model)
}

/// The gates left after one passed: the next is asked, or the step closes.
pub fn after_gate(model: &mut Model) -> Vec<Effect> {
    next_gate_or_advance(model)
}

fn next_gate_or_advance(model: &mut Model) -> Vec<Effect> {
    let Some(walk) = model.walk.as_mut() else {
        return Vec::new();
    };
    let Phase::Gating { gates, answers, .. } = &walk.phase else {
        return Vec::new();
    };
    if !gates.is_empty() {
        return Vec::new();
    }
    let note = answers.join("; ");
    let verdict = walk.current_preflight().map(|j| j.judgement.verdict);
    finish_step(model, StepStatus::Proceeded(verdict), note)
}

/// Text typed at the gate `p` asks now (a paste only where it may count).
pub fn gate_input(model: &mut Model, text: &str, pasted: bool) {
    let Some(Phase::Gating {
        gates,
        input,
        error,
        ..
    }) = model.walk.as_mut().map(|w| &mut w.phase)
    else {
        return;
    };
    if pasted && !gates.first().is_some_and(|g| g.accepts_paste()) {
        *error = Some("type it: a paste does not confirm".into());
        return;
    }
    for c in text.chars() {
        if input.chars().count() < 500 {
            input.push(c);
        }
    }
    *error = None;
}

pub fn gate_backspace(model: &mut Model) {
    if let Some(Phase::Gating { input, .. }) = model.walk.as_mut().map(|w| &mut w.phase) {
        input.pop();
    }
}

/// Enter at a gate: pass it (and advance when it was the last) or say why
/// not. The policy is asked again first: a verdict that went stale while
/// the gates were answered, or a card that changed, sends the step back to
/// reading (`p` again), never through on gates decided for something else.
/// Why the gates being asked are no longer what `p` would ask now (a
/// verdict gone stale, a card that changed); None while they still are.
pub fn changed_since_asked(model: &Model) -> Option<String> {
    let walk = model.walk.as_ref()?;
    let Phase::Gating { asked, .. } = &walk.phase else {
        return None;
    };
    let now = decision(model, walk);
    match now.wait {
        Some(wait) => Some(wait),
        None if &now.gates != asked => {
            Some("what p asks changed since it was pressed: read the card, then p".into())
        }
        None => None,
    }
}

pub fn gate_enter(model: &mut Model) -> Vec<Effect> {
    let Some(walk) = model.walk.as_ref() else {
        return Vec::new();
    };
    if !matches!(walk.phase, Phase::Gating { .. }) {
        return Vec::new();
    }
    if let Some(why) = changed_since_asked(model) {
        if let Some(walk) = model.walk.as_mut() {
            walk.phase = Phase::Reading;
        }
        model.status = Some(why);
        return Vec::new();
    }
    let Some(Phase::Gating {
        gates,
        answers,
        input,
        error,
        ..
    }) = model.walk.as_mut().map(|w| &mut w.phase)
    else {
        return Vec::new();
    };
    let Some(gate) = gates.first().cloned() else {
        return Vec::new();
    };
    if gate == crate::policy::Gate::TeamApproval {
        // Another engineer decides, from their own terminal.
        return super::approval::file(model);
    }
    let typed = input.trim().to_string();
    if let Err(e) = gate.check(&typed) {
        *error = Some(e);
        return Vec::new();
    }
    gates.remove(0);
    answers.push(match gate {
        // No team database: a name typed at this keyboard, and said so.
        crate::policy::Gate::SecondPerson { .. } => {
            format!("second person (self-attested, typed here): {typed}")
        }
        crate::policy::Gate::TypeProceed | crate::policy::Gate::TypeTarget { .. } => {
            format!("confirmed '{typed}'")
        }
        _ => typed,
    });
    input.clear();
    *error = None;
    next_gate_or_advance(model)
}

/// Esc at a gate: the whole `p` is cancelled, the step is read again.
pub fn cancel_gates(model: &mut Model) {
    if let Some(walk) = model.walk.as_mut() {
        if matches!(walk.phase, Phase::Gating { .. }) {
            walk.phase = Phase::Reading;
        }
    }
    model.status = Some("cancelled: nothing changed".into());
}

/// Build the current card again from the context and its ready draft. If
/// `p`'s gates are being asked and the card changed (a late draft's stale
/// flag, a rule used up), the gates were for another card: back to reading,
/// so the human sees the new card and presses `p` again.
pub fn recompose(model: &mut Model) {
    let Some(walk) = model.walk.as_mut() else {
        return;
    };
    if matches!(walk.phase, Phase::Decided(_)) {
        return;
    }
    let ready = walk.drafts.get(&walk.index).and_then(DraftSlot::ready);
    let card = compose(&walk.runbook, walk.index, &model.ctx, ready);
    if matches!(walk.phase, Phase::Gating { .. })
        && serde_json::to_value(&card).ok() != serde_json::to_value(&walk.card).ok()
    {
        walk.phase = Phase::Reading;
        model.status = Some("the card changed while p was asked: read it again, then p".into());
    }
    if walk.replace_card(card) {
        model.status = Some(EDIT_DROPPED.into());
    }
}

/// Said when a new card drops an edit made for the old action.
pub const EDIT_DROPPED: &str =
    "the action changed: your edit was for the old one and is dropped (e edits again)";

/// Close the current step and open the next (or decide the walk's end).
pub fn finish_step(model: &mut Model, status: StepStatus, note: String) -> Vec<Effect> {
    let Some(walk) = model.walk.as_mut() else {
        return Vec::new();
    };
    let record = &mut walk.steps[walk.index];
    record.status = status;
    record.note = note.clone();
    let (decision, verdict) = match status {
        StepStatus::Proceeded(v) => (Decision::Proceed, v),
        StepStatus::Skipped => (Decision::Skip, None),
        StepStatus::Halted => (Decision::Halt, None),
        StepStatus::Pending => (Decision::Undecided, None),
    };
    let action = walk.action().map(str::to_string);
    let decided = Effect::Audit(Event::Decision(Decided {
        step: walk.card.step_id.clone(),
        step_number: walk.index + 1,
        decision,
        latency_ms: model.now_ms.saturating_sub(walk.shown_at_ms),
        verdict,
        // The record may be shared (the report): a token pasted into a
        // reason is removed there too.
        note: crate::redact::redact(&note).text.into_owned(),
        risk: Some(walk.card.risk),
        action_sha256: action.as_deref().map(|a| sha256_hex(a.as_bytes())),
        action,
        preflight: walk.current_preflight().map(|j| PreflightSeen {
            command: j.command.clone(),
            verdict: j.judgement.verdict,
            at_ms: j.at_ms,
        }),
        unverified: walk.card.unverified.clone(),
        stale: walk.card.stale.clone(),
    }));
    model.overlay = Overlay::None;
    if status == StepStatus::Halted {
        walk.phase = Phase::Decided(WalkEnd::Halted {
            reason: walk.steps[walk.index].note.clone(),
        });
        model.status = Some("halted: hand over with the summary above".into());
        return vec![decided];
    }
    if walk.index + 1 >= walk.runbook.steps.len() {
        walk.phase = Phase::Decided(WalkEnd::Completed);
        model.status = Some("all steps done".into());
        return vec![decided];
    }
    walk.index += 1;
    walk.phase = Phase::Reading;
    // A prefetched draft makes the next card complete at once.
    let ready = walk.drafts.get(&walk.index).and_then(DraftSlot::ready);
    walk.card = compose(&walk.runbook, walk.index, &model.ctx, ready);
    walk.preflight = None;
    walk.verify = None;
    walk.edited_action = None;
    walk.output = OutputPane::default();
    walk.card_scroll = 0;
    walk.shown_at_ms = model.now_ms;
    walk.focus = Focus::Card;
    model.status = Some(format!(
        "step {}/{}: r runs the pre-flight",
        walk.index + 1,
        walk.runbook.steps.len()
    ));
    let mut effects = vec![decided];
    effects.extend(super::update::request_drafts(model, None, false));
    effects
}
