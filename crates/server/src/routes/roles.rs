//! Roles at org and project scope: the same operations at both.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use warden_model::{Description, Name, PolicyId, RoleId};
use warden_store::{NewRole, RolePatch};

use super::policies::{path_id, resolve_permissions, ListQuery, MAX_LIST};
use super::views::{Deleted, List, RoleView};
use super::{op, Route};
use crate::auth::{Caller, ScopeParam};
use crate::error::ApiError;
use crate::extract::{DeleteQuery, IfMatch, Json, Query};
use crate::respond;
use crate::state::AppState;

pub fn routes() -> Vec<Route> {
    let mut out = Vec::new();
    for (base, item, scope) in [
        (
            "/v1/orgs/{org}/roles",
            "/v1/orgs/{org}/roles/{id}",
            "organization",
        ),
        (
            "/v1/projects/{project}/roles",
            "/v1/projects/{project}/roles/{id}",
            "project",
        ),
    ] {
        let s = |t: &str| -> &'static str { Box::leak(format!("{t} {scope}").into_boxed_str()) };
        out.push(
            op(
                Method::GET,
                base,
                "roles",
                s("List the roles (predefined and custom) of the"),
                list,
            )
            .perm("role:read")
            .query::<ListQuery>()
            .reply::<List<RoleView>>(200),
        );
        out.push(
            op(
                Method::POST,
                base,
                "roles",
                s("Create a custom role in the"),
                create,
            )
            .perm("role:create")
            .body::<RoleCreate>()
            .reply::<RoleView>(201),
        );
        out.push(
            op(Method::GET, item, "roles", s("Get a role of the"), get)
                .perm("role:read")
                .reply::<RoleView>(200),
        );
        out.push(
            op(
                Method::PATCH,
                item,
                "roles",
                s("Update a custom role of the"),
                update,
            )
            .perm("role:update")
            .body::<RoleUpdate>()
            .reply::<RoleView>(200),
        );
        out.push(
            op(
                Method::DELETE,
                item,
                "roles",
                s("Delete a custom role of the"),
                delete,
            )
            .perm("role:delete")
            .query::<DeleteQuery>()
            .reply::<Deleted>(200),
        );
    }
    out
}

/// A new role: at least one policy or permission.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleCreate {
    /// 1 to 255 characters, unique among the scope's roles regardless of case, and not the
    /// name of a predefined role.
    pub name: String,
    /// At most 1000 characters.
    pub description: Option<String>,
    /// Ids of policies of the same scope.
    pub policy_ids: Option<Vec<String>>,
    /// Inline permissions: ids or `resource:action` keys of the scope.
    pub permissions: Option<Vec<String>>,
}

/// Changes to a role: at least one field; a list replaces the old one wholly.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub policy_ids: Option<Vec<String>>,
    pub permissions: Option<Vec<String>>,
}

fn parse_policy_ids(given: &[String]) -> Result<Vec<PolicyId>, ApiError> {
    if given.len() > MAX_LIST {
        return Err(ApiError::bad_request(
            "too_many",
            format!(
                "`policy_ids` has {} entries; at most {MAX_LIST} are accepted",
                given.len()
            ),
        )
        .with_details(json!({"field": "policy_ids"})));
    }
    let mut out: Vec<PolicyId> = Vec::new();
    let mut bad = Vec::new();
    for g in given {
        match PolicyId::parse(g) {
            Ok(id) if !out.contains(&id) => out.push(id),
            Ok(_) => {}
            Err(_) => bad.push(g.chars().take(80).collect::<String>()),
        }
    }
    if !bad.is_empty() {
        let shown: Vec<String> = bad.iter().take(20).map(|b| format!("`{b}`")).collect();
        return Err(ApiError::bad_request(
            "invalid_id",
            format!(
                "`policy_ids` must hold policy ids (UUIDs); these are not: {}",
                shown.join(", ")
            ),
        )
        .with_details(json!({"field": "policy_ids", "invalid": bad})));
    }
    Ok(out)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let auth = caller.authorize(&state, param, "role:read").await?;
    let paged = state
        .store()
        .list_roles(auth.scope(), q.is_predefined, q.page()?)
        .await?;
    Ok(respond::json(
        StatusCode::OK,
        &List::from_paged(paged, RoleView::new),
        None,
        None,
    ))
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id = path_id(&params, RoleId::parse)?;
    let auth = caller.authorize(&state, param, "role:read").await?;
    let r = state.store().get_role(auth.scope(), id).await?;
    let version = r.version;
    Ok(respond::json(
        StatusCode::OK,
        &RoleView::new(r),
        None,
        Some(version),
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Json(body): Json<RoleCreate>,
) -> Result<Response, ApiError> {
    let scope = caller.resolve(&state, param)?;
    let w = create_role(&state, &caller, scope, &body).await?;
    let version = w.value.version;
    Ok(respond::json(
        StatusCode::CREATED,
        &RoleView::new(w.value),
        Some(w.revision),
        Some(version),
    ))
}

/// Creates a role in `scope` as `caller`, with every rule the API applies (permission,
/// names, policies of the scope, no escalation); the API and the console both call it.
pub async fn create_role(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    body: &RoleCreate,
) -> Result<warden_store::Written<warden_store::RoleRecord>, ApiError> {
    let auth = caller.authorize_in(state, scope, "role:create").await?;
    let kind = auth.scope().kind();
    let name = Name::parse("name", &body.name)?;
    let description = Description::parse(body.description.as_deref().unwrap_or(""))?;
    let policy_ids = parse_policy_ids(body.policy_ids.as_deref().unwrap_or_default())?;
    let permissions = resolve_permissions(
        state,
        kind,
        "permissions",
        body.permissions.as_deref().unwrap_or_default(),
        false,
    )?;
    if policy_ids.is_empty() && permissions.is_empty() {
        return Err(ApiError::bad_request(
            "empty_role",
            "a role needs at least one policy (`policy_ids`) or permission (`permissions`)",
        )
        .with_details(json!({"field": "policy_ids"})));
    }
    role_grants(state, caller, auth.scope(), &policy_ids, &permissions).await?;
    let w = state
        .store()
        .create_role(
            &caller.actor(),
            auth.scope(),
            NewRole {
                name,
                description,
                policy_ids,
                permissions,
            },
        )
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
    IfMatch(version): IfMatch,
    Json(body): Json<RoleUpdate>,
) -> Result<Response, ApiError> {
    let id = path_id(&params, RoleId::parse)?;
    let scope = caller.resolve(&state, param)?;
    let w = update_role(&state, &caller, scope, id, &body, version).await?;
    let version = w.value.version;
    Ok(respond::json(
        StatusCode::OK,
        &RoleView::new(w.value),
        Some(w.revision),
        Some(version),
    ))
}

/// Changes role `id` of `scope` as `caller` (the API's `PATCH` and the console's edit form),
/// with every rule the API applies: permission, names, policies of the scope, no escalation,
/// predefined roles left alone, `version` (when given) still current.
pub async fn update_role(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    id: RoleId,
    body: &RoleUpdate,
    version: Option<i64>,
) -> Result<warden_store::Written<warden_store::RoleRecord>, ApiError> {
    let auth = caller.authorize_in(state, scope, "role:update").await?;
    if body.name.is_none()
        && body.description.is_none()
        && body.policy_ids.is_none()
        && body.permissions.is_none()
    {
        return Err(ApiError::bad_request(
            "empty_update",
            "give at least one of `name`, `description`, `policy_ids` and `permissions` to change",
        ));
    }
    let kind = auth.scope().kind();
    let patch = RolePatch {
        name: body
            .name
            .as_deref()
            .map(|n| Name::parse("name", n))
            .transpose()?,
        description: body
            .description
            .as_deref()
            .map(Description::parse)
            .transpose()?,
        policy_ids: body
            .policy_ids
            .as_deref()
            .map(parse_policy_ids)
            .transpose()?,
        permissions: body
            .permissions
            .as_deref()
            .map(|p| resolve_permissions(state, kind, "permissions", p, false))
            .transpose()?,
    };
    if patch.policy_ids.is_some() || patch.permissions.is_some() {
        let policy_ids = patch.policy_ids.clone().unwrap_or_default();
        let permissions = patch.permissions.clone().unwrap_or_default();
        role_grants(state, caller, auth.scope(), &policy_ids, &permissions).await?;
    }
    let w = state
        .store()
        .update_role(&caller.actor(), auth.scope(), id, patch, version)
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<DeleteQuery>,
) -> Result<Response, ApiError> {
    let id = path_id(&params, RoleId::parse)?;
    let scope = caller.resolve(&state, param)?;
    let w = delete_role(&state, &caller, scope, id, q.cascade).await?;
    let body = Deleted {
        id: id.0,
        deleted: true,
        revision: w.revision,
        roles_changed: vec![],
        memberships_removed: w
            .value
            .memberships_removed
            .iter()
            .map(ToString::to_string)
            .collect(),
    };
    Ok(respond::json(StatusCode::OK, &body, Some(w.revision), None))
}

/// Deletes role `id` of `scope` as `caller`; one still held is refused (409 `in_use`)
/// unless `cascade` removes its memberships too.
pub async fn delete_role(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    id: RoleId,
    cascade: bool,
) -> Result<warden_store::Written<warden_store::Cascade>, ApiError> {
    let auth = caller.authorize_in(state, scope, "role:delete").await?;
    let w = state
        .store()
        .delete_role(&caller.actor(), auth.scope(), id, cascade)
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}

/// No escalation: the caller must hold every permission a role would grant (its inline
/// permissions and those of its policies) in the role's scope. Unknown policy ids are left
/// to the store, which names them.
async fn role_grants(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    policy_ids: &[PolicyId],
    permissions: &[String],
) -> Result<(), ApiError> {
    let mut all: Vec<String> = permissions.to_vec();
    for id in policy_ids {
        if let Ok(p) = state.store().get_policy(scope, *id).await {
            all.extend(p.permissions);
        }
    }
    all.sort();
    all.dedup();
    caller.require_all(state, scope, &all, "this role")
}
