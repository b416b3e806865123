//! stepguard next to the tool many on-call engineers would reach for instead:
//! a Python LLM command line (shell-gpt). Both ask the same local
//! OpenAI-compatible server (127.0.0.1, streaming SSE, no latency added) for
//! one answer, so what differs is the tool: process start, the request, the
//! streamed reply, the output. Wall time and peak RSS per run, and the ratio.
//!
//!     SGPT=/path/to/venv/bin/sgpt cargo bench --bench peer
//!
//! `scripts/bench.sh` makes the venv (`shell-gpt` with `typer==0.22.0`).
//! Without `SGPT`, only stepguard is measured.

#[path = "../tests/support/openai_server.rs"]
mod openai_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openai_server::{sse, ChunkStyle, FakeServer};

const WARMUP: usize = 3;
const RUNS: usize = 30;

/// One finished run: wall time and peak resident set size.
struct Sample {
    wall: Duration,
    max_rss_kib: u64,
}

/// Spawn, then reap with `wait4`, which reports the child's own peak RSS
/// (what `/usr/bin/time -v` prints as "Maximum resident set size").
#[allow(clippy::zombie_processes)] // reaped by wait4, which Child::wait cannot replace
fn measure(cmd: &mut Command) -> (Sample, String) {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let pid = child.id() as libc::pid_t;
    // Drain the pipes on threads so a chatty child never blocks on them.
    let mut stdout = child.stdout.unwrap();
    let mut stderr = child.stderr.unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).ok();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).ok();
        s
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet reaped; both pointers are valid.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert_eq!(reaped, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed ({status}):\n{out}\n{err}"
    );
    let sample = Sample {
        wall,
        max_rss_kib: usage.ru_maxrss as u64,
    };
    (sample, out)
}

struct Summary {
    mean_ms: f64,
    p50_ms: f64,
    p95_ms: f64,
    rss_mib: f64,
}

fn summarize(samples: &[Sample]) -> Summary {
    let mut ms: Vec<f64> = samples
        .iter()
        .map(|s| s.wall.as_secs_f64() * 1000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    let mut rss: Vec<u64> = samples.iter().map(|s| s.max_rss_kib).collect();
    rss.sort_unstable();
    Summary {
        mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
        p50_ms: at(0.5),
        p95_ms: at(0.95),
        rss_mib: rss[rss.len() / 2] as f64 / 1024.0,
    }
}

/// Warm up, then `RUNS` measured runs; `check` sees each run's stdout.
fn bench(make: &dyn Fn() -> Command, check: &dyn Fn(&str)) -> Summary {
    for _ in 0..WARMUP {
        measure(&mut make());
    }
    let samples: Vec<Sample> = (0..RUNS)
        .map(|_| {
            let (sample, out) = measure(&mut make());
            check(&out);
            sample
        })
        .collect();
    summarize(&samples)
}

fn row(what: &str, tool: &str, s: &Summary) {
    println!(
        "| {what} | {tool} | {:.1} | {:.1} | {:.1} | {:.1} |",
        s.mean_ms, s.p50_ms, s.p95_ms, s.rss_mib
    );
}

fn ratio(what: &str, ours: &Summary, peer: &Summary) {
    println!(
        "| {what} | shell-gpt ÷ stepguard | {:.1}× | {:.1}× | {:.1}× | {:.1}× |",
        peer.mean_ms / ours.mean_ms,
        peer.p50_ms / ours.p50_ms,
        peer.p95_ms / ours.p95_ms,
        peer.rss_mib / ours.rss_mib
    );
}

/// The full-screen walk in a real terminal (a detached tmux pane) with a
/// model configured: its peak RSS (`VmHWM`) once the drafts of the first
/// step and the prefetched second one are in.
fn tui_peak_rss(bin: &Path, base_url: &str, state: &str, server: &FakeServer) -> f64 {
    let sock = format!("stepguard-peer-{}", std::process::id());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &sock, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux (apt-get install tmux)")
    };
    let state_dir = tempfile::tempdir().unwrap();
    let before = server.requests().len();
    let root = env!("CARGO_MANIFEST_DIR");
    let line = format!(
        "cd {root} && exec {} run demo-checkout-logs --state {state}",
        bin.display()
    );
    let envs = [
        format!("STEPGUARD_STATE_DIR={}", state_dir.path().display()),
        "STEPGUARD_CONFIG=/dev/null".into(),
        format!("OPENAI_BASE_URL={base_url}"),
        "OPENAI_API_KEY=sk-bench".into(),
        "STEPGUARD_MODEL=bench-model".into(),
    ];
    let mut args = vec!["new-session", "-d", "-x", "120", "-y", "40"];
    for e in &envs {
        args.extend(["-e", e.as_str()]);
    }
    args.push(&line);
    assert!(tmux(&args).status.success(), "tmux new-session failed");
    let pid = String::from_utf8(tmux(&["display-message", "-p", "#{pane_pid}"]).stdout).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.requests().len() < before + 2 {
        assert!(
            Instant::now() < deadline,
            "the walk did not ask for two drafts"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the replies stream in and the card redraw.
    std::thread::sleep(Duration::from_millis(1_000));
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let hwm_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    tmux(&["send-keys", "q"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux(&["kill-server"]);
    hwm_kib / 1024.0
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_stepguard"));
    let sgpt = std::env::var_os("SGPT").map(PathBuf::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // stepguard asks for a draft (its prompt carries the runbook's
    // variables); shell-gpt asks for a shell command.
    let draft = serde_json::json!({
        "values": {"log_dir": {"value": "demo/var/log/checkout", "evidence": "log_dir: demo/var/log/checkout"}},
        "preflight": null, "action": null, "verify": null, "rollback": null,
        "stale": [], "notes": "The checkout logs fill the volume."
    })
    .to_string();
    let server = runtime.block_on(FakeServer::start(move |req, _| {
        if req.body.contains("log_dir") {
            sse(&draft, &ChunkStyle::default())
        } else {
            sse(
                "du -xh --max-depth=1 /var/log | sort -h",
                &ChunkStyle::default(),
            )
        }
    }));
    let base_url = server.base_url.clone();
    let scratch = tempfile::tempdir().unwrap();

    let stepguard = |args: &[&str]| {
        let mut cmd = Command::new(&bin);
        // A fresh state directory per run: no draft cache, a cold start.
        let state = tempfile::tempdir_in(scratch.path()).unwrap().keep();
        cmd.args(args)
            .current_dir(root)
            .env("STEPGUARD_CONFIG", "/dev/null")
            .env("STEPGUARD_STATE_DIR", state)
            .env("OPENAI_BASE_URL", &base_url)
            .env("OPENAI_API_KEY", "sk-bench")
            .env("STEPGUARD_MODEL", "bench-model");
        cmd
    };
    let shell_gpt = |args: &[&str]| {
        let mut cmd = Command::new(sgpt.as_ref().unwrap());
        cmd.args(args)
            .env("HOME", scratch.path())
            .env("OPENAI_API_KEY", "sk-bench")
            .env("API_BASE_URL", &base_url)
            .env("DEFAULT_MODEL", "bench-model")
            .env("PRETTIFY_MARKDOWN", "false")
            .env("DISABLE_STREAMING", "false");
        cmd
    };

    println!("| measure | tool | mean ms | p50 ms | p95 ms | peak RSS MiB |");
    println!("|---|---|---:|---:|---:|---:|");
    let start_ours = bench(&|| stepguard(&["--version"]), &|out| {
        assert!(out.starts_with("stepguard"), "{out}")
    });
    row("start and exit (`--version`)", "stepguard", &start_ours);
    let draft_ours = bench(
        &|| {
            stepguard(&[
                "draft",
                "demo-checkout-logs",
                "--step",
                "1",
                "--state",
                "demo/state.txt",
                "--json",
            ])
        },
        &|out| {
            // The model's draft, not the offline fallback.
            let card: serde_json::Value = serde_json::from_str(out).expect("card JSON");
            assert_eq!(card["drafter"], openai_server::MODEL, "{out}");
        },
    );
    row(
        "one streamed answer from the local server",
        "stepguard `draft`",
        &draft_ours,
    );
    // SPEC §8: only the relevant lines of a big paste reach the model.
    let big_state = scratch.path().join("state-10mb.txt");
    let line = "payments   checkout-7d9f8c6b5-xk2lq   0/1   CrashLoopBackOff   17 (2m ago)   41m   10.0.3.17   node-a\n";
    let mut text = String::from("log_dir: demo/var/log/checkout\n");
    text.push_str(&line.repeat(10 * 1024 * 1024 / line.len() + 1));
    std::fs::write(&big_state, &text).unwrap();
    let big = big_state.to_str().unwrap().to_string();
    let draft_big = bench(
        &|| {
            stepguard(&[
                "draft",
                "demo-checkout-logs",
                "--step",
                "1",
                "--state",
                &big,
                "--json",
            ])
        },
        &|out| assert!(out.contains(openai_server::MODEL)),
    );
    row(
        "the same with a 10 MB state pasted",
        "stepguard `draft`",
        &draft_big,
    );
    let sent = server.requests().last().map_or(0, |r| r.body.len());
    println!(
        "| request body for the 10 MB state (prompt, runbook, relevant lines) | stepguard | {:.1} KiB | | | |",
        sent as f64 / 1024.0
    );
    let tui_mib = tui_peak_rss(&bin, &base_url, &big, &server);
    println!(
        "| peak RSS of the TUI, 10 MB state, drafting the step and prefetching the next | stepguard `run` | | | | {tui_mib:.1} |"
    );
    // A secret in the paste: the redacted text differs, so it is a second
    // copy (made once, shared by both requests).
    let secret_state = scratch.path().join("state-10mb-secret.txt");
    std::fs::write(
        &secret_state,
        format!("DB_PASSWORD=hunter2sekret99\n{text}"),
    )
    .unwrap();
    let tui_mib = tui_peak_rss(&bin, &base_url, secret_state.to_str().unwrap(), &server);
    println!(
        "| the same with a secret in the paste (redacted before it is sent) | stepguard `run` | | | | {tui_mib:.1} |"
    );
    if sgpt.is_none() {
        println!("\n(SGPT not set: shell-gpt not measured)");
        return;
    }
    let start_peer = bench(&|| shell_gpt(&["--version"]), &|_| {});
    row("start and exit (`--version`)", "shell-gpt", &start_peer);
    let draft_peer = bench(
        &|| {
            shell_gpt(&[
                "--no-cache",
                "--shell",
                "--no-interaction",
                "what fills /var/log",
            ])
        },
        &|out| assert!(out.contains("du -xh"), "{out}"),
    );
    row(
        "one streamed answer from the local server",
        "shell-gpt `--shell`",
        &draft_peer,
    );
    ratio("start and exit", &start_ours, &start_peer);
    ratio("one streamed answer", &draft_ours, &draft_peer);
}
