//! Approval requests: filed by the walk on a critical step, decided by
//! another engineer from their own terminal. The database decides who may
//! decide (migrations 001 and 003); this side files, reads and listens.

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::{db, TeamError};

/// The channel the database notifies on; the payload is a request's id.
pub const CHANNEL: &str = "stepguard_approvals";

/// Everything an approver needs to decide, as filed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Request {
    pub runbook: String,
    pub step: String,
    pub step_number: usize,
    pub steps: usize,
    pub title: String,
    pub target: String,
    pub risk: String,
    /// The action exactly as it will be copied.
    pub action: String,
    pub action_sha256: String,
    pub blast_radius: String,
    pub rollback: String,
    pub preflight: String,
    pub verdict: String,
    /// The pre-flight's output, its last lines, redacted.
    pub output_tail: String,
    /// Digest of the pre-flight as judged (command, verdict, when, output):
    /// a re-run is another pre-flight.
    pub preflight_sha256: String,
    pub alert: String,
    pub why: Vec<String>,
    pub session: String,
}

/// A request's state, as the database has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Approved,
    Rejected,
    Voided,
    Expired,
}

impl State {
    fn parse(s: &str) -> State {
        match s {
            "approved" => State::Approved,
            "rejected" => State::Rejected,
            "voided" => State::Voided,
            "expired" => State::Expired,
            _ => State::Pending,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Voided => "voided",
            State::Expired => "expired",
        }
    }
}

/// One decision on a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub by: String,
    pub decision: String,
    pub reason: String,
    /// Milliseconds after the request was filed.
    pub after_ms: i64,
}

/// A request and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub id: String,
    pub state: State,
    pub requested_by: String,
    /// Milliseconds left before it expires (negative: expired), by the
    /// database's clock.
    pub expires_in_ms: i64,
    pub approvals_required: i32,
    /// Each approver must be a member of every one of these roles.
    pub approver_groups: Vec<String>,
    pub action_sha256: String,
    pub preflight_sha256: String,
    /// The digest of the whole document below, as the database keeps it:
    /// an approval names it, so it approves exactly what was shown.
    pub request_sha256: String,
    pub decisions: Vec<DecisionRecord>,
    pub request: Request,
    /// The document does not read as a request: what is shown would not be
    /// what was filed, so it is not approved.
    pub document_error: Option<String>,
}

impl Status {
    /// Pending past its time is expired, whether or not anyone wrote it.
    pub fn effective(&self) -> State {
        if self.state == State::Pending && self.expires_in_ms <= 0 {
            State::Expired
        } else {
            self.state
        }
    }

    pub fn approvers(&self) -> Vec<&str> {
        self.decisions
            .iter()
            .filter(|d| d.decision == "approve")
            .map(|d| d.by.as_str())
            .collect()
    }

    pub fn rejection(&self) -> Option<&DecisionRecord> {
        self.decisions.iter().find(|d| d.decision == "reject")
    }
}

/// "9:41", for the time a request has left.
pub fn left(ms: i64) -> String {
    if ms <= 0 {
        return "expired".into();
    }
    let s = ms / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

/// A command as an approver must read it: a run of blanks long enough to
/// push its tail out of sight is shown as what it is.
pub fn spaced(command: &str) -> String {
    let mut out = String::with_capacity(command.len());
    let mut run = 0usize;
    let flush = |out: &mut String, run: usize| match run {
        0 => {}
        1..=3 => out.extend(std::iter::repeat_n(' ', run)),
        n => out.push_str(&format!(" ⟨{n} blanks⟩ ")),
    };
    for c in command.chars() {
        if c.is_whitespace() && c != '\n' {
            run += 1;
        } else {
            flush(&mut out, run);
            run = 0;
            out.push(c);
        }
    }
    flush(&mut out, run);
    out
}

/// The whole request, as an approver reads it before deciding (raw text:
/// the caller sanitizes each line for its terminal).
pub fn describe(s: &Status) -> Vec<String> {
    let r = &s.request;
    let or = |t: &str, none: &str| {
        if t.is_empty() {
            none.to_string()
        } else {
            t.to_string()
        }
    };
    let mut lines = vec![
        format!(
            "approval {} · {} · asked by {} · {} left · approvals {} of {}{}",
            s.id,
            s.effective().as_str(),
            s.requested_by,
            left(s.expires_in_ms),
            s.approvers().len(),
            s.approvals_required,
            if s.approver_groups.is_empty() {
                String::new()
            } else {
                format!(" (members of {})", s.approver_groups.join(" and "))
            }
        ),
        format!(
            "runbook {} · step {}/{} {} · risk {} · target {}",
            r.runbook, r.step_number, r.steps, r.title, r.risk, r.target
        ),
    ];
    if !r.alert.is_empty() {
        lines.push(format!("alert: {}", r.alert));
    }
    if let Some(e) = &s.document_error {
        lines.push(format!(
            "the request's document does not read ({e}): it cannot be approved as shown"
        ));
    }
    lines.push(format!("action:       {}", spaced(&r.action)));
    lines.push(format!("  sha256      {}", s.action_sha256));
    lines.push(format!("request sha256 {}", s.request_sha256));
    lines.push(format!(
        "blast radius: {}",
        or(&r.blast_radius, "(not stated)")
    ));
    lines.push(format!(
        "rollback:     {}",
        or(&spaced(&r.rollback), "(none)")
    ));
    lines.push(format!(
        "pre-flight:   {}",
        or(&spaced(&r.preflight), "(none)")
    ));
    lines.push(format!("  verdict     {}", r.verdict));
    for l in r.output_tail.lines() {
        lines.push(format!("  | {l}"));
    }
    for why in &r.why {
        lines.push(format!("policy: {why}"));
    }
    for d in &s.decisions {
        let reason = if d.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", d.reason)
        };
        lines.push(format!(
            "{} by {} after {} s{reason}",
            d.decision,
            d.by,
            d.after_ms / 1000
        ));
    }
    if s.effective() == State::Pending {
        lines.push(format!("approve: stepguard approve {}", s.id));
        lines.push(format!("reject:  stepguard reject {} --reason '…'", s.id));
    }
    lines
}

/// What filing returns: the id, and how long the database gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    pub id: String,
    pub expires_in_ms: i64,
    pub approvals_required: i32,
    pub requested_by: String,
    /// The webhook could not be told (the request stands).
    pub webhook_error: Option<String>,
}

/// Eight hex characters from the kernel's random source.
fn new_id() -> Result<String, TeamError> {
    use std::io::Read;
    let mut bytes = [0u8; 4];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| TeamError::Db(format!("no random id: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// File a request that expires after `seconds`; the database names who
/// filed it (`session_user`) and how many approvals it needs.
pub async fn file(client: &Client, request: &Request, seconds: u32) -> Result<Filed, TeamError> {
    let body = serde_json::to_value(request).map_err(|e| TeamError::Db(e.to_string()))?;
    let secs = f64::from(seconds.clamp(6, 24 * 3600 - 60));
    // An id already taken (one in four billion) is drawn again.
    for _ in 0..3 {
        let id = new_id()?;
        let row = client
            .query_opt(
                "INSERT INTO public.pending_actions \
                   (id, expires_at, runbook, step, target, action, action_sha256, preflight_sha256, request) \
                 VALUES ($1, now() + make_interval(secs => $2), $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (id) DO NOTHING \
                 RETURNING requested_by::text, \
                   (extract(epoch FROM expires_at - now()) * 1000)::bigint, approvals_required",
                &[
                    &id,
                    &secs,
                    &request.runbook,
                    &request.step,
                    &request.target,
                    &request.action,
                    &request.action_sha256,
                    &request.preflight_sha256,
                    &body,
                ],
            )
            .await
            .map_err(db)?;
        if let Some(row) = row {
            return Ok(Filed {
                id,
                requested_by: row.get(0),
                expires_in_ms: row.get(1),
                approvals_required: row.get(2),
                webhook_error: None,
            });
        }
    }
    Err(TeamError::Db("no free approval id".into()))
}

/// Ids are eight lower-case hex characters; anything else is no id.
pub fn check_id(id: &str) -> Result<String, TeamError> {
    let id = id.trim().to_ascii_lowercase();
    if id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(TeamError::Db(format!(
            "'{}' is not an approval id (8 hex characters, as the walk shows it)",
            crate::sanitize::sanitize_line(&id, 40)
        )))
    }
}

const STATUS_SQL: &str = "SELECT p.id, p.state, p.requested_by::text, \
       (extract(epoch FROM p.expires_at - now()) * 1000)::bigint, \
       p.approvals_required, p.approver_groups::text[], p.action_sha256, p.preflight_sha256, p.request, \
       coalesce((SELECT jsonb_agg(jsonb_build_object( \
                    'by', e.decided_by::text, 'decision', e.decision, 'reason', e.reason, \
                    'after_ms', (extract(epoch FROM e.decided_at - p.requested_at) * 1000)::bigint) \
                  ORDER BY e.id) \
                 FROM public.approval_events e WHERE e.action_id = p.id), '[]'::jsonb), \
       public.stepguard_request_sha256(p.request), \
       p.runbook, p.step, p.target, p.action \
  FROM public.pending_actions p";

fn status_of(row: &tokio_postgres::Row) -> Status {
    let document: serde_json::Value = row.get(8);
    let decisions: serde_json::Value = row.get(9);
    let (mut request, document_error) = match serde_json::from_value::<Request>(document) {
        Ok(r) => (r, None),
        Err(e) => (Request::default(), Some(e.to_string())),
    };
    // What the approval is bound to is shown from the bound columns, never
    // from the document's copy of them.
    request.runbook = row.get(11);
    request.step = row.get(12);
    request.target = row.get(13);
    request.action = row.get(14);
    request.action_sha256 = row.get(6);
    request.preflight_sha256 = row.get(7);
    Status {
        id: row.get(0),
        state: State::parse(row.get(1)),
        requested_by: row.get(2),
        expires_in_ms: row.get(3),
        approvals_required: row.get(4),
        approver_groups: row.get(5),
        action_sha256: row.get(6),
        preflight_sha256: row.get(7),
        decisions: serde_json::from_value(decisions).unwrap_or_default(),
        request,
        document_error,
        request_sha256: row.get(10),
    }
}

/// One request, by id.
pub async fn status(client: &Client, id: &str) -> Result<Status, TeamError> {
    find(client, id)
        .await?
        .ok_or_else(|| TeamError::Db(format!("no approval {}", id.trim())))
}

/// [`status`], or None when the database has no such request.
pub async fn find(client: &Client, id: &str) -> Result<Option<Status>, TeamError> {
    let id = check_id(id)?;
    let row = client
        .query_opt(&format!("{STATUS_SQL} WHERE p.id = $1"), &[&id])
        .await
        .map_err(db)?;
    Ok(row.as_ref().map(status_of))
}

/// Which of these requests still wait (pending and not past their time),
/// in one round trip.
pub async fn waiting_among(
    client: &Client,
    ids: &[String],
) -> Result<std::collections::HashSet<String>, TeamError> {
    let rows = client
        .query(
            "SELECT id FROM public.pending_actions \
              WHERE id = ANY($1) AND state = 'pending' AND expires_at > now()",
            &[&ids],
        )
        .await
        .map_err(db)?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

/// Requests still waiting, oldest first.
pub async fn pending(client: &Client) -> Result<Vec<Status>, TeamError> {
    let rows = client
        .query(
            &format!("{STATUS_SQL} WHERE p.state = 'pending' AND p.expires_at > now() ORDER BY p.requested_at, p.id"),
            &[],
        )
        .await
        .map_err(db)?;
    Ok(rows.iter().map(status_of).collect())
}

/// A decision, as the role this client connects as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decide {
    Approve,
    Reject,
    /// The requester withdraws it: the action, the state or the pre-flight
    /// changed, or the walk left the step.
    Void,
}

/// Withdraw a request if it still waits (its walk no longer asks):
/// whether this call voided it. One decided, expired or voided already is
/// left as it is.
pub async fn withdraw(client: &Client, id: &str, reason: &str) -> Result<bool, TeamError> {
    let seen = status(client, id).await?;
    // One past its time is expired, row state or not: the database
    // refuses to void it.
    if seen.effective() != State::Pending {
        return Ok(false);
    }
    decide(client, &seen, Decide::Void, reason).await?;
    Ok(true)
}

/// Record a decision. An approval names the digests the approver was shown
/// (from [`status`]): the database refuses it if they are not the request's.
pub async fn decide(
    client: &Client,
    seen: &Status,
    decision: Decide,
    reason: &str,
) -> Result<Status, TeamError> {
    let word = match decision {
        Decide::Approve => "approve",
        Decide::Reject => "reject",
        Decide::Void => "void",
    };
    client
        .execute(
            "INSERT INTO public.approval_events \
               (action_id, decision, reason, action_sha256, preflight_sha256, request_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &seen.id,
                &word,
                &reason,
                &seen.action_sha256,
                &seen.preflight_sha256,
                &seen.request_sha256,
            ],
        )
        .await
        .map_err(db)?;
    status(client, &seen.id).await
}

/// A rejection the team recorded: what later cards and drafts show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub action_id: String,
    pub runbook: String,
    pub step: String,
    pub action: String,
    pub by: String,
    pub reason: String,
    /// Seconds since the rejection.
    pub ago_s: i64,
}

/// The team's rejections of the last 30 days, newest first.
pub async fn rejections(client: &Client) -> Result<Vec<Rejection>, TeamError> {
    let rows = client
        .query(
            "SELECT action_id, runbook, step, action, decided_by::text, reason, \
                    extract(epoch FROM now() - decided_at)::bigint \
               FROM public.rejections WHERE decided_at > now() - interval '30 days' \
              ORDER BY decided_at DESC LIMIT 200",
            &[],
        )
        .await
        .map_err(db)?;
    Ok(rows
        .iter()
        .map(|r| Rejection {
            action_id: r.get(0),
            runbook: r.get(1),
            step: r.get(2),
            action: r.get(3),
            by: r.get(4),
            reason: r.get(5),
            ago_s: r.get(6),
        })
        .collect())
}

/// A connection that LISTENs: each notification's payload (a request id)
/// is sent on the returned channel until the connection ends (the channel
/// then closes, which says so).
pub async fn listen(
    team: &super::Settings,
) -> Result<(Client, tokio::sync::mpsc::UnboundedReceiver<String>), TeamError> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let client = super::connect_with(team, Some(tx)).await?;
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(db)?;
    Ok((client, rx))
}

/// Follow one request until it is decided, voided or expired: `report` is
/// called with each new status. Notifications wake it at once; a poll every
/// few seconds covers a lost one, and a lost connection is made again.
pub async fn watch(
    team: super::Settings,
    id: String,
    mut report: impl FnMut(Result<Status, String>) -> bool,
) {
    let mut last: Option<Status> = None;
    let mut backoff = std::time::Duration::from_millis(250);
    loop {
        let (client, mut notes) = match listen(&team).await {
            Ok(c) => c,
            Err(e) => {
                if !report(Err(e.to_string())) {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                continue;
            }
        };
        backoff = std::time::Duration::from_millis(250);
        loop {
            match status(&client, &id).await {
                Ok(s) => {
                    let done = s.effective() != State::Pending;
                    if last.as_ref() != Some(&s) {
                        last = Some(s.clone());
                        if !report(Ok(s)) {
                            return;
                        }
                    }
                    if done {
                        return;
                    }
                }
                Err(e) => {
                    if !report(Err(e.to_string())) {
                        return;
                    }
                    break;
                }
            }
            tokio::select! {
                note = notes.recv() => if note.is_none() { break },
                _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_blanks_is_shown_for_what_it_is() {
        let padded = format!(
            "kubectl get pods{}; kubectl delete ns prod",
            " ".repeat(3000)
        );
        assert_eq!(
            spaced(&padded),
            "kubectl get pods ⟨3000 blanks⟩ ; kubectl delete ns prod"
        );
        // Ordinary spacing stays as written; tabs count as blanks.
        assert_eq!(spaced("a  b   c"), "a  b   c");
        assert_eq!(spaced("a\t\t\t\tb"), "a ⟨4 blanks⟩ b");
    }
}
