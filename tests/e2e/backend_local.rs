//! The `local` backend for real: an ephemeral cluster from the PostgreSQL server binaries,
//! scratch databases that really are empty and usable over TCP with the password, and
//! removal of cluster, folder and processes on shutdown, on drop and on SIGTERM/SIGINT.

use std::time::Duration;

use crate::support::backend::*;
use gate_policy::Backend;
use gate_replay::backend::{BackendOptions, Server};
use sqlx::{Connection, Row};

fn opts() -> BackendOptions {
    BackendOptions {
        ready_timeout: Duration::from_secs(60),
        ..BackendOptions::default()
    }
}

#[test]
fn local_cluster_serves_empty_databases_and_is_removed_on_shutdown() {
    runtime().block_on(async {
        let server = Server::start(Backend::Local, &opts()).await.expect("local backend");
        assert!(server.describe().starts_with("local PostgreSQL "), "{}", server.describe());
        let dir = server.cluster_dir().expect("cluster dir").to_path_buf();
        let pid = u64::from(server.cluster_pid().expect("pid"));
        assert!(dir.join("data/PG_VERSION").is_file());
        assert!(pid_alive(pid));

        let a = server.fresh_database().await.expect("first database");
        let b = server.fresh_database().await.expect("second database");
        assert_ne!(a.name, b.name);
        assert!(a.name.starts_with("gate_replay_"), "{}", a.name);
        // The password is in the URL for child processes, not in what is printed.
        assert!(a.url.contains("127.0.0.1"));
        assert!(a.redacted_url().contains(":***@"), "{}", a.redacted_url());
        let password = url::Url::parse(&a.url)
            .expect("url")
            .password()
            .expect("a password over TCP")
            .to_string();
        assert!(password.len() >= 16, "random password");
        for shown in [format!("{a:?}"), format!("{server:?}"), server.describe()] {
            assert!(!shown.contains(&password), "password in {shown}");
        }

        let mut conn = sqlx::PgConnection::connect(&a.url).await.expect("connect over TCP");
        let user_tables: i64 = sqlx::query("SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')")
            .fetch_one(&mut conn)
            .await
            .expect("count")
            .get("n");
        assert_eq!(user_tables, 0, "a scratch database must be empty");
        sqlx::raw_sql("CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1)")
            .execute(&mut conn)
            .await
            .expect("DDL in the scratch database");
        let settings: String = sqlx::query("SELECT current_setting('fsync') || current_setting('synchronous_commit') || current_setting('full_page_writes') AS s")
            .fetch_one(&mut conn)
            .await
            .expect("settings")
            .get("s");
        assert_eq!(settings, "offoffoff", "durability must be off for speed");
        conn.close().await.expect("close");

        // A wrong password over TCP is refused: the cluster is not open to every local user.
        let wrong = a.url.replacen("postgres:", "postgres:x", 1);
        assert!(sqlx::PgConnection::connect(&wrong).await.is_err(), "TCP must need the password");

        server.drop_database(&a).await.expect("drop a");
        let mut conn = sqlx::PgConnection::connect(&b.url).await.expect("connect b");
        let left: i64 = sqlx::query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
            .bind(&a.name)
            .fetch_one(&mut conn)
            .await
            .expect("pg_database")
            .get("n");
        assert_eq!(left, 0);
        conn.close().await.expect("close");

        server.shutdown().await.expect("shutdown");
        assert!(!dir.exists(), "cluster folder {} must be removed", dir.display());
        assert!(!pid_alive(pid), "postgres {pid} must be stopped");
        assert!(processes_mentioning(&dir.display().to_string()).is_empty());
    });
}

#[test]
fn local_cluster_offers_tls_to_sslmode_require_clients() {
    use std::os::unix::fs::MetadataExt;
    runtime().block_on(async {
        let server = Server::start(Backend::Local, &opts())
            .await
            .expect("local backend");
        let dir = server.cluster_dir().expect("cluster dir").to_path_buf();
        // The key sits in the cluster folder, 0600, owned by the user the server runs as
        // (postgres refuses anything looser).
        let key = std::fs::metadata(dir.join("server.key")).expect("server.key");
        let server_uid = std::fs::metadata(dir.join("data/PG_VERSION"))
            .expect("PG_VERSION")
            .uid();
        assert_eq!(key.mode() & 0o777, 0o600);
        assert_eq!(key.uid(), server_uid);
        let db = server.fresh_database().await.expect("database");
        assert_sslmode_require_clients_connect(&db.url);
        server.drop_database(&db).await.expect("drop");
        server.shutdown().await.expect("shutdown");
        assert!(
            !dir.exists(),
            "cluster folder {} (with the key) left behind",
            dir.display()
        );
    });
}

#[test]
fn dropping_a_local_server_without_shutdown_still_removes_it() {
    let (dir, pid) = runtime().block_on(async {
        let server = Server::start(Backend::Local, &opts())
            .await
            .expect("local backend");
        let dir = server.cluster_dir().expect("dir").to_path_buf();
        let pid = u64::from(server.cluster_pid().expect("pid"));
        let _db = server.fresh_database().await.expect("database");
        // An error path: the server goes out of scope without shutdown().
        drop(server);
        (dir, pid)
    });
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(!pid_alive(pid), "postgres {pid} left running");
}

#[test]
fn a_panic_while_a_local_server_runs_removes_it() {
    let result = std::panic::catch_unwind(|| {
        runtime().block_on(async {
            let server = Server::start(Backend::Local, &opts())
                .await
                .expect("local backend");
            let dir = server.cluster_dir().expect("dir").to_path_buf();
            let pid = server.cluster_pid().expect("pid");
            std::fs::write(
                std::env::temp_dir().join(format!("gate-panic-test-{}", std::process::id())),
                format!("{}\n{pid}", dir.display()),
            )
            .expect("note");
            panic!("a replay step panicked");
        })
    });
    assert!(result.is_err());
    let note_path = std::env::temp_dir().join(format!("gate-panic-test-{}", std::process::id()));
    let note = std::fs::read_to_string(&note_path).expect("note");
    let _ = std::fs::remove_file(&note_path);
    let (dir, pid) = note.split_once('\n').expect("two lines");
    assert!(!exists(dir), "{dir} left behind after a panic");
    assert!(
        !pid_alive(pid.parse().expect("pid")),
        "postgres left running after a panic"
    );
}

#[test]
fn local_backend_without_server_binaries_is_unavailable_and_exits_2() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = gate()
        .args(["--backend", "local", "backend-smoke"])
        .env("GATE_PG_BINDIR", empty.path())
        .output()
        .expect("run gate-replay");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no PostgreSQL server binaries"), "{stderr}");
    assert!(
        stderr.contains("apt-get install postgresql"),
        "says what to install: {stderr}"
    );
    assert!(
        stderr.contains(&empty.path().display().to_string()),
        "names where it looked: {stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing started: {}", text(&out));
}

#[test]
fn auto_without_docker_or_binaries_lists_what_to_install_and_exits_2() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = gate()
        .args([
            "--backend",
            "auto",
            "--image",
            "migration-gate/does-not-exist:1",
            "backend-smoke",
        ])
        .env("GATE_PG_BINDIR", empty.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("run gate-replay");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no database backend available"), "{stderr}");
    assert!(
        stderr.contains("docker:") && stderr.contains("local:") && stderr.contains("url:"),
        "lists every option: {stderr}"
    );
    assert!(stderr.contains("Docker"), "docker advice: {stderr}");
}

fn sigterm_or_sigint_removes_the_cluster(sig: &str, code: i32) {
    let (mut child, json) = spawn_holding(&["--backend", "local"]);
    let dir = json["dir"].as_str().expect("dir").to_string();
    let pid = json["pid"].as_u64().expect("pid");
    assert!(exists(&dir), "{dir} should exist while holding");
    assert!(pid_alive(pid), "postgres should run while holding");
    signal(&child, sig);
    assert_eq!(wait_code(&mut child, Duration::from_secs(30)), Some(code));
    assert!(!exists(&dir), "{dir} left behind after SIG{sig}");
    assert!(
        !pid_alive(pid),
        "postgres {pid} still running after SIG{sig}"
    );
    let left = processes_mentioning(&dir);
    assert!(left.is_empty(), "processes left: {left:?}");
}

#[test]
fn sigterm_mid_run_removes_the_local_cluster() {
    sigterm_or_sigint_removes_the_cluster("TERM", 143);
}

#[test]
fn ctrl_c_mid_run_removes_the_local_cluster() {
    sigterm_or_sigint_removes_the_cluster("INT", 130);
}

#[test]
fn backend_smoke_local_runs_a_full_cycle() {
    let out = gate()
        .args(["--backend", "local", "backend-smoke"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let dir = json["dir"].as_str().expect("dir");
    assert!(!exists(dir), "{dir} left after a normal run");
    assert!(json["url"].as_str().expect("url").contains(":***@"));
}

#[test]
fn a_cluster_left_by_a_sigkilled_run_is_reaped_by_the_next_run() {
    let (mut child, json) = spawn_holding(&["--backend", "local"]);
    let dir = json["dir"].as_str().expect("dir").to_string();
    let pid = json["pid"].as_u64().expect("pid");
    // SIGKILL: no handler runs, so the cluster survives the run...
    signal(&child, "KILL");
    let _ = child.wait();
    assert!(
        exists(&dir) && pid_alive(pid),
        "SIGKILL should leave the cluster behind"
    );
    // ...until the next run notices that its owner is gone.
    let out = gate()
        .args(["--backend", "local", "backend-smoke", "--databases", "0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!exists(&dir), "{dir} not reaped");
    assert!(!pid_alive(pid), "postgres {pid} not reaped");
}
