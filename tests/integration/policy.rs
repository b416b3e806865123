//! The escalation policy (SPEC §7) as a table: every tier against every
//! verdict and flag, plus configured tiers and the second-person rule.

use stepguard::exec::Verdict;
use stepguard::policy::{decide, Decision, Gate, PolicyConfig, PolicyInput, TierRule};
use stepguard::runbook::Risk;

fn input(risk: Risk, verdict: Option<Verdict>) -> PolicyInput {
    PolicyInput {
        risk,
        verdict,
        verdict_reason: "exit 1".into(),
        has_preflight: true,
        target: "checkout".into(),
        operator: "alice".into(),
        ..PolicyInput::default()
    }
}

#[test]
fn default_table() {
    use Decision::*;
    use Verdict::*;
    #[rustfmt::skip]
    let table: &[(Risk, Option<Verdict>, Decision, &[&str])] = &[
        // risk,          verdict,     decision,  gates (kinds, in order)
        (Risk::Low,      Some(Pass),  Proceed,   &[]),
        (Risk::Low,      Some(Check), Proceed,   &[]),
        (Risk::Low,      Some(Stop),  Halt,      &["override"]),
        (Risk::Medium,   Some(Pass),  Proceed,   &[]),
        (Risk::Medium,   Some(Check), Confirm,   &["proceed"]),
        (Risk::Medium,   Some(Stop),  Halt,      &["override", "proceed"]),
        (Risk::High,     Some(Pass),  Confirm,   &["target"]),
        (Risk::High,     Some(Check), Confirm,   &["target"]),
        (Risk::High,     Some(Stop),  Halt,      &["override", "target"]),
        (Risk::Critical, Some(Pass),  Escalate,  &["target", "second"]),
        (Risk::Critical, Some(Check), Escalate,  &["target", "second"]),
        (Risk::Critical, Some(Stop),  Halt,      &["override", "target", "second"]),
    ];
    for (risk, verdict, decision, gates) in table {
        let out = decide(&PolicyConfig::default(), &input(*risk, *verdict));
        assert_eq!(out.decision, *decision, "{risk} {verdict:?}");
        assert_eq!(kinds(&out.gates), *gates, "{risk} {verdict:?}");
        assert!(!out.why.is_empty());
    }
}

fn kinds(gates: &[Gate]) -> Vec<&'static str> {
    gates
        .iter()
        .map(|g| match g {
            Gate::Override { .. } => "override",
            Gate::TypeProceed => "proceed",
            Gate::TypeTarget { .. } => "target",
            Gate::SecondPerson { .. } => "second",
            Gate::TeamApproval => "team",
            Gate::ManualNote => "note",
        })
        .collect()
}

#[test]
fn flags_halt_until_overridden() {
    #[rustfmt::skip]
    type Set = fn(&mut PolicyInput);
    let cases: &[(&str, Set)] = &[
        ("unverified value", |i| {
            i.unverified = vec!["namespace".into()]
        }),
        ("stale assumption", |i| {
            i.stale = vec!["three replicas — one listed".into()]
        }),
        ("suspicious content", |i| i.suspicious = true),
    ];
    for (what, set) in cases {
        let mut i = input(Risk::Low, Some(Verdict::Pass));
        set(&mut i);
        let out = decide(&PolicyConfig::default(), &i);
        assert_eq!(out.decision, Decision::Halt, "{what}");
        assert_eq!(kinds(&out.gates), vec!["override"], "{what}");
        assert!(
            out.why.iter().any(|w| w.contains(what)),
            "{what}: {:?}",
            out.why
        );
    }
    let mut i = input(Risk::Low, None);
    i.has_preflight = false;
    let out = decide(&PolicyConfig::default(), &i);
    assert_eq!(
        (out.decision, kinds(&out.gates)),
        (Decision::Confirm, vec!["note"])
    );
    let mut i = input(Risk::Low, Some(Verdict::Pass));
    i.match_confidence = Some(0.2);
    assert_eq!(
        decide(&PolicyConfig::default(), &i).decision,
        Decision::Escalate
    );
}

#[test]
fn tiers_are_configurable() {
    let cfg = PolicyConfig {
        low: TierRule::Confirm,
        high: TierRule::Escalate,
        ..PolicyConfig::default()
    };
    assert_eq!(
        decide(&cfg, &input(Risk::Low, Some(Verdict::Pass))).decision,
        Decision::Confirm
    );
    assert_eq!(
        decide(&cfg, &input(Risk::High, Some(Verdict::Pass))).decision,
        Decision::Escalate
    );
    let parsed: PolicyConfig =
        serde_yaml::from_str("medium: confirm\nfreshness_minutes: 5\n").unwrap();
    assert_eq!(parsed.medium, TierRule::Confirm);
    assert_eq!(parsed.freshness_minutes, 5);
    assert_eq!(
        parsed.high,
        TierRule::Confirm,
        "unset tiers keep their defaults"
    );
    assert!(
        serde_yaml::from_str::<PolicyConfig>("mediun: confirm\n").is_err(),
        "typos are errors"
    );
}

#[test]
fn gates_check_what_is_typed() {
    let second = Gate::SecondPerson {
        operator: "alice".into(),
    };
    assert!(
        second.check("alice").is_err(),
        "the operator cannot be the second person"
    );
    assert!(second.check("ALICE").is_err());
    assert!(second.check("bob").is_ok());
    assert!(second.check("").is_err());
    let target = Gate::TypeTarget {
        target: "checkout".into(),
    };
    assert!(target.check("checkout").is_ok());
    assert!(target.check("checkou").is_err());
    assert!(Gate::TypeProceed.check("yes").is_err());
    assert!(Gate::TypeProceed.check("proceed").is_ok());
    assert!(
        !target.accepts_paste() && !second.accepts_paste() && !Gate::TypeProceed.accepts_paste()
    );
}

#[test]
fn with_a_team_database_the_second_person_is_the_teams_approval() {
    for (risk, low_match) in [(Risk::Critical, None), (Risk::Low, Some(0.2))] {
        let mut i = input(risk, Some(Verdict::Pass));
        i.match_confidence = low_match;
        i.team = true;
        let out = decide(&PolicyConfig::default(), &i);
        assert_eq!(out.decision, Decision::Escalate, "{risk}");
        let kinds = kinds(&out.gates);
        assert!(
            kinds.contains(&"team") && !kinds.contains(&"second"),
            "{kinds:?}"
        );
        // Asked once, even when both the tier and the match escalate.
        assert_eq!(kinds.iter().filter(|k| **k == "team").count(), 1);
        i.team = false;
        let kinds_alone = decide(&PolicyConfig::default(), &i).gates;
        assert!(self::kinds(&kinds_alone).contains(&"second"));
    }
    // Nothing typed passes or fails it: Enter files the request.
    assert!(Gate::TeamApproval.check("").is_ok() && !Gate::TeamApproval.accepts_paste());
}
