//! What the subcommands read: runbook directories and runbooks, the pasted
//! context, the config file, the state directory, an Alertmanager.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use stepguard::draft::{Alerts, Context, PastedState};
use stepguard::llm::ModelConfig;
use stepguard::runbook::{self, LoadError, Runbook};

use super::{CliError, ContextArgs};
use crate::Runtime;

/// `--runbooks`/`STEPGUARD_RUNBOOKS` if given, else the defaults that exist.
pub fn runbook_dirs(given: &[PathBuf]) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    let mut dirs = Vec::new();
    let local = PathBuf::from("runbooks");
    if local.is_dir() {
        dirs.push(local);
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(dir) = config.map(|c| c.join("stepguard/runbooks")) {
        if dir.is_dir() {
            dirs.push(dir);
        }
    }
    dirs
}

/// Every runbook in the directories; none without a directory.
pub fn load_catalog(dirs: &[PathBuf]) -> Result<Vec<Runbook>> {
    if dirs.is_empty() {
        return Ok(Vec::new());
    }
    runbook::load_paths(dirs).map_err(|e| match e {
        LoadError::Io { .. } => anyhow::anyhow!(e),
        e => CliError::Invalid(e).into(),
    })
}

/// A runbook by path (if the file exists) or by id in the runbook directories.
pub fn find_runbook(dirs: &[PathBuf], key: &str) -> Result<Runbook> {
    let as_path = Path::new(key);
    if as_path.is_file() {
        return runbook::load_file(as_path).map_err(|e| match e {
            LoadError::Io { .. } => anyhow::anyhow!(e),
            e => CliError::Invalid(e).into(),
        });
    }
    if dirs.is_empty() {
        bail!("no runbook directory found (pass --runbooks DIR)");
    }
    load_catalog(dirs)?
        .into_iter()
        .find(|r| r.id == key)
        .with_context(|| format!("no runbook '{key}' in {}", display_paths(dirs)))
}

pub fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn read_state(args: &ContextArgs) -> Result<Option<Arc<PastedState>>> {
    let state: Option<Arc<PastedState>> = match &args.state {
        None => None,
        Some(p) if p.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the state from stdin")?;
            Some(Arc::new(text.into()))
        }
        Some(p) => Some(Arc::new(read_text(p)?.into())),
    };
    // The session's first events carry its digest, before the first frame.
    if let Some(state) = &state {
        state.prefetch_sha256();
        state.prefetch_facts();
    }
    Ok(state)
}

pub fn load_context(args: &ContextArgs, runbook: &Runbook) -> Result<Context> {
    let state = read_state(args)?;
    let alert = match &args.alert {
        None => None,
        Some(p) => {
            let alerts = Alerts::parse(&read_text(p)?).with_context(|| p.display().to_string())?;
            alerts.pick(&runbook.alerts).cloned()
        }
    };
    Ok(with_rules(Context {
        vars: args.vars.iter().cloned().collect::<BTreeMap<_, _>>(),
        alert,
        state,
        ..Context::default()
    }))
}

/// The engineer's standing rules (SPEC §7), where there is a state directory.
pub fn rule_store() -> Option<stepguard::standing::RuleStore> {
    stepguard::paths::state_dir().map(stepguard::standing::RuleStore::new)
}

/// `ctx` with the active standing rules and the time they are judged at.
pub fn with_rules(mut ctx: Context) -> Context {
    ctx.now_secs = stepguard::clock::now_secs();
    if let Some(store) = rule_store() {
        ctx.rules = stepguard::standing::active_rules(&store, ctx.now_secs);
    }
    ctx
}

pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    // Valid UTF-8 (the usual case) becomes the String without a copy.
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// The config file, or the defaults without one.
pub fn config_file() -> Result<stepguard::config::ConfigFile> {
    match stepguard::paths::config_path() {
        Some(path) => Ok(stepguard::config::read_file(&path)?),
        None => Ok(Default::default()),
    }
}

/// The escalation rules from the config file (defaults without one).
pub fn policy_config() -> Result<stepguard::policy::PolicyConfig> {
    Ok(config_file()?.policy)
}

/// The model settings: config file, then environment, then flags.
pub fn model_config(offline: bool, model: Option<String>) -> Result<ModelConfig> {
    let path = stepguard::paths::config_path();
    let mut cfg = ModelConfig::load(path.as_deref())?;
    if let Some(m) = model {
        cfg.model = m;
    }
    cfg.offline = offline;
    Ok(cfg)
}

pub fn state_dir_or_fail() -> Result<PathBuf> {
    stepguard::paths::state_dir().context("no state directory (set STEPGUARD_STATE_DIR)")
}

/// The alerts an Alertmanager holds (API v2).
pub fn fetch_alertmanager(runtime: &mut Runtime, url: &str) -> Result<Alerts> {
    runtime
        .block_on(stepguard::draft::alertmanager::fetch(url))?
        .map_err(|e| anyhow::anyhow!("alertmanager: {e}"))
}
