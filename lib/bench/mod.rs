//! `atoms bench`: measurements reported as numbers (README, issue notes), never asserted in
//! tests. [`function`] measures a function binary as the platform sees it (size, cold start,
//! memory); [`db`] measures domain operations through the direct database adapter.

pub mod db;
pub mod function;
pub mod mcp;

use std::time::Duration;

/// The `q`-quantile (0.0–1.0) of sorted `samples`.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub(crate) fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
