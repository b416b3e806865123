//! The command line (SPEC §4). `main.rs` only calls [`main`].

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::draft::PastedState;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};

use crate::draft::{Alerts, Card, Context};
use crate::exec::{self, judge, OutputLimits, Predicates, RunEvent, RunRequest};
use crate::llm::{compose, DraftJob, Drafter, ModelConfig};
use crate::runbook::{self, LoadError, Runbook};
use crate::sanitize::sanitize_line;
use crate::session::{list_sessions, SessionDir};

/// Exit codes (SPEC §4).
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "stepguard",
    version,
    about = "Walk an on-call runbook one guarded step at a time. The model drafts, code guards, the human decides; stepguard runs only reads."
)]
pub struct Cli {
    /// Runbook directory (repeatable). Default: ./runbooks, then $XDG_CONFIG_HOME/stepguard/runbooks.
    #[arg(
        long = "runbooks",
        global = true,
        value_name = "DIR",
        env = "STEPGUARD_RUNBOOKS",
        value_delimiter = ':'
    )]
    runbooks: Vec<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The guarded walk on one runbook (path or id), full screen.
    Run(RunArgs),
    /// Validate runbooks; exit 1 on any error (printed as path:line:col: message).
    Check {
        /// Files or directories (default: the runbook directories).
        paths: Vec<PathBuf>,
    },
    /// Would stepguard run this command? Exit 0 yes, 1 no (reason printed).
    Guard {
        /// Print {"allowed": bool, "reason": "..."}.
        #[arg(long)]
        json: bool,
        /// The command line: one argument is taken as written; several are shell-quoted and joined.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Print the guarded card of one step, no TUI.
    Draft(DraftArgs),
    /// Internal: clean up a pre-flight's processes if stepguard dies.
    #[command(name = "__reap", hide = true)]
    Reap {
        pgid: u32,
        parent: u32,
        scratch: Option<PathBuf>,
    },
    /// Standing rules: read-only forms the guard does not know, allowed by you.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Ranked runbooks for an alert or a description, with confidence.
    Match {
        /// What is going on, in words (or pasted output).
        text: Option<String>,
        /// An Alertmanager webhook payload or alert list (JSON).
        #[arg(long, value_name = "FILE", conflicts_with = "text")]
        alert: Option<PathBuf>,
        /// The firing alerts of an Alertmanager (API v2).
        #[arg(long, value_name = "URL", conflicts_with_all = ["text", "alert"])]
        alertmanager: Option<String>,
        #[arg(long)]
        json: bool,
        /// Below this confidence the answer is "no runbook" (escalate).
        #[arg(long, default_value_t = crate::matching::DEFAULT_THRESHOLD)]
        threshold: f64,
    },
    /// Convert a Markdown runbook to YAML on stdout.
    Import { file: PathBuf },
    /// Score matching and escalation on scenario files.
    Eval {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = crate::matching::DEFAULT_THRESHOLD)]
        threshold: f64,
    },
    /// The incident timeline of a session, for the postmortem.
    Report {
        id: String,
        /// md or json.
        #[arg(long, default_value = "md", value_parser = ["md", "json"])]
        format: String,
        /// Write to FILE instead of stdout.
        #[arg(short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Human-in-the-loop metrics across sessions (rubber-stamping flagged).
    Stats {
        #[arg(long)]
        json: bool,
        /// Show them as charts, full screen.
        #[arg(long, conflicts_with = "json")]
        screen: bool,
    },
    /// List saved sessions, newest first.
    Sessions {
        #[arg(long)]
        json: bool,
    },
    /// The audit log of a session.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// What protects you here: sandbox, clipboard, model, state dir, runbooks.
    /// Exit 1 when something required is missing.
    Doctor,
}

#[derive(Subcommand, Debug)]
enum RulesCommand {
    /// Allow `-- PROGRAM ARG...` with exactly these arguments, each a literal,
    /// `re:REGEX` (the whole argument) or `*` (any one argument not starting with '-').
    Add {
        /// PROGRAM then its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "PROGRAM ARG")]
        form: Vec<String>,
        /// Why this form is safe (required; recorded).
        #[arg(long)]
        reason: String,
        /// Stop allowing it after N uses.
        #[arg(long, value_name = "N")]
        max_uses: Option<u32>,
        /// Stop allowing it after this long: 30m, 2h, 7d.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// Every rule with its state and uses.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop allowing a rule at once.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check a session's hash chain; exit 1 (naming the first bad line) if tampered.
    Verify { id: String },
}

#[derive(Args, Debug)]
struct RunArgs {
    /// A runbook file or id.
    #[arg(required_unless_present_any = ["resume", "alertmanager"])]
    runbook: Option<String>,
    /// Continue a saved session (see `stepguard sessions`).
    #[arg(long, value_name = "ID", conflicts_with_all = ["runbook", "state", "vars", "alert"])]
    resume: Option<String>,
    /// Start from the firing alerts of an Alertmanager: the best-matching
    /// alert and runbook are opened (or, with RUNBOOK, the alert it answers).
    #[arg(long, value_name = "URL", conflicts_with_all = ["alert", "resume"])]
    alertmanager: Option<String>,
    #[command(flatten)]
    context: ContextArgs,
    /// Never call a model: steps render from the runbook's own templates.
    #[arg(long)]
    offline: bool,
    /// The model to draft with (overrides STEPGUARD_MODEL and the config file).
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
}

#[derive(Args, Debug)]
struct DraftArgs {
    /// A runbook file or id.
    runbook: String,
    /// Step id or 1-based number.
    #[arg(long)]
    step: String,
    #[command(flatten)]
    context: ContextArgs,
    /// Never call a model: steps render from the runbook's own templates.
    #[arg(long)]
    offline: bool,
    /// The model to draft with (overrides STEPGUARD_MODEL and the config file).
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// Print the card as JSON.
    #[arg(long)]
    json: bool,
    /// Also run the step's pre-flight (guarded) and print its output and verdict.
    #[arg(long)]
    preflight: bool,
}

#[derive(Args, Debug)]
struct ContextArgs {
    /// Pasted cluster state from a file, or - for stdin.
    #[arg(long, value_name = "FILE|-")]
    state: Option<PathBuf>,
    /// A known value (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    vars: Vec<(String, String)>,
    /// An Alertmanager webhook payload or /api/v2/alerts list (JSON).
    #[arg(long, value_name = "FILE")]
    alert: Option<PathBuf>,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got '{s}'")),
    }
}

/// Errors at the edge: usage/environment (exit 2) vs a failed check (exit 1).
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Invalid(LoadError),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Ok(exe) = std::env::current_exe() {
        crate::exec::set_watcher(exe);
    }
    if let Some(dir) = crate::paths::state_dir() {
        // A state directory an older stepguard left open to others is made
        // owner-only on first use (doctor reports what it finds instead).
        // Best effort: what cannot be tightened here fails where it is used.
        if !matches!(cli.command, Some(Command::Doctor)) {
            let _ = crate::paths::tighten_state_dir(&dir);
        }
        crate::exec::set_rule_store(crate::standing::RuleStore::new(dir));
    }
    // A broken config stops here, before any screen, as path:line:col.
    match config_file() {
        Ok(file) => crate::exec::set_sandbox_policy(file.sandbox_policy()),
        Err(err) => {
            eprintln!("stepguard: {err:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    }
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if let Some(CliError::Invalid(load)) = err.downcast_ref::<CliError>() {
                for line in load.problems() {
                    eprintln!("{line}");
                }
                return ExitCode::from(EXIT_FAILED);
            }
            eprintln!("stepguard: {err:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn dispatch(cli: Cli) -> Result<u8> {
    let dirs = runbook_dirs(&cli.runbooks);
    match cli.command {
        None => tui(&dirs, None),
        Some(Command::Run(args)) => tui(&dirs, Some(args)),
        Some(Command::Check { paths }) => check(if paths.is_empty() { &dirs } else { &paths }),
        Some(Command::Guard { json, command }) => Ok(guard(&command, json)),
        Some(Command::Draft(args)) => draft(&dirs, args),
        Some(Command::Sessions { json }) => sessions(json),
        Some(Command::Match {
            text,
            alert,
            alertmanager,
            json,
            threshold,
        }) => match_runbooks(&dirs, text, alert, alertmanager, json, threshold),
        Some(Command::Eval {
            dir,
            json,
            threshold,
        }) => eval(&dirs, &dir, json, threshold),
        Some(Command::Import { file }) => import(&file),
        Some(Command::Report { id, format, output }) => report(&id, &format, output.as_deref()),
        Some(Command::Stats { json, screen }) => stats(json, screen),
        Some(Command::Rules { command }) => rules(command),
        Some(Command::Reap {
            pgid,
            parent,
            scratch,
        }) => {
            crate::exec::reap(pgid, parent, scratch.as_deref());
            Ok(EXIT_OK)
        }
        Some(Command::Audit {
            command: AuditCommand::Verify { id },
        }) => audit_verify(&id),
        Some(Command::Doctor) => doctor(dirs),
    }
}

/// The full-screen walk: everything is loaded and validated first, so a bad
/// runbook or file fails here, before any screen is drawn.
fn tui(dirs: &[PathBuf], args: Option<RunArgs>) -> Result<u8> {
    let catalog = load_catalog(dirs)?;
    let state_dir = crate::paths::state_dir();
    let mut resume = None;
    let mut alert_list = Vec::new();
    let (start, ctx) = match &args {
        Some(RunArgs {
            resume: Some(id), ..
        }) => {
            let (runbook, ctx, r) = load_resume(state_dir.as_deref(), id)?;
            resume = Some(r);
            (Some(runbook), ctx)
        }
        Some(a) if a.alertmanager.is_some() => {
            let url = a.alertmanager.as_deref().unwrap_or_default();
            let alerts = fetch_alertmanager(url)?;
            match &a.runbook {
                // With a runbook: the alert it answers fills its values.
                Some(key) => {
                    let runbook = find_runbook(dirs, key)?;
                    let mut ctx = load_context(&a.context, &runbook)?;
                    ctx.alert = alerts.pick(&runbook.alerts).cloned();
                    (Some(runbook), ctx)
                }
                // Without: the human chooses the alert on screen.
                None => {
                    alert_list = alerts.0.into_iter().filter(|x| x.firing).collect();
                    if alert_list.is_empty() {
                        bail!("no firing alerts at {url}");
                    }
                    // The pasted state and values wait for the chosen runbook.
                    let ctx = Context {
                        vars: a.context.vars.iter().cloned().collect(),
                        state: read_state(&a.context)?,
                        alert: None,
                    };
                    (None, ctx)
                }
            }
        }
        Some(a) => {
            let key = a.runbook.as_deref().unwrap_or_default();
            let runbook = find_runbook(dirs, key)?;
            let ctx = load_context(&a.context, &runbook)?;
            (Some(runbook), ctx)
        }
        None => (None, Context::default()),
    };
    if start.is_none() && catalog.is_empty() {
        bail!(
            "no runbooks found in {} (pass --runbooks DIR)",
            display_paths(dirs)
        );
    }
    let (offline, model) = args
        .as_ref()
        .map_or((false, None), |a| (a.offline, a.model.clone()));
    let cfg = model_config(offline, model)?;
    let (drafter, offline) = match Drafter::from_config(&cfg) {
        Ok(d) => (Some(d), None),
        Err(why) => (
            None,
            Some(format!(
                "offline ({why}): steps render from the runbook's own templates"
            )),
        ),
    };
    let sandbox = config_file()?.sandbox_policy();
    let unsandboxed = match exec::sandbox::status() {
        exec::SandboxStatus::GuardOnly { why } => Some(why),
        exec::SandboxStatus::Enforced { .. } => None,
    };
    let no_sandbox = unsandboxed.as_ref().map(|why| match sandbox.mode {
        exec::SandboxMode::Required => {
            format!("NO SANDBOX ({why}) and the config requires one: pre-flights are refused")
        }
        exec::SandboxMode::Auto => {
            format!("NO SANDBOX ({why}): pre-flights are checked by the guard alone")
        }
    });
    let banner = match (no_sandbox, offline) {
        (Some(a), Some(b)) => Some(format!("{a} · {b}")),
        (a, b) => a.or(b),
    };
    let runtime = exec::runtime()?;
    runtime.block_on(crate::tui::app::run(crate::tui::app::Options {
        catalog,
        start,
        ctx,
        banner,
        unsandboxed,
        drafter,
        state_dir,
        resume,
        policy: policy_config()?,
        alerts: alert_list,
    }))?;
    Ok(EXIT_OK)
}

/// A saved session: its runbook (from the path it was loaded from), its
/// context, and the snapshot to restore.
fn load_resume(
    state_dir: Option<&Path>,
    id: &str,
) -> Result<(Runbook, Context, crate::tui::app::Resume)> {
    let state_dir = state_dir.context("no state directory (set STEPGUARD_STATE_DIR)")?;
    let session = SessionDir::open(state_dir, id)?;
    let snapshot: crate::tui::persist::Snapshot = session
        .read_snapshot()
        .with_context(|| format!("session {id}: cannot read its snapshot"))?;
    let runbook = runbook::load_file(&snapshot.runbook_path).map_err(|e| match e {
        LoadError::Io { .. } => anyhow::anyhow!("session {id}: {e}"),
        e => CliError::Invalid(e).into(),
    })?;
    let ctx = Context {
        vars: snapshot.vars.clone(),
        alert: snapshot.alert.clone(),
        state: if snapshot.has_state {
            session.read_state().map(|s| Arc::new(s.into()))
        } else {
            None
        },
    };
    Ok((runbook, ctx, crate::tui::app::Resume { session, snapshot }))
}

fn sessions(json: bool) -> Result<u8> {
    let dir = crate::paths::state_dir().context("no state directory (set STEPGUARD_STATE_DIR)")?;
    let list = list_sessions(&dir);
    if json {
        println!("{}", crate::sanitize::to_json_pretty(&list)?);
        return Ok(EXIT_OK);
    }
    if list.is_empty() {
        println!("no sessions in {}", SessionDir::root(&dir).display());
        return Ok(EXIT_OK);
    }
    println!(
        "{:<9} {:<36} {:>7} {:<10} {:<16}",
        "ID", "RUNBOOK", "STEP", "STATUS", "UPDATED"
    );
    let now = crate::session::now_ms();
    for s in list {
        let ago = now.saturating_sub(s.updated_ms) / 1000;
        let ago = match ago {
            0..60 => format!("{ago}s ago"),
            60..3600 => format!("{}m ago", ago / 60),
            3600..86400 => format!("{}h ago", ago / 3600),
            _ => format!("{}d ago", ago / 86400),
        };
        println!(
            "{:<9} {:<36} {:>7} {:<10} {:<16}",
            s.id,
            sanitize_line(&s.runbook_id, 36),
            format!("{}/{}", s.step, s.steps),
            sanitize_line(&s.status, 10),
            ago
        );
    }
    Ok(EXIT_OK)
}

fn audit_verify(id: &str) -> Result<u8> {
    let dir = crate::paths::state_dir().context("no state directory (set STEPGUARD_STATE_DIR)")?;
    let session = SessionDir::open(&dir, id)?;
    let head = session
        .read_snapshot::<crate::tui::persist::Snapshot>()
        .ok()
        .map(|s| s.audit_head);
    match crate::session::verify(&session.audit_path(), head.as_ref()) {
        Ok(h) => {
            println!(
                "ok: {} events, chain intact (head {})",
                h.seq,
                &h.hash[..h.hash.len().min(16)]
            );
            Ok(EXIT_OK)
        }
        Err(e) => {
            println!("tampered: {e}");
            Ok(EXIT_FAILED)
        }
    }
}

fn load_catalog(dirs: &[PathBuf]) -> Result<Vec<Runbook>> {
    if dirs.is_empty() {
        return Ok(Vec::new());
    }
    runbook::load_paths(dirs).map_err(|e| match e {
        LoadError::Io { .. } => anyhow::anyhow!(e),
        e => CliError::Invalid(e).into(),
    })
}

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

fn check(paths: &[PathBuf]) -> Result<u8> {
    if paths.is_empty() {
        bail!("no runbook directory found (pass PATH or --runbooks DIR)");
    }
    for p in paths {
        if !p.exists() {
            bail!("{}: no such file or directory", p.display());
        }
    }
    match runbook::load_paths(paths) {
        Ok(list) => {
            let steps: usize = list.iter().map(|r| r.steps.len()).sum();
            println!("ok: {} runbooks, {} steps", list.len(), steps);
            Ok(EXIT_OK)
        }
        Err(LoadError::Io { path, source }) => bail!("{}: {source}", path.display()),
        Err(e) => Err(CliError::Invalid(e).into()),
    }
}

fn guard(words: &[String], json: bool) -> u8 {
    let line = match words {
        [one] => one.clone(),
        many => shlex::try_join(many.iter().map(String::as_str)).unwrap_or_else(|_| many.join(" ")),
    };
    let decision = crate::exec::guard_to_run(&line);
    if json {
        println!(
            "{}",
            crate::sanitize::to_json(&decision).expect("decision serializes")
        );
    } else {
        println!("{}", sanitize_line(&decision.reason, 1_000));
    }
    if decision.allowed {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
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

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_state(args: &ContextArgs) -> Result<Option<Arc<PastedState>>> {
    Ok(match &args.state {
        None => None,
        Some(p) if p.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the state from stdin")?;
            Some(Arc::new(text.into()))
        }
        Some(p) => Some(Arc::new(read_text(p)?.into())),
    })
}

fn load_context(args: &ContextArgs, runbook: &Runbook) -> Result<Context> {
    let state = read_state(args)?;
    let alert = match &args.alert {
        None => None,
        Some(p) => {
            let alerts = Alerts::parse(&read_text(p)?).with_context(|| p.display().to_string())?;
            alerts.pick(&runbook.alerts).cloned()
        }
    };
    Ok(Context {
        vars: args.vars.iter().cloned().collect::<BTreeMap<_, _>>(),
        alert,
        state,
    })
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    // Valid UTF-8 (the usual case) becomes the String without a copy.
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn draft(dirs: &[PathBuf], args: DraftArgs) -> Result<u8> {
    let runbook = find_runbook(dirs, &args.runbook)?;
    let (index, _) = runbook.find_step(&args.step).with_context(|| {
        format!(
            "runbook '{}' has no step '{}' (ids: {})",
            runbook.id,
            args.step,
            runbook
                .steps
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let ctx = load_context(&args.context, &runbook)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let cfg = model_config(args.offline, args.model.clone())?;
    let mut card = match Drafter::from_config(&cfg) {
        Err(_offline) => compose(&runbook, index, &ctx, None),
        Ok(drafter) => {
            let job = DraftJob {
                runbook: runbook.clone(),
                step_index: index,
                ctx: ctx.clone(),
                history: Vec::new(),
                hint: None,
                fresh: false,
            };
            match runtime.block_on(drafter.draft(&job, None, None)) {
                Ok(outcome) => compose(&runbook, index, &ctx, Some(&outcome)),
                Err(e) => {
                    let why = format!(
                        "model unavailable ({e}): drafted offline from the runbook's templates"
                    );
                    eprintln!("stepguard: {}", sanitize_line(&why, 500));
                    let mut card = compose(&runbook, index, &ctx, None);
                    card.flags.insert(0, why);
                    card
                }
            }
        }
    };
    card.flags
        .iter_mut()
        .for_each(|f| *f = sanitize_line(f, 1_000).into_owned());
    if !args.preflight {
        if args.json {
            println!("{}", crate::sanitize::to_json_pretty(&card)?);
        } else {
            print!("{}", card.to_text());
        }
        return Ok(EXIT_OK);
    }
    if !args.json {
        print!("{}", card.to_text());
    }
    let result = run_preflight(&runtime, &card, !args.json)?;
    if args.json {
        let out = serde_json::json!({ "card": card, "preflight_result": result });
        println!("{}", crate::sanitize::to_json_pretty(&out)?);
    }
    let stopped = result
        .get("verdict")
        .and_then(|v| v.as_str())
        .is_none_or(|v| v == "STOP");
    Ok(if stopped { EXIT_FAILED } else { EXIT_OK })
}

/// Run a card's pre-flight, streaming its output when `stream` is set.
fn run_preflight(
    runtime: &tokio::runtime::Runtime,
    card: &Card,
    stream: bool,
) -> Result<serde_json::Value> {
    let Some(card_check) = card.preflight.as_ref() else {
        if stream {
            println!("\nno pre-flight in this step");
        }
        return Ok(serde_json::json!({ "verdict": null, "reason": "no pre-flight in this step" }));
    };
    if !card_check.missing.is_empty() {
        let reason = format!("not run: missing values: {}", card_check.missing.join(", "));
        if stream {
            println!("\nVERDICT STOP — {reason}");
        }
        return Ok(serde_json::json!({ "verdict": "STOP", "reason": reason }));
    }
    let predicates = Predicates::new(
        card_check.proceed_if.as_deref(),
        card_check.stop_if.as_deref(),
    )?;
    let request = RunRequest {
        command: card_check.command.clone(),
        timeout: std::time::Duration::from_millis(card_check.timeout_ms),
        limits: OutputLimits::default(),
        predicates: predicates.clone(),
    };
    let outcome = runtime.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let printer = tokio::spawn(async move {
            let stdout = std::io::stdout();
            while let Some(RunEvent::Line { text, .. }) = rx.recv().await {
                if stream {
                    let _ = writeln!(stdout.lock(), "  │ {}", sanitize_line(&text, 500));
                }
            }
        });
        if stream {
            println!("\nOUTPUT  $ {}", sanitize_line(&request.command, 2_000));
        }
        let outcome = exec::run(request, Some(tx), None).await;
        let _ = printer.await;
        outcome
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(exec::RunError::Refused(reason)) => {
            if stream {
                println!(
                    "\nVERDICT STOP — refused by the guard: {}",
                    sanitize_line(&reason, 500)
                );
            }
            return Ok(
                serde_json::json!({ "verdict": "STOP", "reason": format!("refused by the guard: {reason}") }),
            );
        }
        Err(exec::RunError::Sandbox(e)) => {
            if stream {
                println!(
                    "\nVERDICT STOP — not run: {}",
                    sanitize_line(&e.to_string(), 500)
                );
            }
            return Ok(serde_json::json!({ "verdict": "STOP", "reason": format!("not run: {e}") }));
        }
        Err(e) => return Err(e.into()),
    };
    let judgement = judge(&outcome, &predicates);
    if stream {
        if outcome.output.truncated() {
            println!(
                "  ({} earlier lines not kept)",
                outcome.output.dropped_lines
            );
        }
        println!(
            "\nVERDICT {} — {} ({} ms)",
            judgement.verdict,
            sanitize_line(&judgement.reason, 500),
            outcome.duration.as_millis()
        );
        println!("sandbox: {}", outcome.sandbox.describe());
    }
    Ok(serde_json::json!({
        "verdict": judgement.verdict,
        "reason": judgement.reason,
        "exit_code": outcome.exit_code,
        "timed_out": outcome.timed_out,
        "duration_ms": outcome.duration.as_millis() as u64,
        "dropped_lines": outcome.output.dropped_lines,
        "sandbox": outcome.sandbox,
        "output": outcome.output.lines.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(),
    }))
}

fn doctor(runbook_dirs: Vec<PathBuf>) -> Result<u8> {
    use crate::doctor::{examine, to_text, Inputs, Level};
    let inputs = Inputs {
        sandbox: config_file()?.sandbox_policy(),
        model: model_config(false, None)?,
        state_dir: crate::paths::state_dir(),
        runbook_dirs,
        clipboard: crate::tui::clipboard::Method::detect().label(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let findings = runtime.block_on(examine(&inputs));
    print!("{}", to_text(&findings));
    let failed = findings.iter().any(|f| f.level == Level::Fail);
    Ok(if failed { EXIT_FAILED } else { EXIT_OK })
}

/// The config file, or the defaults without one.
fn config_file() -> Result<crate::config::ConfigFile> {
    match crate::paths::config_path() {
        Some(path) => Ok(crate::config::read_file(&path)?),
        None => Ok(Default::default()),
    }
}

/// The escalation rules from the config file (defaults without one).
fn policy_config() -> Result<crate::policy::PolicyConfig> {
    Ok(config_file()?.policy)
}

/// The model settings: config file, then environment, then flags.
fn model_config(offline: bool, model: Option<String>) -> Result<ModelConfig> {
    let path = crate::paths::config_path();
    let mut cfg = ModelConfig::load(path.as_deref())?;
    if let Some(m) = model {
        cfg.model = m;
    }
    cfg.offline = offline;
    Ok(cfg)
}

fn rules(command: RulesCommand) -> Result<u8> {
    use crate::standing;
    let store = standing::RuleStore::default_store().map_err(|e| anyhow::anyhow!(e))?;
    let now = standing::now();
    match command {
        RulesCommand::Add {
            form,
            reason,
            max_uses,
            expires,
        } => {
            let (program, args) = form.split_first().expect("clap requires PROGRAM");
            let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            match standing::add(
                &store,
                program,
                args,
                max_uses,
                expires.as_deref(),
                &reason,
                &user,
                now,
            ) {
                Ok(rule) => {
                    println!(
                        "added standing rule {}: {}",
                        rule.id,
                        sanitize_line(&rule.form(), 500)
                    );
                    Ok(EXIT_OK)
                }
                Err(e) => {
                    eprintln!("stepguard: {}", sanitize_line(&e, 500));
                    Ok(EXIT_FAILED)
                }
            }
        }
        RulesCommand::List { json } => {
            let list = store.list().map_err(|e| anyhow::anyhow!(e))?;
            if json {
                println!(
                    "{}",
                    crate::sanitize::escape_json(&standing::list_json(&list, now))
                );
            } else {
                print!(
                    "{}",
                    crate::sanitize::sanitize_text(&standing::list_text(&list, now))
                );
            }
            Ok(EXIT_OK)
        }
        RulesCommand::Revoke { id } => match standing::revoke(&store, &id, now) {
            Ok(rule) => {
                println!("revoked standing rule {}", rule.id);
                Ok(EXIT_OK)
            }
            Err(e) => {
                eprintln!("stepguard: {}", sanitize_line(&e, 500));
                Ok(EXIT_FAILED)
            }
        },
    }
}

fn state_dir_or_fail() -> Result<PathBuf> {
    crate::paths::state_dir().context("no state directory (set STEPGUARD_STATE_DIR)")
}

fn report(id: &str, format: &str, output: Option<&Path>) -> Result<u8> {
    let dir = state_dir_or_fail()?;
    let session = SessionDir::open(&dir, id)?;
    let events = crate::session::audit::read_events(&session.audit_path())
        .with_context(|| format!("session {id}: cannot read its audit log"))?;
    // A report of a tampered log would put edited history into a postmortem.
    let head = session
        .read_snapshot::<crate::tui::persist::Snapshot>()
        .ok()
        .map(|s| s.audit_head);
    if let Err(e) = crate::session::verify(&session.audit_path(), head.as_ref()) {
        eprintln!("stepguard: the audit log does not verify: {e}");
        return Ok(EXIT_FAILED);
    }
    let report = crate::report::build(id, &events);
    let text = match format {
        "json" => report.to_json()?,
        _ => crate::sanitize::sanitize_text(&report.to_markdown()),
    };
    match output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("{}: cannot write", path.display()))?,
        None => print!("{text}"),
    }
    Ok(EXIT_OK)
}

fn stats(json: bool, screen: bool) -> Result<u8> {
    let dir = state_dir_or_fail()?;
    let stats = crate::stats::compute(&crate::stats::load_all(&dir));
    if screen {
        crate::tui::stats_screen::show(&stats)?;
    } else if json {
        println!("{}", stats.to_json()?);
    } else {
        print!("{}", crate::sanitize::sanitize_text(&stats.to_text()));
    }
    Ok(EXIT_OK)
}

fn fetch_alertmanager(url: &str) -> Result<Alerts> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(crate::draft::alertmanager::fetch(url))
        .map_err(|e| anyhow::anyhow!("alertmanager: {e}"))
}

fn match_runbooks(
    dirs: &[PathBuf],
    text: Option<String>,
    alert: Option<PathBuf>,
    alertmanager: Option<String>,
    json: bool,
    threshold: f64,
) -> Result<u8> {
    let catalog = load_catalog(dirs)?;
    let matcher = crate::matching::Matcher::new(&catalog);
    let queries: Vec<(String, crate::matching::Query)> = match (text, alert, alertmanager) {
        (Some(text), _, _) => vec![(String::new(), crate::matching::query_from_text(&text))],
        (_, Some(path), _) => {
            let alerts =
                Alerts::parse(&read_text(&path)?).with_context(|| path.display().to_string())?;
            alerts
                .0
                .iter()
                .map(|a| {
                    (
                        a.name().unwrap_or("").to_string(),
                        crate::matching::query_from_alert(a),
                    )
                })
                .collect()
        }
        (_, _, Some(url)) => {
            let alerts = fetch_alertmanager(&url)?;
            alerts
                .0
                .iter()
                .filter(|a| a.firing)
                .map(|a| {
                    (
                        a.name().unwrap_or("").to_string(),
                        crate::matching::query_from_alert(a),
                    )
                })
                .collect()
        }
        _ => bail!("give TEXT, --alert FILE or --alertmanager URL"),
    };
    if queries.is_empty() {
        bail!("no firing alerts");
    }
    // Several alerts: the one whose best runbook is most certain leads.
    let mut ranked: Vec<(String, Vec<crate::matching::Match>)> = queries
        .into_iter()
        .map(|(name, q)| (name, matcher.rank(&q)))
        .collect();
    ranked.sort_by(|a, b| {
        let top = |m: &Vec<crate::matching::Match>| m.first().map_or(0.0, |m| m.confidence);
        top(&b.1).total_cmp(&top(&a.1))
    });
    let (_, matches) = &ranked[0];
    let top: Vec<crate::matching::Match> = matches.iter().take(10).cloned().collect();
    let matched = top.first().is_some_and(|m| m.confidence >= threshold);
    if json {
        println!(
            "{}",
            crate::sanitize::to_json_pretty(&crate::matching::match_json(&top, threshold))?
        );
    } else {
        if !matched {
            println!("no runbook matches with confidence ≥ {threshold:.2}: escalate");
        }
        for m in top.iter().take(5) {
            println!(
                "{:.2}  {:<36} {}  ({})",
                m.confidence,
                sanitize_line(&m.id, 36),
                sanitize_line(&m.title, 60),
                sanitize_line(&m.why, 60)
            );
        }
    }
    Ok(if matched { EXIT_OK } else { EXIT_FAILED })
}

fn eval(dirs: &[PathBuf], dir: &Path, json: bool, threshold: f64) -> Result<u8> {
    let catalog = load_catalog(dirs)?;
    let report = crate::eval::run_eval(dir, &catalog, threshold).map_err(|e| anyhow::anyhow!(e))?;
    if json {
        println!("{}", crate::sanitize::to_json_pretty(&report)?);
    } else {
        print!("{}", crate::sanitize::sanitize_text(&report.to_text()));
    }
    Ok(if report.failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

fn import(file: &Path) -> Result<u8> {
    let src = read_text(file)?;
    let runbook = runbook::markdown::parse_markdown(&src, file).map_err(|e| match e {
        LoadError::Io { .. } => anyhow::anyhow!(e),
        e => CliError::Invalid(e).into(),
    })?;
    print!("{}", runbook::markdown::to_yaml(&runbook));
    Ok(EXIT_OK)
}
