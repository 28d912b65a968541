//! Reads environment variables (with aliases) and collects every problem instead of stopping at
//! the first, so an operator fixes a broken environment in one pass.
//!
//! A problem names the variable and what it should look like; it never repeats the value, which
//! may be a secret.

use std::fmt;
use std::str::FromStr;

use tracing::level_filters::LevelFilter;

use crate::secret::Secret;

/// What is wrong with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The canonical variable name (aliases are mentioned in `expected` when useful).
    pub variable: String,
    pub kind: ProblemKind,
    /// What a valid value looks like, e.g. `an https URL such as https://atoms.example.com`.
    pub expected: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    Missing,
    Malformed,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ProblemKind::Missing => "is missing",
            ProblemKind::Malformed => "is malformed",
        };
        write!(f, "{} {what}: expected {}", self.variable, self.expected)
    }
}

/// A view of the process environment (or of a test's map) that remembers what went wrong.
pub(crate) struct EnvReader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) problems: Vec<Problem>,
}

impl<'a> EnvReader<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup, problems: Vec::new() }
    }

    /// The first of `names` that is set to a non-blank value: the canonical name comes first,
    /// then its aliases.
    pub(crate) fn string(&self, names: &[&str]) -> Option<String> {
        self.named(names).map(|(_, value)| value)
    }

    /// Like [`Self::string`], with the name that was actually set (a problem names that one).
    pub(crate) fn named<'n>(&self, names: &[&'n str]) -> Option<(&'n str, String)> {
        names.iter().find_map(|name| {
            (self.lookup)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).map(|v| (*name, v))
        })
    }

    pub(crate) fn secret(&self, names: &[&str]) -> Option<Secret> {
        self.string(names).map(Secret::new)
    }

    /// Parses the variable with `FromStr`; an unparsable value is recorded as malformed and
    /// `default` is returned so reading can go on.
    pub(crate) fn parsed<T: FromStr>(&mut self, names: &[&str], default: T, expected: &str) -> T {
        match self.named(names) {
            None => default,
            Some((name, raw)) => raw.parse().unwrap_or_else(|_| {
                self.malformed(name, expected);
                default
            }),
        }
    }

    /// A positive integer within `1..=max`.
    pub(crate) fn positive(&mut self, names: &[&str], default: u64, max: u64) -> u64 {
        let expected = format!("a whole number between 1 and {max}");
        let value = self.parsed(names, default, &expected);
        if value == 0 || value > max {
            let name = self.named(names).map_or(names[0], |(name, _)| name);
            self.malformed(name, &expected);
            return default;
        }
        value
    }

    pub(crate) fn boolean(&mut self, names: &[&str], default: bool) -> bool {
        match self.named(names).map(|(name, v)| (name, v.to_ascii_lowercase())) {
            None => default,
            Some((_, v)) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => true,
            Some((_, v)) if matches!(v.as_str(), "0" | "false" | "no" | "off") => false,
            Some((name, _)) => {
                self.malformed(name, "true or false");
                default
            }
        }
    }

    /// An absolute http(s) URL without query or fragment; trailing slashes are dropped.
    pub(crate) fn url(&mut self, names: &[&str], expected: &str) -> Option<reqwest::Url> {
        let (name, raw) = self.named(names)?;
        match reqwest::Url::parse(raw.trim_end_matches('/')) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.host_str().is_some()
                    && url.query().is_none()
                    && url.fragment().is_none() =>
            {
                Some(url)
            }
            _ => {
                self.malformed(name, expected);
                None
            }
        }
    }

    pub(crate) fn missing(&mut self, variable: &str, expected: &str) {
        self.push(variable, ProblemKind::Missing, expected);
    }

    pub(crate) fn malformed(&mut self, variable: &str, expected: &str) {
        self.push(variable, ProblemKind::Malformed, expected);
    }

    fn push(&mut self, variable: &str, kind: ProblemKind, expected: &str) {
        self.problems.push(Problem { variable: variable.to_owned(), kind, expected: expected.to_owned() });
    }
}

/// Routes the MCP path must stay clear of (mounting over them panics while building the router).
const OTHER_ROUTES: [&str; 2] = ["/health", "/api/health"];

/// An absolute path of plain segments (no empty, `.` or `..` segment) that is not, and is not
/// under, another route.
pub(super) fn is_mcp_path(path: &str) -> bool {
    let segments_ok = path.strip_prefix('/').is_some_and(|rest| {
        rest.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
    });
    let taken = OTHER_ROUTES
        .iter()
        .any(|route| path.strip_prefix(route).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')));
    segments_ok && !taken
}

/// A level (`debug`), or the level `RUST_LOG`-style directives (`atoms=debug,hyper=warn`) give
/// this crate: its own directive, else a bare level among them, else the default.
pub(super) fn level_of(raw: &str) -> Option<LevelFilter> {
    if let Ok(level) = raw.parse() {
        return Some(level);
    }
    let mut own = None;
    let mut bare = None;
    for directive in raw.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match directive.split_once('=') {
            Some((target, level)) => {
                let level: LevelFilter = level.trim().parse().ok()?;
                let target = target.trim();
                if target == "atoms" || target.starts_with("atoms::") {
                    own = Some(own.map_or(level, |l: LevelFilter| l.max(level)));
                }
            }
            None => bare = Some(directive.parse::<LevelFilter>().ok()?),
        }
    }
    Some(own.or(bare).unwrap_or(LevelFilter::INFO))
}
