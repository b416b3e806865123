//! Runbook matching and the scenario eval (SPEC §4, §7).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stepguard::draft::Alert;
use stepguard::eval::run_eval;
use stepguard::matching::{
    match_json, query_from_alert, query_from_text, tokenize, Matcher, Query, DEFAULT_THRESHOLD,
    LEXICAL_CEILING,
};
use stepguard::runbook::{load_dir, Runbook};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bundled() -> Vec<Runbook> {
    load_dir(&root().join("runbooks")).unwrap()
}

fn alert(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Alert {
    let map = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    Alert {
        labels: map(labels),
        annotations: map(annotations),
        firing: true,
    }
}

#[test]
fn camel_case_snake_and_kebab_tokenization() {
    assert_eq!(
        tokenize("KubePodCrashLooping"),
        ["kube", "pod", "crash", "loop"]
    );
    assert_eq!(tokenize("OOMKilled"), ["memori", "kill"]);
    assert_eq!(
        tokenize("node_filesystem-almost out_of SPACE"),
        ["node", "filesystem", "almost", "out", "space"]
    );
    // Stop words, durations and hash-like pod suffixes are dropped.
    assert_eq!(
        tokenize("the pod checkout-7d9f8b6c4-x2kqz is up for 14m"),
        ["pod", "checkout"]
    );
}

#[test]
fn exact_alertname_beats_lexical() {
    let m = Matcher::new(&bundled());
    // The text points lexically at Redis, the alertname at the crash loop runbook.
    let q = Query {
        alertname: Some("KubePodCrashLooping".into()),
        runbook_url: None,
        text: "redis memory high near maxmemory evicting keys".into(),
    };
    let ranked = m.rank(&q);
    assert_eq!(ranked[0].id, "k8s-crashloop-bad-rollout");
    assert_eq!(ranked[0].confidence, 0.99);
    assert_eq!(ranked[0].why, "alertname KubePodCrashLooping");
    assert_eq!(ranked[1].id, "redis-near-maxmemory");
    assert!(ranked[1].confidence < 0.95);
    assert!(ranked[1].why.starts_with("lexical:"), "{}", ranked[1].why);
}

#[test]
fn alertname_listed_twice_prefers_the_more_specific_runbook() {
    let m = Matcher::new(&bundled());
    let a = alert(
        &[
            ("alertname", "KubeDeploymentReplicasMismatch"),
            ("namespace", "payments"),
        ],
        &[(
            "summary",
            "Deployment has not matched the expected number of replicas.",
        )],
    );
    let ranked = m.rank(&query_from_alert(&a));
    assert_eq!(ranked[0].id, "k8s-replicas-mismatch");
    assert_eq!(ranked[1].id, "k8s-crashloop-bad-rollout");
    assert_eq!(ranked[1].confidence, 0.99);
}

#[test]
fn runbook_url_matches_id_or_file_stem() {
    let m = Matcher::new(&bundled());
    for url in [
        "https://wiki.example.com/runbooks/Redis-Near-Maxmemory",
        "https://git.example.com/sre/runbooks/blob/main/redis-near-maxmemory.md#steps",
        "https://runbooks.example.com/redis-near-maxmemory/",
    ] {
        let a = alert(&[("alertname", "SomethingLocal")], &[("runbook_url", url)]);
        let q = query_from_alert(&a);
        assert_eq!(q.runbook_url.as_deref(), Some(url));
        let best = m.best(&q, DEFAULT_THRESHOLD).expect(url);
        assert_eq!(best.id, "redis-near-maxmemory");
        assert_eq!(best.confidence, 0.95);
        assert_eq!(best.why, "runbook_url");
    }
    // A file stem that differs from the id.
    let mut rbs = bundled();
    rbs[0].path = PathBuf::from("/catalogue/KubeNodeReadinessFlapping.md");
    let id = rbs[0].id.clone();
    let m = Matcher::new(&rbs);
    let a = alert(
        &[("alertname", "Other")],
        &[(
            "runbook_url",
            "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubenodereadinessflapping",
        )],
    );
    assert_eq!(m.rank(&query_from_alert(&a))[0].id, id);
}

#[test]
fn confidence_is_calibrated() {
    let m = Matcher::new(&bundled());
    let mut all = Vec::new();
    for text in [
        "redis memory high",
        "redis",
        "pod restarting",
        "CrashLoopBackOff after rollout",
        "disk full no space left on device",
        "something unrelated entirely",
    ] {
        let ranked = m.rank(&query_from_text(text));
        for w in ranked.windows(2) {
            assert!(w[0].confidence >= w[1].confidence, "{text}: not best first");
        }
        for r in &ranked {
            assert!((0.0..=1.0).contains(&r.confidence), "{text}: {r:?}");
            assert!(r.confidence > 0.0);
        }
        all.push(ranked);
    }
    // A specific query is more confident than a vaguer one for the same runbook.
    let conf = |i: usize| all[i].first().map_or(0.0, |m| m.confidence);
    assert_eq!(all[0][0].id, "redis-near-maxmemory");
    assert!(conf(0) >= DEFAULT_THRESHOLD, "{:?}", all[0][0]);
    assert_eq!(all[3][0].id, "k8s-crashloop-bad-rollout");
    assert!(conf(3) >= DEFAULT_THRESHOLD);
    assert!(conf(3) > conf(2), "{} vs {}", conf(3), conf(2));
    assert_eq!(all[4][0].id, "disk-filling-with-logs");
    // Only the top one can clear the threshold.
    assert!(all[0][1..].iter().all(|m| m.confidence < DEFAULT_THRESHOLD));
}

#[test]
fn unrelated_text_stays_below_threshold() {
    let m = Matcher::new(&bundled());
    for text in [
        "the office wifi is slow",
        "TLS handshake failure from the CDN",
        "the coffee machine on floor 3 is broken",
        "please review my pull request for the new login page",
        "",
    ] {
        let q = query_from_text(text);
        assert!(
            m.best(&q, DEFAULT_THRESHOLD).is_none(),
            "{text}: {:?}",
            m.rank(&q)
        );
    }
}

#[test]
fn match_json_has_the_stable_shape() {
    let m = Matcher::new(&bundled());
    let ranked = m.rank(&query_from_text("redis near maxmemory"));
    let v = match_json(&ranked, 0.5);
    assert_eq!(v["threshold"], 0.5);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), ranked.len());
    let first = results[0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["confidence", "id", "path", "title"]);
    assert_eq!(first["id"], "redis-near-maxmemory");
    assert!(first["path"]
        .as_str()
        .unwrap()
        .ends_with("redis-near-maxmemory.yaml"));
    let c = first["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&c));
    assert_eq!(match_json(&[], 0.7)["results"], serde_json::json!([]));
}

#[test]
fn eval_over_bundled_scenarios_meets_targets() {
    let report = run_eval(
        &root().join("eval/scenarios"),
        &bundled(),
        DEFAULT_THRESHOLD,
    )
    .unwrap();
    println!("{}", report.to_text());
    assert!(report.scenarios >= 30);
    assert_eq!(report.per_category.len(), 5);
    assert!(report.top1 >= 0.9, "{}", report.to_text());
    assert_eq!(report.no_match_precision, 1.0, "{}", report.to_text());
    assert!(report.escalation_accuracy >= 0.97, "{}", report.to_text());
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "scenarios",
        "top1",
        "top3",
        "no_match_precision",
        "escalation_accuracy",
        "per_category",
        "failures",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
}

#[test]
fn malformed_scenario_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("good.yaml"),
        "name: ok\ncategory: no-runbook\ntext: hello\nexpect: null\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "name: bad\ncategory: not-a-category\ntext: hi\nexpect: null\n",
    )
    .unwrap();
    let err = run_eval(dir.path(), &bundled(), DEFAULT_THRESHOLD).unwrap_err();
    assert!(err.contains("broken.yaml"), "{err}");

    std::fs::remove_file(dir.path().join("broken.yaml")).unwrap();
    std::fs::write(
        dir.path().join("typo.yaml"),
        "name: t\ncategory: approximate\ntext: x\nexpect: no-such-runbook\n",
    )
    .unwrap();
    let err = run_eval(dir.path(), &bundled(), DEFAULT_THRESHOLD).unwrap_err();
    assert!(
        err.contains("typo.yaml") && err.contains("no-such-runbook"),
        "{err}"
    );
}

#[test]
fn an_alert_named_in_free_text_finds_its_runbook() {
    let catalog = load_dir(&root().join("tests/fixtures/prometheus-operator-runbooks")).unwrap();
    let m = Matcher::new(&catalog);
    for text in [
        "alertname=KubePodNotReady namespace=shop",
        "alertname=\"kubepodnotready\" severity=warning",
        "KubePodNotReady has been firing for shop since 3 a.m.",
        "Labels:\n - alertname = KubePodNotReady\n - namespace = shop",
    ] {
        let top = &m.rank(&query_from_text(text))[0];
        assert_eq!(top.id, "kubepodnotready", "{text}");
        assert_eq!(
            top.confidence,
            stepguard::matching::ALERT_MENTION_CONFIDENCE,
            "{text}"
        );
        assert_eq!(top.why, "alert KubePodNotReady named in the text", "{text}");
    }
    // A plain word is not an alert's name: no CamelCase, no `alertname=`.
    let ranked = m.rank(&query_from_text("the watchdog timer fired"));
    assert!(
        ranked
            .iter()
            .all(|r| r.why.starts_with("lexical:") && r.confidence <= LEXICAL_CEILING),
        "{ranked:?}"
    );
    // Nor is a CamelCase alert spelled in another case.
    let ranked = m.rank(&query_from_text("kubepodnotready"));
    assert!(ranked.iter().all(|r| r.confidence < 0.9), "{ranked:?}");
    // The alert's own name still wins over a mention in its text.
    let q = Query {
        alertname: Some("KubeletDown".into()),
        text: "KubePodNotReady too".into(),
        ..Query::default()
    };
    let ranked = m.rank(&q);
    assert_eq!(ranked[0].id, "kubeletdown");
    // A lexical match at most, never the mention's 0.97.
    assert!(ranked
        .iter()
        .all(|r| r.id != "kubepodnotready" || r.why.starts_with("lexical:")));
}

/// The catalogue and alert descriptions nobody here wrote
/// (`eval/prometheus-operator/SOURCE.md`): the figures in the README may
/// not get worse, on the half used to tune and on the half held out.
#[test]
fn eval_over_prometheus_operator_descriptions_holds_its_figures() {
    let catalog = load_dir(&root().join("tests/fixtures/prometheus-operator-runbooks")).unwrap();
    for (half, top1, top3, cleared) in [("tune", 0.76, 0.90, 0.86), ("held-out", 0.81, 0.97, 0.81)]
    {
        let report = run_eval(
            &root()
                .join("eval/prometheus-operator/descriptions")
                .join(half),
            &catalog,
            DEFAULT_THRESHOLD,
        )
        .unwrap();
        let text = report.to_text();
        assert!(report.scenarios >= 49, "{half}: {text}");
        assert!(report.top1 >= top1, "{half}: {text}");
        assert!(report.top3 >= top3, "{half}: {text}");
        assert!(report.escalation_accuracy >= cleared, "{half}: {text}");
    }
    // Incidents the catalogue does not cover: every one escalates.
    let report = run_eval(
        &root().join("eval/prometheus-operator/no-runbook"),
        &catalog,
        DEFAULT_THRESHOLD,
    )
    .unwrap();
    assert_eq!(report.no_match_precision, 1.0, "{}", report.to_text());
    assert_eq!(report.escalation_accuracy, 1.0, "{}", report.to_text());
}

/// Scenarios written by hand from the runbooks' Meaning sections, in the
/// five categories (`eval/prometheus-operator/SOURCE.md`): the README's
/// figures may not get worse, and nothing that expects no runbook clears
/// the threshold, on either half.
#[test]
fn eval_over_prometheus_operator_scenarios_holds_its_figures() {
    let catalog = load_dir(&root().join("tests/fixtures/prometheus-operator-runbooks")).unwrap();
    hand_written_halves_hold(
        &catalog,
        "eval/prometheus-operator",
        82,
        [("tune", 0.82, 0.90, 0.67), ("held-out", 0.89, 0.95, 0.73)],
    );
}

/// Both halves of a catalogue's hand-written scenarios: the README's
/// figures (top-1, top-3, decisions right) may not get worse, and every
/// alert, false alarm, vague text and incident outside the catalogue is
/// decided right.
fn hand_written_halves_hold(
    catalog: &[Runbook],
    dir: &str,
    scenarios: usize,
    figures: [(&str, f64, f64, f64); 2],
) {
    for (half, top1, top3, decisions) in figures {
        let report = run_eval(&root().join(dir).join(half), catalog, DEFAULT_THRESHOLD).unwrap();
        let text = report.to_text();
        assert_eq!(report.scenarios, scenarios, "{half}: {text}");
        assert!(report.top1 >= top1, "{half}: {text}");
        assert!(report.top3 >= top3, "{half}: {text}");
        assert!(report.escalation_accuracy >= decisions, "{half}: {text}");
        assert_eq!(report.no_match_precision, 1.0, "{half}: {text}");
        for category in ["correct-triage", "escalation", "false-alarm", "no-runbook"] {
            let c = &report.per_category[category];
            assert_eq!(c.passed, c.scenarios, "{half} {category}: {text}");
        }
    }
}

#[test]
fn ops_words_written_another_way_find_the_runbook() {
    let catalog = load_dir(&root().join("tests/fixtures/prometheus-operator-runbooks")).unwrap();
    let m = Matcher::new(&catalog);
    for (text, id) in [
        ("kube-apiserver is down", "kubeapidown"),
        ("kubernetes api server unreachable", "kubeapidown"),
        ("tx errors on eth0 of a worker", "nodenetworktransmiterrs"),
    ] {
        assert_eq!(m.rank(&query_from_text(text))[0].id, id, "{text}");
    }
}

/// OpenShift's catalogue is not vendored (258 runbooks): with a checkout,
/// `STEPGUARD_OPENSHIFT_ALERTS=CHECKOUT/alerts cargo test -- --ignored
/// eval_over_openshift` holds the README's figures for both halves.
#[test]
#[ignore = "needs a checkout of openshift/runbooks in STEPGUARD_OPENSHIFT_ALERTS"]
fn eval_over_openshift_holds_its_figures() {
    let alerts = std::env::var("STEPGUARD_OPENSHIFT_ALERTS")
        .expect("STEPGUARD_OPENSHIFT_ALERTS=CHECKOUT/alerts");
    let catalog = load_dir(Path::new(&alerts)).unwrap();
    assert!(catalog.len() >= 250, "{} runbooks", catalog.len());
    hand_written_halves_hold(
        &catalog,
        "eval/openshift",
        78,
        [("tune", 0.80, 0.93, 0.87), ("held-out", 0.88, 0.96, 0.82)],
    );
    let report = run_eval(
        &root().join("eval/openshift/no-runbook"),
        &catalog,
        DEFAULT_THRESHOLD,
    )
    .unwrap();
    assert_eq!(report.no_match_precision, 1.0, "{}", report.to_text());
}

/// One word fits a dozen runbooks: it never picks one, however well a
/// runbook holds it, and saying more of the right runbook's words raises
/// its confidence (found by review: "node" picked k8s-replicas-mismatch at
/// 0.90 while "node notready" escalated).
#[test]
fn one_word_never_picks_a_runbook_and_more_evidence_raises_confidence() {
    let catalog = load_dir(&root().join("runbooks")).unwrap();
    let m = Matcher::new(&catalog);
    for word in [
        "node",
        "memory",
        "high",
        "near",
        "pod",
        "error",
        "payment",
        "disk",
        "used",
        "redis",
        "checkout",
        "certificate",
        "replicas",
    ] {
        let best = m.best(&query_from_text(word), DEFAULT_THRESHOLD);
        assert!(best.is_none(), "{word}: {best:?}");
    }
    // A catalogue of one runbook: a shared word is still not enough.
    let one: Vec<Runbook> = catalog
        .iter()
        .filter(|r| r.id == "redis-near-maxmemory")
        .cloned()
        .collect();
    let m1 = Matcher::new(&one);
    for word in ["near", "used", "memory", "redis"] {
        assert!(
            m1.best(&query_from_text(word), DEFAULT_THRESHOLD).is_none(),
            "{word}"
        );
    }
    let confidence = |text: &str, id: &str| {
        m.rank(&query_from_text(text))
            .into_iter()
            .find(|r| r.id == id)
            .map_or(0.0, |r| r.confidence)
    };
    let mut last = 0.0;
    for text in [
        "node",
        "node not ready",
        "node worker-3 is not ready, kubelet stopped posting status",
    ] {
        let ranked = m.rank(&query_from_text(text));
        assert_eq!(ranked[0].id, "k8s-node-notready", "{text}: {ranked:?}");
        let c = confidence(text, "k8s-node-notready");
        assert!(c > last, "{text}: {c} after {last}");
        last = c;
    }
    assert!(last >= DEFAULT_THRESHOLD, "{last}");

    // A rare word is one word too; run together, it reads as the words a
    // CamelCase name splits into.
    let po = Matcher::new(
        &load_dir(&root().join("tests/fixtures/prometheus-operator-runbooks")).unwrap(),
    );
    for word in [
        "crashloop",
        "crashlooping",
        "ingesting",
        "synchronising",
        "descriptor",
    ] {
        let best = po.best(&query_from_text(word), DEFAULT_THRESHOLD);
        assert!(best.is_none(), "{word}: {best:?}");
    }
    let ranked = po.rank(&query_from_text("my pod keeps crashlooping"));
    assert_eq!(ranked[0].id, "kubepodcrashlooping", "{ranked:?}");
    assert_eq!(ranked[0].why, "lexical: pod crashlooping", "{ranked:?}");
}
