//! The sql runner on small golang-migrate, Flyway, dbmate and sqlx chains against a real
//! PostgreSQL: chain order, each tool's bookkeeping table, migrations that cannot run in a
//! transaction (CONCURRENTLY), down files for the round trip, and errors mapped to
//! file:line:col.

use crate::support::replay::*;
use crate::support::run::*;
use crate::support::*;

fn assert_passes(run: &Run, migrations: usize) {
    assert_eq!(run.code, 0, "{}", run.all());
    let data = &run.json()["sections"][0]["data"];
    assert_eq!(data["applied"], migrations, "{data}");
    let json = run.json();
    let serious: Vec<_> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "note")
        .collect();
    assert!(serious.is_empty(), "{}", run.stdout);
}

const USERS_UP: &str =
    "CREATE TABLE users (\n  id bigserial PRIMARY KEY,\n  email text NOT NULL\n);\n";
const INDEX_UP: &str = "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n";

#[test]
fn golang_migrate_chain_with_a_concurrent_index_replays_and_round_trips() {
    let repo = sql_repo(
        "golang-migrate",
        &[
            ("000001_users.up.sql", USERS_UP),
            ("000001_users.down.sql", "DROP TABLE users;\n"),
            ("000002_email_index.up.sql", INDEX_UP),
            (
                "000002_email_index.down.sql",
                "DROP INDEX CONCURRENTLY users_email_idx;\n",
            ),
            (
                "000010_role.up.sql",
                "CREATE TYPE role AS ENUM ('user', 'admin');\nALTER TABLE users ADD COLUMN role role NOT NULL DEFAULT 'user';\n",
            ),
            (
                "000010_role.down.sql",
                "ALTER TABLE users DROP COLUMN role;\nDROP TYPE role;\n",
            ),
        ],
    );
    let run = replay_url(repo.path(), &[]);
    assert_passes(&run, 3);
    let order: Vec<String> = run.json()["sections"][0]["data"]["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["revision"].as_str().unwrap().to_string())
        .collect();
    // Numeric order (10 after 2), golang-migrate's recorded version without leading zeros.
    assert_eq!(order, vec!["1", "2", "10"]);
}

#[test]
fn a_syntax_error_is_r001_at_file_line_column() {
    let repo = sql_repo(
        "golang-migrate",
        &[
            ("000001_users.up.sql", USERS_UP),
            ("000001_users.down.sql", "DROP TABLE users;\n"),
            (
                "000002_broken.up.sql",
                "-- adds a column\nALTER TABLE users ADD COLUMN age int;\nALTER TABLE users\n  ADD COLUMN nick txet;\n",
            ),
            ("000002_broken.down.sql", "SELECT 1;\n"),
        ],
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    let r001 = run.findings("R001");
    assert_eq!(r001.len(), 1, "{}", run.stdout);
    assert_eq!(r001[0]["path"], "db/migrations/000002_broken.up.sql");
    // `txet` on line 4, column 19: type "txet" does not exist (42704).
    assert_eq!(r001[0]["line"], 4, "{}", r001[0]);
    assert_eq!(r001[0]["column"], 19, "{}", r001[0]);
    let msg = r001[0]["message"].as_str().unwrap();
    assert!(msg.contains("42704"), "{msg}");
    assert!(msg.contains("revision 2"), "{msg}");
}

#[test]
fn a_syntax_error_after_a_concurrent_index_keeps_its_position() {
    // Statements of a no-transaction migration run one by one; positions stay file-relative.
    let repo = sql_repo(
        "golang-migrate",
        &[
            ("000001_users.up.sql", USERS_UP),
            (
                "000002_index.up.sql",
                "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n\nSELEC 1;\n",
            ),
        ],
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    let r001 = run.findings("R001");
    assert_eq!(r001[0]["line"], 3, "{}", r001[0]);
    assert_eq!(r001[0]["column"], 1, "{}", r001[0]);
    assert!(
        r001[0]["message"].as_str().unwrap().contains("42601"),
        "{}",
        r001[0]
    );
}

#[test]
fn flyway_versioned_then_repeatable_with_its_history_table() {
    let repo = sql_repo(
        "flyway",
        &[
            ("V1__users.sql", USERS_UP),
            ("V1.1__email_index.sql", INDEX_UP),
            (
                "V2__orders.sql",
                "CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint REFERENCES users);\n",
            ),
            // Repeatables run after every versioned migration, whatever their name sorts as.
            (
                "R__a_view.sql",
                "CREATE OR REPLACE VIEW user_orders AS SELECT u.email, o.id FROM users u JOIN orders o ON o.user_id = u.id;\n",
            ),
        ],
    );
    let run = replay_url(repo.path(), &[]);
    assert_passes(&run, 4);
    let order: Vec<String> = run.json()["sections"][0]["data"]["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["revision"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order, vec!["1", "1.1", "2", "R__a_view"]);
    // No undo files: the round trip is reported as not checked, not as passed.
    assert!(
        run.stdout.contains("round trip is not checked"),
        "{}",
        run.stdout
    );
}

#[test]
fn dbmate_sections_and_sqlx_files_replay_with_their_bookkeeping() {
    let repo = sql_repo(
        "dbmate",
        &[
            (
                "20240101000000_users.sql",
                &format!("-- migrate:up\n{USERS_UP}\n-- migrate:down\nDROP TABLE users;\n"),
            ),
            (
                "20240102000000_index.sql",
                &format!(
                    "-- migrate:up transaction:false\n{INDEX_UP}\n-- migrate:down\nDROP INDEX users_email_idx;\n"
                ),
            ),
        ],
    );
    assert_passes(&replay_url(repo.path(), &[]), 2);

    let repo = sql_repo(
        "sqlx",
        &[
            ("20240101000000_users.up.sql", USERS_UP),
            ("20240101000000_users.down.sql", "DROP TABLE users;\n"),
            (
                "20240102000000_index.up.sql",
                &format!("-- no-transaction\n{INDEX_UP}"),
            ),
            (
                "20240102000000_index.down.sql",
                "DROP INDEX users_email_idx;\n",
            ),
        ],
    );
    assert_passes(&replay_url(repo.path(), &[]), 2);
}

#[test]
fn a_down_file_that_leaves_a_table_is_r004() {
    let repo = sql_repo(
        "golang-migrate",
        &[
            ("000001_users.up.sql", USERS_UP),
            ("000001_users.down.sql", "DROP TABLE users;\n"),
            ("000002_audit.up.sql", "CREATE TABLE audit (id int);\n"),
            ("000002_audit.down.sql", "SELECT 1;\n"),
        ],
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    let r004 = run.findings("R004");
    assert_eq!(r004.len(), 1, "{}", run.stdout);
    assert!(
        r004[0]["message"].as_str().unwrap().contains("audit"),
        "{}",
        r004[0]
    );
}

#[test]
fn a_migration_that_edits_the_bookkeeping_table_is_r002() {
    // Real migrations sometimes touch the tool's table; the head check sees the result.
    let repo = sql_repo(
        "golang-migrate",
        &[
            ("000001_users.up.sql", USERS_UP),
            ("000002_meddle.up.sql", "CREATE TABLE t (id int);\n"),
            ("000003_more.up.sql", "ALTER TABLE t ADD COLUMN x int;\n"),
        ],
    );
    let run = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(run.code, 0, "{}", run.all());
    // The same chain where the last migration rewrites the recorded version.
    write(
        repo.path(),
        "db/migrations/000003_more.up.sql",
        "ALTER TABLE t ADD COLUMN x int;\nCREATE FUNCTION pin() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.version := 2; RETURN NEW; END $$;\nCREATE TRIGGER pin BEFORE INSERT ON schema_migrations FOR EACH ROW EXECUTE FUNCTION pin();\n",
    );
    let run = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let r002 = run.findings("R002");
    assert_eq!(r002.len(), 1, "{}", run.stdout);
    let msg = r002[0]["message"].as_str().unwrap();
    assert!(msg.contains("records 2"), "{msg}");
    assert!(msg.contains("head is 3"), "{msg}");
}
