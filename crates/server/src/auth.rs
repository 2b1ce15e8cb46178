//! Authentication (who is calling) and authorization (may it do this here).
//!
//! Every management handler takes a [`Caller`] and obtains the scope it acts on only
//! through [`Caller::authorize`], which resolves the scope inside the caller's org (a scope
//! of another org is reported as not found, never as forbidden) and checks the permission
//! in the engine. A handler cannot reach the store's scoped methods without an
//! [`Authorized`] value, so it cannot skip the check.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde_json::json;
use warden_model::{ApiKeyId, OrgId, Principal, ProjectId, Scope};

use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated API key.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: ApiKeyId,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub name: String,
}

impl Caller {
    /// The principal the engine knows the caller as.
    pub fn principal(&self) -> Principal {
        Principal::ApiKey(self.key_id)
    }

    /// The actor written in the change log.
    pub fn actor(&self) -> String {
        self.principal().to_string()
    }
}

fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
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
        let key = state.store().find_api_key(secret).await?.ok_or_else(|| {
            ApiError::unauthenticated("this API key is not valid: it is unknown or was deleted")
        })?;
        if !key.valid {
            return Err(ApiError::unauthenticated(
                "this API key has been invalidated; use another key",
            )
            .with_details(json!({"api_key_id": key.id})));
        }
        let now = time::OffsetDateTime::now_utc();
        if let Some(exp) = key.expires_at.as_deref() {
            if parse_time(exp).is_some_and(|t| t <= now) {
                return Err(ApiError::unauthenticated(format!(
                    "this API key expired at {exp}; create a new key"
                ))
                .with_details(json!({"api_key_id": key.id, "expired_at": exp})));
            }
        }
        // Recording use costs a write; once a minute per key is precise enough.
        let stale = key
            .last_used_at
            .as_deref()
            .and_then(parse_time)
            .is_none_or(|t| now - t > time::Duration::minutes(1));
        if stale {
            let store = state.store().clone();
            let id = key.id;
            tokio::spawn(async move {
                if let Err(e) = store.touch_api_key(id).await {
                    tracing::warn!(error = %e, "could not record API key use");
                }
            });
        }
        // A key made by another process (`warden bootstrap`) may be newer than the engine.
        if !state.engine().has_api_key(key.id) {
            state.catch_up().await?;
        }
        Ok(Caller {
            key_id: key.id,
            org_id: key.org_id,
            project_id: key.project_id,
            name: key.name,
        })
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

/// The scope named by the path: `{org}` or `{project}`.
#[derive(Debug, Clone, Copy)]
pub enum ScopeParam {
    Org(OrgId),
    Project(ProjectId),
}

impl<S: Send + Sync> FromRequestParts<S> for ScopeParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid_path", "the path could not be read"))?;
        for (name, value) in &params {
            match name {
                "org" => return Ok(ScopeParam::Org(OrgId::parse(value)?)),
                "project" => return Ok(ScopeParam::Project(ProjectId::parse(value)?)),
                _ => {}
            }
        }
        Err(ApiError::bad_request(
            "invalid_path",
            "this route names no organization or project",
        ))
    }
}

impl Caller {
    /// Resolves `param` inside the caller's org (404 otherwise) without checking a permission.
    pub fn resolve(&self, state: &AppState, param: ScopeParam) -> Result<Scope, ApiError> {
        match param {
            ScopeParam::Org(org) if org == self.org_id => Ok(Scope::org(org)),
            ScopeParam::Org(org) => Err(ApiError::not_found("organization", org)),
            ScopeParam::Project(p) => match state.engine().project_org(p) {
                Some(org) if org == self.org_id => Ok(Scope::project(org, p)),
                _ => Err(ApiError::not_found("project", p)),
            },
        }
    }

    /// Checks that the caller holds `permission` in the scope named by `param`.
    pub fn authorize(
        &self,
        state: &AppState,
        param: ScopeParam,
        permission: &str,
    ) -> Result<Authorized, ApiError> {
        let scope = self.resolve(state, param)?;
        if state.engine().check(self.principal(), permission, scope) {
            Ok(Authorized { scope })
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this API key lacks the permission `{permission}` in {scope}; ask an administrator for a role that grants it"),
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
                "{what} would grant {} permission(s) this API key does not hold in {scope}: {}{}; only grant what you hold",
                missing.len(),
                shown.join(", "),
                if missing.len() > 20 { ", ..." } else { "" }
            ),
        )
        .with_details(json!({"missing": missing})))
    }
}
