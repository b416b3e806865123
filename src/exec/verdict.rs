//! PASS / STOP / CHECK, decided by code from the real exit code and the
//! step's predicates over the real output (SPEC §1.3). A model's opinion
//! never enters here.

use regex::Regex;

use super::runner::RunOutcome;

pub use crate::verdict::{Judgement, Verdict};

/// A step's compiled predicates.
#[derive(Debug, Clone, Default)]
pub struct Predicates {
    pub proceed_if: Option<Regex>,
    pub stop_if: Option<Regex>,
}

impl Predicates {
    pub fn new(proceed_if: Option<&str>, stop_if: Option<&str>) -> Result<Self, regex::Error> {
        Ok(Predicates {
            proceed_if: proceed_if.map(Regex::new).transpose()?,
            stop_if: stop_if.map(Regex::new).transpose()?,
        })
    }

    pub fn stop_matches(&self, text: &str) -> bool {
        self.stop_if.as_ref().is_some_and(|r| r.is_match(text))
    }

    pub fn proceed_matches(&self, text: &str) -> bool {
        self.proceed_if.as_ref().is_some_and(|r| r.is_match(text))
    }
}

/// The rules, in order: the first that applies decides.
pub fn judge(outcome: &RunOutcome, predicates: &Predicates) -> Judgement {
    let stop = |reason: String| Judgement {
        verdict: Verdict::Stop,
        reason,
    };
    if outcome.cancelled {
        return stop("cancelled before it finished: the state was not confirmed".into());
    }
    if outcome.timed_out {
        return stop(format!(
            "timed out after {:.1}s and was killed: the state was not confirmed",
            outcome.duration.as_secs_f64()
        ));
    }
    // Multi-line patterns only work on the kept tail; single-line hits were
    // caught on the whole stream.
    let kept = outcome.output.stdout_text();
    if let Some(line) = &outcome.stop_hit {
        return stop(format!("stop rule matched: {}", excerpt(line)));
    }
    if predicates.stop_matches(&kept) {
        return stop("stop rule matched the output".into());
    }
    match outcome.exit_code {
        Some(0) => {}
        Some(code) => return stop(format!("exited with status {code}")),
        None => {
            return stop(format!(
                "killed by signal {}",
                outcome.signal.unwrap_or_default()
            ))
        }
    }
    if predicates.proceed_if.is_some() {
        if outcome.proceed_hit.is_some() || predicates.proceed_matches(&kept) {
            return Judgement {
                verdict: Verdict::Pass,
                reason: "exit 0 and the proceed rule matched".into(),
            };
        }
        return stop("the proceed rule did not match the output".into());
    }
    Judgement {
        verdict: Verdict::Check,
        reason: "exit 0 and no rule decides: read the output".into(),
    }
}

fn excerpt(line: &str) -> String {
    let clean = crate::sanitize::sanitize_line(line.trim(), 120);
    clean.into_owned()
}
