//! Runbook matching over 10,000 synthetic runbooks (SPEC §8: ≤ 10 ms a
//! query). Prints the index build time and mean / p50 / p99 / max per query,
//! for alert-based and text-based queries.
//!
//!     cargo bench --bench matching

use std::hint::black_box;
use std::time::{Duration, Instant};

use stepguard::draft::Alert;
use stepguard::matching::{query_from_alert, query_from_text, Matcher, Query};
use stepguard::runbook::{Runbook, Step};

const SYSTEMS: &[&str] = &[
    "redis",
    "postgres",
    "kafka",
    "nginx",
    "envoy",
    "etcd",
    "coredns",
    "kubelet",
    "ingress",
    "checkout",
    "payments",
    "ledger",
    "search",
    "indexer",
    "gateway",
    "scheduler",
    "rabbitmq",
    "elasticsearch",
    "mysql",
    "memcached",
    "vault",
    "consul",
    "prometheus",
    "grafana",
];
const PROBLEMS: &[&str] = &[
    "memory high",
    "disk full",
    "crash looping",
    "latency high",
    "error rate high",
    "connections exhausted",
    "certificate expiring",
    "replicas mismatch",
    "queue backlog",
    "cpu throttling",
    "not ready",
    "oom killed",
    "replication lag",
    "evicting keys",
    "too many open files",
    "slow queries",
    "timeouts upstream",
    "pvc filling up",
];
const WORDS: &[&str] = &[
    "pod", "node", "volume", "deploy", "rollout", "restart", "limit", "quota", "traffic", "cache",
    "index", "shard", "leader", "election", "backup", "snapshot", "rotate", "log", "journal",
    "config", "reload", "secret", "token", "tls", "dns", "route", "retry", "pool", "worker",
    "thread", "heap", "gc", "buffer", "socket", "port", "probe", "health", "canary",
];

fn camel(s: &str) -> String {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .unwrap()
                .to_uppercase()
                .chain(c)
                .collect::<String>()
        })
        .collect()
}

/// A tiny deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as usize
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.next() % list.len()]
    }
}

fn synthetic(n: usize) -> Vec<Runbook> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|i| {
            let sys = rng.pick(SYSTEMS);
            let problem = rng.pick(PROBLEMS);
            let words: Vec<&str> = (0..12).map(|_| rng.pick(WORDS)).collect();
            let steps = (0..6)
                .map(|s| Step {
                    id: format!("step-{s}"),
                    title: format!("check {} {}", words[s], words[s + 1]),
                    intent: format!("make sure the {} {} is {}", sys, words[s + 2], problem),
                    risk: None,
                    preflight: None,
                    action: None,
                    verify: None,
                    rollback: None,
                    reason: None,
                })
                .collect();
            Runbook {
                id: format!("{sys}-{}-{i}", problem.replace(' ', "-")),
                title: format!("{sys} {problem} ({})", words[0]),
                summary: format!(
                    "When {sys} shows {problem}, look at the {} and the {}, then the {}.",
                    words[3], words[4], words[5]
                ),
                description: String::new(),
                alerts: vec![
                    format!("{}{}{i}", camel(sys), camel(problem)),
                    format!("{}{}", camel(sys), camel(problem)),
                ],
                symptoms: vec![
                    format!("{sys} {problem}"),
                    format!("{} {} {}", words[6], words[7], problem),
                    format!("{} keeps {}", words[8], words[9]),
                ],
                risk: Default::default(),
                assumptions: vec![],
                variables: Default::default(),
                steps,
                path: format!("/catalogue/{sys}-{i}.yaml").into(),
            }
        })
        .collect()
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    println!(
        "{name:<36} n={:<5} mean={:>9.3?} p50={:>9.3?} p99={:>9.3?} max={:>9.3?}",
        samples.len(),
        mean,
        pct(0.50),
        pct(0.99),
        samples[samples.len() - 1]
    );
}

fn time(m: &Matcher, queries: &[Query]) -> Vec<Duration> {
    for q in queries.iter().take(20) {
        black_box(m.rank(q));
    }
    queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            black_box(m.rank(black_box(q)));
            t.elapsed()
        })
        .collect()
}

fn main() {
    let runbooks = synthetic(10_000);
    let t = Instant::now();
    let matcher = Matcher::new(&runbooks);
    println!("build over {} runbooks: {:?}", matcher.len(), t.elapsed());

    let mut rng = Rng(42);
    let alert_queries: Vec<Query> = (0..1000)
        .map(|i| {
            let sys = rng.pick(SYSTEMS);
            let problem = rng.pick(PROBLEMS);
            let name = if i % 2 == 0 {
                format!("{}{}", camel(sys), camel(problem))
            } else {
                format!("{}{}Unlisted", camel(sys), camel(problem))
            };
            let alert = Alert {
                labels: [
                    ("alertname".to_string(), name),
                    ("namespace".to_string(), "prod".to_string()),
                    ("severity".to_string(), "warning".to_string()),
                ]
                .into(),
                annotations: [(
                    "description".to_string(),
                    format!("{sys} on prod shows {problem} for 15 minutes"),
                )]
                .into(),
                firing: true,
            };
            query_from_alert(&alert)
        })
        .collect();
    let text_queries: Vec<Query> = (0..1000)
        .map(|_| {
            let text = format!(
                "{} {} after the {}, {} {} and {}",
                rng.pick(SYSTEMS),
                rng.pick(PROBLEMS),
                rng.pick(WORDS),
                rng.pick(WORDS),
                rng.pick(WORDS),
                rng.pick(PROBLEMS)
            );
            query_from_text(&text)
        })
        .collect();
    let pasted = query_from_text(&"payments   checkout-7d9f8c6b5-xk2lq   0/1   CrashLoopBackOff   17 (2m ago)   41m   10.0.3.17   node-a\n".repeat(200));

    report(
        "alert (alertname + description)",
        time(&matcher, &alert_queries),
    );
    report("free text", time(&matcher, &text_queries));
    report(
        "pasted state (200 lines)",
        time(&matcher, &vec![pasted; 200]),
    );
    // An alert whose annotation is 100,000 distinct words (an outsider
    // writes annotations): linear, not quadratic, in the words.
    let words: String = (0..100_000u32)
        .map(|i| {
            let mut w = String::from("w");
            let mut n = i;
            while n > 0 {
                w.push(char::from(b'a' + (n % 26) as u8));
                n /= 26;
            }
            w.push(' ');
            w
        })
        .collect();
    report(
        "text of 100,000 distinct words",
        time(&matcher, &vec![query_from_text(&words); 5]),
    );
}
