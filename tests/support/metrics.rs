//! Reading `/metrics` the way Prometheus would: the text is parsed by the official Python
//! client's strict OpenMetrics parser (`prometheus_client`, pinned in
//! `tests/support/python/requirements.txt`) in `python/parse_metrics.py`, and tests look up
//! samples in what it understood.

use serde_json::Value;

/// One sample as the parser saw it.
#[derive(Debug, Clone)]
pub struct Sample {
    pub family: String,
    pub kind: String,
    pub name: String,
    pub labels: serde_json::Map<String, Value>,
    pub value: f64,
}

/// Parses an exposition; panics with the parser's complaint if it is not valid OpenMetrics.
pub fn parse(text: &str) -> Vec<Sample> {
    let output = super::sdk::run_script("parse_metrics.py", text.as_bytes());
    assert!(
        output.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Vec<Value> = serde_json::from_slice(&output.stdout).expect("parser JSON");
    parsed
        .into_iter()
        .map(|sample| Sample {
            family: sample["family"].as_str().unwrap_or_default().to_owned(),
            kind: sample["type"].as_str().unwrap_or_default().to_owned(),
            name: sample["name"].as_str().unwrap_or_default().to_owned(),
            labels: sample["labels"].as_object().cloned().unwrap_or_default(),
            value: sample["value"].as_f64().unwrap_or(f64::NAN),
        })
        .collect()
}

/// The value of the sample `name` whose labels include `labels`, summed over the others
/// (0 when there is none).
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).and_then(Value::as_str) == Some(v))
        })
        .map(|s| s.value)
        .sum()
}

/// `GET {base}/metrics` with an optional bearer token: status and body.
pub async fn scrape(
    base: &str,
    token: Option<&str>,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, String) {
    let mut request = reqwest::Client::new().get(format!("{base}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("GET /metrics");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}
