//! `stepguard team`: the team database's schema and who you are to it.

use anyhow::Result;
use clap::Subcommand;
use stepguard::config::FileTeam;
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
    /// Ship every local session's audit events the database lacks, in order
    /// (a walk ships its own as it goes; this catches up after an outage),
    /// and withdraw the approval requests of sessions no walk holds.
    Sync,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|u| !u.trim().is_empty())
}

/// The team, when one is configured: `STEPGUARD_DATABASE_URL`, else the
/// config file's `team.database_url` (and the `team:` section's settings).
pub(crate) fn settings() -> Result<Option<team::Settings>> {
    let file = super::inputs::config_file()?.team;
    let Some(database_url) = env("STEPGUARD_DATABASE_URL")
        .or_else(|| file.database_url.clone().filter(|u| !u.trim().is_empty()))
    else {
        return Ok(None);
    };
    Ok(Some(team::Settings {
        database_url,
        tls: team::Tls {
            ca_file: FileTeam::path(&file.ca_file),
            client_cert: FileTeam::path(&file.client_cert),
            client_key: FileTeam::path(&file.client_key),
        },
        approval_seconds: file.approval_seconds(),
        webhook_url: env("STEPGUARD_WEBHOOK_URL").or(file.webhook_url.clone()),
    }))
}

/// The team database's copy of one session's log.
pub(crate) fn copy(
    runtime: &mut Runtime,
    team: &team::Settings,
    session: &str,
) -> Result<Vec<stepguard::session::audit::Line>, TeamError> {
    let ask = async {
        let client = team::connect(team).await?;
        team::ship::copy(&client, session).await
    };
    runtime
        .block_on(async { tokio::time::timeout(ASK_TEAM, ask).await })
        .map_err(|e| TeamError::Db(e.to_string()))?
        .map_err(|_| TeamError::Db(format!("no answer in {} s", ASK_TEAM.as_secs())))?
}

/// How long a command that cannot go on without the team's copy waits for it.
const ASK_TEAM: std::time::Duration = std::time::Duration::from_secs(15);

/// The lines the team database has of a session past the local log's
/// last whole line, if any. Asked briefly: a database that does not
/// answer in time is left to the shipper, which reports it.
pub(crate) fn lost_lines(
    runtime: &mut Runtime,
    team: &team::Settings,
    session: &str,
    log: &std::path::Path,
) -> Option<(u64, u64)> {
    let local = match stepguard::session::audit::read_lines(log, 0) {
        Ok(lines) => lines.len() as u64,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(_) => return None,
    };
    let shipped = runtime
        .block_on(async {
            let ask = async {
                let client = team::connect(team).await?;
                team::ship::shipped(&client, session).await
            };
            tokio::time::timeout(std::time::Duration::from_secs(3), ask).await
        })
        .ok()?
        .ok()?
        .ok()?;
    (shipped > local).then_some((local + 1, shipped))
}

fn database_url() -> Result<team::Settings> {
    settings()?.ok_or_else(|| TeamError::NotConfigured.into())
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
            TeamCommand::Sync => {
                let dir = super::inputs::state_dir_or_fail()?;
                let mut shipped = 0u64;
                let mut failed = 0u64;
                let mut withdrawn = 0u64;
                for summary in stepguard::session::list_sessions(&dir)? {
                    let session = stepguard::session::SessionDir::open(&dir, &summary.id)?;
                    let (events, voided, ok) = sync_session(&client, &session).await;
                    shipped += events;
                    withdrawn += voided;
                    failed += u64::from(!ok);
                }
                println!(
                    "shipped {}{}{}",
                    stepguard::words::count(shipped, "audit event", "audit events"),
                    match withdrawn {
                        0 => String::new(),
                        1 =>
                            "; withdrew 1 approval request left by a walk that is gone".to_string(),
                        n =>
                            format!("; withdrew {n} approval requests left by walks that are gone"),
                    },
                    if failed > 0 {
                        format!(
                            "; {} failed",
                            stepguard::words::count(failed, "session", "sessions")
                        )
                    } else {
                        String::new()
                    }
                );
                Ok(if failed == 0 { EXIT_OK } else { EXIT_FAILED })
            }
            TeamCommand::Status { json } => {
                let s = team::status(&client, &url).await?;
                if json {
                    println!("{}", stepguard::sanitize::to_json_pretty(&s)?);
                } else {
                    println!(
                        "connected: database {} on PostgreSQL {} ({})",
                        sanitize_line(&s.database, 80),
                        sanitize_line(&s.server_version, 40),
                        if s.tls { "TLS" } else { "unencrypted" }
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

/// `stats --team`: the team's approvals, judged by the config's thresholds.
pub fn stats(runtime: &mut Runtime, json: bool, days: i32) -> Result<u8> {
    let url = database_url()?;
    let thresholds = super::inputs::config_file()?.team.health;
    runtime.block_on(async move {
        let client = team::connect(&url).await?;
        let report = team::stats::assess(
            team::stats::gather(&client, days.clamp(1, 3650)).await?,
            &thresholds,
        );
        if json {
            println!("{}", stepguard::sanitize::to_json_pretty(&report)?);
            return Ok(EXIT_OK);
        }
        let c = &report.counts;
        let pct = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0));
        let secs = |s: Option<f64>| s.map_or("-".to_string(), |s| format!("{s:.0} s"));
        println!("team approvals, last {} days", c.days);
        println!(
            "health: {}{}",
            match report.health {
                team::stats::Health::Green => "green",
                team::stats::Health::Yellow => "yellow",
                team::stats::Health::Red => "red",
            },
            if report.why.is_empty() {
                String::new()
            } else {
                format!(" ({})", report.why.join("; "))
            }
        );
        println!("pending now: {}", c.pending);
        println!(
            "filed {} · approved {} · rejected {} · expired {} · voided {}",
            c.filed, c.approved, c.rejected, c.expired, c.voided
        );
        println!(
            "decision latency: P50 {} · P95 {}",
            secs(c.latency_p50_s),
            secs(c.latency_p95_s)
        );
        println!(
            "rejection rate {} · expiry rate {} · auto-approval rate {} ({} steps proceeded)",
            pct(report.rejection_rate),
            pct(report.expiry_rate),
            pct(report.auto_approval_rate),
            c.proceeded
        );
        for flag in &report.rubber_stamping {
            println!("rubber-stamping? {flag}");
        }
        Ok(EXIT_OK)
    })?
}

/// `team sync` of one session: its requests withdrawn when no walk holds
/// it (one a walk holds withdraws its own), then the lines the database
/// lacks shipped. The events shipped, the requests voided, and whether all
/// went well (what did not is printed; the next sync tries again).
async fn sync_session(
    client: &tokio_postgres::Client,
    session: &stepguard::session::SessionDir,
) -> (u64, u64, bool) {
    let id = &session.id;
    let (mut voided, mut ok) = (0, true);
    if let Ok(_lock) = session.lock() {
        let now = stepguard::session::now_ms();
        let recorded = session
            .read_snapshot::<stepguard::tui::persist::Snapshot>()
            .ok()
            .map(|s| s.audit_head);
        let log = session.audit_path();
        let withdraw = team::ship::withdraw_gone(client, id, &log, recorded.as_ref(), now);
        // The lock keeps a resume out meanwhile: never for long.
        match tokio::time::timeout(std::time::Duration::from_secs(10), withdraw).await {
            Ok(Ok((n, left))) => {
                voided = n;
                for why in &left {
                    ok = false;
                    eprintln!(
                        "stepguard: session {id}: not withdrawn: {}",
                        sanitize_line(why, 200)
                    );
                }
            }
            Ok(Err(why)) => {
                ok = false;
                eprintln!("stepguard: session {id}: {}", sanitize_line(&why, 300));
            }
            Err(_) => {
                ok = false;
                eprintln!(
                    "stepguard: session {id}: requests not withdrawn: the team database did not answer in 10 s"
                );
            }
        }
    }
    let shipped = async {
        let before = team::ship::shipped(client, id).await?;
        let after = team::ship::ship(client, id, &session.audit_path()).await?;
        Ok::<_, TeamError>(after.saturating_sub(before))
    };
    match shipped.await {
        Ok(n) => (n, voided, ok),
        Err(e) => {
            eprintln!(
                "stepguard: session {id}: {}",
                sanitize_line(&e.to_string(), 300)
            );
            (0, voided, false)
        }
    }
}

/// `audit verify ID --team`: the local chain, then the team's copy of it.
pub fn audit_verify(runtime: &mut Runtime, id: &str) -> Result<u8> {
    let url = database_url()?;
    let local_ok = super::sessions::audit_verify(id)? == EXIT_OK;
    let dir = super::inputs::state_dir_or_fail()?;
    let session = stepguard::session::SessionDir::open(&dir, id)?;
    let local = stepguard::session::audit::read_lines(&session.audit_path(), 0)?;
    let id = session.id.clone();
    runtime.block_on(async move {
        let client = team::connect(&url).await?;
        let copy = team::ship::copy(&client, &id).await?;
        let compared = team::ship::compare(&local, &copy);
        match &compared.divergence {
            Some((line, why)) => {
                println!("diverged at line {line}: {why}");
                Ok(EXIT_FAILED)
            }
            None if compared.team == 0 && compared.local > 0 => {
                println!("the team database has no line of session {id} yet (`stepguard team sync` ships them)");
                Ok(EXIT_FAILED)
            }
            None => {
                println!(
                    "team copy: {} match the local log{}",
                    stepguard::words::count(compared.team, "line", "lines"),
                    if compared.unshipped > 0 {
                        format!(
                            "; {} not shipped yet (stepguard team sync ships them)",
                            compared.unshipped
                        )
                    } else {
                        String::new()
                    }
                );
                // A copy still missing lines is not yet the team's record.
                Ok(if local_ok && compared.unshipped == 0 {
                    EXIT_OK
                } else {
                    EXIT_FAILED
                })
            }
        }
    })?
}
