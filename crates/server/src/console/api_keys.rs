//! API keys of the organization or of a project: the list (never a secret, only its last
//! characters), New API key (its secret shown on the answer's page only), invalidating and
//! restoring a key, deleting one.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use warden_model::ApiKeyId;
use warden_store::Page;

use super::here::{Here, Post};
use super::session;
use super::{
    error_page, is_form_refusal, refusal_status, render, see_other, show, url_component, Chrome,
    FormState, Head,
};
use crate::error::ApiError;
use crate::routes::api_keys::{ApiKeyCreate, ApiKeyUpdate, ApiKeyView};
use crate::state::AppState;

/// Keys listed per page.
const KEYS_PAGE: u32 = 100;

/// A key as the page lists it.
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub role_name: String,
    pub last_chars: String,
    pub status: &'static str,
    /// Whether it was invalidated (and so may be restored); an expired key may not.
    pub invalidated: bool,
    pub expires_at: String,
    pub last_used_at: String,
}

fn minutes(stamp: &str) -> String {
    stamp.get(..16).unwrap_or(stamp).replace('T', " ")
}

impl KeyRow {
    fn new(k: warden_store::KeyRecord) -> Self {
        let invalidated = !k.valid;
        let view = ApiKeyView::from(k);
        KeyRow {
            id: view.id.to_string(),
            name: view.name,
            role_name: view.role_name.unwrap_or_default(),
            last_chars: view.last_chars,
            status: match (view.valid, invalidated) {
                (true, _) => "active",
                (false, true) => "invalidated",
                (false, false) => "expired",
            },
            invalidated,
            expires_at: view.expires_at.as_deref().map(minutes).unwrap_or_default(),
            last_used_at: view
                .last_used_at
                .as_deref()
                .map(minutes)
                .unwrap_or_default(),
        }
    }
}

/// A key just created: its secret, shown on this page only.
pub struct Created {
    pub name: String,
    pub secret: String,
}

#[derive(Template)]
#[template(path = "console/api_keys.html")]
struct KeysPage {
    chrome: Chrome,
    head: Head,
    place: String,
    keys: Vec<KeyRow>,
    more: Option<String>,
    /// `(id, name)` of the roles a key may hold.
    roles: Vec<(String, String)>,
    default_role: String,
    created: Option<Created>,
    can_create: bool,
    can_update: bool,
    can_delete: bool,
    csrf: String,
    form: FormState,
}

async fn keys_view(
    state: &AppState,
    here: &Here,
    after: Option<uuid::Uuid>,
    form: FormState,
    created: Option<Created>,
) -> Result<KeysPage, ApiError> {
    here.s
        .caller
        .authorize_in(state, here.scope, "api_key:read")
        .await?;
    let store = state.store();
    let found = store
        .list_api_keys(
            here.scope,
            Page {
                limit: KEYS_PAGE,
                after,
            },
        )
        .await?;
    let roles = store
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
    let default_role = roles
        .iter()
        .find(|r| r.predefined_key.as_deref() == Some("member"))
        .map(|r| r.id.to_string())
        .unwrap_or_default();
    Ok(KeysPage {
        chrome: here.chrome(),
        head: here.head(state, "api-keys", "API keys"),
        place: here.place(),
        keys: found.items.into_iter().map(KeyRow::new).collect(),
        more: found.next_after.map(|a| a.to_string()),
        roles: roles
            .into_iter()
            .map(|r| (r.id.to_string(), r.name))
            .collect(),
        default_role,
        created,
        can_create: here.can(state, "api_key:create"),
        can_update: here.can(state, "api_key:update"),
        can_delete: here.can(state, "api_key:delete"),
        csrf: here.s.csrf.clone(),
        form,
    })
}

#[derive(Deserialize, Default)]
pub struct KeysQuery {
    done: Option<String>,
    name: Option<String>,
    after: Option<uuid::Uuid>,
}

/// The key just created, as the cookie set by [`create_key`] carries it (`id:secret`),
/// when it is a key of this scope.
async fn just_created(state: &AppState, here: &Here, headers: &HeaderMap) -> Option<Created> {
    let (id, secret) = session::cookie(headers, session::NEW_KEY_COOKIE)?.split_once(':')?;
    let id = ApiKeyId::parse(id).ok()?;
    let key = state.store().get_api_key(here.scope, id).await.ok()?;
    Some(Created {
        name: key.name,
        secret: secret.to_owned(),
    })
}

pub async fn keys_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    here: Here,
    Query(q): Query<KeysQuery>,
) -> Response {
    let created = if q.done.as_deref() == Some("created") {
        just_created(&state, &here, &headers).await
    } else {
        None
    };
    match keys_view(&state, &here, q.after, FormState::default(), created).await {
        Ok(mut page) => {
            let name = q.name.unwrap_or_default();
            page.head.notice = match q.done.as_deref() {
                Some("invalidated") => Some(format!(
                    "Key “{name}” invalidated: it is refused from now on."
                )),
                Some("restored") => Some(format!("Key “{name}” restored.")),
                Some("deleted") => Some(format!("Key “{name}” deleted.")),
                Some("created") if page.created.is_none() => Some(format!(
                    "Key “{name}” created. Its secret was shown once, when it was created."
                )),
                _ => None,
            };
            let mut resp = render(StatusCode::OK, &page);
            // Shown once: the secret leaves the browser with this page.
            session::set_cookie(&mut resp, &headers, session::NEW_KEY_COOKIE, "", 0);
            resp
        }
        Err(e) => error_page(e),
    }
}

/// Reads the "expires at" field (`YYYY-MM-DDTHH:MM` from a `datetime-local` input, taken
/// as UTC) as the API's RFC 3339.
fn expiry(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    Some(match raw.len() {
        16 => format!("{raw}:00Z"),
        19 => format!("{raw}Z"),
        _ => raw.to_owned(),
    })
}

pub async fn create_key(State(state): State<AppState>, headers: HeaderMap, post: Post) -> Response {
    let Post { here, form } = post;
    let body = ApiKeyCreate {
        name: form.value("name").to_owned(),
        role_id: form.value("role_id").to_owned(),
        expires_at: expiry(form.value("expires_at")),
    };
    match crate::routes::api_keys::create_api_key(&state, &here.s.caller, here.scope, &body).await {
        Ok(w) => {
            // The secret is shown by the page this redirects to, from a cookie that page
            // clears: reloading it shows the secret no more and creates no second key.
            let (key, secret) = w.value;
            let mut resp = see_other(&format!(
                "{}/api-keys?done=created&name={}",
                here.base(),
                url_component(&key.name)
            ));
            let value = format!("{}:{secret}", key.id);
            session::set_cookie(&mut resp, &headers, session::NEW_KEY_COOKIE, &value, 300);
            resp
        }
        Err(e) if is_form_refusal(&e) => {
            let status = refusal_status(&e);
            let fields = [
                ("name", "name"),
                ("role_id", "role_id"),
                ("expires_at", "expires_at"),
            ];
            let fallback = if e.message.contains("`expires_at`") {
                "expires_at"
            } else if e.code == "escalation" || e.code == "owner_required" {
                "role_id"
            } else {
                ""
            };
            let form = form.refused(e, &fields, fallback);
            show(status, keys_view(&state, &here, None, form, None).await)
        }
        Err(e) => error_page(e),
    }
}

fn key_id(params: &HashMap<String, String>) -> Result<ApiKeyId, ApiError> {
    crate::routes::policies::path_id(params, ApiKeyId::parse)
}

/// Invalidates (`valid=false`) or restores (`valid=true`) a key.
pub async fn set_valid(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    post: Post,
) -> Response {
    let Post { here, form } = post;
    let valid = form.value("valid") == "true";
    let done = async {
        let id = key_id(&params)?;
        let body = ApiKeyUpdate {
            name: None,
            valid: Some(valid),
        };
        crate::routes::api_keys::update_api_key(&state, &here.s.caller, here.scope, id, &body, None)
            .await
    };
    match done.await {
        Ok(w) => see_other(&format!(
            "{}/api-keys?done={}&name={}",
            here.base(),
            if valid { "restored" } else { "invalidated" },
            url_component(&w.value.name)
        )),
        Err(e) => refused_at_top(&state, &here, e).await,
    }
}

pub async fn delete_key(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    post: Post,
) -> Response {
    let here = post.here;
    let done = async {
        let id = key_id(&params)?;
        crate::routes::api_keys::delete_api_key(&state, &here.s.caller, here.scope, id).await
    };
    match done.await {
        Ok(w) => see_other(&format!(
            "{}/api-keys?done=deleted&name={}",
            here.base(),
            url_component(&w.value.name)
        )),
        Err(e) => refused_at_top(&state, &here, e).await,
    }
}

async fn refused_at_top(state: &AppState, here: &Here, e: ApiError) -> Response {
    if !is_form_refusal(&e) {
        return error_page(e);
    }
    let status = refusal_status(&e);
    show(
        status,
        keys_view(state, here, None, FormState::default(), None)
            .await
            .map(|mut page| {
                page.head.alert = Some(e.message);
                page
            }),
    )
}
