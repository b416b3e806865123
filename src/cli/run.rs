//! `stepguard run` (and no subcommand): the full-screen walk, new or resumed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use stepguard::draft::Context;
use stepguard::exec;
use stepguard::llm::Drafter;
use stepguard::runbook::{LoadError, Runbook};
use stepguard::tui::app;
use stepguard::tui::recorder::RecordError;

use super::inputs::{
    config_file, fetch_alertmanager, find_runbook_in, load_catalog_noting, load_context,
    model_config, no_runbooks, policy_config, read_state, rule_store, with_rules, Doubtful,
};
use super::{CliError, ContextArgs, ModelArgs};
use crate::{Runtime, EXIT_OK};

#[derive(Args, Debug)]
pub struct RunArgs {
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
    #[command(flatten)]
    drafting: ModelArgs,
}

/// The full-screen walk: everything is loaded and validated first, so a bad
/// runbook or file fails here, before any screen is drawn.
pub fn tui(runtime: &mut Runtime, dirs: &[PathBuf], args: Option<RunArgs>) -> Result<u8> {
    let (catalog, skipped) = load_catalog_noting(dirs)?;
    let state_dir = stepguard::paths::state_dir();
    // A state directory that cannot hold sessions is named now, before the
    // screen opens, not after the first key.
    if let Some(dir) = &state_dir {
        stepguard::session::store::check_state_dir(dir).with_context(|| {
            format!(
                "the state directory cannot hold sessions (STEPGUARD_STATE_DIR={})",
                dir.display()
            )
        })?;
    }
    let mut resume = None;
    let mut alert_list = Vec::new();
    let (start, ctx) = match &args {
        Some(RunArgs {
            resume: Some(id), ..
        }) => {
            // Going on from a log that lost lines already shipped would make
            // it go another way than the team's copy of it.
            if let (Some(team), Some(dir)) = (super::team::settings()?, state_dir.as_deref()) {
                if let Ok(session) = stepguard::session::SessionDir::open(dir, id) {
                    if let Some((from, to)) =
                        super::team::lost_lines(runtime, &team, &session.id, &session.audit_path())
                    {
                        let lines = if from == to {
                            format!("line {from}")
                        } else {
                            format!("lines {from}–{to}")
                        };
                        bail!(
                            "session {id}: the team database's copy holds {lines}, which this disk lost after they were shipped; `stepguard sessions repair {id}` restores them, then resume"
                        );
                    }
                }
            }
            let (runbook, ctx, r) = load_resume(state_dir.as_deref(), id)?;
            require_terminal()?;
            resume = Some(r);
            (Some(runbook), ctx)
        }
        Some(a) if a.alertmanager.is_some() => {
            let url = a.alertmanager.as_deref().unwrap_or_default();
            let runbook = a
                .runbook
                .as_deref()
                .map(|key| find_runbook_in(&catalog, dirs, key))
                .transpose()?;
            require_terminal()?;
            let alerts = fetch_alertmanager(runtime, url)?;
            match runbook {
                // With a runbook: the alert it answers fills its values.
                Some(runbook) => {
                    let mut ctx = load_context(&a.context, &runbook, Doubtful::Ask)?;
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
                    let ctx = with_rules(Context {
                        vars: a.context.vars.iter().cloned().collect(),
                        state: read_state(&a.context, Doubtful::Ask)?,
                        ..Context::default()
                    });
                    (None, ctx)
                }
            }
        }
        Some(a) => {
            let key = a.runbook.as_deref().unwrap_or_default();
            let runbook = find_runbook_in(&catalog, dirs, key)?;
            require_terminal()?;
            let ctx = load_context(&a.context, &runbook, Doubtful::Ask)?;
            (Some(runbook), ctx)
        }
        None => {
            require_terminal()?;
            (None, Context::default())
        }
    };
    if start.is_none() && catalog.is_empty() {
        bail!("{}", no_runbooks(dirs));
    }
    let (offline, model) = args.as_ref().map_or((false, None), |a| {
        (a.drafting.offline, a.drafting.model.clone())
    });
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
    let banner = [no_sandbox, skipped, offline]
        .into_iter()
        .flatten()
        .reduce(|a, b| format!("{a} · {b}"));
    let options = app::Options {
        catalog,
        start,
        ctx,
        team: super::team::settings()?,
        banner,
        unsandboxed,
        drafter,
        state_dir,
        resume,
        policy: policy_config()?,
        alerts: alert_list,
        rules: rule_store(),
    };
    runtime.block_on(app::run(options))??;
    Ok(EXIT_OK)
}

/// The screen needs a terminal to draw on and one to read keys from:
/// stdout and stdin, or else the controlling terminal (keys come from it
/// with `--state -`). Checked after the inputs (a bad runbook is named
/// first) and before anything is asked or drawn.
fn require_terminal() -> Result<()> {
    terminal_for("run needs one; for scripts use `stepguard draft RUNBOOK --step N --json`")
}

/// [`require_terminal`] for any full-screen command; `instead` says why
/// and what to do without one.
pub(super) fn terminal_for(instead: &str) -> Result<()> {
    use std::io::IsTerminal;
    let controlling = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok();
    if !std::io::stdout().is_terminal() && !controlling {
        bail!("no terminal to draw on ({instead})");
    }
    if !std::io::stdin().is_terminal() && !controlling {
        bail!("no terminal to read keys from ({instead})");
    }
    Ok(())
}

/// A saved session: its runbook (the file, else the session's copy), its
/// context, and the snapshot brought up to its log.
fn load_resume(state_dir: Option<&Path>, id: &str) -> Result<(Runbook, Context, app::Resume)> {
    let state_dir = state_dir.context("no state directory (set STEPGUARD_STATE_DIR)")?;
    let (runbook, resume) = app::Resume::load(state_dir, id).map_err(|e| match e {
        RecordError::Runbook { error, .. } if !matches!(error, LoadError::Io { .. }) => {
            CliError::Invalid(error).into()
        }
        e => anyhow::Error::from(e),
    })?;
    let snapshot = &resume.snapshot;
    let ctx = with_rules(Context {
        vars: snapshot.vars.clone(),
        found: snapshot.found.clone(),
        alert: snapshot.alert.clone(),
        state: if snapshot.has_state {
            resume.session.read_state().map(|s| Arc::new(s.into()))
        } else {
            None
        },
        ..Context::default()
    });
    Ok((runbook, ctx, resume))
}
