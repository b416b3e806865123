//! Catalogues as teams keep them: repositories with folders, a teammate's
//! broken runbook, ids typed from an alert. Through the library and the
//! built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stepguard::runbook::{load_dir, load_paths, load_paths_lenient};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn prometheus_operator() -> PathBuf {
    repo("tests/fixtures/prometheus-operator-runbooks")
}

fn stepguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stepguard"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("STEPGUARD_RUNBOOKS")
        .env("STEPGUARD_CONFIG", "/dev/null")
        .env(
            "STEPGUARD_STATE_DIR",
            std::env::temp_dir().join("stepguard-catalogs-state"),
        )
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const RUNBOOK: &str =
    "id: ID\ntitle: T\nsteps:\n  - id: look\n    title: Look\n    preflight:\n      run: df -h\n";

fn write(dir: &Path, rel: &str, body: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

fn runbook(id: &str) -> String {
    RUNBOOK.replace("ID", id)
}

#[test]
fn a_repository_root_loads_every_runbook_in_its_folders() {
    // The vendored repository: 118 .md files in 9 folders, of which 9 are
    // `_index.md` section indexes and one is SOURCE.md (no sections).
    let all = load_dir(&prometheus_operator()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.len(), 108);
    assert!(all.iter().any(|r| r.id == "kubepodcrashlooping"));
    let out = stepguard(&["check", "tests/fixtures/prometheus-operator-runbooks"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("ok: 108 runbooks, "),
        "{}",
        text(&out.stdout)
    );
    // Through --runbooks, `match` finds one in a subfolder.
    let out = stepguard(&[
        "--runbooks",
        "tests/fixtures/prometheus-operator-runbooks",
        "match",
        "alertname=KubePodCrashLooping",
    ]);
    assert!(
        text(&out.stdout).contains("kubepodcrashlooping"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn hidden_ignored_and_project_files_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "team/a/disk.yaml", &runbook("disk"));
    write(d, "team/b/Redis.YML", &runbook("redis"));
    write(d, ".github/workflows/ci.yml", "on: push\njobs: {}\n");
    write(d, ".hidden/rb.yaml", &runbook("hidden"));
    write(d, "drafts/wip.yaml", "steps: [ broken\n");
    write(d, ".gitignore", "drafts/\n");
    write(
        d,
        "README.md",
        "# Runbooks\n\n## How to add one\n\nRun `df -h`.\n",
    );
    write(d, "docs/SUMMARY.md", "# Summary\n\n## Index\n\n- a\n");
    write(
        d,
        "CONTRIBUTING.md",
        "# Contributing\n\n## Rules\n\nBe kind.\n",
    );
    write(d, "charts/Chart.yaml", "apiVersion: v2\nname: x\n");
    write(d, "mkdocs.yml", "site_name: Runbooks\nnav: []\n");
    let loaded = load_paths_lenient(&[d.to_path_buf()]).unwrap();
    let ids: Vec<&str> = loaded.runbooks.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["disk", "redis"]);
    assert!(loaded.broken.is_empty(), "{:?}", loaded.broken);
}

#[test]
fn links_are_followed_once_and_loops_are_reported_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "real/disk.yaml", &runbook("disk"));
    std::os::unix::fs::symlink(d.join("real"), d.join("alias")).unwrap();
    std::os::unix::fs::symlink(d, d.join("real/up")).unwrap();
    let loaded = load_paths_lenient(&[d.to_path_buf()]).unwrap();
    assert_eq!(loaded.runbooks.len(), 1, "{:?}", loaded.runbooks);
    assert!(
        loaded
            .broken
            .iter()
            .all(|p| p.message.contains("cannot read")),
        "{:?}",
        loaded.broken
    );
    // The same folder named twice, or a file inside it too, loads once.
    let twice = [d.join("real"), d.join("alias"), d.join("real/disk.yaml")];
    let loaded = load_paths_lenient(&twice).unwrap();
    assert_eq!(loaded.runbooks.len(), 1);
}

#[test]
fn a_broken_runbook_is_skipped_with_a_warning_and_check_still_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "disk.yaml", &runbook("disk"));
    write(
        d,
        "team/typo.yaml",
        "id: typo\ntitle: T\nsteps:\n  - id: a\n    tittle: x\n",
    );
    // Quoted keys, a byte-order mark, CRLF and a flow mapping are YAML too;
    // a runbook with typos in its keys is still reported, not skipped as
    // some other file.
    write(
        d,
        "team/bom.yaml",
        &format!("\u{feff}{}", runbook("bom")).replace('\n', "\r\n"),
    );
    write(
        d,
        "team/flow.yaml",
        "{id: flow, title: T, steps: [{id: a, title: A}]}\n",
    );
    write(
        d,
        "team/quoted.yaml",
        &runbook("quoted").replace("title:", "\"title\":"),
    );
    write(d, "team/typos.yaml", "id: typos\ntitel: T\nsteps: []\n");
    let dir = d.to_str().unwrap();

    let loaded = load_paths_lenient(&[d.to_path_buf()]).unwrap();
    let ids: Vec<&str> = loaded.runbooks.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["disk", "bom", "flow", "quoted"]);
    assert_eq!(loaded.broken_files().len(), 2, "{:?}", loaded.broken);
    assert!(load_paths(&[d.to_path_buf()]).is_err());

    // `check` lists every problem as path:line:col and fails.
    let out = stepguard(&["check", dir]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("typo.yaml:5:"), "{err}");
    assert!(err.contains("typos.yaml:"), "{err}");
    assert!(
        err.contains("failed: 2 broken runbooks (4 runbooks, 4 steps load)"),
        "{err}"
    );

    // Elsewhere the good runbooks open, and the skip is said.
    let out = stepguard(&[
        "--runbooks",
        dir,
        "draft",
        "disk",
        "--step",
        "1",
        "--offline",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("skipped 2 broken runbooks: "), "{err}");
    assert!(err.contains("typo.yaml:5:"), "{err}");
    let out = stepguard(&["--runbooks", dir, "match", "disk"]);
    assert!(text(&out.stderr).contains("skipped 2 broken runbooks"));

    // --strict refuses as before.
    let out = stepguard(&[
        "--strict",
        "--runbooks",
        dir,
        "draft",
        "disk",
        "--step",
        "1",
        "--offline",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("typo.yaml:5:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn no_runbook_takes_another_ones_name() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // The team's runbook, and a file that sorts before it with the same id.
    write(d, "team/disk.yaml", &runbook("disk"));
    write(d, "00-scratch/disk.yaml", &runbook("disk"));
    // The runbook that answers an alert, and a scratch file named like it.
    let answers =
        runbook("crashloop").replace("title: T", "title: T\nalerts: [KubePodCrashLooping]");
    write(d, "team/crashloop.yaml", &answers);
    write(
        d,
        "scratch/KubePodCrashLooping.md",
        "# KubePodCrashLooping\n\n## Diagnosis\n\nRun `df -h`.\n",
    );
    let dir = d.to_str().unwrap();

    let loaded = load_paths_lenient(&[d.to_path_buf()]).unwrap();
    assert!(
        loaded.runbooks.iter().all(|r| r.id != "disk"),
        "neither copy of 'disk' opens"
    );
    let dup: Vec<_> = loaded
        .broken
        .iter()
        .filter(|p| p.message.contains("'disk' is also used by"))
        .collect();
    assert_eq!(dup.len(), 2, "{:?}", loaded.broken);

    let out = stepguard(&["--runbooks", dir, "draft", "disk", "--step", "1"]);
    assert!(!out.status.success());
    // Two runbooks answer to the name: neither is picked.
    let out = stepguard(&[
        "--runbooks",
        dir,
        "draft",
        "KubePodCrashLooping",
        "--step",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("'KubePodCrashLooping' names 2 runbooks: "),
        "{err}"
    );
    assert!(
        err.contains("crashloop") && err.contains("kubepodcrashlooping"),
        "{err}"
    );
    // By id, each opens.
    let out = stepguard(&[
        "--runbooks",
        dir,
        "draft",
        "crashloop",
        "--step",
        "1",
        "--offline",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn links_out_of_the_folder_devices_and_endless_files_are_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "ok.yaml", &runbook("ok"));
    let link = |target: &str, name: &str| std::os::unix::fs::symlink(target, d.join(name)).unwrap();
    link("/proc/self/pagemap", "pagemap.yaml");
    link("/dev/zero", "zero.yaml");
    link("/", "root");
    link("/usr", "usr");
    let fifo = std::ffi::CString::new(d.join("fifo.yaml").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let loaded = load_paths_lenient(&[d.to_path_buf()]).unwrap();
    let ids: Vec<&str> = loaded.runbooks.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["ok"]);
    for name in ["pagemap.yaml", "zero.yaml", "root", "usr"] {
        let p = loaded.broken.iter().find(|p| p.path.ends_with(name));
        assert!(
            p.is_some_and(|p| p.message.contains("a link out of the runbook folder")),
            "{name}: {:?}",
            loaded.broken
        );
    }
    // Named directly, a FIFO is refused without waiting for a writer, and a
    // /proc file (size 0, endless or not) is read within the bound or refused.
    let err = load_paths(&[d.join("fifo.yaml")]).unwrap_err().to_string();
    assert!(err.contains("not a regular file"), "{err}");
    assert!(load_paths(&[d.join("pagemap.yaml")]).is_err());
    // The bound itself: a file over 4 MiB (sparse, no disk used) is
    // reported in a walk and refused when named, never read whole.
    let big = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(big.path().join("big.yaml")).unwrap();
    file.set_len(stepguard::runbook::MAX_RUNBOOK_BYTES + 1)
        .unwrap();
    let loaded = load_paths_lenient(&[big.path().to_path_buf()]).unwrap();
    assert!(
        loaded
            .broken
            .iter()
            .any(|p| p.message.contains("larger than a runbook can be")),
        "{:?}",
        loaded.broken
    );
    let err = load_paths(&[big.path().join("big.yaml")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("larger than a runbook can be"), "{err}");
}

#[test]
fn a_folder_without_runbooks_is_an_error_and_said_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "notes/README.md", "# Notes\n\n## x\n\ny\n");
    let dir = tmp.path().to_str().unwrap();
    let out = stepguard(&["check", dir]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no runbooks found in"),
        "{}",
        text(&out.stderr)
    );
    let out = stepguard(&["--runbooks", dir, "match", "disk full"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no runbooks found in"),
        "{}",
        text(&out.stderr)
    );
    let out = stepguard(&["--runbooks", dir, "draft", "disk", "--step", "1"]);
    assert!(
        text(&out.stderr).contains("no runbooks found in"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn ids_match_in_any_case_alert_names_work_and_unknown_ids_suggest() {
    let root = "tests/fixtures/prometheus-operator-runbooks";
    // The runbook `draft NAME` opens from a catalogue.
    let opened = |dir: &str, name: &str| -> serde_json::Value {
        let out = stepguard(&[
            "--runbooks",
            dir,
            "draft",
            name,
            "--step",
            "1",
            "--offline",
            "--json",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let card: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        card["runbook_id"].clone()
    };
    // The file's own name, as the alert is spelled.
    assert_eq!(opened(root, "KubePodCrashLooping"), "kubepodcrashlooping");
    // A bundled YAML runbook by an alert it answers.
    assert_eq!(
        opened("runbooks", "KubePodCrashLooping"),
        "k8s-crashloop-bad-rollout"
    );

    // A typo gets the closest names; nonsense gets a pointer to `match`.
    let out = stepguard(&[
        "--runbooks",
        root,
        "draft",
        "KubePodCrashLoop",
        "--step",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("no runbook 'KubePodCrashLoop'"), "{err}");
    assert!(err.contains("closest: kubepodcrashlooping"), "{err}");
    let out = stepguard(&["--runbooks", root, "draft", "zzqqxx", "--step", "1"]);
    let err = text(&out.stderr);
    assert!(err.contains("stepguard match 'zzqqxx'"), "{err}");
    assert!(!err.contains("closest"), "{err}");
}

#[test]
fn openshift_runbooks_import_with_oc_pre_flights_and_discovery() {
    // Four of OpenShift's runbooks, unmodified (tests/fixtures/openshift-runbooks-sample/SOURCE.md).
    let all = load_dir(&repo("tests/fixtures/openshift-runbooks-sample"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.len(), 4);
    let get = |id: &str| {
        all.iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    let runs = |id: &str| -> Vec<String> {
        get(id)
            .steps
            .iter()
            .filter_map(|s| s.preflight.as_ref().map(|p| p.run.clone()))
            .collect()
    };
    assert_eq!(
        runs("kubeapidown"),
        [
            "oc cluster-info",
            "oc -n openshift-kube-apiserver get pods",
            "oc -n openshift-kube-apiserver logs -l 'app=openshift-kube-apiserver'",
        ]
    );
    // `NAMESPACE="$(oc get kubevirt …)"` is a step that finds the value.
    let virt = get("noreadyvirtapi");
    let first = virt.steps[0].preflight.as_ref().unwrap();
    assert!(first.run.starts_with("oc get kubevirt -A"), "{}", first.run);
    assert!(
        first.explain.contains("value of NAMESPACE"),
        "{}",
        first.explain
    );
    assert_eq!(first.sets.as_deref(), Some("namespace"));
    assert!(runs("noreadyvirtapi")
        .contains(&"oc -n {{namespace}} get pods -l kubevirt.io=virt-api".to_string()));
    // What the guard refuses stays prose, quoted, never run.
    let members = get("etcdmembersdown");
    let rsh = members
        .steps
        .iter()
        .find(|s| s.intent.contains("oc rsh"))
        .unwrap();
    assert!(rsh.preflight.is_none() && rsh.intent.contains("not run by stepguard"));
}

#[test]
fn the_config_file_names_the_team_repository_once() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    write(
        home,
        "src/team-runbooks/storage/disk.yaml",
        &runbook("disk"),
    );
    let config = home.join("config.yaml");
    std::fs::write(&config, "runbooks:\n  - ~/src/team-runbooks\n").unwrap();
    let run = |args: &[&str], env_runbooks: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepguard"));
        cmd.env_remove("STEPGUARD_RUNBOOKS")
            .env("HOME", home)
            .env("STEPGUARD_CONFIG", &config)
            .env("STEPGUARD_STATE_DIR", home.join("state"))
            .current_dir(home)
            .args(args);
        if let Some(dir) = env_runbooks {
            cmd.env("STEPGUARD_RUNBOOKS", dir);
        }
        cmd.output().unwrap()
    };
    let out = run(&["check"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok: 1 runbook, 1 step\n");
    // --runbooks (or the environment) wins over the config.
    let other = home.join("other");
    write(&other, "a.yaml", &runbook("a"));
    write(&other, "b.yaml", &runbook("b"));
    let out = run(&["check"], Some(other.to_str().unwrap()));
    assert_eq!(text(&out.stdout), "ok: 2 runbooks, 2 steps\n");
}

#[test]
fn match_says_which_words_and_fields_decided() {
    let out = stepguard(&[
        "--runbooks",
        "runbooks",
        "match",
        "checkout pods keep restarting after the deploy",
    ]);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let top = lines
        .iter()
        .position(|l| l.contains("k8s-crashloop-bad-rollout"))
        .unwrap();
    assert!(
        lines[top].contains("(lexical: pods restarting deploy)"),
        "{stdout}"
    );
    assert!(
        lines[top + 1]
            .trim_start()
            .starts_with("alerts: pods deploy · title: deploy · symptoms: pods restarting deploy"),
        "{stdout}"
    );
    let out = stepguard(&[
        "--runbooks",
        "runbooks",
        "match",
        "KubePodCrashLooping in shop",
    ]);
    let stdout = text(&out.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("0.97  k8s-crashloop-bad-rollout"),
        "{stdout}"
    );
    assert!(
        first.ends_with("(alert KubePodCrashLooping named in the text)"),
        "{stdout}"
    );
}

#[test]
fn output_into_a_pipe_closed_early_ends_quietly() {
    let bin = env!("CARGO_BIN_EXE_stepguard");
    for args in [
        "--runbooks tests/fixtures/prometheus-operator-runbooks match 'pod not ready'",
        "check tests/fixtures/prometheus-operator-runbooks",
        "import tests/fixtures/prometheus-operator-runbooks/kubernetes/KubePodCrashLooping.md",
    ] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{bin} {args} | true"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("STEPGUARD_CONFIG", "/dev/null")
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args}: {err}"
        );
    }
}

#[test]
fn a_lattice_of_links_and_deep_yaml_do_not_stall_the_walk() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Two links per level, 18 levels: 2^18 paths to one folder each.
    let mut level = d.join("dag");
    std::fs::create_dir_all(&level).unwrap();
    write(&level, "rb.yaml", &runbook("deep"));
    for i in 0..18 {
        let next = d.join(format!("dag{i}"));
        std::fs::create_dir(&next).unwrap();
        std::os::unix::fs::symlink(&level, next.join("a")).unwrap();
        std::os::unix::fs::symlink(&level, next.join("b")).unwrap();
        level = next;
    }
    // Deeply nested YAML that is no runbook, and files a repository keeps.
    write(
        d,
        "deep.yaml",
        &format!("foo: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
    );
    write(d, "k8s/deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Service\n");
    write(d, ".gitlab-ci.yml", "variables: {A: b}\nstages: [test]\n");
    write(d, "ci/template.yml", "variables: {A: b}\nstages: [test]\n");
    write(d, "other-tool.yaml", "id: 42\nsummary: not ours\n");
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "LICENSE", "text");
    std::os::unix::fs::symlink(outside.path().join("LICENSE"), d.join("LICENSE")).unwrap();
    // Before, this walk took minutes (2^18 paths, a quadratic parse).
    let loaded = load_paths_lenient(&[d.to_path_buf()]).unwrap();
    let ids: Vec<&str> = loaded.runbooks.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["deep"]);
    assert!(loaded.broken.is_empty(), "{:?}", loaded.broken);
}

#[test]
fn runbooks_in_any_yaml_form_are_found_and_what_is_skipped_is_said() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let json = r#"{"id": "as-json", "title": "T", "steps": [{"id": "a", "title": "A"}]}"#;
    write(
        d,
        "json.yaml",
        &format!("{{\n  {}\n}}\n", &json[1..json.len() - 1]),
    );
    write(
        d,
        "indented.yaml",
        &runbook("indented")
            .lines()
            .map(|l| format!("  {l}\n"))
            .collect::<String>(),
    );
    write(
        d,
        "complex.yaml",
        "? id\n: complex\n? title\n: T\nsteps:\n  - {id: a, title: A}\n",
    );
    write(
        d,
        "tagged.yaml",
        "!!str id: tagged\n!!str title: T\nsteps:\n  - {id: a, title: A}\n",
    );
    write(d, "ci.yml", "stages: [test]\n");
    let loaded = load_paths_lenient(&[d.to_path_buf()]).unwrap();
    let mut ids: Vec<&str> = loaded.runbooks.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    assert_eq!(
        ids,
        ["as-json", "complex", "indented", "tagged"],
        "{:?}",
        loaded.broken
    );
    let out = stepguard(&["check", d.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("note: 1 file is not a runbook by content") && err.contains("ci.yml"),
        "{err}"
    );
}
