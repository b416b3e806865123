//! The escalation decision (SPEC §7): deterministic, table-driven and
//! configurable. From the step's risk tier, the pre-flight verdict and the
//! flags on the card, it says PROCEED / CONFIRM / ESCALATE / HALT, why, and
//! which typed gates stand between `p` and the next step — or that `p` must
//! wait (no verdict yet, or one older than the freshness window). The screen
//! shows exactly this outcome, and `p` does exactly what it says.

use serde::{Deserialize, Serialize};

use crate::runbook::Risk;
use crate::verdict::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Decision {
    Proceed,
    Confirm,
    Escalate,
    Halt,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decision::Proceed => "PROCEED",
            Decision::Confirm => "CONFIRM",
            Decision::Escalate => "ESCALATE",
            Decision::Halt => "HALT",
        })
    }
}

/// What a tier asks for by default; each is configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TierRule {
    Proceed,
    /// PROCEED on a PASS, else CONFIRM.
    ProceedIfPass,
    /// Type the target's name.
    Confirm,
    /// The target's name and a second person's handle.
    Escalate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub low: TierRule,
    pub medium: TierRule,
    pub high: TierRule,
    pub critical: TierRule,
    /// Minutes a pre-flight result stays valid for `p`.
    pub freshness_minutes: u64,
    /// Runbook matches below this confidence escalate.
    pub match_threshold: f64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            low: TierRule::Proceed,
            medium: TierRule::ProceedIfPass,
            high: TierRule::Confirm,
            critical: TierRule::Escalate,
            freshness_minutes: 10,
            match_threshold: 0.5,
        }
    }
}

/// Everything the decision depends on.
#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub risk: Risk,
    /// The pre-flight's verdict; None when the step has none (or it has not run).
    pub verdict: Option<Verdict>,
    /// Why the pre-flight decided as it did (shown with a STOP).
    pub verdict_reason: String,
    /// When the pre-flight's verdict was reached (None: no verdict), and
    /// now, on the same clock.
    pub verdict_at_ms: Option<u64>,
    pub now_ms: u64,
    /// The verify's verdict for this step, once it ran.
    pub verify: Option<Verdict>,
    pub verify_reason: String,
    pub has_preflight: bool,
    pub unverified: Vec<String>,
    pub stale: Vec<String>,
    pub suspicious: bool,
    /// The target a confirmation asks to be typed.
    pub target: String,
    /// Whoever runs stepguard (`$USER`): a second person must differ.
    pub operator: String,
    pub match_confidence: Option<f64>,
    /// A team database is configured: the second person approves from
    /// their own terminal, as their own database role.
    pub team: bool,
}

/// The gate that asks a second person: the team's approval where there is
/// a team database, else a handle typed here (self-attested).
fn second_person(input: &PolicyInput) -> Gate {
    if input.team {
        Gate::TeamApproval
    } else {
        Gate::SecondPerson {
            operator: input.operator.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Decision,
    pub why: Vec<String>,
    pub gates: Vec<Gate>,
    /// `p` cannot be answered yet, and why (run the pre-flight, again).
    pub wait: Option<String>,
}

pub fn decide(cfg: &PolicyConfig, input: &PolicyInput) -> Outcome {
    let mut decision = Decision::Proceed;
    let mut why = Vec::new();
    let mut gates = Vec::new();
    let raise = |d: Decision, decision: &mut Decision| *decision = (*decision).max(d);
    let window_ms = cfg.freshness_minutes.saturating_mul(60_000);
    let wait = match input.verdict_at_ms.map(|at| input.now_ms.checked_sub(at)) {
        _ if !input.has_preflight => None,
        None => Some("run the pre-flight first (r): p needs a verdict".to_string()),
        // Stamped after now: the clock went back, and its age is unknown.
        Some(None) => Some(
            "the pre-flight's time is later than now (the clock went back): run it again (r)"
                .to_string(),
        ),
        Some(Some(age)) if age > window_ms => Some(format!(
            "the pre-flight is {} min old (window {} min): run it again (r)",
            age / 60_000,
            cfg.freshness_minutes
        )),
        Some(Some(_)) => None,
    };

    if input.verdict == Some(Verdict::Stop) {
        raise(Decision::Halt, &mut decision);
        why.push("the pre-flight said STOP".to_string());
        gates.push(Gate::Override {
            why: format!("pre-flight said STOP: {}", input.verdict_reason),
        });
    }
    if input.verify == Some(Verdict::Stop) {
        raise(Decision::Halt, &mut decision);
        why.push("the verify said STOP".to_string());
        gates.push(Gate::Override {
            why: format!("verify said STOP: {}", input.verify_reason),
        });
    }
    if !input.unverified.is_empty() {
        raise(Decision::Halt, &mut decision);
        why.push(format!("unverified value: {}", input.unverified.join(", ")));
        gates.push(Gate::Override {
            why: format!("unverified value: {}", input.unverified.join(", ")),
        });
    }
    if let Some(stale) = input.stale.first() {
        raise(Decision::Halt, &mut decision);
        why.push(format!("stale assumption: {stale}"));
        gates.push(Gate::Override {
            why: format!("stale assumption: {stale}"),
        });
    }
    if input.suspicious {
        raise(Decision::Halt, &mut decision);
        why.push("suspicious content in the state".into());
        gates.push(Gate::Override {
            why: "suspicious content in the state".into(),
        });
    }
    if !input.has_preflight {
        raise(Decision::Confirm, &mut decision);
        why.push("no pre-flight: checked by hand".into());
        gates.push(Gate::ManualNote);
    }
    if let Some(c) = input.match_confidence.filter(|c| *c < cfg.match_threshold) {
        raise(Decision::Escalate, &mut decision);
        why.push(format!(
            "runbook match {c:.2} is below {:.2}",
            cfg.match_threshold
        ));
        gates.push(second_person(input));
    }
    let rule = match input.risk {
        Risk::Low => cfg.low,
        Risk::Medium => cfg.medium,
        Risk::High => cfg.high,
        Risk::Critical => cfg.critical,
    };
    match rule {
        TierRule::Proceed => {}
        TierRule::ProceedIfPass if input.verdict == Some(Verdict::Pass) => {}
        TierRule::ProceedIfPass => {
            raise(Decision::Confirm, &mut decision);
            why.push(format!("{} risk without a PASS", input.risk));
            gates.push(Gate::TypeProceed);
        }
        TierRule::Confirm => {
            raise(Decision::Confirm, &mut decision);
            why.push(format!("{} risk", input.risk));
            gates.push(Gate::TypeTarget {
                target: input.target.clone(),
            });
        }
        TierRule::Escalate => {
            raise(Decision::Escalate, &mut decision);
            why.push(format!("{} risk: a second person confirms", input.risk));
            gates.push(Gate::TypeTarget {
                target: input.target.clone(),
            });
            if !gates
                .iter()
                .any(|g| matches!(g, Gate::SecondPerson { .. } | Gate::TeamApproval))
            {
                gates.push(second_person(input));
            }
        }
    }
    if why.is_empty() {
        why.push(match input.verdict {
            Some(v) => format!("{} risk, pre-flight {v}", input.risk),
            None => format!("{} risk", input.risk),
        });
    }
    Outcome {
        decision,
        why,
        gates,
        wait,
    }
}

/// What stands between `p` and the next step (SPEC §7 defaults).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Gate {
    /// The pre-flight said STOP (or a value is unverified): a typed reason.
    Override { why: String },
    /// Medium risk without a PASS: type `proceed`.
    TypeProceed,
    /// High and critical: type the target's name.
    TypeTarget { target: String },
    /// Critical: a second person's handle, not the operator's own
    /// (self-attested: no team database).
    SecondPerson { operator: String },
    /// Critical, with a team database: another engineer approves the
    /// request from their own terminal; the database refuses the operator.
    TeamApproval,
    /// No pre-flight ran: note what was checked by hand.
    ManualNote,
}

impl Gate {
    /// Typed confirmations must be typed: a paste does not count.
    pub fn accepts_paste(&self) -> bool {
        matches!(self, Gate::Override { .. } | Gate::ManualNote)
    }

    /// What the gate asks for, in a few words (the line that says what
    /// `p` will do).
    pub fn asks(&self) -> String {
        match self {
            Gate::Override { .. } => "a typed reason".into(),
            Gate::TypeProceed => "'proceed' typed".into(),
            Gate::TypeTarget { target } => format!("the target '{target}' typed"),
            Gate::SecondPerson { .. } => "a second person's handle".into(),
            Gate::TeamApproval => "another engineer's approval (team database)".into(),
            Gate::ManualNote => "a note of what you checked by hand".into(),
        }
    }

    pub fn prompt(&self) -> String {
        match self {
            Gate::Override { why } => format!("{why} — type a reason to proceed anyway"),
            Gate::TypeProceed => "no PASS on a medium-risk step — type 'proceed' to confirm".into(),
            Gate::TypeTarget { target } => {
                format!("high-risk step — type the target's name '{target}' to confirm")
            }
            Gate::SecondPerson { .. } => {
                "critical step — a second person types their handle".into()
            }
            Gate::TeamApproval => {
                "critical step — Enter asks the team: another engineer approves with `stepguard approve`".into()
            }
            Gate::ManualNote => "no pre-flight ran — note what you checked by hand".into(),
        }
    }

    /// Whether `input` passes this gate; else why not.
    pub fn check(&self, input: &str) -> Result<(), String> {
        let input = input.trim();
        match self {
            Gate::TypeProceed if input != "proceed" => Err("type exactly 'proceed'".into()),
            Gate::TypeTarget { target } if input != target => {
                Err(format!("type exactly '{target}'"))
            }
            // Enter files the request; the database decides the rest.
            Gate::TeamApproval => Ok(()),
            _ if input.is_empty() => Err("cannot be empty".into()),
            Gate::SecondPerson { operator } if input.eq_ignore_ascii_case(operator) => Err(
                format!("'{input}' is the operator: a second person must confirm"),
            ),
            _ => Ok(()),
        }
    }
}
