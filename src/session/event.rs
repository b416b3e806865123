//! The audit log's events, one variant per kind. On disk an event is a kind
//! and a data object, exactly as they were written before events had types:
//! the same kind names, keys and value shapes (nulls included), so old logs
//! read back and new lines hash the same way.
//!
//! Reading is lenient: a field added in a later version is optional or
//! defaults, and a line whose kind is unknown or whose data does not fit
//! is kept as [`Event::Unknown`], untouched.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::draft::{ModelOutcome, ResolvedValue, Source};
use crate::exec::SandboxStatus;
use crate::runbook::Risk;
use crate::verdict::{CheckKind, Verdict};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "kebab-case")]
pub enum Event {
    SessionStart(SessionStart),
    /// What the human said about the incident (at the start, on a new paste).
    Context(IncidentContext),
    /// The session's kube context, once known.
    Target {
        #[serde(default)]
        context: String,
    },
    RunStart {
        kind: CheckKind,
        #[serde(default)]
        command: String,
    },
    Run(CheckRun),
    Cancel {
        #[serde(default)]
        run_id: u64,
    },
    Draft(DraftResult),
    Copy(Copied),
    Edit {
        #[serde(default)]
        step: String,
        #[serde(default)]
        before: String,
        #[serde(default)]
        after: String,
    },
    /// A value set in the walk: by the operator (`=`), or found by a
    /// pre-flight (`found`); checked by the variable's pattern first.
    Value {
        #[serde(default)]
        step: String,
        #[serde(default)]
        name: String,
        #[serde(default)]
        value: String,
        /// The value it replaced (None: it was missing).
        #[serde(default)]
        previous: Option<String>,
        /// Set by a pre-flight that finds it (`sets:`), not by the operator:
        /// where it was printed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        found: Option<crate::draft::FoundValue>,
        /// A found value a later run of its read no longer found.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        voided: bool,
    },
    /// The runbook was opened from a ranking (an alert or the pasted
    /// state): what was ranked, and the model's answer if it was asked.
    Matched(Matched),
    Override {
        #[serde(default)]
        what: String,
        #[serde(default)]
        mismatch: String,
        #[serde(default)]
        reason: String,
    },
    Decision(Decided),
    /// A critical step's request to the team database: filed, then decided
    /// there (approved, rejected), or expired or voided.
    Approval(ApprovalRecord),
    Resume {
        #[serde(default)]
        session: String,
        /// 1-based.
        #[serde(default)]
        step: usize,
        #[serde(default)]
        runbook_changed: bool,
        /// What changed in the runbook since the session started.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        runbook_changes: Vec<String>,
        /// The runbook file was gone: the walk goes on from the session's copy.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        runbook_from_copy: bool,
        /// Events of the log replayed onto an older snapshot (or onto none).
        #[serde(default, skip_serializing_if = "is_zero")]
        replayed: u64,
    },
    Quit {
        /// The signal that ended stepguard (`SIGHUP`, `SIGTERM`, …); none for `q`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<String>,
    },
    /// A last line cut off mid-write was removed (`stepguard sessions repair`).
    Repair {
        /// 1-based number of the torn line.
        #[serde(default)]
        line: u64,
        #[serde(default)]
        removed_bytes: u64,
        #[serde(default)]
        removed_sha256: String,
    },
    /// Writing failed for a while and works again: the events held in
    /// memory meanwhile were written, in order, before this one.
    Storage {
        #[serde(default)]
        held: usize,
        #[serde(default)]
        error: String,
    },
    /// A line this version cannot read, as it was.
    #[serde(skip)]
    Unknown {
        kind: String,
        data: Value,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionStart {
    pub session: String,
    pub runbook: String,
    /// Absolute, so the session resumes from any directory.
    pub runbook_path: String,
    pub runbook_sha256: String,
    pub steps: usize,
    pub drafter: String,
    /// The session's copy of the runbook text, beside the log.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub runbook_copy: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An approval request's moment, with the digests it was bound to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub step: String,
    /// `filed`, `approved`, `rejected`, `expired` or `voided`.
    #[serde(default)]
    pub state: String,
    /// Who asked, as the database knows them.
    #[serde(default)]
    pub requested_by: String,
    /// Who decided, as the database knows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default)]
    pub action_sha256: String,
    #[serde(default)]
    pub preflight_sha256: String,
}

/// How a runbook was chosen from a ranking.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Matched {
    /// What the ranking read: `alert` or `state`.
    pub by: String,
    /// A digest of the query (never the query: it may hold a paste).
    pub query_sha256: String,
    /// The five best, best first, with the ranker's confidences.
    pub ranked: Vec<RankedRunbook>,
    /// The runbook the human opened.
    pub opened: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerank: Option<Reranked>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RankedRunbook {
    pub id: String,
    pub confidence: f64,
}

/// The model's answer on a ranking: it may only name one of those asked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reranked {
    pub model: String,
    pub asked: Vec<String>,
    /// One of `asked`, or None (the ranking stood).
    pub picked: Option<String>,
    /// What stepguard said about the answer.
    pub said: String,
}

/// A digest of the pasted state (never the state) and the values in use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentContext {
    pub state_sha256: String,
    pub state_lines: usize,
    pub state_bytes: usize,
    pub vars: BTreeMap<String, String>,
    /// The alert's labels.
    pub alert: Option<BTreeMap<String, String>>,
    pub values: Vec<ContextValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContextValue {
    pub name: String,
    pub value: Option<String>,
    pub verified: bool,
    pub source: Option<Source>,
}

impl From<&ResolvedValue> for ContextValue {
    fn from(v: &ResolvedValue) -> Self {
        ContextValue {
            name: v.name.clone(),
            value: v.value.clone(),
            verified: v.verified,
            source: v.evidence.as_ref().map(|e| e.source),
        }
    }
}

/// A pre-flight or verify that finished (or could not start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRun {
    pub kind: CheckKind,
    #[serde(default)]
    pub step: String,
    #[serde(default)]
    pub command: String,
    pub exit_code: Option<i32>,
    pub verdict: Verdict,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub output_sha256: String,
    #[serde(default)]
    pub dropped_lines: u64,
    #[serde(default)]
    pub suspicious_lines: usize,
    #[serde(default)]
    pub standing_rules_used: Vec<String>,
    /// The end of the output, secrets removed.
    #[serde(default)]
    pub output_tail: String,
    /// `Some(None)` (null): the run failed before a sandbox was prepared.
    /// `None`: a log from before sandboxing, which has no such key.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub sandbox: Option<Option<SandboxStatus>>,
}

/// A key that is there, null or not (serde reads a null `Option<Option<_>>`
/// as absent).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A model draft of a step: two shapes under one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DraftResult {
    // First: a draft's data never has an `error`.
    Failed {
        #[serde(default)]
        step: String,
        error: String,
        /// When the model answered: what the answer cost and how it ended.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metrics: Option<crate::draft::DraftMetrics>,
    },
    Drafted(Drafted),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drafted {
    #[serde(default)]
    pub step: String,
    pub model: String,
    #[serde(default)]
    pub cached: bool,
    /// Prompt and completion tokens.
    pub usage: Option<(u64, u64)>,
    #[serde(default)]
    pub redactions: usize,
    #[serde(default)]
    pub prompt_sha256: String,
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub response_sha256: String,
    /// How many values the model called stale, and suspicious lines.
    #[serde(default)]
    pub stale: usize,
    #[serde(default)]
    pub suspicious: usize,
    /// Latency, tokens, response format, finish reason, what was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<crate::draft::DraftMetrics>,
}

impl DraftResult {
    pub fn new(
        step: String,
        result: &Result<Box<ModelOutcome>, crate::draft::DraftFailure>,
    ) -> Self {
        match result {
            Ok(o) => DraftResult::Drafted(Drafted {
                step,
                model: o.model.clone(),
                cached: o.cached,
                usage: o.usage,
                redactions: o.redactions,
                prompt_sha256: o.prompt_sha256.clone(),
                duration_ms: o.elapsed_ms,
                response_sha256: crate::digest::sha256_hex(
                    serde_json::to_string(&o.draft)
                        .unwrap_or_default()
                        .as_bytes(),
                ),
                stale: o.draft.stale.len(),
                suspicious: o.suspicious.len(),
                metrics: Some(o.metrics.clone()),
            }),
            Err(e) => DraftResult::Failed {
                step,
                error: e.reason.clone(),
                metrics: e.metrics.clone(),
            },
        }
    }

    pub fn step(&self) -> &str {
        match self {
            DraftResult::Failed { step, .. } => step,
            DraftResult::Drafted(d) => &d.step,
        }
    }
}

/// A copy to the clipboard: `via` when it worked, `error` when not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Copied {
    /// `action` or `rollback`.
    pub what: String,
    /// The id of the step the copy was made on (empty in logs from before
    /// copies named their step).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub step: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Copied {
    pub fn new(what: &str, text: String, result: &Result<String, String>) -> Self {
        let (via, error) = match result {
            Ok(via) => (Some(via.clone()), None),
            Err(e) => (None, Some(e.clone())),
        };
        Copied {
            what: what.to_string(),
            step: String::new(),
            text,
            via,
            error,
        }
    }

    /// The copy, made on step `step` (its id).
    pub fn on_step(mut self, step: impl Into<String>) -> Self {
        self.step = step.into();
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Proceed,
    Skip,
    Halt,
    /// A step closed without a decision.
    #[serde(rename = "none")]
    Undecided,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Proceed => "proceed",
            Decision::Skip => "skip",
            Decision::Halt => "halt",
            Decision::Undecided => "none",
        }
    }
}

/// How a step was closed, with what the human saw when deciding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decided {
    #[serde(default)]
    pub step: String,
    /// 1-based.
    #[serde(default)]
    pub step_number: usize,
    pub decision: Decision,
    /// From the card shown to the decision.
    #[serde(default)]
    pub latency_ms: u64,
    /// The pre-flight's, when the step went ahead on one.
    pub verdict: Option<Verdict>,
    #[serde(default)]
    pub note: String,
    /// Always written; optional so that a line without it still reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
    pub action: Option<String>,
    pub action_sha256: Option<String>,
    pub preflight: Option<PreflightSeen>,
    #[serde(default)]
    pub unverified: Vec<String>,
    #[serde(default)]
    pub stale: Vec<String>,
}

/// The pre-flight result a decision was made on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightSeen {
    #[serde(default)]
    pub command: String,
    pub verdict: Verdict,
    #[serde(default)]
    pub at_ms: u64,
}

impl Event {
    /// The event of a line's kind and data; [`Event::Unknown`] when this
    /// version cannot read it.
    pub fn from_parts(kind: &str, data: Value) -> Event {
        let line = Value::Object(serde_json::Map::from_iter([
            ("kind".to_string(), Value::String(kind.to_string())),
            ("data".to_string(), data),
        ]));
        match Event::deserialize(&line) {
            Ok(event) => event,
            Err(_) => {
                let Value::Object(mut line) = line else {
                    unreachable!("built as an object")
                };
                Event::Unknown {
                    kind: kind.to_string(),
                    data: line.remove("data").unwrap_or_default(),
                }
            }
        }
    }

    /// The kind and data object a line records (what its hash covers).
    pub fn to_parts(&self) -> serde_json::Result<(String, Value)> {
        if let Event::Unknown { kind, data } = self {
            return Ok((kind.clone(), data.clone()));
        }
        let Value::Object(mut line) = serde_json::to_value(self)? else {
            unreachable!("an adjacently tagged enum serializes to an object")
        };
        let kind = match line.remove("kind") {
            Some(Value::String(kind)) => kind,
            _ => unreachable!("every variant has its kind"),
        };
        Ok((kind, line.remove("data").unwrap_or_default()))
    }

    /// Name `on_screen` (the id of the step on screen as the event is
    /// recorded) on an event that happened on that step but was made
    /// without naming it: a copy. An event that names its step keeps it.
    pub fn name_step(&mut self, on_screen: &str) {
        if let Event::Copy(copied) = self {
            if copied.step.is_empty() {
                copied.step = on_screen.to_string();
            }
        }
    }

    /// The runbook step an event is about, when it names one.
    pub fn step(&self) -> Option<&str> {
        let step = match self {
            Event::Run(run) => run.step.as_str(),
            Event::Decision(d) => d.step.as_str(),
            Event::Approval(a) => a.step.as_str(),
            Event::Draft(d) => d.step(),
            Event::Edit { step, .. } | Event::Value { step, .. } => step.as_str(),
            Event::Copy(copied) => copied.step.as_str(),
            Event::Unknown { data, .. } => data.get("step").and_then(Value::as_str)?,
            _ => return None,
        };
        (!step.is_empty()).then_some(step)
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::json;

    use super::*;
    use crate::session::audit::{verify, AuditLog, AuditSink, Head};

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel)
    }

    /// `(seq, ts_ms, kind, data)` of every line, read without types.
    fn raw_lines(path: &Path) -> Vec<(u64, u64, String, Value)> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (
                    v["seq"].as_u64().unwrap(),
                    v["ts_ms"].as_u64().unwrap(),
                    v["kind"].as_str().unwrap().to_string(),
                    v["data"].clone(),
                )
            })
            .collect()
    }

    /// The recorded demo walk, and a log with every kind in every shape the
    /// writers produced before events had types.
    const LOGS: [&str; 2] = ["sessions/bb5291e6/audit.jsonl", "audit/all-kinds.jsonl"];

    #[test]
    fn recorded_lines_parse_and_serialize_back_unchanged() {
        for log in LOGS {
            let path = fixture(log);
            for (seq, _, kind, data) in raw_lines(&path) {
                let event = Event::from_parts(&kind, data.clone());
                assert!(
                    !matches!(event, Event::Unknown { .. }),
                    "{log}:{seq}: {kind} did not parse"
                );
                assert_eq!(
                    event.to_parts().unwrap(),
                    (kind.clone(), data),
                    "{log}:{seq}: {kind}"
                );
            }
            assert!(verify(&path, None).is_ok(), "{log}");
        }
        let recorded: Value = serde_json::from_str(
            &std::fs::read_to_string(fixture("sessions/bb5291e6/session.json")).unwrap(),
        )
        .unwrap();
        let head: Head = serde_json::from_value(recorded["audit_head"].clone()).unwrap();
        assert_eq!(
            verify(&fixture(LOGS[0]), Some(&head)).unwrap(),
            head,
            "the demo log ends where its session says"
        );
    }

    #[test]
    fn every_kind_is_covered() {
        let mut kinds: Vec<String> = raw_lines(&fixture(LOGS[1]))
            .into_iter()
            .map(|(_, _, kind, _)| kind)
            .collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(
            kinds,
            [
                "cancel",
                "context",
                "copy",
                "decision",
                "draft",
                "edit",
                "override",
                "quit",
                "resume",
                "run",
                "run-start",
                "session-start",
                "target"
            ]
        );
    }

    /// Typed events through the sink make the very same lines, hashes
    /// included.
    #[test]
    fn the_sink_writes_the_recorded_bytes() {
        for log in LOGS {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("audit.jsonl");
            let mut sink: Box<dyn AuditSink> = Box::new(AuditLog::open(&path).unwrap());
            for (_, ts, kind, data) in raw_lines(&fixture(log)) {
                sink.append(ts, &Event::from_parts(&kind, data)).unwrap();
            }
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                std::fs::read_to_string(fixture(log)).unwrap(),
                "{log}"
            );
            assert_eq!(sink.head(), &verify(&path, None).unwrap());
        }
    }

    #[test]
    fn unreadable_lines_are_kept_as_they_are() {
        let cases = [
            ("handover", json!({"to": "alice"})),
            ("run", json!({"kind": "preflight", "verdict": "MAYBE"})),
            ("decision", json!({"decision": "proceed\n# heading"})),
            ("context", json!({"values": [{"source": "alert"}]})),
            ("draft", json!({"step": "x", "error": 5})),
            ("quit", json!(null)),
        ];
        for (kind, data) in cases {
            let event = Event::from_parts(kind, data.clone());
            assert!(
                matches!(&event, Event::Unknown { kind: k, .. } if k == kind),
                "{kind}: {event:?}"
            );
            assert_eq!(event.to_parts().unwrap(), (kind.to_string(), data));
        }
        let unknown = Event::from_parts("handover", json!({"step": "drain"}));
        assert_eq!(unknown.step(), Some("drain"));
    }

    #[test]
    fn a_copy_names_its_step_and_an_older_one_reads_without() {
        let old = json!({"what": "action", "text": "kubectl delete pod x", "via": "tmux buffer"});
        let event = Event::from_parts("copy", old.clone());
        assert_eq!(
            event.step(),
            None,
            "a copy from before copies named their step"
        );
        assert_eq!(
            event.to_parts().unwrap().1,
            old,
            "and it writes back unchanged"
        );

        let mut event = Event::Copy(Copied::new("rollback", "x".into(), &Ok("xclip".into())));
        event.name_step("drain");
        assert_eq!(event.step(), Some("drain"));
        let (kind, data) = event.to_parts().unwrap();
        assert_eq!((kind.as_str(), &data["step"]), ("copy", &json!("drain")));
        assert_eq!(Event::from_parts("copy", data).step(), Some("drain"));
        // A step already named is kept.
        event.name_step("uncordon");
        assert_eq!(event.step(), Some("drain"));
        let made = Copied::new("action", "x".into(), &Err("no clipboard".into())).on_step("cordon");
        assert_eq!(Event::Copy(made).step(), Some("cordon"));
        // Other kinds are left as they are.
        let mut quit = Event::Quit { signal: None };
        quit.name_step("drain");
        assert_eq!(quit, Event::Quit { signal: None });
    }

    #[test]
    fn older_lines_without_later_fields_read() {
        // A run from before output tails and standing rules, a draft from
        // before prompt digests, a decision from before latencies.
        let run = Event::from_parts(
            "run",
            json!({"kind": "preflight", "step": "a", "command": "true", "exit_code": 0,
                   "verdict": "PASS", "reason": "ok", "duration_ms": 3,
                   "output_sha256": "", "dropped_lines": 0, "suspicious_lines": 0}),
        );
        let Event::Run(run) = run else {
            panic!("{run:?}")
        };
        assert_eq!((run.sandbox, run.output_tail.as_str()), (None, ""));
        assert!(matches!(
            Event::from_parts(
                "draft",
                json!({"step": "a", "model": "m", "cached": true,
                "usage": null, "redactions": 0, "response_sha256": "", "stale": 0, "suspicious": 0})
            ),
            Event::Draft(DraftResult::Drafted(Drafted { cached: true, .. }))
        ));
        let decided = Event::from_parts(
            "decision",
            json!({"step": "a", "decision": "skip", "note": "n", "verdict": null}),
        );
        assert!(matches!(
            decided,
            Event::Decision(Decided {
                decision: Decision::Skip,
                latency_ms: 0,
                risk: None,
                ..
            })
        ));
        // The sandbox of a run that never started is null, not absent.
        let failed =
            json!({"kind": "verify", "verdict": "STOP", "exit_code": null, "sandbox": null});
        let Event::Run(run) = Event::from_parts("run", failed) else {
            panic!()
        };
        assert_eq!(run.sandbox, Some(None));
        assert_eq!(
            Event::Run(run).to_parts().unwrap().1["sandbox"],
            Value::Null
        );
    }
}
