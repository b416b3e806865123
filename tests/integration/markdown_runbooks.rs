//! Markdown runbooks (SPEC §2): the prometheus-operator corpus loads as it
//! is, converts to YAML that loads again, and nothing the guard refuses ever
//! becomes a runnable pre-flight.

use std::path::{Path, PathBuf};

use stepguard::runbook::{
    load_dir, load_file, load_paths, parse_markdown, parse_str, render, to_yaml, LoadError, Runbook,
};

fn corpus() -> PathBuf {
    // A copy of the corpus, unmodified (Apache-2.0; LICENSE and SOURCE.md beside it).
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prometheus-operator-runbooks")
}

fn corpus_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("corpus directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn all_corpus_runbooks() -> Vec<Runbook> {
    load_paths(&corpus_dirs()).unwrap_or_else(|e| panic!("{e}"))
}

/// The pre-flight with every placeholder filled with `x`.
fn filled(run: &str) -> String {
    render::render(run, |_| Some("x".to_string())).text
}

fn assert_nothing_unguarded(rb: &Runbook) {
    for step in &rb.steps {
        assert!(step.action.is_none() && step.verify.is_none());
        if let Some(pre) = &step.preflight {
            let cmd = filled(&pre.run);
            let d = stepguard::guard::check(&cmd);
            assert!(
                d.allowed,
                "{}/{}: `{cmd}` refused: {}",
                rb.id, step.id, d.reason
            );
        }
    }
}

#[test]
fn every_corpus_directory_loads() {
    let mut total = 0;
    for dir in corpus_dirs() {
        let list = load_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert!(!list.is_empty(), "{}: no runbooks", dir.display());
        for rb in &list {
            assert!(!rb.steps.is_empty(), "{}: no steps", rb.id);
            assert!(!rb.title.is_empty(), "{}: no title", rb.id);
            assert_ne!(rb.path.file_name().unwrap(), "_index.md");
        }
        total += list.len();
    }
    let all = all_corpus_runbooks();
    assert_eq!(all.len(), total);
    // 118 .md files: 9 `_index.md` section indexes and SOURCE.md at the root.
    assert_eq!(total, 108, "runbooks loaded");
}

#[test]
fn corpus_root_skips_non_runbooks() {
    // The root holds _index.md, SOURCE.md (a `# Source` note) and LICENSE;
    // walked from there, every folder's runbooks load and nothing else.
    let root = load_dir(&corpus()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(root.len(), 108);
    assert!(root.iter().all(|r| r.id != "source" && r.id != "_index"));
    // Named explicitly, a file without a `# ` heading is an error at 1:1.
    let err = load_file(&corpus().join("kubernetes/_index.md")).unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].ends_with("_index.md:1:1: not a Markdown runbook: no `# Title` heading"),
        "{problems:?}"
    );
}

#[test]
fn corpus_round_trips_through_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    for rb in all_corpus_runbooks() {
        let yaml = to_yaml(&rb);
        let file = tmp.path().join(format!("{}.yaml", rb.id));
        std::fs::write(&file, &yaml).unwrap();
        let back = load_file(&file).unwrap_or_else(|e| panic!("{}:\n{e}\n{yaml}", rb.id));
        let mut expected = rb.clone();
        expected.path = file.clone();
        assert_eq!(back, expected, "{} does not round-trip:\n{yaml}", rb.id);
        assert!(!yaml.contains("path:"), "{yaml}");
        assert!(!yaml.contains(": null"), "{yaml}");
        parse_str(&yaml, &file).unwrap();
    }
    // The whole converted corpus loads as a YAML directory, ids unique.
    assert_eq!(load_dir(tmp.path()).unwrap().len(), 108);
}

#[test]
fn kube_pod_crash_looping() {
    let rb = load_file(&corpus().join("kubernetes/KubePodCrashLooping.md")).unwrap();
    assert_eq!(rb.id, "kubepodcrashlooping");
    assert_eq!(rb.title, "Kube Pod Crash Looping");
    assert_eq!(rb.alerts, vec!["KubePodCrashLooping"]);
    assert!(
        rb.summary.starts_with("Pod is in CrashLoop"),
        "{}",
        rb.summary
    );
    assert!(!rb.symptoms.is_empty());
    let runs: Vec<&str> = rb
        .steps
        .iter()
        .filter_map(|s| s.preflight.as_ref().map(|p| p.run.as_str()))
        .collect();
    assert_eq!(
        runs,
        vec![
            "kubectl -n {{namespace}} get pod {{pod}}",
            "kubectl -n {{namespace}} describe pod {{pod}}",
            "kubectl -n {{namespace}} logs {{pod}} -c {{container}}",
        ]
    );
    let first = &rb.steps[0];
    assert_eq!(first.id, "diagnose-1");
    assert!(first.intent.contains("Check template"), "{}", first.intent);
    let pre = first.preflight.as_ref().unwrap();
    assert!(pre.proceed_if.is_none() && pre.stop_if.is_none());
    assert_eq!(
        pre.explain,
        "Read the output; this runbook gives no stop rule."
    );
    let names: Vec<&str> = rb.variables.keys().map(String::as_str).collect();
    assert_eq!(names, vec!["container", "namespace", "pod"]);
    let ns = &rb.variables["namespace"];
    assert_eq!(ns.from, vec!["label:namespace", "var:namespace"]);
    assert!(ns.pattern.is_none());
    assert_eq!(ns.description, "From the Markdown runbook's $NAMESPACE");
    let mitigation: Vec<_> = rb
        .steps
        .iter()
        .filter(|s| s.id.starts_with("mitigate-"))
        .collect();
    assert!(!mitigation.is_empty());
    assert!(mitigation.iter().all(|s| s.is_manual()));
    assert!(mitigation[0].intent.contains("Talk with developers"));
}

#[test]
fn angle_placeholders_and_defaults() {
    let src = "# Example\n\n## Diagnosis\n\n```shell\n$ NAMESPACE=\"kube-etcd\"\n$ kubectl -n $NAMESPACE get pvc <my-pvc>\nNAME STATUS\n$ kubectl get pod <pod-name> -n ${NAMESPACE}\n```\n";
    let rb = parse_markdown(src, Path::new("ex ample.md")).unwrap();
    assert_eq!(rb.id, "ex-ample");
    let runs: Vec<&str> = rb
        .steps
        .iter()
        .filter_map(|s| s.preflight.as_ref().map(|p| p.run.as_str()))
        .collect();
    assert_eq!(
        runs,
        vec![
            "kubectl -n {{namespace}} get pvc {{pvc}}",
            "kubectl get pod {{pod_name}} -n {{namespace}}",
        ]
    );
    assert_eq!(
        rb.variables["namespace"].default.as_deref(),
        Some("kube-etcd")
    );
    assert_eq!(
        rb.variables["pvc"].description,
        "From the Markdown runbook's <my-pvc>"
    );
}

#[test]
fn no_corpus_preflight_is_refused_by_the_guard() {
    let mut preflights = 0;
    let mut prose = 0;
    let mut fallbacks = 0;
    for rb in all_corpus_runbooks() {
        assert_nothing_unguarded(&rb);
        for s in rb.steps.iter().filter(|s| s.id.starts_with("diagnose-")) {
            if s.preflight.is_some() {
                preflights += 1;
            } else if s.intent.contains("not run by stepguard") {
                fallbacks += 1;
            } else {
                prose += 1;
            }
        }
    }
    eprintln!(
        "corpus diagnosis steps: {preflights} pre-flights, {fallbacks} refused commands \
         as prose, {prose} prose without a command"
    );
    assert!(preflights >= 20, "only {preflights} pre-flights");
}

#[test]
fn mutating_diagnosis_commands_become_prose() {
    let src = "---\ntitle: Synthetic\n---\n\n# SyntheticAlert\n\n## Meaning\n\nSomething broke.\n\n## Diagnosis\n\n- Restart via `kubectl delete pod $POD -n $NAMESPACE`.\n- Poke it with `curl -X POST http://svc/reset`.\n- Look with `kubectl get pod $POD`.\n\n```shell\n$ kubectl drain $NODE\n$ curl -d x=1 http://svc/\n```\n\n## Mitigation\n\nRun `kubectl rollout restart deploy/x`.\n";
    let rb = parse_markdown(src, Path::new("synthetic.md")).unwrap();
    assert_nothing_unguarded(&rb);
    let runs: Vec<&str> = rb
        .steps
        .iter()
        .filter_map(|s| s.preflight.as_ref().map(|p| p.run.as_str()))
        .collect();
    assert_eq!(runs, vec!["kubectl get pod {{pod}}"]);
    let prose: Vec<&str> = rb
        .steps
        .iter()
        .filter(|s| s.is_manual())
        .map(|s| s.intent.as_str())
        .collect();
    for needle in [
        "kubectl delete pod $POD",
        "curl -X POST",
        "kubectl drain $NODE",
        "curl -d x=1",
        "kubectl rollout restart",
    ] {
        assert!(
            prose.iter().any(|p| p.contains(needle)),
            "{needle} not quoted in prose: {prose:?}"
        );
    }
    // Only the variables of runnable commands are declared.
    assert_eq!(rb.variables.keys().collect::<Vec<_>>(), vec!["pod"]);
}

#[test]
fn hostile_markdown_does_not_panic_or_run() {
    let long = "a".repeat(1 << 20);
    let src = format!(
        "# Hostile\x1b[2J\u{202e}\n\n## Meaning\n\n\x1b]0;pwned\x07 meaning {{{{evil}}}} {long}\n\n## Diagnosis\n\n```shell\n$(rm -rf /)\nkubectl get pods $(rm -rf /)\nkubectl get pods `rm -rf /`\nkubectl get pods \u{202e}x\nkubectl get pods \x1b[31m\nkubectl get pods {{{{$X}}}}\ncat /etc/hostname; rm -rf /\nkubectl get pods {long}\n```\n\nUse `kubectl get pods {long}` and `kubectl get $(rm -rf /)`.\n\n## Mitigation\n\n{long}\n\n- \u{202e}evil\n- {{{{x\n"
    );
    let path = Path::new("hostile.md");
    let rb = match parse_markdown(&src, path) {
        Ok(rb) => rb,
        Err(e) => panic!("hostile file should still convert: {e}"),
    };
    assert_nothing_unguarded(&rb);
    for step in &rb.steps {
        assert!(
            step.preflight.is_none(),
            "{}: {:?}",
            step.id,
            step.preflight
        );
        for text in [&step.title, &step.intent] {
            assert!(text.len() < 4096, "{}: {} bytes", step.id, text.len());
            assert!(!text.chars().any(|c| c.is_control() || c == '\u{202e}'));
        }
    }
    assert!(!rb.title.contains('\x1b'));
    let yaml = to_yaml(&rb);
    parse_str(&yaml, Path::new("hostile.yaml")).unwrap();

    // Garbage without a heading: an error, not a panic.
    for junk in [
        "",
        "---",
        "---\ntitle: x",
        "```\n# not a heading\n",
        "\u{feff}\x00\x01",
    ] {
        assert!(matches!(
            parse_markdown(junk, path),
            Err(LoadError::Invalid(_))
        ));
    }
}

#[test]
fn explicit_and_directory_loading_of_markdown() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("README.md"),
        "# Runbooks\n\n## Index\n\nSee below.\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("notes.md"), "just notes\n").unwrap();
    std::fs::write(
        tmp.path().join("SOURCE.md"),
        "# Source\n\nFrom somewhere.\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("DiskFull.md"),
        "# DiskFull\n\n## Diagnosis\n\nCheck with `df -h`.\n",
    )
    .unwrap();
    let list = load_dir(tmp.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        list.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec!["diskfull"]
    );
    assert_eq!(list[0].steps[0].preflight.as_ref().unwrap().run, "df -h");
    // Named explicitly, notes.md is an error; SOURCE.md has a heading, so it converts.
    let err = load_paths(&[tmp.path().join("notes.md")]).unwrap_err();
    assert!(err.to_string().contains("notes.md:1:1: "), "{err}");
    assert!(load_file(&tmp.path().join("SOURCE.md")).is_ok());
}

#[test]
fn output_under_a_command_is_its_expected_output_never_a_step() {
    let rb = load_file(&corpus().join("alertmanager/AlertmanagerClusterCrashlooping.md")).unwrap();
    let titles: Vec<&str> = rb.steps.iter().map(|s| s.title.as_str()).collect();
    assert!(
        titles
            .iter()
            .all(|t| !t.contains("NAMESPACE") && !t.contains("alertmanager-main-1")),
        "{titles:?}"
    );
    let first = rb.steps[0].preflight.as_ref().unwrap();
    assert_eq!(first.run, "kubectl get pod -l app=alertmanager");
    assert!(
        first
            .explain
            .contains("shows output like: NAMESPACE NAME READY STATUS"),
        "{}",
        first.explain
    );
}

#[test]
fn prompts_root_prompts_and_discovery_lines_as_teams_write_them() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("EtcdDown.md");
    std::fs::write(
        &path,
        "# EtcdDown\n\n## Diagnosis\n\n\
         Set the `NAMESPACE` variable:\n\n\
         ```bash\n$ export NAMESPACE=\"$(oc get kubevirt -A -o custom-columns=\"\":.metadata.namespace)\"\n```\n\n\
         Check the pods:\n\n\
         ```console\n$ oc -n $NAMESPACE get pods\nNAME      READY   STATUS\netcd-0    1/1     Running\n\
         # crictl ps -a\nCONTAINER  IMAGE\n# this is a comment, not a command\n```\n\n\
         Find the node:\n\n\
         ```bash\nNODE=$(oc get pods -n $NAMESPACE -o jsonpath='{.items[0].spec.nodeName}')\noc describe node $NODE\n```\n",
    )
    .unwrap();
    let rb = load_file(&path).unwrap();
    let runs: Vec<(&str, &str)> = rb
        .steps
        .iter()
        .filter_map(|s| {
            s.preflight
                .as_ref()
                .map(|p| (s.title.as_str(), p.run.as_str()))
        })
        .collect();
    assert_eq!(
        runs,
        [
            (
                "Set the `NAMESPACE` variable:",
                "oc get kubevirt -A -o custom-columns=\"\":.metadata.namespace"
            ),
            ("Check the pods:", "oc -n {{namespace}} get pods"),
            ("Check the pods:", "crictl ps -a"),
            (
                "Find the node:",
                "oc get pods -n {{namespace}} -o jsonpath='{.items[0].spec.nodeName}'"
            ),
            ("Find the node:", "oc describe node {{node}}"),
        ],
        "{:#?}",
        rb.steps
    );
    let discover = rb.steps[0].preflight.as_ref().unwrap();
    assert!(
        discover.explain.contains("value of NAMESPACE"),
        "{}",
        discover.explain
    );
    assert!(
        discover.explain.contains("set it with ="),
        "{}",
        discover.explain
    );
    let pods = rb.steps[1].preflight.as_ref().unwrap();
    assert!(
        pods.explain
            .contains("NAME READY STATUS / etcd-0 1/1 Running"),
        "{}",
        pods.explain
    );
    assert_eq!(rb.steps.len(), 5, "no step for output rows or comments");
}

#[test]
fn an_alert_templates_labels_are_placeholders() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("KubeletDown.md");
    std::fs::write(
        &path,
        "# KubeletDown\n\n## Diagnosis\n\n\
         ```shell\nkubectl describe node {{ $labels.node }}\n\
         kubectl get pods -o go-template='{{range .items}}{{.metadata.name}}{{end}}'\n```\n",
    )
    .unwrap();
    let rb = load_file(&path).unwrap();
    let first = rb.steps[0].preflight.as_ref().unwrap();
    assert_eq!(first.run, "kubectl describe node {{node}}");
    assert_eq!(rb.variables["node"].from, ["label:node", "var:node"]);
    // Other templating cannot be filled: quoted, never run.
    assert!(rb.steps[1].preflight.is_none(), "{:?}", rb.steps[1]);
}

/// A catalogue names a runbook's file after its alert while the heading may
/// be an older name: both are the runbook's alerts. A lower-case file name
/// is not an alert.
#[test]
fn the_file_named_after_an_alert_answers_it_too() {
    let text = "# MCDPivotError\n\n## Meaning\n\nThe pivot failed.\n";
    let rb = stepguard::runbook::parse_markdown(
        text,
        Path::new("alerts/machine-config-operator/MachineConfigDaemonPivotError.md"),
    )
    .unwrap();
    assert_eq!(
        rb.alerts,
        ["MCDPivotError", "MachineConfigDaemonPivotError"]
    );
    let same = stepguard::runbook::parse_markdown(text, Path::new("x/MCDPivotError.md")).unwrap();
    assert_eq!(same.alerts, ["MCDPivotError"]);
    for stem in ["disk-full", "node_down", "pivot"] {
        let rb = stepguard::runbook::parse_markdown(
            "# Disk full\n\n## Meaning\n\nFull.\n",
            Path::new(&format!("runbooks/{stem}.md")),
        )
        .unwrap();
        assert!(rb.alerts.is_empty(), "{stem}: {:?}", rb.alerts);
    }
}
