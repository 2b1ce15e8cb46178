//! Policies at org and project scope: the same operations at both.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use warden_model::{Description, Name, PolicyId, ScopeKind};
use warden_store::{NewPolicy, PolicyPatch};

use super::views::{Deleted, List, PolicyView};
use super::{op, Route};
use crate::auth::{Caller, ScopeParam};
use crate::error::ApiError;
use crate::extract::{DeleteQuery, IfMatch, Json, PageQuery, Query};
use crate::respond;
use crate::state::AppState;

/// The most entries a list in a body may hold.
pub const MAX_LIST: usize = 1000;

pub fn routes() -> Vec<Route> {
    let mut out = Vec::new();
    for (base, scope) in [
        ("/v1/orgs/{org}/policies", "organization"),
        ("/v1/projects/{project}/policies", "project"),
    ] {
        let item: &'static str = if scope == "organization" {
            "/v1/orgs/{org}/policies/{id}"
        } else {
            "/v1/projects/{project}/policies/{id}"
        };
        out.push(
            op(
                Method::GET,
                base,
                "policies",
                summary(scope, "List the policies of the"),
                list,
            )
            .perm("policy:read")
            .query::<ListQuery>()
            .reply::<List<PolicyView>>(200),
        );
        out.push(
            op(
                Method::POST,
                base,
                "policies",
                summary(scope, "Create a policy in the"),
                create,
            )
            .perm("policy:create")
            .body::<PolicyCreate>()
            .reply::<PolicyView>(201),
        );
        out.push(
            op(
                Method::GET,
                item,
                "policies",
                summary(scope, "Get a policy of the"),
                get,
            )
            .perm("policy:read")
            .reply::<PolicyView>(200),
        );
        out.push(
            op(
                Method::PATCH,
                item,
                "policies",
                summary(scope, "Update a custom policy of the"),
                update,
            )
            .perm("policy:update")
            .body::<PolicyUpdate>()
            .reply::<PolicyView>(200),
        );
        out.push(
            op(
                Method::DELETE,
                item,
                "policies",
                summary(scope, "Delete a custom policy of the"),
                delete,
            )
            .perm("policy:delete")
            .query::<DeleteQuery>()
            .reply::<Deleted>(200),
        );
    }
    out
}

fn summary(scope: &str, text: &str) -> &'static str {
    // The table is built once per process; leaking these few strings keeps RouteSpec 'static.
    Box::leak(format!("{text} {scope}").into_boxed_str())
}

/// `?limit=&cursor=&is_predefined=` of a policy or role list.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// How many items to return: 1 to 100, default 50.
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only predefined (`true`) or only custom (`false`) ones.
    pub is_predefined: Option<bool>,
}

impl ListQuery {
    pub fn page(&self) -> Result<warden_store::Page, ApiError> {
        PageQuery {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
        .page()
    }
}

/// A new policy.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyCreate {
    /// 1 to 255 characters, unique among the scope's policies regardless of case.
    pub name: String,
    /// At most 1000 characters.
    pub description: Option<String>,
    /// Permission ids or `resource:action` keys of the scope: at least one, at most 1000.
    pub permission_ids: Vec<String>,
}

/// Changes to a policy: at least one field; `permission_ids` replaces the old list wholly.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permission_ids: Option<Vec<String>>,
}

/// Reads the `{id}` of the path.
pub fn path_id<T>(
    params: &HashMap<String, String>,
    parse: fn(&str) -> Result<T, warden_model::IdError>,
) -> Result<T, ApiError> {
    let raw = params.get("id").map(String::as_str).unwrap_or_default();
    Ok(parse(raw)?)
}

/// Resolves a list of permission ids or keys against the scope's catalogue.
pub fn resolve_permissions(
    state: &AppState,
    kind: ScopeKind,
    field: &'static str,
    given: &[String],
    required: bool,
) -> Result<Vec<String>, ApiError> {
    if given.len() > MAX_LIST {
        return Err(ApiError::bad_request(
            "too_many",
            format!(
                "`{field}` has {} entries; at most {MAX_LIST} are accepted",
                given.len()
            ),
        )
        .with_details(json!({"field": field})));
    }
    if required && given.is_empty() {
        return Err(ApiError::bad_request(
            "empty_list",
            format!(
                "`{field}` must name at least one permission; list them with GET .../permissions"
            ),
        )
        .with_details(json!({"field": field})));
    }
    state.catalogue().scope(kind).resolve(given).map_err(|unknown| {
        let shown: Vec<String> = unknown.iter().take(20).map(|u| format!("`{u}`")).collect();
        ApiError::unprocessable(
            "unknown_permissions",
            format!(
                "{} entr{} of `{field}` name no permission of the {} scope: {}{}; use ids or `resource:action` keys from GET .../permissions",
                unknown.len(),
                if unknown.len() == 1 { "y" } else { "ies" },
                kind.noun(),
                shown.join(", "),
                if unknown.len() > 20 { ", ..." } else { "" },
            ),
        )
        .with_details(json!({"field": field, "unknown": unknown.iter().take(100).collect::<Vec<_>>(), "count": unknown.len()}))
    })
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let auth = caller.authorize(&state, param, "policy:read").await?;
    let paged = state
        .store()
        .list_policies(auth.scope(), q.is_predefined, q.page()?)
        .await?;
    Ok(respond::json(
        StatusCode::OK,
        &List::from_paged(paged, PolicyView::new),
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
    let id = path_id(&params, PolicyId::parse)?;
    let auth = caller.authorize(&state, param, "policy:read").await?;
    let p = state.store().get_policy(auth.scope(), id).await?;
    let version = p.version;
    Ok(respond::json(
        StatusCode::OK,
        &PolicyView::new(p),
        None,
        Some(version),
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Json(body): Json<PolicyCreate>,
) -> Result<Response, ApiError> {
    let scope = caller.resolve(&state, param)?;
    let w = create_policy(&state, &caller, scope, &body).await?;
    let version = w.value.version;
    Ok(respond::json(
        StatusCode::CREATED,
        &PolicyView::new(w.value),
        Some(w.revision),
        Some(version),
    ))
}

/// Creates a policy in `scope` as `caller`, with every rule the API applies (permission,
/// names, existing permissions, no escalation); the API and the console both call it.
pub async fn create_policy(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    body: &PolicyCreate,
) -> Result<warden_store::Written<warden_store::PolicyRecord>, ApiError> {
    let auth = caller.authorize_in(state, scope, "policy:create").await?;
    let input = NewPolicy {
        name: Name::parse("name", &body.name)?,
        description: Description::parse(body.description.as_deref().unwrap_or(""))?,
        permissions: resolve_permissions(
            state,
            auth.scope().kind(),
            "permission_ids",
            &body.permission_ids,
            true,
        )?,
    };
    caller.require_all(state, auth.scope(), &input.permissions, "this policy")?;
    let w = state
        .store()
        .create_policy(&caller.actor(), auth.scope(), input)
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
    Json(body): Json<PolicyUpdate>,
) -> Result<Response, ApiError> {
    let id = path_id(&params, PolicyId::parse)?;
    let scope = caller.resolve(&state, param)?;
    let w = update_policy(&state, &caller, scope, id, &body, version).await?;
    let version = w.value.version;
    Ok(respond::json(
        StatusCode::OK,
        &PolicyView::new(w.value),
        Some(w.revision),
        Some(version),
    ))
}

/// Changes policy `id` of `scope` as `caller` (the API's `PATCH` and the console's edit
/// form), with every rule the API applies: permission, names, existing permissions, no
/// escalation, predefined policies left alone, `version` (when given) still current.
pub async fn update_policy(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    id: PolicyId,
    body: &PolicyUpdate,
    version: Option<i64>,
) -> Result<warden_store::Written<warden_store::PolicyRecord>, ApiError> {
    let auth = caller.authorize_in(state, scope, "policy:update").await?;
    if body.name.is_none() && body.description.is_none() && body.permission_ids.is_none() {
        return Err(ApiError::bad_request(
            "empty_update",
            "give at least one of `name`, `description` and `permission_ids` to change",
        ));
    }
    let patch = PolicyPatch {
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
        permissions: body
            .permission_ids
            .as_deref()
            .map(|p| resolve_permissions(state, auth.scope().kind(), "permission_ids", p, true))
            .transpose()?,
    };
    if let Some(perms) = &patch.permissions {
        caller.require_all(state, auth.scope(), perms, "this policy")?;
    }
    let w = state
        .store()
        .update_policy(&caller.actor(), auth.scope(), id, patch, version)
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
    let id = path_id(&params, PolicyId::parse)?;
    let scope = caller.resolve(&state, param)?;
    let w = delete_policy(&state, &caller, scope, id, q.cascade).await?;
    let body = Deleted {
        id: id.0,
        deleted: true,
        revision: w.revision,
        roles_changed: w.value.roles_changed,
        memberships_removed: vec![],
    };
    Ok(respond::json(StatusCode::OK, &body, Some(w.revision), None))
}

/// Deletes policy `id` of `scope` as `caller`; one still used by a role is refused (409
/// `in_use`, naming the roles) unless `cascade` takes it out of them.
pub async fn delete_policy(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    id: PolicyId,
    cascade: bool,
) -> Result<warden_store::Written<warden_store::Cascade>, ApiError> {
    let auth = caller.authorize_in(state, scope, "policy:delete").await?;
    let w = state
        .store()
        .delete_policy(&caller.actor(), auth.scope(), id, cascade)
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}
