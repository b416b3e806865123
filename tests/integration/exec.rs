//! The pre-flight runner against real processes: timeouts kill the whole
//! tree, cancel works, output is bounded, the guard is always consulted.

use std::time::{Duration, Instant};

use stepguard::exec::{
    judge, run, session_members, OutputLimits, Predicates, RunError, RunEvent, RunRequest, Verdict,
};

fn request(
    command: &str,
    timeout_ms: u64,
    proceed: Option<&str>,
    stop: Option<&str>,
) -> RunRequest {
    RunRequest {
        command: command.to_string(),
        timeout: Duration::from_millis(timeout_ms),
        limits: OutputLimits::default(),
        predicates: Predicates::new(proceed, stop).unwrap(),
        rules: None,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Wait until no process is left in the session (the kernel reaps killed
/// orphans asynchronously).
fn session_is_empty(pgid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if session_members(pgid as i32).is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn timeout_kills_the_command_and_its_children() {
    // `timeout` moves itself into a process group of its own; the session
    // kill must reach it and its child anyway.
    let req = request("sleep 30 | timeout 60 sleep 40", 300, None, None);
    let started = Instant::now();
    let outcome = runtime().block_on(run(req.clone(), None, None)).unwrap();
    assert!(outcome.timed_out);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let pgid = outcome.pgid.unwrap();
    assert!(
        session_is_empty(pgid),
        "processes left: {:?}",
        session_members(pgid as i32)
    );
    let j = judge(&outcome, &req.predicates);
    assert_eq!(j.verdict, Verdict::Stop);
    assert!(j.reason.contains("timed out"), "{}", j.reason);
}

#[test]
fn cancel_kills_the_group() {
    let rt = runtime();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let outcome = rt.block_on(async {
        let handle = tokio::spawn(run(request("sleep 30", 60_000, None, None), None, Some(rx)));
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send(()).unwrap();
        handle.await.unwrap().unwrap()
    });
    assert!(outcome.cancelled);
    assert!(session_is_empty(outcome.pgid.unwrap()));
}

#[test]
fn lines_stream_in_order_and_verdicts_follow_the_rules() {
    let rt = runtime();
    let req = request(
        "printf 'a\\nCrashLoopBackOff\\nc'",
        5_000,
        Some("CrashLoopBackOff"),
        Some("No resources found"),
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let (outcome, lines) = rt.block_on(async {
        let collector = tokio::spawn(async move {
            let mut lines = Vec::new();
            while let Some(RunEvent::Line { text, .. }) = rx.recv().await {
                lines.push(text);
            }
            lines
        });
        let outcome = run(req.clone(), Some(tx), None).await.unwrap();
        (outcome, collector.await.unwrap())
    });
    assert_eq!(lines, vec!["a", "CrashLoopBackOff", "c"]);
    assert_eq!(judge(&outcome, &req.predicates).verdict, Verdict::Pass);

    // stop_if wins over proceed_if.
    let req = request(
        "printf 'CrashLoopBackOff\\nNo resources found\\n'",
        5_000,
        Some("CrashLoopBackOff"),
        Some("No resources found"),
    );
    let outcome = rt.block_on(run(req.clone(), None, None)).unwrap();
    assert_eq!(judge(&outcome, &req.predicates).verdict, Verdict::Stop);

    // proceed_if set but not seen: STOP.
    let req = request("echo Running", 5_000, Some("CrashLoopBackOff"), None);
    let outcome = rt.block_on(run(req.clone(), None, None)).unwrap();
    assert_eq!(judge(&outcome, &req.predicates).verdict, Verdict::Stop);

    // Non-zero exit: STOP even if the proceed rule matched.
    let req = request(
        "echo CrashLoopBackOff; false",
        5_000,
        Some("CrashLoopBackOff"),
        None,
    );
    let outcome = rt.block_on(run(req.clone(), None, None)).unwrap();
    assert_eq!(outcome.exit_code, Some(1));
    assert_eq!(judge(&outcome, &req.predicates).verdict, Verdict::Stop);

    // No rule: CHECK, the human reads.
    let req = request("echo hello", 5_000, None, None);
    let outcome = rt.block_on(run(req.clone(), None, None)).unwrap();
    assert_eq!(judge(&outcome, &req.predicates).verdict, Verdict::Check);

    // A multi-line stop rule is checked over the kept output.
    let req = request(
        "printf 'ready: 0\\nwanted: 3\\n'",
        5_000,
        Some("wanted"),
        Some("ready: 0\\nwanted"),
    );
    let outcome = rt.block_on(run(req.clone(), None, None)).unwrap();
    assert_eq!(judge(&outcome, &req.predicates).verdict, Verdict::Stop);
}

#[test]
fn stop_rule_is_seen_even_when_its_line_scrolls_out() {
    let mut req = request(
        "echo 'circuit open'; seq 1 20000",
        10_000,
        Some("circuit"),
        Some("circuit open"),
    );
    req.limits.max_lines = 100;
    let outcome = runtime().block_on(run(req.clone(), None, None)).unwrap();
    assert!(outcome.output.truncated());
    assert_eq!(outcome.output.lines.len(), 100);
    assert_eq!(judge(&outcome, &req.predicates).verdict, Verdict::Stop);
}

#[test]
fn stderr_is_kept_but_not_judged() {
    let req = request(
        "echo 'No resources found' >&2",
        5_000,
        None,
        Some("No resources found"),
    );
    let outcome = runtime().block_on(run(req.clone(), None, None)).unwrap();
    assert_eq!(outcome.output.lines.len(), 1);
    assert_eq!(judge(&outcome, &req.predicates).verdict, Verdict::Check);
}

#[test]
fn refused_commands_never_start() {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("canary");
    for command in [
        format!("touch {}", canary.display()),
        format!("ls; touch {}", canary.display()),
        format!("ls > {}", canary.display()),
        format!("echo $(touch {})", canary.display()),
        format!("sh -c 'touch {}'", canary.display()),
        format!(
            "find {} -newer x -exec touch {} ;",
            dir.path().display(),
            canary.display()
        ),
    ] {
        let result = runtime().block_on(run(request(&command, 5_000, None, None), None, None));
        assert!(
            matches!(result, Err(RunError::Refused(_))),
            "{command} was not refused"
        );
    }
    assert!(!canary.exists());
}
