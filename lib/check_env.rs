//! `atoms check-env`: validates an environment the way a pre-deploy step would.
//!
//! Reports every malformed and missing variable for the chosen target, naming variables and the
//! expected shape only — never a value.

use crate::config::{Config, Problem, Target, check_complete};

/// The verdict on one environment.
pub struct EnvReport {
    pub target: Target,
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

/// Checks the environment seen through `lookup` for `target` (default: the target the
/// environment itself names, see [`Config`]).
pub fn check(lookup: &dyn Fn(&str) -> Option<String>, target: Option<Target>) -> EnvReport {
    match Config::read(lookup, target) {
        Err(problems) => {
            let target = target.unwrap_or(Target::Local);
            EnvReport { target, problems, summary: Vec::new() }
        }
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
            ];
            EnvReport { target: config.target, problems, summary }
        }
    }
}
