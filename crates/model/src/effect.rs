//! Effects: the low-level state changes a write made, as recorded in the change log.
//!
//! The change log serves two readers. People read its `before`/`after` documents (the audit
//! log); engines read its effects, which say exactly which rows of the access model changed,
//! so that an engine can apply a write without knowing the rules that produced it (cascades
//! included). Effects carry resolved permission keys, never ids or secrets.

use serde::{Deserialize, Serialize};

use crate::{ApiKeyId, OrgId, PolicyId, Principal, ProjectId, RoleId, Scope, TeamId, UserId};

/// One change to the access model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Effect {
    /// An organization exists.
    PutOrg { org_id: OrgId },
    /// A project exists (or changed its restriction).
    PutProject {
        project_id: ProjectId,
        org_id: OrgId,
        restricted: bool,
    },
    /// A project and everything in it is gone.
    DeleteProject { project_id: ProjectId },
    /// A policy exists with these permissions.
    PutPolicy {
        policy_id: PolicyId,
        scope: Scope,
        permissions: Vec<String>,
    },
    /// A policy is gone (roles that used it were changed by their own effects).
    DeletePolicy { policy_id: PolicyId },
    /// A role exists with these inline permissions and policies.
    PutRole {
        role_id: RoleId,
        scope: Scope,
        /// The catalogue key of a predefined role (`owner`, ...), `None` for custom roles.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        predefined: Option<String>,
        permissions: Vec<String>,
        policy_ids: Vec<PolicyId>,
    },
    /// A role is gone (memberships that held it were removed by their own effects).
    DeleteRole { role_id: RoleId },
    /// A principal holds this role in this scope (replacing any role it held there).
    PutMembership {
        scope: Scope,
        principal: Principal,
        role_id: RoleId,
    },
    /// A principal holds no role in this scope any more.
    DeleteMembership { scope: Scope, principal: Principal },
    /// A team exists.
    PutTeam { team_id: TeamId, org_id: OrgId },
    /// A team is gone, with its memberships and its users' places in it.
    DeleteTeam { team_id: TeamId },
    /// A user is in a team.
    PutTeamUser { team_id: TeamId, user_id: UserId },
    /// A user left a team.
    DeleteTeamUser { team_id: TeamId, user_id: UserId },
    /// An API key exists in this scope (and is usable or not).
    PutApiKey {
        api_key_id: ApiKeyId,
        scope: Scope,
        valid: bool,
    },
    /// An API key is gone.
    DeleteApiKey { api_key_id: ApiKeyId },
}
