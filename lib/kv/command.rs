//! The KV commands Atoms uses, as data, and the replies they produce.
//!
//! One vocabulary for all backends: the Redis and Upstash backends turn a [`Command`] into Redis
//! arguments ([`Command::to_args`]); the memory backend interprets it directly with the same
//! semantics. Atomic read-modify-write operations are single Lua scripts, so they are atomic on
//! every backend and cost one round trip.

use std::time::Duration;

/// One KV command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Ping,
    Get {
        key: String,
    },
    /// `SET key value [PX ttl] [NX]`; replies `Ok`, or `Nil` when `only_if_absent` and present.
    Set {
        key: String,
        value: String,
        ttl: Option<Duration>,
        only_if_absent: bool,
    },
    /// Replies the number of keys removed (0 or 1).
    Del {
        key: String,
    },
    /// Replies 1 when the key exists and its TTL was set, else 0.
    Expire {
        key: String,
        ttl: Duration,
    },
    /// Remaining TTL in ms; -1 without expiry, -2 when absent.
    Pttl {
        key: String,
    },
    /// Increments an integer; sets `ttl` only when the key was created by this call (a fixed
    /// window). Replies the new value.
    IncrWithExpiry {
        key: String,
        ttl: Duration,
    },
    /// Replaces the value only if the current value equals `expected` (`None` = key absent).
    /// `new: None` deletes. Replies 1 when applied, 0 otherwise.
    CompareAndSet {
        key: String,
        expected: Option<String>,
        new: Option<String>,
        ttl: Option<Duration>,
    },
    /// Replies the number of members added (0 when only the score changed).
    ZAdd {
        key: String,
        score: f64,
        member: String,
    },
    ZRem {
        key: String,
        member: String,
    },
    /// Members with `min <= score <= max`, ascending, as `[member, score, …]`.
    ZRangeByScore {
        key: String,
        min: f64,
        max: f64,
        limit: Option<usize>,
    },
    ZCard {
        key: String,
    },
    ZRemRangeByScore {
        key: String,
        min: f64,
        max: f64,
    },
    /// `HINCRBY key field by`: adds `by` to an integer hash field (absent = 0); replies the new
    /// value. The fleet-wide metric counters.
    HIncrBy {
        key: String,
        field: String,
        by: i64,
    },
    /// `HGETALL key`: `[field, value, …]` in no particular order; empty when absent.
    HGetAll {
        key: String,
    },
}

/// A reply, normalised across backends.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Nil,
    Int(i64),
    Text(String),
    List(Vec<Reply>),
}

impl Reply {
    /// The reply's shape, for error messages that must not echo stored values.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Nil => "nil",
            Self::Int(_) => "integer",
            Self::Text(_) => "text",
            Self::List(_) => "list",
        }
    }
}

/// The longest TTL any backend accepts (Redis takes more, the memory backend's clock less).
pub const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl Command {
    /// Refuses, identically on every backend, what Redis refuses or the backends would treat
    /// differently: a zero TTL (Redis: "invalid expire time"; `PX 0` would otherwise be 1 ms on
    /// Redis and immediate on memory), a TTL over [`MAX_TTL`], a NaN score.
    pub(crate) fn check(&self) -> Result<(), super::KvError> {
        let ttl = match self {
            Self::Set { ttl, .. } | Self::CompareAndSet { ttl, .. } => *ttl,
            Self::Expire { ttl, .. } | Self::IncrWithExpiry { ttl, .. } => Some(*ttl),
            _ => None,
        };
        if ttl.is_some_and(|ttl| ttl.is_zero() || ttl > MAX_TTL) {
            return Err(super::KvError::Command("ERR invalid expire time".to_owned()));
        }
        let nan = match self {
            Self::ZAdd { score, .. } => score.is_nan(),
            Self::ZRangeByScore { min, max, .. } | Self::ZRemRangeByScore { min, max, .. } => {
                min.is_nan() || max.is_nan()
            }
            _ => false,
        };
        if nan {
            return Err(super::KvError::Command("ERR value is not a valid float".to_owned()));
        }
        Ok(())
    }
}

/// `INCR`, then `PEXPIRE` only if the key is new — atomically.
const INCR_WITH_EXPIRY: &str = "local v = redis.call('INCR', KEYS[1]) \
    if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return v";

/// Compare-and-set. ARGV: has_expected ('1'/'0'), expected, has_new, new, ttl_ms ('0' = none).
const COMPARE_AND_SET: &str = "local cur = redis.call('GET', KEYS[1]) \
    if ARGV[1] == '1' then if cur ~= ARGV[2] then return 0 end \
    elseif cur then return 0 end \
    if ARGV[3] == '1' then \
      if ARGV[5] ~= '0' then redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5]) \
      else redis.call('SET', KEYS[1], ARGV[4]) end \
    else redis.call('DEL', KEYS[1]) end return 1";

impl Command {
    /// The Redis command line for this command.
    pub(crate) fn to_args(&self) -> Vec<String> {
        let s = |v: &str| v.to_owned();
        match self {
            Self::Ping => vec![s("PING")],
            Self::Get { key } => vec![s("GET"), key.clone()],
            Self::Set { key, value, ttl, only_if_absent } => {
                let mut args = vec![s("SET"), key.clone(), value.clone()];
                if let Some(ttl) = ttl {
                    args.extend([s("PX"), millis(*ttl)]);
                }
                if *only_if_absent {
                    args.push(s("NX"));
                }
                args
            }
            Self::Del { key } => vec![s("DEL"), key.clone()],
            Self::Expire { key, ttl } => vec![s("PEXPIRE"), key.clone(), millis(*ttl)],
            Self::Pttl { key } => vec![s("PTTL"), key.clone()],
            Self::IncrWithExpiry { key, ttl } => {
                vec![s("EVAL"), s(INCR_WITH_EXPIRY), s("1"), key.clone(), millis(*ttl)]
            }
            Self::CompareAndSet { key, expected, new, ttl } => vec![
                s("EVAL"),
                s(COMPARE_AND_SET),
                s("1"),
                key.clone(),
                flag(expected.is_some()),
                expected.clone().unwrap_or_default(),
                flag(new.is_some()),
                new.clone().unwrap_or_default(),
                ttl.map(millis).unwrap_or_else(|| s("0")),
            ],
            Self::ZAdd { key, score, member } => {
                vec![s("ZADD"), key.clone(), score_arg(*score), member.clone()]
            }
            Self::ZRem { key, member } => vec![s("ZREM"), key.clone(), member.clone()],
            Self::ZRangeByScore { key, min, max, limit } => {
                let mut args =
                    vec![s("ZRANGEBYSCORE"), key.clone(), score_arg(*min), score_arg(*max), s("WITHSCORES")];
                if let Some(limit) = limit {
                    args.extend([s("LIMIT"), s("0"), limit.to_string()]);
                }
                args
            }
            Self::ZCard { key } => vec![s("ZCARD"), key.clone()],
            Self::ZRemRangeByScore { key, min, max } => {
                vec![s("ZREMRANGEBYSCORE"), key.clone(), score_arg(*min), score_arg(*max)]
            }
            Self::HIncrBy { key, field, by } => {
                vec![s("HINCRBY"), key.clone(), field.clone(), by.to_string()]
            }
            Self::HGetAll { key } => vec![s("HGETALL"), key.clone()],
        }
    }
}

/// Milliseconds, at least 1 (Redis rejects a zero expiry).
fn millis(ttl: Duration) -> String {
    ttl.as_millis().max(1).to_string()
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_owned()
}

/// Redis score syntax: `-inf`/`+inf` for unbounded ranges.
pub(crate) fn score_arg(score: f64) -> String {
    if score == f64::INFINITY {
        "+inf".to_owned()
    } else if score == f64::NEG_INFINITY {
        "-inf".to_owned()
    } else {
        score.to_string()
    }
}
