//! Where stepguard keeps things, and how: the config file, the state
//! directory, and owner-only creation beneath it. A leaf: no crate imports.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The config file: `STEPGUARD_CONFIG`, else `$XDG_CONFIG_HOME/stepguard/config.yaml`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("STEPGUARD_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let path = base.join("stepguard/config.yaml");
    path.is_file().then_some(path)
}

/// `STEPGUARD_STATE_DIR`, else `$XDG_STATE_HOME/stepguard`, else `~/.local/state/stepguard`.
pub fn state_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("STEPGUARD_STATE_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .map(|b| b.join("stepguard"))
}

// ---------------------------------------------------------------------------
// Owner-only state. The state directory holds raw pastes (secrets included),
// drafts, audit logs and standing rules, often on a shared bastion: every
// directory under it is created 0700 and every file 0600, whatever the umask.

/// Create `dir` and its missing parents owner-only (0700), and tighten `dir`
/// if it already exists with group or other bits.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    tighten(dir, &std::fs::metadata(dir)?)
}

/// Create `dir` owner-only; its parent must exist, and an existing `dir` is
/// an `AlreadyExists` error (a new session's directory).
pub fn create_private_dir_new(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(dir)
}

/// Open `path` with `options`, creating it owner-only (0600); an existing
/// file of ours with group or other bits is tightened (a lock file an older
/// stepguard created 0644).
pub fn open_private_file(
    path: &Path,
    options: &mut std::fs::OpenOptions,
) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = options.mode(0o600).open(path)?;
    let meta = file.metadata()?;
    if is_ours(&meta) && meta.permissions().mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Tighten a state directory made before its contents were owner-only:
/// when the directory itself lets others in, it and everything of ours
/// below it become 0700 (directories) and 0600 (files). Symbolic links are
/// not followed below the top; a directory that is already owner-only is
/// not walked (what is below it was created owner-only). A missing
/// directory is left to be created when needed.
pub fn tighten_state_dir(dir: &Path) -> std::io::Result<()> {
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() || !is_ours(&meta) || meta.permissions().mode() & 0o077 == 0 {
        return Ok(());
    }
    tighten(dir, &meta)?;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                pending.push(path.clone());
            }
            if meta.is_dir() || meta.is_file() {
                tighten(&path, &meta)?;
            }
        }
    }
    Ok(())
}

/// chmod `path` (described by `meta`) to 0700 / 0600 if it is ours and lets
/// others in.
fn tighten(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    if !is_ours(meta) || meta.permissions().mode() & 0o077 == 0 {
        return Ok(());
    }
    let mode = if meta.is_dir() { 0o700 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Owned by this process's effective user: never chmod someone else's
/// directory, even as root.
fn is_ours(meta: &std::fs::Metadata) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    meta.uid() == unsafe { libc::geteuid() }
}
