//! The `docker` backend for real with the offline image `migration-gate/postgres:15` (built by
//! ci/postgres-image.sh). These tests fail, never skip, when Docker or the image is missing.

use std::time::Duration;

use crate::support::backend::*;
use crate::support::docker::*;
use gate_policy::Backend;
use gate_replay::backend::{BackendError, BackendOptions, Server};
use sqlx::{Connection, Row};

fn opts(image: &str) -> BackendOptions {
    BackendOptions {
        image: image.to_string(),
        database_url: None,
        ready_timeout: Duration::from_secs(60),
    }
}

#[test]
fn docker_backend_serves_empty_databases_and_removes_the_container() {
    require_docker_image();
    runtime().block_on(async {
        let server = Server::start(Backend::Docker, &opts(IMAGE)).await.expect("docker backend");
        assert!(server.describe().starts_with(&format!("docker {IMAGE}")), "{}", server.describe());
        let id = server.container_id().expect("container id").to_string();
        assert!(container_exists(&id));
        let labels = std::process::Command::new("docker")
            .args(["inspect", "--format", "{{index .Config.Labels \"migration-gate\"}}", &id])
            .output()
            .expect("inspect");
        assert_eq!(String::from_utf8_lossy(&labels.stdout).trim(), "1", "labelled for reaping");

        let db = server.fresh_database().await.expect("database");
        assert!(db.redacted_url().contains(":***@"), "{}", db.redacted_url());
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        let row = sqlx::query("SELECT current_database() AS d, current_setting('server_version_num')::int AS v, current_setting('fsync') AS f")
            .fetch_one(&mut conn)
            .await
            .expect("query");
        assert_eq!(row.get::<String, _>("d"), db.name);
        assert!(row.get::<i32, _>("v") >= 150000);
        assert_eq!(row.get::<String, _>("f"), "off");
        sqlx::raw_sql("CREATE TYPE mood AS ENUM ('ok'); CREATE TABLE t (m mood)")
            .execute(&mut conn)
            .await
            .expect("DDL");
        conn.close().await.expect("close");
        server.drop_database(&db).await.expect("drop");
        server.shutdown().await.expect("shutdown");
        assert!(!container_exists(&id), "container {id} must be removed");
    });
}

#[test]
fn docker_backend_offers_tls_to_sslmode_require_clients() {
    require_docker_image();
    runtime().block_on(async {
        let server = Server::start(Backend::Docker, &opts(IMAGE))
            .await
            .expect("docker backend");
        let id = server.container_id().expect("container id").to_string();
        // The server reads a key owned by its own user with mode 0600.
        let stat = std::process::Command::new("docker")
            .args([
                "exec",
                &id,
                "stat",
                "-c",
                "%a %U",
                "/tmp/gate-tls/server.key",
            ])
            .output()
            .expect("docker exec stat");
        assert!(stat.status.success(), "{}", text(&stat));
        assert_eq!(String::from_utf8_lossy(&stat.stdout).trim(), "600 postgres");
        let db = server.fresh_database().await.expect("database");
        assert_sslmode_require_clients_connect(&db.url);
        server.drop_database(&db).await.expect("drop");
        server.shutdown().await.expect("shutdown");
        assert!(!container_exists(&id), "container {id} must be removed");
    });
}

#[test]
fn dropping_a_docker_server_without_shutdown_removes_the_container() {
    require_docker_image();
    let id = runtime().block_on(async {
        let server = Server::start(Backend::Docker, &opts(IMAGE))
            .await
            .expect("docker backend");
        server.container_id().expect("id").to_string()
    });
    assert!(!container_exists(&id), "container {id} left behind");
}

#[test]
fn a_missing_image_that_cannot_be_pulled_is_unavailable_with_advice() {
    require_docker_image();
    let err = runtime()
        .block_on(Server::start(
            Backend::Docker,
            &opts("migration-gate/does-not-exist:1"),
        ))
        .expect_err("no such image");
    let BackendError::Unavailable(msg) = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(msg.contains("migration-gate/does-not-exist:1"), "{msg}");
    assert!(msg.contains("ci/postgres-image.sh"), "{msg}");
    assert!(msg.contains("replay.image"), "{msg}");
}

#[test]
fn docker_backend_without_an_engine_exits_2_with_advice() {
    let out = gate()
        .args(["--backend", "docker", "backend-smoke"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Docker engine does not answer"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn sigterm_mid_run_removes_the_container() {
    require_docker_image();
    let (mut child, json) = spawn_holding(&["--backend", "docker", "--image", IMAGE]);
    let id = json["container"].as_str().expect("container").to_string();
    assert!(container_exists(&id));
    signal(&child, "TERM");
    assert_eq!(wait_code(&mut child, Duration::from_secs(60)), Some(143));
    assert!(
        !container_exists(&id),
        "container {id} left behind after SIGTERM"
    );
}

#[test]
fn auto_picks_docker_when_the_engine_answers_and_the_image_is_there() {
    require_docker_image();
    let out = gate()
        .args(["--backend", "auto", "--image", IMAGE, "backend-smoke"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        json["backend"]
            .as_str()
            .expect("backend")
            .starts_with("docker "),
        "{json}"
    );
    assert!(!container_exists(json["container"].as_str().expect("id")));
}

#[test]
fn auto_falls_back_to_local_when_the_image_is_missing() {
    require_docker_image();
    let out = gate()
        .args([
            "--backend",
            "auto",
            "--image",
            "migration-gate/does-not-exist:1",
            "backend-smoke",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        json["backend"]
            .as_str()
            .expect("backend")
            .starts_with("local "),
        "{json}"
    );
}

#[test]
fn a_container_left_by_a_sigkilled_run_is_reaped_by_the_next_run() {
    require_docker_image();
    let (mut child, json) = spawn_holding(&["--backend", "docker", "--image", IMAGE]);
    let id = json["container"].as_str().expect("container").to_string();
    signal(&child, "KILL");
    let _ = child.wait();
    assert!(
        container_exists(&id),
        "SIGKILL should leave the container behind"
    );
    let out = gate()
        .args([
            "--backend",
            "docker",
            "--image",
            IMAGE,
            "backend-smoke",
            "--databases",
            "0",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!container_exists(&id), "container {id} not reaped");
}

/// Removes a container started by the test itself, whatever happens.
struct TestContainer(String);

impl Drop for TestContainer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", "-v", &self.0])
            .output();
    }
}

#[test]
fn url_backend_works_with_a_server_that_demands_tls() {
    require_docker_image();
    // Our image ships Debian's snakeoil certificate: a TLS server like a managed service's.
    let out = std::process::Command::new("docker")
        .args([
            "run",
            "-d",
            "-e",
            "POSTGRES_PASSWORD=tls-test-pw",
            "-p",
            "127.0.0.1::5432",
            IMAGE,
            "-c",
            "ssl=on",
            "-c",
            "ssl_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem",
            "-c",
            "ssl_key_file=/etc/ssl/private/ssl-cert-snakeoil.key",
        ])
        .output()
        .expect("docker run");
    assert!(out.status.success(), "{}", text(&out));
    let container = TestContainer(String::from_utf8_lossy(&out.stdout).trim().to_string());
    let port = std::process::Command::new("docker")
        .args(["port", &container.0, "5432/tcp"])
        .output()
        .expect("docker port");
    let port = String::from_utf8_lossy(&port.stdout)
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .expect("published port")
        .trim()
        .to_string();
    let url = format!("postgres://postgres:tls-test-pw@127.0.0.1:{port}/postgres?sslmode=require");
    runtime().block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let server = loop {
            match Server::start(
                Backend::Url,
                &BackendOptions {
                    database_url: Some(url.clone()),
                    ..opts(IMAGE)
                },
            )
            .await
            {
                Ok(s) => break s,
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("TLS server never accepted: {e}"),
            }
        };
        let db = server
            .fresh_database()
            .await
            .expect("scratch database over TLS");
        assert!(
            db.url.contains("sslmode=require"),
            "the scratch URL keeps sslmode"
        );
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        let ssl: bool = sqlx::query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .expect("pg_stat_ssl")
            .get("ssl");
        assert!(ssl, "the connection must be encrypted");
        conn.close().await.expect("close");
        server.shutdown().await.expect("shutdown");
    });
    drop(container);
}

/// Issue 9 (signals): SIGINT 0.4 s after a docker start left the container running, and an
/// interrupted run could end as a failure instead of 130. Every moment of the start-up is
/// hit: before the container exists, while it is created and started, while PostgreSQL
/// comes up, and once it serves.
#[test]
fn sigint_at_any_moment_of_docker_start_up_exits_130_and_leaves_no_container() {
    require_docker_image();
    let mut failures = Vec::new();
    for delay_ms in [50u64, 200, 400, 800, 1500] {
        let spawned = std::time::Instant::now();
        let mut child = gate()
            .args(["--backend", "docker", "--image", IMAGE])
            .args(["backend-smoke", "--hold-seconds", "120"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn gate-replay");
        let pid = child.id();
        let handler_deadline = spawned + Duration::from_secs(10);
        while !catches(pid, 2) && std::time::Instant::now() < handler_deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            catches(pid, 2),
            "gate-replay never installed its SIGINT handler"
        );
        if let Some(rest) = Duration::from_millis(delay_ms).checked_sub(spawned.elapsed()) {
            std::thread::sleep(rest);
        }
        signal(&child, "INT");
        let code = wait_code(&mut child, Duration::from_secs(90));
        let mut stderr = String::new();
        if let Some(mut s) = child.stderr.take() {
            use std::io::Read;
            let _ = s.read_to_string(&mut stderr);
        }
        // Removal may lag the exit a little on a busy engine: poll, bounded.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut left = containers_of(pid);
        while !left.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            left = containers_of(pid);
        }
        if code != Some(130) {
            failures.push(format!(
                "SIGINT at {delay_ms} ms: exit {code:?}, want 130; stderr:\n{stderr}"
            ));
        }
        if !left.is_empty() {
            failures.push(format!(
                "SIGINT at {delay_ms} ms: containers left behind: {left:?}"
            ));
            for id in &left {
                drop(TestContainer(id.clone()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
