//! A small PostgREST double: the documented `POST /rest/v1/rpc/<fn>` contract over a real
//! Postgres database, so the PostgREST adapter is tested end to end.
//!
//! What it honours (PostgREST 12/13): the `apikey` header; `Authorization: Bearer <JWT>`
//! verified as HS256 with the project secret (signature, `exp`), its `role` claim becoming the
//! transaction's role (`anon` without a token); `request.jwt.claims` and `request.headers` set
//! per transaction; a function with one unnamed `jsonb` parameter receives the raw body; errors
//! as `{code, message, details, hint}` with PostgREST's status mapping (PTxyz → xyz, 23505 →
//! 409, 42501 → 403/401, 22xxx/23xxx → 400, 42883 → 404, else 500).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const ANON_KEY: &str = "test-anon-key";
pub const JWT_SECRET: &str = "test-jwt-secret-that-is-at-least-32-characters-long";

#[derive(Clone)]
struct Double {
    database_url: String,
}

/// Starts the double in this process for `database_url`; returns its base URL.
pub async fn start(database_url: &str) -> String {
    let app = Router::new()
        .route("/rest/v1/", get(|| async { axum::Json(json!({"swagger": "2.0"})) }))
        .route("/rest/v1/rpc/{function}", post(rpc))
        .with_state(Double { database_url: database_url.to_owned() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"code": code, "message": message, "details": null, "hint": null})))
        .into_response()
}

/// The verified claims of the bearer token, or an error response.
fn claims(headers: &HeaderMap) -> Result<Value, Box<Response>> {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Ok(json!({"role": "anon"}));
    };
    let token = auth.strip_prefix("Bearer ").unwrap_or_default();
    let parts: Vec<&str> = token.split('.').collect();
    let invalid = |m: &str| Box::new(error(StatusCode::UNAUTHORIZED, "PGRST301", m));
    if parts.len() != 3 {
        return Err(invalid("JWT is malformed"));
    }
    let header: Value = URL_SAFE_NO_PAD
        .decode(parts[0])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("JWT header is not JSON"))?;
    if header["alg"] != "HS256" {
        return Err(invalid("JWT algorithm must be HS256"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(JWT_SECRET.as_bytes()).expect("hmac key");
    mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
    let signature =
        URL_SAFE_NO_PAD.decode(parts[2]).map_err(|_| invalid("JWT signature is not base64url"))?;
    mac.verify_slice(&signature).map_err(|_| invalid("JWSInvalidSignature"))?;
    let claims: Value = URL_SAFE_NO_PAD
        .decode(parts[1])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("JWT claims are not JSON"))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    if claims["exp"].as_u64().is_some_and(|exp| exp <= now) {
        return Err(invalid("JWT expired"));
    }
    Ok(claims)
}

async fn rpc(
    State(double): State<Double>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("apikey").and_then(|v| v.to_str().ok()) != Some(ANON_KEY) {
        return error(StatusCode::UNAUTHORIZED, "PGRST000", "Invalid API key");
    }
    let claims = match claims(&headers) {
        Ok(claims) => claims,
        Err(response) => return *response,
    };
    let role = claims["role"].as_str().unwrap_or("anon").to_owned();
    if !matches!(role.as_str(), "anon" | "authenticated" | "service_role") {
        return error(StatusCode::UNAUTHORIZED, "PGRST301", "unknown role");
    }
    let body: Value = match serde_json::from_slice(if body.is_empty() { b"{}" } else { &body }) {
        Ok(body) => body,
        Err(_) => return error(StatusCode::BAD_REQUEST, "PGRST102", "Empty or invalid json"),
    };
    let header_json: serde_json::Map<String, Value> = headers
        .iter()
        .filter(|(name, _)| *name != "authorization" && *name != "apikey")
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), json!(value.to_str().ok()?))))
        .collect();

    let (mut client, connection) =
        tokio_postgres::connect(&double.database_url, tokio_postgres::NoTls).await.expect("double connects");
    tokio::spawn(connection);
    let exists = client
        .query_opt(
            "select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace \
             where n.nspname = 'public' and p.proname = $1",
            &[&function],
        )
        .await
        .expect("catalog query");
    if exists.is_none() {
        return error(StatusCode::NOT_FOUND, "PGRST202", "Could not find the function in the schema cache");
    }
    let transaction = client.transaction().await.expect("begin");
    transaction.batch_execute(&format!("set local role {role}")).await.expect("set role");
    transaction
        .execute(
            "select set_config('request.jwt.claims', $1, true), set_config('request.headers', $2, true)",
            &[&claims.to_string(), &Value::Object(header_json).to_string()],
        )
        .await
        .expect("set claims");
    let sql = format!("select public.\"{function}\"($1::text::jsonb)::text");
    match transaction.query_one(&sql, &[&body.to_string()]).await {
        Ok(row) => {
            transaction.commit().await.expect("commit");
            let text: Option<String> = row.get(0);
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                text.unwrap_or_else(|| "null".to_owned()),
            )
                .into_response()
        }
        Err(failure) => {
            let Some(db) = failure.as_db_error() else {
                return error(StatusCode::INTERNAL_SERVER_ERROR, "PGRST000", "database connection failed");
            };
            let code = db.code().code().to_owned();
            let status = match code.as_str() {
                c if c.starts_with("PT") => c[2..].parse().ok().and_then(|s| StatusCode::from_u16(s).ok()),
                "23505" | "23503" => Some(StatusCode::CONFLICT),
                "42501" if role == "anon" => Some(StatusCode::UNAUTHORIZED),
                "42501" => Some(StatusCode::FORBIDDEN),
                "42883" => Some(StatusCode::NOT_FOUND),
                c if c.starts_with("22") || c.starts_with("23") || c == "P0001" => {
                    Some(StatusCode::BAD_REQUEST)
                }
                _ => None,
            }
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body =
                json!({"code": code, "message": db.message(), "details": db.detail(), "hint": db.hint()});
            (status, axum::Json(body)).into_response()
        }
    }
}
