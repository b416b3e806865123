//! Time from `p` to the next card drafted by the model, against a server
//! that takes 2 s per draft, with and without prefetch. The human spends
//! 2.5 s on each step (the pre-flight, reading, copying the rollback).
//!
//!     cargo bench --bench prefetch

#[path = "../tests/support/openai_server.rs"]
mod openai_server;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use openai_server::{sse, ChunkStyle, FakeServer, Reply};
use stepguard::draft::Context;
use stepguard::exec::{KeptOutput, RunOutcome};
use stepguard::llm::{Drafter, ModelConfig};
use stepguard::tui::update::request_drafts;
use stepguard::tui::{update, Effect, Model, Msg};
use tokio::sync::mpsc;

const LATENCY: Duration = Duration::from_secs(2);
const HUMAN: Duration = Duration::from_millis(2_500);
const STEPS: usize = 4;

fn spawn_drafts(
    effects: Vec<Effect>,
    drafter: &Arc<Drafter>,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Vec<Effect> {
    let mut rest = Vec::new();
    for effect in effects {
        match effect {
            Effect::RequestDraft { generation, job } => {
                let (drafter, tx) = (drafter.clone(), tx.clone());
                tokio::spawn(async move {
                    let result = drafter.draft(&job, None, None).await.map(Box::new);
                    let _ = tx.send(Msg::DraftDone {
                        step_index: job.step_index,
                        generation,
                        result,
                    });
                });
            }
            other => rest.push(other),
        }
    }
    rest
}

async fn walk(prefetch: bool, base_url: &str) -> Vec<Duration> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runbook =
        stepguard::runbook::load_file(&root.join("runbooks/demo-checkout-logs.yaml")).unwrap();
    let state = std::fs::read_to_string(root.join("demo/state.txt")).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cfg = ModelConfig {
        base_url: Some(base_url.into()),
        api_key: Some("sk-bench".into()),
        model: "bench-model".into(),
        cache_dir: Some(cache.path().into()),
        ..ModelConfig::default()
    };
    let drafter = Arc::new(Drafter::from_config(&cfg).unwrap());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut model = Model::new(
        vec![runbook.clone()],
        Context {
            state: Some(Arc::new(state.into())),
            ..Context::default()
        },
    );
    model.model_enabled = true;
    model.prefetch = prefetch;
    model.start_walk(runbook);
    spawn_drafts(request_drafts(&mut model, None, false), &drafter, &tx);
    let key = |c: char| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    let mut waits = Vec::new();
    for _ in 0..STEPS {
        // The human works on the step while drafts arrive.
        let until = Instant::now() + HUMAN;
        while let Ok(Some(msg)) = tokio::time::timeout_at(until.into(), rx.recv()).await {
            spawn_drafts(update(&mut model, msg), &drafter, &tx);
        }
        // A PASS for the card's pre-flight, then p.
        let effects = update(&mut model, key('r'));
        if let Some(Effect::RunCheck {
            run_id, command, ..
        }) = effects.first().cloned()
        {
            let mut output = KeptOutput::default();
            output.push(
                stepguard::exec::Stream::Stdout,
                "ok".into(),
                &Default::default(),
            );
            let outcome = RunOutcome {
                command,
                exit_code: Some(0),
                signal: None,
                timed_out: false,
                cancelled: false,
                duration: Duration::ZERO,
                output,
                stop_hit: None,
                proceed_hit: Some("ok".into()),
                pgid: None,
                rule_uses: Vec::new(),
                sandbox: stepguard::exec::SandboxStatus::Enforced { abi: 6 },
            };
            update(
                &mut model,
                Msg::CheckDone {
                    run_id,
                    result: Ok(Box::new(outcome)),
                },
            );
        }
        let pressed = Instant::now();
        let before = model.walk.as_ref().unwrap().index;
        spawn_drafts(update(&mut model, key('p')), &drafter, &tx);
        // Answer any typed gate the step asks for (reasons, 'proceed', the target).
        while let stepguard::tui::model::Overlay::Prompt(p) = &model.overlay {
            let answer = match &p.kind {
                stepguard::tui::model::PromptKind::Gate(
                    stepguard::tui::model::Gate::TypeTarget { target },
                ) => target.clone(),
                stepguard::tui::model::PromptKind::Gate(
                    stepguard::tui::model::Gate::TypeProceed,
                ) => "proceed".into(),
                _ => "bench".into(),
            };
            for c in answer.chars() {
                update(&mut model, key(c));
            }
            spawn_drafts(
                update(
                    &mut model,
                    Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
                ),
                &drafter,
                &tx,
            );
        }
        assert_eq!(
            model.walk.as_ref().unwrap().index,
            before + 1,
            "the bench walk did not advance"
        );
        // Wait until the new card carries the model's draft.
        while model.walk.as_ref().unwrap().card.drafter != openai_server::MODEL {
            let msg = rx.recv().await.unwrap();
            spawn_drafts(update(&mut model, msg), &drafter, &tx);
        }
        waits.push(pressed.elapsed());
    }
    waits
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let draft = serde_json::json!({
        "values": {"log_dir": {"value": "demo/var/log/checkout", "evidence": "log_dir: demo/var/log/checkout"}},
        "stale": [], "notes": "bench"
    })
    .to_string();
    let server = FakeServer::start(move |_, _| {
        Reply::After(LATENCY, Box::new(sse(&draft, &ChunkStyle::default())))
    })
    .await;
    for prefetch in [false, true] {
        let waits = walk(prefetch, &server.base_url).await;
        let ms: Vec<String> = waits
            .iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0))
            .collect();
        let mean =
            waits.iter().map(Duration::as_secs_f64).sum::<f64>() / waits.len() as f64 * 1000.0;
        println!(
            "p → next card drafted, server latency 2 s, prefetch {:<5}: mean {mean:7.1} ms  (each: {} ms)",
            prefetch,
            ms.join(", ")
        );
    }
}
