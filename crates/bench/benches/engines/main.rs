//! `cargo bench -p warden-bench --bench engines`: Warden's figures and, in the same run, the
//! same model in cedar-policy (two encodings) and casbin (RBAC with domains), beside the
//! `HashMap` reference. Every engine's answer is compared with the Index's on every query
//! of its comparison; the program exits 1 on any disagreement (or evaluation error).
//!
//! Cedar holds the whole data set; casbin, whose enforcer evaluates its matcher against
//! every policy line, holds a documented subset (one org and 20 of its projects, with every
//! principal of that org), and the Index and the reference are rebuilt on the same subset
//! for that comparison.

#![allow(clippy::expect_used)] // start-up of a bench program: a broken runtime ends the run

mod casbin;
mod cedar;

use std::process::ExitCode;
use std::time::Instant;

use warden_bench::alloc::live_bytes;
use warden_bench::data::{DataSet, Shape};
use warden_bench::queries::{self, FxReference, Naive, Query};
use warden_bench::report::Report;
use warden_bench::timing::{self, ns, Stats};
use warden_bench::warden::{self as w, GROUP};
use warden_engine::Index;

#[global_allocator]
static ALLOC: warden_bench::alloc::Counting = warden_bench::alloc::Counting;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Times the Index on a comparison's queries (groups of [`GROUP`]) and checks the answers of
/// the index and of the reference.
fn index_side(
    report: &mut Report,
    what: &str,
    ds: &DataSet,
    index: &Index,
    qs: &[Query],
) -> (Vec<bool>, Stats) {
    let naive = Naive::new(ds);
    let reference = FxReference::build(&naive, qs);
    let expected = timing::answers(qs, |q| index.check_bit(q.principal, q.bit, q.scope));
    let got = timing::answers(qs, |q| reference.check(q.principal, q.bit, q.scope));
    report.compare(
        &format!("{what}: HashMap reference vs Index"),
        &expected,
        &got,
    );
    timing::grouped(qs, GROUP, |q| index.check_bit(q.principal, q.bit, q.scope));
    let s = timing::grouped(qs, GROUP, |q| index.check_bit(q.principal, q.bit, q.scope));
    (expected, s)
}

fn ratio_row(report: &mut Report, figure: &str, other: Stats, index: Stats) {
    let ratio = other.median_ns / index.median_ns;
    report.target(
        figure,
        format!(
            "median {} / p99 {} per check = {ratio:.0}× the Index's median ({})",
            ns(other.median_ns),
            ns(other.p99_ns),
            ns(index.median_ns)
        ),
        "Index ≥ 300× faster",
        ratio >= 300.0,
    );
}

fn cedar_comparison(
    report: &mut Report,
    ds: &DataSet,
    index: &Index,
    n: usize,
) -> Result<(), String> {
    eprintln!("cedar: {n} queries ...");
    let qs = queries::generate(ds, n, warden_bench::SEED + 2);
    let (expected, index_stats) = index_side(report, "Cedar sample", ds, index, &qs);
    let requests: Vec<cedar_policy::Request> = qs
        .iter()
        .map(|q| cedar::Cedar::request(ds, q))
        .collect::<Result<_, _>>()?;
    for (enc, name) in [
        (
            cedar::Encoding::PerBinding,
            "Cedar (a) one policy per (role, project)",
        ),
        (
            cedar::Encoding::PerRoleTags,
            "Cedar (b) one policy per role, project from tags",
        ),
    ] {
        let before = live_bytes();
        let t = Instant::now();
        let model = cedar::Cedar::build(ds, enc)?;
        let built = t.elapsed();
        let bytes = live_bytes() - before;
        report.info(
            &format!("{name}: build"),
            format!(
                "{} policies, {:.1} s to build, {:.0} B per membership",
                model.policy_count,
                built.as_secs_f64(),
                bytes as f64 / ds.memberships.len() as f64
            ),
        );
        let mut errors = 0usize;
        let (stats, got) = timing::single(&requests, |r| model.check(r, &mut errors));
        report.compare(&format!("{name} vs Index"), &expected, &got);
        if errors > 0 {
            report.disagreements += errors;
            eprintln!("DISAGREEMENT: {name}: {errors} evaluation errors");
        }
        ratio_row(report, &format!("{name}: check"), stats, index_stats);
    }
    Ok(())
}

fn casbin_comparison(
    report: &mut Report,
    full: &DataSet,
    projects: usize,
    n: usize,
) -> Result<(), String> {
    let ds = full.subset(0, projects);
    eprintln!(
        "casbin: subset of {} principals' {} memberships, {n} queries ...",
        ds.users.len() + ds.teams.len() + ds.api_keys.len(),
        ds.memberships.len()
    );
    report.info(
        "casbin subset",
        format!(
            "org 0 and {} of its projects: {} users, {} teams, {} API keys, {} memberships",
            ds.projects.len(),
            ds.users.len(),
            ds.teams.len(),
            ds.api_keys.len(),
            ds.memberships.len()
        ),
    );
    let index = w::load(&ds);
    let qs = queries::generate(&ds, n, warden_bench::SEED + 3);
    let (expected, index_stats) = index_side(report, "casbin sample", &ds, &index, &qs);
    let requests: Vec<Vec<String>> = qs.iter().map(|q| casbin::request(&ds, q)).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    let before = live_bytes();
    let t = Instant::now();
    let model = rt.block_on(casbin::Casbin::build(&ds))?;
    let built = t.elapsed();
    let bytes = live_bytes() - before;
    report.info(
        "casbin RBAC with domains: build",
        format!(
            "{} p lines, {} g lines, {:.1} s to build, {:.0} B per membership",
            model.policies,
            model.groupings,
            built.as_secs_f64(),
            bytes as f64 / ds.memberships.len() as f64
        ),
    );
    let mut errors = 0usize;
    let (stats, got) = timing::single(&requests, |r| model.check(r, &mut errors));
    report.compare("casbin vs Index", &expected, &got);
    if errors > 0 {
        report.disagreements += errors;
        eprintln!("DISAGREEMENT: casbin: {errors} enforce errors");
    }
    ratio_row(
        report,
        "casbin RBAC with domains: check",
        stats,
        index_stats,
    );
    Ok(())
}

fn main() -> ExitCode {
    let scale = warden_bench::scale();
    eprintln!("generating the data set (scale {scale}) ...");
    let ds = DataSet::generate(Shape::scaled(scale), warden_bench::SEED);
    let mut report = Report::default();
    let index = w::run(
        &mut report,
        &ds,
        warden_bench::query_count(),
        warden_bench::SEED + 1,
    );
    let cedar_n = env("WARDEN_BENCH_CEDAR_QUERIES", 2_000);
    if let Err(e) = cedar_comparison(&mut report, &ds, &index, cedar_n) {
        eprintln!("cedar: {e}");
        report.disagreements += 1;
    }
    drop(index);
    let casbin_n = env("WARDEN_BENCH_CASBIN_QUERIES", 2_000);
    let casbin_projects = env("WARDEN_BENCH_CASBIN_PROJECTS", 20);
    if let Err(e) = casbin_comparison(&mut report, &ds, casbin_projects, casbin_n) {
        eprintln!("casbin: {e}");
        report.disagreements += 1;
    }
    println!("{}", report.markdown());
    for n in &report.notes {
        println!("- {n}");
    }
    if report.disagreements > 0 {
        eprintln!(
            "{} disagreements: the engines do not give the same answers",
            report.disagreements
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
