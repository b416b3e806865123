//! The session directory: `audit.jsonl` (the truth), `session.json` (a
//! snapshot of the screen, replaced atomically, a cache the log can rebuild),
//! `state.txt` (the pasted cluster state), `runbook.*` (a copy of the
//! runbook as it was) and `lock` (held by the one process writing the
//! session). Directories live under `$STEPGUARD_STATE_DIR/sessions/`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::audit::Head;
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
    /// What is wrong with the session's files (listed, never hidden).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
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

    /// An existing session; ids are 8 hex characters and nothing else. Its
    /// log makes it a session (the snapshot may be lost).
    pub fn open(state_dir: &Path, id: &str) -> std::io::Result<Self> {
        let valid = id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit());
        let dir = Self::root(state_dir).join(id);
        if !valid || !(dir.join("audit.jsonl").is_file() || dir.join("session.json").is_file()) {
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

    /// The copy of the runbook text: `runbook.md` or `runbook.yaml`, after
    /// the original's kind (the loader reads Markdown by its extension).
    pub fn runbook_copy_path(&self, original: &Path) -> PathBuf {
        let md = original
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("md"));
        self.dir
            .join(if md { "runbook.md" } else { "runbook.yaml" })
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }

    /// Take the session's lock for this process: one writer per session.
    /// Refused, naming the holder, while another stepguard has it; the
    /// kernel releases it when that process ends, however it ends.
    pub fn lock(&self) -> Result<SessionLock, LockError> {
        let file = crate::paths::open_private_file(
            &self.lock_path(),
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true),
        )?;
        // flock(2): released by the kernel when the process ends, however.
        // A holder that is ending (the old process of a dropped SSH session
        // still cancelling its check, or a child forked with the descriptor
        // and not yet exec'd) lets go within moments: wait that long before
        // refusing, so a reconnect's resume is not turned away.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let held = loop {
            // SAFETY: flock on a file descriptor this function owns.
            let rc = unsafe {
                libc::flock(
                    std::os::fd::AsRawFd::as_raw_fd(&file),
                    libc::LOCK_EX | libc::LOCK_NB,
                )
            };
            if rc == 0 {
                break false;
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(e.into());
            }
            if std::time::Instant::now() >= deadline {
                break true;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        };
        if held {
            let holder = std::fs::read_to_string(self.lock_path())
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
            return Err(LockError::Held {
                id: self.id.clone(),
                holder,
            });
        }
        let holder = LockHolder {
            pid: std::process::id(),
            host: hostname(),
            since_ms: crate::clock::now_ms(),
        };
        // Who holds it, for a second writer's refusal; the lock holds even
        // when this cannot be written (a full disk must not block a resume).
        let mut f = &file;
        let _ = f
            .set_len(0)
            .and_then(|()| f.write_all(serde_json::to_string(&holder)?.as_bytes()));
        Ok(SessionLock { _file: file })
    }

    /// Temp files a process killed mid-save left behind (the rename that
    /// would have consumed them never happened).
    pub fn remove_stale_temp_files(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    pub fn write_snapshot<T: Serialize>(&self, snapshot: &T) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(snapshot)?;
        // A cache of the log: replaced atomically (a kill leaves the old or
        // the new one), not synced (after a power loss the log rebuilds it),
        // so a keypress never waits for the disk.
        write_replace(&self.snapshot_path(), &bytes)
    }

    pub fn read_snapshot<T: DeserializeOwned>(&self) -> std::io::Result<T> {
        let text = std::fs::read_to_string(self.snapshot_path())?;
        serde_json::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    pub fn write_state(&self, text: &str) -> std::io::Result<()> {
        // Synced off the screen's path: a 10 MB paste must not hold the
        // first frame (a kill cannot lose it once renamed into place).
        write_replace(&self.state_path(), text.as_bytes())?;
        sync_in_background(vec![self.state_path(), self.dir.clone()]);
        Ok(())
    }

    pub fn read_state(&self) -> Option<String> {
        std::fs::read_to_string(self.state_path()).ok()
    }
}

/// Temp file in the same directory, renamed over the target: a reader (and
/// a process killed at any moment) sees the old file or the new one, never
/// half. Owner-only (tempfile creates it 0600). Not synced: see
/// [`write_atomic`] for that.
pub fn write_replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// fsync files and directories on a thread of their own, for what must
/// reach the disk soon but must not hold the screen.
pub fn sync_in_background(paths: Vec<PathBuf>) {
    std::thread::spawn(move || {
        for path in paths {
            if let Ok(f) = std::fs::File::open(&path) {
                let _ = f.sync_all();
            }
        }
    });
}

/// Temp file in the same directory, fsync, rename over the target, fsync
/// the directory: a reader sees the old file or the new one, never half,
/// even after a power loss. The file is owner-only (tempfile creates it 0600).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // Removed on any error by its drop; one left by a kill is removed when
    // the session is next opened.
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

const TEMP_PREFIX: &str = ".tmp-";

/// How long `lock` waits for a holder that is ending before refusing.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// The part of a snapshot `sessions` reads (the rest is the screen's).
#[derive(Deserialize)]
struct Listing {
    summary: SessionSummary,
    #[serde(default)]
    audit_head: Head,
    #[serde(default)]
    has_state: bool,
}

/// Who holds a session's lock (what its `lock` file says).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    pub since_ms: u64,
}

/// Held while a process writes a session; released when dropped or when
/// the process ends.
#[derive(Debug)]
pub struct SessionLock {
    _file: std::fs::File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "session {id} is open in another stepguard (pid {} on {}, since {}): one writer per session; \
         for a read-only view run `stepguard report {id}`",
        holder.pid, crate::sanitize::sanitize_line(&holder.host, 64), crate::clock::format_utc(holder.since_ms)
    )]
    Held { id: String, holder: LockHolder },
    #[error("the session's lock: {0}")]
    Io(#[from] std::io::Error),
}

impl From<serde_json::Error> for LockError {
    fn from(e: serde_json::Error) -> Self {
        LockError::Io(e.into())
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}

/// Every session, newest first: from its snapshot, or rebuilt from its log
/// when the snapshot is unreadable, with what is wrong in `problems`. An
/// unreadable sessions directory is an error (another user's, a file), not
/// "no sessions".
pub fn list_sessions(state_dir: &Path) -> std::io::Result<Vec<SessionSummary>> {
    let root = SessionDir::root(state_dir);
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", root.display()),
            ))
        }
    };
    let mut list: Vec<SessionSummary> = entries
        .filter_map(|e| e.ok())
        // Not through a symlink: stepguard makes none, and one would list
        // a session twice, under an id it never had.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let id = e.file_name().to_string_lossy().into_owned();
            let session = SessionDir::open(state_dir, &id).ok()?;
            Some(session.summary())
        })
        .collect();
    list.sort_by_key(|s| std::cmp::Reverse(s.updated_ms));
    Ok(list)
}

impl SessionDir {
    /// What `sessions` lists: the snapshot's summary brought up to the log,
    /// with every problem of the session's files named.
    pub fn summary(&self) -> SessionSummary {
        let mut problems = Vec::new();
        let snapshot = std::fs::read_to_string(self.snapshot_path())
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Listing>(&t).map_err(|e| e.to_string()))
            .map_err(|e| {
                problems.push(format!(
                    "snapshot unreadable ({e}): the audit log rebuilds it on resume"
                ))
            })
            .ok();
        let snapshot = snapshot.map(|l| (l.summary, l.audit_head, l.has_state));
        if let Err(e) = super::audit::verify(&self.audit_path(), snapshot.as_ref().map(|s| &s.1)) {
            problems.push(if e.torn {
                format!("audit log: last line cut off mid-write: `stepguard sessions repair {}` mends it", self.id)
            } else {
                format!("audit log: {e}")
            });
        }
        let events = super::audit::read_events(&self.audit_path()).unwrap_or_default();
        let mut summary = summary_from_log(&self.id, &events);
        if let Some((saved, _, has_state)) = &snapshot {
            // The snapshot is never ahead of the log, but may lag it (a
            // kill between the two writes): the furthest step wins.
            if summary.runbook_id.is_empty() {
                summary.runbook_id = saved.runbook_id.clone();
            }
            summary.steps = summary.steps.max(saved.steps);
            summary.step = summary.step.max(saved.step);
            if summary.status == "open" {
                summary.status = saved.status.clone();
            }
            summary.created_ms = saved.created_ms;
            summary.updated_ms = summary.updated_ms.max(saved.updated_ms);
            if *has_state && !self.state_path().is_file() {
                problems.push("the pasted state (state.txt) is missing".into());
            }
        }
        if events.is_empty() && snapshot.is_none() {
            problems.push("nothing readable: no audit log events and no snapshot".into());
        }
        summary.problems = problems;
        summary
    }
}

/// A session's summary from its events alone: the step after the last
/// decided one, halted or completed as the decisions say.
pub fn summary_from_log(id: &str, events: &[super::Recorded]) -> SessionSummary {
    let mut summary = SessionSummary {
        id: id.to_string(),
        runbook_id: String::new(),
        step: 1,
        steps: 0,
        status: "open".into(),
        created_ms: events.first().map_or(0, |r| r.ts_ms),
        updated_ms: events.last().map_or(0, |r| r.ts_ms),
        problems: Vec::new(),
    };
    for r in events {
        match &r.event {
            Event::SessionStart(start) => {
                summary.runbook_id = start.runbook.clone();
                summary.steps = start.steps;
            }
            // A halt ends the walk; a step the runbook does not have is no
            // step (as on resume).
            Event::Decision(d)
                if d.step_number > 0
                    && (summary.steps == 0 || d.step_number <= summary.steps)
                    && summary.status != "halted" =>
            {
                match d.decision {
                    Decision::Halt => {
                        summary.step = d.step_number;
                        summary.status = "halted".into();
                    }
                    _ if d.step_number >= summary.steps && summary.steps > 0 => {
                        summary.step = d.step_number;
                        summary.status = "completed".into();
                    }
                    _ => summary.step = d.step_number + 1,
                }
            }
            _ => {}
        }
    }
    summary
}

/// The sessions directory works: it is (or can be made) a directory this
/// user can create sessions in. Checked before the screen opens, so a bad
/// `STEPGUARD_STATE_DIR` is named at once, not after the first key.
pub fn check_state_dir(state_dir: &Path) -> std::io::Result<()> {
    let root = SessionDir::root(state_dir);
    let named =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", root.display()));
    create_private_dir(&root).map_err(named)?;
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(&root)
        .map(drop)
        .map_err(named)
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

impl Rejection {
    /// What happened, in words: `halted`, `skipped`, or as the team's
    /// database recorded it (`rejected by bob`).
    pub fn said(&self) -> &str {
        match self.decision.as_str() {
            "halt" => "halted",
            "skip" => "skipped",
            other => other,
        }
    }
}

/// Skips and halts recorded in the audit logs within `window_ms` of `now_ms`.
pub fn recent_rejections(state_dir: &Path, now_ms: u64, window_ms: u64) -> Vec<Rejection> {
    let Ok(entries) = std::fs::read_dir(SessionDir::root(state_dir)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let session = entry.file_name().to_string_lossy().into_owned();
        let log = entry.path().join("audit.jsonl");
        // A log last written before the window has nothing in it: months of
        // sessions must not be read at every start.
        let modified_ms = std::fs::metadata(&log)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64);
        if modified_ms.is_some_and(|m| now_ms.saturating_sub(m) > window_ms) {
            continue;
        }
        let Ok(events) = super::audit::read_events(&log) else {
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
