//! API keys: org keys and project keys that hold a role of their own, and personal keys
//! that act as their user. The secret is returned once, at creation; only its hash and its
//! last characters are stored.

use serde_json::json;
use sqlx::Row;
use warden_model::{ApiKeyId, Effect, Name, OrgId, Principal, ProjectId, RoleId, Scope, UserId};

use crate::catalog_rows::{opt_uuid_col, uuid_col};
use crate::keys::NewSecret;
use crate::{doc, now, Change, Page, Paged, RoleRecord, Store, StoreError, Tx, Written};

/// An API key as listed: never its secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyRecord {
    pub id: ApiKeyId,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    /// For personal keys: the user the key acts as.
    pub user_id: Option<UserId>,
    pub name: String,
    /// The last 6 characters of the secret.
    pub last_chars: String,
    pub valid: bool,
    pub role_id: Option<RoleId>,
    pub role_name: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    pub version: i64,
}

impl KeyRecord {
    /// Where the key lives.
    pub fn scope(&self) -> Scope {
        Scope {
            org_id: self.org_id,
            project_id: self.project_id,
        }
    }
}

/// Changes to a key.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    pub name: Option<Name>,
    /// `false` invalidates the key; `true` makes it valid again.
    pub valid: Option<bool>,
}

const KEY_SELECT: &str = "SELECT k.id, k.org_id, k.project_id, k.user_id, k.name, k.last_chars, k.valid, k.created_by,
        k.created_at, k.updated_at, k.last_used_at, k.expires_at, k.version, m.role_id, r.name AS role_name
    FROM api_keys k
    LEFT JOIN memberships m ON m.principal_type = 'api_key' AND m.principal_id = k.id
        AND m.scope_id = COALESCE(k.project_id, k.org_id)
    LEFT JOIN roles r ON r.id = m.role_id";

fn key_from_row(row: &sqlx::any::AnyRow) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        id: ApiKeyId(uuid_col(row, "id")?),
        org_id: OrgId(uuid_col(row, "org_id")?),
        project_id: opt_uuid_col(row, "project_id")?.map(ProjectId),
        user_id: opt_uuid_col(row, "user_id")?.map(UserId),
        name: row.try_get("name")?,
        last_chars: row.try_get("last_chars")?,
        valid: row.try_get::<i64, _>("valid")? != 0,
        role_id: opt_uuid_col(row, "role_id")?.map(RoleId),
        role_name: row.try_get("role_name")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_used_at: row.try_get("last_used_at")?,
        expires_at: row.try_get("expires_at")?,
        version: row.try_get("version")?,
    })
}

impl Store {
    /// The API keys of a scope (role keys; personal keys are listed by their user).
    pub async fn list_api_keys(
        &self,
        scope: Scope,
        page: Page,
    ) -> Result<Paged<KeyRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "{KEY_SELECT} WHERE k.org_id = $1 AND COALESCE(k.project_id, '') = $2 AND k.user_id IS NULL AND k.id > $3
             ORDER BY k.id LIMIT $4"
        ))
        .bind(scope.org_id.to_string())
        .bind(scope.project_id.map(|p| p.to_string()).unwrap_or_default())
        .bind(page.after_str())
        .bind(page.fetch())
        .fetch_all(&self.read)
        .await?;
        let items = rows
            .iter()
            .map(key_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish(items, |k| k.id.0))
    }

    /// One API key of a scope.
    pub async fn get_api_key(&self, scope: Scope, id: ApiKeyId) -> Result<KeyRecord, StoreError> {
        let row = sqlx::query(&format!(
            "{KEY_SELECT} WHERE k.id = $1 AND k.org_id = $2 AND COALESCE(k.project_id, '') = $3 AND k.user_id IS NULL"
        ))
        .bind(id.to_string())
        .bind(scope.org_id.to_string())
        .bind(scope.project_id.map(|p| p.to_string()).unwrap_or_default())
        .fetch_optional(&self.read)
        .await?
        .ok_or_else(|| StoreError::not_found("API key", id))?;
        key_from_row(&row)
    }

    async fn key_in_tx(&self, tx: &mut Tx, id: ApiKeyId) -> Result<KeyRecord, StoreError> {
        let row = sqlx::query(&format!("{KEY_SELECT} WHERE k.id = $1"))
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::not_found("API key", id))?;
        key_from_row(&row)
    }

    /// Creates a key holding `role` in `scope`; returns the record and the secret (once).
    pub async fn create_api_key(
        &self,
        actor: &str,
        scope: Scope,
        name: &Name,
        role: &RoleRecord,
        expires_at: Option<String>,
    ) -> Result<Written<(KeyRecord, String)>, StoreError> {
        if role.scope() != scope {
            return Err(StoreError::unprocessable(
                "unknown_role",
                format!(
                    "role `{}` is not a role of this {}",
                    role.name,
                    scope.kind().noun()
                ),
                json!({"field": "role_id"}),
            ));
        }
        let mut tx = self.begin().await?;
        // Read again under the write lock, so that a concurrent delete is seen.
        let role = &self.role_in_tx(&mut tx, scope, role.id).await?;
        let id = ApiKeyId::new();
        let secret = NewSecret::generate();
        let at = now();
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, project_id, name, secret_hash, last_chars, valid, created_by, created_at, updated_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10)",
        )
        .bind(id.to_string())
        .bind(scope.org_id.to_string())
        .bind(scope.project_id.map(|p| p.to_string()))
        .bind(name.as_str())
        .bind(&secret.hash)
        .bind(&secret.last_chars)
        .bind(actor)
        .bind(&at)
        .bind(&at)
        .bind(&expires_at)
        .execute(&mut *tx)
        .await?;
        let mut effects = vec![Effect::PutApiKey {
            api_key_id: id,
            scope,
            valid: true,
        }];
        effects.push(
            self.put_membership(&mut tx, scope, Principal::ApiKey(id), role.id)
                .await?,
        );
        let key = self.key_in_tx(&mut tx, id).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "api_key.create",
            target: format!("api_key:{id}"),
            before: None,
            after: doc(&key),
            effects,
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: (key, secret.secret),
            revision,
        })
    }

    /// Creates a personal key that acts as `user` (it holds no role of its own).
    pub async fn create_personal_key(
        &self,
        actor: &str,
        org: OrgId,
        user: UserId,
        name: &Name,
        expires_at: Option<String>,
    ) -> Result<Written<(KeyRecord, String)>, StoreError> {
        let mut tx = self.begin().await?;
        if !self.is_org_user(&mut tx, org, user).await? {
            return Err(StoreError::not_found("user", user));
        }
        let id = ApiKeyId::new();
        let secret = NewSecret::generate();
        let at = now();
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, project_id, user_id, name, secret_hash, last_chars, valid, created_by, created_at, updated_at, expires_at)
             VALUES ($1, $2, NULL, $3, $4, $5, $6, 1, $7, $8, $9, $10)",
        )
        .bind(id.to_string())
        .bind(org.to_string())
        .bind(user.to_string())
        .bind(name.as_str())
        .bind(&secret.hash)
        .bind(&secret.last_chars)
        .bind(actor)
        .bind(&at)
        .bind(&at)
        .bind(&expires_at)
        .execute(&mut *tx)
        .await?;
        let key = self.key_in_tx(&mut tx, id).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(org),
            project_id: None,
            action: "api_key.create_personal",
            target: format!("api_key:{id}"),
            before: None,
            after: doc(&key),
            // A personal key is not a principal of its own: nothing for the engine.
            effects: vec![],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: (key, secret.secret),
            revision,
        })
    }

    /// Renames, invalidates or revalidates a key.
    pub async fn update_api_key(
        &self,
        actor: &str,
        scope: Scope,
        id: ApiKeyId,
        patch: KeyPatch,
        if_version: Option<i64>,
    ) -> Result<Written<KeyRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let before = self.key_in_tx(&mut tx, id).await?;
        if before.scope() != scope || before.user_id.is_some() {
            return Err(StoreError::not_found("API key", id));
        }
        crate::orgs::check_version(if_version, before.version)?;
        let name = patch
            .name
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_else(|| before.name.clone());
        let valid = patch.valid.unwrap_or(before.valid);
        sqlx::query("UPDATE api_keys SET name = $1, valid = $2, updated_at = $3, version = version + 1 WHERE id = $4")
            .bind(&name)
            .bind(i64::from(valid))
            .bind(now())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let after = self.key_in_tx(&mut tx, id).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "api_key.update",
            target: format!("api_key:{id}"),
            before: doc(&before),
            after: doc(&after),
            effects: vec![Effect::PutApiKey {
                api_key_id: id,
                scope,
                valid,
            }],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: after,
            revision,
        })
    }

    /// Deletes a key and its membership.
    pub async fn delete_api_key(
        &self,
        actor: &str,
        scope: Scope,
        id: ApiKeyId,
    ) -> Result<Written<KeyRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let before = self.key_in_tx(&mut tx, id).await?;
        if before.scope() != scope || before.user_id.is_some() {
            return Err(StoreError::not_found("API key", id));
        }
        sqlx::query(
            "DELETE FROM memberships WHERE principal_type = 'api_key' AND principal_id = $1",
        )
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM api_keys WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "api_key.delete",
            target: format!("api_key:{id}"),
            before: doc(&before),
            after: None,
            effects: vec![Effect::DeleteApiKey { api_key_id: id }],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: before,
            revision,
        })
    }
}

impl Store {
    /// Deletes a personal key of `user` (signing out of the console deletes its session's).
    /// Another user's key, or an org or project key, is not found.
    pub async fn delete_personal_key(
        &self,
        user: UserId,
        id: ApiKeyId,
    ) -> Result<Written<KeyRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let before = self.key_in_tx(&mut tx, id).await?;
        if before.user_id != Some(user) {
            return Err(StoreError::not_found("API key", id));
        }
        sqlx::query("DELETE FROM api_keys WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let change = Change {
            actor: format!("user:{user}"),
            org_id: Some(before.org_id),
            project_id: None,
            action: "api_key.delete_personal",
            target: format!("api_key:{id}"),
            before: doc(&before),
            after: None,
            // Not a principal of its own: nothing for the engine (and, without effects, the
            // entry empties every instance's key cache, as a deleted key requires).
            effects: vec![],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: before,
            revision,
        })
    }
}
