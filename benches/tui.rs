//! Keypress to frame, measured on the real `update` + `draw` with a 10 MB
//! paste in the model and a pre-flight that has streamed 50 MB through it.
//! Prints p50/p95/p99/max per scenario (SPEC §8: p99 ≤ 16 ms).
//!
//!     cargo bench --bench tui

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use stepguard::draft::Context;
use stepguard::exec::Stream;
use stepguard::tui::view::{draw, Theme};
use stepguard::tui::{update, Effect, Model, Msg};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<48} n={:<5} p50={:>8.3?} p95={:>8.3?} p99={:>8.3?} max={:>8.3?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.95),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runbook =
        stepguard::runbook::load_file(&root.join("runbooks/demo-checkout-logs.yaml")).unwrap();

    // A 10 MB paste: pod listings, the shape people paste.
    let line = "payments   checkout-7d9f8c6b5-xk2lq   0/1   CrashLoopBackOff   17 (2m ago)   41m   10.0.3.17   node-a\n";
    let mut state = String::from("log_dir: demo/var/log/checkout\n");
    while state.len() < 10 * 1024 * 1024 {
        state.push_str(line);
    }
    let started = Instant::now();
    let mut model = Model::new(vec![runbook.clone()], Context::default());
    model.start_walk(runbook);
    update(&mut model, Msg::Paste(state));
    update(
        &mut model,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    println!("paste of 10 MB accepted in {:?}", started.elapsed());

    // Start the pre-flight and stream 50 MB of output lines through update.
    let effects = update(
        &mut model,
        Msg::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::NONE)),
    );
    let Some(Effect::RunCheck { run_id, .. }) = effects.first().cloned() else {
        panic!("the demo pre-flight did not start: {effects:?}");
    };
    let out_line = "2026-11-23T03:12:44.123Z ERROR checkout payment-gateway: timeout after 3000ms order=8812731 | trace=ab12cd34ef";
    let mut streamed = 0usize;
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let theme = Theme { color: true };
    let mut flood = Vec::new();
    let mut batch_frames = Vec::new();
    while streamed < 50 * 1024 * 1024 {
        // The runtime drains up to a batch of messages, then draws once.
        let t = Instant::now();
        for _ in 0..1024 {
            update(
                &mut model,
                Msg::CheckLine {
                    run_id,
                    stream: Stream::Stdout,
                    text: out_line.to_string(),
                },
            );
            streamed += out_line.len() + 1;
        }
        terminal.draw(|f| draw(f, &model, theme)).unwrap();
        batch_frames.push(t.elapsed());
        // A key arriving in the middle of the flood.
        let t = Instant::now();
        update(
            &mut model,
            Msg::Key(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE)),
        );
        terminal.draw(|f| draw(f, &model, theme)).unwrap();
        flood.push(t.elapsed());
    }
    report("keypress→frame during a 50 MB pre-flight", flood);
    report("1024 output lines→frame (drain then draw)", batch_frames);

    // Idle keypresses with everything loaded: scroll, help, focus.
    let keys = [
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Tab,
        KeyCode::Char('?'),
        KeyCode::Esc,
        KeyCode::PageUp,
        KeyCode::End,
    ];
    let mut idle = Vec::new();
    for i in 0..3_000 {
        let t = Instant::now();
        update(
            &mut model,
            Msg::Key(KeyEvent::new(keys[i % keys.len()], KeyModifiers::NONE)),
        );
        terminal.draw(|f| draw(f, &model, theme)).unwrap();
        idle.push(t.elapsed());
    }
    report("keypress→frame, 10 MB state, 50 MB streamed", idle);

    // A second 10 MB paste waiting in the state overlay for Enter: frames
    // must not rescan it.
    let mut big = String::new();
    while big.len() < 10 * 1024 * 1024 {
        big.push_str(line);
    }
    update(&mut model, Msg::Paste(big));
    let mut pending = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        update(
            &mut model,
            Msg::Key(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)),
        );
        terminal.draw(|f| draw(f, &model, theme)).unwrap();
        pending.push(t.elapsed());
    }
    report("keypress→frame, 10 MB paste pending", pending);
    let t = Instant::now();
    update(
        &mut model,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    terminal.draw(|f| draw(f, &model, theme)).unwrap();
    println!(
        "Enter keeping a 10 MB paste → frame: {:?} (once per paste)",
        t.elapsed()
    );
    black_box(&model);
}
