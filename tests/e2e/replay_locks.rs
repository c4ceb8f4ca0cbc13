//! Locks and rewrites (L001-L004, `--data` / `replay.data`, `--strict`): what each migration
//! statement does to tables with rows, observed during the replay by real Alembic (and the
//! in-process SQL runner) on a real PostgreSQL. Every expected verdict is first established
//! with psql on a database brought to the same revision by plain `alembic upgrade`: the
//! relfilenode before and after the statement (a rewrite), the lock modes `pg_locks` shows
//! while its transaction is open, the indexes and validated constraints it leaves.

use std::path::Path;
use std::process::Command;

use crate::support::alembic::crisis_setup;
use crate::support::db::{Db, Server};
use crate::support::replay::*;
use crate::support::run::Run;
use crate::support::write;

/// One generated Alembic revision: each statement its own `op.execute` line.
struct Rev<'a> {
    id: &'a str,
    parent: Option<&'a str>,
    up: &'a [&'a str],
    /// Statements run inside `autocommit_block()` (CREATE INDEX CONCURRENTLY).
    autocommit: &'a [&'a str],
}

fn file_of(id: &str) -> String {
    format!("alembic/versions/{id}_rev.py")
}

fn migration(r: &Rev) -> String {
    let parent = r.parent.map_or("None".to_string(), |p| format!("'{p}'"));
    let mut body = String::new();
    for s in r.up {
        body.push_str(&format!("    op.execute(\"\"\"{s}\"\"\")\n"));
    }
    if !r.autocommit.is_empty() {
        body.push_str("    with op.get_context().autocommit_block():\n");
        for s in r.autocommit {
            body.push_str(&format!("        op.execute(\"\"\"{s}\"\"\")\n"));
        }
    }
    if body.is_empty() {
        body.push_str("    pass\n");
    }
    format!(
        "from alembic import op\n\nrevision = '{}'\ndown_revision = {parent}\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n{body}\n\ndef downgrade() -> None:\n    pass\n",
        r.id
    )
}

/// The crisis example's Alembic setup (alembic.ini, env.py reading DATABASE_URL, one
/// transaction for the whole upgrade as env.py configures it) with `revs` as its chain.
fn project(revs: &[Rev]) -> tempfile::TempDir {
    let repo = crisis_setup();
    let dir = repo.path();
    for r in revs {
        write(dir, &file_of(r.id), &migration(r));
    }
    repo
}

/// The line of `file` (in `dir`) holding `needle`.
fn line_of(dir: &Path, file: &str, needle: &str) -> u64 {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let i = text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in {file}"));
    i as u64 + 1
}

/// (code, file, line) each hazard of migration a2 should get, sorted as [`lock_findings`].
fn expected_hazards(dir: &Path) -> Vec<(String, String, u64)> {
    let file = file_of("a2");
    let mut expected: Vec<(String, String, u64)> = HAZARDS
        .iter()
        .map(|(stmt, code)| (code.to_string(), file.clone(), line_of(dir, &file, stmt)))
        .collect();
    expected.sort();
    expected
}

fn replay_data(dir: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["--data", "--no-fixes", "--no-roundtrip"];
    args.extend_from_slice(extra);
    replay_url(dir, &args)
}

/// (code, file, line) of every L finding, sorted.
fn lock_findings(run: &Run) -> Vec<(String, String, u64)> {
    let json = run.json();
    let mut v: Vec<_> = json["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings: {}", run.all()))
        .iter()
        .filter(|f| f["code"].as_str().unwrap_or_default().starts_with('L'))
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap_or_default().to_string(),
                f["line"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

fn alembic(dir: &Path, db: &Db, args: &[&str]) {
    let out = Command::new("python3")
        .args(["-m", "alembic", "-c", "alembic.ini"])
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", db.libpq())
        .output()
        .expect("python3 -m alembic");
    assert!(
        out.status.success(),
        "plain alembic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What PostgreSQL itself says `stmt` does to `table` on `db` (rolled back afterwards).
#[derive(Debug)]
struct Truth {
    rewrote: bool,
    /// Lock modes the open transaction holds on the table after the statement.
    locks: String,
    new_index: bool,
    /// Validated CHECK/FOREIGN KEY constraints, and NOT NULL columns, added.
    validated: bool,
    rows: i64,
}

fn truth(db: &Db, table: &str, stmt: &str) -> Truth {
    let state = format!(
        "SELECT (SELECT relfilenode FROM pg_class WHERE oid = '{table}'::regclass) || '|' || \
         (SELECT count(*) FROM pg_index WHERE indrelid = '{table}'::regclass) || '|' || \
         (SELECT count(*) FROM pg_constraint WHERE conrelid = '{table}'::regclass AND convalidated AND contype IN ('c', 'f')) || '|' || \
         (SELECT count(*) FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attnotnull AND attnum > 0 AND NOT attisdropped)"
    );
    let locks = format!(
        "SELECT coalesce(string_agg(mode, ',' ORDER BY mode), '') FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation = '{table}'::regclass"
    );
    let out = Command::new("psql")
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(db.libpq())
        .args([
            "-c", &state, "-c", "BEGIN", "-c", stmt, "-c", &locks, "-c", &state,
        ])
        .args([
            "-c",
            &format!("SELECT count(*) FROM {table}"),
            "-c",
            "ROLLBACK",
        ])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {stmt}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let (before, locks, after, rows) = (lines[0], lines[1], lines[2], lines[3]);
    let parts = |s: &str| -> Vec<i64> { s.split('|').map(|p| p.parse().unwrap()).collect() };
    let (b, a) = (parts(before), parts(after));
    Truth {
        rewrote: b[0] != a[0],
        locks: locks.to_string(),
        new_index: a[1] > b[1],
        validated: a[2] > b[2] || a[3] > b[3],
        rows: rows.parse().unwrap(),
    }
}

const SEED: &[&str] = &[
    "CREATE TABLE orgs (id integer PRIMARY KEY)",
    "CREATE TABLE users (id serial PRIMARY KEY, email varchar(200), n integer, org integer)",
];
const ROWS: &[&str] = &[
    "INSERT INTO orgs SELECT g FROM generate_series(1, 10) g",
    "INSERT INTO users (email, n, org) SELECT 'u' || g, g, 1 + g % 10 FROM generate_series(1, 1000) g",
];

/// Each hazard, and the code the replay must give it on a table with rows.
const HAZARDS: &[(&str, &str)] = &[
    ("ALTER TABLE users ALTER COLUMN n TYPE bigint", "L002"),
    (
        "ALTER TABLE users ADD COLUMN token text NOT NULL DEFAULT md5(random()::text)",
        "L002",
    ),
    ("CREATE INDEX users_email ON users (email)", "L003"),
    (
        "ALTER TABLE users ADD CONSTRAINT users_org_fk FOREIGN KEY (org) REFERENCES orgs (id)",
        "L004",
    ),
    (
        "ALTER TABLE users ADD CONSTRAINT users_n_pos CHECK (n > 0)",
        "L004",
    ),
    ("ALTER TABLE users ALTER COLUMN email SET NOT NULL", "L004"),
];

fn seeded_chain(rows: bool) -> Vec<Rev<'static>> {
    let seed: &'static [&'static str] = if rows {
        Box::leak([SEED, ROWS].concat().into_boxed_slice())
    } else {
        SEED
    };
    let hazards: &'static [&'static str] = Box::leak(
        HAZARDS
            .iter()
            .map(|(s, _)| *s)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    vec![
        Rev {
            id: "a1",
            parent: None,
            up: seed,
            autocommit: &[],
        },
        Rev {
            id: "a2",
            parent: Some("a1"),
            up: hazards,
            autocommit: &[],
        },
    ]
}

/// What PostgreSQL says of each hazard, one at a time, on a database that plain Alembic
/// brought to `a1`.
fn truths(dir: &Path, stmts: &[&str]) -> Vec<Truth> {
    let db = Server::from_env().create(None);
    alembic(dir, &db, &["upgrade", "a1"]);
    stmts.iter().map(|s| truth(&db, "users", s)).collect()
}

#[test]
fn each_hazard_on_a_table_with_rows_is_reported_where_it_is_written() {
    let repo = project(&seeded_chain(true));
    let dir = repo.path();
    let stmts: Vec<&str> = HAZARDS.iter().map(|(s, _)| *s).collect();
    // PostgreSQL's own account of each statement justifies the code expected for it.
    for ((stmt, code), t) in HAZARDS.iter().zip(truths(dir, &stmts)) {
        assert_eq!(t.rows, 1000, "{stmt}");
        match *code {
            "L002" => assert!(
                t.rewrote && t.locks.contains("AccessExclusiveLock"),
                "{stmt}: {t:?}"
            ),
            "L003" => assert!(
                t.new_index && t.locks.contains("ShareLock") && !t.rewrote,
                "{stmt}: {t:?}"
            ),
            "L004" => assert!(
                t.validated
                    && !t.rewrote
                    && (t.locks.contains("AccessExclusiveLock")
                        || t.locks.contains("ShareRowExclusiveLock")),
                "{stmt}: {t:?}"
            ),
            _ => unreachable!(),
        }
    }
    let expected = expected_hazards(dir);

    let run = replay_data(dir, &[]);
    assert_eq!(run.code, 0, "warnings by default: {}", run.all());
    assert_eq!(lock_findings(&run), expected, "{}", run.stdout);
    let json = run.json();
    let l002 = run.findings("L002");
    assert!(
        l002.iter()
            .all(|f| f["message"].as_str().unwrap().contains("1000 rows")
                && f["severity"] == "warning"),
        "{l002:?}"
    );
    let section = json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Locks and rewrites")
        .unwrap_or_else(|| panic!("no Locks and rewrites section: {}", run.stdout));
    assert_eq!(
        section["data"]["migrations"][1]["statements"],
        HAZARDS.len()
    );

    let strict = replay_data(dir, &["--strict"]);
    assert_eq!(strict.code, 1, "{}", strict.all());
    assert_eq!(lock_findings(&strict), expected);
    assert!(
        strict
            .findings("L003")
            .iter()
            .all(|f| f["severity"] == "error")
    );

    // Without --data nothing is observed.
    let plain = replay_url(dir, &["--no-fixes", "--no-roundtrip"]);
    assert!(lock_findings(&plain).is_empty(), "{}", plain.stdout);
}

#[test]
fn the_same_hazards_on_empty_tables_are_no_findings() {
    let repo = project(&seeded_chain(false));
    let dir = repo.path();
    let t = truths(dir, &["ALTER TABLE users ALTER COLUMN n TYPE bigint"]);
    assert!(t[0].rewrote && t[0].rows == 0, "{t:?}");
    // Only the rows the chain writes (none): nobody waits on an empty table's lock.
    let run = replay_data(dir, &["--strict", "--rows", "0"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(lock_findings(&run).is_empty(), "{}", run.stdout);
    // The seeded pass's generated rows (3 per table, the default) stand for production's:
    // the same statements are findings there, each naming the rows it met.
    let seeded = replay_data(dir, &["--strict"]);
    assert_eq!(seeded.code, 1, "{}", seeded.all());
    let l002 = seeded.findings("L002");
    assert!(!l002.is_empty(), "{}", seeded.stdout);
    assert!(
        l002.iter()
            .all(|f| f["message"].as_str().unwrap().contains("3 rows")),
        "{l002:?}"
    );
}

/// The safe forms, each in its own migration (its own transaction).
const SAFE: &[&[&str]] = &[
    &["ALTER TABLE users ALTER COLUMN email TYPE text"],
    &["ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free'"],
    &[
        "ALTER TABLE users ADD CONSTRAINT users_org_fk FOREIGN KEY (org) REFERENCES orgs (id) NOT VALID",
    ],
    &["ALTER TABLE users VALIDATE CONSTRAINT users_org_fk"],
    &["ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID"],
    &["ALTER TABLE users VALIDATE CONSTRAINT users_email_nn"],
    &["ALTER TABLE users ALTER COLUMN email SET NOT NULL"],
];

#[test]
fn the_safe_forms_are_no_findings() {
    let ids: Vec<String> = (0..=SAFE.len()).map(|i| format!("s{i}")).collect();
    let seed: &'static [&'static str] = Box::leak([SEED, ROWS].concat().into_boxed_slice());
    let mut revs = vec![Rev {
        id: &ids[0],
        parent: None,
        up: seed,
        autocommit: &["CREATE INDEX CONCURRENTLY users_email ON users (email)"],
    }];
    for (i, up) in SAFE.iter().enumerate() {
        revs.push(Rev {
            id: &ids[i + 1],
            parent: Some(&ids[i]),
            up,
            autocommit: &[],
        });
    }
    let repo = project(&revs);
    let dir = repo.path();
    // PostgreSQL: none of them rewrites users or validates under a long lock.
    let db = Server::from_env().create(None);
    alembic(dir, &db, &["upgrade", "s0"]);
    let before = db.psql("SELECT relfilenode FROM pg_class WHERE relname = 'users'");
    alembic(dir, &db, &["upgrade", "head"]);
    let after = db.psql("SELECT relfilenode FROM pg_class WHERE relname = 'users'");
    assert_eq!(before, after, "the safe chain rewrote users");
    assert_eq!(db.psql("SELECT count(*) FROM users"), "1000");

    let run = replay_data(dir, &["--strict"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(lock_findings(&run).is_empty(), "{}", run.stdout);
}

#[test]
fn a_sql_chain_is_observed_statement_by_statement() {
    let hazards = HAZARDS
        .iter()
        .map(|(s, _)| format!("{s};\n"))
        .collect::<String>();
    let seed = [SEED, ROWS]
        .concat()
        .iter()
        .map(|s| format!("{s};\n"))
        .collect::<String>();
    let repo = sql_repo(
        "golang-migrate",
        &[
            ("000001_seed.up.sql", &seed),
            ("000002_hazards.up.sql", &format!("-- hazards\n\n{hazards}")),
            (
                "000003_concurrent.up.sql",
                "CREATE INDEX CONCURRENTLY users_n ON users (n);\n",
            ),
        ],
    );
    let dir = repo.path();
    let file = "db/migrations/000002_hazards.up.sql";
    let mut expected: Vec<(String, String, u64)> = HAZARDS
        .iter()
        .map(|(stmt, code)| (code.to_string(), file.to_string(), line_of(dir, file, stmt)))
        .collect();
    expected.sort();
    let run = replay_url(dir, &["--data", "--no-roundtrip"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(lock_findings(&run), expected, "{}", run.stdout);
}

#[test]
fn observing_does_not_change_what_a_failing_migration_reports() {
    let revs = [
        Rev {
            id: "a1",
            parent: None,
            up: &[SEED[0], SEED[1], ROWS[0], ROWS[1]],
            autocommit: &[],
        },
        Rev {
            id: "a2",
            parent: Some("a1"),
            up: &[
                "ALTER TABLE users ADD COLUMN x int",
                "ALTER TABLE users ADD CONSTRAINT users_n_big CHECK (n > 500)",
            ],
            autocommit: &[],
        },
    ];
    let repo = project(&revs);
    let dir = repo.path();
    let plain = replay_url(dir, &["--no-fixes", "--no-roundtrip"]);
    let observed = replay_data(dir, &[]);
    let r001 = |run: &Run| {
        let f = run.findings("R001");
        assert_eq!(f.len(), 1, "{}", run.all());
        (
            f[0]["message"].as_str().unwrap().to_string(),
            f[0]["line"].clone(),
        )
    };
    assert_eq!(r001(&plain), r001(&observed));
    assert!(r001(&plain).0.contains("23514"), "{:?}", r001(&plain));
}

#[test]
fn a_psycopg3_engine_is_observed_the_same_way() {
    let repo = project(&seeded_chain(true));
    let dir = repo.path();
    let policy = std::fs::read_to_string(dir.join("policy.toml")).unwrap();
    assert!(policy.contains("\n[replay]\n"));
    write(
        dir,
        "policy.toml",
        &policy.replacen(
            "\n[replay]\n",
            "\n[replay]\ndatabase-url = \"postgresql+psycopg://{user}:{password}@{host}:{port}/{database}\"\n",
            1,
        ),
    );
    let expected = expected_hazards(dir);
    let run = replay_data(dir, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(lock_findings(&run), expected, "{}", run.stdout);
}

#[test]
fn validating_in_the_transaction_that_added_the_constraint_not_valid_is_l004() {
    let seed: &'static [&'static str] = Box::leak([SEED, ROWS].concat().into_boxed_slice());
    let add = "ALTER TABLE users ADD CONSTRAINT users_n_pos CHECK (n > 0) NOT VALID";
    let validate = "ALTER TABLE users VALIDATE CONSTRAINT users_n_pos";
    let revs = [
        Rev {
            id: "a1",
            parent: None,
            up: seed,
            autocommit: &[],
        },
        Rev {
            id: "a2",
            parent: Some("a1"),
            up: &[add, validate],
            autocommit: &[],
        },
    ];
    let repo = project(&revs);
    let dir = repo.path();
    // PostgreSQL: ADD … NOT VALID takes ACCESS EXCLUSIVE, which the transaction still holds
    // while VALIDATE scans.
    let db = Server::from_env().create(None);
    alembic(dir, &db, &["upgrade", "a1"]);
    let t = truth(&db, "users", add);
    assert!(
        t.locks.contains("AccessExclusiveLock") && !t.validated,
        "{t:?}"
    );
    let file = file_of("a2");
    let run = replay_data(dir, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        lock_findings(&run),
        vec![
            ("L001".to_string(), file.clone(), line_of(dir, &file, add)),
            (
                "L004".to_string(),
                file.clone(),
                line_of(dir, &file, validate)
            ),
        ],
        "{}",
        run.stdout
    );
}
