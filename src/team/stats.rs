//! `stats --team`: how the team's approvals go, from the database, with a
//! green/yellow/red health and flags for rubber-stamping (approvals so fast,
//! so uniform and so unchanged that no one is really looking).

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::{db, TeamError};

/// Where yellow and red begin (the config's `team.health`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Requests waiting now.
    pub pending_yellow: i64,
    pub pending_red: i64,
    /// Seconds from request to decision, 95th percentile.
    pub p95_yellow_s: f64,
    pub p95_red_s: f64,
    /// Share of requests that expired undecided.
    pub expired_yellow: f64,
    pub expired_red: f64,
    /// Rubber-stamping: a median decision faster than this …
    pub stamp_latency_s: f64,
    /// … fewer rejections than this share …
    pub stamp_rejections: f64,
    /// … counted once at least this many requests were decided.
    pub stamp_min_decided: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            pending_yellow: 3,
            pending_red: 10,
            p95_yellow_s: 300.0,
            p95_red_s: 600.0,
            expired_yellow: 0.1,
            expired_red: 0.25,
            stamp_latency_s: 10.0,
            stamp_rejections: 0.01,
            stamp_min_decided: 10,
        }
    }
}

/// What the database counts over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub days: i32,
    pub pending: i64,
    pub filed: i64,
    pub approved: i64,
    pub rejected: i64,
    pub expired: i64,
    pub voided: i64,
    /// Seconds from request to its deciding event (approve or reject).
    pub latency_p50_s: Option<f64>,
    pub latency_p95_s: Option<f64>,
    /// Steps proceeded in the team's audit, and how many of them went
    /// through a team approval: the rest passed on the policy alone.
    pub proceeded: i64,
    pub proceeded_approved: i64,
    /// Actions edited before they were approved (the team's audit).
    pub edits: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Green,
    Yellow,
    Red,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub counts: Counts,
    /// Proceeded steps that needed no approval.
    pub auto_approval_rate: Option<f64>,
    pub rejection_rate: Option<f64>,
    pub expiry_rate: Option<f64>,
    pub health: Health,
    /// Why the health is not green.
    pub why: Vec<String>,
    /// Signs of approvals given without looking.
    pub rubber_stamping: Vec<String>,
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Judge the counts against the thresholds.
pub fn assess(counts: Counts, t: &Thresholds) -> Report {
    let decided = counts.approved + counts.rejected;
    let rejection_rate = ratio(counts.rejected, decided);
    let expiry_rate = ratio(counts.expired, counts.filed);
    // An approval whose walk never went on (it was killed, or quit) is no
    // proceeded step: approvals can outnumber them, never make a rate < 0.
    let auto_approval_rate = ratio(
        (counts.proceeded - counts.proceeded_approved).max(0),
        counts.proceeded,
    );
    let mut health = Health::Green;
    let mut why = Vec::new();
    let mut grade = |value: f64, yellow: f64, red: f64, what: String| {
        let level = if value >= red {
            Health::Red
        } else if value >= yellow {
            Health::Yellow
        } else {
            return;
        };
        why.push(what);
        if level == Health::Red || health == Health::Green {
            health = level;
        }
    };
    grade(
        counts.pending as f64,
        t.pending_yellow as f64,
        t.pending_red as f64,
        format!("{} requests waiting", counts.pending),
    );
    if let Some(p95) = counts.latency_p95_s {
        grade(
            p95,
            t.p95_yellow_s,
            t.p95_red_s,
            format!("95% of decisions within {p95:.0} s"),
        );
    }
    if let Some(e) = expiry_rate {
        grade(
            e,
            t.expired_yellow,
            t.expired_red,
            format!("{:.0}% of requests expired undecided", e * 100.0),
        );
    }
    let mut rubber_stamping = Vec::new();
    if decided >= t.stamp_min_decided {
        if let Some(p50) = counts.latency_p50_s.filter(|p| *p < t.stamp_latency_s) {
            rubber_stamping.push(format!(
                "half the decisions came within {p50:.1} s (under {:.0} s): too fast to read the request",
                t.stamp_latency_s
            ));
        }
        if rejection_rate.is_some_and(|r| r < t.stamp_rejections) {
            rubber_stamping.push(format!(
                "{} rejections in {decided} decisions (under {:.0}%)",
                counts.rejected,
                t.stamp_rejections * 100.0
            ));
        }
        if counts.edits == 0 {
            rubber_stamping.push(format!(
                "no action was edited in {decided} decisions: requests go through exactly as drafted"
            ));
        }
    }
    Report {
        counts,
        auto_approval_rate,
        rejection_rate,
        expiry_rate,
        health,
        why,
        rubber_stamping,
    }
}

/// Count the last `days` days.
pub async fn gather(client: &Client, days: i32) -> Result<Counts, TeamError> {
    let row = client
        .query_one(
            "WITH r AS (SELECT * FROM public.pending_actions \
                         WHERE requested_at > now() - make_interval(days => $1)), \
                  d AS (SELECT DISTINCT ON (e.action_id) e.action_id, \
                               extract(epoch FROM e.decided_at - r.requested_at)::float8 AS s \
                          FROM public.approval_events e JOIN r ON r.id = e.action_id \
                         WHERE e.decision IN ('approve', 'reject') \
                           AND r.state IN ('approved', 'rejected') \
                         ORDER BY e.action_id, e.id DESC) \
             SELECT (SELECT count(*) FROM public.pending_actions WHERE state = 'pending' AND expires_at > now()), \
                    (SELECT count(*) FROM r), \
                    (SELECT count(*) FROM r WHERE state = 'approved'), \
                    (SELECT count(*) FROM r WHERE state = 'rejected'), \
                    (SELECT count(*) FROM r WHERE state = 'expired' \
                        OR (state = 'pending' AND expires_at <= now())), \
                    (SELECT count(*) FROM r WHERE state = 'voided'), \
                    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) FROM d), \
                    (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY s) FROM d)",
            &[&days],
        )
        .await
        .map_err(db)?;
    let audit = client
        .query_one(
            "SELECT count(*) FILTER (WHERE kind = 'decision' AND data->>'decision' = 'proceed'), \
                    count(*) FILTER (WHERE kind = 'edit') \
               FROM public.audit_events \
              WHERE shipped_at > now() - make_interval(days => $1)",
            &[&days],
        )
        .await
        .map_err(db)?;
    Ok(Counts {
        days,
        pending: row.get(0),
        filed: row.get(1),
        approved: row.get(2),
        rejected: row.get(3),
        expired: row.get(4),
        voided: row.get(5),
        latency_p50_s: row.get(6),
        latency_p95_s: row.get(7),
        proceeded: audit.get(0),
        // The database's own decisions, not what was shipped.
        proceeded_approved: row.get(2),
        edits: audit.get(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> Counts {
        Counts {
            days: 7,
            filed: 20,
            approved: 18,
            rejected: 2,
            latency_p50_s: Some(45.0),
            latency_p95_s: Some(120.0),
            proceeded: 40,
            proceeded_approved: 18,
            edits: 3,
            ..Counts::default()
        }
    }

    #[test]
    fn a_team_that_reads_its_requests_is_green() {
        let r = assess(counts(), &Thresholds::default());
        assert_eq!(r.health, Health::Green, "{:?}", r.why);
        assert!(r.rubber_stamping.is_empty(), "{:?}", r.rubber_stamping);
        assert_eq!(r.auto_approval_rate, Some(22.0 / 40.0));
        assert_eq!(r.rejection_rate, Some(0.1));
    }

    #[test]
    fn approvals_whose_walks_never_went_on_leave_no_negative_rate() {
        let c = Counts {
            proceeded: 3,
            proceeded_approved: 5,
            ..counts()
        };
        assert_eq!(
            assess(c, &Thresholds::default()).auto_approval_rate,
            Some(0.0)
        );
    }

    #[test]
    fn fast_uniform_unchanged_approvals_are_flagged() {
        let c = Counts {
            approved: 20,
            rejected: 0,
            latency_p50_s: Some(4.0),
            edits: 0,
            ..counts()
        };
        let r = assess(c, &Thresholds::default());
        assert_eq!(r.rubber_stamping.len(), 3, "{:?}", r.rubber_stamping);
        // Too few decisions say nothing yet.
        let few = Counts {
            approved: 3,
            rejected: 0,
            latency_p50_s: Some(4.0),
            edits: 0,
            ..counts()
        };
        assert!(assess(few, &Thresholds::default())
            .rubber_stamping
            .is_empty());
    }

    #[test]
    fn health_takes_the_worst_signal() {
        let slow = Counts {
            latency_p95_s: Some(400.0),
            ..counts()
        };
        assert_eq!(assess(slow, &Thresholds::default()).health, Health::Yellow);
        let backlog = Counts {
            pending: 12,
            latency_p95_s: Some(400.0),
            ..counts()
        };
        let r = assess(backlog, &Thresholds::default());
        assert_eq!(r.health, Health::Red);
        assert_eq!(r.why.len(), 2);
        let expiring = Counts {
            expired: 6,
            ..counts()
        };
        assert_eq!(assess(expiring, &Thresholds::default()).health, Health::Red);
    }
}
