//! The real binary in a real terminal: a detached tmux pane per test, on a
//! private socket, with no model and a throwaway state directory unless the
//! test says otherwise (a later `env` entry wins).
#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Every e2e test shares one process: the pid alone does not tell two
/// panes with the same name apart.
static NEXT_SOCKET: AtomicUsize = AtomicUsize::new(0);

pub struct Tmux {
    socket: String,
    /// Sessions saved by the app land here, not in the developer's home.
    _state: tempfile::TempDir,
}

impl Tmux {
    pub fn start(name: &str, shell_command: &str, env: &[(&str, &str)]) -> Tmux {
        assert!(
            Command::new("tmux")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success()),
            "these tests need tmux (apt-get install tmux)"
        );
        let socket = format!(
            "stepguard-e2e-{name}-{}-{}",
            std::process::id(),
            NEXT_SOCKET.fetch_add(1, Ordering::Relaxed)
        );
        let mut cmd = Command::new("tmux");
        cmd.args([
            "-L",
            &socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "-s",
            "sg",
        ]);
        // No model from the developer's environment: tests choose their own.
        let state = tempfile::tempdir().unwrap();
        let state_dir = state.path().to_str().unwrap().to_string();
        let isolated = [
            ("OPENAI_BASE_URL", ""),
            ("OPENAI_API_KEY", ""),
            ("STEPGUARD_CONFIG", "/dev/null"),
            ("STEPGUARD_STATE_DIR", state_dir.as_str()),
        ];
        for (k, v) in isolated.iter().chain(env) {
            cmd.args(["-e", &format!("{k}={v}")]);
        }
        let status = cmd.arg(shell_command).status().unwrap();
        assert!(status.success());
        Tmux {
            socket,
            _state: state,
        }
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "sg"])
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "sg", k]);
        }
    }

    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "sg", "-l", text]);
    }

    /// A bracketed paste, as a terminal delivers one.
    pub fn paste(&self, text: &str) {
        self.tmux(&["set-buffer", "-b", "e2e-paste", text]);
        self.tmux(&["paste-buffer", "-p", "-d", "-b", "e2e-paste", "-t", "sg"]);
    }

    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Let the app process what was sent, then read the screen.
    pub fn settle(&self) -> String {
        std::thread::sleep(Duration::from_millis(300));
        self.screen()
    }

    /// Like [`Tmux::wait_for`], without panicking: the screen once `done`
    /// holds for it, else (after `timeout`) why not, with the last screen.
    pub fn poll(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return Ok(screen);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}; screen:\n{screen}"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn format(&self, f: &str) -> String {
        self.tmux(&["display-message", "-p", "-t", "sg", f])
            .trim()
            .to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

pub fn shell_line(args: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_stepguard");
    let root = env!("CARGO_MANIFEST_DIR");
    // After the app: its exit code, then the tty modes (raw mode must be off).
    format!("cd {root} && {bin} {args}; echo \"EXITED $?\"; stty -a | tr ' ;' '\\n\\n' | grep -E -x -e '-?icanon' -e '-?echo'; echo TTY-CHECKED; sleep 60")
}

pub fn assert_restored(t: &Tmux, code: i32) {
    t.wait_for(&format!("EXITED {code}"));
    let screen = t.wait_for("TTY-CHECKED");
    assert_eq!(
        t.format("#{alternate_on}"),
        "0",
        "still in the alternate screen:\n{screen}"
    );
    assert_eq!(t.format("#{cursor_flag}"), "1", "cursor left hidden");
    let lines: Vec<&str> = screen.lines().map(str::trim).collect();
    assert!(
        lines.contains(&"icanon") && lines.contains(&"echo"),
        "raw mode left on:\n{screen}"
    );
}

/// The live process running `exe` (not one of its `__reap` watchers) whose
/// environment holds `entry` (`KEY=VALUE`), in one scan of /proc.
pub fn pid_with_env(exe: &std::path::Path, entry: &str) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .as_deref()
            != Some(exe)
        {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.split(|b| *b == 0).any(|a| a == b"__reap") {
            continue;
        }
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if env.split(|b| *b == 0).any(|kv| kv == entry.as_bytes()) {
            return Some(pid);
        }
    }
    None
}
