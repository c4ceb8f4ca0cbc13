//! Snapshots of real databases: every object kind, canonical bytes, emptiness, read-only access.

use gate_schema::{BOOKKEEPING_TABLES, Snapshot, diff};
use gate_testdb::{TestDb, TestRole, admin_url, exec, with_db};

const EVERY_KIND: &str = r#"
CREATE EXTENSION pg_trgm;
CREATE SCHEMA app;
CREATE TYPE userrole AS ENUM ('user', 'admin', 'super_admin');
CREATE DOMAIN email AS text NOT NULL DEFAULT 'x@example.com' CHECK (VALUE LIKE '%@%');
CREATE TABLE orgs (id serial PRIMARY KEY, name text COLLATE "C" UNIQUE);
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id int REFERENCES orgs (id) ON DELETE CASCADE,
    email varchar(255) NOT NULL,
    role userrole DEFAULT 'user',
    upper_email text GENERATED ALWAYS AS (upper(email)) STORED,
    CONSTRAINT email_not_blank CHECK (email <> '')
);
CREATE INDEX ix_users_email ON users (email);
CREATE SEQUENCE app.ticket_no AS integer START 100 INCREMENT 5 MAXVALUE 100000 CYCLE;
CREATE VIEW active_users AS SELECT id, email FROM users WHERE role <> 'user';
CREATE MATERIALIZED VIEW user_counts AS SELECT org_id, count(*) AS n FROM users GROUP BY org_id;
CREATE INDEX ix_user_counts ON user_counts (org_id);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();
CREATE PROCEDURE app.archive(days int) LANGUAGE sql AS $$ SELECT 1 $$;
CREATE TABLE app.events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE app.events_2025 PARTITION OF app.events
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE EXTENSION btree_gist;
CREATE TABLE rooms (id int, during tstzrange,
    CONSTRAINT no_overlap EXCLUDE USING gist (id WITH =, during WITH &&));
CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY);
"#;

#[tokio::test]
async fn every_object_kind_is_captured() {
    let db = TestDb::new(EVERY_KIND).await;
    let s = Snapshot::capture(&db.url).await.expect("snapshot");

    assert_eq!(s.schemas.keys().collect::<Vec<_>>(), ["app", "public"]);
    assert_eq!(s.extensions["pg_trgm"].schema, "public");
    assert!(!s.extensions["pg_trgm"].version.is_empty());
    // Extension members are attributed to the extension, not listed one by one.
    assert!(
        !s.functions.keys().any(|f| f.contains("similarity")),
        "{:?}",
        s.functions.keys()
    );

    assert_eq!(
        s.enums["public.userrole"].labels,
        ["user", "admin", "super_admin"]
    );

    let users = &s.tables["public.users"];
    assert_eq!(users.kind, "table");
    let names: Vec<&str> = users.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "org_id", "email", "role", "upper_email"]);
    let col = |n: &str| users.columns.iter().find(|c| c.name == n).unwrap();
    assert_eq!(col("id").identity.as_deref(), Some("always"));
    assert!(col("id").not_null);
    assert_eq!(col("email").data_type, "character varying(255)");
    assert_eq!(col("role").data_type, "public.userrole");
    assert_eq!(
        col("role").default.as_deref(),
        Some("'user'::public.userrole")
    );
    assert_eq!(
        col("upper_email").generated.as_deref(),
        Some("upper((email)::text)")
    );
    assert_eq!(col("upper_email").default, None);
    assert_eq!(
        s.tables["public.orgs"].columns[1].collation.as_deref(),
        Some("C")
    );
    assert_eq!(col("email").collation, None);

    let con = &users.constraints;
    assert_eq!(con["users_pkey"].kind, "primary key");
    assert_eq!(con["users_org_id_fkey"].kind, "foreign key");
    assert_eq!(
        con["users_org_id_fkey"].definition,
        "FOREIGN KEY (org_id) REFERENCES public.orgs(id) ON DELETE CASCADE"
    );
    assert_eq!(con["email_not_blank"].kind, "check");
    assert_eq!(
        s.tables["public.orgs"].constraints["orgs_name_key"].kind,
        "unique"
    );
    assert_eq!(
        s.tables["public.rooms"].constraints["no_overlap"].kind,
        "exclusion"
    );

    assert_eq!(
        s.indexes["public.ix_users_email"].definition.as_deref(),
        Some("CREATE INDEX ix_users_email ON public.users USING btree (email)")
    );
    assert_eq!(s.indexes["public.ix_users_email"].constraint, None);
    // Indexes behind constraints name them; the constraint's definition describes them.
    let pkey = &s.indexes["public.users_pkey"];
    assert_eq!(
        (pkey.constraint.as_deref(), pkey.definition.as_deref()),
        (Some("users_pkey"), None)
    );
    assert_eq!(
        s.indexes["public.no_overlap"].constraint.as_deref(),
        Some("no_overlap")
    );
    assert_eq!(
        s.indexes["public.ix_user_counts"].table,
        "public.user_counts"
    );
    assert_eq!(s.indexes["public.users_pkey"].table, "public.users");

    let seq = &s.sequences["app.ticket_no"];
    assert_eq!(
        (
            seq.data_type.as_str(),
            seq.start,
            seq.increment,
            seq.max,
            seq.cycle
        ),
        ("integer", 100, 5, 100000, true)
    );
    assert_eq!(seq.owned_by, None);
    assert_eq!(
        s.sequences["public.orgs_id_seq"].owned_by.as_deref(),
        Some("public.orgs.id")
    );
    assert_eq!(
        s.sequences["public.users_id_seq"].owned_by.as_deref(),
        Some("public.users.id")
    );

    assert_eq!(s.views["public.active_users"].kind, "view");
    assert!(
        s.views["public.active_users"]
            .definition
            .contains("FROM public.users"),
        "{}",
        s.views["public.active_users"].definition
    );
    assert_eq!(s.views["public.user_counts"].kind, "materialized view");

    let touch = &s.functions["public.touch()"];
    assert_eq!(
        (
            touch.kind.as_str(),
            touch.result.as_deref(),
            touch.language.as_str()
        ),
        ("function", Some("trigger"), "plpgsql")
    );
    assert!(
        touch
            .definition
            .as_deref()
            .unwrap()
            .starts_with("CREATE OR REPLACE FUNCTION public.touch()")
    );
    let archive = &s.functions["app.archive(IN days integer)"];
    assert_eq!(
        (archive.kind.as_str(), archive.result.as_deref()),
        ("procedure", None)
    );

    let trg = &s.triggers["public.users.users_touch"];
    assert_eq!(trg.table, "public.users");
    assert_eq!(
        trg.definition,
        "CREATE TRIGGER users_touch BEFORE UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION public.touch()"
    );

    let dom = &s.domains["public.email"];
    assert_eq!((dom.data_type.as_str(), dom.not_null), ("text", true));
    assert_eq!(dom.default.as_deref(), Some("'x@example.com'::text"));
    assert_eq!(dom.checks["email_check"], "CHECK ((VALUE ~~ '%@%'::text))");

    let events = &s.tables["app.events"];
    assert_eq!(events.kind, "partitioned");
    assert_eq!(events.partition_key.as_deref(), Some("RANGE (at)"));
    let part = &s.tables["app.events_2025"];
    assert_eq!(part.partition_of.as_deref(), Some("app.events"));
    assert_eq!(
        part.partition_bound.as_deref(),
        Some("FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')")
    );

    // The runner's bookkeeping table is there, unless excluded.
    assert!(s.tables.contains_key("public.alembic_version"));
    assert!(s.indexes.contains_key("public.alembic_version_pkey"));
    let without = Snapshot::capture_excluding(&db.url, BOOKKEEPING_TABLES)
        .await
        .expect("snapshot");
    assert!(!without.tables.contains_key("public.alembic_version"));
    assert!(!without.indexes.contains_key("public.alembic_version_pkey"));
    assert_eq!(without.tables.len(), s.tables.len() - 1);
}

/// The same schema reached by different statement orders.
const ORDER_A: &str = r#"
CREATE TYPE status AS ENUM ('new', 'done');
CREATE TABLE projects (id int PRIMARY KEY, title text NOT NULL);
CREATE TABLE tasks (id int PRIMARY KEY, project_id int, status status DEFAULT 'new');
ALTER TABLE tasks ADD CONSTRAINT tasks_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id);
CREATE INDEX ix_tasks_project ON tasks (project_id);
CREATE INDEX ix_projects_title ON projects (title);
CREATE VIEW open_tasks AS SELECT id FROM tasks WHERE status = 'new';
"#;
const ORDER_B: &str = r#"
CREATE TABLE projects (id int, title text);
CREATE INDEX ix_projects_title ON projects (title);
ALTER TABLE projects ALTER COLUMN title SET NOT NULL;
ALTER TABLE projects ADD PRIMARY KEY (id);
CREATE TYPE status AS ENUM ('done');
ALTER TYPE status ADD VALUE 'new' BEFORE 'done';
-- commit
CREATE TABLE tasks (id int PRIMARY KEY, project_id int REFERENCES projects (id), status status);
ALTER TABLE tasks ALTER COLUMN status SET DEFAULT 'new';
CREATE VIEW open_tasks AS SELECT id FROM tasks WHERE status = 'new';
CREATE INDEX ix_tasks_project ON tasks (project_id);
CREATE TABLE scratch (x int);
DROP TABLE scratch;
"#;

#[tokio::test]
async fn canonical_json_is_byte_identical_for_the_same_schema() {
    let (a, b) = tokio::join!(TestDb::new(ORDER_A), TestDb::new(ORDER_B));
    let sa = Snapshot::capture(&a.url).await.expect("snapshot a");
    let sb = Snapshot::capture(&b.url).await.expect("snapshot b");
    let (ja, jb) = (sa.to_canonical_json(), sb.to_canonical_json());
    assert_eq!(ja, jb);
    assert!(ja.ends_with("}\n"));
    assert!(diff(&sa, &sb, "a", "b").is_empty());
    // A second capture of the same database is identical too, and the JSON round-trips.
    let again = Snapshot::capture(&a.url).await.expect("snapshot a again");
    assert_eq!(again.to_canonical_json(), ja);
    let parsed = Snapshot::from_json(&ja).expect("parse");
    assert_eq!(parsed, sa);
    assert_eq!(parsed.to_canonical_json(), ja);
    // Sequence positions are state, not schema: using one changes nothing.
    exec(
        &a.url,
        "CREATE SEQUENCE s; SELECT nextval('s'); SELECT nextval('s');",
    )
    .await;
    exec(&b.url, "CREATE SEQUENCE s;").await;
    let (sa, sb) = (
        Snapshot::capture(&a.url).await.unwrap(),
        Snapshot::capture(&b.url).await.unwrap(),
    );
    assert_eq!(sa.to_canonical_json(), sb.to_canonical_json());
}

#[tokio::test]
async fn a_different_schema_gives_different_json() {
    let changed = format!("{ORDER_A}\nALTER TYPE status ADD VALUE 'archived';");
    let (a, b) = tokio::join!(TestDb::new(ORDER_A), TestDb::new(&changed));
    let sa = Snapshot::capture(&a.url).await.unwrap();
    let sb = Snapshot::capture(&b.url).await.unwrap();
    assert_ne!(sa.to_canonical_json(), sb.to_canonical_json());
}

#[tokio::test]
async fn is_empty_after_dropping_everything_but_the_bookkeeping_table() {
    let db = TestDb::new(EVERY_KIND).await;
    let full = Snapshot::capture(&db.url).await.unwrap();
    assert!(!full.is_empty(BOOKKEEPING_TABLES));

    // What a complete `alembic downgrade base` leaves behind.
    exec(
        &db.url,
        "DROP SCHEMA app CASCADE; DROP MATERIALIZED VIEW user_counts; DROP VIEW active_users;
         DROP TABLE users, orgs, rooms; DROP FUNCTION touch(); DROP DOMAIN email;
         DROP TYPE userrole; DROP EXTENSION pg_trgm; DROP EXTENSION btree_gist;",
    )
    .await;
    let after = Snapshot::capture(&db.url).await.unwrap();
    assert!(after.is_empty(&["alembic_version"]), "{after:#?}");
    // The bookkeeping table is a user table after all when nobody says to ignore it.
    assert!(!after.is_empty(&[]));

    // Each leftover kind on its own makes the database non-empty.
    for (create, drop) in [
        ("CREATE TYPE t AS ENUM ('a')", "DROP TYPE t"),
        ("CREATE SEQUENCE s", "DROP SEQUENCE s"),
        ("CREATE SCHEMA other", "DROP SCHEMA other"),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "DROP FUNCTION f()",
        ),
        ("CREATE VIEW v AS SELECT 1 AS x", "DROP VIEW v"),
        ("CREATE DOMAIN d AS int", "DROP DOMAIN d"),
        ("CREATE EXTENSION pg_trgm", "DROP EXTENSION pg_trgm"),
        ("CREATE TABLE t2 (x int)", "DROP TABLE t2"),
    ] {
        exec(&db.url, create).await;
        let s = Snapshot::capture(&db.url).await.unwrap();
        assert!(!s.is_empty(&["alembic_version"]), "{create}");
        exec(&db.url, drop).await;
    }
    // An index or trigger on an ignored table belongs to the ignored table.
    exec(
        &db.url,
        "CREATE INDEX ix_leftover ON alembic_version (version_num);
         CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
         CREATE TRIGGER t BEFORE INSERT ON alembic_version FOR EACH ROW EXECUTE FUNCTION noop();",
    )
    .await;
    let s = Snapshot::capture(&db.url).await.unwrap();
    assert!(s.indexes.contains_key("public.ix_leftover"));
    assert_eq!(
        s.clone()
            .without_tables(&["public.alembic_version"])
            .triggers
            .len(),
        0
    );
    // ... but the trigger function is a user object of its own.
    assert!(!s.is_empty(&["alembic_version"]));
    exec(
        &db.url,
        "DROP TRIGGER t ON alembic_version; DROP FUNCTION noop();",
    )
    .await;
    assert!(
        Snapshot::capture(&db.url)
            .await
            .unwrap()
            .is_empty(&["alembic_version"])
    );
}

#[tokio::test]
async fn a_read_only_reference_with_a_select_only_role_snapshots() {
    let role = TestRole::new("gate_ro", "").await;
    let db = TestDb::new(EVERY_KIND).await;
    exec(
        &db.url,
        "CREATE TABLE sentinel (n int); INSERT INTO sentinel VALUES (1), (2), (3);",
    )
    .await;
    exec(
        &db.url,
        &format!(
            "GRANT CONNECT ON DATABASE {db} TO {role};
             GRANT USAGE ON SCHEMA public, app TO {role};
             GRANT SELECT ON ALL TABLES IN SCHEMA public, app TO {role};
             ALTER DATABASE {db} SET default_transaction_read_only = on;",
            db = db.name,
            role = role.name
        ),
    )
    .await;
    let checksum = "SELECT md5(string_agg(n::text, ',' ORDER BY n)) FROM sentinel";
    let before: String = scalar(&db.url, checksum).await;

    let ro = Snapshot::capture(&role.url(&db.url))
        .await
        .expect("a read-only, select-only role can take a snapshot");
    let full = Snapshot::capture(&db.url)
        .await
        .expect("superuser snapshot");
    let after: String = scalar(&db.url, checksum).await;

    // Catalog reads need no privileges beyond CONNECT: the role sees the same schema.
    assert_eq!(ro.to_canonical_json(), full.to_canonical_json());
    assert!(ro.tables.contains_key("public.sentinel"));
    assert_eq!(before, after, "the reference data changed");
}

async fn scalar(url: &str, sql: &'static str) -> String {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let v: (String,) = sqlx::query_as(sql).fetch_one(&mut c).await.unwrap();
    v.0
}

#[tokio::test]
async fn the_snapshot_transaction_is_read_only_and_leaves_nothing_behind() {
    use sqlx::{Connection, Row};
    let db = TestDb::new("CREATE TABLE sentinel (n int); INSERT INTO sentinel VALUES (7);").await;
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    // Make the session's own transactions writable to show the snapshot does not rely on it.
    sqlx::query("SET default_transaction_read_only = off")
        .execute(&mut c)
        .await
        .unwrap();
    let snap = Snapshot::capture_with(&mut c).await.expect("snapshot");
    assert!(snap.tables.contains_key("public.sentinel"));
    // The connection is back outside any transaction, with its own settings untouched.
    let row = sqlx::query(
        "SELECT current_setting('transaction_read_only'), current_setting('search_path'), \
         txid_current_if_assigned() IS NULL",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>(0), "off");
    assert_eq!(row.get::<String, _>(1), "\"$user\", public");
    assert!(row.get::<bool, _>(2));
    let n: (i32,) = sqlx::query_as("SELECT n FROM sentinel")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n.0, 7);
    c.close().await.ok();
}

#[tokio::test]
async fn connection_errors_name_the_problem_and_hide_the_password() {
    let err = Snapshot::capture("postgres://alice:s3cret-pw@127.0.0.1:1/prod")
        .await
        .expect_err("nothing listens on port 1");
    let msg = err.to_string();
    assert!(
        msg.contains("cannot connect to postgres://alice:***@127.0.0.1:1/prod"),
        "{msg}"
    );
    assert!(!msg.contains("s3cret-pw"), "{msg}");

    let err = Snapshot::capture("mysql://x@localhost/db")
        .await
        .expect_err("not postgres");
    assert!(err.to_string().contains("invalid database URL"), "{err}");

    // The test server offers TLS with a self-signed certificate (ci/test-postgres.sh):
    // sslmode=verify-full must refuse a certificate nobody vouches for rather than connect...
    let url = format!("{}?sslmode=verify-full", admin_url());
    let err = Snapshot::capture(&url)
        .await
        .expect_err("sslmode=verify-full against a self-signed certificate");
    assert!(err.to_string().contains("cannot connect"), "{err}");
    // ... while sslmode=require (encrypted, unverified) and disable work.
    for mode in ["require", "disable"] {
        let url = format!("{}?sslmode={mode}", with_db(&admin_url(), "postgres"));
        Snapshot::capture(&url).await.expect(mode);
    }
}

#[test]
fn from_json_rejects_garbage_and_unknown_formats() {
    assert!(matches!(
        Snapshot::from_json("{\"tables\": 3}"),
        Err(gate_schema::SchemaError::Json(_))
    ));
    let err = Snapshot::from_json("{\"format\": 99}").unwrap_err();
    assert!(err.to_string().contains("format 99"), "{err}");
    let empty = Snapshot::default().to_canonical_json();
    assert_eq!(Snapshot::from_json(&empty).unwrap(), Snapshot::default());
}

#[tokio::test]
async fn parallel_capture_matches_one_connection_and_falls_back_to_it() {
    use sqlx::Connection;
    let db = TestDb::new(EVERY_KIND).await;
    let parallel = Snapshot::capture(&db.url).await.expect("parallel snapshot");
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let single = Snapshot::capture_with(&mut c)
        .await
        .expect("one-connection snapshot");
    c.close().await.ok();
    assert_eq!(parallel.to_canonical_json(), single.to_canonical_json());

    // A role allowed one connection cannot open the helpers: the snapshot still works.
    let role = TestRole::new("gate_one", "CONNECTION LIMIT 1").await;
    let limited = Snapshot::capture(&role.url(&db.url))
        .await
        .expect("snapshot on one connection");
    assert_eq!(limited.to_canonical_json(), single.to_canonical_json());
}
