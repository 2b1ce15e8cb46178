//! Timing: groups of queries for calls too short to time one by one, single calls for the
//! slow ones, and the order statistics reported.

use std::hint::black_box;
use std::time::Instant;

/// Latency figures, in nanoseconds per query.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub median_ns: f64,
    pub p99_ns: f64,
    pub mean_ns: f64,
    /// How many timings the order statistics are taken over.
    pub samples: usize,
    pub queries: usize,
}

fn stats(mut per_query: Vec<f64>, queries: usize, total_ns: f64) -> Stats {
    per_query.sort_by(f64::total_cmp);
    let at = |q: f64| -> f64 {
        if per_query.is_empty() {
            return 0.0;
        }
        let i = ((per_query.len() as f64 - 1.0) * q).round() as usize;
        per_query[i.min(per_query.len() - 1)]
    };
    Stats {
        median_ns: at(0.5),
        p99_ns: at(0.99),
        mean_ns: if queries == 0 {
            0.0
        } else {
            total_ns / queries as f64
        },
        samples: per_query.len(),
        queries,
    }
}

/// Times `f` over `queries` in consecutive groups of `group`: one `Instant` pair per group,
/// the group's time divided by its size is one sample. Answers go to `black_box` so that
/// nothing is optimized away.
pub fn grouped<Q>(queries: &[Q], group: usize, mut f: impl FnMut(&Q) -> bool) -> Stats {
    let mut samples = Vec::with_capacity(queries.len() / group + 1);
    let mut total = 0.0;
    for chunk in queries.chunks(group) {
        let t = Instant::now();
        let mut n = 0usize;
        for q in chunk {
            n += usize::from(f(black_box(q)));
        }
        black_box(n);
        let ns = t.elapsed().as_nanos() as f64;
        total += ns;
        samples.push(ns / chunk.len() as f64);
    }
    stats(samples, queries.len(), total)
}

/// Times every call of `f` on its own (for engines that take microseconds per query) and
/// returns the answers too (recorded outside the timed window).
pub fn single<Q>(queries: &[Q], mut f: impl FnMut(&Q) -> bool) -> (Stats, Vec<bool>) {
    let mut samples = Vec::with_capacity(queries.len());
    let mut answers = Vec::with_capacity(queries.len());
    let mut total = 0.0;
    for q in queries {
        let t = Instant::now();
        let a = f(black_box(q));
        let ns = t.elapsed().as_nanos() as f64;
        total += ns;
        samples.push(ns);
        answers.push(a);
    }
    (stats(samples, queries.len(), total), answers)
}

/// The answers of `f`, untimed.
pub fn answers<Q>(queries: &[Q], f: impl FnMut(&Q) -> bool) -> Vec<bool> {
    queries.iter().map(f).collect()
}

/// Formats nanoseconds for a table.
pub fn ns(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.2} ms", v / 1_000_000.0)
    } else if v >= 10_000.0 {
        format!("{:.1} µs", v / 1_000.0)
    } else if v >= 1_000.0 {
        format!("{:.2} µs", v / 1_000.0)
    } else {
        format!("{v:.0} ns")
    }
}
