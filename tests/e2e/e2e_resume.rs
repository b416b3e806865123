//! Crash-proof sessions, end to end: the real binary in tmux is killed with
//! SIGKILL while a reason is half typed, and while a pre-flight runs; the
//! session resumes exactly where it was, the audit chain verifies, and
//! tampering with it is caught.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::tmux::Tmux;

fn start(name: &str, command: &str, state_dir: &Path) -> Tmux {
    Tmux::start(
        name,
        command,
        &[("STEPGUARD_STATE_DIR", state_dir.to_str().unwrap())],
    )
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_stepguard")
}

fn line(args: &str) -> String {
    format!(
        "cd {} && {} {args}; echo \"EXITED $?\"; sleep 60",
        env!("CARGO_MANIFEST_DIR"),
        bin()
    )
}

/// The stepguard process started with this state dir (found by its environment).
fn stepguard_pid(state_dir: &Path) -> u32 {
    let marker = format!("STEPGUARD_STATE_DIR={}", state_dir.display());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            if exe != Path::new(bin()) {
                continue;
            }
            // Not one of its watchers (`stepguard __reap`), same binary, same environment.
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmdline.split(|b| *b == 0).any(|a| a == b"__reap") {
                continue;
            }
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            if env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()) {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "no stepguard process found");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill9(pid: u32) {
    assert!(Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

fn stepguard(state_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .env("STEPGUARD_STATE_DIR", state_dir)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .unwrap()
}

fn only_session(state_dir: &Path) -> serde_json::Value {
    let out = stepguard(state_dir, &["sessions", "--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    list[0].clone()
}

fn audit_kinds(state_dir: &Path, id: &str) -> Vec<String> {
    let path: PathBuf = state_dir.join("sessions").join(id).join("audit.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn sigkill_while_typing_a_reason_loses_nothing() {
    let state = tempfile::tempdir().unwrap();
    let canary = tempfile::tempdir().unwrap();
    let walk = format!(
        "run tests/fixtures/runbooks/canary.yaml --var canary_dir={}",
        canary.path().display()
    );
    let t = start("typing", &line(&walk), state.path());
    t.wait_for("step 1/4");
    t.keys(&["r"]);
    t.wait_for("pre-flight  CHECK");
    t.keys(&["p"]);
    t.wait_for("step 2/4");
    t.keys(&["r"]);
    t.wait_for(" PASS ");
    t.keys(&["y"]);
    t.wait_for("rollback copied");
    t.keys(&["s"]);
    t.wait_for("skip this step");
    t.type_text("half a reas");
    t.wait_for("> half a reas");
    std::thread::sleep(Duration::from_millis(300));
    kill9(stepguard_pid(state.path()));
    t.wait_for("EXITED 137");
    drop(t);

    let session = only_session(state.path());
    let id = session["id"].as_str().unwrap().to_string();
    assert_eq!(session["step"], 2);
    assert_eq!(session["status"], "open");
    assert!(stepguard(state.path(), &["audit", "verify", &id])
        .status
        .success());

    let t = start(
        "resumed",
        &line(&format!("run --resume {id}")),
        state.path(),
    );
    let screen = t.wait_for("> half a reas");
    assert!(
        screen.contains("step 2/4") && screen.contains("skip this step"),
        "{screen}"
    );
    t.type_text("on enough");
    t.keys(&["Enter"]);
    t.wait_for("step 3/4");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");

    let out = stepguard(state.path(), &["audit", "verify", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let kinds = audit_kinds(state.path(), &id);
    for kind in [
        "session-start",
        "context",
        "run-start",
        "run",
        "decision",
        "copy",
        "resume",
        "quit",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} event in {kinds:?}"
        );
    }
    let log = std::fs::read_to_string(state.path().join("sessions").join(&id).join("audit.jsonl"))
        .unwrap();
    assert!(
        log.contains("half a reason enough"),
        "the skip reason is recorded"
    );
    assert!(
        std::fs::read_dir(canary.path()).unwrap().next().is_none(),
        "a canary appeared"
    );

    // Tampering: edit one event; verify names the line and exits 1.
    let path = state.path().join("sessions").join(&id).join("audit.jsonl");
    let original = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        original.replacen("\"decision\":\"skip\"", "\"decision\":\"proceed\"", 1),
    )
    .unwrap();
    let out = stepguard(state.path(), &["audit", "verify", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("audit.jsonl:"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Cutting off the last lines is caught against the saved head.
    let lines: Vec<&str> = original.lines().collect();
    std::fs::write(
        &path,
        lines[..lines.len() - 2]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .unwrap();
    assert_eq!(
        stepguard(state.path(), &["audit", "verify", &id])
            .status
            .code(),
        Some(1)
    );
    // And a tampered session does not resume.
    assert_ne!(
        stepguard(state.path(), &["run", "--resume", &id])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn sigkill_during_a_preflight_kills_it_and_resumes_at_the_step() {
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runbook = dir.path().join("slow.yaml");
    std::fs::write(
        &runbook,
        "id: slow\ntitle: Slow pre-flight\nsteps:\n  - id: wait\n    title: Wait\n    intent: A pre-flight that takes its time.\n    preflight: {run: 'sleep 47', explain: slow, timeout: 2m}\n",
    )
    .unwrap();
    let t = start(
        "preflight",
        &line(&format!("run {}", runbook.display())),
        state.path(),
    );
    t.wait_for("step 1/1");
    t.keys(&["r"]);
    t.wait_for("running");
    std::thread::sleep(Duration::from_millis(300));
    kill9(stepguard_pid(state.path()));
    t.wait_for("EXITED 137");
    // The pre-flight died with stepguard.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = Command::new("pgrep")
            .args(["-f", "^sleep 47$"])
            .output()
            .unwrap();
        if !out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pre-flight outlived stepguard"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(t);
    let session = only_session(state.path());
    let id = session["id"].as_str().unwrap().to_string();
    let kinds = audit_kinds(state.path(), &id);
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("run-start"),
        "{kinds:?}"
    );
    let t = start(
        "preflight-resumed",
        &line(&format!("run --resume {id}")),
        state.path(),
    );
    let screen = t.wait_for("resumed at step 1/1");
    assert!(screen.contains("p needs a verdict"), "{screen}");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
    assert!(stepguard(state.path(), &["audit", "verify", &id])
        .status
        .success());
}

/// A one-step runbook whose pre-flight runs `sleep SECS` (a marker no other
/// test uses), in a directory of its own.
fn slow_runbook(secs: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let runbook = dir.path().join("slow.yaml");
    std::fs::write(
        &runbook,
        format!("id: slow\ntitle: Slow pre-flight\nsteps:\n  - id: wait\n    title: Wait\n    intent: A pre-flight that takes its time.\n    preflight: {{run: 'sleep {secs}', explain: slow, timeout: 2m}}\n"),
    )
    .unwrap();
    (dir, runbook)
}

fn assert_gone(pattern: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "'{pattern}' outlived stepguard");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn last_event(state_dir: &Path, id: &str) -> serde_json::Value {
    let path: PathBuf = state_dir.join("sessions").join(id).join("audit.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn sigterm_or_sigint_mid_preflight_kills_it_logs_quit_and_restores_the_terminal() {
    // SIGINT arrives as a signal only outside raw mode (the editor, a
    // `kill -INT`); in raw mode Ctrl-C is a key.
    for (signal, secs) in [("TERM", 51), ("INT", 52)] {
        let state = tempfile::tempdir().unwrap();
        let (_dir, runbook) = slow_runbook(secs);
        let t = Tmux::start(
            "sigterm",
            &crate::tmux::shell_line(&format!("run {}", runbook.display())),
            &[("STEPGUARD_STATE_DIR", state.path().to_str().unwrap())],
        );
        t.wait_for("step 1/1");
        t.keys(&["r"]);
        t.wait_for("running");
        assert!(Command::new("kill")
            .args([
                &format!("-{signal}"),
                &stepguard_pid(state.path()).to_string()
            ])
            .status()
            .unwrap()
            .success());
        crate::tmux::assert_restored(&t, 0);
        assert_gone(&format!("^sleep {secs}$"));
        let id = only_session(state.path())["id"]
            .as_str()
            .unwrap()
            .to_string();
        let last = last_event(state.path(), &id);
        assert_eq!(last["kind"], "quit", "{last}");
        assert_eq!(last["data"]["signal"], format!("SIG{signal}"), "{last}");
        let kinds = audit_kinds(state.path(), &id);
        assert!(kinds.contains(&"cancel".to_string()), "{kinds:?}");
        assert!(stepguard(state.path(), &["audit", "verify", &id])
            .status
            .success());
    }
}

#[test]
fn a_hang_up_mid_preflight_kills_it_and_logs_quit() {
    let state = tempfile::tempdir().unwrap();
    let (_dir, runbook) = slow_runbook(53);
    let t = start(
        "sighup",
        &line(&format!("run {}", runbook.display())),
        state.path(),
    );
    t.wait_for("step 1/1");
    t.keys(&["r"]);
    t.wait_for("running");
    let pid = stepguard_pid(state.path());
    // The terminal goes away: its session gets SIGHUP.
    t.tmux(&["kill-server"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "stepguard outlived its terminal");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_gone("^sleep 53$");
    let id = only_session(state.path())["id"]
        .as_str()
        .unwrap()
        .to_string();
    let last = last_event(state.path(), &id);
    assert_eq!(last["kind"], "quit", "{last}");
    let signal = last["data"]["signal"].as_str().unwrap_or_default();
    assert!(signal == "SIGHUP" || signal == "terminal-lost", "{last}");
    assert!(stepguard(state.path(), &["audit", "verify", &id])
        .status
        .success());
}

#[test]
fn a_second_resume_of_a_live_session_is_refused_and_it_resumes_from_anywhere() {
    let state = tempfile::tempdir().unwrap();
    let t = start(
        "first-writer",
        &line("run demo-checkout-logs --state demo/state.txt"),
        state.path(),
    );
    t.wait_for("step 1/");
    let id = only_session(state.path())["id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = stepguard(state.path(), &["run", "--resume", &id]);
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    let pid = stepguard_pid(state.path());
    assert!(
        err.contains(&format!("pid {pid}")) && err.contains("stepguard report"),
        "{err}"
    );
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
    drop(t);
    // From another directory (the runbook path is absolute in the session).
    let t = start(
        "resume-elsewhere",
        &format!(
            "cd / && {} run --resume {id}; echo \"EXITED $?\"; sleep 60",
            bin()
        ),
        state.path(),
    );
    t.wait_for("resumed at step 1/");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

#[test]
fn state_directory_problems_are_named_before_the_screen_opens() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "").unwrap();
    let out = Command::new(bin())
        .args(["run", "demo-checkout-logs", "--state", "demo/state.txt"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("STEPGUARD_STATE_DIR", &not_a_dir)
        .env("STEPGUARD_CONFIG", "/dev/null")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot hold sessions") && err.contains("Not a directory"),
        "{err}"
    );
    // Reading them as someone else: an error, not "no sessions".
    // Another user's sessions, owner-only as stepguard makes them.
    let state = tempfile::tempdir().unwrap();
    let sessions = state.path().join("sessions");
    std::fs::create_dir(&sessions).unwrap();
    std::fs::set_permissions(
        &sessions,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            bin(),
            "sessions",
        ])
        .env("STEPGUARD_STATE_DIR", state.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
}

/// libfaketime, with the offset read from `file` on every call (the wall
/// clock only: the boot-time clock is left alone, as the kernel does when
/// the wall clock is set).
fn faketime_env(file: &Path) -> String {
    let lib = std::fs::read_dir("/usr/lib")
        .unwrap()
        .flatten()
        .map(|d| d.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.is_file())
        .expect("these tests need libfaketime (apt-get install faketime)");
    format!(
        "LD_PRELOAD={} FAKETIME_TIMESTAMP_FILE={} FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_ONLY_CMDS=stepguard",
        lib.display(),
        file.display()
    )
}

#[test]
fn a_clock_set_back_neither_blocks_a_fresh_verdict_nor_freshens_an_old_one() {
    // Pre-flights run on the real clock (a sandboxed child cannot reach
    // libfaketime's shared memory); only the resumed processes run on a
    // clock set back three hours.
    let state = tempfile::tempdir().unwrap();
    let t = start(
        "clock-walk",
        &line("run demo-checkout-logs --state demo/state.txt"),
        state.path(),
    );
    t.wait_for("step 1/");
    t.keys(&["r"]);
    t.wait_for(" PASS ");
    t.keys(&["p"]);
    t.wait_for("step 2/");
    t.keys(&["r"]);
    t.wait_for(" PASS ");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
    drop(t);
    let id = only_session(state.path())["id"]
        .as_str()
        .unwrap()
        .to_string();
    let clock = tempfile::NamedTempFile::new().unwrap();
    let env = faketime_env(clock.path());
    let resume = |name: &str| {
        start(
            name,
            &format!(
                "cd / && {env} {} run --resume {id}; echo \"EXITED $?\"; sleep 60",
                bin()
            ),
            state.path(),
        )
    };
    // Resumed by a process whose clock is three hours behind: step 2's
    // verdict is stamped in its future, so it is stale, and `p` says so.
    std::fs::write(clock.path(), "-10800\n").unwrap();
    let t = resume("clock-behind");
    t.wait_for("resumed at step 2/");
    t.keys(&["p"]);
    t.wait_for("clock went back");
    assert!(t.screen().contains("step 2/"));
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
    drop(t);
    // Resumed on the right time, and the wall clock set back three hours
    // while the verdict (seconds old) is on screen: `p` goes ahead, because
    // a process's clock does not run backwards.
    std::fs::write(clock.path(), "+0\n").unwrap();
    let t = resume("clock-set-back");
    t.wait_for("resumed at step 2/");
    std::fs::write(clock.path(), "-10800\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    t.keys(&["p"]);
    t.wait_for("step 3/");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
    drop(t);
    let path = state.path().join("sessions").join(&id).join("audit.jsonl");
    let decisions = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"kind\":\"decision\""))
        .count();
    assert_eq!(decisions, 2);
    assert!(stepguard(state.path(), &["audit", "verify", &id])
        .status
        .success());
}
