//! The generated data set: orgs, projects, predefined and custom roles, policies, users,
//! teams, API keys and memberships, made deterministically from a seed.
//!
//! The same [`DataSet`] is turned into the engine's [`Effect`]s (what the server would load
//! from its tables), into the naive reference, and into the Cedar and casbin encodings, so
//! that every engine answers about exactly the same model.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use warden_model::{
    ApiKeyId, Catalogue, Effect, OrgId, PolicyId, Principal, ProjectId, RoleId, Scope, ScopeKind,
    TeamId, UserId,
};

/// The size of the data set. [`Shape::issue`] is the one the issue asks for.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub orgs: usize,
    pub users_per_org: usize,
    pub projects_per_org: usize,
    pub teams_per_org: usize,
    /// Custom roles at org scope, per org (the first one is the widely held "Analyst").
    pub custom_org_roles_per_org: usize,
    /// Custom roles at project scope, per org (each in its own project).
    pub custom_project_roles_per_org: usize,
    /// Custom policies at org scope, per org.
    pub org_policies_per_org: usize,
    pub keys_per_org: usize,
}

impl Shape {
    /// 100,000 users, 1,000 projects, 200 custom roles, 1,000 teams, 5 orgs; about 5
    /// memberships per user.
    pub fn issue() -> Self {
        Shape {
            orgs: 5,
            users_per_org: 20_000,
            projects_per_org: 200,
            teams_per_org: 200,
            custom_org_roles_per_org: 10,
            custom_project_roles_per_org: 30,
            org_policies_per_org: 20,
            keys_per_org: 200,
        }
    }

    /// The issue's shape with users, projects, teams and keys scaled by `f` (for trying
    /// the programs quickly; the published figures use `f = 1`).
    pub fn scaled(f: f64) -> Self {
        let s = Self::issue();
        let sc = |n: usize| ((n as f64 * f).round() as usize).max(1);
        Shape {
            users_per_org: sc(s.users_per_org),
            projects_per_org: sc(s.projects_per_org).max(s.custom_project_roles_per_org),
            teams_per_org: sc(s.teams_per_org),
            keys_per_org: sc(s.keys_per_org),
            ..s
        }
    }
}

/// Where a role or a membership lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SRef {
    Org(usize),
    Project(usize),
}

/// Who holds a membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PRef {
    User(usize),
    Team(usize),
    Key(usize),
}

#[derive(Debug, Clone)]
pub struct Org {
    pub id: OrgId,
    pub projects: Vec<usize>,
    /// Its roles: predefined owner, admin, member, then the custom ones.
    pub roles: Vec<usize>,
    pub owner_role: usize,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: ProjectId,
    pub org: usize,
    pub restricted: bool,
    /// Its roles: predefined owner, manager, member, then a custom one for some projects.
    pub roles: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub id: PolicyId,
    pub scope: SRef,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub id: RoleId,
    pub scope: SRef,
    /// The catalogue key of a predefined role.
    pub predefined: Option<String>,
    /// Inline permissions.
    pub permissions: Vec<String>,
    pub policies: Vec<usize>,
    /// Every permission the role grants (inline ∪ its policies'), as catalogue keys.
    pub effective: BTreeSet<String>,
    /// Whether this is an org's Owner role (the one a restricted project honours).
    pub org_owner: bool,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub org: usize,
    pub teams: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Team {
    pub id: TeamId,
    pub org: usize,
}

#[derive(Debug, Clone)]
pub struct Key {
    pub id: ApiKeyId,
    pub org: usize,
    pub valid: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Membership {
    pub principal: PRef,
    pub scope: SRef,
    pub role: usize,
}

/// The whole model, in plain vectors.
#[derive(Debug, Clone)]
pub struct DataSet {
    pub keys: Vec<String>,
    pub orgs: Vec<Org>,
    pub projects: Vec<Project>,
    pub policies: Vec<Policy>,
    pub roles: Vec<Role>,
    pub users: Vec<User>,
    pub teams: Vec<Team>,
    pub api_keys: Vec<Key>,
    pub memberships: Vec<Membership>,
    /// The role whose change the write-visibility figure times (org 0's "Analyst").
    pub analyst: usize,
}

fn uuid(rng: &mut StdRng) -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
}

fn pick<'a, T>(rng: &mut StdRng, v: &'a [T]) -> &'a T {
    &v[rng.gen_range(0..v.len())]
}

impl DataSet {
    /// Generates the data set of `shape` from `seed`.
    pub fn generate(shape: Shape, seed: u64) -> Self {
        let cat = Catalogue::default_llmops();
        let mut rng = StdRng::seed_from_u64(seed);
        let project_keys: Vec<String> = cat
            .project
            .permissions
            .iter()
            .map(|p| p.key.clone())
            .collect();
        let read_keys: Vec<String> = project_keys
            .iter()
            .filter(|k| k.ends_with(":read"))
            .cloned()
            .collect();
        let mut ds = DataSet {
            keys: cat.all_keys(),
            orgs: vec![],
            projects: vec![],
            policies: vec![],
            roles: vec![],
            users: vec![],
            teams: vec![],
            api_keys: vec![],
            memberships: vec![],
            analyst: 0,
        };
        let predefined = |ds: &mut DataSet, rng: &mut StdRng, scope: SRef, key: &str| {
            let sc = cat.scope(match scope {
                SRef::Org(_) => ScopeKind::Org,
                SRef::Project(_) => ScopeKind::Project,
            });
            let grants: Vec<String> = sc
                .role(key)
                .map(|r| sc.role_grants(r).into_iter().collect())
                .unwrap_or_default();
            ds.roles.push(Role {
                id: RoleId(uuid(rng)),
                scope,
                predefined: Some(key.to_owned()),
                effective: grants.iter().cloned().collect(),
                permissions: grants,
                policies: vec![],
                org_owner: matches!(scope, SRef::Org(_)) && key == cat.org.owner_role,
            });
            ds.roles.len() - 1
        };
        for o in 0..shape.orgs {
            let org_id = OrgId(uuid(&mut rng));
            ds.orgs.push(Org {
                id: org_id,
                projects: vec![],
                roles: vec![],
                owner_role: 0,
            });
            let mut roles = vec![];
            for key in ["owner", "admin", "member"] {
                roles.push(predefined(&mut ds, &mut rng, SRef::Org(o), key));
            }
            ds.orgs[o].owner_role = roles[0];
            // Org policies: a few project permissions each; the first is read-only.
            let first_policy = ds.policies.len();
            for i in 0..shape.org_policies_per_org {
                let permissions: Vec<String> = if i == 0 {
                    read_keys.clone()
                } else {
                    let n = rng.gen_range(3..=8);
                    project_keys.choose_multiple(&mut rng, n).cloned().collect()
                };
                ds.policies.push(Policy {
                    id: PolicyId(uuid(&mut rng)),
                    scope: SRef::Org(o),
                    permissions,
                });
            }
            let org_policies: Vec<usize> = (first_policy..ds.policies.len()).collect();
            for i in 0..shape.custom_org_roles_per_org {
                let policies: Vec<usize> = if i == 0 {
                    // Analyst: read everything, plus what the second policy grants.
                    org_policies.iter().take(2).copied().collect()
                } else {
                    let n = rng.gen_range(1..=3);
                    org_policies.choose_multiple(&mut rng, n).copied().collect()
                };
                let n = rng.gen_range(0..=3);
                let permissions: Vec<String> =
                    project_keys.choose_multiple(&mut rng, n).cloned().collect();
                roles.push(ds.custom_role(SRef::Org(o), permissions, policies, &mut rng));
            }
            if o == 0 {
                ds.analyst = roles[3];
            }
            ds.orgs[o].roles = roles;
            for j in 0..shape.projects_per_org {
                let p = ds.projects.len();
                ds.projects.push(Project {
                    id: ProjectId(uuid(&mut rng)),
                    org: o,
                    restricted: rng.gen_bool(0.1),
                    roles: vec![],
                });
                let mut proles = vec![];
                for key in ["owner", "manager", "member"] {
                    proles.push(predefined(&mut ds, &mut rng, SRef::Project(p), key));
                }
                if j < shape.custom_project_roles_per_org {
                    let n = rng.gen_range(3..=10);
                    let pol = ds.policies.len();
                    ds.policies.push(Policy {
                        id: PolicyId(uuid(&mut rng)),
                        scope: SRef::Project(p),
                        permissions: project_keys.choose_multiple(&mut rng, n).cloned().collect(),
                    });
                    let n = rng.gen_range(2..=8);
                    let permissions = project_keys.choose_multiple(&mut rng, n).cloned().collect();
                    proles.push(ds.custom_role(SRef::Project(p), permissions, vec![pol], &mut rng));
                }
                ds.projects[p].roles = proles;
                ds.orgs[o].projects.push(p);
            }
            let first_team = ds.teams.len();
            for _ in 0..shape.teams_per_org {
                ds.teams.push(Team {
                    id: TeamId(uuid(&mut rng)),
                    org: o,
                });
            }
            let teams: Vec<usize> = (first_team..ds.teams.len()).collect();
            for &t in &teams {
                if rng.gen_bool(0.3) {
                    let role = ds.org_role(o, &mut rng, false);
                    ds.member(PRef::Team(t), SRef::Org(o), role);
                }
                let n = rng.gen_range(1..=3);
                ds.project_memberships(PRef::Team(t), o, n, &mut rng);
            }
            for _ in 0..shape.users_per_org {
                let u = ds.users.len();
                let n_teams = match rng.gen_range(0..10) {
                    0..=2 => 0,
                    3..=7 => 1,
                    _ => 2,
                };
                ds.users.push(User {
                    id: UserId(uuid(&mut rng)),
                    org: o,
                    teams: teams.choose_multiple(&mut rng, n_teams).copied().collect(),
                });
                let role = ds.org_role(o, &mut rng, true);
                ds.member(PRef::User(u), SRef::Org(o), role);
                let n = rng.gen_range(2..=6);
                ds.project_memberships(PRef::User(u), o, n, &mut rng);
            }
            for _ in 0..shape.keys_per_org {
                let k = ds.api_keys.len();
                ds.api_keys.push(Key {
                    id: ApiKeyId(uuid(&mut rng)),
                    org: o,
                    valid: rng.gen_bool(0.95),
                });
                let role = ds.org_role(o, &mut rng, false);
                ds.member(PRef::Key(k), SRef::Org(o), role);
                let n = rng.gen_range(0..=2);
                ds.project_memberships(PRef::Key(k), o, n, &mut rng);
            }
        }
        ds
    }

    fn custom_role(
        &mut self,
        scope: SRef,
        permissions: Vec<String>,
        policies: Vec<usize>,
        rng: &mut StdRng,
    ) -> usize {
        let mut effective: BTreeSet<String> = permissions.iter().cloned().collect();
        for &p in &policies {
            effective.extend(self.policies[p].permissions.iter().cloned());
        }
        self.roles.push(Role {
            id: RoleId(uuid(rng)),
            scope,
            predefined: None,
            permissions,
            policies,
            effective,
            org_owner: false,
        });
        self.roles.len() - 1
    }

    /// An org role: for users mostly the Analyst or Member, for teams and keys mostly
    /// Member or a custom role.
    fn org_role(&self, o: usize, rng: &mut StdRng, user: bool) -> usize {
        let roles = &self.orgs[o].roles;
        let x: f64 = rng.gen();
        if user {
            match x {
                x if x < 0.002 => roles[0],
                x if x < 0.02 => roles[1],
                x if x < 0.54 => roles[3],
                x if x < 0.85 => roles[2],
                _ => *pick(rng, &roles[4..]),
            }
        } else {
            match x {
                x if x < 0.1 => roles[1],
                x if x < 0.6 => roles[2],
                _ => *pick(rng, &roles[3..]),
            }
        }
    }

    fn project_memberships(&mut self, p: PRef, o: usize, n: usize, rng: &mut StdRng) {
        let projects: Vec<usize> = self.orgs[o]
            .projects
            .choose_multiple(rng, n)
            .copied()
            .collect();
        for pj in projects {
            let roles = &self.projects[pj].roles;
            let role = if roles.len() > 3 && rng.gen_bool(0.3) {
                roles[3]
            } else {
                match rng.gen_range(0..100) {
                    0..=2 => roles[0],
                    3..=19 => roles[1],
                    _ => roles[2],
                }
            };
            self.member(p, SRef::Project(pj), role);
        }
    }

    fn member(&mut self, principal: PRef, scope: SRef, role: usize) {
        self.memberships.push(Membership {
            principal,
            scope,
            role,
        });
    }

    /// The model's principal of a reference.
    pub fn principal(&self, p: PRef) -> Principal {
        match p {
            PRef::User(i) => Principal::User(self.users[i].id),
            PRef::Team(i) => Principal::Team(self.teams[i].id),
            PRef::Key(i) => Principal::ApiKey(self.api_keys[i].id),
        }
    }

    /// The org a principal belongs to.
    pub fn principal_org(&self, p: PRef) -> usize {
        match p {
            PRef::User(i) => self.users[i].org,
            PRef::Team(i) => self.teams[i].org,
            PRef::Key(i) => self.api_keys[i].org,
        }
    }

    /// The org of a scope.
    pub fn org_of(&self, s: SRef) -> usize {
        match s {
            SRef::Org(o) => o,
            SRef::Project(p) => self.projects[p].org,
        }
    }

    /// The model's scope of a reference.
    pub fn scope(&self, s: SRef) -> Scope {
        match s {
            SRef::Org(o) => Scope::org(self.orgs[o].id),
            SRef::Project(p) => {
                Scope::project(self.orgs[self.projects[p].org].id, self.projects[p].id)
            }
        }
    }

    /// The effects that build the model in an engine, in the order the server's start-up
    /// load emits them: orgs, projects, policies, roles, teams, team users, keys,
    /// memberships.
    pub fn effects(&self) -> Vec<Effect> {
        let mut out = Vec::new();
        for o in &self.orgs {
            out.push(Effect::PutOrg { org_id: o.id });
        }
        for p in &self.projects {
            out.push(Effect::PutProject {
                project_id: p.id,
                org_id: self.orgs[p.org].id,
                restricted: p.restricted,
            });
        }
        for p in &self.policies {
            out.push(Effect::PutPolicy {
                policy_id: p.id,
                scope: self.scope(p.scope),
                permissions: p.permissions.clone(),
            });
        }
        for r in &self.roles {
            out.push(self.put_role(r, r.permissions.clone()));
        }
        for t in &self.teams {
            out.push(Effect::PutTeam {
                team_id: t.id,
                org_id: self.orgs[t.org].id,
            });
        }
        for u in &self.users {
            for &t in &u.teams {
                out.push(Effect::PutTeamUser {
                    team_id: self.teams[t].id,
                    user_id: u.id,
                });
            }
        }
        for k in &self.api_keys {
            out.push(Effect::PutApiKey {
                api_key_id: k.id,
                scope: Scope::org(self.orgs[k.org].id),
                valid: k.valid,
            });
        }
        for m in &self.memberships {
            out.push(Effect::PutMembership {
                scope: self.scope(m.scope),
                principal: self.principal(m.principal),
                role_id: self.roles[m.role].id,
            });
        }
        out
    }

    /// The `PutRole` effect of a role with the given inline permissions.
    pub fn put_role(&self, r: &Role, permissions: Vec<String>) -> Effect {
        Effect::PutRole {
            role_id: r.id,
            scope: self.scope(r.scope),
            predefined: r.predefined.clone(),
            permissions,
            policy_ids: r.policies.iter().map(|&p| self.policies[p].id).collect(),
        }
    }

    /// The part of the data set that one org and its first `projects` projects make, with
    /// every principal of that org and their memberships in the kept scopes (for the engines
    /// that cannot hold the whole set).
    pub fn subset(&self, org: usize, projects: usize) -> DataSet {
        let kept: Vec<usize> = self.orgs[org]
            .projects
            .iter()
            .take(projects)
            .copied()
            .collect();
        let keep_scope = |s: SRef| match s {
            SRef::Org(o) => o == org,
            SRef::Project(p) => kept.contains(&p),
        };
        // Renumber everything kept.
        let mut out = DataSet {
            keys: self.keys.clone(),
            orgs: vec![],
            projects: vec![],
            policies: vec![],
            roles: vec![],
            users: vec![],
            teams: vec![],
            api_keys: vec![],
            memberships: vec![],
            analyst: 0,
        };
        let map_scope = |s: SRef| match s {
            SRef::Org(_) => SRef::Org(0),
            SRef::Project(p) => SRef::Project(kept.iter().position(|&k| k == p).unwrap_or(0)),
        };
        let mut policy_map = std::collections::HashMap::new();
        for (i, p) in self.policies.iter().enumerate() {
            if keep_scope(p.scope) {
                policy_map.insert(i, out.policies.len());
                out.policies.push(Policy {
                    scope: map_scope(p.scope),
                    ..p.clone()
                });
            }
        }
        let mut role_map = std::collections::HashMap::new();
        for (i, r) in self.roles.iter().enumerate() {
            if keep_scope(r.scope) {
                role_map.insert(i, out.roles.len());
                out.roles.push(Role {
                    scope: map_scope(r.scope),
                    policies: r
                        .policies
                        .iter()
                        .filter_map(|p| policy_map.get(p).copied())
                        .collect(),
                    ..r.clone()
                });
            }
        }
        let remap = |v: &[usize]| -> Vec<usize> {
            v.iter().filter_map(|r| role_map.get(r).copied()).collect()
        };
        out.orgs.push(Org {
            id: self.orgs[org].id,
            projects: (0..kept.len()).collect(),
            roles: remap(&self.orgs[org].roles),
            owner_role: role_map
                .get(&self.orgs[org].owner_role)
                .copied()
                .unwrap_or(0),
        });
        for &p in &kept {
            out.projects.push(Project {
                org: 0,
                roles: remap(&self.projects[p].roles),
                ..self.projects[p].clone()
            });
        }
        let mut team_map = std::collections::HashMap::new();
        for (i, t) in self.teams.iter().enumerate().filter(|(_, t)| t.org == org) {
            team_map.insert(i, out.teams.len());
            out.teams.push(Team {
                org: 0,
                ..t.clone()
            });
        }
        let mut user_map = std::collections::HashMap::new();
        for (i, u) in self.users.iter().enumerate().filter(|(_, u)| u.org == org) {
            user_map.insert(i, out.users.len());
            out.users.push(User {
                id: u.id,
                org: 0,
                teams: u
                    .teams
                    .iter()
                    .filter_map(|t| team_map.get(t).copied())
                    .collect(),
            });
        }
        let mut key_map = std::collections::HashMap::new();
        for (i, k) in self
            .api_keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.org == org)
        {
            key_map.insert(i, out.api_keys.len());
            out.api_keys.push(Key {
                org: 0,
                ..k.clone()
            });
        }
        for m in &self.memberships {
            if !keep_scope(m.scope) {
                continue;
            }
            let principal = match m.principal {
                PRef::User(i) => user_map.get(&i).map(|&j| PRef::User(j)),
                PRef::Team(i) => team_map.get(&i).map(|&j| PRef::Team(j)),
                PRef::Key(i) => key_map.get(&i).map(|&j| PRef::Key(j)),
            };
            if let (Some(principal), Some(&role)) = (principal, role_map.get(&m.role)) {
                out.memberships.push(Membership {
                    principal,
                    scope: map_scope(m.scope),
                    role,
                });
            }
        }
        out.analyst = role_map.get(&self.analyst).copied().unwrap_or(0);
        out
    }

    /// The memberships of each principal, indexed by principal.
    pub fn by_principal(&self) -> std::collections::HashMap<PRef, Vec<(SRef, usize)>> {
        let mut m: std::collections::HashMap<PRef, Vec<(SRef, usize)>> = Default::default();
        for x in &self.memberships {
            m.entry(x.principal).or_default().push((x.scope, x.role));
        }
        m
    }
}
