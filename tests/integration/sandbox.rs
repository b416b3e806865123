//! The kernel's half of "runs only reads": whatever the guard decided, a
//! sandboxed pre-flight cannot write outside its scratch directory, cannot
//! run what it wrote, and says what protected it. Also the unsupported
//! path (forced), `sandbox: required`, and `stepguard doctor`.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

use stepguard::exec::sandbox::{confine_child, prepare, status};
use stepguard::exec::{SandboxPolicy, SandboxStatus};

/// Runs `script` as a pre-flight shell would, in the sandbox, bypassing the
/// guard on purpose: this is what a guard bypass would get.
fn sandboxed(script: &str, args: &[&Path]) -> (Output, SandboxStatus) {
    let prepared = prepare(&SandboxPolicy::default()).unwrap();
    let status = prepared.status.clone();
    let mut ruleset = prepared.ruleset;
    let scratch = prepared.scratch.path().to_path_buf();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).arg("sh").args(args);
    cmd.env("TMPDIR", &scratch);
    // SAFETY: confine_child only makes system calls.
    unsafe {
        cmd.pre_exec(move || confine_child(ruleset.take()));
    }
    let out = cmd.output().unwrap();
    drop(prepared.scratch);
    (out, status)
}

fn require_landlock() -> bool {
    match status() {
        SandboxStatus::Enforced { .. } => true,
        SandboxStatus::GuardOnly { why } => {
            // CI kernels have Landlock (checked by `stepguard doctor` in
            // .ci/run); a developer's kernel may not.
            eprintln!("skipped: {why}");
            false
        }
    }
}

#[test]
fn every_kind_of_write_outside_the_scratch_directory_fails() {
    if !require_landlock() {
        return;
    }
    let outside = tempfile::tempdir().unwrap();
    let existing = outside.path().join("existing");
    std::fs::write(&existing, "keep me\n").unwrap();
    let o = outside.path();
    // Each attempt prints its name when it succeeds.
    let script = r#"
        d=$1; f=$2
        (echo x > "$d/new") 2>/dev/null && echo WROTE-NEW
        (echo x >> "$f") 2>/dev/null && echo APPENDED
        (: > "$f") 2>/dev/null && echo TRUNCATED
        mkdir "$d/sub" 2>/dev/null && echo MKDIR
        rm -f "$f" 2>/dev/null && [ ! -e "$f" ] && echo REMOVED
        mv "$f" "$d/moved" 2>/dev/null && echo MOVED
        ln -s /etc/passwd "$d/link" 2>/dev/null && echo SYMLINK
        ln "$f" "$d/hard" 2>/dev/null && echo HARDLINK
        chmod 777 "$f" 2>/dev/null && echo CHMOD
        chown nobody "$f" 2>/dev/null && echo CHOWN
        touch -d 2000-01-01 "$f" 2>/dev/null && echo TOUCHED
        mkfifo "$d/fifo" 2>/dev/null && echo FIFO
        (echo x > "$TMPDIR/ok") 2>/dev/null && echo SCRATCH-OK
        cp /bin/true "$TMPDIR/t" 2>/dev/null && "$TMPDIR/t" 2>/dev/null && echo RAN-FROM-SCRATCH
        cp /bin/true "$d/t" 2>/dev/null && "$d/t" 2>/dev/null && echo RAN-FROM-OUTSIDE
        echo done
    "#;
    let (out, st) = sandboxed(script, &[o, &existing]);
    assert!(st.enforced());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("done"), "{stdout}");
    assert!(
        stdout.contains("SCRATCH-OK"),
        "the scratch directory must stay writable: {stdout}"
    );
    for bad in [
        "WROTE-NEW",
        "APPENDED",
        "TRUNCATED",
        "MKDIR",
        "REMOVED",
        "MOVED",
        "SYMLINK",
        "HARDLINK",
        "CHMOD",
        "CHOWN",
        "TOUCHED",
        "FIFO",
        "RAN-FROM-SCRATCH",
        "RAN-FROM-OUTSIDE",
    ] {
        assert!(!stdout.contains(bad), "{bad} got through: {stdout}");
    }
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me\n");
    let entries: Vec<_> = std::fs::read_dir(o).unwrap().collect();
    assert_eq!(entries.len(), 1, "something appeared in {}", o.display());
}

#[test]
fn no_listening_socket_and_no_signal_outside_the_sandbox() {
    if !require_landlock() {
        return;
    }
    // A process outside the sandbox that a pre-flight must not be able to kill.
    let mut victim = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = victim.id().to_string();
    let script = format!(
        "kill -9 {pid} 2>/dev/null && echo KILLED; \
         perl -MSocket -e 'print \"PERL\\n\"; socket(S, PF_INET, SOCK_STREAM, 0) or die; \
           bind(S, sockaddr_in(0, INADDR_LOOPBACK)) and print \"BOUND\\n\"'; \
         echo done"
    );
    let (out, _) = sandboxed(&script, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("done"), "{stdout}");
    assert!(!stdout.contains("KILLED"), "{stdout}");
    assert!(stdout.contains("PERL"), "perl did not run: {stdout}");
    assert!(!stdout.contains("BOUND"), "{stdout}");
    assert!(victim.try_wait().unwrap().is_none(), "the victim died");
    victim.kill().unwrap();
    victim.wait().unwrap();
}

/// What Landlock does not govern: capabilities, the clock and hostname,
/// code from memory, leaving the session, inherited descriptors.
#[test]
fn what_landlock_does_not_govern_is_held_too() {
    // A descriptor stepguard inherited without close-on-exec.
    // SAFETY: dup2 onto an unused high number.
    let leaked = unsafe { libc::dup2(2, 77) };
    assert_eq!(leaked, 77);
    let script = r#"
        hostname sandbox-was-here 2>/dev/null && echo HOSTNAME
        date -s 2001-01-01 >/dev/null 2>&1 && echo CLOCK
        setsid sh -c 'echo ESCAPED' 2>/dev/null
        perl -e 'my $n = "x"; my $fd = syscall(319, $n, 0); print $fd >= 0 ? "MEMFD\n" : "nomemfd\n"'
        [ -e /proc/self/fd/77 ] && echo LEAKED-FD
        unshare -Ur true 2>/dev/null && echo USERNS
        seq 1 200000 | sort -n -r --parallel=4 -S 1M | head -1 | sed 's/^/threads-ok /'

        grep CapEff /proc/self/status
        stat -c 'scratch %a' "$TMPDIR"
        echo done
    "#;
    let (out, _) = sandboxed(script, &[]);
    // SAFETY: closing the descriptor dup2 made.
    unsafe { libc::close(77) };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("done"), "{stdout}");
    // Threads still start (clone3 answers ENOSYS; libc falls back to clone).
    assert!(stdout.contains("threads-ok 200000"), "{stdout}");
    for bad in [
        "HOSTNAME",
        "CLOCK",
        "ESCAPED",
        "MEMFD",
        "LEAKED-FD",
        "USERNS",
    ] {
        assert!(!stdout.contains(bad), "{bad} got through: {stdout}");
    }
    assert!(stdout.contains("nomemfd"), "perl did not run: {stdout}");
    assert!(stdout.contains("scratch 700"), "{stdout}");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // DAC_READ_SEARCH, NET_RAW and SYSLOG only.
        assert!(stdout.contains("CapEff:\t0000000400002004"), "{stdout}");
    }
}

/// Calls whose arguments decide: other processes' limits, sniffing
/// sockets, clearing the kernel log, and calls newer than libc's tables.
#[cfg(target_arch = "x86_64")]
#[test]
fn calls_that_reach_outside_are_refused_by_their_arguments() {
    let mut victim = Command::new("sleep").arg("30").spawn().unwrap();
    // Each probe prints its name and the call's result (-1 when refused).
    let script = format!(
        r#"perl -e '
        sub try {{ my ($name, $r) = @_; print "$name ", ($r < 0 ? "refused" : "ALLOWED"), "
" }}
        my $lim = pack("QQ", 1, 1);
        try("prlimit-other", syscall(302, {pid}, 7, $lim, 0));
        try("prlimit-self", syscall(302, 0, 7, 0, my $old = pack("QQ", 0, 0)));
        try("packet-socket", syscall(41, 17, 3, 0));
        try("raw-tcp-socket", syscall(41, 2, 3, 6));
        try("syslog-clear", syscall(103, 5, 0, 0));
        try("setxattrat", syscall(463, -100, 0, 0, 0, 0, 0));
        try("file-setattr", syscall(469, -100, 0, 0, 0, 0));
        try("unknown-call", syscall(520, 0, 0, 0));
        '"#,
        pid = victim.id()
    );
    let (out, _) = sandboxed(&script, &[]);
    victim.kill().unwrap();
    victim.wait().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("prlimit-self ALLOWED"), "{stdout}");
    for refused in [
        "prlimit-other",
        "packet-socket",
        "raw-tcp-socket",
        "syslog-clear",
        "setxattrat",
        "file-setattr",
        "unknown-call",
    ] {
        assert!(
            stdout.contains(&format!("{refused} refused")),
            "{refused}: {stdout}"
        );
    }
}

fn stepguard(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepguard"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("STEPGUARD_SANDBOX_UNAVAILABLE")
        .env("STEPGUARD_STATE_DIR", dir.join("state"))
        .env("STEPGUARD_CONFIG", dir.join("config.yaml"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

const RUNBOOK: &str =
    "id: probe\ntitle: Probe\nrisk: low\nsteps:\n  - id: look\n    title: Look\n    \
                       intent: Read a file.\n    preflight:\n      run: cat /etc/hostname\n      \
                       explain: any output\n";

fn workdir(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    std::fs::create_dir(dir.path().join("runbooks")).unwrap();
    std::fs::write(dir.path().join("runbooks/probe.yaml"), RUNBOOK).unwrap();
    dir
}

#[test]
fn draft_preflight_says_what_protected_the_run() {
    let dir = workdir("# defaults\n");
    let args = [
        "draft",
        "probe",
        "--step",
        "1",
        "--offline",
        "--preflight",
        "--json",
    ];
    let out = stepguard(&args, &[], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let sandbox = &json["preflight_result"]["sandbox"];
    if status().enforced() {
        assert_eq!(sandbox["kind"], "enforced", "{json}");
        assert!(sandbox["abi"].as_i64().unwrap() >= 1);
    }

    // A kernel without Landlock (forced): the run is guard-only and says so.
    let forced = [("STEPGUARD_SANDBOX_UNAVAILABLE", "1")];
    let out = stepguard(&args, &forced, dir.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["preflight_result"]["sandbox"]["kind"], "guard_only");
    assert_eq!(json["preflight_result"]["exit_code"], 0, "{json}");
    let text = stepguard(&args[..6], &forced, dir.path());
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("sandbox: NOT enforced"), "{stdout}");

    // `sandbox: required` refuses to run instead.
    let dir = workdir("sandbox: required\n");
    let out = stepguard(&args, &forced, dir.path());
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = json["preflight_result"]["reason"].as_str().unwrap();
    assert!(reason.contains("requires the sandbox"), "{reason}");
    assert!(
        json["preflight_result"].get("exit_code").is_none(),
        "{json}"
    );
}

#[test]
fn a_bad_sandbox_setting_is_an_error_with_its_place() {
    let dir = workdir("sandbox: sometimes\n");
    let out = stepguard(&["doctor"], &[], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("config.yaml:1:"), "{stderr}");
}

#[test]
fn doctor_proves_the_sandbox_and_fails_when_a_requirement_is_missing() {
    let dir = workdir("# defaults\n");
    let out = stepguard(&["doctor"], &[], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for what in ["sandbox", "clipboard", "model", "state dir", "runbooks"] {
        assert!(stdout.contains(what), "{what} missing: {stdout}");
    }
    assert!(stdout.contains("1 runbook (1 step)"), "{stdout}");
    assert!(stdout.contains("offline"), "{stdout}");
    if status().enforced() {
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(stdout.contains("enforced (Landlock ABI"), "{stdout}");
        assert!(stdout.contains("chmod beside it were refused"), "{stdout}");
    }

    let forced = [("STEPGUARD_SANDBOX_UNAVAILABLE", "1")];
    let out = stepguard(&["doctor"], &forced, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "auto only warns: {stdout}");
    assert!(stdout.contains("warn  sandbox"), "{stdout}");

    let dir = workdir("sandbox: required\n");
    let out = stepguard(&["doctor"], &forced, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  sandbox"), "{stdout}");

    // A state directory others can write is a failure too.
    let dir = workdir("# defaults\n");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = stepguard(&["doctor"], &[], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("writable by others"), "{stdout}");
}
