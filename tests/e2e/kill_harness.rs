//! SIGKILL fault harness: the real binary walks
//! `tests/fixtures/runbooks/kill-harness.yaml` in tmux and is killed with
//! SIGKILL at random moments (seeded): right after start, within 2 ms of
//! the key that decides a step, in the middle of a pre-flight, with a
//! reason half typed, right after a copy; at step 1, 2, 3 or 4. After each
//! kill: no process of its pre-flights is left nor their scratch directories,
//! the audit chain verifies,
//! the session is listed, `run --resume` from `/` opens it on the step the
//! log says (screen and `session.json`), `p` there never decides a step the
//! log already decided, and the chain verifies after `q`.
//!
//! `STEPGUARD_KILL_CASES` (default 50), `STEPGUARD_KILL_SEED` (default:
//! from the clock, printed) and `STEPGUARD_KILL_ONLY` (case numbers, e.g.
//! `3,17`) choose the cases. Every failed check of every case is listed at
//! the end (run with `--nocapture` for the summary table).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::tmux::{pid_with_env, Tmux};

/// Relative, and started from the repository: the session must not depend
/// on the directory it was started from to resume.
const RUNBOOK: &str = "tests/fixtures/runbooks/kill-harness.yaml";
const REASON: &str = "kill harness reason";
const HALF_REASON: &str = "kill harn";
const DEFAULT_CASES: usize = 50;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_stepguard")
}

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

// ------------------------------------------------------------------ plan ---

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Moment {
    Start,
    AfterP,
    MidPreflight,
    MidReason,
    MidCopy,
}

const MOMENTS: [Moment; 5] = [
    Moment::Start,
    Moment::AfterP,
    Moment::MidPreflight,
    Moment::MidReason,
    Moment::MidCopy,
];

impl Moment {
    fn name(self) -> &'static str {
        match self {
            Moment::Start => "start",
            Moment::AfterP => "after-p",
            Moment::MidPreflight => "mid-preflight",
            Moment::MidReason => "mid-reason",
            Moment::MidCopy => "mid-copy",
        }
    }
}

/// How the moment is reached on the step the kill lands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// As soon as the session id is on screen, before any key.
    SessionShown,
    /// `p` (which decides the step, or opens its gate).
    KeyP,
    /// `p`, the gate's answer typed, then Enter (the key that decides).
    GateEnter,
    /// `r`, then the delay.
    Preflight,
    /// `p`, half a reason at the STOP override gate.
    HalfGateReason,
    /// `p`, half the target's name at the high-risk gate.
    HalfTarget,
    /// `s`, half a skip reason.
    HalfSkipReason,
    /// `a` (action) or `y` (rollback).
    Copy(char),
}

#[derive(Debug, Clone)]
struct Plan {
    case: usize,
    moment: Moment,
    /// The step (1-based) the kill lands on.
    step: usize,
    how: How,
    /// The pre-flight of `step` runs before the moment's key.
    preflight_first: bool,
    /// A copy key pressed on each step walked through first (or none).
    copies: Vec<Option<char>>,
    /// From the last key (or the session id on screen) to the kill.
    delay: Duration,
    /// In every pre-flight's command: finds its processes in /proc.
    tag: String,
}

impl Plan {
    fn new(seed: u64, case: usize) -> Plan {
        let mut rng = Rng::new(seed ^ (case as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // Round-robin from a seeded offset: every moment gets its share.
        let moment = MOMENTS[(case + (seed % 5) as usize) % MOMENTS.len()];
        let (step, how, delay_us) = match moment {
            Moment::Start => (1, How::SessionShown, 0),
            Moment::AfterP => {
                let step = rng.pick(&[1, 2, 3, 4]);
                // Steps 2 and 3 have a gate: `p` opens it, Enter decides.
                let how = if matches!(step, 2 | 3) && rng.below(2) == 1 {
                    How::GateEnter
                } else {
                    How::KeyP
                };
                (step, how, rng.below(2_001))
            }
            Moment::MidPreflight => {
                // Step 1 sleeps 0.4 s, step 4 two seconds.
                let step = rng.pick(&[1, 4]);
                let span = if step == 1 { 330_000 } else { 1_800_000 };
                (step, How::Preflight, 30_000 + rng.below(span))
            }
            Moment::MidReason => {
                let step = rng.pick(&[1, 2, 3, 4]);
                let how = match step {
                    2 => How::HalfGateReason,
                    3 if rng.below(2) == 1 => How::HalfTarget,
                    _ => How::HalfSkipReason,
                };
                (step, how, rng.below(300_000))
            }
            Moment::MidCopy => {
                let key = if rng.below(2) == 1 { 'a' } else { 'y' };
                (rng.pick(&[1, 2, 3]), How::Copy(key), rng.below(3_001))
            }
        };
        let preflight_first = match how {
            How::SessionShown | How::Preflight => false,
            How::KeyP | How::GateEnter | How::HalfGateReason | How::HalfTarget => true,
            How::HalfSkipReason | How::Copy(_) => rng.below(2) == 1,
        };
        let copies = (1..step)
            .map(|_| match rng.below(3) {
                0 => None,
                1 => Some('a'),
                _ => Some('y'),
            })
            .collect();
        // 7919 is prime to 10 000: distinct tags for up to 10 000 cases.
        let tag = format!("{:04}", (seed % 10_000 + case as u64 * 7_919) % 10_000);
        Plan {
            case,
            moment,
            step,
            how,
            preflight_first,
            copies,
            delay: Duration::from_micros(delay_us),
            tag,
        }
    }

    fn describe(&self) -> String {
        let how = match self.how {
            How::SessionShown => "session id shown".to_string(),
            How::KeyP => "p".into(),
            How::GateEnter => "p, answer, Enter".into(),
            How::Preflight => "r".into(),
            How::HalfGateReason => "p, half a reason".into(),
            How::HalfTarget => "p, half the target".into(),
            How::HalfSkipReason => "s, half a reason".into(),
            How::Copy(k) => format!("{k} (copy)"),
        };
        let first = if self.preflight_first { "r, " } else { "" };
        format!(
            "step {} ({first}{how}, kill {:.3} ms later), tag {}",
            self.step,
            self.delay.as_secs_f64() * 1000.0,
            self.tag
        )
    }

    /// The pre-flights' commands, as they run (`sh -c COMMAND`).
    fn markers(&self) -> Vec<String> {
        let t = &self.tag;
        vec![
            format!("sleep 0.4{t}"),
            format!("kh-stop-{t}"),
            format!("kh-high-{t}"),
            format!("sleep 2.{t}"),
            format!("kh-last-{t}"),
        ]
    }
}

/// SplitMix64: small, seeded, good enough to pick moments.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------- checks ---

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Check {
    /// The walk reached the moment and SIGKILL ended stepguard.
    Killed,
    /// No process of the case's pre-flights outlives it (1.5 s allowed),
    /// nor a scratch directory once it is resumed.
    Reaped,
    /// `audit verify` after the kill.
    Verify,
    /// `sessions --json` lists it.
    Listed,
    /// `run --resume ID` from `/` opens it.
    ResumeAnywhere,
    /// ... on the step the log says, on screen.
    ResumeStep,
    /// ... and in `session.json`'s `summary.step`.
    SnapshotStep,
    /// `p` after resuming decides no step twice.
    NoDuplicate,
    /// `q` exits 0 and the chain still verifies.
    VerifyAfterQuit,
}

const CHECKS: [Check; 9] = [
    Check::Killed,
    Check::Reaped,
    Check::Verify,
    Check::Listed,
    Check::ResumeAnywhere,
    Check::ResumeStep,
    Check::SnapshotStep,
    Check::NoDuplicate,
    Check::VerifyAfterQuit,
];

impl Check {
    fn name(self) -> &'static str {
        match self {
            Check::Killed => "killed",
            Check::Reaped => "reaped",
            Check::Verify => "verify",
            Check::Listed => "listed",
            Check::ResumeAnywhere => "resume-from-/",
            Check::ResumeStep => "resume-step",
            Check::SnapshotStep => "snapshot-step",
            Check::NoDuplicate => "no-dup-decision",
            Check::VerifyAfterQuit => "verify-after-q",
        }
    }
}

#[derive(Debug, Clone)]
enum Status {
    Pass,
    Fail(String),
    /// Not run: an earlier check it depends on failed.
    Skipped,
}

struct CaseResult {
    plan: Plan,
    checks: BTreeMap<Check, Status>,
    /// The step the log says the session is on.
    expected: Option<usize>,
    /// What `sessions --json` said before resuming (None: not listed).
    listed_step: Option<u64>,
    /// A pre-flight process was alive when the kill was sent.
    preflight_alive: Option<bool>,
    elapsed: Duration,
}

impl CaseResult {
    fn set(&mut self, check: Check, status: Status) {
        self.checks.insert(check, status);
    }

    fn fail(&mut self, check: Check, why: impl Into<String>) {
        self.set(check, Status::Fail(why.into()));
    }

    fn pass_or(&mut self, check: Check, r: Result<(), String>) {
        self.set(
            check,
            match r {
                Ok(()) => Status::Pass,
                Err(e) => Status::Fail(e),
            },
        );
    }

    fn failures(&self) -> Vec<(Check, &str)> {
        self.checks
            .iter()
            .filter_map(|(c, s)| match s {
                Status::Fail(why) => Some((*c, why.as_str())),
                _ => None,
            })
            .collect()
    }
}

// ---------------------------------------------------------------- screen ---

/// The step the header shows (`· step N/5 ·`).
fn header_step(screen: &str) -> Option<usize> {
    let line = screen.lines().find(|l| l.contains(" stepguard "))?;
    let at = line.find(" · step ")? + " · step ".len();
    let rest = &line[at..];
    rest[..rest.find('/')?].parse().ok()
}

/// The session id the header shows (`· session 1a2b3c4d`).
fn header_session(screen: &str) -> Option<String> {
    let line = screen.lines().find(|l| l.contains(" stepguard "))?;
    let at = line.find(" · session ")? + " · session ".len();
    let id: String = line[at..].chars().take(8).collect();
    (id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit())).then_some(id)
}

/// A typed prompt (a gate, a skip reason) is open.
fn prompt_open(screen: &str) -> bool {
    screen.contains(" confirm ") && screen.contains("Enter confirms")
}

fn has_verdict(screen: &str) -> bool {
    ["PASS", "STOP", "CHECK"]
        .iter()
        .any(|v| screen.contains(&format!("pre-flight  {v} ")))
}

/// A screen two captures in a row agree on: a capture can land in the
/// middle of a frame (the new header, the old prompt).
fn stable_screen(t: &Tmux) -> String {
    let mut last = t.screen();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(15));
        let now = t.screen();
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// The screen without its blank lines, for a failure message.
fn compact(screen: &str) -> String {
    screen
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the pane printed before `EXITED` (an error of `run --resume`).
fn exit_text(screen: &str) -> String {
    let lines: Vec<&str> = screen
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let end = lines
        .iter()
        .position(|l| l.starts_with("EXITED"))
        .unwrap_or(lines.len());
    let code = lines.get(end).copied().unwrap_or("");
    format!("{} [{code}]", lines[..end].join(" / "))
}

// ----------------------------------------------------------------- walk ---

struct Walk {
    t: Tmux,
    tag: String,
}

impl Walk {
    fn wait(&self, what: &str, secs: u64, done: impl Fn(&str) -> bool) -> Result<String, String> {
        self.t
            .poll(what, Duration::from_secs(secs), done)
            .map_err(|e| compact(&e))
    }

    fn run_preflight(&self, step: usize) -> Result<(), String> {
        self.t.keys(&["r"]);
        self.wait(&format!("step {step}'s verdict"), 15, |s| {
            has_verdict(s) && !s.contains("running…")
        })
        .map(drop)
    }

    fn copy(&self, key: char) -> Result<(), String> {
        let what = if key == 'a' { "action" } else { "rollback" };
        self.t.keys(&[&key.to_string()]);
        let s = self.wait(&format!("{what} copied"), 10, |s| {
            s.contains(&format!("{what} copied")) || s.contains("could not copy")
        })?;
        if s.contains("could not copy") {
            return Err(format!("copy failed:\n{}", compact(&s)));
        }
        Ok(())
    }

    /// The answer the open gate asks for.
    fn answer(&self, screen: &str) -> String {
        if screen.contains("target's name") {
            self.tag.clone()
        } else {
            REASON.to_string()
        }
    }

    /// Type `text` at the open prompt and wait until it shows.
    fn type_at_prompt(&self, text: &str) -> Result<String, String> {
        self.t.type_text(text);
        self.wait(&format!("'> {text}'"), 10, |s| {
            s.contains(&format!("> {text}"))
        })
    }

    /// `p`, and the gate's answer when there is one, until the step closes.
    fn proceed(&self, step: usize) -> Result<(), String> {
        self.t.keys(&["p"]);
        let s = self.wait(&format!("step {step} to close or ask"), 10, |s| {
            header_step(s).is_some_and(|n| n > step) || prompt_open(s)
        })?;
        if prompt_open(&s) {
            self.type_at_prompt(&self.answer(&s))?;
            self.t.keys(&["Enter"]);
            self.wait(&format!("step {}", step + 1), 10, |s| {
                header_step(s).is_some_and(|n| n > step)
            })?;
        }
        Ok(())
    }

    /// Open the prompt the plan half-answers, and type half of it.
    fn half_answer(&self, key: &str, half: &str) -> Result<(), String> {
        self.t.keys(&[key]);
        self.wait("a prompt", 10, prompt_open)?;
        self.type_at_prompt(half).map(drop)
    }
}

fn kill9(pid: u32) {
    // 0 and -1 would signal a whole group, or everything.
    assert!(pid > 1, "not a process id: {pid}");
    // SAFETY: kill only sends a signal.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// Live (non-zombie) processes whose command line holds a marker.
fn marker_processes(markers: &[String]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !markers.iter().any(|m| cmdline.contains(m.as_str())) {
            continue;
        }
        // A zombie is dead: only its parent's wait removes it.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if matches!(state, Some('Z' | 'X') | None) {
            continue;
        }
        found.push(format!("{pid} `{}`", cmdline.trim()));
    }
    found
}

/// Walk to the plan's moment and SIGKILL stepguard there.
fn walk_and_kill(
    walk: &Walk,
    pid: u32,
    plan: &Plan,
    alive: &mut Option<bool>,
) -> Result<(), String> {
    let kill = |alive: &mut Option<bool>| {
        std::thread::sleep(plan.delay);
        if plan.how == How::Preflight {
            *alive = Some(!marker_processes(&plan.markers()).is_empty());
        }
        kill9(pid);
    };
    walk.wait("the session id", 15, |s| header_session(s).is_some())?;
    if plan.how == How::SessionShown {
        kill(alive);
        return Ok(());
    }
    for (i, copy) in plan.copies.iter().enumerate() {
        let step = i + 1;
        walk.run_preflight(step)?;
        if let Some(key) = copy {
            walk.copy(*key)?;
        }
        walk.proceed(step)?;
    }
    if plan.preflight_first {
        walk.run_preflight(plan.step)?;
    }
    match plan.how {
        How::SessionShown => unreachable!("killed above"),
        How::KeyP => walk.t.keys(&["p"]),
        How::GateEnter => {
            walk.t.keys(&["p"]);
            let s = walk.wait("the gate", 10, prompt_open)?;
            walk.type_at_prompt(&walk.answer(&s))?;
            walk.t.keys(&["Enter"]);
        }
        How::Preflight => walk.t.keys(&["r"]),
        How::HalfGateReason => walk.half_answer("p", HALF_REASON)?,
        How::HalfTarget => walk.half_answer("p", &walk.tag[..2])?,
        How::HalfSkipReason => walk.half_answer("s", HALF_REASON)?,
        How::Copy(key) => walk.t.keys(&[&key.to_string()]),
    }
    kill(alive);
    Ok(())
}

// --------------------------------------------------------------- session ---

fn stepguard(state: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .current_dir("/")
        .env("STEPGUARD_STATE_DIR", state)
        .env("STEPGUARD_CONFIG", "/dev/null")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .unwrap()
}

fn verify(state: &Path, id: &str) -> Result<(), String> {
    let out = stepguard(state, &["audit", "verify", id]);
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "audit verify exited {:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// The one session directory of a case's state dir.
fn session_id(state: &Path) -> Option<String> {
    std::fs::read_dir(state.join("sessions"))
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
}

/// The decisions in the log, in order: (step_number, decision). A torn
/// last line (a write cut by the kill) is left out.
fn decisions(state: &Path, id: &str) -> Result<Vec<(u64, String)>, String> {
    let path = state.join("sessions").join(id).join("audit.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "decision")
        .map(|v| {
            (
                v["data"]["step_number"].as_u64().unwrap_or(0),
                v["data"]["decision"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect())
}

/// The kinds of the log's last `n` events, for a failure message.
fn last_kinds(state: &Path, id: &str, n: usize) -> String {
    let path = state.join("sessions").join(id).join("audit.jsonl");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let kinds: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["kind"].as_str().unwrap_or("?").to_string())
        .collect();
    kinds[kinds.len().saturating_sub(n)..].join(", ")
}

/// Whether the stepguard of this state dir still runs, and in what state.
fn process_state(state: &Path) -> String {
    let entry = format!("STEPGUARD_STATE_DIR={}", state.display());
    let Some(pid) = pid_with_env(Path::new(bin()), &entry) else {
        return "stepguard is gone".into();
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or("?")
            .trim()
            .to_string()
    };
    format!(
        "stepguard {pid} still runs: state {}, {} threads",
        field("State:"),
        field("Threads:")
    )
}

fn snapshot_step(state: &Path, id: &str) -> Option<u64> {
    let text =
        std::fs::read_to_string(state.join("sessions").join(id).join("session.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["summary"]["step"].as_u64()
}

fn duplicates(decided: &[(u64, String)]) -> Vec<u64> {
    let mut seen = std::collections::BTreeSet::new();
    let mut dups = std::collections::BTreeSet::new();
    for (n, _) in decided {
        if !seen.insert(*n) {
            dups.insert(*n);
        }
    }
    dups.into_iter().collect()
}

fn start_pane(name: &str, dir: &str, args: &str, state: &Path) -> Tmux {
    // The exit code on a line of its own, from column 0: a SIGKILLed
    // stepguard leaves the tty raw (no carriage return on a newline), so
    // the text could otherwise wrap mid-word after the shell's "Killed".
    let line = format!(
        "cd {dir} && {} {args}; code=$?; stty sane; echo; echo \"EXITED $code\"; sleep 60",
        bin()
    );
    // Pre-flights' scratch directories go beside the state directory, so
    // that what a kill leaves behind is seen.
    let tmp = state.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    Tmux::start(
        name,
        &line,
        &[
            ("STEPGUARD_STATE_DIR", state.to_str().unwrap()),
            ("TMPDIR", tmp.to_str().unwrap()),
        ],
    )
}

/// Scratch directories of pre-flights under the case's `TMPDIR`.
fn scratch_dirs(state: &Path) -> Vec<String> {
    std::fs::read_dir(state.join("tmp"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("stepguard-run-"))
        .collect()
}

/// `run --resume ID` from `dir`: the pane once the walk shows, else the
/// error it printed.
fn resume_in(dir: &str, id: &str, state: &Path) -> Result<Tmux, String> {
    let t = start_pane("kill-resume", dir, &format!("run --resume {id}"), state);
    let s = t
        .poll("the resumed walk", Duration::from_secs(15), |s| {
            header_session(s).is_some() || s.contains("EXITED")
        })
        .map_err(|e| compact(&e))?;
    if header_session(&s).is_some() {
        Ok(t)
    } else {
        // Wrapped lines joined: the error as it was printed.
        Err(exit_text(&t.tmux(&[
            "capture-pane",
            "-p",
            "-J",
            "-t",
            "sg",
        ])))
    }
}

/// After resuming: `p` (running the pre-flight first if `p` waits for a
/// verdict, answering the gate it asks, closing a skip prompt left open)
/// until the step on screen closes.
fn proceed_after_resume(walk: &Walk, step: usize) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = stable_screen(&walk.t);
        if header_step(&s).is_some_and(|n| n > step) || s.contains("Runbook completed") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "step {step} did not close after p:\n{}",
                compact(&s)
            ));
        }
        // The screen the key below acts on: the next look waits until it
        // changed (a prompt still on screen after its Enter must not be
        // answered twice: the answer would land on the walk as keys).
        let before = if prompt_open(&s) {
            if s.contains("skip this step") {
                walk.t.keys(&["Escape"]);
                s
            } else {
                // A half-typed answer may be restored: clear it first.
                walk.t
                    .tmux(&["send-keys", "-t", "sg", "-N", "40", "BSpace"]);
                match walk.type_at_prompt(&walk.answer(&s)) {
                    Ok(typed) => {
                        walk.t.keys(&["Enter"]);
                        typed
                    }
                    // The prompt closed meanwhile: look again.
                    Err(_) => continue,
                }
            }
        } else if s.contains("running…") {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        } else if s.contains("p: WAIT") {
            walk.run_preflight(step)?;
            continue;
        } else {
            walk.t.keys(&["p"]);
            s
        };
        let _ = walk
            .t
            .poll("a change", Duration::from_secs(2), |now| now != before);
    }
}

// ------------------------------------------------------------------ case ---

fn run_case(plan: Plan) -> CaseResult {
    let started = Instant::now();
    let mut r = CaseResult {
        plan: plan.clone(),
        checks: BTreeMap::new(),
        expected: None,
        listed_step: None,
        preflight_alive: None,
        elapsed: Duration::ZERO,
    };
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path();
    let args = format!("run {RUNBOOK} --offline --var tag={}", plan.tag);
    let t = start_pane("kill", root(), &args, state);
    let entry = format!("STEPGUARD_STATE_DIR={}", state.display());
    let deadline = Instant::now() + Duration::from_secs(15);
    let pid = loop {
        if let Some(pid) = pid_with_env(Path::new(bin()), &entry) {
            break Some(pid);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let Some(pid) = pid else {
        r.fail(
            Check::Killed,
            format!("no stepguard process:\n{}", compact(&t.screen())),
        );
        r.elapsed = started.elapsed();
        return r;
    };
    let walk = Walk {
        t,
        tag: plan.tag.clone(),
    };
    let mut alive = None;
    let walked = walk_and_kill(&walk, pid, &plan, &mut alive);
    r.preflight_alive = alive;
    if let Err(e) = &walked {
        // Killed anyway: what is on disk is checked all the same.
        kill9(pid);
        r.fail(
            Check::Killed,
            format!("the walk failed before the kill: {e}"),
        );
    }
    match walk.t.poll("EXITED 137", Duration::from_secs(10), |s| {
        s.contains("EXITED")
    }) {
        Ok(s) if s.contains("EXITED 137") => {
            if walked.is_ok() {
                r.set(Check::Killed, Status::Pass);
            }
        }
        Ok(s) => r.fail(Check::Killed, format!("not killed: {}", exit_text(&s))),
        Err(e) => r.fail(Check::Killed, compact(&e)),
    }

    // Its pre-flights died with it (the watcher polls every 100 ms).
    let markers = plan.markers();
    let deadline = Instant::now() + Duration::from_millis(1_500);
    let left = loop {
        let left = marker_processes(&markers);
        if left.is_empty() || Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    if left.is_empty() {
        r.set(Check::Reaped, Status::Pass);
    } else {
        r.fail(
            Check::Reaped,
            format!("alive 1.5 s after the kill: {}", left.join(", ")),
        );
        for p in &left {
            if let Some(pid) = p.split(' ').next().and_then(|p| p.parse().ok()) {
                kill9(pid);
            }
        }
    }
    drop(walk);

    let Some(id) = session_id(state) else {
        r.fail(Check::Verify, "no session directory after the kill");
        for c in &CHECKS[3..] {
            r.set(*c, Status::Skipped);
        }
        r.elapsed = started.elapsed();
        return r;
    };
    r.pass_or(Check::Verify, verify(state, &id));

    let out = stepguard(state, &["sessions", "--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    match list.iter().find(|s| s["id"] == id.as_str()) {
        Some(s) => {
            r.listed_step = s["step"].as_u64();
            r.set(Check::Listed, Status::Pass);
        }
        None => r.fail(
            Check::Listed,
            format!(
                "`sessions --json` does not list {id} (session.json {}): {}",
                if state
                    .join("sessions")
                    .join(&id)
                    .join("session.json")
                    .exists()
                {
                    "exists"
                } else {
                    "missing"
                },
                String::from_utf8_lossy(&out.stdout).trim()
            ),
        ),
    }

    // Where the log says the walk is: the step after the last decided one.
    let before = match decisions(state, &id) {
        Ok(d) => d,
        Err(e) => {
            r.fail(Check::ResumeStep, format!("no log: {e}"));
            Vec::new()
        }
    };
    let expected = before.last().map_or(1, |(n, _)| *n as usize + 1);
    r.expected = Some(expected);

    // Resume from `/`; if that fails, from the repository, to tell a
    // working-directory dependence from a session that cannot resume.
    let resumed = match resume_in("/", &id, state) {
        Ok(t) => {
            r.set(Check::ResumeAnywhere, Status::Pass);
            Some(t)
        }
        Err(from_root_dir) => match resume_in(root(), &id, state) {
            Ok(t) => {
                r.fail(
                    Check::ResumeAnywhere,
                    format!("from /: {from_root_dir}; from the repository it resumes"),
                );
                Some(t)
            }
            Err(from_repo) => {
                r.fail(
                    Check::ResumeAnywhere,
                    format!("from /: {from_root_dir}; from the repository too: {from_repo}"),
                );
                None
            }
        },
    };
    // Their scratch directories are gone: removed by the watcher, or (a
    // kill before the watcher started) swept by the resumed stepguard.
    if resumed.is_some() {
        let deadline = Instant::now() + Duration::from_millis(1_500);
        let left = loop {
            let left = scratch_dirs(state);
            if left.is_empty() || Instant::now() > deadline {
                break left;
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        if !left.is_empty() {
            r.fail(
                Check::Reaped,
                format!("left in TMPDIR after the resume: {}", left.join(", ")),
            );
        }
    }
    let Some(t) = resumed else {
        for c in &CHECKS[5..] {
            r.set(*c, Status::Skipped);
        }
        r.elapsed = started.elapsed();
        return r;
    };
    let walk = Walk {
        t,
        tag: plan.tag.clone(),
    };

    let screen = walk.t.screen();
    let shown = header_step(&screen);
    if shown == Some(expected) {
        r.set(Check::ResumeStep, Status::Pass);
    } else {
        r.fail(
            Check::ResumeStep,
            format!(
                "the log says step {expected}, the screen shows {}",
                shown.map_or("no step".into(), |n| n.to_string())
            ),
        );
    }
    // The snapshot is written again once the resumed walk handles anything.
    let deadline = Instant::now() + Duration::from_millis(1_500);
    let saved = loop {
        let saved = snapshot_step(state, &id);
        if saved == Some(expected as u64) || Instant::now() > deadline {
            break saved;
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    if saved == Some(expected as u64) {
        r.set(Check::SnapshotStep, Status::Pass);
    } else {
        r.fail(
            Check::SnapshotStep,
            format!(
                "the log says step {expected}, session.json summary.step is {}",
                saved.map_or("missing".into(), |n| n.to_string())
            ),
        );
    }

    let on = shown.unwrap_or(expected);
    let after = proceed_after_resume(&walk, on).and_then(|()| decisions(state, &id));
    match after {
        Ok(decided) => {
            let dups = duplicates(&decided);
            if dups.is_empty() {
                r.set(Check::NoDuplicate, Status::Pass);
            } else {
                let steps: Vec<String> = decided.iter().map(|(n, d)| format!("{n}:{d}")).collect();
                r.fail(
                    Check::NoDuplicate,
                    format!(
                        "step(s) {dups:?} decided twice (decisions {})",
                        steps.join(" ")
                    ),
                );
            }
        }
        Err(e) => r.fail(Check::NoDuplicate, e),
    }

    walk.t.keys(&["q"]);
    let quit = match walk.t.poll("EXITED 0", Duration::from_secs(10), |s| {
        s.contains("EXITED")
    }) {
        Ok(s) if s.contains("EXITED 0") => Ok(()),
        Ok(s) => Err(format!("q: {}", exit_text(&s))),
        Err(e) => Err(format!(
            "{} (last events in the log: {}; {})",
            compact(&e),
            last_kinds(state, &id, 4),
            process_state(state)
        )),
    };
    drop(walk);
    r.pass_or(
        Check::VerifyAfterQuit,
        quit.and_then(|()| verify(state, &id)),
    );
    r.elapsed = started.elapsed();
    r
}

// ----------------------------------------------------------------- test ---

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

fn summary(results: &[CaseResult], seed: u64, elapsed: Duration) -> String {
    let mut out = String::new();
    let mut header = format!("{:<14} {:>5}", "moment", "cases");
    for c in CHECKS {
        header.push_str(&format!(" {:>15}", c.name()));
    }
    out.push_str(&format!(
        "kill harness: seed {seed}, {} cases, {:.1} s\n{header}\n",
        results.len(),
        elapsed.as_secs_f64()
    ));
    let rows: Vec<(String, Vec<&CaseResult>)> = MOMENTS
        .iter()
        .map(|m| {
            (
                m.name().to_string(),
                results.iter().filter(|r| r.plan.moment == *m).collect(),
            )
        })
        .chain(std::iter::once((
            "all".to_string(),
            results.iter().collect(),
        )))
        .collect();
    for (name, rs) in rows {
        let mut line = format!("{name:<14} {:>5}", rs.len());
        for c in CHECKS {
            let ran = rs
                .iter()
                .filter(|r| matches!(r.checks.get(&c), Some(Status::Pass | Status::Fail(_))))
                .count();
            let passed = rs
                .iter()
                .filter(|r| matches!(r.checks.get(&c), Some(Status::Pass)))
                .count();
            line.push_str(&format!(" {:>15}", format!("{passed}/{ran}")));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("(passed/ran; a check is not run when one it depends on failed)\n");
    let mid: Vec<&CaseResult> = results
        .iter()
        .filter(|r| r.preflight_alive.is_some())
        .collect();
    out.push_str(&format!(
        "mid-preflight kills that landed while a pre-flight process was alive: {}/{}\n",
        mid.iter()
            .filter(|r| r.preflight_alive == Some(true))
            .count(),
        mid.len()
    ));
    let lagging = results
        .iter()
        .filter(|r| matches!((r.listed_step, r.expected), (Some(l), Some(e)) if l != e as u64))
        .count();
    out.push_str(&format!(
        "sessions whose listed step lagged the log before resuming: {lagging}/{}\n",
        results.iter().filter(|r| r.listed_step.is_some()).count()
    ));
    let slowest = results.iter().map(|r| r.elapsed).max().unwrap_or_default();
    out.push_str(&format!(
        "per case: mean {:.2} s, slowest {:.2} s\n",
        elapsed.as_secs_f64() / results.len().max(1) as f64,
        slowest.as_secs_f64()
    ));
    out
}

#[test]
fn sigkill_at_random_moments_loses_nothing() {
    let started = Instant::now();
    let seed = env_u64("STEPGUARD_KILL_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    let cases = env_u64("STEPGUARD_KILL_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let only: Option<Vec<usize>> = std::env::var("STEPGUARD_KILL_ONLY").ok().map(|v| {
        v.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse().expect("STEPGUARD_KILL_ONLY: case numbers"))
            .collect()
    });
    println!("kill harness: seed {seed} (STEPGUARD_KILL_SEED={seed} repeats it), {cases} cases");
    let mut results = Vec::new();
    for case in 1..=cases {
        if only.as_ref().is_some_and(|o| !o.contains(&case)) {
            continue;
        }
        let plan = Plan::new(seed, case);
        let what = format!(
            "case {case:>3} {:<13} {}",
            plan.moment.name(),
            plan.describe()
        );
        let r = run_case(plan);
        let failed = r.failures();
        if failed.is_empty() {
            println!("{what}: ok ({:.1} s)", r.elapsed.as_secs_f64());
        } else {
            let names: Vec<&str> = failed.iter().map(|(c, _)| c.name()).collect();
            println!(
                "{what}: FAILED {} ({:.1} s)",
                names.join(", "),
                r.elapsed.as_secs_f64()
            );
        }
        results.push(r);
    }
    let elapsed = started.elapsed();
    println!("\n{}", summary(&results, seed, elapsed));

    let mut failures = Vec::new();
    for r in &results {
        for (check, why) in r.failures() {
            failures.push(format!(
                "seed {seed} case {} {} {} (log: step {}): {}: {}",
                r.plan.case,
                r.plan.moment.name(),
                r.plan.describe(),
                r.expected.map_or("?".into(), |n| n.to_string()),
                check.name(),
                why
            ));
        }
    }
    if !failures.is_empty() {
        let failed_cases = results.iter().filter(|r| !r.failures().is_empty()).count();
        panic!(
            "{} failed check(s) in {failed_cases} of {} case(s) \
             (STEPGUARD_KILL_SEED={seed} STEPGUARD_KILL_CASES={cases} repeats them):\n{}\n\n{}",
            failures.len(),
            results.len(),
            failures.join("\n"),
            summary(&results, seed, elapsed)
        );
    }
}

/// The RNG and the plan depend on the seed only.
#[test]
fn kill_plans_are_reproducible_and_spread() {
    let a: Vec<String> = (1..=50).map(|c| format!("{:?}", Plan::new(7, c))).collect();
    let b: Vec<String> = (1..=50).map(|c| format!("{:?}", Plan::new(7, c))).collect();
    assert_eq!(a, b);
    let plans: Vec<Plan> = (1..=50).map(|c| Plan::new(7, c)).collect();
    for m in MOMENTS {
        assert_eq!(plans.iter().filter(|p| p.moment == m).count(), 10);
    }
    let steps: std::collections::BTreeSet<usize> = plans.iter().map(|p| p.step).collect();
    assert!(steps.len() >= 4, "{steps:?}");
    let tags: std::collections::BTreeSet<&str> = plans.iter().map(|p| p.tag.as_str()).collect();
    assert_eq!(tags.len(), 50);
    assert!(
        header_step(" stepguard killh · step 3/5 · risk high · offline").is_some_and(|n| n == 3)
    );
    assert_eq!(
        header_session(" stepguard killh · step 1/5 · risk low · offline · session 0a1b2c3d  ")
            .as_deref(),
        Some("0a1b2c3d")
    );
}
