//! The subcommands, one module each (SPEC §4), over the library as
//! `stepguard::…`. Errors are `anyhow` here and nowhere in the library.

mod approvals;
mod check;
mod doctor;
mod draft;
pub mod inputs;
mod rules;
mod run;
mod sessions;
mod team;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use stepguard::runbook::LoadError;

use self::draft::DraftArgs;
use self::rules::RulesCommand;
use self::run::RunArgs;
use self::sessions::{AuditCommand, SessionsCommand};
use crate::{Runtime, EXIT_OK};

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
    pub runbooks: Vec<PathBuf>,
    /// Refuse every runbook when one in the directories is broken (by
    /// default a broken runbook is skipped with a warning; `check` fails on it).
    #[arg(long, global = true)]
    pub strict: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
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
    /// The team database (PostgreSQL): `init` applies the schema, `status` says who you are.
    Team {
        #[command(subcommand)]
        command: team::TeamCommand,
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
        #[arg(long, default_value_t = stepguard::matching::DEFAULT_THRESHOLD)]
        threshold: f64,
        /// Ask the configured model which of the five best fits; its answer
        /// must be one of them, else the ranking stands.
        #[arg(long)]
        rerank: bool,
    },
    /// Convert a Markdown runbook to YAML on stdout.
    Import { file: PathBuf },
    /// Score matching and escalation on scenario files.
    Eval {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
        /// Print each scenario's lexical features instead, one JSON object a
        /// line (what `scripts/fit-matcher.py` fits the matcher's weights on).
        #[arg(long, conflicts_with = "json")]
        features: bool,
        #[arg(long, default_value_t = stepguard::matching::DEFAULT_THRESHOLD)]
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
        /// The team's approvals, from the team database: pending, latency,
        /// auto-approval rate, health, rubber-stamping.
        #[arg(long, conflicts_with = "screen")]
        team: bool,
        /// With --team: the window, in days.
        #[arg(long, default_value_t = 7, requires = "team")]
        days: i32,
    },
    /// Approval requests waiting for a decision, oldest first (full screen
    /// on a terminal; Enter shows the whole request).
    Approvals {
        #[arg(long)]
        json: bool,
        /// Print the list instead of the screen.
        #[arg(long)]
        list: bool,
    },
    /// Approve a request, as the database role you connect as (never the
    /// one who asked).
    Approve {
        /// The 8-character id the walk shows.
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
        /// Without a terminal: the request's digest as printed (`request
        /// sha256`, 8 characters at least), so what is approved is what was read.
        #[arg(long, value_name = "DIGEST")]
        seen: Option<String>,
    },
    /// Reject a request: the walk halts with your reason, and later cards
    /// and drafts of that step show it.
    Reject {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// List saved sessions, newest first, with any damage named.
    Sessions {
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        command: Option<SessionsCommand>,
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

/// How steps are drafted (`run` and `draft`).
#[derive(Args, Debug)]
pub struct ModelArgs {
    /// Never call a model: steps render from the runbook's own templates.
    #[arg(long)]
    pub offline: bool,
    /// The model to draft with (overrides STEPGUARD_MODEL and the config file).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
}

#[derive(Args, Debug)]
pub struct ContextArgs {
    /// Pasted cluster state from a file, or - for stdin.
    #[arg(long, value_name = "FILE|-")]
    pub state: Option<PathBuf>,
    /// Keep a state that looks binary or is over 16 MiB without asking
    /// (`run` asks on the terminal; `draft` refuses without this).
    #[arg(long, requires = "state")]
    pub state_anyway: bool,
    /// A known value (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub vars: Vec<(String, String)>,
    /// An Alertmanager webhook payload or /api/v2/alerts list (JSON).
    #[arg(long, value_name = "FILE")]
    pub alert: Option<PathBuf>,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got '{s}'")),
    }
}

/// Errors at the edge: usage/environment (exit 2) vs a failed check (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Invalid(LoadError),
}

pub fn dispatch(cli: Cli, runtime: &mut Runtime) -> Result<u8> {
    let dirs = inputs::runbook_dirs(&cli.runbooks);
    let _ = inputs::STRICT.set(cli.strict);
    match cli.command {
        None => run::tui(runtime, &dirs, None),
        Some(Command::Run(args)) => run::tui(runtime, &dirs, Some(args)),
        Some(Command::Check { paths }) => {
            check::check(if paths.is_empty() { &dirs } else { &paths })
        }
        Some(Command::Guard { json, command }) => Ok(check::guard(&command, json)),
        Some(Command::Draft(args)) => draft::draft(runtime, &dirs, args),
        Some(Command::Sessions {
            command: Some(SessionsCommand::Repair { id, local }),
            ..
        }) => sessions::repair(runtime, &id, local),
        Some(Command::Sessions { json, .. }) => sessions::sessions(json),
        Some(Command::Match {
            text,
            alert,
            alertmanager,
            json,
            threshold,
            rerank,
        }) => check::match_runbooks(
            runtime,
            &dirs,
            check::MatchArgs {
                text,
                alert,
                alertmanager,
                json,
                threshold,
                rerank,
            },
        ),
        Some(Command::Eval {
            dir,
            json,
            features,
            threshold,
        }) => check::eval(&dirs, &dir, json, features, threshold),
        Some(Command::Import { file }) => check::import(&file),
        Some(Command::Report { id, format, output }) => {
            sessions::report(&id, &format, output.as_deref())
        }
        Some(Command::Stats {
            json,
            team: true,
            days,
            ..
        }) => team::stats(runtime, json, days),
        Some(Command::Stats { json, screen, .. }) => sessions::stats(json, screen),
        Some(Command::Approvals { json, list }) => approvals::approvals(runtime, json, list),
        Some(Command::Approve { id, reason, seen }) => approvals::decide(
            runtime,
            &id,
            stepguard::team::approval::Decide::Approve,
            &reason,
            seen.as_deref(),
        ),
        Some(Command::Reject { id, reason }) => approvals::decide(
            runtime,
            &id,
            stepguard::team::approval::Decide::Reject,
            &reason,
            None,
        ),
        Some(Command::Rules { command }) => rules::rules(command),
        Some(Command::Team { command }) => team::team(runtime, command),
        Some(Command::Reap {
            pgid,
            parent,
            scratch,
        }) => {
            stepguard::exec::reap(pgid, parent, scratch.as_deref());
            Ok(EXIT_OK)
        }
        Some(Command::Audit {
            command: AuditCommand::Verify { id, team: true },
        }) => team::audit_verify(runtime, &id),
        Some(Command::Audit {
            command: AuditCommand::Verify { id, .. },
        }) => sessions::audit_verify(&id),
        Some(Command::Doctor) => doctor::doctor(runtime, dirs),
    }
}
