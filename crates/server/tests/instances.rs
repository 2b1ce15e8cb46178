//! Several instances over one database, as a horizontally scaled deployment runs: each
//! follows the change log (woken by PostgreSQL's notifications, polling as a fallback), and
//! `min_revision` gives read-your-writes across them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::spawn_app;
use serde_json::{json, Value};
use warden_client::Client;
use warden_store::Backend;

async fn check(c: &Client, body: Value) -> Value {
    let r = c.post("/v1/check", &body).await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

/// The revision an instance's engine is at.
async fn revision_of(c: &Client) -> u64 {
    c.get("/v1/me").await.unwrap().body["revision"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn a_write_on_one_instance_is_read_at_its_revision_on_another() {
    let app = spawn_app().await;
    let other = app.another_instance(|_| {}).await;
    let project = app.project("Chatbot").await;
    let ada = app.add_user_to_org("ada@acme.test").await;
    let ask = |min_revision: u64| {
        json!({"principal": format!("user:{ada}"), "permission": "dataset:read",
               "project_id": project, "min_revision": min_revision})
    };

    let w = app
        .owner
        .put(
            &format!("/v1/projects/{project}/members/user:{ada}"),
            &json!({"role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(w.status, 200, "{:?}", w.body);
    let rev = w.revision().unwrap();
    let r = check(&other.owner, ask(rev)).await;
    assert_eq!(r["allowed"], true, "the other instance applied the write");
    assert!(r["revision"].as_u64().unwrap() >= rev);

    // And the other way round.
    let w = other
        .owner
        .delete(&format!("/v1/projects/{project}/members/user:{ada}"))
        .await
        .unwrap();
    assert!(w.status.is_success(), "{:?}", w.body);
    let rev2 = w.revision().unwrap();
    assert!(rev2 > rev, "revisions grow whichever instance writes");
    let r = check(&app.owner, ask(rev2)).await;
    assert_eq!(r["allowed"], false);
}

#[tokio::test]
async fn instances_follow_each_others_writes_unasked() {
    let app = spawn_app().await;
    // On PostgreSQL the other instance polls only once an hour: only the notification of
    // each commit can bring it up to date in time.
    let pg = app.backend() == Backend::Postgres;
    let other = app
        .another_instance(|c| {
            if pg {
                c.follow_every = Duration::from_secs(3600);
            }
        })
        .await;
    for name in ["One", "Two", "Three"] {
        app.project(name).await;
    }
    let target = app.revision().await;
    for _ in 0..200 {
        if revision_of(&other.owner).await >= target {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the other instance did not follow the change log to revision {target}");
}

#[tokio::test]
async fn concurrent_writes_on_two_instances_get_gapless_revisions_in_commit_order() {
    let app = spawn_app().await;
    let other = app.another_instance(|_| {}).await;
    let start = app.revision().await;
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..16 {
        let client = if i % 2 == 0 {
            app.owner.clone()
        } else {
            other.owner.clone()
        };
        let path = app.org_path("/projects");
        writes.spawn(async move {
            let r = client
                .post(&path, &json!({"name": format!("P{i}")}))
                .await
                .unwrap();
            assert_eq!(r.status, 201, "{:?}", r.body);
            r.revision().unwrap()
        });
    }
    let mut revisions = Vec::new();
    while let Some(r) = writes.join_next().await {
        revisions.push(r.unwrap());
    }
    revisions.sort_unstable();
    let expected: Vec<u64> = (start + 1..=start + 16).collect();
    assert_eq!(revisions, expected, "one revision per write, none skipped");
    // Both engines end at the same revision and answer the same.
    let end = start + 16;
    let me = app.owner.get("/v1/me").await.unwrap().body;
    let ask = json!({"principal": me["principal"], "permission": "organization:read",
                     "org_id": app.org_id, "min_revision": end});
    let a = check(&app.owner, ask.clone()).await;
    let b = check(&other.owner, ask).await;
    assert_eq!(a["allowed"], true);
    assert_eq!(
        (&a["allowed"], &a["revision"]),
        (&b["allowed"], &b["revision"])
    );
}
