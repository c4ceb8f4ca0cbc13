//! Scratch databases on the server named by GATE_TEST_DATABASE_URL, and the round trip every
//! plan must pass there. Missing server = failed test, never a skipped one.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use gate_recovery::consolidate::{GuardedStatement, Plan, plan};
use gate_schema::Snapshot;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

pub fn admin_url() -> String {
    std::env::var("GATE_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "GATE_TEST_DATABASE_URL is not set: these tests need a real PostgreSQL server. \
             Run `eval \"$(ci/test-postgres.sh)\"` at the repository root first."
        )
    })
}

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

pub fn with_db(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).expect("GATE_TEST_DATABASE_URL is a valid URL");
    u.set_path(db);
    u.to_string()
}

/// Run `sql` (several statements); `-- commit` splits it where a statement needs the previous
/// ones committed (a label just added to an enum).
pub async fn exec(url: &str, sql: &str) {
    let mut c = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server: {e}"));
    for part in sql.split("-- commit") {
        sqlx::raw_sql(AssertSqlSafe(part.to_owned()))
            .execute(&mut c)
            .await
            .unwrap_or_else(|e| panic!("test SQL failed: {e}\n{part}"));
    }
    c.close().await.ok();
}

/// A fresh database, dropped when this value goes out of scope.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new(ddl: &str) -> TestDb {
        let admin = admin_url();
        let name = unique("gate_recovery_test");
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

    pub async fn capture(&self) -> Snapshot {
        Snapshot::capture_excluding(&self.url, &["alembic_version"])
            .await
            .unwrap_or_else(|e| panic!("capture failed: {e}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(exec(&admin_url(), &sql));
        })
        .join();
    }
}

/// Each statement on its own (autocommit), as a SQL runner without an enclosing transaction
/// would; the error names the statement.
pub async fn run(url: &str, statements: &[GuardedStatement]) -> Result<(), String> {
    let mut c = PgConnection::connect(url)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    for s in statements {
        sqlx::raw_sql(AssertSqlSafe(s.sql.clone()))
            .execute(&mut c)
            .await
            .map_err(|e| format!("{} failed: {e}\n{}", s.object, s.sql))?;
    }
    c.close().await.ok();
    Ok(())
}

/// Records every DDL command the server runs (event triggers: `ddl_command_end` and
/// `sql_drop`), so "changes nothing" means no DDL ran at all, not only an equal snapshot.
const DDL_LOG: &str = "
CREATE SCHEMA gate_ddl_log;
CREATE TABLE gate_ddl_log.commands (tag text, what text);
CREATE FUNCTION gate_ddl_log.on_end() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO gate_ddl_log.commands SELECT command_tag, object_identity FROM pg_event_trigger_ddl_commands(); END $$;
CREATE FUNCTION gate_ddl_log.on_drop() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO gate_ddl_log.commands SELECT 'DROP ' || object_type, object_identity FROM pg_event_trigger_dropped_objects(); END $$;
CREATE EVENT TRIGGER gate_ddl_end ON ddl_command_end EXECUTE FUNCTION gate_ddl_log.on_end();
CREATE EVENT TRIGGER gate_ddl_drop ON sql_drop EXECUTE FUNCTION gate_ddl_log.on_drop();
";

/// Start logging DDL on `url` (see [`DDL_LOG`]).
pub async fn start_ddl_log(url: &str) {
    exec(url, DDL_LOG).await;
}

/// The DDL logged since [`start_ddl_log`]; the log is removed, so the schema is untouched.
pub async fn stop_ddl_log(url: &str) -> Result<Vec<String>, String> {
    let mut c = PgConnection::connect(url)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let log: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT tag, what FROM gate_ddl_log.commands")
            .fetch_all(&mut c)
            .await
            .map_err(|e| format!("reading the DDL log: {e}"))?;
    c.close().await.ok();
    exec(
        url,
        "DROP EVENT TRIGGER gate_ddl_end; DROP EVENT TRIGGER gate_ddl_drop; DROP SCHEMA gate_ddl_log CASCADE;",
    )
    .await;
    Ok(log
        .into_iter()
        .map(|(tag, what)| format!("{tag} {}", what.unwrap_or_default()))
        .collect())
}

/// Run `statements` on `url` and return the DDL commands they ran.
pub async fn ddl_of(url: &str, statements: &[GuardedStatement]) -> Result<Vec<String>, String> {
    start_ddl_log(url).await;
    let ran = run(url, statements).await;
    let log = stop_ddl_log(url).await;
    ran?;
    log
}

/// Column order is not a difference (`gate_schema::diff` matches columns by name, and a
/// column cannot be put back in its place without rebuilding the table).
pub fn by_column_name(mut s: Snapshot) -> Snapshot {
    for t in s.tables.values_mut() {
        t.columns.sort_by(|a, b| a.name.cmp(&b.name));
    }
    s
}

pub fn assert_same(actual: &Snapshot, expected: &Snapshot, what: &str, plan: &Plan) {
    let diff = gate_schema::diff(expected, actual, "expected", "actual");
    let same = by_column_name(actual.clone()) == by_column_name(expected.clone());
    assert!(
        diff.is_empty() && same,
        "{what}: the schema is not the expected one\n{}\n--- upgrade ---\n{}\n--- downgrade ---\n{}",
        diff.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        plan.upgrade_sql(),
        plan.downgrade_sql()
    );
}

/// Build `from` and `to` from SQL, plan, and prove the plan on real databases: upgrade gives
/// `to`, twice changes nothing, on `to` changes nothing; downgrade gives `from`, twice too.
pub async fn round_trip(from_sql: &str, to_sql: &str) -> Plan {
    let (from_db, to_db) = tokio::join!(TestDb::new(from_sql), TestDb::new(to_sql));
    let (from, to) = tokio::join!(from_db.capture(), to_db.capture());
    let p = plan(&from, &to);
    assert!(
        p.left.is_empty(),
        "unexpected leftovers: {:#?}\n{}",
        p.left,
        p.upgrade_sql()
    );
    assert!(plan(&to, &to).is_empty(), "a schema planned against itself");
    let fail = |what: &str, e: String| -> ! {
        panic!(
            "{what}: {e}\n--- upgrade ---\n{}\n--- downgrade ---\n{}",
            p.upgrade_sql(),
            p.downgrade_sql()
        )
    };
    // First runs: they must reach the target.
    if let Err(e) = run(&from_db.url, &p.upgrade).await {
        fail("upgrade on from", e);
    }
    assert_same(&from_db.capture().await, &to, "upgrade on from", &p);
    // Runs on a database already at the target: no DDL at all.
    let no_ddl = |what: &str, ran: Result<Vec<String>, String>| match ran {
        Err(e) => fail(what, e),
        Ok(ddl) if !ddl.is_empty() => fail(what, format!("DDL ran: {ddl:#?}")),
        Ok(_) => {}
    };
    no_ddl("upgrade run twice", ddl_of(&from_db.url, &p.upgrade).await);
    assert_same(&from_db.capture().await, &to, "upgrade run twice", &p);
    no_ddl(
        "upgrade on a database at `to`",
        ddl_of(&to_db.url, &p.upgrade).await,
    );
    assert_same(&to_db.capture().await, &to, "upgrade on to", &p);
    if let Err(e) = run(&from_db.url, &p.downgrade).await {
        fail("downgrade after upgrade", e);
    }
    assert_same(
        &from_db.capture().await,
        &from,
        "downgrade after upgrade",
        &p,
    );
    no_ddl(
        "downgrade run twice",
        ddl_of(&from_db.url, &p.downgrade).await,
    );
    assert_same(&from_db.capture().await, &from, "downgrade run twice", &p);
    p
}

/// Only the plan: for pairs whose differences are (partly) left over.
pub async fn plan_of(from_sql: &str, to_sql: &str) -> Plan {
    let (from_db, to_db) = tokio::join!(TestDb::new(from_sql), TestDb::new(to_sql));
    let (from, to) = tokio::join!(from_db.capture(), to_db.capture());
    plan(&from, &to)
}
