//! Drafting a step's card: values from the incident context, validated and
//! shell-quoted, rendered into the runbook's templates by code.

pub mod alert;
pub mod alertmanager;
pub mod card;
pub mod facts;
pub mod pasted;
pub mod proposal;
pub mod values;

pub use alert::{Alert, AlertError, Alerts};
pub use card::Card;
pub use pasted::PastedState;
pub use proposal::{compose, DraftFailure, DraftMetrics, ModelOutcome, RejectedPart};
pub use values::{Candidate, Context, Evidence, FoundValue, ResolvedValue, Source};
