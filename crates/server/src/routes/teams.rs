//! Teams of an organization and their users. A team holds org and project roles like a
//! user does; its users hold them through it. `{team}` is the team's id or key.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use warden_model::{Description, Name, OrgId, Scope, TeamId, UserId};
use warden_store::{parse_team_key, NewTeam, RoleRecord, TeamPatch, TeamRecord, UserRecord};

use super::views::{Deleted, List};
use super::{op, Route};
use crate::auth::{Caller, ScopeParam};
use crate::error::ApiError;
use crate::extract::{IfMatch, Json, PageQuery, Query};
use crate::respond;
use crate::state::AppState;

const BASE: &str = "/v1/orgs/{org}/teams";
const ITEM: &str = "/v1/orgs/{org}/teams/{team}";
const USERS: &str = "/v1/orgs/{org}/teams/{team}/users";
const USER: &str = "/v1/orgs/{org}/teams/{team}/users/{user}";

pub fn routes() -> Vec<Route> {
    vec![
        op(
            Method::GET,
            BASE,
            "teams",
            "List the organization's teams",
            list,
        )
        .perm("team:read")
        .query::<PageQuery>()
        .reply::<List<TeamView>>(200),
        op(
            Method::POST,
            BASE,
            "teams",
            "Create a team (its key is derived from the name unless given)",
            create,
        )
        .perm("team:create")
        .body::<TeamCreate>()
        .reply::<TeamView>(201),
        op(Method::GET, ITEM, "teams", "Get a team by id or key", get)
            .perm("team:read")
            .reply::<TeamView>(200),
        op(
            Method::PATCH,
            ITEM,
            "teams",
            "Rename a team, change its key or its description",
            update,
        )
        .perm("team:update")
        .body::<TeamUpdate>()
        .reply::<TeamView>(200),
        op(
            Method::DELETE,
            ITEM,
            "teams",
            "Delete a team with its memberships",
            delete,
        )
        .perm("team:delete")
        .reply::<Deleted>(200),
        op(
            Method::GET,
            USERS,
            "teams",
            "List the users of a team",
            list_users,
        )
        .perm("team:read")
        .query::<PageQuery>()
        .reply::<List<TeamUserView>>(200),
        op(
            Method::PUT,
            USER,
            "teams",
            "Add a user of the organization to a team (idempotent)",
            add_user,
        )
        .perm("team:update")
        .reply::<TeamUserAdded>(200),
        op(
            Method::DELETE,
            USER,
            "teams",
            "Remove a user from a team",
            remove_user,
        )
        .perm("team:update")
        .reply::<Deleted>(200),
    ]
}

/// A team.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TeamView {
    pub id: TeamId,
    pub org_id: OrgId,
    /// Readable and unique in the organization; usable in paths instead of the id.
    pub key: String,
    pub name: String,
    pub description: String,
    /// How many users are in the team.
    pub user_count: i64,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl From<TeamRecord> for TeamView {
    fn from(t: TeamRecord) -> Self {
        TeamView {
            id: t.id,
            org_id: t.org_id,
            key: t.key,
            name: t.name,
            description: t.description,
            user_count: t.user_count,
            created_at: t.created_at,
            updated_at: t.updated_at,
            version: t.version,
        }
    }
}

/// A user, as a team lists it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TeamUserView {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub status: String,
    pub created_at: String,
}

impl From<UserRecord> for TeamUserView {
    fn from(u: UserRecord) -> Self {
        TeamUserView {
            id: u.id,
            email: u.email,
            name: u.name,
            status: u.status,
            created_at: u.created_at,
        }
    }
}

/// What adding a user to a team did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TeamUserAdded {
    /// The team, after the change.
    pub team: TeamView,
    pub user: TeamUserView,
    /// False when the user already was in the team (nothing was written).
    pub changed: bool,
}

/// A new team.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamCreate {
    /// 1 to 255 characters, unique among the organization's teams regardless of case.
    pub name: String,
    /// 1 to 64 lowercase letters, digits, `-` and `_`, starting with a letter or digit, not a
    /// UUID, unique in the organization. Derived from the name when not given.
    pub key: Option<String>,
    /// At most 1000 characters.
    pub description: Option<String>,
}

/// Changes to a team: at least one field.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamUpdate {
    pub name: Option<String>,
    pub key: Option<String>,
    pub description: Option<String>,
}

/// The `{team}` of the path: an id or a key.
fn team_ref(params: &HashMap<String, String>) -> &str {
    params.get("team").map(String::as_str).unwrap_or_default()
}

/// The `{user}` of the path: a user id.
fn user_ref(params: &HashMap<String, String>) -> Result<UserId, ApiError> {
    let raw = params.get("user").map(String::as_str).unwrap_or_default();
    Ok(UserId::parse(raw)?)
}

fn key_field(raw: &str) -> Result<String, ApiError> {
    parse_team_key(raw).map_err(|m| {
        ApiError::bad_request("invalid_field", m).with_details(json!({"field": "key"}))
    })
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let auth = caller.authorize(&state, param, "team:read").await?;
    let page = q.page()?;
    let paged = state.store().list_teams(auth.scope().org_id, page).await?;
    Ok(respond::json(
        StatusCode::OK,
        &List::from_paged(paged, TeamView::from),
        None,
        None,
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Json(body): Json<TeamCreate>,
) -> Result<Response, ApiError> {
    let scope = caller.resolve(&state, param)?;
    let w = create_team(&state, &caller, scope, &body).await?;
    let version = w.value.version;
    Ok(respond::json(
        StatusCode::CREATED,
        &TeamView::from(w.value),
        Some(w.revision),
        Some(version),
    ))
}

/// Creates a team in the org of `scope` as `caller` (the API and the console).
pub async fn create_team(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    body: &TeamCreate,
) -> Result<warden_store::Written<TeamRecord>, ApiError> {
    let auth = caller.authorize_in(state, scope, "team:create").await?;
    let input = NewTeam {
        name: Name::parse("name", &body.name)?,
        key: body.key.as_deref().map(key_field).transpose()?,
        description: Description::parse(body.description.as_deref().unwrap_or(""))?,
    };
    let w = state
        .store()
        .create_team(&caller.actor(), auth.scope().org_id, input)
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let auth = caller.authorize(&state, param, "team:read").await?;
    let team = state
        .store()
        .get_team(auth.scope().org_id, team_ref(&params))
        .await?;
    let version = team.version;
    Ok(respond::json(
        StatusCode::OK,
        &TeamView::from(team),
        None,
        Some(version),
    ))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
    IfMatch(version): IfMatch,
    Json(body): Json<TeamUpdate>,
) -> Result<Response, ApiError> {
    let scope = caller.resolve(&state, param)?;
    let w = update_team(&state, &caller, scope, team_ref(&params), &body, version).await?;
    let version = w.value.version;
    Ok(respond::json(
        StatusCode::OK,
        &TeamView::from(w.value),
        Some(w.revision),
        Some(version),
    ))
}

/// Changes team `team` (id or key) of the org of `scope` as `caller`.
pub async fn update_team(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    team: &str,
    body: &TeamUpdate,
    version: Option<i64>,
) -> Result<warden_store::Written<TeamRecord>, ApiError> {
    let auth = caller.authorize_in(state, scope, "team:update").await?;
    if body.name.is_none() && body.key.is_none() && body.description.is_none() {
        return Err(ApiError::bad_request(
            "empty_update",
            "give at least one of `name`, `key` and `description` to change",
        ));
    }
    let patch = TeamPatch {
        name: body
            .name
            .as_deref()
            .map(|n| Name::parse("name", n))
            .transpose()?,
        key: body.key.as_deref().map(key_field).transpose()?,
        description: body
            .description
            .as_deref()
            .map(Description::parse)
            .transpose()?,
    };
    let w = state
        .store()
        .update_team(&caller.actor(), auth.scope().org_id, team, patch, version)
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let scope = caller.resolve(&state, param)?;
    let w = delete_team(&state, &caller, scope, team_ref(&params)).await?;
    let body = Deleted {
        id: w.value.id.0,
        deleted: true,
        revision: w.revision,
        roles_changed: vec![],
        memberships_removed: vec![],
    };
    Ok(respond::json(StatusCode::OK, &body, Some(w.revision), None))
}

/// Deletes team `team` (id or key) of the org of `scope` as `caller`, with its memberships.
pub async fn delete_team(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    team: &str,
) -> Result<warden_store::Written<TeamRecord>, ApiError> {
    let auth = caller.authorize_in(state, scope, "team:delete").await?;
    let w = state
        .store()
        .delete_team(&caller.actor(), auth.scope().org_id, team)
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}

async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let auth = caller.authorize(&state, param, "team:read").await?;
    let page = q.page()?;
    let paged = state
        .store()
        .list_team_users(auth.scope().org_id, team_ref(&params), page)
        .await?;
    Ok(respond::json(
        StatusCode::OK,
        &List::from_paged(paged, TeamUserView::from),
        None,
        None,
    ))
}

/// Whether the caller holds the Owner role in `scope` (for a project: in it or in its org).
async fn caller_is_owner(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
) -> Result<bool, ApiError> {
    let mut scopes = vec![scope];
    if scope.project_id.is_some() {
        scopes.push(Scope::org(scope.org_id));
    }
    for s in scopes {
        if let Some(role_id) = state.store().membership(s, caller.principal()).await? {
            let role = state.store().get_role(s, role_id).await?;
            if state.store().is_owner_role(&role) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// No escalation: a user added to a team receives the team's roles, so the caller must hold
/// every permission of each of them in its scope, and be an Owner to hand out Owner.
async fn check_team_grants(
    state: &AppState,
    caller: &Caller,
    grants: &[(Scope, RoleRecord)],
) -> Result<(), ApiError> {
    for (scope, role) in grants {
        caller.require_all(
            state,
            *scope,
            &role.effective_permissions,
            "adding this user to the team",
        )?;
        if state.store().is_owner_role(role) && !caller_is_owner(state, caller, *scope).await? {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "escalation",
                format!(
                    "this team holds the Owner role in {scope}; only an Owner may add users to it, so ask an Owner to do it"
                ),
            )
            .with_details(json!({"role_id": role.id})));
        }
    }
    Ok(())
}

async fn add_user(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let user = user_ref(&params)?;
    let scope = caller.resolve(&state, param)?;
    let w = add_team_user(&state, &caller, scope, team_ref(&params), user).await?;
    let version = w.value.team.version;
    let body = TeamUserAdded {
        team: w.value.team.into(),
        user: w.value.user.into(),
        changed: w.value.changed,
    };
    Ok(respond::json(
        StatusCode::OK,
        &body,
        Some(w.revision),
        Some(version),
    ))
}

/// Adds `user` to team `team` as `caller`, who must hold everything the team's roles grant
/// (and be an Owner where the team holds the Owner role).
pub async fn add_team_user(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    team: &str,
    user: UserId,
) -> Result<warden_store::Written<warden_store::TeamUserChange>, ApiError> {
    let auth = caller.authorize_in(state, scope, "team:update").await?;
    let org = auth.scope().org_id;
    let grants = state.store().team_memberships(org, team).await?;
    check_team_grants(state, caller, &grants).await?;
    let w = state
        .store()
        .add_team_user(&caller.actor(), org, team, user)
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}

async fn remove_user(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let user = user_ref(&params)?;
    let scope = caller.resolve(&state, param)?;
    let w = remove_team_user(&state, &caller, scope, team_ref(&params), user).await?;
    let body = Deleted {
        id: user.0,
        deleted: true,
        revision: w.revision,
        roles_changed: vec![],
        memberships_removed: vec![],
    };
    Ok(respond::json(StatusCode::OK, &body, Some(w.revision), None))
}

/// Takes `user` out of team `team` as `caller`.
pub async fn remove_team_user(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    team: &str,
    user: UserId,
) -> Result<warden_store::Written<TeamRecord>, ApiError> {
    let auth = caller.authorize_in(state, scope, "team:update").await?;
    let w = state
        .store()
        .remove_team_user(&caller.actor(), auth.scope().org_id, team, user)
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}
