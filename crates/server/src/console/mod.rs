//! The web console at `/console`: server-rendered pages (askama templates compiled into
//! the binary, under `templates/console/`) over the same store and the same authorization
//! as the API.
//!
//! A session is a personal API key of the signed-in user, named `console session`, whose
//! secret lives only in an HttpOnly, SameSite=Strict cookie (Secure behind TLS); every
//! request authenticates it exactly as the API authenticates a bearer key, so the console
//! can do nothing the user's roles do not allow, and signing out deletes the key. Every
//! form carries a CSRF token derived from the session's secret (the sign-in and
//! invitation forms, before any session, a random one also set as a cookie); a form
//! without the right token is refused with 403 and changes nothing.
//!
//! The organization and each project have the same settings pages (members, roles and
//! policies, API keys, audit log, access), served by the same handlers under
//! `/console/org/...` and `/console/projects/{project}/...`: [`here::Here`] reads the
//! scope from the path. Each page calls the operation the API's handler calls
//! (`routes::roles::create_role`, ...), so every rule applies alike.

mod access;
mod api_keys;
mod audit;
mod general;
mod here;
mod invitation;
mod members;
mod org;
mod roles;
mod session;
mod sign_in;
mod teams;

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// How long a console session lasts.
const SESSION_HOURS: i64 = 12;

/// The settings pages every scope has, as `(suffix, method router)`, served under both
/// `/console/org` and `/console/projects/{project}`.
fn scoped() -> Vec<(&'static str, axum::routing::MethodRouter<AppState>)> {
    vec![
        ("/roles", get(roles::roles_page).post(roles::create_role)),
        ("/roles/{id}", get(roles::role_page).post(roles::save_role)),
        ("/roles/{id}/delete", post(roles::delete_role)),
        ("/policies", post(roles::create_policy)),
        (
            "/policies/{id}",
            get(roles::policy_page).post(roles::save_policy),
        ),
        ("/policies/{id}/delete", post(roles::delete_policy)),
        (
            "/members",
            get(members::members_page).post(members::set_member),
        ),
        ("/members/remove", post(members::remove_member)),
        ("/invitations", post(members::invite)),
        ("/invitations/{id}/resend", post(members::resend)),
        ("/invitations/{id}/revoke", post(members::revoke)),
        ("/transfer-ownership", post(members::transfer)),
        ("/access/{principal}", get(access::access_page)),
        (
            "/api-keys",
            get(api_keys::keys_page).post(api_keys::create_key),
        ),
        ("/api-keys/{id}/valid", post(api_keys::set_valid)),
        ("/api-keys/{id}/delete", post(api_keys::delete_key)),
        ("/audit", get(audit::audit_page)),
    ]
}

/// The console's routes.
pub fn router() -> Router<AppState> {
    let mut r = Router::new()
        // A browser opening the server's address lands in the console.
        .route("/", get(|| async { see_other("/console") }))
        .route("/console", get(sign_in::home))
        .route(
            "/console/sign-in",
            get(sign_in::sign_in_page).post(sign_in::sign_in),
        )
        .route("/console/sign-out", post(sign_in::sign_out))
        .route(
            "/console/invitations/accept",
            get(invitation::accept_page).post(invitation::accept),
        )
        .route("/console/org", get(org::org_page))
        .route("/console/org/projects", post(org::create_project))
        .route(
            "/console/org/teams",
            get(teams::teams_page).post(teams::create_team),
        )
        .route(
            "/console/org/teams/{team}",
            get(teams::team_page).post(teams::save_team),
        )
        .route("/console/org/teams/{team}/users", post(teams::add_user))
        .route(
            "/console/org/teams/{team}/users/remove",
            post(teams::remove_user),
        )
        .route("/console/org/teams/{team}/delete", post(teams::delete_team))
        .route(
            "/console/projects/{project}/settings",
            get(general::general_page).post(general::save_general),
        )
        .route(
            "/console/projects/{project}/delete",
            post(general::delete_project),
        );
    for (suffix, handler) in scoped() {
        r = r
            .route(&format!("/console/org{suffix}"), handler.clone())
            .route(&format!("/console/projects/{{project}}{suffix}"), handler);
    }
    r
}

/// What the layout shows around every page.
pub struct Chrome {
    pub nav: Option<Nav>,
}

/// The signed-in part of the header.
pub struct Nav {
    pub org_name: String,
    pub user: String,
    pub csrf: String,
}

/// The top of a settings page: where it is, its title, the tabs of its scope, and what the
/// last action did.
pub struct Head {
    pub org_name: String,
    /// `(id, name)` of the project, on a project's pages.
    pub project: Option<(String, String)>,
    /// Where this scope's pages live: `/console/org` or `/console/projects/{id}`.
    pub base: String,
    pub title: String,
    pub tabs: Vec<Tab>,
    /// What the last action did (a success).
    pub notice: Option<String>,
    /// A refusal that belongs to no field of the page's forms.
    pub alert: Option<String>,
}

/// One tab of a scope's settings.
pub struct Tab {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

/// Renders a page, or a plain 500 if a template fails (which a test would have caught).
fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut resp = (status, Html(html)).into_response();
            secure_headers(&mut resp);
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

/// Pages carry CSRF tokens, secrets shown once and people's emails: not framed, not
/// cached, and nothing loaded from elsewhere (the styles are inline, there is no script).
fn secure_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// A page as built, or the error that stopped it as a page of its own.
fn show(status: StatusCode, page: Result<impl Template, ApiError>) -> Response {
    match page {
        Ok(page) => render(status, &page),
        Err(e) => error_page(e),
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
        chrome: Chrome { nav: None },
        status: e.status.as_u16(),
        message: e.message,
    };
    let mut resp = render(e.status, &page);
    if let Some(secs) = e.retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    resp
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
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

/// A form as the user filled it in, with the errors the rules gave, by field (`""` for
/// what belongs to no field). Pages render it back, so that a refused form keeps what was
/// typed.
#[derive(Default, Clone)]
pub struct FormState {
    values: Vec<(String, String)>,
    errors: Vec<(String, String)>,
}

impl FormState {
    /// A form holding `values` (a field may repeat: ticked boxes).
    pub fn filled<K: Into<String>, V: Into<String>>(
        values: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        FormState {
            values: values
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            errors: Vec::new(),
        }
    }

    /// The value of `field` (the first, if it repeats), or `""`.
    pub fn value(&self, field: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every value of `field`, in order.
    pub fn values(&self, field: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(k, _)| k == field)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether `field` holds `value` (a ticked box, a chosen option).
    pub fn has(&self, field: &str, value: &str) -> bool {
        self.values.iter().any(|(k, v)| k == field && v == value)
    }

    /// The error of `field`, if any.
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, e)| e.as_str())
    }

    /// Whether any error was given.
    pub fn refused_at_all(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The form with `message` beside `field`.
    pub fn with_error(mut self, field: &str, message: impl Into<String>) -> Self {
        self.errors.push((field.to_owned(), message.into()));
        self
    }

    /// The form with `e` placed beside the field its `details.field` names, when that is
    /// one of `fields` (the API's name for it, then the form's), or beside `fallback`.
    pub fn refused(self, e: ApiError, fields: &[(&str, &str)], fallback: &str) -> Self {
        let named = e
            .details
            .get("field")
            .and_then(|f| f.as_str())
            .unwrap_or("");
        let field = fields
            .iter()
            .find(|(api, _)| *api == named)
            .map(|(_, form)| *form)
            .unwrap_or(fallback)
            .to_owned();
        self.with_error(&field, e.message)
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

/// Whether an error is the user's to fix on the form (shown beside it), rather than a
/// page of its own: a refusal of the rules, not a missing permission, an unknown page, or
/// the server's trouble.
fn is_form_refusal(e: &ApiError) -> bool {
    e.status.is_client_error()
        && !(e.status == StatusCode::FORBIDDEN && e.code == "forbidden")
        && e.status != StatusCode::NOT_FOUND
        && e.status != StatusCode::TOO_MANY_REQUESTS
}

/// A line for a list of names: `“a”, “b”`.
fn quoted(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    names
        .into_iter()
        .map(|n| format!("“{}”", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}
