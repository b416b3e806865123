//! The session directory: `session.json` (the snapshot, replaced atomically
//! on every change), `state.txt` (the pasted cluster state) and
//! `audit.jsonl`. Directories live under `$STEPGUARD_STATE_DIR/sessions/`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::event::{Decision, Event};
use crate::paths::{create_private_dir, create_private_dir_new};

pub use crate::clock::now_ms;

/// 8 hex characters, unique enough per machine and easy to type.
pub fn new_session_id() -> String {
    let nanos = crate::clock::now_nanos();
    crate::digest::sha256_hex(format!("{nanos}-{}", std::process::id()).as_bytes())[..8].to_string()
}

#[derive(Debug, Clone)]
pub struct SessionDir {
    pub id: String,
    pub dir: PathBuf,
}

/// What `stepguard sessions` lists (read from the snapshot).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionSummary {
    pub id: String,
    pub runbook_id: String,
    pub step: usize,
    pub steps: usize,
    pub status: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl SessionDir {
    pub fn root(state_dir: &Path) -> PathBuf {
        state_dir.join("sessions")
    }

    pub fn create(state_dir: &Path) -> std::io::Result<Self> {
        let root = Self::root(state_dir);
        // Owner only: a session holds the raw paste (secrets included),
        // commands and reasons; a bastion host is shared.
        create_private_dir(&root)?;
        loop {
            let id = new_session_id();
            let dir = root.join(&id);
            match create_private_dir_new(&dir) {
                Ok(()) => return Ok(SessionDir { id, dir }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// An existing session; ids are 8 hex characters and nothing else.
    pub fn open(state_dir: &Path, id: &str) -> std::io::Result<Self> {
        let valid = id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit());
        let dir = Self::root(state_dir).join(id);
        if !valid || !dir.join("session.json").is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no session '{id}' in {}", Self::root(state_dir).display()),
            ));
        }
        Ok(SessionDir {
            id: id.to_string(),
            dir,
        })
    }

    pub fn audit_path(&self) -> PathBuf {
        self.dir.join("audit.jsonl")
    }

    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join("session.json")
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.txt")
    }

    pub fn write_snapshot<T: Serialize>(&self, snapshot: &T) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(snapshot)?;
        write_atomic(&self.snapshot_path(), &bytes)
    }

    pub fn read_snapshot<T: DeserializeOwned>(&self) -> std::io::Result<T> {
        let text = std::fs::read_to_string(self.snapshot_path())?;
        serde_json::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    pub fn write_state(&self, text: &str) -> std::io::Result<()> {
        write_atomic(&self.state_path(), text.as_bytes())
    }

    pub fn read_state(&self) -> Option<String> {
        std::fs::read_to_string(self.state_path()).ok()
    }
}

/// Temp file in the same directory, fsync, rename over the target, fsync
/// the directory: a reader sees the old file or the new one, never half.
/// The file is owner-only (tempfile creates it 0600).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Every session with a readable snapshot, newest first.
pub fn list_sessions(state_dir: &Path) -> Vec<SessionSummary> {
    let Ok(entries) = std::fs::read_dir(SessionDir::root(state_dir)) else {
        return Vec::new();
    };
    let mut list: Vec<SessionSummary> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join("session.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            serde_json::from_value(v.get("summary")?.clone()).ok()
        })
        .collect();
    list.sort_by_key(|s| std::cmp::Reverse(s.updated_ms));
    list
}

/// A skip or halt of a runbook step in an earlier (or this) session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub session: String,
    pub runbook_id: String,
    pub step_id: String,
    /// `skip` or `halt`.
    pub decision: String,
    pub reason: String,
    pub at_ms: u64,
}

/// Skips and halts recorded in the audit logs within `window_ms` of `now_ms`.
pub fn recent_rejections(state_dir: &Path, now_ms: u64, window_ms: u64) -> Vec<Rejection> {
    let Ok(entries) = std::fs::read_dir(SessionDir::root(state_dir)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let session = entry.file_name().to_string_lossy().into_owned();
        let Ok(events) = super::audit::read_events(&entry.path().join("audit.jsonl")) else {
            continue;
        };
        let runbook = events.iter().find_map(|r| match &r.event {
            Event::SessionStart(start) => Some(start.runbook.clone()),
            _ => None,
        });
        let Some(runbook_id) = runbook else { continue };
        for r in &events {
            let Event::Decision(decided) = &r.event else {
                continue;
            };
            if !matches!(decided.decision, Decision::Skip | Decision::Halt)
                || now_ms.saturating_sub(r.ts_ms) > window_ms
            {
                continue;
            }
            out.push(Rejection {
                session: session.clone(),
                runbook_id: runbook_id.clone(),
                step_id: decided.step.clone(),
                decision: decided.decision.as_str().to_string(),
                reason: decided.note.clone(),
                at_ms: r.ts_ms,
            });
        }
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.at_ms));
    out
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn sessions_are_owner_only() {
        let state = tempfile::tempdir().unwrap();
        // A sessions directory an older stepguard made 0755 is tightened.
        let root = SessionDir::root(state.path());
        std::fs::create_dir(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let session = SessionDir::create(state.path()).unwrap();
        session.write_state("DB_PASSWORD=hunter2\n").unwrap();
        let mut log = crate::session::audit::AuditLog::open(&session.audit_path()).unwrap();
        log.append_raw("start", serde_json::json!({}), 1).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&SessionDir::root(state.path())), 0o700);
        assert_eq!(mode(&session.dir), 0o700);
        assert_eq!(mode(&session.state_path()), 0o600);
        assert_eq!(mode(&session.audit_path()), 0o600);
    }

    #[test]
    fn rejections_come_from_skip_and_halt_decisions() {
        let state = tempfile::tempdir().unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for (id, log) in [
            ("bb5291e6", "sessions/bb5291e6/audit.jsonl"),
            ("c0ffee01", "audit/all-kinds.jsonl"),
        ] {
            let dir = SessionDir::root(state.path()).join(id);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::copy(fixtures.join(log), dir.join("audit.jsonl")).unwrap();
        }
        let now = 1_795_400_070_001 + 1_000;
        let found = recent_rejections(state.path(), now, 3_600_000);
        let brief: Vec<_> = found
            .iter()
            .map(|r| {
                (
                    r.session.as_str(),
                    r.runbook_id.as_str(),
                    r.step_id.as_str(),
                    r.decision.as_str(),
                    r.reason.as_str(),
                )
            })
            .collect();
        assert_eq!(
            brief,
            [
                (
                    "c0ffee01",
                    "k8s-rollback",
                    "confirm",
                    "halt",
                    "pages still firing: escalating"
                ),
                (
                    "bb5291e6",
                    "demo-checkout-logs",
                    "confirm-recovery",
                    "skip",
                    "actions were not run in the demo"
                ),
            ]
        );
        assert_eq!(found[0].at_ms, 1_795_400_070_000);
        // Outside the window: only the newer session's halt.
        assert_eq!(recent_rejections(state.path(), now, 60_000).len(), 1);
    }
}
