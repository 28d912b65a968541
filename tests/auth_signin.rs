//! The browser sign-in flow (`/auth/*`) over HTTP against the WorkOS/AuthKit double, on real
//! Redis where concurrency matters: sign-in, the attacks it must refuse (forged, replayed and
//! foreign `state`, foreign `return_to`, forged cookies), WorkOS refusing or down, refresh
//! under concurrency, sign-out, session limits and signed webhooks.
//!
//! A small cookie-keeping "browser" follows redirects by hand, so each hop can be checked.
//! (`tests/auth_browser.rs` runs the same flow in a real Chromium.)

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use atoms::kv::Kv;
use atoms::serve::{LocalServer, ServeOptions};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use support::authkit::{AuthKitDouble, User};
use support::workos_api::{self, WEBHOOK_SECRET, WorkosApi};

/// `atoms serve`'s router configured against the double, and the double.
struct App {
    base: String,
    kv: Kv,
    double: AuthKitDouble,
    api: Arc<WorkosApi>,
    _redis: Option<support::Process>,
}

impl App {
    async fn start() -> Self {
        Self::start_with(false, &[]).await
    }

    /// `redis`: real Redis instead of the in-process KV; `extra`: more variables.
    async fn start_with(redis: bool, extra: &[(&str, &str)]) -> Self {
        let (double, api) = workos_api::start();
        let redis = redis.then(support::start_redis);
        let redis_url = redis.as_ref().map(support::redis_url);
        let mut vars: Vec<(&str, &str)> = extra.to_vec();
        if let Some(url) = &redis_url {
            vars.push(("REDIS_URL", url));
        }
        let (base, kv) = workos_api::serve_atoms(&double, &vars).await;
        Self { base, kv, double, api, _redis: redis }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn browser(&self) -> Browser {
        Browser::default()
    }

    /// Signs a fresh browser in as `user`; returns it and the signed-in page.
    async fn signed_in(&self, user: &str) -> (Browser, String) {
        self.double.state.set_next_user(User::new(user));
        let mut browser = self.browser();
        let page = browser.sign_in(self).await;
        (browser, page)
    }

    async fn token(&self, browser: &Browser) -> reqwest::Response {
        browser.get(&self.url("/auth/token")).await
    }
}

/// Cookies by name, sent back on every request; redirects are not followed.
#[derive(Default, Clone)]
struct Browser {
    cookies: HashMap<String, String>,
}

impl Browser {
    fn client() -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let text = value.to_str().expect("ascii cookie");
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        Self::client().get(url).header("cookie", self.cookie_header()).send().await.expect("GET")
    }

    async fn get_keeping(&mut self, url: &str) -> reqwest::Response {
        let response = self.get(url).await;
        self.keep(response.headers());
        response
    }

    /// `/auth/login` → AuthKit (auto-approving) → the callback URL it redirects back to.
    async fn start_sign_in(&mut self, app: &App, query: &str) -> String {
        let login = self.get_keeping(&app.url(&format!("/auth/login{query}"))).await;
        assert_eq!(login.status(), StatusCode::FOUND, "login redirects to AuthKit");
        let authorize = location(&login);
        assert!(
            authorize.starts_with(&format!("{}/user_management/authorize?", app.double.url)),
            "{authorize}"
        );
        let approved = self.get_keeping(&authorize).await;
        assert_eq!(approved.status(), StatusCode::SEE_OTHER, "the double approves");
        location(&approved)
    }

    async fn sign_in(&mut self, app: &App) -> String {
        let callback = self.start_sign_in(app, "").await;
        let page = self.get_keeping(&callback).await;
        assert_eq!(page.status(), StatusCode::OK, "callback shows the signed-in page");
        page.text().await.expect("page")
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get(LOCATION).expect("a Location").to_str().expect("ascii").to_owned()
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// The access token `/auth/token` gives `browser` (asserting 200).
async fn access_token(app: &App, browser: &Browser) -> String {
    let response = app.token(browser).await;
    assert_eq!(response.status(), StatusCode::OK);
    json_of(response).await["access_token"].as_str().expect("a token").to_owned()
}

fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("b64"))
        .expect("claims")
}

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
