//! Everything under the state directory is owner-only (directories 0700,
//! files 0600) whatever the umask: it holds raw pastes, drafts, audit logs
//! and standing rules, often on a shared bastion. The real binary runs the
//! paths that write there (a rule, a draft with a model, a session in the
//! TUI) with a permissive umask, then the tree is walked.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::openai_server::{sse, ChunkStyle, FakeServer, Reply};
use crate::tmux;

const UMASK: libc::mode_t = 0o022;

fn stepguard(state_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepguard"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("STEPGUARD_STATE_DIR", state_dir)
        .env("STEPGUARD_CONFIG", "/dev/null")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .envs(env.iter().copied());
    // SAFETY: umask is async-signal-safe and touches no memory.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(UMASK);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every entry under `dir` (and `dir` itself) with a mode that lets anyone
/// but the owner in, as `path mode`.
fn loose_entries(dir: &Path) -> Vec<String> {
    let mut loose = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        if mode != want {
            loose.push(format!("{} {mode:03o}", path.display()));
        }
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        seen += 1;
    }
    assert!(seen > 1, "nothing under {}", dir.display());
    loose
}

fn names(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        all.push(path.strip_prefix(dir).unwrap().to_path_buf());
    }
    all
}

/// A model that refuses json_schema (so the accepted mode is remembered
/// on disk) and answers drafts.
async fn model() -> FakeServer {
    let draft = serde_json::json!({
        "values": {"canary_dir": {"value": "/tmp/canary", "evidence": "canary_dir"}},
        "stale": [],
        "notes": "read only"
    })
    .to_string();
    FakeServer::start(move |req, _| {
        if req.json()["response_format"]["type"] == "json_schema" {
            Reply::Status {
                status: 500,
                body: "schema not supported".into(),
                headers: vec![],
            }
        } else {
            sse(&draft, &ChunkStyle::default())
        }
    })
    .await
}

/// Rules, a draft and a session, each through the binary.
async fn write_everything(state: &Path, name: &'static str) {
    let state_dir = state.to_path_buf();
    tokio::task::spawn_blocking(move || {
        stepguard(
            &state_dir,
            &[
                "rules",
                "add",
                "--reason",
                "read-only status",
                "--",
                "consul",
                "status",
            ],
            &[],
        );
    })
    .await
    .unwrap();

    let server = model().await;
    let (state_dir, base_url) = (state.to_path_buf(), server.base_url.clone());
    tokio::task::spawn_blocking(move || {
        stepguard(
            &state_dir,
            &[
                "draft",
                "tests/fixtures/runbooks/canary.yaml",
                "--step",
                "1",
                "--json",
                "--var",
                "canary_dir=/tmp/canary",
            ],
            &[
                ("OPENAI_BASE_URL", &base_url),
                ("OPENAI_API_KEY", "sk-test"),
            ],
        );
    })
    .await
    .unwrap();
    assert!(!server.requests().is_empty(), "the model was asked");

    let state_dir = state.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let paste = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(paste.path(), "DB_PASSWORD=hunter2\n").unwrap();
        let line = format!(
            "umask {UMASK:03o}; cd {} && {} run tests/fixtures/runbooks/canary.yaml --var canary_dir=/tmp/canary --state {}; echo \"EXITED $?\"; sleep 60",
            env!("CARGO_MANIFEST_DIR"),
            env!("CARGO_BIN_EXE_stepguard"),
            paste.path().display()
        );
        let t = tmux::Tmux::start(
            name,
            &line,
            &[("STEPGUARD_STATE_DIR", state_dir.to_str().unwrap())],
        );
        t.wait_for("step 1/4");
        t.keys(&["q"]);
        t.wait_for("EXITED 0");
    })
    .await
    .unwrap();
}

fn assert_written(state: &Path) {
    let names = names(state);
    for expected in [
        "rules.json",
        "rules.json.lock",
        "drafts",
        "drafts/endpoints.json",
        "sessions",
    ] {
        assert!(
            names.iter().any(|n| n == Path::new(expected)),
            "{expected} not written: {names:?}"
        );
    }
    for suffix in ["audit.jsonl", "session.json", "state.txt"] {
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("sessions") && n.ends_with(suffix)),
            "no session {suffix}: {names:?}"
        );
    }
    assert!(
        names.iter().any(|n| n.starts_with("drafts")
            && n.extension().is_some_and(|e| e == "json")
            && !n.ends_with("endpoints.json")),
        "no cached draft: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_state_dir_is_owner_only_whatever_the_umask() {
    let root = tempfile::tempdir().unwrap();
    // Missing parents are created too: they are on the way to the secrets.
    let state = root.path().join("xdg/state/stepguard");
    write_everything(&state, "modes-new").await;
    assert_written(&state);
    assert_eq!(loose_entries(&state), Vec::<String>::new());
    assert_eq!(
        loose_entries(&root.path().join("xdg")),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_state_dir_is_tightened_on_first_use() {
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("stepguard");
    let old_session = state.join("sessions/0a1b2c3d");
    std::fs::create_dir_all(&old_session).unwrap();
    std::fs::create_dir_all(state.join("drafts")).unwrap();
    for (path, mode) in [
        (state.join("rules.json.lock"), 0o644),
        (state.join("drafts/old.json"), 0o644),
        (old_session.join("state.txt"), 0o666),
        (old_session.join("audit.jsonl"), 0o644),
    ] {
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    for dir in [
        &state,
        &state.join("drafts"),
        &state.join("sessions"),
        &old_session,
    ] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert!(!loose_entries(&state).is_empty());
    write_everything(&state, "modes-old").await;
    assert_written(&state);
    assert_eq!(loose_entries(&state), Vec::<String>::new());
}
