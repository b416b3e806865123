//! Running pre-flight and verify commands — and nothing else (SPEC §1.1).
//!
//! `run` is the only place in stepguard that spawns a command from a runbook
//! or a model, and it asks the guard first. Actions and rollbacks have no
//! path here: they are only ever copied for the human.

mod output;
mod runner;
mod verdict;

pub use output::{KeptOutput, OutputLimits, Stream};
pub use runner::{
    reap, run, session_members, set_watcher, RunError, RunEvent, RunOutcome, RunRequest,
};
pub use verdict::{judge, Judgement, Predicates, Verdict};

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
