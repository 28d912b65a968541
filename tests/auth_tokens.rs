//! The resource server under attack: every kind of bad credential against `/api/mcp`, each with
//! its expected status and `WWW-Authenticate` challenge, against an `atoms serve` server in
//! `authkit` mode trusting the AuthKit/WorkOS double (`support::authkit`), on real Redis.
//! Plus the discovery documents clients follow, sessions bound to their user, and revocation.

mod support;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use atoms::kv::Kv;
use support::authkit::{AuthKitDouble, Family, Signer, now, sign_raw};

struct Fixture {
    double: AuthKitDouble,
    base: String,
    resource: String,
    kv: Kv,
    _redis: support::Process,
}

async fn fixture(extra: &[(&str, &str)]) -> Fixture {
    let double = AuthKitDouble::start();
    let redis = support::start_redis();
    let redis_url = support::redis_url(&redis);
    let port = support::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let mut env = double.env(&public);
    env.push(("REDIS_URL".to_owned(), redis_url.clone()));
    env.push(("AUTH_JWKS_REFETCH_SECONDS".to_owned(), "1".to_owned()));
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let base = support::spawn_app_on(support::config(&vars), port).await;
    let kv_config = atoms::config::KvConfig {
        backend: atoms::config::KvBackend::Redis { url: atoms::secret::Secret::new(redis_url) },
        timeout: std::time::Duration::from_secs(2),
    };
    let kv = Kv::from_config(&kv_config, &reqwest::Client::new()).expect("kv");
    Fixture { double, resource: format!("{base}/api/mcp"), base, kv, _redis: redis }
}

impl Fixture {
    /// A valid MCP OAuth token for `user` in sign-in session `sid`.
    fn mcp_token(&self, user: &str, sid: &str) -> String {
        let claims = self.double.state.claims(Family::Mcp, user, sid, Some(&self.resource));
        self.double.state.mint(Family::Mcp, &claims)
    }

    fn claims(&self) -> Value {
        self.double.state.claims(Family::Mcp, "user_01ALICE", "session_alice", Some(&self.resource))
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn challenge(&self) -> &str {
        self.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// A stateless `tools/list` with an optional `Authorization` header value and extra query.
async fn list(base: &str, authorization: Option<&str>, query: &str) -> Reply {
    post(
        base,
        authorization,
        query,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": support::mcp::meta()}}),
    )
    .await
}

async fn post(
    base: &str,
    authorization: Option<&str>,
    query: &str,
    session: Option<&str>,
    body: Value,
) -> Reply {
    let method = body["method"].as_str().unwrap_or_default().to_owned();
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/mcp{query}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if session.is_none() && method != "initialize" {
        request = request.header("mcp-protocol-version", support::mcp::CURRENT).header("mcp-method", &method);
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session).header("mcp-protocol-version", "2025-11-25");
    }
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.body(body.to_string()).send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    // Session answers come as an event stream: the message is the last non-empty `data:` line.
    let message = text.lines().filter_map(|l| l.strip_prefix("data: ")).rfind(|d| !d.trim().is_empty());
    let body = serde_json::from_str(message.unwrap_or(&text)).unwrap_or_else(|_| json!({ "raw": text }));
    Reply { status, headers, body }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn assert_ok(reply: &Reply, what: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{what}: {} {}", reply.body, reply.challenge());
    assert_eq!(reply.body["result"]["tools"].as_array().map(Vec::len), Some(5), "{what}");
}

fn assert_refused(reply: &Reply, status: StatusCode, error: &str, fixture: &Fixture, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.body);
    let metadata =
        format!("resource_metadata=\"{}/.well-known/oauth-protected-resource/api/mcp\"", fixture.base);
    assert!(reply.challenge().starts_with("Bearer "), "{what}: {}", reply.challenge());
    assert!(reply.challenge().contains(&metadata), "{what}: {}", reply.challenge());
    assert!(reply.challenge().contains(&format!("error=\"{error}\"")), "{what}: {}", reply.challenge());
    // The body says no more than the RFC 6750 code.
    assert_eq!(reply.body["error"]["message"], error, "{what}");
}

#[tokio::test]
async fn both_token_families_are_accepted() {
    let f = fixture(&[]).await;
    assert_ok(&list(&f.base, Some(&bearer(&f.mcp_token("user_01ALICE", "s1"))), "").await, "MCP OAuth token");
    let session = f.double.state.claims(Family::Session, "user_01ALICE", "s2", None);
    let token = f.double.state.mint(Family::Session, &session);
    assert_ok(&list(&f.base, Some(&bearer(&token)), "").await, "WorkOS session token");
    let lowercase = format!("bearer {}", f.mcp_token("user_01ALICE", "s1"));
    assert_ok(&list(&f.base, Some(&lowercase), "").await, "the scheme is case-insensitive");
}

#[tokio::test]
async fn no_token_gets_a_challenge_naming_the_metadata() {
    let f = fixture(&[]).await;
    let reply = list(&f.base, None, "").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.challenge(),
        format!("Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/api/mcp\"", f.base)
    );
    assert_eq!(reply.body["error"]["message"], "authentication required");
}

#[tokio::test]
async fn every_bad_token_is_refused_with_invalid_token() {
    let f = fixture(&[]).await;
    let state = &f.double.state;
    let mint = |claims: &Value| state.mint(Family::Mcp, claims);
    let with = |patch: Value| {
        let mut claims = f.claims();
        for (k, v) in patch.as_object().expect("object") {
            if v.is_null() {
                claims.as_object_mut().expect("object").remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    };
    let valid = mint(&f.claims());
    let (header, payload, signature) = {
        let mut parts = valid.split('.');
        (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default())
    };
    let tampered = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: Value = serde_json::from_slice(&b64.decode(payload).expect("b64")).expect("json");
        claims["sub"] = json!("user_01MALLORY");
        format!("{header}.{}.{signature}", b64.encode(claims.to_string()))
    };
    let kid = state.current_kid(Family::Mcp);
    let none = sign_raw(&json!({"alg": "none", "kid": kid}), &f.claims(), Signer::Unsigned);
    let hs_with_public_der = state.with_current_key(Family::Mcp, |key| {
        sign_raw(&json!({"alg": "HS256", "kid": key.kid}), &f.claims(), Signer::Hs256(&key.public_der))
    });
    let hs_with_modulus = state.with_current_key(Family::Mcp, |key| {
        sign_raw(&json!({"alg": "HS256", "kid": key.kid}), &f.claims(), Signer::Hs256(&key.n))
    });
    let session_family_signed_by_mcp_key = {
        let claims = state.claims(Family::Session, "user_01ALICE", "s", None);
        state.with_current_key(Family::Mcp, |key| {
            sign_raw(&json!({"alg": "RS256", "kid": key.kid}), &claims, Signer::Rs256(key))
        })
    };
    let cases: Vec<(&str, String)> = vec![
        ("expired", mint(&with(json!({"exp": now() - 60, "iat": now() - 3600, "nbf": now() - 3600})))),
        ("not yet valid", mint(&with(json!({"nbf": now() + 120})))),
        ("issued in the future", mint(&with(json!({"iat": now() + 120})))),
        ("no exp", mint(&with(json!({"exp": null})))),
        ("wrong iss", mint(&with(json!({"iss": "https://evil.example"})))),
        ("no iss", mint(&with(json!({"iss": null})))),
        ("wrong aud", mint(&with(json!({"aud": "https://other.example/api/mcp"})))),
        ("aud of the origin, not the resource", mint(&with(json!({"aud": f.base})))),
        ("no aud", mint(&with(json!({"aud": null})))),
        ("no sub", mint(&with(json!({"sub": null})))),
        ("alg none", none),
        ("HS256 keyed with the RSA public key (DER)", hs_with_public_der),
        ("HS256 keyed with the RSA modulus", hs_with_modulus),
        ("tampered payload", tampered),
        ("stripped signature", format!("{header}.{payload}.")),
        ("a key of the other issuer", session_family_signed_by_mcp_key),
        ("garbage", "not-a-jwt".to_owned()),
    ];
    for (what, token) in &cases {
        let reply = list(&f.base, Some(&bearer(token)), "").await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, "invalid_token", &f, what);
    }
    let basic = list(&f.base, Some("Basic dXNlcjpwYXNz"), "").await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    assert!(
        !basic.challenge().contains("error="),
        "another scheme gets no error code: {}",
        basic.challenge()
    );
    let empty = list(&f.base, Some("Bearer "), "").await;
    assert_refused(&empty, StatusCode::UNAUTHORIZED, "invalid_token", &f, "an empty bearer token");
    // None of it harmed the valid token.
    assert_ok(&list(&f.base, Some(&bearer(&valid)), "").await, "valid after the attacks");
}

#[tokio::test]
async fn a_token_in_the_query_string_is_refused() {
    let f = fixture(&[]).await;
    let token = f.mcp_token("user_01ALICE", "s1");
    let reply = list(&f.base, None, &format!("?access_token={token}")).await;
    assert_refused(&reply, StatusCode::BAD_REQUEST, "invalid_request", &f, "query token");
    let both = list(&f.base, Some(&bearer(&token)), &format!("?x=1&access_token={token}")).await;
    assert_refused(&both, StatusCode::BAD_REQUEST, "invalid_request", &f, "query token beside a header");
}

#[tokio::test]
async fn an_unknown_kid_is_accepted_once_published_and_refetches_are_bounded() {
    let f = fixture(&[]).await;
    let state = &f.double.state;
    assert_ok(&list(&f.base, Some(&bearer(&f.mcp_token("user_01ALICE", "s1"))), "").await, "warm-up");
    let fetches = state.jwks_fetches(Family::Mcp);
    assert_eq!(fetches, 1, "one fetch serves every token of the key set");

    state.rotate(Family::Mcp, false);
    let rotated = f.mcp_token("user_01ALICE", "s1");
    for _ in 0..10 {
        let reply = list(&f.base, Some(&bearer(&rotated)), "").await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, "invalid_token", &f, "kid not published yet");
    }
    assert!(state.jwks_fetches(Family::Mcp) <= fetches + 1, "ten unknown kids, at most one refetch");

    state.publish_all(Family::Mcp);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // AUTH_JWKS_REFETCH_SECONDS=1
    assert_ok(&list(&f.base, Some(&bearer(&rotated)), "").await, "rotated in");
    let after = state.jwks_fetches(Family::Mcp);
    for _ in 0..5 {
        assert_ok(&list(&f.base, Some(&bearer(&f.mcp_token("user_01BOB", "s9"))), "").await, "new tokens");
    }
    assert_eq!(state.jwks_fetches(Family::Mcp), after, "known kids never refetch");
}

#[tokio::test]
async fn a_missing_scope_is_403_insufficient_scope() {
    let f = fixture(&[("AUTHKIT_REQUIRED_SCOPES", "atoms:write")]).await;
    let reply = list(&f.base, Some(&bearer(&f.mcp_token("user_01ALICE", "s1"))), "").await;
    assert_refused(&reply, StatusCode::FORBIDDEN, "insufficient_scope", &f, "missing scope");
    assert!(reply.challenge().contains("scope=\"atoms:write\""), "{}", reply.challenge());
    let mut claims = f.claims();
    claims["scope"] = json!("openid atoms:write");
    let token = f.double.state.mint(Family::Mcp, &claims);
    assert_ok(&list(&f.base, Some(&bearer(&token)), "").await, "with the scope");
    let unauthenticated = list(&f.base, None, "").await;
    assert!(
        unauthenticated.challenge().contains("scope=\"atoms:write\""),
        "the first challenge names it too"
    );
}

#[tokio::test]
async fn extra_audiences_admit_clients_without_resource_indicators() {
    let f = fixture(&[("AUTHKIT_ALLOWED_AUDIENCES", "client_legacy")]).await;
    let mut claims = f.claims();
    claims["aud"] = json!(["client_legacy"]);
    assert_ok(&list(&f.base, Some(&bearer(&f.double.state.mint(Family::Mcp, &claims))), "").await, "allowed");
    claims["aud"] = json!("client_other");
    let reply = list(&f.base, Some(&bearer(&f.double.state.mint(Family::Mcp, &claims))), "").await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "invalid_token", &f, "other client");
}

#[tokio::test]
async fn a_revoked_sid_is_refused_even_when_the_token_was_remembered() {
    let f = fixture(&[]).await;
    let token = f.mcp_token("user_01ALICE", "session_revoked");
    assert_ok(&list(&f.base, Some(&bearer(&token)), "").await, "before revocation");
    atoms::auth::revocation::revoke(&f.kv, "session_revoked", std::time::Duration::from_secs(600))
        .await
        .expect("revoke");
    let reply = list(&f.base, Some(&bearer(&token)), "").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    let other = f.mcp_token("user_01ALICE", "session_other");
    assert_ok(&list(&f.base, Some(&bearer(&other)), "").await, "another session of the same user");
}

fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "auth-test", "version": "1"}}})
}

async fn open_session(base: &str, token: &str) -> String {
    let reply = post(base, Some(&bearer(token)), "", None, initialize_body()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let session = reply.headers["mcp-session-id"].to_str().expect("ascii").to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let sent = post(base, Some(&bearer(token)), "", Some(&session), initialized).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    session
}

fn session_list() -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
}

#[tokio::test]
async fn a_session_belongs_to_the_user_who_opened_it() {
    let f = fixture(&[]).await;
    let alice = f.mcp_token("user_01ALICE", "s_alice");
    let mallory = f.mcp_token("user_01MALLORY", "s_mallory");
    let session = open_session(&f.base, &alice).await;
    let ride = post(&f.base, Some(&bearer(&mallory)), "", Some(&session), session_list()).await;
    let unknown = post(&f.base, Some(&bearer(&mallory)), "", Some("no-such-session"), session_list()).await;
    assert_eq!(ride.status, StatusCode::NOT_FOUND, "{}", ride.body);
    assert_eq!(ride.body, unknown.body, "no hint that the session exists");
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let delete = reqwest::Client::new()
        .delete(format!("{}/api/mcp", f.base))
        .bearer_auth(&mallory)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("delete");
    assert_eq!(delete.status(), StatusCode::NOT_FOUND, "another user cannot end it either");
    // The owner, with a fresh token of another sign-in session, still uses it.
    let again = f.mcp_token("user_01ALICE", "s_alice_2");
    let own = post(&f.base, Some(&bearer(&again)), "", Some(&session), session_list()).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(own.body["result"]["tools"].as_array().map(Vec::len), Some(5), "{}", own.body);
}

#[tokio::test]
async fn revoking_a_sid_ends_the_mcp_sessions_opened_under_it() {
    let f = fixture(&[]).await;
    let token = f.mcp_token("user_01ALICE", "s_to_revoke");
    let session = open_session(&f.base, &token).await;
    let ended = atoms::auth::revocation::revoke(&f.kv, "s_to_revoke", std::time::Duration::from_secs(600))
        .await
        .expect("revoke");
    assert_eq!(ended, 1);
    let fresh = f.mcp_token("user_01ALICE", "s_new");
    let reply = post(&f.base, Some(&bearer(&fresh)), "", Some(&session), session_list()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "the session ended with its sid: {}", reply.body);
}

#[tokio::test]
async fn issuer_outage_keeps_known_keys_and_is_503_for_unknown_ones() {
    let f = fixture(&[]).await;
    let state = f.double.state.clone();
    let before = f.mcp_token("user_01ALICE", "s1");
    assert_ok(&list(&f.base, Some(&bearer(&before)), "").await, "keys fetched");
    // A token minted now with the same key, checked after the issuer went away.
    let later = f.mcp_token("user_01BOB", "s2");
    state.rotate(Family::Mcp, true);
    let unknown_kid = f.mcp_token("user_01BOB", "s3");
    let Fixture { double, base, kv: _kv, _redis, .. } = f;
    drop(double);
    assert_ok(&list(&base, Some(&bearer(&later)), "").await, "cached keys serve during an outage");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let reply = list(&base, Some(&bearer(&unknown_kid)), "").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "an unknown kid during an outage: {}", reply.body);
}

#[tokio::test]
async fn no_keys_at_all_is_503_not_401() {
    let double = AuthKitDouble::start();
    let token = {
        let claims =
            double.state.claims(Family::Mcp, "user_01ALICE", "s1", Some("http://127.0.0.1:1/api/mcp"));
        double.state.mint(Family::Mcp, &claims)
    };
    let port = support::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let mut env = double.env(&public);
    drop(double); // the issuer is down from the start
    env.push(("ATOMS_OUTBOUND_TIMEOUT_MS".to_owned(), "500".to_owned()));
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let base = support::spawn_app_on(support::config(&vars), port).await;
    let reply = list(&base, Some(&bearer(&token)), "").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.body);
}

#[tokio::test]
async fn discovery_documents_are_public_and_agree() {
    let f = fixture(&[]).await;
    let client = reqwest::Client::new();
    for path in [
        "/.well-known/oauth-protected-resource/api/mcp",
        "/.well-known/oauth-protected-resource",
        "/oauth/protected-resource",
        "/api/mcp?oauth=protected-resource",
    ] {
        let response = client
            .get(format!("{}{path}", f.base))
            .header("origin", "https://inspector.example")
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["access-control-allow-origin"], "*", "{path}: CORS");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["resource"], f.resource, "{path}");
        assert_eq!(body["authorization_servers"], json!([f.double.url]), "{path}");
        assert_eq!(body["bearer_methods_supported"], json!(["header"]), "{path}");
        assert_eq!(body["resource_name"], "Atoms");
        assert!(body["scopes_supported"].as_array().is_some_and(|s| !s.is_empty()));
    }
    for path in [
        "/.well-known/oauth-authorization-server",
        "/oauth/authorization-server",
        "/api/mcp?oauth=authorization-server",
    ] {
        let response = client.get(format!("{}{path}", f.base)).send().await.expect("get");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["issuer"], f.double.url, "{path}: AuthKit's own metadata");
        assert_eq!(body["code_challenge_methods_supported"], json!(["S256"]));
    }
}

#[tokio::test]
async fn supabase_mode_checks_hs256_tokens_of_the_project() {
    let secret = "super-secret-jwt-token-with-at-least-32-characters";
    let port = support::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let config = support::config(&[
        ("ATOMS_AUTH_MODE", "supabase"),
        ("SUPABASE_URL", "http://127.0.0.1:1"),
        ("SUPABASE_ANON_KEY", "anon"),
        ("SUPABASE_JWT_SECRET", secret),
        ("DATABASE_URL", "postgres://u@127.0.0.1:1/atoms"),
        ("PUBLIC_URL", &public),
    ]);
    let base = support::spawn_app_on(config, port).await;
    let claims = json!({"iss": "http://127.0.0.1:1/auth/v1", "sub": "6f1c-user", "aud": "authenticated",
        "role": "authenticated", "exp": now() + 600, "iat": now(), "session_id": "x"});
    let good = sign_raw(&json!({"alg": "HS256", "typ": "JWT"}), &claims, Signer::Hs256(secret.as_bytes()));
    assert_ok(&list(&base, Some(&bearer(&good)), "").await, "project token");
    let forged =
        sign_raw(&json!({"alg": "HS256"}), &claims, Signer::Hs256(b"another-secret-of-some-32-characters!!"));
    assert_eq!(list(&base, Some(&bearer(&forged)), "").await.status, StatusCode::UNAUTHORIZED);
    let mut anon = claims.clone();
    anon["aud"] = json!("anon");
    let anon = sign_raw(&json!({"alg": "HS256"}), &anon, Signer::Hs256(secret.as_bytes()));
    assert_eq!(
        list(&base, Some(&bearer(&anon)), "").await.status,
        StatusCode::UNAUTHORIZED,
        "aud must be authenticated"
    );
}

#[tokio::test]
async fn a_preview_refuses_production_tokens() {
    let double = AuthKitDouble::start();
    let redis = support::start_redis();
    let redis_url = support::redis_url(&redis);
    let preview_host = "atoms-git-feature-acme.vercel.app";
    let config = support::config(&[
        ("VERCEL_ENV", "preview"),
        ("VERCEL_URL", "atoms-abc123-acme.vercel.app"),
        ("VERCEL_BRANCH_URL", preview_host),
        ("AUTHKIT_DOMAIN", &double.url),
        ("WORKOS_API_URL", &double.url),
        ("WORKOS_CLIENT_ID", &double.state.client_id),
        ("WORKOS_API_KEY", "sk_test_preview"),
        ("ATOMS_SESSION_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="),
        ("DATABASE_URL", "postgres://u@127.0.0.1:1/atoms"),
        ("REDIS_URL", &redis_url),
    ]);
    let base = support::spawn_app(config).await;
    let client = reqwest::Client::new();
    let list_as = |aud: &str| {
        let claims = double.state.claims(Family::Mcp, "user_01ALICE", "s1", Some(aud));
        let token = double.state.mint(Family::Mcp, &claims);
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": support::mcp::meta()}});
        client
            .post(format!("{base}/api/mcp"))
            .header("host", preview_host)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", support::mcp::CURRENT)
            .header("mcp-method", "tools/list")
            .bearer_auth(token)
            .body(body.to_string())
            .send()
    };
    let production = list_as("https://atoms.example.com/api/mcp").await.expect("request");
    assert_eq!(production.status(), StatusCode::UNAUTHORIZED, "a production token on a preview");
    let challenge = production.headers()["www-authenticate"].to_str().expect("ascii").to_owned();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"https://{preview_host}/.well-known/oauth-protected-resource/api/mcp\""
        )),
        "the preview names its own metadata: {challenge}"
    );
    let own = list_as(&format!("https://{preview_host}/api/mcp")).await.expect("request");
    assert_eq!(own.status(), StatusCode::OK, "a token for the preview's branch URL");
    let deployment = list_as("https://atoms-abc123-acme.vercel.app/api/mcp").await.expect("request");
    assert_eq!(deployment.status(), StatusCode::OK, "a token for the deployment's own URL");
    let prm: Value = client
        .get(format!("{base}/.well-known/oauth-protected-resource/api/mcp"))
        .header("host", preview_host)
        .send()
        .await
        .expect("prm")
        .json()
        .await
        .expect("json");
    assert_eq!(prm["resource"], format!("https://{preview_host}/api/mcp"));
    let foreign: Value = client
        .get(format!("{base}/.well-known/oauth-protected-resource/api/mcp"))
        .header("host", "evil.example")
        .send()
        .await
        .expect("prm")
        .json()
        .await
        .expect("json");
    assert_ne!(
        foreign["resource"], "https://evil.example/api/mcp",
        "a foreign Host never becomes the resource"
    );
}

#[tokio::test]
async fn supabase_mode_checks_es256_tokens_against_the_project_jwks() {
    let double = AuthKitDouble::start();
    let port = support::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let config = support::config(&[
        ("ATOMS_AUTH_MODE", "supabase"),
        ("SUPABASE_URL", &double.url),
        ("SUPABASE_ANON_KEY", "anon"),
        ("DATABASE_URL", "postgres://u@127.0.0.1:1/atoms"),
        ("PUBLIC_URL", &public),
    ]);
    let base = support::spawn_app_on(config, port).await;
    let claims = json!({"iss": format!("{}/auth/v1", double.url), "sub": "6f1c-user", "aud": "authenticated",
        "role": "authenticated", "exp": now() + 600, "iat": now()});
    let good = double.state.mint_supabase(&claims);
    assert_ok(&list(&base, Some(&bearer(&good)), "").await, "ES256 project token");
    // The same claims signed with an RSA key under the P-256 kid, and HS256 with the point:
    // the key's type decides the algorithm, never the header.
    let rsa = double.state.with_current_key(Family::Mcp, |key| {
        sign_raw(&json!({"alg": "RS256", "kid": "supabase-p256"}), &claims, Signer::Rs256(key))
    });
    assert_eq!(
        list(&base, Some(&bearer(&rsa)), "").await.status,
        StatusCode::UNAUTHORIZED,
        "RS256 under an EC kid"
    );
    let hs = sign_raw(&json!({"alg": "HS256", "kid": "supabase-p256"}), &claims, Signer::Hs256(b"anything"));
    assert_eq!(
        list(&base, Some(&bearer(&hs)), "").await.status,
        StatusCode::UNAUTHORIZED,
        "HS256 without a secret"
    );
    let (head, payload, signature) = {
        let mut parts = good.split('.');
        (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default())
    };
    let mut forged = claims.clone();
    forged["sub"] = json!("someone-else");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let tampered = format!("{head}.{}.{signature}", b64.encode(forged.to_string()));
    assert_ne!(payload, b64.encode(forged.to_string()));
    assert_eq!(list(&base, Some(&bearer(&tampered)), "").await.status, StatusCode::UNAUTHORIZED, "tampered");
}

#[tokio::test]
async fn signed_in_users_reach_the_database_as_themselves() {
    let double = AuthKitDouble::start();
    let database = support::postgres::fresh_database().await;
    let port = support::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let mut env = double.env(&public);
    env.push(("DATABASE_URL".to_owned(), database.expose().to_owned()));
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let base = support::spawn_app_on(support::config(&vars), port).await;
    let resource = format!("{base}/api/mcp");
    let token = |user: &str| {
        let mut claims = double.state.claims(Family::Mcp, user, &format!("s_{user}"), Some(&resource));
        claims["email"] = json!(format!("{user}@example.com"));
        double.state.mint(Family::Mcp, &claims)
    };
    let (alice, bob) = (token("user_01ALICE"), token("user_01BOB"));
    let base = base.as_str();
    async fn workspace(base: &str, token: &str, arguments: Value) -> Value {
        support::mcp::call_tool(base, Some(token), "workspace_tool", arguments).await
    }
    let call = |token: &str, arguments: Value| {
        let token = token.to_owned();
        async move { workspace(base, &token, arguments).await }
    };
    let created = call(&alice, json!({"operation": "create_workspace", "name": "Alice's"})).await;
    assert_eq!(created["isError"], false, "{created}");
    let ws = created["structuredContent"]["data"]["id"].clone();
    let listed = call(&bob, json!({"operation": "list_workspaces"})).await;
    assert_eq!(listed["structuredContent"]["data"]["items"], json!([]), "bob sees nothing of alice's");
    let read = call(&bob, json!({"operation": "read_workspace", "workspace_id": ws})).await;
    assert_eq!(read["isError"], true, "{read}");
    // Once bob has written something his profile (the token's email) is known: alice shares by
    // email, and bob sees both members.
    let own = call(&bob, json!({"operation": "create_workspace", "name": "Bob's"})).await;
    assert_eq!(own["isError"], false, "{own}");
    let shared = call(
        &alice,
        json!({"operation": "set_member", "workspace_id": ws, "user_email": "user_01BOB@example.com", "role": "viewer"}),
    )
    .await;
    assert_eq!(shared["isError"], false, "{shared}");
    let info = call(&bob, json!({"operation": "get_workspace_info", "workspace_id": ws})).await;
    assert_eq!(info["isError"], false, "{info}");
    let data = &info["structuredContent"]["data"];
    assert_eq!(data["members"].as_array().map(Vec::len), Some(2), "{data}");
    assert_eq!(data["workspace"]["role"], "viewer", "bob's own role: {data}");
}
