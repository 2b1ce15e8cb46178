//! Authentication (who is calling) and authorization (may it do this here).
//!
//! Every management handler takes a [`Caller`] and obtains the scope it acts on only
//! through [`Caller::authorize`], which resolves the scope inside the caller's org (a scope
//! of another org is reported as not found, never as forbidden) and checks the permission
//! in the engine. A handler cannot reach the store's scoped methods without an
//! [`Authorized`] value, so it cannot skip the check.

use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde_json::json;
use warden_engine::Index;
use warden_model::{ApiKeyId, OrgId, Principal, ProjectId, Scope, UserId};

use crate::error::ApiError;
use crate::keycache::CachedKey;
use crate::state::AppState;

/// An authenticated API key.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: ApiKeyId,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    /// For a personal key: the user it acts as.
    pub user_id: Option<UserId>,
    pub name: String,
}

impl Caller {
    /// The principal the engine knows the caller as: the user of a personal key, or the
    /// key itself.
    pub fn principal(&self) -> Principal {
        match self.user_id {
            Some(u) => Principal::User(u),
            None => Principal::ApiKey(self.key_id),
        }
    }

    /// The actor written in the change log.
    pub fn actor(&self) -> String {
        self.principal().to_string()
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Authenticated once per request, whichever extractor asks first.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let caller = Self::authenticate(parts, state).await?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

impl Caller {
    async fn authenticate(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "send an API key in the header `Authorization: Bearer <key>`",
                )
            })?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::unauthenticated("the `Authorization` header must be `Bearer <key>`")
            })?;
        // A client address that keeps presenting keys that do not authenticate is refused
        // for a while before any database lookup (see `throttle`). A key found in memory
        // costs nothing and skips the throttle, so that a client sharing the address with
        // a guesser keeps working while its key is cached, and the common path takes no
        // lock and reads no address.
        let client = || {
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| {
                    state
                        .config()
                        .trusted_proxies
                        .client(c.0.ip(), &parts.headers)
                        .to_string()
                })
        };
        let now = std::time::Instant::now();
        let hash = warden_store::hash_secret(secret);
        let key = match state.keys().get(&hash) {
            Some(hit) => Ok(hit),
            None => {
                if let Some(client) = client() {
                    if let Err(wait) = state.key_failures().check(&client, now) {
                        return Err(ApiError::too_many(
                            format!(
                                "too many requests from this address with API keys that are unknown, invalidated or expired: try again in {wait} s with a valid key"
                            ),
                            wait,
                        ));
                    }
                }
                Self::load(state, secret, hash).await
            }
        };
        let caller = key.and_then(|key| Self::admit(state, &key));
        if let Err(e) = &caller {
            if e.status == StatusCode::UNAUTHORIZED {
                if let Some(client) = client() {
                    state.key_failures().failed(&client, now);
                }
            }
        }
        caller
    }

    /// The caller a key's secret authenticates (the console's session cookie holds one).
    pub async fn from_secret(state: &AppState, secret: &str) -> Result<Self, ApiError> {
        let hash = warden_store::hash_secret(secret);
        let key = match state.keys().get(&hash) {
            Some(hit) => hit,
            None => Self::load(state, secret, hash).await?,
        };
        Self::admit(state, &key)
    }

    /// The caller a key makes, if it is still valid and not expired.
    fn admit(state: &AppState, key: &CachedKey) -> Result<Self, ApiError> {
        let key_row = &key.key;
        if !key_row.valid {
            return Err(ApiError::unauthenticated(
                "this API key has been invalidated; use another key",
            )
            .with_details(json!({"api_key_id": key_row.id})));
        }
        let now = time::OffsetDateTime::now_utc();
        if let Some(exp) = key.expires {
            if exp <= now {
                let shown = key_row.expires_at.as_deref().unwrap_or_default();
                return Err(ApiError::unauthenticated(format!(
                    "this API key expired at {shown}; create a new key"
                ))
                .with_details(json!({"api_key_id": key_row.id, "expired_at": shown})));
            }
        }
        // Recording use costs a write; once a minute per key is precise enough.
        if key.claim_touch(now.unix_timestamp()) {
            let store = state.store().clone();
            let id = key_row.id;
            tokio::spawn(async move {
                if let Err(e) = store.touch_api_key(id).await {
                    tracing::warn!(error = %e, "could not record API key use");
                }
            });
        }
        let key = key_row;
        Ok(Caller {
            key_id: key.id,
            org_id: key.org_id,
            project_id: key.project_id,
            user_id: key.user_id,
            name: key.name.clone(),
        })
    }
}

impl Caller {
    /// The key a secret (whose hash is `hash`) belongs to, read from the store and cached;
    /// the caller has found it missing from the cache.
    async fn load(
        state: &AppState,
        secret: &str,
        hash: String,
    ) -> Result<Arc<CachedKey>, ApiError> {
        let cache = state.keys();
        let generation = cache.generation();
        let row = state.store().find_api_key(secret).await?.ok_or_else(|| {
            ApiError::unauthenticated("this API key is not valid: it is unknown or was deleted")
        })?;
        // A key made by another process (`warden bootstrap`) may be newer than the engine.
        if row.user_id.is_none() && !state.engine().has_api_key(row.id) {
            state.catch_up().await?;
            if !state.engine().has_api_key(row.id) {
                // Not yet in the engine: answer from the row, but do not keep it.
                return Ok(Arc::new(CachedKey::from_row(row)));
            }
        }
        let key = Arc::new(CachedKey::from_row(row));
        cache.insert(hash, generation, key.clone());
        Ok(key)
    }
}

/// A scope the caller was checked against, with the permission that was checked.
#[derive(Debug, Clone, Copy)]
pub struct Authorized {
    scope: Scope,
}

impl Authorized {
    pub fn scope(&self) -> Scope {
        self.scope
    }
}

/// The scope named by the path (`{org}` or `{project}`), resolved inside the caller's org.
///
/// Resolution happens while the request's head is extracted, before any body is read, so
/// that a scope of another org is answered 404 whatever the body holds.
#[derive(Debug, Clone, Copy)]
pub struct ScopeParam {
    scope: Scope,
}

impl ScopeParam {
    /// The resolved scope (not yet authorized).
    pub fn scope(&self) -> Scope {
        self.scope
    }
}

impl FromRequestParts<AppState> for ScopeParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid_path", "the path could not be read"))?;
        let mut named = None;
        for (name, value) in &params {
            match name {
                "org" => named = Some(Named::Org(OrgId::parse(value)?)),
                "project" => named = Some(Named::Project(ProjectId::parse(value)?)),
                _ => {}
            }
        }
        let named = named.ok_or_else(|| {
            ApiError::bad_request(
                "invalid_path",
                "this route names no organization or project",
            )
        })?;
        let caller = Caller::from_request_parts(parts, state).await?;
        let scope = caller.resolve_fresh(state, named).await?;
        Ok(ScopeParam { scope })
    }
}

/// A scope as the path names it, before resolution.
#[derive(Debug, Clone, Copy)]
pub enum Named {
    Org(OrgId),
    Project(ProjectId),
}

impl Caller {
    /// Resolves a named scope inside the caller's org (404 otherwise).
    pub fn resolve_named(&self, state: &AppState, named: Named) -> Result<Scope, ApiError> {
        self.resolve_in(&state.engine(), named)
    }

    /// [`Caller::resolve_named`], catching up once before answering 404: a project created
    /// through another instance may not be applied here yet (only a refusal costs a
    /// database read).
    pub async fn resolve_fresh(&self, state: &AppState, named: Named) -> Result<Scope, ApiError> {
        match self.resolve_named(state, named) {
            Ok(scope) => Ok(scope),
            Err(e) if state.caught_up_now().await => {
                self.resolve_named(state, named).map_err(|_| e)
            }
            Err(e) => Err(e),
        }
    }

    /// [`Caller::resolve_named`] against a snapshot the handler already holds.
    pub fn resolve_in(&self, index: &Index, named: Named) -> Result<Scope, ApiError> {
        match named {
            Named::Org(org) if org == self.org_id => Ok(Scope::org(org)),
            Named::Org(org) => Err(ApiError::not_found("organization", org)),
            Named::Project(p) => match index.project_org(p) {
                Some(org) if org == self.org_id => Ok(Scope::project(org, p)),
                _ => Err(ApiError::not_found("project", p)),
            },
        }
    }

    /// The scope of the path, without checking a permission.
    pub fn resolve(&self, _state: &AppState, param: ScopeParam) -> Result<Scope, ApiError> {
        Ok(param.scope)
    }

    /// Checks that the caller holds `permission` in the scope named by `param`.
    ///
    /// A refusal is checked again after catching up with the change log, so that a grant
    /// committed through another instance an instant ago is honoured here too; an answer
    /// that allows costs no database read.
    pub async fn authorize(
        &self,
        state: &AppState,
        param: ScopeParam,
        permission: &str,
    ) -> Result<Authorized, ApiError> {
        let scope = self.resolve(state, param)?;
        self.authorize_in(state, scope, permission).await
    }

    /// [`Caller::authorize`] for a scope already resolved inside the caller's org.
    pub async fn authorize_in(
        &self,
        state: &AppState,
        scope: Scope,
        permission: &str,
    ) -> Result<Authorized, ApiError> {
        let allowed = || state.engine().check(self.principal(), permission, scope);
        if allowed() || (state.caught_up_now().await && allowed()) {
            Ok(Authorized { scope })
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("`{}` lacks the permission `{permission}` in {scope}; ask an administrator for a role that grants it", self.principal()),
            )
            .with_details(json!({"missing": [permission]})))
        }
    }
}

impl Caller {
    /// No escalation: refuses unless the caller holds every permission of `keys` in `scope`
    /// (as Kubernetes RBAC does), naming the ones it lacks.
    pub fn require_all(
        &self,
        state: &AppState,
        scope: Scope,
        keys: &[String],
        what: &str,
    ) -> Result<(), ApiError> {
        let engine = state.engine();
        let missing = engine.missing(self.principal(), scope, keys);
        if missing.is_empty() {
            return Ok(());
        }
        let shown: Vec<String> = missing.iter().take(20).map(|m| format!("`{m}`")).collect();
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "escalation",
            format!(
                "{what} would grant {} permission(s) that `{}` does not hold in {scope}: {}{}; only grant what you hold",
                missing.len(),
                self.principal(),
                shown.join(", "),
                if missing.len() > 20 { ", ..." } else { "" }
            ),
        )
        .with_details(json!({"missing": missing})))
    }
}

impl Caller {
    /// Whether the caller holds `permission` in `scope` (for offering only what it may do).
    pub fn can(&self, state: &AppState, scope: Scope, permission: &str) -> bool {
        state.engine().check(self.principal(), permission, scope)
    }

    /// Whether the caller is an Owner of `scope`: it holds the scope's Owner role (directly or
    /// through a team), or, for a project, the org's Owner role.
    pub fn is_owner(&self, state: &AppState, scope: Scope) -> bool {
        let engine = state.engine();
        let cat = state.catalogue();
        let org_owner =
            engine.holds_predefined(self.principal(), scope.org_id.0, &cat.org.owner_role);
        match scope.project_id {
            None => org_owner,
            Some(p) => {
                org_owner || engine.holds_predefined(self.principal(), p.0, &cat.project.owner_role)
            }
        }
    }
}
