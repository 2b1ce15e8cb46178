//! Invitations at org and project scope (list, get, create, resend, revoke), and the public
//! route that accepts one with its token.
//!
//! Tokens are shown only in the answers of create and resend; the store keeps their hash.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use warden_model::{InvitationId, Name, OrgId, ProjectId, RoleId, Scope, ScopeKind, UserId};
use warden_store::{AcceptedInvitation, InvitationRecord, IssuedInvitation, StoreError};

use super::policies::path_id;
use super::views::List;
use super::{op, Route};
use crate::auth::{Caller, ScopeParam};
use crate::error::ApiError;
use crate::extract::{Json, PageQuery, Query};
use crate::respond;
use crate::state::AppState;

/// The most emails one request may invite.
pub const MAX_EMAILS: usize = 100;
/// The shortest password accepted, in characters.
pub const PASSWORD_MIN: usize = 8;
/// The longest password accepted, in characters.
pub const PASSWORD_MAX: usize = 1024;

pub fn routes() -> Vec<Route> {
    let mut out = Vec::new();
    for (base, item, resend_path, revoke_path, scope, read, write) in [
        (
            "/v1/orgs/{org}/invitations",
            "/v1/orgs/{org}/invitations/{id}",
            "/v1/orgs/{org}/invitations/{id}/resend",
            "/v1/orgs/{org}/invitations/{id}/revoke",
            "organization",
            "member:read",
            "member:create",
        ),
        (
            "/v1/projects/{project}/invitations",
            "/v1/projects/{project}/invitations/{id}",
            "/v1/projects/{project}/invitations/{id}/resend",
            "/v1/projects/{project}/invitations/{id}/revoke",
            "project",
            "project_member:read",
            "project_member:create",
        ),
    ] {
        // The table is built once per process; leaking these few strings keeps RouteSpec 'static.
        let s = |t: &str| -> &'static str { Box::leak(format!("{t} {scope}").into_boxed_str()) };
        out.push(
            op(
                Method::GET,
                base,
                "invitations",
                s("List the invitations of the"),
                list,
            )
            .perm(read)
            .query::<InvitationListQuery>()
            .reply::<List<InvitationView>>(200),
        );
        out.push(
            op(
                Method::POST,
                base,
                "invitations",
                s("Invite emails, with a role, to the"),
                create,
            )
            .perm(write)
            .body::<InvitationCreate>()
            .reply::<InvitationsCreated>(201),
        );
        out.push(
            op(
                Method::GET,
                item,
                "invitations",
                s("Get an invitation of the"),
                get,
            )
            .perm(read)
            .reply::<InvitationView>(200),
        );
        out.push(
            op(
                Method::POST,
                resend_path,
                "invitations",
                s("Resend a pending or expired invitation (new token, new expiry) of the"),
                resend,
            )
            .perm(write)
            .reply::<IssuedInvitationView>(200),
        );
        out.push(
            op(
                Method::POST,
                revoke_path,
                "invitations",
                s("Revoke a pending invitation of the"),
                revoke,
            )
            .perm(write)
            .reply::<InvitationView>(200),
        );
    }
    out.push(
        op(
            Method::POST,
            "/v1/invitations/accept",
            "invitations",
            "Accept an invitation with its token: creates the user if new and gives it the invited role",
            accept,
        )
        .public()
        .body::<InvitationAccept>()
        .reply::<AcceptedView>(201),
    );
    out
}

/// A status an invitation is reported with.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InvitationStatus {
    fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Revoked => "revoked",
            InvitationStatus::Expired => "expired",
        }
    }
}

/// `?limit=&cursor=&status=` of an invitation list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationListQuery {
    /// How many items to return: 1 to 100, default 50.
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only invitations with this status: `pending`, `accepted`, `revoked` or `expired`.
    pub status: Option<InvitationStatus>,
}

/// New invitations: each email is invited with the same role.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationCreate {
    /// 1 to 100 email addresses. Duplicates (regardless of case) count once; emails of
    /// members of the scope, or with a pending invitation there, are skipped and reported.
    pub emails: Vec<String>,
    /// The role to give, by id or by name: a role of the same scope, not Owner (ownership is
    /// transferred, never given by an invitation).
    pub role_id: String,
}

/// Accepting an invitation.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationAccept {
    /// The token of the invitation, as created or last resent.
    pub token: String,
    /// The user's name: 1 to 255 characters. Kept as it is when the email already has an
    /// account with a password.
    pub name: String,
    /// 8 to 1024 characters; stored only as an argon2id hash. When the email already has an
    /// account with a password, that password.
    pub password: String,
}

/// An invitation. Its token is never shown here.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InvitationView {
    pub id: InvitationId,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub scope: ScopeKind,
    pub email: String,
    pub role_id: RoleId,
    pub role_name: String,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: String,
    /// Who sent it (`api_key:<id>`).
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    /// After this time the invitation can no longer be accepted (but can be resent).
    pub expires_at: String,
    pub accepted_at: Option<String>,
    pub version: i64,
}

impl From<InvitationRecord> for InvitationView {
    fn from(i: InvitationRecord) -> Self {
        InvitationView {
            scope: i.scope().kind(),
            id: i.id,
            org_id: i.org_id,
            project_id: i.project_id,
            email: i.email,
            role_id: i.role_id,
            role_name: i.role_name,
            status: i.status,
            created_by: i.created_by,
            created_at: i.created_at,
            updated_at: i.updated_at,
            expires_at: i.expires_at,
            accepted_at: i.accepted_at,
            version: i.version,
        }
    }
}

/// An invitation with its token.
#[derive(Debug, Serialize, JsonSchema)]
pub struct IssuedInvitationView {
    #[serde(flatten)]
    pub invitation: InvitationView,
    /// The secret that accepts the invitation (`POST /v1/invitations/accept`). Shown only in
    /// the answers of create and resend, never again: Warden stores only its hash. Send it
    /// to the invited person.
    pub token: String,
}

impl From<IssuedInvitation> for IssuedInvitationView {
    fn from(i: IssuedInvitation) -> Self {
        IssuedInvitationView {
            token: i.token.expose().to_owned(),
            invitation: i.invitation.into(),
        }
    }
}

/// An email that was not invited.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SkippedView {
    pub email: String,
    /// `already a member` or `already invited`.
    pub reason: String,
}

/// What a create made.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InvitationsCreated {
    /// The new invitations, each with its token (shown only here and on resend).
    pub invitations: Vec<IssuedInvitationView>,
    /// Emails not invited, and why.
    pub skipped: Vec<SkippedView>,
}

/// The user an accepted invitation made or joined.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AcceptedUser {
    pub id: UserId,
    pub email: String,
    pub name: String,
}

/// A role, by id and name.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RoleRef {
    pub id: RoleId,
    pub name: String,
}

/// What accepting made: the user is a member of the scope with the role.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AcceptedView {
    pub user: AcceptedUser,
    /// `org` or `project`.
    pub scope: ScopeKind,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub role: RoleRef,
}

fn parse_emails(given: &[String]) -> Result<Vec<String>, ApiError> {
    if given.is_empty() {
        return Err(ApiError::bad_request(
            "empty_list",
            "`emails` must list at least one email address",
        )
        .with_details(json!({"field": "emails"})));
    }
    if given.len() > MAX_EMAILS {
        return Err(ApiError::bad_request(
            "too_many",
            format!(
                "`emails` has {} entries; at most {MAX_EMAILS} are accepted, send the rest in another request",
                given.len()
            ),
        )
        .with_details(json!({"field": "emails"})));
    }
    let mut out = Vec::with_capacity(given.len());
    let mut bad = Vec::new();
    for g in given {
        match warden_store::parse_email(g) {
            Ok(e) => out.push(e),
            Err(_) => bad.push(g.chars().take(80).collect::<String>()),
        }
    }
    if !bad.is_empty() {
        let shown: Vec<String> = bad.iter().take(20).map(|b| format!("`{b}`")).collect();
        return Err(ApiError::bad_request(
            "invalid_email",
            format!(
                "{} entr{} of `emails` {} not an email address: {}{}; give addresses such as `ada@example.com`",
                bad.len(),
                if bad.len() == 1 { "y" } else { "ies" },
                if bad.len() == 1 { "is" } else { "are" },
                shown.join(", "),
                if bad.len() > 20 { ", ..." } else { "" },
            ),
        )
        .with_details(json!({"field": "emails", "invalid": bad})));
    }
    Ok(out)
}

fn check_password(password: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!(
                "`password` must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long; it is {len}"
            ),
        )
        .with_details(json!({"field": "password"})));
    }
    Ok(())
}

/// The permission an operation needs in the scope the path names.
fn permission(scope: Scope, write: bool) -> &'static str {
    match (scope.project_id.is_some(), write) {
        (false, false) => "member:read",
        (false, true) => "member:create",
        (true, false) => "project_member:read",
        (true, true) => "project_member:create",
    }
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Query(q): Query<InvitationListQuery>,
) -> Result<Response, ApiError> {
    let auth = caller
        .authorize(&state, param, permission(param.scope(), false))
        .await?;
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    }
    .page()?;
    let paged = state
        .store()
        .list_invitations(auth.scope(), q.status.map(InvitationStatus::as_str), page)
        .await?;
    Ok(respond::json(
        StatusCode::OK,
        &List::from_paged(paged, InvitationView::from),
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
    let id = path_id(&params, InvitationId::parse)?;
    let auth = caller
        .authorize(&state, param, permission(param.scope(), false))
        .await?;
    let inv = state.store().get_invitation(auth.scope(), id).await?;
    let version = inv.version;
    Ok(respond::json(
        StatusCode::OK,
        &InvitationView::from(inv),
        None,
        Some(version),
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Json(body): Json<InvitationCreate>,
) -> Result<Response, ApiError> {
    let scope = caller.resolve(&state, param)?;
    let w = create_invitations(&state, &caller, scope, &body).await?;
    let body = InvitationsCreated {
        invitations: w.value.created.into_iter().map(Into::into).collect(),
        skipped: w
            .value
            .skipped
            .into_iter()
            .map(|s| SkippedView {
                email: s.email,
                reason: s.reason,
            })
            .collect(),
    };
    Ok(respond::json(
        StatusCode::CREATED,
        &body,
        Some(w.revision),
        None,
    ))
}

/// Invites `body.emails` to `scope` with a role as `caller` (the API and the console):
/// never the Owner role, never more than the caller holds. Emails already members or
/// already invited are reported as skipped.
pub async fn create_invitations(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    body: &InvitationCreate,
) -> Result<warden_store::Written<warden_store::CreatedInvitations>, ApiError> {
    let auth = caller
        .authorize_in(state, scope, permission(scope, true))
        .await?;
    let scope = auth.scope();
    let emails = parse_emails(&body.emails)?;
    let role = state.store().resolve_role(scope, &body.role_id).await?;
    state.store().refuse_owner_invitation(&role)?;
    // No escalation: an invitation may only give what the caller holds itself.
    caller.require_all(
        state,
        scope,
        &role.effective_permissions,
        &format!("inviting with role `{}`", role.name),
    )?;
    let w = state
        .store()
        .create_invitations(
            &caller.actor(),
            scope,
            emails,
            &role,
            state.invitations().lifetime,
        )
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}

async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id = path_id(&params, InvitationId::parse)?;
    let scope = caller.resolve(&state, param)?;
    let w = resend_invitation(&state, &caller, scope, id).await?;
    let version = w.value.invitation.version;
    Ok(respond::json(
        StatusCode::OK,
        &IssuedInvitationView::from(w.value),
        Some(w.revision),
        Some(version),
    ))
}

/// Issues a new token for invitation `id` of `scope` (the old one stops working) and
/// extends its life, as `caller`, who must hold what its role grants.
pub async fn resend_invitation(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    id: InvitationId,
) -> Result<warden_store::Written<IssuedInvitation>, ApiError> {
    let auth = caller
        .authorize_in(state, scope, permission(scope, true))
        .await?;
    let scope = auth.scope();
    // Resending sends the role again: the caller must hold what it grants.
    let inv = state.store().get_invitation(scope, id).await?;
    let role = state.store().get_role(scope, inv.role_id).await?;
    caller.require_all(
        state,
        scope,
        &role.effective_permissions,
        &format!("resending an invitation with role `{}`", role.name),
    )?;
    let w = state
        .store()
        .resend_invitation(&caller.actor(), scope, id, state.invitations().lifetime)
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id = path_id(&params, InvitationId::parse)?;
    let scope = caller.resolve(&state, param)?;
    let w = revoke_invitation(&state, &caller, scope, id).await?;
    let version = w.value.version;
    Ok(respond::json(
        StatusCode::OK,
        &InvitationView::from(w.value),
        Some(w.revision),
        Some(version),
    ))
}

/// Revokes invitation `id` of `scope` as `caller`: its token stops working.
pub async fn revoke_invitation(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    id: InvitationId,
) -> Result<warden_store::Written<InvitationRecord>, ApiError> {
    let auth = caller
        .authorize_in(state, scope, permission(scope, true))
        .await?;
    let w = state
        .store()
        .revoke_invitation(&caller.actor(), auth.scope(), id)
        .await?;
    state.reach(w.revision).await;
    Ok(w)
}

async fn accept(
    State(state): State<AppState>,
    Json(body): Json<InvitationAccept>,
) -> Result<Response, ApiError> {
    let w = accept_invitation(&state, &body).await?;
    let a = w.value;
    let body = AcceptedView {
        user: AcceptedUser {
            id: a.user.id,
            email: a.user.email,
            name: a.user.name,
        },
        scope: a.scope.kind(),
        org_id: a.scope.org_id,
        project_id: a.scope.project_id,
        role: RoleRef {
            id: a.role_id,
            name: a.role_name,
        },
    };
    Ok(respond::json(
        StatusCode::CREATED,
        &body,
        Some(w.revision),
        None,
    ))
}

/// Accepts an invitation by its token (no key needed): the person becomes a user with the
/// name and password given, a member of the org, and holds the invitation's role.
pub async fn accept_invitation(
    state: &AppState,
    body: &InvitationAccept,
) -> Result<warden_store::Written<AcceptedInvitation>, ApiError> {
    let name = Name::parse("name", &body.name)?;
    check_password(&body.password)?;
    let w = state
        .store()
        .accept_invitation(body.token.trim(), &name, &body.password, &arrival(state))
        .await
        .map_err(|e| match e {
            // The store's answer would name the token's lookup; say what to do instead.
            StoreError::NotFound {
                kind: "invitation", ..
            } => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "invitation not found or already used: check that the whole token was copied, or ask for a new invitation",
            ),
            e => ApiError::from(e),
        })?;
    state.reach(w.revision).await;
    Ok(w)
}

fn arrival(state: &AppState) -> warden_store::Arrival {
    let auth = &state.config().auth;
    warden_store::Arrival {
        admins: auth.admins.clone(),
        default_org_role: auth.default_org_role.clone(),
        default_team: auth.default_team.clone(),
    }
}
