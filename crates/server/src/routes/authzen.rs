//! The AuthZEN Access Evaluation API 1.0, mapped onto the same engine: the subject is a
//! principal (`type` user, team or api_key), the action's name a permission, the resource
//! a project or the organization.

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use warden_engine::Index;
use warden_model::{OrgId, Principal, ProjectId, Scope};

use super::decisions::{not_reached, MAX_BATCH};
use super::{op, Route};
use crate::auth::{Caller, Named};
use crate::error::ApiError;
use crate::extract::Json;
use crate::respond;
use crate::state::AppState;

pub fn routes() -> Vec<Route> {
    vec![
        op(
            Method::GET,
            "/.well-known/authzen-configuration",
            "authzen",
            "AuthZEN policy decision point metadata",
            configuration,
        )
        .public()
        .reply::<Configuration>(200),
        op(
            Method::POST,
            "/access/v1/evaluation",
            "authzen",
            "AuthZEN access evaluation",
            evaluation,
        )
        .perm("access:check")
        .body::<Evaluation>()
        .reply::<Decision>(200),
        op(
            Method::POST,
            "/access/v1/evaluations",
            "authzen",
            "AuthZEN access evaluations (batch)",
            evaluations,
        )
        .perm("access:check")
        .body::<Evaluations>()
        .reply::<Decisions>(200),
    ]
}

/// Where the decision endpoints are.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Configuration {
    pub policy_decision_point: String,
    pub access_evaluation_endpoint: String,
    pub access_evaluations_endpoint: String,
}

async fn configuration(headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base = format!("http://{host}");
    let body = Configuration {
        access_evaluation_endpoint: format!("{base}/access/v1/evaluation"),
        access_evaluations_endpoint: format!("{base}/access/v1/evaluations"),
        policy_decision_point: base,
    };
    respond::json(StatusCode::OK, &body, None, None)
}

/// `{type, id}`: a user, team or api_key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Subject {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub properties: Option<Map<String, Value>>,
}

/// `{name}`: a permission key such as `dataset:read`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Action {
    pub name: String,
    #[serde(default)]
    pub properties: Option<Map<String, Value>>,
}

/// `{type, id}`: `project` or `organization`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub properties: Option<Map<String, Value>>,
}

/// One access evaluation request.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Evaluation {
    pub subject: Subject,
    pub action: Action,
    pub resource: Resource,
    /// `min_revision` here makes the answer wait for that revision (503 if it is not reached
    /// within the configured wait, 422 if no such revision has been written).
    #[serde(default)]
    pub context: Option<Map<String, Value>>,
}

/// One evaluation of a batch: what it omits comes from the request's defaults.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct PartialEvaluation {
    pub subject: Option<Subject>,
    pub action: Option<Action>,
    pub resource: Option<Resource>,
    #[serde(default)]
    pub context: Option<Map<String, Value>>,
}

/// Options of a batch.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct EvaluationsOptions {
    /// `execute_all` (default), `deny_on_first_deny` or `permit_on_first_permit`.
    pub evaluations_semantic: Option<String>,
}

/// Many evaluations, with defaults.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Evaluations {
    pub subject: Option<Subject>,
    pub action: Option<Action>,
    pub resource: Option<Resource>,
    #[serde(default)]
    pub context: Option<Map<String, Value>>,
    #[serde(default)]
    pub evaluations: Vec<PartialEvaluation>,
    #[serde(default)]
    pub options: Option<EvaluationsOptions>,
}

/// A decision.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Decision {
    pub decision: bool,
    /// `{revision}`, and `{error}` when the request could not be evaluated.
    pub context: Value,
}

/// The decisions of a batch, in order.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Decisions {
    pub evaluations: Vec<Decision>,
}

fn principal_of(s: &Subject) -> Result<Principal, ApiError> {
    let kind = match s.kind.as_str() {
        "user" | "team" | "api_key" => s.kind.as_str(),
        other => {
            return Err(ApiError::bad_request(
                "invalid_subject",
                format!("`subject.type` must be `user`, `team` or `api_key`, not `{other}`"),
            ))
        }
    };
    format!("{kind}:{}", s.id)
        .parse::<Principal>()
        .map_err(|e| ApiError::bad_request("invalid_subject", format!("`subject.id`: {e}")))
}

fn scope_of(r: &Resource) -> Result<Named, ApiError> {
    match r.kind.as_str() {
        "project" => Ok(Named::Project(ProjectId::parse(&r.id)?)),
        "organization" | "org" => Ok(Named::Org(OrgId::parse(&r.id)?)),
        other => Err(ApiError::bad_request(
            "invalid_resource",
            format!("`resource.type` must be `project` or `organization`, not `{other}`"),
        )),
    }
}

fn min_revision(ctx: Option<&Map<String, Value>>) -> Result<Option<u64>, ApiError> {
    match ctx.and_then(|c| c.get("min_revision")) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_context",
                "`context.min_revision` must be a revision number",
            )
        }),
    }
}

async fn snapshot(
    state: &AppState,
    caller: &Caller,
    min: Option<u64>,
) -> Result<std::sync::Arc<Index>, ApiError> {
    let org = Scope::org(caller.org_id);
    if !state
        .engine()
        .check(caller.principal(), "access:check", org)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "`{}` lacks the permission `access:check` in {org}",
                caller.principal()
            ),
        ));
    }
    match min {
        None => Ok(state.engine()),
        Some(rev) => match state.at_least(rev).await? {
            Some(snapshot) => Ok(snapshot),
            None => Err(not_reached(state, rev, "context.min_revision")
                .await
                .unwrap_or_else(|| {
                    ApiError::unavailable(format!(
                        "not yet consistent: revision {rev} has not been applied yet; retry shortly"
                    ))
                    .with_code("not_consistent")
                })),
        },
    }
}

/// Decides one fully given evaluation; errors of the question itself become a denial.
fn decide(
    state: &AppState,
    caller: &Caller,
    index: &Index,
    s: &Subject,
    a: &Action,
    r: &Resource,
) -> Decision {
    let revision = index.revision();
    let outcome = (|| -> Result<bool, ApiError> {
        let principal = principal_of(s)?;
        let scope = caller.resolve_named(state, scope_of(r)?)?;
        Ok(index.check(principal, &a.name, scope))
    })();
    match outcome {
        Ok(decision) => Decision {
            decision,
            context: json!({"revision": revision}),
        },
        Err(e) => Decision {
            decision: false,
            context: json!({"revision": revision, "error": {"code": e.code, "message": e.message}}),
        },
    }
}

async fn evaluation(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Evaluation>,
) -> Result<Response, ApiError> {
    // A malformed question is a 400; a well-formed one about something unknown is a denial.
    principal_of(&body.subject)?;
    scope_of(&body.resource)?;
    let index = snapshot(&state, &caller, min_revision(body.context.as_ref())?).await?;
    let d = decide(
        &state,
        &caller,
        &index,
        &body.subject,
        &body.action,
        &body.resource,
    );
    Ok(respond::json(StatusCode::OK, &d, None, None))
}

async fn evaluations(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Evaluations>,
) -> Result<Response, ApiError> {
    let semantic = body
        .options
        .as_ref()
        .and_then(|o| o.evaluations_semantic.as_deref())
        .unwrap_or("execute_all");
    if ![
        "execute_all",
        "deny_on_first_deny",
        "permit_on_first_permit",
    ]
    .contains(&semantic)
    {
        return Err(ApiError::bad_request(
            "invalid_options",
            format!("`options.evaluations_semantic` must be `execute_all`, `deny_on_first_deny` or `permit_on_first_permit`, not `{semantic}`"),
        ));
    }
    if body.evaluations.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "invalid_batch",
            format!(
                "at most {MAX_BATCH} evaluations per request; got {}",
                body.evaluations.len()
            ),
        ));
    }
    let index = snapshot(&state, &caller, min_revision(body.context.as_ref())?).await?;
    // With no `evaluations`, the request itself is the one evaluation.
    let items: Vec<PartialEvaluation> = if body.evaluations.is_empty() {
        vec![PartialEvaluation::default()]
    } else {
        body.evaluations
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let (Some(s), Some(a), Some(r)) = (
            item.subject.as_ref().or(body.subject.as_ref()),
            item.action.as_ref().or(body.action.as_ref()),
            item.resource.as_ref().or(body.resource.as_ref()),
        ) else {
            return Err(ApiError::bad_request(
                "invalid_evaluation",
                format!("evaluations[{i}] has no subject, action or resource, and the request gives no default for it"),
            ));
        };
        let d = decide(&state, &caller, &index, s, a, r);
        let stop = match semantic {
            "deny_on_first_deny" => !d.decision,
            "permit_on_first_permit" => d.decision,
            _ => false,
        };
        out.push(d);
        if stop {
            break;
        }
    }
    Ok(respond::json(
        StatusCode::OK,
        &Decisions { evaluations: out },
        None,
        None,
    ))
}
