//! Graceful shutdown: `warden serve` told to stop with SIGTERM while writers stream writes
//! and a slow request is in flight stops accepting connections, answers what it had
//! started, and exits cleanly; on restart every acknowledged write is there, the change log
//! has no gap, and every entry of it is whole (its object exists as the entry says).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/logs.rs"]
mod logs;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bootstrap_owner, serve, warden, without_warden_env};
use serde_json::{json, Value};

const WRITERS: usize = 4;

/// Sends SIGTERM to `pid`, as a service manager stopping the server does.
fn terminate(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_in_flight_requests_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("warden.db").display());
    let key = bootstrap_owner(dir.path(), &db, "Acme");
    // Started by hand (not `serve`) to keep the child: its exit status is checked.
    let mut child = without_warden_env(&mut warden())
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db])
        .env("WARDEN_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let log = logs::LogLines::read(child.stderr.take().unwrap());
    let base = log.wait_for("warden listening on ").trim().to_owned();
    let http = reqwest::Client::new();
    let org: String = {
        let me: Value = http
            .get(format!("{base}/v1/me"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        me["org"]["id"].as_str().unwrap().to_owned()
    };

    // Writers create policies without pause, each recording what was acknowledged.
    let acknowledged: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (http, base, key, org) = (http.clone(), base.clone(), key.clone(), org.clone());
        let acknowledged = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let body = json!({"name": format!("p{w}-{i}"), "permission_ids": ["dataset:read"]});
                let sent = http
                    .post(format!("{base}/v1/orgs/{org}/policies"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await;
                let Ok(r) = sent else { return };
                if !r.status().is_success() {
                    return;
                }
                let revision: u64 = r.headers()["warden-revision"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let Ok(v) = r.json::<Value>().await else {
                    return;
                };
                let id = v["id"].as_str().unwrap().to_owned();
                acknowledged.lock().unwrap().push((id, revision));
            }
        }));
    }
    // A slow request: a decision waiting (2 s by default) for a revision never reached.
    let slow = {
        let (http, base, key, org) = (http.clone(), base.clone(), key.clone(), org.clone());
        tokio::spawn(async move {
            http.post(format!("{base}/v1/check"))
                .bearer_auth(&key)
                .json(&json!({"principal": "user:00000000-0000-0000-0000-000000000000", "permission": "dataset:read", "org_id": org, "min_revision": 1_000_000}))
                .send()
                .await
        })
    };
    // Let some writes through, then stop the server mid-stream.
    while acknowledged.lock().unwrap().len() < 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    terminate(child.id());

    // The slow request, started before the signal, is answered, not cut.
    let slow = slow
        .await
        .unwrap()
        .expect("the in-flight request got its answer");
    assert_eq!(slow.status(), 422);
    let body: Value = slow.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_revision", "{body}");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "warden serve exited with {status}");
    assert!(
        log.contains("shutting down: finishing in-flight requests"),
        "the server said it was stopping"
    );
    for w in writers {
        w.await.unwrap();
    }
    // Once stopped, nothing answers.
    assert!(http.get(format!("{base}/healthz")).send().await.is_err());

    // Restarted: every acknowledged write is there, the log is gapless and whole.
    let server = serve(dir.path(), &["--database", &db]);
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 20);
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/v1/orgs/{org}/policies?limit=100", server.base);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http
            .get(url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for p in page["items"].as_array().unwrap() {
            listed.push(p["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    for (id, revision) in &acknowledged {
        assert!(
            listed.contains(id),
            "policy {id}, acknowledged at revision {revision}, is lost"
        );
    }
    let store = warden_store::Store::open(
        &db,
        std::sync::Arc::new(warden_model::Catalogue::default_llmops()),
    )
    .await
    .unwrap();
    let entries = store.changes_since(0, 100_000).await.unwrap();
    let revisions: Vec<u64> = entries.iter().map(|e| e.revision).collect();
    let expected: Vec<u64> = (1..=revisions.len() as u64).collect();
    assert_eq!(revisions, expected, "the change log has no gap");
    let org_id = warden_model::OrgId::parse(&org).unwrap();
    let audit = store
        .list_audit(
            org_id,
            None,
            &warden_store::AuditFilter::default(),
            None,
            100_000,
        )
        .await
        .unwrap();
    let created: Vec<&str> = audit
        .iter()
        .filter(|e| e.action == "policy.create")
        .map(|e| e.target.trim_start_matches("policy:"))
        .collect();
    assert_eq!(
        created.len(),
        listed.len(),
        "one policy per policy.create entry, none half-written"
    );
    for id in &created {
        assert!(
            listed.iter().any(|l| l == id),
            "entry for {id} without its policy"
        );
    }
    println!(
        "shutdown: {} writes acknowledged before SIGTERM, {} committed in all, log of {} entries",
        acknowledged.len(),
        listed.len(),
        revisions.len()
    );
}
