//! Project settings → General: name, description, restricted, and deleting the project.
//!
//! The form carries the version of the project it was opened on, so that a change made
//! meanwhile (by anyone, through any instance) is refused (412) and said, not overwritten.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::here::{Here, Post};
use super::{error_page, render, see_other, show, url_component, Chrome, FormState, Head};
use crate::error::ApiError;
use crate::routes::projects::ProjectUpdate;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/project_general.html")]
struct GeneralPage {
    chrome: Chrome,
    head: Head,
    can_update: bool,
    can_delete: bool,
    csrf: String,
    version: i64,
    form: FormState,
    /// The delete form, when refused.
    delete_form: FormState,
}

/// `refused` is a refused form with the version it was opened on, which it keeps: saving
/// again must not overwrite a change its user has not seen.
fn general_view(
    state: &AppState,
    here: &Here,
    refused: Option<(FormState, Option<i64>)>,
    delete_form: FormState,
) -> Result<GeneralPage, ApiError> {
    let project = here
        .project
        .as_ref()
        .ok_or_else(|| ApiError::not_found("project", "?"))?;
    let (form, version) = match refused {
        Some((form, version)) => (Some(form), version),
        None => (None, None),
    };
    let form = form.unwrap_or_else(|| {
        let mut values = vec![
            ("name", project.name.clone()),
            ("description", project.description.clone()),
        ];
        if project.restricted {
            values.push(("restricted", "on".to_owned()));
        }
        FormState::filled(values)
    });
    Ok(GeneralPage {
        chrome: here.chrome(),
        head: here.head(state, "settings", "General"),
        can_update: here.can(state, "project:update"),
        can_delete: here.can(state, "project:delete"),
        csrf: here.s.csrf.clone(),
        version: version.unwrap_or(project.version),
        form,
        delete_form,
    })
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn general_page(
    State(state): State<AppState>,
    here: Here,
    Query(q): Query<SavedQuery>,
) -> Response {
    if let Err(e) = here
        .s
        .caller
        .authorize_in(&state, here.scope, "project:read")
        .await
    {
        return error_page(e);
    }
    match general_view(&state, &here, None, FormState::default()) {
        Ok(mut page) => {
            page.head.notice = q.saved.map(|_| "Settings saved.".to_owned());
            render(StatusCode::OK, &page)
        }
        Err(e) => error_page(e),
    }
}

pub async fn save_general(State(state): State<AppState>, post: Post) -> Response {
    let Post { here, form } = post;
    let version = match form.value("version") {
        "" => None,
        v => match v.parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => {
                return error_page(ApiError::bad_request(
                    "invalid_form",
                    "the form's version is not a number: reload the page and try again",
                ))
            }
        },
    };
    let body = ProjectUpdate {
        name: Some(form.value("name").to_owned()),
        description: Some(form.value("description").to_owned()),
        restricted: Some(form.has("restricted", "on")),
    };
    match crate::routes::projects::update_project(
        &state,
        &here.s.caller,
        here.scope,
        &body,
        version,
    )
    .await
    {
        Ok(w) => see_other(&format!(
            "/console/projects/{}/settings?saved=1",
            w.value.id
        )),
        Err(mut e) if super::is_form_refusal(&e) => {
            if e.code == "version_mismatch" {
                e.message = "Someone changed this project since you opened the page: reload it to see their changes, then save again.".into();
            }
            let status = super::refusal_status(&e);
            let fields = [("name", "name"), ("description", "description")];
            let form = form.refused(e, &fields, "");
            show(
                status,
                general_view(&state, &here, Some((form, version)), FormState::default()),
            )
        }
        Err(e) => error_page(e),
    }
}

/// Deletes the project once its name is typed to confirm.
pub async fn delete_project(State(state): State<AppState>, post: Post) -> Response {
    let Post { here, form } = post;
    let Some(project) = here.project.as_ref() else {
        return error_page(ApiError::not_found("project", "?"));
    };
    if let Err(e) = here
        .s
        .caller
        .authorize_in(&state, here.scope, "project:delete")
        .await
    {
        return error_page(e);
    }
    if form.value("confirm").trim() != project.name {
        let message = format!(
            "Type the project's name, “{}”, to confirm that it should be deleted.",
            project.name
        );
        let delete_form = form.with_error("confirm", message);
        return show(
            StatusCode::UNPROCESSABLE_ENTITY,
            general_view(&state, &here, None, delete_form),
        );
    }
    match crate::routes::projects::delete_project(&state, &here.s.caller, here.scope).await {
        Ok(w) => see_other(&format!(
            "/console/org?deleted={}",
            url_component(&w.value.name)
        )),
        Err(e) => error_page(e),
    }
}
