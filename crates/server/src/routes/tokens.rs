//! Sign-in for people: an email and a password give a personal API key, which acts as its
//! user (`user:<id>`) with whatever roles the user holds, directly or through teams.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_model::{Name, OrgId, UserId};

use super::api_keys::{parse_expiry, ApiKeyView};
use super::{op, Route};
use crate::error::ApiError;
use crate::extract::Json;
use crate::respond;
use crate::state::AppState;

pub fn routes() -> Vec<Route> {
    vec![op(
        Method::POST,
        "/v1/auth/tokens",
        "meta",
        "Sign in with email and password: a personal API key (shown once)",
        create,
    )
    .public()
    .body::<TokenRequest>()
    .reply::<TokenResponse>(201)]
}

/// Who signs in.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub email: String,
    pub password: String,
    /// The organization to sign in to; needed only when the user belongs to several.
    pub org_id: Option<String>,
    /// A name for the key (default `personal key`).
    pub name: Option<String>,
    /// When the key stops working: RFC 3339, in the future (default: 30 days).
    pub expires_at: Option<String>,
}

/// A personal key.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenResponse {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub api_key: ApiKeyView,
    /// The secret, to send as `Authorization: Bearer <secret>`. Shown only once.
    pub secret: String,
}

async fn create(
    State(state): State<AppState>,
    Json(body): Json<TokenRequest>,
) -> Result<Response, ApiError> {
    let (user, org) = sign_in(&state, &body.email, &body.password, body.org_id.as_deref()).await?;
    let name = Name::parse("name", body.name.as_deref().unwrap_or("personal key"))?;
    let expires_at = match parse_expiry(body.expires_at.as_deref())? {
        Some(e) => Some(e),
        None => (time::OffsetDateTime::now_utc() + time::Duration::days(30))
            .format(&time::format_description::well_known::Rfc3339)
            .ok(),
    };
    let w = state
        .store()
        .create_personal_key(&format!("user:{user}"), org, user, &name, expires_at)
        .await?;
    state.reach(w.revision).await;
    let (key, secret) = w.value;
    let body = TokenResponse {
        user_id: user,
        org_id: org,
        api_key: key.into(),
        secret,
    };
    Ok(respond::json(
        StatusCode::CREATED,
        &body,
        Some(w.revision),
        None,
    ))
}

/// Checks an email and a password (throttled per account) and chooses the org to sign in
/// to: the one given, or the user's only one. Shared by the API and the console.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
    org_id: Option<&str>,
) -> Result<(UserId, OrgId), ApiError> {
    let now = std::time::Instant::now();
    let account = crate::throttle::account(email);
    if let Err(wait) = state.sign_ins().attempt(&account, now) {
        return Err(ApiError::too_many(
            format!(
                "too many wrong passwords for this account: try again in {} minute(s)",
                wait.div_ceil(60)
            ),
            wait,
        ));
    }
    let wrong = || ApiError::unauthenticated("the email or the password is wrong");
    let Some((user, orgs)) = state.store().check_password(email, password).await? else {
        return Err(wrong());
    };
    state.sign_ins().succeeded(&account);
    let org = match org_id {
        Some(o) => {
            let o = OrgId::parse(o)?;
            // An org the user does not belong to is as wrong as a wrong password.
            orgs.iter().copied().find(|x| *x == o).ok_or_else(wrong)?
        }
        None => match orgs.as_slice() {
            [one] => *one,
            [] => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "no_organization",
                    "this user belongs to no organization yet",
                ))
            }
            many => {
                return Err(ApiError::bad_request(
                    "org_required",
                    format!(
                        "this user belongs to {} organizations: give `org_id`",
                        many.len()
                    ),
                ))
            }
        },
    };
    Ok((user, org))
}
