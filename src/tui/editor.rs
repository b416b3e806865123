//! `e`: the action goes to `$VISUAL`/`$EDITOR` in a temp file and is read
//! back by path. The caller suspends input and the terminal around this.

use std::process::Command;

/// The editor command line, split like a shell would (`code -w` works).
fn editor_command() -> Vec<String> {
    let raw = std::env::var("VISUAL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".into());
    shlex::split(&raw)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| vec![raw])
}

/// Edit `text`; returns the new text.
pub fn edit(text: &str) -> Result<String, String> {
    let file = tempfile::Builder::new()
        .prefix("stepguard-action-")
        .suffix(".sh")
        .tempfile()
        .map_err(|e| e.to_string())?;
    std::fs::write(file.path(), format!("{text}\n")).map_err(|e| e.to_string())?;
    let cmd = editor_command();
    let status = Command::new(&cmd[0])
        .args(&cmd[1..])
        .arg(file.path())
        .status()
        .map_err(|e| format!("{}: {e}", cmd[0]))?;
    if !status.success() {
        return Err(format!("{} exited with {status}; action unchanged", cmd[0]));
    }
    std::fs::read_to_string(file.path()).map_err(|e| e.to_string())
}
