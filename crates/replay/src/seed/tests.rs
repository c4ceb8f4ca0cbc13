//! The generator on a real PostgreSQL (GATE_TEST_DATABASE_URL): a schema with every kind of
//! column and constraint it handles gets its rows in every table, and what it leaves for a
//! later migration to trip over (duplicates, NULLs) is there, as plain SQL counts it.

use sqlx::Connection as _;

use super::top_up;

const EVERY_KIND: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE DOMAIN code3 AS varchar(3) NOT NULL CHECK (VALUE ~ '^[a-z0-9 ]+$');
CREATE TABLE orgs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name varchar(12) NOT NULL UNIQUE,
    slug text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE users (
    id uuid PRIMARY KEY,
    org_id bigint NOT NULL REFERENCES orgs(id),
    manager_id uuid REFERENCES users(id),
    email text NOT NULL,
    status text NOT NULL CHECK (status IN ('new', 'active', 'gone')),
    mood mood NOT NULL,
    moods mood[] NOT NULL,
    score numeric(4,2) NOT NULL CHECK (score >= 0),
    weight double precision,
    age smallint CHECK (age BETWEEN 1 AND 130),
    born date NOT NULL,
    seen timestamp,
    at_time time,
    span interval,
    active boolean NOT NULL,
    profile jsonb NOT NULL,
    raw json,
    tags text[] NOT NULL,
    avatar bytea,
    ip inet,
    level posint NOT NULL,
    short code3,
    initials char(2) NOT NULL,
    UNIQUE (org_id, email)
);
CREATE UNIQUE INDEX users_lower_email ON users (lower(email));
CREATE TABLE memberships (
    user_id uuid NOT NULL REFERENCES users(id),
    org_id bigint NOT NULL REFERENCES orgs(id),
    role varchar(8) NOT NULL DEFAULT 'member',
    PRIMARY KEY (user_id, org_id)
);
CREATE TABLE profiles (
    user_id uuid PRIMARY KEY REFERENCES users(id),
    bio text
);
CREATE TABLE events (
    id serial,
    happened date NOT NULL
) PARTITION BY RANGE (happened);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
"#;

const ROWS: u64 = 5;

async fn count(conn: &mut sqlx::PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn every_table_of_a_schema_with_every_kind_gets_its_rows() {
    let db = gate_testdb::TestDb::new(EVERY_KIND).await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let seeding = top_up(&mut conn, ROWS, &[]).await.unwrap();
    for t in &seeding.tables {
        assert_eq!(t.dropped, 0, "{t:?}");
    }
    let n = i64::try_from(ROWS).unwrap();
    for table in ["orgs", "users", "memberships", "profiles", "events"] {
        let rows = count(&mut conn, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(rows, n, "{table}: {seeding:?}");
    }
    // Unique columns are distinct, others repeat, nullable ones hold a NULL.
    assert_eq!(
        count(&mut conn, "SELECT count(DISTINCT name) FROM orgs").await,
        n
    );
    assert!(count(&mut conn, "SELECT count(DISTINCT active) FROM users").await < n);
    assert!(count(&mut conn, "SELECT count(*) FROM users WHERE weight IS NULL").await >= 1);
    assert!(count(&mut conn, "SELECT count(*) FROM orgs WHERE slug IS NULL").await >= 1);
    // Foreign keys point at rows that exist; the self-reference is NULL.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM users u JOIN orgs o ON o.id = u.org_id"
        )
        .await,
        n
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM users WHERE manager_id IS NULL"
        )
        .await,
        n
    );
    // Defaults were left to the server.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM memberships WHERE role = 'member'"
        )
        .await,
        n
    );
    // A second top-up finds nothing to do.
    let again = top_up(&mut conn, ROWS, &[]).await.unwrap();
    assert_eq!(again.inserted(), 0, "{again:?}");
    conn.close().await.ok();
}

#[tokio::test]
async fn a_row_no_value_can_satisfy_is_dropped_with_the_servers_reason() {
    let db = gate_testdb::TestDb::new(
        "CREATE TABLE odd (id int PRIMARY KEY, v int NOT NULL CHECK (v = 424242));",
    )
    .await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let seeding = top_up(&mut conn, 3, &[]).await.unwrap();
    let odd = &seeding.tables[0];
    assert_eq!((odd.inserted, odd.dropped), (0, 3), "{odd:?}");
    assert!(odd.reasons[0].starts_with("23514: "), "{odd:?}");
    assert_eq!(count(&mut conn, "SELECT count(*) FROM odd").await, 0);
    conn.close().await.ok();
}
