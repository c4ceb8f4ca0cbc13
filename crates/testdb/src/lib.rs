//! `gate-testdb`: a throw-away database per test on the server named by
//! GATE_TEST_DATABASE_URL (`eval "$(ci/test-postgres.sh)"`), for the crates' own tests
//! (gate-schema, gate-recovery). A missing server is a failed test, never a skipped one.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, PgConnection};

pub fn admin_url() -> String {
    std::env::var("GATE_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "GATE_TEST_DATABASE_URL is not set: these tests need a real PostgreSQL server. \
             Run `eval \"$(ci/test-postgres.sh)\"` at the repository root first."
        )
    })
}

/// A name no other test (or test run) uses at the same time.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with its database (path) replaced by `db`.
pub fn with_db(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).expect("GATE_TEST_DATABASE_URL is a valid URL");
    u.set_path(db);
    u.to_string()
}

pub async fn exec(url: &str, sql: &str) {
    let mut c = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server: {e}"));
    // A multi-statement string is one implicit transaction; `-- commit` splits it where a
    // statement needs the previous ones committed (e.g. using a freshly added enum value).
    for part in sql.split("-- commit") {
        sqlx::raw_sql(AssertSqlSafe(part.to_owned()))
            .execute(&mut c)
            .await
            .unwrap_or_else(|e| panic!("test SQL failed: {e}\n{part}"));
    }
    c.close().await.ok();
}

/// A fresh database `gate_test_<unique>`, dropped when this value goes out of scope.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new(ddl: &str) -> TestDb {
        let admin = admin_url();
        let name = unique("gate_test");
        // The guard exists before the database does: a test that panics (or a join! that
        // cancels this future) between the two still drops it.
        let db = TestDb {
            url: with_db(&admin, &name),
            name,
        };
        exec(&admin, &format!("CREATE DATABASE {}", db.name)).await;
        if !ddl.is_empty() {
            exec(&db.url, ddl).await;
        }
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        drop_sync(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// A login role `<prefix>_<unique>` (cluster-wide), dropped when this value goes out of scope.
/// Declare it before the databases it has grants in, so they are dropped first.
#[derive(Debug)]
pub struct TestRole {
    pub name: String,
}

impl TestRole {
    pub async fn new(prefix: &str, options: &str) -> TestRole {
        let role = TestRole {
            name: unique(prefix),
        };
        exec(
            &admin_url(),
            &format!("CREATE ROLE {} LOGIN {options}", role.name),
        )
        .await;
        role
    }

    /// `url` with this role as the user.
    pub fn url(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).expect("valid URL");
        u.set_username(&self.name).expect("URL with a host");
        u.to_string()
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        drop_sync(format!("DROP ROLE IF EXISTS {}", self.name));
    }
}

fn drop_sync(sql: String) {
    // Drop runs inside the test's runtime, which cannot be blocked on; a thread with its own
    // runtime can.
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(exec(&admin_url(), &sql));
    })
    .join();
}
