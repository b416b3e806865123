//! Alert payloads: an Alertmanager webhook body (`{"alerts": [...]}`), an
//! `/api/v2/alerts` list (`[...]`), or a single alert object.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub firing: bool,
}

impl Alert {
    pub fn name(&self) -> Option<&str> {
        self.labels.get("alertname").map(String::as_str)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Alerts(pub Vec<Alert>);

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not an Alertmanager payload: expected a webhook body ({{\"alerts\": [...]}}), an /api/v2/alerts list, or one alert with \"labels\"")]
    Shape,
    #[error("the payload holds no alerts")]
    Empty,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Payload {
    Webhook { alerts: Vec<RawAlert> },
    List(Vec<RawAlert>),
    One(RawAlert),
}

#[derive(Deserialize)]
struct RawAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    /// Webhook: "firing" | "resolved"; v2 API: {"state": "active" | ...}.
    #[serde(default)]
    status: Option<serde_json::Value>,
}

impl Alerts {
    pub fn parse(json: &str) -> Result<Self, AlertError> {
        let value: serde_json::Value = serde_json::from_str(json)?;
        let raw = match serde_json::from_value::<Payload>(value).map_err(|_| AlertError::Shape)? {
            Payload::Webhook { alerts } | Payload::List(alerts) => alerts,
            Payload::One(a) => vec![a],
        };
        if raw.is_empty() {
            return Err(AlertError::Empty);
        }
        Ok(Alerts(raw.into_iter().map(Alert::from).collect()))
    }

    /// The alert a runbook answers: firing ones first, then one whose
    /// alertname the runbook lists, else the first.
    pub fn pick(&self, alertnames: &[String]) -> Option<&Alert> {
        let named = |a: &&Alert| a.name().is_some_and(|n| alertnames.iter().any(|x| x == n));
        self.0
            .iter()
            .filter(|a| a.firing)
            .find(named)
            .or_else(|| self.0.iter().find(named))
            .or_else(|| self.0.iter().find(|a| a.firing))
            .or_else(|| self.0.first())
    }
}

impl From<RawAlert> for Alert {
    fn from(raw: RawAlert) -> Self {
        let firing = match &raw.status {
            None => true,
            Some(serde_json::Value::String(s)) => s == "firing",
            Some(v) => v
                .get("state")
                .and_then(|s| s.as_str())
                .is_none_or(|s| s == "active"),
        };
        Alert {
            labels: raw.labels,
            annotations: raw.annotations,
            firing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_and_v2_list() {
        let hook = r#"{"version":"4","status":"firing","alerts":[
            {"status":"resolved","labels":{"alertname":"KubePodCrashLooping","namespace":"old"}},
            {"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"payments"}}]}"#;
        let alerts = Alerts::parse(hook).unwrap();
        let a = alerts.pick(&["KubePodCrashLooping".into()]).unwrap();
        assert_eq!(a.labels["namespace"], "payments");

        let v2 = r#"[{"labels":{"alertname":"X"},"status":{"state":"suppressed"}},
                     {"labels":{"alertname":"Y","pod":"p"},"status":{"state":"active"}}]"#;
        let alerts = Alerts::parse(v2).unwrap();
        assert_eq!(alerts.pick(&[]).unwrap().name(), Some("Y"));
        assert!(matches!(Alerts::parse("[]"), Err(AlertError::Empty)));
        assert!(Alerts::parse("not json").is_err());
    }
}
