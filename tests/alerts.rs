//! Alerts end to end: two `atoms serve` processes share Redis; errors on both make one
//! incident, which a local webhook receiver hears about exactly once when it fires and once
//! when it resolves, signed; a receiver that fails twice still gets each notification once.

mod support;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "whsec_test_0123456789";
/// What Vercel's cron sends as its bearer token.
const CRON: &str = "cron-secret-0123456789abcdef";

/// What a receiver got: every attempt, and whether it acknowledged it.
#[derive(Default)]
struct Inbox {
    attempts: Vec<(HeaderMap, String, bool)>,
    /// Attempts still to refuse with a 500.
    refuse: usize,
}

type Shared = Arc<Mutex<Inbox>>;

async fn receive(State(inbox): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    let mut inbox = inbox.lock().expect("inbox");
    let accept = inbox.refuse == 0;
    inbox.refuse = inbox.refuse.saturating_sub(1);
    inbox.attempts.push((headers, body, accept));
    if accept { StatusCode::NO_CONTENT } else { StatusCode::INTERNAL_SERVER_ERROR }
}

/// A webhook receiver on a free loopback port refusing its first `refuse` attempts.
async fn receiver(refuse: usize) -> (String, Shared) {
    let inbox: Shared = Arc::new(Mutex::new(Inbox { refuse, ..Inbox::default() }));
    let app = axum::Router::new().route("/hook", post(receive)).with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, inbox)
}

/// The acknowledged notifications of `rule`, as JSON.
fn delivered(inbox: &Shared, rule: &str) -> Vec<serde_json::Value> {
    let inbox = inbox.lock().expect("inbox");
    inbox
        .attempts
        .iter()
        .filter(|(_, _, accepted)| *accepted)
        .map(|(_, body, _)| serde_json::from_str::<serde_json::Value>(body).expect("JSON body"))
        .filter(|body| body["rule"] == rule)
        .collect()
}

async fn get(url: &str) -> StatusCode {
    reqwest::get(url).await.expect("request").status()
}

/// `GET /metrics?evaluate` on `base`: flush its own counts, judge the rules, deliver.
async fn evaluate(base: &str) {
    assert_eq!(get(&format!("{base}/metrics?evaluate")).await, StatusCode::OK);
}

/// What Vercel's cron does: `GET /api/metrics?evaluate` with `Bearer <CRON_SECRET>`.
async fn cron_evaluate(base: &str) {
    let response = reqwest::Client::new()
        .get(format!("{base}/api/metrics?evaluate"))
        .bearer_auth(CRON)
        .send()
        .await
        .expect("cron request");
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body, serde_json::json!({"evaluated": true}), "the cron gets no metrics");
}

fn verify(headers: &HeaderMap, body: &str) {
    let signature = headers["x-atoms-signature"].to_str().expect("ascii");
    let (t, v1) = signature.split_once(", v1=").expect("t=…, v1=…");
    let t = t.strip_prefix("t=").expect("t=");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v1, expected, "the signature verifies with ALERT_WEBHOOK_SECRET");
    let age = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
        - t.parse::<u64>().expect("unix time");
    assert!(age < 60, "fresh timestamp");
}

#[tokio::test]
async fn one_incident_from_two_processes_fires_once_and_resolves_once() {
    let redis = support::start_redis();
    let redis_url = support::redis_url(&redis);
    let (steady, steady_inbox) = receiver(0).await;
    let (flaky, flaky_inbox) = receiver(2).await;
    let hooks = format!("{steady},{flaky}");
    // A database nobody listens on: `/health/ready` answers 503 (the errors), and the
    // dependency rule fires too (its own incident). Timers never flush: evaluation is driven
    // by `/metrics?evaluate`, so the test waits on nothing.
    let dead_db = format!("postgres://atoms@127.0.0.1:{}/atoms", support::free_port());
    let env = [
        ("REDIS_URL", redis_url.as_str()),
        ("DATABASE_URL", dead_db.as_str()),
        ("METRICS_FLUSH_SECONDS", "300"),
        ("ALERT_WEBHOOK_URLS", hooks.as_str()),
        ("ALERT_WEBHOOK_SECRET", SECRET),
        ("ALERT_ERROR_RATE", "0.5"),
        ("ALERT_MIN_REQUESTS", "8"),
        ("LOG_LEVEL", "error"),
        ("CRON_SECRET", CRON),
    ];
    let first = support::atoms_serve(&[], &env);
    let second = support::atoms_serve(&[], &env);
    let (a, b) = (format!("http://127.0.0.1:{}", first.port), format!("http://127.0.0.1:{}", second.port));

    for base in [&a, &b] {
        for _ in 0..5 {
            assert_eq!(get(&format!("{base}/health/ready")).await, StatusCode::SERVICE_UNAVAILABLE);
        }
    }
    evaluate(&a).await; // 5 errors in the fleet's counts: below ALERT_MIN_REQUESTS
    assert!(delivered(&steady_inbox, "error_rate").is_empty(), "one process's errors alone are not enough");
    cron_evaluate(&b).await; // 10 errors of 10: firing, decided by one of them (Vercel's cron)
    evaluate(&a).await; // the other sees it firing too, and stays quiet
    cron_evaluate(&b).await;
    let fired = delivered(&steady_inbox, "error_rate");
    assert_eq!(fired.len(), 1, "exactly one firing: {fired:?}");
    assert_eq!(fired[0]["status"], "firing");
    assert!(fired[0]["summary"].as_str().expect("summary").contains("10 of 10"), "{}", fired[0]);

    for base in [&a, &b] {
        for _ in 0..20 {
            assert_eq!(get(&format!("{base}/health/live")).await, StatusCode::OK);
        }
    }
    evaluate(&a).await;
    cron_evaluate(&b).await;
    evaluate(&a).await;

    for inbox in [&steady_inbox, &flaky_inbox] {
        let notes = delivered(inbox, "error_rate");
        let states: Vec<&str> = notes.iter().map(|n| n["status"].as_str().expect("status")).collect();
        assert_eq!(states, ["firing", "resolved"], "one firing, one resolve");
        assert_eq!(notes[0]["incident"], notes[1]["incident"], "the same incident");
        let down = delivered(inbox, "dependency_down");
        assert_eq!(down.len(), 1, "the database outage is one incident too: {down:?}");
        assert!(down[0]["summary"].as_str().expect("summary").contains("database"));
    }
    let inbox = flaky_inbox.lock().expect("inbox");
    let refused = inbox.attempts.iter().filter(|(_, _, accepted)| !accepted).count();
    assert_eq!(refused, 2, "the flaky receiver refused twice and was retried");
    let first_delivery = &inbox.attempts[0].0["x-atoms-delivery"];
    assert!(
        inbox.attempts[..3].iter().all(|(headers, _, _)| headers["x-atoms-delivery"] == first_delivery),
        "retries carry one delivery id"
    );
    for (headers, body, _) in &inbox.attempts {
        verify(headers, body);
        assert_eq!(headers["content-type"], "application/json");
    }
}
