//! The console's session: a personal API key whose secret is the cookie, and the CSRF
//! token derived from it.

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Chrome, Nav};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The cookie holding a session's secret.
pub const SESSION_COOKIE: &str = "warden_session";
/// The cookie holding the sign-in form's nonce.
pub const NONCE_COOKIE: &str = "warden_sign_in";
/// The cookie that carries a new API key's id and secret from the form that created it to
/// the page that shows it once (so that reloading that page creates nothing).
pub const NEW_KEY_COOKIE: &str = "warden_new_key";

/// A signed-in user.
pub struct Session {
    pub caller: Caller,
    /// The token every form of this session must carry.
    pub csrf: String,
    /// Who is signed in, as the header shows it.
    pub user: String,
}

/// The value of cookie `name` in the request, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Whether the request came over TLS (directly, or through a proxy that says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// Sets cookie `name` on `resp` for the console's paths: HttpOnly, SameSite=Strict, Secure
/// over TLS; `max_age` 0 removes it.
pub fn set_cookie(resp: &mut Response, headers: &HeaderMap, name: &str, value: &str, max_age: i64) {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    let cookie = format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(SET_COOKIE, v);
    }
}

/// Compares two tokens in time independent of where they differ (only their lengths,
/// which are public, may show).
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The CSRF token of a session: a hash of its secret under a label of its own, so that the
/// page can carry it without the secret (which only the HttpOnly cookie holds).
fn csrf_of(secret: &str) -> String {
    warden_store::hash_secret(&format!("warden-console-csrf:{secret}"))
}

impl Session {
    /// The session the request's cookie holds: `None` without a cookie, or when its key is
    /// no longer valid (signed out, expired, deleted); an error when the database is
    /// needed and unreachable.
    pub async fn from_headers(
        state: &AppState,
        headers: &HeaderMap,
    ) -> Result<Option<Self>, ApiError> {
        let Some(secret) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let caller = match Caller::from_secret(state, secret).await {
            Ok(c) => c,
            Err(e) if e.status == StatusCode::UNAUTHORIZED => return Ok(None),
            Err(e) => return Err(e),
        };
        // Only a person's own key is a session; an org or project key in the cookie is not.
        let Some(user_id) = caller.user_id else {
            return Ok(None);
        };
        let user = match state.store().get_org_user(caller.org_id, user_id).await {
            Ok(u) if !u.name.is_empty() => format!("{} ({})", u.name, u.email),
            Ok(u) => u.email,
            Err(e) => return Err(e.into()),
        };
        Ok(Some(Session {
            caller,
            csrf: csrf_of(secret),
            user,
        }))
    }

    /// The session, or the response to send instead: to the sign-in page without one.
    pub async fn required(state: &AppState, headers: &HeaderMap) -> Result<Self, Response> {
        match Self::from_headers(state, headers).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(Redirect::to("/console/sign-in").into_response()),
            Err(e) => Err(super::error_page(e)),
        }
    }

    /// Refuses (403) a form that does not carry this session's token.
    pub fn check_csrf(&self, given: &str) -> Result<(), ApiError> {
        if same(&self.csrf, given) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "this form did not come from this session (it may be an old page): reload the page and try again",
            ))
        }
    }

    /// The layout's header for this session.
    pub fn chrome(&self, org_name: String) -> Chrome {
        Chrome {
            nav: Some(Nav {
                org_name,
                user: self.user.clone(),
                csrf: self.csrf.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_are_the_same_only_when_every_byte_is() {
        assert!(same("a1b2c3", "a1b2c3"));
        assert!(!same("a1b2c3", "a1b2c4"));
        assert!(!same("a1b2c3", "b1b2c3"));
        assert!(!same("a1b2c3", "a1b2c"));
        assert!(!same("", "a"));
        assert!(same("", ""));
    }
}
