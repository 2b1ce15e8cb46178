//! Warden's storage: one SQL schema, its migrations, and the change log.
//!
//! Every write is one transaction that changes the rows and appends exactly one change-log
//! entry; the entry's number is the write's revision. The change log is at once the audit
//! log (`before`/`after` documents), the feed that keeps every engine current (`effects`)
//! and the source of revision numbers.
//!
//! SQLite is the embedded default: WAL, `synchronous=FULL` (an acknowledged write survives
//! a crash of the process and of the machine), foreign keys on. Writes go through a pool of
//! exactly one connection, which serializes them in the process so that revision order is
//! commit order and no transaction ever has to upgrade a read lock; reads use their own pool
//! and never wait on a writer (WAL).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
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

pub use access::{parse_email, BootstrapResult};
pub use api_keys::{KeyPatch, KeyRecord};
pub use audit::{AuditEvent, AuditFilter};
pub use error::StoreError;
pub use feed::ChangeEntry;
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
    read: SqlitePool,
    write: SqlitePool,
    catalogue: Arc<Catalogue>,
}

type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

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

/// The current time as stored: UTC, RFC 3339.
pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    ///
    /// `url` is `sqlite://PATH`, `sqlite:PATH` or a plain file path.
    pub async fn open(url: &str, catalogue: Arc<Catalogue>) -> Result<Self, StoreError> {
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite://{url}")
        };
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            read,
            write,
            catalogue,
        })
    }

    /// The catalogue this store resolves predefined roles and policies with.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.read).await.is_ok()
    }

    /// The last committed revision (0 for an empty database).
    pub async fn revision(&self) -> Result<u64, StoreError> {
        let rev: i64 = sqlx::query("SELECT COALESCE(MAX(revision), 0) AS r FROM change_log")
            .fetch_one(&self.read)
            .await?
            .try_get("r")?;
        Ok(rev.max(0) as u64)
    }

    /// Starts a write transaction. `BEGIN IMMEDIATE` takes the write lock at once, so that a
    /// writer in another process (`warden bootstrap`, a second store on the same file) makes
    /// this one wait (busy timeout) instead of failing when its read would have to upgrade.
    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
