//! A standing rule is the user's word that a form is read-only; when the
//! user is wrong, the kernel still holds. An in-house tool the guard does
//! not know (here a copy of the stepguard binary, whose `rules add` writes
//! its state directory), installed where the config's `exec_dirs` lets it
//! run, is admitted by a rule, and it writes a file: the runner's sandbox
//! stops the write. Its own test binary: it sets the environment.

use std::time::Duration;

use stepguard::exec::{
    run, set_sandbox_policy, OutputLimits, Predicates, RunRequest, SandboxMode, SandboxPolicy,
};

#[test]
fn the_runner_confines_what_a_standing_rule_let_through() {
    if !stepguard::exec::sandbox::status().enforced() {
        eprintln!("skipped: no Landlock on this kernel");
        return;
    }
    let tools = tempfile::tempdir().unwrap();
    let tool = tools.path().join("ledger-export");
    std::fs::copy(env!("CARGO_BIN_EXE_stepguard"), &tool).unwrap();
    let path = format!(
        "{}:{}",
        tools.path().display(),
        std::env::var("PATH").unwrap()
    );
    // Where the tool writes: outside any scratch directory.
    let outside = tempfile::tempdir().unwrap();
    // Single-threaded here: nothing else reads the environment yet.
    std::env::set_var("PATH", path);
    std::env::set_var("STEPGUARD_STATE_DIR", outside.path());
    std::env::set_var("OPENAI_API_KEY", "sk-canary-key-of-stepguard");
    set_sandbox_policy(SandboxPolicy {
        mode: SandboxMode::Required,
        exec_dirs: vec![tools.path().to_path_buf()],
        ..SandboxPolicy::default()
    });

    let state = tempfile::tempdir().unwrap();
    let store = stepguard::standing::RuleStore::new(state.path());
    stepguard::standing::add(
        &store,
        "ledger-export",
        &["rules", "add", "--reason", "*", "--", "arch"].map(String::from),
        None,
        Some("1h"),
        "a wrong rule, on purpose",
        "tester",
        stepguard::standing::now(),
    )
    .unwrap_or_else(|e| panic!("the rule was not admitted: {e}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let request = RunRequest {
        command: "ledger-export rules add --reason wrong -- arch".into(),
        timeout: Duration::from_secs(10),
        limits: OutputLimits::default(),
        predicates: Predicates::default(),
        rules: Some(store.clone()),
    };
    let outcome = rt.block_on(run(request, None, None)).unwrap();
    assert!(outcome.sandbox.enforced(), "{:?}", outcome.sandbox);
    assert_eq!(outcome.rule_uses.len(), 1, "the rule allowed it");
    let text: Vec<&str> = outcome
        .output
        .lines
        .iter()
        .map(|(_, l)| l.as_str())
        .collect();
    // The tool ran (it is in exec_dirs) and the kernel refused its write.
    assert!(
        text.iter().any(|l| l.contains("Permission denied")),
        "{text:?}"
    );
    assert_ne!(outcome.exit_code, Some(0));
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "the tool wrote outside the scratch directory"
    );

    // stepguard's own secrets never reach a pre-flight.
    let request = RunRequest {
        command: "printenv".into(),
        timeout: Duration::from_secs(10),
        limits: OutputLimits::default(),
        predicates: Predicates::default(),
        rules: None,
    };
    let outcome = rt.block_on(run(request, None, None)).unwrap();
    let env: Vec<&str> = outcome
        .output
        .lines
        .iter()
        .map(|(_, l)| l.as_str())
        .collect();
    assert!(env.iter().any(|l| l.starts_with("PATH=")), "{env:?}");
    assert!(
        !env.iter()
            .any(|l| l.contains("sk-canary") || l.starts_with("STEPGUARD_")),
        "{env:?}"
    );
}
