//! The shared KV suite, run against all three backends: memory, a real `redis-server`, and the
//! Upstash REST backend talking to a third-party Upstash server in front of real Redis. Then the
//! outage cases: a dead Redis or REST server yields typed errors within the timeout, never a hang.

mod support;

use std::time::{Duration, Instant};

use atoms::config::{KvBackend, KvConfig};
use atoms::kv::{Command, Kv, KvError, Reply};
use atoms::secret::Secret;

const TIMEOUT: Duration = Duration::from_millis(800);

fn redis_kv(url: &str) -> Kv {
    let config = KvConfig { backend: KvBackend::Redis { url: Secret::new(url) }, timeout: TIMEOUT };
    Kv::from_config(&config, &reqwest::Client::new()).expect("redis kv")
}

fn upstash_kv(port: u16, token: &str) -> Kv {
    let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
    let config =
        KvConfig { backend: KvBackend::Upstash { url, token: Secret::new(token) }, timeout: TIMEOUT };
    Kv::from_config(&config, &reqwest::Client::new()).expect("upstash kv")
}

/// Keys unique to one run, so a shared `REDIS_URL` is never disturbed.
struct Keys(String);

impl Keys {
    fn new() -> Self {
        Self(format!("atoms-test:{}:", uuid::Uuid::new_v4().simple()))
    }
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.0)
    }
}

async fn run_suite(kv: &Kv) {
    let keys = Keys::new();
    strings_round_trip(kv, &keys).await;
    ttl_semantics(kv, &keys).await;
    set_if_absent_keeps_first_value(kv, &keys).await;
    incr_with_expiry_counts_in_a_window(kv, &keys).await;
    compare_and_set_is_conditional(kv, &keys).await;
    sorted_sets(kv, &keys).await;
    pipelines_reply_in_order(kv, &keys).await;
    concurrent_increments_are_atomic(kv, &keys).await;
    wrong_types_are_command_errors(kv, &keys).await;
    edge_arguments_behave_alike(kv, &keys).await;
    gcra_limits_exactly_and_atomically(kv, &keys).await;
    owned_sessions_refresh_only_for_their_owner(kv, &keys).await;
    capped_sorted_sets_evict_the_oldest(kv, &keys).await;
    hashes_count_per_field(kv, &keys).await;
}

/// One `Gcra` command; its reply as (allowed, retry ms, remaining, reset ms).
async fn gcra(kv: &Kv, buckets: &[(String, Duration, u32)], now_ms: u64) -> (bool, i64, i64, i64) {
    let reply = kv.run(Command::Gcra { buckets: buckets.to_vec(), now_ms }).await.expect("gcra");
    let Reply::List(items) = reply else { panic!("a list: {reply:?}") };
    let int = |i: usize| match items[i] {
        Reply::Int(n) => n,
        ref other => panic!("an integer: {other:?}"),
    };
    (int(0) == 1, int(1), int(2), int(3))
}

async fn gcra_limits_exactly_and_atomically(kv: &Kv, keys: &Keys) {
    let second = Duration::from_secs(1);
    let general = (keys.key("rl-general"), second, 3);
    let t0 = 1_800_000_000_000u64;
    // A burst of 3 passes, the 4th waits one interval.
    assert_eq!(gcra(kv, std::slice::from_ref(&general), t0).await, (true, 0, 2, 1000));
    assert_eq!(gcra(kv, std::slice::from_ref(&general), t0).await, (true, 0, 1, 2000));
    assert_eq!(gcra(kv, std::slice::from_ref(&general), t0).await, (true, 0, 0, 3000));
    let (allowed, retry, remaining, _) = gcra(kv, std::slice::from_ref(&general), t0).await;
    assert_eq!((allowed, retry, remaining), (false, 1000, 0));
    // One interval later exactly one more passes.
    assert!(gcra(kv, std::slice::from_ref(&general), t0 + 1000).await.0);
    assert!(!gcra(kv, std::slice::from_ref(&general), t0 + 1000).await.0);
    // Two buckets: a full second bucket refuses, and the first is not charged for it.
    let class = (keys.key("rl-class"), Duration::from_secs(60), 1);
    let fresh = (keys.key("rl-general-2"), second, 5);
    assert!(gcra(kv, &[fresh.clone(), class.clone()], t0).await.0);
    let (allowed, retry, remaining, _) = gcra(kv, &[fresh.clone(), class.clone()], t0).await;
    assert!(!allowed && retry == 60_000, "the class bucket decides: {retry}");
    assert_eq!(remaining, 0);
    assert_eq!(gcra(kv, std::slice::from_ref(&fresh), t0).await.2, 3, "refused requests were not counted");
    // Buckets expire when full again.
    let ttl = kv.ttl(&general.0).await.expect("ttl").expect("present").expect("expires");
    assert!(ttl <= Duration::from_secs(3), "{ttl:?}");
}

async fn owned_sessions_refresh_only_for_their_owner(kv: &Kv, keys: &Keys) {
    let (session, owner) = (keys.key("session"), keys.key("owner"));
    let touch = |subject: &str| Command::TouchOwned {
        session: session.clone(),
        owner: owner.clone(),
        subject: subject.to_owned(),
        ttl: Duration::from_secs(600),
    };
    assert_eq!(kv.run(touch("alice")).await.expect("touch"), Reply::Int(0), "nothing stored yet");
    kv.set(&session, "state", Some(Duration::from_secs(5))).await.expect("set");
    kv.set(&owner, "alice", Some(Duration::from_secs(50))).await.expect("set");
    assert_eq!(kv.run(touch("mallory")).await.expect("touch"), Reply::Int(0));
    let ttl = kv.ttl(&session).await.expect("ttl").expect("present").expect("expires");
    assert!(ttl <= Duration::from_secs(5), "a foreign touch refreshes nothing: {ttl:?}");
    assert_eq!(kv.run(touch("alice")).await.expect("touch"), Reply::Int(1));
    let ttl = kv.ttl(&session).await.expect("ttl").expect("present").expect("expires");
    assert!(ttl > Duration::from_secs(500), "{ttl:?}");
    kv.delete(&session).await.expect("delete");
    assert_eq!(kv.run(touch("alice")).await.expect("touch"), Reply::Int(0), "owner without a session");
}

async fn capped_sorted_sets_evict_the_oldest(kv: &Kv, keys: &Keys) {
    let key = keys.key("capped");
    let add = |member: &str, score: f64, min_score: f64| Command::ZAddCapped {
        key: key.clone(),
        member: member.to_owned(),
        score,
        min_score,
        max: 2,
        ttl: Duration::from_secs(60),
    };
    assert_eq!(kv.run(add("a", 1.0, 0.0)).await.expect("add"), Reply::List(vec![]));
    assert_eq!(kv.run(add("b", 2.0, 0.0)).await.expect("add"), Reply::List(vec![]));
    assert_eq!(kv.run(add("c", 3.0, 0.0)).await.expect("add"), Reply::List(vec![Reply::Text("a".into())]));
    // Members scored below min_score go without being reported as evicted.
    assert_eq!(kv.run(add("d", 10.0, 2.5)).await.expect("add"), Reply::List(vec![]));
    let members: Vec<String> = kv
        .zrange_by_score(&key, 0.0, 100.0, None)
        .await
        .expect("range")
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(members, ["c", "d"]);
    let ttl = kv.ttl(&key).await.expect("ttl").expect("present").expect("expires");
    assert!(ttl > Duration::from_secs(50));
}

async fn strings_round_trip(kv: &Kv, keys: &Keys) {
    let key = keys.key("string");
    assert_eq!(kv.get(&key).await.expect("get"), None);
    let value = "{\"session\":\"ünïcødé \\\"quoted\\\"\\nline\"} 🚀";
    kv.set(&key, value, None).await.expect("set");
    assert_eq!(kv.get(&key).await.expect("get").as_deref(), Some(value));
    kv.set(&key, "replaced", None).await.expect("overwrite");
    assert_eq!(kv.get(&key).await.expect("get").as_deref(), Some("replaced"));
    assert!(kv.delete(&key).await.expect("delete"));
    assert!(!kv.delete(&key).await.expect("delete absent"));
    assert_eq!(kv.get(&key).await.expect("get"), None);
    kv.ping().await.expect("ping");
}

async fn ttl_semantics(kv: &Kv, keys: &Keys) {
    let short = keys.key("short");
    let forever = keys.key("forever");
    kv.set(&short, "v", Some(Duration::from_millis(1000))).await.expect("set with ttl");
    kv.set(&forever, "v", None).await.expect("set");
    let remaining = kv.ttl(&short).await.expect("ttl").expect("present").expect("has expiry");
    assert!(remaining <= Duration::from_millis(1000) && remaining > Duration::ZERO, "{remaining:?}");
    assert_eq!(kv.ttl(&forever).await.expect("ttl"), Some(None));
    assert_eq!(kv.ttl(&keys.key("absent")).await.expect("ttl"), None);
    assert!(!kv.expire(&keys.key("absent"), Duration::from_secs(5)).await.expect("expire absent"));
    assert!(kv.expire(&forever, Duration::from_millis(1000)).await.expect("expire"));
    tokio::time::sleep(Duration::from_millis(1300)).await; // let both TTLs elapse
    assert_eq!(kv.get(&short).await.expect("get"), None, "expired key must be gone");
    assert_eq!(kv.get(&forever).await.expect("get"), None, "expire() must apply");
    assert_eq!(kv.ttl(&short).await.expect("ttl"), None);
}

async fn set_if_absent_keeps_first_value(kv: &Kv, keys: &Keys) {
    let key = keys.key("nx");
    assert!(kv.set_if_absent(&key, "first", Some(Duration::from_secs(30))).await.expect("nx"));
    assert!(!kv.set_if_absent(&key, "second", None).await.expect("nx again"));
    assert_eq!(kv.get(&key).await.expect("get").as_deref(), Some("first"));
}

async fn incr_with_expiry_counts_in_a_window(kv: &Kv, keys: &Keys) {
    let key = keys.key("counter");
    let window = Duration::from_millis(1000);
    for expected in 1..=3 {
        assert_eq!(kv.incr_with_expiry(&key, window).await.expect("incr"), expected);
    }
    let remaining = kv.ttl(&key).await.expect("ttl").expect("present").expect("expiry set once");
    assert!(remaining <= window);
    tokio::time::sleep(Duration::from_millis(1300)).await; // let the window close
    assert_eq!(kv.incr_with_expiry(&key, window).await.expect("incr"), 1, "a new window starts at 1");
}

async fn compare_and_set_is_conditional(kv: &Kv, keys: &Keys) {
    let key = keys.key("cas");
    assert!(kv.compare_and_set(&key, None, Some("v1"), None).await.expect("create"));
    assert!(!kv.compare_and_set(&key, None, Some("other"), None).await.expect("create again"));
    assert!(!kv.compare_and_set(&key, Some("stale"), Some("v2"), None).await.expect("stale"));
    assert_eq!(kv.get(&key).await.expect("get").as_deref(), Some("v1"));
    let ttl = Some(Duration::from_secs(60));
    assert!(kv.compare_and_set(&key, Some("v1"), Some("v2"), ttl).await.expect("swap"));
    assert_eq!(kv.get(&key).await.expect("get").as_deref(), Some("v2"));
    assert!(kv.ttl(&key).await.expect("ttl").expect("present").is_some(), "ttl applied on swap");
    assert!(kv.compare_and_set(&key, Some("v2"), None, None).await.expect("delete"));
    assert_eq!(kv.get(&key).await.expect("get"), None);
}

async fn sorted_sets(kv: &Kv, keys: &Keys) {
    let key = keys.key("zset");
    assert!(kv.zadd(&key, 3.0, "c").await.expect("zadd"));
    assert!(kv.zadd(&key, 1.0, "a").await.expect("zadd"));
    assert!(kv.zadd(&key, 2.5, "b").await.expect("zadd"));
    assert!(!kv.zadd(&key, 0.5, "c").await.expect("rescore"), "rescoring adds nothing");
    assert_eq!(kv.zcard(&key).await.expect("zcard"), 3);
    let all = kv.zrange_by_score(&key, f64::NEG_INFINITY, f64::INFINITY, None).await.expect("range");
    assert_eq!(all, [("c".to_owned(), 0.5), ("a".to_owned(), 1.0), ("b".to_owned(), 2.5)]);
    let window = kv.zrange_by_score(&key, 1.0, 2.5, Some(1)).await.expect("range");
    assert_eq!(window, [("a".to_owned(), 1.0)]);
    assert!(kv.zrem(&key, "a").await.expect("zrem"));
    assert!(!kv.zrem(&key, "a").await.expect("zrem absent"));
    assert_eq!(kv.zrem_range_by_score(&key, 0.0, 1.0).await.expect("zremrange"), 1);
    assert_eq!(kv.zcard(&key).await.expect("zcard"), 1);
    assert_eq!(kv.zrem_range_by_score(&key, f64::NEG_INFINITY, f64::INFINITY).await.expect("clear"), 1);
    assert_eq!(kv.zcard(&key).await.expect("zcard"), 0);
    assert!(kv.zrange_by_score(&keys.key("nozset"), 0.0, 1.0, None).await.expect("empty").is_empty());
}

/// HINCRBY / HGETALL, what the fleet-wide metrics are made of: counts per field, negative
/// deltas, the type checks, and a whole hash read back in one reply.
async fn hashes_count_per_field(kv: &Kv, keys: &Keys) {
    let key = keys.key("hash");
    let incr = |field: &str, by: i64| Command::HIncrBy { key: key.clone(), field: field.to_owned(), by };
    let replies = kv
        .pipeline(vec![
            incr("a|x", 3),
            incr("b", 1),
            incr("a|x", 4),
            incr("b", -2),
            Command::Expire { key: key.clone(), ttl: Duration::from_secs(60) },
        ])
        .await
        .expect("hincrby");
    assert_eq!(replies, [Reply::Int(3), Reply::Int(1), Reply::Int(7), Reply::Int(-1), Reply::Int(1)]);
    let Reply::List(items) = kv.run(Command::HGetAll { key: key.clone() }).await.expect("hgetall") else {
        panic!("HGETALL is a list");
    };
    let mut pairs: Vec<(Reply, Reply)> = items.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
    pairs.sort_by_key(|(field, _)| format!("{field:?}"));
    let text = |v: &str| Reply::Text(v.to_owned());
    assert_eq!(pairs, [(text("a|x"), text("7")), (text("b"), text("-1"))]);
    let empty = kv.run(Command::HGetAll { key: keys.key("nohash") }).await.expect("hgetall absent");
    assert_eq!(empty, Reply::List(Vec::new()));

    let text_key = keys.key("hash-text");
    kv.set(&text_key, "v", None).await.expect("set");
    let error = kv.run(Command::HIncrBy { key: text_key, field: "f".to_owned(), by: 1 }).await;
    assert!(matches!(&error, Err(KvError::Command(m)) if m.contains("WRONGTYPE")), "{error:?}");
    let error = kv.get(&key).await.expect_err("a hash is not a string");
    assert!(matches!(&error, KvError::Command(m) if m.contains("WRONGTYPE")), "{error:?}");
    let error = kv.zadd(&key, 1.0, "m").await.expect_err("a hash is not a sorted set");
    assert!(matches!(&error, KvError::Command(m) if m.contains("WRONGTYPE")), "{error:?}");
    kv.pipeline(vec![Command::Del { key: key.clone() }]).await.expect("del");
    kv.run(Command::HIncrBy { key: key.clone(), field: "n".to_owned(), by: i64::MAX }).await.expect("max");
    let error = kv.run(Command::HIncrBy { key, field: "n".to_owned(), by: 1 }).await;
    assert!(matches!(&error, Err(KvError::Command(m)) if m.contains("overflow")), "{error:?}");
}

async fn pipelines_reply_in_order(kv: &Kv, keys: &Keys) {
    let key = keys.key("pipe");
    let replies = kv
        .pipeline(vec![
            Command::Set { key: key.clone(), value: "1".to_owned(), ttl: None, only_if_absent: false },
            Command::Get { key: key.clone() },
            Command::IncrWithExpiry { key: key.clone(), ttl: Duration::from_secs(10) },
            Command::Del { key: key.clone() },
            Command::Get { key },
        ])
        .await
        .expect("pipeline");
    assert_eq!(
        replies,
        [Reply::Text("OK".to_owned()), Reply::Text("1".to_owned()), Reply::Int(2), Reply::Int(1), Reply::Nil]
    );
    assert!(kv.pipeline(Vec::new()).await.expect("empty pipeline").is_empty());
}

async fn concurrent_increments_are_atomic(kv: &Kv, keys: &Keys) {
    let key = keys.key("concurrent");
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let kv = kv.clone();
            let key = key.clone();
            tokio::spawn(async move { kv.incr_with_expiry(&key, Duration::from_secs(30)).await })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.expect("join").expect("incr"));
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=40).collect::<Vec<i64>>(), "every increment observed exactly once");
}

async fn wrong_types_are_command_errors(kv: &Kv, keys: &Keys) {
    let text = keys.key("text");
    kv.set(&text, "not a number", None).await.expect("set");
    let error = kv.incr_with_expiry(&text, Duration::from_secs(1)).await.expect_err("not an integer");
    assert!(matches!(error, KvError::Command(_)), "{error:?}");
    let error = kv.zadd(&text, 1.0, "m").await.expect_err("wrong type");
    assert!(matches!(&error, KvError::Command(m) if m.contains("WRONGTYPE")), "{error:?}");
    assert_eq!(kv.get(&text).await.expect("get").as_deref(), Some("not a number"), "data unharmed");
}

async fn edge_arguments_behave_alike(kv: &Kv, keys: &Keys) {
    let key = keys.key("edges");
    let invalid = |result: Result<_, KvError>| matches!(result, Err(KvError::Command(m)) if m.contains("invalid expire time"));
    assert!(
        invalid(kv.set(&key, "v", Some(Duration::ZERO)).await.map(drop)),
        "TTL 0 is refused, not a delete"
    );
    assert!(invalid(kv.set(&key, "v", Some(Duration::from_secs(u64::MAX))).await.map(drop)), "no overflow");
    assert!(invalid(kv.incr_with_expiry(&key, Duration::ZERO).await.map(drop)));
    assert_eq!(kv.get(&key).await.expect("get"), None, "nothing stored by refused commands");
    kv.set(&key, "v", Some(atoms::kv::MAX_TTL)).await.expect("the longest TTL is accepted");
    assert!(invalid(kv.expire(&key, Duration::ZERO).await.map(drop)));
    assert!(invalid(kv.expire(&key, Duration::MAX).await.map(drop)));
    assert_eq!(kv.get(&key).await.expect("get").as_deref(), Some("v"));

    // INCR of an existing "0" yields 1, so the window starts there (the script's `v == 1`).
    let counter = keys.key("zero-counter");
    kv.set(&counter, "0", None).await.expect("set");
    assert_eq!(kv.incr_with_expiry(&counter, Duration::from_secs(60)).await.expect("incr"), 1);
    assert!(kv.ttl(&counter).await.expect("ttl").expect("present").is_some(), "the window expires");
    // Later increments keep the window's TTL.
    assert_eq!(kv.incr_with_expiry(&counter, Duration::from_secs(600)).await.expect("incr"), 2);
    let ttl = kv.ttl(&counter).await.expect("ttl").expect("present").expect("expiry");
    assert!(ttl <= Duration::from_secs(60), "{ttl:?}");

    let zset = keys.key("nan");
    let not_a_float = |result: Result<_, KvError>| matches!(result, Err(KvError::Command(m)) if m.contains("not a valid float"));
    assert!(not_a_float(kv.zadd(&zset, f64::NAN, "m").await.map(drop)));
    assert!(not_a_float(kv.zrange_by_score(&zset, f64::NAN, 1.0, None).await.map(drop)));
    assert!(not_a_float(kv.zrem_range_by_score(&zset, 0.0, f64::NAN).await.map(drop)));
    assert_eq!(kv.zcard(&zset).await.expect("zcard"), 0);
}

#[tokio::test]
async fn memory_backend_passes_the_suite() {
    run_suite(&Kv::memory()).await;
}

#[tokio::test]
async fn redis_backend_passes_the_suite() {
    let redis = support::start_redis();
    run_suite(&redis_kv(&support::redis_url(&redis))).await;
}

#[tokio::test]
async fn rediss_passes_the_suite_over_tls_and_verifies_the_server() {
    let (redis, ca) = support::start_redis_tls();
    let url = Secret::new(format!("rediss://127.0.0.1:{}", redis.port));
    let kv = Kv::redis_with_private_ca(&url, TIMEOUT, &ca).expect("rediss kv");
    run_suite(&kv).await;

    // From REDIS_URL the public roots apply: a certificate from an unknown CA is refused.
    let public = redis_kv(url.expose());
    assert!(matches!(public.ping().await, Err(KvError::Unavailable { .. })), "unknown CA accepted");
}

#[tokio::test]
async fn upstash_backend_passes_the_suite_against_a_third_party_server() {
    let redis = support::start_redis();
    let upstash = support::start_upstash(&support::redis_url(&redis));
    run_suite(&upstash_kv(upstash.port, support::UPSTASH_TOKEN)).await;
}

/// Asserts `result` is an outage error that arrived within the timeout (plus scheduling slack).
fn assert_outage<T: std::fmt::Debug>(result: Result<T, KvError>, started: Instant) {
    let error = result.expect_err("the backend is down");
    assert!(error.is_outage(), "expected a timeout/unavailable error, got {error:?}");
    assert!(started.elapsed() < TIMEOUT * 3, "took {:?}", started.elapsed());
}

#[tokio::test]
async fn killing_redis_mid_suite_yields_typed_errors_and_recovers() {
    let mut redis = support::start_redis();
    let port = redis.port;
    let kv = redis_kv(&support::redis_url(&redis));
    let keys = Keys::new();
    strings_round_trip(&kv, &keys).await;

    redis.kill();
    for _ in 0..3 {
        let started = Instant::now();
        assert_outage(kv.get(&keys.key("any")).await, started);
    }

    // A new server on the same port: the backend reconnects by itself.
    let mut child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("restart redis-server");
    support::wait_for_port(port, "redis-server", &mut child);
    kv.set(&keys.key("after"), "v", None).await.expect("reconnected");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn unreachable_backends_fail_fast_with_typed_errors() {
    let dead_port = support::free_port();
    let started = Instant::now();
    assert_outage(redis_kv(&format!("redis://127.0.0.1:{dead_port}")).ping().await, started);
    let started = Instant::now();
    assert_outage(upstash_kv(dead_port, "token").ping().await, started);
}

#[tokio::test]
async fn a_silent_server_times_out_instead_of_hanging() {
    // Accepts connections but never answers: the worst kind of outage.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let silent = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(2) {
            held.push(stream);
        }
        std::thread::sleep(TIMEOUT * 4);
    });
    for kv in [redis_kv(&format!("redis://127.0.0.1:{port}")), upstash_kv(port, "token")] {
        let started = Instant::now();
        let error = kv.ping().await.expect_err("silent server");
        assert!(matches!(error, KvError::Timeout { .. }), "{error:?}");
        assert!(started.elapsed() < TIMEOUT * 3, "took {:?}", started.elapsed());
    }
    drop(silent);
}

#[tokio::test]
async fn upstash_with_a_wrong_token_is_unauthorized() {
    let redis = support::start_redis();
    let upstash = support::start_upstash(&support::redis_url(&redis));
    let error = upstash_kv(upstash.port, "wrong-token").ping().await.expect_err("bad token");
    assert!(matches!(error, KvError::Unauthorized { .. }), "{error:?}");
    assert!(!error.to_string().contains("wrong-token"));
}
