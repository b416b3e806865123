//! A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) on
//! 127.0.0.1 with a throwaway config: alerts are posted to it, then
//! `stepguard match --alertmanager` ranks the runbooks and `stepguard run
//! --alertmanager` opens the matching one with the labels as values.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tmux;

struct Alertmanager {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> Alertmanager {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n",
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "these tests need prometheus-alertmanager (apt-get install prometheus-alertmanager)",
        );
    let url = format!("http://127.0.0.1:{port}");
    Alertmanager {
        child,
        url,
        _dir: dir,
    }
}

fn http(method: &str, url: &str, body: Option<&str>) -> Option<(u16, String)> {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, url]);
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "-d", b]);
    }
    let out = cmd.output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.trim().parse().ok()?, body.to_string()))
}

fn stepguard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stepguard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("STEPGUARD_RUNBOOKS")
        .output()
        .unwrap()
}

#[test]
fn alerts_from_a_real_alertmanager_pick_the_runbook() {
    let am = start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http("GET", &format!("{}/-/ready", am.url), None).map(|r| r.0) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "alertmanager did not become ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let alerts = r#"[
      {"labels": {"alertname": "KubePodCrashLooping", "namespace": "payments", "pod": "checkout-7d9f8c-xk2lq", "container": "checkout", "severity": "warning"},
       "annotations": {"summary": "Pod payments/checkout-7d9f8c-xk2lq is crash looping"}},
      {"labels": {"alertname": "Watchdog", "severity": "none"}, "annotations": {"summary": "An alert that is always firing"}}
    ]"#;
    let (code, body) = http("POST", &format!("{}/api/v2/alerts", am.url), Some(alerts)).unwrap();
    assert_eq!(code, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = http("GET", &format!("{}/api/v2/alerts", am.url), None).unwrap();
        if body.contains("KubePodCrashLooping") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the alerts never showed up: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let out = stepguard(&["match", "--alertmanager", &am.url, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["results"][0]["id"], "k8s-crashloop-bad-rollout",
        "{json}"
    );
    assert!(json["results"][0]["confidence"].as_f64().unwrap() >= 0.95);

    // The walk opens on that runbook, the alert's labels filling its values.
    let dir = tempfile::tempdir().unwrap();
    let out = stepguard(&[
        "draft",
        "k8s-crashloop-bad-rollout",
        "--step",
        "1",
        "--json",
        "--alert",
        "/dev/null",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a file that is not an alert payload is a clear error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("/dev/null"));
    let line = format!(
        "cd {} && {} run --alertmanager {}; echo EXITED $?; sleep 30",
        env!("CARGO_MANIFEST_DIR"),
        env!("CARGO_BIN_EXE_stepguard"),
        am.url
    );
    let t = tmux::Tmux::start(
        "alertmanager",
        &line,
        &[("STEPGUARD_STATE_DIR", dir.path().to_str().unwrap())],
    );
    // The firing alerts, each with the runbook it matches; the best first.
    let list = t.wait_for("firing alerts");
    assert!(
        list.contains("KubePodCrashLooping") && list.contains("Watchdog"),
        "{list}"
    );
    assert!(list.contains("0.99 k8s-crashloop-bad-rollout"), "{list}");
    t.keys(&["Enter"]);
    let screen = t.wait_for("alert label namespace");
    t.keys(&["q"]);
    assert!(screen.contains("k8s-crashloop-bad-rollout"), "{screen}");
    assert!(screen.contains("payments"), "{screen}");
}
