//! The browser sign-in flow (`api/auth.rs`): AuthKit's hosted sign-in for people, browser
//! sessions in the KV, and the WorkOS webhooks that end them.
//!
//! - `GET /auth/login` ([`login`]): PKCE S256, a single-use `state` (10 minutes in the KV) bound
//!   to the browser by a cookie, `return_to` limited to our own origin → 302 to WorkOS.
//! - `GET /auth/callback` ([`login`]): takes the `state`, exchanges the code, opens a browser
//!   session ([`session`]: tokens sealed by [`seal`], idle and absolute lifetimes, at most
//!   `MAX_SESSIONS_PER_USER`) and shows the signed-in page ([`page`]).
//! - `GET /auth/token` ([`token`]): a current access token for the cookie's session, refreshed
//!   through WorkOS when it expires within 5 minutes — once, whatever the concurrency.
//! - `POST /auth/logout` ([`logout`]): revokes the WorkOS session, ends ours, revokes the `sid`.
//! - `POST /auth/webhooks/workos` ([`webhook`]): signed `session.revoked` / `user.deleted`.
//!
//! Every route but the webhook is rate limited per client address, failing closed
//! (`crate::limits::address_limit`). Vercel rewrites the public paths onto the function as
//! `/api/auth?action=<name>`; both forms are routed. Errors of the two browser pages are HTML pages; the others JSON envelopes.

mod cookie;
mod login;
mod logout;
mod page;
pub mod pending;
pub mod random;
pub mod seal;
pub mod session;
mod token;
mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::auth::workos::Workos;
use crate::config::Config;
use crate::http::ApiError;
use crate::secret::Secret;
use crate::state::AppState;
use seal::SealKey;
use session::Lifetimes;

/// The routes of the `auth` function.
pub fn routes(state: AppState) -> Router {
    let signin = Arc::new(Signin::new(state.clone()));
    Router::new()
        .route("/auth/login", get(login::login))
        .route("/auth/callback", get(login::callback))
        .route("/auth/token", get(token::token))
        .route("/auth/logout", post(logout::logout))
        .route("/auth/webhooks/workos", post(webhook::webhook))
        .route("/api/auth", get(rewritten).post(rewritten))
        .with_state(signin)
        .layer(axum::middleware::from_fn_with_state(state, crate::limits::address_limit::limit_by_address))
}

/// What every handler shares: the app state and, when the deployment is configured for
/// sign-in, the parts the flow needs (else which variables are missing).
pub(crate) struct Signin {
    pub app: AppState,
    pub ready: Result<Ready, String>,
}

pub(crate) struct Ready {
    /// The public origin (`PUBLIC_URL`, or a preview's `VERCEL_URL`), without a trailing slash.
    pub origin: String,
    pub client_id: String,
    pub api_key: Secret,
    pub seal: SealKey,
    pub lifetimes: Lifetimes,
}

type Shared = State<Arc<Signin>>;

/// The public origin sign-in redirects back to, or the variables it lacks (for
/// `atoms check-env`).
pub fn readiness(config: &Config) -> Result<String, String> {
    ready(config).map(|ready| ready.origin)
}

fn ready(config: &Config) -> Result<Ready, String> {
    let auth = &config.auth;
    let origin = config
        .http
        .public_url
        .as_ref()
        .map(|url| url.origin().ascii_serialization())
        .or_else(|| config.platform.deployment_hosts.first().map(|host| format!("https://{host}")));
    let key = auth.session_key.as_ref().and_then(|k| crate::config::decode_session_key(k.expose()));
    match (origin, &auth.workos.client_id, &auth.workos.api_key, key) {
        (Some(origin), Some(client_id), Some(api_key), Some(key)) => Ok(Ready {
            origin,
            client_id: client_id.clone(),
            api_key: api_key.clone(),
            seal: SealKey::new(&key),
            lifetimes: Lifetimes {
                idle: auth.session_idle.min(config.sessions.absolute),
                absolute: config.sessions.absolute,
                max_per_user: config.sessions.max_per_user,
            },
        }),
        (origin, client_id, api_key, key) => {
            let missing: Vec<&str> = [
                (origin.is_none(), "PUBLIC_URL"),
                (client_id.is_none(), "WORKOS_CLIENT_ID"),
                (api_key.is_none(), "WORKOS_API_KEY"),
                (key.is_none(), "ATOMS_SESSION_KEY"),
            ]
            .into_iter()
            .filter_map(|(absent, name)| absent.then_some(name))
            .collect();
            Err(missing.join(", "))
        }
    }
}

impl Signin {
    fn new(app: AppState) -> Self {
        let ready = ready(&app.config);
        Self { app, ready }
    }

    /// The configured flow, or 503 naming what is missing.
    fn ready(&self) -> Result<&Ready, ApiError> {
        self.ready.as_ref().map_err(|missing| {
            ApiError::service_unavailable(format!(
                "Sign-in is not configured on this deployment (missing: {missing})."
            ))
        })
    }

    fn workos<'a>(&'a self, ready: &'a Ready) -> Workos<'a> {
        Workos {
            http: &self.app.http,
            api_url: &self.app.config.auth.workos.api_url,
            client_id: &ready.client_id,
            api_key: &ready.api_key,
        }
    }
}

/// A KV failure, as the person sees it.
fn kv_unavailable(error: crate::kv::KvError) -> ApiError {
    tracing::warn!(error = %error, "sign-in: the KV failed");
    ApiError::service_unavailable("The session store is unavailable; retry in a moment.")
}

#[derive(Deserialize)]
struct Action {
    action: Option<String>,
}

/// `/api/auth?action=<name>`: the public paths as Vercel's rewrites deliver them.
async fn rewritten(State(signin): Shared, Query(action): Query<Action>, request: Request) -> Response {
    let method = request.method().clone();
    let state = signin.clone();
    match (method.as_str(), action.action.as_deref()) {
        ("GET", Some("login")) => login::login.call(request, state).await,
        ("GET", Some("callback")) => login::callback.call(request, state).await,
        ("GET", Some("token")) => token::token.call(request, state).await,
        ("POST", Some("logout")) => logout::logout.call(request, state).await,
        ("POST", Some("webhook")) => webhook::webhook.call(request, state).await,
        _ => ApiError::not_found().into_response(),
    }
}
