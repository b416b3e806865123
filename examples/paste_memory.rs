//! A large bracketed paste through the screen's own path, for
//! `benches/paste_memory.sh` (peak RSS by `/usr/bin/time -v`): the text as
//! the terminal reader hands it over (`Msg::Paste`, CR line ends as tmux
//! sends them), the state dialog, `Enter` keeping it (digest, values
//! re-drafted, the context event), the session recording it (`state.txt`,
//! log, snapshot) and a frame drawn, exactly as the runtime does them.
//! What it leaves out is the terminal reader itself (crossterm's parser),
//! which the script measures separately on the real binary in tmux.
//!
//!     cargo run --release --example paste_memory -- 50   # MiB

use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use stepguard::draft::Context;
use stepguard::tui::recorder::Recorder;
use stepguard::tui::view::{draw, Theme};
use stepguard::tui::{update, Effect, Model, Msg};

/// VmHWM and VmRSS of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn perform(model: &mut Model, rec: &mut Recorder, effects: Vec<Effect>) {
    for effect in effects {
        if let Effect::Audit(event) = effect {
            rec.audit(model, &event);
        }
    }
    rec.save(model);
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runbook =
        stepguard::runbook::load_file(&root.join("runbooks/demo-checkout-logs.yaml")).unwrap();
    let state_dir = tempfile::tempdir().unwrap();

    let mut model = Model::new(vec![runbook.clone()], Context::default());
    model.now_ms = stepguard::clock::now_ms();
    model.start_walk(runbook);
    let mut rec = Recorder::start(state_dir.path(), &mut model).unwrap();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    terminal
        .draw(|f| draw(f, &model, Theme { color: false }))
        .unwrap();
    let (_, before) = memory();

    // The paste as the reader hands it over: one String, CR line ends.
    let line = "payments   checkout-7d9f8c6b5-xk2lq   0/1   CrashLoopBackOff   17 (2m ago)   41m   10.0.3.17   node-a\r";
    let size = mib * 1024 * 1024;
    let mut text = String::with_capacity(size);
    text.push_str("log_dir: demo/var/log/checkout\r");
    while text.len() + line.len() <= size {
        text.push_str(line);
    }
    let pasted = text.len() as u64;
    let effects = update(&mut model, Msg::Paste(text));
    perform(&mut model, &mut rec, effects);
    terminal
        .draw(|f| draw(f, &model, Theme { color: false }))
        .unwrap();
    let effects = update(
        &mut model,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    perform(&mut model, &mut rec, effects);
    terminal
        .draw(|f| draw(f, &model, Theme { color: false }))
        .unwrap();

    let saved = std::fs::metadata(rec.session().state_path()).map_or(0, |m| m.len());
    assert_eq!(saved, pasted, "state.txt holds the paste");
    let (peak, now) = memory();
    println!(
        "paste {mib} MiB kept: state.txt {saved} bytes; RSS before the paste {:.1} MiB, after {:.1} MiB, peak {:.1} MiB",
        before as f64 / 1024.0,
        now as f64 / 1024.0,
        peak as f64 / 1024.0
    );
}
