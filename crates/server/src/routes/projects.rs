//! Projects of an organization.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use warden_model::{Description, Name, ProjectId};
use warden_store::{NewProject, ProjectPatch};

use super::views::{Deleted, List, ProjectView};
use super::{op, Route};
use crate::auth::{Caller, ScopeParam};
use crate::error::ApiError;
use crate::extract::{IfMatch, Json, PageQuery, Query};
use crate::respond;
use crate::state::AppState;

pub fn routes() -> Vec<Route> {
    vec![
        op(
            Method::GET,
            "/v1/orgs/{org}/projects",
            "projects",
            "List the organization's projects",
            list,
        )
        .perm("project:read")
        .query::<PageQuery>()
        .reply::<List<ProjectView>>(200),
        op(
            Method::POST,
            "/v1/orgs/{org}/projects",
            "projects",
            "Create a project (with its predefined roles)",
            create,
        )
        .perm("project:create")
        .body::<ProjectCreate>()
        .reply::<ProjectView>(201),
        op(
            Method::GET,
            "/v1/projects/{project}",
            "projects",
            "Get a project",
            get,
        )
        .perm("project:read")
        .reply::<ProjectView>(200),
        op(
            Method::PATCH,
            "/v1/projects/{project}",
            "projects",
            "Rename a project, change its description or restrict it",
            update,
        )
        .perm("project:update")
        .body::<ProjectUpdate>()
        .reply::<ProjectView>(200),
        op(
            Method::DELETE,
            "/v1/projects/{project}",
            "projects",
            "Delete a project and everything in it",
            delete,
        )
        .perm("project:delete")
        .reply::<Deleted>(200),
    ]
}

/// A new project.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectCreate {
    /// 1 to 255 characters, unique in the organization regardless of case.
    pub name: String,
    /// At most 1000 characters.
    pub description: Option<String>,
    /// When true, org roles other than Owner grant nothing in the project.
    #[serde(default)]
    pub restricted: bool,
}

/// Changes to a project: at least one field.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub restricted: Option<bool>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let auth = caller.authorize(&state, param, "project:read").await?;
    let page = q.page()?;
    let paged = state
        .store()
        .list_projects(auth.scope().org_id, page)
        .await?;
    Ok(respond::json(
        StatusCode::OK,
        &List::from_paged(paged, ProjectView::from),
        None,
        None,
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Json(body): Json<ProjectCreate>,
) -> Result<Response, ApiError> {
    let scope = caller.resolve(&state, param)?;
    let w = create_project(&state, &caller, scope, &body).await?;
    let version = w.value.version;
    Ok(respond::json(
        StatusCode::CREATED,
        &ProjectView::from(w.value),
        Some(w.revision),
        Some(version),
    ))
}

/// Creates a project in the org of `scope` as `caller` (the API and the console); it
/// receives the catalogue's predefined project roles.
pub async fn create_project(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    body: &ProjectCreate,
) -> Result<warden_store::Written<warden_store::ProjectRecord>, ApiError> {
    let auth = caller.authorize_in(state, scope, "project:create").await?;
    let input = NewProject {
        name: Name::parse("name", &body.name)?,
        description: Description::parse(body.description.as_deref().unwrap_or(""))?,
        restricted: body.restricted,
    };
    let w = state
        .store()
        .create_project(&caller.actor(), auth.scope().org_id, input)
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}

async fn get(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
) -> Result<Response, ApiError> {
    let auth = caller.authorize(&state, param, "project:read").await?;
    let p = state
        .store()
        .get_project(project_scope_id(auth.scope())?)
        .await?;
    let version = p.version;
    Ok(respond::json(
        StatusCode::OK,
        &ProjectView::from(p),
        None,
        Some(version),
    ))
}

fn project_scope_id(scope: warden_model::Scope) -> Result<ProjectId, ApiError> {
    scope.project_id.ok_or_else(ApiError::internal)
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    IfMatch(version): IfMatch,
    Json(body): Json<ProjectUpdate>,
) -> Result<Response, ApiError> {
    let scope = caller.resolve(&state, param)?;
    let w = update_project(&state, &caller, scope, &body, version).await?;
    let version = w.value.version;
    Ok(respond::json(
        StatusCode::OK,
        &ProjectView::from(w.value),
        Some(w.revision),
        Some(version),
    ))
}

/// Changes the project of `scope` as `caller` (the API and the console); `version`, when
/// given, must still be current.
pub async fn update_project(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
    body: &ProjectUpdate,
    version: Option<i64>,
) -> Result<warden_store::Written<warden_store::ProjectRecord>, ApiError> {
    let auth = caller.authorize_in(state, scope, "project:update").await?;
    if body.name.is_none() && body.description.is_none() && body.restricted.is_none() {
        return Err(ApiError::bad_request(
            "empty_update",
            "give at least one of `name`, `description` and `restricted` to change",
        ));
    }
    let patch = ProjectPatch {
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
        restricted: body.restricted,
    };
    let w = state
        .store()
        .update_project(
            &caller.actor(),
            project_scope_id(auth.scope())?,
            patch,
            version,
        )
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
) -> Result<Response, ApiError> {
    let scope = caller.resolve(&state, param)?;
    let w = delete_project(&state, &caller, scope).await?;
    let id = w.value.id;
    let body = Deleted {
        id: id.0,
        deleted: true,
        revision: w.revision,
        roles_changed: vec![],
        memberships_removed: vec![],
    };
    Ok(respond::json(StatusCode::OK, &body, Some(w.revision), None))
}

/// Deletes the project of `scope` as `caller`, with its roles, policies, memberships and
/// keys (refused from the moment this returns).
pub async fn delete_project(
    state: &AppState,
    caller: &Caller,
    scope: warden_model::Scope,
) -> Result<warden_store::Written<warden_store::ProjectRecord>, ApiError> {
    let auth = caller.authorize_in(state, scope, "project:delete").await?;
    let id = project_scope_id(auth.scope())?;
    let w = state.store().delete_project(&caller.actor(), id).await?;
    state.reach_changing_keys(w.revision).await;
    Ok(w)
}
