//! Members, in the organization and in each project: who holds which role (change it,
//! remove the member, see its access), adding a team (or, in a project, an org user),
//! inviting people by email (the link shown once), the pending invitations (resend,
//! revoke), and the transfer of ownership.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use warden_model::{InvitationId, Principal, Scope, UserId};
use warden_store::{MemberFilter, MemberRecord, Page};

use super::here::{Here, Post};
use super::{
    error_page, is_form_refusal, refusal_status, render, see_other, show, url_component, Chrome,
    FormState, Head,
};
use crate::error::ApiError;
use crate::routes::invitations::InvitationCreate;
use crate::state::AppState;

/// Members listed per page, and the most users and teams offered to add.
const MEMBERS_PAGE: u32 = 200;

/// How a member is shown: `Name (email)`, the email, the name, or the principal.
pub(super) fn label(m: &MemberRecord) -> String {
    match (&m.name, &m.email) {
        (Some(n), Some(e)) if !n.is_empty() => format!("{n} ({e})"),
        (_, Some(e)) => e.clone(),
        (Some(n), None) => n.clone(),
        (None, None) => m.principal.to_string(),
    }
}

fn kind_of(p: &Principal) -> &'static str {
    match p {
        Principal::User(_) => "user",
        Principal::Team(_) => "team",
        Principal::ApiKey(_) => "API key",
    }
}

/// A member as the page lists it.
pub struct MemberRow {
    pub principal: String,
    pub kind: &'static str,
    pub label: String,
    pub role_name: String,
    /// The role its select shows: its own, or the one just refused.
    pub chosen_role: String,
    /// A refusal of a change to this member.
    pub error: Option<String>,
}

/// A pending invitation.
pub struct InvitationRow {
    pub id: String,
    pub email: String,
    pub role_name: String,
    pub expires_at: String,
}

/// An invitation just issued: the address and the link that accepts it (shown only now).
pub struct Issued {
    pub email: String,
    pub link: String,
}

#[derive(Template)]
#[template(path = "console/members.html")]
struct MembersPage {
    chrome: Chrome,
    head: Head,
    is_project: bool,
    members: Vec<MemberRow>,
    /// Where the next page of members starts, when there are more.
    more: Option<String>,
    /// `(id, name)` of the scope's roles.
    roles: Vec<(String, String)>,
    /// `(id, name)` of the roles an invitation may give (not Owner).
    invite_roles: Vec<(String, String)>,
    /// The role the add and invite forms propose: the least of the predefined ones.
    default_role: String,
    /// `(principal, label)` of the users and teams that hold no role here yet.
    candidates: Vec<(String, String)>,
    invitations: Vec<InvitationRow>,
    issued: Vec<Issued>,
    skipped: Vec<(String, String)>,
    /// `(user id, label)` of the users ownership may be transferred to.
    heirs: Vec<(String, String)>,
    can_update: bool,
    can_remove: bool,
    can_invite: bool,
    can_read_invitations: bool,
    can_explain: bool,
    csrf: String,
    add_form: FormState,
    invite_form: FormState,
    transfer_form: FormState,
}

/// What a refused or answered form adds to the page.
#[derive(Default)]
struct Outcome {
    /// A refused change of one member: its principal, the role tried, the message.
    row: Option<(String, String, String)>,
    add_form: FormState,
    invite_form: FormState,
    transfer_form: FormState,
    issued: Vec<Issued>,
    skipped: Vec<(String, String)>,
}

async fn members_view(
    state: &AppState,
    here: &Here,
    after: Option<uuid::Uuid>,
    outcome: Outcome,
) -> Result<MembersPage, ApiError> {
    let caller = &here.s.caller;
    caller
        .authorize_in(state, here.scope, here.member_permission("read"))
        .await?;
    let store = state.store();
    let page = Page {
        limit: MEMBERS_PAGE,
        after,
    };
    let found = store
        .list_members(here.scope, &MemberFilter::default(), page)
        .await?;
    let more = found.next_after.map(|a| a.to_string());
    let members: Vec<MemberRow> = found
        .items
        .into_iter()
        .map(|m| {
            let principal = m.principal.to_string();
            let (chosen_role, error) = match &outcome.row {
                Some((p, role, message)) if *p == principal => {
                    // A refused removal tried no role: the row keeps its own.
                    let role = if role.is_empty() {
                        m.role_id.to_string()
                    } else {
                        role.clone()
                    };
                    (role, Some(message.clone()))
                }
                _ => (m.role_id.to_string(), None),
            };
            MemberRow {
                kind: kind_of(&m.principal),
                label: label(&m),
                role_name: m.role_name.clone(),
                principal,
                chosen_role,
                error,
            }
        })
        .collect();
    let all_roles = store
        .list_roles(
            here.scope,
            None,
            Page {
                limit: 1000,
                after: None,
            },
        )
        .await?
        .items;
    let default_role = all_roles
        .iter()
        .find(|r| r.predefined_key.as_deref() == Some("member"))
        .map(|r| r.id.to_string())
        .unwrap_or_default();
    let invite_roles = all_roles
        .iter()
        .filter(|r| !store.is_owner_role(r))
        .map(|r| (r.id.to_string(), r.name.clone()))
        .collect();
    let roles = all_roles
        .into_iter()
        .map(|r| (r.id.to_string(), r.name))
        .collect();
    let candidates = candidates(state, here, &members).await?;
    let can_read_invitations = here.can(state, here.member_permission("read"));
    let invitations = if can_read_invitations {
        store
            .list_invitations(
                here.scope,
                Some("pending"),
                Page {
                    limit: MEMBERS_PAGE,
                    after: None,
                },
            )
            .await?
            .items
            .into_iter()
            .map(|i| InvitationRow {
                id: i.id.to_string(),
                email: i.email,
                role_name: i.role_name,
                expires_at: i
                    .expires_at
                    .get(..16)
                    .unwrap_or(&i.expires_at)
                    .replace('T', " "),
            })
            .collect()
    } else {
        Vec::new()
    };
    // Ownership goes to another user who is a member here; only an Owner may give it.
    let heirs = if caller.is_owner(state, here.scope) {
        let me = caller.principal().to_string();
        members
            .iter()
            .filter(|m| m.kind == "user" && m.principal != me)
            .filter_map(|m| {
                let id = m.principal.strip_prefix("user:")?;
                Some((id.to_owned(), m.label.clone()))
            })
            .collect()
    } else {
        Vec::new()
    };
    let org_scope = Scope::org(here.scope.org_id);
    Ok(MembersPage {
        chrome: here.chrome(),
        head: here.head(state, "members", "Members"),
        is_project: here.project.is_some(),
        members,
        more,
        roles,
        invite_roles,
        default_role,
        candidates,
        invitations,
        issued: outcome.issued,
        skipped: outcome.skipped,
        heirs,
        can_update: here.can(state, here.member_permission("update")),
        can_remove: here.can(state, here.member_permission("delete")),
        can_invite: here.can(state, here.member_permission("create")),
        can_read_invitations,
        can_explain: caller.can(state, org_scope, "access:check"),
        csrf: here.s.csrf.clone(),
        add_form: outcome.add_form,
        invite_form: outcome.invite_form,
        transfer_form: outcome.transfer_form,
    })
}

/// The org's users (in a project) and teams that hold no role here yet, offered only to
/// whom the API would list them.
async fn candidates(
    state: &AppState,
    here: &Here,
    members: &[MemberRow],
) -> Result<Vec<(String, String)>, ApiError> {
    let store = state.store();
    let org_scope = Scope::org(here.scope.org_id);
    let caller = &here.s.caller;
    let page = Page {
        limit: MEMBERS_PAGE,
        after: None,
    };
    let mut out = Vec::new();
    let taken = |p: &str| members.iter().any(|m| m.principal == p);
    if here.project.is_some() && caller.can(state, org_scope, "member:read") {
        let users = MemberFilter {
            principal_type: Some("user".into()),
            ..MemberFilter::default()
        };
        for m in store.list_members(org_scope, &users, page).await?.items {
            let principal = m.principal.to_string();
            if !taken(&principal) {
                out.push((principal, label(&m)));
            }
        }
    }
    if caller.can(state, org_scope, "team:read") {
        for t in store.list_teams(here.scope.org_id, page).await?.items {
            let principal = Principal::Team(t.id).to_string();
            if !taken(&principal) {
                out.push((principal, format!("Team {}", t.name)));
            }
        }
    }
    Ok(out)
}

#[derive(Deserialize, Default)]
pub struct MembersQuery {
    changed: Option<String>,
    removed: Option<String>,
    revoked: Option<String>,
    transferred: Option<String>,
    after: Option<uuid::Uuid>,
}

pub async fn members_page(
    State(state): State<AppState>,
    here: Here,
    Query(q): Query<MembersQuery>,
) -> Response {
    match members_view(&state, &here, q.after, Outcome::default()).await {
        Ok(mut page) => {
            page.head.notice = if let Some(role) = q.changed {
                Some(format!("Role set to {role}."))
            } else if q.removed.is_some() {
                Some("Member removed.".to_owned())
            } else if let Some(email) = q.revoked {
                Some(format!("The invitation of {email} was revoked."))
            } else {
                q.transferred
                    .map(|who| format!("Ownership transferred to {who}."))
            };
            render(StatusCode::OK, &page)
        }
        Err(e) => error_page(e),
    }
}

/// The page again after a form, with what it refused or issued, and `status`.
async fn answer(state: &AppState, here: &Here, status: StatusCode, outcome: Outcome) -> Response {
    show(status, members_view(state, here, None, outcome).await)
}

fn bad_principal(e: warden_model::PrincipalError) -> ApiError {
    ApiError::unprocessable("invalid_principal", e.to_string())
}

/// Sets a member's role: a row's Change role, or the Add member form (`add=1`).
pub async fn set_member(State(state): State<AppState>, post: Post) -> Response {
    let Post { here, form } = post;
    let adding = form.value("add") == "1";
    let done = async {
        let principal: Principal = form.value("principal").parse().map_err(bad_principal)?;
        crate::routes::members::set_member(
            &state,
            &here.s.caller,
            here.scope,
            principal,
            form.value("role_id"),
        )
        .await
    };
    match done.await {
        Ok(w) => see_other(&format!(
            "{}/members?changed={}",
            here.base(),
            url_component(&w.value.role_name)
        )),
        Err(e) if is_form_refusal(&e) => {
            let status = refusal_status(&e);
            let outcome = if adding {
                let fields = [("role_id", "role_id"), ("principal", "principal")];
                Outcome {
                    add_form: form.refused(e, &fields, "role_id"),
                    ..Outcome::default()
                }
            } else {
                let row = (
                    form.value("principal").to_owned(),
                    form.value("role_id").to_owned(),
                    e.message,
                );
                Outcome {
                    row: Some(row),
                    ..Outcome::default()
                }
            };
            answer(&state, &here, status, outcome).await
        }
        Err(e) => error_page(e),
    }
}

pub async fn remove_member(State(state): State<AppState>, post: Post) -> Response {
    let Post { here, form } = post;
    let done = async {
        let principal: Principal = form.value("principal").parse().map_err(bad_principal)?;
        crate::routes::members::remove_member(&state, &here.s.caller, here.scope, principal).await
    };
    match done.await {
        Ok(_) => see_other(&format!("{}/members?removed=1", here.base())),
        Err(e) if is_form_refusal(&e) => {
            let status = refusal_status(&e);
            let row = (form.value("principal").to_owned(), String::new(), e.message);
            let outcome = Outcome {
                row: Some(row),
                ..Outcome::default()
            };
            answer(&state, &here, status, outcome).await
        }
        Err(e) => error_page(e),
    }
}

/// The address the request reached the server at, for links to send to people.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// The link that accepts an invitation.
fn accept_link(headers: &HeaderMap, token: &str) -> String {
    format!(
        "{}/console/invitations/accept?token={}",
        origin(headers),
        url_component(token)
    )
}

/// Invites the addresses typed (one per line, or separated by commas or spaces).
pub async fn invite(State(state): State<AppState>, headers: HeaderMap, post: Post) -> Response {
    let Post { here, form } = post;
    let emails: Vec<String> = form
        .value("emails")
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    let body = InvitationCreate {
        emails,
        role_id: form.value("role_id").to_owned(),
    };
    match crate::routes::invitations::create_invitations(&state, &here.s.caller, here.scope, &body)
        .await
    {
        Ok(w) => {
            let outcome = Outcome {
                issued: w
                    .value
                    .created
                    .iter()
                    .map(|i| Issued {
                        email: i.invitation.email.clone(),
                        link: accept_link(&headers, i.token.expose()),
                    })
                    .collect(),
                skipped: w
                    .value
                    .skipped
                    .into_iter()
                    .map(|s| (s.email, s.reason))
                    .collect(),
                ..Outcome::default()
            };
            answer(&state, &here, StatusCode::CREATED, outcome).await
        }
        Err(e) if is_form_refusal(&e) => {
            let status = refusal_status(&e);
            let fields = [("emails", "emails"), ("role_id", "role_id")];
            let fallback = if e.code == "escalation" || e.code == "owner_by_invitation" {
                "role_id"
            } else {
                ""
            };
            let outcome = Outcome {
                invite_form: form.refused(e, &fields, fallback),
                ..Outcome::default()
            };
            answer(&state, &here, status, outcome).await
        }
        Err(e) => error_page(e),
    }
}

fn invitation_id(params: &HashMap<String, String>) -> Result<InvitationId, ApiError> {
    crate::routes::policies::path_id(params, InvitationId::parse)
}

/// Issues a new link for a pending invitation (the old one stops working).
pub async fn resend(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(params): Path<HashMap<String, String>>,
    post: Post,
) -> Response {
    let here = post.here;
    let done = async {
        let id = invitation_id(&params)?;
        crate::routes::invitations::resend_invitation(&state, &here.s.caller, here.scope, id).await
    };
    match done.await {
        Ok(w) => {
            let outcome = Outcome {
                issued: vec![Issued {
                    email: w.value.invitation.email.clone(),
                    link: accept_link(&headers, w.value.token.expose()),
                }],
                ..Outcome::default()
            };
            answer(&state, &here, StatusCode::OK, outcome).await
        }
        Err(e) => refused_at_top(&state, &here, e).await,
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    post: Post,
) -> Response {
    let here = post.here;
    let done = async {
        let id = invitation_id(&params)?;
        crate::routes::invitations::revoke_invitation(&state, &here.s.caller, here.scope, id).await
    };
    match done.await {
        Ok(w) => see_other(&format!(
            "{}/members?revoked={}",
            here.base(),
            url_component(&w.value.email)
        )),
        Err(e) => refused_at_top(&state, &here, e).await,
    }
}

/// The page with a refusal that belongs to no field, or the refusal's own page.
async fn refused_at_top(state: &AppState, here: &Here, e: ApiError) -> Response {
    if !is_form_refusal(&e) {
        return error_page(e);
    }
    let status = refusal_status(&e);
    show(
        status,
        members_view(state, here, None, Outcome::default())
            .await
            .map(|mut page| {
                page.head.alert = Some(e.message);
                page
            }),
    )
}

/// Makes another member Owner; the signed-in Owner is demoted (Admin in the org, Manager in
/// a project).
pub async fn transfer(State(state): State<AppState>, post: Post) -> Response {
    let Post { here, form } = post;
    let done = async {
        let user = UserId::parse(form.value("user_id"))
            .map_err(|e| ApiError::unprocessable("invalid_id", e.to_string()))?;
        crate::routes::members::transfer(&state, &here.s.caller, here.scope, user).await
    };
    match done.await {
        Ok(w) => see_other(&format!(
            "{}/members?transferred={}",
            here.base(),
            url_component(&label(&w.value))
        )),
        Err(e) if is_form_refusal(&e) => {
            let status = refusal_status(&e);
            let outcome = Outcome {
                transfer_form: form.refused(e, &[("user_id", "user_id")], "user_id"),
                ..Outcome::default()
            };
            answer(&state, &here, status, outcome).await
        }
        Err(e) => error_page(e),
    }
}
