//! Warden's decision engine: a compiled, in-memory index of the access model.
//!
//! The engine is a materialized view of the store. It is built by applying change-log
//! [`Effect`]s in revision order (at start-up, from a synthetic list that describes the
//! tables; afterwards, from each new change-log entry), and it answers decisions from
//! memory. It does no IO and knows nothing of HTTP or SQL; the server owns the snapshot
//! publication (readers hold an `Arc` of an immutable [`Index`] and never wait on a
//! writer).
//!
//! Invariants:
//! - Fails closed: an unknown permission, principal, scope or role grants nothing.
//! - A role's effective bitset is always the union of its inline permissions and the
//!   permissions of its policies; changing a policy recomputes the roles that use it.
//! - In a restricted project, org roles other than the Owner role grant nothing.

use std::collections::{HashMap, HashSet};

use warden_model::{
    ApiKeyId, Effect, OrgId, PolicyId, Principal, ProjectId, RoleId, Scope, TeamId, UserId,
};

mod bits;
mod explain;
pub use bits::Bits;
pub use explain::{Denial, Explanation, Grant, Holder};

#[derive(Debug, Clone)]
struct RoleEntry {
    scope: Scope,
    predefined: Option<String>,
    inline: Bits,
    policy_ids: Vec<PolicyId>,
    /// Inline permissions and those of the policies, kept current.
    effective: Bits,
}

#[derive(Debug, Clone)]
struct PolicyEntry {
    scope: Scope,
    bits: Bits,
}

#[derive(Debug, Clone, Copy)]
struct ProjectEntry {
    org_id: OrgId,
    restricted: bool,
}

/// The compiled access model at one revision.
#[derive(Debug, Clone)]
pub struct Index {
    revision: u64,
    keys: Vec<String>,
    bit_of: HashMap<String, usize>,
    owner_role_key: String,
    orgs: HashSet<OrgId>,
    projects: HashMap<ProjectId, ProjectEntry>,
    policies: HashMap<PolicyId, PolicyEntry>,
    roles: HashMap<RoleId, RoleEntry>,
    roles_of_policy: HashMap<PolicyId, HashSet<RoleId>>,
    /// (principal, scope key) → role. The scope key is the org id or the project id.
    memberships: HashMap<(Principal, uuid::Uuid), RoleId>,
    /// The same memberships by scope, for who-can.
    members_of_scope: HashMap<uuid::Uuid, HashMap<Principal, RoleId>>,
    users_of_team: HashMap<TeamId, Vec<UserId>>,
    teams: HashMap<TeamId, OrgId>,
    teams_of_user: HashMap<UserId, Vec<TeamId>>,
    api_keys: HashMap<ApiKeyId, (Scope, bool)>,
}

impl Index {
    /// An empty index over the permission keys of a catalogue. `owner_role_key` is the
    /// catalogue key of the org Owner role, the only org role a restricted project honours.
    pub fn new(keys: Vec<String>, owner_role_key: &str) -> Self {
        let bit_of = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        Self {
            revision: 0,
            keys,
            bit_of,
            owner_role_key: owner_role_key.to_owned(),
            orgs: HashSet::new(),
            projects: HashMap::new(),
            policies: HashMap::new(),
            roles: HashMap::new(),
            roles_of_policy: HashMap::new(),
            memberships: HashMap::new(),
            members_of_scope: HashMap::new(),
            users_of_team: HashMap::new(),
            teams: HashMap::new(),
            teams_of_user: HashMap::new(),
            api_keys: HashMap::new(),
        }
    }

    /// The last revision applied.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Applies the effects of one change-log entry. Revisions must come in order; an
    /// entry at or below the current revision is ignored (it was already applied).
    pub fn apply(&mut self, revision: u64, effects: &[Effect]) {
        if revision <= self.revision && revision != 0 {
            return;
        }
        for e in effects {
            self.apply_one(e);
        }
        self.revision = revision.max(self.revision);
    }

    fn put_member(&mut self, principal: Principal, scope: uuid::Uuid, role: RoleId) {
        self.memberships.insert((principal, scope), role);
        self.members_of_scope
            .entry(scope)
            .or_default()
            .insert(principal, role);
    }

    fn remove_member(&mut self, principal: Principal, scope: uuid::Uuid) {
        self.memberships.remove(&(principal, scope));
        if let Some(m) = self.members_of_scope.get_mut(&scope) {
            m.remove(&principal);
            if m.is_empty() {
                self.members_of_scope.remove(&scope);
            }
        }
    }

    fn retain_members(&mut self, keep: impl Fn(&Principal, &uuid::Uuid, &RoleId) -> bool) {
        self.memberships.retain(|(p, s), r| keep(p, s, r));
        for (scope, members) in self.members_of_scope.iter_mut() {
            members.retain(|p, r| keep(p, scope, r));
        }
        self.members_of_scope.retain(|_, m| !m.is_empty());
    }

    fn bits_of(&self, keys: &[String]) -> Bits {
        let mut b = Bits::new(self.keys.len());
        for k in keys {
            // Keys the catalogue no longer defines grant nothing.
            if let Some(&i) = self.bit_of.get(k) {
                b.set(i);
            }
        }
        b
    }

    fn recompute_role(&mut self, role_id: RoleId) {
        let Some(role) = self.roles.get(&role_id) else {
            return;
        };
        let mut eff = role.inline.clone();
        for p in &role.policy_ids {
            if let Some(policy) = self.policies.get(p) {
                eff.union_with(&policy.bits);
            }
        }
        if let Some(role) = self.roles.get_mut(&role_id) {
            role.effective = eff;
        }
    }

    fn apply_one(&mut self, effect: &Effect) {
        match effect {
            Effect::PutOrg { org_id } => {
                self.orgs.insert(*org_id);
            }
            Effect::PutProject {
                project_id,
                org_id,
                restricted,
            } => {
                self.projects.insert(
                    *project_id,
                    ProjectEntry {
                        org_id: *org_id,
                        restricted: *restricted,
                    },
                );
            }
            Effect::DeleteProject { project_id } => {
                self.projects.remove(project_id);
                let gone = project_id.0;
                self.retain_members(|_, scope, _| *scope != gone);
                let in_project = |scope: &Scope| scope.project_id == Some(*project_id);
                let roles: Vec<RoleId> = self
                    .roles
                    .iter()
                    .filter(|(_, r)| in_project(&r.scope))
                    .map(|(id, _)| *id)
                    .collect();
                for r in roles {
                    self.roles.remove(&r);
                }
                let policies: Vec<PolicyId> = self
                    .policies
                    .iter()
                    .filter(|(_, p)| in_project(&p.scope))
                    .map(|(id, _)| *id)
                    .collect();
                for p in policies {
                    self.policies.remove(&p);
                    self.roles_of_policy.remove(&p);
                }
                self.api_keys.retain(|_, (scope, _)| !in_project(scope));
            }
            Effect::PutPolicy {
                policy_id,
                scope,
                permissions,
            } => {
                let bits = self.bits_of(permissions);
                self.policies.insert(
                    *policy_id,
                    PolicyEntry {
                        scope: *scope,
                        bits,
                    },
                );
                let roles: Vec<RoleId> = self
                    .roles_of_policy
                    .get(policy_id)
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default();
                for r in roles {
                    self.recompute_role(r);
                }
            }
            Effect::DeletePolicy { policy_id } => {
                self.policies.remove(policy_id);
                let roles: Vec<RoleId> = self
                    .roles_of_policy
                    .remove(policy_id)
                    .map(|s| s.into_iter().collect())
                    .unwrap_or_default();
                for r in roles {
                    if let Some(role) = self.roles.get_mut(&r) {
                        role.policy_ids.retain(|p| p != policy_id);
                    }
                    self.recompute_role(r);
                }
            }
            Effect::PutRole {
                role_id,
                scope,
                predefined,
                permissions,
                policy_ids,
            } => {
                if let Some(old) = self.roles.get(role_id) {
                    for p in old.policy_ids.clone() {
                        if let Some(set) = self.roles_of_policy.get_mut(&p) {
                            set.remove(role_id);
                        }
                    }
                }
                for p in policy_ids {
                    self.roles_of_policy.entry(*p).or_default().insert(*role_id);
                }
                let inline = self.bits_of(permissions);
                self.roles.insert(
                    *role_id,
                    RoleEntry {
                        scope: *scope,
                        predefined: predefined.clone(),
                        effective: inline.clone(),
                        inline,
                        policy_ids: policy_ids.clone(),
                    },
                );
                self.recompute_role(*role_id);
            }
            Effect::DeleteRole { role_id } => {
                if let Some(old) = self.roles.remove(role_id) {
                    for p in old.policy_ids {
                        if let Some(set) = self.roles_of_policy.get_mut(&p) {
                            set.remove(role_id);
                        }
                    }
                }
                let gone = *role_id;
                self.retain_members(|_, _, r| *r != gone);
            }
            Effect::PutMembership {
                scope,
                principal,
                role_id,
            } => {
                self.put_member(*principal, scope.key(), *role_id);
            }
            Effect::DeleteMembership { scope, principal } => {
                self.remove_member(*principal, scope.key());
            }
            Effect::PutTeam { team_id, org_id } => {
                self.teams.insert(*team_id, *org_id);
            }
            Effect::DeleteTeam { team_id } => {
                self.teams.remove(team_id);
                for user in self.users_of_team.remove(team_id).unwrap_or_default() {
                    if let Some(teams) = self.teams_of_user.get_mut(&user) {
                        teams.retain(|t| t != team_id);
                    }
                }
                let gone = Principal::Team(*team_id);
                self.retain_members(|p, _, _| *p != gone);
            }
            Effect::PutTeamUser { team_id, user_id } => {
                let teams = self.teams_of_user.entry(*user_id).or_default();
                if !teams.contains(team_id) {
                    teams.push(*team_id);
                }
                let users = self.users_of_team.entry(*team_id).or_default();
                if !users.contains(user_id) {
                    users.push(*user_id);
                }
            }
            Effect::DeleteTeamUser { team_id, user_id } => {
                if let Some(teams) = self.teams_of_user.get_mut(user_id) {
                    teams.retain(|t| t != team_id);
                }
                if let Some(users) = self.users_of_team.get_mut(team_id) {
                    users.retain(|u| u != user_id);
                }
            }
            Effect::PutApiKey {
                api_key_id,
                scope,
                valid,
            } => {
                self.api_keys.insert(*api_key_id, (*scope, *valid));
            }
            Effect::DeleteApiKey { api_key_id } => {
                self.api_keys.remove(api_key_id);
                let gone = Principal::ApiKey(*api_key_id);
                self.retain_members(|p, _, _| *p != gone);
            }
        }
    }

    /// The org a project belongs to, if the project exists.
    pub fn project_org(&self, project_id: ProjectId) -> Option<OrgId> {
        self.projects.get(&project_id).map(|p| p.org_id)
    }

    /// Whether the engine knows the API key.
    pub fn has_api_key(&self, id: ApiKeyId) -> bool {
        self.api_keys.contains_key(&id)
    }

    /// Whether the org exists.
    pub fn has_org(&self, org_id: OrgId) -> bool {
        self.orgs.contains(&org_id)
    }

    /// The role a principal holds directly in a scope.
    pub fn role_of(&self, principal: Principal, scope: Scope) -> Option<RoleId> {
        self.memberships.get(&(principal, scope.key())).copied()
    }

    /// Whether `principal` holds, directly or through a team, a predefined role with catalogue
    /// key `key` in the scope whose id is `scope_key` (the org id or the project id).
    pub fn holds_predefined(&self, principal: Principal, scope_key: uuid::Uuid, key: &str) -> bool {
        let holds = |p: Principal| {
            self.memberships
                .get(&(p, scope_key))
                .and_then(|r| self.roles.get(r))
                .is_some_and(|r| r.predefined.as_deref() == Some(key))
        };
        if holds(principal) {
            return true;
        }
        match principal {
            Principal::User(u) => self
                .teams_of_user
                .get(&u)
                .is_some_and(|ts| ts.iter().any(|t| holds(Principal::Team(*t)))),
            _ => false,
        }
    }

    /// Calls `f` with the effective bitset of every role that grants `principal` something
    /// in `scope`, following the rules of inheritance. Returns early if `f` returns true.
    fn any_grant(
        &self,
        principal: Principal,
        scope: Scope,
        mut f: impl FnMut(&Bits) -> bool,
    ) -> bool {
        let restricted = match scope.project_id {
            Some(p) => match self.projects.get(&p) {
                Some(entry) if entry.org_id == scope.org_id => entry.restricted,
                _ => return false,
            },
            None => {
                if !self.orgs.contains(&scope.org_id) {
                    return false;
                }
                false
            }
        };
        if let Principal::ApiKey(k) = principal {
            match self.api_keys.get(&k) {
                Some((key_scope, true)) if key_scope.org_id == scope.org_id => {}
                _ => return false,
            }
        }
        let mut visit = |p: Principal| -> bool {
            if let Some(pid) = scope.project_id {
                if let Some(r) = self
                    .memberships
                    .get(&(p, pid.0))
                    .and_then(|r| self.roles.get(r))
                {
                    if f(&r.effective) {
                        return true;
                    }
                }
            }
            if let Some(r) = self
                .memberships
                .get(&(p, scope.org_id.0))
                .and_then(|r| self.roles.get(r))
            {
                let honoured =
                    !restricted || r.predefined.as_deref() == Some(self.owner_role_key.as_str());
                if honoured && r.scope.project_id.is_none() && f(&r.effective) {
                    return true;
                }
            }
            false
        };
        if visit(principal) {
            return true;
        }
        if let Principal::User(u) = principal {
            if let Some(teams) = self.teams_of_user.get(&u) {
                for t in teams {
                    if self.teams.get(t) == Some(&scope.org_id) && visit(Principal::Team(*t)) {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// The bit index of a permission key, if the catalogue defines it.
    pub fn permission_bit(&self, key: &str) -> Option<usize> {
        self.bit_of.get(key).copied()
    }

    /// May `principal` do `permission` in `scope`? Allocates nothing.
    pub fn check(&self, principal: Principal, permission: &str, scope: Scope) -> bool {
        match self.permission_bit(permission) {
            Some(bit) => self.check_bit(principal, bit, scope),
            None => false,
        }
    }

    /// [`Index::check`] with an already interned permission.
    pub fn check_bit(&self, principal: Principal, bit: usize, scope: Scope) -> bool {
        self.any_grant(principal, scope, |b| b.get(bit))
    }

    /// Every permission key `principal` holds in `scope`, in catalogue order.
    pub fn effective(&self, principal: Principal, scope: Scope) -> Vec<&str> {
        let mut acc = Bits::new(self.keys.len());
        self.any_grant(principal, scope, |b| {
            acc.union_with(b);
            false
        });
        acc.ones()
            .filter_map(|i| self.keys.get(i).map(String::as_str))
            .collect()
    }

    /// The permissions of the given keys that `principal` lacks in `scope`.
    pub fn missing<'a>(
        &self,
        principal: Principal,
        scope: Scope,
        keys: &'a [String],
    ) -> Vec<&'a str> {
        keys.iter()
            .filter(|k| !self.check(principal, k, scope))
            .map(String::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests;
