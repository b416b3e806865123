//! Runbook matching (SPEC §4 `stepguard match`, §7 "match below threshold ⇒
//! ESCALATE", §8 "≤ 10 ms a query over 10,000 runbooks").
//!
//! Evidence, strongest first:
//!
//! 1. the alert's `alertname` is listed verbatim in a runbook's `alerts` ⇒
//!    confidence [`ALERTNAME_CONFIDENCE`] (0.99). Several runbooks listing the
//!    same alert are ordered by how well the rest of the query matches them
//!    lexically, then by how few alerts they list (the more specific first);
//! 2. the alert's `runbook_url` annotation names the runbook: its last path
//!    segment (query and fragment dropped, case-insensitive, `.md` stripped)
//!    equals the runbook's id or its file stem ⇒ [`RUNBOOK_URL_CONFIDENCE`] (0.95);
//! 3. an alert a runbook answers is named in free text ⇒
//!    [`ALERT_MENTION_CONFIDENCE`] (0.97): after `alertname=` / `alertname:`,
//!    or a CamelCase alert name spelled exactly (see `mentioned_alerts`);
//! 4. otherwise lexical similarity: BM25 (k1 = 1.2, b = 0.75) over the
//!    runbook's fields with boosts alerts ×3, title ×2, symptoms ×2,
//!    summary ×1, steps' titles and intents ×0.5 (a BM25F-style weighted term
//!    frequency and weighted document length).
//!
//! # Calibrated lexical confidence
//!
//! A raw BM25 score has no scale, so it is mapped to [0, 1] from two
//! quantities that do:
//!
//! * **coverage** `c ∈ [0, 1]`: the share of the query the runbook accounts
//!   for. The reference is the score `s_max` of an average-length runbook that
//!   mentions every query term exactly once, in its title (weighted tf 2):
//!   `s_max = Σ_t idf(t) · (k1 + 1) · 2 / (2 + k1)`. The runbook's score is
//!   recomputed with each term's contribution capped at that reference
//!   (`min(bm25_t, idf(t) · (k1 + 1) · 2 / (2 + k1))`), so one word repeated
//!   all over a runbook cannot stand in for the words it lacks, and
//!   `c = capped / s_max`. Terms the catalogue never uses count in `s_max`
//!   with [`UNKNOWN_WEIGHT`] (0.7) of the idf of a term no runbook holds
//!   (`ln(1 + (N + 0.5) / 0.5)`): words the catalogue does not know pull the
//!   confidence down ("the office wifi is slow" covers nothing), a little
//!   less than a known word it lacks (an alert's description carries
//!   cluster names and durations no runbook mentions);
//! * **margin** `m = (s₁ − s₂) / s₁` of the best BM25 score over the
//!   runner-up's (0 for every runbook but the best): a query that fits two
//!   runbooks equally well is ambiguous, and ambiguity is a reason to escalate.
//!
//! `confidence = 0.9 · √c · (1 + m) / 2`. The square root keeps a runbook that
//! covers a third of a long, noisy query (pasted state, an alert's
//! description) distinguishable from one that covers nothing; the margin term
//! halves the confidence of an exact tie, so only the best runbook can clear
//! [`DEFAULT_THRESHOLD`] (any other is at most 0.45), and 0.9 keeps lexical
//! evidence below the structural 0.95 / 0.99. Ordering by confidence is
//! ordering by score. On the bundled catalogue and `eval/scenarios`, every
//! text that should match nothing scores below 0.5 (the highest, 0.47, is a
//! laptop battery that "drains" like a node).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::draft::Alert;
use crate::runbook::Runbook;

/// The policy's default `match_threshold`: below it, ESCALATE.
pub const DEFAULT_THRESHOLD: f64 = 0.5;
/// An exact `alertname` listed in the runbook's `alerts`.
pub const ALERTNAME_CONFIDENCE: f64 = 0.99;
/// The alert's `runbook_url` names the runbook.
pub const RUNBOOK_URL_CONFIDENCE: f64 = 0.95;
/// An alert a runbook answers is named in free text (`alertname=X`, or a
/// CamelCase alert name written as it is spelled): nearly as strong as the
/// alert itself, below it so a real alert's own name wins.
pub const ALERT_MENTION_CONFIDENCE: f64 = 0.97;
/// The ceiling of lexical confidence.
pub const LEXICAL_CEILING: f64 = 0.9;

const K1: f64 = 1.2;
const B: f64 = 0.75;
const BOOST_ALERTS: f32 = 3.0;
const BOOST_TITLE: f32 = 2.0;
const BOOST_SYMPTOMS: f32 = 2.0;
const BOOST_SUMMARY: f32 = 1.0;
const BOOST_STEPS: f32 = 0.5;
/// How much a query word the catalogue never uses counts against coverage,
/// as a share of a term no runbook holds. Chosen on the tune half of
/// `eval/prometheus-operator` with the bundled scenarios' no-match
/// precision kept at 100 %: 0.5 to 0.7 score the same there (1.0 sent more
/// alert descriptions to escalation, 0.4 and below let unrelated text
/// match), and 0.7 leaves unrelated text furthest under the threshold. The
/// held-out half was not used to choose.
const UNKNOWN_WEIGHT: f64 = 0.7;
/// Weighted tf of the reference document's single mention (a title word).
const REFERENCE_TF: f64 = BOOST_TITLE as f64;

/// What is being matched: an alert's name and runbook link, and free text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub alertname: Option<String>,
    pub runbook_url: Option<String>,
    pub text: String,
}

/// One ranked runbook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    pub id: String,
    pub title: String,
    pub path: PathBuf,
    /// In [0, 1].
    pub confidence: f64,
    /// The evidence: `alertname X`, `runbook_url`, `lexical: a b c`.
    pub why: String,
}

/// Labels that identify *where* an alert fires, not *what* is wrong: their
/// values are left out of the query text (they matter to drafting, not to
/// matching, and a namespace called `checkout` must not pick a runbook).
const IDENTITY_LABELS: &[&str] = &[
    "alertname",
    "cluster",
    "container",
    "container_id",
    "daemonset",
    "deployment",
    "endpoint",
    "horizontalpodautoscaler",
    "instance",
    "job",
    "namespace",
    "node",
    "persistentvolumeclaim",
    "pod",
    "prometheus",
    "region",
    "replica",
    "replicaset",
    "service",
    "severity",
    "statefulset",
    "uid",
    "zone",
];

/// A query from an alert: `alertname`, the `runbook_url` annotation, and as
/// text the alertname, the values of the non-identity labels and the
/// annotations' text (except links).
pub fn query_from_alert(alert: &Alert) -> Query {
    let mut text = String::new();
    let mut push = |s: &str| {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(s);
    };
    if let Some(name) = alert.name() {
        push(name);
    }
    for (k, v) in &alert.labels {
        if !k.starts_with("__") && !IDENTITY_LABELS.contains(&k.as_str()) {
            push(v);
        }
    }
    for (k, v) in &alert.annotations {
        if k != "runbook_url" && k != "runbook" && k != "dashboard" && !v.starts_with("http") {
            push(v);
        }
    }
    Query {
        alertname: alert.name().map(str::to_string),
        runbook_url: alert
            .annotations
            .get("runbook_url")
            .or_else(|| alert.annotations.get("runbook"))
            .cloned(),
        text,
    }
}

/// A query from free text or pasted state.
pub fn query_from_text(text: &str) -> Query {
    Query {
        text: text.to_string(),
        ..Query::default()
    }
}

const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "again", "ago", "all", "also", "am", "an", "and", "any", "are", "as",
    "at", "be", "been", "being", "but", "by", "can", "could", "did", "do", "does", "for", "from",
    "get", "getting", "got", "had", "has", "have", "help", "how", "i", "if", "in", "into", "is",
    "it", "its", "just", "keep", "keeps", "like", "look", "looks", "me", "my", "of", "on", "or",
    "our", "please", "seeing", "since", "so", "some", "still", "than", "that", "the", "their",
    "them", "then", "there", "these", "this", "those", "to", "up", "us", "very", "was", "we",
    "were", "what", "when", "where", "which", "while", "who", "why", "will", "with", "would",
    "you", "your",
];

/// Lower-cases, splits on anything not alphanumeric and on camelCase
/// boundaries (`KubePodCrashLooping` → kube pod crash loop, `OOMKilled` → oom
/// kill), drops stop words, one-letter tokens, durations and hash-like
/// fragments (`2m`, `7d9f8b6c4`), stems with the Snowball English stemmer
/// (`restarting`, `restarts` → restart) and reads [`SYNONYMS`] (oom as
/// memory).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    tokenize_into(text, &mut |t, _| out.push(t));
    out
}

/// Each token as its stem, with the lower-cased word it was written as
/// (what an explanation shows: `instances`, not the stem `instanc`).
fn tokenize_into(text: &str, emit: &mut impl FnMut(String, &str)) {
    for chunk in text.split(|c: char| !c.is_alphanumeric()) {
        if chunk.is_empty() {
            continue;
        }
        let chars: Vec<char> = chunk.chars().collect();
        let mut start = 0;
        for i in 1..=chars.len() {
            let boundary = i == chars.len() || {
                let (p, c) = (chars[i - 1], chars[i]);
                (p.is_lowercase() && c.is_uppercase())
                    || (p.is_uppercase()
                        && c.is_uppercase()
                        && chars.get(i + 1).is_some_and(|n| n.is_lowercase()))
            };
            if boundary {
                let word: String = chars[start..i]
                    .iter()
                    .flat_map(|c| c.to_lowercase())
                    .collect();
                if let Some(t) = normalize(&word) {
                    emit(canonical(t), &word);
                }
                start = i;
            }
        }
    }
}

/// Words ops people write several ways, each read as the other word (both
/// sides, the catalogue and the query, so a query does not grow by a
/// synonym): `kube-apiserver` finds "API", `OOMKilled` finds "memory".
const SYNONYMS: &[(&str, &str)] = &[
    ("apiserver", "api"),
    ("cert", "certificate"),
    ("db", "database"),
    ("kubernetes", "kube"),
    ("mem", "memory"),
    ("oom", "memory"),
    ("pv", "volume"),
    ("pvc", "volume"),
];

/// A stem as [`SYNONYMS`] reads it.
fn canonical(t: String) -> String {
    static BY_STEM: std::sync::OnceLock<HashMap<String, String>> = std::sync::OnceLock::new();
    let map = BY_STEM.get_or_init(|| {
        SYNONYMS
            .iter()
            .map(|(alias, word)| (stem(alias), stem(word)))
            .collect()
    });
    map.get(&t).cloned().unwrap_or(t)
}

fn normalize(word: &str) -> Option<String> {
    let digits = word.chars().filter(char::is_ascii_digit).count();
    if digits > 0 && digits < word.len() {
        // 502s → 502; 2m, 14m, 3000ms, 7d9f8b6c4 are durations and hashes.
        if word.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            let stem = word.strip_suffix('s')?;
            return (stem.len() >= 3 && stem.chars().all(|c| c.is_ascii_digit()))
                .then(|| stem.to_string());
        }
        // Hash-like: x2kqz, abc12de34 (but keep k8s, x509, base64, http2).
        let b = word.as_bytes();
        let digit_then_letter = b
            .windows(2)
            .any(|w| w[0].is_ascii_digit() && !w[1].is_ascii_digit());
        if word.len() >= 5 && digit_then_letter {
            return None;
        }
    }
    if digits == word.len() {
        // Status and exit codes (502, 137) carry meaning, counts do not.
        return (word.len() >= 3).then(|| word.to_string());
    }
    if word.chars().count() < 2 || STOP_WORDS.binary_search(&word).is_ok() {
        return None;
    }
    Some(stem(word))
}

/// The Snowball English stem, from one stemmer built once.
fn stem(word: &str) -> String {
    static STEMMER: std::sync::OnceLock<rust_stemmers::Stemmer> = std::sync::OnceLock::new();
    STEMMER
        .get_or_init(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English))
        .stem(word)
        .into_owned()
}

struct Doc {
    id: String,
    title: String,
    path: PathBuf,
    n_alerts: usize,
}

/// The index over a catalogue of runbooks; build once, query many times.
pub struct Matcher {
    docs: Vec<Doc>,
    terms: HashMap<String, u32>,
    /// Per term: (document, weighted term frequency), by document.
    postings: Vec<Vec<(u32, f32)>>,
    idf: Vec<f64>,
    /// Per document: `k1 · (1 − b + b · dl / avgdl)`.
    norm: Vec<f64>,
    by_alert: HashMap<String, Vec<u32>>,
    /// Alert names by their lower-cased spelling, for mentions in free text.
    by_alert_folded: HashMap<String, Vec<(String, u32)>>,
    /// Lower-cased ids and file stems.
    by_url_key: HashMap<String, Vec<u32>>,
    unknown_idf: f64,
}

impl Matcher {
    pub fn new(runbooks: &[Runbook]) -> Self {
        let mut terms: HashMap<String, u32> = HashMap::new();
        let mut postings: Vec<Vec<(u32, f32)>> = Vec::new();
        let mut lengths = Vec::with_capacity(runbooks.len());
        let mut by_alert: HashMap<String, Vec<u32>> = HashMap::new();
        let mut by_alert_folded: HashMap<String, Vec<(String, u32)>> = HashMap::new();
        let mut by_url_key: HashMap<String, Vec<u32>> = HashMap::new();
        let mut docs = Vec::with_capacity(runbooks.len());
        let mut bag: HashMap<u32, f32> = HashMap::new();
        for (d, rb) in runbooks.iter().enumerate() {
            let d = d as u32;
            bag.clear();
            let mut len = 0f32;
            let mut add = |text: &str, boost: f32| {
                tokenize_into(text, &mut |t, _| {
                    let next = terms.len() as u32;
                    let id = *terms.entry(t).or_insert_with(|| {
                        postings.push(Vec::new());
                        next
                    });
                    *bag.entry(id).or_default() += boost;
                    len += boost;
                });
            };
            for a in &rb.alerts {
                add(a, BOOST_ALERTS);
            }
            add(&rb.title, BOOST_TITLE);
            for s in &rb.symptoms {
                add(s, BOOST_SYMPTOMS);
            }
            add(&rb.summary, BOOST_SUMMARY);
            for s in &rb.steps {
                add(&s.title, BOOST_STEPS);
                add(&s.intent, BOOST_STEPS);
            }
            for (&t, &tf) in &bag {
                postings[t as usize].push((d, tf));
            }
            lengths.push(len as f64);
            for a in &rb.alerts {
                let list = by_alert.entry(a.clone()).or_default();
                if list.last() != Some(&d) {
                    list.push(d);
                }
                by_alert_folded
                    .entry(a.to_lowercase())
                    .or_default()
                    .push((a.clone(), d));
            }
            let mut keys = vec![rb.id.to_lowercase()];
            if let Some(stem) = rb.path.file_stem().and_then(|s| s.to_str()) {
                keys.push(stem.to_lowercase());
            }
            keys.dedup();
            for k in keys {
                by_url_key.entry(k).or_default().push(d);
            }
            docs.push(Doc {
                id: rb.id.clone(),
                title: rb.title.clone(),
                path: rb.path.clone(),
                n_alerts: rb.alerts.len(),
            });
        }
        for p in &mut postings {
            p.sort_unstable_by_key(|&(d, _)| d);
            p.shrink_to_fit();
        }
        let n = docs.len() as f64;
        let avgdl = if lengths.is_empty() {
            1.0
        } else {
            (lengths.iter().sum::<f64>() / n).max(1e-9)
        };
        let norm = lengths
            .iter()
            .map(|&dl| K1 * (1.0 - B + B * dl / avgdl))
            .collect();
        let idf = postings.iter().map(|p| idf(n, p.len() as f64)).collect();
        Matcher {
            docs,
            terms,
            postings,
            idf,
            norm,
            by_alert,
            by_alert_folded,
            by_url_key,
            unknown_idf: self::idf(n, 0.0),
        }
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Every runbook with confidence > 0, best first.
    pub fn rank(&self, query: &Query) -> Vec<Match> {
        // Query terms, each once.
        // Query terms, each once, with the word first written for it.
        let mut qterms: Vec<(Option<u32>, String, String)> = Vec::new();
        tokenize_into(&query.text, &mut |t, word| {
            if !qterms.iter().any(|(_, q, _)| *q == t) {
                qterms.push((self.terms.get(&t).copied(), t, word.to_string()));
            }
        });
        let reference = (K1 + 1.0) * REFERENCE_TF / (REFERENCE_TF + K1);
        let mut s_max = 0.0;
        // Per candidate: (BM25 score, score with each term capped at the reference).
        let mut scores: HashMap<u32, (f64, f64, u64), DocHash> =
            HashMap::with_capacity_and_hasher(64, DocHash::default());
        for (i, (id, _, _)) in qterms.iter().enumerate() {
            match id {
                None => s_max += UNKNOWN_WEIGHT * self.unknown_idf * reference,
                Some(t) => {
                    let idf = self.idf[*t as usize];
                    let cap = idf * reference;
                    s_max += cap;
                    for &(d, tf) in &self.postings[*t as usize] {
                        let tf = tf as f64;
                        let s = idf * tf * (K1 + 1.0) / (tf + self.norm[d as usize]);
                        let e = scores.entry(d).or_default();
                        e.0 += s;
                        e.1 += s.min(cap);
                        e.2 |= 1u64 << i.min(63);
                    }
                }
            }
        }

        let alert_docs: &[u32] = query
            .alertname
            .as_deref()
            .and_then(|a| self.by_alert.get(a))
            .map_or(&[], Vec::as_slice);
        let url_docs: &[u32] = query
            .runbook_url
            .as_deref()
            .and_then(url_key)
            .and_then(|k| self.by_url_key.get(&k))
            .map_or(&[], Vec::as_slice);

        // Best and runner-up lexical scores.
        let (mut s1, mut s2, mut top) = (0.0f64, 0.0f64, u32::MAX);
        for (&d, &(s, _, _)) in &scores {
            if s > s1 || (s == s1 && d < top) {
                s2 = s1;
                s1 = s;
                top = d;
            } else if s > s2 {
                s2 = s;
            }
        }

        let lexical = |d: u32, (s, capped, _): (f64, f64, u64)| -> f64 {
            if s <= 0.0 || s_max <= 0.0 {
                return 0.0;
            }
            let coverage = (capped / s_max).min(1.0);
            let margin = if d == top { (s1 - s2) / s1 } else { 0.0 };
            LEXICAL_CEILING * coverage.sqrt() * (0.5 + 0.5 * margin)
        };

        let mut ranked: Vec<(f64, f64, u32, String)> = Vec::with_capacity(scores.len() + 2);
        for &d in alert_docs {
            let s = scores.get(&d).map_or(0.0, |e| e.0);
            let why = format!("alertname {}", query.alertname.as_deref().unwrap_or(""));
            ranked.push((ALERTNAME_CONFIDENCE, s, d, why));
        }
        let mentioned = if alert_docs.is_empty() {
            self.mentioned_alerts(&query.text)
        } else {
            Vec::new()
        };
        for (name, d) in &mentioned {
            if ranked.iter().any(|r| r.2 == *d) {
                continue;
            }
            let s = scores.get(d).map_or(0.0, |e| e.0);
            ranked.push((
                ALERT_MENTION_CONFIDENCE,
                s,
                *d,
                format!("alert {name} named in the text"),
            ));
        }
        let alert_docs: Vec<u32> = alert_docs
            .iter()
            .copied()
            .chain(mentioned.iter().map(|(_, d)| *d))
            .collect();
        let alert_docs = alert_docs.as_slice();
        for &d in url_docs {
            if !alert_docs.contains(&d) {
                let s = scores.get(&d).map_or(0.0, |e| e.0);
                ranked.push((RUNBOOK_URL_CONFIDENCE, s, d, "runbook_url".into()));
            }
        }
        for (&d, &e) in &scores {
            if alert_docs.contains(&d) || url_docs.contains(&d) {
                continue;
            }
            let c = lexical(d, e);
            if c > 0.0 {
                ranked.push((c, e.0, d, String::new()));
            }
        }
        ranked.sort_unstable_by(|a, b| {
            b.0.partial_cmp(&a.0)
                .unwrap_or(Ordering::Equal)
                .then(b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal))
                .then(
                    self.docs[a.2 as usize]
                        .n_alerts
                        .cmp(&self.docs[b.2 as usize].n_alerts),
                )
                .then(self.docs[a.2 as usize].id.cmp(&self.docs[b.2 as usize].id))
        });
        ranked
            .into_iter()
            .map(|(confidence, _, d, why)| {
                let doc = &self.docs[d as usize];
                let why = if why.is_empty() {
                    lexical_why(scores.get(&d).map_or(0, |e| e.2), &qterms)
                } else {
                    why
                };
                Match {
                    id: doc.id.clone(),
                    title: doc.title.clone(),
                    path: doc.path.clone(),
                    confidence,
                    why,
                }
            })
            .collect()
    }

    /// The alerts of the catalogue that `text` names: after `alertname=` or
    /// `alertname:` in any case, or anywhere spelled exactly as the alert
    /// when the name is CamelCase (two capitals or more), so a plain word
    /// (`Watchdog`, `watchdog`) is not taken for the alert of that name.
    fn mentioned_alerts(&self, text: &str) -> Vec<(String, u32)> {
        let mut found: Vec<(String, u32)> = Vec::new();
        let words: Vec<&str> = text
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        for (i, w) in words.iter().enumerate() {
            let Some(list) = self.by_alert_folded.get(&w.to_lowercase()) else {
                continue;
            };
            let labelled = i > 0 && words[i - 1].eq_ignore_ascii_case("alertname");
            for (name, d) in list {
                let camel = name.chars().filter(char::is_ascii_uppercase).count() >= 2;
                if (labelled || (camel && name == w)) && !found.iter().any(|(_, x)| x == d) {
                    found.push((name.clone(), *d));
                }
            }
        }
        found
    }

    /// The best runbook if it clears `threshold`; `None` means ESCALATE.
    pub fn best(&self, query: &Query, threshold: f64) -> Option<Match> {
        self.rank(query)
            .into_iter()
            .next()
            .filter(|m| m.confidence >= threshold)
    }
}

/// `lexical: t1 t2 …`: the query terms (at most six) the runbook holds.
fn lexical_why(mask: u64, qterms: &[(Option<u32>, String, String)]) -> String {
    let mut why = String::from("lexical:");
    let mut n = 0;
    for (i, (_, _, t)) in qterms.iter().enumerate().take(64) {
        if mask & (1u64 << i) != 0 {
            if n == 6 {
                why.push_str(" …");
                break;
            }
            why.push(' ');
            why.push_str(t);
            n += 1;
        }
    }
    why
}

/// Document ids are dense small integers: a multiplicative hash is enough
/// and much cheaper than SipHash on the per-query accumulator.
#[derive(Default)]
struct DocHasher(u64);

impl std::hash::Hasher for DocHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type DocHash = std::hash::BuildHasherDefault<DocHasher>;

fn idf(n: f64, df: f64) -> f64 {
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// The last path segment of a runbook link, lower-cased, `.md` stripped.
fn url_key(url: &str) -> Option<String> {
    let url = url.split(['?', '#']).next()?.trim().trim_end_matches('/');
    let last = url.rsplit('/').next()?.to_lowercase();
    let last = last.strip_suffix(".md").unwrap_or(&last).to_string();
    (!last.is_empty()).then_some(last)
}

/// SPEC §4's stable `match --json` shape:
/// `{"threshold": T, "results": [{"id", "title", "path", "confidence"}]}`.
pub fn match_json(matches: &[Match], threshold: f64) -> serde_json::Value {
    serde_json::json!({
        "threshold": threshold,
        "results": matches
            .iter()
            .map(|m| serde_json::json!({
                "id": m.id,
                "title": m.title,
                "path": m.path.display().to_string(),
                "confidence": m.confidence,
            }))
            .collect::<Vec<_>>(),
    })
}

/// Which of the query's words each field of `runbook` holds, in the order
/// the ranker weighs them (alerts, title, symptoms, summary, steps): why a
/// lexical match ranks where it does. Fields holding none are left out.
pub fn explain(runbook: &Runbook, text: &str) -> Vec<(&'static str, Vec<String>)> {
    // Each query stem with the word the query wrote for it.
    let mut query: Vec<(String, String)> = Vec::new();
    tokenize_into(text, &mut |t, word| {
        if !query.iter().any(|(q, _)| *q == t) {
            query.push((t, word.to_string()));
        }
    });
    let mut out = Vec::new();
    let mut field = |name: &'static str, texts: &mut dyn Iterator<Item = &str>| {
        let mut words: Vec<String> = Vec::new();
        for t in texts {
            tokenize_into(t, &mut |stem, _| {
                if let Some((_, word)) = query.iter().find(|(q, _)| *q == stem) {
                    if !words.contains(word) {
                        words.push(word.clone());
                    }
                }
            });
        }
        if !words.is_empty() {
            out.push((name, words));
        }
    };
    field("alerts", &mut runbook.alerts.iter().map(String::as_str));
    field("title", &mut std::iter::once(runbook.title.as_str()));
    field("symptoms", &mut runbook.symptoms.iter().map(String::as_str));
    field("summary", &mut std::iter::once(runbook.summary.as_str()));
    field(
        "steps",
        &mut runbook
            .steps
            .iter()
            .flat_map(|s| [s.title.as_str(), s.intent.as_str()]),
    );
    out
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Matcher({} runbooks)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_sorted() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            tokenize("kube-apiserver OOMKilled PVC"),
            ["kube", "api", "memori", "kill", "volum"]
        );
    }

    #[test]
    fn tokens() {
        assert_eq!(
            tokenize("KubePodCrashLooping OOMKilled crash_loop-back 502s 2m x2kqz7d9f"),
            ["kube", "pod", "crash", "loop", "memori", "kill", "crash", "loop", "back", "502"]
        );
        assert_eq!(
            url_key("https://x/runbooks/kubernetes/KubePodCrashLooping.md?a#b"),
            Some("kubepodcrashlooping".into())
        );
    }
}
