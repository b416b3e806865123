//! Everything that can happen (Msg) and everything the app asks the outside
//! world to do (Effect). `update` turns one into the other without IO.

use crossterm::event::KeyEvent;

use crate::exec::{RunOutcome, Stream};
pub use crate::llm::DraftJob;
use crate::llm::{DraftProgress, ModelOutcome};
use crate::session::Event;
pub use crate::verdict::CheckKind;

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    /// A bracketed paste: text, never keystrokes.
    Paste(String),
    Resize(u16, u16),
    /// Time passed (every second): the screen is drawn again, so what
    /// `p` will do stays true as a verdict ages or a rule expires.
    Tick,
    /// A signal that ends stepguard (`SIGHUP`, `SIGTERM`, `SIGINT`, `SIGQUIT`):
    /// the running check is cancelled and the session saved before exit.
    Signal(&'static str),
    CheckLine {
        run_id: u64,
        stream: Stream,
        text: String,
    },
    CheckDone {
        run_id: u64,
        result: Result<Box<RunOutcome>, String>,
    },
    Copied {
        what: &'static str,
        /// The step the copy was asked on.
        step: usize,
        /// What was copied (for the record).
        text: String,
        result: Result<String, String>,
    },
    /// The edited action, or why editing failed.
    Edited {
        /// The step whose action was edited (a late result for another
        /// step is dropped).
        step: usize,
        result: Result<String, String>,
    },
    /// The session's target: the current kube context.
    Target(String),
    /// The active standing rules, reloaded after a run used one.
    Rules(std::sync::Arc<[crate::guard::StandingRule]>),
    DraftProgress {
        step_index: usize,
        generation: u64,
        elapsed_ms: u64,
        progress: Option<DraftProgress>,
    },
    DraftDone {
        step_index: usize,
        generation: u64,
        result: Result<Box<ModelOutcome>, crate::llm::DraftFailure>,
    },
    /// The team database took an approval request (or refused it).
    ApprovalFiled {
        attempt: u64,
        result: Result<crate::team::approval::Filed, String>,
    },
    /// A new status of a request the walk waits for.
    ApprovalState {
        id: String,
        result: Result<Box<crate::team::approval::Status>, String>,
    },
    /// The team's rejections (rejection memory), from the database.
    TeamRejections(Vec<crate::session::Rejection>),
    /// The model's answer on the picker's ranking.
    Reranked {
        generation: u64,
        asked: Vec<String>,
        answer: Result<crate::llm::rerank::Verdict, String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    RunCheck {
        run_id: u64,
        kind: CheckKind,
        command: String,
        timeout_ms: u64,
        proceed_if: Option<String>,
        stop_if: Option<String>,
    },
    CancelCheck {
        run_id: u64,
    },
    Copy {
        what: &'static str,
        step: usize,
        text: String,
    },
    EditAction {
        step: usize,
        text: String,
    },
    RequestDraft {
        generation: u64,
        job: Box<DraftJob>,
    },
    CancelDraft {
        step_index: usize,
        generation: u64,
    },
    /// Ask the model which of these runbooks fits the query.
    Rerank {
        generation: u64,
        query: String,
        candidates: Vec<crate::llm::rerank::Candidate>,
    },
    /// File a request with the team database for a critical step.
    FileApproval {
        attempt: u64,
        request: Box<crate::team::approval::Request>,
    },
    /// Follow a filed request until it is decided.
    WatchApproval {
        id: String,
    },
    /// Withdraw a request: it no longer asks about what is on screen.
    VoidApproval {
        id: String,
        reason: String,
    },
    /// A runbook was opened: the session starts on disk now, before any
    /// effect after this one (a resumed session is already recording).
    StartSession,
    /// Append an event to the session's audit log.
    Audit(Event),
    Quit,
}
