//! Guard throughput (SPEC §8: at least 100,000 commands/s).
//!
//! `cargo bench --bench guard` reports elements/s, one element being one
//! command line checked: `typical` is a fixed mix of pre-flights and
//! attacks, `corpus` is every line of tests/guard/{benign,hostile}.txt.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stepguard::guard::check;

/// Pre-flight and verify commands as runbooks write them, and the attacks
/// the guard sees most: half allowed, half refused.
const TYPICAL: &[&str] = &[
    "kubectl -n payments get pods -l app=checkout -o wide",
    "kubectl rollout status deployment/checkout -n payments --timeout=60s",
    "kubectl get pods -o jsonpath='{.items[*].metadata.name}'",
    "kubectl logs deploy/checkout -n payments --tail=100 | grep -c ERROR",
    "redis-cli -h 127.0.0.1 -p 6379 INFO memory",
    "psql -X -At -c \"SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'\"",
    "df -h /var/log | tail -n 1",
    "du -sh /var/log/* 2>/dev/null | sort -h | tail -5",
    "journalctl -u nginx --since '10 min ago' --no-pager | tail -50",
    "curl -sf http://127.0.0.1:9093/api/v2/alerts | jq '.[].labels.alertname'",
    "df -hP | awk '$5+0 > 80 {print $6}'",
    "sed -n '1,20p' /var/log/app.log",
    "kubectl get pods; kubectl delete pod x",
    "kubectl get pods | sh",
    "ls $(rm -rf /)",
    "LD_PRELOAD=/tmp/x.so ls",
    "sed -ni 's/a/b/p' f",
    "awk 'BEGIN{system(\"id\")}'",
    "psql -c 'select 1; drop table t'",
    "curl -sXPOST http://x",
    "redis-cli -h 127.0.0.1 DEL k",
    "find . -exec rm {} \\;",
    "sort --outp=out in",
    "kubectl -n get delete pods",
];

const BENIGN: &str = include_str!("../tests/guard/benign.txt");
const HOSTILE: &str = include_str!("../tests/guard/hostile.txt");

fn corpus() -> Vec<&'static str> {
    BENIGN
        .lines()
        .chain(HOSTILE.lines())
        .filter(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .collect()
}

fn guard(c: &mut Criterion) {
    // Build the allowlist once, outside the measurement.
    black_box(check("true"));

    let mut group = c.benchmark_group("guard");
    group.throughput(Throughput::Elements(TYPICAL.len() as u64));
    group.bench_function("typical", |b| {
        b.iter(|| {
            for cmd in TYPICAL {
                black_box(check(black_box(cmd)));
            }
        })
    });

    let all = corpus();
    group.throughput(Throughput::Elements(all.len() as u64));
    group.bench_function("corpus", |b| {
        b.iter(|| {
            for cmd in &all {
                black_box(check(black_box(cmd)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, guard);
criterion_main!(benches);
