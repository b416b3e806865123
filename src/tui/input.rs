//! Terminal events on a thread of their own, sent as `Msg`. The thread can
//! be paused so that an editor gets every key (STYLE habit 2).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{self, Event};
use tokio::sync::mpsc;

use super::msg::Msg;

pub struct Input {
    paused: Arc<AtomicBool>,
    /// Set by the thread while it is paused and not reading.
    idle: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Input {
    pub fn spawn(tx: mpsc::Sender<Msg>) -> Self {
        let paused = Arc::new(AtomicBool::new(false));
        let idle = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, i, s) = (paused.clone(), idle.clone(), stop.clone());
        std::thread::Builder::new()
            .name("stepguard-input".into())
            .spawn(move || read_loop(tx, p, i, s))
            .expect("spawn the input thread");
        Input { paused, idle, stop }
    }

    /// Stop reading and wait until the thread is no longer in `poll`.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        while !self.idle.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn resume(&self) {
        self.idle.store(false, Ordering::SeqCst);
        self.paused.store(false, Ordering::SeqCst);
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn read_loop(
    tx: mpsc::Sender<Msg>,
    paused: Arc<AtomicBool>,
    idle: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        if paused.load(Ordering::SeqCst) {
            idle.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        // The terminal is gone (closed without a hang-up signal reaching
        // us): end the walk as a hang-up would, session saved.
        let lost = || {
            let _ = tx.blocking_send(Msg::Signal("terminal-lost"));
        };
        match event::poll(Duration::from_millis(50)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return lost(),
        }
        let msg = match event::read() {
            Ok(Event::Key(key)) => Msg::Key(key),
            Ok(Event::Paste(text)) => Msg::Paste(text),
            Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
            Ok(_) => continue,
            Err(_) => return lost(),
        };
        if tx.blocking_send(msg).is_err() {
            break;
        }
    }
}
