//! The real binary in a real terminal (a detached tmux pane): walk a runbook
//! whose actions and rollbacks would create canary files. Pre-flight output
//! appears, nothing advances without `p`, a paste is not keys, the rollback
//! reaches the tmux buffer, the canaries never exist, and the terminal is
//! restored after `q` and after a panic.

use std::path::Path;
use std::process::Command;

use crate::openai_server;
use crate::tmux::{assert_restored, shell_line, Tmux};

#[test]
fn walk_a_canary_runbook_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let canary_dir = dir.path().to_str().unwrap().to_string();
    let t = Tmux::start(
        "walk",
        &shell_line(&format!(
            "run tests/fixtures/runbooks/canary.yaml --var canary_dir={canary_dir}"
        )),
        &[("EDITOR", "true")],
    );
    t.wait_for("PRE-FLIGHT");
    // The footer is the last row drawn: wait for it rather than race it.
    let screen = t.wait_for("p proceed");
    assert!(screen.contains("step 1/4"), "{screen}");

    // Nothing advances without p: not keys, not Enter, not a paste holding "p".
    t.keys(&["p"]);
    assert!(t.settle().contains("run the pre-flight first"));
    t.keys(&["r"]);
    t.wait_for("CHECK");
    t.keys(&["x", "Enter", "Tab", "j", "Enter"]);
    t.paste("p\np\n");
    let screen = t.wait_for("cluster state");
    assert!(screen.contains("step 1/4"), "{screen}");
    t.keys(&["Escape"]);
    assert!(t.settle().contains("step 1/4"));

    t.keys(&["p"]);
    t.wait_for("step 2/4");
    t.keys(&["r"]);
    let screen = t.wait_for(" PASS ");
    assert!(screen.contains("ls -a"), "{screen}");

    // Copy the rollback, then the action: both land in the tmux buffer, unrun.
    t.keys(&["y"]);
    t.wait_for("rollback copied (tmux buffer)");
    assert_eq!(
        t.tmux(&["show-buffer"]),
        format!("touch {canary_dir}/rollback-ran")
    );
    t.keys(&["a"]);
    t.wait_for("action copied (tmux buffer)");
    assert_eq!(
        t.tmux(&["show-buffer"]),
        format!("touch {canary_dir}/action-ran")
    );

    t.keys(&["p"]);
    t.wait_for("step 3/4");
    t.keys(&["r"]);
    t.wait_for("pre-flight  CHECK");
    t.keys(&["p"]);
    t.wait_for("type the target's name");
    t.paste(&canary_dir);
    t.wait_for("a paste does not confirm");
    t.keys(&["Enter"]);
    assert!(t.settle().contains("step 3/4"));
    t.type_text(&canary_dir);
    t.keys(&["Enter"]);
    t.wait_for("step 4/4");

    t.keys(&["q"]);
    assert_restored(&t, 0);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "canary files appeared: {left:?}");
}

#[test]
fn terminal_is_restored_after_a_panic() {
    let t = Tmux::start(
        "panic",
        &shell_line("run runbooks/demo-checkout-logs.yaml --state demo/state.txt"),
        &[("STEPGUARD_TEST_PANIC_KEY", "Z"), ("RUST_BACKTRACE", "0")],
    );
    t.wait_for("PRE-FLIGHT");
    t.keys(&["Z"]);
    let screen = t.wait_for("EXITED 101");
    assert!(screen.contains("test panic requested"), "{screen}");
    assert_restored(&t, 101);
}

#[test]
fn bad_runbook_fails_before_any_screen() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_stepguard"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env("STEPGUARD_CONFIG", "/dev/null")
        .current_dir(root)
        .args(["run", "tests/fixtures/runbooks/undeclared-variable.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("tests/fixtures/runbooks/undeclared-variable.yaml:13:"),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("\x1b[?1049h"),
        "the screen was opened"
    );
}

/// The TUI with a model: the card is drafted by the server's model and the
/// header says so; a dead endpoint falls back with a banner.
#[test]
fn the_walk_drafts_with_a_model_and_falls_back_without_one() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let draft = serde_json::json!({
        "values": {"log_dir": {"value": "demo/var/log/checkout", "evidence": "log_dir: demo/var/log/checkout"}},
        "stale": [], "notes": "The burst started at 14:05, right after the config push."
    })
    .to_string();
    let server = rt.block_on(openai_server::FakeServer::start(move |_, _| {
        openai_server::sse(
            &draft,
            &openai_server::ChunkStyle {
                per_char: true,
                ..Default::default()
            },
        )
    }));
    let state_dir = tempfile::tempdir().unwrap();
    let line = shell_line("run demo-checkout-logs --state demo/state.txt");
    let t = Tmux::start(
        "model",
        &line,
        &[
            ("OPENAI_BASE_URL", server.base_url.as_str()),
            ("OPENAI_API_KEY", "sk-test"),
            ("STEPGUARD_STATE_DIR", state_dir.path().to_str().unwrap()),
        ],
    );
    let screen = t.wait_for("drafted by fake-model");
    assert!(screen.contains("The burst started at 14:05"), "{screen}");
    assert!(screen.contains("d re-draft"), "{screen}");
    // The next step was prefetched: after p it is drafted at once.
    t.keys(&["r"]);
    t.wait_for(" PASS ");
    t.keys(&["p"]);
    t.wait_for("step 2/6");
    t.wait_for("drafted by fake-model");
    assert!(server.requests().len() >= 2);
    t.keys(&["q"]);
    assert_restored(&t, 0);

    let t = Tmux::start(
        "dead-model",
        &line,
        &[
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
            ("STEPGUARD_STATE_DIR", state_dir.path().to_str().unwrap()),
        ],
    );
    t.wait_for("model unavailable");
    t.wait_for("PRE-FLIGHT");
    t.keys(&["q"]);
    assert_restored(&t, 0);
}

/// `e` hands the terminal to $EDITOR and takes it back: the edited action is
/// on the card, recorded, copied as edited, and keys work again afterwards.
/// `--state -` reads the state from a pipe while keys come from the terminal.
#[test]
fn editor_and_piped_state() {
    let dir = tempfile::tempdir().unwrap();
    let editor = dir.path().join("editor.sh");
    // An "editor" that appends a flag to the action in the file it is given.
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/$/ --dry-run/' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let bin = env!("CARGO_BIN_EXE_stepguard");
    let root = env!("CARGO_MANIFEST_DIR");
    let line = format!(
        "cd {root} && cat demo/state.txt | {bin} run demo-checkout-logs --state -; echo \"EXITED $?\"; \
         stty -a | tr ' ;' '\\n\\n' | grep -E -x -e '-?icanon' -e '-?echo'; echo TTY-CHECKED; sleep 60"
    );
    let t = Tmux::start(
        "editor",
        &line,
        &[("EDITOR", editor.to_str().unwrap()), ("VISUAL", "")],
    );
    let screen = t.wait_for("PRE-FLIGHT");
    assert!(
        screen.contains("state") && screen.contains("lines"),
        "the piped state is not shown:\n{screen}"
    );
    // Step 4 has an action; walk there with the demo's real pre-flights.
    for step in 1..=3 {
        t.keys(&["r"]);
        t.wait_for(" PASS ");
        t.keys(&["p"]);
        t.wait_for(&format!("step {}/6", step + 1));
    }
    t.keys(&["e"]);
    let screen = t.wait_for("EDITED");
    assert!(screen.contains("--dry-run"), "{screen}");
    t.keys(&["a"]);
    t.wait_for("action copied (tmux buffer)");
    assert!(
        t.tmux(&["show-buffer"]).ends_with("--dry-run"),
        "the edited action is what is copied"
    );
    // Keys still reach the app after the editor: the edit asked for a fresh pre-flight.
    t.keys(&["p"]);
    t.wait_for("run the pre-flight first");
    t.keys(&["q"]);
    assert_restored(&t, 0);
}

/// A walk opened on a runbook for an alert that runbook answers is not
/// escalated for a weak match: the alert's name matches it at 0.99 (the
/// ranking had been made for the picker only, so the policy read 0.00 and
/// every step escalated).
#[test]
fn a_runbook_opened_for_its_own_alert_is_matched() {
    let dir = tempfile::tempdir().unwrap();
    let alert = dir.path().join("alert.json");
    std::fs::write(
        &alert,
        r#"{"alerts":[{"status":"firing","labels":{"alertname":"CheckoutErrorRateHigh","service":"checkout"},"annotations":{"summary":"checkout errors"}}]}"#,
    )
    .unwrap();
    let state = dir.path().join("state");
    let t = Tmux::start(
        "own-alert",
        &shell_line(&format!(
            "run demo-checkout-logs --state demo/state.txt --alert {} --offline",
            alert.display()
        )),
        &[
            ("EDITOR", "true"),
            ("STEPGUARD_STATE_DIR", state.to_str().unwrap()),
        ],
    );
    t.wait_for("p proceed");
    t.keys(&["r"]);
    t.wait_for(" PASS ");
    t.keys(&["p"]);
    let screen = t.wait_for("step 2/6");
    assert!(!screen.contains("runbook match"), "{screen}");
    t.keys(&["q"]);
    assert_restored(&t, 0);
}
