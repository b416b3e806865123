//! What a read-only check concluded: PASS / STOP / CHECK and why. A leaf:
//! the runner decides it (`exec::judge`), the policy and the screen read it,
//! and the audit log records it.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The step's assumption is confirmed.
    Pass,
    /// The world is not as the step assumes: do not act.
    Stop,
    /// No rule decides: the human reads the output.
    Check,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Stop => "STOP",
            Verdict::Check => "CHECK",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reason: String,
}

/// Which read-only command of the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Preflight,
    Verify,
}

impl std::fmt::Display for CheckKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CheckKind::Preflight => "pre-flight",
            CheckKind::Verify => "verify",
        })
    }
}
