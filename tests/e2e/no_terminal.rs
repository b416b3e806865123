//! The full screen without a terminal: one line saying so, exit 2, nothing
//! written, instead of the raw error of the first terminal call ("No such
//! device or address"). `setsid -w` (util-linux) runs the binary in a
//! session of its own, with no controlling terminal.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::tmux::Tmux;

const ONE_LINE: &str = "stepguard: no terminal to draw on (run needs one; for scripts use `stepguard draft RUNBOOK --step N --json`)\n";

fn detached(state_dir: &Path, args: &[&str]) -> Output {
    Command::new("setsid")
        .arg("-w")
        .arg(env!("CARGO_BIN_EXE_stepguard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("STEPGUARD_STATE_DIR", state_dir)
        .env("STEPGUARD_CONFIG", "/dev/null")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("setsid (util-linux)")
}

fn nothing_under(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("sessions")).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn run_without_a_terminal_says_so_in_one_line() {
    let state = tempfile::tempdir().unwrap();
    for args in [
        &["run", "demo-checkout-logs"][..],
        &["run", "demo-checkout-logs", "--state", "demo/state.txt"],
        &["run", "runbooks/demo-checkout-logs.yaml", "--offline"],
        &[],
    ] {
        let out = detached(state.path(), args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err, ONE_LINE, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: something was drawn");
        assert!(
            nothing_under(state.path()),
            "{args:?}: a session was started"
        );
    }
    // The full-screen stats too, in their own words.
    let out = detached(state.path(), &["stats", "--screen"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "stepguard: no terminal to draw on (stats --screen needs one; without --screen stats prints text)\n"
    );
}

/// A bad runbook is still named first (exit 1, path:line:col), and the
/// text commands need no terminal.
#[test]
fn inputs_are_judged_before_the_terminal_is_missed() {
    let state = tempfile::tempdir().unwrap();
    let out = detached(
        state.path(),
        &["run", "tests/fixtures/runbooks/undeclared-variable.yaml"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("tests/fixtures/runbooks/undeclared-variable.yaml:13:"));
    let out = detached(
        state.path(),
        &[
            "draft",
            "demo-checkout-logs",
            "--step",
            "1",
            "--offline",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A terminal to draw on but none to read keys from: stdout is a tmux
/// pane, stdin is /dev/null and there is no controlling terminal.
#[test]
fn a_screen_without_keys_is_named_too() {
    let t = Tmux::start(
        "no-keys",
        &format!(
            "cd {} && setsid -w {} run demo-checkout-logs </dev/null; echo \"EXITED $?\"; sleep 60",
            env!("CARGO_MANIFEST_DIR"),
            env!("CARGO_BIN_EXE_stepguard")
        ),
        &[],
    );
    let screen = t.wait_for("EXITED");
    assert!(screen.contains("EXITED 2"), "{screen}");
    assert!(
        screen.contains("stepguard: no terminal to read keys from (run needs one;"),
        "{screen}"
    );
}
