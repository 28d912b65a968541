//! Delivering one notification to every `ALERT_WEBHOOK_URLS` entry: in parallel, each attempt
//! bounded by `ATOMS_OUTBOUND_TIMEOUT_MS`, retried with exponential backoff and full jitter.
//!
//! A Slack incoming webhook gets Slack's `{"text": …}`; any other URL the JSON notification,
//! signed `X-Atoms-Signature: t=<unix>, v1=<hex HMAC-SHA256(ALERT_WEBHOOK_SECRET, "<t>.<body>")>`
//! and carrying `X-Atoms-Delivery` (the same on every retry, so a receiver can drop a repeat
//! whose first acknowledgement was lost). URLs are credentials: logs name a webhook by its
//! position in the list only.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::config::{AlertConfig, Webhook};
use crate::secret::Secret;

/// Attempts per webhook and notification (the first, then retries).
pub const ATTEMPTS: u32 = 4;
/// The first retry waits up to this long; each further one up to twice as long.
const BACKOFF: Duration = Duration::from_millis(250);

/// What is sent: one incident's firing or its resolution.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// The incident: the same on its firing and its resolution.
    pub incident: String,
    pub rule: &'static str,
    /// `firing` or `resolved`.
    pub status: &'static str,
    pub summary: String,
    pub value: f64,
    pub threshold: f64,
    pub window_minutes: u32,
    /// Unix seconds when the incident started, and when this notification was decided.
    pub started_at: u64,
    pub at: u64,
    pub deployment: Deployment,
}

#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub target: &'static str,
    pub region: String,
    pub commit: String,
    pub url: Option<String>,
}

/// Sends `notification` to every webhook concurrently; returns how many acknowledged it.
pub async fn deliver(http: &reqwest::Client, config: &AlertConfig, notification: &Notification) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, webhook) in config.webhooks.iter().enumerate() {
        let http = http.clone();
        let webhook = webhook.clone();
        let secret = config.secret.clone();
        let notification = notification.clone();
        tasks.spawn(async move { deliver_one(&http, index, &webhook, secret.as_ref(), &notification).await });
    }
    let mut delivered = 0;
    while let Some(result) = tasks.join_next().await {
        delivered += usize::from(result.unwrap_or(false));
    }
    delivered
}

async fn deliver_one(
    http: &reqwest::Client,
    index: usize,
    webhook: &Webhook,
    secret: Option<&Secret>,
    notification: &Notification,
) -> bool {
    let body = if webhook.slack { slack_body(notification) } else { json_body(notification) };
    let delivery = format!("{}-{}", notification.incident, notification.status);
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt)).await;
        }
        let mut request = http
            .post(webhook.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        if !webhook.slack {
            request = request.header("x-atoms-delivery", &delivery);
            if let Some(secret) = secret {
                request = request.header("x-atoms-signature", signature(secret, unix_now(), &body));
            }
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => return true,
            Ok(response) => {
                let status = response.status().as_u16();
                tracing::warn!(
                    webhook = index,
                    attempt,
                    status,
                    rule = notification.rule,
                    "alert webhook refused"
                );
            }
            Err(error) => {
                let reason = if error.is_timeout() { "timeout" } else { "connection failed" };
                tracing::warn!(
                    webhook = index,
                    attempt,
                    reason,
                    rule = notification.rule,
                    "alert webhook unreachable"
                );
            }
        }
    }
    tracing::error!(
        webhook = index,
        rule = notification.rule,
        status = notification.status,
        "alert not delivered"
    );
    false
}

/// Full jitter: uniformly random in `[0, BACKOFF × 2^(attempt-1)]`.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF.as_millis() as u64 * (1 << (attempt - 1).min(6));
    let mut random = [0u8; 8];
    let _ = getrandom::fill(&mut random);
    Duration::from_millis(u64::from_le_bytes(random) % (ceiling + 1))
}

/// `t=<unix>, v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &Secret, t: u64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{t}.").as_bytes());
    mac.update(body.as_bytes());
    let hex: String = crate::hex::encode(&mac.finalize().into_bytes());
    format!("t={t}, v1={hex}")
}

fn json_body(notification: &Notification) -> String {
    serde_json::to_string(notification).unwrap_or_default()
}

/// Slack's incoming-webhook message: one line of text with an emoji for the state.
fn slack_body(notification: &Notification) -> String {
    let (emoji, state) = match notification.status {
        "firing" => (":red_circle:", "FIRING"),
        _ => (":large_green_circle:", "RESOLVED"),
    };
    let deployment = &notification.deployment;
    let place =
        deployment.url.clone().unwrap_or_else(|| format!("{} {}", deployment.target, deployment.region));
    let text = format!(
        "{emoji} *[{state}] {}* — {} ({place}, incident {})",
        notification.rule, notification.summary, notification.incident
    );
    serde_json::json!({ "text": text }).to_string()
}

use crate::clock::now_unix as unix_now;

#[cfg(test)]
mod tests {
    use super::*;

    fn notification() -> Notification {
        Notification {
            incident: "inc-1".to_owned(),
            rule: "error_rate",
            status: "firing",
            summary: "error rate 12.0 %".to_owned(),
            value: 0.12,
            threshold: 0.01,
            window_minutes: 5,
            started_at: 1,
            at: 2,
            deployment: Deployment {
                target: "production",
                region: "iad1".into(),
                commit: "abc".into(),
                url: None,
            },
        }
    }

    #[test]
    fn signatures_are_hmac_sha256_of_time_and_body() {
        // Reference: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let signature = signature(&Secret::new("whsec_test"), 1_700_000_000, r#"{"a":1}"#);
        assert_eq!(
            signature,
            "t=1700000000, v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn slack_gets_text_and_others_the_notification() {
        let slack: serde_json::Value = serde_json::from_str(&slack_body(&notification())).expect("json");
        let text = slack["text"].as_str().expect("text");
        assert!(text.starts_with(":red_circle: *[FIRING] error_rate*"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&json_body(&notification())).expect("json");
        assert_eq!(json["incident"], "inc-1");
        assert_eq!(json["status"], "firing");
        assert_eq!(json["deployment"]["region"], "iad1");
    }

    #[test]
    fn backoff_is_bounded_and_grows() {
        for attempt in 1..ATTEMPTS {
            assert!(backoff(attempt) <= BACKOFF * (1 << (attempt - 1)));
        }
    }
}
