//! Members of an org or a project: who holds which role, and the transfer of ownership.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_model::{Principal, RoleId, Scope, UserId};
use warden_store::{MemberFilter, MemberRecord};

use super::views::List;
use super::{op, Route};
use crate::auth::{Caller, ScopeParam};
use crate::error::ApiError;
use crate::extract::{Json, PageQuery, Query};
use crate::respond;
use crate::state::AppState;

pub fn routes() -> Vec<Route> {
    let mut out = Vec::new();
    for (base, item, transfer, scope, prefix) in [
        (
            "/v1/orgs/{org}/members",
            "/v1/orgs/{org}/members/{principal}",
            "/v1/orgs/{org}/transfer-ownership",
            "organization",
            "member",
        ),
        (
            "/v1/projects/{project}/members",
            "/v1/projects/{project}/members/{principal}",
            "/v1/projects/{project}/transfer-ownership",
            "project",
            "project_member",
        ),
    ] {
        let s = |t: &str| -> &'static str { Box::leak(format!("{t} {scope}").into_boxed_str()) };
        let p = |a: &str| -> &'static str { Box::leak(format!("{prefix}:{a}").into_boxed_str()) };
        out.push(
            op(
                Method::GET,
                base,
                "members",
                s("List the members (users, teams, API keys) of the"),
                list,
            )
            .perm(p("read"))
            .query::<MemberQuery>()
            .reply::<List<MemberView>>(200),
        );
        out.push(
            op(Method::GET, item, "members", s("Get a member of the"), get)
                .perm(p("read"))
                .reply::<MemberView>(200),
        );
        out.push(
            op(
                Method::PUT,
                item,
                "members",
                s("Add a member to, or change a member's role in, the"),
                put,
            )
            .perm(p("update"))
            .body::<MemberUpdate>()
            .reply::<MemberView>(200),
        );
        out.push(
            op(
                Method::DELETE,
                item,
                "members",
                s("Remove a member from the"),
                remove,
            )
            .perm(p("delete"))
            .reply::<MemberView>(200),
        );
        out.push(
            op(
                Method::POST,
                transfer,
                "members",
                s("Make a user Owner and demote the calling Owner, in the"),
                transfer_ownership,
            )
            .body::<TransferOwnership>()
            .reply::<MemberView>(200),
        );
    }
    out
}

/// `?limit=&cursor=&role_id=&principal_type=` of the member list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberQuery {
    /// How many items to return: 1 to 100, default 50.
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only the members holding this role (id or name).
    pub role_id: Option<String>,
    /// `user`, `team` or `api_key`.
    #[schemars(extend("enum" = ["user", "team", "api_key"]))]
    pub principal_type: Option<String>,
}

/// A member: a principal and the role it holds in the scope.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MemberView {
    /// `user:<id>`, `team:<id>` or `api_key:<id>`.
    pub principal: String,
    pub principal_type: String,
    pub principal_id: uuid::Uuid,
    pub role_id: RoleId,
    pub role_name: String,
    /// For users.
    pub email: Option<String>,
    /// The user's, team's or key's name.
    pub name: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<MemberRecord> for MemberView {
    fn from(m: MemberRecord) -> Self {
        MemberView {
            principal: m.principal.to_string(),
            principal_type: m.principal.kind().to_owned(),
            principal_id: m.principal.uuid(),
            role_id: m.role_id,
            role_name: m.role_name,
            email: m.email,
            name: m.name,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// The role to hold.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberUpdate {
    /// A role of the same scope, by id or by name.
    pub role_id: String,
}

/// Who becomes Owner.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferOwnership {
    /// A user of the organization.
    pub user_id: String,
}

fn perm(scope: Scope, action: &str) -> &'static str {
    match (scope.project_id.is_some(), action) {
        (false, "read") => "member:read",
        (false, "update") => "member:update",
        (false, _) => "member:delete",
        (true, "read") => "project_member:read",
        (true, "update") => "project_member:update",
        (true, _) => "project_member:delete",
    }
}

fn param_perm(param: ScopeParam, action: &str) -> &'static str {
    perm(param.scope(), action)
}

fn principal_param(params: &HashMap<String, String>) -> Result<Principal, ApiError> {
    let raw = params
        .get("principal")
        .map(String::as_str)
        .unwrap_or_default();
    raw.parse::<Principal>()
        .map_err(|e| ApiError::bad_request("invalid_principal", e.to_string()))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Query(q): Query<MemberQuery>,
) -> Result<Response, ApiError> {
    let auth = caller
        .authorize(&state, param, param_perm(param, "read"))
        .await?;
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    }
    .page()?;
    let role_id = match &q.role_id {
        Some(r) => Some(state.store().resolve_role(auth.scope(), r).await?.id),
        None => None,
    };
    if let Some(t) = &q.principal_type {
        if !["user", "team", "api_key"].contains(&t.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("`principal_type` must be `user`, `team` or `api_key`, not `{t}`"),
            )
            .with_field("principal_type"));
        }
    }
    let filter = MemberFilter {
        role_id,
        principal_type: q.principal_type.clone(),
    };
    let paged = state
        .store()
        .list_members(auth.scope(), &filter, page)
        .await?;
    Ok(respond::json(
        StatusCode::OK,
        &List::from_paged(paged, MemberView::from),
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
    let principal = principal_param(&params)?;
    let auth = caller
        .authorize(&state, param, param_perm(param, "read"))
        .await?;
    let m = state.store().get_member(auth.scope(), principal).await?;
    Ok(respond::json(
        StatusCode::OK,
        &MemberView::from(m),
        None,
        None,
    ))
}

async fn put(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
    Json(body): Json<MemberUpdate>,
) -> Result<Response, ApiError> {
    let principal = principal_param(&params)?;
    let scope = caller.resolve(&state, param)?;
    let w = set_member(&state, &caller, scope, principal, &body.role_id).await?;
    Ok(respond::json(
        StatusCode::OK,
        &MemberView::from(w.value),
        Some(w.revision),
        None,
    ))
}

/// Gives `principal` the role `role_ref` (id or name) in `scope` as `caller`, with every
/// rule the API applies (permission, no escalation, ownership); the API and the console
/// both call it.
pub async fn set_member(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    principal: Principal,
    role_ref: &str,
) -> Result<warden_store::Written<warden_store::MemberRecord>, ApiError> {
    let auth = caller
        .authorize_in(state, scope, perm(scope, "update"))
        .await?;
    let scope = auth.scope();
    let role = state
        .store()
        .resolve_role(scope, role_ref)
        .await
        .map_err(role_not_found_is_unprocessable)?;
    caller.require_all(
        state,
        scope,
        &role.effective_permissions,
        &format!("giving the role `{}`", role.name),
    )?;
    let w = state
        .store()
        .set_member(
            &caller.actor(),
            scope,
            principal,
            &role,
            caller.is_owner(state, scope),
        )
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}

/// A role id that names no role of the scope is a bad reference in the body (422), not a
/// missing resource of the path (404).
pub fn role_not_found_is_unprocessable(e: warden_store::StoreError) -> ApiError {
    match e {
        warden_store::StoreError::NotFound { kind: "role", id } => ApiError::unprocessable(
            "unknown_role",
            format!("role `{id}` is not a role of this scope; list the scope's roles to find its id or name"),
        )
        .with_details(serde_json::json!({"field": "role_id"})),
        other => other.into(),
    }
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let principal = principal_param(&params)?;
    let scope = caller.resolve(&state, param)?;
    let w = remove_member(&state, &caller, scope, principal).await?;
    Ok(respond::json(
        StatusCode::OK,
        &MemberView::from(w.value),
        Some(w.revision),
        None,
    ))
}

/// Removes `principal`'s role in `scope` as `caller` (the ownership rules apply); the API
/// and the console both call it.
pub async fn remove_member(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    principal: Principal,
) -> Result<warden_store::Written<warden_store::MemberRecord>, ApiError> {
    let auth = caller
        .authorize_in(state, scope, perm(scope, "delete"))
        .await?;
    let scope = auth.scope();
    let w = state
        .store()
        .remove_member(
            &caller.actor(),
            scope,
            principal,
            caller.is_owner(state, scope),
        )
        .await?;
    state.reach_changing_keys(w.revision).await;
    Ok(w)
}

async fn transfer_ownership(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Json(body): Json<TransferOwnership>,
) -> Result<Response, ApiError> {
    let target = UserId::parse(&body.user_id)?;
    let scope = caller.resolve(&state, param)?;
    let w = transfer(&state, &caller, scope, target).await?;
    Ok(respond::json(
        StatusCode::OK,
        &MemberView::from(w.value),
        Some(w.revision),
        None,
    ))
}

/// Makes user `target` Owner of `scope` and demotes `caller`, who must be an Owner there
/// (the API and the console).
pub async fn transfer(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    target: UserId,
) -> Result<warden_store::Written<MemberRecord>, ApiError> {
    if !caller.is_owner(state, scope) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "owner_required",
            format!(
                "only an Owner of the {} can transfer its ownership",
                if scope.project_id.is_some() {
                    "project"
                } else {
                    "organization"
                }
            ),
        ));
    }
    let w = state
        .store()
        .transfer_ownership(&caller.actor(), scope, caller.principal(), target)
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}
