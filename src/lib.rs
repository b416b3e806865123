//! stepguard: the model drafts, code guards, the human decides, the tool runs only reads.
//!
//! The library returns typed errors and takes no arguments from the command
//! line; the binary (`main.rs`, `cli/`) parses them, runs the subcommands
//! and turns their errors into messages and exit codes.

pub mod clock;
pub mod config;
pub mod digest;
pub mod doctor;
pub mod draft;
pub mod eval;
pub mod exec;
pub mod guard;
pub mod injection;
pub mod llm;
pub mod matching;
pub mod paths;
pub mod policy;
pub mod redact;
pub mod report;
pub mod runbook;
pub mod sanitize;
pub mod session;
pub mod standing;
pub mod stats;
pub mod team;
pub mod tui;
pub mod verdict;
pub mod words;
