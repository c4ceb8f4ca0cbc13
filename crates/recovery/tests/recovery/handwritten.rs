//! Hand-written pairs: each difference kind on its own, and the crisis's emergency fixes.

use crate::common::{plan_of, round_trip};

const USERS: &str = "
CREATE TYPE userrole AS ENUM ('user', 'admin');
CREATE TABLE users (
    id serial PRIMARY KEY,
    email varchar(255) NOT NULL,
    role userrole NOT NULL DEFAULT 'user',
    nickname varchar(50),
    age integer
);
CREATE UNIQUE INDEX ix_users_email ON users (email);
";

#[tokio::test]
async fn the_crisis_fixes_table_enum_label_column_index() {
    let to = format!(
        "{USERS}
ALTER TYPE userrole ADD VALUE 'super_admin';
CREATE TABLE admin_permissions (
    id serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission text NOT NULL,
    CONSTRAINT admin_permissions_uq UNIQUE (user_id, permission)
);
ALTER TABLE users ADD COLUMN last_login timestamptz;
CREATE INDEX ix_users_last_login ON users (last_login DESC NULLS LAST);
"
    );
    let p = round_trip(USERS, &to).await;
    let up = p.upgrade_sql();
    assert!(
        up.contains("ADD VALUE IF NOT EXISTS 'super_admin' AFTER 'admin'"),
        "{up}"
    );
    assert!(
        up.contains("CREATE TABLE IF NOT EXISTS \"public\".\"admin_permissions\""),
        "{up}"
    );
    assert!(
        up.contains("ADD COLUMN IF NOT EXISTS \"last_login\""),
        "{up}"
    );
    assert!(
        up.contains("CREATE INDEX IF NOT EXISTS ix_users_last_login"),
        "{up}"
    );
}

#[tokio::test]
async fn enum_labels_land_in_the_order_of_to() {
    let from = "CREATE TYPE mood AS ENUM ('b', 'd');
                CREATE TABLE t (id int PRIMARY KEY, m mood DEFAULT 'b');";
    let to = "CREATE TYPE mood AS ENUM ('a', 'b', 'c', 'd', 'e', 'f');
              CREATE TABLE t (id int PRIMARY KEY, m mood DEFAULT 'b');";
    // The downgrade removes labels: the type is made again, the column moved over.
    round_trip(from, to).await;
}

#[tokio::test]
async fn enum_labels_removed_and_reordered_remake_the_type() {
    let from = "CREATE TYPE state AS ENUM ('new', 'old', 'gone');
                CREATE TABLE jobs (id int PRIMARY KEY, s state NOT NULL DEFAULT 'gone', t state);
                CREATE INDEX ix_jobs_s ON jobs (s);
                CREATE VIEW job_states AS SELECT id, s FROM jobs;";
    let to = "CREATE TYPE state AS ENUM ('old', 'new', 'fresh');
              CREATE TABLE jobs (id int PRIMARY KEY, s state NOT NULL DEFAULT 'new', t state);
              CREATE INDEX ix_jobs_s ON jobs (s);
              CREATE VIEW job_states AS SELECT id, s FROM jobs;";
    round_trip(from, to).await;
}

#[tokio::test]
async fn new_and_dropped_enums_and_their_columns() {
    let from = "CREATE TYPE old_kind AS ENUM ('x');
                CREATE TABLE t (id int PRIMARY KEY, k old_kind);";
    let to = "CREATE TYPE new_kind AS ENUM ('p', 'q');
              CREATE TABLE t (id int PRIMARY KEY, n new_kind DEFAULT 'q');";
    round_trip(from, to).await;
}

#[tokio::test]
async fn columns_change_type_nullability_and_default() {
    let to = "
CREATE TYPE userrole AS ENUM ('user', 'admin');
CREATE TABLE users (
    id serial PRIMARY KEY,
    email text NOT NULL,
    role userrole NOT NULL DEFAULT 'admin',
    nickname varchar(80) NOT NULL DEFAULT 'anon',
    age bigint DEFAULT 18
);
CREATE UNIQUE INDEX ix_users_email ON users (email);
";
    round_trip(USERS, to).await;
}

#[tokio::test]
async fn enum_column_becomes_text_and_back() {
    let from = "CREATE TYPE color AS ENUM ('red', 'blue');
                CREATE TABLE paint (id int PRIMARY KEY, c color DEFAULT 'red');";
    let to = "CREATE TYPE color AS ENUM ('red', 'blue');
              CREATE TABLE paint (id int PRIMARY KEY, c text DEFAULT 'blue');";
    round_trip(from, to).await;
}

#[tokio::test]
async fn constraints_added_changed_and_dropped() {
    let from = "
CREATE TABLE orgs (id int PRIMARY KEY, code text, CONSTRAINT orgs_code_key UNIQUE (code));
CREATE TABLE members (
    id int PRIMARY KEY, org_id int, score int,
    CONSTRAINT members_score_check CHECK (score >= 0)
);";
    let to = "
CREATE TABLE orgs (id int PRIMARY KEY, code text);
CREATE TABLE members (
    id int PRIMARY KEY, org_id int, score int,
    CONSTRAINT members_score_check CHECK (score >= 0 AND score <= 100),
    CONSTRAINT members_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE SET NULL,
    CONSTRAINT members_org_score_key UNIQUE (org_id, score)
);";
    round_trip(from, to).await;
}

#[tokio::test]
async fn tables_that_refer_to_each_other_come_and_go() {
    let from = "CREATE TABLE keep (id int PRIMARY KEY);";
    let to = "
CREATE TABLE keep (id int PRIMARY KEY);
CREATE TABLE a (id int PRIMARY KEY, b_id int);
CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a (id), keep_id int REFERENCES keep (id));
ALTER TABLE a ADD CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES b (id);";
    round_trip(from, to).await;
}

#[tokio::test]
async fn indexes_added_changed_and_dropped() {
    let from = "CREATE TABLE t (id int PRIMARY KEY, a int, b text, c int);
                CREATE INDEX ix_t_a ON t (a);
                CREATE INDEX ix_t_c ON t (c);";
    let to = "CREATE TABLE t (id int PRIMARY KEY, a int, b text, c int);
              CREATE INDEX ix_t_a ON t (a, b);
              CREATE UNIQUE INDEX ix_t_b ON t (lower(b)) WHERE c > 0;";
    round_trip(from, to).await;
}

#[tokio::test]
async fn sequences_serial_and_identity_columns() {
    let from = "CREATE SEQUENCE counter INCREMENT BY 1;
                CREATE TABLE t (id int PRIMARY KEY);";
    let to = "CREATE SEQUENCE counter INCREMENT BY 5 MINVALUE 10 START WITH 10 CACHE 3 CYCLE;
              CREATE SEQUENCE spare AS smallint;
              CREATE TABLE t (id int PRIMARY KEY, n serial, g bigint GENERATED ALWAYS AS IDENTITY);
              CREATE TABLE u (id bigint GENERATED BY DEFAULT AS IDENTITY (START WITH 100) PRIMARY KEY);";
    round_trip(from, to).await;
}

#[tokio::test]
async fn views_on_views_and_columns_changing_under_them() {
    let from = "
CREATE TABLE t (id int PRIMARY KEY, amount int, note varchar(20));
CREATE VIEW v1 AS SELECT id, amount, note FROM t;
CREATE VIEW v2 AS SELECT id, amount FROM v1 WHERE amount > 0;
CREATE MATERIALIZED VIEW m AS SELECT id, note FROM t;
CREATE INDEX ix_m_note ON m (note);";
    let to = "
CREATE TABLE t (id int PRIMARY KEY, amount bigint, note text);
CREATE VIEW v1 AS SELECT id, amount, note FROM t;
CREATE VIEW v2 AS SELECT id, amount FROM v1 WHERE amount > 10;
CREATE VIEW v3 AS SELECT count(*) AS n FROM v2;
CREATE MATERIALIZED VIEW m AS SELECT id, note FROM t;
CREATE INDEX ix_m_note ON m (note);";
    round_trip(from, to).await;
}

#[tokio::test]
async fn functions_and_triggers() {
    let from = "
CREATE TABLE t (id int PRIMARY KEY, touched timestamptz);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.touched := now(); RETURN NEW; END $$;
CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();
CREATE FUNCTION old_helper(a int) RETURNS int LANGUAGE sql AS 'SELECT a + 1';";
    let to = "
CREATE TABLE t (id int PRIMARY KEY, touched timestamptz);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.touched := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER t_touch BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();
CREATE TRIGGER t_touch2 BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE t DISABLE TRIGGER t_touch2;
CREATE FUNCTION add(a int, b int DEFAULT 1) RETURNS int LANGUAGE sql IMMUTABLE AS $body$ SELECT a + b $body$;
CREATE PROCEDURE noop() LANGUAGE plpgsql AS $$ BEGIN END $$;";
    round_trip(from, to).await;
}

#[tokio::test]
async fn domains_created_altered_and_dropped() {
    let from = "
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE DOMAIN gone AS text;
CREATE TABLE t (id int PRIMARY KEY, p positive);";
    let to = "
CREATE DOMAIN positive AS int DEFAULT 1 NOT NULL CONSTRAINT positive_check CHECK (VALUE > 1) CONSTRAINT small CHECK (VALUE < 1000);
CREATE DOMAIN email AS text COLLATE \"C\" CHECK (VALUE LIKE '%@%');
CREATE TABLE t (id int PRIMARY KEY, p positive, e email);";
    round_trip(from, to).await;
}

#[tokio::test]
async fn schemas_and_names_that_need_quoting() {
    let from = "CREATE TABLE plain (id int PRIMARY KEY);";
    let to = r#"
CREATE TABLE plain (id int PRIMARY KEY, "Select" text, "with ""quote""" int);
CREATE SCHEMA "Audit Trail";
CREATE TYPE "Audit Trail"."Level" AS ENUM ('Low', 'it''s high');
CREATE TABLE "Audit Trail"."Weird ""Name""" (
    "ID" int PRIMARY KEY,
    "Level" "Audit Trail"."Level" DEFAULT 'it''s high',
    note text CONSTRAINT "note: no colon" CHECK (note NOT LIKE '%:x%' AND note <> '$$')
);
CREATE INDEX "Ix Upper" ON "Audit Trail"."Weird ""Name""" ("Level");"#;
    round_trip(from, to).await;
}

#[tokio::test]
async fn partitioned_tables() {
    let from = "CREATE TABLE keep (id int PRIMARY KEY);";
    let to = "
CREATE TABLE keep (id int PRIMARY KEY);
CREATE TABLE events (id int NOT NULL, at date NOT NULL, payload text) PARTITION BY RANGE (at);
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE events_rest PARTITION OF events DEFAULT;";
    round_trip(from, to).await;
}

#[tokio::test]
async fn what_cannot_be_expressed_is_left_over_and_named() {
    let from = "
CREATE TYPE k AS ENUM ('a', 'b');
CREATE TABLE t (id int PRIMARY KEY, d date, k k, CONSTRAINT t_k_check CHECK (k <> 'b'::k));
CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';";
    let to = "
CREATE TYPE k AS ENUM ('a');
CREATE TABLE t (id int PRIMARY KEY, d integer, k k, CONSTRAINT t_k_check CHECK (k <> 'a'::k));
CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT 1::text';";
    let p = plan_of(from, to).await;
    let left: Vec<String> = p
        .left
        .iter()
        .map(|l| format!("{}: {}", l.object, l.reason))
        .collect();
    let has = |object: &str, words: &str| {
        left.iter()
            .any(|l| l.starts_with(&format!("{object}: upgrade: ")) && l.contains(words))
    };
    assert!(has("column public.t.d", "no cast"), "{left:#?}");
    assert!(
        has("enum public.k", "constraint public.t.t_k_check uses it"),
        "{left:#?}"
    );
    assert!(has("function public.f()", "result changes"), "{left:#?}");
    // Nothing is written for what is left over.
    let up = p.upgrade_sql();
    assert!(!up.contains("\"d\" TYPE"), "{up}");
    assert!(!up.contains("CREATE TYPE \"public\".\"k\""), "{up}");
    assert!(!up.contains("FUNCTION public.f()"), "{up}");
}

#[tokio::test]
async fn identities_added_switched_and_dropped() {
    let from = "CREATE TABLE t (
        a int NOT NULL,
        b int GENERATED ALWAYS AS IDENTITY,
        c int GENERATED ALWAYS AS IDENTITY (INCREMENT BY 2)
    );";
    let to = "CREATE TABLE t (
        a int GENERATED BY DEFAULT AS IDENTITY (START WITH 50),
        b int GENERATED BY DEFAULT AS IDENTITY,
        c int NOT NULL
    );";
    round_trip(from, to).await;
}

#[tokio::test]
async fn extensions_and_their_types_in_columns() {
    let from = "CREATE TABLE t (id int PRIMARY KEY, name text);";
    let to = "CREATE EXTENSION citext;
              CREATE EXTENSION pg_trgm;
              CREATE TABLE t (id int PRIMARY KEY, name text, email public.citext);
              CREATE INDEX ix_t_name_trgm ON t USING gin (name gin_trgm_ops);";
    round_trip(from, to).await;
}

#[tokio::test]
async fn a_view_that_becomes_materialized() {
    let from = "CREATE TABLE t (id int PRIMARY KEY, n int);
                CREATE VIEW totals AS SELECT sum(n) AS total FROM t;";
    let to = "CREATE TABLE t (id int PRIMARY KEY, n int);
              CREATE MATERIALIZED VIEW totals AS SELECT sum(n) AS total FROM t;
              CREATE UNIQUE INDEX ix_totals ON totals (total);";
    round_trip(from, to).await;
}

#[tokio::test]
async fn an_aggregate_cannot_be_written_and_says_so() {
    let from = "CREATE TABLE t (id int PRIMARY KEY);";
    let to = "CREATE TABLE t (id int PRIMARY KEY);
              CREATE AGGREGATE total(int) (SFUNC = int4pl, STYPE = int, INITCOND = '0');";
    let p = plan_of(from, to).await;
    assert_eq!(p.left.len(), 1, "{:#?}", p.left);
    assert_eq!(p.left[0].object, "function public.total(integer)");
    assert!(
        p.left[0]
            .reason
            .starts_with("upgrade: the aggregate has no definition"),
        "{:#?}",
        p.left
    );
    // The downgrade can drop it: dropping needs no definition.
    assert!(
        p.downgrade_sql()
            .contains("DROP AGGREGATE IF EXISTS \"public\".\"total\"(integer);"),
        "{}",
        p.downgrade_sql()
    );
}

#[tokio::test]
async fn serial_becomes_identity_under_the_same_sequence_name() {
    let from = "CREATE TABLE t (id serial PRIMARY KEY, n int);
                CREATE TABLE u (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);";
    let to = "CREATE TABLE t (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n int);
              CREATE TABLE u (id serial PRIMARY KEY);";
    round_trip(from, to).await;
}
