//! The runtime: owns the terminal, the input thread and the workers; feeds
//! every event through `update`, performs the effects, draws once per drained
//! batch (so a flood of output lines costs one frame, not thousands).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::clipboard::Method;
use super::input::Input;
use super::model::Model;
use super::msg::{Effect, Msg};
use super::terminal::TerminalGuard;
use super::update::update;
use super::view::{self, Theme};
use crate::draft::Context;
use crate::exec::{self, OutputLimits, Predicates, RunEvent, RunRequest};
use crate::model::{DraftJob, Drafter};
use crate::runbook::Runbook;

/// Messages handled before a frame is drawn, at most.
const BATCH: usize = 8_192;

pub struct Options {
    pub catalog: Vec<Runbook>,
    /// Open this runbook directly instead of the picker.
    pub start: Option<Runbook>,
    pub ctx: Context,
    pub banner: Option<String>,
    /// The model, when one is configured (else drafting is offline).
    pub drafter: Option<Drafter>,
}

pub fn run(options: Options) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run_async(options))
}

async fn run_async(options: Options) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<Msg>(4_096);
    let clipboard = Method::detect();
    let theme = Theme::from_env();
    let mut model = Model::new(options.catalog, options.ctx);
    model.clipboard = clipboard.label();
    model.banner = options.banner;
    let drafter = options.drafter.map(Arc::new);
    if let Some(d) = &drafter {
        model.model_enabled = true;
        model.drafter = d.client.model().to_string();
    }
    let mut pending: VecDeque<Msg> = VecDeque::new();
    let mut first_effects = Vec::new();
    if let Some(runbook) = options.start {
        model.start_walk(runbook);
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
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let mut cancels: HashMap<u64, oneshot::Sender<()>> = HashMap::new();
    let mut draft_cancels: HashMap<(usize, u64), oneshot::Sender<()>> = HashMap::new();
    for effect in first_effects {
        if let Effect::RequestDraft { generation, job } = effect {
            start_draft(
                &drafter,
                generation,
                *job,
                &mut draft_cancels,
                &mut workers,
                &tx,
            );
        }
    }
    term.terminal.draw(|f| view::draw(f, &model, theme))?;
    if exit_after_first_frame {
        return Ok(());
    }

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
            for effect in update(&mut model, msg) {
                match effect {
                    Effect::Quit => break 'running,
                    Effect::RunCheck {
                        run_id,
                        kind: _,
                        command,
                        timeout_ms,
                        proceed_if,
                        stop_if,
                    } => {
                        let (cancel_tx, cancel_rx) = oneshot::channel();
                        cancels.insert(run_id, cancel_tx);
                        let predicates = Predicates::new(proceed_if.as_deref(), stop_if.as_deref())
                            .unwrap_or_default();
                        let request = RunRequest {
                            command,
                            timeout: Duration::from_millis(timeout_ms),
                            limits: OutputLimits::default(),
                            predicates,
                        };
                        workers.push(tokio::spawn(run_check(
                            run_id,
                            request,
                            cancel_rx,
                            tx.clone(),
                        )));
                    }
                    Effect::CancelCheck { run_id } => {
                        if let Some(cancel) = cancels.remove(&run_id) {
                            let _ = cancel.send(());
                        }
                    }
                    Effect::RequestDraft { generation, job } => {
                        start_draft(
                            &drafter,
                            generation,
                            *job,
                            &mut draft_cancels,
                            &mut workers,
                            &tx,
                        );
                    }
                    Effect::CancelDraft {
                        step_index,
                        generation,
                    } => {
                        if let Some(cancel) = draft_cancels.remove(&(step_index, generation)) {
                            let _ = cancel.send(());
                        }
                    }
                    Effect::Copy { what, text } => {
                        pending.push_back(Msg::Copied {
                            what,
                            result: clipboard.copy(&text),
                        });
                    }
                    Effect::EditAction { text } => {
                        input.pause();
                        let edited = term.suspend(|| super::editor::edit(&text));
                        input.resume();
                        pending.push_back(Msg::Edited(
                            edited.map_err(|e| e.to_string()).and_then(|r| r),
                        ));
                    }
                }
            }
        }
        workers.retain(|w| !w.is_finished());
        term.terminal.draw(|f| view::draw(f, &model, theme))?;
    }

    // Quitting: cancel what runs, stop draining so no worker blocks on a
    // full channel, and give the runners a moment to kill their groups.
    for (_, cancel) in cancels.drain() {
        let _ = cancel.send(());
    }
    for (_, cancel) in draft_cancels.drain() {
        let _ = cancel.send(());
    }
    drop(rx);
    for worker in workers {
        let _ = tokio::time::timeout(Duration::from_secs(3), worker).await;
    }
    drop(input);
    drop(term);
    Ok(())
}

async fn run_check(
    run_id: u64,
    request: RunRequest,
    cancel: oneshot::Receiver<()>,
    tx: mpsc::Sender<Msg>,
) {
    let (line_tx, mut line_rx) = mpsc::channel::<RunEvent>(1_024);
    let forward_tx = tx.clone();
    let forward = tokio::spawn(async move {
        while let Some(RunEvent::Line { stream, text }) = line_rx.recv().await {
            if forward_tx
                .send(Msg::CheckLine {
                    run_id,
                    stream,
                    text,
                })
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let result = exec::run(request, Some(line_tx), Some(cancel)).await;
    // Every line reaches the screen before the verdict does.
    let _ = forward.await;
    let _ = tx
        .send(Msg::CheckDone {
            run_id,
            result: result.map(Box::new).map_err(|e| e.to_string()),
        })
        .await;
}

fn start_draft(
    drafter: &Option<Arc<Drafter>>,
    generation: u64,
    job: DraftJob,
    cancels: &mut HashMap<(usize, u64), oneshot::Sender<()>>,
    workers: &mut Vec<JoinHandle<()>>,
    tx: &mpsc::Sender<Msg>,
) {
    let Some(drafter) = drafter.clone() else {
        return;
    };
    let (cancel_tx, cancel_rx) = oneshot::channel();
    cancels.insert((job.step_index, generation), cancel_tx);
    workers.push(tokio::spawn(run_draft(
        drafter,
        generation,
        job,
        cancel_rx,
        tx.clone(),
    )));
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
