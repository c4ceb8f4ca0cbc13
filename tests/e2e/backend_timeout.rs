//! A replay that times out drops the `Server::start` future half-way (tokio::time::timeout):
//! whatever the local backend had started by then must be gone. The test re-runs itself in a
//! process of its own (the e2e binary, filtered to this one test), so that "clusters owned by
//! this process" and "children of this process" mean those of this test only.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::backend::*;
use crate::support::run::Run;
use gate_policy::Backend;
use gate_replay::backend::{BackendOptions, Server};

/// Scratch clusters whose owner.pid is this process, wherever the backend puts them.
fn my_clusters() -> Vec<PathBuf> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for parent in [PathBuf::from("/dev/shm"), std::env::temp_dir()] {
        for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            let owner = std::fs::read_to_string(entry.path().join("owner.pid")).unwrap_or_default();
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("migration-gate-pg-")
                && owner.trim() == me
            {
                found.push(entry.path());
            }
        }
    }
    found
}

/// Live (non-zombie) child processes of this process: a postgres we forgot would be one.
fn live_children() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.to_string()) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 1 && fields[1] == me && fields[0] != "Z" {
            found.push(stat.split(')').next().unwrap_or_default().to_string());
        }
    }
    found
}

/// Set in the child process that runs the test alone.
const ALONE: &str = "GATE_E2E_ALONE";

/// Run the test named `name` (module path inside the e2e binary) in a new process of the
/// test binary, alone; panics with its output unless it passed.
fn rerun_alone(name: &str) {
    let run = Run::of(
        std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args([name, "--exact", "--test-threads=1", "--nocapture"])
            .env(ALONE, "1"),
    );
    assert!(
        run.code == 0 && run.stdout.contains("test result: ok. 1 passed"),
        "{name} alone:\n{run}"
    );
}

#[test]
fn a_start_cut_short_by_a_timeout_leaves_nothing_behind() {
    if std::env::var_os(ALONE).is_none() {
        rerun_alone("backend_timeout::a_start_cut_short_by_a_timeout_leaves_nothing_behind");
        return;
    }
    let rt = runtime();
    let mut completed = 0;
    for cut_ms in [0u64, 5, 20, 60, 150, 400] {
        let started = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_millis(cut_ms),
                Server::start(Backend::Local, &BackendOptions::default()),
            )
            .await
        });
        if let Ok(server) = started {
            // Fast enough to finish: the normal path must clean up as well.
            completed += 1;
            rt.block_on(server.expect("local backend").shutdown())
                .expect("shutdown");
        }
        let left = my_clusters();
        assert!(left.is_empty(), "after a {cut_ms} ms timeout: {left:?}");
        let children = live_children();
        assert!(
            children.is_empty(),
            "after a {cut_ms} ms timeout, still running: {children:?}"
        );
    }
    // At least one start must really have been interrupted for the test to mean anything.
    assert!(completed < 6, "every start finished before its timeout");
}
