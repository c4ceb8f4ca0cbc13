//! In-process timing of discover + check + order on an Alembic project (no process start,
//! no rendering), for benches/chain/run.sh.
//!
//!     cargo run --release -p gate-chain --example chain_bench -- DIR [RUNS]
// An example program: printing its results is what it is for.
#![allow(clippy::disallowed_macros)]

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: chain_bench DIR [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(30);
    let policy = match gate_policy::load(&dir.join("policy.toml"), &dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut times = Vec::with_capacity(runs);
    let mut summary = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let d = match gate_chain::discover(&dir, &policy) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        };
        let findings = gate_chain::check(&d.graph, &policy);
        let order = d.graph.order();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        summary = format!(
            "{} revisions, {} heads, {} findings, last in order {}",
            d.graph.len(),
            d.graph.heads().len(),
            findings.len(),
            order.last().map_or("-", |r| r.id.as_str())
        );
    }
    times.sort_by(f64::total_cmp);
    println!("{summary}");
    println!(
        "discover+check+order over {runs} runs: median {:.2} ms, min {:.2} ms, max {:.2} ms",
        times[runs / 2],
        times[0],
        times[runs - 1]
    );
}
