//! The organization's teams: the list and New team; a team's page with its users (add,
//! remove), the roles it holds (what its users receive through it), its settings and its
//! deletion.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use warden_model::{Principal, UserId};
use warden_store::{MemberFilter, Page, TeamRecord};

use super::here::{Here, Post};
use super::{
    error_page, is_form_refusal, refusal_status, render, see_other, show, url_component, Chrome,
    FormState, Head,
};
use crate::error::ApiError;
use crate::routes::teams::{TeamCreate, TeamUpdate};
use crate::state::AppState;

/// Teams, and users of a team, listed at most.
const LIST: Page = Page {
    limit: 500,
    after: None,
};

#[derive(Template)]
#[template(path = "console/teams.html")]
struct TeamsPage {
    chrome: Chrome,
    head: Head,
    teams: Vec<TeamRecord>,
    can_create: bool,
    csrf: String,
    form: FormState,
}

async fn teams_view(state: &AppState, here: &Here, form: FormState) -> Result<TeamsPage, ApiError> {
    here.s
        .caller
        .authorize_in(state, here.scope, "team:read")
        .await?;
    let teams = state
        .store()
        .list_teams(here.scope.org_id, LIST)
        .await?
        .items;
    Ok(TeamsPage {
        chrome: here.chrome(),
        head: here.head(state, "teams", "Teams"),
        teams,
        can_create: here.can(state, "team:create"),
        csrf: here.s.csrf.clone(),
        form,
    })
}

#[derive(Deserialize, Default)]
pub struct TeamsQuery {
    deleted: Option<String>,
}

pub async fn teams_page(
    State(state): State<AppState>,
    here: Here,
    Query(q): Query<TeamsQuery>,
) -> Response {
    match teams_view(&state, &here, FormState::default()).await {
        Ok(mut page) => {
            page.head.notice = q.deleted.map(|n| format!("Team “{n}” deleted."));
            render(StatusCode::OK, &page)
        }
        Err(e) => error_page(e),
    }
}

const TEAM_FIELDS: &[(&str, &str)] = &[
    ("name", "name"),
    ("key", "key"),
    ("description", "description"),
];

/// The key typed, or none when the field was left empty (one is derived from the name).
fn typed_key(form: &FormState) -> Option<String> {
    Some(form.value("key").trim().to_owned()).filter(|k| !k.is_empty())
}

pub async fn create_team(State(state): State<AppState>, post: Post) -> Response {
    let Post { here, form } = post;
    let body = TeamCreate {
        name: form.value("name").to_owned(),
        key: typed_key(&form),
        description: Some(form.value("description").to_owned()),
    };
    match crate::routes::teams::create_team(&state, &here.s.caller, here.scope, &body).await {
        Ok(w) => see_other(&format!(
            "/console/org/teams/{}?created=1",
            url_component(&w.value.key)
        )),
        Err(e) if is_form_refusal(&e) => {
            let status = refusal_status(&e);
            let form = form.refused(e, TEAM_FIELDS, "");
            show(status, teams_view(&state, &here, form).await)
        }
        Err(e) => error_page(e),
    }
}

/// A role the team holds, and where.
pub struct Grant {
    pub role: String,
    pub place: String,
}

#[derive(Template)]
#[template(path = "console/team.html")]
struct TeamPage {
    chrome: Chrome,
    head: Head,
    team: TeamRecord,
    /// `(user id, label)` of its users.
    users: Vec<(String, String)>,
    /// `(user id, label)` of the org's users not in it.
    candidates: Vec<(String, String)>,
    grants: Vec<Grant>,
    can_update: bool,
    can_delete: bool,
    csrf: String,
    /// The version the settings form carries.
    version: i64,
    form: FormState,
    add_form: FormState,
}

/// What a refused form of the team's page holds.
#[derive(Default)]
struct TeamForms {
    settings: Option<FormState>,
    /// The version a refused settings form was opened on, which it keeps: saving again
    /// must not overwrite a change its user has not seen.
    version: Option<i64>,
    add: FormState,
    alert: Option<String>,
}

async fn team_view(
    state: &AppState,
    here: &Here,
    team_ref: &str,
    forms: TeamForms,
) -> Result<TeamPage, ApiError> {
    here.s
        .caller
        .authorize_in(state, here.scope, "team:read")
        .await?;
    let store = state.store();
    let org = here.scope.org_id;
    let team = store.get_team(org, team_ref).await?;
    let key = team.id.to_string();
    let users: Vec<(String, String)> = store
        .list_team_users(org, &key, LIST)
        .await?
        .items
        .into_iter()
        .map(|u| {
            let label = if u.name.is_empty() {
                u.email
            } else {
                format!("{} ({})", u.name, u.email)
            };
            (u.id.to_string(), label)
        })
        .collect();
    let mut candidates = Vec::new();
    if here.can(state, "member:read") {
        let only_users = MemberFilter {
            principal_type: Some("user".into()),
            ..MemberFilter::default()
        };
        for m in store
            .list_members(here.scope, &only_users, LIST)
            .await?
            .items
        {
            if let Principal::User(u) = m.principal {
                let id = u.to_string();
                if !users.iter().any(|(x, _)| *x == id) {
                    candidates.push((id, super::members::label(&m)));
                }
            }
        }
    }
    let mut grants = Vec::new();
    for (scope, role) in store.team_memberships(org, &key).await? {
        let place = match scope.project_id {
            Some(p) => match store.get_project(p).await {
                Ok(p) => format!("project “{}”", p.name),
                Err(_) => format!("project {p}"),
            },
            None => "the organization".to_owned(),
        };
        grants.push(Grant {
            role: role.name,
            place,
        });
    }
    let form = forms.settings.unwrap_or_else(|| {
        FormState::filled([
            ("name", team.name.clone()),
            ("key", team.key.clone()),
            ("description", team.description.clone()),
        ])
    });
    let version = forms.version.unwrap_or(team.version);
    let mut head = here.head(state, "teams", format!("Team “{}”", team.name));
    head.alert = forms.alert;
    Ok(TeamPage {
        chrome: here.chrome(),
        head,
        team,
        users,
        candidates,
        grants,
        can_update: here.can(state, "team:update"),
        can_delete: here.can(state, "team:delete"),
        csrf: here.s.csrf.clone(),
        version,
        form,
        add_form: forms.add,
    })
}

fn team_param(params: &HashMap<String, String>) -> &str {
    params.get("team").map(String::as_str).unwrap_or_default()
}

#[derive(Deserialize, Default)]
pub struct TeamQuery {
    created: Option<String>,
    saved: Option<String>,
    added: Option<String>,
    removed: Option<String>,
}

pub async fn team_page(
    State(state): State<AppState>,
    here: Here,
    Path(params): Path<HashMap<String, String>>,
    Query(q): Query<TeamQuery>,
) -> Response {
    match team_view(&state, &here, team_param(&params), TeamForms::default()).await {
        Ok(mut page) => {
            page.head.notice = if q.created.is_some() {
                Some("Team created: add its users, then give it a role on a Members page.".into())
            } else if q.saved.is_some() {
                Some("Team saved.".into())
            } else if let Some(who) = q.added {
                Some(format!("{who} added to the team."))
            } else {
                q.removed.map(|who| format!("{who} taken out of the team."))
            };
            render(StatusCode::OK, &page)
        }
        Err(e) => error_page(e),
    }
}

/// The team's page again with a refused form (or the refusal's own page).
async fn team_refused(
    state: &AppState,
    here: &Here,
    team_ref: &str,
    e: ApiError,
    place: impl FnOnce(ApiError, &mut TeamForms),
) -> Response {
    if !is_form_refusal(&e) {
        return error_page(e);
    }
    let status = refusal_status(&e);
    let mut forms = TeamForms::default();
    place(e, &mut forms);
    show(status, team_view(state, here, team_ref, forms).await)
}

pub async fn save_team(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    post: Post,
) -> Response {
    let Post { here, form } = post;
    let team_ref = team_param(&params);
    let version = match super::roles::posted_version(&form) {
        Ok(v) => v,
        Err(e) => return error_page(e),
    };
    let body = TeamUpdate {
        name: Some(form.value("name").to_owned()),
        key: Some(form.value("key").trim().to_owned()),
        description: Some(form.value("description").to_owned()),
    };
    let done = crate::routes::teams::update_team(
        &state,
        &here.s.caller,
        here.scope,
        team_ref,
        &body,
        version,
    )
    .await;
    match done {
        Ok(w) => see_other(&format!(
            "/console/org/teams/{}?saved=1",
            url_component(&w.value.key)
        )),
        Err(mut e) => {
            if e.code == "version_mismatch" {
                e.message = "Someone changed this team since you opened the page: reload it to see their changes, then save again.".into();
            }
            team_refused(&state, &here, team_ref, e, |e, f| {
                f.settings = Some(form.refused(e, TEAM_FIELDS, ""));
                f.version = version;
            })
            .await
        }
    }
}

fn user_id(form: &FormState) -> Result<UserId, ApiError> {
    UserId::parse(form.value("user_id"))
        .map_err(|e| ApiError::unprocessable("invalid_id", e.to_string()).with_field("user_id"))
}

pub async fn add_user(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    post: Post,
) -> Response {
    let Post { here, form } = post;
    let team_ref = team_param(&params);
    let done = async {
        let user = user_id(&form)?;
        crate::routes::teams::add_team_user(&state, &here.s.caller, here.scope, team_ref, user)
            .await
    };
    match done.await {
        Ok(w) => see_other(&format!(
            "/console/org/teams/{}?added={}",
            url_component(&w.value.team.key),
            url_component(&w.value.user.email)
        )),
        Err(e) => {
            team_refused(&state, &here, team_ref, e, |e, f| {
                f.add = form.refused(e, &[("user_id", "user_id")], "user_id");
            })
            .await
        }
    }
}

pub async fn remove_user(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    post: Post,
) -> Response {
    let Post { here, form } = post;
    let team_ref = team_param(&params);
    let done = async {
        let user = user_id(&form)?;
        let email = state
            .store()
            .get_org_user(here.scope.org_id, user)
            .await
            .map(|u| u.email)
            .unwrap_or_else(|_| user.to_string());
        let w = crate::routes::teams::remove_team_user(
            &state,
            &here.s.caller,
            here.scope,
            team_ref,
            user,
        )
        .await?;
        Ok::<_, ApiError>((w.value.key, email))
    };
    match done.await {
        Ok((key, email)) => see_other(&format!(
            "/console/org/teams/{}?removed={}",
            url_component(&key),
            url_component(&email)
        )),
        Err(e) => team_refused(&state, &here, team_ref, e, |e, f| f.alert = Some(e.message)).await,
    }
}

pub async fn delete_team(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    post: Post,
) -> Response {
    let here = post.here;
    let team_ref = team_param(&params);
    match crate::routes::teams::delete_team(&state, &here.s.caller, here.scope, team_ref).await {
        Ok(w) => see_other(&format!(
            "/console/org/teams?deleted={}",
            url_component(&w.value.name)
        )),
        Err(e) => team_refused(&state, &here, team_ref, e, |e, f| f.alert = Some(e.message)).await,
    }
}
