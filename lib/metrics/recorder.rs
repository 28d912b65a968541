//! The per-process recorder: what this instance counted since its last flush.
//!
//! Lock-free in effect on the request path: the deltas live in [`SHARDS`] maps, each behind its
//! own mutex, and a thread always uses the same shard, so a tokio worker never waits for
//! another (the flush takes each shard once per interval, swapping in an empty map). Keys are
//! a metric and up to three `&'static str` labels, so recording allocates only the first time a
//! series appears in an interval.

use std::cell::Cell as StdCell;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use super::series::{Hist, Key, KeyMap};

/// Independent maps; more than the worker threads of a small instance.
const SHARDS: usize = 16;

/// At most this many distinct sessions are remembered between two flushes (bounded memory
/// under a flood of session ids; the gauge undercounts rather than grows).
const MAX_SESSIONS: usize = 10_000;

/// What one instance counted since its last flush.
#[derive(Default, Debug)]
pub(crate) struct Deltas {
    pub(crate) counters: KeyMap<u64>,
    pub(crate) histograms: KeyMap<Hist>,
    /// Session fingerprints seen (`true`) or ended (`false`) in this interval, each with the
    /// sequence number of its latest record (shards merge in any order; the latest wins).
    pub(crate) sessions: HashMap<[u8; 16], (u64, bool)>,
}

impl Deltas {
    pub(crate) fn is_empty(&self) -> bool {
        self.counters.is_empty() && self.histograms.is_empty() && self.sessions.is_empty()
    }

    /// Adds `other` into `self` (used to merge shards, and to put back a failed flush).
    pub(crate) fn merge(&mut self, other: Deltas) {
        for (key, n) in other.counters {
            *self.counters.entry(key).or_default() += n;
        }
        for (key, hist) in other.histograms {
            self.histograms.entry(key).or_default().add(&hist);
        }
        for (session, (sequence, live)) in other.sessions {
            let room = self.sessions.len() < MAX_SESSIONS;
            match self.sessions.get_mut(&session) {
                Some(latest) if latest.0 < sequence => *latest = (sequence, live),
                Some(_) => {}
                None if room => {
                    self.sessions.insert(session, (sequence, live));
                }
                None => {}
            }
        }
    }
}

#[repr(align(128))] // one cache line pair per shard: no false sharing between workers
#[derive(Default)]
struct Shard(Mutex<Deltas>);

pub(crate) struct Recorder {
    shards: [Shard; SHARDS],
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Self { shards: std::array::from_fn(|_| Shard::default()) }
    }

    pub(crate) fn count(&self, key: Key, n: u64) {
        self.with(|deltas| *deltas.counters.entry(key).or_default() += n);
    }

    pub(crate) fn observe(&self, key: Key, duration: Duration) {
        self.with(|deltas| deltas.histograms.entry(key).or_default().observe(duration));
    }

    pub(crate) fn session(&self, fingerprint: [u8; 16], live: bool) {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        self.with(|deltas| {
            if deltas.sessions.len() < MAX_SESSIONS / SHARDS || deltas.sessions.contains_key(&fingerprint) {
                deltas.sessions.insert(fingerprint, (sequence, live));
            }
        });
    }

    /// Everything recorded so far, leaving the recorder empty.
    pub(crate) fn take(&self) -> Deltas {
        let mut all = Deltas::default();
        for shard in &self.shards {
            let taken = std::mem::take(&mut *lock(&shard.0));
            all.merge(taken);
        }
        all
    }

    /// Puts back deltas a flush could not deliver, so the next flush carries them.
    pub(crate) fn restore(&self, deltas: Deltas) {
        self.with(|current| current.merge(deltas));
    }

    fn with(&self, f: impl FnOnce(&mut Deltas)) {
        f(&mut lock(&self.shards[shard_index()].0));
    }
}

fn lock(mutex: &Mutex<Deltas>) -> std::sync::MutexGuard<'_, Deltas> {
    // A poisoned shard only means a panic elsewhere mid-update of plain counters: keep counting.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// This thread's shard, assigned round-robin on first use.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: StdCell<usize> = StdCell::new(NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
    }
    INDEX.with(StdCell::get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::series::{BUCKETS, Metric};

    #[test]
    fn take_merges_every_thread_and_empties() {
        let recorder = std::sync::Arc::new(Recorder::new());
        let key = Key::new(Metric::RateLimited, []);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let recorder = recorder.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        recorder.count(key, 1);
                        recorder.observe(Key::new(Metric::KvDuration, []), Duration::from_millis(3));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("join");
        }
        let deltas = recorder.take();
        assert_eq!(deltas.counters[&key], 8000);
        let hist = &deltas.histograms[&Key::new(Metric::KvDuration, [])];
        assert_eq!(hist.count(), 8000);
        assert_eq!(hist.buckets[BUCKETS.iter().position(|b| *b >= 0.003).expect("bucket")], 8000);
        assert!(recorder.take().is_empty());
    }
}
