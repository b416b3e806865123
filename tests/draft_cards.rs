//! Every step of every bundled runbook drafts offline into a full card:
//! templates rendered, values quoted with their evidence or marked
//! unverified, read-only commands allowed by the guard once values exist.

use std::path::Path;
use std::process::Command;

use stepguard::draft::{draft_offline, Context, Source};
use stepguard::runbook::load_dir;

#[test]
fn every_bundled_step_drafts_offline() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runbooks = load_dir(&root.join("runbooks")).unwrap();
    let mut problems = Vec::new();
    for rb in &runbooks {
        for i in 0..rb.steps.len() {
            let card = draft_offline(rb, i, &Context::default());
            let name = format!("{}/{}", rb.id, card.step_id);
            let text = card.to_text();
            if text.contains("{{") {
                problems.push(format!("{name}: unrendered placeholder"));
            }
            for v in &card.values {
                let from_default = v
                    .evidence
                    .as_ref()
                    .is_some_and(|e| e.source == Source::Default);
                if v.value.is_some() && from_default == v.verified {
                    problems.push(format!(
                        "{name}: value {} from a default must be unverified",
                        v.name
                    ));
                }
                if from_default
                    && !text.contains(&format!(
                        "{} = {}  [UNVERIFIED]",
                        v.name,
                        v.value.as_deref().unwrap()
                    ))
                {
                    problems.push(format!(
                        "{name}: {} not marked UNVERIFIED in the text card",
                        v.name
                    ));
                }
            }
            for check in [&card.preflight, &card.verify].into_iter().flatten() {
                if check.missing.is_empty() && !check.guard.allowed {
                    problems.push(format!(
                        "{name}: guard refuses {:?}: {}",
                        check.command, check.guard.reason
                    ));
                }
                if !check.missing.is_empty() && check.runnable {
                    problems.push(format!("{name}: runnable with missing values"));
                }
            }
            if card.action.is_some()
                && card.rollback.command().is_none()
                && !text.contains("ROLLBACK: none")
            {
                problems.push(format!("{name}: action without a rollback line"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn values_from_the_context_are_quoted_and_evidenced() {
    let out = Command::new(env!("CARGO_BIN_EXE_stepguard"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env("STEPGUARD_CONFIG", "/dev/null")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "draft",
            "k8s-crashloop-bad-rollout",
            "--step",
            "1",
            "--json",
        ])
        .args([
            "--var",
            "namespace=payments",
            "--var",
            "deployment=checkout",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let card: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let command = card["preflight"]["command"].as_str().unwrap();
    assert!(command.contains("payments"), "{command}");
    let values = card["values"].as_array().unwrap();
    let ns = values.iter().find(|v| v["name"] == "namespace").unwrap();
    assert_eq!(ns["verified"], true);
    assert_eq!(ns["evidence"]["text"], "--var namespace=payments");

    // A hostile value is rejected, listed, and never reaches the command.
    let out = Command::new(env!("CARGO_BIN_EXE_stepguard"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env("STEPGUARD_CONFIG", "/dev/null")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "draft",
            "k8s-crashloop-bad-rollout",
            "--step",
            "1",
            "--json",
        ])
        .args([
            "--var",
            "namespace=payments;rm -rf /",
            "--var",
            "deployment=checkout",
        ])
        .output()
        .unwrap();
    let card: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!card["preflight"]["command"]
        .as_str()
        .unwrap()
        .contains("rm -rf"));
    assert_eq!(card["preflight"]["runnable"], false);
    assert!(card["flags"].to_string().contains("rejected"));
}

#[test]
fn alert_labels_fill_values() {
    let dir = tempfile::tempdir().unwrap();
    let alert = dir.path().join("alert.json");
    std::fs::write(
        &alert,
        r#"{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"payments","pod":"checkout-7d9f8c-xk2lq","deployment":"checkout"}}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stepguard"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env("STEPGUARD_CONFIG", "/dev/null")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "draft",
            "k8s-crashloop-bad-rollout",
            "--step",
            "1",
            "--json",
            "--alert",
        ])
        .arg(&alert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let card: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ns = card["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "namespace")
        .unwrap()
        .clone();
    assert_eq!(ns["value"], "payments");
    assert_eq!(ns["evidence"]["source"], "label");
}
