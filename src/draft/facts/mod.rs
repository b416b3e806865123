//! Values read from the state engineers paste, the way the tools print it:
//! kubectl tables (`get pods|deploy|sts|nodes|pvc|events`, with `-A` and
//! `-o wide`), `kubectl describe`, `-o yaml` / `-o json`, the echoed command
//! line (`$ kubectl -n payments get pods`), amtool tables and label lists,
//! `redis-cli INFO`, `df`, psql tables and journalctl / systemctl lines.
//!
//! Every fact is a token printed on one line of the state (or a documented
//! derivation of one, such as a pod's Deployment from its name), kept with
//! that line as evidence and ranked by what the state says about it: a row
//! in CrashLoopBackOff before a quiet one, a healthy `Running 1/1` row last.
//!
//! The state is read once, in one pass, and only the best [`KEEP`] values of
//! each kind are kept, so a 100,000-line paste costs linear time and a
//! bounded amount of memory. Variables are matched to kinds of fact by
//! meaning ([`keys_for`]): their name and their `from` keys, through a
//! catalog of synonyms (`ns` → `namespace`, `mount` → `mountpoint`, …), and
//! `old_x` / `current_x` read the current `x`.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;

use crate::runbook::Variable;

mod command;
mod describe;
mod parser;
mod table;
#[cfg(test)]
mod tests;
mod tree;

use command::*;
use describe::*;
use parser::*;
use table::*;
use tree::*;

/// Distinct values kept per kind of fact: the best ranked, first seen on ties.
pub const KEEP: usize = 16;
/// Kinds of fact kept (column names, label keys, … are open-ended).
const MAX_KINDS: usize = 512;
/// Instruction-like lines listed, as the model path lists them.
pub const MAX_SUSPICIOUS: usize = 20;
/// Entries kept per describe block or object (labels, containers, …).
const MAX_ENTRIES: usize = 64;

/// What one pasted state says, read once.
#[derive(Debug, Default)]
pub struct Facts {
    kinds: HashMap<String, Kept>,
    suspicious: Vec<String>,
}

/// The best facts of one kind, and which of them is the worst (the one a
/// better newcomer replaces), so that a long table costs O(1) a row once
/// the list is full.
#[derive(Debug, Default)]
struct Kept {
    facts: Vec<Fact>,
    worst: usize,
}

impl Kept {
    fn keep(&mut self, value: &str, key: FactKey, fact: impl FnOnce() -> Fact) {
        let derived = !key.1;
        let hash = fnv(value);
        if let Some(f) = self
            .facts
            .iter_mut()
            .find(|f| f.hash == hash && f.derived == derived && f.value == value)
        {
            if key > f.key() {
                *f = fact();
                self.find_worst();
            }
            return;
        }
        if self.facts.len() < KEEP {
            self.facts.push(fact());
            self.find_worst();
        } else if key > self.facts[self.worst].key() {
            self.facts[self.worst] = fact();
            self.find_worst();
        }
    }

    fn find_worst(&mut self) {
        self.worst = self
            .facts
            .iter()
            .enumerate()
            .min_by_key(|(_, f)| f.key())
            .map_or(0, |(i, _)| i);
    }
}

/// FNV-1a: compares a newcomer with the kept values without a `memcmp`
/// per value on every row.
fn fnv(value: &str) -> u64 {
    value.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Best first: the rank, then printed before derived, then what a tool
/// printed before what the engineer typed, then the earlier line.
type FactKey = (u32, bool, bool, Reverse<usize>);

/// One value printed in the state (or derived from one), with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub value: String,
    /// 1-based line of the state the value comes from.
    pub line: usize,
    start: usize,
    end: usize,
    pub rank: Rank,
    /// How the value follows from the line, when that needs saying.
    pub how: Option<String>,
    /// The value is not printed as such: it follows from the line by a
    /// documented rule (a pod's Deployment from its name, a selector from
    /// a pod's labels). Shown as derived; the human confirms it.
    pub derived: bool,
    hash: u64,
}

impl Fact {
    fn key(&self) -> FactKey {
        (
            self.rank.score(),
            !self.derived,
            !self.rank.echoed(),
            Reverse(self.line),
        )
    }

    /// The evidence as the card shows it: the line (secrets redacted,
    /// sanitized, cut), and how the value follows from it.
    pub fn evidence(&self, text: &str) -> String {
        let line = excerpt(text.get(self.start..self.end).unwrap_or(""));
        match (&self.how, self.derived) {
            (Some(how), true) => format!("derived from state line {} ({how}): {line}", self.line),
            (None, true) => format!("derived from state line {}: {line}", self.line),
            (Some(how), false) => format!("state line {} ({how}): {line}", self.line),
            (None, false) => format!("state line {}: {line}", self.line),
        }
    }
}

/// A line of the state as the card shows it.
/// Runs of spaces (table padding) are shown as one.
pub fn excerpt(line: &str) -> String {
    let redacted = crate::redact::redact(line.trim());
    let mut compact = String::with_capacity(redacted.text.len());
    for word in redacted.text.split_whitespace() {
        if !compact.is_empty() {
            compact.push(' ');
        }
        compact.push_str(word);
    }
    crate::sanitize::sanitize_line(&compact, 120).into_owned()
}

impl Facts {
    /// Read a state.
    pub fn parse(text: &str) -> Facts {
        let mut p = Parser {
            facts: Facts::default(),
            mode: Mode::Plain,
            cmd: None,
            prev: None,
            prev_text: String::new(),
        };
        let mut start = 0;
        for (i, raw) in text.split('\n').enumerate() {
            let body = raw.strip_suffix('\r').unwrap_or(raw);
            let line = Line {
                at: At {
                    no: i + 1,
                    start,
                    end: start + body.len(),
                },
                text: body,
            };
            p.line(&line);
            start += raw.len() + 1;
        }
        p.finish();
        p.facts
    }

    /// Instruction-like lines of the state, as `line N: excerpt`.
    pub fn suspicious(&self) -> &[String] {
        &self.suspicious
    }

    /// The facts of these kinds, one per value, best first. A value the
    /// state prints somewhere is shown from that line, even where it is
    /// also derived from a line that ranks higher (that line's signal is
    /// kept, and named).
    pub fn lookup(&self, kinds: &[String]) -> Vec<Fact> {
        let mut printed: Vec<&Fact> = Vec::new();
        let mut derived: Vec<&Fact> = Vec::new();
        for kind in kinds {
            for f in self.kinds.get(kind).into_iter().flat_map(|k| &k.facts) {
                let list = if f.derived {
                    &mut derived
                } else {
                    &mut printed
                };
                match list.iter_mut().find(|o| o.value == f.value) {
                    Some(o) if f.key() > o.key() => *o = f,
                    Some(_) => {}
                    None => list.push(f),
                }
            }
        }
        let mut out: Vec<Fact> = Vec::with_capacity(printed.len() + derived.len());
        for p in &printed {
            let mut fact = (*p).clone();
            if let Some(d) = derived.iter().find(|d| d.value == p.value) {
                if d.rank.score() > p.rank.score() {
                    fact.rank = Rank {
                        why: d.rank.why,
                        scope: Scope::Derived(d.line),
                    };
                }
            }
            out.push(fact);
        }
        for d in derived {
            if !printed.iter().any(|p| p.value == d.value) {
                out.push(d.clone());
            }
        }
        out.sort_by_key(|f| Reverse(f.key()));
        out
    }

    /// Every kind with facts (for tests and diagnostics).
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.kinds.keys().map(String::as_str)
    }

    fn add(&mut self, kind: &str, value: &str, at: At, rank: Rank, how: How<'_>) {
        let Some(value) = clean_value(value) else {
            return;
        };
        let derived = how.derived();
        let key = (rank.score(), !derived, !rank.echoed(), Reverse(at.no));
        let fact = || Fact {
            value: value.to_string(),
            line: at.no,
            start: at.start,
            end: at.end,
            rank,
            how: how.text(),
            derived,
            hash: fnv(value),
        };
        if let Some(kept) = self.kinds.get_mut(kind) {
            kept.keep(value, key, fact);
        } else if self.kinds.len() < MAX_KINDS {
            let mut kept = Kept::default();
            kept.keep(value, key, fact);
            self.kinds.insert(kind.to_string(), kept);
        }
    }
}

/// How a value follows from its line, built only when the fact is kept.
#[derive(Clone, Copy)]
enum How<'a> {
    Printed,
    Note(&'a str),
    /// A pod's Deployment from its name: `checkout-7d9f8c6b5-xk2lq`.
    DeploymentOfPod(&'a str),
    /// A ReplicaSet's Deployment from its name: `checkout-7d9f8c6b5`.
    DeploymentOfReplicaSet(&'a str),
    /// A pod's ReplicaSet from its name.
    ReplicaSetOfPod(&'a str),
    /// A pod's labels, less those its controller adds, as a selector.
    SelectorOfPod(&'a str),
    /// Whatever the text says, derived.
    Derived(&'a str),
    /// Whatever the text says, printed.
    Text(&'a str),
}

impl How<'_> {
    fn derived(&self) -> bool {
        matches!(
            self,
            How::DeploymentOfPod(_)
                | How::DeploymentOfReplicaSet(_)
                | How::ReplicaSetOfPod(_)
                | How::SelectorOfPod(_)
                | How::Derived(_)
        )
    }

    fn text(&self) -> Option<String> {
        Some(match self {
            How::Printed => return None,
            How::Note(s) | How::Derived(s) | How::Text(s) => s.to_string(),
            How::DeploymentOfPod(pod) => {
                format!("pod {pod} less its pod-template-hash and suffix")
            }
            How::DeploymentOfReplicaSet(rs) => {
                format!("ReplicaSet {rs} less its pod-template-hash")
            }
            How::ReplicaSetOfPod(pod) => format!("pod {pod} less its suffix"),
            How::SelectorOfPod("") => {
                "the pod's labels less pod-template-hash and other controller labels".to_string()
            }
            How::SelectorOfPod(pod) => {
                format!(
                    "the labels of pod {pod} less pod-template-hash and other controller labels"
                )
            }
        })
    }
}

/// A value as printed, or `None` for kubectl's placeholders.
fn clean_value(value: &str) -> Option<&str> {
    let v = value.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(v);
    if v.is_empty()
        || v.len() > 512
        || matches!(
            v,
            "<none>" | "<unknown>" | "<pending>" | "<unset>" | "<nil>" | "-" | "null" | "none"
        )
    {
        return None;
    }
    Some(v)
}

// ---------------------------------------------------------------------------
// Ranking

/// What the state says about the line (or block) a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rank {
    why: Why,
    scope: Scope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// A status word that means failure (`CrashLoopBackOff`, `NotReady`,
    /// …), by its place in [`FAILING`].
    Failing(u8),
    /// The same word in free text: a log line, a message. A workload
    /// writes that text, so it ranks below any failure a tool's status
    /// shows (a log line naming another namespace cannot outrank the row
    /// that is failing).
    Said(u8),
    /// An event of type Warning.
    Warning,
    /// READY x/y with x < y.
    NotReady(u32, u32),
    /// Many restarts.
    Restarts(u32),
    /// A filesystem's use, in percent.
    Used(u32),
    /// A degraded state (`SchedulingDisabled`, an active alert).
    Degraded(&'static str),
    /// Nothing either way.
    Quiet,
    /// A status word that means healthy (`Running`, `Ready`, `Bound`).
    Healthy(&'static str),
    /// kubectl found nothing there.
    NothingFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Line,
    /// In the output of the echoed command, at this line.
    Output(usize),
    /// In the same describe block / object / record, at this line.
    Block(&'static str, usize),
    /// On another line, where the same value is derived.
    Derived(usize),
}

impl Why {
    fn class(self) -> u32 {
        match self {
            Why::Failing(_) | Why::Warning => 6,
            Why::Used(p) if p >= 90 => 6,
            Why::Used(p) if p >= 80 => 4,
            Why::Used(_) => 0,
            Why::NotReady(..) | Why::Restarts(_) | Why::Degraded(_) => 4,
            Why::Said(_) => FAILING_CLASS,
            Why::Quiet => 2,
            Why::Healthy(_) | Why::NothingFound => 0,
        }
    }

    fn weight(self) -> u32 {
        match self {
            // The more specific the word, the earlier it is listed.
            Why::Failing(i) | Why::Said(i) => FAILING.len().saturating_sub(i as usize) as u32,
            Why::Restarts(n) => n.min(99_999),
            Why::Used(p) => p,
            Why::NotReady(r, t) => t.saturating_sub(r).min(99_999),
            _ => 0,
        }
    }

    fn words(self) -> String {
        match self {
            Why::Failing(i) => FAILING.get(i as usize).unwrap_or(&"failing").to_string(),
            Why::Said(i) => format!(
                "{} in free text",
                FAILING.get(i as usize).unwrap_or(&"failing")
            ),
            Why::Warning => "a Warning event".into(),
            Why::NotReady(r, t) => format!("READY {r}/{t}"),
            Why::Restarts(n) => format!("{n} restarts"),
            Why::Used(p) => format!("{p}% used"),
            Why::Degraded(w) => w.to_string(),
            Why::Quiet => "nothing that says failing or healthy".into(),
            Why::Healthy(w) => format!("healthy ({w})"),
            Why::NothingFound => "kubectl found no resources there".into(),
        }
    }
}

impl Rank {
    fn line(why: Why) -> Rank {
        Rank {
            why,
            scope: Scope::Line,
        }
    }

    /// Higher ranks first.
    pub fn score(&self) -> u32 {
        self.why.class() * 100_000 + self.why.weight()
    }

    /// Does the state show this value failing?
    pub fn failing(&self) -> bool {
        self.why.class() >= FAILING_CLASS
    }

    /// Read from an echoed command line, ranked by its output.
    fn echoed(&self) -> bool {
        matches!(self.scope, Scope::Output(_))
    }

    /// Why the value is ranked where it is, in words.
    pub fn describe(&self) -> String {
        match (self.why, self.scope) {
            (Why::NothingFound, _) => self.why.words(),
            (Why::Quiet, Scope::Line) => "nothing on its line says failing or healthy".into(),
            (Why::Quiet, Scope::Output(_)) => {
                "nothing in the command's output says failing or healthy".into()
            }
            (Why::Quiet, Scope::Block(what, _)) => {
                format!("nothing in the same {what} says failing or healthy")
            }
            (why, Scope::Line) => format!("{} on its line", why.words()),
            (why, Scope::Output(n)) => {
                format!("{} in the command's output (line {n})", why.words())
            }
            (why, Scope::Block(what, n)) => {
                format!("{} in the same {what} (line {n})", why.words())
            }
            (why, Scope::Derived(n)) => {
                format!(
                    "{} on line {n}, where the same value is derived",
                    why.words()
                )
            }
        }
    }
}

/// The worst (and any healthy) signal over several lines.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    worst: Option<(Why, usize)>,
    healthy: Option<(Why, usize)>,
    nothing_found: bool,
}

impl Acc {
    fn add(&mut self, why: Why, line: usize) {
        match why.class() {
            FAILING_CLASS.. => {
                let better = self
                    .worst
                    .is_none_or(|(w, _)| (why.class(), why.weight()) > (w.class(), w.weight()));
                if better {
                    self.worst = Some((why, line));
                }
            }
            0 if why == Why::NothingFound => self.nothing_found = true,
            0 if self.healthy.is_none() => self.healthy = Some((why, line)),
            _ => {}
        }
    }

    fn rank(&self, scope: impl Fn(usize) -> Scope) -> Rank {
        match (self.worst, self.healthy) {
            (Some((why, n)), _) | (None, Some((why, n))) => Rank {
                why,
                scope: scope(n),
            },
            (None, None) if self.nothing_found => Rank::line(Why::NothingFound),
            (None, None) => Rank {
                why: Why::Quiet,
                scope: scope(0),
            },
        }
    }
}

/// Status words that mean failure, as the tools print them.
const FAILING: &[&str] = &[
    "CrashLoopBackOff",
    "OOMKilled",
    "OOMKilling",
    "ImagePullBackOff",
    "ErrImagePull",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "ContainerStatusUnknown",
    "PostStartHookError",
    "Evicted",
    "Error",
    "Failed",
    "FailedScheduling",
    "FailedMount",
    "FailedAttachVolume",
    "FailedCreate",
    "FailedCreatePodSandBox",
    "BackOff",
    "Unhealthy",
    "NotReady",
    "NodeNotReady",
    "KubeletNotReady",
    "NodeStatusUnknown",
    "ProgressDeadlineExceeded",
    "MinimumReplicasUnavailable",
    "ReplicaFailure",
    "Pending",
    "Lost",
    "Unknown",
    "FATAL",
    "PANIC",
    "ERROR",
    "FAILURE",
    "failed",
    "idle in transaction",
    "exceeded quota",
];

/// Status words that mean healthy.
const HEALTHY: &[&str] = &[
    "Running",
    "Ready",
    "Bound",
    "Completed",
    "Succeeded",
    "Normal",
];

fn words_re(words: &[&str]) -> Regex {
    let alternation = words
        .iter()
        .map(|w| regex::escape(w))
        .collect::<Vec<_>>()
        .join("|");
    Regex::new(&format!(r"(?-u:\b)(?:{alternation})(?-u:\b)")).expect("static words")
}

/// The most specific failure word on a line (earliest in [`FAILING`]).
fn failing_word(text: &str) -> Option<Why> {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| words_re(FAILING))
        .find_iter(text)
        .filter_map(|m| failing(m.as_str()))
        .min_by_key(|why| Reverse(why.weight()))
}

/// `word` as a failure, if it is one of [`FAILING`].
fn failing(word: &str) -> Option<Why> {
    FAILING
        .iter()
        .position(|w| *w == word)
        .map(|i| Why::Failing(i as u8))
}

fn healthy_word(text: &str) -> Option<&'static str> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let m = RE.get_or_init(|| words_re(HEALTHY)).find(text)?;
    HEALTHY.iter().copied().find(|w| *w == m.as_str())
}

/// The lowest class that says failing.
const FAILING_CLASS: u32 = 3;

/// What a line of text a workload wrote says: its failure words rank as
/// [`Why::Said`].
fn said(text: &str) -> Why {
    match line_health(text) {
        Why::Failing(i) => Why::Said(i),
        why => why,
    }
}

/// What a line says, read as a tool's status.
fn line_health(text: &str) -> Why {
    if let Some(why) = failing_word(text) {
        why
    } else if let Some(w) = healthy_word(text) {
        Why::Healthy(w)
    } else {
        Why::Quiet
    }
}

// ---------------------------------------------------------------------------
// Mapping variables to facts

/// Names that mean the same thing, in variables, `from` keys, label keys,
/// column headers and fields. The first of each group is the kind the
/// parsers emit.
const SYNONYMS: &[&[&str]] = &[
    &[
        "namespace",
        "ns",
        "exported_namespace",
        "kubernetes_namespace",
        "k8s_namespace",
        "namespace_name",
    ],
    &[
        "pod",
        "pod_name",
        "podname",
        "exported_pod",
        "kubernetes_pod_name",
    ],
    &["deployment", "deploy", "deployment_name"],
    &["replicaset", "rs", "replicaset_name"],
    &["statefulset", "sts", "statefulset_name"],
    &["daemonset", "ds", "daemonset_name"],
    &["job", "job_name"],
    &["cronjob", "cronjob_name"],
    &[
        "node",
        "node_name",
        "nodename",
        "kubernetes_node",
        "exported_node",
    ],
    &["selector", "label_selector", "pod_selector"],
    &["container", "container_name", "exported_container"],
    &[
        "pvc",
        "persistentvolumeclaim",
        "claim",
        "claim_name",
        "claimname",
    ],
    &["pv", "persistentvolume", "volume"],
    &[
        "storage_class",
        "storageclass",
        "storage_class_name",
        "storageclassname",
    ],
    &["hpa", "horizontalpodautoscaler"],
    &["service", "svc", "service_name"],
    &["certificate", "cert", "certificate_name"],
    &["resourcequota", "quota"],
    &["mountpoint", "mount", "mount_point", "mounted_on"],
    &["unit", "systemd_unit", "service_unit", "unit_name"],
    &["host", "db_host", "redis_host", "pg_host"],
    &["port", "tcp_port", "db_port", "redis_port", "pg_port"],
    &["database", "db", "dbname", "db_name"],
    &["user", "username", "db_user"],
    &["alertname", "alert_name"],
    &["silence_id", "silence"],
    &["alertmanager_url", "alertmanager"],
];

/// A name as a kind: lower case, runs of anything but letters and digits
/// as one `_` (`Max replicas` → `max_replicas`, `alertmanager.url` →
/// `alertmanager_url`, `PORT(S)` → `port_s`).
pub fn norm(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// The kinds of fact that can fill a variable: its name and its `from`
/// keys, each with its synonyms; `old_x` and `current_x` also read `x`
/// (the value now, which a rollback restores). `new_x` reads nothing: a
/// new value is the engineer's decision.
pub fn keys_for(name: &str, var: &Variable) -> Vec<String> {
    let mut keys: Vec<String> = vec![norm(name)];
    for source in &var.from {
        if let Some((_, key)) = source.split_once(':') {
            keys.push(norm(key));
        }
    }
    for k in keys.clone() {
        for prefix in ["old_", "current_"] {
            if let Some(rest) = k.strip_prefix(prefix) {
                keys.push(rest.to_string());
            }
        }
    }
    for k in keys.clone() {
        if let Some(group) = SYNONYMS.iter().find(|g| g.contains(&k.as_str())) {
            keys.extend(group.iter().map(|s| s.to_string()));
        }
    }
    keys.retain(|k| !k.is_empty());
    let mut seen = Vec::new();
    keys.retain(|k| {
        if seen.contains(k) {
            false
        } else {
            seen.push(k.clone());
            true
        }
    });
    keys
}

// ---------------------------------------------------------------------------
// Kubernetes names

/// A kubectl resource name or alias as the kind of fact it names.
fn kube_kind(word: &str) -> Option<&'static str> {
    let lower = word.to_ascii_lowercase();
    let base = lower.split('.').next().unwrap_or("");
    Some(match base {
        "po" | "pod" | "pods" => "pod",
        "deploy" | "deployment" | "deployments" => "deployment",
        "rs" | "replicaset" | "replicasets" => "replicaset",
        "sts" | "statefulset" | "statefulsets" => "statefulset",
        "ds" | "daemonset" | "daemonsets" => "daemonset",
        "no" | "node" | "nodes" => "node",
        "pvc" | "persistentvolumeclaim" | "persistentvolumeclaims" => "pvc",
        "pv" | "persistentvolume" | "persistentvolumes" => "pv",
        "ns" | "namespace" | "namespaces" => "namespace",
        "job" | "jobs" => "job",
        "cj" | "cronjob" | "cronjobs" => "cronjob",
        "hpa" | "horizontalpodautoscaler" | "horizontalpodautoscalers" => "hpa",
        "svc" | "service" | "services" => "service",
        "cert" | "certs" | "certificate" | "certificates" => "certificate",
        "quota" | "resourcequota" | "resourcequotas" => "resourcequota",
        "ev" | "event" | "events" => "event",
        "cm" | "configmap" | "configmaps" => "configmap",
        "ing" | "ingress" | "ingresses" => "ingress",
        "pdb" | "poddisruptionbudget" | "poddisruptionbudgets" => "pdb",
        "issuer" | "issuers" => "issuer",
        "clusterissuer" | "clusterissuers" => "clusterissuer",
        "sc" | "storageclass" | "storageclasses" => "storage_class",
        _ => return None,
    })
}

/// `pod/x`, `deployment.apps/x` → (kind, name).
fn split_kind(word: &str) -> Option<(&'static str, &str)> {
    let (kind, name) = word.split_once('/')?;
    Some((kube_kind(kind)?, name))
}

/// Characters of a pod-template-hash: the decimal digits of a 32-bit hash,
/// each mapped into `bcdfghjklmnpqrstvwxz2456789` (k8s.io/apimachinery
/// `rand.SafeEncodeString`), which only ever yields these ten.
fn is_template_hash(s: &str) -> bool {
    (6..=10).contains(&s.len()) && s.bytes().all(|b| b"456789bcdf".contains(&b))
}

/// The random suffix of a pod name (`rand.String(5)`).
fn is_pod_suffix(s: &str) -> bool {
    s.len() == 5
        && s.bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
}

/// `checkout-7d9f8c6b5` → `checkout`, when the pod-template-hash shape holds.
pub fn deployment_of_replicaset(rs: &str) -> Option<&str> {
    let (name, hash) = rs.rsplit_once('-')?;
    (is_template_hash(hash) && name.ends_with(|c: char| c.is_ascii_alphanumeric())).then_some(name)
}

/// `checkout-7d9f8c6b5-xk2lq` → (`checkout`, `checkout-7d9f8c6b5`), when
/// the name has the shape of a Deployment's pod.
pub fn deployment_of_pod(pod: &str) -> Option<(&str, &str)> {
    let (rs, suffix) = pod.rsplit_once('-')?;
    if !is_pod_suffix(suffix) {
        return None;
    }
    Some((deployment_of_replicaset(rs)?, rs))
}

/// Labels a controller adds to its pods: not part of a workload's selector.
const CONTROLLER_LABELS: &[&str] = &[
    "pod-template-hash",
    "controller-revision-hash",
    "pod-template-generation",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "controller-uid",
    "job-name",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
];

/// A pod's labels (`k=v` each) as a selector, less the controller's labels.
fn selector_of_labels<'a>(labels: impl Iterator<Item = &'a str>) -> Option<String> {
    let kept: Vec<&str> = labels
        .filter(|l| {
            l.split_once('=')
                .is_some_and(|(k, _)| !CONTROLLER_LABELS.contains(&k))
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}
