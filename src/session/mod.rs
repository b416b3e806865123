//! Sessions: a directory per walk with its tamper-evident audit log and an
//! atomically written snapshot, so `q`, a crash or `kill -9` loses nothing.

pub mod audit;
pub mod event;
pub mod store;

pub use audit::{verify, AuditLog, AuditSink, Head, Recorded, VerifyError};
pub use event::Event;
pub use store::{
    list_sessions, new_session_id, now_ms, recent_rejections, Rejection, SessionDir, SessionSummary,
};
