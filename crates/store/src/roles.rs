//! Roles: named bundles of policies and inline permissions, at org or project scope.

use serde_json::json;
use sqlx::Row;
use warden_model::{Effect, PolicyId, Principal, RoleId, Scope};

use crate::catalog_rows::{uuid_col, ROLE_COLS};
use crate::orgs::check_version;
use crate::policies::{predefined_filter, refuse_predefined, Table};
use crate::{
    doc, now, Cascade, Change, NewRole, Page, Paged, RolePatch, RoleRecord, Store, StoreError, Tx,
    Written,
};

impl Store {
    /// The roles of a scope, oldest first (predefined ones were created with the scope).
    pub async fn list_roles(
        &self,
        scope: Scope,
        is_predefined: Option<bool>,
        page: Page,
    ) -> Result<Paged<RoleRecord>, StoreError> {
        let mut conn = self.read.acquire().await?;
        let rows = sqlx::query(&format!(
            "SELECT {ROLE_COLS} FROM roles WHERE scope_id = $1 AND id > $2{} ORDER BY id LIMIT $3",
            predefined_filter(is_predefined)
        ))
        .bind(scope.key().to_string())
        .bind(page.after_str())
        .bind(page.fetch())
        .fetch_all(&mut *conn)
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(self.role_from_row(&mut conn, row).await?);
        }
        Ok(page.finish(items, |r| r.id.0))
    }

    /// A role of a scope.
    pub async fn get_role(&self, scope: Scope, id: RoleId) -> Result<RoleRecord, StoreError> {
        let mut conn = self.read.acquire().await?;
        let row = sqlx::query(&format!(
            "SELECT {ROLE_COLS} FROM roles WHERE id = $1 AND scope_id = $2"
        ))
        .bind(id.to_string())
        .bind(scope.key().to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("role", id))?;
        self.role_from_row(&mut conn, &row).await
    }

    /// A role of a scope given by id or by name (case-insensitively). A name that matches
    /// nothing is reported with the names that exist.
    pub async fn resolve_role(
        &self,
        scope: Scope,
        id_or_name: &str,
    ) -> Result<RoleRecord, StoreError> {
        if let Ok(id) = RoleId::parse(id_or_name) {
            return self.get_role(scope, id).await;
        }
        if let Some(role) = self.find_role_by_name(scope, id_or_name).await? {
            return Ok(role);
        }
        let rows = sqlx::query("SELECT name FROM roles WHERE scope_id = $1 ORDER BY id")
            .bind(scope.key().to_string())
            .fetch_all(&self.read)
            .await?;
        let names: Vec<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>("name").ok())
            .collect();
        let shown: Vec<String> = names.iter().take(50).map(|n| format!("`{n}`")).collect();
        Err(StoreError::unprocessable(
            "unknown_role",
            format!(
                "no role of this {} is named `{}`; available: {}",
                scope.kind().noun(),
                id_or_name.chars().take(80).collect::<String>(),
                shown.join(", ")
            ),
            json!({"field": "role_id", "available": names}),
        ))
    }

    /// Whether a role is the Owner role of its scope.
    pub fn is_owner_role(&self, role: &RoleRecord) -> bool {
        let kind = role.scope().kind();
        role.predefined_key.as_deref() == Some(self.catalogue.scope(kind).owner_role.as_str())
    }

    /// A role of a scope found by name, case-insensitively.
    pub async fn find_role_by_name(
        &self,
        scope: Scope,
        name: &str,
    ) -> Result<Option<RoleRecord>, StoreError> {
        let mut conn = self.read.acquire().await?;
        let row = sqlx::query(&format!(
            "SELECT {ROLE_COLS} FROM roles WHERE scope_id = $1 AND name_key = $2"
        ))
        .bind(scope.key().to_string())
        .bind(warden_model::names::name_key(name))
        .fetch_optional(&mut *conn)
        .await?;
        match row {
            Some(row) => Ok(Some(self.role_from_row(&mut conn, &row).await?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn role_in_tx(
        &self,
        tx: &mut Tx,
        scope: Scope,
        id: RoleId,
    ) -> Result<RoleRecord, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ROLE_COLS} FROM roles WHERE id = $1 AND scope_id = $2"
        ))
        .bind(id.to_string())
        .bind(scope.key().to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::not_found("role", id))?;
        self.role_from_row(tx, &row).await
    }

    /// Refuses policy ids that are not policies of `scope`, naming each.
    async fn check_policies(
        &self,
        tx: &mut Tx,
        scope: Scope,
        ids: &[PolicyId],
    ) -> Result<(), StoreError> {
        let mut unknown = Vec::new();
        let mut elsewhere = Vec::new();
        for id in ids {
            let row = sqlx::query("SELECT org_id, scope_id FROM policies WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut **tx)
                .await?;
            match row {
                Some(r) if r.try_get::<String, _>("scope_id")? == scope.key().to_string() => {}
                // A policy of the same org in another scope is named as such; one of
                // another org is as unknown as one that does not exist.
                Some(r) if r.try_get::<String, _>("org_id")? == scope.org_id.to_string() => {
                    elsewhere.push(*id)
                }
                _ => unknown.push(*id),
            }
        }
        if !unknown.is_empty() {
            let listed: Vec<String> = unknown.iter().take(20).map(|i| format!("`{i}`")).collect();
            return Err(StoreError::unprocessable(
                "unknown_policies",
                format!(
                    "{} policy id(s) are not policies of this {}: {}{}; list the scope's policies to find valid ids",
                    unknown.len(),
                    scope.kind().noun(),
                    listed.join(", "),
                    if unknown.len() > 20 { ", ..." } else { "" }
                ),
                json!({"field": "policy_ids", "unknown": unknown}),
            ));
        }
        if !elsewhere.is_empty() {
            let listed: Vec<String> = elsewhere.iter().map(|i| format!("`{i}`")).collect();
            return Err(StoreError::unprocessable(
                "policy_of_another_scope",
                format!(
                    "policies {} belong to another scope of this organization; a role may only use policies of its own {}",
                    listed.join(", "),
                    scope.kind().noun()
                ),
                json!({"field": "policy_ids", "other_scope": elsewhere}),
            ));
        }
        Ok(())
    }

    async fn set_role_parts(
        &self,
        tx: &mut Tx,
        id: RoleId,
        policy_ids: Option<&[PolicyId]>,
        permissions: Option<&[String]>,
    ) -> Result<(), StoreError> {
        if let Some(ids) = policy_ids {
            sqlx::query("DELETE FROM role_policies WHERE role_id = $1")
                .bind(id.to_string())
                .execute(&mut **tx)
                .await?;
            for (pos, p) in ids.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO role_policies (role_id, policy_id, position) VALUES ($1, $2, $3)",
                )
                .bind(id.to_string())
                .bind(p.to_string())
                .bind(pos as i64)
                .execute(&mut **tx)
                .await?;
            }
        }
        if let Some(keys) = permissions {
            sqlx::query("DELETE FROM role_permissions WHERE role_id = $1")
                .bind(id.to_string())
                .execute(&mut **tx)
                .await?;
            for k in keys {
                sqlx::query("INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)")
                    .bind(id.to_string())
                    .bind(k)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }

    /// Creates a custom role.
    pub async fn create_role(
        &self,
        actor: &str,
        scope: Scope,
        input: NewRole,
    ) -> Result<Written<RoleRecord>, StoreError> {
        let mut tx = self.begin().await?;
        self.name_free(&mut tx, Table::Roles, scope, &input.name, None)
            .await?;
        self.check_policies(&mut tx, scope, &input.policy_ids)
            .await?;
        let id = RoleId::new();
        let at = now();
        sqlx::query(
            "INSERT INTO roles (id, org_id, project_id, scope_id, name, name_key, description, created_at, updated_at)
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
        self.set_role_parts(
            &mut tx,
            id,
            Some(&input.policy_ids),
            Some(&input.permissions),
        )
        .await?;
        let role = self.role_in_tx(&mut tx, scope, id).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "role.create",
            target: format!("role:{id}"),
            before: None,
            after: doc(&role),
            effects: vec![role_effect(&role)],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: role,
            revision,
        })
    }

    /// Changes a custom role; a list replaces the old one wholly. A role must keep at least
    /// one policy or permission.
    pub async fn update_role(
        &self,
        actor: &str,
        scope: Scope,
        id: RoleId,
        patch: RolePatch,
        if_version: Option<i64>,
    ) -> Result<Written<RoleRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let before = self.role_in_tx(&mut tx, scope, id).await?;
        refuse_predefined(
            "role",
            &before.name,
            before.predefined_key.is_some(),
            "changed",
        )?;
        check_version(if_version, before.version)?;
        if let Some(name) = &patch.name {
            self.name_free(&mut tx, Table::Roles, scope, name, Some(id.0))
                .await?;
        }
        if let Some(ids) = &patch.policy_ids {
            self.check_policies(&mut tx, scope, ids).await?;
        }
        let policies_left = patch
            .policy_ids
            .as_ref()
            .map_or(before.policies.len(), Vec::len);
        let permissions_left = patch
            .permissions
            .as_ref()
            .map_or(before.permissions.len(), Vec::len);
        if policies_left == 0 && permissions_left == 0 {
            return Err(StoreError::unprocessable(
                "empty_role",
                "this change would leave the role with no policy and no permission; a role needs at least one of them",
                json!({"field": "policy_ids"}),
            ));
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
        sqlx::query("UPDATE roles SET name = $1, name_key = $2, description = $3, updated_at = $4, version = version + 1 WHERE id = $5")
            .bind(&name)
            .bind(warden_model::names::name_key(&name))
            .bind(&description)
            .bind(now())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        self.set_role_parts(
            &mut tx,
            id,
            patch.policy_ids.as_deref(),
            patch.permissions.as_deref(),
        )
        .await?;
        let after = self.role_in_tx(&mut tx, scope, id).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "role.update",
            target: format!("role:{id}"),
            before: doc(&before),
            after: doc(&after),
            effects: vec![role_effect(&after)],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: after,
            revision,
        })
    }

    /// Deletes a custom role. If principals hold it, refuses naming them unless `cascade`,
    /// in which case their memberships in this scope are removed.
    pub async fn delete_role(
        &self,
        actor: &str,
        scope: Scope,
        id: RoleId,
        cascade: bool,
    ) -> Result<Written<Cascade>, StoreError> {
        let mut tx = self.begin().await?;
        let before = self.role_in_tx(&mut tx, scope, id).await?;
        refuse_predefined(
            "role",
            &before.name,
            before.predefined_key.is_some(),
            "deleted",
        )?;
        let rows = sqlx::query("SELECT principal_type, principal_id FROM memberships WHERE role_id = $1 ORDER BY principal_type, principal_id")
            .bind(id.to_string())
            .fetch_all(&mut *tx)
            .await?;
        let mut holders = Vec::new();
        for r in &rows {
            let kind: String = r.try_get("principal_type")?;
            let pid = uuid_col(r, "principal_id")?;
            if let Some(p) = Principal::from_parts(&kind, pid) {
                holders.push(p);
            }
        }
        if !holders.is_empty() && !cascade {
            let listed: Vec<String> = holders.iter().take(20).map(|p| format!("`{p}`")).collect();
            return Err(StoreError::conflict(
                "in_use",
                format!(
                    "role `{}` is held by {} member(s): {}{}; give them another role first, or delete with `?cascade=true` to remove their memberships",
                    before.name,
                    holders.len(),
                    listed.join(", "),
                    if holders.len() > 20 { ", ..." } else { "" }
                ),
                json!({"members": holders.iter().take(100).collect::<Vec<_>>(), "count": holders.len()}),
            ));
        }
        let mut effects: Vec<Effect> = holders
            .iter()
            .map(|p| Effect::DeleteMembership {
                scope,
                principal: *p,
            })
            .collect();
        effects.push(Effect::DeleteRole { role_id: id });
        sqlx::query("DELETE FROM memberships WHERE role_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let cascade_doc = Cascade {
            roles_changed: vec![],
            memberships_removed: holders,
        };
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "role.delete",
            target: format!("role:{id}"),
            before: doc(&before),
            after: if cascade_doc.memberships_removed.is_empty() {
                None
            } else {
                doc(&json!({"cascade": cascade_doc}))
            },
            effects,
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: cascade_doc,
            revision,
        })
    }
}

/// The engine's view of a role.
pub(crate) fn role_effect(role: &RoleRecord) -> Effect {
    Effect::PutRole {
        role_id: role.id,
        scope: role.scope(),
        predefined: role.predefined_key.clone(),
        permissions: role.permissions.clone(),
        policy_ids: role.policies.iter().map(|p| p.id).collect(),
    }
}
