//! A member's access: every permission it holds in the organization or a project, each
//! with the grants that give it (role, policy, and the team it came through), as the
//! decision API's effective permissions and explain answer them.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use warden_model::{Principal, Scope};

use super::here::Here;
use super::{show, Chrome, Head};
use crate::error::ApiError;
use crate::state::AppState;

/// One permission of the access page.
pub struct AccessRow {
    pub permission: String,
    /// Each grant, in words: "role Annotator (project), policy Annotator", "through team …".
    pub grants: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/access.html")]
struct AccessPage {
    chrome: Chrome,
    head: Head,
    who: String,
    place: String,
    revision: u64,
    rows: Vec<AccessRow>,
}

pub async fn access_page(
    State(state): State<AppState>,
    here: Here,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    let principal = params.get("principal").map(String::as_str).unwrap_or("");
    show(StatusCode::OK, access_view(&state, &here, principal).await)
}

/// Names of roles, policies and teams, each read once per page.
struct Names<'a> {
    state: &'a AppState,
    org: warden_model::OrgId,
    known: HashMap<uuid::Uuid, String>,
}

impl Names<'_> {
    async fn role(&mut self, scope: Scope, id: warden_model::RoleId) -> String {
        if let Some(n) = self.known.get(&id.0) {
            return n.clone();
        }
        let n = self
            .state
            .store()
            .get_role(scope, id)
            .await
            .map(|r| r.name)
            .unwrap_or_else(|_| id.to_string());
        self.known.insert(id.0, n.clone());
        n
    }

    async fn policy(&mut self, scope: Scope, id: warden_model::PolicyId) -> String {
        if let Some(n) = self.known.get(&id.0) {
            return n.clone();
        }
        let n = self
            .state
            .store()
            .get_policy(scope, id)
            .await
            .map(|p| p.name)
            .unwrap_or_else(|_| id.to_string());
        self.known.insert(id.0, n.clone());
        n
    }

    async fn team(&mut self, id: warden_model::TeamId) -> String {
        if let Some(n) = self.known.get(&id.0) {
            return n.clone();
        }
        let n = self
            .state
            .store()
            .get_team(self.org, &id.to_string())
            .await
            .map(|t| t.name)
            .unwrap_or_else(|_| id.to_string());
        self.known.insert(id.0, n.clone());
        n
    }
}

async fn access_view(
    state: &AppState,
    here: &Here,
    principal: &str,
) -> Result<AccessPage, ApiError> {
    // As the API's effective permissions and explain: `access:check` in the org.
    here.s
        .caller
        .authorize_in(state, Scope::org(here.scope.org_id), "access:check")
        .await?;
    let principal: Principal = principal
        .parse()
        .map_err(|e| ApiError::bad_request("invalid_principal", format!("{e}")))?;
    let store = state.store();
    let who = match store.get_member(here.scope, principal).await {
        Ok(m) => super::members::label(&m),
        Err(_) => principal.to_string(),
    };
    let snapshot = state.engine();
    let mut names = Names {
        state,
        org: here.scope.org_id,
        known: HashMap::new(),
    };
    let mut rows = Vec::new();
    for permission in snapshot.effective(principal, here.scope) {
        let explanation = snapshot.explain(principal, permission, here.scope);
        let mut grants = Vec::new();
        for g in explanation.grants {
            let place = if g.scope.project_id.is_some() {
                "project"
            } else {
                "organization"
            };
            let mut words = format!("role {} ({place})", names.role(g.scope, g.role_id).await);
            if let Some(pid) = g.policy_id {
                words.push_str(&format!(", policy {}", names.policy(g.scope, pid).await));
            }
            if let Some(team) = g.via_team {
                words.push_str(&format!(", through team {}", names.team(team).await));
            }
            grants.push(words);
        }
        rows.push(AccessRow {
            permission: permission.to_owned(),
            grants,
        });
    }
    Ok(AccessPage {
        chrome: here.chrome(),
        head: here.head(state, "members", format!("Access of {who}")),
        place: here.place(),
        who,
        revision: snapshot.revision(),
        rows,
    })
}
