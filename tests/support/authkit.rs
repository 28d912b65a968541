//! A WorkOS / AuthKit double honouring the documented wire contract, on a free loopback port in
//! its own thread (so sync tests and child processes can use it alike).
//!
//! What it serves:
//! - AuthKit (the `AUTHKIT_DOMAIN` side, the authorization server of MCP clients):
//!   `/.well-known/oauth-authorization-server` (RFC 8414), `/oauth2/jwks`, dynamic client
//!   registration `/oauth2/register` (RFC 7591), `/oauth2/authorize` (auto-approves as
//!   [`DoubleState::set_next_user`]'s user, PKCE S256 required) and `/oauth2/token`
//!   (`authorization_code` with the code verifier and RFC 8707 `resource`, `refresh_token`).
//! - WorkOS (the `WORKOS_API_URL` side): `/sso/jwks/{client_id}`; the user-management endpoints
//!   of the browser flow are merged from `workos_api.rs` when present.
//!
//! Each token family has its own rotating RSA keys (generated with the `openssl` CLI, signed
//! with `ring`): [`DoubleState::rotate`] adds a key (published or not) and makes it current.
//! [`DoubleState::mint`] signs arbitrary claims with a family's current key; [`sign_raw`] builds
//! the hostile shapes (`alg: none`, HS256 keyed with the public key, unknown `kid`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

/// Which issuer a key or token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// MCP OAuth tokens AuthKit issues to MCP clients (`iss` = the AuthKit origin).
    Mcp,
    /// WorkOS session access tokens of the browser flow (`iss` = `{api}/user_management/{client}`).
    Session,
}

/// One RSA signing key.
pub struct Key {
    pub kid: String,
    pair: ring::signature::RsaKeyPair,
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    /// The DER `RSAPublicKey`, e.g. to forge an HS256 token keyed with it.
    pub public_der: Vec<u8>,
    pub published: bool,
}

/// A new 2048-bit RSA key from `openssl genpkey` (DER `RSAPrivateKey` on stdout).
pub fn generate_key(kid: &str) -> Key {
    let output = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-outform", "DER"])
        .output()
        .expect("run openssl (scripts/test installs it)");
    assert!(output.status.success(), "openssl genpkey: {}", String::from_utf8_lossy(&output.stderr));
    let pair = ring::signature::RsaKeyPair::from_der(&output.stdout).expect("DER RSA private key");
    let components = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
    let public_der = pair.public().as_ref().to_vec();
    Key { kid: kid.to_owned(), pair, n: components.n, e: components.e, public_der, published: true }
}

impl Key {
    fn jwk(&self) -> Value {
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": B64.encode(&self.n), "e": B64.encode(&self.e)})
    }

    /// RS256 over `signing_input`.
    pub fn sign(&self, signing_input: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public().modulus_len()];
        let rng = ring::rand::SystemRandom::new();
        self.pair
            .sign(&ring::signature::RSA_PKCS1_SHA256, &rng, signing_input, &mut signature)
            .expect("RS256 signature");
        signature
    }
}

/// How [`sign_raw`] signs.
pub enum Signer<'a> {
    Rs256(&'a Key),
    /// HS256 with these bytes as the HMAC key (the classic RS/HS confusion attack).
    Hs256(&'a [u8]),
    /// No signature at all (`alg: none`).
    Unsigned,
}

/// A compact JWS of `header` and `claims`, exactly as given.
pub fn sign_raw(header: &Value, claims: &Value, signer: Signer<'_>) -> String {
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    let signature = match signer {
        Signer::Rs256(key) => key.sign(input.as_bytes()),
        Signer::Hs256(secret) => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
            ring::hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
        }
        Signer::Unsigned => Vec::new(),
    };
    format!("{input}.{}", B64.encode(signature))
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// A user the authorization endpoints sign in.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

impl User {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            email: format!("{id}@example.com"),
            first_name: id.to_owned(),
            last_name: "Tester".to_owned(),
        }
    }
}

/// What a refresh token stands for: client id, user, resource.
type Grant = (String, User, Option<String>);

struct PendingCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    resource: Option<String>,
    scope: Option<String>,
    user: User,
}

/// Everything the double knows; shared with the test through [`AuthKitDouble::state`].
pub struct DoubleState {
    /// `http://127.0.0.1:<port>`: both the AuthKit origin and the WorkOS API origin.
    pub url: String,
    pub client_id: String,
    keys: Mutex<HashMap<Family, Vec<Key>>>,
    jwks_fetches: HashMap<Family, AtomicUsize>,
    next_user: Mutex<User>,
    codes: Mutex<HashMap<String, PendingCode>>,
    refresh_tokens: Mutex<HashMap<String, Grant>>,
    registered: Mutex<HashMap<String, Vec<String>>>,
    /// Lifetime of minted access tokens in seconds.
    pub access_token_ttl: Mutex<i64>,
    /// The P-256 key of a Supabase project's JWKS (`/auth/v1/.well-known/jwks.json`).
    supabase_key: ring::signature::EcdsaKeyPair,
    counter: AtomicUsize,
}

impl DoubleState {
    /// The `iss` of a family's tokens.
    pub fn issuer(&self, family: Family) -> String {
        match family {
            Family::Mcp => self.url.clone(),
            Family::Session => format!("{}/user_management/{}", self.url, self.client_id),
        }
    }

    /// The kid of the family's current (newest) key.
    pub fn current_kid(&self, family: Family) -> String {
        self.keys.lock().expect("keys")[&family].last().expect("a key").kid.clone()
    }

    /// Adds a new key to `family` and makes it the signing key; `published` decides whether
    /// the JWKS lists it yet. Returns its kid.
    pub fn rotate(&self, family: Family, published: bool) -> String {
        let kid = format!("{family:?}-key-{}", self.counter.fetch_add(1, Ordering::SeqCst)).to_lowercase();
        let mut key = generate_key(&kid);
        key.published = published;
        self.keys.lock().expect("keys").get_mut(&family).expect("family").push(key);
        kid
    }

    /// Publishes every key of `family` (e.g. after a rotation announced late).
    pub fn publish_all(&self, family: Family) {
        for key in self.keys.lock().expect("keys").get_mut(&family).expect("family") {
            key.published = true;
        }
    }

    /// Drops every key but the current one from `family`'s JWKS (old tokens stop verifying
    /// once caches expire).
    pub fn retire_old_keys(&self, family: Family) {
        let mut keys = self.keys.lock().expect("keys");
        let list = keys.get_mut(&family).expect("family");
        let keep = list.len() - 1;
        list.drain(..keep);
    }

    pub fn jwks_fetches(&self, family: Family) -> usize {
        self.jwks_fetches[&family].load(Ordering::SeqCst)
    }

    /// Signs `claims` with `family`'s current key (header `alg: RS256`, its `kid`).
    pub fn mint(&self, family: Family, claims: &Value) -> String {
        let keys = self.keys.lock().expect("keys");
        let key = keys[&family].last().expect("a key");
        sign_raw(&json!({"alg": "RS256", "typ": "JWT", "kid": key.kid}), claims, Signer::Rs256(key))
    }

    /// Runs `f` with `family`'s current key (for [`sign_raw`] attacks).
    pub fn with_current_key<T>(&self, family: Family, f: impl FnOnce(&Key) -> T) -> T {
        let keys = self.keys.lock().expect("keys");
        f(keys[&family].last().expect("a key"))
    }

    /// Typical claims of a valid token of `family` for `user`, `sid` and (MCP family) `aud`.
    pub fn claims(&self, family: Family, user: &str, sid: &str, aud: Option<&str>) -> Value {
        let now = now();
        let ttl = *self.access_token_ttl.lock().expect("ttl");
        let mut claims = json!({
            "iss": self.issuer(family), "sub": user, "sid": sid, "iat": now, "nbf": now - 1,
            "exp": now + ttl, "jti": format!("jti-{}", self.counter.fetch_add(1, Ordering::SeqCst)),
            "org_id": "org_01DOUBLE", "role": "member", "permissions": [],
        });
        if let Some(aud) = aud {
            claims["aud"] = json!(aud);
        }
        if family == Family::Mcp {
            claims["scope"] = json!("openid profile email offline_access");
        }
        claims
    }

    /// The user the next authorization signs in.
    pub fn set_next_user(&self, user: User) {
        *self.next_user.lock().expect("user") = user;
    }

    pub fn next_user(&self) -> User {
        self.next_user.lock().expect("user").clone()
    }

    fn token_response(
        &self,
        client_id: &str,
        user: &User,
        resource: Option<&str>,
        scope: Option<&str>,
    ) -> Value {
        let sid = format!("session_{}", self.counter.fetch_add(1, Ordering::SeqCst));
        let mut claims = self.claims(Family::Mcp, &user.id, &sid, Some(resource.unwrap_or(client_id)));
        if let Some(scope) = scope {
            claims["scope"] = json!(scope);
        }
        claims["email"] = json!(user.email);
        let access_token = self.mint(Family::Mcp, &claims);
        let refresh = format!("rt_{}", random_hex());
        self.refresh_tokens
            .lock()
            .expect("refresh")
            .insert(refresh.clone(), (client_id.to_owned(), user.clone(), resource.map(str::to_owned)));
        json!({"access_token": access_token, "token_type": "Bearer", "expires_in": claims["exp"].as_i64().unwrap_or(0) - now(), "refresh_token": refresh, "scope": claims["scope"]})
    }
}

/// The running double. Dropping it stops the server.
pub struct AuthKitDouble {
    pub state: Arc<DoubleState>,
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for AuthKitDouble {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl AuthKitDouble {
    /// Starts the double with one published key per family and `client_01DOUBLE` as the WorkOS
    /// client id; `extra` routes (e.g. the user-management endpoints) are merged in.
    pub fn start_with(extra: impl FnOnce(Arc<DoubleState>) -> Router) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let keys = HashMap::from([
            (Family::Mcp, vec![generate_key("mcp-key-initial")]),
            (Family::Session, vec![generate_key("session-key-initial")]),
        ]);
        let state = Arc::new(DoubleState {
            url: url.clone(),
            client_id: "client_01DOUBLE".to_owned(),
            keys: Mutex::new(keys),
            jwks_fetches: HashMap::from([
                (Family::Mcp, AtomicUsize::new(0)),
                (Family::Session, AtomicUsize::new(0)),
            ]),
            next_user: Mutex::new(User::new("user_01ALICE")),
            codes: Mutex::default(),
            refresh_tokens: Mutex::default(),
            registered: Mutex::default(),
            access_token_ttl: Mutex::new(3600),
            supabase_key: generate_p256_key(),
            counter: AtomicUsize::new(1),
        });
        let router = routes(state.clone()).merge(extra(state.clone()));
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self { state, url, shutdown: Some(shutdown), thread: Some(thread) }
    }

    pub fn start() -> Self {
        Self::start_with(|_| Router::new())
    }

    /// The environment of an `atoms serve` that trusts this double (`public_url` without a
    /// trailing slash, e.g. `http://127.0.0.1:3000`).
    pub fn env(&self, public_url: &str) -> Vec<(String, String)> {
        [
            ("ATOMS_AUTH_MODE", "authkit"),
            ("AUTHKIT_DOMAIN", self.url.as_str()),
            ("WORKOS_API_URL", self.url.as_str()),
            ("WORKOS_CLIENT_ID", self.state.client_id.as_str()),
            ("PUBLIC_URL", public_url),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

fn routes(state: Arc<DoubleState>) -> Router {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/oauth2/jwks", get(mcp_jwks))
        .route("/sso/jwks/{client_id}", get(session_jwks))
        .route("/auth/v1/.well-known/jwks.json", get(supabase_jwks))
        .route("/oauth2/register", post(register))
        .route("/oauth2/authorize", get(authorize))
        .route("/oauth2/token", post(token))
        .with_state(state)
}

fn jwks(state: &DoubleState, family: Family) -> Response {
    state.jwks_fetches[&family].fetch_add(1, Ordering::SeqCst);
    let keys = state.keys.lock().expect("keys");
    let published: Vec<Value> = keys[&family].iter().filter(|k| k.published).map(Key::jwk).collect();
    axum::Json(json!({ "keys": published })).into_response()
}

async fn mcp_jwks(State(state): State<Arc<DoubleState>>) -> Response {
    jwks(&state, Family::Mcp)
}

async fn session_jwks(
    State(state): State<Arc<DoubleState>>,
    axum::extract::Path(client_id): axum::extract::Path<String>,
) -> Response {
    if client_id != state.client_id {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "client not found"}))).into_response();
    }
    jwks(&state, Family::Session)
}

async fn metadata(State(state): State<Arc<DoubleState>>) -> Response {
    let base = &state.url;
    axum::Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "registration_endpoint": format!("{base}/oauth2/register"),
        "jwks_uri": format!("{base}/oauth2/jwks"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
    }))
    .into_response()
}

async fn register(State(state): State<Arc<DoubleState>>, axum::Json(body): axum::Json<Value>) -> Response {
    let redirect_uris: Vec<String> = body["redirect_uris"]
        .as_array()
        .map(|uris| uris.iter().filter_map(|u| u.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if redirect_uris.is_empty() {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_redirect_uri");
    }
    let client_id = format!("client_dcr_{}", state.counter.fetch_add(1, Ordering::SeqCst));
    state.registered.lock().expect("clients").insert(client_id.clone(), redirect_uris.clone());
    let mut answer = body.clone();
    answer["client_id"] = json!(client_id);
    answer["client_id_issued_at"] = json!(now());
    answer["token_endpoint_auth_method"] = json!("none");
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn authorize(
    State(state): State<Arc<DoubleState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (Some(client_id), Some(redirect_uri)) = (q.get("client_id"), q.get("redirect_uri")) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let registered = state.registered.lock().expect("clients").get(client_id).cloned();
    if !registered.is_some_and(|uris| uris.contains(redirect_uri)) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client");
    }
    if q.get("response_type").map(String::as_str) != Some("code")
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let Some(challenge) = q.get("code_challenge") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let code = format!("code_{}", random_hex());
    state.codes.lock().expect("codes").insert(
        code.clone(),
        PendingCode {
            client_id: client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            challenge: challenge.clone(),
            resource: q.get("resource").cloned(),
            scope: q.get("scope").cloned(),
            user: state.next_user(),
        },
    );
    let mut target = reqwest::Url::parse(redirect_uri).expect("registered redirect URIs parse");
    target.query_pairs_mut().append_pair("code", &code);
    if let Some(s) = q.get("state") {
        target.query_pairs_mut().append_pair("state", s);
    }
    Redirect::to(target.as_str()).into_response()
}

async fn token(
    State(state): State<Arc<DoubleState>>,
    _headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(pending) = form.get("code").and_then(|c| state.codes.lock().expect("codes").remove(c))
            else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let challenge = B64.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
            if challenge != pending.challenge
                || form.get("redirect_uri") != Some(&pending.redirect_uri)
                || form.get("client_id").is_some_and(|c| *c != pending.client_id)
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            let resource = form.get("resource").cloned().or(pending.resource);
            let body = state.token_response(
                &pending.client_id,
                &pending.user,
                resource.as_deref(),
                pending.scope.as_deref(),
            );
            no_store(axum::Json(body).into_response())
        }
        Some("refresh_token") => {
            let Some((client_id, user, resource)) = form
                .get("refresh_token")
                .and_then(|t| state.refresh_tokens.lock().expect("refresh").remove(t))
            else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let body = state.token_response(&client_id, &user, resource.as_deref(), None);
            no_store(axum::Json(body).into_response())
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

/// 128 random bits as hex.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A P-256 key from `openssl genpkey` (its PEM output is PKCS#8).
fn generate_p256_key() -> ring::signature::EcdsaKeyPair {
    let output = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        .output()
        .expect("run openssl");
    assert!(output.status.success(), "openssl genpkey: {}", String::from_utf8_lossy(&output.stderr));
    let pem = String::from_utf8(output.stdout).expect("PEM");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).expect("PEM body");
    ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &der,
        &ring::rand::SystemRandom::new(),
    )
    .expect("PKCS#8 P-256 key")
}

impl DoubleState {
    /// Signs `claims` as the Supabase project would with its asymmetric key (ES256, kid
    /// `supabase-p256`); `SUPABASE_URL` = this double's URL.
    pub fn mint_supabase(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": "supabase-p256"});
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let signature = self
            .supabase_key
            .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
            .expect("ES256 signature");
        format!("{input}.{}", B64.encode(signature.as_ref()))
    }
}

async fn supabase_jwks(State(state): State<Arc<DoubleState>>) -> Response {
    use ring::signature::KeyPair as _;
    let point = state.supabase_key.public_key().as_ref();
    let jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "supabase-p256",
        "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])});
    axum::Json(json!({ "keys": [jwk] })).into_response()
}
