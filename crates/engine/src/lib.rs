//! Warden's decision engine: a compiled, in-memory index of the access model.
//!
//! The engine is a materialized view of the store. It is built by applying change-log
//! [`Effect`]s in revision order (at start-up, from a synthetic list that describes the
//! tables; afterwards, from each new change-log entry), and it answers decisions from
//! memory. It does no IO and knows nothing of HTTP or SQL.
//!
//! Layout: every id is interned once to a dense `u32` (principals, scopes, roles,
//! policies); entities live in arrays indexed by those numbers; each role carries its
//! effective permission bitset. A check is a few hash lookups to intern its arguments, then
//! array reads and bit tests over the principal's handful of memberships (and those of its
//! teams); it allocates nothing.
//!
//! Snapshots: arrays and maps are split into `Arc`-shared chunks and shards ([`chunked`]),
//! so cloning an `Index` costs a few hundred pointer copies and applying a change copies
//! only what it touches. The server publishes each new snapshot atomically; readers keep
//! the one they hold and never wait on a writer.
//!
//! Invariants:
//! - Fails closed: an unknown permission, principal, scope or role grants nothing.
//! - A role's effective bitset is always the union of its inline permissions and the
//!   permissions of its policies; changing a policy recomputes the roles that use it.
//! - In a restricted project, org roles other than the Owner role grant nothing.
//! - Memberships are held twice, by principal (for checks) and by scope (for who-can); both
//!   change together.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use warden_model::{
    ApiKeyId, Effect, OrgId, PolicyId, Principal, ProjectId, RoleId, Scope, TeamId, UserId,
};

mod apply;
mod bits;
mod chunked;
mod explain;

pub use bits::Bits;
pub use explain::{Denial, Explanation, Grant, Holder};

use chunked::{Chunked, Interner};

/// A principal: its memberships and, by kind, its teams, its users or its key.
#[derive(Debug, Clone)]
pub(crate) struct PrincipalEntry {
    pub id: Principal,
    /// (scope, role) pairs, at most one per scope.
    pub memberships: Vec<(u32, u32)>,
    /// For users: the teams (principal indices) it is in.
    pub teams: Vec<u32>,
    /// For teams: their users (principal indices).
    pub users: Vec<u32>,
    /// For teams: the org scope, while the team exists.
    pub team_org: Option<u32>,
    /// For API keys, while the key exists: its org scope and whether it is valid.
    pub key: Option<(u32, bool)>,
}

/// An org or a project.
#[derive(Debug, Clone)]
pub(crate) struct ScopeEntry {
    pub id: uuid::Uuid,
    /// The org scope (itself for an org).
    pub org: u32,
    pub is_project: bool,
    pub live: bool,
    pub restricted: bool,
    /// (principal, role) pairs holding a role here.
    pub members: Vec<(u32, u32)>,
}

/// A role and its effective permissions.
#[derive(Debug, Clone)]
pub(crate) struct RoleEntry {
    pub id: RoleId,
    /// The scope the role belongs to.
    pub scope: u32,
    pub live: bool,
    pub predefined: Option<Arc<str>>,
    /// Whether this is the org Owner role, the one org role a restricted project honours.
    pub owner: bool,
    pub inline: Bits,
    pub policies: Vec<u32>,
    pub effective: Bits,
}

/// A policy and the roles that use it.
#[derive(Debug, Clone)]
pub(crate) struct PolicyEntry {
    pub id: PolicyId,
    pub live: bool,
    pub bits: Bits,
    pub roles: Vec<u32>,
}

/// The compiled access model at one revision.
#[derive(Debug, Clone)]
pub struct Index {
    revision: u64,
    keys: Arc<Vec<String>>,
    bit_of: Arc<FxHashMap<String, usize>>,
    owner_role_key: Arc<str>,
    principal_ids: Interner<Principal>,
    principals: Chunked<PrincipalEntry>,
    scope_ids: Interner<uuid::Uuid>,
    scopes: Chunked<ScopeEntry>,
    role_ids: Interner<RoleId>,
    roles: Chunked<RoleEntry>,
    policy_ids: Interner<PolicyId>,
    policies: Chunked<PolicyEntry>,
}

/// The scope of a decision, resolved to indices.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub org: u32,
    /// The scope decided in: the org itself or a project.
    pub scope: u32,
    pub restricted: bool,
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
            keys: Arc::new(keys),
            bit_of: Arc::new(bit_of),
            owner_role_key: owner_role_key.into(),
            principal_ids: Interner::new(),
            principals: Chunked::new(),
            scope_ids: Interner::new(),
            scopes: Chunked::new(),
            role_ids: Interner::new(),
            roles: Chunked::new(),
            policy_ids: Interner::new(),
            policies: Chunked::new(),
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

    /// How many memberships the index holds.
    pub fn membership_count(&self) -> usize {
        self.principals.iter().map(|p| p.memberships.len()).sum()
    }

    /// The bit index of a permission key, if the catalogue defines it.
    #[inline]
    pub fn permission_bit(&self, key: &str) -> Option<usize> {
        self.bit_of.get(key).copied()
    }

    /// The permission key of a bit.
    pub fn permission_key(&self, bit: usize) -> Option<&str> {
        self.keys.get(bit).map(String::as_str)
    }

    pub(crate) fn bits_len(&self) -> usize {
        self.keys.len()
    }

    /// Resolves a scope to indices, or `None` when it does not exist (or the project is
    /// not of that org).
    #[inline]
    pub(crate) fn target(&self, scope: Scope) -> Option<Target> {
        let org = self.scope_ids.get(&scope.org_id.0)?;
        let org_entry = self.scopes.get(org)?;
        if !org_entry.live || org_entry.is_project {
            return None;
        }
        match scope.project_id {
            None => Some(Target {
                org,
                scope: org,
                restricted: false,
            }),
            Some(p) => {
                let idx = self.scope_ids.get(&p.0)?;
                let e = self.scopes.get(idx)?;
                (e.live && e.is_project && e.org == org).then_some(Target {
                    org,
                    scope: idx,
                    restricted: e.restricted,
                })
            }
        }
    }

    /// The principal's index, if it may hold anything in the target's org.
    #[inline]
    pub(crate) fn principal_in(&self, principal: Principal, t: Target) -> Option<u32> {
        let idx = self.principal_ids.get(&principal)?;
        if let Principal::ApiKey(_) = principal {
            match self.principals.get(idx)?.key {
                Some((org, true)) if org == t.org => {}
                _ => return None,
            }
        }
        Some(idx)
    }

    /// Calls `f` with every role that grants `p` (and, for a user, its teams) something in
    /// the target, following the rules of inheritance, until `f` returns true.
    #[inline]
    pub(crate) fn any_role(
        &self,
        p: u32,
        t: Target,
        mut f: impl FnMut(&RoleEntry) -> bool,
    ) -> bool {
        let Some(entry) = self.principals.get(p) else {
            return false;
        };
        if self.roles_of(entry, t, &mut f) {
            return true;
        }
        for &team in &entry.teams {
            if let Some(te) = self.principals.get(team) {
                if te.team_org == Some(t.org) && self.roles_of(te, t, &mut f) {
                    return true;
                }
            }
        }
        false
    }

    #[inline]
    fn roles_of(
        &self,
        entry: &PrincipalEntry,
        t: Target,
        f: &mut impl FnMut(&RoleEntry) -> bool,
    ) -> bool {
        for &(s, r) in &entry.memberships {
            let inherited = s == t.org && t.scope != t.org;
            if s != t.scope && !inherited {
                continue;
            }
            let Some(role) = self.roles.get(r) else {
                continue;
            };
            if !role.live || (inherited && t.restricted && !role.owner) {
                continue;
            }
            if f(role) {
                return true;
            }
        }
        false
    }

    /// May `principal` do `permission` in `scope`? Allocates nothing.
    #[inline]
    pub fn check(&self, principal: Principal, permission: &str, scope: Scope) -> bool {
        match self.permission_bit(permission) {
            Some(bit) => self.check_bit(principal, bit, scope),
            None => false,
        }
    }

    /// [`Index::check`] with an already interned permission.
    #[inline]
    pub fn check_bit(&self, principal: Principal, bit: usize, scope: Scope) -> bool {
        let Some(t) = self.target(scope) else {
            return false;
        };
        let Some(p) = self.principal_in(principal, t) else {
            return false;
        };
        self.any_role(p, t, |role| role.effective.get(bit))
    }

    /// Every permission key `principal` holds in `scope`, in catalogue order.
    pub fn effective(&self, principal: Principal, scope: Scope) -> Vec<&str> {
        let Some(t) = self.target(scope) else {
            return vec![];
        };
        let Some(p) = self.principal_in(principal, t) else {
            return vec![];
        };
        let mut acc = Bits::new(self.bits_len());
        self.any_role(p, t, |role| {
            acc.union_with(&role.effective);
            false
        });
        acc.ones().filter_map(|i| self.permission_key(i)).collect()
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

    /// The org a project belongs to, if the project exists.
    pub fn project_org(&self, project_id: ProjectId) -> Option<OrgId> {
        let e = self.scopes.get(self.scope_ids.get(&project_id.0)?)?;
        if !e.live || !e.is_project {
            return None;
        }
        self.scopes.get(e.org).map(|o| OrgId(o.id))
    }

    /// Whether the org exists.
    pub fn has_org(&self, org_id: OrgId) -> bool {
        self.target(Scope::org(org_id)).is_some()
    }

    /// Whether the engine knows the API key.
    pub fn has_api_key(&self, id: ApiKeyId) -> bool {
        self.principal_ids
            .get(&Principal::ApiKey(id))
            .and_then(|i| self.principals.get(i))
            .is_some_and(|e| e.key.is_some())
    }

    /// The role a principal holds directly in a scope.
    pub fn role_of(&self, principal: Principal, scope: Scope) -> Option<RoleId> {
        let s = self.scope_ids.get(&scope.key())?;
        let p = self.principals.get(self.principal_ids.get(&principal)?)?;
        let r = p.memberships.iter().find(|(ms, _)| *ms == s)?.1;
        self.roles.get(r).filter(|r| r.live).map(|r| r.id)
    }

    /// Whether `principal` holds, directly or through a team, a predefined role with catalogue
    /// key `key` in the scope whose id is `scope_key` (the org id or the project id).
    pub fn holds_predefined(&self, principal: Principal, scope_key: uuid::Uuid, key: &str) -> bool {
        let Some(s) = self.scope_ids.get(&scope_key) else {
            return false;
        };
        let Some(entry) = self
            .principal_ids
            .get(&principal)
            .and_then(|i| self.principals.get(i))
        else {
            return false;
        };
        let holds = |e: &PrincipalEntry| {
            e.memberships.iter().any(|&(ms, r)| {
                ms == s
                    && self
                        .roles
                        .get(r)
                        .is_some_and(|role| role.live && role.predefined.as_deref() == Some(key))
            })
        };
        if holds(entry) {
            return true;
        }
        entry
            .teams
            .iter()
            .filter_map(|t| self.principals.get(*t))
            .any(|te| te.team_org.is_some() && holds(te))
    }

    /// The users of a team, while it exists.
    pub fn team_users(&self, team: TeamId) -> Vec<UserId> {
        let Some(te) = self
            .principal_ids
            .get(&Principal::Team(team))
            .and_then(|i| self.principals.get(i))
        else {
            return vec![];
        };
        te.users
            .iter()
            .filter_map(|u| match self.principals.get(*u).map(|e| e.id) {
                Some(Principal::User(id)) => Some(id),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
