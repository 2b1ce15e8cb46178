//! A bounded soak: the real `warden serve` (on loopback only) under a steady mix of checks
//! and writes, which stops by itself. Every answer must be a success, and memory must not
//! grow without bound: the server's resident size at the end within 10% of its plateau
//! (the largest size seen in the second quarter of the run, once it has warmed up). The
//! writes create and remove what they make, so the model stays the same size while the
//! change log grows.
//!
//! By default it runs 10 s, as part of the test command. The long mode runs for
//! `WARDEN_SOAK_SECONDS`; its figures (docs/benchmarks.md) come from the release build:
//! `WARDEN_SOAK_SECONDS=300 cargo test --release -p warden --test soak -- --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{bootstrap_owner, serve, Rng};
use serde_json::{json, Value};

/// Tasks sending requests at once.
const CLIENTS: usize = 8;
/// One request in this many is a write.
const WRITE_EVERY: u64 = 10;

/// The resident size of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// What the soak runs against: principals, roles, permissions of one org and project.
struct Fixture {
    base: String,
    key: String,
    project: String,
    principals: Vec<String>,
    /// One team per client, whose project role that client sets and removes.
    teams: Vec<String>,
    roles: Vec<String>,
    permissions: Vec<String>,
}

async fn fixture(http: &reqwest::Client, base: String, key: String) -> Fixture {
    let post = |path: String, body: Value| {
        let req = http
            .post(format!("{base}{path}"))
            .bearer_auth(&key)
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<Value>().await.unwrap()
        }
    };
    let me: Value = http
        .get(format!("{base}/v1/me"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let org = me["org"]["id"].as_str().unwrap().to_owned();
    let project = post(format!("/v1/orgs/{org}/projects"), json!({"name": "Soak"})).await;
    let project = project["id"].as_str().unwrap().to_owned();
    let permissions: Vec<String> = [
        "dataset:read",
        "dataset:update",
        "trace:read",
        "prompt:update",
        "metric:create",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let mut roles = Vec::new();
    for (i, pair) in permissions.chunks(2).enumerate() {
        let policy = post(
            format!("/v1/projects/{project}/policies"),
            json!({"name": format!("policy {i}"), "permission_ids": pair}),
        )
        .await;
        let role = post(
            format!("/v1/projects/{project}/roles"),
            json!({"name": format!("role {i}"), "policy_ids": [policy["id"]]}),
        )
        .await;
        roles.push(role["id"].as_str().unwrap().to_owned());
    }
    // Principals: keys holding project roles, and a team.
    let mut principals = Vec::new();
    for i in 0..20 {
        let k = post(
            format!("/v1/projects/{project}/api-keys"),
            json!({"name": format!("client {i}"), "role_id": roles[i % roles.len()]}),
        )
        .await;
        principals.push(format!("api_key:{}", k["id"].as_str().unwrap()));
    }
    let mut teams = Vec::new();
    for client in 0..CLIENTS {
        let team = post(
            format!("/v1/orgs/{org}/teams"),
            json!({"name": format!("Soakers {client}")}),
        )
        .await;
        teams.push(format!("team:{}", team["id"].as_str().unwrap()));
    }
    principals.extend(teams.iter().cloned());
    Fixture {
        base,
        key,
        project,
        principals,
        teams,
        roles,
        permissions,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_mix_of_checks_and_writes_runs_without_errors_or_growing_memory() {
    let seconds: u64 = std::env::var("WARDEN_SOAK_SECONDS")
        .ok()
        .map(|s| {
            s.parse()
                .expect("WARDEN_SOAK_SECONDS is a number of seconds")
        })
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("warden.db").display());
    let key = bootstrap_owner(dir.path(), &db, "Acme");
    let server = serve(dir.path(), &["--database", &db]);
    let pid = server.pid();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let f = Arc::new(fixture(&http, server.base.clone(), key).await);

    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let writes = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let mut seeds = Rng::from_env();
    for client in 0..CLIENTS {
        let (http, f, errors, writes) = (http.clone(), f.clone(), errors.clone(), writes.clone());
        let mut rng = Rng(seeds.next());
        tasks.push(tokio::spawn(async move {
            // Checks and writes timed apart: `(is a write, latency)`.
            let mut latencies = Vec::new();
            let mut n: u64 = 0;
            while Instant::now() < end {
                n += 1;
                let began = Instant::now();
                let is_write = n.is_multiple_of(WRITE_EVERY);
                let status = if is_write {
                    writes.fetch_add(1, Ordering::Relaxed);
                    write(&http, &f, &mut rng, client, n).await
                } else {
                    let body = json!({
                        "principal": rng.pick(&f.principals).unwrap(),
                        "permission": rng.pick(&f.permissions).unwrap(),
                        "project_id": f.project,
                    });
                    let r = http
                        .post(format!("{}/v1/check", f.base))
                        .bearer_auth(&f.key)
                        .json(&body)
                        .send()
                        .await;
                    match r {
                        Ok(r) => {
                            let s = r.status();
                            let _ = r.bytes().await;
                            Ok(s)
                        }
                        Err(e) => Err(e.to_string()),
                    }
                };
                latencies.push((is_write, began.elapsed()));
                match status {
                    Ok(s) if s.is_success() => {}
                    Ok(s) => errors.lock().unwrap().push(format!("answered {s}")),
                    Err(e) => errors.lock().unwrap().push(e),
                }
            }
            latencies
        }));
    }
    // The server's resident size, every half second.
    let mut rss: Vec<(Duration, u64)> = Vec::new();
    while Instant::now() < end {
        rss.push((start.elapsed(), rss_kib(pid)));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    rss.push((start.elapsed(), rss_kib(pid)));

    let errors = errors.lock().unwrap();
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    let quarter = Duration::from_secs(seconds) / 4;
    let plateau = rss
        .iter()
        .filter(|(t, _)| *t >= quarter && *t < quarter * 2)
        .map(|(_, r)| *r)
        .max()
        .expect("samples in the second quarter");
    let last = rss.last().unwrap().1;
    let peak = rss.iter().map(|(_, r)| *r).max().unwrap();
    let timed = |writes: bool| {
        let mut t: Vec<Duration> = latencies
            .iter()
            .filter(|(w, _)| *w == writes)
            .map(|(_, d)| *d)
            .collect();
        t.sort();
        format!(
            "p50 {:?}, p99 {:?}, max {:?}",
            percentile(&t, 0.50),
            percentile(&t, 0.99),
            t.last().unwrap()
        )
    };
    println!(
        "soak: {seconds} s, {} requests ({} writes, each a create and a delete) from {CLIENTS} clients, {:.0}/s; checks {}; writes {}; RSS plateau {plateau} KiB, end {last} KiB, peak {peak} KiB",
        latencies.len(),
        writes.load(Ordering::Relaxed),
        latencies.len() as f64 / seconds as f64,
        timed(false),
        timed(true),
    );
    assert!(
        last * 10 <= plateau * 11,
        "the server's memory grew from {plateau} KiB to {last} KiB: {rss:?}"
    );
}

/// One write, undone by a later one so that the model keeps its size: a policy created and
/// deleted, a membership set and removed, a key created and deleted.
async fn write(
    http: &reqwest::Client,
    f: &Fixture,
    rng: &mut Rng,
    client: usize,
    n: u64,
) -> Result<reqwest::StatusCode, String> {
    let send = |req: reqwest::RequestBuilder| async move {
        let r = req
            .bearer_auth(&f.key)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let s = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        Ok::<_, String>((s, body))
    };
    let base = &f.base;
    let project = &f.project;
    let (s, body) = match rng.below(3) {
        0 => {
            let (s, body) = send(http.post(format!("{base}/v1/projects/{project}/policies")).json(
                &json!({"name": format!("soak {client}-{n}"), "permission_ids": [rng.pick(&f.permissions).unwrap()]}),
            ))
            .await?;
            if !s.is_success() {
                return Ok(s);
            }
            let id = body["id"].as_str().unwrap_or_default();
            send(http.delete(format!("{base}/v1/projects/{project}/policies/{id}"))).await?
        }
        1 => {
            let team = &f.teams[client];
            let (s, _) = send(
                http.put(format!("{base}/v1/projects/{project}/members/{team}"))
                    .json(&json!({"role_id": rng.pick(&f.roles).unwrap()})),
            )
            .await?;
            if !s.is_success() {
                return Ok(s);
            }
            send(http.delete(format!("{base}/v1/projects/{project}/members/{team}"))).await?
        }
        _ => {
            let (s, body) = send(
                http.post(format!("{base}/v1/projects/{project}/api-keys"))
                    .json(&json!({"name": format!("soak {client}-{n}"), "role_id": rng.pick(&f.roles).unwrap()})),
            )
            .await?;
            if !s.is_success() {
                return Ok(s);
            }
            let id = body["id"].as_str().unwrap_or_default();
            send(http.delete(format!("{base}/v1/projects/{project}/api-keys/{id}"))).await?
        }
    };
    let _ = body;
    Ok(s)
}
