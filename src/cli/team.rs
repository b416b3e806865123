//! `stepguard team`: the team database's schema and who you are to it.

use anyhow::Result;
use clap::Subcommand;
use stepguard::sanitize::sanitize_line;
use stepguard::team::{self, TeamError};

use crate::{Runtime, EXIT_FAILED, EXIT_OK};

#[derive(Subcommand, Debug)]
pub enum TeamCommand {
    /// Apply the schema's migrations the database lacks (each once, in order).
    Init,
    /// The connection, the schema version, and the role you connect as.
    Status {
        #[arg(long)]
        json: bool,
    },
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|u| !u.trim().is_empty())
}

/// The team, when one is configured: `STEPGUARD_DATABASE_URL`, else the
/// config file's `team.database_url` (and the `team:` section's settings).
pub(crate) fn settings() -> Result<Option<team::Settings>> {
    let file = super::inputs::config_file()?.team;
    let Some(database_url) = env("STEPGUARD_DATABASE_URL").or_else(|| {
        file.database_url
            .clone()
            .filter(|u| !u.trim().is_empty())
    }) else {
        return Ok(None);
    };
    Ok(Some(team::Settings {
        database_url,
        approval_seconds: file.approval_seconds(),
        webhook_url: env("STEPGUARD_WEBHOOK_URL").or(file.webhook_url.clone()),
    }))
}

fn database_url() -> Result<String> {
    settings()?
        .map(|s| s.database_url)
        .ok_or_else(|| TeamError::NotConfigured.into())
}

pub fn team(runtime: &mut Runtime, command: TeamCommand) -> Result<u8> {
    let url = database_url()?;
    runtime.block_on(async move {
        let mut client = team::connect(&url).await?;
        match command {
            TeamCommand::Init => {
                let (before, applied) = team::init(&mut client).await?;
                match applied.as_slice() {
                    [] => println!("schema version {before}: up to date"),
                    _ => println!(
                        "schema version {before} → {} (applied {})",
                        applied.last().copied().unwrap_or(before),
                        applied
                            .iter()
                            .map(|v| format!("{v:03}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
                Ok(EXIT_OK)
            }
            TeamCommand::Status { json } => {
                let s = team::status(&client).await?;
                if json {
                    println!("{}", stepguard::sanitize::to_json_pretty(&s)?);
                } else {
                    println!(
                        "connected: database {} on PostgreSQL {}",
                        sanitize_line(&s.database, 80),
                        sanitize_line(&s.server_version, 40)
                    );
                    println!("you are: {}", sanitize_line(&s.role, 80));
                    println!(
                        "schema: version {} of {}{}",
                        s.schema_version,
                        s.latest,
                        if s.schema_version < s.latest {
                            " (stepguard team init applies the rest)"
                        } else {
                            ""
                        }
                    );
                }
                Ok(if s.schema_version == s.latest {
                    EXIT_OK
                } else {
                    EXIT_FAILED
                })
            }
        }
    })?
}
