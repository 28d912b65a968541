//! The browser side of the sign-in tests: [`App`] (an in-process `atoms serve` configured
//! against the WorkOS/AuthKit double, optionally on real Redis) and [`Browser`], a small
//! cookie-keeping client that follows redirects by hand so each hop can be checked.

use std::collections::HashMap;
use std::sync::Arc;

use atoms::kv::Kv;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::Value;

use super::authkit::{AuthKitDouble, User};
use super::workos_api::{self, WorkosApi};

/// `atoms serve`'s router configured against the double, and the double.
pub struct App {
    pub base: String,
    pub kv: Kv,
    pub double: AuthKitDouble,
    pub api: Arc<WorkosApi>,
    pub _redis: Option<super::Process>,
}

impl App {
    pub async fn start() -> Self {
        Self::start_with(false, &[]).await
    }

    /// `redis`: real Redis instead of the in-process KV; `extra`: more variables.
    pub async fn start_with(redis: bool, extra: &[(&str, &str)]) -> Self {
        let (double, api) = workos_api::start();
        let redis = redis.then(super::start_redis);
        let redis_url = redis.as_ref().map(super::redis_url);
        let mut vars: Vec<(&str, &str)> = extra.to_vec();
        if let Some(url) = &redis_url {
            vars.push(("REDIS_URL", url));
        }
        let (base, kv) = workos_api::serve_atoms(&double, &vars).await;
        Self { base, kv, double, api, _redis: redis }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn browser(&self) -> Browser {
        Browser::default()
    }

    /// Signs a fresh browser in as `user`; returns it and the signed-in page.
    pub async fn signed_in(&self, user: &str) -> (Browser, String) {
        self.double.state.set_next_user(User::new(user));
        let mut browser = self.browser();
        let page = browser.sign_in(self).await;
        (browser, page)
    }

    pub async fn token(&self, browser: &Browser) -> reqwest::Response {
        browser.get(&self.url("/auth/token")).await
    }
}

/// Cookies by name, sent back on every request; redirects are not followed.
#[derive(Default, Clone)]
pub struct Browser {
    pub cookies: HashMap<String, String>,
}

impl Browser {
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
    }

    pub fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    pub fn keep(&mut self, headers: &HeaderMap) {
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

    pub async fn get(&self, url: &str) -> reqwest::Response {
        Self::client().get(url).header("cookie", self.cookie_header()).send().await.expect("GET")
    }

    pub async fn get_keeping(&mut self, url: &str) -> reqwest::Response {
        let response = self.get(url).await;
        self.keep(response.headers());
        response
    }

    /// `/auth/login` → AuthKit (auto-approving) → the callback URL it redirects back to.
    pub async fn start_sign_in(&mut self, app: &App, query: &str) -> String {
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

    pub async fn sign_in(&mut self, app: &App) -> String {
        let callback = self.start_sign_in(app, "").await;
        let page = self.get_keeping(&callback).await;
        assert_eq!(page.status(), StatusCode::OK, "callback shows the signed-in page");
        page.text().await.expect("page")
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers().get(LOCATION).expect("a Location").to_str().expect("ascii").to_owned()
}

pub async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// The access token `/auth/token` gives `browser` (asserting 200).
pub async fn access_token(app: &App, browser: &Browser) -> String {
    let response = app.token(browser).await;
    assert_eq!(response.status(), StatusCode::OK);
    json_of(response).await["access_token"].as_str().expect("a token").to_owned()
}

pub fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("b64"))
        .expect("claims")
}
