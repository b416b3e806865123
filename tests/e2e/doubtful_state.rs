//! A state that looks binary or is very large (over 16 MiB) is asked
//! about on the terminal before the screen opens (`run`), refused naming
//! `--state-anyway` where nobody can answer (`draft`), and, once kept, is
//! stored once in the session: `state.txt`, a digest everywhere else.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use stepguard::draft::pasted::LARGE_STATE_BYTES;

use crate::tmux::Tmux;

const MARKER: &str = "log_dir: demo/var/log/checkout-doubtful-marker";

/// Bytes that look like an executable: NULs, controls, invalid UTF-8,
/// with a marker to find copies of by.
fn binary(dir: &Path) -> PathBuf {
    let mut bytes = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    bytes.extend(format!("\n{MARKER}\n").as_bytes());
    bytes.extend((0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let path = dir.join("state.bin");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn stepguard(state_dir: &Path, args: &[&str], stdin: Option<&Path>) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stepguard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("STEPGUARD_STATE_DIR", state_dir)
        .env("STEPGUARD_CONFIG", "/dev/null")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .stdin(stdin.map_or(Stdio::null(), |p| {
            Stdio::from(std::fs::File::open(p).unwrap())
        }))
        .output()
        .unwrap()
}

fn draft(state_dir: &Path, state: &str, extra: &[&str], stdin: Option<&Path>) -> Output {
    let mut args = vec![
        "draft",
        "demo-checkout-logs",
        "--step",
        "1",
        "--offline",
        "--json",
        "--state",
        state,
    ];
    args.extend(extra);
    stepguard(state_dir, &args, stdin)
}

#[test]
fn draft_refuses_a_doubtful_state_and_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let bin = binary(dir.path());
    let bin_arg = bin.to_str().unwrap();
    let out = draft(dir.path(), bin_arg, &[], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "stepguard: {bin_arg} looks binary (195 KiB, NUL bytes, "
        )) && err
            .trim_end()
            .ends_with("control bytes): not kept as the state (pass --state-anyway to keep it)"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // The same on stdin.
    let out = draft(dir.path(), "-", &[], Some(&bin));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("stepguard: the state on stdin looks binary"),
        "{err}"
    );
    // Kept anyway: the card is drafted from it.
    for (state, stdin) in [(bin_arg, None), ("-", Some(bin.as_path()))] {
        let out = draft(dir.path(), state, &["--state-anyway"], stdin);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let card: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let log_dir = card["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "log_dir");
        assert_eq!(
            log_dir.unwrap()["value"],
            "demo/var/log/checkout-doubtful-marker",
            "the text in it is used"
        );
    }
    // Only NULs.
    let nuls = dir.path().join("nuls");
    std::fs::write(&nuls, vec![0u8; 10]).unwrap();
    let out = draft(dir.path(), nuls.to_str().unwrap(), &[], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("looks binary (10 bytes, NUL bytes, 100 % control bytes)"));
}

#[test]
fn text_states_are_taken_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let line = "payments   checkout-7d9f8c6b5-xk2lq   0/1   CrashLoopBackOff   17   41m\n";
    let mut text = format!("{MARKER}\n").into_bytes();
    // Not UTF-8 in the middle, past the sample: still text.
    text.extend(line.repeat(2_000).as_bytes());
    text.extend(b"caf\xe9\n");
    while (text.len() as u64) < LARGE_STATE_BYTES {
        text.extend(line.as_bytes());
    }
    text.truncate(LARGE_STATE_BYTES as usize);
    let at_limit = dir.path().join("at-limit.txt");
    std::fs::write(&at_limit, &text).unwrap();
    let out = draft(dir.path(), at_limit.to_str().unwrap(), &[], None);
    assert!(
        out.status.success(),
        "exactly 16 MiB: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    text.push(b'\n');
    let over = dir.path().join("over.txt");
    std::fs::write(&over, &text).unwrap();
    let out = draft(dir.path(), over.to_str().unwrap(), &[], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("over.txt is very large (16 MiB, over 16 MiB): not kept as the state (pass --state-anyway to keep it)"),
        "{err}"
    );
    let out = draft(dir.path(), "-", &[], Some(&over));
    assert_eq!(out.status.code(), Some(2), "one byte over, on stdin");
    assert!(draft(
        dir.path(),
        over.to_str().unwrap(),
        &["--state-anyway"],
        None
    )
    .status
    .success());

    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let out = draft(dir.path(), empty.to_str().unwrap(), &[], None);
    assert!(
        out.status.success(),
        "an empty state: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = draft(dir.path(), "-", &[], Some(&empty));
    assert!(out.status.success());
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if String::from_utf8_lossy(&std::fs::read(&path).unwrap()).contains(needle) {
            found.push(path);
        }
    }
    found
}

fn run_line(args: &str) -> String {
    format!(
        "cd {} && {} {args}; echo \"EXITED $?\"; sleep 60",
        env!("CARGO_MANIFEST_DIR"),
        env!("CARGO_BIN_EXE_stepguard")
    )
}

#[test]
fn run_asks_on_the_terminal_and_stores_a_kept_state_once() {
    let files = tempfile::tempdir().unwrap();
    let bin = binary(files.path());
    let name = bin.display().to_string();

    // No: nothing opens, nothing is written.
    let state = tempfile::tempdir().unwrap();
    let env = [("STEPGUARD_STATE_DIR", state.path().to_str().unwrap())];
    let t = Tmux::start(
        "ask-no",
        &run_line(&format!("run demo-checkout-logs --state {name}")),
        &env,
    );
    t.wait_for("[y/N]");
    // Wrapped lines joined: the question is longer than the pane is wide.
    let screen = t.tmux(&["capture-pane", "-p", "-J", "-t", "sg"]);
    assert!(
        screen.contains(&format!(
            "stepguard: {name} looks binary (195 KiB, NUL bytes,"
        )),
        "{screen}"
    );
    assert!(screen.contains("Keep it as the state? [y/N]"), "{screen}");
    t.type_text("n");
    t.keys(&["Enter"]);
    t.wait_for("EXITED");
    let screen = t.tmux(&["capture-pane", "-p", "-J", "-t", "sg"]);
    assert!(screen.contains("EXITED 2"), "{screen}");
    assert!(
        screen.contains(&format!(
            "stepguard: {name}: not kept as the state (answered no)"
        )),
        "{screen}"
    );
    assert!(files_holding(state.path(), MARKER).is_empty());
    drop(t);

    // Yes, with the state piped in (the question comes on the terminal).
    let t = Tmux::start(
        "ask-yes",
        &run_line(&format!(
            "run demo-checkout-logs --offline --state - < {name}"
        )),
        &env,
    );
    t.wait_for("[y/N]");
    t.type_text("y");
    t.keys(&["Enter"]);
    t.wait_for("step 1/");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
    drop(t);
    let holding = files_holding(state.path(), MARKER);
    assert_eq!(holding.len(), 1, "stored once: {holding:?}");
    assert_eq!(holding[0].file_name().unwrap(), "state.txt");
    // Everything else in the session is small: a digest, not a copy.
    let session = holding[0].parent().unwrap();
    for entry in std::fs::read_dir(session).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "state.txt" {
            assert!(
                entry.metadata().unwrap().len() < 64 * 1024,
                "{:?}",
                entry.path()
            );
        }
    }
    let log = std::fs::read_to_string(session.join("audit.jsonl")).unwrap();
    let sha = stepguard::digest::sha256_hex(&std::fs::read(&holding[0]).unwrap());
    assert!(
        log.contains(&sha),
        "the log names the kept state by its digest"
    );

    // --state-anyway: no question.
    let quiet = tempfile::tempdir().unwrap();
    let t = Tmux::start(
        "anyway",
        &run_line(&format!(
            "run demo-checkout-logs --offline --state {name} --state-anyway"
        )),
        &[("STEPGUARD_STATE_DIR", quiet.path().to_str().unwrap())],
    );
    let screen = t.wait_for("step 1/");
    assert!(!screen.contains("[y/N]"), "{screen}");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}
