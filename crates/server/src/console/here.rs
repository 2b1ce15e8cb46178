//! Where a console request acts: the signed-in session and the scope its path names
//! (`/console/org/...` or `/console/projects/{project}/...`, resolved inside the session's
//! org), and, for a posted form, its fields once the CSRF token is checked.
//!
//! Both are extractors whose rejection is the response to send (the sign-in page without
//! a session, a 404 page for a project of another org, a 403 page for a forged form), so
//! a handler that has a [`Here`] or a [`Post`] has passed those checks.

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use warden_model::{ProjectId, Scope};
use warden_store::ProjectRecord;

use super::session::Session;
use super::{error_page, Chrome, FormState, Head, Tab};
use crate::auth::Named;
use crate::error::ApiError;
use crate::state::AppState;

/// A signed-in request and the scope its path names.
pub struct Here {
    pub s: Session,
    pub scope: Scope,
    pub org_name: String,
    /// The project of a project's page.
    pub project: Option<ProjectRecord>,
}

impl FromRequestParts<AppState> for Here {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let s = Session::required(state, &parts.headers).await?;
        let project = parts
            .uri
            .path()
            .strip_prefix("/console/projects/")
            .map(|rest| rest.split('/').next().unwrap_or_default().to_owned());
        Here::load(state, s, project.as_deref())
            .await
            .map_err(error_page)
    }
}

impl Here {
    async fn load(state: &AppState, s: Session, project: Option<&str>) -> Result<Self, ApiError> {
        let org = state.store().get_org(s.caller.org_id).await?;
        let (scope, project) = match project {
            None => (Scope::org(s.caller.org_id), None),
            Some(raw) => {
                let id = ProjectId::parse(raw)?;
                let scope = s.caller.resolve_fresh(state, Named::Project(id)).await?;
                (scope, Some(state.store().get_project(id).await?))
            }
        };
        Ok(Here {
            s,
            scope,
            org_name: org.name,
            project,
        })
    }

    /// Where this scope's pages live.
    pub fn base(&self) -> String {
        match &self.project {
            Some(p) => format!("/console/projects/{}", p.id),
            None => "/console/org".to_owned(),
        }
    }

    /// Whether the signed-in user holds `permission` here (to offer only what it may do).
    pub fn can(&self, state: &AppState, permission: &str) -> bool {
        self.s.caller.can(state, self.scope, permission)
    }

    /// The permission on members and invitations of this scope: `member:<action>` in the
    /// org, `project_member:<action>` in a project.
    pub fn member_permission(&self, action: &str) -> &'static str {
        match (self.project.is_some(), action) {
            (false, "read") => "member:read",
            (false, "create") => "member:create",
            (false, "update") => "member:update",
            (false, _) => "member:delete",
            (true, "read") => "project_member:read",
            (true, "create") => "project_member:create",
            (true, "update") => "project_member:update",
            (true, _) => "project_member:delete",
        }
    }

    /// The layout's header.
    pub fn chrome(&self) -> Chrome {
        self.s.chrome(self.org_name.clone())
    }

    /// The top of a page of this scope: `tab` is the current tab, `title` the heading.
    pub fn head(&self, state: &AppState, tab: &str, title: impl Into<String>) -> Head {
        let base = self.base();
        let entries: &[(&str, &str, &'static str)] = if self.project.is_some() {
            &[
                ("settings", "project:read", "General"),
                ("roles", "role:read", "Roles & Permissions"),
                ("members", "project_member:read", "Members"),
                ("api-keys", "api_key:read", "API keys"),
                ("audit", "audit_log:read", "Audit log"),
            ]
        } else {
            &[
                ("", "organization:read", "Overview"),
                ("members", "member:read", "Members"),
                ("teams", "team:read", "Teams"),
                ("roles", "role:read", "Roles & Permissions"),
                ("api-keys", "api_key:read", "API keys"),
                ("audit", "audit_log:read", "Audit log"),
            ]
        };
        let tabs = entries
            .iter()
            .filter(|(_, permission, _)| self.can(state, permission))
            .map(|(path, _, label)| Tab {
                href: if path.is_empty() {
                    base.clone()
                } else {
                    format!("{base}/{path}")
                },
                label,
                current: *path == tab,
            })
            .collect();
        Head {
            org_name: self.org_name.clone(),
            project: self
                .project
                .as_ref()
                .map(|p| (p.id.to_string(), p.name.clone())),
            base,
            title: title.into(),
            tabs,
            notice: None,
            alert: None,
        }
    }

    /// `the organization` or `the project “Chatbot”`, for sentences.
    pub fn place(&self) -> String {
        match &self.project {
            Some(p) => format!("the project “{}”", p.name),
            None => "the organization".to_owned(),
        }
    }
}

/// A posted form of a signed-in user, its CSRF token checked, and where it acts.
pub struct Post {
    pub here: Here,
    /// The fields as posted (without the token).
    pub form: FormState,
}

impl FromRequest<AppState> for Post {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let here = Here::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let Form(fields) = Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map_err(|e| {
                error_page(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_form",
                    format!("the form could not be read ({e}); reload the page and try again"),
                ))
            })?;
        let mut csrf = String::new();
        let mut values = Vec::with_capacity(fields.len());
        for (k, v) in fields {
            if k == "csrf" {
                csrf = v;
            } else {
                values.push((k, v));
            }
        }
        here.s.check_csrf(&csrf).map_err(error_page)?;
        Ok(Post {
            here,
            form: FormState::filled(values),
        })
    }
}
