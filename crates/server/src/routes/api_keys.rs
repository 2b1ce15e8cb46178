//! API keys of an org or a project: each holds one role in its scope. The secret is in the
//! creation's answer only.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_model::{ApiKeyId, Name, OrgId, ProjectId, RoleId, ScopeKind};
use warden_store::{KeyPatch, KeyRecord};

use super::members::role_not_found_is_unprocessable;
use super::policies::path_id;
use super::views::{Deleted, List};
use super::{op, Route};
use crate::auth::{Caller, ScopeParam};
use crate::error::ApiError;
use crate::extract::{IfMatch, Json, PageQuery, Query};
use crate::respond;
use crate::state::AppState;

pub fn routes() -> Vec<Route> {
    let mut out = Vec::new();
    for (base, item, scope) in [
        (
            "/v1/orgs/{org}/api-keys",
            "/v1/orgs/{org}/api-keys/{id}",
            "organization",
        ),
        (
            "/v1/projects/{project}/api-keys",
            "/v1/projects/{project}/api-keys/{id}",
            "project",
        ),
    ] {
        let s = |t: &str| -> &'static str { Box::leak(format!("{t} {scope}").into_boxed_str()) };
        out.push(
            op(
                Method::GET,
                base,
                "api_keys",
                s("List the API keys of the"),
                list,
            )
            .perm("api_key:read")
            .query::<PageQuery>()
            .reply::<List<ApiKeyView>>(200),
        );
        out.push(
            op(
                Method::POST,
                base,
                "api_keys",
                s("Create an API key (the secret is shown once) in the"),
                create,
            )
            .perm("api_key:create")
            .body::<ApiKeyCreate>()
            .reply::<CreatedApiKey>(201),
        );
        out.push(
            op(
                Method::GET,
                item,
                "api_keys",
                s("Get an API key of the"),
                get,
            )
            .perm("api_key:read")
            .reply::<ApiKeyView>(200),
        );
        out.push(
            op(
                Method::PATCH,
                item,
                "api_keys",
                s("Rename or invalidate an API key of the"),
                update,
            )
            .perm("api_key:update")
            .body::<ApiKeyUpdate>()
            .reply::<ApiKeyView>(200),
        );
        out.push(
            op(
                Method::DELETE,
                item,
                "api_keys",
                s("Delete an API key of the"),
                delete,
            )
            .perm("api_key:delete")
            .reply::<Deleted>(200),
        );
    }
    out
}

/// A new API key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    /// 1 to 255 characters.
    pub name: String,
    /// The role the key holds in the scope: an id or a name.
    pub role_id: String,
    /// When the key stops working: RFC 3339, in the future.
    pub expires_at: Option<String>,
}

/// Changes to a key: at least one field.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyUpdate {
    pub name: Option<String>,
    /// `false` invalidates the key (it is refused with 401 from then on); `true` restores it.
    pub valid: Option<bool>,
}

/// An API key, without its secret.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApiKeyView {
    pub id: ApiKeyId,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub scope: ScopeKind,
    pub name: String,
    /// The last 6 characters of the secret, to recognise it.
    pub last_chars: String,
    pub role_id: Option<RoleId>,
    pub role_name: Option<String>,
    /// False once invalidated or expired.
    pub valid: bool,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

impl From<KeyRecord> for ApiKeyView {
    fn from(k: KeyRecord) -> Self {
        let expired = k
            .expires_at
            .as_deref()
            .and_then(parse_time)
            .is_some_and(|t| t <= time::OffsetDateTime::now_utc());
        ApiKeyView {
            id: k.id,
            org_id: k.org_id,
            project_id: k.project_id,
            scope: if k.project_id.is_some() {
                ScopeKind::Project
            } else {
                ScopeKind::Org
            },
            name: k.name,
            last_chars: k.last_chars,
            role_id: k.role_id,
            role_name: k.role_name,
            valid: k.valid && !expired,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            created_by: k.created_by,
            created_at: k.created_at,
            updated_at: k.updated_at,
            version: k.version,
        }
    }
}

/// A created key with its secret: the only time the secret is shown.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The secret, to send as `Authorization: Bearer <secret>`. Shown only once.
    pub secret: String,
}

fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// Checks `expires_at` and returns it normalized to UTC RFC 3339.
pub fn parse_expiry(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let t = parse_time(raw).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_field",
            format!(
                "`expires_at` must be an RFC 3339 time such as `2030-01-31T12:00:00Z`, not `{}`",
                raw.chars().take(60).collect::<String>()
            ),
        )
    })?;
    if t <= time::OffsetDateTime::now_utc() {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("`expires_at` ({raw}) is in the past; give a future time"),
        ));
    }
    // An offset can carry a time past the year 9999 in UTC, which cannot be kept.
    t.checked_to_offset(time::UtcOffset::UTC)
        .and_then(|utc| {
            utc.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_field",
                format!("`expires_at` ({raw}) is too far in the future: give a time before the year 10000 in UTC"),
            )
        })
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let auth = caller.authorize(&state, param, "api_key:read").await?;
    let paged = state.store().list_api_keys(auth.scope(), q.page()?).await?;
    Ok(respond::json(
        StatusCode::OK,
        &List::from_paged(paged, ApiKeyView::from),
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
    let id = path_id(&params, ApiKeyId::parse)?;
    let auth = caller.authorize(&state, param, "api_key:read").await?;
    let k = state.store().get_api_key(auth.scope(), id).await?;
    let version = k.version;
    Ok(respond::json(
        StatusCode::OK,
        &ApiKeyView::from(k),
        None,
        Some(version),
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Json(body): Json<ApiKeyCreate>,
) -> Result<Response, ApiError> {
    let scope = caller.resolve(&state, param)?;
    let w = create_api_key(&state, &caller, scope, &body).await?;
    let (key, secret) = w.value;
    let version = key.version;
    let body = CreatedApiKey {
        key: key.into(),
        secret,
    };
    Ok(respond::json(
        StatusCode::CREATED,
        &body,
        Some(w.revision),
        Some(version),
    ))
}

/// Creates an API key of `scope` as `caller` (the API and the console), with every rule:
/// permission, name, expiry in the future, no escalation, the Owner role only from an
/// Owner. Returns the key and its secret, which nothing keeps.
pub async fn create_api_key(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    body: &ApiKeyCreate,
) -> Result<warden_store::Written<(KeyRecord, String)>, ApiError> {
    let auth = caller.authorize_in(state, scope, "api_key:create").await?;
    let scope = auth.scope();
    let name = Name::parse("name", &body.name)?;
    let expires_at = parse_expiry(body.expires_at.as_deref())?;
    let role = state
        .store()
        .resolve_role(scope, &body.role_id)
        .await
        .map_err(role_not_found_is_unprocessable)?;
    caller.require_all(
        state,
        scope,
        &role.effective_permissions,
        &format!("a key with the role `{}`", role.name),
    )?;
    if state.store().is_owner_role(&role) && !caller.is_owner(state, scope) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "owner_required",
            "only an Owner can create a key holding the Owner role",
        ));
    }
    let w = state
        .store()
        .create_api_key(&caller.actor(), scope, &name, &role, expires_at)
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
    Json(body): Json<ApiKeyUpdate>,
) -> Result<Response, ApiError> {
    let id = path_id(&params, ApiKeyId::parse)?;
    let scope = caller.resolve(&state, param)?;
    let w = update_api_key(&state, &caller, scope, id, &body, version).await?;
    let version = w.value.version;
    Ok(respond::json(
        StatusCode::OK,
        &ApiKeyView::from(w.value),
        Some(w.revision),
        Some(version),
    ))
}

/// Renames, invalidates or restores key `id` of `scope` as `caller`; an invalidated key is
/// refused from the moment this returns.
pub async fn update_api_key(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    id: ApiKeyId,
    body: &ApiKeyUpdate,
    version: Option<i64>,
) -> Result<warden_store::Written<KeyRecord>, ApiError> {
    let auth = caller.authorize_in(state, scope, "api_key:update").await?;
    if body.name.is_none() && body.valid.is_none() {
        return Err(ApiError::bad_request(
            "empty_update",
            "give at least one of `name` and `valid` to change",
        ));
    }
    let patch = KeyPatch {
        name: body
            .name
            .as_deref()
            .map(|n| Name::parse("name", n))
            .transpose()?,
        valid: body.valid,
    };
    let w = state
        .store()
        .update_api_key(&caller.actor(), auth.scope(), id, patch, version)
        .await?;
    state.reach_changing_keys(w.revision).await;
    Ok(w)
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id = path_id(&params, ApiKeyId::parse)?;
    let scope = caller.resolve(&state, param)?;
    let w = delete_api_key(&state, &caller, scope, id).await?;
    let body = Deleted {
        id: id.0,
        deleted: true,
        revision: w.revision,
        roles_changed: vec![],
        memberships_removed: vec![],
    };
    Ok(respond::json(StatusCode::OK, &body, Some(w.revision), None))
}

/// Deletes key `id` of `scope` as `caller`; it is refused from the moment this returns.
pub async fn delete_api_key(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    id: ApiKeyId,
) -> Result<warden_store::Written<KeyRecord>, ApiError> {
    let auth = caller.authorize_in(state, scope, "api_key:delete").await?;
    let w = state
        .store()
        .delete_api_key(&caller.actor(), auth.scope(), id)
        .await?;
    state.reach_changing_keys(w.revision).await;
    Ok(w)
}
