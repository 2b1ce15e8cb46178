//! Signing in and out. Signing in checks the password through the same
//! `routes::tokens::sign_in` as `POST /v1/auth/tokens` (so the same throttling applies)
//! and starts a session: a personal key whose secret only the session cookie holds.

use askama::Template;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use warden_model::{Name, OrgId, UserId};

use super::session::{self, Session};
use super::{error_page, render, see_other, Chrome, SESSION_HOURS};
use crate::state::AppState;

pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match Session::from_headers(&state, &headers).await {
        Ok(Some(_)) => see_other("/console/org"),
        Ok(None) => see_other("/console/sign-in"),
        Err(e) => error_page(e),
    }
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    error: Option<String>,
    email: String,
    nonce: String,
    /// `(id, name)` of the organizations to choose from, when the user has several.
    orgs: Vec<(String, String)>,
    org_id: String,
}

/// The sign-in form, with a fresh nonce in the form and in a cookie.
fn sign_in_form(
    status: StatusCode,
    headers: &HeaderMap,
    fill: impl FnOnce(&mut SignInPage),
) -> Response {
    let nonce = warden_store::NewSecret::generate().secret;
    let mut page = SignInPage {
        chrome: Chrome { nav: None },
        error: None,
        email: String::new(),
        nonce: nonce.clone(),
        orgs: Vec::new(),
        org_id: String::new(),
    };
    fill(&mut page);
    let mut resp = render(status, &page);
    session::set_cookie(&mut resp, headers, session::NONCE_COOKIE, &nonce, 3600);
    resp
}

pub async fn sign_in_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match Session::from_headers(&state, &headers).await {
        Ok(Some(_)) => see_other("/console/org"),
        _ => sign_in_form(StatusCode::OK, &headers, |_| {}),
    }
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    org_id: Option<String>,
}

/// Whether a form posted before any session carries the nonce its page set as a cookie.
pub(super) fn nonce_matches(headers: &HeaderMap, given: &str) -> bool {
    session::cookie(headers, session::NONCE_COOKIE).is_some_and(|n| session::same(n, given))
}

pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !nonce_matches(&headers, &form.csrf) {
        return sign_in_form(StatusCode::FORBIDDEN, &headers, |p| {
            p.email = form.email.clone();
            p.error = Some("This form had expired. Sign in again.".into());
        });
    }
    let org_id = form.org_id.as_deref().filter(|o| !o.is_empty());
    match crate::routes::tokens::sign_in(&state, &form.email, &form.password, org_id).await {
        Ok((user, org)) => start_session(&state, &headers, user, org).await,
        Err(e) => {
            let (status, retry_after) = (e.status, e.retry_after);
            let mut orgs = Vec::new();
            if e.code == "org_required" {
                // Verified already: list the user's organizations to choose from.
                if let Ok(Some((_, ids))) = state
                    .store()
                    .check_password(&form.email, &form.password)
                    .await
                {
                    for id in ids {
                        if let Ok(o) = state.store().get_org(id).await {
                            orgs.push((id.to_string(), o.name));
                        }
                    }
                }
            }
            let message = if e.code == "org_required" {
                "Choose the organization to sign in to.".to_owned()
            } else {
                e.message
            };
            let mut resp = sign_in_form(status, &headers, |p| {
                p.email = form.email.clone();
                p.error = Some(message);
                p.orgs = orgs;
            });
            if let Some(secs) = retry_after {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, secs.into());
            }
            resp
        }
    }
}

/// Starts a session of `user` in `org`: a personal key named `console session` whose
/// secret goes into the session cookie, then the organization's page.
pub(super) async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    user: UserId,
    org: OrgId,
) -> Response {
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(SESSION_HOURS);
    let expires_at = expires
        .format(&time::format_description::well_known::Rfc3339)
        .ok();
    let name = match Name::parse("name", "console session") {
        Ok(n) => n,
        Err(e) => return error_page(e.into()),
    };
    let written = state
        .store()
        .create_personal_key(&format!("user:{user}"), org, user, &name, expires_at)
        .await;
    match written {
        Ok(w) => {
            state.reach(w.revision).await;
            let (_, secret) = w.value;
            let mut resp = see_other("/console/org");
            session::set_cookie(
                &mut resp,
                headers,
                session::SESSION_COOKIE,
                &secret,
                SESSION_HOURS * 3600,
            );
            session::set_cookie(&mut resp, headers, session::NONCE_COOKIE, "", 0);
            resp
        }
        Err(e) => error_page(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let s = match Session::required(&state, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if let Err(e) = s.check_csrf(&form.csrf) {
        return error_page(e);
    }
    let Some(user) = s.caller.user_id else {
        return see_other("/console/sign-in");
    };
    match state
        .store()
        .delete_personal_key(user, s.caller.key_id)
        .await
    {
        Ok(w) => state.reach_changing_keys(w.revision).await,
        Err(e) => return error_page(e.into()),
    }
    let mut resp = see_other("/console/sign-in");
    session::set_cookie(&mut resp, &headers, session::SESSION_COOKIE, "", 0);
    resp
}
