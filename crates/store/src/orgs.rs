//! Organizations and projects, and the predefined roles and policies each receives.

use std::collections::HashMap;

use serde_json::json;
use sqlx::Row;
use warden_model::{Effect, Name, OrgId, PolicyId, ProjectId, RoleId, Scope};

use crate::catalog_rows::uuid_col;
use crate::{
    doc, now, Change, NewProject, OrgRecord, Page, Paged, ProjectPatch, ProjectRecord, Store,
    StoreError, Tx, Written,
};

const PROJECT_COLS: &str =
    "id, org_id, name, description, restricted, created_at, updated_at, version";

fn project_from_row(row: &sqlx::any::AnyRow) -> Result<ProjectRecord, StoreError> {
    Ok(ProjectRecord {
        id: ProjectId(uuid_col(row, "id")?),
        org_id: OrgId(uuid_col(row, "org_id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        restricted: row.try_get::<i64, _>("restricted")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        version: row.try_get("version")?,
    })
}

impl Store {
    /// Inserts the predefined policies and roles of the scope's kind; returns their effects.
    pub(crate) async fn insert_predefined(
        &self,
        tx: &mut Tx,
        scope: Scope,
    ) -> Result<Vec<Effect>, StoreError> {
        let cat = self.catalogue.scope(scope.kind());
        let at = now();
        let scope_id = scope.key().to_string();
        let mut effects = Vec::new();
        let mut policy_ids: HashMap<&str, PolicyId> = HashMap::new();
        for p in &cat.policies {
            let id = PolicyId::new();
            policy_ids.insert(p.key.as_str(), id);
            sqlx::query(
                "INSERT INTO policies (id, org_id, project_id, scope_id, name, name_key, description, predefined_key, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(id.to_string())
            .bind(scope.org_id.to_string())
            .bind(scope.project_id.map(|p| p.to_string()))
            .bind(&scope_id)
            .bind(&p.name)
            .bind(warden_model::names::name_key(&p.name))
            .bind(&p.description)
            .bind(&p.key)
            .bind(&at)
            .bind(&at)
            .execute(&mut **tx)
            .await?;
            effects.push(Effect::PutPolicy {
                policy_id: id,
                scope,
                permissions: p.permissions.clone(),
            });
        }
        for r in &cat.roles {
            let id = RoleId::new();
            sqlx::query(
                "INSERT INTO roles (id, org_id, project_id, scope_id, name, name_key, description, predefined_key, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(id.to_string())
            .bind(scope.org_id.to_string())
            .bind(scope.project_id.map(|p| p.to_string()))
            .bind(&scope_id)
            .bind(&r.name)
            .bind(warden_model::names::name_key(&r.name))
            .bind(&r.description)
            .bind(&r.key)
            .bind(&at)
            .bind(&at)
            .execute(&mut **tx)
            .await?;
            let mut ids = Vec::new();
            for (pos, key) in r.policies.iter().enumerate() {
                if let Some(pid) = policy_ids.get(key.as_str()) {
                    sqlx::query(
                        "INSERT INTO role_policies (role_id, policy_id, position) VALUES ($1, $2, $3)",
                    )
                    .bind(id.to_string())
                    .bind(pid.to_string())
                    .bind(pos as i64)
                    .execute(&mut **tx)
                    .await?;
                    ids.push(*pid);
                }
            }
            effects.push(Effect::PutRole {
                role_id: id,
                scope,
                predefined: Some(r.key.clone()),
                permissions: r.permissions.clone(),
                policy_ids: ids,
            });
        }
        Ok(effects)
    }

    /// Creates an organization with its predefined roles and policies (inside `tx`).
    pub(crate) async fn insert_org(
        &self,
        tx: &mut Tx,
        name: &Name,
    ) -> Result<(OrgRecord, Vec<Effect>), StoreError> {
        let exists = sqlx::query("SELECT id FROM orgs WHERE name_key = $1")
            .bind(name.key())
            .fetch_optional(&mut **tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::conflict(
                "name_taken",
                format!(
                    "an organization named `{}` already exists: choose another name",
                    name.as_str()
                ),
                json!({"field": "name"}),
            ));
        }
        let id = OrgId::new();
        let at = now();
        sqlx::query(
            "INSERT INTO orgs (id, name, name_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(name.as_str())
        .bind(name.key())
        .bind(&at)
        .bind(&at)
        .execute(&mut **tx)
        .await?;
        let mut effects = vec![Effect::PutOrg { org_id: id }];
        effects.extend(self.insert_predefined(tx, Scope::org(id)).await?);
        let org = OrgRecord {
            id,
            name: name.as_str().to_owned(),
            created_at: at.clone(),
            updated_at: at,
            version: 1,
        };
        Ok((org, effects))
    }

    /// An organization by id.
    pub async fn get_org(&self, id: OrgId) -> Result<OrgRecord, StoreError> {
        let row =
            sqlx::query("SELECT id, name, created_at, updated_at, version FROM orgs WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.read)
                .await?
                .ok_or_else(|| StoreError::not_found("organization", id))?;
        Ok(OrgRecord {
            id: OrgId(uuid_col(&row, "id")?),
            name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
        })
    }

    /// Every organization id (for start-up).
    pub async fn org_ids(&self) -> Result<Vec<OrgId>, StoreError> {
        let rows = sqlx::query("SELECT id FROM orgs ORDER BY id")
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(|r| uuid_col(r, "id").map(OrgId)).collect()
    }

    /// A project by id.
    pub async fn get_project(&self, id: ProjectId) -> Result<ProjectRecord, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PROJECT_COLS} FROM projects WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await?
        .ok_or_else(|| StoreError::not_found("project", id))?;
        project_from_row(&row)
    }

    /// The projects of an org, oldest first.
    pub async fn list_projects(
        &self,
        org: OrgId,
        page: Page,
    ) -> Result<Paged<ProjectRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PROJECT_COLS} FROM projects WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(org.to_string())
        .bind(page.after_str())
        .bind(page.fetch())
        .fetch_all(&self.read)
        .await?;
        let items = rows
            .iter()
            .map(project_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish(items, |p| p.id.0))
    }

    async fn project_name_free(
        &self,
        tx: &mut Tx,
        org: OrgId,
        name: &Name,
        except: Option<ProjectId>,
    ) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT id FROM projects WHERE org_id = $1 AND name_key = $2")
            .bind(org.to_string())
            .bind(name.key())
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(row) = row {
            if Some(ProjectId(uuid_col(&row, "id")?)) != except {
                return Err(StoreError::conflict(
                    "name_taken",
                    format!("a project named `{}` already exists in this organization: choose another name", name.as_str()),
                    json!({"field": "name"}),
                ));
            }
        }
        Ok(())
    }

    /// Creates a project with its predefined roles and policies.
    pub async fn create_project(
        &self,
        actor: &str,
        org: OrgId,
        input: NewProject,
    ) -> Result<Written<ProjectRecord>, StoreError> {
        let mut tx = self.begin().await?;
        self.project_name_free(&mut tx, org, &input.name, None)
            .await?;
        let id = ProjectId::new();
        let at = now();
        sqlx::query(
            "INSERT INTO projects (id, org_id, name, name_key, description, restricted, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(org.to_string())
        .bind(input.name.as_str())
        .bind(input.name.key())
        .bind(input.description.as_str())
        .bind(i64::from(input.restricted))
        .bind(&at)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        let project = ProjectRecord {
            id,
            org_id: org,
            name: input.name.as_str().to_owned(),
            description: input.description.as_str().to_owned(),
            restricted: input.restricted,
            created_at: at.clone(),
            updated_at: at,
            version: 1,
        };
        let mut effects = vec![Effect::PutProject {
            project_id: id,
            org_id: org,
            restricted: input.restricted,
        }];
        effects.extend(
            self.insert_predefined(&mut tx, Scope::project(org, id))
                .await?,
        );
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(org),
            project_id: Some(id),
            action: "project.create",
            target: format!("project:{id}"),
            before: None,
            after: doc(&project),
            effects,
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: project,
            revision,
        })
    }

    /// Changes a project's name, description or restriction.
    pub async fn update_project(
        &self,
        actor: &str,
        id: ProjectId,
        patch: ProjectPatch,
        if_version: Option<i64>,
    ) -> Result<Written<ProjectRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let before = project_in_tx(&mut tx, id).await?;
        check_version(if_version, before.version)?;
        let mut after = before.clone();
        if let Some(name) = &patch.name {
            self.project_name_free(&mut tx, before.org_id, name, Some(id))
                .await?;
            after.name = name.as_str().to_owned();
        }
        if let Some(d) = &patch.description {
            after.description = d.as_str().to_owned();
        }
        if let Some(r) = patch.restricted {
            after.restricted = r;
        }
        after.version += 1;
        after.updated_at = now();
        sqlx::query(
            "UPDATE projects SET name = $1, name_key = $2, description = $3, restricted = $4, updated_at = $5, version = $6 WHERE id = $7",
        )
        .bind(&after.name)
        .bind(warden_model::names::name_key(&after.name))
        .bind(&after.description)
        .bind(i64::from(after.restricted))
        .bind(&after.updated_at)
        .bind(after.version)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(before.org_id),
            project_id: Some(id),
            action: "project.update",
            target: format!("project:{id}"),
            before: doc(&before),
            after: doc(&after),
            effects: vec![Effect::PutProject {
                project_id: id,
                org_id: after.org_id,
                restricted: after.restricted,
            }],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: after,
            revision,
        })
    }

    /// Deletes a project and everything in it (roles, policies, memberships, API keys).
    pub async fn delete_project(
        &self,
        actor: &str,
        id: ProjectId,
    ) -> Result<Written<ProjectRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let before = project_in_tx(&mut tx, id).await?;
        let key_rows = sqlx::query("SELECT id FROM api_keys WHERE project_id = $1")
            .bind(id.to_string())
            .fetch_all(&mut *tx)
            .await?;
        let mut effects = Vec::new();
        for r in &key_rows {
            effects.push(Effect::DeleteApiKey {
                api_key_id: warden_model::ApiKeyId(uuid_col(r, "id")?),
            });
        }
        let pid = id.to_string();
        // Children first: memberships and role links refer to roles and policies.
        for sql in [
            "DELETE FROM memberships WHERE project_id = $1",
            "DELETE FROM memberships WHERE principal_type = 'api_key' AND principal_id IN (SELECT id FROM api_keys WHERE project_id = $1)",
            "DELETE FROM api_keys WHERE project_id = $1",
            "DELETE FROM role_policies WHERE role_id IN (SELECT id FROM roles WHERE project_id = $1)",
            "DELETE FROM roles WHERE project_id = $1",
            "DELETE FROM policies WHERE project_id = $1",
            "DELETE FROM projects WHERE id = $1",
        ] {
            sqlx::query(sql).bind(&pid).execute(&mut *tx).await?;
        }
        effects.push(Effect::DeleteProject { project_id: id });
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(before.org_id),
            project_id: Some(id),
            action: "project.delete",
            target: format!("project:{id}"),
            before: doc(&before),
            after: None,
            effects,
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: before,
            revision,
        })
    }
}

/// Refuses a write whose `If-Match` version is stale.
pub(crate) fn check_version(expected: Option<i64>, actual: i64) -> Result<(), StoreError> {
    match expected {
        Some(e) if e != actual => Err(StoreError::VersionMismatch {
            expected: e,
            actual,
        }),
        _ => Ok(()),
    }
}

/// A project as the transaction sees it (404 when there is none).
async fn project_in_tx(tx: &mut Tx, id: ProjectId) -> Result<ProjectRecord, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {PROJECT_COLS} FROM projects WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::not_found("project", id))?;
    project_from_row(&row)
}
