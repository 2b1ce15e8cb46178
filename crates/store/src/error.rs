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
    /// The catalogue in force lacks permissions or predefined roles and policies that the
    /// database's organizations use (it is not the one they were made with).
    #[error(
        "the catalogue `{catalogue}` lacks what this database's organizations use: {}{}; \
         start with the catalogue the database was made with (--catalog), or one that keeps these",
        .missing.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
        if .missing.len() > 5 { format!(" ({} in all)", .missing.len()) } else { String::new() }
    )]
    WrongCatalogue {
        catalogue: String,
        missing: Vec<String>,
    },
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

    /// Whether the database itself is unavailable (as opposed to a rule being broken): it
    /// cannot be reached, the connection broke, the server is shutting down or refuses
    /// connections, or a write waited too long for the write lock (PostgreSQL's
    /// `lock_not_available`, after `lock_timeout`).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::WorkerCrashed,
            ) => true,
            StoreError::Database(sqlx::Error::Database(e)) => {
                e.code().as_deref().is_some_and(unavailable_sqlstate)
            }
            _ => false,
        }
    }
}

/// SQLSTATEs that mean "the database is not there right now", not "the request is wrong":
/// class 08 (connection exception), 57P01-57P03 (shutting down, crashed, starting up),
/// 53300 (too many connections) and 55P03 (lock not available in time); on SQLite, the
/// file stayed locked past the busy timeout (`SQLITE_BUSY` and its extended codes).
fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "55P03" | "5" | "261" | "517" | "773"
        )
}
