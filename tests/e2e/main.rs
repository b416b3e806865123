//! End to end: the built binary in a detached tmux pane, or against a real
//! service. Needs tmux, curl and prometheus-alertmanager (`scripts/test.sh`
//! installs them).

// An OpenAI-compatible server inside the test process (shared with
// integration).
#[path = "../support/openai_server.rs"]
mod openai_server;
// The binary in a private tmux server: keys in, screens out.
#[path = "../support/tmux.rs"]
mod tmux;

// `match` and `run --alertmanager` against a real Alertmanager.
mod e2e_alertmanager;
// SIGKILLed sessions resume where they were; the audit chain verifies.
mod e2e_resume;
// A walk in a real terminal: nothing advances without `p`, no canary.
mod e2e_tmux;
// A runbook repository with a broken runbook: the rest open, the skip is named.
mod e2e_catalogs;
// Pasted kubectl output fills the crash-loop runbook; = sets the rest.
mod e2e_paste_state;
// SIGKILL at random moments of a walk: nothing lost, resumes where the log says.
mod kill_harness;
// Each bypass class reproduced end to end against a hostile model server.
mod hostile_e2e;
// Everything under the state directory is owner-only whatever the umask.
mod state_modes;
// The full screen without a terminal: one line, exit 2, nothing written.
mod no_terminal;
// A binary or very large state: asked about, refused, or stored once.
mod doubtful_state;
