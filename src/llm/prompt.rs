//! The request for one step: prompts from `prompts/` (embedded, overridable),
//! untrusted text fenced and labelled as data, secrets redacted, and only the
//! state lines relevant to the step, within a token budget.

pub use crate::draft::proposal::Sources;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::draft::{values::resolve, Context, PastedState};
use crate::redact::redact;
use crate::runbook::render::{placeholders, render};
use crate::runbook::{Rollback, Runbook};

const SYSTEM: &str = include_str!("../../prompts/system.md");
const STEP: &str = include_str!("../../prompts/step.md");

/// The two prompt templates.
#[derive(Debug, Clone)]
pub struct Prompts {
    pub system: String,
    pub step: String,
}

impl Default for Prompts {
    fn default() -> Self {
        Prompts {
            system: SYSTEM.to_string(),
            step: STEP.to_string(),
        }
    }
}

impl Prompts {
    /// The embedded prompts, each replaced by `DIR/system.md` / `DIR/step.md` if present.
    pub fn load(dir: Option<&Path>) -> std::io::Result<Self> {
        let mut prompts = Prompts::default();
        if let Some(dir) = dir {
            for (name, slot) in [
                ("system.md", &mut prompts.system),
                ("step.md", &mut prompts.step),
            ] {
                let path = dir.join(name);
                if path.is_file() {
                    *slot = std::fs::read_to_string(&path)?;
                }
            }
        }
        Ok(prompts)
    }
}

/// What happened at an earlier step, for the model's context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryItem {
    pub step: String,
    /// e.g. "proceeded (pre-flight PASS)", "skipped", "halted".
    pub outcome: String,
    pub reason: String,
}

pub struct DraftInput<'a> {
    pub runbook: &'a Runbook,
    pub step_index: usize,
    pub ctx: &'a Context,
    pub history: &'a [HistoryItem],
    /// The human's hint from `d`.
    pub hint: Option<&'a str>,
    pub budget_tokens: usize,
}

/// A request ready to send, and what code needs to check the reply.
#[derive(Debug, Clone)]
pub struct BuiltPrompt {
    pub system: String,
    pub user: String,
    /// The redacted alert and state: a value's evidence must be found here.
    pub evidence: Sources,
    /// Secrets removed before anything was sent.
    pub redactions: usize,
    /// Instruction-like lines found in the state.
    pub suspicious: Vec<String>,
    /// The JSON schema the reply is asked to follow (the draft's, or a
    /// re-rank's), in its keys' order: `json_schema` and `json_object`
    /// modes send it.
    pub schema: super::schema::Ordered,
    /// The completion cap this reply needs (0: the configured one).
    pub max_tokens: u32,
}

impl From<&str> for Sources {
    fn from(state: &str) -> Self {
        Sources {
            alert: String::new(),
            state: Some(Arc::new(state.to_string().into())),
        }
    }
}

impl BuiltPrompt {
    /// Identifies the request (with the endpoint and model), for the draft cache.
    pub fn digest(&self, model: &str) -> String {
        let mut h = Sha256::new();
        for part in [model, &self.system, &self.user] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        crate::digest::hex(&h.finalize())
    }
}

pub fn build(prompts: &Prompts, input: &DraftInput) -> BuiltPrompt {
    let rb = input.runbook;
    let step = &rb.steps[input.step_index];
    let values = resolve(rb, input.ctx);

    let alert_text = input.ctx.alert.as_ref().map_or(String::new(), |a| {
        let mut text = String::new();
        for (k, v) in a.labels.iter().chain(a.annotations.iter()) {
            let _ = writeln!(text, "{k}={v}");
        }
        text
    });
    let alert = redact(&alert_text);
    // Redacted once per paste, shared by every request (see PastedState).
    let (state_text, state_secrets) = input
        .ctx
        .state
        .as_deref()
        .map_or(("", 0), PastedState::redacted);
    let suspicious = crate::injection::suspicious_lines(state_text, 20);

    // Terms that make a state line relevant to this step.
    let mut terms: Vec<String> = values.values().filter_map(|v| v.value.clone()).collect();
    let mut templates: Vec<&str> = vec![&step.title, &step.intent];
    for c in [&step.preflight, &step.verify].into_iter().flatten() {
        templates.push(&c.run);
    }
    if let Some(a) = &step.action {
        templates.push(&a.run);
    }
    for t in &templates {
        terms.extend(
            t.split(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')
                .filter(|w| w.len() >= 4 && !w.starts_with('{'))
                .map(str::to_lowercase),
        );
        terms.extend(placeholders(t).map(str::to_lowercase));
    }
    terms.extend(rb.alerts.iter().map(|a| a.to_lowercase()));
    terms.sort();
    terms.dedup();
    let budget_chars = input.budget_tokens.saturating_mul(4);
    let state_excerpt = relevant_lines(state_text, &terms, budget_chars);

    let fence = {
        let mut h = Sha256::new();
        h.update(alert.text.as_bytes());
        h.update(state_text.as_bytes());
        crate::digest::hex(&h.finalize())[..12].to_string()
    };
    let fenced = |text: &str| text.replace("<<<", "‹‹‹");

    let templated = !step.is_manual();
    let commands = if templated {
        let mut c = String::from(
            "This step's commands are written in the runbook (rendered by code; do not write commands):\n",
        );
        for (label, t) in [
            (
                "pre-flight",
                step.preflight.as_ref().map(|c| c.run.as_str()),
            ),
            ("action", step.action.as_ref().map(|a| a.run.as_str())),
            ("verify", step.verify.as_ref().map(|c| c.run.as_str())),
            (
                "rollback",
                step.rollback.as_ref().and_then(Rollback::command),
            ),
        ] {
            if let Some(t) = t {
                let _ = writeln!(c, "- {label}: {t}");
            }
        }
        c
    } else {
        "This step has no commands yet. After `values`, write `preflight` (a read-only \
command, `stop_if`: a regular expression over its output that means stop, and `explain`), \
`action` (the command and its `blast_radius`), `verify` (read-only, like `preflight`) and \
`rollback` (the command that undoes the action). Leave a command empty if you do not know it."
            .to_string()
    };
    // Only this step's values, and of those only the ones nothing verified
    // yet: the model is asked for what is missing, by meaning (patterns
    // are code's to check, and cost a small model its attention).
    let used = step.variables();
    let ask: Vec<String> = used
        .iter()
        .filter(|name| rb.variables.contains_key(*name))
        .filter(|name| !values.get(*name).is_some_and(|v| v.verified))
        .cloned()
        .collect();
    let mut variables = String::new();
    for name in &ask {
        let description = rb.variables[name].description.trim();
        let _ = writeln!(
            variables,
            "- {name}: {}",
            if description.is_empty() {
                name.as_str()
            } else {
                description
            }
        );
    }
    let mut known = String::new();
    for v in values.values().filter(|v| used.contains(&v.name)) {
        if let (Some(value), true) = (&v.value, v.verified) {
            let _ = writeln!(known, "- {} = {value}", v.name);
        }
    }
    let mut history = String::new();
    for h in input.history {
        let _ = writeln!(
            history,
            "- {}: {}{}",
            h.step,
            h.outcome,
            if h.reason.is_empty() {
                String::new()
            } else {
                format!(" — {}", h.reason)
            }
        );
    }
    let or_none = |s: String| {
        if s.trim().is_empty() {
            "(none)".to_string()
        } else {
            s
        }
    };
    let assumptions = rb
        .assumptions
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}. {a}\n", i + 1))
        .collect::<String>();
    let hint = input
        .hint
        .filter(|h| !h.trim().is_empty())
        .map(|h| format!("\nThe engineer adds this hint: {}\n", h.trim()))
        .unwrap_or_default();
    // Typed and pasted reasons and the hint are the human's words, but a
    // token pasted into them is as secret as one in the state.
    let history = redact(&history);
    let hint = redact(&hint);

    let mut fields: BTreeMap<&str, String> = BTreeMap::new();
    fields.insert("runbook_id", rb.id.clone());
    fields.insert("runbook_title", rb.title.clone());
    fields.insert("runbook_summary", rb.summary.clone());
    fields.insert("step_number", (input.step_index + 1).to_string());
    fields.insert("step_count", rb.steps.len().to_string());
    fields.insert("step_title", step.title.clone());
    fields.insert("step_intent", step.intent.clone());
    fields.insert("risk", rb.step_risk(step).to_string());
    fields.insert("commands", commands);
    fields.insert("variables", or_none(variables));
    fields.insert("known_values", or_none(known));
    fields.insert("assumptions", or_none(assumptions));
    fields.insert("history", or_none(history.text.to_string()));
    fields.insert("hint", hint.text.to_string());
    fields.insert("fence", fence);
    fields.insert("alert", or_none(fenced(&alert.text)));
    fields.insert("state", or_none(fenced(&state_excerpt)));
    // One pass: text substituted in is never scanned for placeholders again.
    let user = render(&prompts.step, |name| fields.get(name).cloned()).text;
    // The schema names every value of the step (SPEC §3); the prompt asks
    // for the ones still missing, and lists the rest as known.
    let step_values: Vec<String> = used
        .iter()
        .filter(|name| rb.variables.contains_key(*name))
        .cloned()
        .collect();
    let schema = super::schema::draft_schema(rb, input.step_index, &step_values);

    BuiltPrompt {
        system: prompts.system.clone(),
        user,
        redactions: alert.total() + state_secrets + history.total() + hint.total(),
        evidence: Sources {
            alert: alert.text.into_owned(),
            state: input.ctx.state.clone(),
        },
        suspicious,
        max_tokens: super::schema::max_tokens(&schema),
        schema,
    }
}

/// The lines of `state` that mention any of `terms`, plus its first lines
/// (headers), in their original order, within `budget` characters; gaps are
/// marked so the model knows lines were left out.
pub fn relevant_lines(state: &str, terms: &[String], budget: usize) -> String {
    if state.len() <= budget {
        return state.to_string();
    }
    let lines: Vec<&str> = state.lines().collect();
    let mut keep = vec![false; lines.len()];
    let mut used = 0usize;
    let take = |i: usize, keep: &mut Vec<bool>, used: &mut usize| {
        let cost = lines[i].len() + 1;
        if !keep[i] && *used + cost <= budget {
            keep[i] = true;
            *used += cost;
        }
    };
    for i in 0..lines.len().min(5) {
        take(i, &mut keep, &mut used);
    }
    for (i, line) in lines.iter().enumerate() {
        if used >= budget {
            break;
        }
        let lower = line.to_lowercase();
        if terms.iter().any(|t| lower.contains(t.as_str())) {
            take(i, &mut keep, &mut used);
        }
    }
    let mut out = String::new();
    let mut skipped = 0usize;
    for (i, line) in lines.iter().enumerate() {
        if keep[i] {
            if skipped > 0 {
                let _ = writeln!(out, "… ({skipped} lines left out)");
                skipped = 0;
            }
            out.push_str(line);
            out.push('\n');
        } else {
            skipped += 1;
        }
    }
    if skipped > 0 {
        let _ = writeln!(out, "… ({skipped} lines left out)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evidence is checked against what the model was sent: a secret that
    /// only the raw paste holds can never back a value.
    #[test]
    fn evidence_is_searched_in_the_redacted_state_only() {
        let sources = Sources::from("namespace: payments\nDB_PASSWORD=hunter2sekret99\n");
        assert!(sources.contains("namespace: payments"));
        assert!(!sources.contains("hunter2sekret99"));
        assert!(sources.contains("DB_PASSWORD=[REDACTED:"));
    }

    #[test]
    fn relevant_lines_keep_headers_and_matches_within_budget() {
        let mut state = String::from("NAME READY STATUS\n");
        for i in 0..1000 {
            state.push_str(&format!("other-{i} 1/1 Running\n"));
        }
        state.push_str("checkout-7d9f 0/1 CrashLoopBackOff\n");
        let out = relevant_lines(&state, &["crashloopbackoff".into()], 200);
        assert!(out.starts_with("NAME READY STATUS\n"));
        assert!(out.contains("checkout-7d9f 0/1 CrashLoopBackOff"));
        assert!(out.contains("lines left out"));
        assert!(out.len() < 400);
    }
}
