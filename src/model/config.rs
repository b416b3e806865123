//! Where the model is and how patient to be with it. Defaults compiled in,
//! the config file over them, the environment over that, flags last.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::runbook::parse_duration;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// `OPENAI_BASE_URL`, including `/v1`.
    pub base_url: Option<String>,
    /// `OPENAI_API_KEY`, trimmed.
    pub api_key: Option<String>,
    /// `STEPGUARD_MODEL`.
    pub model: String,
    pub connect_timeout: Duration,
    /// Longest silence inside a streaming reply before it counts as stalled.
    pub read_timeout: Duration,
    /// Longest a whole draft may take, retries included.
    pub deadline: Duration,
    /// Overrides for `prompts/system.md` and `prompts/step.md`.
    pub prompts_dir: Option<PathBuf>,
    /// Tokens of pasted state sent with a step (about 4 characters each).
    pub state_budget_tokens: usize,
    /// The longest reply asked for.
    pub max_tokens: u32,
    /// Where drafts are cached by request digest.
    pub cache_dir: Option<PathBuf>,
    /// `--offline`.
    pub offline: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            base_url: None,
            api_key: None,
            model: "gpt-4o-mini".into(),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(90),
            prompts_dir: None,
            state_budget_tokens: 2_000,
            max_tokens: 1_500,
            cache_dir: None,
            offline: false,
        }
    }
}

/// The `model:` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileModel {
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub name: Option<String>,
    pub connect_timeout: Option<String>,
    pub read_timeout: Option<String>,
    pub deadline: Option<String>,
    pub prompts_dir: Option<PathBuf>,
    pub state_budget_tokens: Option<usize>,
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub model: FileModel,
    #[serde(default)]
    pub policy: crate::policy::PolicyConfig,
    /// `auto` (Landlock where the kernel has it) or `required` (refuse to
    /// run a pre-flight without it).
    #[serde(default)]
    pub sandbox: crate::exec::SandboxMode,
    /// Directories sandboxed pre-flights may run programs from, besides the
    /// system's (`~/.krew/bin`, a cloud SDK's `bin`). `~/` is the home directory.
    #[serde(default)]
    pub exec_dirs: Vec<PathBuf>,
    /// Where a config file that can run programs (`--kubeconfig`,
    /// `KUBECONFIG=`, docker's `--config`) may be loaded from, besides
    /// `~/.kube`, `~/.docker`, `~/.config/helm` and `/etc`.
    #[serde(default)]
    pub config_dirs: Vec<PathBuf>,
}

impl ConfigFile {
    /// The sandbox settings, `~/` expanded.
    pub fn sandbox_policy(&self) -> crate::exec::SandboxPolicy {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let expand = |dirs: &[PathBuf]| -> Vec<PathBuf> {
            dirs.iter()
                .map(|d| match (d.strip_prefix("~"), &home) {
                    (Ok(rest), Some(home)) => home.join(rest),
                    _ => d.clone(),
                })
                .collect()
        };
        let mut config_dirs = crate::exec::sandbox::default_config_dirs();
        config_dirs.extend(expand(&self.config_dirs));
        crate::exec::SandboxPolicy {
            mode: self.sandbox,
            exec_dirs: expand(&self.exec_dirs),
            config_dirs,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{col}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{}: {what} '{value}' is not a duration like 20s or 2m", path.display())]
    Duration {
        path: PathBuf,
        what: &'static str,
        value: String,
    },
}

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

pub fn read_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(ConfigFile::default());
    }
    serde_yaml::from_str(&text).map_err(|e| {
        let (line, col) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or("").to_string();
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            col,
            message,
        }
    })
}

impl ModelConfig {
    /// Defaults, then the file, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg = ModelConfig::default();
        if let Some(path) = file {
            cfg.apply_file(path, read_file(path)?.model)?;
        }
        cfg.apply_env(|k| std::env::var(k).ok());
        cfg.cache_dir = state_dir().map(|d| d.join("drafts"));
        Ok(cfg)
    }

    fn apply_file(&mut self, path: &Path, file: FileModel) -> Result<(), ConfigError> {
        let duration =
            |what: &'static str, v: Option<String>| -> Result<Option<Duration>, ConfigError> {
                v.map(|v| {
                    parse_duration(&v).ok_or(ConfigError::Duration {
                        path: path.to_path_buf(),
                        what,
                        value: v,
                    })
                })
                .transpose()
            };
        if let Some(v) = file.base_url {
            self.base_url = Some(v);
        }
        if let Some(v) = file.api_key {
            self.api_key = Some(v.trim().to_string());
        }
        if let Some(v) = file.name {
            self.model = v;
        }
        if let Some(d) = duration("connect_timeout", file.connect_timeout)? {
            self.connect_timeout = d;
        }
        if let Some(d) = duration("read_timeout", file.read_timeout)? {
            self.read_timeout = d;
        }
        if let Some(d) = duration("deadline", file.deadline)? {
            self.deadline = d;
        }
        if let Some(v) = file.prompts_dir {
            self.prompts_dir = Some(v);
        }
        if let Some(v) = file.state_budget_tokens {
            self.state_budget_tokens = v;
        }
        if let Some(v) = file.max_tokens {
            self.max_tokens = v;
        }
        Ok(())
    }

    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        let set = |k: &str| {
            var(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = set("OPENAI_BASE_URL") {
            self.base_url = Some(v);
        }
        // A trailing newline from `$(cat key)` must not reach the header.
        if let Some(v) = set("OPENAI_API_KEY") {
            self.api_key = Some(v);
        }
        if let Some(v) = set("STEPGUARD_MODEL") {
            self.model = v;
        }
        if let Some(v) = set("STEPGUARD_PROMPTS") {
            self.prompts_dir = Some(PathBuf::from(v));
        }
    }

    /// Why drafting is offline, or None when a model is configured.
    pub fn offline_reason(&self) -> Option<String> {
        if self.offline {
            return Some("--offline".into());
        }
        if self.base_url.is_none() && self.api_key.is_none() {
            return Some("no OPENAI_API_KEY or OPENAI_BASE_URL".into());
        }
        None
    }

    /// The endpoint, defaulting to OpenAI's when only a key is given.
    pub fn endpoint(&self) -> String {
        self.base_url
            .clone()
            .unwrap_or_else(|| "https://api.openai.com/v1".into())
            .trim_end_matches('/')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_over_file_over_defaults_and_keys_are_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(
            &path,
            "model:\n  name: from-file\n  read_timeout: 5s\n  base_url: http://127.0.0.1:1/v1\n",
        )
        .unwrap();
        let mut cfg = ModelConfig::default();
        cfg.apply_file(&path, read_file(&path).unwrap().model)
            .unwrap();
        assert_eq!(cfg.model, "from-file");
        assert_eq!(cfg.read_timeout, Duration::from_secs(5));
        cfg.apply_env(|k| match k {
            "STEPGUARD_MODEL" => Some("from-env".into()),
            "OPENAI_API_KEY" => Some("sk-test\n".into()),
            _ => None,
        });
        assert_eq!(cfg.model, "from-env");
        assert_eq!(cfg.api_key.as_deref(), Some("sk-test"));
        assert_eq!(cfg.offline_reason(), None);
        assert_eq!(cfg.endpoint(), "http://127.0.0.1:1/v1");
        assert!(ModelConfig::default().offline_reason().is_some());
    }

    #[test]
    fn private_files_and_dirs_are_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = root.path().join("a/b");
        create_private_dir(&dir).unwrap();
        assert_eq!((mode(&root.path().join("a")), mode(&dir)), (0o700, 0o700));
        // An existing file made by someone less careful is tightened.
        let lock = dir.join("x.lock");
        std::fs::write(&lock, "").unwrap();
        std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o644)).unwrap();
        open_private_file(&lock, std::fs::OpenOptions::new().write(true)).unwrap();
        assert_eq!(mode(&lock), 0o600);
        // A loose state directory is tightened with what is below it.
        std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o664)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).unwrap();
        tighten_state_dir(&root.path().join("a")).unwrap();
        assert_eq!(mode(&dir), 0o775, "an owner-only directory is not walked");
        tighten_state_dir(&dir).unwrap();
        assert_eq!((mode(&dir), mode(&lock)), (0o700, 0o600));
        tighten_state_dir(&root.path().join("missing")).unwrap();
    }

    #[test]
    fn bad_file_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "model:\n  nmae: x\n").unwrap();
        let err = read_file(&path).unwrap_err().to_string();
        assert!(err.contains("config.yaml:2:"), "{err}");
        std::fs::write(&path, "model:\n  deadline: soon\n").unwrap();
        let mut cfg = ModelConfig::default();
        let err = cfg
            .apply_file(&path, read_file(&path).unwrap().model)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'soon'"), "{err}");
    }
}
