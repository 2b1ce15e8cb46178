//! Losing PostgreSQL while instances run. Two `warden serve` processes reach the database
//! through a TCP relay that the test controls: cutting it closes every connection and
//! refuses new ones, as a stopped server does, without stopping the server that other test
//! suites share.
//!
//! While the database is gone, decisions are answered from memory at the last applied
//! revision, `/readyz` says the database is unreachable, and writes fail with 503 and a
//! message that says so. Every write acknowledged before, during or after the loss is still
//! there, and both instances follow the change log again by themselves once the database
//! is back.
//!
//! Needs PostgreSQL: `WARDEN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres`
//! (`scripts/test` sets it when a server answers there).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bootstrap_owner, serve, Server};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use warden_client::Client;
use warden_store::testing::{postgres_server, TestDatabase, DATABASE_URL_VAR};

/// A relay from a local port to the database server, that can be cut and restored.
struct Relay {
    port: u16,
    upstream: String,
    running: Mutex<Option<JoinSet<()>>>,
}

impl Relay {
    async fn start(upstream: String) -> Arc<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Arc::new(Relay {
            port,
            upstream,
            running: Mutex::new(None),
        });
        relay.run(listener);
        relay
    }

    /// Accepts on `listener` and relays each connection, until cut.
    fn run(&self, listener: TcpListener) {
        let mut tasks = JoinSet::new();
        let upstream = self.upstream.clone();
        let conns = Arc::new(Mutex::new(JoinSet::new()));
        let held = conns.clone();
        tasks.spawn(async move {
            // Holding the connections' set here means aborting this task drops them all.
            let _held = held;
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let upstream = upstream.clone();
                conns.lock().unwrap().spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        *self.running.lock().unwrap() = Some(tasks);
    }

    /// Closes every relayed connection and the listening socket: connecting is refused.
    async fn cut(&self) {
        let tasks = self.running.lock().unwrap().take();
        if let Some(mut tasks) = tasks {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }

    /// Listens again on the same port.
    async fn restore(&self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let listener = TcpListener::bind(addr).await.unwrap();
        self.run(listener);
    }
}

/// `url` with its host and port replaced by `127.0.0.1:port`; also returns the old ones.
fn through(url: &str, port: u16) -> (String, String) {
    let start = url.find("://").unwrap() + 3;
    let rest = &url[start..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let (user, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    let relayed = format!("{}{user}127.0.0.1:{port}{}", &url[..start], &rest[end..]);
    (relayed, host)
}

async fn check(c: &Client, body: &Value) -> Value {
    let r = c.post("/v1/check", body).await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

async fn ready(c: &Client) -> (u16, Value) {
    let r = c.get("/readyz").await.unwrap();
    (r.status.as_u16(), r.body)
}

/// Polls until `f` is true, at most `secs` seconds.
async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within {secs} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_survive_losing_the_database_and_recover_by_themselves() {
    let Some(server) = postgres_server() else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "this test needs PostgreSQL: set {DATABASE_URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres (scripts/test sets it when a server answers there)"
            );
        }
        eprintln!("skipped: {DATABASE_URL_VAR} is not set (no PostgreSQL to lose)");
        return;
    };
    let db = TestDatabase::postgres(&server)
        .await
        .expect("a fresh PostgreSQL database");
    let dir = tempfile::tempdir().unwrap();
    let key = bootstrap_owner(dir.path(), db.url(), "Acme");
    let (_, upstream) = through(db.url(), 0);
    let relay = Relay::start(upstream).await;
    let (relayed, _) = through(db.url(), relay.port);
    let servers: Vec<Server> = (0..2)
        .map(|_| serve(dir.path(), &["--database", &relayed]))
        .collect();
    let a = Client::new(servers[0].base.clone(), Some(key.clone()));
    let b = Client::new(servers[1].base.clone(), Some(key.clone()));

    // A project, a member key with a role in it, and the questions asked throughout.
    let org = a.get("/v1/me").await.unwrap().body["org"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = a
        .post(
            &format!("/v1/orgs/{org}/projects"),
            &json!({"name": "Chatbot"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let project = r.body["id"].as_str().unwrap().to_owned();
    let r = a
        .post(
            &format!("/v1/projects/{project}/api-keys"),
            &json!({"name": "worker", "role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let worker = format!("api_key:{}", r.body["id"].as_str().unwrap());
    let questions = [
        (
            json!({"principal": worker, "permission": "dataset:read", "project_id": project}),
            true,
        ),
        (
            json!({"principal": worker, "permission": "project:delete", "project_id": project}),
            false,
        ),
    ];

    // Writes keep coming, to both instances, before, during and after the loss; each one
    // acknowledged is remembered.
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, u64)>::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (clients, acknowledged, refused, stop) = (
            [a.clone(), b.clone()],
            acknowledged.clone(),
            refused.clone(),
            stop.clone(),
        );
        let path = format!("/v1/projects/{project}/policies");
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let c = &clients[(n % 2) as usize];
                let r = c
                    .post(
                        &path,
                        &json!({"name": format!("p{n}"), "permission_ids": ["dataset:read"]}),
                    )
                    .await
                    .unwrap();
                match r.status.as_u16() {
                    201 => acknowledged.lock().unwrap().push((
                        r.body["id"].as_str().unwrap().to_owned(),
                        r.revision().unwrap(),
                    )),
                    503 => {
                        assert_eq!(r.body["error"]["code"], "unavailable", "{:?}", r.body);
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    s => panic!("a write answered {s}: {:?}", r.body),
                }
            }
        })
    };
    eventually(30, "writes before the loss", || {
        let n = acknowledged.lock().unwrap().len();
        async move { n >= 20 }
    })
    .await;
    for c in [&a, &b] {
        assert_eq!(ready(c).await.0, 200);
    }

    // The database goes away.
    let mut applied = Vec::new();
    for c in [&a, &b] {
        applied.push(
            c.get("/v1/me").await.unwrap().body["revision"]
                .as_u64()
                .unwrap(),
        );
    }
    relay.cut().await;
    for (i, c) in [&a, &b].into_iter().enumerate() {
        eventually(15, "/readyz reporting the loss", || async {
            let (status, body) = ready(c).await;
            status == 503 && body["database"] == "unreachable"
        })
        .await;
        // Decisions: still answered, from memory, at the revision last applied (which no
        // longer moves).
        let at = check(c, &questions[0].0).await["revision"]
            .as_u64()
            .unwrap();
        assert!(
            at >= applied[i],
            "instance {i} went back from {} to {at}",
            applied[i]
        );
        for (q, expected) in &questions {
            let r = check(c, q).await;
            assert_eq!(r["allowed"], *expected, "instance {i}: {q}");
            assert_eq!(
                r["revision"], at,
                "instance {i} applied nothing without the database"
            );
        }
        let r = c
            .post(
                "/v1/check/batch",
                &json!({"checks": questions.iter().map(|(q, _)| q).collect::<Vec<_>>()}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r = c.post("/v1/explain", &questions[0].0).await.unwrap();
        assert_eq!(r.status, 200, "explain needs only the engine: {:?}", r.body);
        assert_eq!(r.body["allowed"], true);
        assert_eq!(c.get("/healthz").await.unwrap().status, 200);
        // A write: 503, saying why and when to retry.
        let r = c
            .post(
                &format!("/v1/orgs/{org}/teams"),
                &json!({"name": format!("lost-{i}")}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 503, "{:?}", r.body);
        assert_eq!(r.body["error"]["code"], "unavailable");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("database"), "{message}");
        assert!(r.headers.get("retry-after").is_some());
        // A decision that asks for a revision this instance cannot reach without the
        // database: 503 too, not a stale answer.
        let mut q = questions[0].0.clone();
        q["min_revision"] = json!(1_000_000);
        let r = c.post("/v1/check", &q).await.unwrap();
        assert_eq!(r.status, 503, "{:?}", r.body);
    }
    eventually(30, "writes refused while the database is gone", || {
        let n = refused.load(Ordering::Relaxed);
        async move { n >= 2 }
    })
    .await;

    // The database comes back: both instances recover without being touched.
    relay.restore().await;
    for c in [&a, &b] {
        eventually(30, "/readyz reporting the database back", || async {
            ready(c).await.0 == 200
        })
        .await;
    }
    let acked_at_return = acknowledged.lock().unwrap().len();
    eventually(30, "writes acknowledged again", || {
        let n = acknowledged.lock().unwrap().len();
        async move { n >= acked_at_return + 20 }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();

    // Both follow the change log again, unasked: a write on one is applied on the other.
    let r = a
        .post(&format!("/v1/orgs/{org}/teams"), &json!({"name": "after"}))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let last = r.revision().unwrap();
    eventually(
        30,
        "instance b following the change log to the last write",
        || async { b.get("/v1/me").await.unwrap().body["revision"].as_u64() == Some(last) },
    )
    .await;

    // Nothing acknowledged was lost: every policy is there, on both instances, and its
    // revision is in the change log exactly once.
    let acked = acknowledged.lock().unwrap().clone();
    assert!(refused.load(Ordering::Relaxed) > 0);
    for c in [&a, &b] {
        let listed: std::collections::HashSet<String> = c
            .list_all(&format!("/v1/projects/{project}/policies?limit=100"))
            .await
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect();
        for (id, revision) in &acked {
            assert!(
                listed.contains(id),
                "policy {id} (revision {revision}) was acknowledged, then lost"
            );
        }
    }
    let mut revisions: Vec<u64> = acked.iter().map(|(_, r)| *r).collect();
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(
        revisions.len(),
        acked.len(),
        "one revision per acknowledged write"
    );
    eprintln!(
        "{} writes acknowledged, {} refused with 503 while the database was gone; both instances at revision {last}",
        acked.len(),
        refused.load(Ordering::Relaxed)
    );
}

#[test]
fn a_url_is_relayed_through_a_local_port() {
    assert_eq!(
        through("postgres://postgres@127.0.0.1:5432/warden_test_1", 6000),
        (
            "postgres://postgres@127.0.0.1:6000/warden_test_1".to_owned(),
            "127.0.0.1:5432".to_owned()
        )
    );
    assert_eq!(
        through("postgres://u:p@db.internal/x?sslmode=disable", 7),
        (
            "postgres://u:p@127.0.0.1:7/x?sslmode=disable".to_owned(),
            "db.internal:5432".to_owned()
        )
    );
}
