//! Times the phases of a staged scan on a repository (for profiling the benchmark).
//! Usage: cargo run --release -p gate-precommit --example phases -- REPO
// An example program: printing its results is what it is for.
#![allow(clippy::disallowed_macros)]

fn main() {
    let dir = std::env::args().nth(1).expect("REPO");
    let t = std::time::Instant::now();
    let repo = git2::Repository::discover(&dir).unwrap();
    eprintln!("open      {:?}", t.elapsed());
    let index = gate_precommit::StagedIndex::open(&repo.path().join("index")).unwrap();
    eprintln!(
        "index     {:?} ({} entries)",
        t.elapsed(),
        index.entries().len()
    );
    let root = repo.workdir().unwrap().to_path_buf();
    let policy = gate_policy::load(&root.join("policy.toml"), &root).unwrap();
    eprintln!("policy    {:?}", t.elapsed());
    let out = gate_precommit::scan_staged(&repo, &index, &policy).unwrap();
    eprintln!(
        "scan      {:?} ({} findings)",
        t.elapsed(),
        out.findings.len()
    );
}
