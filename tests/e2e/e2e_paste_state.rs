//! The README's example as a new user does it, in a real terminal: open the
//! crash-loop runbook with nothing known, paste `kubectl get pods -n
//! payments` as the terminal showed it, see the namespace filled from it and
//! the pre-flight rendered, set the one value the paste cannot show with
//! `=`, then quit and be told the session's id and how to come back.

use crate::tmux::{assert_restored, shell_line, Tmux};

const PODS: &str = "$ kubectl get pods -n payments
NAME                        READY   STATUS             RESTARTS        AGE
checkout-7d9f8c6b5-xk2lq    0/1     CrashLoopBackOff   17 (2m ago)     41m
checkout-7d9f8c6b5-zz9p1    0/1     CrashLoopBackOff   16 (4m ago)     41m
cart-5f6d7c8b9-abcde        1/1     Running            0               3d
";

#[test]
fn pasted_kubectl_output_fills_the_crash_loop_runbook() {
    let t = Tmux::start(
        "paste-state",
        &shell_line("run runbooks/k8s-crashloop-bad-rollout.yaml"),
        &[],
    );
    let screen = t.wait_for("p proceed");
    assert!(screen.contains("missing namespace"), "{screen}");
    assert!(
        !screen.contains("refused"),
        "a missing value is not a refusal:\n{screen}"
    );

    t.keys(&["i"]);
    t.wait_for("Paste the cluster state");
    t.paste(PODS);
    t.wait_for("Enter keeps it");
    t.keys(&["Enter"]);
    let screen = t.wait_for("state replaced");
    assert!(screen.contains("namespace = payments"), "{screen}");

    // The selector is not in a `get pods` table: named missing, set by hand.
    if !screen.contains("kubectl -n payments get pods -l app=") {
        assert!(screen.contains("missing selector"), "{screen}");
        t.keys(&["="]);
        let mut prompt = t.wait_for("set ");
        // Tab to the selector if another value is asked first.
        for _ in 0..3 {
            if prompt.contains("set selector") {
                break;
            }
            t.keys(&["Tab"]);
            prompt = t.settle();
        }
        assert!(prompt.contains("set selector"), "{prompt}");
        t.type_text("app=checkout");
        t.keys(&["Enter"]);
        t.wait_for("selector set to app=checkout");
    }
    let screen = t.wait_for("$ kubectl -n payments get pods -l app=checkout -o wide 2>&1");
    assert!(screen.contains("p: WAIT"), "{screen}");

    t.keys(&["q"]);
    let screen = t.wait_for("EXITED 0");
    let id = screen
        .lines()
        .find_map(|l| l.trim().strip_prefix("stepguard: session "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no session id printed on exit:\n{screen}"))
        .to_string();
    assert!(
        screen.contains(&format!("stepguard run --resume {id}"))
            && screen.contains(&format!("stepguard report {id}")),
        "{screen}"
    );
    assert_restored(&t, 0);
}

/// A clipboard that carries a paste's end marker and then keys (from a file
/// or a page, with a terminal that does not strip it): everything is pasted
/// text, nothing is typed into the walk. Before, `Enter` kept the state and
/// `q` quit.
#[test]
fn pasted_text_carrying_the_end_marker_types_nothing() {
    let t = Tmux::start(
        "paste-marker",
        &shell_line("run demo-checkout-logs --offline"),
        &[],
    );
    t.wait_for("p proceed");
    t.keys(&["i"]);
    t.wait_for("Paste the cluster state");
    t.paste("log_dir: demo/var/log/checkout\n\x1b[201~\rq");
    t.wait_for("Enter keeps it");
    let screen = t.settle();
    assert!(
        screen.contains("Enter keeps it") && !screen.contains("state replaced"),
        "the pasted Enter was taken as a key:\n{screen}"
    );
    assert!(!screen.contains("EXITED"), "the pasted q quit:\n{screen}");
    t.keys(&["Enter"]);
    t.wait_for("state replaced");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
    assert_restored(&t, 0);
}

/// Bytes written to the pane at once, as a terminal (or a lagging link)
/// delivers them in one read.
fn send_bytes(t: &Tmux, bytes: &[u8]) {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut args = vec!["send-keys", "-t", "sg", "-H"];
    args.extend(hex.iter().map(String::as_str));
    t.tmux(&args);
}

/// An Esc typed just before a paste, both in one read: the paste is still
/// a paste. Before, the second ESC was read as Alt+Esc with the first, and
/// the paste's start marker and text were typed: its `q` quit.
#[test]
fn an_esc_right_before_a_paste_does_not_type_the_paste() {
    let t = Tmux::start(
        "paste-esc",
        &shell_line("run demo-checkout-logs --offline"),
        &[],
    );
    t.wait_for("p proceed");
    send_bytes(
        &t,
        b"\x1b\x1b[200~log_dir: demo/var/log/checkout\rq\x1b[201~",
    );
    let screen = t.wait_for("Enter keeps it");
    assert!(!screen.contains("EXITED"), "the pasted q quit:\n{screen}");
    t.keys(&["Escape"]);
    t.wait_for("state unchanged");
    t.keys(&["q"]);
    assert_restored(&t, 0);
}

/// Keys typed right behind a paste, delivered with it (a lagging link):
/// the paste still arrives and keys work again. Before, the paste never
/// ended and took every later key, `q` and Ctrl-C included.
#[test]
fn keys_right_behind_a_paste_do_not_deafen_the_walk() {
    let t = Tmux::start(
        "paste-behind",
        &shell_line("run demo-checkout-logs --offline"),
        &[],
    );
    t.wait_for("p proceed");
    send_bytes(&t, b"\x1b[200~log_dir: demo/var/log/checkout\x1b[201~q");
    let screen = t.wait_for("Enter keeps it");
    assert!(
        !screen.contains("EXITED"),
        "the q behind the paste quit:\n{screen}"
    );
    t.keys(&["Escape"]);
    t.wait_for("state unchanged");
    t.keys(&["q"]);
    assert_restored(&t, 0);
}

/// `e` read together with the start of a paste: the editor takes the
/// terminal, and afterwards keys are keys. Before, the half paste outlived
/// the editor and took every later key.
#[test]
fn a_paste_half_read_before_the_editor_does_not_outlive_it() {
    let dir = tempfile::tempdir().unwrap();
    let editor = dir.path().join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/$/ --dry-run/' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let t = Tmux::start(
        "paste-editor",
        &shell_line("run tests/fixtures/runbooks/kill-harness.yaml --offline --var tag=0001"),
        &[("EDITOR", editor.to_str().unwrap()), ("VISUAL", "")],
    );
    t.wait_for("p proceed");
    send_bytes(&t, b"e\x1b[200~half a paste");
    t.wait_for("--dry-run");
    t.keys(&["q"]);
    assert_restored(&t, 0);
}
