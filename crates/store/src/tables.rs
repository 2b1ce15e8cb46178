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
    /// The API keys that hold a role in the org or its projects: where each lives and
    /// whether it is valid. Keys without a role (and personal keys, which act as their user)
    /// hold nothing and are left out.
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
    /// two of its queries). An org that does not exist reads as empty tables. Rows are found
    /// through their `scope_id` (the org and its projects), which the indexes cover.
    pub async fn org_tables(&self, org: OrgId) -> Result<OrgTables, StoreError> {
        let mut tx = self.begin_read().await?;
        let o = org.to_string();
        let mut t = OrgTables::default();

        for r in sqlx::query("SELECT id, restricted FROM projects WHERE org_id = $1 ORDER BY id")
            .bind(&o)
            .fetch_all(&mut *tx)
            .await?
        {
            t.projects.push((
                ProjectId(uuid_col(&r, "id")?),
                r.try_get::<i64, _>("restricted")? != 0,
            ));
        }
        for r in sqlx::query("SELECT user_id FROM org_users WHERE org_id = $1 ORDER BY user_id")
            .bind(&o)
            .fetch_all(&mut *tx)
            .await?
        {
            t.users.push(UserId(uuid_col(&r, "user_id")?));
        }
        // Teams with their users (a team without users reads as one row with a NULL user).
        for r in sqlx::query(
            "SELECT t.id, tu.user_id FROM teams t LEFT JOIN team_users tu ON tu.team_id = t.id
             WHERE t.org_id = $1 ORDER BY t.id, tu.user_id",
        )
        .bind(&o)
        .fetch_all(&mut *tx)
        .await?
        {
            let team = TeamId(uuid_col(&r, "id")?);
            if t.teams.last() != Some(&team) {
                t.teams.push(team);
            }
            if let Some(u) = opt_uuid_col(&r, "user_id")? {
                t.team_users.push((team, UserId(u)));
            }
        }
        for r in sqlx::query(
            "SELECT project_id, principal_type, principal_id, role_id FROM memberships
             WHERE scope_id IN (SELECT $1 UNION ALL SELECT id FROM projects WHERE org_id = $2)
             ORDER BY scope_id, principal_type, principal_id",
        )
        .bind(&o)
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
        // API keys through their memberships: `api_keys` has no index on `org_id`, and a key
        // that holds no role holds nothing.
        for r in sqlx::query(
            "SELECT DISTINCT k.id, k.project_id, k.valid FROM memberships m
             JOIN api_keys k ON k.id = m.principal_id
             WHERE m.principal_type = 'api_key' AND k.org_id = $1 AND k.user_id IS NULL
               AND m.scope_id IN (SELECT $2 UNION ALL SELECT id FROM projects WHERE org_id = $3)
             ORDER BY k.id",
        )
        .bind(&o)
        .bind(&o)
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

        // Policies: custom ones with their permission rows, predefined ones from the catalogue.
        for r in sqlx::query(
            "SELECT p.id, p.project_id, p.predefined_key, pp.permission FROM policies p
             LEFT JOIN policy_permissions pp ON pp.policy_id = p.id
             WHERE p.scope_id IN (SELECT $1 UNION ALL SELECT id FROM projects WHERE org_id = $2)",
        )
        .bind(&o)
        .bind(&o)
        .fetch_all(&mut *tx)
        .await?
        {
            let id = PolicyId(uuid_col(&r, "id")?);
            let perms = t.policy_perms.entry(id).or_default();
            match r.try_get::<Option<String>, _>("predefined_key")? {
                Some(key) => {
                    let kind = kind_of(opt_uuid_col(&r, "project_id")?);
                    if let Some(p) = self.catalogue.scope(kind).policy(&key) {
                        perms.extend(p.permissions.iter().cloned());
                    }
                }
                None => perms.extend(r.try_get::<Option<String>, _>("permission")?),
            }
        }

        // Roles: their policies, their inline permissions, and what they grant in all.
        for r in sqlx::query(
            "SELECT rp.role_id, rp.policy_id FROM roles r JOIN role_policies rp ON rp.role_id = r.id
             WHERE r.scope_id IN (SELECT $1 UNION ALL SELECT id FROM projects WHERE org_id = $2)
             ORDER BY rp.role_id, rp.position",
        )
        .bind(&o)
        .bind(&o)
        .fetch_all(&mut *tx)
        .await?
        {
            t.role_policies
                .entry(RoleId(uuid_col(&r, "role_id")?))
                .or_default()
                .push(PolicyId(uuid_col(&r, "policy_id")?));
        }
        // Roles with their inline permission rows (a role without any reads as one row with
        // a NULL permission).
        let mut custom_inline: HashMap<RoleId, BTreeSet<String>> = HashMap::new();
        let mut roles: Vec<(RoleId, Option<uuid::Uuid>, Option<String>)> = Vec::new();
        for r in sqlx::query(
            "SELECT r.id, r.project_id, r.predefined_key, rp.permission FROM roles r
             LEFT JOIN role_permissions rp ON rp.role_id = r.id
             WHERE r.scope_id IN (SELECT $1 UNION ALL SELECT id FROM projects WHERE org_id = $2)
             ORDER BY r.id",
        )
        .bind(&o)
        .bind(&o)
        .fetch_all(&mut *tx)
        .await?
        {
            let id = RoleId(uuid_col(&r, "id")?);
            if roles.last().map(|x| x.0) != Some(id) {
                roles.push((
                    id,
                    opt_uuid_col(&r, "project_id")?,
                    r.try_get("predefined_key")?,
                ));
            }
            if let Some(k) = r.try_get::<Option<String>, _>("permission")? {
                custom_inline.entry(id).or_default().insert(k);
            }
        }
        for (id, project, predefined) in roles {
            let cat = self.catalogue.scope(kind_of(project));
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
