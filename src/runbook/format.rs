//! The YAML runbook format. Unknown keys are errors: a typo must not silently
//! drop a stop rule.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::DEFAULT_VALUE_PATTERN;

/// Risk tier of a step (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub summary: String,
    /// What the alert means and what it affects, at length: read only by the
    /// matcher (a Markdown runbook's whole `## Meaning` and `## Impact`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub alerts: Vec<String>,
    #[serde(default)]
    pub symptoms: Vec<String>,
    #[serde(default)]
    pub risk: Risk,
    #[serde(default)]
    pub assumptions: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, Variable>,
    pub steps: Vec<Step>,
    /// Where the runbook was loaded from (not part of the format).
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    #[serde(default)]
    pub description: String,
    /// Regex the value must match; else SPEC §1.5's conservative default.
    pub pattern: Option<String>,
    /// Where the offline drafter looks: `label:NAME`, `var:NAME`.
    #[serde(default)]
    pub from: Vec<String>,
    /// Regex over the pasted state; capture group 1 (or the whole match) is the value.
    pub extract: Option<String>,
    /// Fallback value. A default is never evidence: it is shown as unverified.
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub intent: String,
    pub risk: Option<Risk>,
    pub preflight: Option<Check>,
    pub action: Option<Action>,
    pub verify: Option<Check>,
    pub rollback: Option<Rollback>,
    /// Why a step has `rollback: none`.
    pub reason: Option<String>,
}

/// A read-only command stepguard may run (pre-flight or verify).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub run: String,
    pub proceed_if: Option<String>,
    pub stop_if: Option<String>,
    #[serde(default)]
    pub explain: String,
    /// `20s`, `500ms`, `2m`; default 30s.
    pub timeout: Option<String>,
    /// A variable this read finds (a pre-flight only): when it exits 0
    /// and prints one value, that value (if its pattern takes it) fills the
    /// variable for the steps after, with the output line as evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sets: Option<String>,
}

/// The mutating command. stepguard never runs it; the human does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub run: String,
    pub blast_radius: String,
}

/// `rollback: {run: ...}` or `rollback: none` (with the step's `reason`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Rollback {
    Command(RollbackCommand),
    Keyword(String),
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackCommand {
    pub run: String,
}

impl Rollback {
    pub fn command(&self) -> Option<&str> {
        match self {
            Rollback::Command(c) => Some(&c.run),
            Rollback::Keyword(_) => None,
        }
    }
}

impl Runbook {
    /// The effective risk of a step: its own, else the runbook's.
    pub fn step_risk(&self, step: &Step) -> Risk {
        step.risk.unwrap_or(self.risk)
    }

    /// Find a step by id or 1-based number.
    pub fn find_step(&self, key: &str) -> Option<(usize, &Step)> {
        if let Some(i) = self.steps.iter().position(|s| s.id == key) {
            return Some((i, &self.steps[i]));
        }
        let n: usize = key.parse().ok()?;
        (n >= 1 && n <= self.steps.len()).then(|| (n - 1, &self.steps[n - 1]))
    }
}

impl Step {
    /// A prose-only step: the human (or a model) works out the commands.
    pub fn is_manual(&self) -> bool {
        self.preflight.is_none() && self.action.is_none() && self.verify.is_none()
    }

    /// The variables the step uses, in order of first appearance.
    pub fn variables(&self) -> Vec<String> {
        let mut texts: Vec<&str> = vec![&self.title, &self.intent];
        for c in [&self.preflight, &self.verify].into_iter().flatten() {
            texts.push(&c.run);
            texts.push(&c.explain);
        }
        if let Some(a) = &self.action {
            texts.push(&a.run);
            texts.push(&a.blast_radius);
        }
        if let Some(Rollback::Command(c)) = &self.rollback {
            texts.push(&c.run);
        }
        let mut names: Vec<String> = Vec::new();
        for t in texts {
            for n in super::render::placeholders(t) {
                if !names.iter().any(|x| x == n) {
                    names.push(n.to_string());
                }
            }
        }
        names
    }
}

impl Check {
    pub fn timeout(&self) -> Duration {
        self.timeout
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or(DEFAULT_TIMEOUT)
    }
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// `500ms`, `20s`, `2m`, `1h`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    };
    (!d.is_zero()).then_some(d)
}

// Hand-written so that an unknown key inside `rollback:` keeps its line and
// column (serde's untagged enums lose both).
impl<'de> Deserialize<'de> for Rollback {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RollbackVisitor;
        impl<'de> serde::de::Visitor<'de> for RollbackVisitor {
            type Value = Rollback;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`none` or a mapping with `run`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Rollback, E> {
                Ok(Rollback::Keyword(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Rollback, A::Error> {
                RollbackCommand::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Rollback::Command)
            }
        }
        deserializer.deserialize_any(RollbackVisitor)
    }
}

impl Variable {
    /// Check a value against its variable's pattern (whole value) and the
    /// rules no pattern can relax: no control characters, bounded length.
    pub fn validate(&self, value: &str) -> Result<(), String> {
        if value.is_empty() {
            return Err("empty value".into());
        }
        if value.len() > 512 {
            return Err(format!("{} bytes is too long for a value", value.len()));
        }
        // Invisible format characters (bidi overrides, zero-width) make a
        // value read as another: refused like controls, whatever the pattern.
        if value
            .chars()
            .any(|c| c.is_control() || crate::sanitize::is_hidden_format(c))
        {
            return Err("contains control or invisible format characters".into());
        }
        let pattern = self.pattern.as_deref().unwrap_or(DEFAULT_VALUE_PATTERN);
        let whole = Regex::new(&format!("^(?:{pattern})$"))
            // regex prints a multi-line diagram; its last line names the fault.
            .map_err(|e| {
                let text = e.to_string();
                let why = text.lines().last().unwrap_or("").trim().to_string();
                format!("pattern does not compile: {why}")
            })?;
        if whole.is_match(value) {
            Ok(())
        } else {
            Err(format!("does not match {pattern}"))
        }
    }
}
