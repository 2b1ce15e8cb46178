//! A plain read of an org's access tables, for audits and for tests that compare the
//! engine with a naive reading of the store.

use std::collections::{BTreeSet, HashMap};

use sqlx::Row;
use warden_model::{
    ApiKeyId, OrgId, PolicyId, Principal, ProjectId, RoleId, Scope, ScopeKind, TeamId, UserId,
};

use crate::catalog_rows::{opt_uuid_col, uuid_col};
use crate::{Store, StoreError};

/// The rows of one org that decide who may do what, read as they are (no rule applied),
/// with the catalogue's permissions filled in for predefined roles and policies.
#[derive(Debug, Clone, Default)]
pub struct OrgTables {
    /// The org's projects and whether each is restricted.
    pub projects: Vec<(ProjectId, bool)>,
    /// The users that belong to the org (`org_users`).
    pub users: Vec<UserId>,
    /// The org's teams.
    pub teams: Vec<TeamId>,
    /// Every membership of the org and of its projects: principal P holds role R in S.
    pub memberships: Vec<(Scope, Principal, RoleId)>,
    /// Every role of the org and of its projects: its scope, its catalogue key when it is
    /// predefined, and every permission it grants (inline ∪ its policies'; for predefined
    /// roles the catalogue's grants).
    pub role_grants: HashMap<RoleId, (Scope, Option<String>, BTreeSet<String>)>,
    /// Every policy's permissions (the catalogue's for predefined policies).
    pub policy_perms: HashMap<PolicyId, BTreeSet<String>>,
    /// The policies of each role, in the role's order.
    pub role_policies: HashMap<RoleId, Vec<PolicyId>>,
    /// The inline permissions of each role (the catalogue's for predefined roles).
    pub role_inline: HashMap<RoleId, BTreeSet<String>>,
    /// Which users are in which team.
    pub team_users: Vec<(TeamId, UserId)>,
    /// The org's and its projects' role-holding API keys (personal keys, which act as their
    /// user and hold no role, are left out): where each lives and whether it is valid.
    pub api_keys: Vec<(ApiKeyId, Scope, bool)>,
}

fn scope_of(org: OrgId, project: Option<uuid::Uuid>) -> Scope {
    Scope {
        org_id: org,
        project_id: project.map(ProjectId),
    }
}

impl Store {
    /// Reads an org's access tables in one read transaction (so that no write lands between
    /// two of its queries). An org that does not exist reads as empty tables.
    pub async fn org_tables(&self, org: OrgId) -> Result<OrgTables, StoreError> {
        let mut tx = self.read.begin().await?;
        let o = org.to_string();
        let mut t = OrgTables::default();

        for r in sqlx::query("SELECT id, restricted FROM projects WHERE org_id = ? ORDER BY id")
            .bind(&o)
            .fetch_all(&mut *tx)
            .await?
        {
            t.projects.push((
                ProjectId(uuid_col(&r, "id")?),
                r.try_get::<i64, _>("restricted")? != 0,
            ));
        }
        for r in sqlx::query("SELECT user_id FROM org_users WHERE org_id = ? ORDER BY user_id")
            .bind(&o)
            .fetch_all(&mut *tx)
            .await?
        {
            t.users.push(UserId(uuid_col(&r, "user_id")?));
        }
        for r in sqlx::query("SELECT id FROM teams WHERE org_id = ? ORDER BY id")
            .bind(&o)
            .fetch_all(&mut *tx)
            .await?
        {
            t.teams.push(TeamId(uuid_col(&r, "id")?));
        }
        for r in sqlx::query(
            "SELECT tu.team_id, tu.user_id FROM team_users tu JOIN teams t ON t.id = tu.team_id
             WHERE t.org_id = ? ORDER BY tu.team_id, tu.user_id",
        )
        .bind(&o)
        .fetch_all(&mut *tx)
        .await?
        {
            t.team_users.push((
                TeamId(uuid_col(&r, "team_id")?),
                UserId(uuid_col(&r, "user_id")?),
            ));
        }
        for r in sqlx::query(
            "SELECT project_id, principal_type, principal_id, role_id FROM memberships
             WHERE org_id = ? ORDER BY scope_id, principal_type, principal_id",
        )
        .bind(&o)
        .fetch_all(&mut *tx)
        .await?
        {
            let kind: String = r.try_get("principal_type")?;
            let principal = Principal::from_parts(&kind, uuid_col(&r, "principal_id")?)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("membership of unknown principal type `{kind}`"))
                })?;
            t.memberships.push((
                scope_of(org, opt_uuid_col(&r, "project_id")?),
                principal,
                RoleId(uuid_col(&r, "role_id")?),
            ));
        }
        for r in sqlx::query(
            "SELECT id, project_id, valid FROM api_keys WHERE org_id = ? AND user_id IS NULL ORDER BY id",
        )
        .bind(&o)
        .fetch_all(&mut *tx)
        .await?
        {
            t.api_keys.push((
                ApiKeyId(uuid_col(&r, "id")?),
                scope_of(org, opt_uuid_col(&r, "project_id")?),
                r.try_get::<i64, _>("valid")? != 0,
            ));
        }

        // Policies: custom ones from their rows, predefined ones from the catalogue.
        let mut custom_policy_perms: HashMap<PolicyId, BTreeSet<String>> = HashMap::new();
        for r in sqlx::query(
            "SELECT pp.policy_id, pp.permission FROM policy_permissions pp
             JOIN policies p ON p.id = pp.policy_id WHERE p.org_id = ?",
        )
        .bind(&o)
        .fetch_all(&mut *tx)
        .await?
        {
            custom_policy_perms
                .entry(PolicyId(uuid_col(&r, "policy_id")?))
                .or_default()
                .insert(r.try_get("permission")?);
        }
        for r in sqlx::query("SELECT id, project_id, predefined_key FROM policies WHERE org_id = ?")
            .bind(&o)
            .fetch_all(&mut *tx)
            .await?
        {
            let id = PolicyId(uuid_col(&r, "id")?);
            let kind = kind_of(opt_uuid_col(&r, "project_id")?);
            let perms = match r.try_get::<Option<String>, _>("predefined_key")? {
                Some(key) => self
                    .catalogue
                    .scope(kind)
                    .policy(&key)
                    .map(|p| p.permissions.iter().cloned().collect())
                    .unwrap_or_default(),
                None => custom_policy_perms.remove(&id).unwrap_or_default(),
            };
            t.policy_perms.insert(id, perms);
        }

        // Roles: their policies, their inline permissions, and what they grant in all.
        for r in sqlx::query(
            "SELECT rp.role_id, rp.policy_id FROM role_policies rp JOIN roles r ON r.id = rp.role_id
             WHERE r.org_id = ? ORDER BY rp.role_id, rp.position",
        )
        .bind(&o)
        .fetch_all(&mut *tx)
        .await?
        {
            t.role_policies
                .entry(RoleId(uuid_col(&r, "role_id")?))
                .or_default()
                .push(PolicyId(uuid_col(&r, "policy_id")?));
        }
        let mut custom_inline: HashMap<RoleId, BTreeSet<String>> = HashMap::new();
        for r in sqlx::query(
            "SELECT rp.role_id, rp.permission FROM role_permissions rp JOIN roles r ON r.id = rp.role_id
             WHERE r.org_id = ?",
        )
        .bind(&o)
        .fetch_all(&mut *tx)
        .await?
        {
            custom_inline
                .entry(RoleId(uuid_col(&r, "role_id")?))
                .or_default()
                .insert(r.try_get("permission")?);
        }
        for r in sqlx::query("SELECT id, project_id, predefined_key FROM roles WHERE org_id = ?")
            .bind(&o)
            .fetch_all(&mut *tx)
            .await?
        {
            let id = RoleId(uuid_col(&r, "id")?);
            let project = opt_uuid_col(&r, "project_id")?;
            let cat = self.catalogue.scope(kind_of(project));
            let predefined: Option<String> = r.try_get("predefined_key")?;
            let (inline, grants) = match predefined.as_deref().map(|k| cat.role(k)) {
                Some(Some(role)) => (
                    role.permissions.iter().cloned().collect(),
                    cat.role_grants(role),
                ),
                // A predefined key the catalogue no longer has grants nothing.
                Some(None) => (BTreeSet::new(), BTreeSet::new()),
                None => {
                    let inline = custom_inline.remove(&id).unwrap_or_default();
                    let mut grants = inline.clone();
                    for p in t.role_policies.get(&id).into_iter().flatten() {
                        grants.extend(t.policy_perms.get(p).into_iter().flatten().cloned());
                    }
                    (inline, grants)
                }
            };
            t.role_inline.insert(id, inline);
            t.role_grants
                .insert(id, (scope_of(org, project), predefined, grants));
        }
        tx.commit().await?;
        Ok(t)
    }
}

fn kind_of(project: Option<uuid::Uuid>) -> ScopeKind {
    if project.is_some() {
        ScopeKind::Project
    } else {
        ScopeKind::Org
    }
}
