//! `stepguard doctor`: what will protect the user here, and what works.
//!
//! Each line is proved, not assumed: the sandbox by a sandboxed child that
//! tries to write outside its scratch directory, the model by a request to
//! the endpoint, the runbooks by loading them.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exec::{SandboxMode, SandboxPolicy, SandboxStatus};
use crate::llm::ModelConfig;
use crate::sanitize::sanitize_line;
use crate::words::count;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    /// Something required is missing: `doctor` exits 1.
    Fail,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub what: &'static str,
    pub level: Level,
    pub detail: String,
}

/// What the doctor looks at, gathered by the caller.
pub struct Inputs {
    pub sandbox: SandboxPolicy,
    pub model: ModelConfig,
    pub state_dir: Option<PathBuf>,
    pub runbook_dirs: Vec<PathBuf>,
    /// How `a`/`y` would copy here (the TUI's choice).
    pub clipboard: String,
}

pub async fn examine(inputs: &Inputs) -> Vec<Finding> {
    vec![
        sandbox(&inputs.sandbox).await,
        clipboard(&inputs.clipboard),
        model(&inputs.model).await,
        state_dir(inputs.state_dir.as_deref()),
        runbooks(&inputs.runbook_dirs),
    ]
}

fn finding(what: &'static str, level: Level, detail: impl Into<String>) -> Finding {
    Finding {
        what,
        level,
        detail: sanitize_line(&detail.into(), 2_000).into_owned(),
    }
}

async fn sandbox(policy: &SandboxPolicy) -> Finding {
    const WHAT: &str = "sandbox";
    let outside = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return finding(WHAT, Level::Fail, format!("no temp directory: {e}")),
    };
    let probe = match crate::exec::probe_sandbox(policy, outside.path()).await {
        Ok(p) => p,
        Err(e) => return finding(WHAT, Level::Fail, e.to_string()),
    };
    let scratch = if probe.scratch_written {
        "its scratch directory was writable"
    } else {
        "its scratch directory was NOT writable (tools that need a temp file will fail)"
    };
    let target = probe.target.display();
    match (&probe.status, probe.outside_written, probe.mode_changed) {
        (SandboxStatus::Enforced { .. }, false, false) => {
            let level = if probe.status.missing().is_empty() {
                Level::Ok
            } else {
                Level::Warn
            };
            finding(
                WHAT,
                level,
                format!(
                    "{}; proved: a sandboxed write to {target} and a chmod beside it were \
                     refused; {scratch}",
                    probe.status.describe()
                ),
            )
        }
        (SandboxStatus::Enforced { abi }, written, changed) => finding(
            WHAT,
            Level::Fail,
            format!(
                "Landlock ABI {abi} reported, yet a sandboxed child {}: nothing but the guard \
                 protects you",
                match (written, changed) {
                    (true, true) => "wrote a file and changed a mode outside its scratch directory",
                    (true, false) => "wrote a file outside its scratch directory",
                    _ => "changed a file's mode outside its scratch directory",
                }
            ),
        ),
        (SandboxStatus::GuardOnly { why }, _, _) => {
            let level = match policy.mode {
                SandboxMode::Required => Level::Fail,
                SandboxMode::Auto => Level::Warn,
            };
            let tail = match policy.mode {
                SandboxMode::Required => "pre-flights are refused (sandbox: required)",
                SandboxMode::Auto => "pre-flights run behind the guard alone",
            };
            finding(WHAT, level, format!("NOT enforced ({why}): {tail}"))
        }
    }
}

fn clipboard(label: &str) -> Finding {
    let level = if label == "OSC 52" {
        Level::Warn
    } else {
        Level::Ok
    };
    let detail = if level == Level::Warn {
        "OSC 52 (no tmux, wl-copy, xclip, xsel, pbcopy or clip.exe found): copying works only \
         if your terminal accepts OSC 52"
            .to_string()
    } else {
        label.to_string()
    };
    finding("clipboard", level, detail)
}

async fn model(cfg: &ModelConfig) -> Finding {
    const WHAT: &str = "model";
    if let Some(why) = cfg.offline_reason() {
        return finding(
            WHAT,
            Level::Ok,
            format!("offline ({why}): steps render from the runbooks' own templates"),
        );
    }
    let url = format!("{}/models", cfg.endpoint());
    let client = match reqwest::Client::builder()
        .connect_timeout(cfg.connect_timeout.min(Duration::from_secs(5)))
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => return finding(WHAT, Level::Warn, e.to_string()),
    };
    let mut request = client.get(&url);
    if let Some(key) = cfg.api_key.as_deref().filter(|k| !k.is_empty()) {
        request = request.bearer_auth(key);
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => finding(
            WHAT,
            Level::Ok,
            format!("{} answered {} ({})", url, r.status().as_u16(), cfg.model),
        ),
        Ok(r) => finding(
            WHAT,
            Level::Warn,
            format!(
                "{url} answered {}: drafts may fail and fall back to the offline drafter",
                r.status()
            ),
        ),
        Err(e) => finding(
            WHAT,
            Level::Warn,
            format!("{url} unreachable ({e}): the offline drafter will be used"),
        ),
    }
}

fn state_dir(dir: Option<&Path>) -> Finding {
    const WHAT: &str = "state dir";
    let Some(dir) = dir else {
        return finding(
            WHAT,
            Level::Fail,
            "no state directory: set STEPGUARD_STATE_DIR or HOME (sessions cannot be saved)",
        );
    };
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return finding(
                WHAT,
                Level::Ok,
                format!("{} (created owner-only on first use)", dir.display()),
            )
        }
        Err(e) => return finding(WHAT, Level::Fail, format!("{}: {e}", dir.display())),
    };
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let mode = meta.permissions().mode() & 0o777;
    if meta.uid() != me {
        return finding(
            WHAT,
            Level::Fail,
            format!(
                "{} belongs to uid {}, not you: sessions and rules there are not yours",
                dir.display(),
                meta.uid()
            ),
        );
    }
    if mode & 0o022 != 0 {
        return finding(
            WHAT,
            Level::Fail,
            format!(
                "{} is writable by others (mode {mode:03o}): others could change your audit \
                 log and standing rules",
                dir.display()
            ),
        );
    }
    let probe = tempfile::tempfile_in(dir);
    match (probe, mode & 0o077) {
        (Err(e), _) => finding(
            WHAT,
            Level::Fail,
            format!("{} is not writable: {e}", dir.display()),
        ),
        (Ok(_), 0) => finding(WHAT, Level::Ok, format!("{} (owner-only)", dir.display())),
        (Ok(_), _) => finding(
            WHAT,
            Level::Warn,
            format!(
                "{} is readable by others (mode {mode:03o}); run chmod 700 on it",
                dir.display()
            ),
        ),
    }
}

fn runbooks(dirs: &[PathBuf]) -> Finding {
    const WHAT: &str = "runbooks";
    if dirs.is_empty() {
        return finding(
            WHAT,
            Level::Warn,
            "no runbook directory (./runbooks, $XDG_CONFIG_HOME/stepguard/runbooks or --runbooks DIR)",
        );
    }
    let shown = dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match crate::runbook::load_paths(dirs) {
        Ok(list) if list.is_empty() => {
            finding(WHAT, Level::Warn, format!("no runbooks found in {shown}"))
        }
        Ok(list) => {
            let steps: usize = list.iter().map(|r| r.steps.len()).sum();
            finding(
                WHAT,
                Level::Ok,
                format!(
                    "{} ({}) from {shown}",
                    count(list.len() as u64, "runbook", "runbooks"),
                    count(steps as u64, "step", "steps")
                ),
            )
        }
        Err(e) => {
            let problems = e.problems();
            let first = problems.first().cloned().unwrap_or_else(|| e.to_string());
            finding(
                WHAT,
                Level::Fail,
                format!(
                    "{} in {shown}; first: {first} (stepguard check lists them)",
                    count(problems.len().max(1) as u64, "problem", "problems")
                ),
            )
        }
    }
}

/// The doctor's answer as text: one aligned line per finding.
pub fn to_text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let level = match f.level {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        out.push_str(&format!("{level:<5} {:<10} {}\n", f.what, f.detail));
    }
    out
}
