//! The team's audit: each session's log lines shipped, in order, to the
//! append-only `audit_events` table. The local log is the queue: the
//! shipper sends what the database lacks after its last line for the
//! session, so a database that was down gets everything on reconnect, in
//! order, and the walk never waits for it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;
use tokio_postgres::Client;

use super::{db, TeamError};
use crate::session::audit::{read_lines, Line};
use crate::session::{AuditSink, Event, Head};

/// Where shipping stands, for the screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The last line the database has (None: it has not answered yet).
    pub shipped: Option<u64>,
    /// Why the last attempt failed, while it is failing.
    pub error: Option<String>,
}

/// The handle the audit sink holds: wake it after each append.
#[derive(Clone)]
pub struct Shipper {
    wake: Arc<Notify>,
    progress: Arc<Mutex<Progress>>,
}

impl Shipper {
    /// Ship session `session`'s log at `log` to the team database, in
    /// the background on the current runtime, until the runtime ends.
    pub fn spawn(team: super::Settings, session: String, log: PathBuf) -> Shipper {
        let shipper = Shipper {
            wake: Arc::new(Notify::new()),
            progress: Arc::new(Mutex::new(Progress::default())),
        };
        let (wake, progress) = (shipper.wake.clone(), shipper.progress.clone());
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(250);
            loop {
                let result: Result<(), TeamError> = async {
                    let client = super::connect(&team).await?;
                    loop {
                        let shipped = ship(&client, &session, &log).await?;
                        set(&progress, Some(shipped), None);
                        // Woken by an append; a poll covers a wake-up
                        // that came while shipping.
                        tokio::select! {
                            _ = wake.notified() => {}
                            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                        }
                    }
                }
                .await;
                if let Err(e) = result {
                    let shipped = progress.lock().ok().and_then(|p| p.shipped);
                    set(&progress, shipped, Some(e.to_string()));
                }
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        shipper
    }

    /// A line was appended to the log.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn progress(&self) -> Progress {
        self.progress.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

fn set(progress: &Mutex<Progress>, shipped: Option<u64>, error: Option<String>) {
    if let Ok(mut p) = progress.lock() {
        p.shipped = shipped;
        p.error = error;
    }
}

/// The last line of `session` the database has (0: none).
pub async fn shipped(client: &Client, session: &str) -> Result<u64, TeamError> {
    let row = client
        .query_one(
            "SELECT coalesce(max(seq), 0) FROM public.audit_events WHERE session = $1",
            &[&session],
        )
        .await
        .map_err(db)?;
    Ok(row.get::<_, i64>(0).max(0) as u64)
}

/// Send what the database lacks of one session's log, in one transaction;
/// the last line it then has.
pub async fn ship(client: &Client, session: &str, log: &Path) -> Result<u64, TeamError> {
    let after = shipped(client, session).await?;
    let read = |after| {
        read_lines(log, after).map_err(|e| TeamError::Db(format!("{}: {e}", log.display())))
    };
    if after > 0 {
        // The database's last line must be ours: never ship onto a copy
        // that went another way (`audit verify --team` says where).
        let theirs: String = client
            .query_one(
                "SELECT hash FROM public.audit_events WHERE session = $1 AND seq = $2",
                &[&session, &(after as i64)],
            )
            .await
            .map_err(db)?
            .get(0);
        let Some(ours) = read(after - 1)?.into_iter().next().map(|l| l.hash) else {
            return Err(TeamError::Db(format!(
                "session {session}: the team copy holds line {after}, which the local log lacks: not shipped (stepguard audit verify {session} --team says where they part; stepguard sessions repair {session} restores lines the log lost)"
            )));
        };
        if ours != theirs {
            return Err(TeamError::Db(format!(
                "session {session}: the team copy's line {after} is not the local log's: not shipped (stepguard audit verify {session} --team)"
            )));
        }
    }
    let lines = read(after)?;
    let Some(last) = lines.last().map(|l| l.seq) else {
        return Ok(after);
    };
    if after == 0 {
        // Never another session's log under this id (a copied directory).
        let first = &lines[0];
        if first.kind != "session-start"
            || first.data.get("session").and_then(|v| v.as_str()) != Some(session)
        {
            return Err(TeamError::Db(format!(
                "session {session}: its log does not start session {session} (a copied session directory?): not shipped"
            )));
        }
    }
    // Only lines on this disk leave it: a line read while its writer had
    // not synced it yet is synced here first, so a power cut never leaves
    // the team a line the local log lost (the line `repair` would cut).
    std::fs::File::open(log)
        .and_then(|f| f.sync_data())
        .map_err(|e| TeamError::Db(format!("{}: {e}", log.display())))?;
    let insert = client
        .prepare(
            "INSERT INTO public.audit_events (session, seq, ts_ms, kind, data, hash, prev) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await
        .map_err(db)?;
    client.batch_execute("BEGIN").await.map_err(db)?;
    for line in &lines {
        let done = client
            .execute(
                &insert,
                &[
                    &session,
                    &(line.seq as i64),
                    &(line.ts_ms as i64),
                    &line.kind,
                    &line.data,
                    &line.hash,
                    &line.prev,
                ],
            )
            .await;
        if let Err(e) = done {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(db(e));
        }
    }
    client.batch_execute("COMMIT").await.map_err(db)?;
    Ok(last)
}

/// The requests of a session whose walk is gone (the caller holds its
/// lock). Each one its log last saw filed is voided in the database if it
/// still waits, and its log then records what the database says of it
/// (voided by this sync, or approved, rejected, expired meanwhile); one
/// it withdrew or saw expire is voided again if the database still has it
/// waiting. Only a log that is whole, this session's own and not behind
/// its team copy gets a line: one written onto a log that lost lines would
/// fork it from the copy. How many this voided, and what was left (the
/// next sync tries again).
pub async fn withdraw_gone(
    client: &Client,
    session: &str,
    log: &Path,
    recorded: Option<&Head>,
    now_ms: u64,
) -> Result<(u64, Vec<String>), String> {
    use super::approval::{find, waiting_among, withdraw, State};
    let refuse = |why: String| format!("requests not withdrawn: {why}");
    let head = crate::session::verify(log, recorded)
        .map_err(|e| refuse(format!("{e} (stepguard sessions repair {session} first)")))?;
    let events = crate::session::audit::read_events(log)
        .map_err(|e| refuse(format!("{}: {e}", log.display())))?;
    let started = events.iter().find_map(|r| match &r.event {
        Event::SessionStart(s) => Some(s.session.as_str()),
        _ => None,
    });
    if started != Some(session) {
        return Err(refuse(format!(
            "its log does not start session {session} (a copied session directory?)"
        )));
    }
    if shipped(client, session)
        .await
        .map_err(|e| refuse(e.to_string()))?
        > head.seq
    {
        return Err(refuse(format!(
            "the team copy holds lines the log lacks (stepguard sessions repair {session} first)"
        )));
    }
    let last = crate::session::audit::last_approvals(&events);
    let ids: Vec<String> = last
        .iter()
        .filter(|a| matches!(a.state.as_str(), "filed" | "voided" | "expired"))
        .map(|a| a.id.clone())
        .collect();
    if ids.is_empty() {
        return Ok((0, Vec::new()));
    }
    const GONE: &str = "the walk that asked is gone (stepguard team sync)";
    let waiting = waiting_among(client, &ids)
        .await
        .map_err(|e| refuse(e.to_string()))?;
    let (mut voided, mut left) = (0, Vec::new());
    let mut file: Option<crate::session::AuditLog> = None;
    for a in &last {
        if a.state != "filed" {
            if matches!(a.state.as_str(), "voided" | "expired") && waiting.contains(&a.id) {
                match withdraw(client, &a.id, &a.reason).await {
                    Ok(v) => voided += u64::from(v),
                    Err(e) => left.push(format!("approval {}: {e}", a.id)),
                }
            }
            continue;
        }
        let seen = match find(client, &a.id).await {
            Ok(Some(seen)) => seen,
            Ok(None) => {
                left.push(format!(
                    "approval {}: the team database has no such request",
                    a.id
                ));
                continue;
            }
            Err(e) => {
                left.push(format!("approval {}: {e}", a.id));
                continue;
            }
        };
        if !seen.request.session.is_empty() && seen.request.session != session {
            left.push(format!(
                "approval {}: the team database has it from session {}",
                a.id, seen.request.session
            ));
            continue;
        }
        let (state, by, reason) = match seen.effective() {
            State::Pending => match withdraw(client, &a.id, GONE).await {
                Ok(true) => {
                    voided += 1;
                    ("voided", Vec::new(), GONE.to_string())
                }
                // Decided between the two calls: the next sync records it.
                Ok(false) => continue,
                Err(e) => {
                    left.push(format!("approval {}: {e}", a.id));
                    continue;
                }
            },
            State::Approved => (
                "approved",
                seen.approvers().iter().map(|s| s.to_string()).collect(),
                format!("approved in the team database; {GONE}"),
            ),
            State::Rejected => {
                let r = seen.rejection();
                (
                    "rejected",
                    r.map(|r| vec![r.by.clone()]).unwrap_or_default(),
                    r.map(|r| r.reason.clone()).unwrap_or_default(),
                )
            }
            State::Expired => ("expired", Vec::new(), "expired undecided".to_string()),
            State::Voided => (
                "voided",
                Vec::new(),
                "voided in the team database".to_string(),
            ),
        };
        let record = crate::session::event::ApprovalRecord {
            state: state.into(),
            by,
            reason,
            ..a.clone()
        };
        if file.is_none() {
            file = Some(
                crate::session::AuditLog::open(log)
                    .map_err(|e| refuse(format!("{}: {e}", log.display())))?,
            );
        }
        if let Some(file) = file.as_mut() {
            file.append(now_ms, &Event::Approval(record))
                .map_err(|e| refuse(format!("{}: {e}", log.display())))?;
        }
    }
    Ok((voided, left))
}

/// The database's copy of one session, in order.
pub async fn copy(client: &Client, session: &str) -> Result<Vec<Line>, TeamError> {
    let rows = client
        .query(
            "SELECT seq, ts_ms, kind, data, prev, hash FROM public.audit_events \
              WHERE session = $1 ORDER BY seq",
            &[&session],
        )
        .await
        .map_err(db)?;
    // A row the client cannot read (data nested past serde_json's depth)
    // is an error, not a panic.
    rows.iter()
        .map(|r| {
            Ok(Line {
                seq: r.try_get::<_, i64>(0).map_err(db)? as u64,
                ts_ms: r.try_get::<_, i64>(1).map_err(db)? as u64,
                kind: r.try_get(2).map_err(db)?,
                data: r.try_get(3).map_err(db)?,
                prev: r.try_get(4).map_err(db)?,
                hash: r.try_get(5).map_err(db)?,
            })
        })
        .collect()
}

/// What `audit verify --team` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compared {
    pub local: u64,
    pub team: u64,
    /// Lines the database does not have yet (shipping catches up).
    pub unshipped: u64,
    /// The first divergence, if any: the line, and what differs.
    pub divergence: Option<(u64, String)>,
}

/// Compare a local log with the database's copy. The copy's own chain is
/// checked too (each hash over its content, each line after the one before),
/// so neither side can be rewritten alone.
pub fn compare(local: &[Line], team: &[Line]) -> Compared {
    let mut divergence = None;
    let mut prev = String::new();
    for (i, t) in team.iter().enumerate() {
        let n = i as u64 + 1;
        let why = if t.seq != n {
            Some(format!(
                "the team copy has line {} where {n} belongs",
                t.seq
            ))
        } else if !t.hash_holds() {
            Some("the team copy's line does not match its hash".into())
        } else if t.prev != prev {
            Some("the team copy's line does not follow the one before it".into())
        } else {
            match local.get(i) {
                None => Some(
                    "the team copy has it; the local log lost it (`stepguard sessions repair` restores it from the copy)"
                        .into(),
                ),
                Some(l) if l.hash != t.hash => {
                    Some("the local log and the team copy differ (rewritten)".into())
                }
                Some(_) => None,
            }
        };
        if let Some(why) = why {
            divergence = Some((n, why));
            break;
        }
        prev = t.hash.clone();
    }
    Compared {
        local: local.len() as u64,
        team: team.len() as u64,
        unshipped: (local.len() as u64).saturating_sub(team.len() as u64),
        divergence,
    }
}

/// The audit sink that ships: every line goes to the file sink first (the
/// truth, synced), then the shipper is woken to send it on. The walk never
/// waits for the database.
pub struct Teed {
    pub file: Box<dyn AuditSink + Send>,
    pub shipper: Shipper,
}

impl AuditSink for Teed {
    fn append(&mut self, ts_ms: u64, event: &Event) -> std::io::Result<Head> {
        let head = self.file.append(ts_ms, event)?;
        self.shipper.wake();
        Ok(head)
    }

    fn head(&self) -> &Head {
        self.file.head()
    }

    fn append_all(&mut self, events: &[(u64, Event)]) -> std::io::Result<Head> {
        let head = self.file.append_all(events)?;
        self.shipper.wake();
        Ok(head)
    }
}

impl Shipper {
    /// Wait up to `limit` for the database to have line `seq` (quitting:
    /// what is left ships when the session is next opened, or by
    /// `stepguard team sync`). Whether it has.
    pub async fn flush(&self, seq: u64, limit: Duration) -> bool {
        self.wake();
        let deadline = tokio::time::Instant::now() + limit;
        while self.progress().shipped.is_none_or(|s| s < seq) {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.wake();
        }
        true
    }
}
