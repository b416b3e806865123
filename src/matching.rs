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
//! 4. otherwise the lexical model below.
//!
//! # The lexical model
//!
//! BM25 (k1 = 1.2, b = 0.75) over the runbook's fields, BM25F-style
//! (weighted term frequency and length): alerts ×3, title ×2, symptoms ×2,
//! summary ×1, description (a Markdown runbook's whole Meaning and Impact)
//! ×0.5, steps' titles and intents ×0.5. Words are split at CamelCase and
//! snake_case, stemmed (Snowball) and read through a few ops synonyms.
//!
//! A raw BM25 score has no scale, so each candidate is described by
//! [`Features`], each in [0, 1] relative to the query (coverage of the query
//! with each term capped at one title mention, uncapped BM25F, the query's
//! weight found in the names and in the Meaning, how much of the runbook's
//! *name* the query says, the names' word pairs the query writes in order,
//! how many words match, and the lead over the runner-up). Words the
//! catalogue never uses count in the query's weight at [`UNKNOWN_WEIGHT`] of
//! a term no runbook holds, so text about something else covers little, and
//! a query weighs at least [`MIN_QUERY_WORDS`] rare words, so one word never
//! picks a runbook. Every weight is zero or more: more of a runbook's words
//! never lower its score.
//!
//! The confidence is a conditional logit: the ten best candidates score
//! `w · f`, "none of them" scores `b₀ + b₁ · unknown` (the share of the
//! query's weight in words no runbook uses), and a runbook's confidence is
//! its softmax probability, capped at [`LEXICAL_CEILING`] (0.9) so lexical
//! evidence stays below the structural 0.95 / 0.99. The weights are fitted
//! by maximum likelihood on the `tune` halves of two catalogues nobody here
//! wrote and on the bundled scenarios (`scripts/fit-matcher.py`, which says
//! how); the held-out halves measure it. So a confidence is a probability:
//! on the held-out hand-written scenarios, 64 of the 68 lexical answers at
//! 0.5 or more are the right runbook, and two runbooks that fit equally well
//! share the probability, so neither clears the threshold. A runbook that
//! holds only one of the query's words keeps half its probability (at most
//! 0.45): one word, however rare, never picks a runbook. Ordering by
//! confidence is ordering by `w · f`, but for that halving.

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
const BOOST_DESCRIPTION: f32 = 0.5;
/// How much a query word the catalogue never uses weighs in the query, as a
/// share of a term no runbook holds (chosen on the tune half of
/// `eval/prometheus-operator`; the held-out half was not used to choose).
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
                    for t in canonical(t) {
                        emit(t, &word);
                    }
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
    ("crashloop", "crash loop"),
    ("db", "database"),
    ("fs", "filesystem"),
    ("kubernetes", "kube"),
    ("mem", "memory"),
    ("nic", "interface"),
    ("notready", "not ready"),
    ("oom", "memory"),
    ("pv", "volume"),
    ("pvc", "volume"),
    ("rx", "receive"),
    ("tx", "transmit"),
];

/// A stem as [`SYNONYMS`] reads it: one stem, or the words a run-together
/// spelling stands for (`crashlooping` is crash loop, as
/// `KubePodCrashLooping` splits).
fn canonical(t: String) -> Vec<String> {
    static BY_STEM: std::sync::OnceLock<HashMap<String, Vec<String>>> = std::sync::OnceLock::new();
    let map = BY_STEM.get_or_init(|| {
        SYNONYMS
            .iter()
            .map(|(alias, words)| (stem(alias), words.split(' ').map(stem).collect()))
            .collect()
    });
    map.get(&t).cloned().unwrap_or_else(|| vec![t])
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
    /// The term ids of each alert name and of the title, in order.
    names: Vec<Vec<u32>>,
    /// Σ idf over the distinct terms of the names.
    name_mass: f64,
}

/// Which fields of a runbook hold a term.
const IN_NAME: u8 = 1;
const IN_ABOUT: u8 = 2;

/// How many of the best lexical candidates share the probability with
/// "none of them" ([`Matcher::rank`]).
const SOFTMAX_TOP: usize = 10;

/// The weights of the lexical model, in the order of [`Features::vector`],
/// and of "none of them": fitted by `scripts/fit-matcher.py` on the `tune`
/// halves only (see its header for the command and the fit).
const WEIGHTS: [f64; FEATURES] = [2.630, 6.396, 1.508, 6.427, 3.952, 1.788, 0.678, 1.083];
const NONE_BIAS: f64 = 7.958;
const NONE_UNKNOWN: f64 = -0.071;

/// A query is weighed as at least this many rare words: one or two words,
/// however well a runbook holds them, are too little to pick it by ("node",
/// "memory" fit a dozen runbooks), so their shares stay small.
const MIN_QUERY_WORDS: f64 = 3.0;

/// The number of lexical features.
pub const FEATURES: usize = 8;

/// What the lexical model sees of one runbook for one query, each scaled to
/// [0, 1] so that weights carry from one catalogue to another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Features {
    /// BM25F with each term capped at a title mention, over the query's
    /// whole weight: the share of the query the runbook accounts for.
    pub coverage: f64,
    /// Uncapped BM25F over the same reference (can exceed 1, capped at 2).
    pub bm25: f64,
    /// The query's weight found in the runbook's alert names and title.
    pub query_in_name: f64,
    /// The query's weight found in its summary, symptoms and description.
    pub query_in_about: f64,
    /// The names' weight found in the query: how much of what the runbook
    /// is called the query says.
    pub name_in_query: f64,
    /// The share of adjacent word pairs of the names that the query has in
    /// that order, at most two words apart (`node … NotReady`).
    pub name_pairs: f64,
    /// How many of the query's words the runbook holds, up to five, over
    /// five: a match resting on one word is weak whatever its share.
    pub words: f64,
    /// The lead of its BM25F score over the best other runbook's, as a share
    /// of its own (0 for all but the best): two runbooks fitting equally
    /// well are a reason to escalate, whatever the query's length.
    pub lead: f64,
}

impl Features {
    pub fn vector(&self) -> [f64; FEATURES] {
        [
            self.coverage,
            self.bm25,
            self.query_in_name,
            self.query_in_about,
            self.name_in_query,
            self.name_pairs,
            self.words,
            self.lead,
        ]
    }

    fn score(&self) -> f64 {
        self.vector().iter().zip(WEIGHTS).map(|(f, w)| f * w).sum()
    }
}

/// The lexical model's view of a query: each candidate runbook's features,
/// and how much of the query the catalogue does not know.
#[derive(Debug, Clone, Serialize)]
pub struct Lexical {
    /// The share of the query's weight in words no runbook uses.
    pub unknown: f64,
    /// (runbook id, features), every runbook sharing a word with the query.
    pub candidates: Vec<(String, Features)>,
}

/// The index over a catalogue of runbooks; build once, query many times.
pub struct Matcher {
    docs: Vec<Doc>,
    terms: HashMap<String, u32>,
    /// Per term: (document, weighted term frequency, fields), by document.
    postings: Vec<Vec<(u32, f32, u8)>>,
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

/// One candidate's sums while the postings are read.
#[derive(Default, Clone, Copy)]
struct Acc {
    bm25: f64,
    capped: f64,
    in_name: f64,
    in_about: f64,
    mask: u64,
}

/// A query read against the index.
struct Read {
    /// (term id, stem, word written), each term once, in order.
    qterms: Vec<(Option<u32>, String, String)>,
    /// Ordered pairs of known terms the query writes at most two words
    /// apart (`node worker-7 NotReady` holds node→not).
    pairs: std::collections::HashSet<(u32, u32), DocHash>,
    /// The query's weight, at least [`MIN_QUERY_WORDS`] rare words' worth:
    /// what the features' shares are of.
    mass: f64,
    unknown: f64,
    scores: HashMap<u32, Acc, DocHash>,
    /// The candidate with the best BM25F score, and the runner-up's score.
    best: u32,
    runner_up: f64,
}

impl Matcher {
    pub fn new(runbooks: &[Runbook]) -> Self {
        let mut terms: HashMap<String, u32> = HashMap::new();
        let mut postings: Vec<Vec<(u32, f32, u8)>> = Vec::new();
        let mut lengths = Vec::with_capacity(runbooks.len());
        let mut by_alert: HashMap<String, Vec<u32>> = HashMap::new();
        let mut by_alert_folded: HashMap<String, Vec<(String, u32)>> = HashMap::new();
        let mut by_url_key: HashMap<String, Vec<u32>> = HashMap::new();
        let mut docs = Vec::with_capacity(runbooks.len());
        let mut bag: HashMap<u32, (f32, u8)> = HashMap::new();
        for (d, rb) in runbooks.iter().enumerate() {
            let d = d as u32;
            bag.clear();
            let mut len = 0f32;
            let mut names: Vec<Vec<u32>> = Vec::new();
            let mut add = |text: &str, boost: f32, field: u8, seq: Option<&mut Vec<u32>>| {
                let mut seq = seq;
                tokenize_into(text, &mut |t, _| {
                    let next = terms.len() as u32;
                    let id = *terms.entry(t).or_insert_with(|| {
                        postings.push(Vec::new());
                        next
                    });
                    let e = bag.entry(id).or_default();
                    e.0 += boost;
                    e.1 |= field;
                    len += boost;
                    if let Some(seq) = seq.as_deref_mut() {
                        seq.push(id);
                    }
                });
            };
            for a in &rb.alerts {
                let mut seq = Vec::new();
                add(a, BOOST_ALERTS, IN_NAME, Some(&mut seq));
                names.push(seq);
            }
            let mut seq = Vec::new();
            add(&rb.title, BOOST_TITLE, IN_NAME, Some(&mut seq));
            names.push(seq);
            for s in &rb.symptoms {
                add(s, BOOST_SYMPTOMS, IN_ABOUT, None);
            }
            add(&rb.summary, BOOST_SUMMARY, IN_ABOUT, None);
            add(&rb.description, BOOST_DESCRIPTION, IN_ABOUT, None);
            for s in &rb.steps {
                add(&s.title, BOOST_STEPS, 0, None);
                add(&s.intent, BOOST_STEPS, 0, None);
            }
            for (&t, &(tf, fields)) in &bag {
                postings[t as usize].push((d, tf, fields));
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
            names.retain(|s| !s.is_empty());
            docs.push(Doc {
                id: rb.id.clone(),
                title: rb.title.clone(),
                path: rb.path.clone(),
                n_alerts: rb.alerts.len(),
                names,
                name_mass: 0.0,
            });
        }
        for p in &mut postings {
            p.sort_unstable_by_key(|&(d, _, _)| d);
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
        let idf: Vec<f64> = postings.iter().map(|p| idf(n, p.len() as f64)).collect();
        for doc in &mut docs {
            let mut seen: Vec<u32> = doc.names.iter().flatten().copied().collect();
            seen.sort_unstable();
            seen.dedup();
            doc.name_mass = seen.iter().map(|&t| idf[t as usize]).sum();
        }
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

    /// Reads the postings of the query's terms once: every candidate's sums.
    fn read(&self, text: &str) -> Read {
        let mut qterms: Vec<(Option<u32>, String, String)> = Vec::new();
        // Seen stems by hash, not by scanning `qterms`: a pasted alert of
        // 100k distinct words stays linear.
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut sequence = Vec::new();
        tokenize_into(text, &mut |t, word| {
            let id = self.terms.get(&t).copied();
            if let Some(id) = id {
                sequence.push(id);
            }
            if !seen.contains(&t) {
                seen.insert(t.clone());
                qterms.push((id, t, word.to_string()));
            }
        });
        let reference = (K1 + 1.0) * REFERENCE_TF / (REFERENCE_TF + K1);
        let (mut s_max, mut unknown) = (0.0, 0.0);
        let mut scores: HashMap<u32, Acc, DocHash> =
            HashMap::with_capacity_and_hasher(64, DocHash::default());
        for (i, (id, _, _)) in qterms.iter().enumerate() {
            match id {
                None => {
                    let w = UNKNOWN_WEIGHT * self.unknown_idf * reference;
                    s_max += w;
                    unknown += w;
                }
                Some(t) => {
                    let idf = self.idf[*t as usize];
                    let cap = idf * reference;
                    s_max += cap;
                    for &(d, tf, fields) in &self.postings[*t as usize] {
                        let tf = tf as f64;
                        let s = idf * tf * (K1 + 1.0) / (tf + self.norm[d as usize]);
                        let e = scores.entry(d).or_default();
                        e.bm25 += s;
                        e.capped += s.min(cap);
                        if fields & IN_NAME != 0 {
                            e.in_name += cap;
                        }
                        if fields & IN_ABOUT != 0 {
                            e.in_about += cap;
                        }
                        e.mask |= 1u64 << i.min(63);
                    }
                }
            }
        }
        let (mut s1, mut runner_up, mut best) = (0.0f64, 0.0f64, u32::MAX);
        for (&d, acc) in &scores {
            if acc.bm25 > s1 || (acc.bm25 == s1 && d < best) {
                runner_up = s1;
                s1 = acc.bm25;
                best = d;
            } else if acc.bm25 > runner_up {
                runner_up = acc.bm25;
            }
        }
        let mut pairs = std::collections::HashSet::with_hasher(DocHash::default());
        for (i, &a) in sequence.iter().enumerate() {
            for &b in sequence[i + 1..].iter().take(3) {
                pairs.insert((a, b));
            }
        }
        Read {
            best,
            runner_up,
            qterms,
            pairs,
            mass: if s_max > 0.0 {
                s_max.max(MIN_QUERY_WORDS * self.unknown_idf * reference)
            } else {
                0.0
            },
            unknown: if s_max > 0.0 { unknown / s_max } else { 0.0 },
            scores,
        }
    }

    fn features(&self, read: &Read, d: u32, acc: &Acc) -> Features {
        if read.mass <= 0.0 {
            return Features::default();
        }
        let doc = &self.docs[d as usize];
        let reference = (K1 + 1.0) * REFERENCE_TF / (REFERENCE_TF + K1);
        // Pairs of the names the query writes in that order, close together.
        let (mut pairs, mut found) = (0usize, 0usize);
        for name in &doc.names {
            for w in name.windows(2) {
                if w[0] == w[1] {
                    continue;
                }
                pairs += 1;
                found += usize::from(read.pairs.contains(&(w[0], w[1])));
            }
        }
        Features {
            coverage: (acc.capped / read.mass).min(1.0),
            bm25: (acc.bm25 / read.mass).min(2.0),
            query_in_name: (acc.in_name / read.mass).min(1.0),
            query_in_about: (acc.in_about / read.mass).min(1.0),
            name_in_query: if doc.name_mass > 0.0 {
                (acc.in_name / reference / doc.name_mass).min(1.0)
            } else {
                0.0
            },
            name_pairs: if pairs > 0 {
                found as f64 / pairs as f64
            } else {
                0.0
            },
            words: f64::from(acc.mask.count_ones().min(5)) / 5.0,
            lead: if d == read.best && acc.bm25 > 0.0 {
                (acc.bm25 - read.runner_up) / acc.bm25
            } else {
                0.0
            },
        }
    }

    /// Every candidate's lexical features (what `scripts/fit-matcher.py`
    /// fits the weights on), best first.
    pub fn lexical(&self, query: &Query) -> Lexical {
        let read = self.read(&query.text);
        let mut candidates: Vec<(f64, String, Features)> = read
            .scores
            .iter()
            .map(|(&d, acc)| {
                let f = self.features(&read, d, acc);
                (f.score(), self.docs[d as usize].id.clone(), f)
            })
            .collect();
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Lexical {
            unknown: read.unknown,
            candidates: candidates.into_iter().map(|(_, id, f)| (id, f)).collect(),
        }
    }

    /// Every runbook with confidence > 0, best first.
    pub fn rank(&self, query: &Query) -> Vec<Match> {
        let read = self.read(&query.text);

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

        // The lexical model: a conditional logit over the best candidates
        // and "none of them" (the query fits no runbook).
        let mut lexical: Vec<(f64, u32)> = read
            .scores
            .iter()
            .map(|(&d, acc)| (self.features(&read, d, acc).score(), d))
            .collect();
        lexical.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let top = lexical.first().map_or(0.0, |l| l.0);
        let none = NONE_BIAS + NONE_UNKNOWN * read.unknown;
        let z: f64 = (none - top).exp()
            + lexical
                .iter()
                .take(SOFTMAX_TOP)
                .map(|(s, _)| (s - top).exp())
                .sum::<f64>();
        let probability = |s: f64| ((s - top).exp() / z).min(LEXICAL_CEILING);

        let bm25 = |d: &u32| read.scores.get(d).map_or(0.0, |e| e.bm25);
        let mut ranked: Vec<(f64, f64, u32, String)> = Vec::with_capacity(lexical.len() + 2);
        for &d in alert_docs {
            let why = format!("alertname {}", query.alertname.as_deref().unwrap_or(""));
            ranked.push((ALERTNAME_CONFIDENCE, bm25(&d), d, why));
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
            ranked.push((
                ALERT_MENTION_CONFIDENCE,
                bm25(d),
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
                ranked.push((RUNBOOK_URL_CONFIDENCE, bm25(&d), d, "runbook_url".into()));
            }
        }
        for &(s, d) in &lexical {
            if alert_docs.contains(&d) || url_docs.contains(&d) {
                continue;
            }
            // One word is never enough to pick a runbook (however rare:
            // "crashloop", "ingesting"): a runbook holding only one of the
            // query's words keeps half its probability, at most 0.45.
            let words = read
                .scores
                .get(&d)
                .map_or(0, |e| words_held(e.mask, &read.qterms));
            let c = probability(s) * if words < 2 { 0.5 } else { 1.0 };
            if c > 0.0 {
                ranked.push((c, s, d, String::new()));
            }
        }
        ranked.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(b.1.total_cmp(&a.1))
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
                    lexical_why(read.scores.get(&d).map_or(0, |e| e.mask), &read.qterms)
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

/// How many of the query's written words a runbook holds (a word written
/// run together, `crashlooping`, is one word though it reads as two stems).
fn words_held(mask: u64, qterms: &[(Option<u32>, String, String)]) -> usize {
    let mut words: Vec<&str> = qterms
        .iter()
        .enumerate()
        .take(64)
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, (_, _, w))| w.as_str())
        .collect();
    words.sort_unstable();
    words.dedup();
    words.len()
}

/// `lexical: t1 t2 …`: the query terms (at most six) the runbook holds.
fn lexical_why(mask: u64, qterms: &[(Option<u32>, String, String)]) -> String {
    let mut why = String::from("lexical:");
    let mut n = 0;
    let mut said: Vec<&str> = Vec::new();
    for (i, (_, _, t)) in qterms.iter().enumerate().take(64) {
        // A word read as two stems (`crashloop`) is said once.
        if mask & (1u64 << i) != 0 && !said.contains(&t.as_str()) {
            said.push(t);
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
        // Combined, so a pair of ids (`(a, b)`) hashes both.
        self.0 = (self.0.rotate_left(32) ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
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
    let mut query: HashMap<String, String> = HashMap::new();
    tokenize_into(text, &mut |t, word| {
        query.entry(t).or_insert_with(|| word.to_string());
    });
    let mut out = Vec::new();
    let mut field = |name: &'static str, texts: &mut dyn Iterator<Item = &str>| {
        let mut words: Vec<String> = Vec::new();
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for t in texts {
            tokenize_into(t, &mut |stem, _| {
                if let Some(word) = query.get(&stem) {
                    if seen.insert(word.as_str()) {
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
        "description",
        &mut std::iter::once(runbook.description.as_str()),
    );
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

    fn runbook(id: &str, title: &str, summary: &str) -> Runbook {
        let yaml = format!(
            "id: {id}\ntitle: {title}\nsummary: {summary}\nsteps:\n  - id: a\n    title: look\n"
        );
        crate::runbook::parse_str(&yaml, std::path::Path::new("t.yaml")).unwrap()
    }

    /// The lexical confidence is a probability shared with "none of them":
    /// two runbooks that fit a text equally well cannot both be sure, and
    /// one that fits clearly can.
    #[test]
    fn confidence_is_shared_between_runbooks_that_fit_alike() {
        let twins = Matcher::new(&[
            runbook(
                "a",
                "Redis memory high",
                "Redis uses most of its maxmemory.",
            ),
            runbook(
                "b",
                "Redis memory high",
                "Redis uses most of its maxmemory.",
            ),
            runbook("c", "Disk full", "A volume has no space left."),
        ]);
        let ranked = twins.rank(&query_from_text("redis memory is high"));
        assert_eq!(ranked.len(), 2, "{ranked:?}");
        assert!(
            ranked.iter().all(|m| m.confidence < DEFAULT_THRESHOLD),
            "{ranked:?}"
        );
        assert!(ranked.iter().map(|m| m.confidence).sum::<f64>() <= 1.0);

        let one = Matcher::new(&[
            runbook(
                "a",
                "Redis memory high",
                "Redis uses most of its maxmemory.",
            ),
            runbook("c", "Disk full", "A volume has no space left."),
        ]);
        let best = one.best(&query_from_text("redis memory is high"), DEFAULT_THRESHOLD);
        assert_eq!(best.map(|m| m.id), Some("a".to_string()));
    }

    /// The name's words written in order are seen: `node … NotReady` holds
    /// `Kube Node Not Ready`'s pairs, more than `Kube Pod Not Ready`'s.
    #[test]
    fn the_names_words_in_order_are_seen() {
        let m = Matcher::new(&[
            runbook("node", "Kube Node Not Ready", "A node is not ready."),
            runbook("pod", "Kube Pod Not Ready", "A pod is not ready on a node."),
        ]);
        let f = m.lexical(&query_from_text("node worker-7 NotReady"));
        let (_, node) = f.candidates.iter().find(|(id, _)| id == "node").unwrap();
        let (_, pod) = f.candidates.iter().find(|(id, _)| id == "pod").unwrap();
        assert!(node.name_pairs > pod.name_pairs, "{node:?} {pod:?}");
    }

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
