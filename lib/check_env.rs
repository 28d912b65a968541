//! `atoms check-env`: validates an environment the way a pre-deploy step would.
//!
//! Reports every malformed and missing variable for the chosen target, naming variables and the
//! expected shape only — never a value.

use crate::config::{Config, Problem, Target, check_complete, derive_target};

/// The verdict on one environment.
pub struct EnvReport {
    /// The target checked: the one the process would really run as (see
    /// [`Config::target`]), raised to `--target` when that asks for more.
    pub target: Target,
    /// `--target`, when it asked for less than the environment makes the process run as.
    pub overridden: Option<Target>,
    pub problems: Vec<Problem>,
    /// What was found, for the summary (backend names, not values).
    pub summary: Vec<(&'static str, String)>,
}

impl EnvReport {
    pub fn is_complete(&self) -> bool {
        self.problems.is_empty()
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(requested) = self.overridden {
            out.push_str(&format!(
                "note: --target {} was asked for, but this environment runs as {} \
                 (VERCEL_ENV or AWS Lambda decide, not ATOMS_ENV)\n",
                requested.as_str(),
                self.target.as_str()
            ));
        }
        if self.is_complete() {
            out.push_str(&format!("environment is complete for target {}\n", self.target.as_str()));
            for (name, value) in &self.summary {
                out.push_str(&format!("  {name}: {value}\n"));
            }
        } else {
            out.push_str(&format!(
                "environment is not ready for target {} ({} problem{}):\n",
                self.target.as_str(),
                self.problems.len(),
                if self.problems.len() == 1 { "" } else { "s" }
            ));
            for problem in &self.problems {
                out.push_str(&format!("  - {problem}\n"));
            }
        }
        out
    }
}

/// Checks the environment seen through `lookup` for the target the process would really run as
/// (see [`Config::target`]), or for `requested` when that is more demanding.
pub fn check(lookup: &dyn Fn(&str) -> Option<String>, requested: Option<Target>) -> EnvReport {
    let derived = derive_target(lookup);
    let target = derived.max(requested.unwrap_or(Target::Local));
    let overridden = requested.filter(|requested| *requested < derived);
    match Config::read(lookup, Some(target)) {
        Err(problems) => EnvReport { target, overridden, problems, summary: Vec::new() },
        Ok(config) => {
            let problems = check_complete(&config, config.target);
            let database = match (&config.database.database_url, &config.database.supabase) {
                (Some(_), _) => "direct postgres (DATABASE_URL)",
                (None, Some(supabase)) => match supabase.identity {
                    crate::config::PostgrestIdentity::Mint { .. } => "supabase postgrest, minted tokens",
                    crate::config::PostgrestIdentity::Forward => {
                        "supabase postgrest, forwarded caller tokens"
                    }
                },
                (None, None) => "not configured",
            };
            let kv = match config.kv.backend {
                crate::config::KvBackend::Memory => "memory",
                crate::config::KvBackend::Redis { .. } => "redis",
                crate::config::KvBackend::Upstash { .. } => "upstash rest",
            };
            let summary = vec![
                (
                    "public url",
                    config.http.public_url.as_ref().map_or("not set".to_owned(), |u| u.to_string()),
                ),
                ("mcp path", config.http.mcp_path.clone()),
                ("database", database.to_owned()),
                ("kv", kv.to_owned()),
                (
                    "authkit",
                    config.auth.authkit_domain.clone().unwrap_or_else(|| "not configured".to_owned()),
                ),
                ("auth mode", config.auth.mode.as_str().to_owned()),
                (
                    "token audiences",
                    match crate::auth::verify::resource_urls(&config) {
                        urls if urls.is_empty() => "none (no PUBLIC_URL)".to_owned(),
                        urls => urls.join(", "),
                    },
                ),
                (
                    "browser sign-in",
                    match crate::auth::signin::readiness(&config) {
                        Ok(origin) => format!("ready (WorkOS redirect URI {origin}/auth/callback)"),
                        Err(missing) => format!("not configured (missing {missing})"),
                    },
                ),
                (
                    "workos webhooks",
                    match config.auth.workos.webhook_secret {
                        Some(_) => "signed deliveries accepted at /auth/webhooks/workos".to_owned(),
                        None => "not configured (WORKOS_WEBHOOK_SECRET)".to_owned(),
                    },
                ),
                ("trace export", trace_export(&config)),
                (
                    "alert cron",
                    match config.observability.cron_secret {
                        Some(_) => "CRON_SECRET accepted for /api/metrics?evaluate".to_owned(),
                        None => "no CRON_SECRET (Vercel's cron is refused)".to_owned(),
                    },
                ),
            ];
            EnvReport { target: config.target, overridden, problems, summary }
        }
    }
}

/// Where spans go (scheme, host and path only: never userinfo, and never the headers' values).
fn trace_export(config: &Config) -> String {
    match &config.observability.traces {
        None => "off (OTEL_EXPORTER_OTLP_ENDPOINT not set)".to_owned(),
        Some(traces) => format!(
            "OTLP/HTTP JSON to {}://{}{}{} as {}, {} header(s), timeout {} ms",
            traces.url.scheme(),
            traces.url.host_str().unwrap_or_default(),
            traces.url.port().map(|port| format!(":{port}")).unwrap_or_default(),
            traces.url.path(),
            traces.service_name,
            traces.headers.len(),
            traces.timeout.as_millis()
        ),
    }
}
