//! Browser sessions after sign-in, over HTTP against the WorkOS/AuthKit double (real Redis
//! where concurrency matters): `/auth/token` refreshes under concurrency and WorkOS refusing or
//! down, tokens sealed at rest, sign-out (and cross-site attempts), the per-user limit, signed /
//! forged / late webhooks, and logs free of credentials.

mod support;

use std::sync::atomic::Ordering;

use atoms::kv::Kv;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::authkit::User;
use support::signin::{App, Browser, access_token, claims, json_of};
use support::workos_api::{self, WEBHOOK_SECRET};

#[tokio::test]
async fn two_concurrent_refreshes_at_expiry_keep_one_valid_session() {
    let app = App::start_with(true, &[]).await;
    // Tokens live 3 s: every /auth/token refreshes, and one that finds a refresh under way
    // cannot fall back on the current token (it expires within 5 s), so it waits for the new one.
    *app.double.state.access_token_ttl.lock().expect("ttl") = 3;
    *app.api.refresh_delay.lock().expect("delay") = std::time::Duration::from_millis(300);
    let (browser, _) = app.signed_in("user_01BOB").await;

    let (a, b) = tokio::join!(app.token(&browser), app.token(&browser));
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let (a, b) = (json_of(a).await, json_of(b).await);
    assert_eq!(a["access_token"], b["access_token"], "both got the one refreshed token");
    assert_eq!(app.api.refresh_grants.load(Ordering::SeqCst), 1, "one refresh for two requests");

    // The session survived: it refreshes again with the rotated refresh token.
    let later = access_token(&app, &browser).await;
    assert_ne!(later, a["access_token"].as_str().expect("token"));
    assert_eq!(claims(&later)["sub"], "user_01BOB");
    assert_eq!(app.api.refresh_grants.load(Ordering::SeqCst), 2);

    // Eight at once: still one refresh, all answered with the same token.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (browser, url) = (browser.clone(), app.url("/auth/token"));
        set.spawn(async move {
            let response = browser.get(&url).await;
            assert_eq!(response.status(), StatusCode::OK);
            json_of(response).await["access_token"].as_str().expect("token").to_owned()
        });
    }
    let tokens: std::collections::BTreeSet<String> = set.join_all().await.into_iter().collect();
    assert_eq!(tokens.len(), 1, "one token for all");
    assert_eq!(app.api.refresh_grants.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_refresh_workos_refuses_ends_the_session_and_workos_down_keeps_it() {
    let app = App::start_with(true, &[]).await;
    *app.double.state.access_token_ttl.lock().expect("ttl") = 60;
    let (browser, _) = app.signed_in("user_01CAROL").await;
    let token = access_token(&app, &browser).await; // one refresh
    let sid = claims(&token)["sid"].as_str().expect("sid").to_owned();

    // WorkOS down while the token is still valid: the current token, the session kept.
    *app.api.fail_authenticate.lock().expect("knob") = Some(503);
    assert_eq!(access_token(&app, &browser).await, token);
    *app.api.fail_authenticate.lock().expect("knob") = None;

    // Revoked at WorkOS (an admin): the refresh is refused, the session ends, its sid too.
    app.api.revoke_here(&sid);
    let response = app.token(&browser).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(response).await["error"]["code"], "unauthorized");
    assert!(atoms::auth::revocation::is_revoked(&app.kv, &sid).await.expect("kv"));
    assert_eq!(app.token(&browser).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tokens_are_sealed_at_rest_in_the_kv() {
    let app = App::start_with(true, &[]).await;
    let (browser, _) = app.signed_in("user_01DAVE").await;
    let token = access_token(&app, &browser).await;
    let Kv::Redis(_) = &app.kv else { panic!("a Redis KV") };
    let redis = app._redis.as_ref().expect("redis");
    let output = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "--scan", "--pattern", "auth:browser-session:*"])
        .output()
        .expect("redis-cli");
    let keys = String::from_utf8(output.stdout).expect("utf8");
    let key = keys.lines().next().expect("one browser session key").to_owned();
    assert!(!key.contains(&browser.cookies["__Host-atoms_session"]), "stored under a digest");
    let stored = app.kv.get(&key).await.expect("kv").expect("stored");
    assert!(!stored.contains(&token) && !stored.contains("rt_"), "no token in clear: {stored}");
    let record: Value = serde_json::from_str(&stored).expect("json");
    assert_eq!(record["user"]["id"], "user_01DAVE");
}

#[tokio::test]
async fn sign_out_revokes_the_workos_session_and_the_sid() {
    let app = App::start().await;
    let (mut browser, _) = app.signed_in("user_01ERIN").await;
    let sid = claims(&access_token(&app, &browser).await)["sid"].as_str().expect("sid").to_owned();

    // Cross-site sign-out attempts are refused, the session lives on.
    let attempts = [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"), // another port of 127.0.0.1
    ];
    for (header, value) in attempts {
        let response = Browser::client()
            .post(app.url("/auth/logout"))
            .header("cookie", browser.cookie_header())
            .header(header, value)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{header}: {value}");
    }
    assert_eq!(app.token(&browser).await.status(), StatusCode::OK);

    let response = Browser::client()
        .post(app.url("/auth/logout"))
        .header("cookie", browser.cookie_header())
        .header("origin", &app.base)
        .header("accept", "text/html")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::OK);
    browser.keep(response.headers());
    assert!(response.text().await.expect("page").contains("You are signed out"));
    assert!(!browser.cookies.contains_key("__Host-atoms_session"), "cookie cleared");
    assert_eq!(app.api.revoked(), vec![sid.clone()], "WorkOS revoked the session");
    assert!(atoms::auth::revocation::is_revoked(&app.kv, &sid).await.expect("kv"));

    // The old cookie value is dead too.
    let (mut again, _) = app.signed_in("user_01ERIN").await;
    let old = again.clone();
    again.cookies.clear();
    let _ = again;
    let response = Browser::client()
        .post(app.url("/auth/logout"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("POST without a session");
    assert_eq!(json_of(response).await, json!({"signed_out": true}));
    assert_eq!(app.token(&old).await.status(), StatusCode::OK, "another sign-in is untouched");
}

#[tokio::test]
async fn the_oldest_sessions_beyond_the_limit_are_ended() {
    let app = App::start_with(false, &[("MAX_SESSIONS_PER_USER", "2")]).await;
    let (first, _) = app.signed_in("user_01FRED").await;
    let first_sid = claims(&access_token(&app, &first).await)["sid"].as_str().expect("sid").to_owned();
    let (second, _) = app.signed_in("user_01FRED").await;
    let (third, _) = app.signed_in("user_01FRED").await;
    assert_eq!(app.token(&first).await.status(), StatusCode::UNAUTHORIZED, "the oldest was evicted");
    assert!(atoms::auth::revocation::is_revoked(&app.kv, &first_sid).await.expect("kv"));
    assert_eq!(app.token(&second).await.status(), StatusCode::OK);
    assert_eq!(app.token(&third).await.status(), StatusCode::OK);
    // Within the same second, still oldest first.
    let (fourth, _) = app.signed_in("user_01FRED").await;
    assert_eq!(app.token(&second).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.token(&third).await.status(), StatusCode::OK);
    assert_eq!(app.token(&fourth).await.status(), StatusCode::OK);
    let (other, _) = app.signed_in("user_01GINA").await;
    assert_eq!(app.token(&other).await.status(), StatusCode::OK, "limits are per user");
}

#[tokio::test]
async fn signed_webhooks_end_sessions_and_forged_or_late_ones_are_refused() {
    let app = App::start().await;
    let hook = app.url("/auth/webhooks/workos");
    let (alice, _) = app.signed_in("user_01ALICE").await;
    let sid = claims(&access_token(&app, &alice).await)["sid"].as_str().expect("sid").to_owned();
    let data = json!({"object": "session", "id": sid, "user_id": "user_01ALICE", "status": "revoked"});
    let now = workos_api::now_ms();

    let late =
        workos_api::send_webhook(&hook, WEBHOOK_SECRET, "session.revoked", data.clone(), now - 181_000).await;
    assert_eq!(late.status(), StatusCode::UNAUTHORIZED, "replayed too late");
    assert!(json_of(late).await["error"]["message"].as_str().expect("message").contains("180 s"));
    let forged = workos_api::send_webhook(&hook, "whsec_wrong", "session.revoked", data.clone(), now).await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED, "wrong secret");
    let body = serde_json::to_vec(&json!({"event": "session.revoked", "data": data})).expect("json");
    let signed_other = workos_api::signature(WEBHOOK_SECRET, now, b"{\"event\":\"user.created\"}");
    let tampered = reqwest::Client::new()
        .post(&hook)
        .header("workos-signature", signed_other)
        .body(body.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED, "signature of another body");
    let unsigned = reqwest::Client::new().post(&hook).body(body).send().await.expect("POST");
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED, "no signature");
    assert_eq!(app.token(&alice).await.status(), StatusCode::OK, "nothing forged took effect");

    let accepted =
        workos_api::send_webhook(&hook, WEBHOOK_SECRET, "session.revoked", data, now - 170_000).await;
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(json_of(accepted).await, json!({"received": true}));
    assert_eq!(app.token(&alice).await.status(), StatusCode::UNAUTHORIZED, "the session ended");
    assert!(atoms::auth::revocation::is_revoked(&app.kv, &sid).await.expect("kv"));

    // user.deleted ends every session of the user, and only theirs.
    let (bob1, _) = app.signed_in("user_01BOB").await;
    let (bob2, _) = app.signed_in("user_01BOB").await;
    let (carol, _) = app.signed_in("user_01CAROL").await;
    let deleted = workos_api::send_webhook(
        &hook,
        WEBHOOK_SECRET,
        "user.deleted",
        json!({"object": "user", "id": "user_01BOB"}),
        workos_api::now_ms(),
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(app.token(&bob1).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.token(&bob2).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.token(&carol).await.status(), StatusCode::OK);

    let other = workos_api::send_webhook(
        &hook,
        WEBHOOK_SECRET,
        "user.created",
        json!({"id": "user_x"}),
        workos_api::now_ms(),
    )
    .await;
    assert_eq!(other.status(), StatusCode::OK, "other events are acknowledged");
}

#[tokio::test]
async fn no_token_code_cookie_or_email_reaches_the_logs() {
    let (double, api) = workos_api::start();
    *double.state.access_token_ttl.lock().expect("ttl") = 60; // every /auth/token refreshes
    double.state.set_next_user(User::new("user_01LOGS"));
    let port = support::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut env = double.env(&base);
    env.extend(
        [
            ("WORKOS_API_KEY", workos_api::API_KEY),
            ("ATOMS_SESSION_KEY", workos_api::SESSION_KEY),
            ("WORKOS_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("LOG_LEVEL", "debug"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut server = support::atoms_serve_on(port, &[], &env);
    let app = App { base, kv: Kv::memory(), double, api, _redis: None };

    let mut browser = app.browser();
    let callback = browser.start_sign_in(&app, "").await;
    let url = reqwest::Url::parse(&callback).expect("url");
    let code = url.query_pairs().find(|(k, _)| k == "code").expect("code").1.into_owned();
    assert_eq!(browser.get_keeping(&callback).await.status(), StatusCode::OK);
    let cookie = browser.cookies["__Host-atoms_session"].clone();
    let token = access_token(&app, &browser).await;
    let refreshed = access_token(&app, &browser).await; // a second refresh
    let sid = claims(&token)["sid"].as_str().expect("sid").to_owned();
    *app.api.fail_authenticate.lock().expect("knob") = Some(500);
    let mut other = app.browser();
    let failing = other.start_sign_in(&app, "").await;
    assert_eq!(other.get(&failing).await.status(), StatusCode::BAD_GATEWAY, "a failing exchange is logged");
    *app.api.fail_authenticate.lock().expect("knob") = None;
    let hook = app.url("/auth/webhooks/workos");
    let data = json!({"id": sid});
    let forged =
        workos_api::send_webhook(&hook, "whsec_wrong", "session.revoked", data, workos_api::now_ms()).await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let logout = Browser::client()
        .post(app.url("/auth/logout"))
        .header("cookie", browser.cookie_header())
        .send()
        .await
        .expect("POST");
    assert_eq!(logout.status(), StatusCode::OK);

    let logs = server.logs();
    assert!(logs.contains("\"route\":\"/auth/callback\""), "one line per request: {logs}");
    assert!(logs.contains("WorkOS failed with status 500"), "the failure kind is logged: {logs}");
    let secrets = [
        ("the code", code.as_str()),
        ("an access token", token.as_str()),
        ("a refreshed token", refreshed.as_str()),
        ("the session cookie", cookie.as_str()),
        ("the email", "user_01LOGS@example.com"),
        ("the API key", workos_api::API_KEY),
        ("the webhook secret", WEBHOOK_SECRET),
    ];
    for (what, secret) in secrets {
        assert!(!logs.contains(secret), "{what} leaked into the logs: {logs}");
    }
}

#[tokio::test]
async fn a_hanging_workos_times_out_into_a_clean_error() {
    let app = App::start_with(false, &[("ATOMS_OUTBOUND_TIMEOUT_MS", "500")]).await;
    *app.double.state.access_token_ttl.lock().expect("ttl") = 0; // expired when issued
    let (browser, _) = app.signed_in("user_01HANK").await;
    *app.api.refresh_delay.lock().expect("delay") = std::time::Duration::from_secs(5);
    let started = std::time::Instant::now();
    let response = app.token(&browser).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "bounded by the outbound timeout");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert!(body["error"]["message"].as_str().expect("message").contains("not answering"), "{body}");
    // WorkOS consumed the single-use refresh token before it stalled, so the rotation we never
    // heard of leaves the session without a usable refresh token: the next call ends it
    // cleanly (sign in again), never a 500.
    *app.api.refresh_delay.lock().expect("delay") = std::time::Duration::ZERO;
    let response = app.token(&browser).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(response).await["error"]["code"], "unauthorized");
}
