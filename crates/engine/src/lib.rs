//! Warden's decision engine: a compiled, in-memory index of the access model.
//!
//! The engine is a materialized view of the store. It is built by applying change-log
//! [`Effect`]s in revision order (at start-up, from a synthetic list that describes the
//! tables; afterwards, from each new change-log entry), and it answers decisions from
//! memory. It does no IO and knows nothing of HTTP or SQL.
//!
//! Layout: every id is interned once to a dense `u32` (principals, scopes, roles,
//! policies); entities live in arrays indexed by those numbers; each role carries its
//! effective permission bitset, copied for checks into one dense table of role rows. A
//! principal's entry holds its few memberships and teams inline. A check is a few hash
//! lookups to intern its arguments, then array reads and bit tests over the principal's
//! handful of memberships (and those of its teams); it allocates nothing. At 100,000 users
//! only the principal's entry is usually out of cache (the principal table is 8 bytes a
//! slot; scopes, roles and teams are small).
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

use chunked::{Chunked, Directory, Interner, Rows};
use smallvec::SmallVec;

/// Memberships kept inline in a principal's entry: users hold a handful (one in the org,
/// a few in projects); more spill to the heap.
const INLINE_MEMBERSHIPS: usize = 6;
/// Teams kept inline in a user's entry.
const INLINE_TEAMS: usize = 3;

/// A principal: its memberships and, by kind, its teams, its users or its key. What a check
/// reads (memberships, teams, key, team org) is inline, so that it costs one read of the
/// entry and no pointer to follow in the common case.
#[derive(Debug, Clone)]
pub(crate) struct PrincipalEntry {
    pub id: Principal,
    /// (scope, role) pairs, at most one per scope, in the order they were made.
    pub memberships: SmallVec<[(u32, u32); INLINE_MEMBERSHIPS]>,
    /// For users: the teams (principal indices) it is in.
    pub teams: SmallVec<[u32; INLINE_TEAMS]>,
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
    principal_ids: Directory<Principal>,
    principals: Chunked<PrincipalEntry>,
    scope_ids: Interner<uuid::Uuid>,
    scopes: Chunked<ScopeEntry>,
    role_ids: Interner<RoleId>,
    roles: Chunked<RoleEntry>,
    /// What a check needs of each role, indexed like `roles`: a word of flags
    /// ([`ROLE_LIVE`], [`ROLE_OWNER`]) then the role's effective bits. Kept in step with
    /// `roles` by `recompute_role`.
    role_rows: Rows,
    policy_ids: Interner<PolicyId>,
    policies: Chunked<PolicyEntry>,
    /// Entities deleted since the index was built: their slots stay (ids are dense and
    /// never reused), so a rebuild from the tables would drop this many.
    dead: u64,
}

/// Flag of a role row: the role exists.
pub(crate) const ROLE_LIVE: u64 = 1;
/// Flag of a role row: the role is the org Owner role.
pub(crate) const ROLE_OWNER: u64 = 2;

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
        let keys_len = keys.len();
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
            principal_ids: Directory::new(),
            principals: Chunked::new(),
            scope_ids: Interner::new(),
            scopes: Chunked::new(),
            role_ids: Interner::new(),
            roles: Chunked::new(),
            role_rows: Rows::new(1 + keys_len.div_ceil(64)),
            policy_ids: Interner::new(),
            policies: Chunked::new(),
            dead: 0,
        }
    }

    /// An empty index over the same catalogue as this one, to rebuild it into.
    pub fn empty_like(&self) -> Self {
        Self::new(self.keys.as_ref().clone(), &self.owner_role_key)
    }

    /// How many principals, scopes, roles and policies the index holds slots for, deleted
    /// ones included.
    pub fn slots(&self) -> usize {
        self.principals.len() + self.scopes.len() + self.roles.len() + self.policies.len()
    }

    /// How many of its slots belong to entities deleted since it was built. Deleted
    /// entities grant nothing, but their slots stay until the index is rebuilt from the
    /// tables; a server that creates and deletes without end rebuilds it when these
    /// outnumber the live ones.
    pub fn dead_slots(&self) -> u64 {
        self.dead
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
        match scope.project_id {
            None => {
                let org = self.scope_ids.get(&scope.org_id.0)?;
                let e = self.scopes.get(org)?;
                (e.live && !e.is_project).then_some(Target {
                    org,
                    scope: org,
                    restricted: false,
                })
            }
            Some(p) => {
                // One lookup, not two: the project's entry names its org, and that org's id
                // must be the one asked about (ids and indices map one to one).
                let idx = self.scope_ids.get(&p.0)?;
                let e = self.scopes.get(idx)?;
                if !e.live || !e.is_project {
                    return None;
                }
                let o = self.scopes.get(e.org)?;
                (o.id == scope.org_id.0 && o.live && !o.is_project).then_some(Target {
                    org: e.org,
                    scope: idx,
                    restricted: e.restricted,
                })
            }
        }
    }

    /// The principal's index, if the index knows it.
    #[inline]
    pub(crate) fn principal_index(&self, principal: &Principal) -> Option<u32> {
        self.principal_ids.get(principal, |i| {
            self.principals.get(i).is_some_and(|e| e.id == *principal)
        })
    }

    /// The principal's index, if it may hold anything in the target's org.
    #[inline]
    pub(crate) fn principal_in(&self, principal: Principal, t: Target) -> Option<u32> {
        let idx = self.principal_index(&principal)?;
        if let Principal::ApiKey(_) = principal {
            match self.principals.get(idx)?.key {
                Some((org, true)) if org == t.org => {}
                _ => return None,
            }
        }
        Some(idx)
    }

    /// Calls `f` with every role that grants `p` (and, for a user, its teams) something in
    /// the target, following the rules of inheritance, until `f` returns true. `f` gets the
    /// role's index and its row in `role_rows` (flags, then effective bits).
    #[inline]
    pub(crate) fn any_role(&self, p: u32, t: Target, f: impl FnMut(u32, &[u64]) -> bool) -> bool {
        match self.principals.get(p) {
            Some(entry) => self.any_role_of(entry, t, f),
            None => false,
        }
    }

    /// [`Index::any_role`] from the principal's entry.
    #[inline]
    fn any_role_of(
        &self,
        entry: &PrincipalEntry,
        t: Target,
        mut f: impl FnMut(u32, &[u64]) -> bool,
    ) -> bool {
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
        f: &mut impl FnMut(u32, &[u64]) -> bool,
    ) -> bool {
        // At most one membership per scope, so at most two apply: the one in the target's
        // scope and, in a project, the one in its org. Finding both in one pass with no
        // branch per membership spares the mispredictions of a data-dependent loop.
        let (mut here, mut in_org) = (None, None);
        for &(s, r) in &entry.memberships {
            if s == t.scope {
                here = Some(r);
            }
            if s == t.org {
                in_org = Some(r);
            }
        }
        if let Some(r) = here {
            if self.role_applies(r, false, t, f) {
                return true;
            }
        }
        match in_org {
            Some(r) if t.scope != t.org => self.role_applies(r, true, t, f),
            _ => false,
        }
    }

    /// Calls `f` with role `r` if it exists and counts here: a role held in the org counts
    /// in a restricted project only if it is the org Owner role.
    #[inline]
    fn role_applies(
        &self,
        r: u32,
        inherited: bool,
        t: Target,
        f: &mut impl FnMut(u32, &[u64]) -> bool,
    ) -> bool {
        let Some(row) = self.role_rows.get(r) else {
            return false;
        };
        let flags = row.first().copied().unwrap_or(0);
        if flags & ROLE_LIVE == 0 || (inherited && t.restricted && flags & ROLE_OWNER == 0) {
            return false;
        }
        f(r, row)
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
        // The principal's entry is the read that misses the cache (the scopes' tables are
        // small and stay in cache): look it up first, so that the processor fetches it while
        // it resolves the scope. The answer is the same in either order.
        let Some(entry) = self
            .principal_index(&principal)
            .and_then(|p| self.principals.get(p))
        else {
            return false;
        };
        let Some(t) = self.target(scope) else {
            return false;
        };
        // As in `principal_in`: a key grants only while valid, and only in its own org.
        if let Principal::ApiKey(_) = principal {
            match entry.key {
                Some((org, true)) if org == t.org => {}
                _ => return false,
            }
        }
        // The row holds the flags word, then the bits.
        let (word, mask) = (1 + bit / 64, 1u64 << (bit % 64));
        self.any_role_of(entry, t, |_, row| {
            row.get(word).is_some_and(|w| w & mask != 0)
        })
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
        self.any_role(p, t, |r, _| {
            if let Some(role) = self.roles.get(r) {
                acc.union_with(&role.effective);
            }
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
        self.principal_index(&Principal::ApiKey(id))
            .and_then(|i| self.principals.get(i))
            .is_some_and(|e| e.key.is_some())
    }

    /// The role a principal holds directly in a scope.
    pub fn role_of(&self, principal: Principal, scope: Scope) -> Option<RoleId> {
        let s = self.scope_ids.get(&scope.key())?;
        let p = self.principals.get(self.principal_index(&principal)?)?;
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
            .principal_index(&principal)
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
            .principal_index(&Principal::Team(team))
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
