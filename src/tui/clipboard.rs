//! Copying the action or rollback for the human (SPEC §6): the tmux buffer
//! inside tmux, else the first clipboard tool found, else OSC 52. The text
//! goes to the tool's stdin; nothing is ever executed.

use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Tmux,
    Tool { program: String, args: Vec<String> },
    Osc52,
}

impl Method {
    /// Pick the method from the environment, as SPEC §6 orders it.
    pub fn detect() -> Self {
        let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
        if set("TMUX") && which::which("tmux").is_ok() {
            return Method::Tmux;
        }
        let tools: [(&str, Option<&str>, &[&str]); 5] = [
            ("wl-copy", Some("WAYLAND_DISPLAY"), &[]),
            ("xclip", Some("DISPLAY"), &["-selection", "clipboard"]),
            ("xsel", Some("DISPLAY"), &["--clipboard", "--input"]),
            ("pbcopy", None, &[]),
            ("clip.exe", None, &[]),
        ];
        for (program, display, args) in tools {
            if display.is_none_or(set) && which::which(program).is_ok() {
                return Method::Tool {
                    program: program.into(),
                    args: args.iter().map(|a| a.to_string()).collect(),
                };
            }
        }
        Method::Osc52
    }

    pub fn label(&self) -> String {
        match self {
            Method::Tmux => "tmux buffer".into(),
            Method::Tool { program, .. } => program.clone(),
            Method::Osc52 => "OSC 52".into(),
        }
    }

    /// Put `text` on the clipboard; returns the label on success.
    pub fn copy(&self, text: &str) -> Result<String, String> {
        match self {
            Method::Tmux => pipe_to(
                "tmux",
                &["load-buffer".into(), "-w".into(), "-".into()],
                text,
            ),
            Method::Tool { program, args } => pipe_to(program, args, text),
            Method::Osc52 => {
                let mut out = std::io::stdout();
                crossterm::execute!(
                    out,
                    crossterm::clipboard::CopyToClipboard::to_clipboard_from(text)
                )
                .map_err(|e| e.to_string())
            }
        }
        .map(|()| self.label())
    }
}

fn pipe_to(program: &str, args: &[String], text: &str) -> Result<(), String> {
    // stdout/stderr null: wl-copy keeps them open in a background child.
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("{program}: {e}"))?;
    }
    let status = child.wait().map_err(|e| format!("{program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{program} exited with {status}"))
    }
}
