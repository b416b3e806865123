//! The approver's side: `approvals` (what waits, oldest first), `approve ID`
//! and `reject ID --reason`, each as the database role you connect as.

use anyhow::{bail, Result};
use stepguard::sanitize::sanitize_line;
use stepguard::team::approval::{self, describe, left, Decide, State};
use stepguard::team::{self, TeamError};

use crate::{Runtime, EXIT_FAILED, EXIT_OK};

fn url() -> Result<team::Settings> {
    super::team::settings()?.ok_or_else(|| TeamError::NotConfigured.into())
}

/// `approvals`: full screen on a terminal, else (or with `--json`) printed.
pub fn approvals(runtime: &mut Runtime, json: bool, list: bool) -> Result<u8> {
    let url = url()?;
    use std::io::IsTerminal;
    if !json && !list && std::io::stdout().is_terminal() {
        runtime.block_on(stepguard::tui::approvals_screen::show(url))??;
        return Ok(EXIT_OK);
    }
    runtime.block_on(async move {
        let client = team::connect(&url).await?;
        let pending = approval::pending(&client).await?;
        if json {
            println!("{}", stepguard::sanitize::to_json_pretty(&pending)?);
        } else if pending.is_empty() {
            println!("no approval waits");
        } else {
            for s in &pending {
                println!(
                    "{}  {:>6} left  {}  {} step {}/{}  {}",
                    s.id,
                    left(s.expires_in_ms),
                    sanitize_line(&s.requested_by, 30),
                    sanitize_line(&s.request.runbook, 60),
                    s.request.step_number,
                    s.request.steps,
                    sanitize_line(&s.request.action, 100)
                );
            }
        }
        Ok::<u8, anyhow::Error>(EXIT_OK)
    })?
}

/// `approve ID` / `reject ID --reason`: the request is read and shown,
/// then the decision recorded with the digests shown.
/// An approval is given to what was read: on a terminal the id is typed
/// back after the request is shown; elsewhere `--seen` must quote the
/// request's digest (at least its first 8 characters) as shown before.
fn confirmed(seen: &approval::Status, quoted: Option<&str>) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if let Some(quoted) = quoted {
        let quoted = quoted.trim().to_ascii_lowercase();
        if quoted.len() < 8 || !seen.request_sha256.starts_with(&quoted) {
            eprintln!(
                "stepguard: --seen {} is not this request's digest (request sha256 above): read it again",
                sanitize_line(&quoted, 70)
            );
            return Ok(false);
        }
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "approve without a terminal needs --seen DIGEST: the request sha256 printed above (at least 8 characters), so the approval is of what was read"
        );
    }
    print!(
        "type {} to approve it as shown (anything else cancels): ",
        seen.id
    );
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == seen.id)
}

pub fn decide(
    runtime: &mut Runtime,
    id: &str,
    decision: Decide,
    reason: &str,
    seen_digest: Option<&str>,
) -> Result<u8> {
    let url = url()?;
    let id = approval::check_id(id)?;
    if decision == Decide::Reject && reason.trim().is_empty() {
        bail!("a rejection says why: --reason '…' (the operator and later cards see it)");
    }
    let seen_digest = seen_digest.map(str::to_string);
    runtime.block_on(async move {
        let client = team::connect(&url).await?;
        let seen = approval::status(&client, &id).await?;
        for line in describe(&seen) {
            println!("{}", sanitize_line(&line, 10_000));
        }
        match seen.effective() {
            State::Pending => {}
            State::Expired => {
                eprintln!(
                    "stepguard: approval {id} expired undecided: the operator files it again (p)"
                );
                return Ok(EXIT_FAILED);
            }
            other => {
                eprintln!(
                    "stepguard: approval {id} is {}: nothing to decide",
                    other.as_str()
                );
                return Ok(EXIT_FAILED);
            }
        }
        if decision == Decide::Approve && seen.document_error.is_some() {
            eprintln!("stepguard: approval {id} cannot be approved: its document does not read (above); reject it, or ask for a new request");
            return Ok(EXIT_FAILED);
        }
        if decision == Decide::Approve && !confirmed(&seen, seen_digest.as_deref())? {
            eprintln!("stepguard: not approved");
            return Ok(EXIT_FAILED);
        }
        match approval::decide(&client, &seen, decision, reason).await {
            Ok(after) => {
                let who = team::status(&client, &url)
                    .await
                    .map(|s| s.role)
                    .unwrap_or_default();
                match after.effective() {
                    State::Approved => println!(
                        "approved by {}: the walk proceeds if it still waits on this request",
                        who
                    ),
                    State::Rejected => {
                        println!("rejected by {}: the walk halts with your reason", who)
                    }
                    State::Pending => println!(
                        "approved by {}: {} of {} approvals, the request still waits",
                        who,
                        after.approvers().len(),
                        after.approvals_required
                    ),
                    other => println!("approval {id} is {}", other.as_str()),
                }
                Ok(EXIT_OK)
            }
            Err(e) => {
                eprintln!("stepguard: refused: {e}");
                Ok::<u8, anyhow::Error>(EXIT_FAILED)
            }
        }
    })?
}
