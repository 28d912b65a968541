//! Database errors, one enum for both adapters, with the stable codes MCP tool results carry.
//!
//! The domain functions raise SQLSTATEs `PT400`…`PT412` (PostgREST turns `PTxyz` into HTTP
//! status xyz) with the stable code in DETAIL; constraint and system errors are mapped by class.

/// A failed database call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// The statement timeout or the request timeout elapsed.
    #[error("the database did not answer in time")]
    Timeout,
    /// Cannot reach the database (connection refused, pool exhausted, PostgREST 5xx).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a schema mismatch. The message is for logs, not for callers.
    #[error("database error: {0}")]
    Internal(String),
}

impl DbError {
    /// The stable, machine-readable code (MCP tool results, logs, metrics).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::InvalidArgument(_) => "invalid_argument",
            Self::PermissionDenied(_) => "permission_denied",
            Self::Conflict(_) => "conflict",
            Self::FailedPrecondition(_) => "failed_precondition",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Timeout => "timeout",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// Maps a SQLSTATE and its message to an error. Our functions' own `PTxyz` messages pass
    /// through; for Postgres' own data, constraint and privilege errors the caller gets our
    /// message instead, because Postgres' text names schema objects and echoes input values
    /// (`invalid input syntax for type uuid: "alice@example.com"`). That raw text is logged at
    /// debug level only: it may hold the caller's data.
    pub fn from_sqlstate(code: &str, message: &str) -> Self {
        let ours = match code {
            "PT400" => return Self::InvalidArgument(message.to_owned()),
            "PT401" => return Self::Unauthenticated(message.to_owned()),
            "PT403" => return Self::PermissionDenied(message.to_owned()),
            "PT404" => return Self::NotFound(message.to_owned()),
            "PT409" => return Self::Conflict(message.to_owned()),
            "PT412" => return Self::FailedPrecondition(message.to_owned()),
            "57014" => return Self::Timeout,
            _ => public_message(code),
        };
        let Some((kind, public)) = ours else {
            return if code.starts_with("08") || code.starts_with("53") || code.starts_with("57") {
                Self::Unavailable(message.to_owned())
            } else {
                Self::Internal(format!("{code}: {message}"))
            };
        };
        tracing::warn!(sqlstate = code, "the database refused the call: {public}");
        tracing::debug!(sqlstate = code, raw = message, "the database's own message");
        kind(public.to_owned())
    }
}

/// Builds a [`DbError`] variant from a message.
type Variant = fn(String) -> DbError;

/// Our error and message for a Postgres SQLSTATE whose own message must not reach callers.
fn public_message(code: &str) -> Option<(Variant, &'static str)> {
    Some(match code {
        // unique violation; serialization failure and deadlock (safe to retry)
        "23505" => (DbError::Conflict, "a record with the same unique value already exists"),
        "40001" | "40P01" => (DbError::Conflict, "the operation collided with a concurrent one; retry it"),
        // insufficient privilege, including "new row violates row-level security policy"
        "42501" => (DbError::PermissionDenied, "permission denied"),
        _ if code.starts_with("22") => {
            (DbError::InvalidArgument, "an argument has an invalid value or format; check the arguments")
        }
        _ if code.starts_with("23") => {
            (DbError::InvalidArgument, "an argument violates a data constraint; check the arguments")
        }
        _ => return None,
    })
}
