//! Scopes: where a building block lives.

use serde::{Deserialize, Serialize};

use crate::{OrgId, ProjectId, ScopeKind};

/// The org itself, or one project of it. A project scope always knows its org, so that
/// tenant isolation never needs a second lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Scope {
    /// The organization everything lives in.
    pub org_id: OrgId,
    /// The project, for project scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
}

impl Scope {
    /// The organization scope.
    pub fn org(org_id: OrgId) -> Self {
        Self {
            org_id,
            project_id: None,
        }
    }

    /// A project scope.
    pub fn project(org_id: OrgId, project_id: ProjectId) -> Self {
        Self {
            org_id,
            project_id: Some(project_id),
        }
    }

    /// Which kind of scope this is.
    pub fn kind(&self) -> ScopeKind {
        if self.project_id.is_some() {
            ScopeKind::Project
        } else {
            ScopeKind::Org
        }
    }

    /// The id that names this scope alone (project ids are globally unique).
    pub fn key(&self) -> uuid::Uuid {
        match self.project_id {
            Some(p) => p.0,
            None => self.org_id.0,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.project_id {
            Some(p) => write!(f, "project `{p}`"),
            None => write!(f, "organization `{}`", self.org_id),
        }
    }
}
