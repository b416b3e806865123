//! Tell the team a request waits: a POST in the Slack incoming-webhook
//! shape (`{"text": …}`), which Slack, Mattermost and most chat bridges
//! take. The message carries what to decide and the command that decides.

use serde_json::json;

use super::approval::{Filed, Request};

/// The webhook's body for a new request.
pub fn message(filed: &Filed, request: &Request) -> serde_json::Value {
    let minutes = (filed.expires_in_ms.max(0) + 59_999) / 60_000;
    let mut text = format!(
        "stepguard: {} asks for approval {} ({} min left)\n\
         runbook {} · step {}/{} {} · risk {} · target {}\n\
         action: `{}`\n\
         blast radius: {}\n\
         rollback: `{}`\n\
         pre-flight: `{}` → {}",
        filed.requested_by,
        filed.id,
        minutes,
        request.runbook,
        request.step_number,
        request.steps,
        request.title,
        request.risk,
        request.target,
        request.action,
        if request.blast_radius.is_empty() {
            "(not stated)"
        } else {
            &request.blast_radius
        },
        request.rollback,
        request.preflight,
        request.verdict,
    );
    if !request.alert.is_empty() {
        text.push_str(&format!("\nalert: {}", request.alert));
    }
    text.push_str(&format!(
        "\napprove: `stepguard approve {id}` · reject: `stepguard reject {id} --reason '…'`",
        id = filed.id
    ));
    // What reaches a chat is redacted, whatever the request carried.
    json!({ "text": crate::redact::redact(&text).text })
}

/// POST the message; the receiver's refusal is an error to show, never a
/// reason to stop the walk.
pub async fn post(url: &str, body: &serde_json::Value) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("the webhook: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {}", response.status()))
    }
}
