//! The audit log of an org (its projects included) or of one project.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_model::{OrgId, ProjectId};
use warden_store::{AuditEvent, AuditFilter};

use super::{op, Route};
use crate::auth::{Caller, ScopeParam};
use crate::error::ApiError;
use crate::extract::{Query, DEFAULT_PAGE, MAX_PAGE};
use crate::respond;
use crate::state::AppState;

pub fn routes() -> Vec<Route> {
    vec![
        op(
            Method::GET,
            "/v1/orgs/{org}/audit-events",
            "audit",
            "The organization's changes, its projects' included, newest first",
            list,
        )
        .perm("audit_log:read")
        .query::<AuditQuery>()
        .reply::<AuditList>(200),
        op(
            Method::GET,
            "/v1/projects/{project}/audit-events",
            "audit",
            "The project's changes, newest first",
            list,
        )
        .perm("audit_log:read")
        .query::<AuditQuery>()
        .reply::<AuditList>(200),
    ]
}

/// Filters of the audit log.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// How many events to return: 1 to 100, default 50.
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Who made the change: `api_key:<id>`, `user:<id>`, `system:bootstrap`.
    pub actor: Option<String>,
    /// What was done: `role.create`, `member.set`, ...
    pub action: Option<String>,
    /// What it was done to: `role:<id>`, `user:<id>`, ...
    pub target: Option<String>,
    /// Only changes at or after this revision.
    pub since_revision: Option<u64>,
    /// Only changes at or before this revision.
    pub until_revision: Option<u64>,
}

/// One change.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditEventView {
    pub revision: u64,
    pub at: String,
    pub actor: String,
    pub org_id: Option<OrgId>,
    pub project_id: Option<ProjectId>,
    pub action: String,
    pub target: String,
    /// The object before the change (`null` for a creation).
    pub before: Option<serde_json::Value>,
    /// The object after the change (`null` for a deletion).
    pub after: Option<serde_json::Value>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        AuditEventView {
            revision: e.revision,
            at: e.at,
            actor: e.actor,
            org_id: e.org_id,
            project_id: e.project_id,
            action: e.action,
            target: e.target,
            before: e.before,
            after: e.after,
        }
    }
}

/// A page of the audit log.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditList {
    pub items: Vec<AuditEventView>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

fn encode(rev: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("r:{rev}"))
}

fn decode(c: &str) -> Option<u64> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("r:")?
        .parse()
        .ok()
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let auth = caller.authorize(&state, param, "audit_log:read").await?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("`limit` must be between 1 and {MAX_PAGE}; it was {limit}"),
        )
        .with_field("limit"));
    }
    let before = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(decode(c).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "`cursor` is not a cursor this API returned; pass the `next_cursor` of the previous page unchanged")
        })?),
    };
    let filter = AuditFilter {
        actor: q.actor.clone(),
        action: q.action.clone(),
        target: q.target.clone(),
        since_revision: q.since_revision,
        until_revision: q.until_revision,
    };
    let scope = auth.scope();
    let mut items = state
        .store()
        .list_audit(scope.org_id, scope.project_id, &filter, before, limit + 1)
        .await?;
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if has_more {
        items.last().map(|e| encode(e.revision))
    } else {
        None
    };
    let body = AuditList {
        items: items.into_iter().map(AuditEventView::from).collect(),
        next_cursor,
        has_more,
    };
    Ok(respond::json(StatusCode::OK, &body, None, None))
}
