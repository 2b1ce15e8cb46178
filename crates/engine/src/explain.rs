//! Explanations and who-can: the same rules as `check`, reporting every grant instead of
//! stopping at the first.

use std::collections::BTreeMap;

use warden_model::{PolicyId, Principal, ProjectId, RoleId, Scope, TeamId};

use crate::{Index, PrincipalEntry};

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
        let Some(t) = self.target(scope) else {
            return Self::denied(Denial::UnknownScope);
        };
        let Some(p) = self.principal_in(principal, t) else {
            return match principal {
                Principal::ApiKey(_) => Self::denied(Denial::InvalidPrincipal),
                _ => Self::denied(Denial::NoMembership),
            };
        };
        let Some(entry) = self.principals.get(p) else {
            return Self::denied(Denial::NoMembership);
        };
        let mut holders: Vec<(&PrincipalEntry, Option<TeamId>)> = vec![(entry, None)];
        for &team in &entry.teams {
            if let Some(te) = self.principals.get(team) {
                if let (Some(org), Principal::Team(tid)) = (te.team_org, te.id) {
                    if org == t.org {
                        holders.push((te, Some(tid)));
                    }
                }
            }
        }
        let mut grants = Vec::new();
        let mut held = Vec::new();
        let mut ignored = Vec::new();
        for (e, via_team) in holders {
            for &(s, r) in &e.memberships {
                let inherited = s == t.org && t.scope != t.org;
                if s != t.scope && !inherited {
                    continue;
                }
                let Some(role) = self.roles.get(r).filter(|x| x.live) else {
                    continue;
                };
                if inherited && t.restricted && !role.owner {
                    ignored.push(role.id);
                    continue;
                }
                held.push(role.id);
                if !role.effective.get(bit) {
                    continue;
                }
                let ms = if s == t.org {
                    Scope::org(scope.org_id)
                } else {
                    Scope {
                        org_id: scope.org_id,
                        project_id: self.scopes.get(s).map(|x| ProjectId(x.id)),
                    }
                };
                if role.inline.get(bit) {
                    grants.push(Grant {
                        via_team,
                        scope: ms,
                        role_id: role.id,
                        policy_id: None,
                    });
                }
                for &pol in &role.policies {
                    if let Some(pe) = self.policies.get(pol).filter(|x| x.live && x.bits.get(bit)) {
                        grants.push(Grant {
                            via_team,
                            scope: ms,
                            role_id: role.id,
                            policy_id: Some(pe.id),
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
        let would_grant = ignored.iter().any(|id| {
            self.role_ids
                .get(id)
                .and_then(|r| self.roles.get(r))
                .is_some_and(|x| x.effective.get(bit))
        });
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
        let Some(t) = self.target(scope) else {
            return vec![];
        };
        let mut out: BTreeMap<Principal, Holder> = BTreeMap::new();
        let mut scopes = vec![t.scope];
        if t.scope != t.org {
            scopes.push(t.org);
        }
        for s in scopes {
            let inherited = s == t.org && t.scope != t.org;
            let Some(se) = self.scopes.get(s) else {
                continue;
            };
            for &(p, r) in &se.members {
                let Some(role) = self.roles.get(r).filter(|x| x.live) else {
                    continue;
                };
                if (inherited && t.restricted && !role.owner) || !role.effective.get(bit) {
                    continue;
                }
                let Some(pe) = self.principals.get(p) else {
                    continue;
                };
                match pe.id {
                    Principal::ApiKey(_) if !matches!(pe.key, Some((org, true)) if org == t.org) => {
                        continue
                    }
                    Principal::Team(_) if pe.team_org != Some(t.org) => continue,
                    _ => {}
                }
                out.entry(pe.id)
                    .or_insert_with(|| Holder {
                        principal: pe.id,
                        via_teams: vec![],
                        direct: false,
                    })
                    .direct = true;
                if let Principal::Team(tid) = pe.id {
                    for &u in &pe.users {
                        let Some(ue) = self.principals.get(u) else {
                            continue;
                        };
                        let h = out.entry(ue.id).or_insert_with(|| Holder {
                            principal: ue.id,
                            via_teams: vec![],
                            direct: false,
                        });
                        if !h.via_teams.contains(&tid) {
                            h.via_teams.push(tid);
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
