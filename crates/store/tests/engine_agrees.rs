//! Property test: the engine agrees with a naive reading of the store's tables.
//!
//! Each case bootstraps a fresh org in one database, generates a small random world
//! (users, teams, projects, some restricted, custom policies and roles at org and project
//! scope, memberships, API keys), then applies a random sequence of writes (updates,
//! deletes with and without cascade, membership and team changes, restrictions, project and
//! key deletions). One `warden_engine::Index` follows the change log for the whole run, as
//! the server does. After each case every principal × scope × sampled permission is asked
//! of the engine (check, explain, effective, who-can) and of [`Naive`], a literal reading of
//! DESIGN.md's rules over `Store::org_tables`. At the end an index loaded with
//! `Store::load` must agree with the incremental one on the last cases' queries.
//!
//! The database is a SQLite file, or a fresh PostgreSQL database when
//! `WARDEN_TEST_DATABASE_URL` names a server (`warden_store::testing`).
//! `WARDEN_PROPTEST_CASES` sets the number of cases (default 10 000 on SQLite, 500 on
//! PostgreSQL), `WARDEN_PROPTEST_SEED`
//! the seed (random by default; printed), `WARDEN_PROPTEST_ONLY_CASE` replays one case of a
//! seed alone (each case draws from its own generator, derived from the seed and its number,
//! and writes only in its own org), `WARDEN_PROPTEST_JOBS` how many cases run at once and
//! `WARDEN_PROPTEST_DIR` where the database file goes (by default `/dev/shm` when there is
//! one: the store fsyncs every write, which costs nothing on a RAM-backed file system).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use warden_engine::{Explanation, Grant, Holder, Index};
use warden_model::{
    ApiKeyId, Catalogue, Description, Effect, Name, OrgId, PolicyId, Principal, ProjectId, RoleId,
    Scope, ScopeKind, TeamId, UserId,
};
use warden_store::tables::OrgTables;
use warden_store::testing::TestDatabase;
use warden_store::{
    KeyPatch, NewPolicy, NewProject, NewRole, NewTeam, PolicyPatch, ProjectPatch, RolePatch,
    RoleRecord, Store, StoreError,
};

// The size of a case. The run time is bound by the store's single write connection: every
// write is a SQLite transaction of about a dozen statements (0.3 to 1 ms in debug) and a case
// makes about a dozen writes, so a case is small. 10 000 cases take 100 to 110 s in debug on
// 2 shared cores (the writes alone about 65 s).
/// Users added besides the Owner.
const ADDED_USERS: RangeInclusive<usize> = 1..=2;
const PROJECTS: RangeInclusive<usize> = 0..=2;
const TEAMS: RangeInclusive<usize> = 0..=1;
const TEAM_USERS: RangeInclusive<usize> = 0..=2;
const POLICIES: RangeInclusive<usize> = 1..=2;
const ROLES: RangeInclusive<usize> = 1..=2;
const MEMBERSHIPS: RangeInclusive<usize> = 1..=2;
const KEYS: RangeInclusive<usize> = 0..=1;
/// How many random writes follow the world's creation.
const WRITES: RangeInclusive<usize> = 2..=6;
/// How many cases run at once (`WARDEN_PROPTEST_JOBS`).
const JOBS: u64 = 2;
/// Cases run by default on PostgreSQL.
const PG_CASES: u64 = 500;
/// How many of the last cases the loaded index is compared on.
const LAST_CASES: usize = 50;
/// At least this many permission keys are asked per case.
const MIN_KEYS: usize = 20;

// ---------------------------------------------------------------------------------------
// The naive reference.
// ---------------------------------------------------------------------------------------

/// DESIGN.md's rules, read literally over one org's tables.
struct Naive<'a> {
    t: &'a OrgTables,
    org: OrgId,
    /// The catalogue key of the org Owner role.
    owner_key: &'a str,
    /// The catalogue's permission keys (keys it does not define grant nothing).
    known: &'a HashSet<String>,
}

impl<'a> Naive<'a> {
    /// `Some(restricted)` when the scope is the org or one of its live projects.
    fn scope(&self, scope: Scope) -> Option<bool> {
        if scope.org_id != self.org {
            return None;
        }
        match scope.project_id {
            None => Some(false),
            Some(p) => self
                .t
                .projects
                .iter()
                .find(|(id, _)| *id == p)
                .map(|(_, r)| *r),
        }
    }

    /// The (membership scope, role) pairs of `p`'s own memberships that count in `scope`:
    /// the scope's own membership and, in a project, the org membership, unless the project
    /// is restricted and the org role is not the Owner role. Invalid or deleted API keys
    /// hold nothing.
    fn own_roles(&self, p: Principal, scope: Scope) -> Vec<(Scope, RoleId)> {
        let Some(restricted) = self.scope(scope) else {
            return vec![];
        };
        if let Principal::ApiKey(k) = p {
            if !self
                .t
                .api_keys
                .iter()
                .any(|(id, _, valid)| *id == k && *valid)
            {
                return vec![];
            }
        }
        let org_scope = Scope::org(self.org);
        self.t
            .memberships
            .iter()
            .filter(|(_, q, _)| *q == p)
            .filter(|(s, _, r)| {
                *s == scope
                    || (scope.project_id.is_some()
                        && *s == org_scope
                        && (!restricted || self.is_owner_role(*r)))
            })
            .map(|(s, _, r)| (*s, *r))
            .collect()
    }

    fn is_owner_role(&self, r: RoleId) -> bool {
        self.t
            .role_grants
            .get(&r)
            .is_some_and(|(_, key, _)| key.as_deref() == Some(self.owner_key))
    }

    /// The teams a user is in (none for other principals).
    fn teams_of(&self, p: Principal) -> Vec<TeamId> {
        match p {
            Principal::User(u) => self
                .t
                .team_users
                .iter()
                .filter(|(_, tu)| *tu == u)
                .map(|(t, _)| *t)
                .collect(),
            _ => vec![],
        }
    }

    /// What `p` holds in `scope` through its own memberships only.
    fn own_perms(&self, p: Principal, scope: Scope) -> BTreeSet<&'a str> {
        let mut out = BTreeSet::new();
        for (_, r) in self.own_roles(p, scope) {
            if let Some((_, _, grants)) = self.t.role_grants.get(&r) {
                out.extend(
                    grants
                        .iter()
                        .filter(|k| self.known.contains(*k))
                        .map(String::as_str),
                );
            }
        }
        out
    }

    /// Every grant of `perm` to `p` in `scope`, its own and, for a user, its teams':
    /// membership → role → inline permission or policy.
    fn grants(&self, p: Principal, perm: &str, scope: Scope) -> Vec<Grant> {
        if !self.known.contains(perm) {
            return vec![];
        }
        let mut holders = vec![(p, None)];
        holders.extend(
            self.teams_of(p)
                .into_iter()
                .map(|t| (Principal::Team(t), Some(t))),
        );
        let mut out = Vec::new();
        for (h, via_team) in holders {
            for (s, r) in self.own_roles(h, scope) {
                if self.t.role_inline.get(&r).is_some_and(|i| i.contains(perm)) {
                    out.push(Grant {
                        via_team,
                        scope: s,
                        role_id: r,
                        policy_id: None,
                    });
                }
                for pol in self.t.role_policies.get(&r).into_iter().flatten() {
                    if self
                        .t
                        .policy_perms
                        .get(pol)
                        .is_some_and(|x| x.contains(perm))
                    {
                        out.push(Grant {
                            via_team,
                            scope: s,
                            role_id: r,
                            policy_id: Some(*pol),
                        });
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Answers for one scope, computed once: what every principal holds there on its own.
    fn in_scope(&self, scope: Scope, extra: &[Principal]) -> InScope<'a> {
        let mut candidates: BTreeSet<Principal> = extra.iter().copied().collect();
        candidates.extend(self.t.users.iter().map(|u| Principal::User(*u)));
        candidates.extend(self.t.teams.iter().map(|t| Principal::Team(*t)));
        candidates.extend(self.t.api_keys.iter().map(|k| Principal::ApiKey(k.0)));
        candidates.extend(self.t.memberships.iter().map(|m| m.1));
        candidates.extend(self.t.team_users.iter().map(|(_, u)| Principal::User(*u)));
        let own: BTreeMap<Principal, BTreeSet<&str>> = candidates
            .into_iter()
            .map(|c| (c, self.own_perms(c, scope)))
            .collect();
        let teams = own
            .keys()
            .map(|c| {
                let mut ts = self.teams_of(*c);
                ts.sort();
                ts.dedup();
                (*c, ts)
            })
            .collect();
        InScope { own, teams }
    }
}

/// What every principal holds in one scope, on its own and through its teams.
struct InScope<'a> {
    own: BTreeMap<Principal, BTreeSet<&'a str>>,
    teams: BTreeMap<Principal, Vec<TeamId>>,
}

impl<'a> InScope<'a> {
    fn own(&self, p: Principal) -> &BTreeSet<&'a str> {
        static EMPTY: BTreeSet<&str> = BTreeSet::new();
        self.own.get(&p).unwrap_or(&EMPTY)
    }

    /// Every permission `p` holds: its own and, for a user, its teams'.
    fn perms(&self, p: Principal) -> BTreeSet<&'a str> {
        let mut out = self.own(p).clone();
        for t in self.teams.get(&p).into_iter().flatten() {
            out.extend(self.own(Principal::Team(*t)));
        }
        out
    }

    /// Every principal that holds `perm`, and how.
    fn who_can(&self, perm: &str) -> Vec<Holder> {
        let mut out = Vec::new();
        for (c, own) in &self.own {
            let direct = own.contains(perm);
            let via_teams: Vec<TeamId> = self.teams[c]
                .iter()
                .copied()
                .filter(|t| self.own(Principal::Team(*t)).contains(perm))
                .collect();
            if direct || !via_teams.is_empty() {
                out.push(Holder {
                    principal: *c,
                    via_teams,
                    direct,
                });
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// The world a case builds, as the generator believes it to be.
// ---------------------------------------------------------------------------------------

struct World {
    seed: u64,
    case: usize,
    org: OrgId,
    /// The user that bootstrapped the org (its first Owner).
    owner: UserId,
    owner_key: ApiKeyId,
    /// Users ever added to the org (some may have been removed from it since).
    users: Vec<UserId>,
    projects: Vec<ProjectId>,
    all_projects: Vec<ProjectId>,
    teams: Vec<TeamId>,
    all_teams: Vec<TeamId>,
    keys: Vec<(ApiKeyId, Scope)>,
    all_keys: Vec<ApiKeyId>,
    policies: Vec<(PolicyId, Scope)>,
    /// Custom roles.
    roles: Vec<RoleRef>,
    /// Predefined roles of the org and of every project.
    predefined: Vec<RoleRef>,
    /// The permission keys this case draws from, by scope kind.
    pool_org: Vec<String>,
    pool_project: Vec<String>,
    names: usize,
    /// The email each user was added with.
    emails: HashMap<UserId, String>,
    /// What was written, for the report of a mismatch.
    log: Vec<String>,
}

impl World {
    fn name(&mut self, prefix: &str) -> Name {
        self.names += 1;
        Name::parse("name", &format!("{prefix}{}", self.names)).unwrap()
    }

    fn scopes(&self) -> Vec<Scope> {
        std::iter::once(Scope::org(self.org))
            .chain(self.projects.iter().map(|p| Scope::project(self.org, *p)))
            .collect()
    }

    fn pool(&self, scope: Scope) -> &[String] {
        match scope.kind() {
            ScopeKind::Org => &self.pool_org,
            ScopeKind::Project => &self.pool_project,
        }
    }

    fn roles_of(&self, scope: Scope) -> Vec<&RoleRef> {
        self.roles
            .iter()
            .chain(&self.predefined)
            .filter(|r| r.scope == scope)
            .collect()
    }

    /// Every principal the case created (users, teams, keys), deleted ones included.
    fn principals(&self) -> Vec<Principal> {
        let mut out: Vec<Principal> = self.users.iter().map(|u| Principal::User(*u)).collect();
        out.extend(self.all_teams.iter().map(|t| Principal::Team(*t)));
        out.push(Principal::ApiKey(self.owner_key));
        out.extend(self.all_keys.iter().map(|k| Principal::ApiKey(*k)));
        out
    }

    /// Records a write's outcome. Rule errors (conflicts, refusals, not found) are fine;
    /// a database error or unreadable data is not.
    fn note<T>(&mut self, what: String, r: Result<T, StoreError>) -> Option<T> {
        match r {
            Ok(v) => {
                self.log.push(format!("ok   {what}"));
                Some(v)
            }
            Err(
                e @ (StoreError::Database(_) | StoreError::Migrate(_) | StoreError::Corrupt(_)),
            ) => panic!(
                "seed {} case {}: `{what}` failed in the database: {e}\nwrites:\n{}",
                self.seed,
                self.case,
                self.log.join("\n")
            ),
            Err(e) => {
                self.log.push(format!("refused {what}: {e}"));
                None
            }
        }
    }
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> Option<&'a T> {
    items.choose(rng)
}

fn some_of(rng: &mut StdRng, pool: &[String], min: usize, max: usize) -> Vec<String> {
    let n = rng.gen_range(min..=max).min(pool.len());
    pool.choose_multiple(rng, n).cloned().collect()
}

const ACTOR: &str = "test:proptest";

/// A role as the generator knows it.
#[derive(Debug, Clone)]
struct RoleRef {
    id: RoleId,
    scope: Scope,
    predefined: Option<String>,
}

impl std::fmt::Display for RoleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.predefined {
            Some(key) => write!(f, "role {} (predefined `{key}`)", self.id),
            None => write!(f, "role {}", self.id),
        }
    }
}

impl RoleRef {
    /// The record the store's membership and key writes take (they read its id, its scope
    /// and whether it is predefined); the generator only names roles that exist.
    fn record(&self) -> RoleRecord {
        RoleRecord {
            id: self.id,
            org_id: self.scope.org_id,
            project_id: self.scope.project_id,
            name: format!("role {}", self.id),
            description: String::new(),
            predefined_key: self.predefined.clone(),
            permissions: vec![],
            policies: vec![],
            effective_permissions: vec![],
            created_at: String::new(),
            updated_at: String::new(),
            version: 1,
        }
    }
}

/// The predefined roles a write created, read from its change-log entry.
async fn predefined_roles(store: &Store, revision: u64) -> Vec<RoleRef> {
    let entries = store.changes_since(revision - 1, 1).await.unwrap();
    entries
        .iter()
        .flat_map(|e| &e.effects)
        .filter_map(|e| match e {
            Effect::PutRole {
                role_id,
                scope,
                predefined: Some(key),
                ..
            } => Some(RoleRef {
                id: *role_id,
                scope: *scope,
                predefined: Some(key.clone()),
            }),
            _ => None,
        })
        .collect()
}

/// Bootstraps an org and fills it with a small random world.
async fn build_world(store: &Store, cat: &Catalogue, seed: u64, case: usize) -> (World, StdRng) {
    let mut rng = StdRng::seed_from_u64(seed ^ (case as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let boot = store
        .bootstrap(
            &Name::parse("name", &format!("Org {case}")).unwrap(),
            &format!("owner.c{case}@proptest.test"),
        )
        .await
        .unwrap();
    let org = boot.org_id;
    // A small pool of keys per case, so that roles overlap and checks are interesting.
    let project_keys: Vec<String> = cat
        .project
        .permissions
        .iter()
        .map(|p| p.key.clone())
        .collect();
    let org_only: Vec<String> = cat
        .org
        .permissions
        .iter()
        .map(|p| p.key.clone())
        .filter(|k| !cat.project.has(k))
        .collect();
    let pool_project: Vec<String> = project_keys.choose_multiple(&mut rng, 6).cloned().collect();
    let mut pool_org = pool_project.clone();
    pool_org.extend(org_only.choose_multiple(&mut rng, 2).cloned());
    let mut w = World {
        seed,
        case,
        org,
        owner: boot.user_id,
        owner_key: boot.api_key_id,
        users: vec![boot.user_id],
        projects: vec![],
        all_projects: vec![],
        teams: vec![],
        all_teams: vec![],
        keys: vec![],
        all_keys: vec![],
        policies: vec![],
        roles: vec![],
        predefined: predefined_roles(store, boot.revision).await,
        pool_org,
        pool_project,
        names: 0,
        emails: HashMap::from([(boot.user_id, format!("owner.c{case}@proptest.test"))]),
        log: vec![format!(
            "bootstrap org {org}: owner user:{} and key api_key:{}",
            boot.user_id, boot.api_key_id
        )],
    };

    for i in 0..rng.gen_range(ADDED_USERS) {
        // Now and then a user of the neighbouring case's org, so that some users belong to
        // two orgs (with roles and teams in both).
        let email = if i == 0 && case > 0 && rng.gen_bool(0.2) {
            format!("u0.c{}@proptest.test", case - 1)
        } else {
            format!("u{i}.c{case}@proptest.test")
        };
        let r = store.add_user_to_org(ACTOR, org, &email).await;
        if let Some(u) = w.note(format!("add user {email}"), r) {
            w.log.push(format!("     = user:{}", u.value));
            w.users.push(u.value);
            w.emails.insert(u.value, email);
        }
    }
    for _ in 0..rng.gen_range(PROJECTS) {
        create_project(store, &mut w, &mut rng).await;
    }
    for _ in 0..rng.gen_range(TEAMS) {
        create_team(store, &mut w, &mut rng).await;
    }
    for _ in 0..rng.gen_range(TEAM_USERS) {
        add_team_user(store, &mut w, &mut rng).await;
    }
    for _ in 0..rng.gen_range(POLICIES) {
        create_policy(store, &mut w, &mut rng).await;
    }
    for _ in 0..rng.gen_range(ROLES) {
        create_role(store, &mut w, &mut rng).await;
    }
    for _ in 0..rng.gen_range(MEMBERSHIPS) {
        set_member(store, &mut w, &mut rng).await;
    }
    for _ in 0..rng.gen_range(KEYS) {
        create_key(store, &mut w, &mut rng).await;
    }
    (w, rng)
}

async fn create_project(store: &Store, w: &mut World, rng: &mut StdRng) {
    let restricted = rng.gen_bool(0.4);
    let input = NewProject {
        name: w.name("P"),
        description: Description::default(),
        restricted,
    };
    let r = store.create_project(ACTOR, w.org, input).await;
    if let Some(p) = w.note(format!("create project (restricted: {restricted})"), r) {
        let id = p.value.id;
        w.log.push(format!("     = project {id}"));
        w.projects.push(id);
        w.all_projects.push(id);
        let roles = predefined_roles(store, p.revision).await;
        w.predefined.extend(roles);
    }
}

async fn create_team(store: &Store, w: &mut World, _rng: &mut StdRng) {
    let input = NewTeam {
        key: None,
        name: w.name("T"),
        description: Description::default(),
    };
    let r = store.create_team(ACTOR, w.org, input).await;
    if let Some(t) = w.note("create team".into(), r) {
        w.log.push(format!("     = team:{}", t.value.id));
        w.teams.push(t.value.id);
        w.all_teams.push(t.value.id);
    }
}

async fn add_team_user(store: &Store, w: &mut World, rng: &mut StdRng) {
    let (Some(&t), Some(&u)) = (pick(rng, &w.teams), pick(rng, &w.users)) else {
        return;
    };
    let r = store.add_team_user(ACTOR, w.org, &t.to_string(), u).await;
    w.note(format!("add user:{u} to team:{t}"), r);
}

async fn remove_team_user(store: &Store, w: &mut World, rng: &mut StdRng) {
    let (Some(&t), Some(&u)) = (pick(rng, &w.teams), pick(rng, &w.users)) else {
        return;
    };
    let r = store
        .remove_team_user(ACTOR, w.org, &t.to_string(), u)
        .await;
    w.note(format!("remove user:{u} from team:{t}"), r);
}

async fn delete_team(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(&t) = pick(rng, &w.teams) else {
        return;
    };
    let r = store.delete_team(ACTOR, w.org, &t.to_string()).await;
    if w.note(format!("delete team:{t}"), r).is_some() {
        w.teams.retain(|x| *x != t);
    }
}

async fn create_policy(store: &Store, w: &mut World, rng: &mut StdRng) {
    let scope = *pick(rng, &w.scopes()).unwrap();
    let permissions = some_of(rng, w.pool(scope), 1, 3);
    let input = NewPolicy {
        name: w.name("Pol"),
        description: Description::default(),
        permissions: permissions.clone(),
    };
    let r = store.create_policy(ACTOR, scope, input).await;
    if let Some(p) = w.note(format!("create policy in {scope} with {permissions:?}"), r) {
        w.log.push(format!("     = policy {}", p.value.id));
        w.policies.push((p.value.id, scope));
    }
}

async fn update_policy(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(&(id, scope)) = pick(rng, &w.policies) else {
        return;
    };
    let permissions = some_of(rng, w.pool(scope), 1, 3);
    let patch = PolicyPatch {
        permissions: Some(permissions.clone()),
        ..Default::default()
    };
    let r = store.update_policy(ACTOR, scope, id, patch, None).await;
    w.note(format!("update policy {id} to {permissions:?}"), r);
}

async fn delete_policy(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(&(id, scope)) = pick(rng, &w.policies) else {
        return;
    };
    let cascade = rng.gen_bool(0.5);
    let r = store.delete_policy(ACTOR, scope, id, cascade).await;
    if w.note(format!("delete policy {id} (cascade: {cascade})"), r)
        .is_some()
    {
        w.policies.retain(|(p, _)| *p != id);
    }
}

/// Policies of a scope to give a role, and inline permissions; at least one of them.
fn role_parts(w: &World, rng: &mut StdRng, scope: Scope) -> (Vec<PolicyId>, Vec<String>) {
    let of_scope: Vec<PolicyId> = w
        .policies
        .iter()
        .filter(|(_, s)| *s == scope)
        .map(|(p, _)| *p)
        .collect();
    let n = rng.gen_range(0..=2).min(of_scope.len());
    let policy_ids: Vec<PolicyId> = of_scope.choose_multiple(rng, n).copied().collect();
    let min = usize::from(policy_ids.is_empty());
    let permissions = some_of(rng, w.pool(scope), min, 2);
    (policy_ids, permissions)
}

async fn create_role(store: &Store, w: &mut World, rng: &mut StdRng) {
    let scope = *pick(rng, &w.scopes()).unwrap();
    let (policy_ids, permissions) = role_parts(w, rng, scope);
    let input = NewRole {
        name: w.name("R"),
        description: Description::default(),
        policy_ids: policy_ids.clone(),
        permissions: permissions.clone(),
    };
    let r = store.create_role(ACTOR, scope, input).await;
    if let Some(role) = w.note(
        format!("create role in {scope} with policies {policy_ids:?} and {permissions:?}"),
        r,
    ) {
        w.log.push(format!("     = role {}", role.value.id));
        w.roles.push(RoleRef {
            id: role.value.id,
            scope,
            predefined: None,
        });
    }
}

async fn update_role(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(role) = pick(rng, &w.roles).cloned() else {
        return;
    };
    let scope = role.scope;
    let (policy_ids, permissions) = role_parts(w, rng, scope);
    let patch = match rng.gen_range(0..3) {
        0 => RolePatch {
            policy_ids: Some(policy_ids),
            ..Default::default()
        },
        1 => RolePatch {
            permissions: Some(permissions),
            ..Default::default()
        },
        _ => RolePatch {
            policy_ids: Some(policy_ids),
            permissions: Some(permissions),
            ..Default::default()
        },
    };
    let what = format!(
        "update role {} (policies {:?}, permissions {:?})",
        role.id, patch.policy_ids, patch.permissions
    );
    let r = store.update_role(ACTOR, scope, role.id, patch, None).await;
    w.note(what, r);
}

async fn delete_role(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(role) = pick(rng, &w.roles).cloned() else {
        return;
    };
    let cascade = rng.gen_bool(0.5);
    let r = store.delete_role(ACTOR, role.scope, role.id, cascade).await;
    if w.note(format!("delete role {} (cascade: {cascade})", role.id), r)
        .is_some()
    {
        w.roles.retain(|x| x.id != role.id);
    }
}

fn some_principal(w: &World, rng: &mut StdRng) -> Option<Principal> {
    match rng.gen_range(0..4) {
        0 | 1 => pick(rng, &w.users).map(|u| Principal::User(*u)),
        2 => pick(rng, &w.teams).map(|t| Principal::Team(*t)),
        _ => pick(rng, &w.keys).map(|k| Principal::ApiKey(k.0)),
    }
}

async fn set_member(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(p) = some_principal(w, rng) else {
        return;
    };
    let scope = *pick(rng, &w.scopes()).unwrap();
    // Mostly a role of the scope; now and then one of another scope (refused).
    let role = if rng.gen_bool(0.9) {
        pick(rng, &w.roles_of(scope)).map(|r| (*r).clone())
    } else {
        let all: Vec<&RoleRef> = w.roles.iter().chain(&w.predefined).collect();
        pick(rng, &all).map(|r| (*r).clone())
    };
    let Some(role) = role else {
        return;
    };
    let r = store
        .set_member(ACTOR, scope, p, &role.record(), true)
        .await;
    w.note(format!("set {p} in {scope} to {role}"), r);
}

async fn remove_member(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(p) = some_principal(w, rng) else {
        return;
    };
    let scope = *pick(rng, &w.scopes()).unwrap();
    let r = store.remove_member(ACTOR, scope, p, true).await;
    w.note(format!("remove {p} from {scope}"), r);
}

async fn re_add_user(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(&u) = pick(rng, &w.users) else {
        return;
    };
    let Some(email) = w.emails.get(&u).cloned() else {
        return;
    };
    let r = store.add_user_to_org(ACTOR, w.org, &email).await;
    w.note(format!("add user {email} again"), r);
}

/// The first Owner hands the org or a project over to another user (and is demoted where
/// it held the Owner role itself).
async fn transfer_ownership(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(&target) = pick(rng, &w.users) else {
        return;
    };
    let scope = *pick(rng, &w.scopes()).unwrap();
    let caller = Principal::User(w.owner);
    let r = store.transfer_ownership(ACTOR, scope, caller, target).await;
    w.note(
        format!("transfer ownership of {scope} from {caller} to user:{target}"),
        r,
    );
}

async fn restrict(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(&p) = pick(rng, &w.projects) else {
        return;
    };
    let restricted = rng.gen_bool(0.5);
    let patch = ProjectPatch {
        restricted: Some(restricted),
        ..Default::default()
    };
    let r = store.update_project(ACTOR, p, patch, None).await;
    w.note(format!("set project {p} restricted: {restricted}"), r);
}

async fn delete_project(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(&p) = pick(rng, &w.projects) else {
        return;
    };
    let r = store.delete_project(ACTOR, p).await;
    if w.note(format!("delete project {p}"), r).is_some() {
        let gone = Scope::project(w.org, p);
        w.projects.retain(|x| *x != p);
        w.policies.retain(|(_, s)| *s != gone);
        w.roles.retain(|r| r.scope != gone);
        w.predefined.retain(|r| r.scope != gone);
        w.keys.retain(|(_, s)| *s != gone);
    }
}

async fn create_key(store: &Store, w: &mut World, rng: &mut StdRng) {
    let scope = *pick(rng, &w.scopes()).unwrap();
    let Some(role) = pick(rng, &w.roles_of(scope)).map(|r| (*r).clone()) else {
        return;
    };
    let name = w.name("K");
    let r = store
        .create_api_key(ACTOR, scope, &name, &role.record(), None)
        .await;
    if let Some(k) = w.note(format!("create key in {scope} with {role}"), r) {
        let id = k.value.0.id;
        w.log.push(format!("     = api_key:{id}"));
        w.keys.push((id, scope));
        w.all_keys.push(id);
    }
}

async fn update_key(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(&(id, scope)) = pick(rng, &w.keys) else {
        return;
    };
    let valid = rng.gen_bool(0.4);
    let patch = KeyPatch {
        valid: Some(valid),
        ..Default::default()
    };
    let r = store.update_api_key(ACTOR, scope, id, patch, None).await;
    w.note(format!("set api_key:{id} valid: {valid}"), r);
}

async fn delete_key(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(&(id, scope)) = pick(rng, &w.keys) else {
        return;
    };
    let r = store.delete_api_key(ACTOR, scope, id).await;
    if w.note(format!("delete api_key:{id}"), r).is_some() {
        w.keys.retain(|(k, _)| *k != id);
    }
}

/// Predefined roles cannot be changed or deleted: the store must refuse.
/// Predefined roles cannot be changed or deleted: the store must refuse.
async fn touch_predefined(store: &Store, w: &mut World, rng: &mut StdRng) {
    let Some(role) = pick(rng, &w.predefined).cloned() else {
        return;
    };
    let r = if rng.gen_bool(0.5) {
        store
            .delete_role(ACTOR, role.scope, role.id, true)
            .await
            .map(|_| ())
    } else {
        let patch = RolePatch {
            permissions: Some(vec![w.pool(role.scope)[0].clone()]),
            ..Default::default()
        };
        store
            .update_role(ACTOR, role.scope, role.id, patch, None)
            .await
            .map(|_| ())
    };
    assert!(
        r.is_err(),
        "seed {} case {}: the store changed predefined {role}",
        w.seed,
        w.case,
    );
    w.note(format!("change predefined {role}"), r);
}

/// One random write.
async fn random_write(store: &Store, w: &mut World, rng: &mut StdRng) {
    // Weights in permille. Deleting a project is rare: the store's `delete_project` scans
    // whole tables (`project_id` has no index), so each one costs more as orgs accumulate in
    // the file, and it holds the store's only write connection meanwhile.
    match rng.gen_range(0..1000) {
        0..=59 => create_policy(store, w, rng).await,
        60..=139 => update_policy(store, w, rng).await,
        140..=219 => delete_policy(store, w, rng).await,
        220..=269 => create_role(store, w, rng).await,
        270..=349 => update_role(store, w, rng).await,
        350..=429 => delete_role(store, w, rng).await,
        430..=559 => set_member(store, w, rng).await,
        560..=639 => remove_member(store, w, rng).await,
        640..=714 => restrict(store, w, rng).await,
        715..=719 => delete_project(store, w, rng).await,
        720..=739 => create_project(store, w, rng).await,
        740..=779 => update_key(store, w, rng).await,
        780..=809 => delete_key(store, w, rng).await,
        810..=829 => create_key(store, w, rng).await,
        830..=889 => add_team_user(store, w, rng).await,
        890..=919 => remove_team_user(store, w, rng).await,
        920..=939 => delete_team(store, w, rng).await,
        940..=949 => create_team(store, w, rng).await,
        950..=969 => re_add_user(store, w, rng).await,
        970..=979 => transfer_ownership(store, w, rng).await,
        _ => touch_predefined(store, w, rng).await,
    }
}

// ---------------------------------------------------------------------------------------
// Comparisons.
// ---------------------------------------------------------------------------------------

/// What a case asks: every principal × scope × permission key.
#[derive(Clone)]
struct Probe {
    case: usize,
    principals: Vec<Principal>,
    scopes: Vec<Scope>,
    keys: Vec<String>,
}

struct Ctx<'a> {
    seed: u64,
    case: usize,
    log: &'a [String],
}

impl Ctx<'_> {
    fn fail(&self, what: std::fmt::Arguments<'_>) -> ! {
        panic!(
            "seed {} case {}: {what}\nreplay: WARDEN_PROPTEST_SEED={} WARDEN_PROPTEST_ONLY_CASE={}\nwrites of the case:\n{}",
            self.seed,
            self.case,
            self.seed,
            self.case,
            self.log.join("\n")
        )
    }
}

/// Asks the engine and the naive reference everything the probe names; returns how many
/// answers were compared.
fn compare_with_naive(index: &Index, naive: &Naive<'_>, probe: &Probe, ctx: &Ctx<'_>) -> u64 {
    let mut n = 0;
    for &scope in &probe.scopes {
        let expect = naive.in_scope(scope, &probe.principals);
        for &p in &probe.principals {
            let expected = expect.perms(p);
            let got: BTreeSet<&str> = index.effective(p, scope).into_iter().collect();
            n += 1;
            if got != expected {
                ctx.fail(format_args!(
                    "effective({p}, {scope}): engine {got:?}, naive {expected:?}"
                ));
            }
            for perm in &probe.keys {
                let want = expected.contains(perm.as_str());
                let check = index.check(p, perm, scope);
                n += 1;
                if check != want {
                    ctx.fail(format_args!(
                        "check({p}, {perm}, {scope}): engine {check}, naive {want}"
                    ));
                }
                let e: Explanation = index.explain(p, perm, scope);
                n += 1;
                if e.allowed != check
                    || e.grants.is_empty() == e.allowed
                    || e.denial.is_some() == e.allowed
                {
                    ctx.fail(format_args!(
                        "explain({p}, {perm}, {scope}) = {e:?} disagrees with check = {check}"
                    ));
                }
                let grants = if want {
                    naive.grants(p, perm, scope)
                } else {
                    vec![]
                };
                if e.grants != grants {
                    ctx.fail(format_args!(
                        "explain({p}, {perm}, {scope}) grants: engine {:?}, naive {grants:?}",
                        e.grants
                    ));
                }
            }
        }
        for perm in &probe.keys {
            let got = index.who_can(perm, scope);
            let want = expect.who_can(perm);
            n += 1;
            if got != want {
                ctx.fail(format_args!(
                    "who_can({perm}, {scope}): engine {got:?}, naive {want:?}"
                ));
            }
        }
    }
    n
}

/// Asks two indexes everything the probe names; returns how many answers were compared.
fn compare_indexes(a: &Index, b: &Index, probe: &Probe, ctx: &Ctx<'_>) -> u64 {
    let mut n = 0;
    for &scope in &probe.scopes {
        for &p in &probe.principals {
            n += 1;
            if a.effective(p, scope) != b.effective(p, scope) {
                ctx.fail(format_args!(
                    "effective({p}, {scope}): incremental {:?}, loaded {:?}",
                    a.effective(p, scope),
                    b.effective(p, scope)
                ));
            }
            for perm in &probe.keys {
                n += 2;
                if a.check(p, perm, scope) != b.check(p, perm, scope) {
                    ctx.fail(format_args!(
                        "check({p}, {perm}, {scope}): incremental {}, loaded {}",
                        a.check(p, perm, scope),
                        b.check(p, perm, scope)
                    ));
                }
                let (ea, eb) = (a.explain(p, perm, scope), b.explain(p, perm, scope));
                if ea.allowed != eb.allowed || ea.grants != eb.grants {
                    ctx.fail(format_args!(
                        "explain({p}, {perm}, {scope}): incremental {ea:?}, loaded {eb:?}"
                    ));
                }
            }
        }
        for perm in &probe.keys {
            n += 1;
            let (wa, wb) = (a.who_can(perm, scope), b.who_can(perm, scope));
            if wa != wb {
                ctx.fail(format_args!(
                    "who_can({perm}, {scope}): incremental {wa:?}, loaded {wb:?}"
                ));
            }
        }
    }
    n
}

/// The keys a case asks about: its pool, every key a custom role grants, and a random
/// sample of the rest of the catalogue, at least [`MIN_KEYS`] in all.
fn probe_keys(w: &World, t: &OrgTables, all: &[String], rng: &mut StdRng) -> Vec<String> {
    let mut keys: BTreeSet<String> = w.pool_org.iter().cloned().collect();
    for (_, key, grants) in t.role_grants.values() {
        if key.is_none() {
            keys.extend(grants.iter().cloned());
        }
    }
    let mut rest: Vec<&String> = all.iter().filter(|k| !keys.contains(*k)).collect();
    rest.shuffle(rng);
    let missing = MIN_KEYS.saturating_sub(keys.len());
    keys.extend(rest.into_iter().take(missing).cloned());
    keys.into_iter().collect()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not `{v}`"))
    })
}

/// Applies the change log's new entries to the index.
async fn catch_up(store: &Store, index: &mut Index) {
    loop {
        let entries = store.changes_since(index.revision(), 10_000).await.unwrap();
        let full = entries.len() == 10_000;
        for e in entries {
            index.apply(e.revision, &e.effects);
        }
        if !full {
            return;
        }
    }
}

/// What the whole run shares.
struct Run {
    store: Store,
    cat: Arc<Catalogue>,
    all_keys: Vec<String>,
    known: HashSet<String>,
    owner_key: String,
    seed: u64,
    /// The cases to run: `next` up to `end`.
    next: AtomicUsize,
    end: usize,
    /// The one index of the run, kept current from the change log.
    index: tokio::sync::Mutex<Index>,
    /// The last case finished, whose principals and a project are asked about in the
    /// next cases (another org's: they must hold nothing there).
    previous: Mutex<Option<Probe>>,
    /// The probes (and write logs) of the last cases, asked again of a loaded index.
    last: Mutex<Vec<(Probe, Vec<String>)>>,
    comparisons: AtomicU64,
    writes: AtomicU64,
}

async fn run_case(run: &Run, case: usize) {
    let store = &run.store;
    let (mut w, mut rng) = build_world(store, &run.cat, run.seed, case).await;
    for _ in 0..rng.gen_range(WRITES) {
        random_write(store, &mut w, &mut rng).await;
    }
    run.writes.fetch_add(
        w.log.iter().filter(|l| l.starts_with("ok")).count() as u64,
        Ordering::Relaxed,
    );
    // As the server does: follow the change log, then answer from a snapshot.
    let index = {
        let mut index = run.index.lock().await;
        catch_up(store, &mut index).await;
        index.clone()
    };
    let tables = store.org_tables(w.org).await.unwrap();
    let naive = Naive {
        t: &tables,
        org: w.org,
        owner_key: &run.owner_key,
        known: &run.known,
    };
    // Every principal of the case and a few of another org's; every scope of the case,
    // deleted projects and a project of another org included.
    let mut principals = w.principals();
    let mut scopes: Vec<Scope> = std::iter::once(Scope::org(w.org))
        .chain(w.all_projects.iter().map(|p| Scope::project(w.org, *p)))
        .collect();
    let previous = run.previous.lock().unwrap().clone();
    if let Some(prev) = &previous {
        // One principal of each kind: its Owner, a team, its Owner key.
        for kind in ["user", "team", "api_key"] {
            principals.extend(prev.principals.iter().find(|p| p.kind() == kind));
        }
        if let Some(s) = prev.scopes.iter().find(|s| s.project_id.is_some()) {
            scopes.push(Scope {
                org_id: w.org,
                project_id: s.project_id,
            });
        }
        w.log.push(format!(
            "(also asked: principals and a project of case {})",
            prev.case
        ));
    }
    let probe = Probe {
        case,
        principals,
        scopes,
        keys: probe_keys(&w, &tables, &run.all_keys, &mut rng),
    };
    let ctx = Ctx {
        seed: run.seed,
        case,
        log: &w.log,
    };
    let n = compare_with_naive(&index, &naive, &probe, &ctx);
    run.comparisons.fetch_add(n, Ordering::Relaxed);
    if case + LAST_CASES >= run.end {
        run.last
            .lock()
            .unwrap()
            .push((probe.clone(), w.log.clone()));
    }
    *run.previous.lock().unwrap() = Some(probe);
}

async fn worker(run: Arc<Run>) {
    loop {
        let case = run.next.fetch_add(1, Ordering::Relaxed);
        if case >= run.end {
            return;
        }
        run_case(&run, case).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_agrees_with_a_naive_reading_of_the_tables() {
    // On PostgreSQL every write is a network round trip or more: fewer cases by default.
    let server = warden_store::testing::postgres_server();
    let default_cases = if server.is_some() { PG_CASES } else { 10_000 };
    let cases = env_u64("WARDEN_PROPTEST_CASES").unwrap_or(default_cases) as usize;
    let seed = env_u64("WARDEN_PROPTEST_SEED").unwrap_or_else(rand::random);
    let only = env_u64("WARDEN_PROPTEST_ONLY_CASE").map(|c| c as usize);
    let jobs = env_u64("WARDEN_PROPTEST_JOBS").unwrap_or(JOBS).max(1);
    let (first, end) = match only {
        Some(c) => (c, c + 1),
        None => (0, cases),
    };
    println!("engine_agrees: seed {seed}, {} case(s)", end - first);
    let started = Instant::now();

    let db = match server {
        Some(server) => TestDatabase::postgres(&server).await.unwrap(),
        // Durable writes fsync; on a RAM-backed file system that costs nothing.
        None => match std::env::var_os("WARDEN_PROPTEST_DIR") {
            Some(d) => TestDatabase::sqlite_in(Some(Path::new(&d))),
            None => TestDatabase::sqlite_in(Some(Path::new("/dev/shm")))
                .or_else(|_| TestDatabase::sqlite()),
        }
        .unwrap(),
    };
    println!("engine_agrees: on {:?}", db.backend());
    let cat = Arc::new(Catalogue::default_llmops());
    let store = Store::open(db.url(), cat.clone()).await.unwrap();
    let owner_key = cat.org.owner_role.clone();
    let all_keys = cat.all_keys();
    let run = Arc::new(Run {
        store,
        cat: cat.clone(),
        known: all_keys.iter().cloned().collect(),
        all_keys,
        owner_key: owner_key.clone(),
        seed,
        next: AtomicUsize::new(first),
        end,
        index: tokio::sync::Mutex::new(Index::new(cat.all_keys(), &owner_key)),
        previous: Mutex::new(None),
        last: Mutex::new(Vec::new()),
        comparisons: AtomicU64::new(0),
        writes: AtomicU64::new(0),
    });

    // Cases run a few at a time: their writes are serialized by the store, their reads and
    // comparisons overlap. Each case draws from its own generator and writes only in its own
    // org, so what it does does not depend on the others.
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..jobs {
        workers.spawn(worker(run.clone()));
    }
    while let Some(r) = workers.join_next().await {
        if let Err(e) = r {
            workers.abort_all();
            match e.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(e) => panic!("a worker failed: {e}"),
            }
        }
    }

    // An index loaded from the tables must answer as the one that followed the change log.
    let index = run.index.lock().await.clone();
    let (rev, effects) = run.store.load().await.unwrap();
    let mut loaded = Index::new(cat.all_keys(), &owner_key);
    loaded.apply(rev, &effects);
    assert_eq!(loaded.revision(), index.revision());
    let last = std::mem::take(&mut *run.last.lock().unwrap());
    assert_eq!(last.len(), (end - first).min(LAST_CASES));
    for (probe, log) in &last {
        let ctx = Ctx {
            seed,
            case: probe.case,
            log,
        };
        let n = compare_indexes(&index, &loaded, probe, &ctx);
        run.comparisons.fetch_add(n, Ordering::Relaxed);
    }
    println!(
        "engine_agrees: seed {seed}, {} case(s), {} successful writes, {} comparisons, {:.1} s",
        end - first,
        run.writes.load(Ordering::Relaxed),
        run.comparisons.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    run.store.close().await;
}
