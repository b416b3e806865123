//! Loading runbooks: every bundled runbook is valid; every broken fixture
//! fails with `path:line:col: message` at the line its first comment names;
//! no input panics the loader.

use std::path::{Path, PathBuf};
use std::process::Command;

use stepguard::runbook::{load_dir, parse_str, LoadError};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn stepguard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stepguard"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env("STEPGUARD_CONFIG", "/dev/null")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("STEPGUARD_RUNBOOKS")
        .output()
        .unwrap()
}

#[test]
fn bundled_runbooks_are_valid() {
    let runbooks = load_dir(&repo("runbooks")).unwrap_or_else(|e| panic!("{e}"));
    assert!(runbooks.len() >= 10, "only {} runbooks", runbooks.len());
    for rb in &runbooks {
        let stem = rb.path.file_stem().unwrap().to_str().unwrap();
        assert_eq!(rb.id, stem, "runbook id must equal its file name");
        for step in &rb.steps {
            assert!(!step.intent.is_empty(), "{}/{}: no intent", rb.id, step.id);
            if let Some(pre) = &step.preflight {
                assert!(
                    !pre.explain.is_empty(),
                    "{}/{}: pre-flight without explain",
                    rb.id,
                    step.id
                );
            }
        }
    }
    let out = stepguard(&["check", "runbooks"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `# expect: LINE: fragment` on the first line of each broken fixture.
fn expectation(src: &str) -> Option<(usize, String)> {
    let rest = src.lines().next()?.strip_prefix("# expect:")?.trim();
    let (line, fragment) = rest.split_once(':')?;
    Some((line.trim().parse().ok()?, fragment.trim().to_string()))
}

#[test]
fn broken_runbooks_report_path_line_col() {
    let dir = repo("tests/fixtures/runbooks");
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let src = std::fs::read_to_string(&path).unwrap();
        let Some((line, fragment)) = expectation(&src) else {
            continue;
        };
        checked += 1;
        let rel = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
        let out = stepguard(&["check", rel.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let prefix = format!("{}:{line}:", rel.display());
        let ok = out.status.code() == Some(1)
            && stderr
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(&fragment));
        if !ok {
            failures.push(format!(
                "{}: want `{prefix}..{fragment}`, got exit {:?}: {stderr}",
                rel.display(),
                out.status.code()
            ));
        }
    }
    assert!(checked >= 10, "only {checked} broken fixtures");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let src = "id: two-problems\ntitle: t\nvariables:\n  ns: {pattern: '^[a-z]+$'}\nsteps:\n  - id: a\n    title: a\n    preflight: {run: 'kubectl get pods -n {{nmespace}}', proceed_if: '(unclosed'}\n";
    let err = parse_str(src, Path::new("x.yaml")).unwrap_err();
    let LoadError::Invalid(problems) = err else {
        panic!()
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().all(|p| p.line == 8), "{problems:?}");
}

#[test]
fn cli_errors_have_the_right_exit_codes() {
    assert_eq!(stepguard(&["check", "no/such/dir"]).status.code(), Some(2));
    assert_eq!(stepguard(&["check", "--bogus"]).status.code(), Some(2));
    assert_eq!(
        stepguard(&["draft", "no-such-runbook", "--step", "1"])
            .status
            .code(),
        Some(2)
    );
}

/// Deterministic mutations of every bundled runbook: truncations, deleted
/// lines, swapped indentation, injected bytes. The loader may refuse them;
/// it must never panic.
#[test]
fn no_input_panics() {
    let mut inputs: Vec<String> = vec![
        String::new(),
        "\0".into(),
        "---".into(),
        "[]".into(),
        "{}".into(),
        "id: [".into(),
        "steps: 5".into(),
        "id: x\ntitle: y\nsteps: [{}]".into(),
        "\u{feff}id: x".into(),
        "id: x\ntitle: y\nsteps:\n - id: a\n   title: b\n   rollback: 7\n".into(),
        "a: &a [*a, *a]\n".into(),
        "x: !!binary AAAA\n".into(),
    ];
    for entry in std::fs::read_dir(repo("runbooks")).unwrap() {
        let src = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let lines: Vec<&str> = src.lines().collect();
        for cut in (0..src.len()).step_by(97) {
            if src.is_char_boundary(cut) {
                inputs.push(src[..cut].to_string());
            }
        }
        for skip in (0..lines.len()).step_by(3) {
            let mut l = lines.clone();
            l.remove(skip);
            inputs.push(l.join("\n"));
            let mut l = lines.clone();
            l[skip] = l[skip].trim_start();
            inputs.push(l.join("\n"));
        }
        for (i, bad) in [
            "\t", "{{", "}}", ": :", "- ", "'", "\"", "\x1b[2J", "{{a", "\u{202e}",
        ]
        .iter()
        .enumerate()
        {
            let at = (i * 131) % src.len().max(1);
            let at = (0..=at)
                .rev()
                .find(|&j| src.is_char_boundary(j))
                .unwrap_or(0);
            inputs.push(format!("{}{bad}{}", &src[..at], &src[at..]));
        }
    }
    for input in &inputs {
        let _ = parse_str(input, Path::new("fuzz.yaml"));
    }
    assert!(inputs.len() > 100);
}

#[test]
fn import_prints_yaml_that_passes_check() {
    let md = repo("tests/fixtures/prometheus-operator-runbooks/kubernetes/KubePodCrashLooping.md");
    let out = stepguard(&["import", md.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("kubepodcrashlooping.yaml");
    std::fs::write(&yaml, &out.stdout).unwrap();
    let out = stepguard(&["check", yaml.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Found by fuzzing (`fuzz/`): a lone `\r` is a line break to YAML but not
/// to editors, so every position after it was off; it is refused where it is.
#[test]
fn foreign_line_breaks_are_refused_at_their_position() {
    let good = std::fs::read_to_string(repo("runbooks/redis-near-maxmemory.yaml")).unwrap();
    for brk in ["\r", "\u{85}", "\u{2028}", "\u{2029}"] {
        let src = good.replacen("\ntitle:", &format!("\n# note{brk}more\ntitle:"), 1);
        let err = parse_str(&src, Path::new("r.yaml")).unwrap_err();
        let problems = err.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("r.yaml:2:7:"), "{}", problems[0]);
        assert!(problems[0].contains("line break"), "{}", problems[0]);
    }
    let crlf = good.replace('\n', "\r\n");
    parse_str(&crlf, Path::new("r.yaml")).expect("CRLF files load");
}

/// Found by fuzzing: serde quotes the bad value in its message, so a
/// runbook could print a newline or an escape sequence into the terminal
/// through `stepguard check`. Problems print on one line, drawn safe.
#[test]
fn problems_print_on_one_line_without_controls() {
    let src = "id: x\ntitle: t\nsteps:\n  - id: a\n    intent: i\n    risk: \"low\\ntimeout\\u001b[2J\"\n";
    let err = parse_str(src, Path::new("x\u{1b}]0;t\u{7}.yaml")).unwrap_err();
    for line in err.problems() {
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(line.contains("low^Jtimeout^[[2J"), "{line}");
        assert!(line.contains(":6:"), "{line}");
    }
}

/// `check` counts in words that agree: `1 runbook, 1 step`.
#[test]
fn check_counts_agree_with_their_nouns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("one.yaml"),
        "id: one\ntitle: One\nsteps:\n  - id: look\n    title: Look\n    intent: Look.\n",
    )
    .unwrap();
    let out = stepguard(&["check", dir.path().to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok: 1 runbook, 1 step\n"
    );
    let out = stepguard(&["check", "runbooks"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("ok: ") && text.contains(" runbooks, ") && text.ends_with(" steps\n"),
        "{text}"
    );
}
