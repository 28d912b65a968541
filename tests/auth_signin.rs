//! The browser sign-in flow (`/auth/login`, `/auth/callback`) over HTTP against the
//! WorkOS/AuthKit double: the signed-in page and its cookie, and the attacks it must refuse —
//! forged, replayed and foreign `state`, a foreign `return_to`, forged cookies — plus WorkOS
//! refusing or down, and a deployment missing its variables. (`tests/auth_sessions.rs` covers
//! what a session does afterwards; `tests/auth_browser.rs` runs the flow in Chromium.)

mod support;

use std::sync::atomic::Ordering;

use atoms::serve::{LocalServer, ServeOptions};
use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use serde_json::json;
use support::authkit::User;
use support::signin::{App, Browser, access_token, claims, json_of, location};
use support::workos_api::{self, WEBHOOK_SECRET};

#[tokio::test]
async fn sign_in_shows_the_user_and_the_mcp_url_and_sets_a_host_only_cookie() {
    let app = App::start().await;
    app.double.state.set_next_user(User {
        id: "user_01ADA".into(),
        email: "ada@example.com".into(),
        first_name: "Ada".into(),
        last_name: "<Lovelace>".into(),
    });
    let mut browser = app.browser();
    let callback = browser.start_sign_in(&app, "").await;
    let login_cookie = browser.cookies.get("__Host-atoms_login").expect("a login binding cookie").clone();
    let response = browser.get(&callback).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookies: Vec<String> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect();
    let session_cookie =
        cookies.iter().find(|c| c.starts_with("__Host-atoms_session=")).expect("session cookie");
    for attribute in ["; Path=/", "; HttpOnly", "; Secure", "; SameSite=Lax", "; Max-Age=86400"] {
        assert!(session_cookie.contains(attribute), "{attribute} in {session_cookie}");
    }
    assert!(!session_cookie.contains("Domain"), "host-only: {session_cookie}");
    assert!(cookies.iter().any(|c| c.starts_with("__Host-atoms_login=;") && c.contains("Max-Age=0")));
    let csp = response.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(csp.starts_with("default-src 'none'; style-src 'sha256-") && !csp.contains("unsafe"), "{csp}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    browser.keep(response.headers());
    let page = response.text().await.expect("page");
    assert!(page.contains("Ada &lt;Lovelace&gt;") && page.contains("ada@example.com"), "{page}");
    assert!(!page.contains("<Lovelace>"), "user data is escaped");
    assert!(page.contains(&format!("{}/api/mcp", app.base)), "the MCP URL");
    for client in
        ["Claude Code", "Cursor", "VS Code", "MCP Inspector", "claude mcp add --transport http atoms"]
    {
        assert!(page.contains(client), "{client}");
    }
    assert!(!page.contains(&login_cookie), "no binding value on the page");

    // The session's token is a WorkOS session token for Ada, with its sid.
    let token = access_token(&app, &browser).await;
    let claims = claims(&token);
    assert_eq!(claims["sub"], "user_01ADA");
    assert_eq!(claims["iss"], app.double.state.issuer(support::authkit::Family::Session));
    assert!(claims["sid"].as_str().is_some_and(|s| s.starts_with("session_")));
    assert_eq!(app.api.code_grants.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_rewritten_paths_reach_the_same_handlers() {
    let app = App::start().await;
    let browser = app.browser();
    let login = browser.get(&app.url("/api/auth?action=login")).await;
    assert_eq!(login.status(), StatusCode::FOUND);
    assert!(location(&login).contains("/user_management/authorize?"));
    let token = browser.get(&app.url("/api/auth?action=token")).await;
    assert_eq!(token.status(), StatusCode::UNAUTHORIZED);
    let unknown = browser.get(&app.url("/api/auth?action=nothing")).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_forged_replayed_or_foreign_state_is_refused_with_a_page() {
    let app = App::start().await;
    let mut browser = app.browser();
    let callback = browser.start_sign_in(&app, "").await;
    let url = reqwest::Url::parse(&callback).expect("url");
    let code = url.query_pairs().find(|(k, _)| k == "code").expect("code").1.into_owned();

    // A forged state (well-formed, unknown) and a malformed one.
    for state in ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x", ""] {
        let forged = browser.get(&app.url(&format!("/auth/callback?code={code}&state={state}"))).await;
        assert_eq!(forged.status(), StatusCode::BAD_REQUEST, "state {state:?}");
        assert!(forged.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));
        assert!(forged.text().await.expect("page").contains("expired or was already used"));
    }
    // The same callback from another browser (no binding cookie): someone else's sign-in link.
    let stranger = app.browser();
    let foreign = stranger.get(&callback).await;
    assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);
    assert!(foreign.text().await.expect("page").contains("another browser"));
    // That attempt used the state up: even its own browser cannot finish now (single use).
    let replayed = browser.get(&callback).await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.api.code_grants.load(Ordering::SeqCst), 0, "no code was exchanged");

    // A good sign-in, then its callback replayed.
    let callback = browser.start_sign_in(&app, "").await;
    assert_eq!(browser.get_keeping(&callback).await.status(), StatusCode::OK);
    let replayed = browser.get(&callback).await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    let page = replayed.text().await.expect("page");
    assert!(page.contains("Sign in again") && page.contains("request id"), "{page}");
    assert_eq!(app.api.code_grants.load(Ordering::SeqCst), 1);

    // AuthKit answering with an error (the person cancelled).
    let mut browser = app.browser();
    let callback = browser.start_sign_in(&app, "").await;
    let url = reqwest::Url::parse(&callback).expect("url");
    let state = url.query_pairs().find(|(k, _)| k == "state").expect("state").1.into_owned();
    let cancelled = browser.get(&app.url(&format!("/auth/callback?error=access_denied&state={state}"))).await;
    assert_eq!(cancelled.status(), StatusCode::BAD_REQUEST);
    assert!(cancelled.text().await.expect("page").contains("access_denied"));
}

#[tokio::test]
async fn return_to_must_stay_on_our_origin() {
    let app = App::start().await;
    for foreign in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"] {
        let query = format!("/auth/login?return_to={}", urlencode(foreign));
        let response = app.browser().get(&app.url(&query)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{foreign}");
        assert!(response.text().await.expect("page").contains("path on this site"));
    }
    let mut browser = app.browser();
    let callback = browser.start_sign_in(&app, &format!("?return_to={}", urlencode("/health?x=1"))).await;
    let response = browser.get_keeping(&callback).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/health?x=1");
    assert!(browser.cookies.contains_key("__Host-atoms_session"), "signed in before the redirect");
}

fn urlencode(raw: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", [("v", raw)]).expect("url").query().expect("q")[2..]
        .to_owned()
}

#[tokio::test]
async fn workos_refusing_or_down_gives_a_clean_page_and_no_session() {
    let app = App::start().await;
    *app.api.fail_authenticate.lock().expect("knob") = Some(400);
    let mut browser = app.browser();
    let callback = browser.start_sign_in(&app, "").await;
    let refused = browser.get_keeping(&callback).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let page = refused.text().await.expect("page");
    assert!(page.contains("WorkOS refused this sign-in (invalid_grant)"), "{page}");
    assert!(!browser.cookies.contains_key("__Host-atoms_session"));

    *app.api.fail_authenticate.lock().expect("knob") = Some(500);
    let callback = browser.start_sign_in(&app, "").await;
    let failed = browser.get_keeping(&callback).await;
    assert_eq!(failed.status(), StatusCode::BAD_GATEWAY);
    assert!(failed.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));
    let page = failed.text().await.expect("page");
    assert!(page.contains("not answering") && !page.contains("stack trace"), "{page}");

    // WorkOS unreachable: its port closed.
    let callback = browser.start_sign_in(&app, "").await;
    let double_url = app.double.url.clone();
    drop(app.double);
    let down = browser.get_keeping(&callback).await;
    assert_eq!(down.status(), StatusCode::BAD_GATEWAY);
    let page = down.text().await.expect("page");
    assert!(page.contains("not answering"), "{page}");
    for internal in ["reqwest", "error sending request", "127.0.0.1", double_url.as_str()] {
        assert!(!page.contains(internal), "{internal} leaked: {page}");
    }
    assert!(!browser.cookies.contains_key("__Host-atoms_session"));
}

#[tokio::test]
async fn forged_or_foreign_cookies_get_nothing() {
    let app = App::start().await;
    let (alice, _) = app.signed_in("user_01ALICE").await;
    let alice_token = access_token(&app, &alice).await;
    let session = alice.cookies["__Host-atoms_session"].clone();
    let forged = [
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        atoms::auth::signin::random::digest(&session), // the KV key's digest is not a cookie
        session[..42].to_owned(),
        format!("{session}x"),
    ];
    for value in forged {
        let mut mallory = Browser::default();
        mallory.cookies.insert("__Host-atoms_session".into(), value.clone());
        let response = app.token(&mallory).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{value}");
        assert!(!response.text().await.expect("body").contains(&alice_token));
    }
    // Bob's cookie gives Bob's token, never Alice's.
    let (bob, _) = app.signed_in("user_01BOB").await;
    assert_eq!(claims(&access_token(&app, &bob).await)["sub"], "user_01BOB");
}

#[tokio::test]
async fn without_its_variables_sign_in_says_what_is_missing() {
    let (double, _api) = workos_api::start();
    let port = support::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let vars: Vec<(String, String)> = double.env(&base);
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let options =
        ServeOptions { host: [127, 0, 0, 1].into(), port, embedded_database: false, conformance: false };
    let server = LocalServer::bind(support::config(&pairs), &options).await.expect("bind");
    tokio::spawn(server.run());
    let login = Browser::default().get(&format!("{base}/auth/login")).await;
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = login.text().await.expect("page");
    assert!(page.contains("WORKOS_API_KEY, ATOMS_SESSION_KEY"), "{page}");
    let hook =
        workos_api::send_webhook(&format!("{base}/auth/webhooks/workos"), WEBHOOK_SECRET, "x", json!({}), 0)
            .await;
    assert_eq!(hook.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        json_of(hook).await["error"]["message"].as_str().expect("message").contains("WORKOS_WEBHOOK_SECRET")
    );
}
