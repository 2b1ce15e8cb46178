//! What the API returns: JSON views of the store's records, with permission ids added.

use schemars::JsonSchema;
use serde::Serialize;
use warden_model::catalogue::permission_id;
use warden_model::{Catalogue, OrgId, PermissionId, PolicyId, ProjectId, RoleId, ScopeKind};
use warden_store::{OrgRecord, Paged, PolicyRecord, ProjectRecord, RoleRecord};

use crate::extract::encode_cursor;

/// One page of a list.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "{T}List")]
pub struct List<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

impl<T> List<T> {
    pub fn from_paged<R>(paged: Paged<R>, f: impl Fn(R) -> T) -> Self {
        let next_cursor = paged.next_after.map(encode_cursor);
        List {
            has_more: next_cursor.is_some(),
            next_cursor,
            items: paged.items.into_iter().map(f).collect(),
        }
    }
}

/// An organization.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OrgView {
    pub id: OrgId,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl From<OrgRecord> for OrgView {
    fn from(o: OrgRecord) -> Self {
        OrgView {
            id: o.id,
            name: o.name,
            created_at: o.created_at,
            updated_at: o.updated_at,
            version: o.version,
        }
    }
}

/// A project.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProjectView {
    pub id: ProjectId,
    pub org_id: OrgId,
    pub name: String,
    pub description: String,
    /// In a restricted project, org roles other than Owner grant nothing.
    pub restricted: bool,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl From<ProjectRecord> for ProjectView {
    fn from(p: ProjectRecord) -> Self {
        ProjectView {
            id: p.id,
            org_id: p.org_id,
            name: p.name,
            description: p.description,
            restricted: p.restricted,
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
        }
    }
}

/// A permission of the catalogue.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PermissionView {
    /// Stable: the same in every deployment.
    pub id: PermissionId,
    /// `resource:action`.
    pub key: String,
    pub resource: String,
    pub action: String,
    pub description: String,
    pub scope: ScopeKind,
}

impl From<&warden_model::Permission> for PermissionView {
    fn from(p: &warden_model::Permission) -> Self {
        PermissionView {
            id: p.id,
            key: p.key.clone(),
            resource: p.resource.clone(),
            action: p.action.clone(),
            description: p.description.clone(),
            scope: p.scope,
        }
    }
}

fn kind_of(project_id: Option<ProjectId>) -> ScopeKind {
    if project_id.is_some() {
        ScopeKind::Project
    } else {
        ScopeKind::Org
    }
}

fn ids(kind: ScopeKind, keys: &[String]) -> Vec<PermissionId> {
    keys.iter().map(|k| permission_id(kind, k)).collect()
}

/// A policy.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PolicyView {
    pub id: PolicyId,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub scope: ScopeKind,
    pub name: String,
    pub description: String,
    /// Shipped by the catalogue; cannot be changed or deleted.
    pub is_predefined: bool,
    /// The permissions, as ids.
    pub permission_ids: Vec<PermissionId>,
    /// The permissions, as `resource:action` keys.
    pub permissions: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl PolicyView {
    pub fn new(p: PolicyRecord) -> Self {
        let scope = kind_of(p.project_id);
        PolicyView {
            id: p.id,
            org_id: p.org_id,
            project_id: p.project_id,
            scope,
            name: p.name,
            description: p.description,
            is_predefined: p.predefined_key.is_some(),
            permission_ids: ids(scope, &p.permissions),
            permissions: p.permissions,
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
        }
    }
}

/// A policy as a role shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PolicyRefView {
    pub id: PolicyId,
    pub name: String,
}

/// A role.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RoleView {
    pub id: RoleId,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub scope: ScopeKind,
    pub name: String,
    pub description: String,
    /// Shipped by the catalogue; cannot be changed or deleted.
    pub is_predefined: bool,
    pub policy_ids: Vec<PolicyId>,
    pub policies: Vec<PolicyRefView>,
    /// Inline permissions, as keys.
    pub permissions: Vec<String>,
    /// Inline permissions, as ids.
    pub permission_ids: Vec<PermissionId>,
    /// Everything the role grants: inline permissions and those of its policies.
    pub effective_permissions: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl RoleView {
    pub fn new(r: RoleRecord) -> Self {
        let scope = kind_of(r.project_id);
        RoleView {
            id: r.id,
            org_id: r.org_id,
            project_id: r.project_id,
            scope,
            name: r.name,
            description: r.description,
            is_predefined: r.predefined_key.is_some(),
            policy_ids: r.policies.iter().map(|p| p.id).collect(),
            policies: r
                .policies
                .into_iter()
                .map(|p| PolicyRefView {
                    id: p.id,
                    name: p.name,
                })
                .collect(),
            permission_ids: ids(scope, &r.permissions),
            permissions: r.permissions,
            effective_permissions: r.effective_permissions,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

/// What a delete removed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Deleted {
    pub id: uuid::Uuid,
    pub deleted: bool,
    pub revision: u64,
    /// Roles that lost a deleted policy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles_changed: Vec<RoleId>,
    /// Members whose memberships went with a deleted role.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub memberships_removed: Vec<String>,
}

/// Every permission of a scope kind, as listed by the API.
pub fn permissions_of(cat: &Catalogue, kind: ScopeKind) -> Vec<PermissionView> {
    cat.scope(kind)
        .permissions
        .iter()
        .map(PermissionView::from)
        .collect()
}
