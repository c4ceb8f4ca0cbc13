//! Helpers for the backend tests (local, docker, url servers driven in-process and through
//! `gate-replay backend-smoke`): processes, signals, and TLS checks with real clients.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::run::{REPLAY, scrub};

/// `gate-replay` with the one scrub (no inherited database URL or server binaries folder).
pub fn gate() -> Command {
    let mut c = Command::new(REPLAY);
    scrub(&mut c);
    c
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Start `gate-replay ... backend-smoke --hold-seconds 120`, wait for its JSON line.
pub fn spawn_holding(global: &[&str]) -> (Child, serde_json::Value) {
    let mut child = gate()
        .args(global)
        .args(["backend-smoke", "--hold-seconds", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn gate-replay");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the smoke line");
    assert!(
        !line.trim().is_empty(),
        "gate-replay backend-smoke printed nothing (exit {:?})",
        child.wait().ok().and_then(|s| s.code())
    );
    let json: serde_json::Value = serde_json::from_str(&line).expect("smoke JSON");
    (child, json)
}

pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{sig} failed");
}

/// Wait for the child, bounded, and return its exit code.
pub fn wait_code(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gate-replay did not exit within {limit:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Live (not zombie) processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let state = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = state
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'));
        if !zombie && cmdline.contains(needle) {
            found.push(format!("{name}: {cmdline}"));
        }
    }
    found
}

pub fn pid_alive(pid: u64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    match stat {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

pub fn exists(p: &str) -> bool {
    Path::new(p).exists()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `SELECT ssl FROM pg_stat_ssl` for this very connection: whether it is encrypted.
const SSL_OF_THIS_CONNECTION: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/// Connect to `url` as real clients that force TLS do (psql and psycopg2 with
/// `sslmode=require`) and check with the server that each connection is encrypted.
pub fn assert_sslmode_require_clients_connect(url: &str) {
    let sep = if url.contains('?') { '&' } else { '?' };
    let required = format!("{url}{sep}sslmode=require");
    let psql = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-t",
            "-A",
            "-d",
            &required,
            "-c",
            SSL_OF_THIS_CONNECTION,
        ])
        .env_remove("PGSSLMODE")
        .output()
        .expect("run psql");
    assert!(
        psql.status.success(),
        "psql sslmode=require: {}",
        text(&psql)
    );
    assert_eq!(
        String::from_utf8_lossy(&psql.stdout).trim(),
        "t",
        "{}",
        text(&psql)
    );

    let script = format!(
        "import sys, psycopg2\n\
         c = psycopg2.connect(sys.argv[1], sslmode='require')\n\
         cur = c.cursor()\n\
         cur.execute({SSL_OF_THIS_CONNECTION:?})\n\
         print(cur.fetchone()[0])\n"
    );
    let py = Command::new("python3")
        .args(["-c", &script, url])
        .env_remove("PGSSLMODE")
        .output()
        .expect("run python3");
    assert!(
        py.status.success(),
        "psycopg2 sslmode=require: {}",
        text(&py)
    );
    assert_eq!(
        String::from_utf8_lossy(&py.stdout).trim(),
        "True",
        "{}",
        text(&py)
    );
}

/// Whether `pid` has a handler for signal `number` installed (SigCgt in /proc).
pub fn catches(pid: u32, number: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & (1 << (number - 1)) != 0)
}
