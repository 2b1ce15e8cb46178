//! Crash safety: a real `warden serve` on a SQLite file is killed with SIGKILL while several
//! clients send it writes, restarted on the same file, and checked; over and over.
//!
//! Each client (a tokio task with its own HTTP client) owns a part of one org: its projects,
//! policies and roles (org and project scope), teams, invited users, API keys and their
//! memberships, and keeps a model of that part. It sends one write at a time, chosen from
//! its model so that the rules allow it (creates, patches, deletes, memberships set and
//! removed, team users, invitations made, accepted and revoked), and applies to its model
//! every write answered 2xx, with the `Warden-Revision` it was answered with. Once a number
//! of writes drawn from the seed have been acknowledged, and a few milliseconds more, the
//! server is killed; every client then holds at most one write whose answer it did not get
//! (in flight, or sent to a dead server), which may or may not have committed.
//!
//! After each kill, and again once the server has restarted:
//!
//! - the change log is gapless (revisions 1..=last, read with `Store::changes_since`);
//! - every acknowledged write is in it, at the revision it was answered with (which is at
//!   most the last), with its action and target; every other entry of the cycle is the
//!   interrupted write of some client (whose fate is then known, and applied to its model);
//! - the tables (`Store::org_tables`) hold exactly what the clients' models say: every
//!   acknowledged creation exists, every acknowledged change and deletion holds, nothing
//!   else exists; the invitations read through the API have the statuses the models say;
//! - the restarted engine answers `POST /v1/check/batch` for every principal × scope ×
//!   sampled permission exactly as a naive reading of the tables does (the rules of README's
//!   "People and access"), at the last revision.
//!
//! `WARDEN_TEST_SEED` replays a run (the seed is printed: it fixes every client's writes and
//! when each kill comes, counted in acknowledged writes; how the clients interleave is up to
//! the machine), `WARDEN_CRASH_CYCLES` sets the number of kills (5 by default). On odd cycles the tables are read while the server is
//! down (this process opens the crashed file first); on even cycles the server restarts
//! first and recovers the file itself, and the tables are read beside it.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bootstrap_owner, serve, Rng, Server};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use warden_client::Client;
use warden_model::{ApiKeyId, Catalogue, OrgId, Principal, TeamId, UserId};
use warden_store::tables::OrgTables;
use warden_store::{AuditEvent, AuditFilter, Store};

/// Concurrent writers.
const CLIENTS: usize = 4;
/// Kills by default (`WARDEN_CRASH_CYCLES`).
const DEFAULT_CYCLES: usize = 5;
/// The most writes acknowledged in a cycle before its kill (the number is drawn from the
/// seed).
const MAX_ACKS: usize = 150;

// What each client may hold at once, so that the world stays small over many cycles.
const MAX_PROJECTS: usize = 2;
const MAX_POLICIES: usize = 6;
const MAX_ROLES: usize = 6;
const MAX_TEAMS: usize = 3;
/// Users in the org plus pending invitations.
const MAX_PEOPLE: usize = 5;
const MAX_KEYS: usize = 5;

/// A scope of the org: `None` for the org, `Some(project)`.
type ScopeId = Option<Uuid>;

/// The role a membership or invitation names: a predefined one by catalogue key, or a
/// custom one by id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum RoleRef {
    Predefined(String),
    Custom(Uuid),
}

impl RoleRef {
    fn pre(key: &str) -> RoleRef {
        RoleRef::Predefined(key.to_owned())
    }

    /// As the API takes it: a predefined role by name, a custom one by id.
    fn param(&self) -> String {
        match self {
            RoleRef::Predefined(k) => {
                let mut c = k.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
            RoleRef::Custom(id) => id.to_string(),
        }
    }
}

/// A custom role: its scope, inline permissions and policies (in order).
#[derive(Clone, Debug, PartialEq, Eq)]
struct RoleM {
    scope: ScopeId,
    inline: BTreeSet<String>,
    policies: Vec<Uuid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InvStatus {
    Pending,
    Accepted,
    Revoked,
}

impl InvStatus {
    fn as_str(self) -> &'static str {
        match self {
            InvStatus::Pending => "pending",
            InvStatus::Accepted => "accepted",
            InvStatus::Revoked => "revoked",
        }
    }
}

#[derive(Clone, Debug)]
struct Inv {
    scope: ScopeId,
    role: RoleRef,
    status: InvStatus,
    /// Known only when the creation was answered.
    token: Option<String>,
}

/// What decides access, as the tables hold it (custom roles and policies only; memberships
/// name their role). Built from a client's model or read from the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct View {
    projects: BTreeMap<Uuid, bool>,
    users: BTreeSet<Uuid>,
    teams: BTreeSet<Uuid>,
    team_users: BTreeSet<(Uuid, Uuid)>,
    memberships: BTreeMap<(ScopeId, Principal), RoleRef>,
    roles: BTreeMap<Uuid, RoleM>,
    policies: BTreeMap<Uuid, BTreeSet<String>>,
    /// API keys that hold a role somewhere: scope and validity.
    keys: BTreeMap<Uuid, (ScopeId, bool)>,
}

impl View {
    fn absorb(&mut self, o: View) {
        self.projects.extend(o.projects);
        self.users.extend(o.users);
        self.teams.extend(o.teams);
        self.team_users.extend(o.team_users);
        self.memberships.extend(o.memberships);
        self.roles.extend(o.roles);
        self.policies.extend(o.policies);
        self.keys.extend(o.keys);
    }

    /// The tables of an org read as a view.
    fn of_tables(t: &OrgTables) -> View {
        let mut v = View {
            projects: t.projects.iter().map(|(p, r)| (p.0, *r)).collect(),
            users: t.users.iter().map(|u| u.0).collect(),
            teams: t.teams.iter().map(|x| x.0).collect(),
            team_users: t.team_users.iter().map(|(a, b)| (a.0, b.0)).collect(),
            policies: t
                .policy_perms
                .iter()
                .map(|(id, p)| (id.0, p.clone()))
                .collect(),
            keys: t
                .api_keys
                .iter()
                .map(|(k, s, valid)| (k.0, (s.project_id.map(|p| p.0), *valid)))
                .collect(),
            ..View::default()
        };
        for (s, p, r) in &t.memberships {
            let role = match t.role_grants.get(r) {
                Some((rs, Some(key), _)) => {
                    assert_eq!(
                        rs.project_id, s.project_id,
                        "membership of {p} holds predefined role {r} of another scope"
                    );
                    RoleRef::Predefined(key.clone())
                }
                _ => RoleRef::Custom(r.0),
            };
            v.memberships.insert((s.project_id.map(|p| p.0), *p), role);
        }
        for (id, (scope, predefined, _)) in &t.role_grants {
            if predefined.is_none() {
                v.roles.insert(
                    id.0,
                    RoleM {
                        scope: scope.project_id.map(|p| p.0),
                        inline: t.role_inline.get(id).cloned().unwrap_or_default(),
                        policies: t
                            .role_policies
                            .get(id)
                            .map(|ps| ps.iter().map(|p| p.0).collect())
                            .unwrap_or_default(),
                    },
                );
            }
        }
        v
    }

    /// Every difference, one line each.
    fn diff(&self, observed: &View) -> Vec<String> {
        let mut out = Vec::new();
        diff_maps("project", &self.projects, &observed.projects, &mut out);
        diff_sets("org user", &self.users, &observed.users, &mut out);
        diff_sets("team", &self.teams, &observed.teams, &mut out);
        diff_sets(
            "team user",
            &self.team_users,
            &observed.team_users,
            &mut out,
        );
        diff_maps(
            "membership",
            &self.memberships,
            &observed.memberships,
            &mut out,
        );
        diff_maps("custom role", &self.roles, &observed.roles, &mut out);
        diff_maps("policy", &self.policies, &observed.policies, &mut out);
        diff_maps(
            "API key holding a role",
            &self.keys,
            &observed.keys,
            &mut out,
        );
        out
    }
}

fn diff_maps<K: std::fmt::Debug + Ord, V: std::fmt::Debug + PartialEq>(
    what: &str,
    expected: &BTreeMap<K, V>,
    observed: &BTreeMap<K, V>,
    out: &mut Vec<String>,
) {
    for (k, v) in expected {
        match observed.get(k) {
            None => out.push(format!("{what} {k:?} is missing (expected {v:?})")),
            Some(o) if o != v => out.push(format!("{what} {k:?} is {o:?}, expected {v:?}")),
            Some(_) => {}
        }
    }
    for (k, v) in observed {
        if !expected.contains_key(k) {
            out.push(format!("{what} {k:?} exists ({v:?}) but no write made it"));
        }
    }
}

fn diff_sets<K: std::fmt::Debug + Ord>(
    what: &str,
    expected: &BTreeSet<K>,
    observed: &BTreeSet<K>,
    out: &mut Vec<String>,
) {
    for k in expected.difference(observed) {
        out.push(format!("{what} {k:?} is missing"));
    }
    for k in observed.difference(expected) {
        out.push(format!("{what} {k:?} exists but no write made it"));
    }
}

/// The permission keys custom policies and roles are made of (a few, so that they overlap),
/// and those the checks ask about.
struct Pool {
    project: Vec<String>,
    org: Vec<String>,
    ask_project: Vec<String>,
    ask_org: Vec<String>,
}

impl Pool {
    fn new(cat: &Catalogue, rng: &mut Rng) -> Pool {
        let mut project: Vec<String> = cat
            .project
            .permissions
            .iter()
            .map(|p| p.key.clone())
            .collect();
        let mut org_only: Vec<String> = cat
            .org
            .permissions
            .iter()
            .map(|p| p.key.clone())
            .filter(|k| !cat.project.has(k))
            .collect();
        shuffle(&mut project, rng);
        shuffle(&mut org_only, rng);
        let pool_project = project[..8].to_vec();
        let mut pool_org = pool_project.clone();
        pool_org.extend(org_only[..3].iter().cloned());
        // The checks also ask about a few keys no custom role grants.
        let mut ask_project = pool_project.clone();
        ask_project.extend(project[8..10].iter().cloned());
        let mut ask_org = pool_org.clone();
        ask_org.extend(project[8..10].iter().cloned());
        ask_org.extend(org_only[3..4].iter().cloned());
        Pool {
            project: pool_project,
            org: pool_org,
            ask_project,
            ask_org,
        }
    }

    fn of(&self, scope: ScopeId) -> &[String] {
        match scope {
            None => &self.org,
            Some(_) => &self.project,
        }
    }
}

fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

/// One write.
#[derive(Clone, Debug)]
enum Op {
    CreateProject {
        name: String,
        restricted: bool,
    },
    RestrictProject {
        id: Uuid,
        restricted: bool,
    },
    DeleteProject {
        id: Uuid,
    },
    CreatePolicy {
        scope: ScopeId,
        name: String,
        perms: BTreeSet<String>,
    },
    PatchPolicy {
        scope: ScopeId,
        id: Uuid,
        perms: BTreeSet<String>,
    },
    DeletePolicy {
        scope: ScopeId,
        id: Uuid,
        cascade: bool,
    },
    CreateRole {
        scope: ScopeId,
        name: String,
        inline: BTreeSet<String>,
        policies: Vec<Uuid>,
    },
    PatchRole {
        scope: ScopeId,
        id: Uuid,
        inline: BTreeSet<String>,
        policies: Vec<Uuid>,
    },
    DeleteRole {
        scope: ScopeId,
        id: Uuid,
        cascade: bool,
    },
    CreateTeam {
        name: String,
    },
    DeleteTeam {
        id: Uuid,
    },
    AddTeamUser {
        team: Uuid,
        user: Uuid,
    },
    RemoveTeamUser {
        team: Uuid,
        user: Uuid,
    },
    Invite {
        scope: ScopeId,
        email: String,
        role: RoleRef,
    },
    Accept {
        scope: ScopeId,
        id: Uuid,
        token: String,
    },
    Revoke {
        scope: ScopeId,
        id: Uuid,
    },
    SetMember {
        scope: ScopeId,
        principal: Principal,
        role: RoleRef,
    },
    RemoveMember {
        scope: ScopeId,
        principal: Principal,
    },
    CreateKey {
        scope: ScopeId,
        name: String,
        role: RoleRef,
    },
    PatchKey {
        scope: ScopeId,
        id: Uuid,
        valid: bool,
    },
    DeleteKey {
        scope: ScopeId,
        id: Uuid,
    },
}

fn scope_path(org: Uuid, scope: ScopeId) -> String {
    match scope {
        None => format!("/v1/orgs/{org}"),
        Some(p) => format!("/v1/projects/{p}"),
    }
}

/// What a write made that its request did not say: the new object's id, an invitation's
/// token.
#[derive(Clone, Debug, Default)]
struct Made {
    id: Option<Uuid>,
    token: Option<String>,
}

impl Made {
    fn id(&self) -> Uuid {
        self.id.expect("the id of what the write made")
    }
}

fn uuid_at(v: &Value, pointer: &str) -> Option<Uuid> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::try_parse(s).ok())
}

impl Op {
    fn request(&self, org: Uuid) -> (Method, String, Option<Value>) {
        let o = format!("/v1/orgs/{org}");
        let sp = |s: &ScopeId| scope_path(org, *s);
        match self {
            Op::CreateProject { name, restricted } => (
                Method::POST,
                format!("{o}/projects"),
                Some(json!({"name": name, "restricted": restricted})),
            ),
            Op::RestrictProject { id, restricted } => (
                Method::PATCH,
                format!("/v1/projects/{id}"),
                Some(json!({"restricted": restricted})),
            ),
            Op::DeleteProject { id } => (Method::DELETE, format!("/v1/projects/{id}"), None),
            Op::CreatePolicy { scope, name, perms } => (
                Method::POST,
                format!("{}/policies", sp(scope)),
                Some(json!({"name": name, "permission_ids": perms})),
            ),
            Op::PatchPolicy { scope, id, perms } => (
                Method::PATCH,
                format!("{}/policies/{id}", sp(scope)),
                Some(json!({"permission_ids": perms})),
            ),
            Op::DeletePolicy { scope, id, cascade } => (
                Method::DELETE,
                format!("{}/policies/{id}?cascade={cascade}", sp(scope)),
                None,
            ),
            Op::CreateRole {
                scope,
                name,
                inline,
                policies,
            } => (
                Method::POST,
                format!("{}/roles", sp(scope)),
                Some(json!({"name": name, "permissions": inline, "policy_ids": policies})),
            ),
            Op::PatchRole {
                scope,
                id,
                inline,
                policies,
            } => (
                Method::PATCH,
                format!("{}/roles/{id}", sp(scope)),
                Some(json!({"permissions": inline, "policy_ids": policies})),
            ),
            Op::DeleteRole { scope, id, cascade } => (
                Method::DELETE,
                format!("{}/roles/{id}?cascade={cascade}", sp(scope)),
                None,
            ),
            Op::CreateTeam { name } => (
                Method::POST,
                format!("{o}/teams"),
                Some(json!({"name": name})),
            ),
            Op::DeleteTeam { id } => (Method::DELETE, format!("{o}/teams/{id}"), None),
            Op::AddTeamUser { team, user } => {
                (Method::PUT, format!("{o}/teams/{team}/users/{user}"), None)
            }
            Op::RemoveTeamUser { team, user } => (
                Method::DELETE,
                format!("{o}/teams/{team}/users/{user}"),
                None,
            ),
            Op::Invite { scope, email, role } => (
                Method::POST,
                format!("{}/invitations", sp(scope)),
                Some(json!({"emails": [email], "role_id": role.param()})),
            ),
            Op::Accept { token, .. } => (
                Method::POST,
                "/v1/invitations/accept".to_owned(),
                Some(
                    json!({"token": token, "name": "Crash Tester", "password": "correct horse battery"}),
                ),
            ),
            Op::Revoke { scope, id } => (
                Method::POST,
                format!("{}/invitations/{id}/revoke", sp(scope)),
                None,
            ),
            Op::SetMember {
                scope,
                principal,
                role,
            } => (
                Method::PUT,
                format!("{}/members/{principal}", sp(scope)),
                Some(json!({"role_id": role.param()})),
            ),
            Op::RemoveMember { scope, principal } => (
                Method::DELETE,
                format!("{}/members/{principal}", sp(scope)),
                None,
            ),
            Op::CreateKey { scope, name, role } => (
                Method::POST,
                format!("{}/api-keys", sp(scope)),
                Some(json!({"name": name, "role_id": role.param()})),
            ),
            Op::PatchKey { scope, id, valid } => (
                Method::PATCH,
                format!("{}/api-keys/{id}", sp(scope)),
                Some(json!({"valid": valid})),
            ),
            Op::DeleteKey { scope, id } => {
                (Method::DELETE, format!("{}/api-keys/{id}", sp(scope)), None)
            }
        }
    }

    /// The change-log action the write records.
    fn action(&self) -> &'static str {
        match self {
            Op::CreateProject { .. } => "project.create",
            Op::RestrictProject { .. } => "project.update",
            Op::DeleteProject { .. } => "project.delete",
            Op::CreatePolicy { .. } => "policy.create",
            Op::PatchPolicy { .. } => "policy.update",
            Op::DeletePolicy { .. } => "policy.delete",
            Op::CreateRole { .. } => "role.create",
            Op::PatchRole { .. } => "role.update",
            Op::DeleteRole { .. } => "role.delete",
            Op::CreateTeam { .. } => "team.create",
            Op::DeleteTeam { .. } => "team.delete",
            Op::AddTeamUser { .. } => "team.user_add",
            Op::RemoveTeamUser { .. } => "team.user_remove",
            Op::Invite { .. } => "invitation.create",
            Op::Accept { .. } => "invitation.accept",
            Op::Revoke { .. } => "invitation.revoke",
            Op::SetMember { .. } => "member.set",
            Op::RemoveMember {
                scope: None,
                principal: Principal::User(_),
            } => "member.remove_from_org",
            Op::RemoveMember { .. } => "member.remove",
            Op::CreateKey { .. } => "api_key.create",
            Op::PatchKey { .. } => "api_key.update",
            Op::DeleteKey { .. } => "api_key.delete",
        }
    }

    /// The change-log target the write records.
    fn target(&self, org: Uuid, made: &Made) -> String {
        match self {
            Op::CreateProject { .. } => format!("project:{}", made.id()),
            Op::RestrictProject { id, .. } | Op::DeleteProject { id } => format!("project:{id}"),
            Op::CreatePolicy { .. } => format!("policy:{}", made.id()),
            Op::PatchPolicy { id, .. } | Op::DeletePolicy { id, .. } => format!("policy:{id}"),
            Op::CreateRole { .. } => format!("role:{}", made.id()),
            Op::PatchRole { id, .. } | Op::DeleteRole { id, .. } => format!("role:{id}"),
            Op::CreateTeam { .. } => format!("team:{}", made.id()),
            Op::DeleteTeam { id } => format!("team:{id}"),
            Op::AddTeamUser { team, .. } | Op::RemoveTeamUser { team, .. } => {
                format!("team:{team}")
            }
            Op::Invite { scope: None, .. } => format!("org:{org}/invitations"),
            Op::Invite { scope: Some(p), .. } => format!("project:{p}/invitations"),
            Op::Accept { id, .. } | Op::Revoke { id, .. } => format!("invitation:{id}"),
            Op::SetMember { principal, .. } | Op::RemoveMember { principal, .. } => {
                principal.to_string()
            }
            Op::CreateKey { .. } => format!("api_key:{}", made.id()),
            Op::PatchKey { id, .. } | Op::DeleteKey { id, .. } => format!("api_key:{id}"),
        }
    }

    /// The project the change-log entry names.
    fn entry_project(&self, made: &Made) -> ScopeId {
        match self {
            Op::CreateProject { .. } => Some(made.id()),
            Op::RestrictProject { id, .. } | Op::DeleteProject { id } => Some(*id),
            Op::CreateTeam { .. }
            | Op::DeleteTeam { .. }
            | Op::AddTeamUser { .. }
            | Op::RemoveTeamUser { .. } => None,
            Op::CreatePolicy { scope, .. }
            | Op::PatchPolicy { scope, .. }
            | Op::DeletePolicy { scope, .. }
            | Op::CreateRole { scope, .. }
            | Op::PatchRole { scope, .. }
            | Op::DeleteRole { scope, .. }
            | Op::Invite { scope, .. }
            | Op::Accept { scope, .. }
            | Op::Revoke { scope, .. }
            | Op::SetMember { scope, .. }
            | Op::RemoveMember { scope, .. }
            | Op::CreateKey { scope, .. }
            | Op::PatchKey { scope, .. }
            | Op::DeleteKey { scope, .. } => *scope,
        }
    }

    /// For a creation: where its entry's `after` holds the name it was given, and the name.
    fn created_name(&self) -> Option<(&'static str, &str)> {
        match self {
            Op::CreateProject { name, .. }
            | Op::CreatePolicy { name, .. }
            | Op::CreateRole { name, .. }
            | Op::CreateTeam { name }
            | Op::CreateKey { name, .. } => Some(("/name", name)),
            Op::Invite { email, .. } => Some(("/invitations/0/email", email)),
            _ => None,
        }
    }

    /// Whether `e` may be this write's entry (for a write whose answer was not received).
    fn may_be(&self, org: Uuid, e: &AuditEvent) -> bool {
        if e.action != self.action() {
            return false;
        }
        match self.created_name() {
            Some((pointer, name)) => {
                e.after
                    .as_ref()
                    .and_then(|a| a.pointer(pointer))
                    .and_then(Value::as_str)
                    == Some(name)
            }
            None => e.target == self.target(org, &Made::default()),
        }
    }

    /// What the write made, from its answer.
    fn made_from_answer(&self, body: &Value) -> Made {
        match self {
            Op::CreateProject { .. }
            | Op::CreatePolicy { .. }
            | Op::CreateRole { .. }
            | Op::CreateTeam { .. }
            | Op::CreateKey { .. } => Made {
                id: Some(
                    uuid_at(body, "/id").unwrap_or_else(|| panic!("{self:?}: no id in {body}")),
                ),
                token: None,
            },
            Op::Invite { .. } => Made {
                id: Some(
                    uuid_at(body, "/invitations/0/id")
                        .unwrap_or_else(|| panic!("{self:?}: no invitation in {body}")),
                ),
                token: body
                    .pointer("/invitations/0/token")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            },
            Op::Accept { .. } => Made {
                id: Some(
                    uuid_at(body, "/user/id")
                        .unwrap_or_else(|| panic!("{self:?}: no user in {body}")),
                ),
                token: None,
            },
            _ => Made::default(),
        }
    }

    /// What the write made, from its change-log entry (its answer was not received).
    fn made_from_entry(&self, e: &AuditEvent) -> Made {
        let after = e.after.clone().unwrap_or(Value::Null);
        let id = match self {
            Op::CreateProject { .. }
            | Op::CreatePolicy { .. }
            | Op::CreateRole { .. }
            | Op::CreateTeam { .. }
            | Op::CreateKey { .. } => e
                .target
                .split_once(':')
                .and_then(|(_, id)| Uuid::try_parse(id).ok()),
            Op::Invite { .. } => uuid_at(&after, "/invitations/0/id"),
            Op::Accept { .. } => uuid_at(&after, "/user/id"),
            _ => return Made::default(),
        };
        assert!(
            id.is_some(),
            "{self:?}: entry {} names no id: {e:?}",
            e.revision
        );
        // The token is shown only in the answer: such an invitation is never accepted.
        Made { id, token: None }
    }
}

/// A client's part of the org, as its acknowledged writes made it.
#[derive(Clone, Debug, Default)]
struct Mine {
    tag: String,
    names: u64,
    projects: BTreeMap<Uuid, bool>,
    policies: BTreeMap<Uuid, (ScopeId, BTreeSet<String>)>,
    roles: BTreeMap<Uuid, RoleM>,
    teams: BTreeSet<Uuid>,
    team_users: BTreeSet<(Uuid, Uuid)>,
    users: BTreeSet<Uuid>,
    keys: BTreeMap<Uuid, (ScopeId, bool)>,
    memberships: BTreeMap<(ScopeId, Principal), RoleRef>,
    invitations: BTreeMap<Uuid, Inv>,
    /// Every principal and project it ever made (deleted ones are asked about too).
    ever: BTreeSet<Principal>,
    ever_projects: BTreeSet<Uuid>,
}

fn user(u: Uuid) -> Principal {
    Principal::User(UserId(u))
}
fn team(t: Uuid) -> Principal {
    Principal::Team(TeamId(t))
}
fn key(k: Uuid) -> Principal {
    Principal::ApiKey(ApiKeyId(k))
}

impl Mine {
    fn new(i: usize) -> Mine {
        Mine {
            tag: format!("c{i}"),
            ..Mine::default()
        }
    }

    fn fresh(&mut self, kind: &str) -> String {
        self.names += 1;
        format!("{}-{kind}{}", self.tag, self.names)
    }

    fn scopes(&self) -> Vec<ScopeId> {
        std::iter::once(None)
            .chain(self.projects.keys().map(|p| Some(*p)))
            .collect()
    }

    fn pending(&self) -> Vec<(Uuid, &Inv)> {
        self.invitations
            .iter()
            .filter(|(_, i)| i.status == InvStatus::Pending)
            .map(|(id, i)| (*id, i))
            .collect()
    }

    fn policies_in(&self, scope: ScopeId) -> Vec<Uuid> {
        self.policies
            .iter()
            .filter(|(_, (s, _))| *s == scope)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The roles a member or key may be given in `scope` (never Owner).
    fn roles_in(&self, scope: ScopeId) -> Vec<RoleRef> {
        let mut out = match scope {
            None => vec![RoleRef::pre("member"), RoleRef::pre("admin")],
            Some(_) => vec![RoleRef::pre("member"), RoleRef::pre("manager")],
        };
        out.extend(
            self.roles
                .iter()
                .filter(|(_, r)| r.scope == scope)
                .map(|(id, _)| RoleRef::Custom(*id)),
        );
        out
    }

    /// A role's parts: up to two of the scope's policies and up to two permissions, at
    /// least one of either.
    fn role_parts(
        &self,
        rng: &mut Rng,
        pool: &Pool,
        scope: ScopeId,
    ) -> (BTreeSet<String>, Vec<Uuid>) {
        let candidates = self.policies_in(scope);
        let mut policies = Vec::new();
        for _ in 0..rng.below(3) {
            if let Some(p) = rng.pick(&candidates) {
                if !policies.contains(p) {
                    policies.push(*p);
                }
            }
        }
        let mut inline = BTreeSet::new();
        let n = if policies.is_empty() {
            1 + rng.below(2)
        } else {
            rng.below(3)
        };
        for _ in 0..n {
            inline.insert(rng.pick(pool.of(scope)).unwrap().clone());
        }
        (inline, policies)
    }

    fn perms(rng: &mut Rng, pool: &Pool, scope: ScopeId) -> BTreeSet<String> {
        (0..1 + rng.below(3))
            .map(|_| rng.pick(pool.of(scope)).unwrap().clone())
            .collect()
    }

    /// The next write: one the rules allow, given this model.
    fn next_op(&mut self, rng: &mut Rng, pool: &Pool) -> Op {
        loop {
            if let Some(op) = self.try_op(rng, pool) {
                return op;
            }
        }
    }

    fn try_op(&mut self, rng: &mut Rng, pool: &Pool) -> Option<Op> {
        let scopes = self.scopes();
        let scope = *rng.pick(&scopes).unwrap();
        let projects: Vec<Uuid> = self.projects.keys().copied().collect();
        let policies: Vec<(Uuid, ScopeId)> =
            self.policies.iter().map(|(id, (s, _))| (*id, *s)).collect();
        let roles: Vec<(Uuid, ScopeId)> = self.roles.iter().map(|(id, r)| (*id, r.scope)).collect();
        let teams: Vec<Uuid> = self.teams.iter().copied().collect();
        let users: Vec<Uuid> = self.users.iter().copied().collect();
        let keys: Vec<(Uuid, ScopeId, bool)> =
            self.keys.iter().map(|(id, (s, v))| (*id, *s, *v)).collect();
        Some(match rng.below(97) {
            0..=3 => {
                if projects.len() >= MAX_PROJECTS {
                    return None;
                }
                Op::CreateProject {
                    name: self.fresh("project"),
                    restricted: rng.chance(30),
                }
            }
            4..=8 => {
                let id = *rng.pick(&projects)?;
                Op::RestrictProject {
                    id,
                    restricted: !self.projects[&id],
                }
            }
            9..=10 => Op::DeleteProject {
                id: *rng.pick(&projects)?,
            },
            11..=18 => {
                if policies.len() >= MAX_POLICIES {
                    return None;
                }
                Op::CreatePolicy {
                    scope,
                    name: self.fresh("policy"),
                    perms: Self::perms(rng, pool, scope),
                }
            }
            19..=22 => {
                let (id, scope) = *rng.pick(&policies)?;
                let perms = Self::perms(rng, pool, scope);
                if perms == self.policies[&id].1 {
                    return None;
                }
                Op::PatchPolicy { scope, id, perms }
            }
            23..=25 => {
                let (id, scope) = *rng.pick(&policies)?;
                let used = self.roles.values().any(|r| r.policies.contains(&id));
                Op::DeletePolicy {
                    scope,
                    id,
                    cascade: used || rng.chance(50),
                }
            }
            26..=33 => {
                if roles.len() >= MAX_ROLES {
                    return None;
                }
                let (inline, policies) = self.role_parts(rng, pool, scope);
                Op::CreateRole {
                    scope,
                    name: self.fresh("role"),
                    inline,
                    policies,
                }
            }
            34..=38 => {
                let (id, scope) = *rng.pick(&roles)?;
                let (inline, policies) = self.role_parts(rng, pool, scope);
                Op::PatchRole {
                    scope,
                    id,
                    inline,
                    policies,
                }
            }
            39..=41 => {
                let (id, scope) = *rng.pick(&roles)?;
                let used = self.memberships.values().any(|r| *r == RoleRef::Custom(id));
                Op::DeleteRole {
                    scope,
                    id,
                    cascade: used || rng.chance(50),
                }
            }
            42..=45 => {
                if teams.len() >= MAX_TEAMS {
                    return None;
                }
                Op::CreateTeam {
                    name: self.fresh("team"),
                }
            }
            46 => Op::DeleteTeam {
                id: *rng.pick(&teams)?,
            },
            47..=52 => {
                let team = *rng.pick(&teams)?;
                let user = *rng.pick(&users)?;
                if self.team_users.contains(&(team, user)) {
                    return None;
                }
                Op::AddTeamUser { team, user }
            }
            53..=55 => {
                let in_teams: Vec<(Uuid, Uuid)> = self.team_users.iter().copied().collect();
                let (team, user) = *rng.pick(&in_teams)?;
                Op::RemoveTeamUser { team, user }
            }
            56..=60 => {
                if users.len() + self.pending().len() >= MAX_PEOPLE {
                    return None;
                }
                let roles = self.roles_in(scope);
                let role = rng.pick(&roles)?.clone();
                let email = format!("{}@crash.test", self.fresh("u"));
                Op::Invite { scope, email, role }
            }
            61..=64 => {
                let ready: Vec<(Uuid, ScopeId, String)> = self
                    .pending()
                    .into_iter()
                    .filter_map(|(id, i)| i.token.clone().map(|t| (id, i.scope, t)))
                    .collect();
                let (id, scope, token) = rng.pick(&ready)?.clone();
                Op::Accept { scope, id, token }
            }
            65 => {
                let pending: Vec<(Uuid, ScopeId)> = self
                    .pending()
                    .into_iter()
                    .map(|(id, i)| (id, i.scope))
                    .collect();
                let (id, scope) = *rng.pick(&pending)?;
                Op::Revoke { scope, id }
            }
            66..=79 => {
                let mut candidates: Vec<Principal> = users.iter().map(|u| user(*u)).collect();
                candidates.extend(teams.iter().map(|t| team(*t)));
                // A project key holds a role only in its own project.
                candidates.extend(
                    keys.iter()
                        .filter(|(_, s, _)| s.is_none() || *s == scope)
                        .map(|(k, _, _)| key(*k)),
                );
                let principal = *rng.pick(&candidates)?;
                let mut roles = self.roles_in(scope);
                // Now and then a user becomes an org Owner (the Owner caller may do that).
                if scope.is_none() && matches!(principal, Principal::User(_)) && rng.chance(15) {
                    roles = vec![RoleRef::pre("owner")];
                }
                let role = rng.pick(&roles)?.clone();
                if self.memberships.get(&(scope, principal)) == Some(&role) {
                    // Setting the role held is no write at all.
                    return None;
                }
                Op::SetMember {
                    scope,
                    principal,
                    role,
                }
            }
            80..=85 => {
                let held: Vec<(ScopeId, Principal)> = self.memberships.keys().copied().collect();
                let (scope, principal) = *rng.pick(&held)?;
                Op::RemoveMember { scope, principal }
            }
            86..=90 => {
                if keys.len() >= MAX_KEYS {
                    return None;
                }
                let roles = self.roles_in(scope);
                Op::CreateKey {
                    scope,
                    name: self.fresh("key"),
                    role: rng.pick(&roles)?.clone(),
                }
            }
            91..=94 => {
                let (id, scope, valid) = *rng.pick(&keys)?;
                Op::PatchKey {
                    scope,
                    id,
                    valid: !valid,
                }
            }
            _ => {
                let (id, scope, _) = *rng.pick(&keys)?;
                Op::DeleteKey { scope, id }
            }
        })
    }

    /// Applies a write that was made, with what it made, as the rules say it cascades.
    fn apply(&mut self, op: &Op, made: &Made) {
        match op {
            Op::CreateProject { restricted, .. } => {
                self.projects.insert(made.id(), *restricted);
                self.ever_projects.insert(made.id());
            }
            Op::RestrictProject { id, restricted } => {
                self.projects.insert(*id, *restricted);
            }
            Op::DeleteProject { id } => {
                let s = Some(*id);
                self.projects.remove(id);
                self.memberships.retain(|(scope, _), _| *scope != s);
                self.keys.retain(|_, (scope, _)| *scope != s);
                self.roles.retain(|_, r| r.scope != s);
                self.policies.retain(|_, (scope, _)| *scope != s);
                self.invitations.retain(|_, i| i.scope != s);
            }
            Op::CreatePolicy { scope, perms, .. } => {
                self.policies.insert(made.id(), (*scope, perms.clone()));
            }
            Op::PatchPolicy { id, perms, .. } => {
                self.policies.get_mut(id).unwrap().1 = perms.clone();
            }
            Op::DeletePolicy { id, .. } => {
                self.policies.remove(id);
                for r in self.roles.values_mut() {
                    r.policies.retain(|p| p != id);
                }
            }
            Op::CreateRole {
                scope,
                inline,
                policies,
                ..
            } => {
                self.roles.insert(
                    made.id(),
                    RoleM {
                        scope: *scope,
                        inline: inline.clone(),
                        policies: policies.clone(),
                    },
                );
            }
            Op::PatchRole {
                id,
                inline,
                policies,
                ..
            } => {
                let r = self.roles.get_mut(id).unwrap();
                r.inline = inline.clone();
                r.policies = policies.clone();
            }
            Op::DeleteRole { id, .. } => {
                let gone = RoleRef::Custom(*id);
                self.roles.remove(id);
                self.memberships.retain(|_, r| *r != gone);
                // Invitations refer to their role; they go with it.
                self.invitations.retain(|_, i| i.role != gone);
            }
            Op::CreateTeam { .. } => {
                self.teams.insert(made.id());
                self.ever.insert(team(made.id()));
            }
            Op::DeleteTeam { id } => {
                self.teams.remove(id);
                self.team_users.retain(|(t, _)| t != id);
                self.memberships.retain(|(_, p), _| *p != team(*id));
            }
            Op::AddTeamUser { team, user } => {
                self.team_users.insert((*team, *user));
            }
            Op::RemoveTeamUser { team, user } => {
                self.team_users.remove(&(*team, *user));
            }
            Op::Invite { scope, role, .. } => {
                self.invitations.insert(
                    made.id(),
                    Inv {
                        scope: *scope,
                        role: role.clone(),
                        status: InvStatus::Pending,
                        token: made.token.clone(),
                    },
                );
            }
            Op::Accept { id, .. } => {
                let u = made.id();
                let inv = self.invitations.get_mut(id).unwrap();
                inv.status = InvStatus::Accepted;
                inv.token = None;
                let (scope, role) = (inv.scope, inv.role.clone());
                self.users.insert(u);
                self.ever.insert(user(u));
                self.memberships.insert((scope, user(u)), role);
            }
            Op::Revoke { id, .. } => {
                let inv = self.invitations.get_mut(id).unwrap();
                inv.status = InvStatus::Revoked;
                inv.token = None;
            }
            Op::SetMember {
                scope,
                principal,
                role,
            } => {
                self.memberships.insert((*scope, *principal), role.clone());
            }
            Op::RemoveMember { scope, principal } => match (scope, principal) {
                // Removing a user from the org removes it from everything in the org.
                (None, Principal::User(u)) => {
                    self.memberships.retain(|(_, p), _| p != principal);
                    self.team_users.retain(|(_, tu)| *tu != u.0);
                    self.users.remove(&u.0);
                }
                _ => {
                    self.memberships.remove(&(*scope, *principal));
                }
            },
            Op::CreateKey { scope, role, .. } => {
                self.keys.insert(made.id(), (*scope, true));
                self.ever.insert(key(made.id()));
                self.memberships
                    .insert((*scope, key(made.id())), role.clone());
            }
            Op::PatchKey { id, valid, .. } => {
                self.keys.get_mut(id).unwrap().1 = *valid;
            }
            Op::DeleteKey { id, .. } => {
                self.keys.remove(id);
                self.memberships.retain(|(_, p), _| *p != key(*id));
            }
        }
    }

    fn view(&self) -> View {
        let holds: BTreeSet<Principal> = self.memberships.keys().map(|(_, p)| *p).collect();
        View {
            projects: self.projects.clone(),
            users: self.users.clone(),
            teams: self.teams.clone(),
            team_users: self.team_users.clone(),
            memberships: self.memberships.clone(),
            roles: self.roles.clone(),
            policies: self
                .policies
                .iter()
                .map(|(id, (_, p))| (*id, p.clone()))
                .collect(),
            keys: self
                .keys
                .iter()
                .filter(|(id, _)| holds.contains(&key(**id)))
                .map(|(id, v)| (*id, *v))
                .collect(),
        }
    }

    /// The principals to ask about: those alive now.
    fn live_principals(&self) -> BTreeSet<Principal> {
        let mut out: BTreeSet<Principal> = self.users.iter().map(|u| user(*u)).collect();
        out.extend(self.teams.iter().map(|t| team(*t)));
        out.extend(self.keys.keys().map(|k| key(*k)));
        out
    }
}

/// A write answered 2xx.
struct Acked {
    op: Op,
    revision: u64,
    made: Made,
}

/// The write a client had sent when the server died: its answer never came, or came
/// without a readable body (then with the revision of its header).
struct Open {
    op: Op,
    revision: Option<u64>,
}

/// What a client did in one cycle.
struct Outcome {
    mine: Mine,
    rng: Rng,
    acked: Vec<Acked>,
    open: Option<Open>,
}

/// Sends writes one at a time until the server stops answering.
async fn client(
    base: String,
    secret: String,
    org: Uuid,
    mut mine: Mine,
    mut rng: Rng,
    pool: Arc<Pool>,
    progress: Arc<AtomicUsize>,
) -> Outcome {
    let http = reqwest::Client::new();
    let mut acked = Vec::new();
    loop {
        let op = mine.next_op(&mut rng, &pool);
        let (method, path, body) = op.request(org);
        let mut req = http
            .request(method.clone(), format!("{base}{path}"))
            .bearer_auth(&secret);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let mut open = |op, revision| Outcome {
            mine: mine.clone(),
            rng: Rng(rng.0),
            acked: std::mem::take(&mut acked),
            open: Some(Open { op, revision }),
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(_) => return open(op, None),
        };
        let status = resp.status();
        let revision: Option<u64> = resp
            .headers()
            .get("warden-revision")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        if !status.is_success() {
            // The model chose a write the rules allow: a refusal is a bug, of the test or
            // of the server. (A status line means the server answered: it was alive.)
            let text = resp.text().await.unwrap_or_default();
            panic!(
                "client {}: {method} {path} {body:?} ({op:?}) was answered {status}: {text}",
                mine.tag
            );
        }
        let revision = revision.unwrap_or_else(|| {
            panic!(
                "client {}: {method} {path} answered {status} without Warden-Revision",
                mine.tag
            )
        });
        let answer = match resp.bytes().await {
            Ok(b) => serde_json::from_slice::<Value>(&b).ok(),
            Err(_) => None,
        };
        let Some(answer) = answer else {
            return open(op, Some(revision));
        };
        let made = op.made_from_answer(&answer);
        mine.apply(&op, &made);
        acked.push(Acked { op, revision, made });
        progress.fetch_add(1, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------
// The naive reference: README's "People and access", read literally over the tables.
// ---------------------------------------------------------------------------------------

struct Naive<'a> {
    t: &'a OrgTables,
    /// The org Owner role's catalogue key.
    owner: &'a str,
}

impl Naive<'_> {
    /// Every permission `p` holds in `scope`: its own memberships' roles and, for a user,
    /// its teams'; in a project, the org membership counts too, unless the project is
    /// restricted and the org role is not Owner; an invalid API key holds nothing.
    fn perms(&self, p: Principal, scope: ScopeId) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let restricted = match scope {
            None => false,
            Some(id) => match self.t.projects.iter().find(|(pid, _)| pid.0 == id) {
                Some((_, r)) => *r,
                None => return out,
            },
        };
        let mut holders = vec![p];
        if let Principal::User(u) = p {
            holders.extend(
                self.t
                    .team_users
                    .iter()
                    .filter(|(_, tu)| *tu == u)
                    .map(|(t, _)| Principal::Team(*t)),
            );
        }
        for h in holders {
            if let Principal::ApiKey(k) = h {
                if !self
                    .t
                    .api_keys
                    .iter()
                    .any(|(id, _, valid)| *id == k && *valid)
                {
                    continue;
                }
            }
            for (s, q, r) in &self.t.memberships {
                if *q != h {
                    continue;
                }
                let Some((_, predefined, grants)) = self.t.role_grants.get(r) else {
                    continue;
                };
                let here = s.project_id.map(|x| x.0) == scope;
                let from_org = scope.is_some()
                    && s.project_id.is_none()
                    && (!restricted || predefined.as_deref() == Some(self.owner));
                if here || from_org {
                    out.extend(grants.iter().cloned());
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Totals {
    acked: usize,
    interrupted: usize,
    interrupted_committed: usize,
    checks: usize,
    allowed: usize,
    invitations: usize,
    /// Writes made (acknowledged, or interrupted and committed), by change-log action.
    by_action: BTreeMap<&'static str, usize>,
}

/// Every change-log entry of `org` after `since`, by revision.
async fn entries_after(store: &Store, org: OrgId, since: u64) -> BTreeMap<u64, AuditEvent> {
    let filter = AuditFilter {
        since_revision: Some(since + 1),
        ..AuditFilter::default()
    };
    let mut out = BTreeMap::new();
    let mut before = None;
    loop {
        let page = store
            .list_audit(org, None, &filter, before, 500)
            .await
            .expect("read the audit log");
        let Some(last) = page.last() else { break };
        before = Some(last.revision);
        for e in page {
            out.insert(e.revision, e);
        }
    }
    out
}

/// Checks that the change log is gapless (1..=last) and returns its last revision.
async fn gapless(store: &Store, ctx: &str) -> u64 {
    let last = store.revision().await.expect("read the last revision");
    let mut next = 1u64;
    loop {
        let page = store
            .changes_since(next - 1, 5000)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: the change log cannot be read: {e}"));
        if page.is_empty() {
            break;
        }
        for c in page {
            assert_eq!(
                c.revision,
                next,
                "{ctx}: the change log has a gap: revision {} follows {}",
                c.revision,
                next - 1
            );
            next += 1;
        }
    }
    assert_eq!(
        next - 1,
        last,
        "{ctx}: the change log ends at {} but its last revision is {last}",
        next - 1
    );
    last
}

/// Checks an entry against the write it must be.
fn assert_entry(ctx: &str, who: &str, op: &Op, made: &Made, org: Uuid, e: &AuditEvent) {
    assert!(
        e.action == op.action()
            && e.target == op.target(org, made)
            && e.project_id.map(|p| p.0) == op.entry_project(made),
        "{ctx}: {who}'s write {op:?} (made {made:?}) is not the change-log entry at its revision {}: {} {} (project {:?})",
        e.revision,
        e.action,
        e.target,
        e.project_id
    );
}

/// After a kill: the log is gapless and holds every acknowledged write at its revision; the
/// rest of the cycle's entries are interrupted writes, whose fate is applied to the models;
/// the tables equal the models. Returns the last revision and the tables.
#[allow(clippy::too_many_arguments)]
async fn check_store(
    url: &str,
    catalogue: &Arc<Catalogue>,
    org: Uuid,
    prev: u64,
    outcomes: &mut [Outcome],
    baseline: &View,
    totals: &mut Totals,
    ctx: &str,
) -> (u64, OrgTables) {
    let store = Store::open(url, catalogue.clone())
        .await
        .expect("open the database read-side");
    let last = gapless(&store, ctx).await;
    assert!(
        last >= prev,
        "{ctx}: the change log went back from revision {prev} to {last}: committed writes are lost"
    );
    let entries = entries_after(&store, OrgId(org), prev).await;
    let expected: Vec<u64> = (prev + 1..=last).collect();
    let found: Vec<u64> = entries.keys().copied().collect();
    assert_eq!(
        found,
        expected,
        "{ctx}: the cycle's entries are not revisions {}..={last} of the org",
        prev + 1
    );

    // Acknowledged writes: each at its own revision, at most the last.
    let mut claimed: BTreeMap<u64, String> = BTreeMap::new();
    for o in outcomes.iter() {
        for a in &o.acked {
            let who = format!("client {}", o.mine.tag);
            assert!(
                a.revision > prev && a.revision <= last,
                "{ctx}: {who}'s acknowledged write {:?} was answered with revision {}, but this cycle's entries are {}..={last}: it is lost",
                a.op,
                a.revision,
                prev + 1
            );
            assert_entry(ctx, &who, &a.op, &a.made, org, &entries[&a.revision]);
            *totals.by_action.entry(a.op.action()).or_default() += 1;
            if let Some(other) = claimed.insert(a.revision, format!("{who}: {:?}", a.op)) {
                panic!(
                    "{ctx}: revision {} acknowledged twice: {other} and {who}: {:?}",
                    a.revision, a.op
                );
            }
        }
    }
    // Interrupted writes: committed if and only if one of the remaining entries is theirs.
    for o in outcomes.iter_mut() {
        let Some(open) = o.open.take() else { continue };
        totals.interrupted += 1;
        let who = format!("client {}", o.mine.tag);
        let found = match open.revision {
            Some(r) => {
                assert!(
                    r > prev && r <= last && !claimed.contains_key(&r),
                    "{ctx}: {who}'s write {:?} was answered 2xx with revision {r}, which is not its own entry: it is lost",
                    open.op
                );
                Some(r)
            }
            None => {
                let candidates: Vec<u64> = entries
                    .values()
                    .filter(|e| !claimed.contains_key(&e.revision) && open.op.may_be(org, e))
                    .map(|e| e.revision)
                    .collect();
                assert!(
                    candidates.len() <= 1,
                    "{ctx}: {who}'s interrupted write {:?} matches several entries: {candidates:?}",
                    open.op
                );
                candidates.first().copied()
            }
        };
        if let Some(r) = found {
            let e = &entries[&r];
            let made = open.op.made_from_entry(e);
            assert_entry(ctx, &who, &open.op, &made, org, e);
            o.mine.apply(&open.op, &made);
            *totals.by_action.entry(open.op.action()).or_default() += 1;
            claimed.insert(r, format!("{who} (interrupted): {:?}", open.op));
            totals.interrupted_committed += 1;
        }
    }
    let phantoms: Vec<String> = entries
        .values()
        .filter(|e| !claimed.contains_key(&e.revision))
        .map(|e| format!("{} {} {}", e.revision, e.action, e.target))
        .collect();
    assert!(
        phantoms.is_empty(),
        "{ctx}: change-log entries that no client's write explains: {phantoms:?}"
    );

    // The tables hold exactly what the acknowledged (and committed interrupted) writes made.
    let tables = store
        .org_tables(OrgId(org))
        .await
        .expect("read the org's tables");
    store.close().await;
    let mut expected = baseline.clone();
    for o in outcomes.iter() {
        expected.absorb(o.mine.view());
    }
    let differences = expected.diff(&View::of_tables(&tables));
    assert!(
        differences.is_empty(),
        "{ctx}: the tables differ from what the acknowledged writes made:\n  {}",
        differences.join("\n  ")
    );
    (last, tables)
}

/// After a restart: the invitations read through the API have the models' statuses, and the
/// engine answers every check as the naive reference does, at the last revision.
#[allow(clippy::too_many_arguments)]
async fn check_engine(
    server: &Server,
    secret: &str,
    org: Uuid,
    last: u64,
    tables: &OrgTables,
    outcomes: &[Outcome],
    baseline_principals: &BTreeSet<Principal>,
    pool: &Pool,
    rng: &mut Rng,
    totals: &mut Totals,
    ctx: &str,
) {
    let api = Client::new(server.base.clone(), Some(secret.to_owned()));

    // Invitations, in the org and in every project.
    let mut scopes: Vec<ScopeId> = vec![None];
    scopes.extend(tables.projects.iter().map(|(p, _)| Some(p.0)));
    for scope in &scopes {
        let path = format!("{}/invitations?limit=100", scope_path(org, *scope));
        let listed: BTreeMap<Uuid, String> = api
            .list_all(&path)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: GET {path}: {e}"))
            .iter()
            .map(|i| {
                (
                    uuid_at(i, "/id").unwrap(),
                    i["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: BTreeMap<Uuid, String> = outcomes
            .iter()
            .flat_map(|o| o.mine.invitations.iter())
            .filter(|(_, i)| i.scope == *scope)
            .map(|(id, i)| (*id, i.status.as_str().to_owned()))
            .collect();
        let mut differences = Vec::new();
        diff_maps("invitation", &expected, &listed, &mut differences);
        assert!(
            differences.is_empty(),
            "{ctx}: the invitations of {} differ from what the acknowledged writes made:\n  {}",
            scope_path(org, *scope),
            differences.join("\n  ")
        );
        totals.invitations += expected.len();
    }

    // Who to ask about: everyone alive, a sample of the dead, the bootstrap's Owner user and
    // key, and a stranger; where: the org, every project and a deleted one.
    let mut principals: BTreeSet<Principal> = baseline_principals.clone();
    let mut dead = Vec::new();
    let mut gone_projects = Vec::new();
    for o in outcomes {
        let live = o.mine.live_principals();
        dead.extend(o.mine.ever.difference(&live).copied());
        principals.extend(live);
        gone_projects.extend(
            o.mine
                .ever_projects
                .iter()
                .filter(|p| !o.mine.projects.contains_key(p)),
        );
    }
    shuffle(&mut dead, rng);
    principals.extend(dead.into_iter().take(20));
    principals.insert(user(Uuid::now_v7()));
    if let Some(p) = rng.pick(&gone_projects) {
        scopes.push(Some(*p));
    }

    let naive = Naive {
        t: tables,
        owner: "owner",
    };
    let mut questions = Vec::new();
    let mut answers = Vec::new();
    for p in &principals {
        for scope in &scopes {
            let held = naive.perms(*p, *scope);
            let asked = match scope {
                None => &pool.ask_org,
                Some(_) => &pool.ask_project,
            };
            for perm in asked {
                let q = match scope {
                    None => json!({"principal": p.to_string(), "permission": perm, "org_id": org}),
                    Some(id) => {
                        json!({"principal": p.to_string(), "permission": perm, "project_id": id})
                    }
                };
                questions.push(q);
                answers.push(held.contains(perm));
            }
        }
    }
    let mut disagreements = Vec::new();
    for (qs, want) in questions.chunks(1000).zip(answers.chunks(1000)) {
        let r = api
            .post(
                "/v1/check/batch",
                &json!({"checks": qs, "min_revision": last}),
            )
            .await
            .unwrap_or_else(|e| panic!("{ctx}: POST /v1/check/batch: {e}"));
        assert_eq!(r.status, 200, "{ctx}: /v1/check/batch: {:?}", r.body);
        assert_eq!(
            r.body["revision"].as_u64(),
            Some(last),
            "{ctx}: the restarted engine answers at another revision than the change log's last"
        );
        let results = r.body["results"].as_array().unwrap();
        assert_eq!(results.len(), qs.len());
        for ((q, w), got) in qs.iter().zip(want).zip(results) {
            let allowed = got["allowed"].as_bool().unwrap();
            if allowed != *w {
                disagreements.push(format!("{q} -> engine {allowed}, tables {w}"));
            }
            totals.allowed += usize::from(allowed);
        }
        totals.checks += qs.len();
    }
    assert!(
        disagreements.is_empty(),
        "{ctx}: the restarted engine disagrees with the tables on {} of {} checks, such as:\n  {}",
        disagreements.len(),
        questions.len(),
        disagreements
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_and_the_restarted_engine_agrees_with_the_tables() {
    let started = Instant::now();
    let cycles: usize = std::env::var("WARDEN_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CYCLES);
    let mut rng = Rng::from_env();
    let seed = rng.0;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("warden.db").display());
    let secret = bootstrap_owner(dir.path(), &url, "Acme");
    let catalogue = Arc::new(Catalogue::default_llmops());
    let pool = Arc::new(Pool::new(&catalogue, &mut rng));

    // What the bootstrap made: the org, its Owner user and Owner key.
    let store = Store::open(&url, catalogue.clone()).await.unwrap();
    let org = store.org_ids().await.unwrap()[0].0;
    let baseline = View::of_tables(&store.org_tables(OrgId(org)).await.unwrap());
    let mut last = gapless(&store, "after bootstrap").await;
    store.close().await;
    let baseline_principals: BTreeSet<Principal> =
        baseline.memberships.keys().map(|(_, p)| *p).collect();
    assert_eq!(baseline_principals.len(), 2, "{baseline:?}");

    let mut outcomes: Vec<Outcome> = (0..CLIENTS)
        .map(|i| Outcome {
            mine: Mine::new(i),
            rng: Rng(rng.next()),
            acked: Vec::new(),
            open: None,
        })
        .collect();
    let mut totals = Totals::default();
    let serve_args = ["--database", url.as_str()];
    let mut server = serve(dir.path(), &serve_args);
    let progress = Arc::new(AtomicUsize::new(0));
    for cycle in 1..=cycles {
        let ctx = format!("seed {seed}, cycle {cycle}");
        progress.store(0, Ordering::Relaxed);
        let tasks: Vec<_> = outcomes
            .drain(..)
            .map(|o| {
                tokio::spawn(client(
                    server.base.clone(),
                    secret.clone(),
                    org,
                    o.mine,
                    o.rng,
                    pool.clone(),
                    progress.clone(),
                ))
            })
            .collect();
        // The kill comes once the clients have had this many writes acknowledged (now and
        // then almost at once), a few milliseconds later, so that it falls anywhere in a
        // write: in the handler, in the commit, while the engine applies it, in the answer.
        let target = if rng.chance(10) {
            rng.below(5)
        } else {
            5 + rng.below(MAX_ACKS)
        };
        let jitter = rng.below(4);
        while progress.load(Ordering::Relaxed) < target && !tasks.iter().all(|t| t.is_finished()) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(jitter as u64)).await;
        let status = server.kill();
        assert_eq!(
            status.signal(),
            Some(9),
            "{ctx}: warden serve ended before it was killed: {status}"
        );
        for t in tasks {
            outcomes.push(
                t.await
                    .unwrap_or_else(|e| panic!("{ctx}: a client failed: {e}")),
            );
        }
        let acked: usize = outcomes.iter().map(|o| o.acked.len()).sum();
        assert!(
            acked >= target,
            "{ctx}: the clients stopped after {acked} writes, before the kill"
        );
        totals.acked += acked;

        // Odd cycles read the crashed file before the server restarts; even cycles let the
        // restarted server recover it and read beside it.
        let restart_first = cycle % 2 == 0;
        if restart_first {
            server = serve(dir.path(), &serve_args);
        }
        let (now, tables) = check_store(
            &url,
            &catalogue,
            org,
            last,
            &mut outcomes,
            &baseline,
            &mut totals,
            &ctx,
        )
        .await;
        if !restart_first {
            server = serve(dir.path(), &serve_args);
        }
        check_engine(
            &server,
            &secret,
            org,
            now,
            &tables,
            &outcomes,
            &baseline_principals,
            &pool,
            &mut rng,
            &mut totals,
            &ctx,
        )
        .await;
        eprintln!(
            "cycle {cycle}: killed after {target} acknowledged writes and {jitter} ms; {acked} writes acknowledged, revisions {}..={now}",
            last + 1
        );
        last = now;
        for o in &mut outcomes {
            o.acked.clear();
        }
    }
    drop(server);
    assert!(
        totals.allowed > 0 && totals.allowed < totals.checks,
        "seed {seed}: the checks should both allow and deny"
    );
    eprintln!(
        "crash: seed {seed}, {cycles} cycles (SIGKILLs), {} writes acknowledged, {} interrupted ({} of them committed), {last} change-log entries, {} invitations checked, {} checks compared ({} allowed), {:.1} s",
        totals.acked,
        totals.interrupted,
        totals.interrupted_committed,
        totals.invitations,
        totals.checks,
        totals.allowed,
        started.elapsed().as_secs_f64()
    );
    let by_action: Vec<String> = totals
        .by_action
        .iter()
        .map(|(a, n)| format!("{a} {n}"))
        .collect();
    eprintln!("writes made, by action: {}", by_action.join(", "));
}
