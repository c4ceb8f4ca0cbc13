//! The catalog fingerprint against real PostgreSQL: every kind of change the snapshot sees
//! changes it (checked with a full snapshot and `diff` of the same states), nothing else does,
//! and two databases built by the same DDL have the same one.

use std::collections::HashSet;

use gate_schema::{Fingerprint, PgConnection, Snapshot, diff};
use gate_testdb::{TestDb, exec};
use sqlx::Connection;

const BASE: &str = r#"
CREATE EXTENSION btree_gist;
CREATE SCHEMA app;
CREATE TYPE userrole AS ENUM ('user', 'admin');
CREATE TYPE pair AS ENUM ('a', 'b');
CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');
CREATE TABLE orgs (id serial PRIMARY KEY, name text);
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id int REFERENCES orgs (id),
    email varchar(255) NOT NULL,
    role userrole DEFAULT 'user'
);
CREATE INDEX ix_users_email ON users (email);
CREATE SEQUENCE app.ticket_no START 100;
CREATE VIEW admins AS SELECT id, email FROM users WHERE role = 'admin';
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TABLE app.events (id int, at date) PARTITION BY RANGE (at);
"#;

/// One change per object kind the snapshot compares, applied in this order.
const CHANGES: &[(&str, &str)] = &[
    ("a table", "CREATE TABLE audit (id int)"),
    ("a column", "ALTER TABLE audit ADD COLUMN note text"),
    (
        "a column type",
        "ALTER TABLE audit ALTER COLUMN note TYPE varchar(40)",
    ),
    (
        "a column's nullability",
        "ALTER TABLE audit ALTER COLUMN note SET NOT NULL",
    ),
    (
        "a default",
        "ALTER TABLE audit ALTER COLUMN note SET DEFAULT 'x'",
    ),
    (
        "another default",
        "ALTER TABLE audit ALTER COLUMN note SET DEFAULT 'y'",
    ),
    ("an enum label", "ALTER TYPE userrole ADD VALUE 'owner'"),
    (
        "the order of an enum's labels",
        "DROP TYPE pair; CREATE TYPE pair AS ENUM ('b', 'a')",
    ),
    (
        "a check constraint",
        "ALTER TABLE audit ADD CONSTRAINT note_len CHECK (length(note) > 1)",
    ),
    (
        "a constraint's definition",
        "ALTER TABLE audit DROP CONSTRAINT note_len, ADD CONSTRAINT note_len CHECK (length(note) > 2)",
    ),
    (
        "a unique constraint",
        "ALTER TABLE orgs ADD CONSTRAINT orgs_name_key UNIQUE (name)",
    ),
    ("an index", "CREATE INDEX ix_audit_note ON audit (note)"),
    (
        "an index's definition",
        "DROP INDEX ix_audit_note; CREATE INDEX ix_audit_note ON audit (lower(note))",
    ),
    ("a view", "CREATE VIEW notes AS SELECT note FROM audit"),
    (
        "a view's definition",
        "CREATE OR REPLACE VIEW admins AS SELECT id, email FROM users WHERE role = 'owner'",
    ),
    (
        "a materialized view",
        "CREATE MATERIALIZED VIEW org_count AS SELECT count(*) FROM orgs",
    ),
    (
        "a function's body",
        "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := 'z'; RETURN NEW; END $$",
    ),
    (
        "a function",
        "CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ),
    (
        "a trigger",
        "CREATE TRIGGER audit_touch BEFORE UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION touch()",
    ),
    (
        "a trigger's state",
        "ALTER TABLE audit DISABLE TRIGGER audit_touch",
    ),
    ("a sequence", "CREATE SEQUENCE audit_no"),
    (
        "a sequence's increment",
        "ALTER SEQUENCE app.ticket_no INCREMENT 5",
    ),
    (
        "a domain's check",
        "ALTER DOMAIN email ADD CONSTRAINT has_dot CHECK (VALUE LIKE '%.%')",
    ),
    (
        "a domain's default",
        "ALTER DOMAIN email SET DEFAULT 'x@y.z'",
    ),
    ("a schema", "CREATE SCHEMA reporting"),
    (
        "a partition",
        "CREATE TABLE app.events_2025 PARTITION OF app.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
    ),
    ("an extension", "CREATE EXTENSION pg_trgm"),
    (
        "a renamed column",
        "ALTER TABLE audit RENAME COLUMN note TO remark",
    ),
    // Extension members are left out of the snapshot; the fingerprint finds them its own way.
    (
        "a table taken into an extension",
        "ALTER EXTENSION pg_trgm ADD TABLE audit",
    ),
    (
        "a type taken into an extension",
        "ALTER EXTENSION pg_trgm ADD TYPE pair",
    ),
    (
        "a function taken into an extension",
        "ALTER EXTENSION pg_trgm ADD FUNCTION one()",
    ),
    ("a dropped table", "DROP TABLE orgs CASCADE"),
];

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.expect("connect")
}

/// The fingerprint both ways (in a transaction of its own, and in one statement on a
/// prepared session), which must agree, and which must be the digest of the capture queries'
/// own rows (the fingerprint runs its own, cheaper form of them).
async fn fingerprint(conn: &mut PgConnection) -> Fingerprint {
    let in_transaction = Snapshot::fingerprint(conn).await.expect("fingerprint");
    Snapshot::prepare_fingerprint_session(conn)
        .await
        .expect("session settings");
    let in_session = Snapshot::fingerprint_in_session(conn)
        .await
        .expect("fingerprint in session");
    assert_eq!(in_transaction, in_session);
    let by_capture_queries = Snapshot::fingerprint_by_capture_queries(conn)
        .await
        .expect("fingerprint from the capture queries");
    assert_eq!(
        in_session, by_capture_queries,
        "the fingerprint's form of the queries returns other rows than the capture's"
    );
    in_transaction
}

#[tokio::test]
async fn every_change_the_snapshot_sees_changes_the_fingerprint() {
    let db = TestDb::new(BASE).await;
    let mut conn = connect(&db.url).await;
    let mut before_fp = fingerprint(&mut conn).await;
    let mut before = Snapshot::capture_with(&mut conn).await.expect("snapshot");
    let mut seen = HashSet::from([before_fp.clone()]);
    for (what, sql) in CHANGES {
        exec(&db.url, sql).await;
        let after_fp = fingerprint(&mut conn).await;
        let after = Snapshot::capture_with(&mut conn).await.expect("snapshot");
        // The change is one the snapshot model compares (else this case tests nothing).
        let d = diff(&before, &after, "before", "after");
        assert!(!d.is_empty(), "{what}: the snapshot does not see `{sql}`");
        assert_ne!(
            before_fp, after_fp,
            "{what}: fingerprint unchanged by `{sql}`"
        );
        assert!(
            seen.insert(after_fp.clone()),
            "{what}: fingerprint repeats an earlier state's"
        );
        (before, before_fp) = (after, after_fp);
    }
}

#[tokio::test]
async fn the_fingerprint_stays_when_only_rows_or_nothing_change() {
    let db = TestDb::new(BASE).await;
    let mut conn = connect(&db.url).await;
    let first = fingerprint(&mut conn).await;
    assert_eq!(first.as_str().len(), 32, "{first}");
    assert_eq!(fingerprint(&mut conn).await, first, "read twice");
    // Rows, sequence values, statistics and a dropped-and-recreated object with the same
    // definition (new OIDs) are not schema.
    exec(
        &db.url,
        "INSERT INTO orgs (name) VALUES ('a'), ('b'); SELECT nextval('app.ticket_no'); \
         ANALYZE orgs; DROP VIEW admins; \
         CREATE VIEW admins AS SELECT id, email FROM users WHERE role = 'admin'",
    )
    .await;
    assert_eq!(
        fingerprint(&mut conn).await,
        first,
        "after rows and a re-created view"
    );

    // A change and its undo come back to the same fingerprint, as their snapshots do.
    let before = Snapshot::capture_with(&mut conn).await.expect("snapshot");
    exec(&db.url, "ALTER TABLE users ADD COLUMN nick text").await;
    assert_ne!(fingerprint(&mut conn).await, first);
    exec(&db.url, "ALTER TABLE users DROP COLUMN nick").await;
    let after = Snapshot::capture_with(&mut conn).await.expect("snapshot");
    assert!(diff(&before, &after, "before", "after").is_empty());
    assert_eq!(
        fingerprint(&mut conn).await,
        first,
        "after an undone change"
    );

    // A second database built by the same DDL has the same fingerprint: nothing
    // database-specific (OIDs, names of the database) is hashed.
    let twin = TestDb::new(BASE).await;
    let mut twin_conn = connect(&twin.url).await;
    assert_eq!(
        fingerprint(&mut twin_conn).await,
        first,
        "same DDL, other database"
    );
    // The connection is usable afterwards (the read-only transaction was ended).
    sqlx::query("SELECT 1")
        .execute(&mut conn)
        .await
        .expect("reuse");
}
