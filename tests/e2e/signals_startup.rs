//! Issue 9 (signals): an interrupt at any moment of a replay's start-up ends as 130 (SIGINT)
//! or 143 (SIGTERM), never as a finding, and leaves nothing of the run behind: no container
//! carrying the run's labels (docker), no postgres process and no cluster folder (local).
//! The real binary replays a chain whose only migration sleeps, so every delay of the sweep
//! lands in start-up or in the replay, never after it.

use crate::support::backend::gate;
use crate::support::backend::*;
use crate::support::docker::*;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// After the handler is in place: before the backend starts, while it starts (container
/// created, initdb'd cluster copied, postgres spawned), while PostgreSQL comes up, and once
/// the migration runs.
const DELAYS_MS: [u64; 7] = [0, 50, 150, 300, 600, 1200, 2500];

/// (signal name for `kill`, number, the exit code the contract promises)
const SIGNALS: [(&str, u32, i32); 2] = [("INT", 2, 130), ("TERM", 15, 143)];

fn sleeping_repo() -> tempfile::TempDir {
    crate::support::replay::sql_repo(
        "golang-migrate",
        &[
            ("000001_sleep.up.sql", "SELECT pg_sleep(120);\n"),
            ("000001_sleep.down.sql", "SELECT 1;\n"),
        ],
    )
}

/// Spawn the replay, wait until its handler is installed, sleep until `delay_ms` after the
/// spawn, send the signal; return the child's exit code and what it printed.
fn interrupt(
    repo: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
    sig: (&str, u32),
    delay_ms: u64,
) -> (Child, Option<i32>, String, String) {
    let spawned = Instant::now();
    let mut cmd = gate();
    cmd.args(args)
        .args(["--no-roundtrip", "--no-fixes", "--format", "json"])
        .current_dir(repo)
        .env("NO_COLOR", "1")
        .env_remove("GATE_POLICY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn gate-replay");
    let pid = child.id();
    let handler_deadline = spawned + Duration::from_secs(10);
    while !catches(pid, sig.1) && Instant::now() < handler_deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        catches(pid, sig.1),
        "gate-replay never installed its SIG{} handler",
        sig.0
    );
    if let Some(rest) = Duration::from_millis(delay_ms).checked_sub(spawned.elapsed()) {
        std::thread::sleep(rest);
    }
    signal(&child, sig.0);
    let code = wait_code(&mut child, Duration::from_secs(120));
    let read = |s: Option<&mut dyn std::io::Read>| {
        let mut text = String::new();
        if let Some(s) = s {
            let _ = s.read_to_string(&mut text);
        }
        text
    };
    let stdout = read(child.stdout.as_mut().map(|s| s as &mut dyn std::io::Read));
    let stderr = read(child.stderr.as_mut().map(|s| s as &mut dyn std::io::Read));
    (child, code, stdout, stderr)
}

/// Poll `left` (what of the run remains) until it is empty, bounded: removal by the engine
/// may lag the exit a little on a busy machine.
fn remains(mut left: impl FnMut() -> Vec<String>) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut found = left();
    while !found.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        found = left();
    }
    found
}

fn verdict(
    failures: &mut Vec<String>,
    what: &str,
    code: Option<i32>,
    want: i32,
    stdout: &str,
    stderr: &str,
) {
    if code != Some(want) {
        failures.push(format!(
            "{what}: exit {code:?}, want {want}; stderr:\n{stderr}"
        ));
    }
    // An interrupt is never a verdict: no report at all, so no finding either.
    if !stdout.trim().is_empty() {
        failures.push(format!("{what}: a report was rendered:\n{stdout}"));
    }
}

#[test]
fn an_interrupt_at_any_moment_of_a_docker_start_up_is_130_or_143_and_leaves_no_container() {
    require_docker_image();
    let repo = sleeping_repo();
    let mut failures = Vec::new();
    for (name, number, want) in SIGNALS {
        for delay_ms in DELAYS_MS {
            let (child, code, stdout, stderr) = interrupt(
                repo.path(),
                &["--backend", "docker", "--image", IMAGE],
                &[],
                (name, number),
                delay_ms,
            );
            let what = format!("docker, SIG{name} at {delay_ms} ms");
            verdict(&mut failures, &what, code, want, &stdout, &stderr);
            let left = remains(|| containers_of(child.id()));
            if !left.is_empty() {
                failures.push(format!("{what}: containers left behind: {left:?}"));
                for id in &left {
                    let _ = std::process::Command::new("docker")
                        .args(["rm", "-f", "-v", id])
                        .output();
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_interrupt_at_any_moment_of_a_local_start_up_is_130_or_143_and_leaves_no_cluster() {
    let repo = sleeping_repo();
    let mut failures = Vec::new();
    for (name, number, want) in SIGNALS {
        for delay_ms in DELAYS_MS {
            // A folder of its own per run: whatever is in it afterwards is this run's leftover.
            let scratch = tempfile::tempdir().expect("scratch parent");
            let (_child, code, stdout, stderr) = interrupt(
                repo.path(),
                &["--backend", "local"],
                &[("GATE_PG_TMPDIR", scratch.path())],
                (name, number),
                delay_ms,
            );
            let what = format!("local, SIG{name} at {delay_ms} ms");
            verdict(&mut failures, &what, code, want, &stdout, &stderr);
            let needle = scratch.path().to_string_lossy().to_string();
            let processes = remains(|| processes_mentioning(&needle));
            if !processes.is_empty() {
                failures.push(format!("{what}: postgres left running: {processes:?}"));
                for p in &processes {
                    if let Some(pid) = p.split(':').next() {
                        let _ = std::process::Command::new("kill")
                            .args(["-KILL", pid])
                            .status();
                    }
                }
            }
            let folders: Vec<String> = std::fs::read_dir(scratch.path())
                .expect("read scratch parent")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect();
            if !folders.is_empty() {
                failures.push(format!("{what}: cluster folders left behind: {folders:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
