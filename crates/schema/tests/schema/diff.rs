//! `diff` on snapshots of real databases: one difference per object kind, worded exactly.

use gate_schema::{Snapshot, diff};
use gate_testdb::TestDb;

const COMMON: &str = r#"
CREATE TABLE users (id serial PRIMARY KEY, name text);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
"#;

/// What replaying the migrations produced.
const REPLAY: &str = r#"
CREATE SCHEMA reporting;
CREATE TYPE userrole AS ENUM ('user', 'admin');
CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');
ALTER TABLE users ADD COLUMN email varchar(255) NOT NULL;
ALTER TABLE users ADD COLUMN role userrole DEFAULT 'user';
CREATE INDEX ix_users_email ON users (email);
CREATE SEQUENCE invoice_no INCREMENT 1;
CREATE VIEW user_names AS SELECT name FROM users;
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();
CREATE FUNCTION greet(who text) RETURNS text LANGUAGE sql AS $$ SELECT 'hi ' || who $$;
"#;

/// What production looks like after emergency fixes.
const REFERENCE: &str = r#"
CREATE EXTENSION pg_trgm;
CREATE TYPE userrole AS ENUM ('user', 'admin', 'super_admin');
CREATE DOMAIN email AS text CHECK (VALUE LIKE '%_@_%');
ALTER TABLE users ADD COLUMN email text;
ALTER TABLE users ADD COLUMN role userrole DEFAULT 'admin';
ALTER TABLE users ADD COLUMN status text;
ALTER TABLE users ADD CONSTRAINT users_name_key UNIQUE (name);
CREATE SEQUENCE invoice_no INCREMENT 10;
CREATE VIEW user_names AS SELECT upper(name) AS name FROM users;
CREATE FUNCTION greet(who text) RETURNS text LANGUAGE sql AS $$ SELECT 'hello ' || who $$;
CREATE PROCEDURE cleanup() LANGUAGE sql AS $$ SELECT 1 $$;
"#;

async fn snapshots(a: &str, b: &str) -> (Snapshot, Snapshot) {
    let (ddl_a, ddl_b) = (format!("{COMMON}{a}"), format!("{COMMON}{b}"));
    let (da, db) = tokio::join!(TestDb::new(&ddl_a), TestDb::new(&ddl_b));
    let (sa, sb) = tokio::join!(Snapshot::capture(&da.url), Snapshot::capture(&db.url));
    (sa.expect("snapshot a"), sb.expect("snapshot b"))
}

fn lines(a: &Snapshot, b: &Snapshot) -> Vec<String> {
    diff(a, b, "replay", "reference")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[tokio::test]
async fn every_kind_of_difference_reads_as_a_sentence() {
    let (replay, reference) = snapshots(REPLAY, REFERENCE).await;
    let got = lines(&replay, &reference);
    let expected = [
        "column public.users.email: not null in replay, nullable in reference",
        "column public.users.email: type character varying(255) in replay, text in reference",
        "column public.users.role: default `'user'::public.userrole` in replay, `'admin'::public.userrole` in reference",
        "domain public.email: check email_check `CHECK ((VALUE ~~ '%@%'::text))` in replay, `CHECK ((VALUE ~~ '%_@_%'::text))` in reference",
        "enum public.userrole: label 'super_admin' only in reference",
        "extension pg_trgm: only in reference",
        "function public.cleanup(): only in reference",
        "function public.greet(who text): definition differs at line 4: `AS $function$ SELECT 'hi ' || who $function$` in replay, `AS $function$ SELECT 'hello ' || who $function$` in reference",
        "index public.ix_users_email: only in replay",
        "index public.users_name_key: only in reference",
        "schema reporting: only in replay",
        "sequence public.invoice_no: increment 1 in replay, 10 in reference",
        "table public.users: column status only in reference",
        "table public.users: constraint users_name_key only in reference",
        "trigger public.users.users_touch: only in replay",
        "view public.user_names: definition differs at line 1: `SELECT users.name` in replay, `SELECT upper(users.name) AS name` in reference",
    ];
    assert_eq!(got, expected, "\n{}", got.join("\n"));

    // Swapping the sides swaps the wording, nothing else.
    let back = diff(&reference, &replay, "reference", "replay");
    assert_eq!(back.len(), got.len());
    assert!(
        back.iter()
            .any(|d| d.to_string() == "schema reporting: only in replay")
    );
    // A snapshot never differs from itself.
    assert!(diff(&replay, &replay, "a", "b").is_empty());
}

#[tokio::test]
async fn enum_labels_in_a_different_order_are_a_difference() {
    let (a, b) = snapshots(
        "CREATE TYPE userrole AS ENUM ('user', 'admin');",
        "CREATE TYPE userrole AS ENUM ('admin', 'user');",
    )
    .await;
    assert_eq!(
        lines(&a, &b),
        [
            "enum public.userrole: labels in different order: [user, admin] in replay, [admin, user] in reference"
        ]
    );

    // A missing label and a reordering are both reported.
    let (a, b) = snapshots(
        "CREATE TYPE userrole AS ENUM ('user', 'admin', 'guest');",
        "CREATE TYPE userrole AS ENUM ('admin', 'user');",
    )
    .await;
    assert_eq!(
        lines(&a, &b),
        [
            "enum public.userrole: label 'guest' only in replay",
            "enum public.userrole: labels in different order: [user, admin, guest] in replay, [admin, user] in reference",
        ]
    );
}

#[tokio::test]
async fn column_order_alone_is_not_a_difference_but_attributes_are() {
    let (a, b) = snapshots(
        "CREATE TABLE t (a int, b text);",
        "CREATE TABLE t (b text, a int GENERATED BY DEFAULT AS IDENTITY);",
    )
    .await;
    assert_eq!(
        lines(&a, &b),
        [
            "column public.t.a: identity none in replay, by default in reference",
            "column public.t.a: nullable in replay, not null in reference",
            "sequence public.t_a_seq: only in reference",
        ]
    );
}

#[tokio::test]
async fn tables_and_constraints_present_on_one_side_only() {
    let (a, b) = snapshots(
        "CREATE TABLE orgs (id int PRIMARY KEY);
         ALTER TABLE users ADD COLUMN org_id int REFERENCES orgs (id);",
        "CREATE TABLE orgs (id int PRIMARY KEY);
         ALTER TABLE users ADD COLUMN org_id int REFERENCES orgs (id) ON DELETE CASCADE;
         CREATE TABLE audit (at timestamptz NOT NULL) PARTITION BY RANGE (at);",
    )
    .await;
    assert_eq!(
        lines(&a, &b),
        [
            "constraint public.users.users_org_id_fkey: definition `FOREIGN KEY (org_id) REFERENCES public.orgs(id)` in replay, `FOREIGN KEY (org_id) REFERENCES public.orgs(id) ON DELETE CASCADE` in reference",
            "table public.audit: only in reference",
        ]
    );
}

#[tokio::test]
async fn trigger_state_view_kind_and_sequence_owner() {
    let (a, b) = snapshots(
        "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();
         CREATE VIEW names AS SELECT name FROM users;
         CREATE SEQUENCE counter OWNED BY users.id;",
        "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();
         ALTER TABLE users DISABLE TRIGGER users_touch;
         CREATE MATERIALIZED VIEW names AS SELECT name FROM users;
         CREATE SEQUENCE counter;",
    )
    .await;
    assert_eq!(
        lines(&a, &b),
        [
            "sequence public.counter: owned by public.users.id in replay, none in reference",
            "trigger public.users.users_touch: state enabled in replay, disabled in reference",
            "view public.names: kind view in replay, materialized view in reference",
        ]
    );
}
