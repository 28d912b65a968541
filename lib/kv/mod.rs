//! Key-value store for sessions, rate limits, caches, metrics and OAuth state.
//!
//! One interface ([`Kv`]), three backends chosen by configuration: Upstash REST ([`upstash`]),
//! the Redis protocol ([`redis`]) and in-process memory ([`memory`], the embedded default). Every
//! backend speaks the same [`Command`] vocabulary; the typed methods below build one command and
//! decode its reply. Every call is bounded by `KV_TIMEOUT_MS`: an outage is a [`KvError`], never
//! a hang.

mod command;
mod error;
pub mod memory;
pub mod redis;
pub mod upstash;

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument as _;

pub use command::{Command, MAX_TTL, Reply};
pub use error::KvError;

use crate::config::{KvBackend, KvConfig};
use crate::secret::Secret;

/// A handle to the configured KV backend; cheap to clone.
#[derive(Clone)]
pub enum Kv {
    Memory(Arc<memory::MemoryKv>),
    Redis(Arc<redis::RedisKv>),
    Upstash(Arc<upstash::UpstashKv>),
}

impl Kv {
    /// Builds the backend named by `config`. Connections are opened lazily, on first use, so a
    /// cold start pays nothing for a KV it does not touch.
    pub fn from_config(config: &KvConfig, http: &reqwest::Client) -> Result<Self, KvError> {
        Ok(match &config.backend {
            KvBackend::Memory => Self::memory(),
            KvBackend::Redis { url } => {
                Self::Redis(Arc::new(redis::RedisKv::new(url, config.timeout, None)?))
            }
            KvBackend::Upstash { url, token } => Self::Upstash(Arc::new(upstash::UpstashKv::new(
                url.clone(),
                token.clone(),
                http.clone(),
                config.timeout,
            ))),
        })
    }

    /// A Redis KV at a `rediss://` `url` whose server certificate is verified against
    /// `private_ca` (PEM) instead of the public roots: a Redis behind a private CA.
    pub fn redis_with_private_ca(
        url: &Secret,
        timeout: Duration,
        private_ca: &[u8],
    ) -> Result<Self, KvError> {
        Ok(Self::Redis(Arc::new(redis::RedisKv::new(url, timeout, Some(private_ca))?)))
    }

    pub fn memory() -> Self {
        Self::Memory(Arc::new(memory::MemoryKv::default()))
    }

    /// `memory`, `redis` or `upstash`, for health reports and logs.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
            Self::Upstash(_) => "upstash",
        }
    }

    /// Runs `commands` in one round trip (a pipeline; not atomic across commands — use the
    /// atomic single commands for read-modify-write). Replies come back in order; the first
    /// command error fails the call.
    pub async fn pipeline(&self, commands: Vec<Command>) -> Result<Vec<Reply>, KvError> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        for command in &commands {
            command.check()?;
        }
        let started = std::time::Instant::now();
        // Command names and the pipeline's length only: keys and values (session ids, tokens'
        // digests, cached results) stay out of spans.
        let command = if commands.len() == 1 { commands[0].name() } else { "PIPELINE" };
        let span =
            tracing::info_span!("kv", backend = self.backend_name(), command, commands = commands.len());
        let replies = async {
            match self {
                Self::Memory(kv) => kv.execute(&commands),
                // Boxed: a network client's future is kilobytes and would otherwise size (and be
                // copied with) every future that awaits the KV, on every request.
                Self::Redis(kv) => Box::pin(kv.execute(&commands)).await,
                Self::Upstash(kv) => Box::pin(kv.execute(&commands)).await,
            }
        }
        .instrument(span)
        .await;
        crate::metrics::record_kv(started.elapsed());
        let replies = replies?;
        if replies.len() != commands.len() {
            return Err(KvError::Protocol {
                backend: self.backend_name(),
                detail: format!("{} replies for {} commands", replies.len(), commands.len()),
            });
        }
        Ok(replies)
    }

    /// Runs one command.
    pub async fn run(&self, command: Command) -> Result<Reply, KvError> {
        let mut replies = self.pipeline(vec![command]).await?;
        replies.pop().ok_or_else(|| self.unexpected("no reply"))
    }

    pub async fn ping(&self) -> Result<(), KvError> {
        self.run(Command::Ping).await.map(drop)
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        match self.run(Command::Get { key: key.to_owned() }).await? {
            Reply::Nil => Ok(None),
            Reply::Text(value) => Ok(Some(value)),
            other => Err(self.unexpected(other.kind())),
        }
    }

    /// Stores `value`, expiring after `ttl` when given.
    pub async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), KvError> {
        let command =
            Command::Set { key: key.to_owned(), value: value.to_owned(), ttl, only_if_absent: false };
        self.run(command).await.map(drop)
    }

    /// Stores `value` only if `key` is absent; true when stored.
    pub async fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, KvError> {
        let command =
            Command::Set { key: key.to_owned(), value: value.to_owned(), ttl, only_if_absent: true };
        Ok(!matches!(self.run(command).await?, Reply::Nil))
    }

    /// True when the key existed.
    pub async fn delete(&self, key: &str) -> Result<bool, KvError> {
        self.int(Command::Del { key: key.to_owned() }).await.map(|n| n > 0)
    }

    /// Sets a new TTL on an existing key; false when the key is absent.
    pub async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, KvError> {
        self.int(Command::Expire { key: key.to_owned(), ttl }).await.map(|n| n == 1)
    }

    /// Remaining lifetime: `None` when the key is absent, `Some(None)` when it never expires.
    pub async fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, KvError> {
        Ok(match self.int(Command::Pttl { key: key.to_owned() }).await? {
            -2 => None,
            -1 => Some(None),
            ms => Some(Some(Duration::from_millis(ms.max(0) as u64))),
        })
    }

    /// Atomically increments a counter whose window of `ttl` starts at its first increment.
    pub async fn incr_with_expiry(&self, key: &str, ttl: Duration) -> Result<i64, KvError> {
        self.int(Command::IncrWithExpiry { key: key.to_owned(), ttl }).await
    }

    /// Atomically replaces the value if it still equals `expected` (`None` = must be absent);
    /// `new: None` deletes. True when applied.
    pub async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
        ttl: Option<Duration>,
    ) -> Result<bool, KvError> {
        let command = Command::CompareAndSet {
            key: key.to_owned(),
            expected: expected.map(str::to_owned),
            new: new.map(str::to_owned),
            ttl,
        };
        self.int(command).await.map(|n| n == 1)
    }

    /// True when `member` is new in the set.
    pub async fn zadd(&self, key: &str, score: f64, member: &str) -> Result<bool, KvError> {
        let command = Command::ZAdd { key: key.to_owned(), score, member: member.to_owned() };
        self.int(command).await.map(|n| n == 1)
    }

    pub async fn zrem(&self, key: &str, member: &str) -> Result<bool, KvError> {
        let command = Command::ZRem { key: key.to_owned(), member: member.to_owned() };
        self.int(command).await.map(|n| n == 1)
    }

    /// Members with `min <= score <= max`, lowest score first.
    pub async fn zrange_by_score(
        &self,
        key: &str,
        min: f64,
        max: f64,
        limit: Option<usize>,
    ) -> Result<Vec<(String, f64)>, KvError> {
        let command = Command::ZRangeByScore { key: key.to_owned(), min, max, limit };
        let Reply::List(items) = self.run(command).await? else {
            return Err(self.unexpected("not a list"));
        };
        items
            .chunks(2)
            .map(|pair| match pair {
                [Reply::Text(member), score] => Ok((member.clone(), self.score(score)?)),
                _ => Err(self.unexpected("malformed member/score pair")),
            })
            .collect()
    }

    pub async fn zcard(&self, key: &str) -> Result<u64, KvError> {
        self.int(Command::ZCard { key: key.to_owned() }).await.map(|n| n.max(0) as u64)
    }

    /// Removes members with `min <= score <= max`; returns how many.
    pub async fn zrem_range_by_score(&self, key: &str, min: f64, max: f64) -> Result<u64, KvError> {
        let command = Command::ZRemRangeByScore { key: key.to_owned(), min, max };
        self.int(command).await.map(|n| n.max(0) as u64)
    }

    async fn int(&self, command: Command) -> Result<i64, KvError> {
        match self.run(command).await? {
            Reply::Int(n) => Ok(n),
            Reply::Text(text) => {
                text.parse().map_err(|_| self.unexpected("text where an integer was expected"))
            }
            other => Err(self.unexpected(other.kind())),
        }
    }

    fn score(&self, reply: &Reply) -> Result<f64, KvError> {
        match reply {
            Reply::Text(text) => match text.as_str() {
                "inf" | "+inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                _ => text.parse().map_err(|_| self.unexpected("score is not a number")),
            },
            Reply::Int(n) => Ok(*n as f64),
            other => Err(self.unexpected(other.kind())),
        }
    }

    /// A reply of the wrong shape. The detail names the shape, never the value (values may be
    /// session data).
    fn unexpected(&self, detail: &str) -> KvError {
        KvError::Protocol { backend: self.backend_name(), detail: detail.to_owned() }
    }
}
