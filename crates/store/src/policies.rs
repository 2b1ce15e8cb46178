//! Policies: named bundles of permissions, at org or project scope.

use serde_json::json;
use sqlx::Row;
use warden_model::{Effect, Name, PolicyId, RoleId, Scope};

use crate::catalog_rows::{uuid_col, POLICY_COLS};
use crate::orgs::check_version;
use crate::{
    doc, now, Cascade, Change, NewPolicy, Page, Paged, PolicyPatch, PolicyRecord, Store,
    StoreError, Tx, Written,
};

/// Which building block a name belongs to.
#[derive(Clone, Copy)]
pub(crate) enum Table {
    Policies,
    Roles,
}

impl Table {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Policies => "policies",
            Table::Roles => "roles",
        }
    }
    pub(crate) fn singular(self) -> &'static str {
        match self {
            Table::Policies => "policy",
            Table::Roles => "role",
        }
    }
}

/// The optional `is_predefined` filter of a list, as SQL.
pub(crate) fn predefined_filter(is_predefined: Option<bool>) -> &'static str {
    match is_predefined {
        Some(true) => " AND predefined_key IS NOT NULL",
        Some(false) => " AND predefined_key IS NULL",
        None => "",
    }
}

impl Store {
    /// Refuses a name already used in the scope (case-insensitively) by another row.
    pub(crate) async fn name_free(
        &self,
        tx: &mut Tx,
        table: Table,
        scope: Scope,
        name: &Name,
        except: Option<uuid::Uuid>,
    ) -> Result<(), StoreError> {
        let row = sqlx::query(&format!(
            "SELECT id, name, predefined_key FROM {} WHERE scope_id = $1 AND name_key = $2",
            table.name()
        ))
        .bind(scope.key().to_string())
        .bind(name.key())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { return Ok(()) };
        if Some(uuid_col(&row, "id")?) == except {
            return Ok(());
        }
        let existing: String = row.try_get("name")?;
        let predefined: Option<String> = row.try_get("predefined_key")?;
        let what = table.singular();
        let message = if predefined.is_some() {
            format!(
                "`{existing}` is the name of a predefined {what} in this {}: choose another name",
                scope.kind().noun()
            )
        } else {
            format!(
                "a {what} named `{existing}` already exists in this {}: choose another name",
                scope.kind().noun()
            )
        };
        Err(StoreError::conflict(
            "name_taken",
            message,
            json!({"field": "name", "existing": existing}),
        ))
    }

    /// The policies of a scope, oldest first (predefined ones were created with the scope).
    pub async fn list_policies(
        &self,
        scope: Scope,
        is_predefined: Option<bool>,
        page: Page,
    ) -> Result<Paged<PolicyRecord>, StoreError> {
        let mut conn = self.read.acquire().await?;
        let rows = sqlx::query(&format!(
            "SELECT {POLICY_COLS} FROM policies WHERE scope_id = $1 AND id > $2{} ORDER BY id LIMIT $3",
            predefined_filter(is_predefined)
        ))
        .bind(scope.key().to_string())
        .bind(page.after_str())
        .bind(page.fetch())
        .fetch_all(&mut *conn)
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(self.policy_from_row(&mut conn, row).await?);
        }
        Ok(page.finish(items, |p| p.id.0))
    }

    /// A policy of a scope.
    pub async fn get_policy(&self, scope: Scope, id: PolicyId) -> Result<PolicyRecord, StoreError> {
        let mut conn = self.read.acquire().await?;
        let row = sqlx::query(&format!(
            "SELECT {POLICY_COLS} FROM policies WHERE id = $1 AND scope_id = $2"
        ))
        .bind(id.to_string())
        .bind(scope.key().to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("policy", id))?;
        self.policy_from_row(&mut conn, &row).await
    }

    async fn policy_in_tx(
        &self,
        tx: &mut Tx,
        scope: Scope,
        id: PolicyId,
    ) -> Result<PolicyRecord, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {POLICY_COLS} FROM policies WHERE id = $1 AND scope_id = $2"
        ))
        .bind(id.to_string())
        .bind(scope.key().to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::not_found("policy", id))?;
        self.policy_from_row(tx, &row).await
    }

    async fn set_policy_permissions(
        &self,
        tx: &mut Tx,
        id: PolicyId,
        keys: &[String],
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM policy_permissions WHERE policy_id = $1")
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        for k in keys {
            sqlx::query("INSERT INTO policy_permissions (policy_id, permission) VALUES ($1, $2)")
                .bind(id.to_string())
                .bind(k)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Creates a custom policy.
    pub async fn create_policy(
        &self,
        actor: &str,
        scope: Scope,
        input: NewPolicy,
    ) -> Result<Written<PolicyRecord>, StoreError> {
        let mut tx = self.begin().await?;
        self.name_free(&mut tx, Table::Policies, scope, &input.name, None)
            .await?;
        let id = PolicyId::new();
        let at = now();
        sqlx::query(
            "INSERT INTO policies (id, org_id, project_id, scope_id, name, name_key, description, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.to_string())
        .bind(scope.org_id.to_string())
        .bind(scope.project_id.map(|p| p.to_string()))
        .bind(scope.key().to_string())
        .bind(input.name.as_str())
        .bind(input.name.key())
        .bind(input.description.as_str())
        .bind(&at)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        self.set_policy_permissions(&mut tx, id, &input.permissions)
            .await?;
        let policy = self.policy_in_tx(&mut tx, scope, id).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "policy.create",
            target: format!("policy:{id}"),
            before: None,
            after: doc(&policy),
            effects: vec![Effect::PutPolicy {
                policy_id: id,
                scope,
                permissions: policy.permissions.clone(),
            }],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: policy,
            revision,
        })
    }

    /// Changes a custom policy; a permission list replaces the old one wholly.
    pub async fn update_policy(
        &self,
        actor: &str,
        scope: Scope,
        id: PolicyId,
        patch: PolicyPatch,
        if_version: Option<i64>,
    ) -> Result<Written<PolicyRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let before = self.policy_in_tx(&mut tx, scope, id).await?;
        refuse_predefined(
            "policy",
            &before.name,
            before.predefined_key.is_some(),
            "changed",
        )?;
        check_version(if_version, before.version)?;
        if let Some(name) = &patch.name {
            self.name_free(&mut tx, Table::Policies, scope, name, Some(id.0))
                .await?;
        }
        let name = patch
            .name
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_else(|| before.name.clone());
        let description = patch
            .description
            .as_ref()
            .map(|d| d.as_str().to_owned())
            .unwrap_or_else(|| before.description.clone());
        sqlx::query("UPDATE policies SET name = $1, name_key = $2, description = $3, updated_at = $4, version = version + 1 WHERE id = $5")
            .bind(&name)
            .bind(warden_model::names::name_key(&name))
            .bind(&description)
            .bind(now())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if let Some(perms) = &patch.permissions {
            self.set_policy_permissions(&mut tx, id, perms).await?;
        }
        let after = self.policy_in_tx(&mut tx, scope, id).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "policy.update",
            target: format!("policy:{id}"),
            before: doc(&before),
            after: doc(&after),
            effects: vec![Effect::PutPolicy {
                policy_id: id,
                scope,
                permissions: after.permissions.clone(),
            }],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: after,
            revision,
        })
    }

    /// Deletes a custom policy. If roles use it, refuses naming them unless `cascade`, in
    /// which case the policy is removed from those roles.
    pub async fn delete_policy(
        &self,
        actor: &str,
        scope: Scope,
        id: PolicyId,
        cascade: bool,
    ) -> Result<Written<Cascade>, StoreError> {
        let mut tx = self.begin().await?;
        let before = self.policy_in_tx(&mut tx, scope, id).await?;
        refuse_predefined(
            "policy",
            &before.name,
            before.predefined_key.is_some(),
            "deleted",
        )?;
        let users = sqlx::query(
            "SELECT r.id, r.name FROM role_policies rp JOIN roles r ON r.id = rp.role_id WHERE rp.policy_id = $1 ORDER BY r.name_key",
        )
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut roles = Vec::new();
        let mut names = Vec::new();
        for r in &users {
            roles.push(RoleId(uuid_col(r, "id")?));
            names.push(r.try_get::<String, _>("name")?);
        }
        if !roles.is_empty() && !cascade {
            let listed: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            return Err(StoreError::conflict(
                "in_use",
                format!(
                    "policy `{}` is used by {} role(s): {}; remove it from them first, or delete with `?cascade=true` to remove it from them",
                    before.name,
                    roles.len(),
                    listed.join(", ")
                ),
                json!({"roles": roles.iter().zip(&names).map(|(id, n)| json!({"id": id, "name": n})).collect::<Vec<_>>()}),
            ));
        }
        sqlx::query("DELETE FROM role_policies WHERE policy_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM policies WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let cascade_doc = Cascade {
            roles_changed: roles,
            memberships_removed: vec![],
        };
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "policy.delete",
            target: format!("policy:{id}"),
            before: doc(&before),
            after: if cascade_doc.roles_changed.is_empty() {
                None
            } else {
                doc(&json!({"cascade": cascade_doc}))
            },
            effects: vec![Effect::DeletePolicy { policy_id: id }],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: cascade_doc,
            revision,
        })
    }
}

/// Predefined building blocks come from the catalogue and never change through the API.
pub(crate) fn refuse_predefined(
    what: &str,
    name: &str,
    predefined: bool,
    verb: &str,
) -> Result<(), StoreError> {
    if predefined {
        return Err(StoreError::conflict(
            "predefined",
            format!("{what} `{name}` is predefined and cannot be {verb}; create a custom {what} instead"),
            json!({}),
        ));
    }
    Ok(())
}
