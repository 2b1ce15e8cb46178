//! The audit log: the change log as people read it, newest first.

use sqlx::Row;
use warden_model::{OrgId, ProjectId};

use crate::{Store, StoreError};

/// One change, as the audit log shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEvent {
    pub revision: u64,
    pub at: String,
    pub actor: String,
    pub org_id: Option<OrgId>,
    pub project_id: Option<ProjectId>,
    pub action: String,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Filters of the audit log. Revisions bound the range inclusively.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub since_revision: Option<u64>,
    pub until_revision: Option<u64>,
}

fn parse_doc(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

impl Store {
    /// The changes of an org (every project included) or of one project, newest first,
    /// before revision `before` (exclusive), at most `limit`.
    pub async fn list_audit(
        &self,
        org: OrgId,
        project: Option<ProjectId>,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut sql = String::from(
            "SELECT revision, at, actor, org_id, project_id, action, target, before, after FROM change_log WHERE org_id = $1",
        );
        let mut n = 1;
        if project.is_some() {
            n += 1;
            sql.push_str(&format!(" AND project_id = ${n}"));
        }
        for (cond, present) in [
            (" AND actor = ", filter.actor.is_some()),
            (" AND action = ", filter.action.is_some()),
            (" AND target = ", filter.target.is_some()),
            (" AND revision >= ", filter.since_revision.is_some()),
            (" AND revision <= ", filter.until_revision.is_some()),
            (" AND revision < ", before.is_some()),
        ] {
            if present {
                n += 1;
                sql.push_str(&format!("{cond}${n}"));
            }
        }
        sql.push_str(&format!(" ORDER BY revision DESC LIMIT ${}", n + 1));
        let mut q = sqlx::query(&sql).bind(org.to_string());
        if let Some(p) = project {
            q = q.bind(p.to_string());
        }
        for s in [&filter.actor, &filter.action, &filter.target]
            .into_iter()
            .flatten()
        {
            q = q.bind(s.clone());
        }
        for n in [filter.since_revision, filter.until_revision, before]
            .into_iter()
            .flatten()
        {
            q = q.bind(n as i64);
        }
        let rows = q.bind(i64::from(limit)).fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| {
                let org_id: Option<String> = r.try_get("org_id")?;
                let project_id: Option<String> = r.try_get("project_id")?;
                Ok(AuditEvent {
                    revision: r.try_get::<i64, _>("revision")? as u64,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    org_id: org_id.and_then(|s| OrgId::parse(&s).ok()),
                    project_id: project_id.and_then(|s| ProjectId::parse(&s).ok()),
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    before: parse_doc(r.try_get("before")?),
                    after: parse_doc(r.try_get("after")?),
                })
            })
            .collect()
    }
}
