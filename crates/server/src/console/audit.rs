//! The audit log of the organization (every change in it) or of a project, newest first,
//! people shown by their email and targets by their name, filtered by action.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use warden_model::Principal;

use super::here::Here;
use super::{show, url_component, Chrome, Head};
use crate::error::ApiError;
use crate::state::AppState;

/// One change of the audit page.
pub struct AuditRow {
    pub revision: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    chrome: Chrome,
    head: Head,
    place: String,
    events: Vec<AuditRow>,
    action: String,
    /// The link to older changes, when there are more.
    older: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    before: Option<u64>,
    action: Option<String>,
}

/// Changes shown per page.
const AUDIT_PAGE: u32 = 50;

pub async fn audit_page(
    State(state): State<AppState>,
    here: Here,
    Query(q): Query<AuditQuery>,
) -> Response {
    show(StatusCode::OK, audit_view(&state, &here, q).await)
}

async fn audit_view(state: &AppState, here: &Here, q: AuditQuery) -> Result<AuditPage, ApiError> {
    here.s
        .caller
        .authorize_in(state, here.scope, "audit_log:read")
        .await?;
    let store = state.store();
    let action = q.action.unwrap_or_default().trim().to_owned();
    let filter = warden_store::AuditFilter {
        action: (!action.is_empty()).then(|| action.clone()),
        ..warden_store::AuditFilter::default()
    };
    let mut events = store
        .list_audit(
            here.scope.org_id,
            here.scope.project_id,
            &filter,
            q.before,
            AUDIT_PAGE + 1,
        )
        .await?;
    let older = if events.len() > AUDIT_PAGE as usize {
        events.truncate(AUDIT_PAGE as usize);
        events.last().map(|e| {
            format!(
                "{}/audit?before={}&action={}",
                here.base(),
                e.revision,
                url_component(&action)
            )
        })
    } else {
        None
    };
    // Actors are principals; show people by their email where the org knows them.
    let mut people: HashMap<String, String> = HashMap::new();
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        let actor = match people.get(&e.actor) {
            Some(a) => a.clone(),
            None => {
                let shown = match e.actor.parse::<Principal>() {
                    Ok(Principal::User(u)) => store
                        .get_org_user(here.scope.org_id, u)
                        .await
                        .map(|u| u.email)
                        .unwrap_or_else(|_| e.actor.clone()),
                    _ => e.actor.clone(),
                };
                people.insert(e.actor.clone(), shown.clone());
                shown
            }
        };
        // The target by its name where the entry's document has one (`role “Annotator”`).
        let name = e
            .after
            .as_ref()
            .or(e.before.as_ref())
            .and_then(|d| d.get("name").or_else(|| d.get("email")))
            .and_then(|v| v.as_str());
        let target = match (name, e.target.split_once(':')) {
            (Some(n), Some((kind, _))) => format!("{} “{n}”", kind.replace('_', " ")),
            _ => e.target.clone(),
        };
        rows.push(AuditRow {
            revision: e.revision,
            at: e.at.get(..19).unwrap_or(&e.at).replace('T', " "),
            actor,
            action: e.action,
            target,
        });
    }
    Ok(AuditPage {
        chrome: here.chrome(),
        head: here.head(state, "audit", "Audit log"),
        place: here.place(),
        events: rows,
        action,
        older,
    })
}
