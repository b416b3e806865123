//! `stepguard report ID`: a session's audit log turned into the incident
//! timeline for the postmortem (Markdown, or JSON for tools). Everything
//! comes from the recorded events; nothing is re-run.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::sanitize::sanitize_line;
use crate::session::event::{Decision, DraftResult, Event};
use crate::session::Recorded;
use crate::verdict::{CheckKind, Verdict};
use crate::words::count;

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

/// The word the log records for a value (`preflight`, `state`).
fn word<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(word)) => word,
        _ => String::new(),
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
pub fn build(session: &str, events: &[Recorded]) -> Report {
    let mut r = Report {
        session: session.to_string(),
        ..Report::default()
    };
    let mut steps: Vec<StepSummary> = Vec::new();
    let on_screen = screen_steps(events);
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
    for (
        Recorded {
            ts_ms: at, event, ..
        },
        screen,
    ) in events.iter().zip(on_screen)
    {
        r.started_ms = if r.started_ms == 0 { *at } else { r.started_ms };
        r.ended_ms = *at;
        // Its own step where it names one, else the step on screen then.
        let current = event.step().map(String::from).or(screen);
        let step = match event {
            // Facts about the session, not about a step.
            Event::SessionStart(_)
            | Event::Target { .. }
            | Event::Matched(_)
            | Event::Storage { .. }
            | Event::Repair { .. } => None,
            _ => current.clone(),
        };
        let current = current.unwrap_or_default();
        let mut text = None;
        match event {
            Event::SessionStart(start) => {
                r.runbook = start.runbook.clone();
                r.runbook_path = start.runbook_path.clone();
                r.drafter = start.drafter.clone();
                text = Some(format!(
                    "session started on runbook `{}`",
                    clean(&r.runbook)
                ));
            }
            Event::Resume {
                step: at_step,
                runbook_changes,
                runbook_from_copy,
                ..
            } => {
                let mut line = format!("session resumed at step {at_step}");
                if *runbook_from_copy {
                    line.push_str(" (runbook file gone: from the session's copy)");
                }
                if !runbook_changes.is_empty() {
                    line.push_str(&format!(
                        "; runbook changed: {}",
                        clean(&runbook_changes.join("; "))
                    ));
                }
                text = Some(line)
            }
            Event::Context(context) => {
                r.state_lines = context.state_lines as u64;
                r.state_sha256 = context.state_sha256.clone();
                r.values = context
                    .values
                    .iter()
                    .map(|v| {
                        let verified = if v.verified { "" } else { " (unverified)" };
                        (
                            v.name.clone(),
                            v.value.clone().unwrap_or_default(),
                            format!(
                                "{}{verified}",
                                v.source.as_ref().map(word).unwrap_or_default()
                            ),
                        )
                    })
                    .collect();
                text = Some(format!(
                    "cluster state given: {}",
                    count(r.state_lines, "line", "lines")
                ));
            }
            Event::Matched(m) => {
                let ranked: Vec<String> = m
                    .ranked
                    .iter()
                    .map(|r| format!("`{}` {:.2}", clean(&r.id), r.confidence))
                    .collect();
                let mut line = format!(
                    "opened `{}` from the ranking by the {}: {}",
                    clean(&m.opened),
                    clean(&m.by),
                    ranked.join(", ")
                );
                if let Some(rerank) = &m.rerank {
                    line.push_str(&format!(
                        "; asked {} ({})",
                        clean(&rerank.model),
                        clean(&rerank.said)
                    ));
                }
                text = Some(line);
            }
            Event::Approval(a) => {
                let mut line = format!(
                    "approval {} {} (asked by {})",
                    clean(&a.id),
                    clean(&a.state),
                    clean(&a.requested_by)
                );
                if !a.by.is_empty() {
                    line.push_str(&format!(" by {}", clean(&a.by.join(", "))));
                }
                if !a.reason.is_empty() {
                    line.push_str(&format!(": {}", clean(&a.reason)));
                }
                text = Some(line);
            }
            Event::Target { context } => {
                r.target = Some(context.clone());
                text = Some(format!("target: kube context `{}`", clean(context)));
            }
            Event::Run(run) => {
                let i = step_of(&mut steps, &current);
                let line = format!(
                    "{} `{}` → {} (exit {}, {} ms){}",
                    word(&run.kind),
                    clean(&run.command),
                    run.verdict,
                    run.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                    run.duration_ms,
                    match run.reason.as_str() {
                        "" => String::new(),
                        reason => format!(": {}", clean(reason)),
                    }
                );
                steps[i].runs.push(line.clone());
                steps[i].output_tail = run.output_tail.clone();
                if run.kind == CheckKind::Preflight {
                    steps[i].verdict = Some(run.verdict.to_string());
                }
                text = Some(line);
            }
            Event::Copy(copied) => {
                let i = step_of(&mut steps, &current);
                let what = &copied.what;
                let via = match copied.via.as_deref() {
                    Some(via) if !via.is_empty() => format!("via {via}"),
                    _ => format!(
                        "failed: {}",
                        clean(copied.error.as_deref().unwrap_or_default())
                    ),
                };
                steps[i]
                    .copies
                    .push(format!("{what} `{}` ({via})", clean(&copied.text)));
                if what == "action" && r.totals.time_to_first_action_ms.is_none() {
                    r.totals.time_to_first_action_ms = Some(at.saturating_sub(r.started_ms));
                }
                text = Some(format!("copied the {what} ({via})"));
            }
            Event::Edit { before, after, .. } => {
                let i = step_of(&mut steps, &current);
                steps[i].edits.push((before.clone(), after.clone()));
                r.totals.edits += 1;
                text = Some("edited the action".into());
            }
            Event::Value {
                name,
                value,
                found: Some(found),
                ..
            } => {
                // The header lists what the walk ran with: a found value
                // stands there until a later context says otherwise.
                r.values.retain(|(n, _, _)| n != name);
                r.values
                    .push((name.clone(), value.clone(), "output".into()));
                text = Some(format!(
                    "value found by the pre-flight of step {}: {} = `{}` (output line {})",
                    clean(&found.step),
                    clean(name),
                    clean(value),
                    found.line
                ));
            }
            Event::Value {
                name, voided: true, ..
            } => {
                r.values
                    .retain(|(n, _, source)| !(n == name && source == "output"));
                text = Some(format!(
                    "value found before no longer counts: {} (its read found none)",
                    clean(name)
                ));
            }
            Event::Value {
                name,
                value,
                previous,
                ..
            } => {
                text = Some(match previous {
                    Some(old) => format!(
                        "value set by the operator: {} = `{}` (was `{}`)",
                        clean(name),
                        clean(value),
                        clean(old)
                    ),
                    None => format!(
                        "value set by the operator: {} = `{}`",
                        clean(name),
                        clean(value)
                    ),
                });
            }
            Event::Override { what, reason, .. } => {
                r.totals.overrides += 1;
                text = Some(format!("override ({}): {}", clean(what), clean(reason)));
            }
            Event::Decision(decided) => {
                let i = step_of(&mut steps, &current);
                let decision = decided.decision.as_str();
                steps[i].decision = decision.to_string();
                steps[i].note = decided.note.clone();
                steps[i].latency_ms = decided.latency_ms;
                r.totals.steps_decided += 1;
                match decided.decision {
                    Decision::Proceed => r.totals.proceeded += 1,
                    Decision::Skip => r.totals.skipped += 1,
                    Decision::Halt => r.totals.halted += 1,
                    Decision::Undecided => {}
                }
                if decided.decision == Decision::Proceed && decided.verdict == Some(Verdict::Stop) {
                    r.totals.overrides += 1;
                }
                let note = steps[i].note.clone();
                text = Some(format!(
                    "decision: {decision}{} after {}{}",
                    match decided.verdict {
                        None => String::new(),
                        Some(v) => format!(" on {v}"),
                    },
                    human_ms(steps[i].latency_ms),
                    if note.is_empty() {
                        String::new()
                    } else {
                        format!(" — {}", clean(&note))
                    }
                ));
            }
            Event::Draft(draft) => {
                text = Some(match draft {
                    DraftResult::Failed { error, .. } => {
                        format!("model draft failed: {}", clean(error))
                    }
                    DraftResult::Drafted(d) => format!(
                        "drafted by {}{}",
                        clean(&d.model),
                        if d.cached { " (cached)" } else { "" }
                    ),
                })
            }
            Event::Quit { signal: None } => text = Some("quit (session saved)".into()),
            Event::Quit { signal: Some(sig) } => {
                text = Some(format!("ended by {} (session saved)", clean(sig)))
            }
            Event::Repair {
                line,
                removed_bytes,
                ..
            } => {
                text = Some(format!(
                    "audit log repaired: a line cut off mid-write (line {line}, {}) was removed",
                    count(*removed_bytes, "byte", "bytes")
                ))
            }
            Event::Storage { held, error } => {
                text = Some(format!(
                    "writing failed ({}); {} held and written when it worked again",
                    clean(error),
                    match held {
                        1 => "1 event was".to_string(),
                        n => format!("{n} events were"),
                    }
                ))
            }
            Event::RunStart { .. } | Event::Cancel { .. } | Event::Unknown { .. } => {}
        }
        if let Some(text) = text {
            r.timeline.push(Entry {
                at_ms: *at,
                step: step.unwrap_or_default(),
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

/// Where the screen was.
#[derive(Clone)]
enum Screen {
    /// Before the walk (the picker).
    Nowhere,
    /// The step with this id.
    Step(String),
    /// The step with this 1-based number: the walk moved on to it (a
    /// decision, a resume) and no event has named it yet.
    Number(usize),
}

/// The id of the step on screen when each event happened, for events that
/// do not name their own step (a new paste, an override, a quit, and
/// copies in logs from before copies named theirs). The screen moves to a
/// step when an event on it names it (a run, a copy, an edit, a decision),
/// and to the next step after a proceed or a skip; a draft does not move
/// it (the next step's is prefetched). A step reached by number is named
/// by the first event on it, or by its decision, anywhere in the log;
/// failing both it is `step N`.
fn screen_steps(events: &[Recorded]) -> Vec<Option<String>> {
    let mut total = 0;
    let mut screen = Screen::Nowhere;
    let mut named: std::collections::BTreeMap<usize, String> = Default::default();
    let mut at: Vec<Screen> = Vec::with_capacity(events.len());
    for Recorded { event, .. } in events {
        at.push(screen.clone());
        match event {
            Event::SessionStart(start) => {
                total = start.steps;
                screen = Screen::Number(1);
            }
            // 0: a log from before resumes recorded their step.
            Event::Resume { step, .. } if *step > 0 => screen = Screen::Number(*step),
            Event::Run(_) | Event::Copy(_) | Event::Edit { .. } | Event::Decision(_) => {
                let Some(id) = event.step() else { continue };
                if let Screen::Number(n) = screen {
                    named.entry(n).or_insert_with(|| id.to_string());
                }
                screen = Screen::Step(id.to_string());
                if let Event::Decision(d) = event {
                    if d.step_number > 0 {
                        named.insert(d.step_number, id.to_string());
                    }
                    let moves_on = matches!(d.decision, Decision::Proceed | Decision::Skip);
                    // After the last step the walk is over, still on it.
                    let last = total > 0 && d.step_number >= total;
                    if moves_on && d.step_number > 0 && !last {
                        screen = Screen::Number(d.step_number + 1);
                    }
                }
            }
            _ => {}
        }
    }
    at.into_iter()
        .map(|s| match s {
            Screen::Nowhere => None,
            Screen::Step(id) => Some(id),
            Screen::Number(n) => Some(named.get(&n).cloned().unwrap_or(format!("step {n}"))),
        })
        .collect()
}

/// `1 min 05 s`, `12 s`, `850 ms`.
pub fn human_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{} s", ms / 1000),
        _ => format!("{} min {:02} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

pub use crate::clock::{clock, date};

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
                "- Cluster state: {} (sha256 `{}`)",
                count(self.state_lines, "line", "lines"),
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
