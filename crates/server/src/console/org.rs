//! The organization's overview: the signed-in user's role, the projects, and the
//! new-project form.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use warden_store::Page;

use super::here::{Here, Post};
use super::{error_page, render, see_other, show, url_component, Chrome, FormState, Head};
use crate::error::ApiError;
use crate::routes::projects::ProjectCreate;
use crate::state::AppState;

/// A project as the overview lists it.
pub struct ProjectRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub restricted: bool,
}

#[derive(Template)]
#[template(path = "console/org.html")]
struct OrgPage {
    chrome: Chrome,
    head: Head,
    role: String,
    projects: Vec<ProjectRow>,
    /// Where the next page of projects starts, when there are more.
    more: Option<String>,
    can_create_project: bool,
    csrf: String,
    form: FormState,
}

#[derive(Deserialize, Default)]
pub struct OrgQuery {
    created: Option<String>,
    deleted: Option<String>,
    after: Option<uuid::Uuid>,
}

/// Projects listed per page.
const PROJECTS_PAGE: u32 = 100;

async fn org_view(
    state: &AppState,
    here: &Here,
    after: Option<uuid::Uuid>,
    form: FormState,
) -> Result<OrgPage, ApiError> {
    let scope = here.scope;
    let caller = &here.s.caller;
    caller
        .authorize_in(state, scope, "organization:read")
        .await?;
    let role = match state.store().membership(scope, caller.principal()).await? {
        Some(id) => state
            .store()
            .get_role(scope, id)
            .await
            .map(|r| r.name)
            .unwrap_or_else(|_| "unknown".into()),
        None => "none of your own (your teams give you access)".into(),
    };
    let (projects, more) = if here.can(state, "project:read") {
        let page = Page {
            limit: PROJECTS_PAGE,
            after,
        };
        let found = state.store().list_projects(caller.org_id, page).await?;
        let rows = found
            .items
            .into_iter()
            .map(|p| ProjectRow {
                id: p.id.to_string(),
                name: p.name,
                description: p.description,
                restricted: p.restricted,
            })
            .collect();
        (rows, found.next_after.map(|a| a.to_string()))
    } else {
        (Vec::new(), None)
    };
    Ok(OrgPage {
        chrome: here.chrome(),
        head: here.head(state, "", here.org_name.clone()),
        role,
        projects,
        more,
        can_create_project: here.can(state, "project:create"),
        csrf: here.s.csrf.clone(),
        form,
    })
}

pub async fn org_page(
    State(state): State<AppState>,
    here: Here,
    Query(q): Query<OrgQuery>,
) -> Response {
    match org_view(&state, &here, q.after, FormState::default()).await {
        Ok(mut page) => {
            page.head.notice = match (q.created, q.deleted) {
                (Some(name), _) => Some(format!("Project “{name}” created.")),
                (None, Some(name)) => Some(format!("Project “{name}” deleted.")),
                (None, None) => None,
            };
            render(StatusCode::OK, &page)
        }
        Err(e) => error_page(e),
    }
}

pub async fn create_project(State(state): State<AppState>, post: Post) -> Response {
    let Post { here, form } = post;
    let body = ProjectCreate {
        name: form.value("name").to_owned(),
        description: Some(form.value("description").to_owned()),
        restricted: false,
    };
    match crate::routes::projects::create_project(&state, &here.s.caller, here.scope, &body).await {
        Ok(w) => see_other(&format!(
            "/console/org?created={}",
            url_component(&w.value.name)
        )),
        Err(e) if super::is_form_refusal(&e) => {
            let fields = [("name", "name"), ("description", "description")];
            refused(&state, &here, form.refused(e, &fields, "name")).await
        }
        Err(e) => error_page(e),
    }
}

/// The overview again, with the refused form as the user filled it in (422).
async fn refused(state: &AppState, here: &Here, form: FormState) -> Response {
    show(
        StatusCode::UNPROCESSABLE_ENTITY,
        org_view(state, here, None, form).await,
    )
}
