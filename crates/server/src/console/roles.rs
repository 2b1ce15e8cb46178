//! Roles & Permissions, in the organization and in each project: the default (predefined)
//! roles, the custom roles with New Role, edit and delete, the custom policies with New
//! Policy (a permission matrix of the catalogue's resources and actions), edit and delete.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use warden_model::{PolicyId, RoleId};
use warden_store::{Page, PolicyRecord, RoleRecord};

use super::here::{Here, Post};
use super::{
    error_page, is_form_refusal, quoted, refusal_status, render, see_other, show, url_component,
    Chrome, FormState, Head,
};
use crate::error::ApiError;
use crate::routes::policies::{PolicyCreate, PolicyUpdate};
use crate::routes::roles::{RoleCreate, RoleUpdate};
use crate::state::AppState;

/// Roles and policies a scope lists at most (the API's own bound on a role's policies).
const LIST: Page = Page {
    limit: 1000,
    after: None,
};

/// A role as the page lists it.
pub struct RoleRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub policies: String,
    pub permission_count: usize,
}

impl RoleRow {
    fn new(r: RoleRecord) -> Self {
        RoleRow {
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
        }
    }
}

/// A policy as the page lists it.
pub struct PolicyRow {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Permission keys.
    pub keys: Vec<String>,
    pub predefined: bool,
}

impl PolicyRow {
    fn new(p: PolicyRecord) -> Self {
        PolicyRow {
            id: p.id.to_string(),
            name: p.name,
            description: p.description,
            keys: p.permissions,
            predefined: p.predefined_key.is_some(),
        }
    }
}

/// The permission matrix of a scope: resources as rows, every action as a column, a box
/// only where the catalogue has that permission.
pub struct Matrix {
    pub actions: Vec<String>,
    pub rows: Vec<MatrixRow>,
}

/// One resource of the matrix: a cell per action, holding the permission key when the
/// resource has that action.
pub struct MatrixRow {
    pub resource: String,
    pub cells: Vec<Option<String>>,
}

fn matrix(state: &AppState, here: &Here) -> Matrix {
    let cat = state.catalogue().scope(here.scope.kind());
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
    Matrix { actions, rows }
}

#[derive(Template)]
#[template(path = "console/roles.html")]
struct RolesPage {
    chrome: Chrome,
    head: Head,
    default_roles: Vec<RoleRow>,
    custom_roles: Vec<RoleRow>,
    policies: Vec<PolicyRow>,
    can_create_role: bool,
    can_create_policy: bool,
    can_delete_role: bool,
    can_delete_policy: bool,
    matrix: Matrix,
    csrf: String,
    role_form: FormState,
    policy_form: FormState,
}

async fn roles_view(
    state: &AppState,
    here: &Here,
    role_form: FormState,
    policy_form: FormState,
) -> Result<RolesPage, ApiError> {
    here.s
        .caller
        .authorize_in(state, here.scope, "role:read")
        .await?;
    let store = state.store();
    let (mut default_roles, mut custom_roles) = (Vec::new(), Vec::new());
    for r in store.list_roles(here.scope, None, LIST).await?.items {
        if r.predefined_key.is_some() {
            default_roles.push(RoleRow::new(r));
        } else {
            custom_roles.push(RoleRow::new(r));
        }
    }
    let policies = if here.can(state, "policy:read") {
        store
            .list_policies(here.scope, None, LIST)
            .await?
            .items
            .into_iter()
            .map(PolicyRow::new)
            .collect()
    } else {
        Vec::new()
    };
    let title = "Roles & Permissions";
    Ok(RolesPage {
        chrome: here.chrome(),
        head: here.head(state, "roles", title),
        default_roles,
        custom_roles,
        policies,
        can_create_role: here.can(state, "role:create"),
        can_create_policy: here.can(state, "policy:create"),
        can_delete_role: here.can(state, "role:delete"),
        can_delete_policy: here.can(state, "policy:delete"),
        matrix: matrix(state, here),
        csrf: here.s.csrf.clone(),
        role_form,
        policy_form,
    })
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    role: Option<String>,
    policy: Option<String>,
    saved: Option<String>,
    deleted: Option<String>,
}

pub async fn roles_page(
    State(state): State<AppState>,
    here: Here,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let page = roles_view(&state, &here, FormState::default(), FormState::default()).await;
    match page {
        Ok(mut page) => {
            page.head.notice = match (q.role, q.policy, q.saved, q.deleted) {
                (Some(r), ..) => Some(format!("Role “{r}” created.")),
                (None, Some(p), ..) => Some(format!("Policy “{p}” created.")),
                (None, None, Some(s), _) => Some(format!("“{s}” saved.")),
                (None, None, None, Some(d)) => Some(format!("“{d}” deleted.")),
                (None, None, None, None) => None,
            };
            render(StatusCode::OK, &page)
        }
        Err(e) => error_page(e),
    }
}

/// The page again with a refused form, shown with the refusal's status.
async fn refused(
    state: &AppState,
    here: &Here,
    status: StatusCode,
    role_form: FormState,
    policy_form: FormState,
) -> Response {
    show(
        status,
        roles_view(state, here, role_form, policy_form).await,
    )
}

/// Where a refusal of a role's form is shown: beside the field the API names, beside the
/// policies for what they would grant (an escalation), at the top otherwise.
const ROLE_FIELDS: &[(&str, &str)] = &[
    ("name", "name"),
    ("description", "description"),
    ("policy_ids", "policy_ids"),
    ("permissions", "policy_ids"),
];

/// [`ROLE_FIELDS`] for a policy's form.
const POLICY_FIELDS: &[(&str, &str)] = &[
    ("name", "name"),
    ("description", "description"),
    ("permission_ids", "permission_ids"),
];

/// Where an error with no field of its own goes: what a role or policy would grant is in
/// its boxes; anything else belongs to the whole form.
fn fallback(e: &ApiError, boxes: &'static str) -> &'static str {
    if e.code == "escalation" || e.code == "empty_role" {
        boxes
    } else {
        ""
    }
}

/// The API names its fields; the form has boxes.
fn in_form_words(mut e: ApiError) -> ApiError {
    if e.code == "empty_role" {
        e.message = "Choose at least one policy for the role.".into();
    } else if e.code == "empty_list" {
        e.message = "Tick at least one permission for the policy.".into();
    }
    e
}

pub async fn create_role(State(state): State<AppState>, post: Post) -> Response {
    let Post { here, form } = post;
    let body = RoleCreate {
        name: form.value("name").to_owned(),
        description: Some(form.value("description").to_owned()),
        policy_ids: Some(form.values("policy_ids")),
        permissions: None,
    };
    match crate::routes::roles::create_role(&state, &here.s.caller, here.scope, &body).await {
        Ok(w) => see_other(&format!(
            "{}/roles?role={}#custom-roles",
            here.base(),
            url_component(&w.value.name)
        )),
        Err(e) if is_form_refusal(&e) => {
            let e = in_form_words(e);
            let (status, field) = (refusal_status(&e), fallback(&e, "policy_ids"));
            let form = form.refused(e, ROLE_FIELDS, field);
            refused(&state, &here, status, form, FormState::default()).await
        }
        Err(e) => error_page(e),
    }
}

pub async fn create_policy(State(state): State<AppState>, post: Post) -> Response {
    let Post { here, form } = post;
    let body = PolicyCreate {
        name: form.value("name").to_owned(),
        description: Some(form.value("description").to_owned()),
        permission_ids: form.values("permission_ids"),
    };
    match crate::routes::policies::create_policy(&state, &here.s.caller, here.scope, &body).await {
        Ok(w) => see_other(&format!(
            "{}/roles?policy={}#custom-policies",
            here.base(),
            url_component(&w.value.name)
        )),
        Err(e) if is_form_refusal(&e) => {
            let e = in_form_words(e);
            let (status, field) = (refusal_status(&e), fallback(&e, "permission_ids"));
            let form = form.refused(e, POLICY_FIELDS, field);
            refused(&state, &here, status, FormState::default(), form).await
        }
        Err(e) => error_page(e),
    }
}

/// The `{id}` of the path.
fn path_id<T>(
    params: &HashMap<String, String>,
    parse: fn(&str) -> Result<T, warden_model::IdError>,
) -> Result<T, ApiError> {
    crate::routes::policies::path_id(params, parse)
}

/// A version posted with an edit form: the object as it was when the page was opened.
pub(super) fn posted_version(form: &FormState) -> Result<Option<i64>, ApiError> {
    match form.value("version") {
        "" => Ok(None),
        v => v.parse::<i64>().map(Some).map_err(|_| {
            ApiError::bad_request(
                "invalid_form",
                "the form's version is not a number: reload the page and try again",
            )
        }),
    }
}

/// An edit refused: the form with the refusal in its words beside its field, and the
/// status to show it with.
fn refused_edit(
    e: ApiError,
    form: FormState,
    what: &str,
    fields: &[(&str, &str)],
    boxes: &'static str,
) -> (StatusCode, FormState) {
    let e = in_form_words(changed_meanwhile(e, what));
    let (status, field) = (refusal_status(&e), fallback(&e, boxes));
    (status, form.refused(e, fields, field))
}

/// The message for an edit refused because the object changed meanwhile.
fn changed_meanwhile(mut e: ApiError, what: &str) -> ApiError {
    if e.code == "version_mismatch" {
        e.message = format!(
            "Someone changed this {what} since you opened the page: reload it to see their changes, then save again."
        );
    }
    e
}

#[derive(Template)]
#[template(path = "console/role.html")]
struct RolePage {
    chrome: Chrome,
    head: Head,
    id: String,
    predefined: bool,
    description: String,
    /// The permissions the role grants, each with where it comes from.
    permissions: Vec<(String, String)>,
    /// Permissions given to the role directly (through the API), which the form keeps.
    inline: Vec<String>,
    policies: Vec<PolicyRow>,
    can_update: bool,
    csrf: String,
    version: i64,
    form: FormState,
}

/// `refused` is a refused form with the version it was opened on, which it keeps: saving
/// again must not overwrite a change its user has not seen.
async fn role_view(
    state: &AppState,
    here: &Here,
    id: RoleId,
    refused: Option<(FormState, Option<i64>)>,
) -> Result<RolePage, ApiError> {
    here.s
        .caller
        .authorize_in(state, here.scope, "role:read")
        .await?;
    let store = state.store();
    let role = store.get_role(here.scope, id).await?;
    let policies: Vec<PolicyRow> = if here.can(state, "policy:read") {
        store
            .list_policies(here.scope, None, LIST)
            .await?
            .items
            .into_iter()
            .map(PolicyRow::new)
            .collect()
    } else {
        Vec::new()
    };
    // Where each permission comes from: the catalogue (a predefined role), the role's
    // policies that hold it, or the role itself (permissions given through the API).
    let mut permissions = Vec::new();
    for key in &role.effective_permissions {
        let from: Vec<&str> = role
            .policies
            .iter()
            .filter(|p| {
                let id = p.id.to_string();
                policies
                    .iter()
                    .any(|row| row.id == id && row.keys.contains(key))
            })
            .map(|p| p.name.as_str())
            .collect();
        let source = if role.predefined_key.is_some() {
            "the catalogue".to_owned()
        } else if !from.is_empty() {
            format!("policy {}", quoted(from))
        } else if role.permissions.contains(key) {
            "given directly".to_owned()
        } else {
            "a policy".to_owned()
        };
        permissions.push((key.clone(), source));
    }
    let (form, version) = match refused {
        Some((form, version)) => (Some(form), version),
        None => (None, None),
    };
    let form = form.unwrap_or_else(|| {
        let mut values = vec![
            ("name".to_owned(), role.name.clone()),
            ("description".to_owned(), role.description.clone()),
        ];
        for p in &role.policies {
            values.push(("policy_ids".to_owned(), p.id.to_string()));
        }
        FormState::filled(values)
    });
    let predefined = role.predefined_key.is_some();
    Ok(RolePage {
        chrome: here.chrome(),
        head: here.head(state, "roles", format!("Role “{}”", role.name)),
        id: role.id.to_string(),
        predefined,
        description: role.description,
        permissions,
        inline: role.permissions,
        policies,
        can_update: !predefined && here.can(state, "role:update"),
        csrf: here.s.csrf.clone(),
        version: version.unwrap_or(role.version),
        form,
    })
}

pub async fn role_page(
    State(state): State<AppState>,
    here: Here,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    let id = match path_id(&params, RoleId::parse) {
        Ok(id) => id,
        Err(e) => return error_page(e),
    };
    show(StatusCode::OK, role_view(&state, &here, id, None).await)
}

pub async fn save_role(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    post: Post,
) -> Response {
    let Post { here, form } = post;
    let (id, version) = match (path_id(&params, RoleId::parse), posted_version(&form)) {
        (Ok(id), Ok(v)) => (id, v),
        (Err(e), _) | (_, Err(e)) => return error_page(e),
    };
    let body = RoleUpdate {
        name: Some(form.value("name").to_owned()),
        description: Some(form.value("description").to_owned()),
        policy_ids: Some(form.values("policy_ids")),
        permissions: None,
    };
    let done =
        crate::routes::roles::update_role(&state, &here.s.caller, here.scope, id, &body, version)
            .await;
    match done {
        Ok(w) => see_other(&format!(
            "{}/roles?saved={}#custom-roles",
            here.base(),
            url_component(&w.value.name)
        )),
        Err(e) if is_form_refusal(&e) => {
            let (status, form) = refused_edit(e, form, "role", ROLE_FIELDS, "policy_ids");
            show(
                status,
                role_view(&state, &here, id, Some((form, version))).await,
            )
        }
        Err(e) => error_page(e),
    }
}

#[derive(Template)]
#[template(path = "console/policy.html")]
struct PolicyPage {
    chrome: Chrome,
    head: Head,
    id: String,
    predefined: bool,
    description: String,
    permissions: Vec<String>,
    /// The roles that use the policy.
    used_by: Vec<String>,
    can_update: bool,
    matrix: Matrix,
    csrf: String,
    version: i64,
    form: FormState,
}

/// `refused` is a refused form with the version it was opened on, which it keeps: saving
/// again must not overwrite a change its user has not seen.
async fn policy_view(
    state: &AppState,
    here: &Here,
    id: PolicyId,
    refused: Option<(FormState, Option<i64>)>,
) -> Result<PolicyPage, ApiError> {
    here.s
        .caller
        .authorize_in(state, here.scope, "policy:read")
        .await?;
    let store = state.store();
    let policy = store.get_policy(here.scope, id).await?;
    let mut used_by = Vec::new();
    if here.can(state, "role:read") {
        for r in store.list_roles(here.scope, Some(false), LIST).await?.items {
            if r.policies.iter().any(|p| p.id == id) {
                used_by.push(r.name);
            }
        }
    }
    let (form, version) = match refused {
        Some((form, version)) => (Some(form), version),
        None => (None, None),
    };
    let form = form.unwrap_or_else(|| {
        let mut values = vec![
            ("name".to_owned(), policy.name.clone()),
            ("description".to_owned(), policy.description.clone()),
        ];
        for key in &policy.permissions {
            values.push(("permission_ids".to_owned(), key.clone()));
        }
        FormState::filled(values)
    });
    let predefined = policy.predefined_key.is_some();
    Ok(PolicyPage {
        chrome: here.chrome(),
        head: here.head(state, "roles", format!("Policy “{}”", policy.name)),
        id: policy.id.to_string(),
        predefined,
        description: policy.description,
        permissions: policy.permissions,
        used_by,
        can_update: !predefined && here.can(state, "policy:update"),
        matrix: matrix(state, here),
        csrf: here.s.csrf.clone(),
        version: version.unwrap_or(policy.version),
        form,
    })
}

pub async fn policy_page(
    State(state): State<AppState>,
    here: Here,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    let id = match path_id(&params, PolicyId::parse) {
        Ok(id) => id,
        Err(e) => return error_page(e),
    };
    show(StatusCode::OK, policy_view(&state, &here, id, None).await)
}

pub async fn save_policy(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    post: Post,
) -> Response {
    let Post { here, form } = post;
    let (id, version) = match (path_id(&params, PolicyId::parse), posted_version(&form)) {
        (Ok(id), Ok(v)) => (id, v),
        (Err(e), _) | (_, Err(e)) => return error_page(e),
    };
    let body = PolicyUpdate {
        name: Some(form.value("name").to_owned()),
        description: Some(form.value("description").to_owned()),
        permission_ids: Some(form.values("permission_ids")),
    };
    let done = crate::routes::policies::update_policy(
        &state,
        &here.s.caller,
        here.scope,
        id,
        &body,
        version,
    )
    .await;
    match done {
        Ok(w) => see_other(&format!(
            "{}/roles?saved={}#custom-policies",
            here.base(),
            url_component(&w.value.name)
        )),
        Err(e) if is_form_refusal(&e) => {
            let (status, form) = refused_edit(e, form, "policy", POLICY_FIELDS, "permission_ids");
            show(
                status,
                policy_view(&state, &here, id, Some((form, version))).await,
            )
        }
        Err(e) => error_page(e),
    }
}

pub async fn delete_role(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    post: Post,
) -> Response {
    let here = post.here;
    let deleted = async {
        let id = path_id(&params, RoleId::parse)?;
        let name = state.store().get_role(here.scope, id).await?.name;
        crate::routes::roles::delete_role(&state, &here.s.caller, here.scope, id, false).await?;
        Ok::<_, ApiError>(name)
    };
    deleted_or_refused(&state, &here, deleted.await, "role").await
}

pub async fn delete_policy(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    post: Post,
) -> Response {
    let here = post.here;
    let deleted = async {
        let id = path_id(&params, PolicyId::parse)?;
        let name = state.store().get_policy(here.scope, id).await?.name;
        crate::routes::policies::delete_policy(&state, &here.s.caller, here.scope, id, false)
            .await?;
        Ok::<_, ApiError>(name)
    };
    deleted_or_refused(&state, &here, deleted.await, "policy").await
}

/// After deleting a role or policy: back to the list, or the list with the refusal (one
/// still in use names what uses it).
async fn deleted_or_refused(
    state: &AppState,
    here: &Here,
    done: Result<String, ApiError>,
    what: &str,
) -> Response {
    match done {
        Ok(name) => see_other(&format!(
            "{}/roles?deleted={}",
            here.base(),
            url_component(&name)
        )),
        Err(e)
            if e.status == StatusCode::CONFLICT || e.status == StatusCode::UNPROCESSABLE_ENTITY =>
        {
            let status = e.status;
            let message = in_use_message(state, here, &e, what)
                .await
                .unwrap_or(e.message);
            show(
                status,
                roles_view(state, here, FormState::default(), FormState::default())
                    .await
                    .map(|mut page| {
                        page.head.alert = Some(message);
                        page
                    }),
            )
        }
        Err(e) => error_page(e),
    }
}

/// A refusal to delete something still in use, in the console's words, naming what uses it:
/// the roles that use a policy, the members that hold a role.
async fn in_use_message(state: &AppState, here: &Here, e: &ApiError, what: &str) -> Option<String> {
    if e.code != "in_use" {
        return None;
    }
    if what == "policy" {
        let names = e
            .details
            .get("roles")?
            .as_array()?
            .iter()
            .filter_map(|r| r.get("name").and_then(|n| n.as_str()));
        return Some(format!(
            "This policy is used by the role(s) {}: take it out of them first.",
            quoted(names)
        ));
    }
    let count = e.details.get("count").and_then(|c| c.as_u64()).unwrap_or(0);
    let mut names = Vec::new();
    for p in e.details.get("members")?.as_array()?.iter().take(20) {
        let Some(Ok(principal)) = p.as_str().map(str::parse::<warden_model::Principal>) else {
            continue;
        };
        let label = match state.store().get_member(here.scope, principal).await {
            Ok(m) => super::members::label(&m),
            Err(_) => principal.to_string(),
        };
        names.push(label);
    }
    let more = if count > names.len() as u64 {
        ", ..."
    } else {
        ""
    };
    Some(format!(
        "This role is held by {count} member(s): {}{more}. Give them another role on the Members page first.",
        quoted(names)
    ))
}
