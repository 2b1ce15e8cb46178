//! Health, readiness, the OpenAPI document, `/v1/me` and the organization itself.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use warden_model::{ApiKeyId, ProjectId, ScopeKind};

use super::views::OrgView;
use super::{op, Route};
use crate::auth::{Caller, Named, ScopeParam};
use crate::error::ApiError;
use crate::extract::Query;
use crate::respond;
use crate::state::AppState;

pub fn routes() -> Vec<Route> {
    vec![
        op(
            Method::GET,
            "/healthz",
            "meta",
            "Liveness: the process answers",
            healthz,
        )
        .public()
        .reply::<Health>(200),
        op(
            Method::GET,
            "/readyz",
            "meta",
            "Readiness: the database answers and the engine is loaded",
            readyz,
        )
        .public()
        .reply::<Health>(200),
        op(
            Method::GET,
            "/openapi.json",
            "meta",
            "This document",
            openapi,
        )
        .public(),
        op(
            Method::GET,
            "/v1/me",
            "meta",
            "Who the API key is, its organization and its permissions",
            me,
        )
        .query::<MeQuery>()
        .reply::<Me>(200),
        op(
            Method::GET,
            "/v1/orgs/{org}",
            "organizations",
            "Get the organization",
            get_org,
        )
        .perm("organization:read")
        .reply::<OrgView>(200),
    ]
}

/// Health or readiness.
#[derive(Serialize, JsonSchema)]
pub struct Health {
    pub status: String,
    /// The last revision the engine applied.
    pub revision: u64,
    pub database: String,
}

async fn healthz(State(state): State<AppState>) -> Response {
    let body = Health {
        status: "ok".into(),
        revision: state.engine().revision(),
        database: "not checked".into(),
    };
    respond::json(StatusCode::OK, &body, None, None)
}

async fn readyz(State(state): State<AppState>) -> Response {
    let up = state.store().ping(std::time::Duration::from_secs(1)).await;
    let body = Health {
        status: if up { "ready" } else { "degraded" }.into(),
        revision: state.engine().revision(),
        database: if up { "up" } else { "unreachable" }.into(),
    };
    respond::json(
        if up {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &body,
        None,
        None,
    )
}

async fn openapi() -> Response {
    axum::Json(crate::openapi::document()).into_response()
}

/// The calling API key.
#[derive(Serialize, JsonSchema)]
pub struct Me {
    /// `api_key:<id>`, or `user:<id>` for a personal key.
    pub principal: String,
    pub api_key: MeKey,
    pub org: OrgView,
    /// The scope the role and permissions are given for: the key's own, or `?project_id=`.
    pub scope: ScopeKind,
    pub project_id: Option<ProjectId>,
    /// The role the caller holds in this scope itself; null when it holds none there, its
    /// permissions then coming from its org role or its teams.
    pub role: Option<MeRole>,
    /// Every permission the caller holds in this scope, wherever it comes from.
    pub permissions: Vec<String>,
    /// The engine revision this answer was computed at.
    pub revision: u64,
}

#[derive(Serialize, JsonSchema)]
pub struct MeKey {
    pub id: ApiKeyId,
    pub name: String,
}

#[derive(Serialize, JsonSchema)]
pub struct MeRole {
    pub id: warden_model::RoleId,
    pub name: String,
}

/// `?project_id=` of `/v1/me`.
#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeQuery {
    /// Show the role and permissions the caller has in this project instead.
    pub project_id: Option<String>,
}

async fn me(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<MeQuery>,
) -> Result<Response, ApiError> {
    let org = state.store().get_org(caller.org_id).await?;
    let scope = match (q.project_id.as_deref(), caller.project_id) {
        (Some(p), _) => caller.resolve_named(&state, Named::Project(ProjectId::parse(p)?))?,
        (None, Some(p)) => warden_model::Scope::project(caller.org_id, p),
        (None, None) => warden_model::Scope::org(caller.org_id),
    };
    let engine = state.engine();
    let role = match engine.role_of(caller.principal(), scope) {
        Some(id) => state
            .store()
            .get_role(scope, id)
            .await
            .ok()
            .map(|r| MeRole {
                id: r.id,
                name: r.name,
            }),
        None => None,
    };
    let body = Me {
        principal: caller.principal().to_string(),
        api_key: MeKey {
            id: caller.key_id,
            name: caller.name.clone(),
        },
        org: org.into(),
        scope: scope.kind(),
        project_id: scope.project_id,
        role,
        permissions: engine
            .effective(caller.principal(), scope)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        revision: engine.revision(),
    };
    Ok(respond::json(StatusCode::OK, &body, None, None))
}

async fn get_org(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
) -> Result<Response, ApiError> {
    let auth = caller.authorize(&state, param, "organization:read").await?;
    let org = state.store().get_org(auth.scope().org_id).await?;
    let version = org.version;
    Ok(respond::json(
        StatusCode::OK,
        &OrgView::from(org),
        None,
        Some(version),
    ))
}

/// The answer to a path that no route serves.
pub async fn no_route(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        format!(
            "no route `{method} {}`; the routes are listed in /openapi.json",
            uri.path()
        ),
    )
}

/// The answer to a method a path does not serve.
pub async fn wrong_method(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "`{method}` is not served on `{}`; the routes are listed in /openapi.json",
            uri.path()
        ),
    )
    .with_details(json!({}))
}
