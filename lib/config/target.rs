//! The target a process runs as (`local`, `preview`, `production`), derived once from the
//! environment. The platform's word wins over `ATOMS_ENV`: a Vercel deployment or an AWS Lambda
//! is never `local`, and neither is a non-loopback listener ([`Target::for_bind`]).

use super::reader::EnvReader;

/// Where a configuration is meant to run; decides which variables are required. Ordered from
/// the least to the most demanding, so "at least production" is `max(target, Production)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Target {
    /// `atoms serve` on a developer machine: nothing is required.
    Local,
    /// A Vercel preview deployment: real auth, database and shared KV; URL may come from Vercel.
    Preview,
    /// The production deployment: everything required, `PUBLIC_URL` must be https.
    Production,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Preview => "preview",
            Self::Production => "production",
        }
    }

    /// The target of a process listening on an interface: a non-loopback bind is never local
    /// (the embedded defaults and the local identity must not face a network).
    pub fn for_bind(self, loopback: bool) -> Self {
        if loopback || self != Self::Local { self } else { Self::Production }
    }
}

/// The target the process runs as, whatever the environment asks for: the platform wins.
pub fn derive_target(lookup: &dyn Fn(&str) -> Option<String>) -> Target {
    read_target(&mut EnvReader::new(lookup))
}

pub(super) fn read_target(env: &mut EnvReader<'_>) -> Target {
    let requested = env.string(&["ATOMS_ENV"]).map(|raw| match raw.to_ascii_lowercase().as_str() {
        "local" | "development" => Target::Local,
        "preview" => Target::Preview,
        "production" => Target::Production,
        _ => {
            env.malformed("ATOMS_ENV", "local, preview or production");
            Target::Local
        }
    });
    let vercel = match env.string(&["VERCEL_ENV"]).as_deref() {
        Some("production") => Some(Target::Production),
        Some("preview") => Some(Target::Preview),
        _ => None,
    };
    let lambda = env.string(&["AWS_LAMBDA_FUNCTION_NAME"]).is_some();
    // What the platform says when nobody asks for more: a Vercel deployment's own environment,
    // and production on Lambda (nothing there is a developer's machine).
    let platform = vercel.or(lambda.then_some(Target::Production));
    match (requested, platform) {
        (None | Some(Target::Local), Some(platform)) => platform,
        (Some(requested), _) => requested.max(vercel.unwrap_or(Target::Local)),
        (None, None) => Target::Local,
    }
}
