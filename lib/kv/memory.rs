//! In-process KV: the embedded default of `atoms serve` and a backend of the shared KV suite.
//!
//! Real TTL semantics (millisecond expiry, checked on every access, swept periodically) and the
//! same command semantics as Redis, including `WRONGTYPE` errors (zero, huge and NaN arguments
//! are refused before any backend runs, see `Command::check`). A batch runs under one lock, so
//! it is atomic. Not shared between processes: production configuration refuses it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::command::score_arg;
use super::{Command, KvError, Reply};

/// Sweep expired keys after this many writes, so keys nobody reads again still go away.
const SWEEP_EVERY: u32 = 1024;

#[derive(Default)]
pub struct MemoryKv {
    inner: Mutex<Store>,
}

#[derive(Default)]
struct Store {
    entries: HashMap<String, Entry>,
    writes_since_sweep: u32,
}

struct Entry {
    value: Value,
    expires_at: Option<Instant>,
}

enum Value {
    Text(String),
    /// Sorted set kept ordered by (score, member), as Redis orders it.
    SortedSet(Vec<(f64, String)>),
    /// Hash of fields to values (Redis keeps hash values as strings too).
    Hash(HashMap<String, String>),
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

impl MemoryKv {
    pub(crate) fn execute(&self, commands: &[Command]) -> Result<Vec<Reply>, KvError> {
        // A poisoned lock only means another thread panicked mid-command; the map itself is
        // still consistent (every command validates before it mutates).
        let mut store = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        store.maybe_sweep(now);
        commands.iter().map(|command| store.apply(command, now)).collect()
    }
}

impl Store {
    fn maybe_sweep(&mut self, now: Instant) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= SWEEP_EVERY {
            self.writes_since_sweep = 0;
            self.entries.retain(|_, entry| entry.live(now));
        }
    }

    /// The live entry under `key`, dropping it first if it has expired.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|entry| !entry.live(now)) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn text(&mut self, key: &str, now: Instant) -> Result<Option<String>, KvError> {
        match self.live(key, now).map(|entry| &entry.value) {
            None => Ok(None),
            Some(Value::Text(text)) => Ok(Some(text.clone())),
            Some(Value::SortedSet(_) | Value::Hash(_)) => Err(KvError::Command(WRONGTYPE.to_owned())),
        }
    }

    /// The sorted set under `key`, created empty when `create` and absent.
    fn sorted_set(
        &mut self,
        key: &str,
        now: Instant,
        create: bool,
    ) -> Result<Option<&mut Vec<(f64, String)>>, KvError> {
        if create && self.live(key, now).is_none() {
            let entry = Entry { value: Value::SortedSet(Vec::new()), expires_at: None };
            self.entries.insert(key.to_owned(), entry);
        }
        match self.live(key, now).map(|entry| &mut entry.value) {
            None => Ok(None),
            Some(Value::SortedSet(set)) => Ok(Some(set)),
            Some(Value::Text(_) | Value::Hash(_)) => Err(KvError::Command(WRONGTYPE.to_owned())),
        }
    }

    /// The hash under `key`, created empty when `create` and absent.
    fn hash(
        &mut self,
        key: &str,
        now: Instant,
        create: bool,
    ) -> Result<Option<&mut HashMap<String, String>>, KvError> {
        if create && self.live(key, now).is_none() {
            let entry = Entry { value: Value::Hash(HashMap::new()), expires_at: None };
            self.entries.insert(key.to_owned(), entry);
        }
        match self.live(key, now).map(|entry| &mut entry.value) {
            None => Ok(None),
            Some(Value::Hash(hash)) => Ok(Some(hash)),
            Some(Value::Text(_) | Value::SortedSet(_)) => Err(KvError::Command(WRONGTYPE.to_owned())),
        }
    }

    fn put(&mut self, key: &str, value: String, ttl: Option<Duration>, now: Instant) {
        let entry = Entry { value: Value::Text(value), expires_at: ttl.map(|ttl| now + ttl) };
        self.entries.insert(key.to_owned(), entry);
    }

    fn apply(&mut self, command: &Command, now: Instant) -> Result<Reply, KvError> {
        Ok(match command {
            Command::Ping => Reply::Text("PONG".to_owned()),
            Command::Get { key } => self.text(key, now)?.map_or(Reply::Nil, Reply::Text),
            Command::Set { key, value, ttl, only_if_absent } => {
                if *only_if_absent && self.live(key, now).is_some() {
                    return Ok(Reply::Nil);
                }
                self.put(key, value.clone(), *ttl, now);
                ok()
            }
            Command::Del { key } => {
                Reply::Int(i64::from(self.live(key, now).is_some() && self.entries.remove(key).is_some()))
            }
            Command::Expire { key, ttl } => match self.live(key, now) {
                Some(entry) => {
                    entry.expires_at = Some(now + *ttl);
                    Reply::Int(1)
                }
                None => Reply::Int(0),
            },
            Command::Pttl { key } => match self.live(key, now) {
                None => Reply::Int(-2),
                Some(Entry { expires_at: None, .. }) => Reply::Int(-1),
                Some(Entry { expires_at: Some(at), .. }) => {
                    Reply::Int(at.saturating_duration_since(now).as_millis() as i64)
                }
            },
            Command::IncrWithExpiry { key, ttl } => {
                let current = match self.text(key, now)? {
                    None => 0,
                    Some(text) => text.parse::<i64>().map_err(|_| {
                        KvError::Command("ERR value is not an integer or out of range".to_owned())
                    })?,
                };
                let next = current.checked_add(1).ok_or_else(|| {
                    KvError::Command("ERR increment or decrement would overflow".to_owned())
                })?;
                // As the Redis script: INCR (keeping any TTL), then PEXPIRE when the value is 1 —
                // a new key, or an existing "0".
                let expires_at = self.live(key, now).and_then(|entry| entry.expires_at);
                let expires_at = if next == 1 { Some(now + *ttl) } else { expires_at };
                let entry = Entry { value: Value::Text(next.to_string()), expires_at };
                self.entries.insert(key.to_owned(), entry);
                Reply::Int(next)
            }
            Command::CompareAndSet { key, expected, new, ttl } => {
                if self.text(key, now)? != *expected {
                    return Ok(Reply::Int(0));
                }
                match new {
                    Some(value) => self.put(key, value.clone(), *ttl, now),
                    None => {
                        self.entries.remove(key);
                    }
                }
                Reply::Int(1)
            }
            Command::ZAdd { key, score, member } => {
                let set = self.sorted_set(key, now, true)?.unwrap_or_else(|| unreachable!("created above"));
                let existed = set.iter().position(|(_, m)| m == member).map(|i| set.remove(i)).is_some();
                let at = set.partition_point(|(s, m)| (*s, m.as_str()) < (*score, member.as_str()));
                set.insert(at, (*score, member.clone()));
                Reply::Int(i64::from(!existed))
            }
            Command::ZRem { key, member } => {
                let removed = match self.sorted_set(key, now, false)? {
                    Some(set) => set.iter().position(|(_, m)| m == member).map(|i| set.remove(i)).is_some(),
                    None => false,
                };
                self.drop_if_empty_set(key);
                Reply::Int(i64::from(removed))
            }
            Command::ZRangeByScore { key, min, max, limit } => {
                let set = self.sorted_set(key, now, false)?.map(|set| set.as_slice()).unwrap_or_default();
                let items = set
                    .iter()
                    .filter(|(score, _)| *min <= *score && *score <= *max)
                    .take(limit.unwrap_or(usize::MAX))
                    .flat_map(|(score, member)| [Reply::Text(member.clone()), Reply::Text(score_arg(*score))])
                    .collect();
                Reply::List(items)
            }
            Command::ZCard { key } => {
                Reply::Int(self.sorted_set(key, now, false)?.map_or(0, |set| set.len() as i64))
            }
            Command::ZRemRangeByScore { key, min, max } => {
                let removed = match self.sorted_set(key, now, false)? {
                    Some(set) => {
                        let before = set.len();
                        set.retain(|(score, _)| !(*min <= *score && *score <= *max));
                        before - set.len()
                    }
                    None => 0,
                };
                self.drop_if_empty_set(key);
                Reply::Int(removed as i64)
            }
            Command::Gcra { buckets, now_ms } => self.gcra(buckets, *now_ms, now)?,
            Command::CachePut { .. } => self.cache_put(command, now)?,
            Command::TouchOwned { session, owner, subject, ttl } => {
                if self.text(owner, now)?.as_deref() != Some(subject.as_str()) {
                    return Ok(Reply::Int(0));
                }
                self.apply(&Command::Expire { key: session.clone(), ttl: *ttl }, now)?
            }
            Command::ZAddCapped { key, member, score, min_score, max, ttl } => {
                self.apply(&Command::ZAdd { key: key.clone(), score: *score, member: member.clone() }, now)?;
                let set = self.sorted_set(key, now, false)?.unwrap_or_else(|| unreachable!("just added"));
                set.retain(|(s, _)| *s >= *min_score);
                let extra = set.len().saturating_sub(*max as usize);
                let evicted: Vec<Reply> = set.drain(..extra).map(|(_, m)| Reply::Text(m)).collect();
                self.drop_if_empty_set(key);
                if let Some(entry) = self.live(key, now) {
                    entry.expires_at = Some(now + *ttl);
                }
                Reply::List(evicted)
            }
            Command::HIncrBy { key, field, by } => {
                let hash = self.hash(key, now, true)?.unwrap_or_else(|| unreachable!("created above"));
                let current = match hash.get(field) {
                    None => 0,
                    Some(text) => text
                        .parse::<i64>()
                        .map_err(|_| KvError::Command("ERR hash value is not an integer".to_owned()))?,
                };
                let next = current.checked_add(*by).ok_or_else(|| {
                    KvError::Command("ERR increment or decrement would overflow".to_owned())
                })?;
                hash.insert(field.clone(), next.to_string());
                Reply::Int(next)
            }
            Command::HGetAll { key } => {
                let hash = self.hash(key, now, false)?;
                let items = hash
                    .into_iter()
                    .flat_map(|hash| hash.iter())
                    .flat_map(|(field, value)| [Reply::Text(field.clone()), Reply::Text(value.clone())])
                    .collect();
                Reply::List(items)
            }
        })
    }

    /// The CachePut script of `command.rs`, step for step.
    fn cache_put(&mut self, command: &Command, now: Instant) -> Result<Reply, KvError> {
        let Command::CachePut { key, value, ttl, index, bytes, max_bytes, now_ms } = command else {
            unreachable!("called for CachePut only")
        };
        let (ttl, max_bytes, now_ms) = (*ttl, *max_bytes, *now_ms);
        let size_of = |m: &str| m.split_once(':').and_then(|(n, _)| n.parse::<i64>().ok()).unwrap_or(0);
        let expired: Vec<String> = match self.sorted_set(index, now, false)? {
            Some(set) => {
                let gone: Vec<String> =
                    set.iter().filter(|(s, _)| *s <= now_ms as f64).map(|(_, m)| m.clone()).collect();
                set.retain(|(s, _)| *s > now_ms as f64);
                gone
            }
            None => Vec::new(),
        };
        let freed: i64 = expired.iter().map(|m| size_of(m)).sum();
        let mut total = self.text(bytes, now)?.and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
        total += value.len() as i64 - freed;
        self.put(key, value.to_owned(), Some(ttl), now);
        let member = format!("{}:{key}", value.len());
        let expiry = now_ms as f64 + ttl.as_millis() as f64;
        self.apply(&Command::ZAdd { key: index.to_owned(), score: expiry, member }, now)?;
        let mut dropped = Vec::new();
        while total > max_bytes as i64 {
            let Some(set) = self.sorted_set(index, now, false)? else { break };
            if set.is_empty() {
                break;
            }
            let (_, oldest) = set.remove(0);
            total -= size_of(&oldest);
            dropped.push(Reply::Text(oldest.split_once(':').map_or(String::new(), |(_, k)| k.to_owned())));
        }
        self.drop_if_empty_set(index);
        self.put(bytes, total.to_string(), None, now);
        Ok(Reply::List(dropped))
    }

    /// The GCRA script of `command.rs`, step for step.
    fn gcra(
        &mut self,
        buckets: &[(String, Duration, u32)],
        now_ms: u64,
        now: Instant,
    ) -> Result<Reply, KvError> {
        let now_ms = now_ms as i64;
        let (mut retry, mut remaining, mut reset) = (0i64, 0i64, 0i64);
        let mut tats = Vec::with_capacity(buckets.len());
        for (i, (key, interval, burst)) in buckets.iter().enumerate() {
            let interval = interval.as_millis().max(1) as i64;
            let burst = i64::from((*burst).max(1));
            let stored = self.text(key, now)?.and_then(|v| v.parse::<f64>().ok()).map(|v| v as i64);
            let tat = stored.map_or(now_ms, |tat| tat.max(now_ms));
            let new_tat = tat + interval;
            let wait = new_tat - burst * interval - now_ms;
            retry = retry.max(wait);
            tats.push(new_tat);
            if i == 0 {
                remaining = ((burst * interval - (new_tat - now_ms)) / interval).max(0);
                reset = if wait > 0 { tat - now_ms } else { new_tat - now_ms };
            }
        }
        if retry > 0 {
            return Ok(Reply::List(vec![Reply::Int(0), Reply::Int(retry), Reply::Int(0), Reply::Int(reset)]));
        }
        for ((key, _, _), tat) in buckets.iter().zip(tats) {
            let ttl = Duration::from_millis((tat - now_ms).max(1) as u64);
            self.put(key, tat.to_string(), Some(ttl), now);
        }
        Ok(Reply::List(vec![Reply::Int(1), Reply::Int(0), Reply::Int(remaining), Reply::Int(reset)]))
    }

    /// Redis deletes a sorted set when its last member goes.
    fn drop_if_empty_set(&mut self, key: &str) {
        if matches!(self.entries.get(key), Some(Entry { value: Value::SortedSet(set), .. }) if set.is_empty())
        {
            self.entries.remove(key);
        }
    }
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

fn ok() -> Reply {
    Reply::Text("OK".to_owned())
}
