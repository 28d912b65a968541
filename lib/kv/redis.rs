//! Redis-protocol KV backend (`REDIS_URL`): `redis://`, or `rediss://` over TLS (rustls, server
//! verified against the webpki roots — or a private CA given to [`RedisKv::new`]).
//!
//! One multiplexed connection per process, opened on first use and replaced after a connection
//! error, so a Redis restart heals without restarting the function. Every call — connecting
//! included — is bounded by the configured timeout.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, Value};
use tokio::sync::Mutex;

use super::{Command, KvError, Reply};
use crate::secret::Secret;

const BACKEND: &str = "redis";

pub struct RedisKv {
    client: redis::Client,
    timeout: Duration,
    /// The shared connection; `None` until first use or after a connection failure.
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl RedisKv {
    /// A client for `url`; `private_ca` (PEM) replaces the public roots for `rediss://`.
    pub fn new(url: &Secret, timeout: Duration, private_ca: Option<&[u8]>) -> Result<Self, KvError> {
        let client = match private_ca {
            None => redis::Client::open(url.expose()),
            Some(root) => redis::Client::build_with_tls(
                url.expose(),
                redis::TlsCertificates { client_tls: None, root_cert: Some(root.to_vec()) },
            ),
        };
        let client = client.map_err(|_| KvError::Unavailable {
            backend: BACKEND,
            reason: "REDIS_URL is not a valid Redis URL".to_owned(),
        })?;
        Ok(Self { client, timeout, connection: Mutex::new(None) })
    }

    pub(crate) async fn execute(&self, commands: &[Command]) -> Result<Vec<Reply>, KvError> {
        let timed_out = KvError::Timeout { backend: BACKEND, after: self.timeout };
        let result = tokio::time::timeout(self.timeout, async {
            let mut connection = self.connection().await?;
            let mut pipe = redis::pipe();
            for command in commands {
                let mut args = command.to_args().into_iter();
                let mut cmd = redis::cmd(&args.next().unwrap_or_default());
                for arg in args {
                    cmd.arg(arg);
                }
                pipe.add_command(cmd);
            }
            pipe.query_async::<Vec<Value>>(&mut connection).await.map_err(|e| self.classify(e))
        })
        .await;
        match result {
            Ok(Ok(values)) => values.into_iter().map(reply).collect(),
            Ok(Err(error)) => {
                if error.is_outage() {
                    self.forget_connection().await;
                }
                Err(error)
            }
            Err(_) => {
                self.forget_connection().await;
                Err(timed_out)
            }
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, KvError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| self.classify(e))?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn forget_connection(&self) {
        *self.connection.lock().await = None;
    }

    fn classify(&self, error: redis::RedisError) -> KvError {
        if error.is_timeout() {
            return KvError::Timeout { backend: BACKEND, after: self.timeout };
        }
        let code = error.code().unwrap_or_default();
        if matches!(code, "NOAUTH" | "WRONGPASS") || error.kind() == ErrorKind::AuthenticationFailed {
            return KvError::Unauthorized { backend: BACKEND };
        }
        let reason = if error.is_connection_refusal() {
            "connection refused"
        } else if error.is_connection_dropped() {
            "connection dropped"
        } else if error.is_io_error() {
            "i/o error"
        } else {
            ""
        };
        if !reason.is_empty() {
            return KvError::Unavailable { backend: BACKEND, reason: reason.to_owned() };
        }
        if matches!(error.kind(), ErrorKind::Server(_) | ErrorKind::Extension) {
            // A server-side command error: its text names the command problem, not our data.
            return KvError::Command(error.to_string());
        }
        KvError::Unavailable { backend: BACKEND, reason: format!("{:?}", error.kind()) }
    }
}

fn reply(value: Value) -> Result<Reply, KvError> {
    Ok(match value {
        Value::Nil => Reply::Nil,
        Value::Int(n) => Reply::Int(n),
        Value::Okay => Reply::Text("OK".to_owned()),
        Value::SimpleString(text) => Reply::Text(text),
        Value::BulkString(bytes) => {
            Reply::Text(String::from_utf8(bytes).map_err(|_| KvError::Protocol {
                backend: BACKEND,
                detail: "value is not UTF-8".to_owned(),
            })?)
        }
        Value::Double(d) => Reply::Text(d.to_string()),
        Value::Boolean(b) => Reply::Int(i64::from(b)),
        Value::Array(items) | Value::Set(items) => {
            Reply::List(items.into_iter().map(reply).collect::<Result<_, _>>()?)
        }
        Value::ServerError(error) => {
            return Err(KvError::Command(error.details().unwrap_or(error.code()).to_owned()));
        }
        other => {
            return Err(KvError::Protocol {
                backend: BACKEND,
                detail: format!("unsupported reply type {other:?}"),
            });
        }
    })
}
