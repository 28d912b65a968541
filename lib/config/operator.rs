//! The operator commands' own credentials (`atoms smoke`), read from the environment so that
//! they never appear in a process's arguments (`ps` shows those to every user of the machine).
//! Deployed functions never read these.

use super::reader::EnvReader;
use crate::secret::Secret;

/// What `atoms smoke` may present to the deployment under test.
#[derive(Debug, Clone, Default)]
pub struct SmokeCredentials {
    /// `ATOMS_SMOKE_TOKEN`: a bearer token for the MCP route (enables `tools/list` and the
    /// read-only tool call). `atoms smoke --token` still works and wins; the variable keeps the
    /// token out of `ps`.
    pub token: Option<Secret>,
    /// `VERCEL_AUTOMATION_BYPASS_SECRET` (Vercel's name for the project's "Protection Bypass for
    /// Automation" secret): sent as `x-vercel-protection-bypass` to the deployment's own origin,
    /// so smoke tests pass Vercel Deployment Protection on a protected preview.
    pub protection_bypass: Option<Secret>,
}

impl SmokeCredentials {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads through `lookup` (blank values count as unset).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let env = EnvReader::new(lookup);
        Self {
            token: env.secret(&["ATOMS_SMOKE_TOKEN"]),
            protection_bypass: env.secret(&["VERCEL_AUTOMATION_BYPASS_SECRET"]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_credentials_come_from_the_environment_and_blank_means_unset() {
        let credentials = SmokeCredentials::from_lookup(&|name| match name {
            "ATOMS_SMOKE_TOKEN" => Some("tok".to_owned()),
            "VERCEL_AUTOMATION_BYPASS_SECRET" => Some("  ".to_owned()),
            _ => None,
        });
        assert_eq!(credentials.token.as_ref().map(Secret::expose), Some("tok"));
        assert!(credentials.protection_bypass.is_none());
    }
}
