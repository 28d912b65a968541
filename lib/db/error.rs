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

    /// Maps a SQLSTATE and its message to an error.
    pub fn from_sqlstate(code: &str, message: &str) -> Self {
        let message = message.to_owned();
        match code {
            "PT400" => Self::InvalidArgument(message),
            "PT401" => Self::Unauthenticated(message),
            "PT403" => Self::PermissionDenied(message),
            "PT404" => Self::NotFound(message),
            "PT409" => Self::Conflict(message),
            "PT412" => Self::FailedPrecondition(message),
            // unique violation; serialization failure and deadlock (safe to retry)
            "23505" | "40001" | "40P01" => Self::Conflict(message),
            // insufficient privilege, including "new row violates row-level security policy"
            "42501" => Self::PermissionDenied(message),
            "57014" => Self::Timeout,
            _ if code.starts_with("22") || code.starts_with("23") => Self::InvalidArgument(message),
            _ if code.starts_with("08") || code.starts_with("53") || code.starts_with("57") => {
                Self::Unavailable(message)
            }
            _ => Self::Internal(format!("{code}: {message}")),
        }
    }
}
