//! Reading policies and roles back from their rows, with the catalogue's grants filled in
//! for predefined ones, so that a catalogue change reaches existing organizations.

use std::collections::BTreeSet;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use warden_model::{OrgId, PolicyId, ProjectId, RoleId, ScopeKind};

use crate::{PolicyRecord, PolicyRef, RoleRecord, Store, StoreError};

pub(crate) fn uuid_col(row: &AnyRow, col: &str) -> Result<uuid::Uuid, StoreError> {
    let s: String = row.try_get(col)?;
    uuid::Uuid::try_parse(&s)
        .map_err(|_| StoreError::Corrupt(format!("`{col}` holds `{s}`, not a UUID")))
}

pub(crate) fn opt_uuid_col(row: &AnyRow, col: &str) -> Result<Option<uuid::Uuid>, StoreError> {
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| {
        uuid::Uuid::try_parse(&s)
            .map_err(|_| StoreError::Corrupt(format!("`{col}` holds `{s}`, not a UUID")))
    })
    .transpose()
}

pub(crate) const POLICY_COLS: &str =
    "id, org_id, project_id, name, description, predefined_key, created_at, updated_at, version";
pub(crate) const ROLE_COLS: &str = POLICY_COLS;

impl Store {
    /// Refuses a catalogue that lacks what the stored organizations use: a permission a
    /// custom policy or role grants, or the key of a predefined role or policy. Their
    /// grants are read from the catalogue, so another one would silently change or empty
    /// them. A catalogue that adds to the one in use passes.
    pub(crate) async fn check_catalogue(&self) -> Result<(), StoreError> {
        let scope = |table: &str| {
            format!("CASE WHEN {table}.project_id IS NULL THEN 'org' ELSE 'project' END")
        };
        let sql = format!(
            "SELECT {} AS scope, 'permission' AS kind, pp.permission AS name
               FROM policy_permissions pp JOIN policies p ON p.id = pp.policy_id
             UNION SELECT {}, 'permission', rp.permission
               FROM role_permissions rp JOIN roles r ON r.id = rp.role_id
             UNION SELECT {}, 'role', predefined_key FROM roles WHERE predefined_key IS NOT NULL
             UNION SELECT {}, 'policy', predefined_key FROM policies
               WHERE predefined_key IS NOT NULL",
            scope("p"),
            scope("r"),
            scope("roles"),
            scope("policies"),
        );
        let mut missing = Vec::new();
        for row in sqlx::query(&sql).fetch_all(&self.read).await? {
            let (scope, kind, name): (String, String, String) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let sc = self.catalogue.scope(if scope == "org" {
                ScopeKind::Org
            } else {
                ScopeKind::Project
            });
            let known = match kind.as_str() {
                "role" => sc.role(&name).is_some(),
                "policy" => sc.policy(&name).is_some(),
                _ => sc.find(&name).is_some(),
            };
            if !known {
                missing.push(format!("{scope} {kind} `{name}`"));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort();
        Err(StoreError::WrongCatalogue {
            catalogue: self.catalogue.name.clone(),
            missing,
        })
    }

    pub(crate) async fn policy_from_row(
        &self,
        conn: &mut AnyConnection,
        row: &AnyRow,
    ) -> Result<PolicyRecord, StoreError> {
        let id = PolicyId(uuid_col(row, "id")?);
        let project_id = opt_uuid_col(row, "project_id")?.map(ProjectId);
        let predefined_key: Option<String> = row.try_get("predefined_key")?;
        let kind = if project_id.is_some() {
            ScopeKind::Project
        } else {
            ScopeKind::Org
        };
        let permissions = match &predefined_key {
            Some(key) => self
                .catalogue
                .scope(kind)
                .policy(key)
                .map(|p| p.permissions.clone())
                .unwrap_or_default(),
            None => self.ordered_keys(kind, self.policy_permissions(conn, id).await?),
        };
        Ok(PolicyRecord {
            id,
            org_id: OrgId(uuid_col(row, "org_id")?),
            project_id,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            predefined_key,
            permissions,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
        })
    }

    async fn policy_permissions(
        &self,
        conn: &mut AnyConnection,
        id: PolicyId,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT permission FROM policy_permissions WHERE policy_id = $1")
            .bind(id.to_string())
            .fetch_all(&mut *conn)
            .await?;
        rows.iter()
            .map(|r| {
                r.try_get::<String, _>("permission")
                    .map_err(StoreError::from)
            })
            .collect()
    }

    /// Sorts permission keys in catalogue order; keys the catalogue no longer has go last.
    pub(crate) fn ordered_keys(&self, kind: ScopeKind, keys: Vec<String>) -> Vec<String> {
        let scope = self.catalogue.scope(kind);
        let set: BTreeSet<String> = keys.into_iter().collect();
        let mut out: Vec<String> = scope
            .permissions
            .iter()
            .filter(|p| set.contains(&p.key))
            .map(|p| p.key.clone())
            .collect();
        out.extend(set.into_iter().filter(|k| !scope.has(k)));
        out
    }

    pub(crate) async fn role_from_row(
        &self,
        conn: &mut AnyConnection,
        row: &AnyRow,
    ) -> Result<RoleRecord, StoreError> {
        let id = RoleId(uuid_col(row, "id")?);
        let project_id = opt_uuid_col(row, "project_id")?.map(ProjectId);
        let predefined_key: Option<String> = row.try_get("predefined_key")?;
        let kind = if project_id.is_some() {
            ScopeKind::Project
        } else {
            ScopeKind::Org
        };
        let scope_cat = self.catalogue.scope(kind);
        let policy_rows = sqlx::query(
            "SELECT p.id, p.org_id, p.project_id, p.name, p.description, p.predefined_key, p.created_at, p.updated_at, p.version
             FROM role_policies rp JOIN policies p ON p.id = rp.policy_id WHERE rp.role_id = $1 ORDER BY rp.position",
        )
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
        let mut policies = Vec::new();
        let mut effective: Vec<String> = Vec::new();
        for prow in &policy_rows {
            let p = self.policy_from_row(conn, prow).await?;
            effective.extend(p.permissions.iter().cloned());
            policies.push(PolicyRef {
                id: p.id,
                name: p.name,
            });
        }
        let permissions = match &predefined_key {
            Some(key) => scope_cat
                .role(key)
                .map(|r| r.permissions.clone())
                .unwrap_or_default(),
            None => {
                let rows =
                    sqlx::query("SELECT permission FROM role_permissions WHERE role_id = $1")
                        .bind(id.to_string())
                        .fetch_all(&mut *conn)
                        .await?;
                let keys = rows
                    .iter()
                    .map(|r| r.try_get::<String, _>("permission"))
                    .collect::<Result<Vec<_>, _>>()?;
                self.ordered_keys(kind, keys)
            }
        };
        if let Some(key) = &predefined_key {
            if let Some(r) = scope_cat.role(key) {
                effective.extend(scope_cat.role_grants(r));
            }
        }
        effective.extend(permissions.iter().cloned());
        let effective_permissions = self.ordered_keys(kind, effective);
        Ok(RoleRecord {
            id,
            org_id: OrgId(uuid_col(row, "org_id")?),
            project_id,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            predefined_key,
            permissions,
            policies,
            effective_permissions,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
        })
    }
}
