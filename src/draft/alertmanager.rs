//! `--alertmanager URL`: the firing alerts of an Alertmanager (API v2),
//! active and neither silenced nor inhibited.

use std::time::Duration;

use super::alert::Alerts;

pub async fn fetch(base_url: &str) -> Result<Alerts, String> {
    let url = format!(
        "{}/api/v2/alerts?active=true&silenced=false&inhibited=false",
        base_url.trim_end_matches('/')
    );
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .get(&url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        let excerpt = crate::sanitize::sanitize_line(body.trim(), 200).into_owned();
        return Err(format!("{url}: HTTP {status}: {excerpt}"));
    }
    Alerts::parse(&body).map_err(|e| format!("{url}: {e}"))
}
