//! The card: one step filled in for this incident. Commands are rendered by
//! code from the runbook's templates (SPEC §1.4); a model may only supply
//! values, flags and notes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::values::{Context, ResolvedValue};
use crate::guard::Decision;
use crate::runbook::render::{render, render_command};
use crate::runbook::{Check, Risk, Rollback, Runbook};
use crate::sanitize::sanitize_line;

#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub runbook_id: String,
    pub runbook_title: String,
    /// 1-based.
    pub step_number: usize,
    pub step_count: usize,
    pub step_id: String,
    pub title: String,
    pub intent: String,
    pub risk: Risk,
    /// Prose only: no commands to render (a model drafts them, or the human does).
    pub manual: bool,
    pub preflight: Option<CardCheck>,
    pub action: Option<CardAction>,
    pub verify: Option<CardCheck>,
    pub rollback: CardRollback,
    /// The values this step uses, with their evidence.
    pub values: Vec<ResolvedValue>,
    /// Variables this step needs that nothing supplied.
    pub missing: Vec<String>,
    /// Variables this step uses whose value the human must confirm.
    pub unverified: Vec<String>,
    /// Things the human must see before acting.
    pub flags: Vec<String>,
    /// Runbook assumptions the state contradicts, as the model saw it.
    pub stale: Vec<String>,
    /// Instruction-like lines found in the state.
    pub suspicious: Vec<String>,
    /// The commands were drafted by the model (prose steps only).
    pub model_commands: bool,
    /// The model's advice: shown, never acted on.
    pub notes: String,
    /// `offline` or the model's name.
    pub drafter: String,
    /// The pasted state is still being read (a large paste is read on a
    /// thread of its own): build the card again once it is.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub state_pending: bool,
    /// What the model's draft cost and how it ended, used or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft: Option<super::DraftMetrics>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CardCheck {
    pub command: String,
    pub proceed_if: Option<String>,
    pub stop_if: Option<String>,
    pub explain: String,
    pub timeout_ms: u64,
    /// Values this command needs that nothing supplied.
    pub missing: Vec<String>,
    /// The guard's answer for the rendered command.
    pub guard: Decision,
    /// Rendered completely and allowed by the guard.
    pub runnable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CardAction {
    pub command: String,
    pub blast_radius: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CardRollback {
    Command {
        command: String,
    },
    None {
        reason: String,
    },
    /// The step has no action, so nothing to undo.
    NotNeeded,
}

impl CardRollback {
    pub fn command(&self) -> Option<&str> {
        match self {
            CardRollback::Command { command } => Some(command),
            _ => None,
        }
    }
}

/// Render a step with already resolved values (offline or model-supplied).
pub fn build_card(
    runbook: &Runbook,
    step_index: usize,
    values: &BTreeMap<String, ResolvedValue>,
    drafter: &str,
    ctx: &Context,
) -> Card {
    let step = &runbook.steps[step_index];
    let plain = |name: &str| values.get(name).and_then(|v| v.value.clone());
    // Commands: each value quoted as one shell word by the renderer.
    let command = |template: &str| render_command(template, plain).text;
    let prose = |template: &str| render(template, plain).text;

    let check = |c: &Check| {
        let rendered = render_command(&c.run, plain);
        // A command still waiting for values is not judged: its `<name>`
        // placeholders would read as redirections and the card would blame
        // the guard for what is a missing value.
        let guard = if rendered.missing.is_empty() {
            ctx.guard(&rendered.text)
        } else {
            missing_decision(&rendered.missing)
        };
        CardCheck {
            runnable: rendered.missing.is_empty() && guard.allowed,
            missing: rendered.missing,
            command: rendered.text,
            proceed_if: c.proceed_if.clone(),
            stop_if: c.stop_if.clone(),
            explain: prose(&c.explain),
            timeout_ms: c.timeout().as_millis() as u64,
            guard,
        }
    };
    let rollback = match (&step.rollback, &step.action) {
        (Some(Rollback::Command(c)), _) => CardRollback::Command {
            command: command(&c.run),
        },
        (Some(Rollback::Keyword(_)), _) => CardRollback::None {
            reason: prose(step.reason.as_deref().unwrap_or_default()),
        },
        (None, _) => CardRollback::NotNeeded,
    };

    let used = step.variables();
    let step_values: Vec<ResolvedValue> =
        used.iter().filter_map(|n| values.get(n).cloned()).collect();
    let missing: Vec<String> = used
        .iter()
        .filter(|n| values.get(*n).is_none_or(|v| v.value.is_none()))
        .cloned()
        .collect();
    let unverified: Vec<String> = step_values
        .iter()
        .filter(|v| v.value.is_some() && !v.verified)
        .map(|v| v.name.clone())
        .collect();

    let mut card = Card {
        runbook_id: runbook.id.clone(),
        runbook_title: runbook.title.clone(),
        step_number: step_index + 1,
        step_count: runbook.steps.len(),
        step_id: step.id.clone(),
        title: prose(&step.title),
        intent: prose(&step.intent),
        risk: runbook.step_risk(step),
        manual: step.is_manual(),
        preflight: step.preflight.as_ref().map(check),
        action: step.action.as_ref().map(|a| CardAction {
            command: command(&a.run),
            blast_radius: prose(&a.blast_radius),
        }),
        verify: step.verify.as_ref().map(check),
        rollback,
        values: step_values,
        missing,
        unverified,
        flags: Vec::new(),
        stale: Vec::new(),
        suspicious: Vec::new(),
        model_commands: false,
        notes: String::new(),
        drafter: drafter.to_string(),
        state_pending: false,
        draft: None,
    };
    card.flags = flags(&card);
    card
}

/// The answer for a check that cannot be judged yet: `missing: a, b`.
pub fn missing_decision(missing: &[String]) -> Decision {
    Decision {
        allowed: false,
        reason: format!("missing: {}", missing.join(", ")),
        rule: None,
        rule_uses: Vec::new(),
        trust_files: Vec::new(),
    }
}

fn flags(card: &Card) -> Vec<String> {
    let mut flags = Vec::new();
    for name in &card.missing {
        flags.push(format!(
            "missing value '{name}': = sets it in the walk (--var {name}=VALUE on the command line), or paste state that shows it"
        ));
    }
    for name in &card.unverified {
        let derived = card
            .values
            .iter()
            .find(|v| &v.name == name)
            .filter(|v| v.derived());
        match derived {
            Some(v) => flags.push(format!(
                "value '{name}' = {} is derived from the state, not printed in it: confirm it before acting",
                v.value.as_deref().unwrap_or_default()
            )),
            None => flags.push(format!(
                "value '{name}' is unverified: confirm it before acting"
            )),
        }
    }
    for v in &card.values {
        for r in &v.rejected {
            flags.push(format!(
                "rejected {:?} for '{}' from {:?}: {}",
                r.value, v.name, r.source, r.why
            ));
        }
    }
    for (label, check) in [("pre-flight", &card.preflight), ("verify", &card.verify)] {
        if let Some(c) = check {
            if !c.missing.is_empty() {
                flags.push(format!("{label} waits for: {}", c.missing.join(", ")));
            } else if !c.guard.allowed {
                flags.push(format!("{label} will not run: {}", c.guard.reason));
            }
        }
    }
    if card.action.is_some() && matches!(card.rollback, CardRollback::None { .. }) {
        flags.push("no rollback: this action cannot be undone".into());
    }
    flags
}

impl Card {
    /// The card as plain text for a terminal, every outside string sanitized.
    pub fn to_text(&self) -> String {
        let s = |t: &str| sanitize_line(t, 2_000).into_owned();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} · step {}/{} · risk {} · {}",
            s(&self.runbook_id),
            self.step_number,
            self.step_count,
            self.risk,
            s(&self.drafter)
        );
        let _ = writeln!(out, "{}", s(&self.title));
        if !self.intent.is_empty() {
            let _ = writeln!(out, "  {}", s(&self.intent));
        }
        if self.manual {
            let _ = writeln!(
                out,
                "\nMANUAL STEP: no commands in the runbook; work it out and record what you did."
            );
        }
        let check_block = |out: &mut String, heading: &str, c: &CardCheck| {
            let status = if c.runnable {
                "stepguard runs this".to_string()
            } else if !c.missing.is_empty() {
                "waits for values".to_string()
            } else {
                "will not run".to_string()
            };
            let _ = writeln!(out, "\n{heading} ({status})\n  $ {}", s(&c.command));
            if let Some(p) = &c.stop_if {
                let _ = writeln!(out, "  stop if:    /{}/", s(p));
            }
            if let Some(p) = &c.proceed_if {
                let _ = writeln!(out, "  proceed if: /{}/", s(p));
            }
            if !c.explain.is_empty() {
                let _ = writeln!(out, "  rule: {}", s(&c.explain));
            }
            if c.missing.is_empty() {
                let _ = writeln!(out, "  guard: {}", s(&c.guard.reason));
            } else {
                let _ = writeln!(out, "  {}", s(&c.guard.reason));
            }
        };
        if let Some(c) = &self.preflight {
            check_block(&mut out, "PRE-FLIGHT", c);
        }
        if let Some(a) = &self.action {
            let _ = writeln!(
                out,
                "\nACTION (you run this; stepguard never does)\n  $ {}",
                s(&a.command)
            );
            let _ = writeln!(out, "  blast radius: {}", s(&a.blast_radius));
        }
        if let Some(c) = &self.verify {
            check_block(&mut out, "VERIFY", c);
        }
        match &self.rollback {
            CardRollback::Command { command } => {
                let _ = writeln!(
                    out,
                    "\nROLLBACK (copy it before you act)\n  $ {}",
                    s(command)
                );
            }
            CardRollback::None { reason } => {
                let _ = writeln!(out, "\nROLLBACK: none — {}", s(reason));
            }
            CardRollback::NotNeeded => {}
        }
        if !self.values.is_empty() || !self.missing.is_empty() {
            let _ = writeln!(out, "\nVALUES");
            for v in &self.values {
                match (&v.value, &v.evidence) {
                    (Some(value), Some(ev)) => {
                        let mark = match (v.verified, v.derived()) {
                            (true, _) => "",
                            (false, true) => "  [DERIVED: confirm]",
                            (false, false) => "  [UNVERIFIED]",
                        };
                        let _ = writeln!(
                            out,
                            "  {} = {}{mark}  ← {}",
                            s(&v.name),
                            s(value),
                            s(&ev.text)
                        );
                    }
                    _ => {
                        let _ = writeln!(out, "  {} = <missing>", s(&v.name));
                    }
                }
                // Other values the context offers, best first.
                for c in v.candidates.iter().skip(1).take(4) {
                    let from = match (c.line, c.derived) {
                        (Some(n), true) => format!("derived, state line {n}: {}", c.rank),
                        (Some(n), false) => format!("state line {n}: {}", c.rank),
                        (None, _) => c.evidence.text.clone(),
                    };
                    let _ = writeln!(out, "      or {}  ← {}", s(&c.value), s(&from));
                }
            }
        }
        if !self.flags.is_empty() {
            let _ = writeln!(out, "\nFLAGS");
            for f in &self.flags {
                let _ = writeln!(out, "  ! {}", s(f));
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\nNOTES\n  {}", s(&self.notes));
        }
        out
    }
}
