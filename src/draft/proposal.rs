//! What a model proposes for a step, and how it reaches a card (SPEC §3):
//! the offline card first, then only what code can check. The model's
//! protocol (prompt, request, parsing) is the `llm` module; this is the data.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::card::{build_card, CardAction, CardCheck, CardRollback};
use super::pasted::PastedState;
use super::values::{
    incident_evidence, resolve, Candidate, Evidence, Rejected, ResolvedValue, Source,
    MAX_CANDIDATES,
};
use super::{Card, Context};
use crate::runbook::{Runbook, DEFAULT_TIMEOUT};
use crate::sanitize::sanitize_line;

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ModelDraft {
    #[serde(default, deserialize_with = "lenient_values")]
    pub values: BTreeMap<String, DraftValue>,
    #[serde(default, deserialize_with = "lenient")]
    pub preflight: Option<DraftCheck>,
    #[serde(default, deserialize_with = "lenient")]
    pub action: Option<DraftAction>,
    #[serde(default, deserialize_with = "lenient")]
    pub verify: Option<DraftCheck>,
    #[serde(default, deserialize_with = "lenient")]
    pub rollback: Option<DraftRollback>,
    #[serde(default, deserialize_with = "lenient_list")]
    pub stale: Vec<StaleFlag>,
    #[serde(default, deserialize_with = "lenient")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct DraftValue {
    pub value: String,
    #[serde(default)]
    pub evidence: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct DraftCheck {
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub stop_if: Option<String>,
    #[serde(default)]
    pub proceed_if: Option<String>,
    #[serde(default)]
    pub explain: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct DraftAction {
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub blast_radius: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct DraftRollback {
    #[serde(default)]
    pub command: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct StaleFlag {
    /// The assumption's number (as asked), or its text; accepted only when
    /// it names one of the runbook's, and then its text.
    #[serde(default, deserialize_with = "number_or_text")]
    pub assumption: String,
    #[serde(default)]
    pub why: String,
}

fn number_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    })
}

/// What a draft cost and how it ended, for `draft --json` and the audit.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct DraftMetrics {
    pub latency_ms: u64,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: u64,
    /// The server sent no usage: the counts are stepguard's (the pieces
    /// streamed, about a token each; the prompt's characters / 4).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tokens_counted: bool,
    /// The completion cap the request carried.
    pub max_tokens: u32,
    /// `json_schema`, `json_object` or `plain`: what the server accepted.
    pub response_format: String,
    /// The server's `finish_reason`: `length` means cut at the cap.
    pub finish_reason: Option<String>,
    /// The reply's JSON object had `values`, `stale` and `notes`.
    pub contract_keys: bool,
    pub cached: bool,
    /// What validation took out of the reply, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RejectedPart>,
}

/// One part of a reply that did not reach the card.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct RejectedPart {
    /// `values.namespace`, `stale[0]`, `notes`, `action`, …
    pub what: String,
    pub why: String,
}

/// A draft that is not used: why, and what it cost when the model answered.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftFailure {
    pub reason: String,
    pub metrics: Option<DraftMetrics>,
}

impl std::fmt::Display for DraftFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl From<String> for DraftFailure {
    fn from(reason: String) -> Self {
        DraftFailure {
            reason,
            metrics: None,
        }
    }
}

impl From<&str> for DraftFailure {
    fn from(reason: &str) -> Self {
        reason.to_string().into()
    }
}

/// Prose, not debris: at least two words of letters, and letters for at
/// least half of what is not space (`][{`, `1 — 20G`, `... — ...` are not).
pub fn is_words(text: &str) -> bool {
    // Control, bidi and invisible characters are no part of advice.
    if sanitize_line(text, usize::MAX) != text {
        return false;
    }
    let words = text
        .split_whitespace()
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2)
        .count();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let visible = text.chars().filter(|c| !c.is_whitespace()).count();
    words >= 2 && letters * 2 >= visible
}

/// Keep of a parsed reply only what can reach a card, and say what was
/// taken out: values of the step's own variables that pass their pattern;
/// stale flags that name one of the runbook's assumptions, with a reason
/// in words; notes in words; commands only for a prose step, and of those
/// an action or rollback only when its program is one the guard knows
/// (an unknown one, `checkout`, is a refused suggestion, not the step's).
pub fn accept(
    draft: ModelDraft,
    runbook: &Runbook,
    step_index: usize,
) -> (ModelDraft, Vec<RejectedPart>) {
    let step = &runbook.steps[step_index];
    let used = step.variables();
    let mut rejected = Vec::new();
    let mut reject = |what: String, why: &str| {
        rejected.push(RejectedPart {
            what,
            why: why.to_string(),
        })
    };
    let mut out = ModelDraft::default();
    for (name, v) in draft.values {
        let what = format!("values.{}", sanitize_line(&name, 40));
        let Some(var) = runbook
            .variables
            .get(&name)
            .filter(|_| used.contains(&name))
        else {
            reject(what, "not a value this step uses");
            continue;
        };
        let value = v.value.trim();
        if value.is_empty() {
            reject(what, "empty");
            continue;
        }
        if let Err(why) = super::values::validate_outside(var, value) {
            reject(what, &why);
            continue;
        }
        out.values.insert(name, v);
    }
    for (i, flag) in draft.stale.into_iter().enumerate() {
        let what = format!("stale[{i}]");
        let named = flag.assumption.trim();
        let assumption = match named.parse::<usize>() {
            Ok(n) => n.checked_sub(1).and_then(|i| runbook.assumptions.get(i)),
            Err(_) => runbook
                .assumptions
                .iter()
                .find(|a| !named.is_empty() && a.trim().eq_ignore_ascii_case(named)),
        };
        match assumption {
            None => reject(what, "names no assumption of the runbook"),
            Some(_) if !is_words(&flag.why) => reject(what, "its reason is not words"),
            Some(a) if out.stale.iter().any(|s| &s.assumption == a) => {
                reject(what, "names an assumption already flagged")
            }
            Some(_) if out.stale.len() >= MAX_STALE => {
                reject(what, "more stale flags than a draft may hold")
            }
            Some(a) => out.stale.push(StaleFlag {
                assumption: a.clone(),
                why: flag.why,
            }),
        }
    }
    if let Some(notes) = draft.notes.filter(|n| !n.trim().is_empty()) {
        if is_words(&notes) {
            out.notes = Some(notes);
        } else {
            reject("notes".into(), "not words");
        }
    }
    let commands = [
        (
            "preflight",
            draft.preflight.as_ref().and_then(|c| c.command.as_deref()),
        ),
        (
            "action",
            draft.action.as_ref().and_then(|c| c.command.as_deref()),
        ),
        (
            "verify",
            draft.verify.as_ref().and_then(|c| c.command.as_deref()),
        ),
        (
            "rollback",
            draft.rollback.as_ref().and_then(|c| c.command.as_deref()),
        ),
    ];
    let written = |c: Option<&str>| c.is_some_and(|c| !c.trim().is_empty());
    if !step.is_manual() {
        for (what, command) in commands {
            if written(command) {
                reject(what.into(), "this step's commands come from the runbook");
            }
        }
        return (out, capped(rejected));
    }
    // A prose step's action and rollback must at least be commands: one
    // line of shell whose programs are known. Nothing checks them later
    // (they are copied, never run), so prose, `N/A` or a second line would
    // stand as the step's. The pre-flight and verify are shown as written:
    // the guard decides whether they run, and the card says when it refuses.
    let mut command_or_reject = |what: &str, c: Option<&str>| -> bool {
        match c.map(str::trim).filter(|c| !c.is_empty()) {
            None => false,
            Some(c) => match crate::guard::not_a_command(c) {
                None => true,
                Some(why) => {
                    rejected.push(RejectedPart {
                        what: what.to_string(),
                        why: format!("{:?}: {why}", sanitize_line(c, 60)),
                    });
                    false
                }
            },
        }
    };
    out.preflight = draft.preflight.filter(|c| written(c.command.as_deref()));
    out.action = draft
        .action
        .filter(|a| command_or_reject("action", a.command.as_deref()));
    out.verify = draft.verify.filter(|c| written(c.command.as_deref()));
    out.rollback = draft
        .rollback
        .filter(|r| command_or_reject("rollback", r.command.as_deref()));
    (out, capped(rejected))
}

/// At most this many stale flags in a draft (the schema says so too).
pub const MAX_STALE: usize = 2;

/// At most this many rejected parts are listed (a reply of 300 junk values
/// must not flood the card or the audit log); the rest are counted.
const MAX_REJECTED: usize = 12;

fn capped(mut rejected: Vec<RejectedPart>) -> Vec<RejectedPart> {
    if rejected.len() > MAX_REJECTED {
        let more = rejected.len() - (MAX_REJECTED - 1);
        rejected.truncate(MAX_REJECTED - 1);
        rejected.push(RejectedPart {
            what: format!("{more} more parts"),
            why: "not listed".into(),
        });
    }
    rejected
}

/// A field of the wrong shape is dropped, not fatal.
fn lenient<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

fn lenient_list<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| serde_json::from_value(i).ok())
            .collect(),
        _ => Vec::new(),
    })
}

/// `{"ns": {"value": "x", "evidence": "..."}}`, also `{"ns": "x"}` and numbers.
fn lenient_values<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, DraftValue>, D::Error> {
    let v = Value::deserialize(d)?;
    let Value::Object(map) = v else {
        return Ok(BTreeMap::new());
    };
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| {
            let dv = match &v {
                Value::Object(o) => DraftValue {
                    value: o.get("value").and_then(scalar)?,
                    evidence: o.get("evidence").and_then(|e| e.as_str()).map(String::from),
                },
                other => DraftValue {
                    value: scalar(other)?,
                    evidence: None,
                },
            };
            Some((k, dv))
        })
        .collect())
}

impl ModelDraft {
    /// Nothing a card could use: the reply was JSON, but not a draft.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
            && self.stale.is_empty()
            && self.notes.as_deref().is_none_or(|n| n.trim().is_empty())
            && [&self.preflight, &self.verify]
                .iter()
                .all(|c| c.as_ref().is_none_or(|c| c.command.is_none()))
            && self.action.as_ref().is_none_or(|a| a.command.is_none())
    }
}

/// The redacted alert and state a request carried. The state is the
/// context's shared paste (redacted once, see `PastedState`), so a
/// megabytes-long paste is not copied per request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources {
    pub alert: String,
    pub state: Option<Arc<PastedState>>,
}

impl Sources {
    /// Does this text appear, whole, in the alert or in the state?
    pub fn contains(&self, text: &str) -> bool {
        self.alert.contains(text)
            || self
                .state
                .as_ref()
                .is_some_and(|s| s.redacted().0.contains(text))
    }
}

/// Everything a finished model draft contributes to a card.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutcome {
    pub draft: ModelDraft,
    pub model: String,
    /// The redacted alert and state the request carried.
    pub evidence: Sources,
    pub suspicious: Vec<String>,
    pub usage: Option<(u64, u64)>,
    pub cached: bool,
    /// Secrets removed from the request (the count, never the secrets).
    pub redactions: usize,
    /// Digest of the request (system and user prompts, endpoint, model).
    pub prompt_sha256: String,
    pub elapsed_ms: u64,
    pub metrics: DraftMetrics,
}

/// The card for a step: the offline card, with what the model may add.
pub fn compose(
    runbook: &Runbook,
    step_index: usize,
    ctx: &Context,
    model: Option<&ModelOutcome>,
) -> Card {
    let mut values = resolve(runbook, ctx);
    // Instruction-like lines of the state, found by code with or without a
    // model (the model path lists the same lines of the redacted state).
    // A large state is read on a thread of its own: until then the card
    // says so, and is built again once it is read.
    let facts = ctx.state.as_ref().map(|s| s.facts_now());
    let pending = matches!(facts, Some(None));
    let offline_suspicious = || {
        facts
            .flatten()
            .map_or_else(Vec::new, |f| f.suspicious().to_vec())
    };
    let Some(m) = model else {
        let mut card = build_card(runbook, step_index, &values, "offline", ctx);
        card.suspicious = offline_suspicious();
        flag_suspicious(&mut card);
        flag_pending(&mut card, pending, ctx);
        return card;
    };
    let mut flags = Vec::new();
    for (name, proposed) in &m.draft.values {
        let (Some(var), Some(current)) = (runbook.variables.get(name), values.get_mut(name)) else {
            continue;
        };
        let value = proposed.value.trim().to_string();
        if let Err(why) = super::values::validate_outside(var, &value) {
            current.rejected.push(Rejected {
                source: Source::Model,
                value: sanitize_line(&value, 80).into_owned(),
                why,
            });
            continue;
        }
        // What the state shows wins over a model that reads it differently;
        // the disagreement is shown either way.
        let shown = current
            .from_state()
            .filter(|c| c.value != value)
            .map(|c| (c.value.clone(), c.line));
        if let Some((shown, line)) = &shown {
            flags.push(format!(
                "model says {name}={}; the state shows {}{}",
                sanitize_line(&value, 60),
                sanitize_line(shown, 60),
                line.map_or(String::new(), |n| format!(" (line {n})"))
            ));
        }
        // The model's own evidence is never proof: code must tie the value
        // to the incident in what the model was given (see incident_evidence).
        // Where the state shows another value, the model's is a suggestion.
        let state = m.evidence.state.as_deref().map_or("", |s| s.redacted().0);
        let not_data = |line: &str| !crate::injection::suspicious_lines(line, 1).is_empty();
        let found = incident_evidence(
            name,
            var,
            &value,
            ctx,
            [&m.evidence.alert, state],
            &not_data,
            &current.candidates,
        )
        .filter(|_| shown.is_none());
        let text = match &found {
            Some(found) => format!("model, from: {found}"),
            None => "model, with nothing in the alert or state tying it to this incident".into(),
        };
        let candidate = |text: String| Candidate {
            value: value.clone(),
            evidence: Evidence {
                source: Source::Model,
                text,
            },
            rank: "proposed by the model".into(),
            line: None,
            derived: false,
            contested: false,
        };
        // Code-found values win: the engineer's --var, alert labels, the state.
        if current.verified {
            let from_state = current
                .evidence
                .as_ref()
                .is_some_and(|e| e.source == Source::State);
            if current.value.as_deref() != Some(value.as_str()) && !(from_state && shown.is_some())
            {
                flags.push(format!(
                    "the model suggested {:?} for '{name}'; kept {:?} from {}",
                    sanitize_line(&value, 60),
                    current.value.as_deref().unwrap_or(""),
                    current
                        .evidence
                        .as_ref()
                        .map_or("the context".into(), |e| e.text.clone())
                ));
            }
            list_candidate(current, candidate(text));
            continue;
        }
        // A value code cannot tie to the incident is a suggestion: listed
        // for `=` to pick, never rendered into a command, never in place
        // of a default or of what the state shows.
        if found.is_none() {
            if shown.is_none() {
                flags.push(format!(
                    "the model suggests {name}={}; code did not find it in the alert or state (= picks it)",
                    sanitize_line(&value, 60)
                ));
            }
            list_candidate(current, candidate(text));
            continue;
        }
        let mut candidates = vec![candidate(text)];
        candidates.extend(
            current
                .candidates
                .drain(..)
                .filter(|c| c.value != value)
                .take(MAX_CANDIDATES - 1),
        );
        *current = ResolvedValue {
            name: name.clone(),
            value: Some(value),
            verified: true,
            evidence: Some(candidates[0].evidence.clone()),
            rejected: std::mem::take(&mut current.rejected),
            candidates,
        };
    }
    let mut card = build_card(runbook, step_index, &values, &m.model, ctx);
    let step = &runbook.steps[step_index];
    // Commands for a templated step were taken out by `accept`.
    if step.is_manual() {
        apply_model_commands(&mut card, &m.draft, &mut flags, ctx);
    }
    for s in &m.draft.stale {
        if !s.assumption.trim().is_empty() {
            card.stale.push(format!(
                "{} — {}",
                sanitize_line(s.assumption.trim(), 200),
                sanitize_line(s.why.trim(), 200)
            ));
        }
    }
    card.notes = m
        .draft
        .notes
        .as_deref()
        .map(|n| sanitize_line(n.trim(), 500).into_owned())
        .unwrap_or_default();
    card.suspicious = if m.suspicious.is_empty() {
        offline_suspicious()
    } else {
        m.suspicious.clone()
    };
    for part in &m.metrics.rejected {
        flags.push(format!(
            "the model's {} not used: {}",
            sanitize_line(&part.what, 40),
            sanitize_line(&part.why, 120)
        ));
    }
    card.draft = Some(m.metrics.clone());
    card.flags.extend(flags);
    card.flags
        .extend(card.stale.iter().map(|s| format!("stale assumption: {s}")));
    flag_suspicious(&mut card);
    flag_pending(&mut card, pending, ctx);
    card
}

fn flag_pending(card: &mut Card, pending: bool, ctx: &Context) {
    if let (true, Some(state)) = (pending, &ctx.state) {
        card.state_pending = true;
        card.flags.push(format!(
            "the pasted state ({} KB) is still being read: the values it shows are added when it is",
            state.text().len() / 1024
        ));
    }
}

/// A model's value that is not used, listed after the others.
fn list_candidate(current: &mut ResolvedValue, candidate: Candidate) {
    if current.candidates.len() < MAX_CANDIDATES
        && !current
            .candidates
            .iter()
            .any(|c| c.value == candidate.value)
    {
        current.candidates.push(candidate);
    }
}

fn flag_suspicious(card: &mut Card) {
    card.flags.extend(
        card.suspicious
            .iter()
            .map(|s| format!("suspicious content in the state, {s}")),
    );
}

/// Model-written commands for a prose step: shown for the human; the checks
/// run only if the guard allows them.
fn apply_model_commands(
    card: &mut Card,
    draft: &ModelDraft,
    flags: &mut Vec<String>,
    ctx: &Context,
) {
    let clean_command =
        |c: &Option<String>, what: &str, flags: &mut Vec<String>| -> Option<String> {
            let c = c.as_deref()?.trim();
            if c.is_empty() {
                return None;
            }
            if c.chars().any(|ch| ch.is_control() && ch != '\n') {
                flags.push(format!(
                    "the model's {what} held control characters; dropped"
                ));
                return None;
            }
            Some(c.to_string())
        };
    let check =
        |d: &Option<DraftCheck>, what: &str, flags: &mut Vec<String>| -> Option<CardCheck> {
            let d = d.as_ref()?;
            let command = clean_command(&d.command, what, flags)?;
            let regex = |p: &Option<String>, flags: &mut Vec<String>| {
                let p = p.as_deref()?.trim();
                if p.is_empty() {
                    return None;
                }
                match regex::Regex::new(p) {
                    Ok(_) => Some(p.to_string()),
                    Err(_) => {
                        flags.push(format!(
                            "the model's {what} rule {:?} is not a valid regex; dropped",
                            sanitize_line(p, 60)
                        ));
                        None
                    }
                }
            };
            let guard = ctx.guard(&command);
            if !guard.allowed {
                flags.push(format!(
                    "model's {what} not run: {} (copy it if you want it)",
                    guard.reason
                ));
            }
            Some(CardCheck {
                runnable: guard.allowed,
                missing: Vec::new(),
                proceed_if: regex(&d.proceed_if, flags),
                stop_if: regex(&d.stop_if, flags),
                explain: d.explain.clone().unwrap_or_default(),
                timeout_ms: DEFAULT_TIMEOUT.as_millis() as u64,
                command,
                guard,
            })
        };
    card.preflight = check(&draft.preflight, "pre-flight", flags);
    card.verify = check(&draft.verify, "verify", flags);
    card.action = draft.action.as_ref().and_then(|a| {
        Some(CardAction {
            command: clean_command(&a.command, "action", flags)?,
            blast_radius: a
                .blast_radius
                .clone()
                .filter(|b| !b.trim().is_empty())
                .unwrap_or_else(|| "not stated by the model: assume the worst".into()),
        })
    });
    card.rollback = match (
        &card.action,
        draft
            .rollback
            .as_ref()
            .and_then(|r| clean_command(&r.command, "rollback", flags)),
    ) {
        (None, _) => CardRollback::NotNeeded,
        (Some(_), Some(command)) => CardRollback::Command { command },
        (Some(_), None) => CardRollback::None {
            reason: "the model proposed no rollback".into(),
        },
    };
    if card.preflight.is_some() || card.action.is_some() {
        card.model_commands = true;
        card.manual = false;
        flags.push("commands drafted by the model, not the runbook: read every word".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runbook() -> Runbook {
        crate::runbook::parse_str(
            r#"
id: t
title: T
assumptions: ["one deployment", "two replicas"]
variables:
  namespace: {description: the namespace, pattern: '^[a-z0-9-]+$'}
  other: {description: used by step b}
steps:
  - id: a
    title: look
    preflight: {run: "kubectl -n {{namespace}} get pods"}
  - id: b
    title: think about {{other}}
"#,
            std::path::Path::new("t.yaml"),
        )
        .unwrap()
    }

    fn reply(v: serde_json::Value) -> ModelDraft {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn words_are_words() {
        for ok in [
            "roll back first",
            "Only one pod is listed.",
            "état dégradé vu",
        ] {
            assert!(is_words(ok), "{ok}");
        }
        for junk in [
            "",
            "][{",
            "1 — 20G",
            "... — ...",
            "ok",
            "x=1 y=2 z=3",
            "{{}} [[ ]]",
        ] {
            assert!(!is_words(junk), "{junk}");
        }
    }

    #[test]
    fn only_what_code_can_check_is_kept_and_the_rest_is_named() {
        let rb = runbook();
        let draft = reply(serde_json::json!({
            "values": {
                "namespace": {"value": "payments", "evidence": "x"},
                "other": {"value": "y", "evidence": "y"},
                "ghost": {"value": "z", "evidence": "z"}
            },
            "preflight": {"command": "kubectl get pods -A"},
            "stale": [
                {"assumption": 2, "why": "three replicas are listed"},
                {"assumption": "one deployment", "why": "two deployments show"},
                {"assumption": 3, "why": "there is no third"},
                {"assumption": "0", "why": "zero is no number here"},
                {"assumption": 1, "why": "1 — 20G"}
            ],
            "notes": "][{"
        }));
        let (kept, rejected) = accept(draft, &rb, 0);
        assert_eq!(kept.values.keys().collect::<Vec<_>>(), ["namespace"]);
        assert_eq!(
            kept.stale
                .iter()
                .map(|s| s.assumption.as_str())
                .collect::<Vec<_>>(),
            ["two replicas", "one deployment"]
        );
        assert_eq!(kept.notes, None);
        assert!(
            kept.preflight.is_none(),
            "a templated step's commands are the runbook's"
        );
        let named: Vec<(&str, &str)> = rejected
            .iter()
            .map(|r| (r.what.as_str(), r.why.as_str()))
            .collect();
        for expected in [
            ("values.other", "not a value this step uses"),
            ("values.ghost", "not a value this step uses"),
            ("stale[2]", "names no assumption of the runbook"),
            ("stale[3]", "names no assumption of the runbook"),
            ("stale[4]", "its reason is not words"),
            ("notes", "not words"),
            ("preflight", "this step's commands come from the runbook"),
        ] {
            assert!(named.contains(&expected), "{expected:?} in {named:?}");
        }
        // A value that fails its pattern is taken out with the pattern's reason.
        let (kept, rejected) = accept(
            reply(
                serde_json::json!({"values": {"namespace": {"value": "a b; rm", "evidence": ""}}}),
            ),
            &rb,
            0,
        );
        assert!(kept.is_empty());
        assert_eq!(rejected[0].what, "values.namespace");
        // A prose step: a command no one knows is no action.
        let (kept, rejected) = accept(
            reply(serde_json::json!({
                "action": {"command": "checkout", "blast_radius": "x"},
                "rollback": {"command": "kubectl rollout undo deploy/x"}
            })),
            &rb,
            1,
        );
        assert!(kept.action.is_none());
        assert!(
            kept.rollback.is_some(),
            "kubectl is a program the guard knows"
        );
        assert_eq!(rejected[0].what, "action");
        // One reply cannot flood the card or the log.
        let mut values = serde_json::Map::new();
        for i in 0..300 {
            values.insert(
                format!("v{i}"),
                serde_json::json!({"value": "x", "evidence": "x"}),
            );
        }
        let stale: Vec<_> = (0..300)
            .map(|_| serde_json::json!({"assumption": 1, "why": "the context is wrong here"}))
            .collect();
        let (kept, rejected) = accept(
            reply(serde_json::json!({"values": values, "stale": stale})),
            &rb,
            0,
        );
        assert_eq!(kept.stale.len(), 1);
        assert_eq!(rejected.len(), MAX_REJECTED);
        assert!(rejected.last().unwrap().what.ends_with("more parts"));
        // Bidi and control characters are no words.
        assert!(!is_words("ab cd \u{202e}\u{202e}\u{202e}\u{202e}"));
    }
}
