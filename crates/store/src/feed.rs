//! The feed that keeps engines current: a consistent description of the whole access model
//! at start-up, then the change log's effects in revision order.

use sqlx::Row;
use warden_model::{
    ApiKeyId, Effect, OrgId, PolicyId, Principal, ProjectId, RoleId, Scope, ScopeKind, TeamId,
    UserId,
};

use crate::catalog_rows::{opt_uuid_col, uuid_col};
use crate::{Backend, Store, StoreError};

/// One change-log entry as an engine needs it.
#[derive(Debug, Clone)]
pub struct ChangeEntry {
    pub revision: u64,
    pub effects: Vec<Effect>,
}

fn scope_of(row: &sqlx::any::AnyRow) -> Result<Scope, StoreError> {
    Ok(Scope {
        org_id: OrgId(uuid_col(row, "org_id")?),
        project_id: opt_uuid_col(row, "project_id")?.map(ProjectId),
    })
}

impl Store {
    /// Change-log entries after `revision`, in order, at most `limit`.
    pub async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<Vec<ChangeEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT revision, effects FROM change_log WHERE revision > $1 ORDER BY revision LIMIT $2",
        )
        .bind(revision as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let rev: i64 = r.try_get("revision")?;
                let text: String = r.try_get("effects")?;
                let effects = serde_json::from_str(&text).map_err(|e| {
                    StoreError::Corrupt(format!("change {rev} has unreadable effects: {e}"))
                })?;
                Ok(ChangeEntry {
                    revision: rev as u64,
                    effects,
                })
            })
            .collect()
    }

    /// The whole access model as effects, with the revision it is consistent at. Read in
    /// one transaction, so that no write lands between two of its queries.
    pub async fn load(&self) -> Result<(u64, Vec<Effect>), StoreError> {
        let mut tx = self.begin_read().await?;
        let revision: i64 = sqlx::query("SELECT COALESCE(MAX(revision), 0) AS r FROM change_log")
            .fetch_one(&mut *tx)
            .await?
            .try_get("r")?;
        let mut effects = Vec::new();
        for r in sqlx::query("SELECT id FROM orgs")
            .fetch_all(&mut *tx)
            .await?
        {
            effects.push(Effect::PutOrg {
                org_id: OrgId(uuid_col(&r, "id")?),
            });
        }
        for r in sqlx::query("SELECT id, org_id, restricted FROM projects")
            .fetch_all(&mut *tx)
            .await?
        {
            effects.push(Effect::PutProject {
                project_id: ProjectId(uuid_col(&r, "id")?),
                org_id: OrgId(uuid_col(&r, "org_id")?),
                restricted: r.try_get::<i64, _>("restricted")? != 0,
            });
        }
        let perm_rows = sqlx::query("SELECT policy_id, permission FROM policy_permissions")
            .fetch_all(&mut *tx)
            .await?;
        let mut policy_perms: std::collections::HashMap<String, Vec<String>> = Default::default();
        for r in &perm_rows {
            policy_perms
                .entry(r.try_get("policy_id")?)
                .or_default()
                .push(r.try_get("permission")?);
        }
        for r in sqlx::query("SELECT id, org_id, project_id, predefined_key FROM policies")
            .fetch_all(&mut *tx)
            .await?
        {
            let scope = scope_of(&r)?;
            let id: String = r.try_get("id")?;
            let predefined: Option<String> = r.try_get("predefined_key")?;
            let permissions = match predefined {
                Some(k) => self
                    .catalogue
                    .scope(scope.kind())
                    .policy(&k)
                    .map(|p| p.permissions.clone())
                    .unwrap_or_default(),
                None => policy_perms.remove(&id).unwrap_or_default(),
            };
            effects.push(Effect::PutPolicy {
                policy_id: PolicyId(uuid_col(&r, "id")?),
                scope,
                permissions,
            });
        }
        let mut role_perms: std::collections::HashMap<String, Vec<String>> = Default::default();
        for r in sqlx::query("SELECT role_id, permission FROM role_permissions")
            .fetch_all(&mut *tx)
            .await?
        {
            role_perms
                .entry(r.try_get("role_id")?)
                .or_default()
                .push(r.try_get("permission")?);
        }
        let mut role_policies: std::collections::HashMap<String, Vec<PolicyId>> =
            Default::default();
        for r in
            sqlx::query("SELECT role_id, policy_id FROM role_policies ORDER BY role_id, position")
                .fetch_all(&mut *tx)
                .await?
        {
            role_policies
                .entry(r.try_get("role_id")?)
                .or_default()
                .push(PolicyId(uuid_col(&r, "policy_id")?));
        }
        for r in sqlx::query("SELECT id, org_id, project_id, predefined_key FROM roles")
            .fetch_all(&mut *tx)
            .await?
        {
            let scope = scope_of(&r)?;
            let id: String = r.try_get("id")?;
            let predefined: Option<String> = r.try_get("predefined_key")?;
            let kind: ScopeKind = scope.kind();
            let permissions = match &predefined {
                Some(k) => self
                    .catalogue
                    .scope(kind)
                    .role(k)
                    .map(|p| p.permissions.clone())
                    .unwrap_or_default(),
                None => role_perms.remove(&id).unwrap_or_default(),
            };
            effects.push(Effect::PutRole {
                role_id: RoleId(uuid_col(&r, "id")?),
                scope,
                predefined,
                permissions,
                policy_ids: role_policies.remove(&id).unwrap_or_default(),
            });
        }
        for r in sqlx::query("SELECT id, org_id FROM teams")
            .fetch_all(&mut *tx)
            .await?
        {
            effects.push(Effect::PutTeam {
                team_id: TeamId(uuid_col(&r, "id")?),
                org_id: OrgId(uuid_col(&r, "org_id")?),
            });
        }
        for r in sqlx::query("SELECT team_id, user_id FROM team_users")
            .fetch_all(&mut *tx)
            .await?
        {
            effects.push(Effect::PutTeamUser {
                team_id: TeamId(uuid_col(&r, "team_id")?),
                user_id: UserId(uuid_col(&r, "user_id")?),
            });
        }
        for r in sqlx::query("SELECT id, org_id, project_id, valid FROM api_keys")
            .fetch_all(&mut *tx)
            .await?
        {
            effects.push(Effect::PutApiKey {
                api_key_id: ApiKeyId(uuid_col(&r, "id")?),
                scope: scope_of(&r)?,
                valid: r.try_get::<i64, _>("valid")? != 0,
            });
        }
        for r in sqlx::query(
            "SELECT org_id, project_id, principal_type, principal_id, role_id FROM memberships",
        )
        .fetch_all(&mut *tx)
        .await?
        {
            let kind: String = r.try_get("principal_type")?;
            let Some(principal) = Principal::from_parts(&kind, uuid_col(&r, "principal_id")?)
            else {
                return Err(StoreError::Corrupt(format!(
                    "membership of unknown principal type `{kind}`"
                )));
            };
            effects.push(Effect::PutMembership {
                scope: scope_of(&r)?,
                principal,
                role_id: RoleId(uuid_col(&r, "role_id")?),
            });
        }
        tx.commit().await?;
        Ok((revision.max(0) as u64, effects))
    }
}

/// Hears about every write committed on the database, by any instance (PostgreSQL's
/// LISTEN/NOTIFY on [`crate::CHANGES_CHANNEL`]). A wake-up call, not a feed: notifications
/// can be lost (while the connection is down, for one), so a follower still reads the
/// change log itself and still polls it now and then.
pub struct ChangeListener {
    inner: sqlx::postgres::PgListener,
}

/// What a [`ChangeListener`] heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// A write committed at this revision.
    Committed(u64),
    /// The connection was lost (and is being re-established): whatever was committed
    /// meanwhile was not heard of.
    Missed,
}

impl ChangeListener {
    /// Waits for the next notification.
    pub async fn next(&mut self) -> Result<Heard, StoreError> {
        Ok(match self.inner.try_recv().await? {
            Some(n) => match n.payload().parse::<u64>() {
                Ok(revision) => Heard::Committed(revision),
                // Not ours, or not as we write it: treat it as "something changed".
                Err(_) => Heard::Missed,
            },
            None => Heard::Missed,
        })
    }
}

impl Store {
    /// A listener for the writes committed on this database, on PostgreSQL; `None` on
    /// SQLite, where only this process and `warden bootstrap` write and followers poll.
    pub async fn listen(&self) -> Result<Option<ChangeListener>, StoreError> {
        match self.backend {
            Backend::Sqlite => Ok(None),
            Backend::Postgres => {
                let mut inner = sqlx::postgres::PgListener::connect(&self.url).await?;
                inner.listen(crate::CHANGES_CHANNEL).await?;
                Ok(Some(ChangeListener { inner }))
            }
        }
    }
}
