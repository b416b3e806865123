//! What the subcommands read: runbook directories and runbooks, the pasted
//! context, the config file, the state directory, an Alertmanager.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context as _, Result};
use stepguard::draft::pasted::{assess_bytes, StateWarning, SAMPLE_BYTES};
use stepguard::draft::{Alerts, Context, PastedState};
use stepguard::llm::ModelConfig;
use stepguard::runbook::{self, LoadError, Runbook};
use stepguard::words::count;

use super::{CliError, ContextArgs};
use crate::Runtime;

/// `--runbooks`/`STEPGUARD_RUNBOOKS` if given, else the config file's
/// `runbooks`, else the defaults that exist.
pub fn runbook_dirs(given: &[PathBuf]) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    // A broken config file has stopped the command before this.
    let configured = config_file().map(|c| c.runbook_dirs()).unwrap_or_default();
    if !configured.is_empty() {
        return configured;
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

/// `--strict`: one broken runbook refuses the whole catalogue again.
pub static STRICT: OnceLock<bool> = OnceLock::new();

fn strict() -> bool {
    STRICT.get().copied().unwrap_or(false)
}

/// Every runbook in the directories; none without a directory. A broken
/// runbook is skipped with a warning on stderr (a teammate's typo must not
/// keep everyone else's runbooks shut), unless `--strict`.
pub fn load_catalog(dirs: &[PathBuf]) -> Result<Vec<Runbook>> {
    let (runbooks, skipped) = load_catalog_noting(dirs)?;
    if let Some(skipped) = skipped {
        eprintln!("stepguard: {skipped}");
    }
    Ok(runbooks)
}

/// [`load_catalog`], with the warning about skipped runbooks returned for
/// the caller to show (the walk shows it on screen).
pub fn load_catalog_noting(dirs: &[PathBuf]) -> Result<(Vec<Runbook>, Option<String>)> {
    if dirs.is_empty() {
        return Ok((Vec::new(), None));
    }
    let loaded = runbook::load_paths_lenient(dirs).map_err(|e| anyhow::anyhow!(e))?;
    if strict() {
        let runbooks = loaded.strict().map_err(CliError::Invalid)?;
        return Ok((runbooks, None));
    }
    let skipped = skipped_warning(&loaded);
    Ok((loaded.runbooks, skipped))
}

/// "skipped 2 broken runbooks: a.md:3:1: …; b.yaml:1:1: … (stepguard check
/// shows every problem)", or nothing when all loaded.
pub fn skipped_warning(loaded: &runbook::Loaded) -> Option<String> {
    let files = loaded.broken_files();
    if files.is_empty() {
        return None;
    }
    let first_problems: Vec<String> = files
        .iter()
        .take(3)
        .filter_map(|f| loaded.broken.iter().find(|p| p.path == *f))
        .map(ToString::to_string)
        .collect();
    let more = files.len().saturating_sub(3);
    Some(format!(
        "skipped {}: {}{} (`stepguard check` shows every problem; --strict refuses)",
        count(files.len() as u64, "broken runbook", "broken runbooks"),
        first_problems.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    ))
}

/// A runbook by path or by name in the runbook directories. A name is an id
/// in any case, or an alert the runbook answers; a name that is neither is
/// an error naming the closest ones. A bare word is looked up as a name
/// first: a file of that name in the working directory is the fallback.
pub fn find_runbook(dirs: &[PathBuf], key: &str) -> Result<Runbook> {
    let as_path = Path::new(key);
    if as_path.is_file() && (is_path_like(key) || dirs.is_empty()) {
        return load_file_cli(as_path);
    }
    if dirs.is_empty() {
        bail!("no runbook directory found (pass --runbooks DIR)");
    }
    find_runbook_in(&load_catalog(dirs)?, dirs, key)
}

/// [`find_runbook`] in a catalogue already loaded from `dirs`.
pub fn find_runbook_in(catalog: &[Runbook], dirs: &[PathBuf], key: &str) -> Result<Runbook> {
    let as_path = Path::new(key);
    if is_path_like(key) && as_path.is_file() {
        return load_file_cli(as_path);
    }
    let shown = stepguard::sanitize::sanitize_line(key, 80);
    match pick(catalog, key) {
        Pick::Found(i) => Ok(catalog[i].clone()),
        _ if as_path.is_file() => load_file_cli(as_path),
        _ if catalog.is_empty() => {
            bail!("no runbook '{shown}': no runbooks found in {}", display_paths(dirs))
        }
        Pick::Ambiguous(ids) => bail!(
            "'{shown}' names {} runbooks: {} (open one by its id)",
            ids.len(),
            ids.join(", ")
        ),
        Pick::Closest(closest) if closest.is_empty() => bail!(
            "no runbook '{shown}' in {} (`stepguard match '{shown}'` ranks them by what is going on)",
            display_paths(dirs)
        ),
        Pick::Closest(closest) => bail!(
            "no runbook '{shown}' in {}; closest: {}",
            display_paths(dirs),
            closest.join(", ")
        ),
    }
}

/// A key written as a path (a `/`, or a runbook's extension) is a file.
fn is_path_like(key: &str) -> bool {
    key.contains('/') || runbook::has_runbook_extension(Path::new(key))
}

fn load_file_cli(path: &Path) -> Result<Runbook> {
    runbook::load_file(path).map_err(|e| match e {
        LoadError::Io { .. } => anyhow::anyhow!(e),
        e => CliError::Invalid(e).into(),
    })
}

/// The runbook `key` names: its id exactly; else the one runbook whose id in
/// any case, or one of whose alerts, it is. Several such runbooks (a scratch
/// `KubePodCrashLooping.md` beside the runbook that answers that alert) is
/// an error naming them, never the first found. Else the closest ids (at
/// most three), for the message.
pub fn pick(catalog: &[Runbook], key: &str) -> Pick {
    if let Some(i) = catalog.iter().position(|r| r.id == key) {
        return Pick::Found(i);
    }
    let named: Vec<usize> = catalog
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.id.eq_ignore_ascii_case(key) || r.alerts.iter().any(|a| a.eq_ignore_ascii_case(key))
        })
        .map(|(i, _)| i)
        .collect();
    match named.as_slice() {
        [one] => return Pick::Found(*one),
        [] => {}
        many => return Pick::Ambiguous(many.iter().map(|&i| catalog[i].id.clone()).collect()),
    }
    let key = key.to_lowercase();
    let mut scored: Vec<(f64, String)> = catalog
        .iter()
        .filter_map(|r| {
            let names = std::iter::once(&r.id).chain(&r.alerts);
            let best = names
                .map(|n| strsim::jaro_winkler(&key, &n.to_lowercase()))
                .fold(0.0, f64::max);
            (best >= SUGGEST_ABOVE).then(|| (best, r.id.clone()))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Pick::Closest(scored.into_iter().take(3).map(|(_, id)| id).collect())
}

/// What a name picks out of a catalogue.
#[derive(Debug, PartialEq, Eq)]
pub enum Pick {
    Found(usize),
    /// Several runbooks answer to it: their ids.
    Ambiguous(Vec<String>),
    /// None does: the closest ids, maybe none.
    Closest(Vec<String>),
}

/// Jaro-Winkler similarity from which a name is offered as "closest": close
/// enough for a typo or a missing word, not for a different runbook.
const SUGGEST_ABOVE: f64 = 0.85;

/// Why a catalogue is empty, and what to do.
pub fn no_runbooks(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        "no runbook directory found (./runbooks, $XDG_CONFIG_HOME/stepguard/runbooks; pass --runbooks DIR)".into()
    } else {
        format!(
            "no runbooks found in {} (YAML with two of `id`, `title`, `steps`, or Markdown with a `# Title` and `## Sections`)",
            display_paths(dirs)
        )
    }
}

pub fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What becomes of a state that looks binary or is very large
/// ([`stepguard::draft::pasted::assess_bytes`]) without `--state-anyway`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doubtful {
    /// Ask on the terminal, before the screen opens (`run`).
    Ask,
    /// Refuse, naming the flag that keeps it (`draft`: nobody to ask).
    Refuse,
}

pub fn read_state(args: &ContextArgs, doubtful: Doubtful) -> Result<Option<Arc<PastedState>>> {
    let Some(path) = &args.state else {
        return Ok(None);
    };
    let from_stdin = path.as_os_str() == "-";
    let name = if from_stdin {
        "the state on stdin".to_string()
    } else {
        path.display().to_string()
    };
    let keep = |warning: Option<StateWarning>| match warning {
        None => Ok(()),
        Some(_) if args.state_anyway => Ok(()),
        Some(w) => confirm_state(&name, w, doubtful, from_stdin),
    };
    let bytes = if from_stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("reading the state from stdin")?;
        keep(assess_bytes(&bytes, bytes.len() as u64))?;
        bytes
    } else {
        let cannot = || format!("{}: cannot read", path.display());
        let mut file = std::fs::File::open(path).with_context(cannot)?;
        let meta = file.metadata().with_context(cannot)?;
        let mut bytes = Vec::with_capacity(if meta.is_file() {
            usize::try_from(meta.len()).unwrap_or(0).saturating_add(1)
        } else {
            0
        });
        // A file's beginning and size decide before the rest is read.
        (&mut file)
            .take(SAMPLE_BYTES as u64)
            .read_to_end(&mut bytes)
            .with_context(cannot)?;
        if meta.is_file() {
            keep(assess_bytes(&bytes, meta.len().max(bytes.len() as u64)))?;
        }
        file.read_to_end(&mut bytes).with_context(cannot)?;
        if !meta.is_file() {
            keep(assess_bytes(&bytes, bytes.len() as u64))?;
        }
        bytes
    };
    let state = Arc::new(PastedState::new(into_text(bytes)));
    // The session's first events carry its digest, before the first frame;
    // its values are read meanwhile.
    state.prefetch_sha256();
    state.prefetch_facts();
    Ok(Some(state))
}

/// Keep a doubtful state only if the human says so on the terminal.
fn confirm_state(
    name: &str,
    warning: StateWarning,
    doubtful: Doubtful,
    from_stdin: bool,
) -> Result<()> {
    let refused = |why: &str| {
        anyhow::anyhow!(
            "{name} {warning}: not kept as the state{why} (pass --state-anyway to keep it)"
        )
    };
    if doubtful == Doubtful::Refuse {
        return Err(refused(""));
    }
    let question = format!("stepguard: {name} {warning}. Keep it as the state? [y/N] ");
    match ask(&question, from_stdin) {
        Some(true) => Ok(()),
        Some(false) => bail!("{name}: not kept as the state (answered no)"),
        None => Err(refused(" (no terminal to ask on)")),
    }
}

/// A yes/no question on the controlling terminal (stdin may be the state
/// itself), else on stdin and stderr when they are a terminal. `None`:
/// nowhere to ask.
fn ask(question: &str, from_stdin: bool) -> Option<bool> {
    use std::io::{BufRead, BufReader, IsTerminal, Write};
    let mut answer = String::new();
    if let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    {
        (&tty).write_all(question.as_bytes()).ok()?;
        BufReader::new(&tty).read_line(&mut answer).ok()?;
    } else if !from_stdin && std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        eprint!("{question}");
        std::io::stdin().lock().read_line(&mut answer).ok()?;
    } else {
        return None;
    }
    Some(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

pub fn load_context(args: &ContextArgs, runbook: &Runbook, doubtful: Doubtful) -> Result<Context> {
    let state = read_state(args, doubtful)?;
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
    Ok(into_text(bytes))
}

/// Valid UTF-8 (the usual case) becomes the String without a copy; bytes
/// that are not UTF-8 become U+FFFD.
fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
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
