//! Spawn a guarded read-only command: `sh -c`, stdin null, its own process
//! group (so a timeout or cancel kills the whole pipeline, grandchildren
//! included), output streamed line by line and kept bounded.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};

use super::output::{KeptOutput, LineSplitter, OutputLimits, Stream};
use super::sandbox::{self, Prepared, SandboxError, SandboxPolicy, SandboxStatus};
use super::verdict::Predicates;

#[derive(Debug, Clone)]
pub struct RunRequest {
    pub command: String,
    pub timeout: Duration,
    pub limits: OutputLimits,
    pub predicates: Predicates,
    /// The engineer's standing rules (None: the allowlist alone).
    pub rules: Option<crate::standing::RuleStore>,
}

/// What the runner reports while a command runs.
#[derive(Debug, Clone)]
pub enum RunEvent {
    Line { stream: Stream, text: String },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunOutcome {
    pub command: String,
    pub exit_code: Option<i32>,
    /// The signal that ended the shell, if any.
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub cancelled: bool,
    #[serde(with = "millis")]
    pub duration: Duration,
    pub output: KeptOutput,
    /// First stdout line matching `stop_if`, seen over the whole stream.
    pub stop_hit: Option<String>,
    /// First stdout line matching `proceed_if`, seen over the whole stream.
    pub proceed_hit: Option<String>,
    /// The session and process group that was spawned (and killed at the end).
    pub pgid: Option<u32>,
    /// Standing rules this run used (each use counted and audited).
    pub rule_uses: Vec<String>,
    /// What confined the command: Landlock, or the guard alone.
    pub sandbox: SandboxStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Refused(String),
    #[error("could not start the shell: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("{0}")]
    Sandbox(#[from] SandboxError),
}

/// Run one pre-flight or verify command. Refused unless the guard allows it.
///
/// Lines are sent on `events` as they arrive (a closed receiver is fine);
/// `cancel` firing kills the process group.
pub async fn run(
    req: RunRequest,
    events: Option<mpsc::Sender<RunEvent>>,
    cancel: Option<oneshot::Receiver<()>>,
) -> Result<RunOutcome, RunError> {
    let decision = super::guard_to_run(&req.command, req.rules.as_ref());
    if !decision.allowed {
        return Err(RunError::Refused(decision.reason));
    }
    // Before a rule's use is counted: no sandbox, no run, no use.
    let prepared = sandbox::prepare(&super::sandbox_policy())?;
    // A standing rule's use is counted before the command runs; a rule that
    // ran out in the meantime refuses it.
    if let (false, Some(store)) = (decision.rule_uses.is_empty(), req.rules.as_ref()) {
        store
            .record_uses(&decision.rule_uses, crate::standing::now())
            .map_err(|e| RunError::Refused(format!("refused: {e}")))?;
    }
    let started = Instant::now();
    let status_of_sandbox = prepared.status.clone();
    let (mut child, scratch) = spawn(&req.command, prepared)?;
    let pgid = child.id();
    // PDEATHSIG reaches only the shell; the watcher cleans up the rest if
    // stepguard dies, the scratch directory included.
    let watcher = pgid.and_then(|pgid| spawn_watcher(pgid, scratch.path()));
    // Dropped at return in this order: the scratch directory is removed,
    // then the watcher killed, so no kill between the two leaves it behind.
    let _run = (scratch, watcher);
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");

    let (line_tx, mut line_rx) = mpsc::channel::<(Stream, String, u64)>(256);
    let limits = req.limits;
    tokio::spawn(read_lines(stdout, Stream::Stdout, limits, line_tx.clone()));
    tokio::spawn(read_lines(stderr, Stream::Stderr, limits, line_tx));

    let mut outcome = RunOutcome {
        command: req.command.clone(),
        exit_code: None,
        signal: None,
        timed_out: false,
        cancelled: false,
        duration: Duration::ZERO,
        output: KeptOutput::default(),
        stop_hit: None,
        proceed_hit: None,
        pgid,
        rule_uses: decision.rule_uses.clone(),
        sandbox: status_of_sandbox,
    };
    let deadline = tokio::time::sleep(req.timeout);
    tokio::pin!(deadline);
    let cancel = super::cancelled(cancel);
    tokio::pin!(cancel);

    let mut status = None;
    let mut streams_open = true;
    // Runs until both pipes closed and the shell exited, or until the
    // deadline/cancel: then the group is killed and the rest drained.
    loop {
        tokio::select! {
            line = line_rx.recv(), if streams_open => match line {
                Some((stream, text, cut)) => accept(&mut outcome, &req, &events, stream, text, cut).await,
                None => streams_open = false,
            },
            st = child.wait(), if status.is_none() => {
                status = Some(st?);
                // The shell is gone; stragglers in its group must not outlive it.
                kill_group(pgid);
            }
            _ = &mut deadline => { outcome.timed_out = true; break; }
            _ = &mut cancel => { outcome.cancelled = true; break; }
        }
        if status.is_some() && !streams_open {
            break;
        }
    }
    if status.is_none() {
        kill_group(pgid);
        status = Some(child.wait().await?);
        while let Some((stream, text, cut)) = line_rx.recv().await {
            accept(&mut outcome, &req, &events, stream, text, cut).await;
        }
    }
    if let Some(status) = status {
        use std::os::unix::process::ExitStatusExt;
        outcome.exit_code = status.code();
        outcome.signal = status.signal();
    }
    outcome.duration = started.elapsed();
    Ok(outcome)
}

/// The one place a command is started: `sh -c`, stdin null, its own
/// session, the sandbox applied in the child right before `exec`.
fn spawn(
    command_line: &str,
    prepared: Prepared,
) -> Result<(tokio::process::Child, tempfile::TempDir), RunError> {
    let Prepared {
        scratch,
        ruleset,
        status: _,
    } = prepared;
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(command_line)
        .current_dir(std::env::current_dir().unwrap_or_else(|_| scratch.path().into()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in sandbox::scratch_env(scratch.path()) {
        command.env(k, v);
    }
    // stepguard's own secrets are no business of a pre-flight's.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("STEPGUARD_") || k.starts_with("OPENAI_") {
            command.env_remove(k.as_ref());
        }
    }
    let mut ruleset = ruleset;
    // A new session (hence a new process group): the group kill reaches the
    // whole pipeline, and the session id still finds a process that moved to
    // a group of its own (GNU `timeout` does) so it is killed too.
    // SAFETY: setsid, prctl, Landlock, capset, seccomp and close_range are
    // system calls; nothing here allocates.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // If stepguard itself dies (even by SIGKILL), so does the shell.
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            sandbox::confine_child(ruleset.take())
        });
    }
    let child = command.spawn()?;
    Ok((child, scratch))
}

/// `stepguard doctor`'s proof: a sandboxed shell tries to write a new file
/// in `outside` (a directory outside its scratch directory), to change the
/// mode of a file there, and to write into its scratch directory. Returns
/// what protected it and which of those happened.
pub async fn probe_sandbox(
    policy: &SandboxPolicy,
    outside: &std::path::Path,
) -> Result<SandboxProbe, RunError> {
    use std::os::unix::fs::PermissionsExt;
    let target = outside.join("written-by-a-pre-flight");
    let existing = outside.join("mode-changed-by-a-pre-flight");
    std::fs::write(&existing, "")?;
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o600))?;
    let prepared = sandbox::prepare(policy)?;
    let status = prepared.status.clone();
    // The paths travel as $1 and $2, never inside the script.
    let script = r#"(printf x > "$1") 2>/dev/null; chmod 666 "$2" 2>/dev/null; (printf x > "$TMPDIR/probe") 2>/dev/null && [ -s "$TMPDIR/probe" ] && echo scratch-ok"#;
    let quote = |p: &std::path::Path| {
        shlex::try_quote(&p.to_string_lossy())
            .map(|q| q.into_owned())
            .map_err(|_| RunError::Refused("refused: the probe path has a NUL byte".into()))
    };
    let line = format!("set -- {} {}; {script}", quote(&target)?, quote(&existing)?);
    let (child, scratch) = spawn(&line, prepared)?;
    let out = child.wait_with_output().await?;
    drop(scratch);
    let mode = std::fs::metadata(&existing)?.permissions().mode() & 0o777;
    Ok(SandboxProbe {
        status,
        target,
        outside_written: outside.join("written-by-a-pre-flight").exists(),
        mode_changed: mode != 0o600,
        scratch_written: String::from_utf8_lossy(&out.stdout).contains("scratch-ok"),
    })
}

/// What [`probe_sandbox`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxProbe {
    pub status: SandboxStatus,
    /// The file the probe tried to write.
    pub target: std::path::PathBuf,
    /// The write outside the scratch directory happened (it must not).
    pub outside_written: bool,
    /// A file's mode outside the scratch directory changed (it must not).
    pub mode_changed: bool,
    /// The write inside the scratch directory happened (it must).
    pub scratch_written: bool,
}

async fn accept(
    outcome: &mut RunOutcome,
    req: &RunRequest,
    events: &Option<mpsc::Sender<RunEvent>>,
    stream: Stream,
    text: String,
    cut: u64,
) {
    outcome.output.total_bytes += text.len() as u64 + cut + 1;
    outcome.output.dropped_bytes += cut;
    if stream == Stream::Stdout {
        if outcome.stop_hit.is_none() && req.predicates.stop_matches(&text) {
            outcome.stop_hit = Some(text.clone());
        }
        if outcome.proceed_hit.is_none() && req.predicates.proceed_matches(&text) {
            outcome.proceed_hit = Some(text.clone());
        }
    }
    if let Some(tx) = events {
        // A receiver that went away (the screen closed) must not stop the run.
        let _ = tx
            .send(RunEvent::Line {
                stream,
                text: text.clone(),
            })
            .await;
    }
    outcome.output.push(stream, text, &req.limits);
}

async fn read_lines(
    mut pipe: impl AsyncRead + Unpin,
    stream: Stream,
    limits: OutputLimits,
    tx: mpsc::Sender<(Stream, String, u64)>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut splitter = LineSplitter::default();
    let mut lines = Vec::new();
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        splitter.feed(&buf[..n], limits.max_line_bytes, &mut lines);
        for line in lines.drain(..) {
            if tx.send((stream, line.text, line.cut)).await.is_err() {
                return;
            }
        }
    }
    if let Some(line) = splitter.finish() {
        let _ = tx.send((stream, line.text, line.cut)).await;
    }
}

static WATCHER: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// The stepguard binary, to run `stepguard __reap` beside each command. Set
/// once by the binary at start-up; without it (library use) there is no
/// watcher and only the shell dies with stepguard.
pub fn set_watcher(exe: std::path::PathBuf) {
    let _ = WATCHER.set(exe);
}

fn spawn_watcher(pgid: u32, scratch: &std::path::Path) -> Option<tokio::process::Child> {
    let exe = WATCHER.get()?;
    Command::new(exe)
        .arg("__reap")
        .arg(pgid.to_string())
        .arg(std::process::id().to_string())
        .arg(scratch)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Out of the terminal's process group and session: the hang-up
        // that comes when stepguard dies must not take the watcher with it.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .ok()
}

/// `stepguard __reap PGID PARENT [SCRATCH]`: wait until the command's
/// session is empty and its scratch directory removed (stepguard removes it
/// itself when it lives), or until PARENT (stepguard) is gone, and then
/// kill the session and remove the scratch directory. Polling the parent works whatever signal ended
/// it, SIGKILL included.
pub fn reap(pgid: u32, parent: u32, scratch: Option<&std::path::Path>) {
    // The terminal's hang-up and interrupt are for stepguard, not for its
    // watcher, which must outlive it to clean up.
    // SAFETY: setting dispositions to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    loop {
        // SAFETY: getppid has no preconditions.
        let ppid = unsafe { libc::getppid() } as u32;
        if ppid != parent {
            kill_group(Some(pgid));
            if let Some(dir) = scratch.filter(|d| {
                d.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(sandbox::SCRATCH_PREFIX))
            }) {
                let _ = std::fs::remove_dir_all(dir);
            }
            return;
        }
        let members = libc::pid_t::try_from(pgid)
            .map(session_members)
            .unwrap_or_default();
        // Done once the command is over and stepguard has removed the
        // scratch directory: a kill in between is still ours to clean up.
        if members.is_empty() && scratch.is_none_or(|d| !d.exists()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGKILL everything the command started: its process group, and on Linux
/// every process still in its session.
fn kill_group(pgid: Option<u32>) {
    let Some(id) = pgid.and_then(|p| libc::pid_t::try_from(p).ok()) else {
        return;
    };
    // SAFETY: killpg/kill only send signals. The session and group were
    // created by setsid for this command, so their id is the shell's pid and
    // no unrelated process carries it.
    unsafe {
        libc::killpg(id, libc::SIGKILL);
    }
    // The sandbox refuses setsid, so everything the command started stays
    // in its session; but a process can fork between a scan and the kill
    // (hopping process groups as it goes), so scan and kill until a scan
    // finds nobody.
    for _ in 0..200 {
        let members = session_members(id);
        if members.is_empty() {
            return;
        }
        for pid in members {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Live processes whose session id is `sid` (Linux /proc; empty
/// elsewhere). Zombies are left out: they can do nothing, and no signal
/// removes them (their parent's wait does).
pub fn session_members(sid: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| session_of(&stat))
                == Some(sid)
        })
        .collect()
}

/// Field 6 of /proc/PID/stat, for a process that is not a zombie (field
/// 3); the command name in field 2 may hold spaces and parentheses, so
/// count from the last ')'.
fn session_of(stat: &str) -> Option<libc::pid_t> {
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(2)?.parse().ok()
}

mod millis {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::session_of;

    #[test]
    fn the_session_comes_from_the_stat_line_and_zombies_have_none() {
        assert_eq!(session_of("42 (sh) S 1 42 77 0 -1"), Some(77));
        // A name with spaces and parentheses of its own.
        assert_eq!(session_of("42 (a) S (b)) R 1 42 78 0 -1"), Some(78));
        assert_eq!(session_of("42 (perl) Z 1 42 77 0 -1"), None);
    }
}
