//! `stepguard eval DIR`: score matching and the escalation decision on
//! scenario files.
//!
//! # Scenario format
//!
//! One scenario per `*.yaml` / `*.yml` file (unknown keys are errors):
//!
//! ```yaml
//! name: crash loop after a deploy, from Alertmanager
//! category: correct-triage   # correct-triage | no-runbook | false-alarm | approximate | escalation
//! alert:                     # optional: one Alertmanager-style alert
//!   labels: {alertname: KubePodCrashLooping, namespace: payments, pod: checkout-7d9f8b6c4-x2kqz}
//!   annotations: {summary: Pod is crash looping.}
//! text: |                    # optional: free text or pasted state (appended to the alert's)
//!   checkout-7d9f8b6c4-x2kqz   0/1   CrashLoopBackOff   7 (2m ago)   14m
//! expect: k8s-crashloop-bad-rollout   # the right runbook id, or null when none fits
//! expect_decision: PROCEED   # optional; default ESCALATE when expect is null, else PROCEED
//! ```
//!
//! At least one of `alert` and `text` is required.
//!
//! # Metrics
//!
//! * `top1` / `top3`: of the scenarios that expect a runbook, the share whose
//!   runbook is ranked first / in the first three (threshold ignored);
//! * `no_match_precision`: of the scenarios that expect no runbook, the share
//!   where no runbook clears the threshold (1.0 = no false match);
//! * `escalation_accuracy`: the share whose decision is the expected one.
//!   The decision is ESCALATE when no runbook clears the threshold, else PROCEED;
//! * per category, a scenario passes when its decision is right and, if it
//!   expects a runbook, that runbook is ranked first.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::draft::Alert;
use crate::matching::{query_from_alert, Matcher, Query};
use crate::runbook::Runbook;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    CorrectTriage,
    NoRunbook,
    FalseAlarm,
    Approximate,
    Escalation,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::CorrectTriage => "correct-triage",
            Category::NoRunbook => "no-runbook",
            Category::FalseAlarm => "false-alarm",
            Category::Approximate => "approximate",
            Category::Escalation => "escalation",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Decision {
    Proceed,
    Escalate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioAlert {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub category: Category,
    #[serde(default)]
    pub alert: Option<ScenarioAlert>,
    #[serde(default)]
    pub text: Option<String>,
    pub expect: Option<String>,
    #[serde(default)]
    pub expect_decision: Option<Decision>,
    #[serde(skip)]
    pub path: PathBuf,
}

impl Scenario {
    pub fn query(&self) -> Query {
        let mut q = match &self.alert {
            Some(a) => query_from_alert(&Alert {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                firing: true,
            }),
            None => Query::default(),
        };
        if let Some(text) = &self.text {
            if !q.text.is_empty() {
                q.text.push('\n');
            }
            q.text.push_str(text);
        }
        q
    }

    pub fn expected_decision(&self) -> Decision {
        self.expect_decision.unwrap_or(if self.expect.is_some() {
            Decision::Proceed
        } else {
            Decision::Escalate
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CategoryReport {
    pub scenarios: usize,
    pub passed: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub threshold: f64,
    pub scenarios: usize,
    pub top1: f64,
    pub top3: f64,
    pub no_match_precision: f64,
    pub escalation_accuracy: f64,
    pub per_category: BTreeMap<String, CategoryReport>,
    pub failures: Vec<String>,
}

impl EvalReport {
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}, threshold {:.2}",
            crate::words::count(self.scenarios as u64, "scenario", "scenarios"),
            self.threshold
        );
        let _ = writeln!(out, "top-1               {:>6.1} %", self.top1 * 100.0);
        let _ = writeln!(out, "top-3               {:>6.1} %", self.top3 * 100.0);
        let _ = writeln!(
            out,
            "no-match precision  {:>6.1} %",
            self.no_match_precision * 100.0
        );
        let _ = writeln!(
            out,
            "escalation accuracy {:>6.1} %",
            self.escalation_accuracy * 100.0
        );
        for (cat, r) in &self.per_category {
            let _ = writeln!(out, "  {cat:<16} {}/{}", r.passed, r.scenarios);
        }
        if !self.failures.is_empty() {
            let _ = writeln!(out, "failures:");
            for f in &self.failures {
                let _ = writeln!(out, "  {f}");
            }
        }
        out
    }
}

/// Every scenario file of a directory, sorted by name; an error names the file.
pub fn load_scenarios(dir: &Path) -> Result<Vec<Scenario>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let src = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut s: Scenario =
            serde_yaml::from_str(&src).map_err(|e| format!("{}: {e}", file.display()))?;
        if s.alert.is_none() && s.text.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return Err(format!(
                "{}: a scenario needs `alert` or `text`",
                file.display()
            ));
        }
        s.path = file;
        out.push(s);
    }
    Ok(out)
}

pub fn run_eval(dir: &Path, runbooks: &[Runbook], threshold: f64) -> Result<EvalReport, String> {
    let scenarios = load_scenarios(dir)?;
    let known: std::collections::HashSet<&str> = runbooks.iter().map(|r| r.id.as_str()).collect();
    for s in &scenarios {
        if let Some(id) = &s.expect {
            if !known.contains(id.as_str()) {
                return Err(format!(
                    "{}: expects runbook `{id}`, which is not in the catalogue",
                    s.path.display()
                ));
            }
        }
    }
    let matcher = Matcher::new(runbooks);
    let (mut expecting, mut top1, mut top3) = (0usize, 0usize, 0usize);
    let (mut none_expected, mut none_right) = (0usize, 0usize);
    let mut decisions_right = 0usize;
    let mut per_category: BTreeMap<String, CategoryReport> = BTreeMap::new();
    let mut failures = Vec::new();
    for s in &scenarios {
        let ranked = matcher.rank(&s.query());
        let cleared = ranked.first().filter(|m| m.confidence >= threshold);
        let decision = if cleared.is_some() {
            Decision::Proceed
        } else {
            Decision::Escalate
        };
        let mut ok = true;
        let mut why = Vec::new();
        match &s.expect {
            Some(id) => {
                expecting += 1;
                let pos = ranked.iter().position(|m| &m.id == id);
                if pos == Some(0) {
                    top1 += 1;
                } else {
                    ok = false;
                    why.push(format!(
                        "expected {id} first, got {} ({})",
                        ranked.first().map_or("nothing", |m| m.id.as_str()),
                        pos.map_or("not ranked".to_string(), |p| format!("ranked {}", p + 1))
                    ));
                }
                if pos.is_some_and(|p| p < 3) {
                    top3 += 1;
                }
            }
            None => {
                none_expected += 1;
                match cleared {
                    None => none_right += 1,
                    Some(m) => {
                        ok = false;
                        why.push(format!("false match {} at {:.2}", m.id, m.confidence));
                    }
                }
            }
        }
        let expected = s.expected_decision();
        if decision == expected {
            decisions_right += 1;
        } else {
            ok = false;
            why.push(format!(
                "decision {decision:?}, expected {expected:?} (top {})",
                ranked.first().map_or("none".to_string(), |m| format!(
                    "{} {:.2} {}",
                    m.id, m.confidence, m.why
                ))
            ));
        }
        let cat = per_category.entry(s.category.as_str().into()).or_default();
        cat.scenarios += 1;
        if ok {
            cat.passed += 1;
        } else {
            let file = s
                .path
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into());
            failures.push(format!("{file} ({}): {}", s.name, why.join("; ")));
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    Ok(EvalReport {
        threshold,
        scenarios: scenarios.len(),
        top1: ratio(top1, expecting),
        top3: ratio(top3, expecting),
        no_match_precision: ratio(none_right, none_expected),
        escalation_accuracy: ratio(decisions_right, scenarios.len()),
        per_category,
        failures,
    })
}
