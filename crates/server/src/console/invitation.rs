//! Accepting an invitation: the page its link opens (no session needed) says what it leads
//! to and asks for a name and a password; accepting goes through the same
//! `routes::invitations::accept_invitation` as `POST /v1/invitations/accept`, then signs
//! the new user in.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::session;
use super::sign_in::{nonce_matches, start_session};
use super::{render, Chrome, FormState};
use crate::error::ApiError;
use crate::routes::invitations::{InvitationAccept, PASSWORD_MIN};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/accept.html")]
struct AcceptPage {
    chrome: Chrome,
    nonce: String,
    /// What the invitation leads to, when the token is known and pending.
    about: Option<String>,
    /// Why it cannot be accepted, when it cannot.
    problem: Option<String>,
    password_min: usize,
    form: FormState,
}

/// What a pending invitation leads to, in words; or why it cannot be accepted.
async fn describe(state: &AppState, token: &str) -> Result<String, String> {
    if token.trim().is_empty() {
        return Err(String::new());
    }
    let inv = match state.store().invitation_for_token(token).await {
        Ok(inv) => inv,
        Err(warden_store::StoreError::NotFound { .. }) => {
            return Err("This invitation link is not valid, or it was replaced by a newer one: check that the whole link was copied, or ask for a new invitation.".into())
        }
        Err(e) => return Err(ApiError::from(e).message),
    };
    match inv.status.as_str() {
        "pending" => {}
        "accepted" => {
            return Err("This invitation has already been accepted: sign in instead.".into())
        }
        "revoked" => {
            return Err("This invitation was revoked: ask an administrator for a new one.".into())
        }
        _ => {
            return Err(
                "This invitation has expired: ask an administrator to send it again.".into(),
            )
        }
    }
    let org = state
        .store()
        .get_org(inv.org_id)
        .await
        .map(|o| o.name)
        .unwrap_or_default();
    let place = match inv.project_id {
        Some(p) => match state.store().get_project(p).await {
            Ok(p) => format!("the project “{}” of {org}", p.name),
            Err(_) => org,
        },
        None => org,
    };
    Ok(format!(
        "{} is invited to {place} with the role {}.",
        inv.email, inv.role_name
    ))
}

/// The page, with a fresh nonce in the form and in a cookie.
async fn page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    form: FormState,
) -> Response {
    let nonce = warden_store::NewSecret::generate().secret;
    let (about, problem) = match describe(state, form.value("token")).await {
        Ok(about) => (Some(about), None),
        Err(p) if p.is_empty() => (None, None),
        Err(p) => (None, Some(p)),
    };
    let page = AcceptPage {
        chrome: Chrome { nav: None },
        nonce: nonce.clone(),
        about,
        problem,
        password_min: PASSWORD_MIN,
        form,
    };
    let mut resp = render(status, &page);
    session::set_cookie(&mut resp, headers, session::NONCE_COOKIE, &nonce, 3600);
    resp
}

#[derive(Deserialize, Default)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

pub async fn accept_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    page(
        &state,
        &headers,
        StatusCode::OK,
        FormState::filled([("token", q.token)]),
    )
    .await
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<AcceptForm>,
) -> Response {
    // What was typed is kept, but never the passwords.
    let typed = FormState::filled([("token", f.token.clone()), ("name", f.name.clone())]);
    if !nonce_matches(&headers, &f.csrf) {
        let form = typed.with_error("", "This form had expired: fill it in again.");
        return page(&state, &headers, StatusCode::FORBIDDEN, form).await;
    }
    if f.password != f.confirm {
        let form = typed.with_error(
            "confirm",
            "The two passwords differ: type the same one twice.",
        );
        return page(&state, &headers, StatusCode::UNPROCESSABLE_ENTITY, form).await;
    }
    let body = InvitationAccept {
        token: f.token,
        name: f.name,
        password: f.password,
    };
    match crate::routes::invitations::accept_invitation(&state, &body).await {
        Ok(w) => start_session(&state, &headers, w.value.user.id, w.value.scope.org_id).await,
        Err(e) if e.status.is_client_error() => {
            let status = super::refusal_status(&e);
            let fields = [("name", "name"), ("password", "password")];
            let form = typed.refused(e, &fields, "");
            page(&state, &headers, status, form).await
        }
        Err(e) => super::error_page(e),
    }
}
