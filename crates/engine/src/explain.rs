//! Explanations and who-can: the same rules as `check`, reporting every grant instead of
//! stopping at the first.

use std::collections::BTreeMap;

use warden_model::{PolicyId, Principal, RoleId, Scope, TeamId};

use crate::Index;

/// One path by which a permission is granted: membership → role → policy → permission.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    /// The team the grant comes through, when it is not the principal's own membership.
    pub via_team: Option<TeamId>,
    /// Where the membership is: the org or the project.
    pub scope: Scope,
    pub role_id: RoleId,
    /// The policy of the role that holds the permission; `None` when the role holds it
    /// inline (or as a predefined grant).
    pub policy_id: Option<PolicyId>,
}

/// Why nothing grants a permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The catalogue has no such permission.
    UnknownPermission,
    /// The scope does not exist (or is of another org).
    UnknownScope,
    /// The API key is unknown, invalid, or of another org.
    InvalidPrincipal,
    /// The principal holds no role in the scope or the org, directly or through a team.
    NoMembership,
    /// The project is restricted and the only roles that would grant it are org roles.
    RestrictedProject { ignored_roles: Vec<RoleId> },
    /// Roles are held, but none of them contains the permission.
    NotInRole { roles: Vec<RoleId> },
}

/// A decision with its reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub allowed: bool,
    /// Every grant (empty when denied).
    pub grants: Vec<Grant>,
    /// Why it is denied (`None` when allowed).
    pub denial: Option<Denial>,
}

/// A principal that holds a permission, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub principal: Principal,
    /// For users: the teams it holds it through (empty when only directly).
    pub via_teams: Vec<TeamId>,
    /// Whether the principal holds it through a membership of its own.
    pub direct: bool,
}

impl Index {
    fn denied(d: Denial) -> Explanation {
        Explanation {
            allowed: false,
            grants: vec![],
            denial: Some(d),
        }
    }

    /// Every grant of `permission` to `principal` in `scope`, or why there is none.
    pub fn explain(&self, principal: Principal, permission: &str, scope: Scope) -> Explanation {
        let Some(bit) = self.permission_bit(permission) else {
            return Self::denied(Denial::UnknownPermission);
        };
        let restricted = match scope.project_id {
            Some(p) => match self.projects.get(&p) {
                Some(e) if e.org_id == scope.org_id => e.restricted,
                _ => return Self::denied(Denial::UnknownScope),
            },
            None if self.orgs.contains(&scope.org_id) => false,
            None => return Self::denied(Denial::UnknownScope),
        };
        if let Principal::ApiKey(k) = principal {
            match self.api_keys.get(&k) {
                Some((s, true)) if s.org_id == scope.org_id => {}
                _ => return Self::denied(Denial::InvalidPrincipal),
            }
        }
        let mut holders: Vec<(Principal, Option<TeamId>)> = vec![(principal, None)];
        if let Principal::User(u) = principal {
            for t in self.teams_of_user.get(&u).into_iter().flatten() {
                if self.teams.get(t) == Some(&scope.org_id) {
                    holders.push((Principal::Team(*t), Some(*t)));
                }
            }
        }
        let mut grants = Vec::new();
        let mut held = Vec::new();
        let mut ignored = Vec::new();
        for (p, via_team) in holders {
            let mut scopes = vec![(Scope::org(scope.org_id), true)];
            if let Some(pid) = scope.project_id {
                scopes.insert(0, (Scope::project(scope.org_id, pid), false));
            }
            for (s, is_org) in scopes {
                let Some(role_id) = self.memberships.get(&(p, s.key())) else {
                    continue;
                };
                let Some(role) = self.roles.get(role_id) else {
                    continue;
                };
                let honoured = !(is_org && restricted)
                    || role.predefined.as_deref() == Some(self.owner_role_key.as_str());
                if !honoured {
                    ignored.push(*role_id);
                    continue;
                }
                held.push(*role_id);
                if !role.effective.get(bit) {
                    continue;
                }
                if role.inline.get(bit) {
                    grants.push(Grant {
                        via_team,
                        scope: s,
                        role_id: *role_id,
                        policy_id: None,
                    });
                }
                for pol in &role.policy_ids {
                    if self.policies.get(pol).is_some_and(|x| x.bits.get(bit)) {
                        grants.push(Grant {
                            via_team,
                            scope: s,
                            role_id: *role_id,
                            policy_id: Some(*pol),
                        });
                    }
                }
            }
        }
        if !grants.is_empty() {
            grants.sort();
            return Explanation {
                allowed: true,
                grants,
                denial: None,
            };
        }
        let would_grant = ignored
            .iter()
            .any(|r| self.roles.get(r).is_some_and(|x| x.effective.get(bit)));
        let denial = if would_grant || (held.is_empty() && !ignored.is_empty()) {
            Denial::RestrictedProject {
                ignored_roles: ignored,
            }
        } else if held.is_empty() {
            Denial::NoMembership
        } else {
            Denial::NotInRole { roles: held }
        };
        Self::denied(denial)
    }

    /// Every principal holding `permission` in `scope`: users (directly and through teams),
    /// teams and API keys, ordered by principal.
    pub fn who_can(&self, permission: &str, scope: Scope) -> Vec<Holder> {
        let Some(bit) = self.permission_bit(permission) else {
            return vec![];
        };
        let restricted = match scope.project_id {
            Some(p) => match self.projects.get(&p) {
                Some(e) if e.org_id == scope.org_id => e.restricted,
                _ => return vec![],
            },
            None if self.orgs.contains(&scope.org_id) => false,
            None => return vec![],
        };
        let mut out: BTreeMap<Principal, Holder> = BTreeMap::new();
        let mut scopes = vec![(scope.org_id.0, true)];
        if let Some(p) = scope.project_id {
            scopes.push((p.0, false));
        }
        for (key, is_org) in scopes {
            for (p, role_id) in self.members_of_scope.get(&key).into_iter().flatten() {
                let Some(role) = self.roles.get(role_id) else {
                    continue;
                };
                let honoured = !(is_org && restricted)
                    || role.predefined.as_deref() == Some(self.owner_role_key.as_str());
                if !honoured || !role.effective.get(bit) {
                    continue;
                }
                if let Principal::ApiKey(k) = p {
                    if !matches!(self.api_keys.get(k), Some((s, true)) if s.org_id == scope.org_id)
                    {
                        continue;
                    }
                }
                out.entry(*p)
                    .or_insert_with(|| Holder {
                        principal: *p,
                        via_teams: vec![],
                        direct: false,
                    })
                    .direct = true;
                if let Principal::Team(t) = p {
                    if self.teams.get(t) != Some(&scope.org_id) {
                        continue;
                    }
                    for u in self.users_of_team.get(t).into_iter().flatten() {
                        let h = out.entry(Principal::User(*u)).or_insert_with(|| Holder {
                            principal: Principal::User(*u),
                            via_teams: vec![],
                            direct: false,
                        });
                        if !h.via_teams.contains(t) {
                            h.via_teams.push(*t);
                        }
                    }
                }
            }
        }
        let mut holders: Vec<Holder> = out.into_values().collect();
        for h in &mut holders {
            h.via_teams.sort();
        }
        holders
    }
}
