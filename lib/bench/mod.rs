//! `atoms bench`: measurements reported as numbers (README, issue notes), never asserted in
//! tests. [`function`] measures a function binary as the platform sees it (size, cold start,
//! memory); [`db`] measures domain operations through the direct database adapter, [`fleet`]
//! the bounded operations on a fleet-sized database, [`tools`] tool calls through the full stack
//! beside the direct database call (and, for CPU, beside the [`floor`] server), [`auth`] what token verification adds to a request;
//! [`limits`] what the rate limiter adds; [`remote`] a running deployment's latency per endpoint
//! against the production checklist.

pub mod auth;
pub mod db;
pub mod fleet;
pub mod floor;
pub mod function;
pub mod limits;
pub mod mcp;
pub mod remote;
pub mod tools;

use std::process::Child;
use std::time::Duration;

/// A server process under measurement, killed (and reaped) when dropped.
pub(crate) struct ChildServer(pub(crate) Child);

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port (the OS picks it; it is released at once).
pub(crate) fn free_port() -> std::io::Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr().map(|a| a.port())
}

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

/// utime + stime of a process, from `/proc/<pid>/stat` (USER_HZ = 100 on Linux: 10 ms ticks).
pub(crate) fn cpu_time(pid: u32) -> Result<Duration, String> {
    cpu_times(pid).map(|(user, system)| user + system)
}

/// (utime, stime) of a process, from `/proc/<pid>/stat` (10 ms ticks).
pub(crate) fn cpu_times(pid: u32) -> Result<(Duration, Duration), String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks =
        |i: usize| Duration::from_millis(fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) * 10);
    Ok((ticks(11), ticks(12)))
}

/// How many CPUs this process may run on: its affinity mask (`Cpus_allowed_list` of
/// `/proc/self/status`, e.g. `0-1,4`), which the processes it starts inherit. Not
/// `available_parallelism`, which also divides by a cgroup CPU quota: a quota of one CPU still
/// lets the processes wake each other across two.
pub(crate) fn cpus_allowed() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let list = status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:"))?.trim();
    cpu_list_len(list)
}

/// The number of CPUs in a kernel CPU list (`0-3,8,10-11`).
fn cpu_list_len(list: &str) -> Option<usize> {
    list.split(',').try_fold(0, |count, part| {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let (first, last): (usize, usize) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
        Some(count + last.checked_sub(first)? + 1)
    })
}

/// The trace-export variables (`OTEL_*`) of this process, handed to the `atoms serve` children
/// that otherwise start with a clean environment: `OTEL_EXPORTER_OTLP_ENDPOINT=… atoms bench
/// mcp` measures the server with export on (the variables are read by the child's own config).
pub(crate) fn trace_export_env() -> Vec<(String, String)> {
    std::env::vars().filter(|(name, _)| name.starts_with("OTEL_")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_lists_are_counted() {
        assert_eq!(super::cpu_list_len("0"), Some(1));
        assert_eq!(super::cpu_list_len("0-1"), Some(2));
        assert_eq!(super::cpu_list_len("0-3,8,10-11"), Some(7));
        assert_eq!(super::cpu_list_len("3-1"), None);
        assert_eq!(super::cpu_list_len(""), None);
        assert!(super::cpus_allowed().is_some_and(|n| n >= 1));
    }
}
