//! Saved sessions: `sessions`, `audit verify`, `report`, and `stats` across
//! them.

use std::path::Path;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use stepguard::sanitize::sanitize_line;
use stepguard::session::{audit, list_sessions, SessionDir};
use stepguard::tui::persist::Snapshot;

use super::inputs::state_dir_or_fail;
use crate::{EXIT_FAILED, EXIT_OK};

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// Mend a session whose audit log lost its last lines. With a team
    /// database, the lines its copy holds come back from it, a line cut off
    /// mid-write included. Otherwise a torn last line is removed and a
    /// `repair` event records it. Any other damage is refused and left as
    /// evidence.
    Repair {
        id: String,
        /// Mend from this disk alone, without the team database's copy.
        #[arg(long)]
        local: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check a session's hash chain; exit 1 (naming the first bad line) if tampered.
    Verify {
        id: String,
        /// Also compare it with the team database's copy: a local log
        /// rewritten after shipping shows as a divergence.
        #[arg(long)]
        team: bool,
    },
}

pub fn sessions(json: bool) -> Result<u8> {
    let dir = state_dir_or_fail()?;
    let list = list_sessions(&dir).context("cannot list the sessions")?;
    if json {
        println!("{}", stepguard::sanitize::to_json_pretty(&list)?);
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
    let now = stepguard::session::now_ms();
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
        for problem in &s.problems {
            println!("{:<9} ! {}", "", sanitize_line(problem, 200));
        }
    }
    Ok(EXIT_OK)
}

pub fn repair(runtime: &mut crate::Runtime, id: &str, local: bool) -> Result<u8> {
    let dir = state_dir_or_fail()?;
    let session = SessionDir::open(&dir, id)?;
    // Not while a stepguard writes it.
    let _lock = session.lock()?;
    session.remove_stale_temp_files();
    let recorded = session
        .read_snapshot::<Snapshot>()
        .ok()
        .map(|s| s.audit_head);
    let team = if local {
        None
    } else {
        super::team::settings()?
    };
    if let Some(team) = team {
        // A line shipped is the team's record: mended from this disk alone,
        // the log would go another way than its copy, and shipping stop.
        let copy = match super::team::copy(runtime, &team, &session.id) {
            Ok(copy) => copy,
            Err(e) => {
                // The server's words are outside text: never raw to the terminal.
                let e = e.to_string();
                let e = sanitize_line(&e, 300);
                println!(
                    "session {id}: the team database's copy cannot be read ({e}); mending without it could make the log go another way than the lines already shipped: retry when it answers, or `--local` to mend from this disk alone"
                );
                return Ok(EXIT_FAILED);
            }
        };
        match audit::restore(&session.audit_path(), &session.id, recorded.as_ref(), &copy) {
            Ok(Some(r)) => {
                let torn = if r.torn_bytes > 0 {
                    format!(
                        "; line {} had been cut off mid-write ({})",
                        r.from,
                        stepguard::words::count(r.torn_bytes, "byte", "bytes")
                    )
                } else {
                    String::new()
                };
                let lines = if r.from == r.to {
                    format!("line {}", r.from)
                } else {
                    format!("lines {}–{}", r.from, r.to)
                };
                println!(
                    "session {id}: {lines} restored from the team database's copy, as shipped{torn}"
                );
                // The snapshot saw lines that neither copy kept.
                if let Some(head) = recorded.as_ref().filter(|h| h.seq > r.to) {
                    println!(
                        "session {id}: the session recorded {} lines; lines {}–{} are in neither the log nor the copy (`stepguard audit verify {id}` names them)",
                        head.seq,
                        r.to + 1,
                        head.seq
                    );
                    return Ok(EXIT_FAILED);
                }
                return Ok(EXIT_OK);
            }
            Ok(None) => {}
            // The copy and the log disagree: evidence, left as it is.
            Err(audit::RestoreError::Refused(why)) => {
                let why = sanitize_line(&why, 300);
                println!(
                    "session {id}: not repaired: the team database's copy cannot mend it ({why}); nothing was changed (`stepguard audit verify {id} --team` says where they part; `--local` mends from this disk alone)"
                );
                return Ok(EXIT_FAILED);
            }
            Err(e) => return Err(e.into()),
        }
    }
    // A line the snapshot recorded as written was not cut off by a crash
    // inside its write (the snapshot follows the sync): the log was cut.
    // Lines missing or changed below the one the snapshot recorded as the
    // last are not a crash's either.
    if let Err(e) = audit::verify(&session.audit_path(), recorded.as_ref()) {
        let recorded = recorded.map_or(0, |h| h.seq);
        if e.torn && e.line <= recorded {
            println!(
                "session {id}: not repairable: {e}; the snapshot recorded {recorded} whole lines: the log was cut, not torn by a crash"
            );
            return Ok(EXIT_FAILED);
        }
        if !e.torn {
            println!("session {id}: not repairable: {e}; nothing was changed");
            return Ok(EXIT_FAILED);
        }
    }
    match audit::repair(&session.audit_path(), stepguard::session::now_ms()) {
        Ok(None) => {
            println!("session {id}: the audit log is whole; nothing to repair");
            Ok(EXIT_OK)
        }
        Ok(Some(r)) => {
            println!(
                "session {id}: removed line {} ({}, sha256 {}), cut off mid-write; a `repair` event records it (line {})",
                r.line,
                stepguard::words::count(r.removed_bytes, "byte", "bytes"),
                &r.removed_sha256[..16],
                r.head.seq
            );
            Ok(EXIT_OK)
        }
        Err(e) => {
            println!("session {id}: {e}");
            Ok(EXIT_FAILED)
        }
    }
}

pub fn audit_verify(id: &str) -> Result<u8> {
    let dir = state_dir_or_fail()?;
    let session = SessionDir::open(&dir, id)?;
    // The snapshot records where the log ended; without it, lines cut off
    // the end cannot be told from a log that ended there.
    let head = match session.read_snapshot::<Snapshot>() {
        Ok(s) => s.audit_head,
        Err(e) => {
            println!(
                "unverified: the end of the log cannot be checked: the snapshot {} is unreadable ({e})",
                session.snapshot_path().display()
            );
            return Ok(EXIT_FAILED);
        }
    };
    match stepguard::session::verify(&session.audit_path(), Some(&head)) {
        Ok(h) => {
            println!(
                "ok: {}, chain intact (head {})",
                stepguard::words::count(h.seq, "event", "events"),
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

pub fn report(id: &str, format: &str, output: Option<&Path>) -> Result<u8> {
    let dir = state_dir_or_fail()?;
    let session = SessionDir::open(&dir, id)?;
    let events = stepguard::session::audit::read_events(&session.audit_path())
        .with_context(|| format!("session {id}: cannot read its audit log"))?;
    // A report of a tampered log would put edited history into a postmortem.
    let head = session
        .read_snapshot::<Snapshot>()
        .ok()
        .map(|s| s.audit_head);
    if let Err(e) = stepguard::session::verify(&session.audit_path(), head.as_ref()) {
        eprintln!("stepguard: the audit log does not verify: {e}");
        return Ok(EXIT_FAILED);
    }
    let report = stepguard::report::build(id, &events);
    let text = match format {
        "json" => report.to_json()?,
        _ => stepguard::sanitize::sanitize_text(&report.to_markdown()),
    };
    match output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("{}: cannot write", path.display()))?,
        None => print!("{text}"),
    }
    Ok(EXIT_OK)
}

pub fn stats(json: bool, screen: bool) -> Result<u8> {
    let dir = state_dir_or_fail()?;
    let stats = stepguard::stats::compute(&stepguard::stats::load_all(&dir));
    if screen {
        super::run::terminal_for("stats --screen needs one; without --screen stats prints text")?;
        stepguard::tui::stats_screen::show(&stats)?;
    } else if json {
        println!("{}", stats.to_json()?);
    } else {
        print!("{}", stepguard::sanitize::sanitize_text(&stats.to_text()));
    }
    Ok(EXIT_OK)
}
