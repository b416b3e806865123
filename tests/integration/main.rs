//! The library-level tests, in one binary so the library is linked once.
//! The tests that drive the built binary in a terminal are in `tests/e2e`.

// Helpers that drive the pure `update` the way the runtime does.
#[path = "../support/common.rs"]
mod common;
// An OpenAI-compatible server inside the test process (shared with e2e).
#[path = "../support/openai_server.rs"]
mod openai_server;

// Every bundled runbook's steps drafted offline into full cards.
// What `p` will do, said first, whole, and done.
mod decision_line;
// Screens that show everything: values set in the walk, the state viewer, long lines.
mod draft_cards;
mod tui_screens;
// The pre-flight runner against real processes: timeouts, cancel, bounds.
mod exec;
// The kept fuzz corpora replayed through the fuzz targets' properties.
mod fuzz_corpus;
// The guard against the hostile and benign command corpora.
mod guard_corpus;
// The guard against the real programs it allows, under Landlock.
mod guard_differential;
// Markdown runbooks: the prometheus-operator corpus and its conversion.
mod markdown_runbooks;
// Runbook matching and the scenario eval.
mod matching;
// The model path against the in-process SSE server.
mod model_drafting;
// No code path spawns an action or rollback.
mod no_mutation;
// Sessions under faults: log as truth, one writer, full disk, damage.
mod session_faults;
// Attacks on sessions: lying snapshots, odd logs, changed runbooks, repair.
mod session_attacks;
// The in-process OpenAI-compatible server itself.
mod openai_server_selftest;
// The escalation policy as a table.
mod policy;
// Secret redaction before anything reaches a model.
mod redact;
// Reports and stats from recorded sessions.
mod report_stats;
// Attacks on the step machine, the router and restore (with random walks).
mod review_attacks;
// Catalogues as repositories: folders, broken runbooks skipped, ids and alerts.
mod catalogs;
// Runbook loading: bundled runbooks valid, broken fixtures located.
mod runbook_load;
// The kernel sandbox around pre-flights, and `stepguard doctor`.
mod sandbox;
// Nothing from outside reaches the terminal raw.
mod sanitize;
// Values filled from pasted state, through `draft --json`.
mod state_values;
// Standing rules: the store, matching, limits.
mod standing_rules;
// Standing rules through the runner and `stepguard guard`.
mod standing_runner;
// Every screen against its reviewed snapshot.
mod tui_snapshots;
// The walk's rules on the pure `update`.
mod tui_update;
// Hostile values refused or quoted into one literal argument.
mod values_quoting;
// The wrong-target guard as a table.
mod wrong_target;
// Values from pasted state, `=`, the state viewer, the decision line.
mod review_values;
// A critical step approved through the team database (pure update; the
// notifier against a receiver on loopback).
mod team_walk;
