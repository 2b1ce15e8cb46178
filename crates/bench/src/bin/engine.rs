//! `cargo run --release -p warden-bench --bin engine`: Warden's engine on the generated data
//! set, beside the plain `HashMap` reference. Prints a Markdown table of every figure with
//! its target; exits 1 if the engines disagree on any answer.

use std::process::ExitCode;

use warden_bench::data::{DataSet, Shape};
use warden_bench::report::Report;

#[global_allocator]
static ALLOC: warden_bench::alloc::Counting = warden_bench::alloc::Counting;

fn main() -> ExitCode {
    let scale = warden_bench::scale();
    eprintln!("generating the data set (scale {scale}) ...");
    let ds = DataSet::generate(Shape::scaled(scale), warden_bench::SEED);
    let mut report = Report::default();
    warden_bench::warden::run(
        &mut report,
        &ds,
        warden_bench::query_count(),
        warden_bench::SEED + 1,
    );
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
