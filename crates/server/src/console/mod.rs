//! The web console at `/console`: server-rendered pages (askama templates compiled into
//! the binary, under `templates/console/`) over the same store and the same authorization
//! as the API.
//!
//! A session is a personal API key of the signed-in user, named `console session`, whose
//! secret lives only in an HttpOnly, SameSite=Strict cookie (Secure behind TLS); every
//! request authenticates it exactly as the API authenticates a bearer key, so the console
//! can do nothing the user's roles do not allow, and signing out deletes the key. Every
//! form carries a CSRF token derived from the session's secret (the sign-in form, before
//! any session, a random one also set as a cookie); a form without the right token is
//! refused with 403 and changes nothing.

mod members;
mod project;
mod session;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use warden_model::{Description, Name, Scope};
use warden_store::{NewProject, Page, StoreError};

use crate::error::ApiError;
use crate::state::AppState;
use session::Session;

/// How long a console session lasts.
const SESSION_HOURS: i64 = 12;

/// The console's routes, under `/console`.
pub fn router() -> Router<AppState> {
    Router::new()
        // A browser opening the server's address lands in the console.
        .route("/", get(|| async { see_other("/console") }))
        .route("/console", get(home))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/org", get(org_page))
        .route("/console/org/projects", post(create_project))
        .route(
            "/console/projects/{project}/roles",
            get(project::roles_page).post(project::create_role),
        )
        .route(
            "/console/projects/{project}/policies",
            post(project::create_policy),
        )
        .route(
            "/console/projects/{project}/members",
            get(members::members_page).post(members::set_member),
        )
        .route(
            "/console/projects/{project}/members/remove",
            post(members::remove_member),
        )
        .route(
            "/console/projects/{project}/access/{principal}",
            get(members::access_page),
        )
        .route(
            "/console/projects/{project}/audit",
            get(members::audit_page),
        )
        .route(
            "/console/projects/{project}/settings",
            get(project::general_page).post(project::save_general),
        )
        .route(
            "/console/projects/{project}/roles/{id}/delete",
            post(project::delete_role),
        )
        .route(
            "/console/projects/{project}/policies/{id}/delete",
            post(project::delete_policy),
        )
}

/// What the layout shows around every page.
pub struct Chrome {
    pub nav: Option<Nav>,
    /// Which navigation entry is the current page.
    pub page: &'static str,
}

/// The signed-in part of the header.
pub struct Nav {
    pub org_name: String,
    pub user: String,
    pub csrf: String,
}

/// Renders a page, or a plain 500 if a template fails (which a test would have caught).
fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut resp = (status, Html(html)).into_response();
            // Pages carry CSRF tokens and people's emails: not framed, not cached, and
            // nothing loaded from elsewhere (the styles are inline, there is no script).
            let h = resp.headers_mut();
            h.insert(
                axum::http::header::CONTENT_SECURITY_POLICY,
                axum::http::HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                ),
            );
            h.insert(
                axum::http::header::X_FRAME_OPTIONS,
                axum::http::HeaderValue::from_static("DENY"),
            );
            h.insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            h.insert(
                axum::http::header::REFERRER_POLICY,
                axum::http::HeaderValue::from_static("same-origin"),
            );
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be shown",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    message: String,
}

/// An error as a page: the status and the API's message (which says what to change).
fn error_page(e: ApiError) -> Response {
    let page = ErrorPage {
        chrome: Chrome {
            nav: None,
            page: "",
        },
        status: e.status.as_u16(),
        message: e.message,
    };
    render(e.status, &page)
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
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

impl SignInPage {
    fn new(nonce: String) -> Self {
        SignInPage {
            chrome: Chrome {
                nav: None,
                page: "sign-in",
            },
            error: None,
            email: String::new(),
            nonce,
            orgs: Vec::new(),
            org_id: String::new(),
        }
    }
}

/// The sign-in form, with a fresh nonce in the form and in a cookie.
fn sign_in_form(
    status: StatusCode,
    headers: &HeaderMap,
    fill: impl FnOnce(&mut SignInPage),
) -> Response {
    let nonce = warden_store::NewSecret::generate().secret;
    let mut page = SignInPage::new(nonce.clone());
    fill(&mut page);
    let mut resp = render(status, &page);
    session::set_cookie(&mut resp, headers, session::NONCE_COOKIE, &nonce, 3600);
    resp
}

async fn sign_in_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match Session::from_headers(&state, &headers).await {
        Ok(Some(_)) => see_other("/console/org"),
        _ => sign_in_form(StatusCode::OK, &headers, |_| {}),
    }
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    org_id: Option<String>,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let nonce = session::cookie(&headers, session::NONCE_COOKIE);
    if !nonce.is_some_and(|n| session::same(n, &form.csrf)) {
        return sign_in_form(StatusCode::FORBIDDEN, &headers, |p| {
            p.email = form.email.clone();
            p.error = Some("This form had expired. Sign in again.".into());
        });
    }
    let org_id = form.org_id.as_deref().filter(|o| !o.is_empty());
    match crate::routes::tokens::sign_in(&state, &form.email, &form.password, org_id).await {
        Ok((user, org)) => {
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
                        &headers,
                        session::SESSION_COOKIE,
                        &secret,
                        SESSION_HOURS * 3600,
                    );
                    session::set_cookie(&mut resp, &headers, session::NONCE_COOKIE, "", 0);
                    resp
                }
                Err(e) => error_page(e.into()),
            }
        }
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

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
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

/// A project as the overview lists it.
struct ProjectRow {
    id: String,
    name: String,
    description: String,
    restricted: bool,
}

/// What the new-project form holds (kept when refused).
#[derive(Default)]
struct ProjectForm {
    name: String,
    description: String,
    name_error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/org.html")]
struct OrgPage {
    chrome: Chrome,
    org_name: String,
    role: String,
    notice: Option<String>,
    projects: Vec<ProjectRow>,
    can_create_project: bool,
    csrf: String,
    form: ProjectForm,
}

#[derive(Deserialize, Default)]
struct OrgQuery {
    created: Option<String>,
}

async fn org_view(
    state: &AppState,
    s: &Session,
    notice: Option<String>,
    form: ProjectForm,
) -> Result<OrgPage, ApiError> {
    let scope = Scope::org(s.caller.org_id);
    s.caller
        .authorize_in(state, scope, "organization:read")
        .await?;
    let org = state.store().get_org(s.caller.org_id).await?;
    let role = match state
        .store()
        .membership(scope, s.caller.principal())
        .await?
    {
        Some(id) => state
            .store()
            .get_role(scope, id)
            .await
            .map(|r| r.name)
            .unwrap_or_else(|_| "unknown".into()),
        None => "none of your own (your teams give you access)".into(),
    };
    let projects = if s.caller.can(state, scope, "project:read") {
        state
            .store()
            .list_projects(s.caller.org_id, Page::default())
            .await?
            .items
            .into_iter()
            .map(|p| ProjectRow {
                id: p.id.to_string(),
                name: p.name,
                description: p.description,
                restricted: p.restricted,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(OrgPage {
        chrome: s.chrome(org.name.clone(), "org"),
        org_name: org.name,
        role,
        notice,
        projects,
        can_create_project: s.caller.can(state, scope, "project:create"),
        csrf: s.csrf.clone(),
        form,
    })
}

async fn org_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<OrgQuery>,
) -> Response {
    let s = match Session::required(&state, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let notice = q.created.map(|name| format!("Project “{name}” created."));
    match org_view(&state, &s, notice, ProjectForm::default()).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => error_page(e),
    }
}

#[derive(Deserialize)]
struct NewProjectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

async fn create_project(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<NewProjectForm>,
) -> Response {
    let s = match Session::required(&state, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if let Err(e) = s.check_csrf(&form.csrf) {
        return error_page(e);
    }
    let scope = Scope::org(s.caller.org_id);
    if let Err(e) = s.caller.authorize_in(&state, scope, "project:create").await {
        return error_page(e);
    }
    let refused = |message: String| ProjectForm {
        name: form.name.clone(),
        description: form.description.clone(),
        name_error: Some(message),
    };
    let input = match (
        Name::parse("name", &form.name),
        Description::parse(&form.description),
    ) {
        (Ok(name), Ok(description)) => NewProject {
            name,
            description,
            restricted: false,
        },
        (Err(e), _) => return refused_page(&state, &s, refused(e.to_string())).await,
        (_, Err(e)) => return refused_page(&state, &s, refused(e.to_string())).await,
    };
    match state
        .store()
        .create_project(&s.caller.actor(), s.caller.org_id, input)
        .await
    {
        Ok(w) => {
            state.reach(w.revision).await;
            let to = format!("/console/org?created={}", url_component(&w.value.name));
            see_other(&to)
        }
        Err(StoreError::Conflict { message, .. } | StoreError::Unprocessable { message, .. }) => {
            refused_page(&state, &s, refused(message)).await
        }
        Err(e) => error_page(e.into()),
    }
}

/// The org page again, with the refused form as the user filled it in (422).
async fn refused_page(state: &AppState, s: &Session, form: ProjectForm) -> Response {
    match org_view(state, s, None, form).await {
        Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
        Err(e) => error_page(e),
    }
}

/// Percent-encodes a query value.
fn url_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
