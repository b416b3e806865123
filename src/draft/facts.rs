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
    kinds: HashMap<String, Vec<Fact>>,
    suspicious: Vec<String>,
}

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
}

impl Fact {
    /// Best first: the rank, then printed before derived, then what a
    /// tool printed before what the engineer typed, then the earlier line.
    fn key(&self) -> (u32, bool, bool, Reverse<usize>) {
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

    /// The facts of these kinds, one per value, best first.
    pub fn lookup(&self, kinds: &[String]) -> Vec<&Fact> {
        let mut out: Vec<&Fact> = Vec::new();
        for kind in kinds {
            for f in self.kinds.get(kind).into_iter().flatten() {
                match out.iter_mut().find(|o| o.value == f.value) {
                    Some(o) if f.key() > o.key() => *o = f,
                    Some(_) => {}
                    None => out.push(f),
                }
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
        if !self.kinds.contains_key(kind) {
            if self.kinds.len() >= MAX_KINDS {
                return;
            }
            self.kinds.insert(kind.to_string(), Vec::new());
        }
        let Some(list) = self.kinds.get_mut(kind) else {
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
        };
        if let Some(f) = list.iter_mut().find(|f| f.value == value) {
            if key > f.key() {
                *f = fact();
            }
            return;
        }
        if list.len() < KEEP {
            list.push(fact());
            return;
        }
        if let Some((i, worst)) = list.iter().enumerate().min_by_key(|(_, f)| f.key()) {
            if key > worst.key() {
                list[i] = fact();
            }
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
    /// A status word that means failure (`CrashLoopBackOff`, `NotReady`, …).
    Failing(&'static str),
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
}

impl Why {
    fn class(self) -> u32 {
        match self {
            Why::Failing(_) | Why::Warning => 3,
            Why::Used(p) if p >= 90 => 3,
            Why::Used(p) if p >= 80 => 2,
            Why::Used(_) => 0,
            Why::NotReady(..) | Why::Restarts(_) | Why::Degraded(_) => 2,
            Why::Quiet => 1,
            Why::Healthy(_) | Why::NothingFound => 0,
        }
    }

    fn weight(self) -> u32 {
        match self {
            // The more specific the word, the earlier it is listed.
            Why::Failing(w) => {
                let at = FAILING
                    .iter()
                    .position(|f| *f == w)
                    .unwrap_or(FAILING.len());
                (FAILING.len() - at) as u32
            }
            Why::Restarts(n) => n.min(99_999),
            Why::Used(p) => p,
            Why::NotReady(r, t) => t.saturating_sub(r).min(99_999),
            _ => 0,
        }
    }

    fn words(self) -> String {
        match self {
            Why::Failing(w) => w.to_string(),
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
        self.why.class() >= 2
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
            2.. => {
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
fn failing_word(text: &str) -> Option<&'static str> {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| words_re(FAILING))
        .find_iter(text)
        .filter_map(|m| FAILING.iter().position(|w| *w == m.as_str()))
        .min()
        .map(|i| FAILING[i])
}

fn healthy_word(text: &str) -> Option<&'static str> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let m = RE.get_or_init(|| words_re(HEALTHY)).find(text)?;
    HEALTHY.iter().copied().find(|w| *w == m.as_str())
}

/// What a line of free text says.
fn line_health(text: &str) -> Why {
    if let Some(w) = failing_word(text) {
        Why::Failing(w)
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

// ---------------------------------------------------------------------------
// The parser: one pass over the lines

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct At {
    no: usize,
    start: usize,
    end: usize,
}

struct Line<'t> {
    at: At,
    text: &'t str,
}

/// A fact whose rank waits for the end of its block.
struct Pending {
    kind: String,
    value: String,
    at: At,
    how: PendingHow,
}

enum PendingHow {
    Printed,
    Note(String),
    Derived(String),
}

impl PendingHow {
    fn as_how(&self) -> How<'_> {
        match self {
            PendingHow::Printed => How::Printed,
            PendingHow::Note(s) => How::Text(s),
            PendingHow::Derived(s) => How::Derived(s),
        }
    }
}

fn pending(kind: &str, value: &str, at: At, how: How<'_>) -> Pending {
    Pending {
        kind: kind.to_string(),
        value: value.to_string(),
        at,
        how: match (how.text(), how.derived()) {
            (None, _) => PendingHow::Printed,
            (Some(t), true) => PendingHow::Derived(t),
            (Some(t), false) => PendingHow::Note(t),
        },
    }
}

/// Facts of a pod name: the pod, and its ReplicaSet and Deployment when
/// the name has their shape.
fn pod_facts(out: &mut Vec<Pending>, pod: &str, at: At) {
    out.push(pending("pod", pod, at, How::Printed));
    if let Some((deployment, rs)) = deployment_of_pod(pod) {
        out.push(pending("replicaset", rs, at, How::ReplicaSetOfPod(pod)));
        out.push(pending(
            "deployment",
            deployment,
            at,
            How::DeploymentOfPod(pod),
        ));
    }
}

/// Facts of a `kind/name` or a name of a known kind.
fn object_facts(out: &mut Vec<Pending>, kind: &str, name: &str, at: At) {
    match kind {
        "pod" => pod_facts(out, name, at),
        "replicaset" => {
            out.push(pending("replicaset", name, at, How::Printed));
            if let Some(d) = deployment_of_replicaset(name) {
                out.push(pending(
                    "deployment",
                    d,
                    at,
                    How::DeploymentOfReplicaSet(name),
                ));
            }
        }
        "event" => {}
        _ => out.push(pending(kind, name, at, How::Printed)),
    }
}

/// The last command echoed in the state, whose facts are ranked by what
/// its output shows.
struct Cmd {
    program: &'static str,
    /// The one kind of resource it lists or describes, if it names one.
    kind: Option<&'static str>,
    acc: Acc,
    facts: Vec<Pending>,
}

enum Mode {
    Plain,
    Table(Table),
    Describe(Box<Describe>),
    Tree(Box<Tree>),
    Psql(Vec<String>),
    PsqlRecord(Record),
}

struct Parser {
    facts: Facts,
    mode: Mode,
    cmd: Option<Cmd>,
    /// The previous line, for psql's header above its `---+---` line.
    prev: Option<At>,
    prev_text: String,
}

impl Parser {
    fn line(&mut self, l: &Line<'_>) {
        let had_prev = self.prev.take().is_some();
        if crate::injection::is_suspicious(l.text) {
            // Instruction-like text is listed, and never a source of values.
            if self.facts.suspicious.len() < MAX_SUSPICIOUS {
                let redacted = crate::redact::redact(l.text.trim());
                let text = crate::sanitize::sanitize_line(&redacted.text, 100);
                self.facts
                    .suspicious
                    .push(format!("line {}: {text}", l.at.no));
            }
            return;
        }
        let prev_text = std::mem::take(&mut self.prev_text);
        self.dispatch(l, had_prev.then_some(prev_text.as_str()));
        self.prev = Some(l.at);
        self.prev_text = prev_text;
        self.prev_text.clear();
        self.prev_text.push_str(l.text);
    }

    fn dispatch(&mut self, l: &Line<'_>, prev: Option<&str>) {
        if let Some(cmd) = echoed_command(l.text) {
            self.end_mode();
            self.end_cmd();
            self.cmd = Some(self.command(cmd, l.at));
            return;
        }
        let mode = std::mem::replace(&mut self.mode, Mode::Plain);
        let next = match mode {
            Mode::Plain => None,
            Mode::Table(t) => self.table_line(t, l),
            Mode::Describe(d) => self.describe_line(d, l),
            Mode::Tree(t) => self.tree_line(t, l),
            Mode::Psql(cols) => self.psql_line(cols, l),
            Mode::PsqlRecord(r) => self.record_line(r, l),
        };
        match next {
            Some(mode) => self.mode = mode,
            None => self.plain(l, prev),
        }
    }

    fn finish(&mut self) {
        self.end_mode();
        self.end_cmd();
    }

    fn end_mode(&mut self) {
        match std::mem::replace(&mut self.mode, Mode::Plain) {
            Mode::Describe(d) => self.flush_describe(*d),
            Mode::Tree(mut t) => {
                if let Some(obj) = t.obj.take() {
                    self.flush_object(obj);
                }
            }
            Mode::PsqlRecord(r) => self.flush_record(r),
            Mode::Plain | Mode::Table(_) | Mode::Psql(_) => {}
        }
    }

    fn end_cmd(&mut self) {
        if let Some(cmd) = self.cmd.take() {
            let rank = cmd.acc.rank(Scope::Output);
            self.emit(cmd.facts, rank);
        }
    }

    fn emit(&mut self, facts: Vec<Pending>, rank: Rank) {
        for p in facts {
            self.facts
                .add(&p.kind, &p.value, p.at, rank, p.how.as_how());
        }
    }

    /// A signal seen in the output of the current command.
    fn observe(&mut self, why: Why, line: usize) {
        if let Some(cmd) = &mut self.cmd {
            cmd.acc.add(why, line);
        }
    }

    fn plain(&mut self, l: &Line<'_>, prev: Option<&str>) {
        let text = l.text;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return;
        }
        let at = l.at;
        if let Some(ns) = no_resources_in(trimmed) {
            self.observe(Why::NothingFound, at.no);
            self.facts.add(
                "namespace",
                ns,
                at,
                Rank::line(Why::NothingFound),
                How::Printed,
            );
            return;
        }
        if trimmed.starts_with("No resources found") {
            self.observe(Why::NothingFound, at.no);
            return;
        }
        if let Some(t) = self.table_header(text) {
            self.mode = Mode::Table(t);
            return;
        }
        if is_psql_rule(text) {
            if let Some(header) = prev {
                let cols: Vec<String> = header.split('|').map(|c| norm(c.trim())).collect();
                if cols.iter().all(|c| !c.is_empty()) {
                    self.mode = Mode::Psql(cols);
                    return;
                }
            }
        }
        if is_psql_record(trimmed) {
            self.mode = Mode::PsqlRecord(Record::new(at.no));
            return;
        }
        if let Some(name) = text.strip_prefix("Name:") {
            if !name.trim().is_empty() {
                let mut d = Describe::new(self.cmd.as_ref().and_then(|c| c.kind));
                d.line(l);
                self.mode = Mode::Describe(Box::new(d));
                return;
            }
        }
        if let Some(tree) = Tree::start(text) {
            if let Some(mode) = self.tree_line(Box::new(tree), l) {
                self.mode = mode;
            }
            return;
        }
        let why = line_health(text);
        self.observe(why, at.no);
        let rank = Rank::line(why);
        if let Some((host, port)) = redis_prompt(trimmed) {
            self.facts
                .add("host", host, at, rank, How::Note("redis-cli's prompt"));
            self.facts
                .add("port", port, at, rank, How::Note("redis-cli's prompt"));
            return;
        }
        if let Some(db) = psql_prompt(trimmed) {
            self.facts
                .add("database", db, at, rank, How::Note("psql's prompt"));
            return;
        }
        // `redis-cli INFO`: `key:value`, no spaces.
        if let Some((key, value)) = info_field(trimmed) {
            self.facts.add(&norm(key), value, at, rank, How::Printed);
            return;
        }
        if text.contains('=') {
            for (key, value) in label_pairs(text) {
                self.facts.add(&norm(key), value, at, rank, How::Printed);
            }
        }
        if text.contains('.') {
            for unit in units(text) {
                self.facts.add("unit", unit, at, rank, How::Printed);
            }
        }
    }

    // -- echoed commands -----------------------------------------------------

    fn command(&mut self, (program, args): (&'static str, Vec<String>), at: At) -> Cmd {
        let mut cmd = Cmd {
            program,
            kind: None,
            acc: Acc::default(),
            facts: Vec::new(),
        };
        let facts = &mut cmd.facts;
        let long_flags = |args: &[String], facts: &mut Vec<Pending>| {
            for a in args {
                if let Some((k, v)) = a.strip_prefix("--").and_then(|f| f.split_once('=')) {
                    let k = norm(k);
                    if !is_secret_key(&k) {
                        facts.push(pending(&k, v, at, How::Printed));
                    }
                }
            }
        };
        match program {
            "kubectl" => {
                let k = kubectl_args(&args);
                if let Some(ns) = k.namespace {
                    facts.push(pending("namespace", &ns, at, How::Printed));
                }
                if let Some(sel) = k.selector {
                    facts.push(pending("selector", &sel, at, How::Printed));
                }
                if let Some(c) = k.container {
                    facts.push(pending("container", &c, at, How::Printed));
                }
                for (kind, name) in &k.objects {
                    object_facts(facts, kind, name, at);
                }
                cmd.kind = k.kind;
                long_flags(&args, facts);
            }
            "amtool" => {
                let mut it = args.iter().skip(1);
                while let Some(a) = it.next() {
                    if a == "--alertmanager.url" {
                        if let Some(v) = it.next() {
                            facts.push(pending("alertmanager_url", v, at, How::Printed));
                        }
                    } else if !a.starts_with('-') {
                        if let Some((k, v)) = a.split_once('=') {
                            if !v.starts_with('~') && !k.ends_with('!') {
                                facts.push(pending(&norm(k), v, at, How::Printed));
                            }
                        }
                    }
                }
                if args.iter().any(|a| a == "expire") {
                    if let Some(id) = args.iter().rev().find(|a| !a.starts_with('-')) {
                        facts.push(pending("silence_id", id, at, How::Printed));
                    }
                }
                long_flags(&args, facts);
            }
            "redis-cli" => {
                let mut it = args.iter().skip(1);
                while let Some(a) = it.next() {
                    match a.as_str() {
                        "-h" => {
                            if let Some(v) = it.next() {
                                facts.push(pending("host", v, at, How::Printed));
                            }
                        }
                        "-p" => {
                            if let Some(v) = it.next() {
                                facts.push(pending("port", v, at, How::Printed));
                            }
                        }
                        "-u" => {
                            if let Some(v) = it.next() {
                                url_facts(facts, v, at);
                            }
                        }
                        "-a" | "--user" | "--pass" | "-n" => {
                            it.next();
                        }
                        _ => {}
                    }
                }
            }
            "psql" => {
                let mut positional = Vec::new();
                let mut database = false;
                let mut user = false;
                let mut it = args.iter().skip(1);
                while let Some(a) = it.next() {
                    let (flag, inline) = match a.split_once('=') {
                        Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
                        _ => (a.as_str(), None),
                    };
                    let kind = match flag {
                        "-h" | "--host" => Some("host"),
                        "-p" | "--port" => Some("port"),
                        "-U" | "--username" => Some("user"),
                        "-d" | "--dbname" => Some("database"),
                        "-c" | "--command" | "-f" | "--file" | "-v" | "--set" | "-o" => {
                            if inline.is_none() {
                                it.next();
                            }
                            None
                        }
                        _ => {
                            if !a.starts_with('-') {
                                if a.contains("://") {
                                    url_facts(facts, a, at);
                                } else if !a.contains('=') {
                                    positional.push(a.clone());
                                }
                            }
                            None
                        }
                    };
                    if let Some(kind) = kind {
                        let value = inline.or_else(|| it.next().cloned());
                        if let Some(v) = value {
                            database |= kind == "database";
                            user |= kind == "user";
                            if kind == "database" && v.contains('=') {
                                continue; // a conninfo string: its pairs are read below
                            }
                            facts.push(pending(kind, &v, at, How::Printed));
                        }
                    }
                }
                // psql [DBNAME [USERNAME]]
                let mut positional = positional.into_iter();
                if let Some(db) = positional.next() {
                    if !database {
                        facts.push(pending("database", &db, at, How::Printed));
                    }
                }
                if let Some(u) = positional.next() {
                    if !user {
                        facts.push(pending("user", &u, at, How::Printed));
                    }
                }
                for a in &args {
                    for (k, v) in label_pairs(a) {
                        let kind = match k {
                            "dbname" => "database",
                            other => other,
                        };
                        if !is_secret_key(kind) {
                            facts.push(pending(kind, v, at, How::Printed));
                        }
                    }
                }
            }
            "journalctl" | "systemctl" => {
                let mut it = args.iter().skip(1);
                while let Some(a) = it.next() {
                    if a == "-u" || a == "--unit" {
                        if let Some(v) = it.next() {
                            facts.push(pending("unit", v, at, How::Printed));
                        }
                    } else if let Some(v) = a.strip_prefix("--unit=") {
                        facts.push(pending("unit", v, at, How::Printed));
                    } else if program == "systemctl" && !a.starts_with('-') && a.contains('.') {
                        facts.push(pending("unit", a, at, How::Printed));
                    }
                }
            }
            _ => long_flags(&args, facts),
        }
        cmd
    }

    // -- tables ----------------------------------------------------------------

    fn table_header(&self, text: &str) -> Option<Table> {
        if text.starts_with(char::is_whitespace) {
            return None;
        }
        let toks = header_tokens(text);
        if toks.len() < 2 {
            return None;
        }
        let first = toks[0].1;
        let flavor = if toks.iter().all(|(_, t)| is_upper_header(t))
            && toks.iter().any(|(_, t)| {
                matches!(
                    *t,
                    "NAME" | "NAMESPACE" | "LAST SEEN" | "STATUS" | "READY" | "NODE" | "AGE"
                )
            }) {
            Flavor::Kubectl
        } else if matches!(first, "Alertname" | "Labels" | "ID")
            && matches!(toks[1].1, "Starts At" | "Annotations" | "Matchers")
        {
            Flavor::Amtool
        } else if first == "Filesystem" && toks.last().is_some_and(|(_, t)| *t == "Mounted on") {
            Flavor::Df
        } else {
            return None;
        };
        let keys: Vec<String> = toks.iter().map(|(_, t)| norm(t)).collect();
        let kind = match flavor {
            Flavor::Kubectl => kind_from_header(&keys).or_else(|| {
                self.cmd
                    .as_ref()
                    .filter(|c| c.program == "kubectl")
                    .and_then(|c| c.kind)
            }),
            _ => None,
        };
        let keys: Vec<String> = toks
            .iter()
            .zip(keys)
            .map(|((_, name), key)| match (flavor, *name) {
                (Flavor::Amtool, "ID") => "silence_id".to_string(),
                (Flavor::Df, "Mounted on") => "mountpoint".to_string(),
                _ => key,
            })
            .collect();
        let cols = toks
            .iter()
            .zip(keys)
            .map(|((start, name), key)| Col {
                start: *start,
                role: role(flavor, name, &key),
                key,
            })
            .collect();
        Some(Table { kind, cols })
    }

    fn table_line(&mut self, t: Table, l: &Line<'_>) -> Option<Mode> {
        let text = l.text;
        if text.trim().is_empty() {
            return Some(Mode::Plain);
        }
        if is_comment(text) {
            return Some(Mode::Table(t));
        }
        if let Some(next) = self.table_header(text) {
            return Some(Mode::Table(next));
        }
        let cells = t.cells(text)?;
        self.table_row(&t, &cells, l);
        Some(Mode::Table(t))
    }

    fn table_row(&mut self, t: &Table, cells: &[Option<&str>], l: &Line<'_>) {
        let at = l.at;
        let mut acc = Acc::default();
        // Status words anywhere but in names (`payment-failed-retry`).
        for (col, value) in t.cols.iter().zip(cells) {
            if let (Some(v), false) = (value, col.role.names()) {
                if let Some(w) = failing_word(v) {
                    acc.add(Why::Failing(w), at.no);
                }
            }
        }
        let cell = |role: Role| {
            t.cols
                .iter()
                .zip(cells)
                .find(|(c, _)| c.role == role)
                .and_then(|(_, v)| *v)
        };
        let status = cell(Role::Status);
        let completed = status.is_some_and(|s| s.contains("Completed") || s.contains("Succeeded"));
        for (col, value) in t.cols.iter().zip(cells) {
            let Some(v) = *value else { continue };
            match col.role {
                Role::Status => {
                    for part in v.split(',') {
                        if let Some(w) = FAILING.iter().find(|w| **w == part) {
                            acc.add(Why::Failing(w), at.no);
                        } else if part == "SchedulingDisabled" {
                            acc.add(Why::Degraded("SchedulingDisabled"), at.no);
                        } else if let Some(w) = HEALTHY.iter().find(|w| **w == part) {
                            acc.add(Why::Healthy(w), at.no);
                        }
                    }
                }
                Role::Ready if !completed => {
                    if let Some((r, total)) = v.split_once('/') {
                        if let (Ok(r), Ok(total)) = (r.parse::<u32>(), total.parse::<u32>()) {
                            if r < total {
                                acc.add(Why::NotReady(r, total), at.no);
                            }
                        }
                    }
                }
                Role::Restarts => {
                    let n: String = v.chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(n) = n.parse::<u32>() {
                        if n >= 5 {
                            acc.add(Why::Restarts(n), at.no);
                        }
                    }
                }
                Role::Type if v == "Warning" => acc.add(Why::Warning, at.no),
                Role::Type if v == "Normal" => acc.add(Why::Healthy("Normal"), at.no),
                Role::Use => {
                    if let Ok(p) = v.trim_end_matches('%').parse::<u32>() {
                        acc.add(Why::Used(p), at.no);
                    }
                }
                Role::State => match v {
                    "active" => acc.add(Why::Degraded("an active alert"), at.no),
                    "suppressed" => acc.add(Why::Healthy("suppressed"), at.no),
                    _ => {}
                },
                // The heartbeat alerts of kube-prometheus always fire.
                Role::Generic
                    if col.key == "alertname"
                        && matches!(v, "Watchdog" | "InfoInhibitor" | "DeadMansSwitch") =>
                {
                    acc.healthy = Some((Why::Healthy("an always-firing heartbeat alert"), at.no));
                    acc.worst = None;
                    break;
                }
                _ => {}
            }
        }
        let rank = acc.rank(|_| Scope::Line);
        if let Some((why, n)) = acc.worst.or(acc.healthy) {
            self.observe(why, n);
        }
        let mut out: Vec<Pending> = Vec::new();
        let name = cell(Role::Name);
        let row_kind = name.and_then(split_kind).map(|(k, _)| k).or(t.kind);
        for (col, value) in t.cols.iter().zip(cells) {
            let Some(v) = *value else { continue };
            match col.role {
                Role::Namespace => out.push(pending("namespace", v, at, How::Printed)),
                Role::Name => {
                    let (kind, name) = split_kind(v).unwrap_or((row_kind.unwrap_or(""), v));
                    if !kind.is_empty() {
                        object_facts(&mut out, kind, name, at);
                    }
                }
                Role::Object => {
                    if let Some((kind, name)) = split_kind(v) {
                        object_facts(&mut out, kind, name, at);
                    }
                }
                Role::Node => out.push(pending("node", v, at, How::Printed)),
                Role::Labels if row_kind == Some("pod") => {
                    let pod = name.unwrap_or("");
                    if let Some(sel) = selector_of_labels(v.split(',')) {
                        out.push(pending("selector", &sel, at, How::SelectorOfPod(pod)));
                    }
                    for pair in v.split(',') {
                        if let Some((k, val)) = pair.split_once('=') {
                            out.push(pending(&norm(k), val, at, How::Printed));
                        }
                    }
                }
                Role::Labels => {}
                Role::Selector => out.push(pending("selector", v, at, How::Printed)),
                Role::Containers => {
                    for c in v.split(',') {
                        out.push(pending("container", c, at, How::Printed));
                    }
                }
                Role::Claim => {
                    let (ns, claim) = v.split_once('/').unwrap_or(("", v));
                    if !ns.is_empty() {
                        out.push(pending("namespace", ns, at, How::Printed));
                    }
                    out.push(pending("pvc", claim, at, How::Printed));
                }
                Role::Reference => {
                    if let Some((kind, name)) = split_kind(v) {
                        object_facts(&mut out, kind, name, at);
                    }
                }
                Role::Pairs => {
                    for (k, val) in label_pairs(v) {
                        out.push(pending(&norm(k), val, at, How::Printed));
                    }
                }
                Role::Message => {
                    if let Some(c) = container_in_message(v) {
                        out.push(pending("container", c, at, How::Printed));
                    }
                }
                Role::Generic
                | Role::Status
                | Role::Ready
                | Role::Restarts
                | Role::Type
                | Role::Use
                | Role::State => {
                    if !col.key.is_empty() {
                        out.push(pending(&col.key, v, at, How::Printed));
                    }
                }
                Role::Skip => {}
            }
        }
        self.emit(out, rank);
    }

    // -- psql ------------------------------------------------------------------

    fn psql_line(&mut self, cols: Vec<String>, l: &Line<'_>) -> Option<Mode> {
        let text = l.text.trim();
        if text.is_empty() || (text.starts_with('(') && text.ends_with(')')) {
            return Some(Mode::Plain);
        }
        let cells: Vec<&str> = l.text.split('|').map(str::trim).collect();
        if cells.len() != cols.len() {
            return None;
        }
        let why = line_health(l.text);
        self.observe(why, l.at.no);
        let rank = Rank::line(why);
        for (key, value) in cols.iter().zip(cells) {
            self.facts.add(key, value, l.at, rank, How::Printed);
        }
        Some(Mode::Psql(cols))
    }

    fn record_line(&mut self, mut r: Record, l: &Line<'_>) -> Option<Mode> {
        let text = l.text.trim();
        if text.is_empty() || (text.starts_with('(') && text.ends_with(')')) {
            self.flush_record(r);
            return Some(Mode::Plain);
        }
        if is_psql_record(text) {
            self.flush_record(r);
            return Some(Mode::PsqlRecord(Record::new(l.at.no)));
        }
        let (key, value) = l.text.split_once('|')?;
        r.acc.add(line_health(l.text), l.at.no);
        if r.fields.len() < MAX_ENTRIES {
            r.fields
                .push(pending(&norm(key.trim()), value.trim(), l.at, How::Printed));
        }
        Some(Mode::PsqlRecord(r))
    }

    fn flush_record(&mut self, r: Record) {
        let rank = r.acc.rank(|n| Scope::Block("record", n));
        if let Some((why, n)) = r.acc.worst {
            self.observe(why, n);
        }
        self.emit(r.fields, rank);
    }

    // -- kubectl describe ------------------------------------------------------

    fn describe_line(&mut self, mut d: Box<Describe>, l: &Line<'_>) -> Option<Mode> {
        if l.text.trim().is_empty() {
            self.flush_describe(*d);
            return Some(Mode::Plain);
        }
        if l.text.starts_with("Name:") && !d.fields.is_empty() {
            let kind = d.cmd_kind;
            self.flush_describe(*d);
            let mut next = Describe::new(kind);
            next.line(l);
            return Some(Mode::Describe(Box::new(next)));
        }
        if !l.text.starts_with(char::is_whitespace) && describe_field(l.text).is_none() {
            self.flush_describe(*d);
            return None;
        }
        d.line(l);
        Some(Mode::Describe(d))
    }

    fn flush_describe(&mut self, d: Describe) {
        let rank = d.acc.rank(|n| Scope::Block("describe output", n));
        if let Some((why, n)) = d.acc.worst.or(d.acc.healthy) {
            self.observe(why, n);
        }
        let out = d.facts();
        self.emit(out, rank);
    }

    // -- -o yaml / -o json -------------------------------------------------------

    fn tree_line(&mut self, mut t: Box<Tree>, l: &Line<'_>) -> Option<Mode> {
        let parsed = tree_parse(l.text, t.json);
        if let Some(indent) = t.block_scalar {
            let deeper = l.text.len() - l.text.trim_start().len() > indent;
            if l.text.trim().is_empty() || deeper {
                return Some(Mode::Tree(t));
            }
            t.block_scalar = None;
        }
        match parsed {
            TreeLine::Blank => Some(Mode::Tree(t)),
            TreeLine::DocStart => {
                if let Some(obj) = t.obj.take() {
                    self.flush_object(obj);
                }
                t.stack.clear();
                Some(Mode::Tree(t))
            }
            TreeLine::Close { indent } => {
                if let Some(obj) = &mut t.obj {
                    obj.acc.add(line_health(l.text), l.at.no);
                }
                if indent == 0 && t.json {
                    if let Some(obj) = t.obj.take() {
                        self.flush_object(obj);
                    }
                    return Some(Mode::Plain);
                }
                Some(Mode::Tree(t))
            }
            TreeLine::Item { indent } => {
                while t.stack.last().is_some_and(|(i, _)| *i > indent) {
                    t.stack.pop();
                }
                if let Some(obj) = &mut t.obj {
                    obj.owner = (None, None);
                    obj.acc.add(line_health(l.text), l.at.no);
                }
                Some(Mode::Tree(t))
            }
            TreeLine::Pair {
                indent,
                key,
                value,
                opens,
                item,
            } => {
                while t.stack.last().is_some_and(|(i, _)| *i >= indent) {
                    t.stack.pop();
                }
                if item {
                    if let Some(obj) = &mut t.obj {
                        obj.owner = (None, None);
                    }
                }
                let depth = t.stack.len();
                let at_root = depth == 0 || t.stack.last().is_some_and(|(_, k)| k == "items");
                if at_root && matches!(key, "apiVersion" | "kind" | "metadata") {
                    let fresh = match &t.obj {
                        None => true,
                        Some(o) => o.root != depth || o.seen.contains(&key.to_string()),
                    };
                    if fresh {
                        if let Some(obj) = t.obj.take() {
                            self.flush_object(obj);
                        }
                        t.obj = Some(Obj::new(depth));
                    }
                }
                if let Some(obj) = &t.obj {
                    if depth < obj.root {
                        let obj = t.obj.take().expect("checked");
                        self.flush_object(obj);
                    }
                }
                if let Some(obj) = &mut t.obj {
                    let rel: Vec<&str> = t.stack[obj.root..]
                        .iter()
                        .map(|(_, k)| k.as_str())
                        .collect();
                    obj.pair(&rel, key, value, l);
                }
                if !t.json && (value.starts_with('|') || value.starts_with('>')) {
                    t.block_scalar = Some(indent);
                }
                if opens {
                    t.stack.push((indent, key.to_string()));
                }
                Some(Mode::Tree(t))
            }
            TreeLine::Other => {
                if t.json || l.text.starts_with(char::is_whitespace) {
                    // Inside a document: a line we do not read.
                    return Some(Mode::Tree(t));
                }
                if let Some(obj) = t.obj.take() {
                    self.flush_object(obj);
                }
                None
            }
        }
    }

    fn flush_object(&mut self, obj: Obj) {
        let rank = obj.acc.rank(|n| Scope::Block("object", n));
        if let Some((why, n)) = obj.acc.worst.or(obj.acc.healthy) {
            self.observe(why, n);
        }
        let out = obj.facts();
        self.emit(out, rank);
    }
}

// ---------------------------------------------------------------------------
// Echoed commands

const PROGRAMS: &[&str] = &[
    "kubectl",
    "oc",
    "amtool",
    "redis-cli",
    "psql",
    "df",
    "journalctl",
    "systemctl",
];

/// The program and arguments of a command line as pasted with its prompt
/// (`$ kubectl …`, `user@host:~$ kubectl …`, `[u@h ~]# df -h`) or bare
/// (`kubectl -n payments get pods`).
fn echoed_command(line: &str) -> Option<(&'static str, Vec<String>)> {
    let mut prompt = false;
    for (i, (pos, tok)) in tokens(line).into_iter().take(6).enumerate() {
        let name = tok.rsplit('/').next().unwrap_or(tok);
        let program = PROGRAMS
            .iter()
            .copied()
            .find(|p| *p == name)
            .map(|p| if p == "oc" { "kubectl" } else { p })
            .or_else(|| (name == "k" && prompt).then_some("kubectl"));
        if let Some(program) = program {
            if !prompt && i > 0 {
                return None;
            }
            let args = command_args(&line[pos..]);
            if !prompt && !plausible_bare(program, &args) {
                return None;
            }
            return Some((program, args));
        }
        if tok == "sudo" && prompt {
            continue;
        }
        if tok.ends_with(['$', '#', '%', '>', '❯', '➜', '»']) || matches!(tok, "➜" | "❯") {
            prompt = true;
        } else if prompt && !(tok == "~" || tok.starts_with('~') || tok.contains('/')) {
            // Text after a prompt-like mark that is not a path: not a prompt.
            return None;
        }
    }
    None
}

/// A bare line starting with a program name reads as a command only if it
/// looks like one (`kubectl get …`, `df -h`), not like prose.
fn plausible_bare(program: &str, args: &[String]) -> bool {
    let rest = &args[1..];
    match program {
        "kubectl" => rest.iter().any(|a| {
            matches!(
                a.as_str(),
                "get" | "describe" | "logs" | "top" | "rollout" | "events" | "auth" | "explain"
            )
        }),
        _ => {
            rest.first()
                .is_none_or(|a| a.starts_with('-') || a.starts_with('/'))
                || matches!(
                    program,
                    "amtool" | "redis-cli" | "psql" | "journalctl" | "systemctl"
                )
        }
    }
}

/// The words of a command, up to the first pipe, list or redirection.
fn command_args(text: &str) -> Vec<String> {
    let words =
        shlex::split(text).unwrap_or_else(|| text.split_whitespace().map(String::from).collect());
    words
        .into_iter()
        .take_while(|w| {
            !matches!(w.as_str(), "|" | "||" | "&&" | ";" | "&")
                && !w.starts_with('>')
                && !w.starts_with("2>")
                && !w.starts_with('|')
        })
        .take(64)
        .collect()
}

#[derive(Default)]
struct KubectlArgs {
    namespace: Option<String>,
    selector: Option<String>,
    container: Option<String>,
    kind: Option<&'static str>,
    objects: Vec<(&'static str, String)>,
}

fn kubectl_args(args: &[String]) -> KubectlArgs {
    let mut out = KubectlArgs::default();
    let mut positional: Vec<&str> = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        let mut value = |short: &str, long: &str| -> Option<Option<String>> {
            if a == short || a == long {
                let v = args.get(i).cloned();
                i += 1;
                return Some(v);
            }
            if let Some(v) = a.strip_prefix(&format!("{long}=")) {
                return Some(Some(v.to_string()));
            }
            if !short.is_empty()
                && a.starts_with(short)
                && a.len() > short.len()
                && !a.starts_with("--")
            {
                return Some(Some(a[short.len()..].trim_start_matches('=').to_string()));
            }
            None
        };
        if let Some(v) = value("-n", "--namespace") {
            out.namespace = v;
        } else if let Some(v) = value("-l", "--selector") {
            out.selector = v;
        } else if let Some(v) = value("-c", "--container") {
            out.container = v;
        } else if value("-o", "--output").is_some()
            || value("", "--context").is_some()
            || value("", "--cluster").is_some()
            || value("", "--kubeconfig").is_some()
            || value("", "--field-selector").is_some()
            || value("", "--sort-by").is_some()
            || value("", "--tail").is_some()
            || value("", "--since").is_some()
            || value("-f", "--filename").is_some()
            || value("", "--timeout").is_some()
            || value("", "--max-log-requests").is_some()
        {
        } else if !a.starts_with('-') {
            positional.push(a);
        }
    }
    let Some((verb, rest)) = positional.split_first() else {
        return out;
    };
    let resources: &[&str] = match *verb {
        "get" | "describe" | "top" => rest,
        "rollout" => rest.get(1..).unwrap_or(&[]),
        "logs" | "exec" | "attach" | "port-forward" => {
            if let Some(first) = rest.first() {
                match split_kind(first) {
                    Some((kind, name)) => out.objects.push((kind, name.to_string())),
                    None => out.objects.push(("pod", first.to_string())),
                }
            }
            return out;
        }
        "cordon" | "uncordon" | "drain" => {
            out.objects
                .extend(rest.iter().map(|n| ("node", n.to_string())));
            return out;
        }
        _ => return out,
    };
    if resources.first().is_some_and(|r| r.contains('/')) {
        for r in resources {
            if let Some((kind, name)) = split_kind(r) {
                out.objects.push((kind, name.to_string()));
                out.kind = Some(kind);
            }
        }
        return out;
    }
    if let Some((types, names)) = resources.split_first() {
        let kinds: Vec<&'static str> = types.split(',').filter_map(kube_kind).collect();
        if kinds.len() == 1 {
            out.kind = Some(kinds[0]);
            out.objects
                .extend(names.iter().map(|n| (kinds[0], n.to_string())));
        }
    }
    out
}

/// `redis://user:pass@host:6379/0`, `postgresql://user@host:5432/db`.
fn url_facts(out: &mut Vec<Pending>, url: &str, at: At) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return;
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (hostport, None),
    };
    out.push(pending("host", host, at, How::Printed));
    if let Some(p) = port {
        out.push(pending("port", p, at, How::Printed));
    }
    if scheme.starts_with("postgres") {
        if let Some(user) = userinfo.map(|u| u.split(':').next().unwrap_or("")) {
            out.push(pending("user", user, at, How::Printed));
        }
        let db = path.split('?').next().unwrap_or("");
        out.push(pending("database", db, at, How::Printed));
    }
}

fn is_secret_key(key: &str) -> bool {
    [
        "password", "passwd", "pass", "token", "secret", "key", "auth",
    ]
    .iter()
    .any(|s| key.contains(s))
}

// ---------------------------------------------------------------------------
// Plain lines

/// `No resources found in payments namespace.`
fn no_resources_in(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("No resources found in ")?;
    let ns = rest
        .strip_suffix(" namespace.")
        .or_else(|| rest.strip_suffix(" namespace"))?;
    (!ns.contains(char::is_whitespace)).then_some(ns)
}

/// `10.0.4.12:6379> INFO memory` (redis-cli's prompt).
fn redis_prompt(line: &str) -> Option<(&str, &str)> {
    let prompt = line
        .split_once("> ")
        .map(|(p, _)| p)
        .or_else(|| line.strip_suffix('>'))?;
    let prompt = prompt.split('[').next()?;
    let (host, port) = prompt.rsplit_once(':')?;
    let ok_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let ok_port = (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
    (ok_host && ok_port).then_some((host, port))
}

/// `payments=# SELECT …` (psql's prompt).
fn psql_prompt(line: &str) -> Option<&str> {
    let (db, _) = line.split_once("=# ").or_else(|| line.split_once("=> "))?;
    let ok = !db.is_empty()
        && db.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && db
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    ok.then_some(db)
}

/// `maxmemory:8589934592` (`redis-cli INFO`): a key, a colon, no spaces.
fn info_field(line: &str) -> Option<(&str, &str)> {
    if line.contains(char::is_whitespace) {
        return None;
    }
    let (key, value) = line.split_once(':')?;
    let ok = !key.is_empty()
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !value.is_empty()
        && !value.starts_with("//");
    ok.then_some((key, value))
}

/// `key=value` and `key="value"` pairs on a line: alert label lists,
/// amtool matchers, Prometheus series, logfmt.
pub fn label_pairs(line: &str) -> Vec<(&str, &str)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r#"(?:^|[\s{,(\[;|])([A-Za-z_][A-Za-z0-9_./-]*)=(?:"([^"]*)"|'([^']*)'|([^\s,}\])]+))"#,
        )
        .expect("static regex")
    });
    re.captures_iter(line)
        .filter_map(|c| {
            let key = c.get(1)?.as_str();
            let value = c.get(2).or(c.get(3)).or(c.get(4))?.as_str();
            (!value.starts_with('~')).then_some((key, value))
        })
        .take(32)
        .collect()
}

/// systemd unit names on a line (`checkout.service: Main process exited`).
fn units(line: &str) -> Vec<&str> {
    const SUFFIXES: &[&str] = &[
        ".service", ".socket", ".timer", ".mount", ".path", ".scope", ".slice", ".target",
    ];
    line.split_whitespace()
        .map(|w| {
            w.trim_start_matches(['●', '*', '\'', '"', '(', '['])
                .trim_end_matches([':', '.', ',', '\'', '"', ')', ']', ';'])
        })
        .filter(|w| {
            SUFFIXES.iter().any(|s| w.ends_with(s) && w.len() > s.len())
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"@_.:-\\".contains(&b))
        })
        .take(8)
        .collect()
}

/// A comment line (`#`, `//`): text someone wrote, not what a system printed.
fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('#') || t.starts_with("//")
}

/// The container an event's message names.
fn container_in_message(message: &str) -> Option<&str> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r"(?:failed container ([a-z0-9][-a-z0-9]*) in pod|Container ([a-z0-9][-a-z0-9]*) failed (?:liveness|readiness|startup) probe|(?:Started|Created) container:? ([a-z0-9][-a-z0-9]*)$)",
        )
        .expect("static regex")
    });
    let c = re.captures(message)?;
    Some(c.get(1).or(c.get(2)).or(c.get(3))?.as_str())
}

// ---------------------------------------------------------------------------
// Tables: kubectl, amtool, df

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Kubectl,
    Amtool,
    Df,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Namespace,
    Name,
    Node,
    Object,
    Labels,
    Selector,
    Containers,
    Claim,
    Reference,
    Status,
    Ready,
    Restarts,
    Type,
    Use,
    State,
    Pairs,
    Message,
    Generic,
    Skip,
}

impl Role {
    /// Cells of this column never hold spaces.
    fn one_word(self) -> bool {
        matches!(
            self,
            Role::Namespace | Role::Name | Role::Ready | Role::Status | Role::Node | Role::Object
        )
    }

    /// Free text, possibly with spaces.
    fn free(self) -> bool {
        matches!(self, Role::Message)
    }

    /// Cells of this column name things: not status words.
    fn names(self) -> bool {
        matches!(
            self,
            Role::Namespace
                | Role::Name
                | Role::Node
                | Role::Object
                | Role::Labels
                | Role::Selector
                | Role::Containers
                | Role::Claim
                | Role::Reference
                | Role::Pairs
        )
    }
}

struct Col {
    start: usize,
    key: String,
    role: Role,
}

struct Table {
    kind: Option<&'static str>,
    cols: Vec<Col>,
}

fn role(flavor: Flavor, name: &str, key: &str) -> Role {
    match flavor {
        Flavor::Kubectl => match key {
            "namespace" => Role::Namespace,
            "name" => Role::Name,
            "node" => Role::Node,
            "object" => Role::Object,
            "labels" => Role::Labels,
            "selector" => Role::Selector,
            "containers" => Role::Containers,
            "claim" => Role::Claim,
            "reference" => Role::Reference,
            "status" => Role::Status,
            "ready" => Role::Ready,
            "restarts" => Role::Restarts,
            "type" => Role::Type,
            "message" => Role::Message,
            "age" | "last_seen" | "first_seen" | "images" | "nominated_node"
            | "readiness_gates" => Role::Skip,
            _ => Role::Generic,
        },
        Flavor::Amtool => match name {
            "Alertname" | "ID" | "Created By" => Role::Generic,
            "Labels" | "Matchers" => Role::Pairs,
            "State" => Role::State,
            "Summary" | "Comment" => Role::Message,
            _ => Role::Skip,
        },
        Flavor::Df => match name {
            "Use%" | "Capacity" => Role::Use,
            _ => Role::Generic,
        },
    }
}

/// Column headers as printed, with their byte offsets; two-word headers
/// (`LAST SEEN`, `Mounted on`, `Starts At`) kept whole.
fn header_tokens(text: &str) -> Vec<(usize, &str)> {
    const TWO_WORDS: &[&str] = &[
        "LAST SEEN",
        "FIRST SEEN",
        "ACCESS MODES",
        "NOMINATED NODE",
        "READINESS GATES",
        "RECLAIM POLICY",
        "NODE SELECTOR",
        "Starts At",
        "Ends At",
        "Updated At",
        "Created By",
        "Generator URL",
        "Mounted on",
    ];
    let toks = tokens(text);
    let mut out: Vec<(usize, &str)> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let (start, tok) = toks[i];
        if let Some(&(next_start, next)) = toks.get(i + 1) {
            let joined = &text[start..next_start + next.len()];
            if next_start == start + tok.len() + 1 && TWO_WORDS.contains(&joined) {
                out.push((start, joined));
                i += 2;
                continue;
            }
        }
        out.push((start, tok));
        i += 1;
    }
    out
}

/// `NAME`, `UP-TO-DATE`, `PORT(S)`, `CPU(cores)`, `LAST SEEN`.
fn is_upper_header(tok: &str) -> bool {
    let head = tok.split('(').next().unwrap_or("");
    tok.starts_with(|c: char| c.is_ascii_uppercase())
        && head
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "%/_.- ".contains(c))
}

fn kind_from_header(keys: &[String]) -> Option<&'static str> {
    let has = |k: &str| keys.iter().any(|x| x == k);
    Some(if has("restarts") && has("status") {
        "pod"
    } else if has("roles") && has("version") {
        "node"
    } else if has("up_to_date") && has("available") && !has("desired") {
        "deployment"
    } else if has("desired") && has("node_selector") {
        "daemonset"
    } else if has("desired") && has("current") {
        "replicaset"
    } else if has("volume") && has("capacity") && has("storageclass") {
        "pvc"
    } else if has("claim") && has("reclaim_policy") {
        "pv"
    } else if has("completions") {
        "job"
    } else if has("reference") && has("minpods") {
        "hpa"
    } else if has("cluster_ip") {
        "service"
    } else if has("schedule") && has("suspend") {
        "cronjob"
    } else if has("ready") && has("secret") {
        "certificate"
    } else if has("cpu_cores") && has("cpu") {
        "node"
    } else if has("cpu_cores") {
        "pod"
    } else if keys.len() >= 3 && keys[0] == "name" && keys[1] == "ready" && keys[2] == "age" {
        "statefulset"
    } else if keys == ["name", "status", "age"] {
        "namespace"
    } else {
        return None;
    })
}

/// Whitespace-separated words with their byte offsets.
fn tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

impl Table {
    /// The cells of a row, by the first way that fits: one word per
    /// column (a parenthesised aside like `17 (2m ago)` joins the word
    /// before it); cells at the header's offsets (the tools align them);
    /// a free-text last column taking the rest; runs of two or more spaces;
    /// else only the leading one-word columns (a ragged row).
    fn cells<'a>(&self, row: &'a str) -> Option<Vec<Option<&'a str>>> {
        let n = self.cols.len();
        let words = join_asides(row, tokens(row));
        if words.is_empty() {
            return None;
        }
        if words.len() == n {
            return Some(words.iter().map(|w| Some(*w)).collect());
        }
        if let Some(cells) = self.aligned(row) {
            return Some(cells);
        }
        if words.len() > n && self.cols.last().is_some_and(|c| c.role.free()) {
            let mut cells: Vec<Option<&str>> = words[..n - 1].iter().map(|w| Some(*w)).collect();
            let rest_start = words[n - 1].as_ptr() as usize - row.as_ptr() as usize;
            cells.push(Some(row[rest_start..].trim_end()));
            return Some(cells);
        }
        let wide: Vec<&str> = split_wide(row);
        if wide.len() == n {
            return Some(wide.into_iter().map(Some).collect());
        }
        let safe = self.cols.iter().take_while(|c| c.role.one_word()).count();
        if safe == 0 || words.len() < safe {
            return None;
        }
        let mut cells: Vec<Option<&str>> = words[..safe].iter().map(|w| Some(*w)).collect();
        cells.resize(n, None);
        Some(cells)
    }

    fn aligned<'a>(&self, row: &'a str) -> Option<Vec<Option<&'a str>>> {
        let bytes = row.as_bytes();
        let mut cells = Vec::with_capacity(self.cols.len());
        for (i, col) in self.cols.iter().enumerate() {
            let start = col.start;
            let end = self
                .cols
                .get(i + 1)
                .map_or(row.len(), |c| c.start.min(row.len()));
            if start >= row.len() {
                return None;
            }
            let starts_here = !bytes[start].is_ascii_whitespace()
                && (start == 0 || bytes[start - 1].is_ascii_whitespace());
            if !starts_here || !row.is_char_boundary(start) || !row.is_char_boundary(end) {
                return None;
            }
            let cell = row[start..end].trim();
            if i + 1 < self.cols.len() && cell.contains("  ") {
                return None;
            }
            cells.push(Some(cell));
        }
        Some(cells)
    }
}

/// Words, with a parenthesised aside (`(2m ago)`, `(x17 over 41m)`) joined
/// to the word before it.
fn join_asides<'a>(row: &'a str, toks: Vec<(usize, &'a str)>) -> Vec<&'a str> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut depth = 0i32;
    for (start, tok) in toks {
        let end = start + tok.len();
        let opens = tok.matches('(').count() as i32;
        let closes = tok.matches(')').count() as i32;
        if (depth > 0 || tok.starts_with('(')) && !out.is_empty() {
            out.last_mut().expect("checked").1 = end;
        } else {
            out.push((start, end));
        }
        depth = (depth + opens - closes).max(0);
    }
    out.into_iter().map(|(s, e)| &row[s..e]).collect()
}

/// Cells separated by two or more spaces.
fn split_wide(row: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = row.trim();
    while !rest.is_empty() {
        match rest.find("  ") {
            Some(i) => {
                out.push(&rest[..i]);
                rest = rest[i..].trim_start();
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// psql

/// `-------+----------+-----` under a psql header.
fn is_psql_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3 && t.starts_with('-') && t.bytes().all(|b| b == b'-' || b == b'+')
}

/// `-[ RECORD 1 ]----+------` (psql's expanded display).
fn is_psql_record(line: &str) -> bool {
    line.starts_with("-[ RECORD ")
}

struct Record {
    acc: Acc,
    fields: Vec<Pending>,
}

impl Record {
    fn new(_line: usize) -> Record {
        Record {
            acc: Acc::default(),
            fields: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------
// kubectl describe

/// `Controlled By:  ReplicaSet/checkout-7d9f8c6b5` → (`Controlled By`, value).
fn describe_field(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let ok = key.starts_with(|c: char| c.is_ascii_uppercase())
        && key.len() <= 40
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " ()./-".contains(c));
    (ok && (value.is_empty() || value.starts_with(char::is_whitespace)))
        .then_some((key, value.trim()))
}

struct Describe {
    cmd_kind: Option<&'static str>,
    fields: Vec<(String, String, At)>,
    labels: Vec<(String, At)>,
    used_by: Vec<(String, At)>,
    containers: Vec<(String, At)>,
    last_key: String,
    containers_at: Option<usize>,
    container_indent: Option<usize>,
    acc: Acc,
}

impl Describe {
    fn new(cmd_kind: Option<&'static str>) -> Describe {
        Describe {
            cmd_kind,
            fields: Vec::new(),
            labels: Vec::new(),
            used_by: Vec::new(),
            containers: Vec::new(),
            last_key: String::new(),
            containers_at: None,
            container_indent: None,
            acc: Acc::default(),
        }
    }

    fn line(&mut self, l: &Line<'_>) {
        let text = l.text;
        self.acc.add(line_health(text), l.at.no);
        let indent = text.len() - text.trim_start().len();
        let trimmed = text.trim();
        if let Some(ci) = self.containers_at {
            if indent <= ci {
                self.containers_at = None;
                self.container_indent = None;
            }
        }
        if indent == 0 {
            if let Some((key, value)) = describe_field(text) {
                self.last_key = key.to_string();
                match key {
                    "Labels" => self.push_label(value, l.at),
                    "Used By" => self.push_used_by(value, l.at),
                    "Containers" | "Init Containers" => {
                        self.containers_at = Some(0);
                        self.container_indent = None;
                    }
                    _ => {}
                }
                if self.fields.len() < MAX_ENTRIES {
                    self.fields.push((key.to_string(), value.to_string(), l.at));
                }
            }
            return;
        }
        if let Some(ci) = self.containers_at {
            let at_level = self.container_indent.is_none_or(|c| c == indent);
            if indent > ci && at_level {
                if let Some(name) = trimmed.strip_suffix(':') {
                    let ok = !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                    if ok {
                        self.container_indent = Some(indent);
                        if self.containers.len() < MAX_ENTRIES {
                            self.containers.push((name.to_string(), l.at));
                        }
                        return;
                    }
                }
            }
        }
        if matches!(trimmed, "Containers:" | "Init Containers:") {
            self.containers_at = Some(indent);
            self.container_indent = None;
            return;
        }
        // Continuation lines of a multi-line field.
        if !trimmed.contains(char::is_whitespace) {
            match self.last_key.as_str() {
                "Labels" => self.push_label(trimmed, l.at),
                "Used By" => self.push_used_by(trimmed, l.at),
                _ => {}
            }
        }
    }

    fn push_label(&mut self, value: &str, at: At) {
        if value.contains('=') && self.labels.len() < MAX_ENTRIES {
            self.labels.push((value.to_string(), at));
        }
    }

    fn push_used_by(&mut self, value: &str, at: At) {
        if clean_value(value).is_some() && self.used_by.len() < MAX_ENTRIES {
            self.used_by.push((value.to_string(), at));
        }
    }

    fn field(&self, key: &str) -> Option<(&str, At)> {
        self.fields
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, at)| (v.as_str(), *at))
    }

    fn kind(&self) -> Option<&'static str> {
        let has = |k: &str| self.field(k).is_some();
        if let Some((k, _)) = self.field("Kind") {
            return kube_kind(k);
        }
        if let Some(kind) = self.cmd_kind {
            return Some(kind);
        }
        Some(
            if has("Pods Status") && has("Desired Number of Nodes Scheduled") {
                "daemonset"
            } else if has("Pods Status") && has("Update Strategy") {
                "statefulset"
            } else if has("Pods Status") && has("Selector") {
                "replicaset"
            } else if has("StrategyType") || has("NewReplicaSet") {
                "deployment"
            } else if has("Controlled By") || (has("Node") && (has("IP") || has("Containers"))) {
                "pod"
            } else if has("Roles") || has("Taints") || has("Unschedulable") {
                "node"
            } else if has("StorageClass") && (has("Used By") || has("Access Modes")) {
                "pvc"
            } else if has("Reference") && has("Min replicas") {
                "hpa"
            } else if has("IP Families") || has("Endpoints") {
                "service"
            } else {
                return None;
            },
        )
    }

    fn facts(&self) -> Vec<Pending> {
        let mut out = Vec::new();
        let kind = self.kind();
        let name = self.field("Name");
        if let (Some(kind), Some((name, at))) = (kind, name) {
            object_facts(&mut out, kind, name, at);
        }
        for (key, value, at) in &self.fields {
            let (value, at) = (value.as_str(), *at);
            match key.as_str() {
                "Name" | "Labels" | "Annotations" | "Used By" | "Kind" => {}
                "Namespace" => out.push(pending("namespace", value, at, How::Printed)),
                "Selector" => {
                    if kind != Some("node") {
                        out.push(pending("selector", value, at, How::Printed));
                    }
                }
                "Node" => {
                    let node = value.split('/').next().unwrap_or("");
                    let how = if value.contains('/') {
                        How::Note("the node name before its address")
                    } else {
                        How::Printed
                    };
                    out.push(pending("node", node, at, how));
                }
                "Controlled By" | "Reference" => {
                    if let Some((k, n)) = split_kind(value) {
                        object_facts(&mut out, k, n, at);
                    }
                }
                "NewReplicaSet" | "OldReplicaSets" => {
                    if let Some(rs) = value.split_whitespace().next() {
                        object_facts(&mut out, "replicaset", rs, at);
                    }
                }
                "StorageClass" => out.push(pending("storage_class", value, at, How::Printed)),
                _ => {
                    let k = norm(key);
                    if !value.is_empty() && !is_secret_key(&k) {
                        out.push(pending(&k, value, at, How::Printed));
                    }
                }
            }
        }
        if kind == Some("pod") {
            let pod = name.map_or("", |(n, _)| n);
            if let Some(sel) = selector_of_labels(self.labels.iter().map(|(l, _)| l.as_str())) {
                let at = self.labels[0].1;
                out.push(pending("selector", &sel, at, How::SelectorOfPod(pod)));
            }
        }
        for (label, at) in &self.labels {
            if let Some((k, v)) = label.split_once('=') {
                out.push(pending(&norm(k), v, *at, How::Printed));
            }
        }
        for (pod, at) in &self.used_by {
            out.push(pending("pod", pod, *at, How::Printed));
        }
        for (c, at) in &self.containers {
            out.push(pending("container", c, *at, How::Printed));
        }
        out
    }
}

// ---------------------------------------------------------------------------
// -o yaml / -o json

#[derive(Default)]
struct Tree {
    json: bool,
    stack: Vec<(usize, String)>,
    obj: Option<Obj>,
    block_scalar: Option<usize>,
}

impl Tree {
    fn start(line: &str) -> Option<Tree> {
        let t = line.trim_end();
        let yaml = t.starts_with("apiVersion:")
            || t.starts_with("kind:")
            || t == "metadata:"
            || t == "items:"
            || t.starts_with("- apiVersion:")
            || t == "---";
        let json = t == "{";
        (yaml || json).then(|| Tree {
            json,
            ..Tree::default()
        })
    }
}

enum TreeLine<'a> {
    Blank,
    DocStart,
    Close {
        indent: usize,
    },
    Item {
        indent: usize,
    },
    Pair {
        indent: usize,
        key: &'a str,
        value: &'a str,
        opens: bool,
        item: bool,
    },
    Other,
}

fn tree_parse(line: &str, json: bool) -> TreeLine<'_> {
    let body = line.trim_end();
    if body.trim().is_empty() {
        return TreeLine::Blank;
    }
    let indent = body.len() - body.trim_start().len();
    let mut rest = &body[indent..];
    if json {
        let rest = rest.trim_end_matches(',');
        if rest == "{" || rest == "[" {
            return TreeLine::Item { indent };
        }
        if rest.starts_with('}') || rest.starts_with(']') {
            return TreeLine::Close { indent };
        }
        let Some(r) = rest.strip_prefix('"') else {
            return TreeLine::Other;
        };
        let Some((key, after)) = r.split_once('"') else {
            return TreeLine::Other;
        };
        let Some(value) = after.trim_start().strip_prefix(':') else {
            return TreeLine::Other;
        };
        let value = value.trim();
        let opens = value == "{" || value == "[";
        let value = if opens { "" } else { value };
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        return TreeLine::Pair {
            indent,
            key,
            value,
            opens,
            item: false,
        };
    }
    if rest == "---" {
        return TreeLine::DocStart;
    }
    let mut item = false;
    let mut key_indent = indent;
    if rest == "-" || rest.starts_with("- ") {
        item = true;
        let after = rest[1..].trim_start();
        key_indent = indent + (rest.len() - after.len());
        rest = after;
        if rest.is_empty() {
            return TreeLine::Item { indent };
        }
    }
    let split = if let Some(r) = rest.strip_prefix('"') {
        r.split_once("\":")
    } else if let Some(r) = rest.strip_prefix('\'') {
        r.split_once("':")
    } else {
        match rest.find(": ") {
            Some(i) => Some((&rest[..i], &rest[i + 1..])),
            None => rest.strip_suffix(':').map(|k| (k, "")),
        }
    };
    let Some((key, value)) = split else {
        return if item {
            TreeLine::Item { indent }
        } else {
            TreeLine::Other
        };
    };
    let key_ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./-".contains(&b));
    if !key_ok {
        return if item {
            TreeLine::Item { indent }
        } else {
            TreeLine::Other
        };
    }
    let value = value.trim();
    let opens = value.is_empty();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    TreeLine::Pair {
        indent: key_indent,
        key,
        value,
        opens,
        item,
    }
}

/// One Kubernetes object of a YAML or JSON document.
struct Obj {
    /// Depth of the object's own keys in the key stack.
    root: usize,
    seen: Vec<String>,
    kind: Option<String>,
    name: Option<(String, At)>,
    namespace: Option<(String, At)>,
    labels: Vec<(String, String, At)>,
    match_labels: Vec<(String, String, At)>,
    service_selector: Vec<(String, String, At)>,
    owners: Vec<(String, String, At)>,
    owner: (Option<String>, Option<(String, At)>),
    node: Option<(String, At)>,
    storage_class: Option<(String, At)>,
    containers: Vec<(String, At)>,
    acc: Acc,
}

impl Obj {
    fn new(root: usize) -> Obj {
        Obj {
            root,
            seen: Vec::new(),
            kind: None,
            name: None,
            namespace: None,
            labels: Vec::new(),
            match_labels: Vec::new(),
            service_selector: Vec::new(),
            owners: Vec::new(),
            owner: (None, None),
            node: None,
            storage_class: None,
            containers: Vec::new(),
            acc: Acc::default(),
        }
    }

    fn pair(&mut self, rel: &[&str], key: &str, value: &str, l: &Line<'_>) {
        self.acc.add(line_health(l.text), l.at.no);
        let at = l.at;
        let keep = |list: &mut Vec<(String, String, At)>| {
            if list.len() < MAX_ENTRIES && !value.is_empty() {
                list.push((key.to_string(), value.to_string(), at));
            }
        };
        match rel {
            [] => {
                if matches!(key, "apiVersion" | "kind" | "metadata") {
                    self.seen.push(key.to_string());
                }
                if key == "kind" {
                    self.kind = Some(value.to_string());
                }
            }
            ["metadata"] => match key {
                "name" => self.name = Some((value.to_string(), at)),
                "namespace" => self.namespace = Some((value.to_string(), at)),
                _ => {}
            },
            ["metadata", "labels"] => keep(&mut self.labels),
            ["spec", "selector", "matchLabels"] => keep(&mut self.match_labels),
            ["spec", "selector"] if key != "matchLabels" && key != "matchExpressions" => {
                keep(&mut self.service_selector)
            }
            ["metadata", "ownerReferences"] => {
                match key {
                    "kind" => self.owner.0 = Some(value.to_string()),
                    "name" => self.owner.1 = Some((value.to_string(), at)),
                    _ => {}
                }
                if let (Some(kind), Some((name, at))) = &self.owner {
                    if self.owners.len() < MAX_ENTRIES {
                        self.owners.push((kind.clone(), name.clone(), *at));
                    }
                    self.owner = (None, None);
                }
            }
            ["spec"] => match key {
                "nodeName" => self.node = Some((value.to_string(), at)),
                "storageClassName" => self.storage_class = Some((value.to_string(), at)),
                _ => {}
            },
            ["spec", "containers"] | ["spec", "template", "spec", "containers"]
                if key == "name" && self.containers.len() < MAX_ENTRIES =>
            {
                self.containers.push((value.to_string(), at));
            }
            _ => {}
        }
    }

    fn facts(&self) -> Vec<Pending> {
        let mut out = Vec::new();
        let kind = self.kind.as_deref().and_then(kube_kind);
        if let (Some(kind), Some((name, at))) = (kind, &self.name) {
            if kind == "pod" {
                out.push(pending("pod", name, *at, How::Printed));
                let owned_by_rs = self.owners.iter().any(|(k, _, _)| k == "ReplicaSet");
                if !owned_by_rs {
                    if let Some((deployment, _)) = deployment_of_pod(name) {
                        out.push(pending(
                            "deployment",
                            deployment,
                            *at,
                            How::DeploymentOfPod(name),
                        ));
                    }
                }
            } else {
                object_facts(&mut out, kind, name, *at);
            }
        }
        if let Some((ns, at)) = &self.namespace {
            out.push(pending("namespace", ns, *at, How::Printed));
        }
        let as_selector = |list: &[(String, String, At)]| {
            list.iter()
                .map(|(k, v, _)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        if let Some((_, _, at)) = self.match_labels.first() {
            out.push(pending(
                "selector",
                &as_selector(&self.match_labels),
                *at,
                How::Note("spec.selector.matchLabels, written as k=v"),
            ));
        }
        if kind == Some("service") {
            if let Some((_, _, at)) = self.service_selector.first() {
                out.push(pending(
                    "selector",
                    &as_selector(&self.service_selector),
                    *at,
                    How::Note("the Service's spec.selector, written as k=v"),
                ));
            }
        }
        if kind == Some("pod") {
            if let Some((_, _, at)) = self.labels.first() {
                let pod = self.name.as_ref().map_or("", |(n, _)| n.as_str());
                let labels: Vec<String> = self
                    .labels
                    .iter()
                    .map(|(k, v, _)| format!("{k}={v}"))
                    .collect();
                if let Some(sel) = selector_of_labels(labels.iter().map(String::as_str)) {
                    out.push(pending("selector", &sel, *at, How::SelectorOfPod(pod)));
                }
            }
        }
        for (k, v, at) in &self.labels {
            out.push(pending(&norm(k), v, *at, How::Printed));
        }
        for (kind, name, at) in &self.owners {
            if let Some(kind) = kube_kind(kind) {
                object_facts(&mut out, kind, name, *at);
            }
        }
        if let Some((node, at)) = &self.node {
            out.push(pending("node", node, *at, How::Printed));
        }
        if let Some((sc, at)) = &self.storage_class {
            out.push(pending("storage_class", sc, *at, How::Printed));
        }
        for (c, at) in &self.containers {
            out.push(pending("container", c, *at, How::Printed));
        }
        out
    }
}
