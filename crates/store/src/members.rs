//! Memberships: which principal holds which role in which scope, with the rules of
//! ownership (an org keeps at least one Owner; only an Owner makes or unmakes an Owner).

use serde_json::json;
use sqlx::Row;
use warden_model::{Effect, Principal, RoleId, Scope, TeamId, UserId};

use crate::catalog_rows::uuid_col;
use crate::{doc, now, Change, Page, Paged, RoleRecord, Store, StoreError, Tx, Written};

/// A membership as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberRecord {
    pub principal: Principal,
    pub role_id: RoleId,
    pub role_name: String,
    /// The user's email, for users.
    pub email: Option<String>,
    /// The user's, team's or key's name.
    pub name: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Filters of the member list.
#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    pub role_id: Option<RoleId>,
    /// `user`, `team` or `api_key`.
    pub principal_type: Option<String>,
}

const MEMBER_SELECT: &str = "SELECT m.principal_type, m.principal_id, m.role_id, r.name AS role_name, m.created_at, m.updated_at,
        u.email AS email, COALESCE(u.name, t.name, k.name) AS display_name
    FROM memberships m
    JOIN roles r ON r.id = m.role_id
    LEFT JOIN users u ON m.principal_type = 'user' AND u.id = m.principal_id
    LEFT JOIN teams t ON m.principal_type = 'team' AND t.id = m.principal_id
    LEFT JOIN api_keys k ON m.principal_type = 'api_key' AND k.id = m.principal_id";

fn member_from_row(row: &sqlx::any::AnyRow) -> Result<MemberRecord, StoreError> {
    let kind: String = row.try_get("principal_type")?;
    let principal = Principal::from_parts(&kind, uuid_col(row, "principal_id")?)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown principal type `{kind}`")))?;
    Ok(MemberRecord {
        principal,
        role_id: RoleId(uuid_col(row, "role_id")?),
        role_name: row.try_get("role_name")?,
        email: row.try_get("email")?,
        name: row
            .try_get::<Option<String>, _>("display_name")?
            .filter(|n| !n.is_empty()),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn forbidden(message: impl Into<String>) -> StoreError {
    StoreError::Forbidden {
        code: "owner_required",
        message: message.into(),
    }
}

impl Store {
    /// The members of a scope, by principal id.
    pub async fn list_members(
        &self,
        scope: Scope,
        filter: &MemberFilter,
        page: Page,
    ) -> Result<Paged<MemberRecord>, StoreError> {
        let mut sql = format!("{MEMBER_SELECT} WHERE m.scope_id = $1 AND m.principal_id > $2");
        let mut n = 2;
        if filter.role_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND m.role_id = ${n}"));
        }
        if filter.principal_type.is_some() {
            n += 1;
            sql.push_str(&format!(" AND m.principal_type = ${n}"));
        }
        sql.push_str(&format!(" ORDER BY m.principal_id LIMIT ${}", n + 1));
        let mut q = sqlx::query(&sql)
            .bind(scope.key().to_string())
            .bind(page.after_str());
        if let Some(r) = filter.role_id {
            q = q.bind(r.to_string());
        }
        if let Some(t) = &filter.principal_type {
            q = q.bind(t.clone());
        }
        let rows = q.bind(page.fetch()).fetch_all(&self.read).await?;
        let items = rows
            .iter()
            .map(member_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish(items, |m| m.principal.uuid()))
    }

    /// One membership of a scope.
    pub async fn get_member(
        &self,
        scope: Scope,
        principal: Principal,
    ) -> Result<MemberRecord, StoreError> {
        let row = sqlx::query(&format!(
            "{MEMBER_SELECT} WHERE m.scope_id = $1 AND m.principal_type = $2 AND m.principal_id = $3"
        ))
        .bind(scope.key().to_string())
        .bind(principal.kind())
        .bind(principal.uuid().to_string())
        .fetch_optional(&self.read)
        .await?
        .ok_or_else(|| StoreError::not_found("member", principal))?;
        member_from_row(&row)
    }

    async fn member_in_tx(
        &self,
        tx: &mut Tx,
        scope: Scope,
        principal: Principal,
    ) -> Result<Option<MemberRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "{MEMBER_SELECT} WHERE m.scope_id = $1 AND m.principal_type = $2 AND m.principal_id = $3"
        ))
        .bind(scope.key().to_string())
        .bind(principal.kind())
        .bind(principal.uuid().to_string())
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(member_from_row).transpose()
    }

    /// Refuses principals that are not of the scope's org (reported as not found, so that
    /// nothing of other orgs is revealed), and project keys outside their project.
    async fn check_principal(
        &self,
        tx: &mut Tx,
        scope: Scope,
        principal: Principal,
    ) -> Result<(), StoreError> {
        let org = scope.org_id.to_string();
        let id = principal.uuid().to_string();
        let found = match principal {
            Principal::User(u) => self.is_org_user(tx, scope.org_id, u).await?,
            Principal::Team(_) => {
                sqlx::query("SELECT 1 AS x FROM teams WHERE id = $1 AND org_id = $2")
                    .bind(&id)
                    .bind(&org)
                    .fetch_optional(&mut **tx)
                    .await?
                    .is_some()
            }
            Principal::ApiKey(_) => {
                let row = sqlx::query("SELECT project_id FROM api_keys WHERE id = $1 AND org_id = $2 AND user_id IS NULL")
                    .bind(&id)
                    .bind(&org)
                    .fetch_optional(&mut **tx)
                    .await?;
                match row {
                    None => false,
                    Some(r) => {
                        let key_project: Option<String> = r.try_get("project_id")?;
                        if let Some(kp) = key_project {
                            if scope.project_id.map(|p| p.to_string()) != Some(kp) {
                                return Err(StoreError::unprocessable(
                                    "key_of_another_scope",
                                    format!("`{principal}` is a project key; it can hold a role only in its own project"),
                                    json!({"principal": principal}),
                                ));
                            }
                        }
                        true
                    }
                }
            }
        };
        if found {
            Ok(())
        } else {
            let kind = match principal {
                Principal::User(_) => "user",
                Principal::Team(_) => "team",
                Principal::ApiKey(_) => "API key",
            };
            Err(StoreError::NotFound {
                kind,
                id: format!("{} (in this organization)", principal.uuid()),
            })
        }
    }

    /// Refuses a project scope whose project is not of the scope's org.
    async fn check_scope(&self, tx: &mut Tx, scope: Scope) -> Result<(), StoreError> {
        if let Some(p) = scope.project_id {
            let found = sqlx::query("SELECT 1 AS x FROM projects WHERE id = $1 AND org_id = $2")
                .bind(p.to_string())
                .bind(scope.org_id.to_string())
                .fetch_optional(&mut **tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::not_found("project", p));
            }
        }
        Ok(())
    }

    /// The Owners of `scope`: all of them, and those who are users (people).
    async fn owner_counts(&self, tx: &mut Tx, scope: Scope) -> Result<(i64, i64), StoreError> {
        let key = &self.catalogue.scope(scope.kind()).owner_role;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN m.principal_type = 'user' THEN 1 ELSE 0 END), 0) AS users
             FROM memberships m JOIN roles r ON r.id = m.role_id WHERE m.scope_id = $1 AND r.predefined_key = $2",
        )
        .bind(scope.key().to_string())
        .bind(key)
        .fetch_one(&mut **tx)
        .await?;
        Ok((row.try_get("n")?, row.try_get("users")?))
    }

    async fn role_is_owner(
        &self,
        tx: &mut Tx,
        scope: Scope,
        role: RoleId,
    ) -> Result<bool, StoreError> {
        let key = &self.catalogue.scope(scope.kind()).owner_role;
        let row = sqlx::query("SELECT predefined_key FROM roles WHERE id = $1")
            .bind(role.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        Ok(match row {
            Some(r) => {
                r.try_get::<Option<String>, _>("predefined_key")?.as_deref() == Some(key.as_str())
            }
            None => false,
        })
    }

    /// Refuses taking the Owner role away from the last Owner of an org, or from the last
    /// one who is a person: API keys and teams holding the role do not count, since
    /// nobody could then sign in to the console as an Owner.
    async fn keep_an_owner(
        &self,
        tx: &mut Tx,
        scope: Scope,
        current: &MemberRecord,
    ) -> Result<(), StoreError> {
        if scope.project_id.is_some() {
            return Ok(());
        }
        let (owners, users) = self.owner_counts(tx, scope).await?;
        let a_user = matches!(current.principal, Principal::User(_));
        let message = if owners <= 1 {
            format!("`{}` is the last Owner of the organization; make another member Owner first (or transfer ownership)", current.principal)
        } else if a_user && users <= 1 {
            format!("`{}` is the last Owner of the organization who is a person (API keys and teams do not count); make another user Owner first (or transfer ownership)", current.principal)
        } else {
            return Ok(());
        };
        Err(StoreError::conflict(
            "last_owner",
            message,
            json!({"principal": current.principal}),
        ))
    }

    /// Gives `principal` the role `role` in `scope` (adding it or changing its role).
    /// `caller_is_owner` says whether the caller holds the Owner role there: only an Owner
    /// makes or unmakes an Owner.
    pub async fn set_member(
        &self,
        actor: &str,
        scope: Scope,
        principal: Principal,
        role: &RoleRecord,
        caller_is_owner: bool,
    ) -> Result<Written<MemberRecord>, StoreError> {
        let mut tx = self.begin().await?;
        self.check_scope(&mut tx, scope).await?;
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
        // Read again under the write lock, so that a concurrent delete is seen.
        let role = &self.role_in_tx(&mut tx, scope, role.id).await?;
        self.check_principal(&mut tx, scope, principal).await?;
        let before = self.member_in_tx(&mut tx, scope, principal).await?;
        let new_is_owner = self.is_owner_role(role);
        if new_is_owner && !caller_is_owner {
            return Err(forbidden(
                "only an Owner can make another principal an Owner",
            ));
        }
        if let Some(current) = &before {
            if current.role_id == role.id {
                // Nothing changes: no entry, the current revision.
                drop(tx);
                return Ok(Written {
                    value: current.clone(),
                    revision: self.revision().await?,
                });
            }
            if self.role_is_owner(&mut tx, scope, current.role_id).await? {
                if !caller_is_owner {
                    return Err(forbidden("only an Owner can change the role of an Owner"));
                }
                self.keep_an_owner(&mut tx, scope, current).await?;
            }
        }
        let effect = self
            .put_membership(&mut tx, scope, principal, role.id)
            .await?;
        let after = self
            .member_in_tx(&mut tx, scope, principal)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt("membership vanished inside its transaction".into())
            })?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "member.set",
            target: principal.to_string(),
            before: before.as_ref().and_then(doc),
            after: doc(&after),
            effects: vec![effect],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: after,
            revision,
        })
    }

    /// Removes a principal's membership of a scope. Removing a user from an org removes
    /// the user from the org altogether: its project memberships and its teams too.
    pub async fn remove_member(
        &self,
        actor: &str,
        scope: Scope,
        principal: Principal,
        caller_is_owner: bool,
    ) -> Result<Written<MemberRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let current = self.member_in_tx(&mut tx, scope, principal).await?;
        let leaving_org = scope.project_id.is_none() && matches!(principal, Principal::User(_));
        let Some(current) = current else {
            return Err(StoreError::not_found("member", principal));
        };
        if self.role_is_owner(&mut tx, scope, current.role_id).await? {
            if !caller_is_owner {
                return Err(forbidden("only an Owner can remove an Owner"));
            }
            self.keep_an_owner(&mut tx, scope, &current).await?;
        }
        let mut effects = Vec::new();
        if leaving_org {
            let rows = sqlx::query("SELECT org_id, project_id FROM memberships WHERE org_id = $1 AND principal_type = 'user' AND principal_id = $2")
                .bind(scope.org_id.to_string())
                .bind(principal.uuid().to_string())
                .fetch_all(&mut *tx)
                .await?;
            for r in &rows {
                let project_id = crate::catalog_rows::opt_uuid_col(r, "project_id")?
                    .map(warden_model::ProjectId);
                effects.push(Effect::DeleteMembership {
                    scope: Scope {
                        org_id: scope.org_id,
                        project_id,
                    },
                    principal,
                });
            }
            sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND principal_type = 'user' AND principal_id = $2")
                .bind(scope.org_id.to_string())
                .bind(principal.uuid().to_string())
                .execute(&mut *tx)
                .await?;
            let teams = sqlx::query("SELECT tu.team_id FROM team_users tu JOIN teams t ON t.id = tu.team_id WHERE t.org_id = $1 AND tu.user_id = $2")
                .bind(scope.org_id.to_string())
                .bind(principal.uuid().to_string())
                .fetch_all(&mut *tx)
                .await?;
            for t in &teams {
                let team_id = TeamId(uuid_col(t, "team_id")?);
                effects.push(Effect::DeleteTeamUser {
                    team_id,
                    user_id: UserId(principal.uuid()),
                });
                sqlx::query("DELETE FROM team_users WHERE team_id = $1 AND user_id = $2")
                    .bind(team_id.to_string())
                    .bind(principal.uuid().to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM org_users WHERE org_id = $1 AND user_id = $2")
                .bind(scope.org_id.to_string())
                .bind(principal.uuid().to_string())
                .execute(&mut *tx)
                .await?;
            // Personal keys act as the user; they go with it.
            sqlx::query("DELETE FROM api_keys WHERE org_id = $1 AND user_id = $2")
                .bind(scope.org_id.to_string())
                .bind(principal.uuid().to_string())
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("DELETE FROM memberships WHERE scope_id = $1 AND principal_type = $2 AND principal_id = $3")
                .bind(scope.key().to_string())
                .bind(principal.kind())
                .bind(principal.uuid().to_string())
                .execute(&mut *tx)
                .await?;
            effects.push(Effect::DeleteMembership { scope, principal });
        }
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: if leaving_org {
                "member.remove_from_org"
            } else {
                "member.remove"
            },
            target: principal.to_string(),
            before: doc(&current),
            after: None,
            effects,
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: current,
            revision,
        })
    }

    /// Makes `target` the Owner of `scope` and demotes `caller` (when it holds the Owner role
    /// there directly) to the catalogue's demotion role: Admin in an org, Manager in a project.
    pub async fn transfer_ownership(
        &self,
        actor: &str,
        scope: Scope,
        caller: Principal,
        target: UserId,
    ) -> Result<Written<MemberRecord>, StoreError> {
        let target_p = Principal::User(target);
        if caller == target_p {
            return Err(StoreError::unprocessable(
                "same_principal",
                "you already are the Owner: name another user",
                json!({"field": "user_id"}),
            ));
        }
        let mut tx = self.begin().await?;
        self.check_principal(&mut tx, scope, target_p).await?;
        let cat = self.catalogue.scope(scope.kind());
        let owner = self
            .predefined_role_id(&mut tx, scope, &cat.owner_role)
            .await?;
        let demoted = self
            .predefined_role_id(&mut tx, scope, &cat.demote_owner_to)
            .await?;
        let before = self.member_in_tx(&mut tx, scope, target_p).await?;
        let mut effects = vec![self.put_membership(&mut tx, scope, target_p, owner).await?];
        let caller_member = self.member_in_tx(&mut tx, scope, caller).await?;
        if let Some(m) = &caller_member {
            if m.role_id == owner {
                effects.push(self.put_membership(&mut tx, scope, caller, demoted).await?);
            }
        }
        let after = self
            .member_in_tx(&mut tx, scope, target_p)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt("membership vanished inside its transaction".into())
            })?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "ownership.transfer",
            target: target_p.to_string(),
            before: doc(&json!({"new_owner_before": before, "previous_owner": caller_member})),
            after: doc(
                &json!({"new_owner": after, "previous_owner": caller, "previous_owner_role_id": demoted}),
            ),
            effects,
        };
        let now_rev = self.commit(tx, change).await?;
        let _ = now();
        Ok(Written {
            value: after,
            revision: now_rev,
        })
    }
}
