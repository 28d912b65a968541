//! What a deployment target needs before it may serve real users.
//!
//! Format errors are found while reading; this module adds the *missing* pieces per target. It is
//! shared by function start-up, `atoms serve` on a public interface and `atoms check-env`.

use super::{AuthMode, Config, KvBackend, Problem, ProblemKind, Target};

/// Every variable `target` requires that `config` lacks. Empty means complete.
pub fn check_complete(config: &Config, target: Target) -> Vec<Problem> {
    let mut missing = Vec::new();
    let mut need = |variable: &str, expected: &str| {
        missing.push(Problem {
            variable: variable.to_owned(),
            kind: ProblemKind::Missing,
            expected: expected.to_owned(),
        });
    };
    if target == Target::Local {
        return missing;
    }
    match (&config.http.public_url, target) {
        (Some(url), Target::Production) if url.scheme() != "https" => {
            // Reported as missing an https URL: production must never advertise plain http.
            need("PUBLIC_URL", "an https URL such as https://atoms.example.com (production)");
        }
        (None, Target::Production) => {
            need("PUBLIC_URL", "the public origin, e.g. https://atoms.example.com");
        }
        (None, _) if config.platform.deployment_hosts.is_empty() => {
            need("PUBLIC_URL", "the public origin (or VERCEL_URL, which Vercel sets on previews)");
        }
        _ => {}
    }
    match config.auth.mode {
        // A local-mode configuration asked about a public target (`atoms serve --host`,
        // `check-env --target`) needs what the default mode of that target, AuthKit, needs.
        AuthMode::AuthKit | AuthMode::Local => {
            if config.auth.authkit_url.is_none() {
                need("AUTHKIT_DOMAIN", "the AuthKit host, e.g. acme.authkit.app");
            }
            if config.auth.workos.client_id.is_none() {
                need("WORKOS_CLIENT_ID", "the WorkOS client id (client_…) of the AuthKit environment");
            }
            if config.auth.workos.api_key.is_none() {
                need("WORKOS_API_KEY", "the WorkOS API key (sk_…) for the browser sign-in flow");
            }
            if config.auth.session_key.is_none() {
                need("ATOMS_SESSION_KEY", "32 random bytes, base64 (openssl rand -base64 32)");
            }
        }
        AuthMode::Supabase => {
            if config.auth.supabase_url.is_none() {
                need("SUPABASE_URL", "the Supabase project whose Auth issues the tokens (supabase mode)");
            }
        }
    }
    if config.database.supabase.is_none() && config.database.database_url.is_none() {
        need("SUPABASE_URL", "SUPABASE_URL with SUPABASE_ANON_KEY (or DATABASE_URL for direct Postgres)");
    }
    if matches!(config.kv.backend, KvBackend::Memory) {
        need(
            "KV_REST_API_URL",
            "KV_REST_API_URL with KV_REST_API_TOKEN (or REDIS_URL): sessions must be shared by every instance",
        );
    }
    missing
}
