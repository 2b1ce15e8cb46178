//! Warden's storage: one SQL schema, its migrations, and the change log.
//!
//! Every write is one transaction that changes the rows and appends exactly one change-log
//! entry; the entry's number is the write's revision. The change log is at once the audit
//! log (`before`/`after` documents), the feed that keeps every engine current (`effects`)
//! and the source of revision numbers.
//!
//! Two backends, chosen by the database URL, run the same SQL (written once, with `$1`-style
//! parameters that both accept) through sqlx's `Any` driver; each has its own migrations
//! (`migrations/sqlite`, `migrations/postgres`) for the same schema.
//!
//! - SQLite is the embedded default: WAL, `synchronous=FULL` (an acknowledged write
//!   survives a crash of the process and of the machine), foreign keys on. Writes go
//!   through a pool of exactly one connection and `BEGIN IMMEDIATE`, which serializes them
//!   so that revision order is commit order and no transaction ever has to upgrade a read
//!   lock; reads use their own pool and never wait on a writer (WAL).
//! - PostgreSQL (`postgres://...`) is for any number of instances sharing one database.
//!   Every write transaction first takes one transaction-scoped advisory lock, so that
//!   writers of every instance are serialized in the database: a transaction allocates its
//!   revision (last + 1) while holding it and releases it only once committed, so that
//!   revision order is commit order and the log has no gap. The commit notifies
//!   [`CHANGES_CHANNEL`] with the revision, for the instances that follow the log.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::AnyPool;
use sqlx::{Executor, Row};
use warden_model::{Catalogue, Effect, OrgId, ProjectId};

mod access;
mod api_keys;
mod audit;
mod catalog_rows;
mod error;
mod feed;
mod invitations;
mod keys;
mod members;
mod orgs;
mod page;
mod passwords;
mod policies;
mod records;
mod roles;
pub mod tables;
mod teams;
pub mod testing;

pub use access::{parse_email, BootstrapResult};
pub use api_keys::{KeyPatch, KeyRecord};
pub use audit::{AuditEvent, AuditFilter};
pub use error::StoreError;
pub use feed::{ChangeEntry, ChangeListener, Heard};
pub use invitations::{
    AcceptedInvitation, Arrival, CreatedInvitations, InvitationRecord, InvitationToken,
    IssuedInvitation, SkippedEmail, INVITATION_STATUSES,
};
pub use keys::{hash_secret, ApiKeyAuth, NewSecret};
pub use members::{MemberFilter, MemberRecord};
pub use page::{Page, Paged};
pub use records::*;
pub use teams::{
    derive_team_key, parse_team_key, NewTeam, TeamPatch, TeamRecord, TeamUserChange, TEAM_KEY_MAX,
};

/// A write's outcome: what was written and the revision it was committed at.
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub value: T,
    pub revision: u64,
}

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    catalogue: Arc<Catalogue>,
    /// The URL the store was opened with, for the connection that listens for changes.
    url: Arc<str>,
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names: `postgres://` or `postgresql://` is PostgreSQL,
    /// anything else SQLite (`sqlite://PATH`, `sqlite:PATH` or a plain file path).
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// The PostgreSQL channel every write notifies on commit, with its revision as payload.
pub const CHANGES_CHANNEL: &str = "warden_changes";

/// The key of the advisory lock that serializes writers on PostgreSQL ("warden" in ASCII).
const WRITE_LOCK: i64 = 0x7761_7264_656e;

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A change-log entry being written.
pub(crate) struct Change {
    pub actor: String,
    pub org_id: Option<OrgId>,
    pub project_id: Option<ProjectId>,
    pub action: &'static str,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub effects: Vec<Effect>,
}

pub(crate) fn doc<T: Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

/// What every SQLite connection is set to. The `Any` driver takes only what a URL says
/// (the file, the mode), so the rest is set here, on each new connection.
fn sqlite_pragmas(
    conn: &mut sqlx::AnyConnection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        conn.execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
        )
        .await
        .map(|_| ())
    })
}

/// How long a request waits for a PostgreSQL connection before it is answered 503. While
/// the database cannot be reached, sqlx keeps trying to connect for this long; it bounds
/// how long a write takes to fail when the database is gone.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// What every PostgreSQL write connection is set to: a writer waits at most this long for
/// the write lock (held by another instance's write), then fails as "unavailable" (503).
fn postgres_write_settings(
    conn: &mut sqlx::AnyConnection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
    Box::pin(async move { conn.execute("SET lock_timeout = '10s'").await.map(|_| ()) })
}

/// The current time as stored: UTC, RFC 3339.
pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    ///
    /// `url` is `postgres://...` (or `postgresql://...`) for PostgreSQL; otherwise SQLite:
    /// `sqlite://PATH`, `sqlite:PATH` or a plain file path.
    pub async fn open(url: &str, catalogue: Arc<Catalogue>) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        match Backend::of_url(url) {
            Backend::Sqlite => Self::open_sqlite(url, catalogue).await,
            Backend::Postgres => Self::open_postgres(url, catalogue).await,
        }
    }

    async fn open_sqlite(url: &str, catalogue: Arc<Catalogue>) -> Result<Self, StoreError> {
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite://{url}")
        };
        // Checked here so that a bad URL is reported as SQLite reports it.
        SqliteConnectOptions::from_str(&url)?;
        let with_mode = |mode: &str| {
            let sep = if url.contains('?') { '&' } else { '?' };
            AnyConnectOptions::from_str(&format!("{url}{sep}mode={mode}"))
        };
        let write = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(sqlite_pragmas)
            .connect_with(with_mode("rwc")?)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(sqlite_pragmas)
            .connect_with(with_mode("ro")?)
            .await?;
        let store = Self {
            read,
            write,
            backend: Backend::Sqlite,
            catalogue,
            url: url.into(),
        };
        store.check_catalogue().await?;
        Ok(store)
    }

    async fn open_postgres(url: &str, catalogue: Arc<Catalogue>) -> Result<Self, StoreError> {
        let options = AnyConnectOptions::from_str(url)?;
        // Writers queue on the advisory lock in the database, so a few connections suffice:
        // one at a time writes, the others wait there rather than in this process.
        let write = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
            .after_connect(postgres_write_settings)
            .connect_with(options.clone())
            .await?;
        // sqlx takes its own advisory lock while migrating, so instances starting together
        // apply each migration once.
        sqlx::migrate!("./migrations/postgres").run(&write).await?;
        let read = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        let store = Self {
            read,
            write,
            backend: Backend::Postgres,
            catalogue,
            url: url.into(),
        };
        store.check_catalogue().await?;
        Ok(store)
    }

    /// The database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The catalogue this store resolves predefined roles and policies with.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Whether the database answers within `within`.
    pub async fn ping(&self, within: Duration) -> bool {
        let ping = sqlx::query("SELECT 1").execute(&self.read);
        matches!(tokio::time::timeout(within, ping).await, Ok(Ok(_)))
    }

    /// The last committed revision (0 for an empty database).
    pub async fn revision(&self) -> Result<u64, StoreError> {
        let rev: i64 = sqlx::query("SELECT COALESCE(MAX(revision), 0) AS r FROM change_log")
            .fetch_one(&self.read)
            .await?
            .try_get("r")?;
        Ok(rev.max(0) as u64)
    }

    /// Starts a write transaction and takes the write lock at once, before anything is
    /// read, so that the rules it checks see every write committed before it.
    ///
    /// SQLite: `BEGIN IMMEDIATE`, so that a writer in another process (`warden bootstrap`, a
    /// second store on the same file) makes this one wait (busy timeout) instead of failing
    /// when its read would have to upgrade. PostgreSQL: the transaction-scoped advisory lock
    /// that every writer of every instance takes; it is released when the transaction ends.
    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        match self.backend {
            Backend::Sqlite => Ok(self.write.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => {
                let mut tx = self.write.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }

    /// Starts a read-only transaction whose statements all see one snapshot: SQLite's read
    /// transactions do (WAL); PostgreSQL's do at `REPEATABLE READ`, not at its default level.
    pub(crate) async fn begin_read(&self) -> Result<Tx, StoreError> {
        match self.backend {
            Backend::Sqlite => Ok(self.read.begin().await?),
            Backend::Postgres => Ok(self
                .read
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?),
        }
    }

    /// Appends the change-log entry and commits; returns the revision.
    pub(crate) async fn commit(&self, mut tx: Tx, change: Change) -> Result<u64, StoreError> {
        let revision: i64 =
            sqlx::query("SELECT COALESCE(MAX(revision), 0) + 1 AS r FROM change_log")
                .fetch_one(&mut *tx)
                .await?
                .try_get("r")?;
        let effects = serde_json::to_string(&change.effects)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO change_log (revision, at, actor, org_id, project_id, action, target, before, after, effects)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(revision)
        .bind(now())
        .bind(&change.actor)
        .bind(change.org_id.map(|o| o.to_string()))
        .bind(change.project_id.map(|p| p.to_string()))
        .bind(change.action)
        .bind(&change.target)
        .bind(change.before.map(|v| v.to_string()))
        .bind(change.after.map(|v| v.to_string()))
        .bind(effects)
        .execute(&mut *tx)
        .await?;
        if self.backend == Backend::Postgres {
            // Delivered to listeners when (and only if) the transaction commits.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANGES_CHANNEL)
                .bind(revision.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(revision as u64)
    }

    /// Closes the pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

#[cfg(test)]
mod tests;
