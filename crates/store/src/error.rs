//! The store's error: what went wrong, in words a client can act on.

use serde_json::Value;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing does not exist (or belongs to another org, which must look the same).
    #[error("{kind} `{id}` not found")]
    NotFound { kind: &'static str, id: String },
    /// The write collides with the current state (duplicate name, dependants, ...).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Value,
    },
    /// The write refers to things that cannot be used (unknown ids, another scope, ...).
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        details: Value,
    },
    /// The caller may not do this, whatever its permissions (ownership rules).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// `If-Match` named a version that is no longer current.
    #[error("the object is at version {actual}, not {expected}: fetch it again and retry")]
    VersionMismatch { expected: i64, actual: i64 },
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back.
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub(crate) fn not_found(kind: &'static str, id: impl ToString) -> Self {
        StoreError::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>, details: Value) -> Self {
        StoreError::Conflict {
            code,
            message: message.into(),
            details,
        }
    }

    pub(crate) fn unprocessable(
        code: &'static str,
        message: impl Into<String>,
        details: Value,
    ) -> Self {
        StoreError::Unprocessable {
            code,
            message: message.into(),
            details,
        }
    }

    /// Whether the database itself is unavailable (as opposed to a rule being broken),
    /// including a write that waited too long for the write lock (PostgreSQL's
    /// `lock_not_available`, after `lock_timeout`).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::WorkerCrashed,
            ) => true,
            StoreError::Database(sqlx::Error::Database(e)) => e.code().as_deref() == Some("55P03"),
            _ => false,
        }
    }
}
