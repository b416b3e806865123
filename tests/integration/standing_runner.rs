//! Standing rules where they matter: the runner (the function the TUI
//! uses) allows a rule's form, counts each use before running, and refuses
//! once the rule is used up; `stepguard guard` answers the same.

use std::time::Duration;

use stepguard::exec::{run, OutputLimits, Predicates, RunError, RunRequest};
use stepguard::standing::{add, RuleStore};

fn request(command: &str, rules: &RuleStore) -> RunRequest {
    RunRequest {
        command: command.into(),
        timeout: Duration::from_secs(5),
        limits: OutputLimits::default(),
        predicates: Predicates::default(),
        rules: Some(rules.clone()),
    }
}

#[test]
fn a_rule_allows_its_form_until_used_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = RuleStore::new(dir.path());
    let rule = add(
        &store,
        "arch",
        &[],
        Some(1),
        Some("1h"),
        "prints the machine architecture",
        "tester",
        stepguard::standing::now(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let outcome = rt
        .block_on(run(request("arch", &store), None, None))
        .unwrap();
    assert_eq!(outcome.exit_code, Some(0));
    assert_eq!(outcome.rule_uses, vec![rule.id.clone()]);
    assert_eq!(store.list().unwrap()[0].uses, 1);

    match rt.block_on(run(request("arch", &store), None, None)) {
        Err(RunError::Refused(reason)) => assert!(reason.starts_with("refused:"), "{reason}"),
        other => panic!("a used-up rule still ran: {other:?}"),
    }
    // Never through structure the rule does not cover.
    assert!(matches!(
        rt.block_on(run(
            request("arch; touch /tmp/stepguard-rule-canary", &store),
            None,
            None
        )),
        Err(RunError::Refused(_))
    ));
    assert!(!std::path::Path::new("/tmp/stepguard-rule-canary").exists());

    // The CLI answers with the same rules.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stepguard"))
        .args(["guard", "--", "arch"])
        .env("STEPGUARD_STATE_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "used up: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let revoked =
        stepguard::standing::revoke(&store, &rule.id, stepguard::standing::now()).unwrap();
    assert!(revoked.revoked_at.is_some());
}
