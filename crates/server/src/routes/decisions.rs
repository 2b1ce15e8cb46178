//! The decision API: check, batch check, explain, effective permissions and who-can,
//! answered from the engine's snapshot. Every answer states the revision it was made at.
//!
//! Authorized by `access:check` in the caller's org; it answers only about scopes of that
//! org (another org's project is 404) and principals of another org are simply not allowed.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use warden_engine::{Denial, Index};
use warden_model::{OrgId, PolicyId, Principal, ProjectId, RoleId, Scope, ScopeKind, TeamId};

use super::{op, Route};
use crate::auth::{Caller, Named, ScopeParam};
use crate::error::ApiError;
use crate::extract::{parse_json, Json, JsonBytes, Query, DEFAULT_PAGE, MAX_PAGE};
use crate::respond;
use crate::state::AppState;

/// The most checks one batch may hold.
pub const MAX_BATCH: usize = 1000;

pub fn routes() -> Vec<Route> {
    vec![
        op(Method::POST, "/v1/check", "decisions", "May this principal do this in this project or org?", check)
            .perm("access:check")
            .body::<CheckRequest>()
            .reply::<CheckResponse>(200),
        op(
            Method::POST,
            "/v1/check/constant",
            "decisions",
            "Benchmark floor: authenticated and read like /v1/check, but always answers allowed at revision 0 without deciding",
            constant,
        )
        .perm("access:check")
        .body::<CheckRequest>()
        .reply::<CheckResponse>(200),
        op(Method::POST, "/v1/check/batch", "decisions", "Up to 1,000 checks, all answered at one revision", batch)
            .perm("access:check")
            .body::<BatchRequest<'static>>()
            .reply::<BatchResponse>(200),
        op(Method::POST, "/v1/explain", "decisions", "A check with every grant that gives it, or why nothing does", explain)
            .perm("access:check")
            .body::<CheckRequest>()
            .reply::<ExplainResponse>(200),
        op(
            Method::GET,
            "/v1/orgs/{org}/principals/{principal}/permissions",
            "decisions",
            "Every permission a principal holds in the organization",
            effective,
        )
        .perm("access:check")
        .reply::<EffectiveResponse>(200),
        op(
            Method::GET,
            "/v1/projects/{project}/principals/{principal}/permissions",
            "decisions",
            "Every permission a principal holds in the project (org roles and teams included)",
            effective,
        )
        .perm("access:check")
        .reply::<EffectiveResponse>(200),
        op(
            Method::GET,
            "/v1/orgs/{org}/permissions/{permission}/principals",
            "decisions",
            "Who holds a permission in the organization",
            who_can,
        )
        .perm("access:check")
        .query::<WhoCanQuery>()
        .reply::<WhoCanResponse>(200),
        op(
            Method::GET,
            "/v1/projects/{project}/permissions/{permission}/principals",
            "decisions",
            "Who holds a permission in the project: users (directly and through teams), teams and API keys",
            who_can,
        )
        .perm("access:check")
        .query::<WhoCanQuery>()
        .reply::<WhoCanResponse>(200),
    ]
}

/// One question, in exactly one scope: `project_id` or `org_id`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["project_id"], "properties": {"project_id": {"type": "string"}}},
    {"required": ["org_id"], "properties": {"org_id": {"type": "string"}}},
]))]
pub struct CheckRequest {
    /// `user:<id>`, `team:<id>` or `api_key:<id>`.
    pub principal: String,
    /// A `resource:action` key or a permission id.
    pub permission: String,
    /// The project to decide in (give this or `org_id`).
    pub project_id: Option<String>,
    /// The organization to decide in (give this or `project_id`).
    pub org_id: Option<String>,
    /// Answer only once the engine has applied at least this revision (a write's
    /// `Warden-Revision`); 503 if it has not within the configured wait, 422 if no such
    /// revision has been written.
    pub min_revision: Option<u64>,
}

/// The answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckResponse {
    pub allowed: bool,
    /// The revision the decision was made at.
    pub revision: u64,
}

/// One question of a batch, in exactly one scope: `project_id` or `org_id`. Its strings
/// borrow from the request body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["project_id"], "properties": {"project_id": {"type": "string"}}},
    {"required": ["org_id"], "properties": {"org_id": {"type": "string"}}},
]))]
pub struct BatchItem<'a> {
    #[serde(borrow)]
    pub principal: Cow<'a, str>,
    #[serde(borrow)]
    pub permission: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub project_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub org_id: Option<Cow<'a, str>>,
}

/// An optional string that borrows from the body unless it holds escapes (serde borrows a
/// bare `Cow<str>` field, but would copy one inside an `Option`).
fn borrowed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Text<'de>>::deserialize(d)?.map(|t| t.0))
}

/// Many questions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest<'a> {
    /// 1 to 1,000 checks.
    #[serde(borrow)]
    pub checks: Vec<BatchItem<'a>>,
    /// Answer only once the engine has applied at least this revision (a write's
    /// `Warden-Revision`); 503 if it has not within the configured wait, 422 if no such
    /// revision has been written.
    pub min_revision: Option<u64>,
}

/// The answer to one question of a batch.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchResult {
    pub allowed: bool,
    /// Why the question could not be answered (such as a project that is not found); the
    /// answer is then `allowed: false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemError>,
}

/// An error of one item.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ItemError {
    pub code: String,
    pub message: String,
}

/// The answers, in the order of the questions, all at one revision.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchResponse {
    pub results: Vec<BatchResult>,
    pub revision: u64,
}

/// Parses a principal; `field` names it in the error (built only then).
fn parse_principal(raw: &str, field: impl FnOnce() -> String) -> Result<Principal, ApiError> {
    raw.parse::<Principal>().map_err(|e| {
        let field = field();
        ApiError::bad_request("invalid_principal", format!("`{field}`: {e}"))
            .with_details(json!({"field": field}))
    })
}

fn unknown_permission(raw: &str, field: String) -> ApiError {
    ApiError::bad_request(
        "unknown_permission",
        format!("`{field}`: `{}` is not a permission of the catalogue; use a `resource:action` key or id from GET .../permissions", raw.chars().take(80).collect::<String>()),
    )
    .with_details(json!({"field": field}))
}

/// Resolves a permission given by key or id to its key (either scope's ids are accepted).
fn permission_key(
    state: &AppState,
    raw: &str,
    field: impl FnOnce() -> String,
) -> Result<String, ApiError> {
    let cat = state.catalogue();
    cat.org
        .find(raw)
        .or_else(|| cat.project.find(raw))
        .map(|p| p.key.clone())
        .ok_or_else(|| unknown_permission(raw, field()))
}

/// Resolves a permission given by key or id to the engine's bit for it, without allocating
/// when it is given by key.
fn permission_bit(
    state: &AppState,
    index: &Index,
    raw: &str,
    field: impl FnOnce() -> String,
) -> Result<usize, ApiError> {
    if let Some(bit) = index.permission_bit(raw) {
        return Ok(bit);
    }
    let cat = state.catalogue();
    cat.org
        .find(raw)
        .or_else(|| cat.project.find(raw))
        .and_then(|p| index.permission_bit(&p.key))
        .ok_or_else(|| unknown_permission(raw, field()))
}

/// The scope a question names; `prefix` (built only for an error) locates it.
fn named_scope(
    project_id: Option<&str>,
    org_id: Option<&str>,
    prefix: impl FnOnce() -> String,
) -> Result<Named, ApiError> {
    match (project_id, org_id) {
        (Some(p), None) => Ok(Named::Project(ProjectId::parse(p)?)),
        (None, Some(o)) => Ok(Named::Org(OrgId::parse(o)?)),
        _ => {
            let prefix = prefix();
            Err(ApiError::bad_request(
                "invalid_scope",
                format!("give exactly one of `{prefix}project_id` and `{prefix}org_id`"),
            ))
        }
    }
}

/// Checks that the caller may ask, and waits for `min_revision`.
async fn decision_snapshot(
    state: &AppState,
    caller: &Caller,
    min_revision: Option<u64>,
) -> Result<Arc<Index>, ApiError> {
    let org = Scope::org(caller.org_id);
    let snapshot = state.engine();
    if !snapshot.check(caller.principal(), "access:check", org) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "`{}` lacks the permission `access:check` in {org}; ask for a role that grants it",
                caller.principal()
            ),
        )
        .with_details(json!({"missing": ["access:check"]})));
    }
    match min_revision {
        None => Ok(snapshot),
        Some(rev) if snapshot.revision() >= rev => Ok(snapshot),
        Some(rev) => match state.at_least(rev).await? {
            Some(snapshot) => Ok(snapshot),
            None => Err(not_reached(state, rev, "min_revision").await.unwrap_or_else(|| {
                ApiError::unavailable(format!(
                    "not yet consistent: this server has applied revision {} and `min_revision` is {rev}; retry shortly",
                    state.engine().revision()
                ))
                .with_code("not_consistent")
            })),
        },
    }
}

/// Why a `min_revision` was not reached within the wait, when retrying cannot help: no such
/// revision has been written (422 `unknown_revision`, naming `field`). `None` when it has
/// been written but is not applied here yet, or the database cannot tell: then 503
/// `not_consistent`, to retry.
pub(crate) async fn not_reached(state: &AppState, rev: u64, field: &str) -> Option<ApiError> {
    let written = state.store().revision().await.ok()?;
    (rev > written).then(|| {
        ApiError::unprocessable(
            "unknown_revision",
            format!(
                "`{field}` is {rev}, but no revision after {written} has been written: pass the `Warden-Revision` of a write"
            ),
        )
        .with_details(json!({"field": field, "latest": written}))
    })
}

/// The principal, permission key and scope of one question, read from its body.
fn question(state: &AppState, body: &CheckRequest) -> Result<(Principal, String, Named), ApiError> {
    let principal = parse_principal(&body.principal, || "principal".into())?;
    let permission = permission_key(state, &body.permission, || "permission".into())?;
    let named = named_scope(
        body.project_id.as_deref(),
        body.org_id.as_deref(),
        String::new,
    )?;
    Ok((principal, permission, named))
}

async fn check(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CheckRequest>,
) -> Result<Response, ApiError> {
    let (principal, permission, named) = question(&state, &body)?;
    let snapshot = decision_snapshot(&state, &caller, body.min_revision).await?;
    let scope = caller.resolve_in(&snapshot, named)?;
    let allowed = snapshot.check(principal, &permission, scope);
    Ok(respond::json(
        StatusCode::OK,
        &CheckResponse {
            allowed,
            revision: snapshot.revision(),
        },
        None,
        None,
    ))
}

/// The transport floor of `warden bench http`: the same router, middleware, authentication
/// extractor, authorization of the caller (`access:check`) and body extractor as
/// [`check`], and a constant answer instead of the decision. It answers nothing about
/// the model, so it leaks nothing.
async fn constant(
    State(state): State<AppState>,
    caller: Caller,
    Json(_body): Json<CheckRequest>,
) -> Result<Response, ApiError> {
    if !state.engine().check(
        caller.principal(),
        "access:check",
        Scope::org(caller.org_id),
    ) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "`{}` lacks the permission `access:check` in its organization; ask for a role that grants it",
                caller.principal()
            ),
        )
        .with_details(json!({"missing": ["access:check"]})));
    }
    Ok(respond::json(
        StatusCode::OK,
        &CheckResponse {
            allowed: true,
            revision: 0,
        },
        None,
        None,
    ))
}

async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    JsonBytes(bytes): JsonBytes,
) -> Result<Response, ApiError> {
    let body: BatchRequest = parse_json(&bytes)?;
    if body.checks.is_empty() || body.checks.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "invalid_batch",
            format!(
                "`checks` must hold 1 to {MAX_BATCH} checks; it holds {}",
                body.checks.len()
            ),
        ));
    }
    // Every question is read before any is answered, so that a malformed one refuses the
    // whole batch. Field names for messages are only built for an error.
    let index = state.engine();
    let mut questions = Vec::with_capacity(body.checks.len());
    for (i, item) in body.checks.iter().enumerate() {
        let principal = parse_principal(&item.principal, || format!("checks[{i}].principal"))?;
        let permission = permission_bit(&state, &index, &item.permission, || {
            format!("checks[{i}].permission")
        })?;
        let named = named_scope(item.project_id.as_deref(), item.org_id.as_deref(), || {
            format!("checks[{i}].")
        })?;
        questions.push((principal, permission, named));
    }
    let snapshot = decision_snapshot(&state, &caller, body.min_revision).await?;
    let results = questions
        .into_iter()
        .map(
            |(principal, bit, named)| match caller.resolve_in(&snapshot, named) {
                Ok(scope) => BatchResult {
                    allowed: snapshot.check_bit(principal, bit, scope),
                    error: None,
                },
                Err(e) => BatchResult {
                    allowed: false,
                    error: Some(ItemError {
                        code: e.code.to_owned(),
                        message: e.message,
                    }),
                },
            },
        )
        .collect();
    Ok(respond::json(
        StatusCode::OK,
        &BatchResponse {
            results,
            revision: snapshot.revision(),
        },
        None,
        None,
    ))
}

/// A role or policy as an explanation names it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NamedRef {
    pub id: uuid::Uuid,
    pub name: Option<String>,
}

/// One path that grants the permission: membership → role → policy → permission.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GrantView {
    /// The team the grant comes through; `null` for the principal's own membership.
    pub via_team: Option<TeamId>,
    /// Where the membership is: `org` or `project`.
    pub membership_scope: ScopeKind,
    pub role: NamedRef,
    /// The role's policy that holds the permission; `null` when the role holds it inline.
    pub policy: Option<NamedRef>,
    pub permission: String,
}

/// Why nothing grants the permission.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReasonView {
    /// `no_membership`, `not_in_role`, `restricted_project`, `invalid_principal`.
    pub code: String,
    pub message: String,
    /// The roles involved: those held (`not_in_role`) or ignored (`restricted_project`).
    pub roles: Vec<NamedRef>,
}

/// A decision with its reasons.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExplainResponse {
    pub allowed: bool,
    pub revision: u64,
    pub principal: String,
    pub permission: String,
    pub scope: ScopeKind,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub grants: Vec<GrantView>,
    /// Set when denied.
    pub reason: Option<ReasonView>,
}

async fn role_named(state: &AppState, scope: Scope, id: RoleId) -> NamedRef {
    let mut name = state.store().get_role(scope, id).await.ok().map(|r| r.name);
    if name.is_none() {
        name = state
            .store()
            .get_role(Scope::org(scope.org_id), id)
            .await
            .ok()
            .map(|r| r.name);
    }
    NamedRef { id: id.0, name }
}

async fn policy_named(state: &AppState, scope: Scope, id: PolicyId) -> NamedRef {
    NamedRef {
        id: id.0,
        name: state
            .store()
            .get_policy(scope, id)
            .await
            .ok()
            .map(|p| p.name),
    }
}

async fn explain(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CheckRequest>,
) -> Result<Response, ApiError> {
    let (principal, permission, named) = question(&state, &body)?;
    let snapshot = decision_snapshot(&state, &caller, body.min_revision).await?;
    let scope = caller.resolve_in(&snapshot, named)?;
    let e = snapshot.explain(principal, &permission, scope);
    let mut grants = Vec::new();
    for g in &e.grants {
        grants.push(GrantView {
            via_team: g.via_team,
            membership_scope: g.scope.kind(),
            role: role_named(&state, g.scope, g.role_id).await,
            policy: match g.policy_id {
                Some(p) => Some(policy_named(&state, g.scope, p).await),
                None => None,
            },
            permission: permission.clone(),
        });
    }
    let reason = match &e.denial {
        None => None,
        Some(d) => {
            let (code, message, roles): (&str, String, &[RoleId]) = match d {
                Denial::UnknownPermission => ("unknown_permission", format!("the catalogue has no permission `{permission}`"), &[]),
                Denial::UnknownScope => ("unknown_scope", "the scope does not exist".into(), &[]),
                Denial::InvalidPrincipal => ("invalid_principal", format!("`{principal}` is not a valid API key of this organization"), &[]),
                Denial::NoMembership => (
                    "no_membership",
                    format!("`{principal}` holds no role in {scope} or its organization, directly or through a team"),
                    &[],
                ),
                Denial::RestrictedProject { ignored_roles } => (
                    "restricted_project",
                    "the project is restricted: org roles other than Owner grant nothing there; give a project role".into(),
                    ignored_roles,
                ),
                Denial::NotInRole { roles } => (
                    "not_in_role",
                    format!("no role that `{principal}` holds here contains `{permission}`"),
                    roles,
                ),
            };
            let mut named = Vec::new();
            for r in roles {
                named.push(role_named(&state, scope, *r).await);
            }
            Some(ReasonView {
                code: code.to_owned(),
                message,
                roles: named,
            })
        }
    };
    let body = ExplainResponse {
        allowed: e.allowed,
        revision: snapshot.revision(),
        principal: principal.to_string(),
        permission,
        scope: scope.kind(),
        org_id: scope.org_id,
        project_id: scope.project_id,
        grants,
        reason,
    };
    Ok(respond::json(StatusCode::OK, &body, None, None))
}

/// Every permission a principal holds in a scope.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EffectiveResponse {
    pub principal: String,
    pub scope: ScopeKind,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub permissions: Vec<String>,
    pub revision: u64,
}

async fn effective(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let principal = parse_principal(
        params
            .get("principal")
            .map(String::as_str)
            .unwrap_or_default(),
        || "principal".into(),
    )?;
    let snapshot = decision_snapshot(&state, &caller, None).await?;
    let scope = param.scope();
    let body = EffectiveResponse {
        principal: principal.to_string(),
        scope: scope.kind(),
        org_id: scope.org_id,
        project_id: scope.project_id,
        permissions: snapshot
            .effective(principal, scope)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        revision: snapshot.revision(),
    };
    Ok(respond::json(StatusCode::OK, &body, None, None))
}

/// `?limit=&cursor=&principal_type=` of who-can.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhoCanQuery {
    /// How many principals to return: 1 to 100, default 50.
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only `user`, `team` or `api_key` principals.
    #[schemars(extend("enum" = ["user", "team", "api_key"]))]
    pub principal_type: Option<String>,
}

/// A principal that holds the permission.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HolderView {
    pub principal: String,
    pub principal_type: String,
    /// Holds it through a membership of its own.
    pub direct: bool,
    /// For users: the teams it holds it through.
    pub via_teams: Vec<TeamId>,
}

/// A page of who-can.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WhoCanResponse {
    pub items: Vec<HolderView>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
    pub revision: u64,
}

async fn who_can(
    State(state): State<AppState>,
    caller: Caller,
    param: ScopeParam,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<WhoCanQuery>,
) -> Result<Response, ApiError> {
    let permission = permission_key(
        &state,
        params
            .get("permission")
            .map(String::as_str)
            .unwrap_or_default(),
        || "permission".into(),
    )?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("`limit` must be between 1 and {MAX_PAGE}; it was {limit}"),
        )
        .with_field("limit"));
    }
    if let Some(t) = &q.principal_type {
        if !["user", "team", "api_key"].contains(&t.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("`principal_type` must be `user`, `team` or `api_key`, not `{t}`"),
            )
            .with_field("principal_type"));
        }
    }
    let after = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "`cursor` is not a cursor this API returned; pass the `next_cursor` of the previous page unchanged")
        })?),
    };
    let snapshot = decision_snapshot(&state, &caller, None).await?;
    let holders = snapshot.who_can(&permission, param.scope());
    let mut items: Vec<HolderView> = holders
        .into_iter()
        .filter(|h| {
            q.principal_type
                .as_deref()
                .is_none_or(|t| h.principal.kind() == t)
        })
        .filter(|h| after.is_none_or(|a| h.principal > a))
        .take(limit as usize + 1)
        .map(|h| HolderView {
            principal: h.principal.to_string(),
            principal_type: h.principal.kind().to_owned(),
            direct: h.direct,
            via_teams: h.via_teams,
        })
        .collect();
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if has_more {
        items.last().map(|h| encode_cursor(&h.principal))
    } else {
        None
    };
    let body = WhoCanResponse {
        items,
        next_cursor,
        has_more,
        revision: snapshot.revision(),
    };
    Ok(respond::json(StatusCode::OK, &body, None, None))
}

fn encode_cursor(principal: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("p:{principal}"))
}

fn decode_cursor(c: &str) -> Option<Principal> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("p:")?
        .parse()
        .ok()
}
