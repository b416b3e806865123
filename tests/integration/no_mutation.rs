//! SPEC §1.1: no code path spawns an action or rollback. Two proofs:
//! (1) the only place that spawns a shell for runbook commands is the
//! guarded runner; (2) driving every step of a runbook whose actions and
//! rollbacks would create canary files never creates them.

use std::path::Path;
use std::process::Command;

/// Source files allowed to start processes, and why.
const SPAWN_SITES: &[&str] = &[
    // The guarded pre-flight/verify runner: the guard is checked first.
    "src/exec/runner.rs",
    // Fixed clipboard programs (tmux, wl-copy, ...); the text goes to stdin.
    "src/tui/clipboard.rs",
    // The human's $EDITOR on a temp file holding the action text.
    "src/tui/editor.rs",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_guarded_runner_spawns_processes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut offenders = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let src = std::fs::read_to_string(&file).unwrap();
        let spawns = [
            "Command::new",
            "process::Command",
            "libc::exec",
            "libc::system",
            "posix_spawn",
        ]
        .iter()
        .any(|needle| src.contains(needle));
        if spawns && !SPAWN_SITES.contains(&rel.as_str()) {
            offenders.push(rel);
        }
    }
    assert!(
        offenders.is_empty(),
        "unexpected process spawning in {offenders:?}"
    );
    let runner = std::fs::read_to_string(root.join(SPAWN_SITES[0])).unwrap();
    let guard_at = runner
        .find("super::guard_to_run(&req.command, req.rules.as_ref())")
        .expect("runner asks the guard");
    let spawn_at = runner
        .find("spawn(&req.command, prepared)")
        .expect("runner spawns the request's command");
    assert!(
        guard_at < spawn_at,
        "the guard must be asked before the shell is spawned"
    );
    // One `sh`, started by one function, called twice: for a guarded
    // request, and for the doctor's probe, whose script is a constant.
    assert_eq!(runner.matches("Command::new(\"sh\")").count(), 1);
    let calls: Vec<_> = runner.match_indices("spawn(&").map(|(i, _)| i).collect();
    assert_eq!(
        calls.len(),
        2,
        "spawn is called from run and the probe only"
    );
    assert!(runner.contains("let (child, scratch) = spawn(&line, prepared)?;"));
    assert!(runner.contains("let script = r#\""));
}

#[test]
fn walking_every_step_never_creates_a_canary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let canary_dir = dir.path().to_str().unwrap();
    let fixture = root.join("tests/fixtures/runbooks/canary.yaml");
    let runbook = stepguard::runbook::load_file(&fixture).unwrap();
    assert!(runbook.steps.iter().any(|s| s.action.is_some()));
    for step in &runbook.steps {
        for extra in [&[][..], &["--json"][..]] {
            let out = Command::new(env!("CARGO_BIN_EXE_stepguard"))
                .env_remove("OPENAI_API_KEY")
                .env_remove("OPENAI_BASE_URL")
                .env("STEPGUARD_CONFIG", "/dev/null")
                .args([
                    "draft",
                    fixture.to_str().unwrap(),
                    "--step",
                    &step.id,
                    "--preflight",
                ])
                .args(["--var", &format!("canary_dir={canary_dir}")])
                .args(extra)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            if step.action.is_some() {
                assert!(
                    stdout.contains("action-ran"),
                    "the card shows the action: {stdout}"
                );
            }
        }
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "canary files appeared: {left:?}");
}
