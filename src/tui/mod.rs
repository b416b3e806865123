//! The full-screen guarded walk (SPEC §6): one loop, one direction.
//! Terminal events and worker results arrive as [`Msg`]; [`update`] is pure
//! and returns [`Effect`]s; the runtime performs them; the view draws the
//! model once the queue is drained.

pub mod approval;
pub mod keys;
pub mod model;
pub mod msg;
pub mod step;
pub mod update;
pub mod view;

pub use model::Model;
pub use msg::{CheckKind, Effect, Msg};
pub use update::update;
pub mod app;
pub mod approvals_screen;
pub mod clipboard;
pub mod editor;
pub mod input;
pub mod persist;
pub mod recorder;
pub mod stats_screen;
pub mod terminal;
