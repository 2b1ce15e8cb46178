//! Several real `warden serve` processes over one database, as a scaled-out deployment runs
//! them: a burst of random writes is spread over every instance, and at the final revision
//! every instance must give the same answer to every check, explain, effective-permissions
//! and who-can question asked of it.
//!
//! On PostgreSQL (`WARDEN_TEST_DATABASE_URL`) the instances follow each other through
//! LISTEN/NOTIFY and polling; on the embedded default they share one SQLite file and poll.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bootstrap_owner, serve, Rng, Server};
use serde_json::{json, Value};
use warden_client::Client;
use warden_store::testing::TestDatabase;

const INSTANCES: usize = 3;
const WRITERS: usize = 6;
const WRITES_PER_WRITER: usize = 60;
const USERS: usize = 4;

/// What the writers have made so far, shared between them.
#[derive(Default)]
struct World {
    org: String,
    projects: Vec<String>,
    org_permissions: Vec<String>,
    project_permissions: Vec<String>,
    /// `(scope path, id)`: `/v1/orgs/{org}` or `/v1/projects/{p}`.
    policies: Vec<(String, String)>,
    roles: Vec<(String, String)>,
    users: Vec<String>,
    teams: Vec<String>,
    keys: Vec<(String, String)>,
}

impl World {
    fn org_path(&self) -> String {
        format!("/v1/orgs/{}", self.org)
    }

    fn scopes(&self) -> Vec<String> {
        let mut s = vec![self.org_path()];
        s.extend(self.projects.iter().map(|p| format!("/v1/projects/{p}")));
        s
    }

    fn principals(&self) -> Vec<String> {
        let mut p: Vec<String> = self.users.iter().map(|u| format!("user:{u}")).collect();
        p.extend(self.teams.iter().map(|t| format!("team:{t}")));
        p.extend(self.keys.iter().map(|(_, k)| format!("api_key:{k}")));
        p
    }

    fn in_scope<'a>(items: &'a [(String, String)], scope: &str) -> Vec<&'a str> {
        items
            .iter()
            .filter(|(s, _)| s == scope)
            .map(|(_, id)| id.as_str())
            .collect()
    }
}

async fn ids(client: &Client, path: &str) -> Vec<String> {
    client
        .list_all(path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e:?}"))
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect()
}

/// One random write, on `client`. Returns whether it was made; a refusal must be a 4xx that
/// a concurrent write explains (the thing is gone, or still in use), never a 5xx.
async fn random_write(client: &Client, world: &Mutex<World>, rng: &mut Rng) -> bool {
    // Choose the request while holding the lock, send it without.
    let (method, path, body, record): (&str, String, Value, Record) = {
        let w = world.lock().unwrap();
        let scopes = w.scopes();
        let scope = rng.pick(&scopes).unwrap().clone();
        let perms = if scope.starts_with("/v1/orgs/") {
            &w.org_permissions
        } else {
            &w.project_permissions
        };
        let roles = World::in_scope(&w.roles, &scope);
        let policies = World::in_scope(&w.policies, &scope);
        let principals = w.principals();
        match rng.below(100) {
            0..=17 => {
                let n = 1 + rng.below(4);
                let chosen: BTreeSet<&String> = (0..n).filter_map(|_| rng.pick(perms)).collect();
                let name = format!("policy-{}", rng.next());
                (
                    "POST",
                    format!("{scope}/policies"),
                    json!({"name": name, "permission_ids": chosen}),
                    Record::Policy(scope),
                )
            }
            18..=31 => {
                let chosen: BTreeSet<&str> = (0..1 + rng.below(2))
                    .filter_map(|_| rng.pick(&policies).copied())
                    .collect();
                let mut body =
                    json!({"name": format!("role-{}", rng.next()), "policy_ids": chosen});
                if chosen.is_empty() || rng.chance(30) {
                    body["permissions"] = json!([rng.pick(perms).unwrap()]);
                }
                ("POST", format!("{scope}/roles"), body, Record::Role(scope))
            }
            32..=39 => match rng.pick(&roles) {
                Some(role) => {
                    let chosen: BTreeSet<&str> = (0..rng.below(3))
                        .filter_map(|_| rng.pick(&policies).copied())
                        .collect();
                    (
                        "PATCH",
                        format!("{scope}/roles/{role}"),
                        json!({"policy_ids": chosen, "permissions": [rng.pick(perms).unwrap()]}),
                        Record::Nothing,
                    )
                }
                None => return false,
            },
            40..=44 => match rng.pick(&policies) {
                Some(p) => (
                    "DELETE",
                    format!("{scope}/policies/{p}"),
                    Value::Null,
                    Record::Nothing,
                ),
                None => return false,
            },
            45..=48 => match rng.pick(&roles) {
                Some(r) => (
                    "DELETE",
                    format!("{scope}/roles/{r}"),
                    Value::Null,
                    Record::Nothing,
                ),
                None => return false,
            },
            49..=58 => {
                let role = match rng.pick(&roles) {
                    Some(r) if rng.chance(60) => r.to_string(),
                    _ => "Member".to_owned(),
                };
                (
                    "POST",
                    format!("{scope}/api-keys"),
                    json!({"name": format!("key-{}", rng.next()), "role_id": role}),
                    Record::Key(scope),
                )
            }
            59..=80 => {
                let Some(principal) = rng.pick(&principals) else {
                    return false;
                };
                // A key holds a role in its own scope only; users and teams anywhere.
                if principal.starts_with("api_key:") {
                    return false;
                }
                let role = match rng.pick(&roles) {
                    Some(r) if rng.chance(70) => r.to_string(),
                    _ if scope.starts_with("/v1/orgs/") => "Member".to_owned(),
                    _ => rng.pick(&["Member", "Manager"]).unwrap().to_string(),
                };
                (
                    "PUT",
                    format!("{scope}/members/{principal}"),
                    json!({"role_id": role}),
                    Record::Nothing,
                )
            }
            81..=86 => match rng.pick(&principals) {
                Some(p) if !p.starts_with("api_key:") && scope.starts_with("/v1/projects/") => (
                    "DELETE",
                    format!("{scope}/members/{p}"),
                    Value::Null,
                    Record::Nothing,
                ),
                _ => return false,
            },
            87..=90 => (
                "POST",
                format!("{}/teams", w.org_path()),
                json!({"name": format!("team-{}", rng.next())}),
                Record::Team,
            ),
            91..=96 => match (rng.pick(&w.teams), rng.pick(&w.users)) {
                (Some(t), Some(u)) => {
                    let method = if rng.chance(75) { "PUT" } else { "DELETE" };
                    (
                        method,
                        format!("{}/teams/{t}/users/{u}", w.org_path()),
                        Value::Null,
                        Record::Nothing,
                    )
                }
                _ => return false,
            },
            _ => match rng.pick(&w.keys) {
                Some((s, k)) => (
                    "PATCH",
                    format!("{s}/api-keys/{k}"),
                    json!({"valid": rng.chance(50)}),
                    Record::Nothing,
                ),
                None => return false,
            },
        }
    };
    let reply = match method {
        "POST" => client.post(&path, &body).await,
        "PATCH" => client.patch(&path, &body).await,
        "PUT" => client.put(&path, &body).await,
        _ => client.delete(&path).await,
    }
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = reply.status.as_u16();
    if !reply.status.is_success() {
        // Gone (deleted concurrently), still in use, or a pick the rules refuse (a policy of
        // another scope, a role a key's scope cannot hold): said, with nothing written.
        assert!(
            matches!(status, 404 | 409 | 422),
            "{method} {path} {body}: {status} {:?}",
            reply.body
        );
        return false;
    }
    let mut w = world.lock().unwrap();
    match record {
        Record::Policy(scope) => w
            .policies
            .push((scope, reply.body["id"].as_str().unwrap().into())),
        Record::Role(scope) => w
            .roles
            .push((scope, reply.body["id"].as_str().unwrap().into())),
        Record::Key(scope) => w
            .keys
            .push((scope, reply.body["id"].as_str().unwrap().into())),
        Record::Team => w.teams.push(reply.body["id"].as_str().unwrap().into()),
        Record::Nothing => {}
    }
    true
}

/// What to remember of a write that succeeded.
enum Record {
    Policy(String),
    Role(String),
    Key(String),
    Team,
    Nothing,
}

/// Invites `email` to the org as a Member through `owner` and accepts; returns the user id.
async fn arrive(owner: &Client, org_path: &str, email: &str) -> String {
    let r = owner
        .post(
            &format!("{org_path}/invitations"),
            &json!({"emails": [email], "role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let token = r.body["invitations"][0]["token"].as_str().unwrap();
    let r = owner
        .post(
            "/v1/invitations/accept",
            &json!({"token": token, "name": email, "password": "correct horse battery"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["user"]["id"].as_str().unwrap().to_owned()
}

/// Waits until every instance's engine is at `revision`.
async fn all_at(clients: &[Client], revision: u64) {
    for (i, c) in clients.iter().enumerate() {
        let mut at = 0;
        for _ in 0..400 {
            at = c.get("/v1/me").await.unwrap().body["revision"]
                .as_u64()
                .unwrap();
            if at >= revision {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(
            at, revision,
            "instance {i} did not reach revision {revision}"
        );
    }
}

/// Every question, as `(method, path, body)`.
fn questions(w: &World, rng: &mut Rng, revision: u64) -> Vec<(&'static str, String, Value)> {
    let mut principals = w.principals();
    principals.push(format!("user:{}", uuid::Uuid::now_v7()));
    let perms: Vec<&String> = w.project_permissions.iter().step_by(3).collect();
    let mut q = Vec::new();
    // Checks, in batches: every principal, every project, a third of the permissions, and
    // the org's permissions at org scope.
    let mut checks = Vec::new();
    for p in &principals {
        for project in &w.projects {
            for perm in &perms {
                checks.push(json!({"principal": p, "permission": perm, "project_id": project}));
            }
        }
        for perm in &w.org_permissions {
            checks.push(json!({"principal": p, "permission": perm, "org_id": w.org}));
        }
    }
    for chunk in checks.chunks(500) {
        q.push((
            "POST",
            "/v1/check/batch".to_owned(),
            json!({"checks": chunk, "min_revision": revision}),
        ));
    }
    // Explains of a sample.
    for _ in 0..60 {
        let p = rng.pick(&principals).unwrap();
        let project = rng.pick(&w.projects).unwrap();
        let perm = rng.pick(&w.project_permissions).unwrap();
        q.push((
            "POST",
            "/v1/explain".to_owned(),
            json!({"principal": p, "permission": perm, "project_id": project, "min_revision": revision}),
        ));
    }
    // Effective permissions and who-can, in every scope.
    for scope in w.scopes() {
        for p in &principals {
            q.push((
                "GET",
                format!("{scope}/principals/{p}/permissions"),
                Value::Null,
            ));
        }
        let scope_perms = if scope.starts_with("/v1/orgs/") {
            &w.org_permissions
        } else {
            &w.project_permissions
        };
        for perm in scope_perms.iter().step_by(2) {
            q.push((
                "GET",
                format!("{scope}/permissions/{perm}/principals?limit=100"),
                Value::Null,
            ));
        }
    }
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_agree_after_a_burst_of_writes_spread_over_them() {
    let db = TestDatabase::new().await.expect("a fresh test database");
    let dir = tempfile::tempdir().unwrap();
    let key = bootstrap_owner(dir.path(), db.url(), "Acme");
    let servers: Vec<Server> = (0..INSTANCES)
        .map(|_| serve(dir.path(), &["--database", db.url()]))
        .collect();
    let clients: Vec<Client> = servers
        .iter()
        .map(|s| Client::new(s.base.clone(), Some(key.clone())))
        .collect();
    let mut rng = Rng::from_env();

    // A starting point: projects, users (each arriving through a different instance), the
    // catalogue's permissions.
    let owner = &clients[0];
    let me = owner.get("/v1/me").await.unwrap().body;
    let mut world = World {
        org: me["org"]["id"].as_str().unwrap().to_owned(),
        ..World::default()
    };
    for name in ["Chatbot", "Search", "Agents"] {
        let r = owner
            .post(
                &format!("{}/projects", world.org_path()),
                &json!({"name": name}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{:?}", r.body);
        world
            .projects
            .push(r.body["id"].as_str().unwrap().to_owned());
    }
    for i in 0..USERS {
        let c = &clients[i % INSTANCES];
        world
            .users
            .push(arrive(c, &world.org_path(), &format!("user{i}@acme.example")).await);
    }
    let keys_of = |items: Vec<Value>| -> Vec<String> {
        items
            .iter()
            .map(|p| p["key"].as_str().unwrap().to_owned())
            .collect()
    };
    world.org_permissions = keys_of(
        owner
            .list_all(&format!("{}/permissions", world.org_path()))
            .await
            .unwrap(),
    );
    world.project_permissions = keys_of(
        owner
            .list_all(&format!("/v1/projects/{}/permissions", world.projects[0]))
            .await
            .unwrap(),
    );
    let org_path = world.org_path();
    let world = Arc::new(Mutex::new(world));

    // The burst: writers at once, each sending every write to a random instance.
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..WRITERS {
        let (world, clients) = (world.clone(), clients.clone());
        let mut rng = Rng(rng.next());
        writers.spawn(async move {
            let mut made = 0;
            for _ in 0..WRITES_PER_WRITER {
                let c = &clients[rng.below(clients.len())];
                if random_write(c, &world, &mut rng).await {
                    made += 1;
                }
            }
            made
        });
    }
    let mut made = 0;
    while let Some(n) = writers.join_next().await {
        made += n.unwrap();
    }
    assert!(
        made >= WRITERS * WRITES_PER_WRITER / 3,
        "only {made} of the burst's writes were made: the burst did not exercise much"
    );

    // The final revision is the highest any instance reports; wait for all to reach it.
    let mut revision = 0;
    for c in &clients {
        let r = c.get("/v1/me").await.unwrap();
        revision = revision.max(r.body["revision"].as_u64().unwrap());
    }
    // Writes committed on other instances may be newer than any engine; a write on one
    // instance, answered only once applied there, gives the true last revision.
    let w = clients[0]
        .post(&format!("{org_path}/teams"), &json!({"name": "last-write"}))
        .await
        .unwrap();
    assert_eq!(w.status, 201, "{:?}", w.body);
    revision = revision.max(w.revision().unwrap());
    all_at(&clients, revision).await;

    // The same questions to every instance; the answers must be identical.
    let questions = {
        let w = world.lock().unwrap();
        questions(&w, &mut rng, revision)
    };
    let (mut allowed, mut denied) = (0, 0);
    for (method, path, body) in &questions {
        let mut answers = Vec::new();
        for c in &clients {
            let r = if *method == "POST" {
                c.post(path, body).await.unwrap()
            } else {
                c.get(path).await.unwrap()
            };
            assert_eq!(r.status, 200, "{method} {path}: {:?}", r.body);
            assert_eq!(
                r.body["revision"], revision,
                "{method} {path} answered at the final revision"
            );
            answers.push(r.body);
        }
        for (i, a) in answers.iter().enumerate().skip(1) {
            assert_eq!(
                a, &answers[0],
                "instance {i} and instance 0 disagree on {method} {path} {body}"
            );
        }
        if let Some(results) = answers[0]["results"].as_array() {
            for r in results {
                if r["allowed"] == true {
                    allowed += 1;
                } else {
                    denied += 1;
                }
            }
        }
    }
    assert!(
        allowed > 0 && denied > 0,
        "the checks should both allow and deny ({allowed} allowed, {denied} denied)"
    );
    eprintln!(
        "{made} writes over {INSTANCES} instances; {} questions asked of each at revision {revision}, {allowed} checks allowed, {denied} denied",
        questions.len()
    );

    // The lists agree too (read from the one database, so this checks the API's reads).
    let path = format!("{org_path}/roles");
    let first = ids(&clients[0], &path).await;
    for c in &clients[1..] {
        assert_eq!(ids(c, &path).await, first);
    }
}
