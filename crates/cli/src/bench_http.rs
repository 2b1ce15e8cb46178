//! `warden bench http`: a load generator for a running server.
//!
//! It creates a data set through the API (projects, custom policies and roles at org and
//! project scope, API keys holding org roles and project memberships: API keys are the
//! principals, since users cannot be created through the API), then drives, for a fixed
//! time each, with `--concurrency` tasks on keep-alive connections:
//!
//! 1. the floor, `POST /v1/check/constant`: the same stack as a check, without the
//!    decision;
//! 2. single checks, `POST /v1/check`;
//! 3. batches, `POST /v1/check/batch` with `--batch` checks each.
//!
//! and prints requests/s, decisions/s, p50 and p99 latency of each, with the targets of the
//! issue. Request bodies are serialized before the timed phases.
//!
//! Given several `--url`s (instances over one PostgreSQL database), the data set is created
//! through the first, the tasks are spread evenly over all of them, and the `visible` phase
//! measures write-to-visible latency: a write acknowledged by one instance, then the time
//! until another instance reports its revision. Only the URLs given are contacted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use clap::Args;
use serde_json::{json, Value};
use warden_client::Client;

/// Options of `warden bench http`.
#[derive(Args, Debug)]
pub struct HttpArgs {
    /// The server (loopback or a test host you run); several, comma-separated, for
    /// instances of one deployment: the load is spread over them.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
    url: Vec<String>,
    /// An org Owner key (from `warden bootstrap`).
    #[arg(long, env = "WARDEN_API_KEY")]
    api_key: String,
    /// Concurrent requests (one keep-alive connection each).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Seconds each phase is measured.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of warm-up before each phase (not measured).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// API keys to create as principals.
    #[arg(long, default_value_t = 200)]
    keys: usize,
    /// Projects to create.
    #[arg(long, default_value_t = 20)]
    projects: usize,
    /// Checks per batch request (the API takes up to 1,000).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Seed of the data set and of the questions.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The phases to run, in order (a subset of `floor,single,batch,visible`, e.g. to
    /// profile one); `visible` runs by default when several `--url`s are given.
    #[arg(long, value_delimiter = ',')]
    phases: Vec<String>,
    /// Writes timed by the `visible` phase.
    #[arg(long, default_value_t = 300)]
    writes: usize,
}

/// A small deterministic generator (xorshift), enough to pick questions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn id_of(v: &Value) -> anyhow::Result<String> {
    v.get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the server's answer has no `id`: {v}"))
}

/// What the load generator created.
struct DataSet {
    projects: Vec<String>,
    org: String,
    principals: Vec<String>,
    permissions: Vec<String>,
}

async fn create(c: &Client, args: &HttpArgs, rng: &mut Rng) -> anyhow::Result<DataSet> {
    let me = c.call(reqwest::Method::GET, "/v1/me", None).await?;
    let org = me
        .pointer("/org/id")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("`GET /v1/me` gave no org id: {me}"))?
        .to_owned();
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let permissions: Vec<String> = c
        .list_all(&format!("/v1/orgs/{org}/permissions?limit=100"))
        .await?
        .iter()
        .filter_map(|p| p.get("key").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let project_perms: Vec<String> = permissions
        .iter()
        .filter(|k| {
            [
                "dataset:",
                "trace:",
                "prompt:",
                "golden:",
                "metric:",
                "span:",
                "experiment:",
            ]
            .iter()
            .any(|p| k.starts_with(p))
        })
        .cloned()
        .collect();
    if project_perms.is_empty() {
        return Err(anyhow!("the catalogue has none of the project permissions this data set uses (dataset:*, trace:*, ...): run the server with the default catalogue"));
    }
    let some_perms = |rng: &mut Rng, n: usize| -> Vec<String> {
        let mut v: Vec<String> = (0..n)
            .map(|_| project_perms[rng.below(project_perms.len())].clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    eprintln!(
        "creating the data set: {} projects, custom policies and roles, {} API keys ...",
        args.projects, args.keys
    );
    let org_path = format!("/v1/orgs/{org}");
    let mut org_roles = vec!["Member".to_owned()];
    for i in 0..5 {
        let p = c
            .call(
                reqwest::Method::POST,
                &format!("{org_path}/policies"),
                Some(&json!({"name": format!("bench-{tag}-org-{i}"), "permission_ids": some_perms(rng, 6)})),
            )
            .await?;
        let r = c
            .call(
                reqwest::Method::POST,
                &format!("{org_path}/roles"),
                Some(&json!({"name": format!("bench-{tag}-org-{i}"), "policy_ids": [id_of(&p)?]})),
            )
            .await?;
        org_roles.push(id_of(&r)?);
    }
    let mut projects = vec![];
    let mut project_roles: Vec<Vec<String>> = vec![];
    for i in 0..args.projects {
        let p = c
            .call(
                reqwest::Method::POST,
                &format!("{org_path}/projects"),
                Some(&json!({"name": format!("bench-{tag}-{i}"), "restricted": i % 10 == 9})),
            )
            .await?;
        let pid = id_of(&p)?;
        let scope = format!("/v1/projects/{pid}");
        let pol = c
            .call(
                reqwest::Method::POST,
                &format!("{scope}/policies"),
                Some(&json!({"name": "bench", "permission_ids": some_perms(rng, 5)})),
            )
            .await?;
        let role = c
            .call(
                reqwest::Method::POST,
                &format!("{scope}/roles"),
                Some(&json!({"name": "bench", "policy_ids": [id_of(&pol)?], "permissions": some_perms(rng, 3)})),
            )
            .await?;
        project_roles.push(vec![
            "Member".to_owned(),
            "Manager".to_owned(),
            id_of(&role)?,
        ]);
        projects.push(pid);
    }
    let mut principals = vec![];
    for i in 0..args.keys {
        let role = &org_roles[rng.below(org_roles.len())];
        let k = c
            .call(
                reqwest::Method::POST,
                &format!("{org_path}/api-keys"),
                Some(&json!({"name": format!("bench-{tag}-{i}"), "role_id": role})),
            )
            .await?;
        let kid = k
            .pointer("/id")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("the created key has no id: {k}"))?
            .to_owned();
        let principal = format!("api_key:{kid}");
        for _ in 0..(1 + rng.below(3)) {
            let j = rng.below(projects.len());
            let role = &project_roles[j][rng.below(3)];
            c.call(
                reqwest::Method::PUT,
                &format!("/v1/projects/{}/members/{principal}", projects[j]),
                Some(&json!({"role_id": role})),
            )
            .await?;
        }
        principals.push(principal);
        if (i + 1) % 50 == 0 {
            eprintln!("  {} keys", i + 1);
        }
    }
    Ok(DataSet {
        projects,
        org,
        principals,
        permissions,
    })
}

fn question(ds: &DataSet, rng: &mut Rng) -> Value {
    let principal = &ds.principals[rng.below(ds.principals.len())];
    let permission = &ds.permissions[rng.below(ds.permissions.len())];
    if rng.below(4) == 0 {
        json!({"principal": principal, "permission": permission, "org_id": ds.org})
    } else {
        let p = &ds.projects[rng.below(ds.projects.len())];
        json!({"principal": principal, "permission": permission, "project_id": p})
    }
}

/// Bodies serialized once, for the whole run.
fn leak(bodies: Vec<Value>) -> Arc<Vec<&'static [u8]>> {
    Arc::new(
        bodies
            .into_iter()
            .map(|b| &*Box::leak(b.to_string().into_bytes().into_boxed_slice()))
            .collect(),
    )
}

/// What one phase measured.
struct Phase {
    requests: u64,
    errors: u64,
    allowed: u64,
    answered: u64,
    secs: f64,
    p50_us: f64,
    p99_us: f64,
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)])
}

/// Runs `concurrency` tasks posting `bodies` (round-robin, each task from its own offset)
/// to `path` for `warmup` then `duration`; only the second part is recorded.
async fn phase(
    http: &reqwest::Client,
    args: &HttpArgs,
    path: &str,
    bodies: Arc<Vec<&'static [u8]>>,
) -> Phase {
    let urls: Vec<String> = args
        .url
        .iter()
        .map(|u| format!("{}{}", u.trim_end_matches('/'), path))
        .collect();
    let auth = format!("Bearer {}", args.api_key);
    let recording = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    for t in 0..args.concurrency {
        let url = urls[t % urls.len()].clone();
        let (http, auth, bodies) = (http.clone(), auth.clone(), bodies.clone());
        let (recording, stop, errors) = (recording.clone(), stop.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
            let (mut allowed, mut answered) = (0u64, 0u64);
            let mut i = t * 7919;
            while !stop.load(Ordering::Relaxed) {
                let body = bodies[i % bodies.len()];
                i += 1;
                let start = Instant::now();
                let resp = http
                    .post(&url)
                    .header(reqwest::header::AUTHORIZATION, &auth)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await;
                let ok = match resp {
                    Ok(r) if r.status().is_success() => r.bytes().await.ok(),
                    Ok(r) => {
                        let _ = r.bytes().await;
                        None
                    }
                    Err(_) => None,
                };
                let us = start.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                if !recording.load(Ordering::Relaxed) {
                    continue;
                }
                match ok {
                    Some(bytes) => {
                        lat.push(us);
                        // Count answers without parsing: `"allowed":true` / `false`.
                        let s = &bytes[..];
                        allowed += count(s, b"\"allowed\":true");
                        answered += count(s, b"\"allowed\":");
                    }
                    None => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            (lat, allowed, answered)
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    recording.store(true, Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    recording.store(false, Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut lat = vec![];
    let (mut allowed, mut answered) = (0, 0);
    for t in tasks {
        if let Ok((l, a, n)) = t.await {
            lat.extend(l);
            allowed += a;
            answered += n;
        }
    }
    lat.sort_unstable();
    Phase {
        requests: lat.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        allowed,
        answered,
        secs,
        p50_us: percentile(&lat, 0.5),
        p99_us: percentile(&lat, 0.99),
    }
}

/// The revision an instance's engine is at (`/healthz`, no database read).
async fn revision_of(c: &Client) -> anyhow::Result<u64> {
    let h = c.call(reqwest::Method::GET, "/healthz", None).await?;
    h.get("revision")
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow!("`GET /healthz` gave no revision: {h}"))
}

async fn wait_for_revision(c: &Client, revision: u64, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while revision_of(c).await? < revision {
        if Instant::now() > deadline {
            return Err(anyhow!(
                "{} did not reach revision {revision} within {limit:?}: does it follow the same database?",
                c.base()
            ));
        }
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// Write-to-visible latency, in ms: `[p50, p99, max]` of each part.
struct Visibility {
    writes: usize,
    write: [f64; 3],
    visible: [f64; 3],
}

/// Writes (a team each) on one instance after another, round-robin, and after each
/// acknowledgement polls the next instance's revision until it holds the write.
async fn visibility(
    instances: &[Client],
    ds: &DataSet,
    writes: usize,
) -> anyhow::Result<Visibility> {
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let (mut write, mut visible) = (Vec::with_capacity(writes), Vec::with_capacity(writes));
    for i in 0..writes {
        let (on, seen_by) = (
            &instances[i % instances.len()],
            &instances[(i + 1) % instances.len()],
        );
        let path = format!("/v1/orgs/{}/teams", ds.org);
        let start = Instant::now();
        let r = on
            .post(&path, &json!({"name": format!("visible-{tag}-{i}")}))
            .await
            .context("a timed write")?;
        let acked = Instant::now();
        let revision = match (r.status.is_success(), r.revision()) {
            (true, Some(rev)) => rev,
            _ => return Err(anyhow!("a timed write failed: {} {}", r.status, r.body)),
        };
        wait_for_revision(seen_by, revision, Duration::from_secs(10)).await?;
        let done = Instant::now();
        write.push((acked - start).as_micros().min(u128::from(u32::MAX)) as u32);
        visible.push((done - acked).as_micros().min(u128::from(u32::MAX)) as u32);
    }
    let summary = |mut v: Vec<u32>| {
        v.sort_unstable();
        let max = v.last().copied().map_or(0.0, f64::from);
        [
            percentile(&v, 0.5) / 1000.0,
            percentile(&v, 0.99) / 1000.0,
            max / 1000.0,
        ]
    };
    Ok(Visibility {
        writes,
        write: summary(write),
        visible: summary(visible),
    })
}

fn count(hay: &[u8], needle: &[u8]) -> u64 {
    hay.windows(needle.len()).filter(|w| *w == needle).count() as u64
}

/// `warden bench http`.
pub async fn run(args: HttpArgs) -> anyhow::Result<()> {
    if args.concurrency == 0 || args.batch == 0 || args.keys == 0 || args.projects == 0 {
        return Err(anyhow!(
            "--concurrency, --batch, --keys and --projects must be at least 1"
        ));
    }
    let instances: Vec<Client> = args
        .url
        .iter()
        .map(|u| Client::new(u.clone(), Some(args.api_key.clone())))
        .collect();
    let setup = &instances[0];
    let phases_wanted: Vec<String> = if args.phases.is_empty() {
        let mut p = vec!["floor".to_owned(), "single".into(), "batch".into()];
        if instances.len() > 1 {
            p.push("visible".into());
        }
        p
    } else {
        args.phases.clone()
    };
    let mut rng = Rng(args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let t = Instant::now();
    let ds = create(setup, &args, &mut rng).await.context(
        "creating the data set through the API (is --api-key an org Owner key of this server?)",
    )?;
    eprintln!("data set created in {:.1} s", t.elapsed().as_secs_f64());
    // Every instance answers from the whole data set before anything is measured.
    let created = revision_of(setup).await?;
    for c in &instances[1..] {
        wait_for_revision(c, created, Duration::from_secs(30)).await?;
    }
    let singles = leak((0..10_000).map(|_| question(&ds, &mut rng)).collect());
    let batches = leak(
        // About 50,000 questions in all, so that memory stays small whatever the batch size.
        (0..(50_000 / args.batch).clamp(20, 500))
            .map(|_| json!({"checks": (0..args.batch).map(|_| question(&ds, &mut rng)).collect::<Vec<_>>()}))
            .collect(),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .tcp_nodelay(true)
        .build()
        .context("building the HTTP client")?;
    let mut rows = vec![];
    let phases = [
        (
            "floor",
            "floor: POST /v1/check/constant",
            "/v1/check/constant",
            singles.clone(),
            1,
        ),
        (
            "single",
            "single: POST /v1/check",
            "/v1/check",
            singles.clone(),
            1,
        ),
        (
            "batch",
            "batch: POST /v1/check/batch",
            "/v1/check/batch",
            batches.clone(),
            args.batch,
        ),
    ];
    for (key, name, path, bodies, per) in phases {
        if !phases_wanted.iter().any(|p| p == key) {
            continue;
        }
        eprintln!(
            "{name}: {} s warm-up, {} s measured, {} concurrent ...",
            args.warmup, args.duration, args.concurrency
        );
        let p = phase(&http, &args, path, bodies).await;
        if p.errors > 0 {
            eprintln!("  {} requests failed", p.errors);
        }
        rows.push((key, name, per, p));
    }
    let visible = if phases_wanted.iter().any(|p| p == "visible") {
        eprintln!(
            "visible: {} writes, each awaited on another instance ...",
            args.writes
        );
        Some(visibility(&instances, &ds, args.writes).await?)
    } else {
        None
    };
    println!(
        "{} concurrent keep-alive connections over {} instance(s), {} s per phase after {} s warm-up; {} API keys in {} projects as principals\n",
        args.concurrency, instances.len(), args.duration, args.warmup, ds.principals.len(), ds.projects.len()
    );
    println!("| phase | requests/s | decisions/s | p50 | p99 | allowed | errors |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (_, name, per, p) in &rows {
        let rps = p.requests as f64 / p.secs;
        println!(
            "| {name} | {rps:.0} | {:.0} | {:.2} ms | {:.2} ms | {:.0}% | {} |",
            rps * *per as f64,
            p.p50_us / 1000.0,
            p.p99_us / 1000.0,
            100.0 * p.allowed as f64 / p.answered.max(1) as f64,
            p.errors
        );
    }
    if let Some(v) = &visible {
        println!(
            "\n| write-to-visible, {} writes | p50 | p99 | max |\n| --- | --- | --- | --- |",
            v.writes
        );
        println!(
            "| write acknowledged by its instance | {:.2} ms | {:.2} ms | {:.2} ms |",
            v.write[0], v.write[1], v.write[2]
        );
        println!(
            "| then visible on another instance | {:.2} ms | {:.2} ms | {:.2} ms |",
            v.visible[0], v.visible[1], v.visible[2]
        );
    }
    let phase = |k: &str| rows.iter().find(|r| r.0 == k).map(|r| &r.3);
    let rps = |p: &Phase| p.requests as f64 / p.secs;
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!("\n| target | measured | verdict |\n| --- | --- | --- |");
    if let (Some(floor), Some(single)) = (phase("floor"), phase("single")) {
        let ratio = rps(single) / rps(floor).max(1e-9);
        println!(
            "| single checks ≥ 70% of the floor's throughput | {:.0}% | {} |",
            ratio * 100.0,
            verdict(ratio >= 0.7)
        );
    }
    if let Some(single) = phase("single") {
        let p99 = single.p99_us / 1000.0;
        println!(
            "| single checks p99 ≤ 2 ms | {p99:.2} ms | {} |",
            verdict(p99 <= 2.0)
        );
    }
    if let Some(batch) = phase("batch") {
        let decisions = rps(batch) * args.batch as f64;
        println!(
            "| batch ≥ 2 million decisions/s | {:.2} million/s | {} |",
            decisions / 1e6,
            verdict(decisions >= 2e6)
        );
    }
    let failed: u64 = rows.iter().map(|r| r.3.errors).sum();
    if failed > 0 {
        return Err(anyhow!(
            "{failed} requests failed; the figures above count only the successful ones"
        ));
    }
    Ok(())
}
