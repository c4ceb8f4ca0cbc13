//! The `url` backend against a real server (GATE_TEST_DATABASE_URL): scratch databases are
//! created and dropped, the database the URL names is never written to, errors never show
//! the password, and `sslmode` in the URL is honoured.

use std::time::Duration;

use crate::support::backend::*;
use crate::support::db::server_url;
use gate_policy::Backend;
use gate_replay::backend::{BackendOptions, Server};
use sqlx::{Connection, Row};

fn opts(url: &str) -> BackendOptions {
    BackendOptions {
        image: String::new(),
        database_url: Some(url.to_string()),
        ready_timeout: Duration::from_secs(30),
    }
}

fn with_database(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).expect("url");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

/// Catalog objects and sentinel rows of the database, hashed.
async fn checksum(conn: &mut sqlx::PgConnection) -> String {
    sqlx::query(
        "SELECT md5(string_agg(x, '|' ORDER BY x)) AS h FROM (
           SELECT 'c:' || n.nspname || '.' || c.relname || ':' || c.relkind::text AS x
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           UNION ALL SELECT 'a:' || attrelid::regclass::text || ':' || attname || ':' || atttypid FROM pg_attribute
           UNION ALL SELECT 'p:' || oid || ':' || proname FROM pg_proc
           UNION ALL SELECT 't:' || oid || ':' || typname FROM pg_type
           UNION ALL SELECT 'n:' || nspname FROM pg_namespace
           UNION ALL SELECT 'e:' || extname FROM pg_extension
           UNION ALL SELECT 'r:' || id || ':' || note FROM sentinel
         ) s",
    )
    .fetch_one(conn)
    .await
    .expect("checksum")
    .get("h")
}

async fn database_exists(admin: &mut sqlx::PgConnection, name: &str) -> bool {
    sqlx::query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_one(admin)
        .await
        .expect("pg_database")
        .get::<i64, _>("n")
        == 1
}

#[test]
fn url_backend_never_writes_to_the_database_the_url_names() {
    let server_url = server_url();
    runtime().block_on(async {
        let mut admin = sqlx::PgConnection::connect(&server_url)
            .await
            .expect("test server");
        let sentinel_db = format!("gate_sentinel_{}_{:x}", std::process::id(), rand_suffix());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {sentinel_db}"
        )))
        .execute(&mut admin)
        .await
        .expect("create sentinel db");
        let url = with_database(&server_url, &sentinel_db);
        let mut watch = sqlx::PgConnection::connect(&url)
            .await
            .expect("sentinel db");
        sqlx::raw_sql(
            "CREATE TABLE sentinel (id int primary key, note text);
             INSERT INTO sentinel SELECT g, 'row ' || g FROM generate_series(1, 50) g",
        )
        .execute(&mut watch)
        .await
        .expect("sentinel table");
        let before = checksum(&mut watch).await;

        let server = Server::start(Backend::Url, &opts(&url))
            .await
            .expect("url backend");
        assert!(
            server.describe().starts_with("url "),
            "{}",
            server.describe()
        );
        let a = server.fresh_database().await.expect("scratch a");
        let b = server.fresh_database().await.expect("scratch b");
        assert!(a.name.starts_with("gate_replay_") && a.name != b.name);
        assert!(database_exists(&mut admin, &a.name).await);
        let mut conn = sqlx::PgConnection::connect(&a.url).await.expect("scratch");
        let db: String = sqlx::query("SELECT current_database() AS d")
            .fetch_one(&mut conn)
            .await
            .expect("q")
            .get("d");
        assert_eq!(db, a.name, "the scratch URL points at the scratch database");
        sqlx::raw_sql("CREATE TABLE sentinel (id int); CREATE TYPE t AS ENUM ('x')")
            .execute(&mut conn)
            .await
            .expect("DDL in scratch");
        // A session left open (as a crashed runner would) must not block the drop.
        server
            .drop_database(&a)
            .await
            .expect("drop with a session open");
        drop(conn);
        assert!(!database_exists(&mut admin, &a.name).await);
        // b is not dropped explicitly: shutdown drops what is left.
        server.shutdown().await.expect("shutdown");
        assert!(
            !database_exists(&mut admin, &b.name).await,
            "shutdown drops leftovers"
        );

        let after = checksum(&mut watch).await;
        assert_eq!(before, after, "the URL's database changed");
        watch.close().await.expect("close");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {sentinel_db} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .expect("cleanup");
    });
}

#[test]
fn dropping_a_url_server_drops_its_scratch_databases() {
    let server_url = server_url();
    let name = runtime().block_on(async {
        let server = Server::start(Backend::Url, &opts(&server_url))
            .await
            .expect("url backend");
        let db = server.fresh_database().await.expect("scratch");
        db.name.clone()
        // server dropped here without shutdown (an error path)
    });
    runtime().block_on(async {
        let mut admin = sqlx::PgConnection::connect(&server_url)
            .await
            .expect("test server");
        assert!(
            !database_exists(&mut admin, &name).await,
            "{name} left behind"
        );
    });
}

#[test]
fn sigterm_mid_run_drops_the_scratch_database() {
    let server_url = server_url();
    let (mut child, json) = spawn_holding(&["--backend", "url", "--database-url", &server_url]);
    let name = json["database"].as_str().expect("database").to_string();
    runtime().block_on(async {
        let mut admin = sqlx::PgConnection::connect(&server_url)
            .await
            .expect("test server");
        assert!(database_exists(&mut admin, &name).await);
        signal(&child, "TERM");
        assert_eq!(wait_code(&mut child, Duration::from_secs(30)), Some(143));
        assert!(
            !database_exists(&mut admin, &name).await,
            "{name} left after SIGTERM"
        );
    });
}

#[test]
fn a_wrong_password_names_host_and_user_but_never_the_password() {
    const SECRET: &str = "Wr0ng-Passw0rd-4711";
    runtime().block_on(async {
        // The local backend demands a password over TCP (the test server trusts everyone).
        let local = Server::start(Backend::Local, &BackendOptions::default())
            .await
            .expect("local backend");
        let db = local.fresh_database().await.expect("db");
        let mut wrong = url::Url::parse(&db.url).expect("url");
        wrong.set_password(Some(SECRET)).expect("set password");
        let wrong = wrong.to_string();

        let err = Server::start(Backend::Url, &opts(&wrong))
            .await
            .expect_err("wrong password");
        let msg = err.to_string();
        assert!(
            msg.contains("postgres@127.0.0.1"),
            "names user and host: {msg}"
        );
        assert!(msg.contains("password authentication failed"), "{msg}");
        assert!(!msg.contains(SECRET), "password leaked: {msg}");
        assert!(
            !format!("{err:?}").contains(SECRET),
            "password leaked in Debug"
        );

        let out = gate()
            .args([
                "--backend",
                "url",
                "--database-url",
                &wrong,
                "backend-smoke",
            ])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            !text(&out).contains(SECRET),
            "password leaked: {}",
            text(&out)
        );
        local.shutdown().await.expect("shutdown");
    });
}

#[test]
fn sslmode_in_the_url_is_honoured() {
    // The test server offers TLS with a self-signed certificate (ci/test-postgres.sh):
    // `sslmode=verify-full` must refuse it rather than connect anyway, while `require`
    // (encrypted, unverified) and `disable` work.
    let server_url = server_url();
    let sep = if server_url.contains('?') { '&' } else { '?' };
    runtime().block_on(async {
        let err = Server::start(
            Backend::Url,
            &opts(&format!("{server_url}{sep}sslmode=verify-full")),
        )
        .await
        .expect_err("verify a certificate nobody vouches for");
        let msg = err.to_string().to_lowercase();
        assert!(
            msg.contains("tls") || msg.contains("ssl") || msg.contains("certificate"),
            "{msg}"
        );
        for mode in ["require", "disable"] {
            let ok = Server::start(
                Backend::Url,
                &opts(&format!("{server_url}{sep}sslmode={mode}")),
            )
            .await
            .expect(mode);
            ok.shutdown().await.expect("shutdown");
        }
    });
}

#[test]
fn url_backend_without_a_url_is_unavailable() {
    let out = gate()
        .args(["--backend", "url", "backend-smoke"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--database-url"),
        "{}",
        text(&out)
    );
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
