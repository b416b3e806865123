//! Where the model is and how patient to be with it. Defaults compiled in,
//! the config file over them, the environment over that, flags last.

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
            state_budget_tokens: 800,
            max_tokens: 2_000,
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
    /// Runbook directories (each walked recursively) when neither
    /// `--runbooks` nor `STEPGUARD_RUNBOOKS` names any: a team's runbook
    /// repository, set once. `~/` is the home directory.
    #[serde(default)]
    pub runbooks: Vec<PathBuf>,
    /// The team database (approvals, the team's audit).
    #[serde(default)]
    pub team: FileTeam,
}

/// The `team:` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTeam {
    /// A PostgreSQL URL (`postgresql://alice@db.internal/stepguard`);
    /// `STEPGUARD_DATABASE_URL` wins over it. Each engineer uses their own
    /// role: it is who they are to the team.
    pub database_url: Option<String>,
    /// PEM roots the team database's certificate is verified against,
    /// besides the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key (PEM), for `cert` authentication.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// How long an approval request waits for a decision (default 10;
    /// fractions allowed, at least 0.1).
    #[serde(default)]
    pub approval_minutes: Option<f64>,
    /// Each new request is posted here in the Slack incoming-webhook shape
    /// (`STEPGUARD_WEBHOOK_URL` wins over it).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// `stats --team`: the health thresholds.
    #[serde(default)]
    pub health: crate::team::stats::Thresholds,
}

impl FileTeam {
    /// A TLS file's path, `~/` made the home directory.
    pub fn path(path: &Option<PathBuf>) -> Option<PathBuf> {
        path.as_ref()
            .and_then(|p| expand_home(std::slice::from_ref(p)).pop())
    }

    /// The request's time limit, in seconds.
    pub fn approval_seconds(&self) -> u32 {
        (self.approval_minutes.unwrap_or(10.0).clamp(0.1, 1439.0) * 60.0).round() as u32
    }
}

/// `~/…` made absolute with the home directory.
fn expand_home(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    dirs.iter()
        .map(|d| match (d.strip_prefix("~"), &home) {
            (Ok(rest), Some(home)) => home.join(rest),
            _ => d.clone(),
        })
        .collect()
}

impl ConfigFile {
    /// The config's runbook directories, `~/` expanded.
    pub fn runbook_dirs(&self) -> Vec<PathBuf> {
        expand_home(&self.runbooks)
    }

    /// The sandbox settings, `~/` expanded.
    pub fn sandbox_policy(&self) -> crate::exec::SandboxPolicy {
        let expand = expand_home;
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
        cfg.cache_dir = crate::paths::state_dir().map(|d| d.join("drafts"));
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
    use crate::paths::*;
    use std::os::unix::fs::PermissionsExt;

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
