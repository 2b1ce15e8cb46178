//! Project settings → Members (change a role, remove, add a user or team) and a member's
//! access page (effective permissions with where each comes from).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use warden_model::{Principal, Scope};
use warden_store::{MemberFilter, Page};

use super::project::{form_scope, project_head, project_scope};
use super::session::Session;
use super::{error_page, render, see_other, url_component, Chrome};
use crate::error::ApiError;
use crate::state::AppState;

/// A member as the page lists it.
pub struct MemberRow {
    pub principal: String,
    pub kind: &'static str,
    pub label: String,
    pub role_id: String,
    pub role_name: String,
}

#[derive(Template)]
#[template(path = "console/project_members.html")]
struct MembersPage {
    chrome: Chrome,
    org_name: String,
    project_id: String,
    project_name: String,
    notice: Option<String>,
    error: Option<String>,
    members: Vec<MemberRow>,
    /// `(id, name)` of the project's roles.
    roles: Vec<(String, String)>,
    /// The role the add form proposes: the least of the predefined ones (`member`).
    default_role: String,
    /// `(principal, label)` of the org's users and teams that hold no role here yet.
    candidates: Vec<(String, String)>,
    can_update: bool,
    can_remove: bool,
    can_explain: bool,
    csrf: String,
}

fn kind_of(p: &Principal) -> &'static str {
    match p {
        Principal::User(_) => "user",
        Principal::Team(_) => "team",
        Principal::ApiKey(_) => "API key",
    }
}

async fn members_view(
    state: &AppState,
    s: &Session,
    scope: Scope,
    notice: Option<String>,
    error: Option<String>,
) -> Result<MembersPage, ApiError> {
    s.caller
        .authorize_in(state, scope, "project_member:read")
        .await?;
    let store = state.store();
    let (org, project_id, project) = project_head(state, scope).await?;
    let members: Vec<MemberRow> = store
        .list_members(scope, &MemberFilter::default(), Page::default())
        .await?
        .items
        .into_iter()
        .map(|m| MemberRow {
            principal: m.principal.to_string(),
            kind: kind_of(&m.principal),
            label: match (&m.name, &m.email) {
                (Some(n), Some(e)) if !n.is_empty() => format!("{n} ({e})"),
                (_, Some(e)) => e.clone(),
                (Some(n), None) => n.clone(),
                (None, None) => m.principal.to_string(),
            },
            role_id: m.role_id.to_string(),
            role_name: m.role_name,
        })
        .collect();
    let all_roles = store.list_roles(scope, None, Page::default()).await?.items;
    let default_role = all_roles
        .iter()
        .find(|r| r.predefined_key.as_deref() == Some("member"))
        .map(|r| r.id.to_string())
        .unwrap_or_default();
    let roles = all_roles
        .into_iter()
        .map(|r| (r.id.to_string(), r.name))
        .collect();
    let org_scope = Scope::org(scope.org_id);
    let mut candidates = Vec::new();
    let users = MemberFilter {
        principal_type: Some("user".into()),
        ..MemberFilter::default()
    };
    // The org's people and teams are offered only to whom the API would list them.
    if s.caller.can(state, org_scope, "member:read") {
        let found = store
            .list_members(org_scope, &users, Page::default())
            .await?;
        for m in found.items {
            let principal = m.principal.to_string();
            if !members.iter().any(|x| x.principal == principal) {
                let label = m.email.unwrap_or_else(|| principal.clone());
                candidates.push((principal, label));
            }
        }
    }
    if s.caller.can(state, org_scope, "team:read") {
        for t in store.list_teams(scope.org_id, Page::default()).await?.items {
            let principal = Principal::Team(t.id).to_string();
            if !members.iter().any(|x| x.principal == principal) {
                candidates.push((principal, format!("Team {}", t.name)));
            }
        }
    }
    Ok(MembersPage {
        chrome: s.chrome(org.name.clone(), "project"),
        org_name: org.name,
        project_id: project_id.to_string(),
        project_name: project.name,
        notice,
        error,
        members,
        roles,
        default_role,
        candidates,
        can_update: s.caller.can(state, scope, "project_member:update"),
        can_remove: s.caller.can(state, scope, "project_member:delete"),
        can_explain: s.caller.can(state, org_scope, "access:check"),
        csrf: s.csrf.clone(),
    })
}

#[derive(Deserialize, Default)]
pub struct MembersQuery {
    changed: Option<String>,
    removed: Option<String>,
}

pub async fn members_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<MembersQuery>,
) -> Response {
    let (s, scope) = match project_scope(&state, &headers, &project).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let notice = match (q.changed, q.removed) {
        (Some(role), _) => Some(format!("Role set to {role}.")),
        (None, Some(_)) => Some("Member removed.".to_owned()),
        (None, None) => None,
    };
    match members_view(&state, &s, scope, notice, None).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    principal: String,
    #[serde(default)]
    role_id: String,
}

fn bad_principal(e: warden_model::PrincipalError) -> ApiError {
    ApiError::unprocessable("invalid_principal", e.to_string())
}

/// The page again with the refusal said at the top (its status kept).
async fn refused(state: &AppState, s: &Session, scope: Scope, e: ApiError) -> Response {
    let status = e.status;
    match members_view(state, s, scope, None, Some(e.message)).await {
        Ok(page) => render(status, &page),
        Err(e) => error_page(e),
    }
}

pub async fn set_member(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Form(form): Form<MemberForm>,
) -> Response {
    let (s, scope) = match form_scope(&state, &headers, &project, &form.csrf).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let principal: Principal = match form.principal.parse() {
        Ok(p) => p,
        Err(e) => return refused(&state, &s, scope, bad_principal(e)).await,
    };
    match crate::routes::members::set_member(&state, &s.caller, scope, principal, &form.role_id)
        .await
    {
        Ok(w) => see_other(&format!(
            "/console/projects/{}/members?changed={}",
            project_of(scope),
            url_component(&w.value.role_name)
        )),
        Err(e) if e.status.is_client_error() => refused(&state, &s, scope, e).await,
        Err(e) => error_page(e),
    }
}

pub async fn remove_member(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Form(form): Form<MemberForm>,
) -> Response {
    let (s, scope) = match form_scope(&state, &headers, &project, &form.csrf).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let principal: Principal = match form.principal.parse() {
        Ok(p) => p,
        Err(e) => return refused(&state, &s, scope, bad_principal(e)).await,
    };
    match crate::routes::members::remove_member(&state, &s.caller, scope, principal).await {
        Ok(_) => see_other(&format!(
            "/console/projects/{}/members?removed=1",
            project_of(scope)
        )),
        Err(e) if e.status.is_client_error() => refused(&state, &s, scope, e).await,
        Err(e) => error_page(e),
    }
}

/// The project id of a project scope, as paths write it.
pub(super) fn project_of(scope: Scope) -> String {
    scope.project_id.map(|p| p.to_string()).unwrap_or_default()
}

/// One permission of the access page.
pub struct AccessRow {
    pub permission: String,
    /// Each grant, in words: "role Annotator (project), policy Annotator", "through team …".
    pub grants: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/access.html")]
struct AccessPage {
    chrome: Chrome,
    org_name: String,
    project_id: String,
    project_name: String,
    who: String,
    revision: u64,
    rows: Vec<AccessRow>,
}

pub async fn access_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((project, principal)): Path<(String, String)>,
) -> Response {
    let (s, scope) = match project_scope(&state, &headers, &project).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    match access_view(&state, &s, scope, &principal).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => error_page(e),
    }
}

async fn access_view(
    state: &AppState,
    s: &Session,
    scope: Scope,
    principal: &str,
) -> Result<AccessPage, ApiError> {
    // As the API's effective permissions and explain: `access:check` in the org.
    s.caller
        .authorize_in(state, Scope::org(scope.org_id), "access:check")
        .await?;
    let principal: Principal = principal
        .parse()
        .map_err(|e| ApiError::bad_request("invalid_principal", format!("{e}")))?;
    let store = state.store();
    let (org, project_id, project) = project_head(state, scope).await?;
    let who = match store.get_member(scope, principal).await {
        Ok(m) => m.email.or(m.name).unwrap_or_else(|| principal.to_string()),
        Err(_) => principal.to_string(),
    };
    let snapshot = state.engine();
    let mut names: HashMap<uuid::Uuid, String> = HashMap::new();
    let mut rows = Vec::new();
    for permission in snapshot.effective(principal, scope) {
        let explanation = snapshot.explain(principal, permission, scope);
        let mut grants = Vec::new();
        for g in explanation.grants {
            let role = match names.get(&g.role_id.0) {
                Some(n) => n.clone(),
                None => {
                    let n = store
                        .get_role(g.scope, g.role_id)
                        .await
                        .map(|r| r.name)
                        .unwrap_or_else(|_| g.role_id.to_string());
                    names.insert(g.role_id.0, n.clone());
                    n
                }
            };
            let place = if g.scope.project_id.is_some() {
                "project"
            } else {
                "organization"
            };
            let mut words = format!("role {role} ({place})");
            if let Some(pid) = g.policy_id {
                let policy = match names.get(&pid.0) {
                    Some(n) => n.clone(),
                    None => {
                        let n = store
                            .get_policy(g.scope, pid)
                            .await
                            .map(|p| p.name)
                            .unwrap_or_else(|_| pid.to_string());
                        names.insert(pid.0, n.clone());
                        n
                    }
                };
                words.push_str(&format!(", policy {policy}"));
            }
            if let Some(team) = g.via_team {
                let name = store
                    .get_team(scope.org_id, &team.to_string())
                    .await
                    .map(|t| t.name)
                    .unwrap_or_else(|_| team.to_string());
                words.push_str(&format!(", through team {name}"));
            }
            grants.push(words);
        }
        rows.push(AccessRow {
            permission: permission.to_owned(),
            grants,
        });
    }
    Ok(AccessPage {
        chrome: s.chrome(org.name.clone(), "project"),
        org_name: org.name,
        project_id: project_id.to_string(),
        project_name: project.name,
        who,
        revision: snapshot.revision(),
        rows,
    })
}

/// One change of the audit page.
pub struct AuditRow {
    pub revision: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
}

#[derive(Template)]
#[template(path = "console/project_audit.html")]
struct AuditPage {
    chrome: Chrome,
    org_name: String,
    project_id: String,
    project_name: String,
    events: Vec<AuditRow>,
    /// The revision to read older changes before, when there are more.
    older: Option<u64>,
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    before: Option<u64>,
}

/// Changes shown per page.
const AUDIT_PAGE: u32 = 50;

pub async fn audit_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<AuditQuery>,
) -> Response {
    let (s, scope) = match project_scope(&state, &headers, &project).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    match audit_view(&state, &s, scope, q.before).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => error_page(e),
    }
}

async fn audit_view(
    state: &AppState,
    s: &Session,
    scope: Scope,
    before: Option<u64>,
) -> Result<AuditPage, ApiError> {
    s.caller
        .authorize_in(state, scope, "audit_log:read")
        .await?;
    let store = state.store();
    let (org, project_id, project) = project_head(state, scope).await?;
    let mut events = store
        .list_audit(
            scope.org_id,
            Some(project_id),
            &warden_store::AuditFilter::default(),
            before,
            AUDIT_PAGE + 1,
        )
        .await?;
    let older = if events.len() > AUDIT_PAGE as usize {
        events.truncate(AUDIT_PAGE as usize);
        events.last().map(|e| e.revision)
    } else {
        None
    };
    // Actors are principals; show people by their email where the org knows them.
    let mut people: HashMap<String, String> = HashMap::new();
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        let actor = match people.get(&e.actor) {
            Some(a) => a.clone(),
            None => {
                let shown = match e.actor.parse::<Principal>() {
                    Ok(Principal::User(u)) => store
                        .get_org_user(scope.org_id, u)
                        .await
                        .map(|u| u.email)
                        .unwrap_or_else(|_| e.actor.clone()),
                    _ => e.actor.clone(),
                };
                people.insert(e.actor.clone(), shown.clone());
                shown
            }
        };
        // The target by its name where the entry's document has one (`role “Annotator”`).
        let name = e
            .after
            .as_ref()
            .or(e.before.as_ref())
            .and_then(|d| d.get("name"))
            .and_then(|v| v.as_str());
        let target = match (name, e.target.split_once(':')) {
            (Some(n), Some((kind, _))) => format!("{} “{n}”", kind.replace('_', " ")),
            _ => e.target.clone(),
        };
        rows.push(AuditRow {
            revision: e.revision,
            at: e.at.get(..19).unwrap_or(&e.at).replace('T', " "),
            actor,
            action: e.action,
            target,
        });
    }
    Ok(AuditPage {
        chrome: s.chrome(org.name.clone(), "project"),
        org_name: org.name,
        project_id: project_id.to_string(),
        project_name: project.name,
        events: rows,
        older,
    })
}
