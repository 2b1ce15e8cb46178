//! Project settings → Roles & Permissions: the default and custom roles, New Role, the
//! custom policies and New Policy with its permission matrix.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use warden_model::{ProjectId, Scope};
use warden_store::Page;

use super::session::Session;
use super::{error_page, render, see_other, url_component, Chrome};
use crate::auth::Named;
use crate::error::ApiError;
use crate::routes::policies::PolicyCreate;
use crate::routes::roles::RoleCreate;
use crate::state::AppState;

/// A form as the user filled it in, with the errors the rules gave, by field (`""` for
/// what belongs to no field).
#[derive(Default)]
pub struct FormState {
    pub name: String,
    pub description: String,
    /// The boxes ticked (policy ids, or permission keys).
    pub chosen: Vec<String>,
    pub errors: Vec<(&'static str, String)>,
}

impl FormState {
    /// The error of `field`, if any.
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, e)| e.as_str())
    }

    /// Whether the box `value` was ticked.
    pub fn has(&self, value: &str) -> bool {
        self.chosen.iter().any(|c| c == value)
    }

    /// The form, with `e` placed beside the field it names (`fields` lists the form's own).
    fn refused(mut self, e: ApiError, fields: &[&'static str]) -> Self {
        let named = e
            .details
            .get("field")
            .and_then(|f| f.as_str())
            .unwrap_or("");
        let field = fields.iter().copied().find(|f| *f == named).unwrap_or("");
        self.errors.push((field, e.message));
        self
    }
}

/// A role as the page lists it.
pub struct RoleRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub policies: String,
    pub permission_count: usize,
}

/// A policy as the page lists it.
pub struct PolicyRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub permissions: String,
}

/// One resource of the matrix: a cell per action, holding the permission key when the
/// resource has that action.
pub struct MatrixRow {
    pub resource: String,
    pub cells: Vec<Option<String>>,
}

#[derive(Template)]
#[template(path = "console/project_roles.html")]
struct RolesPage {
    chrome: Chrome,
    org_name: String,
    project_id: String,
    project_name: String,
    notice: Option<String>,
    /// A refusal that belongs to no form (a delete refused).
    alert: Option<String>,
    default_roles: Vec<RoleRow>,
    custom_roles: Vec<RoleRow>,
    policies: Vec<PolicyRow>,
    can_create_role: bool,
    can_create_policy: bool,
    can_delete_role: bool,
    can_delete_policy: bool,
    actions: Vec<String>,
    matrix: Vec<MatrixRow>,
    csrf: String,
    role_form: FormState,
    policy_form: FormState,
}

/// The permission matrix of project scope: resources as rows, every action as a column.
fn matrix(state: &AppState) -> (Vec<String>, Vec<MatrixRow>) {
    let cat = state.catalogue().scope(warden_model::ScopeKind::Project);
    let mut actions: Vec<String> = Vec::new();
    for (_, acts) in &cat.resources {
        for a in acts {
            if !actions.contains(a) {
                actions.push(a.clone());
            }
        }
    }
    let rows = cat
        .resources
        .iter()
        .map(|(resource, acts)| MatrixRow {
            resource: resource.clone(),
            cells: actions
                .iter()
                .map(|a| acts.contains(a).then(|| format!("{resource}:{a}")))
                .collect(),
        })
        .collect();
    (actions, rows)
}

/// [`project_scope`] for a posted form, once its CSRF token is checked.
pub(super) async fn form_scope(
    state: &AppState,
    headers: &HeaderMap,
    project: &str,
    csrf: &str,
) -> Result<(Session, Scope), Response> {
    let (s, scope) = project_scope(state, headers, project).await?;
    s.check_csrf(csrf).map_err(error_page)?;
    Ok((s, scope))
}

/// What every project page shows at its top: the org and the project of `scope`.
pub(super) async fn project_head(
    state: &AppState,
    scope: Scope,
) -> Result<
    (
        warden_store::OrgRecord,
        ProjectId,
        warden_store::ProjectRecord,
    ),
    ApiError,
> {
    let org = state.store().get_org(scope.org_id).await?;
    let project_id = scope
        .project_id
        .ok_or_else(|| ApiError::not_found("project", "?"))?;
    let project = state.store().get_project(project_id).await?;
    Ok((org, project_id, project))
}

/// The session and the project of the path, resolved inside the session's org.
pub(super) async fn project_scope(
    state: &AppState,
    headers: &HeaderMap,
    project: &str,
) -> Result<(Session, Scope), Response> {
    let s = Session::required(state, headers).await?;
    let scope = match ProjectId::parse(project) {
        Ok(p) => s.caller.resolve_fresh(state, Named::Project(p)).await,
        Err(e) => Err(e.into()),
    };
    match scope {
        Ok(scope) => Ok((s, scope)),
        Err(e) => Err(error_page(e)),
    }
}

async fn roles_view(
    state: &AppState,
    s: &Session,
    scope: Scope,
    notice: Option<String>,
    role_form: FormState,
    policy_form: FormState,
) -> Result<RolesPage, ApiError> {
    s.caller.authorize_in(state, scope, "role:read").await?;
    let store = state.store();
    let (org, project_id, project) = project_head(state, scope).await?;
    let roles = store.list_roles(scope, None, Page::default()).await?.items;
    let (mut default_roles, mut custom_roles) = (Vec::new(), Vec::new());
    for r in roles {
        let row = RoleRow {
            id: r.id.to_string(),
            policies: r
                .policies
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            permission_count: r.effective_permissions.len(),
            name: r.name,
            description: r.description,
        };
        if r.predefined_key.is_some() {
            default_roles.push(row);
        } else {
            custom_roles.push(row);
        }
    }
    let policies = if s.caller.can(state, scope, "policy:read") {
        store
            .list_policies(scope, None, Page::default())
            .await?
            .items
            .into_iter()
            .map(|p| PolicyRow {
                id: p.id.to_string(),
                name: p.name,
                description: p.description,
                permissions: p.permissions.join(", "),
            })
            .collect()
    } else {
        Vec::new()
    };
    let (actions, matrix) = matrix(state);
    Ok(RolesPage {
        chrome: s.chrome(org.name.clone(), "project"),
        org_name: org.name,
        project_id: project_id.to_string(),
        project_name: project.name,
        notice,
        alert: None,
        default_roles,
        custom_roles,
        policies,
        can_create_role: s.caller.can(state, scope, "role:create"),
        can_create_policy: s.caller.can(state, scope, "policy:create"),
        can_delete_role: s.caller.can(state, scope, "role:delete"),
        can_delete_policy: s.caller.can(state, scope, "policy:delete"),
        actions,
        matrix,
        csrf: s.csrf.clone(),
        role_form,
        policy_form,
    })
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    role: Option<String>,
    policy: Option<String>,
    deleted: Option<String>,
}

pub async fn roles_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let (s, scope) = match project_scope(&state, &headers, &project).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let notice = match (q.role, q.policy, q.deleted) {
        (Some(r), _, _) => Some(format!("Role “{r}” created.")),
        (None, Some(p), _) => Some(format!("Policy “{p}” created.")),
        (None, None, Some(d)) => Some(format!("“{d}” deleted.")),
        (None, None, None) => None,
    };
    let page = roles_view(
        &state,
        &s,
        scope,
        notice,
        FormState::default(),
        FormState::default(),
    );
    match page.await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => error_page(e),
    }
}

/// Reads a posted form whose boxes repeat their name (`policy_ids`, `permissions`).
fn read_form(fields: Vec<(String, String)>, boxes: &str) -> (String, FormState) {
    let mut csrf = String::new();
    let mut form = FormState::default();
    for (k, v) in fields {
        match k.as_str() {
            "csrf" => csrf = v,
            "name" => form.name = v,
            "description" => form.description = v,
            k if k == boxes => form.chosen.push(v),
            _ => {}
        }
    }
    (csrf, form)
}

/// The page again with a refused form (422, or the refusal's own status).
async fn refused(
    state: &AppState,
    s: &Session,
    scope: Scope,
    status: StatusCode,
    role_form: FormState,
    policy_form: FormState,
) -> Response {
    match roles_view(state, s, scope, None, role_form, policy_form).await {
        Ok(page) => render(status, &page),
        Err(e) => error_page(e),
    }
}

pub async fn create_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let (csrf, form) = read_form(fields, "policy_ids");
    let (s, scope) = match form_scope(&state, &headers, &project, &csrf).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let body = RoleCreate {
        name: form.name.clone(),
        description: Some(form.description.clone()),
        policy_ids: Some(form.chosen.clone()),
        permissions: None,
    };
    match crate::routes::roles::create_role(&state, &s.caller, scope, &body).await {
        Ok(w) => see_other(&format!(
            "/console/projects/{}/roles?role={}#custom-roles",
            super::members::project_of(scope),
            url_component(&w.value.name)
        )),
        Err(e) if e.status == StatusCode::FORBIDDEN && e.code == "forbidden" => error_page(e),
        Err(mut e) if e.status.is_client_error() => {
            if e.code == "empty_role" {
                // The API names its fields; the form has boxes.
                e.message = "Choose at least one policy for the role.".into();
            }
            let status = refusal_status(&e);
            let form = form.refused(e, &["name", "policy_ids"]);
            refused(&state, &s, scope, status, form, FormState::default()).await
        }
        Err(e) => error_page(e),
    }
}

pub async fn create_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let (csrf, form) = read_form(fields, "permissions");
    let (s, scope) = match form_scope(&state, &headers, &project, &csrf).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let body = PolicyCreate {
        name: form.name.clone(),
        description: Some(form.description.clone()),
        permission_ids: form.chosen.clone(),
    };
    match crate::routes::policies::create_policy(&state, &s.caller, scope, &body).await {
        Ok(w) => see_other(&format!(
            "/console/projects/{}/roles?policy={}#custom-policies",
            super::members::project_of(scope),
            url_component(&w.value.name)
        )),
        Err(e) if e.status == StatusCode::FORBIDDEN && e.code == "forbidden" => error_page(e),
        Err(e) if e.status.is_client_error() => {
            let status = refusal_status(&e);
            let form = form.refused(e, &["name", "permission_ids"]);
            refused(&state, &s, scope, status, FormState::default(), form).await
        }
        Err(e) => error_page(e),
    }
}

/// The status a refused form is shown with: the rule's own (409 for a duplicate, 403 for an
/// escalation), 422 for what the API calls a bad request.
fn refusal_status(e: &ApiError) -> StatusCode {
    if e.status == StatusCode::BAD_REQUEST {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        e.status
    }
}

#[derive(Template)]
#[template(path = "console/project_general.html")]
struct GeneralPage {
    chrome: Chrome,
    org_name: String,
    project_id: String,
    project_name: String,
    notice: Option<String>,
    can_update: bool,
    csrf: String,
    version: i64,
    restricted: bool,
    form: FormState,
}

async fn general_view(
    state: &AppState,
    s: &Session,
    scope: Scope,
    notice: Option<String>,
    refused: Option<(FormState, bool)>,
) -> Result<GeneralPage, ApiError> {
    s.caller.authorize_in(state, scope, "project:read").await?;
    let (org, project_id, project) = project_head(state, scope).await?;
    let (form, restricted) = refused.unwrap_or_else(|| {
        (
            FormState {
                name: project.name.clone(),
                description: project.description.clone(),
                ..FormState::default()
            },
            project.restricted,
        )
    });
    Ok(GeneralPage {
        chrome: s.chrome(org.name.clone(), "project"),
        org_name: org.name,
        project_id: project_id.to_string(),
        project_name: project.name,
        notice,
        can_update: s.caller.can(state, scope, "project:update"),
        csrf: s.csrf.clone(),
        version: project.version,
        restricted,
        form,
    })
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn general_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Response {
    let (s, scope) = match project_scope(&state, &headers, &project).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let notice = q.saved.map(|_| "Settings saved.".to_owned());
    match general_view(&state, &s, scope, notice, None).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
pub struct GeneralForm {
    #[serde(default)]
    csrf: String,
    version: Option<i64>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    restricted: Option<String>,
}

pub async fn save_general(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Form(form): Form<GeneralForm>,
) -> Response {
    let (s, scope) = match form_scope(&state, &headers, &project, &form.csrf).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    if let Err(e) = s.caller.authorize_in(&state, scope, "project:update").await {
        return error_page(e);
    }
    let restricted = form.restricted.is_some();
    let typed = FormState {
        name: form.name.clone(),
        description: form.description.clone(),
        ..FormState::default()
    };
    let patch = match (
        warden_model::Name::parse("name", &form.name),
        warden_model::Description::parse(&form.description),
    ) {
        (Ok(name), Ok(description)) => warden_store::ProjectPatch {
            name: Some(name),
            description: Some(description),
            restricted: Some(restricted),
        },
        (Err(e), _) => {
            let form = typed.refused(e.into(), &["name"]);
            return general_refused(
                &state,
                &s,
                scope,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                restricted,
            )
            .await;
        }
        (_, Err(e)) => {
            let form = typed.refused(e.into(), &["name"]);
            return general_refused(
                &state,
                &s,
                scope,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                restricted,
            )
            .await;
        }
    };
    let Some(project_id) = scope.project_id else {
        return error_page(ApiError::not_found("project", project));
    };
    match state
        .store()
        .update_project(&s.caller.actor(), project_id, patch, form.version)
        .await
    {
        Ok(w) => {
            state.reach(w.revision).await;
            see_other(&format!("/console/projects/{project_id}/settings?saved=1"))
        }
        Err(e) => {
            let e: ApiError = e.into();
            if !e.status.is_client_error() {
                return error_page(e);
            }
            let status = e.status;
            let mut e = e;
            if e.code == "version_mismatch" {
                e.message = "Someone changed this project since you opened the page: reload it to see their changes, then save again.".into();
            }
            let form = typed.refused(e, &["name"]);
            general_refused(&state, &s, scope, status, form, restricted).await
        }
    }
}

/// The settings page again with a refused form, as the user filled it in.
async fn general_refused(
    state: &AppState,
    s: &Session,
    scope: Scope,
    status: StatusCode,
    form: FormState,
    restricted: bool,
) -> Response {
    match general_view(state, s, scope, None, Some((form, restricted))).await {
        Ok(page) => render(status, &page),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
}

/// What is deleted from the Roles & Permissions page.
#[derive(Clone, Copy)]
enum Deletable {
    Role,
    Policy,
}

pub async fn delete_role(
    state: State<AppState>,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
    Form(form): Form<DeleteForm>,
) -> Response {
    delete(state, headers, project, id, form, Deletable::Role).await
}

pub async fn delete_policy(
    state: State<AppState>,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
    Form(form): Form<DeleteForm>,
) -> Response {
    delete(state, headers, project, id, form, Deletable::Policy).await
}

/// Deletes a custom role or policy; one still in use is refused with its dependants named.
async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    project: String,
    id: String,
    form: DeleteForm,
    what: Deletable,
) -> Response {
    let (s, scope) = match form_scope(&state, &headers, &project, &form.csrf).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let done = delete_one(&state, &s, scope, &id, what).await;
    match done {
        Ok((revision, name)) => {
            state.reach(revision).await;
            see_other(&format!(
                "/console/projects/{}/roles?deleted={}",
                super::members::project_of(scope),
                url_component(&name)
            ))
        }
        Err(e)
            if e.status == StatusCode::CONFLICT || e.status == StatusCode::UNPROCESSABLE_ENTITY =>
        {
            let status = e.status;
            let message = in_use_message(&e, what).unwrap_or(e.message);
            let page = roles_view(
                &state,
                &s,
                scope,
                None,
                FormState::default(),
                FormState::default(),
            )
            .await;
            match page {
                Ok(mut page) => {
                    page.alert = Some(message);
                    render(status, &page)
                }
                Err(e) => error_page(e),
            }
        }
        Err(e) => error_page(e),
    }
}

/// Deletes the role or policy `id` of `scope` (no cascade); returns the revision and the
/// name it had.
async fn delete_one(
    state: &AppState,
    s: &Session,
    scope: Scope,
    id: &str,
    what: Deletable,
) -> Result<(u64, String), ApiError> {
    let actor = s.caller.actor();
    let store = state.store();
    let (revision, name) = match what {
        Deletable::Role => {
            let id = warden_model::RoleId::parse(id)?;
            s.caller.authorize_in(state, scope, "role:delete").await?;
            let name = store.get_role(scope, id).await?.name;
            (
                store.delete_role(&actor, scope, id, false).await?.revision,
                name,
            )
        }
        Deletable::Policy => {
            let id = warden_model::PolicyId::parse(id)?;
            s.caller.authorize_in(state, scope, "policy:delete").await?;
            let name = store.get_policy(scope, id).await?.name;
            (
                store
                    .delete_policy(&actor, scope, id, false)
                    .await?
                    .revision,
                name,
            )
        }
    };
    Ok((revision, name))
}

/// A refusal to delete something still in use, in the console's words, naming what uses it.
fn in_use_message(e: &ApiError, what: Deletable) -> Option<String> {
    if e.code != "in_use" {
        return None;
    }
    Some(match what {
        Deletable::Policy => {
            let names: Vec<String> = e
                .details
                .get("roles")?
                .as_array()?
                .iter()
                .filter_map(|r| r.get("name").and_then(|n| n.as_str()))
                .map(|n| format!("“{n}”"))
                .collect();
            format!(
                "This policy is used by the role(s) {}: take it out of them first.",
                names.join(", ")
            )
        }
        Deletable::Role => {
            let count = e.details.get("count").and_then(|c| c.as_u64()).unwrap_or(0);
            format!(
                "This role is held by {count} member(s): give them another role on the Members page first."
            )
        }
    })
}
