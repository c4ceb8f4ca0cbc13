//! The seeded pass (R009, `--data` / `replay.data`): the chain replayed on tables that hold
//! generated rows. Each verdict is held to plain Alembic (or psql) on a database the test
//! migrates and fills itself: the migration R009 names fails there with the same SQLSTATE,
//! while the clean replay (no `--data`) passes.

use std::path::Path;
use std::process::Command;

use crate::replay_stairway::{Rev, file_of, linear_project, project};
use crate::support::alembic::alembic_cli as alembic;
use crate::support::db::{Db, Server};
use crate::support::replay::*;

/// A database migrated by plain Alembic to `to`, then filled by psql with `rows`.
fn seeded_by_hand(dir: &Path, to: &str, rows: &str) -> Db {
    let db = Server::from_env().create(None);
    let up = alembic(dir, &db.libpq(), &["upgrade", to]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    db.psql(rows);
    db
}

/// Plain `alembic upgrade head` on `db`: its stderr when it fails.
fn plain_upgrade_fails(dir: &Path, db: &Db) -> String {
    let up = alembic(dir, &db.libpq(), &["upgrade", "head"]);
    let stderr = String::from_utf8_lossy(&up.stderr).to_string();
    assert!(!up.status.success(), "plain alembic passed: {stderr}");
    stderr
}

fn section(run: &crate::support::run::Run) -> serde_json::Value {
    run.json()["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Seeded pass")
        .unwrap_or_else(|| panic!("no Seeded pass section: {}", run.stdout))["data"]
        .clone()
}

const USERS: Rev = Rev {
    id: "d1",
    parents: &[],
    up: "CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, nick text)",
    down: "DROP TABLE users",
};

const NOT_NULL: Rev = Rev {
    id: "d2",
    parents: &["d1"],
    up: "ALTER TABLE users ADD COLUMN plan text NOT NULL",
    down: "ALTER TABLE users DROP COLUMN plan",
};

const UNIQUE: Rev = Rev {
    id: "d2",
    parents: &["d1"],
    up: "CREATE UNIQUE INDEX users_email ON users (email)",
    down: "DROP INDEX users_email",
};

const TAIL: Rev = Rev {
    id: "d3",
    parents: &["d2"],
    up: "CREATE TABLE audit (id integer PRIMARY KEY, user_id integer REFERENCES users(id))",
    down: "DROP TABLE audit",
};

/// The R009 findings of `run`, each checked to name `rev`'s file and `sqlstate`.
fn r009(run: &crate::support::run::Run, rev: &str, sqlstate: &str) -> serde_json::Value {
    let found = run.findings("R009");
    assert_eq!(found.len(), 1, "{}", run.stdout);
    let f = found[0].clone();
    assert_eq!(f["path"], file_of(rev), "{f}");
    assert!(f["line"].as_u64().is_some(), "{f}");
    let msg = f["message"].as_str().unwrap();
    assert!(msg.contains(&format!("SQLSTATE {sqlstate}")), "{msg}");
    assert!(msg.contains("public.users holds 3 row(s)"), "{msg}");
    f
}

#[test]
fn a_not_null_column_without_default_is_r009_23502_as_alembic_on_rows_says() {
    let repo = project(&[USERS, NOT_NULL, TAIL]);
    let clean = replay_url(repo.path(), &["--no-fixes"]);
    assert_eq!(clean.code, 0, "{}", clean.all());

    let run = replay_url(repo.path(), &["--no-fixes", "--data"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let f = r009(&run, "d2", "23502");
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("statement: ALTER TABLE users ADD COLUMN plan text NOT NULL"),
        "{msg}"
    );
    // The revision after it was not replayed with rows, and says so.
    let r010 = run.findings("R010");
    assert_eq!(r010.len(), 1, "{}", run.stdout);
    assert!(
        r010[0]["message"]
            .as_str()
            .unwrap()
            .contains("1 later revision(s)")
    );
    assert_eq!(section(&run)["replayed"], 2);

    // Plain Alembic on a database with one row refuses the same migration with 23502.
    let db = seeded_by_hand(
        repo.path(),
        "d1",
        "INSERT INTO users VALUES (1, 'a@example.com', NULL)",
    );
    let stderr = plain_upgrade_fails(repo.path(), &db);
    assert!(stderr.contains("NotNullViolation"), "{stderr}");
    assert!(
        stderr.contains("column \"plan\" of relation \"users\" contains null values"),
        "{stderr}"
    );
}

#[test]
fn a_unique_index_over_duplicates_is_r009_23505_as_alembic_on_rows_says() {
    let repo = project(&[USERS, UNIQUE, TAIL]);
    let clean = replay_url(repo.path(), &["--no-fixes"]);
    assert_eq!(clean.code, 0, "{}", clean.all());

    let run = replay_url(repo.path(), &["--no-fixes", "--data"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let f = r009(&run, "d2", "23505");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("CREATE UNIQUE INDEX users_email"),
        "{f}"
    );

    let db = seeded_by_hand(
        repo.path(),
        "d1",
        "INSERT INTO users VALUES (1, 'a@example.com', NULL), (2, 'a@example.com', NULL)",
    );
    let stderr = plain_upgrade_fails(repo.path(), &db);
    assert!(stderr.contains("UniqueViolation"), "{stderr}");
}

#[test]
fn a_chain_that_backfills_before_it_constrains_has_no_r009() {
    let backfill = Rev {
        id: "d2",
        parents: &["d1"],
        up: "ALTER TABLE users ADD COLUMN plan text; UPDATE users SET plan = 'free' WHERE plan IS NULL; ALTER TABLE users ALTER COLUMN plan SET NOT NULL",
        down: "ALTER TABLE users DROP COLUMN plan",
    };
    let dedupe = Rev {
        id: "d3",
        parents: &["d2"],
        up: "DELETE FROM users a USING users b WHERE a.email = b.email AND a.id > b.id; CREATE UNIQUE INDEX users_email ON users (email)",
        down: "DROP INDEX users_email",
    };
    let audit = Rev {
        id: "d4",
        parents: &["d3"],
        ..TAIL
    };
    let repo = project(&[USERS, backfill, dedupe, audit]);
    let run = replay_url(repo.path(), &["--no-fixes", "--data", "--rows", "5"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.findings("R009").is_empty(), "{}", run.stdout);
    assert!(run.findings("R010").is_empty(), "{}", run.stdout);
    let data = section(&run);
    assert_eq!(data["replayed"], 4, "{data}");
    assert_eq!(data["rows_per_table"], 5, "{data}");
    // users before d2, again before d4 after the dedupe, and audit (child of users) at the
    // end of the chain is never needed: only tables before a migration are seeded.
    assert!(data["generated"].as_u64().unwrap() >= 5, "{data}");

    // Plain Alembic on a database with duplicates and NULLs passes too.
    let db = seeded_by_hand(
        repo.path(),
        "d1",
        "INSERT INTO users VALUES (1, 'a@example.com', NULL), (2, 'a@example.com', NULL)",
    );
    let up = alembic(repo.path(), &db.libpq(), &["upgrade", "head"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
}

#[test]
fn a_sql_chain_names_the_statement_and_line_of_its_23502() {
    let v2 = "-- plans for everybody\nCREATE TABLE plans (id integer PRIMARY KEY);\n\nALTER TABLE users\n  ADD COLUMN plan text NOT NULL;\n";
    let repo = sql_repo(
        "golang-migrate",
        &[
            (
                "000001_users.up.sql",
                "CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL);\n",
            ),
            ("000001_users.down.sql", "DROP TABLE users;\n"),
            ("000002_plan.up.sql", v2),
            (
                "000002_plan.down.sql",
                "ALTER TABLE users DROP COLUMN plan;\nDROP TABLE plans;\n",
            ),
        ],
    );
    let clean = replay_url(repo.path(), &[]);
    assert_eq!(clean.code, 0, "{}", clean.all());
    let run = replay_url(repo.path(), &["--data"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let found = run.findings("R009");
    assert_eq!(found.len(), 1, "{}", run.stdout);
    let f = &found[0];
    assert_eq!(f["path"], "db/migrations/000002_plan.up.sql", "{f}");
    assert_eq!(f["line"], 4, "{f}");
    let msg = f["message"].as_str().unwrap();
    assert!(msg.contains("SQLSTATE 23502"), "{msg}");
    assert!(
        msg.contains("statement: ALTER TABLE users ADD COLUMN plan text NOT NULL"),
        "{msg}"
    );

    // psql on a database with a row: the same file fails with the same SQLSTATE.
    let db = Server::from_env().create(None);
    db.psql("CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL); INSERT INTO users VALUES (1, 'a')");
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "VERBOSITY=verbose",
            "-1",
            "-d",
        ])
        .arg(db.libpq())
        .args(["-c", v2])
        .output()
        .expect("psql");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("ERROR:  23502"), "{stderr}");
}

/// 60 revisions: `users` first, then one table each, with `CREATE INDEX` on `users` at l040
/// and `ADD COLUMN … NOT NULL` on it at each revision of `not_null`.
fn long_chain(not_null: &[usize]) -> tempfile::TempDir {
    let ids: Vec<String> = (1..=60).map(|i| format!("l{i:03}")).collect();
    let ups: Vec<String> = (1..=60)
        .map(|i| match i {
            1 => "CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL)".to_string(),
            40 => "CREATE INDEX users_email_idx ON users (email)".to_string(),
            i if not_null.contains(&i) => {
                format!("ALTER TABLE users ADD COLUMN c{i:03} text NOT NULL")
            }
            i => format!("CREATE TABLE t{i:03} (id integer PRIMARY KEY)"),
        })
        .collect();
    let downs = vec![String::new(); 60];
    linear_project(&ids, &ups, &downs)
}

#[test]
fn a_long_chain_stops_at_its_first_r009_wherever_it_is() {
    // The walk stops at its first failure; what it observed before it is reported once.
    let repo = long_chain(&[45]);
    let run = replay_url(repo.path(), &["--no-fixes", "--data"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let found = run.findings("R009");
    assert_eq!(found.len(), 1, "{}", run.stdout);
    assert_eq!(found[0]["path"], file_of("l045"), "{}", found[0]);
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("SQLSTATE 23502"),
        "{}",
        found[0]
    );
    let r010 = run.findings("R010");
    assert_eq!(r010.len(), 1, "{}", run.stdout);
    assert!(
        r010[0]["message"]
            .as_str()
            .unwrap()
            .contains("15 later revision(s)"),
        "{}",
        r010[0]
    );
    assert_eq!(section(&run)["replayed"], 45);
    // l040's index on a table with rows: one L003, however the chain was cut.
    let l003 = run.findings("L003");
    assert_eq!(l003.len(), 1, "{}", run.stdout);
    assert_eq!(l003[0]["path"], file_of("l040"), "{}", l003[0]);

    // Plain Alembic on rows: l045 fails with 23502.
    let db = seeded_by_hand(
        repo.path(),
        "l044",
        "INSERT INTO users VALUES (1, 'a@example.com')",
    );
    let stderr = plain_upgrade_fails(repo.path(), &db);
    assert!(stderr.contains("NotNullViolation"), "{stderr}");
    assert!(stderr.contains("c045"), "{stderr}");

    // l010 as well: the walk stops there, so l040 and l045 are never reached with rows.
    let repo = long_chain(&[10, 45]);
    let run = replay_url(repo.path(), &["--no-fixes", "--data"]);
    let found = run.findings("R009");
    assert_eq!(found.len(), 1, "{}", run.stdout);
    assert_eq!(found[0]["path"], file_of("l010"), "{}", found[0]);
    assert!(run.findings("L003").is_empty(), "{}", run.stdout);
    assert_eq!(section(&run)["replayed"], 10);
}
