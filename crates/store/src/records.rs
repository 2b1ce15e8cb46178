//! What the store returns: plain records, serializable as the change log's `before` and
//! `after` documents. Permissions are keys (`dataset:read`); the server adds their ids.

use serde::Serialize;
use warden_model::{
    ApiKeyId, Description, Name, OrgId, PolicyId, Principal, ProjectId, RoleId, Scope, UserId,
};

/// An organization.
#[derive(Debug, Clone, Serialize)]
pub struct OrgRecord {
    pub id: OrgId,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

/// A project.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectRecord {
    pub id: ProjectId,
    pub org_id: OrgId,
    pub name: String,
    pub description: String,
    pub restricted: bool,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

/// A policy. Predefined policies carry their catalogue key and the catalogue's permissions.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyRecord {
    pub id: PolicyId,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub name: String,
    pub description: String,
    pub predefined_key: Option<String>,
    pub permissions: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl PolicyRecord {
    /// Where the policy lives.
    pub fn scope(&self) -> Scope {
        Scope {
            org_id: self.org_id,
            project_id: self.project_id,
        }
    }
}

/// A policy as a role refers to it.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyRef {
    pub id: PolicyId,
    pub name: String,
}

/// A role. `permissions` are its inline permissions; `effective_permissions` adds those of
/// its policies. Predefined roles carry their catalogue key and the catalogue's grants.
#[derive(Debug, Clone, Serialize)]
pub struct RoleRecord {
    pub id: RoleId,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub name: String,
    pub description: String,
    pub predefined_key: Option<String>,
    pub permissions: Vec<String>,
    pub policies: Vec<PolicyRef>,
    pub effective_permissions: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl RoleRecord {
    /// Where the role lives.
    pub fn scope(&self) -> Scope {
        Scope {
            org_id: self.org_id,
            project_id: self.project_id,
        }
    }
}

/// A user.
#[derive(Debug, Clone, Serialize)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub status: String,
    pub created_at: String,
}

/// An API key, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub name: String,
    pub last_chars: String,
    pub valid: bool,
    pub created_by: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
}

/// A membership: principal P holds role R in scope S.
#[derive(Debug, Clone, Serialize)]
pub struct MembershipRecord {
    pub scope: Scope,
    pub principal: Principal,
    pub role_id: RoleId,
}

/// A new policy, validated.
#[derive(Debug, Clone)]
pub struct NewPolicy {
    pub name: Name,
    pub description: Description,
    /// Permission keys of the policy's scope, without duplicates.
    pub permissions: Vec<String>,
}

/// Changes to a policy; `None` leaves a field as it is; a list replaces the old one.
#[derive(Debug, Clone, Default)]
pub struct PolicyPatch {
    pub name: Option<Name>,
    pub description: Option<Description>,
    pub permissions: Option<Vec<String>>,
}

/// A new role, validated.
#[derive(Debug, Clone)]
pub struct NewRole {
    pub name: Name,
    pub description: Description,
    pub policy_ids: Vec<PolicyId>,
    pub permissions: Vec<String>,
}

/// Changes to a role; `None` leaves a field as it is; a list replaces the old one.
#[derive(Debug, Clone, Default)]
pub struct RolePatch {
    pub name: Option<Name>,
    pub description: Option<Description>,
    pub policy_ids: Option<Vec<PolicyId>>,
    pub permissions: Option<Vec<String>>,
}

/// A new project, validated.
#[derive(Debug, Clone)]
pub struct NewProject {
    pub name: Name,
    pub description: Description,
    pub restricted: bool,
}

/// Changes to a project.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    pub name: Option<Name>,
    pub description: Option<Description>,
    pub restricted: Option<bool>,
}

/// What a deletion removed besides its target.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cascade {
    /// Roles that lost the deleted policy.
    pub roles_changed: Vec<RoleId>,
    /// Memberships removed with the deleted role.
    pub memberships_removed: Vec<Principal>,
}
