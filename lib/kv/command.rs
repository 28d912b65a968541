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
    /// Refreshes `session`'s TTL only if `owner` holds `subject`, atomically. Replies 1 when the
    /// session is live and the subject's, else 0 (nothing refreshed).
    TouchOwned {
        session: String,
        owner: String,
        subject: String,
        ttl: Duration,
    },
    /// Adds `member` at `score` to a sorted set, drops members scored below `min_score`, then
    /// removes the lowest-scored members beyond `max`; sets the set's TTL. Replies the members
    /// removed for being beyond `max` (oldest first).
    ZAddCapped {
        key: String,
        member: String,
        score: f64,
        min_score: f64,
        max: u32,
        ttl: Duration,
    },
    /// Stores a read-cache entry with its TTL and keeps the cache's total size under
    /// `max_bytes`: `index` (a sorted set of `"<size>:<key>"` scored by expiry, ms) and `bytes`
    /// (the running total) account for every entry; expired ones are forgotten, then the entries
    /// closest to expiry are dropped until the total fits. Replies the keys to delete (the
    /// dropped entries; a script only touches the keys it declares).
    CachePut {
        key: String,
        value: String,
        ttl: Duration,
        index: String,
        bytes: String,
        max_bytes: u64,
        now_ms: u64,
    },
    /// GCRA over several buckets at once, atomically: the request passes only if every bucket
    /// has room, and only then is it counted in all of them. `buckets` are `(key, interval,
    /// burst)`: one request per `interval` sustained, `burst` at once. `now_ms` is the caller's
    /// clock (milliseconds since the epoch). Replies `[allowed 0/1, retry_after_ms,
    /// remaining, reset_ms]`, the last two of the first bucket.
    Gcra {
        buckets: Vec<(String, Duration, u32)>,
        now_ms: u64,
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
            Self::Expire { ttl, .. }
            | Self::IncrWithExpiry { ttl, .. }
            | Self::TouchOwned { ttl, .. }
            | Self::CachePut { ttl, .. }
            | Self::ZAddCapped { ttl, .. } => Some(*ttl),
            _ => None,
        };
        if ttl.is_some_and(|ttl| ttl.is_zero() || ttl > MAX_TTL) {
            return Err(super::KvError::Command("ERR invalid expire time".to_owned()));
        }
        if let Self::Gcra { buckets, .. } = self
            && (buckets.is_empty()
                || buckets.iter().any(|(_, interval, _)| interval.is_zero() || *interval > MAX_TTL))
        {
            return Err(super::KvError::Command("ERR invalid rate limit bucket".to_owned()));
        }
        let nan = match self {
            Self::ZAdd { score, .. } => score.is_nan(),
            Self::ZAddCapped { score, min_score, .. } => score.is_nan() || min_score.is_nan(),
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

/// GCRA (the generic cell rate algorithm) over every bucket in KEYS. ARGV: now_ms, then
/// interval_ms and burst per bucket. A bucket stores its theoretical arrival time (TAT).
const GCRA: &str = "local now = tonumber(ARGV[1]) local tats = {} local retry = 0 \
    local remaining = 0 local reset = 0 \
    for i = 1, #KEYS do \
      local interval = tonumber(ARGV[2 * i]) local burst = tonumber(ARGV[2 * i + 1]) \
      local stored = redis.call('GET', KEYS[i]) local tat = now \
      if stored then tat = math.max(tonumber(stored), now) end \
      local new_tat = tat + interval local wait = new_tat - burst * interval - now \
      if wait > retry then retry = wait end \
      tats[i] = new_tat \
      if i == 1 then \
        remaining = math.max(0, math.floor((burst * interval - (new_tat - now)) / interval)) \
        reset = new_tat - now \
        if wait > 0 then reset = tat - now end \
      end \
    end \
    if retry > 0 then return {0, retry, 0, reset} end \
    for i = 1, #KEYS do redis.call('SET', KEYS[i], tats[i], 'PX', math.max(1, tats[i] - now)) end \
    return {1, 0, remaining, reset}";

/// CachePut. KEYS: entry, index, bytes; ARGV: value, ttl_ms, now_ms, max_bytes.
const CACHE_PUT: &str = "local now = tonumber(ARGV[3]) local freed = 0 \
    local function size_of(m) return tonumber(string.sub(m, 1, string.find(m, ':', 1, true) - 1)) end \
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do \
      freed = freed + size_of(m) redis.call('ZREM', KEYS[2], m) end \
    local size = string.len(ARGV[1]) \
    local total = redis.call('INCRBY', KEYS[3], size - freed) \
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), size .. ':' .. KEYS[1]) \
    local dropped = {} \
    while total > tonumber(ARGV[4]) do \
      local oldest = redis.call('ZRANGE', KEYS[2], 0, 0) if #oldest == 0 then break end \
      local m = oldest[1] redis.call('ZREM', KEYS[2], m) \
      total = redis.call('INCRBY', KEYS[3], -size_of(m)) \
      table.insert(dropped, string.sub(m, string.find(m, ':', 1, true) + 1)) end \
    return dropped";

/// TouchOwned. KEYS: session, owner; ARGV: subject, ttl_ms.
const TOUCH_OWNED: &str = "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end \
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])";

/// ZAddCapped. ARGV: member, score, min_score, max, ttl_ms.
const ZADD_CAPPED: &str = "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) \
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3]) \
    local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4]) local evicted = {} \
    if extra > 0 then evicted = redis.call('ZRANGE', KEYS[1], 0, extra - 1) \
      for _, m in ipairs(evicted) do redis.call('ZREM', KEYS[1], m) end end \
    redis.call('PEXPIRE', KEYS[1], ARGV[5]) return evicted";

/// Compare-and-set. ARGV: has_expected ('1'/'0'), expected, has_new, new, ttl_ms ('0' = none).
const COMPARE_AND_SET: &str = "local cur = redis.call('GET', KEYS[1]) \
    if ARGV[1] == '1' then if cur ~= ARGV[2] then return 0 end \
    elseif cur then return 0 end \
    if ARGV[3] == '1' then \
      if ARGV[5] ~= '0' then redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5]) \
      else redis.call('SET', KEYS[1], ARGV[4]) end \
    else redis.call('DEL', KEYS[1]) end return 1";

impl Command {
    /// The command's name (the Redis command, or the script's purpose): what a `kv` span shows
    /// of it — never a key or a value.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ping => "PING",
            Self::Get { .. } => "GET",
            Self::Set { .. } => "SET",
            Self::Del { .. } => "DEL",
            Self::Expire { .. } => "PEXPIRE",
            Self::Pttl { .. } => "PTTL",
            Self::IncrWithExpiry { .. } => "INCR_WITH_EXPIRY",
            Self::CompareAndSet { .. } => "COMPARE_AND_SET",
            Self::ZAdd { .. } => "ZADD",
            Self::ZRem { .. } => "ZREM",
            Self::ZRangeByScore { .. } => "ZRANGEBYSCORE",
            Self::ZCard { .. } => "ZCARD",
            Self::ZRemRangeByScore { .. } => "ZREMRANGEBYSCORE",
            Self::TouchOwned { .. } => "TOUCH_OWNED",
            Self::ZAddCapped { .. } => "ZADD_CAPPED",
            Self::CachePut { .. } => "CACHE_PUT",
            Self::Gcra { .. } => "GCRA",
            Self::HIncrBy { .. } => "HINCRBY",
            Self::HGetAll { .. } => "HGETALL",
        }
    }

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
            Self::CachePut { key, value, ttl, index, bytes, max_bytes, now_ms } => vec![
                s("EVAL"),
                s(CACHE_PUT),
                s("3"),
                key.clone(),
                index.clone(),
                bytes.clone(),
                value.clone(),
                millis(*ttl),
                now_ms.to_string(),
                max_bytes.to_string(),
            ],
            Self::TouchOwned { session, owner, subject, ttl } => vec![
                s("EVAL"),
                s(TOUCH_OWNED),
                s("2"),
                session.clone(),
                owner.clone(),
                subject.clone(),
                millis(*ttl),
            ],
            Self::ZAddCapped { key, member, score, min_score, max, ttl } => vec![
                s("EVAL"),
                s(ZADD_CAPPED),
                s("1"),
                key.clone(),
                member.clone(),
                score_arg(*score),
                score_arg(*min_score),
                max.to_string(),
                millis(*ttl),
            ],
            Self::Gcra { buckets, now_ms } => {
                let mut args = vec![s("EVAL"), s(GCRA), buckets.len().to_string()];
                args.extend(buckets.iter().map(|(key, _, _)| key.clone()));
                args.push(now_ms.to_string());
                for (_, interval, burst) in buckets {
                    args.extend([millis(*interval), burst.max(&1).to_string()]);
                }
                args
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
