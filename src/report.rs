//! `stepguard report ID`: a session's audit log turned into the incident
//! timeline for the postmortem (Markdown, or JSON for tools). Everything
//! comes from the recorded events; nothing is re-run.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::sanitize::sanitize_line;

/// One audit event: sequence, time, kind, data.
pub type Event = (u64, u64, String, Value);

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub session: String,
    pub runbook: String,
    pub runbook_path: String,
    pub started_ms: u64,
    pub ended_ms: u64,
    pub status: String,
    pub target: Option<String>,
    pub drafter: String,
    pub values: Vec<(String, String, String)>,
    pub state_lines: u64,
    pub state_sha256: String,
    pub timeline: Vec<Entry>,
    pub steps: Vec<StepSummary>,
    pub totals: Totals,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub at_ms: u64,
    pub step: String,
    pub text: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StepSummary {
    pub step: String,
    pub decision: String,
    pub verdict: Option<String>,
    pub note: String,
    pub latency_ms: u64,
    pub runs: Vec<String>,
    pub output_tail: String,
    pub copies: Vec<String>,
    pub edits: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub steps_decided: usize,
    pub proceeded: usize,
    pub skipped: usize,
    pub halted: usize,
    pub overrides: usize,
    pub edits: usize,
    /// From the session start to the first copy of an action.
    pub time_to_first_action_ms: Option<u64>,
    pub duration_ms: u64,
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn clean(text: &str) -> String {
    sanitize_line(text, 300).into_owned()
}

/// A line composed of cleaned parts and recorded words (a verdict, a
/// decision): one line whatever the log holds, so no recorded text can
/// start a Markdown heading or list of its own.
fn one_line(text: &str) -> String {
    sanitize_line(text, usize::MAX).into_owned()
}

/// Build the report from a session's events (in log order).
pub fn build(session: &str, events: &[Event]) -> Report {
    let mut r = Report {
        session: session.to_string(),
        ..Report::default()
    };
    let mut steps: Vec<StepSummary> = Vec::new();
    let mut current = String::new();
    let step_of = |steps: &mut Vec<StepSummary>, id: &str| -> usize {
        match steps.iter().position(|s| s.step == id) {
            Some(i) => i,
            None => {
                steps.push(StepSummary {
                    step: id.to_string(),
                    ..StepSummary::default()
                });
                steps.len() - 1
            }
        }
    };
    for (_, at, kind, data) in events {
        r.started_ms = if r.started_ms == 0 { *at } else { r.started_ms };
        r.ended_ms = *at;
        let step = data.get("step").and_then(Value::as_str).map(String::from);
        if let Some(id) = &step {
            current = id.clone();
        }
        let mut text = None;
        match kind.as_str() {
            "session-start" => {
                r.runbook = s(data, "runbook");
                r.runbook_path = s(data, "runbook_path");
                r.drafter = s(data, "drafter");
                text = Some(format!(
                    "session started on runbook `{}`",
                    clean(&r.runbook)
                ));
            }
            "resume" => text = Some(format!("session resumed at step {}", s(data, "step"))),
            "context" => {
                r.state_lines = data.get("state_lines").and_then(Value::as_u64).unwrap_or(0);
                r.state_sha256 = s(data, "state_sha256");
                r.values = data
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|vals| {
                        vals.iter()
                            .map(|v| {
                                let verified = if v.get("verified") == Some(&Value::Bool(true)) {
                                    ""
                                } else {
                                    " (unverified)"
                                };
                                (
                                    s(v, "name"),
                                    s(v, "value"),
                                    format!("{}{verified}", s(v, "source")),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                text = Some(format!("cluster state given: {} lines", r.state_lines));
            }
            "target" => {
                r.target = Some(s(data, "context"));
                text = Some(format!(
                    "target: kube context `{}`",
                    clean(&s(data, "context"))
                ));
            }
            "run" => {
                let i = step_of(&mut steps, &current);
                let line = format!(
                    "{} `{}` → {} (exit {}, {} ms){}",
                    s(data, "kind"),
                    clean(&s(data, "command")),
                    s(data, "verdict"),
                    s(data, "exit_code"),
                    s(data, "duration_ms"),
                    match s(data, "reason") {
                        r if r.is_empty() => String::new(),
                        r => format!(": {}", clean(&r)),
                    }
                );
                steps[i].runs.push(line.clone());
                steps[i].output_tail = s(data, "output_tail");
                if s(data, "kind") == "preflight" {
                    steps[i].verdict = Some(s(data, "verdict"));
                }
                text = Some(line);
            }
            "copy" => {
                let i = step_of(&mut steps, &current);
                let what = s(data, "what");
                let via = match s(data, "via") {
                    v if v.is_empty() => format!("failed: {}", clean(&s(data, "error"))),
                    v => format!("via {v}"),
                };
                steps[i]
                    .copies
                    .push(format!("{what} `{}` ({via})", clean(&s(data, "text"))));
                if what == "action" && r.totals.time_to_first_action_ms.is_none() {
                    r.totals.time_to_first_action_ms = Some(at.saturating_sub(r.started_ms));
                }
                text = Some(format!("copied the {what} ({via})"));
            }
            "edit" => {
                let i = step_of(&mut steps, &current);
                steps[i].edits.push((s(data, "before"), s(data, "after")));
                r.totals.edits += 1;
                text = Some("edited the action".into());
            }
            "override" => {
                r.totals.overrides += 1;
                text = Some(format!(
                    "override ({}): {}",
                    clean(&s(data, "what")),
                    clean(&s(data, "reason"))
                ));
            }
            "decision" => {
                let i = step_of(&mut steps, &current);
                let decision = s(data, "decision");
                steps[i].decision = decision.clone();
                steps[i].note = s(data, "note");
                steps[i].latency_ms = data.get("latency_ms").and_then(Value::as_u64).unwrap_or(0);
                r.totals.steps_decided += 1;
                match decision.as_str() {
                    "proceed" => r.totals.proceeded += 1,
                    "skip" => r.totals.skipped += 1,
                    "halt" => r.totals.halted += 1,
                    _ => {}
                }
                if decision == "proceed" && s(data, "verdict") == "STOP" {
                    r.totals.overrides += 1;
                }
                let note = steps[i].note.clone();
                text = Some(format!(
                    "decision: {decision}{} after {}{}",
                    match s(data, "verdict") {
                        v if v.is_empty() => String::new(),
                        v => format!(" on {v}"),
                    },
                    human_ms(steps[i].latency_ms),
                    if note.is_empty() {
                        String::new()
                    } else {
                        format!(" — {}", clean(&note))
                    }
                ));
            }
            "draft" => {
                text = Some(match s(data, "error") {
                    e if !e.is_empty() => format!("model draft failed: {}", clean(&e)),
                    _ => format!(
                        "drafted by {}{}",
                        clean(&s(data, "model")),
                        if data.get("cached") == Some(&Value::Bool(true)) {
                            " (cached)"
                        } else {
                            ""
                        }
                    ),
                })
            }
            "quit" => text = Some("quit (session saved)".into()),
            _ => {}
        }
        if let Some(text) = text {
            r.timeline.push(Entry {
                at_ms: *at,
                step: step.unwrap_or_else(|| current.clone()),
                text,
            });
        }
    }
    r.status = if r.totals.halted > 0 {
        "halted".into()
    } else {
        "open or completed".into()
    };
    r.totals.duration_ms = r.ended_ms.saturating_sub(r.started_ms);
    r.steps = steps;
    r
}

/// `1 min 05 s`, `12 s`, `850 ms`.
pub fn human_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{} s", ms / 1000),
        _ => format!("{} min {:02} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// `HH:MM:SS` UTC of a unix time in milliseconds.
pub fn clock(ms: u64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

/// `YYYY-MM-DD` (UTC) of a unix time in milliseconds (civil-from-days).
pub fn date(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

impl Report {
    /// The report for tools, with every control and invisible character
    /// escaped (see [`crate::sanitize::to_json_pretty`]).
    pub fn to_json(&self) -> serde_json::Result<String> {
        crate::sanitize::to_json_pretty(self)
    }

    pub fn to_markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# Incident timeline: {}\n", clean(&self.runbook));
        let _ = writeln!(
            o,
            "- Session `{}`, runbook `{}` (`{}`)",
            self.session,
            clean(&self.runbook),
            clean(&self.runbook_path)
        );
        let _ = writeln!(
            o,
            "- {} {} → {} UTC ({})",
            date(self.started_ms),
            clock(self.started_ms),
            clock(self.ended_ms),
            human_ms(self.totals.duration_ms)
        );
        if let Some(t) = &self.target {
            let _ = writeln!(o, "- Target: kube context `{}`", clean(t));
        }
        let _ = writeln!(
            o,
            "- Drafted by: {}",
            if self.drafter.is_empty() {
                "offline".into()
            } else {
                clean(&self.drafter)
            }
        );
        if self.state_lines > 0 {
            let _ = writeln!(
                o,
                "- Cluster state: {} lines (sha256 `{}`)",
                self.state_lines,
                clean(&self.state_sha256.chars().take(16).collect::<String>())
            );
        }
        if !self.values.is_empty() {
            let _ = writeln!(o, "- Values:");
            for (name, value, source) in &self.values {
                let _ = writeln!(
                    o,
                    "  - `{}` = `{}` ({})",
                    clean(name),
                    clean(value),
                    clean(source)
                );
            }
        }
        let _ = writeln!(
            o,
            "\n## Timeline\n\n| time (UTC) | + | step | event |\n|---|---|---|---|"
        );
        for e in &self.timeline {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                clock(e.at_ms),
                human_ms(e.at_ms.saturating_sub(self.started_ms)),
                clean(&e.step),
                clean(&e.text).replace('|', "\\|")
            );
        }
        let _ = writeln!(o, "\n## Steps");
        for (n, step) in self.steps.iter().enumerate() {
            let _ = writeln!(
                o,
                "\n### {}. {}: {}{}\n",
                n + 1,
                clean(&step.step),
                if step.decision.is_empty() {
                    "no decision".into()
                } else {
                    clean(&step.decision)
                },
                step.verdict
                    .as_ref()
                    .map_or(String::new(), |v| format!(" (pre-flight {})", clean(v)))
            );
            for run in &step.runs {
                let _ = writeln!(o, "- {}", one_line(run));
            }
            if !step.output_tail.trim().is_empty() {
                let _ = writeln!(o, "\n  Output (last lines):\n\n  ```");
                for line in step.output_tail.lines() {
                    let _ = writeln!(o, "  {}", clean(line));
                }
                let _ = writeln!(o, "  ```\n");
            }
            for c in &step.copies {
                let _ = writeln!(o, "- copied the {}", one_line(c));
            }
            for (before, after) in &step.edits {
                let _ = writeln!(
                    o,
                    "- edited the action:\n\n  ```diff\n  - {}\n  + {}\n  ```",
                    clean(before),
                    clean(after)
                );
            }
            if !step.decision.is_empty() {
                let _ = writeln!(
                    o,
                    "- decided `{}` after {}{}",
                    clean(&step.decision),
                    human_ms(step.latency_ms),
                    if step.note.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", clean(&step.note))
                    }
                );
            }
        }
        let t = &self.totals;
        let _ = writeln!(o, "\n## Totals\n");
        let _ = writeln!(
            o,
            "- Steps decided: {} ({} proceeded, {} skipped, {} halted)",
            t.steps_decided, t.proceeded, t.skipped, t.halted
        );
        let _ = writeln!(o, "- Overrides: {}; edits: {}", t.overrides, t.edits);
        let _ = writeln!(
            o,
            "- Time to first action copied: {}",
            t.time_to_first_action_ms
                .map_or("no action was copied".into(), human_ms)
        );
        let decided: Vec<u64> = self
            .steps
            .iter()
            .filter(|s| !s.decision.is_empty())
            .map(|s| s.latency_ms)
            .collect();
        if !decided.is_empty() {
            let mean = decided.iter().sum::<u64>() / decided.len() as u64;
            let _ = writeln!(
                o,
                "- Time per step (card to decision): mean {}, longest {}",
                human_ms(mean),
                human_ms(*decided.iter().max().unwrap_or(&0))
            );
        }
        let _ = writeln!(o, "- Session length: {}", human_ms(t.duration_ms));
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_795_397_485_000), "2026-11-23");
        assert_eq!(clock(1_795_397_485_000), "01:31:25");
        assert_eq!(human_ms(65_000), "1 min 05 s");
    }
}
