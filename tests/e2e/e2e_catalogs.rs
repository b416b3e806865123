//! A team's runbook repository opened in the walk: the runbooks in its
//! folders are in the picker, and a teammate's broken one is named on the
//! banner instead of keeping the others shut.

use crate::tmux::{assert_restored, shell_line, Tmux};

#[test]
fn a_broken_runbook_in_a_repository_is_named_and_the_rest_open() {
    let repo = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let k8s = repo.path().join("teams/k8s");
    std::fs::create_dir_all(&k8s).unwrap();
    std::fs::copy(
        root.join("runbooks/k8s-crashloop-bad-rollout.yaml"),
        k8s.join("crashloop.yaml"),
    )
    .unwrap();
    std::fs::write(
        repo.path().join("teams/typo.yaml"),
        "id: typo\ntitle: T\nsteps:\n  - id: a\n    tittle: x\n",
    )
    .unwrap();
    let t = Tmux::start(
        "catalogs",
        &shell_line(&format!("--runbooks {}", repo.path().display())),
        &[],
    );
    let screen = t.wait_for("skipped 1 broken runbook");
    assert!(screen.contains("typo.yaml:5:5"), "{screen}");
    assert!(screen.contains("k8s-crashloop-bad-rollout"), "{screen}");
    t.keys(&["Enter"]);
    t.wait_for("p proceed");
    t.keys(&["q"]);
    assert_restored(&t, 0);
}

/// The real runner: a read that finds the namespace fills the next step.
#[test]
fn a_read_that_finds_a_value_fills_the_next_step_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let rb = dir.path().join("finds.yaml");
    std::fs::write(
        &rb,
        "id: finds\ntitle: Finds its namespace\nrisk: low\n\
         variables:\n  namespace: {description: Where it runs}\n\
         steps:\n\
         \x20 - id: find\n    title: Find the namespace\n\
         \x20   preflight: {run: \"printf '\\\\nopenshift-cnv\\\\n'\", sets: namespace}\n\
         \x20 - id: use\n    title: Look at it\n\
         \x20   preflight: {run: 'echo looking at {{namespace}}'}\n",
    )
    .unwrap();
    let t = Tmux::start(
        "finds",
        &shell_line(&format!("run {} --offline", rb.display())),
        &[],
    );
    t.wait_for("p proceed");
    t.keys(&["r"]);
    t.wait_for("namespace = openshift-cnv found (output line 2)");
    t.keys(&["p"]);
    let screen = t.wait_for("$ echo looking at openshift-cnv");
    assert!(screen.contains("Look at it"), "{screen}");
    t.keys(&["q"]);
    assert_restored(&t, 0);
}
