//! Running pre-flight and verify commands — and nothing else (SPEC §1.1).
//!
//! `run` is the only place in stepguard that spawns a command from a runbook
//! or a model, and it asks the guard first. Actions and rollbacks have no
//! path here: they are only ever copied for the human.

mod hardening;
mod output;
mod runner;
pub mod sandbox;
mod verdict;

pub use output::{KeptOutput, OutputLimits, Stream};
pub use runner::{
    probe_sandbox, reap, run, session_members, set_watcher, RunError, RunEvent, RunOutcome,
    RunRequest, SandboxProbe,
};
pub use sandbox::{SandboxMode, SandboxPolicy, SandboxStatus};
pub use verdict::{judge, Judgement, Predicates, Verdict};

static SANDBOX: std::sync::OnceLock<SandboxPolicy> = std::sync::OnceLock::new();

/// How runs are confined from now on (the config's `sandbox` and
/// `exec_dirs`). Set once by the binary; library users get the default:
/// Landlock where the kernel has it.
pub fn set_sandbox_policy(policy: SandboxPolicy) {
    let _ = SANDBOX.set(policy);
}

pub(crate) fn sandbox_policy() -> SandboxPolicy {
    SANDBOX.get().cloned().unwrap_or_default()
}

/// The guard as the runner applies it, just before a run: the allowlist
/// plus the store's active standing rules (each judged by what its program
/// is on disk now), and a config file the command names that can run
/// programs (a kubeconfig) must be the user's own, which only the
/// filesystem can tell. Answering records nothing; running does (`run`).
pub fn guard_to_run(
    command: &str,
    rules: Option<&crate::standing::RuleStore>,
) -> crate::guard::Decision {
    let mut decision = match rules {
        Some(store) => crate::standing::check(store, command, crate::clock::now_secs()),
        None => crate::guard::check(command),
    };
    if decision.allowed {
        if let Err(why) =
            sandbox::check_trusted_files(&decision.trust_files, &sandbox_policy().config_dirs)
        {
            decision.allowed = false;
            decision.reason = format!("refused: {why}");
            decision.rule = None;
            decision.rule_uses.clear();
        }
    }
    decision
}

/// The tokio runtime stepguard runs on, the screen and the command line
/// alike: two workers (a pre-flight's output, a draft's stream and the
/// screen's loop at once), with timers and I/O.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// [`run`] with each output line handed to `on_line` as it arrives, all of
/// them before the outcome is returned. `on_line` breaking stops the
/// delivery, not the run. The screen and `draft --preflight` both run
/// their checks through here.
pub async fn run_check<F, Fut>(
    request: RunRequest,
    cancel: Option<tokio::sync::oneshot::Receiver<()>>,
    mut on_line: F,
) -> Result<RunOutcome, RunError>
where
    F: FnMut(Stream, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = std::ops::ControlFlow<()>> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<RunEvent>(1_024);
    // Delivered on a task of their own, while the runner reads the pipes.
    let deliver = tokio::spawn(async move {
        while let Some(RunEvent::Line { stream, text }) = rx.recv().await {
            if on_line(stream, text).await.is_break() {
                break;
            }
        }
    });
    let result = run(request, Some(tx), cancel).await;
    let _ = deliver.await;
    result
}

/// Resolves when `cancel` fires; never when there is none or its sender was
/// dropped (dropping the handle is not a request to cancel).
pub async fn cancelled(cancel: Option<tokio::sync::oneshot::Receiver<()>>) {
    let fired = match cancel {
        Some(rx) => rx.await.is_ok(),
        None => false,
    };
    if !fired {
        std::future::pending::<()>().await
    }
}
