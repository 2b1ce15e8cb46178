//! Warden's benchmarks (not tests): the engine on a generated large data set, beside a
//! plain `HashMap` reference and the same model encoded in cedar-policy and in casbin.
//!
//! - `cargo run --release -p warden-bench --bin engine`: Warden's own figures (load time,
//!   memory per membership, check latency beside the `HashMap` reference, batch
//!   throughput, write visibility).
//! - `cargo bench -p warden-bench --bench engines`: the same figures and, in the same run,
//!   cedar-policy and casbin on the same data and queries, every answer compared.
//!
//! cedar-policy and casbin are dev-dependencies of this crate, used only by the `engines`
//! bench target, so that neither the `warden` binary nor `cargo build` compiles them.
//! This library holds what both programs share: the data set ([`data`]), the queries and
//! the reference ([`queries`]), the counting allocator ([`alloc`]), timing ([`timing`])
//! and the table ([`report`]). Results and the method are in `docs/benchmarks.md`.

pub mod alloc;
pub mod data;
pub mod queries;
pub mod report;
pub mod timing;
pub mod warden;

/// The seed of the data set and of the queries: every run generates the same ones.
pub const SEED: u64 = 0x5741_5244_454e;

/// The scale of the data set: `WARDEN_BENCH_SCALE` (default 1, the size).
pub fn scale() -> f64 {
    std::env::var("WARDEN_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|f: &f64| *f > 0.0)
        .unwrap_or(1.0)
}

/// Queries of the main comparison: `WARDEN_BENCH_QUERIES` (default 1,000,000).
pub fn query_count() -> usize {
    std::env::var("WARDEN_BENCH_QUERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}
