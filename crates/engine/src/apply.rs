//! Applying effects: each one changes the few entries it names and keeps the two views of
//! memberships (by principal, by scope) and the policy ↔ role links in step.

use warden_model::{Effect, PolicyId, Principal, RoleId};

use crate::{
    Bits, Index, PolicyEntry, PrincipalEntry, RoleEntry, ScopeEntry, ROLE_LIVE, ROLE_OWNER,
};

impl Index {
    fn bits_of(&self, keys: &[String]) -> Bits {
        let mut b = Bits::new(self.bits_len());
        for k in keys {
            // Keys the catalogue no longer defines grant nothing.
            if let Some(i) = self.permission_bit(k) {
                b.set(i);
            }
        }
        b
    }

    fn principal_idx(&mut self, p: Principal) -> u32 {
        if let Some(i) = self.principal_index(&p) {
            return i;
        }
        let i = self.principals.push(PrincipalEntry {
            id: p,
            memberships: Default::default(),
            teams: Default::default(),
            users: Vec::new(),
            team_org: None,
            key: None,
        });
        self.principal_ids.insert(&p, i);
        i
    }

    fn scope_idx(&mut self, id: uuid::Uuid) -> u32 {
        if let Some(i) = self.scope_ids.get(&id) {
            return i;
        }
        let next = self.scopes.len() as u32;
        let i = self.scopes.push(ScopeEntry {
            id,
            org: next,
            is_project: false,
            live: false,
            restricted: false,
            members: Vec::new(),
        });
        self.scope_ids.insert(id, i);
        i
    }

    fn role_idx(&mut self, id: RoleId) -> u32 {
        if let Some(i) = self.role_ids.get(&id) {
            return i;
        }
        let empty = Bits::new(self.bits_len());
        let i = self.roles.push(RoleEntry {
            id,
            scope: u32::MAX,
            live: false,
            predefined: None,
            owner: false,
            inline: empty.clone(),
            policies: Vec::new(),
            effective: empty,
        });
        self.role_rows.push();
        self.role_ids.insert(id, i);
        i
    }

    fn policy_idx(&mut self, id: PolicyId) -> u32 {
        if let Some(i) = self.policy_ids.get(&id) {
            return i;
        }
        let i = self.policies.push(PolicyEntry {
            id,
            live: false,
            bits: Bits::new(self.bits_len()),
            roles: Vec::new(),
        });
        self.policy_ids.insert(id, i);
        i
    }

    fn recompute_role(&mut self, r: u32) {
        let Some(role) = self.roles.get(r) else {
            return;
        };
        let mut eff = role.inline.clone();
        for p in &role.policies {
            if let Some(policy) = self.policies.get(*p).filter(|p| p.live) {
                eff.union_with(&policy.bits);
            }
        }
        let Some(role) = self.roles.get_mut(r) else {
            return;
        };
        role.effective = eff;
        // The role's row for checks: every path that changes a role ends here.
        let flags = if role.live { ROLE_LIVE } else { 0 } | if role.owner { ROLE_OWNER } else { 0 };
        if let Some(row) = self.role_rows.get_mut(r) {
            if let Some((head, bits)) = row.split_first_mut() {
                *head = flags;
                for (w, b) in bits.iter_mut().zip(role.effective.words()) {
                    *w = *b;
                }
            }
        }
    }

    fn put_membership(&mut self, p: u32, s: u32, r: u32) {
        let mut existed = false;
        if let Some(e) = self.principals.get_mut(p) {
            let ms = e.memberships.as_mut_slice();
            match ms.iter_mut().find(|(ms, _)| *ms == s) {
                Some(m) => {
                    m.1 = r;
                    existed = true;
                }
                None => e.memberships.push((s, r)),
            }
        }
        if let Some(e) = self.scopes.get_mut(s) {
            // Both views hold the same pairs: a membership the principal did not have is not
            // in the scope's list either, so it is appended without scanning a list that
            // holds every member of an org.
            let found = if existed {
                e.members.iter_mut().find(|(mp, _)| *mp == p)
            } else {
                None
            };
            match found {
                Some(m) => m.1 = r,
                None => e.members.push((p, r)),
            }
        }
    }

    fn remove_membership(&mut self, p: u32, s: u32) {
        if let Some(e) = self.principals.get_mut(p) {
            e.memberships.retain(|(ms, _)| *ms != s);
        }
        if let Some(e) = self.scopes.get_mut(s) {
            e.members.retain(|(mp, _)| *mp != p);
        }
    }

    /// Removes every membership of a principal.
    fn clear_memberships(&mut self, p: u32) {
        let scopes: Vec<u32> = self
            .principals
            .get(p)
            .map(|e| e.memberships.iter().map(|m| m.0).collect())
            .unwrap_or_default();
        for s in scopes {
            self.remove_membership(p, s);
        }
    }

    pub(crate) fn apply_one(&mut self, effect: &Effect) {
        match effect {
            Effect::PutOrg { org_id } => {
                let s = self.scope_idx(org_id.0);
                if let Some(e) = self.scopes.get_mut(s) {
                    e.live = true;
                    e.is_project = false;
                    e.org = s;
                }
            }
            Effect::PutProject {
                project_id,
                org_id,
                restricted,
            } => {
                let org = self.scope_idx(org_id.0);
                let s = self.scope_idx(project_id.0);
                if let Some(e) = self.scopes.get_mut(s) {
                    e.live = true;
                    e.is_project = true;
                    e.org = org;
                    e.restricted = *restricted;
                }
            }
            Effect::DeleteProject { project_id } => {
                self.dead += 1;
                let s = self.scope_idx(project_id.0);
                let members: Vec<u32> = self
                    .scopes
                    .get(s)
                    .map(|e| e.members.iter().map(|m| m.0).collect())
                    .unwrap_or_default();
                for p in members {
                    self.remove_membership(p, s);
                }
                if let Some(e) = self.scopes.get_mut(s) {
                    e.live = false;
                }
            }
            Effect::PutPolicy {
                policy_id,
                permissions,
                ..
            } => {
                let i = self.policy_idx(*policy_id);
                let bits = self.bits_of(permissions);
                let roles = match self.policies.get_mut(i) {
                    Some(p) => {
                        p.live = true;
                        p.bits = bits;
                        p.roles.clone()
                    }
                    None => vec![],
                };
                for r in roles {
                    self.recompute_role(r);
                }
            }
            Effect::DeletePolicy { policy_id } => {
                self.dead += 1;
                let i = self.policy_idx(*policy_id);
                let roles = match self.policies.get_mut(i) {
                    Some(p) => {
                        p.live = false;
                        std::mem::take(&mut p.roles)
                    }
                    None => vec![],
                };
                for r in roles {
                    if let Some(role) = self.roles.get_mut(r) {
                        role.policies.retain(|p| *p != i);
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
                let r = self.role_idx(*role_id);
                let old: Vec<u32> = self
                    .roles
                    .get(r)
                    .map(|x| x.policies.clone())
                    .unwrap_or_default();
                for p in old {
                    if let Some(pe) = self.policies.get_mut(p) {
                        pe.roles.retain(|x| *x != r);
                    }
                }
                let mut pols = Vec::with_capacity(policy_ids.len());
                for pid in policy_ids {
                    let p = self.policy_idx(*pid);
                    if let Some(pe) = self.policies.get_mut(p) {
                        if !pe.roles.contains(&r) {
                            pe.roles.push(r);
                        }
                    }
                    if !pols.contains(&p) {
                        pols.push(p);
                    }
                }
                let inline = self.bits_of(permissions);
                let role_scope = self.scope_idx(scope.key());
                let owner = scope.project_id.is_none()
                    && predefined.as_deref() == Some(&*self.owner_role_key);
                if let Some(role) = self.roles.get_mut(r) {
                    role.scope = role_scope;
                    role.live = true;
                    role.predefined = predefined.as_deref().map(Into::into);
                    role.owner = owner;
                    role.inline = inline;
                    role.policies = pols;
                }
                self.recompute_role(r);
            }
            Effect::DeleteRole { role_id } => {
                self.dead += 1;
                let r = self.role_idx(*role_id);
                let pols = match self.roles.get_mut(r) {
                    Some(role) => {
                        role.live = false;
                        std::mem::take(&mut role.policies)
                    }
                    None => vec![],
                };
                for p in pols {
                    if let Some(pe) = self.policies.get_mut(p) {
                        pe.roles.retain(|x| *x != r);
                    }
                }
                self.recompute_role(r);
                // Memberships holding it go too (the store removed them or refused).
                let s = self.roles.get(r).map(|x| x.scope).unwrap_or(u32::MAX);
                let holders: Vec<u32> = self
                    .scopes
                    .get(s)
                    .map(|e| e.members.iter().filter(|m| m.1 == r).map(|m| m.0).collect())
                    .unwrap_or_default();
                for p in holders {
                    self.remove_membership(p, s);
                }
            }
            Effect::PutMembership {
                scope,
                principal,
                role_id,
            } => {
                let p = self.principal_idx(*principal);
                let s = self.scope_idx(scope.key());
                let r = self.role_idx(*role_id);
                self.put_membership(p, s, r);
            }
            Effect::DeleteMembership { scope, principal } => {
                if let (Some(p), Some(s)) = (
                    self.principal_index(principal),
                    self.scope_ids.get(&scope.key()),
                ) {
                    self.remove_membership(p, s);
                }
            }
            Effect::PutTeam { team_id, org_id } => {
                let t = self.principal_idx(Principal::Team(*team_id));
                let org = self.scope_idx(org_id.0);
                if let Some(e) = self.principals.get_mut(t) {
                    e.team_org = Some(org);
                }
            }
            Effect::DeleteTeam { team_id } => {
                self.dead += 1;
                let t = self.principal_idx(Principal::Team(*team_id));
                let users = match self.principals.get_mut(t) {
                    Some(e) => {
                        e.team_org = None;
                        std::mem::take(&mut e.users)
                    }
                    None => vec![],
                };
                for u in users {
                    if let Some(ue) = self.principals.get_mut(u) {
                        ue.teams.retain(|x| *x != t);
                    }
                }
                self.clear_memberships(t);
            }
            Effect::PutTeamUser { team_id, user_id } => {
                let t = self.principal_idx(Principal::Team(*team_id));
                let u = self.principal_idx(Principal::User(*user_id));
                if let Some(e) = self.principals.get_mut(t) {
                    if !e.users.contains(&u) {
                        e.users.push(u);
                    }
                }
                if let Some(e) = self.principals.get_mut(u) {
                    if !e.teams.contains(&t) {
                        e.teams.push(t);
                    }
                }
            }
            Effect::DeleteTeamUser { team_id, user_id } => {
                if let (Some(t), Some(u)) = (
                    self.principal_index(&Principal::Team(*team_id)),
                    self.principal_index(&Principal::User(*user_id)),
                ) {
                    if let Some(e) = self.principals.get_mut(t) {
                        e.users.retain(|x| *x != u);
                    }
                    if let Some(e) = self.principals.get_mut(u) {
                        e.teams.retain(|x| *x != t);
                    }
                }
            }
            Effect::PutApiKey {
                api_key_id,
                scope,
                valid,
            } => {
                let k = self.principal_idx(Principal::ApiKey(*api_key_id));
                let org = self.scope_idx(scope.org_id.0);
                if let Some(e) = self.principals.get_mut(k) {
                    e.key = Some((org, *valid));
                }
            }
            Effect::DeleteApiKey { api_key_id } => {
                self.dead += 1;
                let k = self.principal_idx(Principal::ApiKey(*api_key_id));
                if let Some(e) = self.principals.get_mut(k) {
                    e.key = None;
                }
                self.clear_memberships(k);
            }
        }
    }
}
