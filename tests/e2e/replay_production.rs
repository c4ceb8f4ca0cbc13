//! `gate-replay production` on a real Alembic chain and a real PostgreSQL (url backend): the
//! production path with a fix that makes a later migration fail (F003, stamped and continued),
//! the statements the fix really ran (captured by the server), and attribution against a
//! `pg_dump --schema-only` of a production built by hand with plain Alembic and psql (F007).

use crate::support::alembic::*;
use crate::support::db::*;
use crate::support::replay::*;
use crate::support::run::*;
use crate::support::*;
use std::path::Path;
use std::process::Command;

const R1: &str = "aaaa00000001";
const R2: &str = "aaaa00000002";
const R3: &str = "aaaa00000003";
const FIX: &str = "fixes/emergency_audit.sql";
const FIX_SQL: &str = "CREATE TABLE audit_log (id serial PRIMARY KEY, note text);\nCREATE INDEX ix_users_email ON users (email);\nINSERT INTO users (email) VALUES ('ops@example.com');\n";

/// A repository with a three-revision Alembic chain (users; audit_log; orders) and one
/// registered fix that production ran after the first revision: it created audit_log, so
/// the second revision fails on production.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let crisis = workspace_root().join("examples/crisis");
    std::fs::copy(crisis.join("alembic.ini"), root.join("alembic.ini")).unwrap();
    write(
        root,
        "alembic/env.py",
        &std::fs::read_to_string(crisis.join("alembic/env.py")).unwrap(),
    );
    let migration = |rev: &str, parent: &str, sql: &str, down: &str| {
        let parent = if parent.is_empty() {
            "None".to_string()
        } else {
            format!("'{parent}'")
        };
        alembic_migration(
            rev,
            "PARENT",
            &format!("op.execute(\"{sql}\")"),
            &format!("op.execute(\"{down}\")"),
        )
        .replace("'PARENT'", &parent)
    };
    write(
        root,
        &format!("alembic/versions/{R1}_users.py"),
        &migration(
            R1,
            "",
            "CREATE TABLE users (id serial PRIMARY KEY, email text)",
            "DROP TABLE users",
        ),
    );
    write(
        root,
        &format!("alembic/versions/{R2}_audit_log.py"),
        &migration(
            R2,
            R1,
            "CREATE TABLE audit_log (id serial PRIMARY KEY, note text)",
            "DROP TABLE audit_log",
        ),
    );
    write(
        root,
        &format!("alembic/versions/{R3}_orders.py"),
        &migration(
            R3,
            R2,
            "CREATE TABLE orders (id serial PRIMARY KEY, user_id integer REFERENCES users (id))",
            "DROP TABLE orders",
        ),
    );
    write(root, FIX, FIX_SQL);
    write(
        root,
        "policy.toml",
        &format!(
            "version = 1\n\n[migrations]\nkind = \"alembic\"\npath = \"alembic/versions\"\nconfig = \"alembic.ini\"\n\n\
             [emergency]\nscope = [\"fixes\"]\n\n[replay]\nbackend = \"url\"\npython = \"python3\"\n\n\
             [[emergency.script]]\npath = \"{FIX}\"\nstatus = \"active\"\napplied-after = \"{R1}\"\n\
             applied-on = 2025-09-21\nrun = \"psql -X -q -v ON_ERROR_STOP=1 -f {FIX}\"\n"
        ),
    );
    crate::support::repo::git_in(root, &["init", "-q", "."]);
    dir
}

fn production(repo: &Path, extra: &[&str]) -> Run {
    let url = server_url();
    let mut args = vec![
        "production",
        "--backend",
        "url",
        "--database-url",
        url.as_str(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    replay(repo, &args)
}

/// A database on the test server, dropped when the test ends.
struct Database {
    name: String,
}

impl Database {
    fn new(tag: &str) -> Self {
        let name = format!("gate_prodtest_{tag}_{}", std::process::id());
        psql(&server_url(), &format!("DROP DATABASE IF EXISTS {name}"));
        psql(&server_url(), &format!("CREATE DATABASE {name}"));
        Database { name }
    }

    fn url(&self) -> String {
        url_for(&self.name)
    }

    /// plain `alembic ARGS` against this database, as production ran it.
    fn alembic(&self, repo: &Path, args: &[&str]) -> std::process::Output {
        let sqlalchemy = self.url().replacen("postgres://", "postgresql://", 1);
        Command::new("python3")
            .args(["-m", "alembic", "-c", "alembic.ini"])
            .args(args)
            .current_dir(repo)
            .env("DATABASE_URL", sqlalchemy)
            .output()
            .expect("run alembic")
    }

    fn dump(&self, to: &Path) {
        let out = Command::new("pg_dump")
            .args(["--schema-only", "--no-owner", "-d", &self.url(), "-f"])
            .arg(to)
            .output()
            .expect("run pg_dump");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-X", "-q", "-d", &server_url(), "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// Production built by hand with plain Alembic and psql, the way it happened: r1, the fix,
/// r2 fails (audit_log exists), someone stamps r2, r3.
fn production_by_hand(repo: &Path, db: &Database) {
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    ok(db.alembic(repo, &["upgrade", R1]));
    psql(&db.url(), FIX_SQL);
    let failed = db.alembic(repo, &["upgrade", R2]);
    assert!(!failed.status.success(), "r2 must fail after the fix");
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    ok(db.alembic(repo, &["stamp", R2]));
    ok(db.alembic(repo, &["upgrade", "head"]));
}

fn catalog_tables(url: &str) -> String {
    psql(
        url,
        "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')",
    )
}

#[test]
fn a_fix_that_breaks_a_later_migration_is_f003_and_the_path_goes_on() {
    let repo = repo();
    let out = repo.path().join("production.json");
    let run = production(repo.path(), &["--snapshot-out", out.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(run.json_codes(), vec!["F003"], "{}", run.stdout);
    let f003 = &run.findings("F003")[0];
    assert_eq!(f003["path"], format!("alembic/versions/{R2}_audit_log.py"));
    let msg = f003["message"].as_str().unwrap();
    assert!(msg.contains(FIX) && msg.contains(R2), "{msg}");
    assert!(msg.contains("42P07") && msg.contains("audit_log"), "{msg}");

    // The path as a section: step, kind, result.
    let json = run.json();
    let section = json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Production path")
        .expect("a Production path section");
    let steps = section["data"]["steps"].as_array().unwrap();
    let kinds: Vec<String> = steps
        .iter()
        .map(|s| {
            format!(
                "{}:{}",
                s["kind"].as_str().unwrap(),
                s["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            format!("migration:{R1}"),
            format!("fix:{FIX}"),
            format!("migration:{R2}"),
            format!("migration:{R3}"),
        ]
    );
    assert_eq!(steps[0]["result"], "applied");
    // audit_log, its sequence and primary key, and the index: the capture's own schema is
    // not counted as the fix's doing.
    assert_eq!(steps[1]["result"], "applied: 4 schema change(s)");
    assert!(
        steps[2]["result"]
            .as_str()
            .unwrap()
            .contains("stamped as applied"),
        "{}",
        steps[2]
    );
    assert_eq!(steps[3]["result"], "applied");

    // The statements the fix really ran, as the server saw them.
    let captured = steps[1]["captured"]
        .as_array()
        .expect("captured statements");
    let seen: Vec<String> = captured
        .iter()
        .flat_map(|s| s["commands"].as_array().unwrap().clone())
        .map(|c| {
            format!(
                "{} {}",
                c["tag"].as_str().unwrap(),
                c["identity"].as_str().unwrap()
            )
        })
        .collect();
    for expected in [
        "CREATE TABLE public.audit_log",
        "CREATE INDEX public.ix_users_email",
        "INSERT public.users",
    ] {
        assert!(seen.iter().any(|s| s == expected), "{seen:?}");
    }
    assert!(
        captured.iter().any(|s| s["query"]
            .as_str()
            .unwrap()
            .starts_with("INSERT INTO users (email) VALUES ('ops@example.com')")),
        "{captured:?}"
    );
    assert!(
        captured[0]["query"]
            .as_str()
            .unwrap()
            .starts_with("CREATE TABLE audit_log"),
        "{}",
        captured[0]
    );

    // The schema the tool wrote holds the fix's objects and the later migration's table, and
    // is what plain Alembic and psql give when production is built by hand.
    let snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for table in ["public.users", "public.audit_log", "public.orders"] {
        assert!(snapshot["tables"][table].is_object(), "{table} missing");
    }
    assert!(snapshot["indexes"]["public.ix_users_email"].is_object());
    assert!(
        snapshot["schemas"]["gate_capture"].is_null(),
        "{}",
        snapshot["schemas"]
    );
    let by_hand = Database::new("path");
    production_by_hand(repo.path(), &by_hand);
    assert_eq!(
        catalog_tables(&by_hand.url()),
        "alembic_version,alembic_version_pkc,audit_log,audit_log_pkey,ix_users_email,orders,orders_pkey,users,users_pkey"
    );
    assert_eq!(
        psql(&by_hand.url(), "SELECT version_num FROM alembic_version"),
        R3
    );
    let snapshot_tables: Vec<&str> = snapshot["tables"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        snapshot_tables,
        [
            "public.alembic_version",
            "public.audit_log",
            "public.orders",
            "public.users"
        ]
    );
}

#[test]
fn a_manual_patch_nobody_registered_is_exactly_one_f007() {
    let repo = repo();
    let prod = Database::new("prod");
    production_by_hand(repo.path(), &prod);

    // The dump of the production path itself: nothing to explain.
    let dump = repo.path().join("prod.sql");
    prod.dump(&dump);
    let run = production(repo.path(), &["--reference-dump", dump.to_str().unwrap()]);
    assert_eq!(run.json_codes(), vec!["F003"], "{}", run.all());

    // Someone patched production by hand.
    psql(&prod.url(), "ALTER TABLE users ADD COLUMN nickname text");
    prod.dump(&dump);
    let run = production(repo.path(), &["--reference-dump", dump.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.all());
    let f007 = run.findings("F007");
    assert_eq!(f007.len(), 1, "{}", run.stdout);
    let msg = f007[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("public.users") && msg.contains("column nickname"),
        "{msg}"
    );
    assert_eq!(f007[0]["path"], dump.display().to_string());

    // A difference on an object the fix touched names the fix instead: production lacks the
    // fix's index (dropped by hand later), which the path has.
    psql(&prod.url(), "DROP INDEX ix_users_email");
    prod.dump(&dump);
    let run = production(repo.path(), &["--reference-dump", dump.to_str().unwrap()]);
    assert_eq!(run.findings("F007").len(), 1, "{}", run.stdout);
    let json = run.json();
    let attribution = json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Attribution against the reference dump")
        .expect("an attribution section");
    let diffs = attribution["data"]["differences"].as_array().unwrap();
    assert_eq!(diffs.len(), 2, "{attribution}");
    let index = diffs
        .iter()
        .find(|d| d["difference"]["object"] == "index public.ix_users_email")
        .expect("the index difference");
    assert_eq!(index["fixes"], serde_json::json!([FIX]));
}

/// A login role without superuser (it may create databases), dropped when the test ends.
struct Role {
    name: String,
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-X", "-q", "-d", &server_url(), "-c"])
            .arg(format!("DROP ROLE IF EXISTS {}", self.name))
            .output();
    }
}

#[test]
fn without_a_superuser_the_capture_says_it_is_unavailable_and_the_path_still_runs() {
    let repo = repo();
    let role = Role {
        name: format!("gate_prodtest_plain_{}", std::process::id()),
    };
    psql(
        &server_url(),
        &format!("CREATE ROLE {} LOGIN CREATEDB", role.name),
    );
    let base = server_url();
    let (scheme, rest) = base.split_once("://").unwrap();
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    let url = format!("{scheme}://{}@{host}", role.name);
    let run = replay(
        repo.path(),
        &[
            "production",
            "--backend",
            "url",
            "--database-url",
            &url,
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(run.json_codes(), vec!["F003"], "{}", run.stdout);
    let json = run.json();
    let steps = &json["sections"][0]["data"]["steps"];
    assert_eq!(steps[1]["kind"], "fix");
    assert!(steps[1]["captured"].is_null(), "{}", steps[1]);
    let why = steps[1]["capture_unavailable"].as_str().unwrap();
    assert!(why.contains("permission denied"), "{why}");
    // Nothing of the capture is left behind for the fix or the schema to see.
    assert_eq!(steps[1]["result"], "applied: 4 schema change(s)");
}

/// The migrations between two fixes run as one batch; here the fix created `orders`, so the
/// batch r2..r3 fails at its second revision. The path must still apply r2 (Alembic rolled
/// the whole batch back), report F003 at r3 only and stamp it: the same verdicts and schema as
/// plain Alembic revision by revision.
#[test]
fn a_conflict_inside_a_batch_of_migrations_keeps_the_revisions_before_it() {
    let repo = repo();
    let fix_sql =
        "CREATE TABLE orders (id serial PRIMARY KEY, user_id integer REFERENCES users (id));\n";
    write(repo.path(), FIX, fix_sql);
    let out = repo.path().join("production.json");
    let run = production(repo.path(), &["--snapshot-out", out.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(run.json_codes(), vec!["F003"], "{}", run.stdout);
    let f003 = &run.findings("F003")[0];
    assert_eq!(f003["path"], format!("alembic/versions/{R3}_orders.py"));
    let msg = f003["message"].as_str().unwrap();
    assert!(msg.contains(R3) && msg.contains("42P07"), "{msg}");
    let json = run.json();
    let steps = json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Production path")
        .expect("a Production path section")["data"]["steps"]
        .as_array()
        .unwrap()
        .clone();
    let results: Vec<&str> = steps
        .iter()
        .map(|s| s["result"].as_str().unwrap())
        .collect();
    assert_eq!(results[2], "applied", "{results:?}");
    assert!(results[3].contains("stamped as applied"), "{results:?}");

    // Plain Alembic, revision by revision, as production ran it.
    let db = Database::new("batch");
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    ok(db.alembic(repo.path(), &["upgrade", R1]));
    psql(&db.url(), fix_sql);
    ok(db.alembic(repo.path(), &["upgrade", R2]));
    assert!(!db.alembic(repo.path(), &["upgrade", R3]).status.success());
    ok(db.alembic(repo.path(), &["stamp", R3]));
    let snapshot = std::fs::read_to_string(&out).unwrap();
    let tables = psql(
        &db.url(),
        "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r'",
    );
    assert!(tables.contains("audit_log"), "{tables}");
    for table in tables.trim().split(',') {
        assert!(
            snapshot.contains(&format!("\"public.{table}\"")),
            "{table} is in plain Alembic's production but not in the path's snapshot"
        );
    }
}
