//! `stepguard stats`: is the human gate real? Approval latency, rejection,
//! modification, override and STOP-trip rates across sessions, per runbook
//! and per step, with the rubber-stamp check of SPEC §7.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::report::human_ms;
use crate::session::event::{Decision, Event};
use crate::session::Recorded;
use crate::verdict::{CheckKind, Verdict};
use crate::words::count;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Rates {
    pub decisions: usize,
    pub proceeded: usize,
    pub rejected: usize,
    pub modified: usize,
    pub overridden: usize,
    pub preflights: usize,
    pub stop_trips: usize,
    pub latency_p50_ms: u64,
    pub latency_p95_ms: u64,
    pub latency_p99_ms: u64,
    pub rejection_rate: f64,
    pub modification_rate: f64,
    pub override_rate: f64,
    pub stop_trip_rate: f64,
    #[serde(skip)]
    latencies: Vec<u64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub sessions: usize,
    pub overall: Rates,
    pub per_runbook: BTreeMap<String, Rates>,
    pub per_step: BTreeMap<String, Rates>,
    /// Approval latencies in buckets, for the chart.
    pub latency_histogram: Vec<(String, u64)>,
    /// Set when approvals look like rubber-stamping.
    pub rubber_stamp: Option<String>,
}

const BUCKETS: &[(u64, &str)] = &[
    (5_000, "<5s"),
    (10_000, "5-10s"),
    (30_000, "10-30s"),
    (60_000, "30-60s"),
    (300_000, "1-5m"),
    (u64::MAX, ">5m"),
];

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

impl Rates {
    fn finish(&mut self) {
        self.latencies.sort_unstable();
        self.latency_p50_ms = percentile(&self.latencies, 0.50);
        self.latency_p95_ms = percentile(&self.latencies, 0.95);
        self.latency_p99_ms = percentile(&self.latencies, 0.99);
        let rate = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        self.rejection_rate = rate(self.rejected, self.decisions);
        self.modification_rate = rate(self.modified, self.decisions);
        self.override_rate = rate(self.overridden, self.decisions);
        self.stop_trip_rate = rate(self.stop_trips, self.preflights);
    }
}

/// Compute from every session's events: `(session id, events)`.
pub fn compute(sessions: &[(String, Vec<Recorded>)]) -> Stats {
    let mut stats = Stats {
        sessions: sessions.len(),
        ..Stats::default()
    };
    for (_, events) in sessions {
        let runbook = events
            .iter()
            .find_map(|r| match &r.event {
                Event::SessionStart(start) => Some(start.runbook.as_str()),
                _ => None,
            })
            .unwrap_or("?")
            .to_string();
        let mut edited_steps: Vec<String> = Vec::new();
        let mut current = String::new();
        for Recorded { event, .. } in events {
            if let Some(step) = event.step() {
                current = step.to_string();
            }
            let key = format!("{runbook}/{current}");
            // Every event counts overall, for its runbook and for its step.
            let mut each = |f: &dyn Fn(&mut Rates)| {
                f(&mut stats.overall);
                f(stats.per_runbook.entry(runbook.clone()).or_default());
                f(stats.per_step.entry(key.clone()).or_default());
            };
            match event {
                Event::Edit { .. } => edited_steps.push(current.clone()),
                Event::Run(run) if run.kind == CheckKind::Preflight => {
                    let stop = run.verdict == Verdict::Stop;
                    each(&|r| {
                        r.preflights += 1;
                        r.stop_trips += usize::from(stop);
                    });
                }
                Event::Decision(decided) => {
                    let decision = decided.decision;
                    let latency = decided.latency_ms;
                    let overridden = decision == Decision::Proceed
                        && (decided.verdict == Some(Verdict::Stop)
                            || !decided.unverified.is_empty()
                            || !decided.stale.is_empty());
                    let modified = edited_steps.contains(&current);
                    each(&|r| {
                        r.decisions += 1;
                        match decision {
                            Decision::Proceed => {
                                r.proceeded += 1;
                                r.latencies.push(latency);
                            }
                            Decision::Skip | Decision::Halt => r.rejected += 1,
                            Decision::Undecided => {}
                        }
                        r.modified += usize::from(modified);
                        r.overridden += usize::from(overridden);
                    });
                }
                _ => {}
            }
        }
    }
    stats.latency_histogram = BUCKETS
        .iter()
        .enumerate()
        .map(|(i, (hi, label))| {
            let lo = if i == 0 { 0 } else { BUCKETS[i - 1].0 };
            let n = stats
                .overall
                .latencies
                .iter()
                .filter(|&&l| l >= lo && l < *hi)
                .count();
            (label.to_string(), n as u64)
        })
        .collect();
    stats.overall.finish();
    stats.per_runbook.values_mut().for_each(Rates::finish);
    stats.per_step.values_mut().for_each(Rates::finish);
    let o = &stats.overall;
    if o.proceeded >= 5 && o.latency_p50_ms < 10_000 && o.rejection_rate < 0.01 && o.modified == 0 {
        stats.rubber_stamp = Some(format!(
            "RUBBER-STAMPING: {}, median {} to approve, {:.0}% rejected, nothing modified: the human gate may not be real",
            count(o.proceeded as u64, "approval", "approvals"),
            human_ms(o.latency_p50_ms),
            o.rejection_rate * 100.0
        ));
    }
    stats
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

impl Stats {
    /// The stats for tools: runbook and step names come from the logs, so
    /// every control and invisible character in them is escaped (see
    /// [`crate::sanitize::to_json_pretty`]).
    pub fn to_json(&self) -> serde_json::Result<String> {
        crate::sanitize::to_json_pretty(self)
    }

    pub fn to_text(&self) -> String {
        let mut o = String::new();
        if let Some(flag) = &self.rubber_stamp {
            let _ = writeln!(o, "!!! {flag}\n");
        }
        let r = &self.overall;
        let _ = writeln!(
            o,
            "{}, {} ({} proceeded, {} rejected)",
            count(self.sessions as u64, "session", "sessions"),
            count(r.decisions as u64, "decision", "decisions"),
            r.proceeded,
            r.rejected
        );
        let _ = writeln!(
            o,
            "approval latency p50 {} · p95 {} · p99 {}",
            human_ms(r.latency_p50_ms),
            human_ms(r.latency_p95_ms),
            human_ms(r.latency_p99_ms)
        );
        let _ = writeln!(
            o,
            "rejection {} · modification {} · override {} · STOP trips {} of {}\n",
            pct(r.rejection_rate),
            pct(r.modification_rate),
            pct(r.override_rate),
            r.stop_trips,
            count(r.preflights as u64, "pre-flight", "pre-flights")
        );
        let _ = writeln!(
            o,
            "{:<44} {:>5} {:>8} {:>7} {:>7} {:>7} {:>6}",
            "RUNBOOK / STEP", "DEC", "P50", "REJECT", "MODIFY", "OVERR", "STOPS"
        );
        for (name, table) in [("", &self.per_runbook), ("  ", &self.per_step)] {
            for (k, r) in table {
                let _ = writeln!(
                    o,
                    "{:<44} {:>5} {:>8} {:>7} {:>7} {:>7} {:>6}",
                    format!("{name}{}", crate::sanitize::sanitize_line(k, 42)),
                    r.decisions,
                    human_ms(r.latency_p50_ms),
                    pct(r.rejection_rate),
                    pct(r.modification_rate),
                    pct(r.override_rate),
                    r.stop_trips
                );
            }
        }
        o
    }
}

/// Every session under the state directory, with its events.
pub fn load_all(state_dir: &std::path::Path) -> Vec<(String, Vec<Recorded>)> {
    let Ok(entries) = std::fs::read_dir(crate::session::SessionDir::root(state_dir)) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<Recorded>)> = entries
        .flatten()
        .filter_map(|e| {
            let id = e.file_name().to_string_lossy().into_owned();
            let events = crate::session::audit::read_events(&e.path().join("audit.jsonl")).ok()?;
            Some((id, events))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
