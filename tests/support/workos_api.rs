//! The WorkOS User Management API of the browser sign-in flow, merged into the AuthKit double
//! ([`super::authkit::AuthKitDouble::start_with`]; [`start`] does both):
//!
//! - `GET /user_management/authorize`: checks `client_id`, `response_type=code`,
//!   `provider=authkit`, PKCE S256; then either redirects straight back with `code` and `state`
//!   ([`WorkosApi::auto_approve`], the default) or shows a small sign-in page whose button does.
//! - `POST /user_management/authenticate`: `authorization_code` (client secret = the API key,
//!   single-use code, S256 verifier) and `refresh_token` (single-use refresh tokens, rotated;
//!   refused once their session is revoked), answering `user`, `organization_id`,
//!   `access_token` (a WorkOS session token minted with the double's rotating `Session` keys,
//!   `sid` = the session) and `refresh_token`; errors as `{"error", "error_description"}`.
//! - `POST /user_management/sessions/revoke` (bearer API key, `{"session_id"}`).
//! - [`signature`] / [`send_webhook`]: deliveries signed as WorkOS signs them.
//!
//! Knobs for failure tests: [`WorkosApi::fail_authenticate`] answers `authenticate` with a
//! status, [`WorkosApi::refresh_delay`] slows refreshes (so concurrent ones overlap).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use super::authkit::{AuthKitDouble, DoubleState, Family, User, random_hex};

pub const API_KEY: &str = "sk_test_double";
pub const WEBHOOK_SECRET: &str = "whsec_double";

/// The user-management side's own state.
pub struct WorkosApi {
    pub auto_approve: AtomicBool,
    /// When set, `authenticate` answers this status (400: `invalid_grant`; 5xx: a server error).
    pub fail_authenticate: Mutex<Option<u16>>,
    pub refresh_delay: Mutex<Duration>,
    pub code_grants: AtomicUsize,
    pub refresh_grants: AtomicUsize,
    /// Session ids revoked through `sessions/revoke`, in order.
    pub revoked: Mutex<Vec<String>>,
    codes: Mutex<HashMap<String, Code>>,
    /// Live refresh token → (user, sid).
    refresh_tokens: Mutex<HashMap<String, (User, String)>>,
    counter: AtomicUsize,
}

struct Code {
    user: User,
    challenge: String,
}

impl Default for WorkosApi {
    fn default() -> Self {
        Self {
            auto_approve: AtomicBool::new(true),
            fail_authenticate: Mutex::new(None),
            refresh_delay: Mutex::new(Duration::ZERO),
            code_grants: AtomicUsize::new(0),
            refresh_grants: AtomicUsize::new(0),
            revoked: Mutex::default(),
            codes: Mutex::default(),
            refresh_tokens: Mutex::default(),
            counter: AtomicUsize::new(1),
        }
    }
}

impl WorkosApi {
    pub fn revoked(&self) -> Vec<String> {
        self.revoked.lock().expect("revoked").clone()
    }

    /// Revokes a session on the WorkOS side only (as an admin in the dashboard would).
    pub fn revoke_here(&self, sid: &str) {
        self.refresh_tokens.lock().expect("refresh").retain(|_, (_, s)| s != sid);
    }
}

/// The AuthKit double with these endpoints merged in.
pub fn start() -> (AuthKitDouble, Arc<WorkosApi>) {
    let api = Arc::new(WorkosApi::default());
    let routes_api = api.clone();
    let double = AuthKitDouble::start_with(move |state| routes(state, routes_api));
    (double, api)
}

/// `atoms serve`'s server in this process, on a free loopback port, configured against
/// `double` for the sign-in flow (API key, session key, webhook secret) plus `extra` variables;
/// returns its base URL and its KV.
pub async fn serve_atoms(double: &AuthKitDouble, extra: &[(&str, &str)]) -> (String, atoms::kv::Kv) {
    let port = super::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut vars: Vec<(String, String)> = double.env(&base);
    let own = [
        ("WORKOS_API_KEY", API_KEY),
        ("ATOMS_SESSION_KEY", SESSION_KEY),
        ("WORKOS_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ];
    vars.extend(own.iter().chain(extra).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let options = atoms::serve::ServeOptions {
        host: [127, 0, 0, 1].into(),
        port,
        embedded_database: false,
        conformance: false,
    };
    let server =
        atoms::serve::LocalServer::bind(super::config(&pairs), &options).await.expect("bind atoms serve");
    let kv = server.state.kv.clone();
    tokio::spawn(server.run());
    (base, kv)
}

/// A valid `ATOMS_SESSION_KEY` (32 bytes, base64).
pub const SESSION_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

type Shared = State<(Arc<DoubleState>, Arc<WorkosApi>)>;

pub fn routes(double: Arc<DoubleState>, api: Arc<WorkosApi>) -> Router {
    Router::new()
        .route("/user_management/authorize", get(authorize))
        .route("/user_management/authenticate", post(authenticate))
        .route("/user_management/sessions/revoke", post(revoke))
        .with_state((double, api))
}

async fn authorize(State((double, api)): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let param = |name: &str| q.get(name).map(String::as_str);
    if param("client_id") != Some(double.client_id.as_str()) {
        return error(StatusCode::BAD_REQUEST, "invalid_client", "unknown client_id");
    }
    if param("response_type") != Some("code")
        || param("provider") != Some("authkit")
        || param("code_challenge_method") != Some("S256")
        || param("code_challenge").is_none_or(str::is_empty)
    {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "authkit, code, PKCE S256 required");
    }
    let (Some(redirect_uri), Some(state)) = (param("redirect_uri"), param("state")) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri and state required");
    };
    let user = double.next_user();
    let code = format!("code_{}", random_hex());
    let pending = Code { user: user.clone(), challenge: q["code_challenge"].clone() };
    api.codes.lock().expect("codes").insert(code.clone(), pending);
    let mut back = reqwest::Url::parse(redirect_uri).expect("a redirect URI");
    back.query_pairs_mut().append_pair("code", &code).append_pair("state", state);
    if api.auto_approve.load(Ordering::SeqCst) {
        return Redirect::to(back.as_str()).into_response();
    }
    let escape = |s: &str| s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    Html(format!(
        "<!doctype html><title>AuthKit (double)</title><h1>Sign in to Atoms</h1>\
         <p>Signed in to AuthKit as {}</p><form method=\"get\" action=\"{}\">\
         <input type=\"hidden\" name=\"code\" value=\"{}\"><input type=\"hidden\" name=\"state\" value=\"{}\">\
         <button id=\"continue\" type=\"submit\">Continue as {} {}</button></form>",
        escape(&user.email),
        escape(redirect_uri),
        escape(&code),
        escape(state),
        escape(&user.first_name),
        escape(&user.last_name),
    ))
    .into_response()
}

async fn authenticate(State((double, api)): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    if let Some(status) = *api.fail_authenticate.lock().expect("fail") {
        let status = StatusCode::from_u16(status).expect("a status");
        return if status.is_client_error() {
            error(status, "invalid_grant", "The code has expired or is invalid.")
        } else {
            (status, "upstream exploded: stack trace at db.rs:42").into_response()
        };
    }
    if body["client_id"] != double.client_id.as_str() || body["client_secret"] != API_KEY {
        return error(StatusCode::UNAUTHORIZED, "invalid_client", "bad client credentials");
    }
    let (user, sid) = match body["grant_type"].as_str() {
        Some("authorization_code") => {
            let code = body["code"].as_str().and_then(|c| api.codes.lock().expect("codes").remove(c));
            let Some(code) = code else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The code has expired or is invalid.",
                );
            };
            let verifier = body["code_verifier"].as_str().unwrap_or_default();
            let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
            if base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) != code.challenge {
                return error(StatusCode::BAD_REQUEST, "invalid_grant", "PKCE verification failed.");
            }
            api.code_grants.fetch_add(1, Ordering::SeqCst);
            (code.user, format!("session_01DOUBLE{}", api.counter.fetch_add(1, Ordering::SeqCst)))
        }
        Some("refresh_token") => {
            let grant = body["refresh_token"]
                .as_str()
                .and_then(|t| api.refresh_tokens.lock().expect("refresh").remove(t));
            let Some(grant) = grant else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Refresh token already used or revoked.",
                );
            };
            let delay = *api.refresh_delay.lock().expect("delay");
            tokio::time::sleep(delay).await;
            api.refresh_grants.fetch_add(1, Ordering::SeqCst);
            grant
        }
        _ => return error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "grant_type"),
    };
    let claims = double.claims(Family::Session, &user.id, &sid, None);
    let access_token = double.mint(Family::Session, &claims);
    let refresh_token = format!("rt_{}", random_hex());
    api.refresh_tokens.lock().expect("refresh").insert(refresh_token.clone(), (user.clone(), sid));
    axum::Json(json!({
        "user": {
            "object": "user", "id": user.id, "email": user.email, "email_verified": true,
            "first_name": user.first_name, "last_name": user.last_name, "profile_picture_url": null,
            "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
        },
        "organization_id": claims["org_id"],
        "access_token": access_token,
        "refresh_token": refresh_token,
        "authentication_method": "Password",
    }))
    .into_response()
}

async fn revoke(
    State((_, api)): Shared,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if bearer != Some(&format!("Bearer {API_KEY}")) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "API key required");
    }
    let Some(sid) = body["session_id"].as_str() else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", "session_id required");
    };
    api.revoke_here(sid);
    api.revoked.lock().expect("revoked").push(sid.to_owned());
    axum::Json(json!({})).into_response()
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (status, axum::Json(json!({ "error": code, "error_description": description }))).into_response()
}

/// The `WorkOS-Signature` header of `body` sent at `t_ms` under `secret`.
pub fn signature(secret: &str, t_ms: u64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut message = format!("{t_ms}.").into_bytes();
    message.extend_from_slice(body);
    let tag = ring::hmac::sign(&key, &message);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t_ms}, v1={hex}")
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as u64
}

/// A webhook delivery of `event` with `data`, signed at `t_ms` (usually [`now_ms`]).
pub async fn send_webhook(url: &str, secret: &str, event: &str, data: Value, t_ms: u64) -> reqwest::Response {
    let body = serde_json::to_vec(&json!({
        "id": format!("event_{}", random_hex()), "event": event, "data": data,
        "created_at": "2026-11-29T00:00:00.000Z",
    }))
    .expect("json");
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("workos-signature", signature(secret, t_ms, &body))
        .body(body)
        .send()
        .await
        .expect("deliver the webhook")
}
