//! The runtime: owns the terminal, the input thread, the workers and the
//! session on disk; feeds every event through `update`, performs the
//! effects, saves, and draws once per drained batch (so a flood of output
//! lines costs one frame, not thousands).

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::clipboard::Method;
use super::input::Input;
use super::model::Model;
use super::msg::{Effect, Msg};
use super::persist::restore;
use super::recorder::RecordError;
use super::recorder::Recorder;
pub use super::recorder::Resume;
use super::terminal::TerminalGuard;
use super::update::update;
use super::view::{self, Theme};
use crate::draft::Context;
use crate::exec::{self, OutputLimits, Predicates, RunRequest};
use crate::llm::{DraftJob, Drafter};
use crate::runbook::Runbook;
use crate::session::{now_ms, Event};

/// Messages handled before a frame is drawn, at most.
const BATCH: usize = 8_192;

pub struct Options {
    pub catalog: Vec<Runbook>,
    /// Open this runbook directly instead of the picker.
    pub start: Option<Runbook>,
    pub ctx: Context,
    /// The team database: critical steps are approved there, and the
    /// session's audit is shipped there.
    pub team: Option<crate::team::Settings>,
    pub banner: Option<String>,
    /// The model, when one is configured (else drafting is offline).
    pub drafter: Option<Drafter>,
    /// Why pre-flights run without the kernel sandbox (None: Landlock).
    pub unsandboxed: Option<String>,
    /// Where sessions are kept (None: nothing is saved, and a banner says so).
    pub state_dir: Option<PathBuf>,
    /// Continue a saved session instead of starting one.
    pub resume: Option<Resume>,
    pub policy: crate::policy::PolicyConfig,
    /// Firing alerts to choose from (`run --alertmanager` without a runbook).
    pub alerts: Vec<crate::draft::Alert>,
    /// The engineer's standing rules: the runner's authoritative check, and
    /// reloaded into the context after a run that used one.
    pub rules: Option<crate::standing::RuleStore>,
}

/// Why the screen stopped early: the terminal, or the session to continue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Terminal(#[from] std::io::Error),
    #[error(transparent)]
    Session(#[from] RecordError),
}

/// Everything that performs effects.
struct Runtime {
    tx: mpsc::Sender<Msg>,
    clipboard: Method,
    drafter: Option<Arc<Drafter>>,
    workers: Vec<JoinHandle<()>>,
    checks: HashMap<u64, oneshot::Sender<()>>,
    drafts: HashMap<(usize, u64), oneshot::Sender<()>>,
    recorder: Option<Recorder>,
    rules: Option<crate::standing::RuleStore>,
    state_dir: Option<PathBuf>,
    team: Option<crate::team::Settings>,
    /// Requests being followed, by id.
    watchers: HashMap<String, JoinHandle<()>>,
}

enum Next {
    Continue,
    Quit,
}

impl Runtime {
    /// Withdraw a request in the database, trying again while it cannot be
    /// reached (until it is voided, decided or expired, or stepguard quits):
    /// a request the log says is withdrawn must not stay approvable.
    fn void_durably(&mut self, id: String, reason: String) {
        let Some(team) = self.team.clone() else {
            return;
        };
        let key = format!("void {id}");
        let task = tokio::spawn(async move {
            let mut wait = Duration::from_millis(500);
            while void_approval(&team, &id, &reason).await.is_err() {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        });
        if let Some(old) = self.watchers.insert(key, task) {
            old.abort();
        }
    }

    /// A resumed walk: requests its log filed and never saw decided are
    /// withdrawn (the walk that asked is gone), and those it withdrew are
    /// withdrawn again in case the database never heard it.
    fn withdraw_interrupted(&mut self, model: &mut Model) {
        let Some(path) = self.recorder.as_ref().map(|r| r.session().audit_path()) else {
            return;
        };
        let Ok(events) = crate::session::audit::read_events(&path) else {
            return;
        };
        for a in crate::session::audit::last_approvals(&events) {
            match a.state.as_str() {
                "filed" => {
                    let reason = "the walk that asked was interrupted".to_string();
                    let voided = crate::session::event::ApprovalRecord {
                        state: "voided".into(),
                        reason: reason.clone(),
                        ..a.clone()
                    };
                    self.audit(model, Event::Approval(voided));
                    self.void_durably(a.id, reason);
                }
                "voided" | "expired" => self.void_durably(a.id, a.reason),
                _ => {}
            }
        }
    }

    /// `Effect::StartSession`: the session's files, once per walk.
    fn start_recording(&mut self, model: &mut Model) {
        if self.recorder.is_some() || model.walk.is_none() {
            return;
        }
        if let Some(dir) = self.state_dir.clone().as_deref() {
            match Recorder::start(dir, model) {
                Ok(rec) => {
                    self.recorder = Some(match &self.team {
                        Some(team) => rec.ship_to(team.clone()),
                        None => rec,
                    })
                }
                Err(e) => model.banner = Some(format!("this session is not saved ({e})")),
            }
        }
    }

    fn audit(&mut self, model: &mut Model, event: Event) {
        if let Some(rec) = self.recorder.as_mut() {
            rec.audit(model, &event);
        }
    }

    fn perform(
        &mut self,
        model: &mut Model,
        effect: Effect,
        pending: &mut VecDeque<Msg>,
        term: &mut TerminalGuard,
        input: &Input,
    ) -> Next {
        match effect {
            Effect::Quit => return Next::Quit,
            Effect::StartSession => self.start_recording(model),
            Effect::Audit(event) => self.audit(model, event),
            Effect::RunCheck {
                run_id,
                kind: _,
                command,
                timeout_ms,
                proceed_if,
                stop_if,
            } => {
                let (cancel_tx, cancel_rx) = oneshot::channel();
                self.checks.insert(run_id, cancel_tx);
                let predicates =
                    Predicates::new(proceed_if.as_deref(), stop_if.as_deref()).unwrap_or_default();
                let request = RunRequest {
                    command,
                    timeout: Duration::from_millis(timeout_ms),
                    limits: OutputLimits::default(),
                    predicates,
                    rules: self.rules.clone(),
                };
                self.workers.push(tokio::spawn(run_check(
                    run_id,
                    request,
                    cancel_rx,
                    self.tx.clone(),
                )));
            }
            Effect::CancelCheck { run_id } => {
                if let Some(cancel) = self.checks.remove(&run_id) {
                    let _ = cancel.send(());
                }
            }
            Effect::RequestDraft { generation, job } => {
                let Some(drafter) = self.drafter.clone() else {
                    return Next::Continue;
                };
                let (cancel_tx, cancel_rx) = oneshot::channel();
                self.drafts.insert((job.step_index, generation), cancel_tx);
                self.workers.push(tokio::spawn(run_draft(
                    drafter,
                    generation,
                    *job,
                    cancel_rx,
                    self.tx.clone(),
                )));
            }
            Effect::Rerank {
                generation,
                query,
                candidates,
            } => {
                let Some(drafter) = self.drafter.clone() else {
                    return Next::Continue;
                };
                let tx = self.tx.clone();
                self.workers.push(tokio::spawn(async move {
                    let asked = candidates.iter().map(|c| c.id.clone()).collect();
                    let answer =
                        crate::llm::rerank::rerank(&drafter.client, &query, &candidates).await;
                    let _ = tx
                        .send(Msg::Reranked {
                            generation,
                            asked,
                            answer,
                        })
                        .await;
                }));
            }
            Effect::FileApproval { attempt, request } => {
                let Some(team) = self.team.clone() else {
                    pending.push_front(Msg::ApprovalFiled {
                        attempt,
                        result: Err("no team database".into()),
                    });
                    return Next::Continue;
                };
                let tx = self.tx.clone();
                self.workers.push(tokio::spawn(async move {
                    let result = file_approval(&team, &request).await;
                    let _ = tx.send(Msg::ApprovalFiled { attempt, result }).await;
                }));
            }
            Effect::WatchApproval { id } => {
                let Some(team) = self.team.clone() else {
                    return Next::Continue;
                };
                // Statuses go through a queue of their own to the screen's,
                // waited on there: none is dropped, the decision least of all.
                let (status_tx, mut statuses) = mpsc::unbounded_channel();
                let tx = self.tx.clone();
                self.workers.push(tokio::spawn(async move {
                    while let Some(msg) = statuses.recv().await {
                        if tx.send(msg).await.is_err() {
                            break;
                        }
                    }
                }));
                let key = id.clone();
                let watcher = tokio::spawn(crate::team::approval::watch(
                    team,
                    id.clone(),
                    move |result| {
                        status_tx
                            .send(Msg::ApprovalState {
                                id: id.clone(),
                                result: result.map(Box::new),
                            })
                            .is_ok()
                    },
                ));
                if let Some(old) = self.watchers.insert(key, watcher) {
                    old.abort();
                }
            }
            Effect::VoidApproval { id, reason } => {
                if let Some(w) = self.watchers.remove(&id) {
                    w.abort();
                }
                self.void_durably(id, reason);
            }
            Effect::CancelDraft {
                step_index,
                generation,
            } => {
                if let Some(cancel) = self.drafts.remove(&(step_index, generation)) {
                    let _ = cancel.send(());
                }
            }
            // The answers of these effects come before messages already
            // queued (keys typed ahead act on what the effect changed).
            Effect::Copy { what, step, text } => {
                let result = self.clipboard.copy(&text);
                pending.push_front(Msg::Copied {
                    what,
                    step,
                    text,
                    result,
                });
            }
            Effect::EditAction { step, text } => {
                input.pause();
                let edited = term.suspend(|| super::editor::edit(&text));
                input.resume();
                pending.push_front(Msg::Edited {
                    step,
                    result: edited.map_err(|e| e.to_string()).and_then(|r| r),
                });
            }
        }
        Next::Continue
    }
}

/// The walk until the human quits, on the caller's runtime
/// ([`exec::runtime`]).
pub async fn run(options: Options) -> Result<(), Error> {
    let (tx, mut rx) = mpsc::channel::<Msg>(4_096);
    let theme = Theme::from_env();
    let mut model = Model::new(options.catalog, options.ctx);
    model.policy = options.policy;
    model.operator = std::env::var("USER").unwrap_or_default();
    model.matcher = Some(Arc::new(crate::matching::Matcher::new(&model.catalog)));
    if options.start.is_none() || model.ctx.alert.is_some() {
        // The picker shows the ranking, and an alert's walk is held to it:
        // the policy reads the open runbook's match from it (SPEC §7).
        model.rank_catalog();
    }
    if !options.alerts.is_empty() {
        // The most certain match first; alerts no runbook answers last.
        let mut alerts = options.alerts;
        alerts.sort_by(|a, b| {
            let c = |x| model.best_for(x).map_or(0.0, |(_, c, _)| c);
            c(b).total_cmp(&c(a))
        });
        model.alerts = alerts;
        model.nav = super::model::Screen::Alerts;
    }
    let mut rt = Runtime {
        tx: tx.clone(),
        clipboard: Method::detect(),
        drafter: options.drafter.map(Arc::new),
        workers: Vec::new(),
        checks: HashMap::new(),
        drafts: HashMap::new(),
        recorder: None,
        rules: options.rules,
        state_dir: options.state_dir.clone(),
        team: options.team.clone(),
        watchers: HashMap::new(),
    };
    model.team = options.team.is_some();
    if let Some(team) = &options.team {
        // Rejection memory: the team's rejections reach cards and drafts
        // when the database answers; the screen does not wait for it.
        let (team, tx) = (team.clone(), tx.clone());
        rt.workers.push(tokio::spawn(async move {
            if let Ok(team) = team_rejections(&team).await {
                let _ = tx.send(Msg::TeamRejections(team)).await;
            }
        }));
    }
    model.clipboard = rt.clipboard.label();
    model.banner = options.banner;
    model.unsandboxed = options.unsandboxed;
    if let Some(d) = &rt.drafter {
        model.model_enabled = true;
        model.drafter = d.client.model().to_string();
    }
    if options.state_dir.is_none() {
        model.banner =
            Some("no state directory (set STEPGUARD_STATE_DIR): this session is not saved".into());
    }
    model.now_ms = now_ms();
    if let Some(dir) = &options.state_dir {
        model.rejections = crate::session::recent_rejections(dir, model.now_ms, 24 * 3_600_000);
    }
    // Signals that end stepguard are handled like `q` from here on: the
    // check is cancelled (its whole session killed), `quit` is logged with
    // the signal, the session saved and the terminal restored.
    spawn_signals(tx.clone())?;
    let mut first_effects = Vec::new();
    if let Some(runbook) = options.start {
        match options.resume {
            Some(resume) => {
                restore(&mut model, runbook, &resume.snapshot);
                let rec = Recorder::resume(resume, &mut model)?;
                rt.recorder = Some(match &rt.team {
                    Some(team) => rec.ship_to(team.clone()),
                    None => rec,
                });
                rt.withdraw_interrupted(&mut model);
            }
            None => model.start_walk(runbook),
        }
        first_effects = super::update::request_drafts(&mut model, None, false);
    }
    // Test hooks: a key that panics (terminal restore on panic is tested
    // end to end) and exit after the first frame (start-up benchmark).
    let panic_key = std::env::var("STEPGUARD_TEST_PANIC_KEY")
        .ok()
        .and_then(|k| k.chars().next());
    let exit_after_first_frame = std::env::var_os("STEPGUARD_EXIT_AFTER_FIRST_FRAME").is_some();

    let mut term = TerminalGuard::enter()?;
    let input = Input::spawn(tx.clone());
    let mut pending: VecDeque<Msg> = VecDeque::new();
    // A session exists before its id is shown: its files (the log's start
    // and context, synced; the state, the runbook's copy, the snapshot) are
    // written before the first frame.
    if model.walk.is_some() {
        rt.perform(
            &mut model,
            Effect::StartSession,
            &mut pending,
            &mut term,
            &input,
        );
    }
    for effect in first_effects {
        rt.perform(&mut model, effect, &mut pending, &mut term, &input);
    }
    term.terminal.draw(|f| view::draw(f, &model, theme))?;
    if exit_after_first_frame {
        return Ok(());
    }
    // The session's target: `--var context=…`, else kubectl's current
    // context (asked after the first frame: kubectl takes tens of ms).
    tokio::spawn(tick(tx.clone()));
    if let Some(context) = model.ctx.vars.get("context") {
        model.target = context.clone();
    } else if which::which("kubectl").is_ok() {
        tokio::spawn(current_context(tx.clone()));
    }

    // A frame that cannot be drawn (the terminal is gone) ends the walk
    // the same way a quit does, through the cleanup below.
    let mut drawn: std::io::Result<()> = Ok(());
    'running: while let Some(first) = rx.recv().await {
        pending.push_back(first);
        while pending.len() < BATCH {
            match rx.try_recv() {
                Ok(msg) => pending.push_back(msg),
                Err(_) => break,
            }
        }
        while let Some(msg) = pending.pop_front() {
            if let (Some(k), Msg::Key(key)) = (panic_key, &msg) {
                if key.code == crossterm::event::KeyCode::Char(k) {
                    panic!("test panic requested by STEPGUARD_TEST_PANIC_KEY");
                }
            }
            model.now_ms = now_ms();
            let effects = update(&mut model, msg);
            for effect in effects {
                if let Next::Quit = rt.perform(&mut model, effect, &mut pending, &mut term, &input)
                {
                    if let Some(rec) = rt.recorder.as_mut() {
                        rec.save(&mut model);
                    }
                    break 'running;
                }
            }
        }
        rt.workers.retain(|w| !w.is_finished());
        if let Some(rec) = rt.recorder.as_mut() {
            rec.save(&mut model);
            model.team_audit = match rec.team_progress() {
                Some((shipped, head, Some(error))) if shipped.is_none_or(|s| s < head) => {
                    Some(format!(
                        "team audit: {} waiting for the team database ({error}); the local log keeps them",
                        unshipped_words(shipped, head)
                    ))
                }
                _ => None,
            };
        }
        if let Err(e) = term.terminal.draw(|f| view::draw(f, &model, theme)) {
            model.now_ms = now_ms();
            let quit = update(&mut model, Msg::Signal("terminal-lost"));
            for effect in quit {
                rt.perform(&mut model, effect, &mut pending, &mut term, &input);
            }
            if let Some(rec) = rt.recorder.as_mut() {
                rec.save(&mut model);
            }
            drawn = Err(e);
            break;
        }
    }

    // Quitting: cancel what runs, stop draining so no worker blocks on a
    // full channel, and give the runners a moment to kill their groups.
    for (_, cancel) in rt.checks.drain() {
        let _ = cancel.send(());
    }
    for (_, cancel) in rt.drafts.drain() {
        let _ = cancel.send(());
    }
    drop(rx);
    for (_, watcher) in rt.watchers.drain() {
        watcher.abort();
    }
    for worker in rt.workers.drain(..) {
        let _ = tokio::time::timeout(Duration::from_secs(3), worker).await;
    }
    // A request still waiting asks about a walk that is gone: withdrawn
    // (it would expire anyway; the database refuses it after that).
    let waiting = model
        .walk
        .as_ref()
        .and_then(|w| w.approval.as_ref()?.id.clone());
    let mut still_waiting = None;
    if let (Some(team), Some(id)) = (&rt.team, waiting) {
        let voided = tokio::time::timeout(
            Duration::from_secs(2),
            void_approval(team, &id, "the operator quit"),
        )
        .await;
        if !matches!(voided, Ok(Ok(()))) {
            still_waiting = Some(id);
        }
    }
    let mut unshipped = None;
    if let Some(rec) = &rt.recorder {
        if rec.flush_team(Duration::from_secs(2)).await == Some(false) {
            unshipped = rec.team_progress();
        }
    }
    drop(input);
    drop(term);
    if let (Some((shipped, head, error)), Some(rec)) = (unshipped, &rt.recorder) {
        eprintln!(
            "stepguard: {} of session {} not yet in the team database{}: `stepguard team sync` ships them (the local log keeps them)",
            unshipped_words(shipped, head),
            rec.session().id,
            error.map(|e| format!(" ({e})")).unwrap_or_default()
        );
    }
    if let Some(id) = still_waiting {
        eprintln!(
            "stepguard: approval {id} may still wait in the team database (it could not be withdrawn): `stepguard team sync` withdraws it; it expires anyway"
        );
    }
    // Events the disk never took are given back, not dropped in silence.
    if let Some(rec) = &rt.recorder {
        let unwritten = rec.unwritten();
        if !unwritten.is_empty() {
            eprintln!(
                "stepguard: {} of session {} could not be written ({}):",
                crate::words::count(unwritten.len() as u64, "audit event", "audit events"),
                rec.session().id,
                rec.session().audit_path().display()
            );
            for (ts_ms, event) in unwritten {
                // Escaped like every JSON stepguard prints: commands and
                // reasons in them are outside text.
                let line = event.to_parts().and_then(|(kind, data)| {
                    crate::sanitize::to_json(
                        &serde_json::json!({"ts_ms": ts_ms, "kind": kind, "data": data}),
                    )
                });
                if let Ok(line) = line {
                    eprintln!("{line}");
                }
            }
        }
    }
    // Where the session is, and the exact commands to go back to it (the
    // header's id may have been cut at 80 columns). Ignored if the terminal
    // is gone.
    if let (Some(rec), Some(walk)) = (&rt.recorder, &model.walk) {
        let id = &rec.session().id;
        let place = match walk.end() {
            Some(crate::tui::model::WalkEnd::Completed) => "completed".to_string(),
            Some(crate::tui::model::WalkEnd::Halted { .. }) => "halted".to_string(),
            None => format!("at step {}/{}", walk.index + 1, walk.runbook.steps.len()),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "stepguard: session {id} saved ({place})\n  resume:  stepguard run --resume {id}\n  report:  stepguard report {id}"
        );
    }
    match drawn {
        // The terminal went away: that is how the walk ended, not an error.
        Err(_) if model.walk.is_some() || rt.recorder.is_some() => Ok(()),
        other => other.map_err(Error::from),
    }
}

/// SIGHUP (the terminal closed), SIGTERM, SIGQUIT and SIGINT (outside raw
/// mode, e.g. while the editor runs) as messages.
fn spawn_signals(tx: mpsc::Sender<Msg>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::interrupt(), "SIGINT"),
    ];
    for (kind, name) in kinds {
        let mut stream = signal(kind)?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if tx.send(Msg::Signal(name)).await.is_err() {
                    break;
                }
            }
        });
    }
    Ok(())
}

async fn run_check(
    run_id: u64,
    request: RunRequest,
    cancel: oneshot::Receiver<()>,
    tx: mpsc::Sender<Msg>,
) {
    let lines = tx.clone();
    let store = request.rules.clone();
    // Every line reaches the screen before the verdict does.
    let result = exec::run_check(request, Some(cancel), move |stream, text| {
        let lines = lines.clone();
        async move {
            let line = Msg::CheckLine {
                run_id,
                stream,
                text,
            };
            match lines.send(line).await {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        }
    })
    .await;
    // A rule was used (perhaps up): cards judge with the rules as they are now.
    if let (Ok(outcome), Some(store)) = (&result, store) {
        if !outcome.rule_uses.is_empty() {
            let rules = crate::standing::active_rules(&store, crate::clock::now_secs());
            let _ = tx.send(Msg::Rules(rules)).await;
        }
    }
    let _ = tx
        .send(Msg::CheckDone {
            run_id,
            result: result.map(Box::new).map_err(|e| e.to_string()),
        })
        .await;
}

/// Draft one step, reporting progress (and a tick for the spinner) as it streams.
async fn run_draft(
    drafter: Arc<Drafter>,
    generation: u64,
    job: DraftJob,
    cancel: oneshot::Receiver<()>,
    tx: mpsc::Sender<Msg>,
) {
    let step_index = job.step_index;
    let started = Instant::now();
    let (progress_tx, mut progress_rx) = mpsc::channel(64);
    let forward_tx = tx.clone();
    let forward = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            let progress = tokio::select! {
                p = progress_rx.recv() => match p {
                    Some(p) => Some(p),
                    None => break,
                },
                _ = tick.tick() => None,
            };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let msg = Msg::DraftProgress {
                step_index,
                generation,
                elapsed_ms,
                progress,
            };
            if forward_tx.send(msg).await.is_err() {
                break;
            }
        }
    });
    let result = drafter.draft(&job, Some(progress_tx), Some(cancel)).await;
    let _ = forward.await;
    let _ = tx
        .send(Msg::DraftDone {
            step_index,
            generation,
            result: result.map(Box::new),
        })
        .await;
}

/// A tick every second, so the screen is drawn as time passes and a large
/// state's values, read on their own thread, reach the card within a
/// second (an unchanged frame sends nothing to the terminal).
async fn tick(tx: mpsc::Sender<Msg>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.tick().await;
    loop {
        every.tick().await;
        if tx.send(Msg::Tick).await.is_err() {
            break;
        }
    }
}

/// `kubectl config current-context`, through the guard like any read.
async fn current_context(tx: mpsc::Sender<Msg>) {
    let request = RunRequest {
        command: "kubectl config current-context".into(),
        timeout: Duration::from_secs(3),
        limits: OutputLimits::default(),
        predicates: Predicates::default(),
        rules: None,
    };
    if let Ok(outcome) = exec::run(request, None, None).await {
        let first = outcome
            .output
            .lines
            .iter()
            .find(|(s, _)| *s == exec::Stream::Stdout);
        if let (Some(0), Some((_, line))) = (outcome.exit_code, first) {
            let _ = tx.send(Msg::Target(line.clone())).await;
        }
    }
}

/// File a request, then tell the webhook (its failure is said, never fatal).
async fn file_approval(
    team: &crate::team::Settings,
    request: &crate::team::approval::Request,
) -> Result<crate::team::approval::Filed, String> {
    let client = crate::team::connect(team)
        .await
        .map_err(|e| e.to_string())?;
    let mut filed = crate::team::approval::file(&client, request, team.approval_seconds)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(url) = &team.webhook_url {
        let body = crate::team::notify::message(&filed, request);
        filed.webhook_error = crate::team::notify::post(url, &body).await.err();
    }
    Ok(filed)
}

async fn void_approval(
    team: &crate::team::Settings,
    id: &str,
    reason: &str,
) -> Result<(), crate::team::TeamError> {
    let client = crate::team::connect(team).await?;
    crate::team::approval::withdraw(&client, id, reason).await?;
    Ok(())
}

/// The team's rejections of the last 30 days, as the card shows them.
async fn team_rejections(
    team: &crate::team::Settings,
) -> Result<Vec<crate::session::Rejection>, crate::team::TeamError> {
    let client = crate::team::connect(team).await?;
    let now = now_ms();
    Ok(crate::team::approval::rejections(&client)
        .await?
        .into_iter()
        .map(|r| crate::session::Rejection {
            session: format!("approval {}", r.action_id),
            runbook_id: r.runbook,
            step_id: r.step,
            decision: format!("rejected by {}", r.by),
            reason: r.reason,
            at_ms: now.saturating_sub(r.ago_s.max(0) as u64 * 1000),
        })
        .collect())
}

/// How many lines wait for the team database, said only when it answered.
fn unshipped_words(shipped: Option<u64>, head: u64) -> String {
    match shipped {
        Some(shipped) => crate::words::count(head.saturating_sub(shipped), "line", "lines"),
        None => "lines".into(),
    }
}
