//! A small AWS Lambda Runtime API emulator: the HTTP server a `bootstrap` talks to on Lambda
//! (`AWS_LAMBDA_RUNTIME_API`), speaking the documented custom-runtime contract
//! (`/2018-06-01/runtime/invocation/next`, `…/{id}/response`, `…/{id}/error`, `…/init/error`),
//! response streaming included (`Lambda-Runtime-Function-Response-Mode: streaming`: a JSON
//! prelude, eight NUL bytes, then the body; errors as trailers). Tests hand it one event at a
//! time with [`RuntimeApi::invoke`] and get what the function answered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// What the function sent back for one invocation.
#[derive(Debug)]
pub enum Outcome {
    /// A response; `streaming` tells which protocol the runtime used.
    Response { streaming: bool, body: Bytes },
    /// `POST …/{id}/error`, or a streamed response that ended with an error trailer.
    Error { kind: String, body: String },
}

/// An HTTP response as a function URL would return it, decoded from an [`Outcome`].
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    /// Header names lower-cased; a multi-valued header keeps every value.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl Outcome {
    /// The HTTP response inside: a streamed prelude + body, or a buffered v2 response object.
    pub fn http(&self) -> Result<HttpAnswer, String> {
        match self {
            Outcome::Error { kind, body } => Err(format!("the function reported an error {kind}: {body}")),
            Outcome::Response { streaming: true, body } => {
                let split = body
                    .windows(8)
                    .position(|w| w == [0u8; 8])
                    .ok_or_else(|| format!("no 8-NUL delimiter after the prelude: {body:?}"))?;
                let prelude: Value = serde_json::from_slice(&body[..split])
                    .map_err(|e| format!("prelude is not JSON ({e}): {:?}", &body[..split]))?;
                Ok(HttpAnswer {
                    status: status_of(&prelude)?,
                    headers: headers_of(&prelude),
                    body: String::from_utf8_lossy(&body[split + 8..]).into_owned(),
                })
            }
            Outcome::Response { streaming: false, body } => {
                let response: Value =
                    serde_json::from_slice(body).map_err(|e| format!("response is not JSON ({e})"))?;
                Ok(HttpAnswer {
                    status: status_of(&response)?,
                    headers: headers_of(&response),
                    body: response["body"].as_str().unwrap_or_default().to_owned(),
                })
            }
        }
    }
}

fn status_of(value: &Value) -> Result<u16, String> {
    value["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| format!("no statusCode in {value}"))
}

fn headers_of(value: &Value) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    for source in ["headers", "multiValueHeaders"] {
        if let Some(map) = value[source].as_object() {
            for (name, values) in map {
                let values = match values {
                    Value::Array(items) => {
                        items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
                    }
                    Value::String(one) => vec![one.clone()],
                    _ => Vec::new(),
                };
                headers.extend(values.into_iter().map(|v| (name.to_ascii_lowercase(), v)));
            }
        }
    }
    headers
}

struct Invocation {
    id: String,
    event: Value,
}

#[derive(Default)]
struct Shared {
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<String>>,
    next_polls: Mutex<u32>,
}

#[derive(Clone)]
struct AppState {
    shared: Arc<Shared>,
    queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>>,
}

/// The emulator, serving on a free loopback port until dropped.
pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    sender: mpsc::UnboundedSender<Invocation>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

const PREFIX: &str = "/2018-06-01/runtime";

impl RuntimeApi {
    pub async fn start() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let state = AppState { shared: shared.clone(), queue: Arc::new(tokio::sync::Mutex::new(receiver)) };
        let router = Router::new()
            .route(&format!("{PREFIX}/invocation/next"), get(next))
            .route(&format!("{PREFIX}/invocation/{{id}}/response"), post(response))
            .route(&format!("{PREFIX}/invocation/{{id}}/error"), post(error))
            .route(&format!("{PREFIX}/init/error"), post(init_error))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the runtime API");
        let address = listener.local_addr().expect("address").to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { address, sender, shared, server }
    }

    /// Queues `event`, waits (at most `timeout`) for the function's answer.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Outcome, String> {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().expect("lock").insert(id.clone(), tx);
        self.sender.send(Invocation { id, event }).map_err(|_| "the emulator stopped".to_owned())?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err("the emulator dropped the invocation".to_owned()),
            Err(_) => Err(format!(
                "no answer within {timeout:?} (init error: {:?}, polls of /next: {})",
                self.init_error(),
                self.next_polls()
            )),
        }
    }

    /// What the runtime posted to `/init/error`, if anything.
    pub fn init_error(&self) -> Option<String> {
        self.shared.init_error.lock().expect("lock").clone()
    }

    /// How many times the function asked for its next event (1 = it is waiting for the first).
    pub fn next_polls(&self) -> u32 {
        *self.shared.next_polls.lock().expect("lock")
    }
}

async fn next(State(state): State<AppState>) -> Response {
    *state.shared.next_polls.lock().expect("lock") += 1;
    let Some(invocation) = state.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() + 30_000;
    (
        [
            ("content-type", "application/json".to_owned()),
            ("lambda-runtime-aws-request-id", invocation.id.clone()),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:atoms-test".to_owned(),
            ),
            ("lambda-runtime-trace-id", format!("Root=1-00000000-{};Sampled=0", &invocation.id[..8])),
        ],
        invocation.event.to_string(),
    )
        .into_response()
}

async fn response(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let streaming = headers
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
    let collected = match body.collect().await {
        Ok(collected) => collected,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("reading the response: {e}")).into_response(),
    };
    let trailer_error =
        collected.trailers().and_then(|t| t.get("lambda-runtime-function-error-type")).map(|v| {
            let body = collected
                .trailers()
                .and_then(|t| t.get("lambda-runtime-function-error-body"))
                .map(|b| String::from_utf8_lossy(b.as_bytes()).into_owned())
                .unwrap_or_default();
            (String::from_utf8_lossy(v.as_bytes()).into_owned(), body)
        });
    let bytes = collected.to_bytes();
    let outcome = match trailer_error {
        Some((kind, body)) => Outcome::Error { kind, body },
        None => Outcome::Response { streaming, body: bytes },
    };
    deliver(&state, &id, outcome)
}

async fn error(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_else(|| "Unhandled".to_owned());
    deliver(&state, &id, Outcome::Error { kind, body: String::from_utf8_lossy(&body).into_owned() })
}

async fn init_error(State(state): State<AppState>, body: Bytes) -> Response {
    *state.shared.init_error.lock().expect("lock") = Some(String::from_utf8_lossy(&body).into_owned());
    (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
}

fn deliver(state: &AppState, id: &str, outcome: Outcome) -> Response {
    match state.shared.waiting.lock().expect("lock").remove(id) {
        Some(waiter) => {
            let _ = waiter.send(outcome);
            (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            r#"{"errorMessage":"unknown or already answered request id","errorType":"InvalidRequestID"}"#,
        )
            .into_response(),
    }
}

/// A function URL (payload format 2.0) event: `method` `path` with `headers` and `body`.
pub fn function_url_event(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Value {
    let mut header_map = serde_json::Map::new();
    for (name, value) in headers {
        header_map.insert((*name).to_owned(), Value::String((*value).to_owned()));
    }
    let mut event: Value = serde_json::from_str(include_str!("lambda/function_url_event.json"))
        .expect("tests/support/lambda/function_url_event.json");
    event["rawPath"] = Value::String(path.to_owned());
    event["requestContext"]["http"]["method"] = Value::String(method.to_owned());
    event["requestContext"]["http"]["path"] = Value::String(path.to_owned());
    event["headers"].as_object_mut().expect("headers").extend(header_map);
    if let Some(body) = body {
        event["body"] = Value::String(body.to_owned());
    }
    event
}
