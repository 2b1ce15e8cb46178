//! Teams: named groups of users inside an org. A team holds org and project roles like a
//! user does (memberships with principal `team:<id>`), and its users hold them through it.
//!
//! A team is referred to by id or by key, a readable slug unique in its org
//! (`data-science`). Keys are never UUIDs, so that the two cannot be confused.

use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use warden_model::{
    Description, Effect, Name, OrgId, Principal, ProjectId, RoleId, Scope, TeamId, UserId,
};

use crate::catalog_rows::{opt_uuid_col, uuid_col};
use crate::orgs::check_version;
use crate::{
    doc, now, Change, Page, Paged, RoleRecord, Store, StoreError, Tx, UserRecord, Written,
};

/// The longest team key accepted, in characters.
pub const TEAM_KEY_MAX: usize = 64;

/// A team.
#[derive(Debug, Clone, Serialize)]
pub struct TeamRecord {
    pub id: TeamId,
    pub org_id: OrgId,
    /// Readable and unique in the org: `^[a-z0-9][a-z0-9_-]{0,63}$`, never a UUID.
    pub key: String,
    pub name: String,
    pub description: String,
    pub user_count: i64,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

/// A new team, validated. Without a key, one is derived from the name.
#[derive(Debug, Clone)]
pub struct NewTeam {
    /// A key checked with [`parse_team_key`].
    pub key: Option<String>,
    pub name: Name,
    pub description: Description,
}

/// Changes to a team; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TeamPatch {
    pub name: Option<Name>,
    pub description: Option<Description>,
    /// A key checked with [`parse_team_key`].
    pub key: Option<String>,
}

/// What adding a user to a team did.
#[derive(Debug, Clone, Serialize)]
pub struct TeamUserChange {
    /// The team, after the change.
    pub team: TeamRecord,
    pub user: UserRecord,
    /// False when the user already was in the team (nothing was written).
    pub changed: bool,
}

/// Checks a team key: 1 to 64 lowercase ASCII letters, digits, `-` and `_`, starting with a
/// letter or digit, and not a UUID. Returns it trimmed.
pub fn parse_team_key(raw: &str) -> Result<String, String> {
    let key = raw.trim();
    let shown: String = raw.chars().take(80).collect();
    let mut chars = key.chars();
    let well_formed = key.len() <= TEAM_KEY_MAX
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !well_formed {
        return Err(format!(
            "`{shown}` is not a team key: use 1 to {TEAM_KEY_MAX} lowercase letters, digits, `-` and `_`, starting with a letter or digit, such as `data-science`"
        ));
    }
    if uuid::Uuid::try_parse(key).is_ok() {
        return Err(format!(
            "`{shown}` is a UUID, which would read as a team id: choose a key that is not a UUID, such as `data-science`"
        ));
    }
    Ok(key.to_owned())
}

/// The key a name gives: ASCII letters and digits lowercased, every run of other characters
/// turned into one `-`, trimmed and cut to the longest key. Empty for names without ASCII
/// letters or digits.
pub fn derive_team_key(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    cut_key(&out, TEAM_KEY_MAX)
}

/// Cuts an ASCII key to `max` characters without leaving a trailing `-`.
fn cut_key(key: &str, max: usize) -> String {
    let mut out: String = key.chars().take(max).collect();
    while out.ends_with('-') || out.ends_with('_') {
        out.pop();
    }
    out
}

const TEAM_SELECT: &str =
    "SELECT t.id, t.org_id, t.key, t.name, t.description, t.created_at, t.updated_at, t.version,
    (SELECT COUNT(*) FROM team_users tu WHERE tu.team_id = t.id) AS user_count
    FROM teams t";

fn team_from_row(row: &AnyRow) -> Result<TeamRecord, StoreError> {
    Ok(TeamRecord {
        id: TeamId(uuid_col(row, "id")?),
        org_id: OrgId(uuid_col(row, "org_id")?),
        key: row.try_get("key")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        user_count: row.try_get("user_count")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        version: row.try_get("version")?,
    })
}

const USER_COLS: &str = "u.id, u.email, u.name, u.status, u.created_at";

fn user_from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: UserId(uuid_col(row, "id")?),
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The way a team reference is echoed in messages: cut to a readable length.
fn shown(team: &str) -> String {
    team.chars().take(80).collect()
}

impl Store {
    /// A team of `org` by id (a UUID) or by key (anything else). A team of another org is
    /// not found, as one that does not exist.
    async fn find_team(
        &self,
        conn: &mut AnyConnection,
        org: OrgId,
        team: &str,
    ) -> Result<TeamRecord, StoreError> {
        let row = match TeamId::parse(team) {
            Ok(id) => {
                sqlx::query(&format!("{TEAM_SELECT} WHERE t.id = $1 AND t.org_id = $2"))
                    .bind(id.to_string())
                    .bind(org.to_string())
                    .fetch_optional(&mut *conn)
                    .await?
            }
            Err(_) => {
                sqlx::query(&format!("{TEAM_SELECT} WHERE t.key = $1 AND t.org_id = $2"))
                    .bind(team)
                    .bind(org.to_string())
                    .fetch_optional(&mut *conn)
                    .await?
            }
        };
        match row {
            Some(row) => team_from_row(&row),
            None => Err(StoreError::not_found("team", shown(team))),
        }
    }

    async fn team_by_id(&self, tx: &mut Tx, id: TeamId) -> Result<TeamRecord, StoreError> {
        let row = sqlx::query(&format!("{TEAM_SELECT} WHERE t.id = $1"))
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::not_found("team", id))?;
        team_from_row(&row)
    }

    /// The teams of an org, oldest first.
    pub async fn list_teams(
        &self,
        org: OrgId,
        page: Page,
    ) -> Result<Paged<TeamRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "{TEAM_SELECT} WHERE t.org_id = $1 AND t.id > $2 ORDER BY t.id LIMIT $3"
        ))
        .bind(org.to_string())
        .bind(page.after_str())
        .bind(page.fetch())
        .fetch_all(&self.read)
        .await?;
        let items = rows
            .iter()
            .map(team_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish(items, |t| t.id.0))
    }

    /// A team of an org, by id or key.
    pub async fn get_team(&self, org: OrgId, team: &str) -> Result<TeamRecord, StoreError> {
        let mut conn = self.read.acquire().await?;
        self.find_team(&mut conn, org, team).await
    }

    /// Refuses a team name already used in the org (case-insensitively) by another team.
    async fn team_name_free(
        &self,
        tx: &mut Tx,
        org: OrgId,
        name: &Name,
        except: Option<TeamId>,
    ) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT id, name FROM teams WHERE org_id = $1 AND name_key = $2")
            .bind(org.to_string())
            .bind(name.key())
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(()) };
        if Some(TeamId(uuid_col(&row, "id")?)) == except {
            return Ok(());
        }
        let existing: String = row.try_get("name")?;
        Err(StoreError::conflict(
            "name_taken",
            format!("a team named `{existing}` already exists in this organization: choose another name"),
            json!({"field": "name", "existing": existing}),
        ))
    }

    /// The team of `org` that has `key`, other than `except`.
    async fn team_with_key(
        &self,
        tx: &mut Tx,
        org: OrgId,
        key: &str,
        except: Option<TeamId>,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT id, name FROM teams WHERE org_id = $1 AND key = $2")
            .bind(org.to_string())
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        if Some(TeamId(uuid_col(&row, "id")?)) == except {
            return Ok(None);
        }
        Ok(Some(row.try_get("name")?))
    }

    /// Checks a key given by the caller: well formed and free in the org.
    async fn given_key_free(
        &self,
        tx: &mut Tx,
        org: OrgId,
        key: &str,
        except: Option<TeamId>,
    ) -> Result<String, StoreError> {
        let key = parse_team_key(key)
            .map_err(|m| StoreError::unprocessable("invalid_key", m, json!({"field": "key"})))?;
        if let Some(existing) = self.team_with_key(tx, org, &key, except).await? {
            return Err(StoreError::conflict(
                "key_taken",
                format!("the key `{key}` is already used by team `{existing}` in this organization: choose another key"),
                json!({"field": "key", "existing": existing}),
            ));
        }
        Ok(key)
    }

    /// A free key derived from a name: the name's key, else it with `-2`, `-3`, ... (`team`
    /// stands in for a name that gives no key).
    async fn derived_key(
        &self,
        tx: &mut Tx,
        org: OrgId,
        name: &Name,
    ) -> Result<String, StoreError> {
        let mut base = derive_team_key(name.as_str());
        if base.is_empty() {
            base = "team".to_owned();
        }
        for n in 1..=10_000u32 {
            let candidate = if n == 1 {
                base.clone()
            } else {
                let suffix = format!("-{n}");
                format!("{}{suffix}", cut_key(&base, TEAM_KEY_MAX - suffix.len()))
            };
            if parse_team_key(&candidate).is_err() {
                continue;
            }
            if self
                .team_with_key(tx, org, &candidate, None)
                .await?
                .is_none()
            {
                return Ok(candidate);
            }
        }
        Err(StoreError::conflict(
            "key_taken",
            format!(
                "no free key could be derived from the name `{}`: give a `key`",
                name.as_str()
            ),
            json!({"field": "key"}),
        ))
    }

    /// Creates a team. Names are unique in the org regardless of case; keys are unique in
    /// the org and derived from the name when not given.
    pub async fn create_team(
        &self,
        actor: &str,
        org: OrgId,
        input: NewTeam,
    ) -> Result<Written<TeamRecord>, StoreError> {
        let mut tx = self.begin().await?;
        self.team_name_free(&mut tx, org, &input.name, None).await?;
        let key = match &input.key {
            Some(k) => self.given_key_free(&mut tx, org, k, None).await?,
            None => self.derived_key(&mut tx, org, &input.name).await?,
        };
        let id = TeamId::new();
        let at = now();
        sqlx::query(
            "INSERT INTO teams (id, org_id, key, name, name_key, description, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(org.to_string())
        .bind(&key)
        .bind(input.name.as_str())
        .bind(input.name.key())
        .bind(input.description.as_str())
        .bind(&at)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        let team = self.team_by_id(&mut tx, id).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(org),
            project_id: None,
            action: "team.create",
            target: format!("team:{id}"),
            before: None,
            after: doc(&team),
            effects: vec![Effect::PutTeam {
                team_id: id,
                org_id: org,
            }],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: team,
            revision,
        })
    }

    /// Renames a team, changes its description or its key.
    pub async fn update_team(
        &self,
        actor: &str,
        org: OrgId,
        team: &str,
        patch: TeamPatch,
        if_version: Option<i64>,
    ) -> Result<Written<TeamRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let before = self.find_team(&mut tx, org, team).await?;
        check_version(if_version, before.version)?;
        if let Some(name) = &patch.name {
            self.team_name_free(&mut tx, org, name, Some(before.id))
                .await?;
        }
        let key = match &patch.key {
            Some(k) => {
                self.given_key_free(&mut tx, org, k, Some(before.id))
                    .await?
            }
            None => before.key.clone(),
        };
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
        sqlx::query("UPDATE teams SET key = $1, name = $2, name_key = $3, description = $4, updated_at = $5, version = version + 1 WHERE id = $6")
            .bind(&key)
            .bind(&name)
            .bind(warden_model::names::name_key(&name))
            .bind(&description)
            .bind(now())
            .bind(before.id.to_string())
            .execute(&mut *tx)
            .await?;
        let after = self.team_by_id(&mut tx, before.id).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(org),
            project_id: None,
            action: "team.update",
            target: format!("team:{}", before.id),
            before: doc(&before),
            after: doc(&after),
            effects: vec![Effect::PutTeam {
                team_id: before.id,
                org_id: org,
            }],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: after,
            revision,
        })
    }

    /// Deletes a team with its memberships (org and project scopes) and its users' places
    /// in it. Returns the team as it was.
    pub async fn delete_team(
        &self,
        actor: &str,
        org: OrgId,
        team: &str,
    ) -> Result<Written<TeamRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let before = self.find_team(&mut tx, org, team).await?;
        let id = before.id.to_string();
        let rows = sqlx::query(
            "SELECT org_id, project_id, role_id FROM memberships WHERE principal_type = 'team' AND principal_id = $1",
        )
        .bind(&id)
        .fetch_all(&mut *tx)
        .await?;
        let mut removed = Vec::with_capacity(rows.len());
        for r in &rows {
            removed.push(json!({
                "scope": Scope {
                    org_id: OrgId(uuid_col(r, "org_id")?),
                    project_id: opt_uuid_col(r, "project_id")?.map(ProjectId),
                },
                "role_id": RoleId(uuid_col(r, "role_id")?),
            }));
        }
        sqlx::query("DELETE FROM memberships WHERE principal_type = 'team' AND principal_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        let users = sqlx::query("DELETE FROM team_users WHERE team_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM teams WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(org),
            project_id: None,
            action: "team.delete",
            target: format!("team:{id}"),
            before: doc(&before),
            after: (!removed.is_empty() || users > 0).then(
                || json!({"cascade": {"memberships_removed": removed, "users_removed": users}}),
            ),
            effects: vec![Effect::DeleteTeam { team_id: before.id }],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: before,
            revision,
        })
    }

    /// Puts a user of the org in a team. A user that does not belong to the org is not
    /// found, so that users of other orgs are not revealed. Adding a user twice is fine: the
    /// second time nothing is written and the current revision is returned.
    pub async fn add_team_user(
        &self,
        actor: &str,
        org: OrgId,
        team: &str,
        user: UserId,
    ) -> Result<Written<TeamUserChange>, StoreError> {
        let mut tx = self.begin().await?;
        let before = self.find_team(&mut tx, org, team).await?;
        if !self.is_org_user(&mut tx, org, user).await? {
            return Err(StoreError::not_found("user", user));
        }
        let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1"))
            .bind(user.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found("user", user))?;
        let user_record = user_from_row(&row)?;
        let inserted = sqlx::query(
            "INSERT INTO team_users (team_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(before.id.to_string())
        .bind(user.to_string())
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(Written {
                value: TeamUserChange {
                    team: before,
                    user: user_record,
                    changed: false,
                },
                revision: self.revision().await?,
            });
        }
        let after = self.team_by_id(&mut tx, before.id).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(org),
            project_id: None,
            action: "team.user_add",
            target: format!("team:{}", before.id),
            before: None,
            after: doc(
                &json!({"team_id": before.id, "team_key": before.key, "user_id": user, "email": user_record.email}),
            ),
            effects: vec![Effect::PutTeamUser {
                team_id: before.id,
                user_id: user,
            }],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: TeamUserChange {
                team: after,
                user: user_record,
                changed: true,
            },
            revision,
        })
    }

    /// Takes a user out of a team; not found if the user is not in it.
    pub async fn remove_team_user(
        &self,
        actor: &str,
        org: OrgId,
        team: &str,
        user: UserId,
    ) -> Result<Written<TeamRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let before = self.find_team(&mut tx, org, team).await?;
        let removed = sqlx::query("DELETE FROM team_users WHERE team_id = $1 AND user_id = $2")
            .bind(before.id.to_string())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Err(StoreError::not_found("user of this team", user));
        }
        let after = self.team_by_id(&mut tx, before.id).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(org),
            project_id: None,
            action: "team.user_remove",
            target: format!("team:{}", before.id),
            before: doc(&json!({"team_id": before.id, "team_key": before.key, "user_id": user})),
            after: None,
            effects: vec![Effect::DeleteTeamUser {
                team_id: before.id,
                user_id: user,
            }],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: after,
            revision,
        })
    }

    /// The users of a team, ordered by id.
    pub async fn list_team_users(
        &self,
        org: OrgId,
        team: &str,
        page: Page,
    ) -> Result<Paged<UserRecord>, StoreError> {
        let mut conn = self.read.acquire().await?;
        let found = self.find_team(&mut conn, org, team).await?;
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM team_users tu JOIN users u ON u.id = tu.user_id
             WHERE tu.team_id = $1 AND u.id > $2 ORDER BY u.id LIMIT $3"
        ))
        .bind(found.id.to_string())
        .bind(page.after_str())
        .bind(page.fetch())
        .fetch_all(&mut *conn)
        .await?;
        let items = rows
            .iter()
            .map(user_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish(items, |u| u.id.0))
    }

    /// The roles a team holds, with the scope of each: what its users receive through it.
    pub async fn team_memberships(
        &self,
        org: OrgId,
        team: &str,
    ) -> Result<Vec<(Scope, RoleRecord)>, StoreError> {
        let found = self.get_team(org, team).await?;
        let rows = sqlx::query(
            "SELECT org_id, project_id, role_id FROM memberships
             WHERE principal_type = 'team' AND principal_id = $1 AND org_id = $2 ORDER BY scope_id",
        )
        .bind(found.id.to_string())
        .bind(org.to_string())
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let scope = Scope {
                org_id: OrgId(uuid_col(r, "org_id")?),
                project_id: opt_uuid_col(r, "project_id")?.map(ProjectId),
            };
            let role = self
                .get_role(scope, RoleId(uuid_col(r, "role_id")?))
                .await?;
            out.push((scope, role));
        }
        Ok(out)
    }

    /// Makes a user (found or created by email) belong to an org; returns its id.
    /// A convenience over [`Store::add_user_to_org`] for tools and tests.
    pub async fn add_org_user_by_email(
        &self,
        actor: &str,
        org: OrgId,
        email: &str,
    ) -> Result<UserId, StoreError> {
        self.get_org(org).await?;
        Ok(self.add_user_to_org(actor, org, email).await?.value)
    }

    /// Makes `principal` hold the role `role` (an id) in `scope`, as an Owner would: a
    /// convenience over [`Store::set_member`] for tools and tests.
    pub async fn set_membership(
        &self,
        actor: &str,
        scope: Scope,
        principal: Principal,
        role: RoleId,
    ) -> Result<Written<()>, StoreError> {
        let role = match self
            .get_role(
                Scope {
                    org_id: scope.org_id,
                    project_id: scope.project_id,
                },
                role,
            )
            .await
        {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => {
                return Err(StoreError::unprocessable(
                    "unknown_role",
                    format!(
                    "`{role}` is not a role of this {}: list the scope's roles to find a valid id",
                    scope.kind().noun()
                ),
                    json!({"field": "role_id", "role_id": role}),
                ))
            }
            Err(e) => return Err(e),
        };
        let w = self
            .set_member(actor, scope, principal, &role, true)
            .await?;
        Ok(Written {
            value: (),
            revision: w.revision,
        })
    }
}

impl Store {
    /// A user of `org`, by id (404 for a user of no org, or of another org only).
    pub async fn get_org_user(&self, org: OrgId, id: UserId) -> Result<UserRecord, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM org_users ou JOIN users u ON u.id = ou.user_id
             WHERE ou.org_id = $1 AND u.id = $2"
        ))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await?
        .ok_or_else(|| StoreError::not_found("user", id))?;
        user_from_row(&row)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use warden_engine::Index;
    use warden_model::Catalogue;

    use super::*;
    use crate::{NewProject, NewRole};

    fn name(s: &str) -> Name {
        Name::parse("name", s).unwrap()
    }

    fn new_team(n: &str, key: Option<&str>) -> NewTeam {
        NewTeam {
            key: key.map(str::to_owned),
            name: name(n),
            description: Description::default(),
        }
    }

    #[tokio::test]
    async fn replaying_team_changes_equals_loading_the_tables() {
        let db = crate::testing::TestDatabase::new().await.unwrap();
        let s = Store::open(db.url(), Arc::new(Catalogue::default_llmops()))
            .await
            .unwrap();
        let boot = s.bootstrap(&name("Acme"), "owner@acme.test").await.unwrap();
        let org = boot.org_id;
        let project = s
            .create_project(
                "t",
                org,
                NewProject {
                    name: name("P"),
                    description: Description::default(),
                    restricted: false,
                },
            )
            .await
            .unwrap()
            .value;
        let pscope = Scope::project(org, project.id);
        let role = s
            .create_role(
                "t",
                pscope,
                NewRole {
                    name: name("Reader"),
                    description: Description::default(),
                    policy_ids: vec![],
                    permissions: vec!["dataset:read".into()],
                },
            )
            .await
            .unwrap()
            .value;
        let a = s
            .create_team("t", org, new_team("Alpha", None))
            .await
            .unwrap();
        assert_eq!(a.value.key, "alpha");
        let b = s
            .create_team("t", org, new_team("Beta", Some("b")))
            .await
            .unwrap()
            .value;
        let ada = s
            .add_org_user_by_email("t", org, "ada@acme.test")
            .await
            .unwrap();
        let bob = s
            .add_org_user_by_email("t", org, "bob@acme.test")
            .await
            .unwrap();
        let rev = s.revision().await.unwrap();
        assert_eq!(
            s.add_org_user_by_email("t", org, "ADA@acme.test")
                .await
                .unwrap(),
            ada
        );
        assert_eq!(s.revision().await.unwrap(), rev, "nothing changed");
        for team in ["alpha", "b"] {
            s.set_membership(
                "t",
                pscope,
                Principal::Team(if team == "b" { b.id } else { a.value.id }),
                role.id,
            )
            .await
            .unwrap();
            for u in [ada, bob] {
                let w = s.add_team_user("t", org, team, u).await.unwrap();
                assert!(w.value.changed);
            }
        }
        let rev = s.revision().await.unwrap();
        let again = s.add_team_user("t", org, "alpha", ada).await.unwrap();
        assert!(!again.value.changed);
        assert_eq!(again.revision, rev);
        assert_eq!(s.revision().await.unwrap(), rev, "adding twice writes once");
        s.remove_team_user("t", org, "alpha", bob).await.unwrap();
        assert!(matches!(
            s.remove_team_user("t", org, "alpha", bob).await,
            Err(StoreError::NotFound { .. })
        ));
        s.update_team(
            "t",
            org,
            "b",
            TeamPatch {
                key: Some("beta".into()),
                ..Default::default()
            },
            Some(1),
        )
        .await
        .unwrap();
        assert!(matches!(
            s.update_team("t", org, "beta", TeamPatch::default(), Some(1))
                .await,
            Err(StoreError::VersionMismatch { .. })
        ));
        s.delete_team("t", org, "beta").await.unwrap();
        assert_eq!(s.get_team(org, "alpha").await.unwrap().user_count, 1);

        let cat = Catalogue::default_llmops();
        let mut replayed = Index::new(cat.all_keys(), &cat.org.owner_role);
        for e in s.changes_since(0, 10_000).await.unwrap() {
            replayed.apply(e.revision, &e.effects);
        }
        let (rev, effects) = s.load().await.unwrap();
        let mut loaded = Index::new(cat.all_keys(), &cat.org.owner_role);
        loaded.apply(rev, &effects);
        for (u, expected) in [(ada, true), (bob, false)] {
            for index in [&replayed, &loaded] {
                assert_eq!(
                    index.check(Principal::User(u), "dataset:read", pscope),
                    expected
                );
                assert_eq!(
                    index.effective(Principal::User(u), pscope),
                    if expected {
                        vec!["dataset:read"]
                    } else {
                        vec![]
                    }
                );
            }
        }
    }

    #[test]
    fn keys_are_slugs_and_never_uuids() {
        for good in ["a", "data-science", "ml_ops", "0team", &"k".repeat(64)] {
            assert_eq!(parse_team_key(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "",
            "-x",
            "_x",
            "Data",
            "data science",
            "données",
            &"k".repeat(65),
            "0190f2a4-8c1e-7a3b-9d2f-4b6c8e0a1f3d",
            "0190f2a48c1e7a3b9d2f4b6c8e0a1f3d",
        ] {
            assert!(parse_team_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn derived_keys_are_readable() {
        assert_eq!(derive_team_key("Data Science"), "data-science");
        assert_eq!(derive_team_key("  --Ops!! team_2 "), "ops-team-2");
        assert_eq!(derive_team_key("Équipe ML"), "quipe-ml");
        assert_eq!(derive_team_key("日本語"), "");
        let long = derive_team_key(&"ab ".repeat(100));
        assert!(long.len() <= TEAM_KEY_MAX && !long.ends_with('-'), "{long}");
        assert!(parse_team_key(&long).is_ok());
    }
}
