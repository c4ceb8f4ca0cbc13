//! Several fixes in one run: the pass over the chain that applies every fix where production
//! did (`crates/replay/src/fixes/pass.rs`) and the shared production path of the fixes
//! checked alone (`tails.rs`). Each fix's verdict must be what its own path gives, checked
//! here against plain psql applying the same files by hand, one fix at a time. Fixes that
//! touch one object or depend on one another, or a shared run that fails, fall back to one
//! run per fix.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::db::{Db, Server};
use crate::support::replay::*;
use crate::support::write;

/// The chain: golang-migrate files `00000N_name.up.sql`.
const CHAIN: &[(&str, &str)] = &[
    (
        "000001_users.up.sql",
        "CREATE TABLE users (id int PRIMARY KEY, name text);\n",
    ),
    (
        "000002_orders.up.sql",
        "CREATE TABLE orders (id int PRIMARY KEY, user_id int);\n",
    ),
    (
        "000003_orders_user.up.sql",
        "CREATE INDEX ix_orders_user ON orders (user_id);\n",
    ),
    (
        "000004_nickname.up.sql",
        "ALTER TABLE users ADD COLUMN nickname text;\n",
    ),
    ("000005_audit.up.sql", "CREATE TABLE audit (id int);\n"),
    (
        "000006_total.up.sql",
        "ALTER TABLE orders ADD COLUMN total numeric;\n",
    ),
];

/// A fix: its file name, the revision it ran after, its SQL.
struct Fix {
    name: &'static str,
    after: usize,
    sql: &'static str,
}

/// Names only one fix's objects carry, so a message can be searched for them.
const NAMES: &[&str] = &[
    "fix_memo",
    "fix_alpha",
    "fix_bravo",
    "fix_charlie",
    "fix_delta",
    "fix_echo",
    "ix_users_name",
    "shipping_note",
    "audit",
    "users_name_idx",
];

fn repo_with(fixes: &[Fix]) -> tempfile::TempDir {
    repo_with_rollbacks(fixes, &[])
}

/// [`repo_with`], and for each `(fix name, SQL)` of `rollbacks` a rollback command that runs
/// that SQL with psql on the scratch database (`DATABASE_URL`).
fn repo_with_rollbacks(fixes: &[Fix], rollbacks: &[(&str, &str)]) -> tempfile::TempDir {
    let repo = sql_repo("golang-migrate", CHAIN);
    let mut policy = String::from(
        "version = 1\n\n[migrations]\nkind = \"sql\"\npath = \"db/migrations\"\nnaming = \"golang-migrate\"\n\n[replay]\nbackend = \"url\"\nroundtrip = false\n",
    );
    for f in fixes {
        write(repo.path(), &format!("fixes/{}.sql", f.name), f.sql);
        policy.push_str(&format!(
            "\n[[emergency.script]]\npath = \"fixes/{0}.sql\"\nsql = \"fixes/{0}.sql\"\napplied-after = \"{1}\"\napplied-on = 2026-01-0{1}\n",
            f.name, f.after
        ));
        if let Some((_, sql)) = rollbacks.iter().find(|(name, _)| *name == f.name) {
            write(repo.path(), &format!("fixes/{}.down.sql", f.name), sql);
            policy.push_str(&format!(
                "rollback = 'psql -X -q -v ON_ERROR_STOP=1 -d \"$DATABASE_URL\" -f fixes/{}.down.sql'\n",
                f.name
            ));
        }
    }
    write(repo.path(), "policy.toml", &policy);
    repo
}

/// `psql -v ON_ERROR_STOP=1 -f FILE` on `db`: whether it succeeded.
fn psql_file(db: &Db, file: &Path) -> bool {
    Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(db.libpq())
        .arg("-f")
        .arg(file)
        .output()
        .expect("psql")
        .status
        .success()
}

/// By hand: the chain from empty with `fix` applied after its revision. `Err(n)` when
/// migration `n` (1-based) fails, else the schema-only dump at head.
fn by_hand(server: &Server, repo: &Path, fix: Option<&Fix>) -> Result<String, usize> {
    let db = server.create(None);
    for (i, (file, _)) in CHAIN.iter().enumerate() {
        if !psql_file(&db, &repo.join("db/migrations").join(file)) {
            return Err(i + 1);
        }
        if let Some(f) = fix.filter(|f| f.after == i + 1) {
            assert!(
                psql_file(&db, &repo.join(format!("fixes/{}.sql", f.name))),
                "{} applies where it ran",
                f.name
            );
        }
    }
    Ok(db.dump(true, &[]))
}

/// The NAMES in the lines of `dump` that `clean` lacks: the objects one fix's path adds.
fn added_names(clean: &str, dump: &str) -> BTreeSet<&'static str> {
    let clean: BTreeSet<&str> = clean.lines().collect();
    dump.lines()
        .filter(|l| !clean.contains(l))
        .flat_map(|l| NAMES.iter().copied().filter(move |n| l.contains(n)))
        .collect()
}

fn message_names(message: &str) -> BTreeSet<&'static str> {
    NAMES
        .iter()
        .copied()
        .filter(|n| message.contains(n))
        .collect()
}

/// The "Emergency fixes" row of `path`: its checks, joined.
fn checks_of(run: &crate::support::run::Run, path: &str) -> String {
    let rows = section(run, "Emergency fixes");
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == path)
        .unwrap_or_else(|| panic!("no row for {path}: {rows}"));
    row["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn fixes_that_touch_different_objects_share_one_path_and_each_gets_its_own_verdict() {
    let name_index = Fix {
        name: "name_index",
        after: 2,
        sql: "CREATE INDEX IF NOT EXISTS ix_users_name ON users (name);\n",
    };
    let fixes = [memo(), name_index, shipping()];
    let repo = repo_with(&fixes);
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_each_verdict_is_the_one_by_hand(&run, repo.path(), &fixes);
    assert_eq!(run.findings("F004").len(), fixes.len(), "{}", run.stdout);
    for fix in &fixes {
        let path = format!("fixes/{}.sql", fix.name);
        assert!(
            checks_of(&run, &path).contains("one run shared by 3 fixes"),
            "{}",
            checks_of(&run, &path)
        );
    }
}

/// Each fix's F003/F004 in `run` against its path by hand with psql.
fn assert_each_verdict_is_the_one_by_hand(
    run: &crate::support::run::Run,
    repo: &Path,
    fixes: &[Fix],
) {
    let server = Server::from_env();
    let clean = by_hand(&server, repo, None).expect("the chain replays by hand");
    for fix in fixes {
        let path = format!("fixes/{}.sql", fix.name);
        let of = |code: &str| -> Vec<serde_json::Value> {
            run.findings(code)
                .into_iter()
                .filter(|f| {
                    f["message"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("{path}:"))
                })
                .collect()
        };
        match by_hand(&server, repo, Some(fix)) {
            Err(n) => {
                let f003 = of("F003");
                assert_eq!(
                    f003.len(),
                    1,
                    "{}: by hand migration {n} fails: {}",
                    fix.name,
                    run.stdout
                );
                assert_eq!(f003[0]["path"], format!("db/migrations/{}", CHAIN[n - 1].0));
                assert!(of("F004").is_empty(), "{}", run.stdout);
            }
            Ok(alone) => {
                assert!(of("F003").is_empty(), "{}: {}", fix.name, run.stdout);
                let f004 = of("F004");
                assert_eq!(f004.len(), 1, "{}: {}", fix.name, run.stdout);
                assert_eq!(
                    message_names(f004[0]["message"].as_str().unwrap()),
                    added_names(&clean, &alone),
                    "{}",
                    f004[0]
                );
            }
        }
    }
}

fn memo() -> Fix {
    Fix {
        name: "memo",
        after: 1,
        sql: "CREATE TABLE IF NOT EXISTS fix_memo (id int PRIMARY KEY, note text);\n",
    }
}

/// The same table as [`memo`], with a row: the two touch one object.
fn memo_row() -> Fix {
    Fix {
        name: "memo_row",
        after: 2,
        sql: "CREATE TABLE IF NOT EXISTS fix_memo (id int PRIMARY KEY, note text);\nINSERT INTO fix_memo VALUES (1, 'x') ON CONFLICT DO NOTHING;\n",
    }
}

fn shipping() -> Fix {
    Fix {
        name: "shipping",
        after: 4,
        sql: "ALTER TABLE orders ADD COLUMN IF NOT EXISTS shipping_note text;\n",
    }
}

/// A fix that creates a table of its own, `fix_<name>`.
fn own_table(name: &'static str, after: usize) -> Fix {
    let sql = format!("CREATE TABLE IF NOT EXISTS fix_{name} (id int PRIMARY KEY);\n");
    Fix {
        name,
        after,
        sql: Box::leak(sql.into_boxed_str()),
    }
}

#[test]
fn with_a_pass_per_core_each_verdict_is_the_one_by_hand_and_one_table_in_two_passes_is_not_apart() {
    // Eight fixes make two passes on two cores, dealt in production's order in turn:
    // memo, bravo, charlie, shipping in one; alpha, memo_row, delta, echo in the other. memo
    // and memo_row touch one table from different passes, where neither saw the other.
    let fixes = [
        memo(),
        own_table("alpha", 1),
        own_table("bravo", 2),
        memo_row(),
        own_table("charlie", 3),
        own_table("delta", 4),
        shipping(),
        own_table("echo", 5),
    ];
    let repo = repo_with(&fixes);
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        assert!(
            run.stderr.contains("2 passes over the chain with 8 fixes"),
            "{}",
            run.stderr
        );
    }
    assert_each_verdict_is_the_one_by_hand(&run, repo.path(), &fixes);
    for fix in &fixes {
        let path = format!("fixes/{}.sql", fix.name);
        let checks = checks_of(&run, &path);
        let in_pass = checks.contains("shared by 8 fixes");
        assert_eq!(in_pass, !fix.name.starts_with("memo"), "{path}: {checks}");
    }
}

#[test]
fn a_fix_that_touches_an_object_another_touched_is_checked_alone() {
    let fixes = [memo(), memo_row(), shipping()];
    let repo = repo_with(&fixes);
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_each_verdict_is_the_one_by_hand(&run, repo.path(), &fixes);
    // The pass decides shipping; memo and memo_row (one table) are each checked alone.
    assert!(
        checks_of(&run, "fixes/shipping.sql").contains("one run shared by 3 fixes"),
        "{}",
        checks_of(&run, "fixes/shipping.sql")
    );
    for alone in ["fixes/memo.sql", "fixes/memo_row.sql"] {
        assert!(
            !checks_of(&run, alone).contains("shared"),
            "{}",
            checks_of(&run, alone)
        );
    }
}

#[test]
fn a_fix_that_builds_on_another_fixs_table_is_checked_alone() {
    // Production ran memo first, so this index applied there; at revision 3 of the chain
    // alone its table does not exist. Its names are its own (an index), only pg_depend ties
    // it to memo's table: the pass must not give it memo's world.
    let memo_index = Fix {
        name: "memo_index",
        after: 3,
        sql: "CREATE INDEX IF NOT EXISTS ix_memo_note ON fix_memo (note);\n",
    };
    let fixes = [memo(), memo_index, shipping()];
    let repo = repo_with(&fixes);
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());

    // By hand: at revision 3 of the chain alone the index fix fails.
    let server = Server::from_env();
    let db = server.create(None);
    for (file, _) in &CHAIN[..3] {
        assert!(psql_file(
            &db,
            &repo.path().join("db/migrations").join(file)
        ));
    }
    assert!(!psql_file(&db, &repo.path().join("fixes/memo_index.sql")));
    let f001 = run.findings("F001");
    assert_eq!(f001.len(), 1, "{}", run.stdout);
    assert_eq!(f001[0]["path"], "fixes/memo_index.sql");
    let m = f001[0]["message"].as_str().unwrap();
    assert!(
        m.contains("fails when applied at revision 3") && m.contains("fix_memo"),
        "{m}"
    );
    // The other two: their verdicts by hand, and memo's F004 is its table alone.
    assert_each_verdict_is_the_one_by_hand(&run, repo.path(), &[memo(), shipping()]);
    assert!(
        checks_of(&run, "fixes/shipping.sql").contains("one run shared by 3 fixes"),
        "{}",
        checks_of(&run, "fixes/shipping.sql")
    );
    assert!(!checks_of(&run, "fixes/memo.sql").contains("one run shared by 3"));
}

#[test]
fn fixes_with_rollbacks_are_decided_in_one_pass_and_each_path_holds_one_application() {
    let fixes = [memo(), shipping()];
    let repo = repo_with_rollbacks(
        &fixes,
        &[
            ("memo", "DROP TABLE IF EXISTS fix_memo;\n"),
            (
                "shipping",
                "ALTER TABLE orders DROP COLUMN IF EXISTS shipping_note;\n",
            ),
        ],
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.findings("F002").is_empty(), "{}", run.stdout);
    // Rolled back and applied again, each fix's objects are on the path at head once.
    assert_each_verdict_is_the_one_by_hand(&run, repo.path(), &fixes);
    for fix in ["fixes/memo.sql", "fixes/shipping.sql"] {
        let checks = checks_of(&run, fix);
        assert!(
            checks.contains("rollback restores") && checks.contains("one run shared by 2 fixes"),
            "{checks}"
        );
    }
}

#[test]
fn a_rollback_that_leaves_an_index_is_f002_with_fixes_beside_it() {
    let name_index = Fix {
        name: "name_index",
        after: 2,
        sql: "CREATE INDEX IF NOT EXISTS ix_users_name ON users (name);\n",
    };
    let fixes = [memo(), name_index, shipping()];
    // The index fix's rollback forgets the index.
    let repo = repo_with_rollbacks(
        &fixes,
        &[
            ("memo", "DROP TABLE IF EXISTS fix_memo;\n"),
            ("name_index", "SELECT 1;\n"),
        ],
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());

    // By hand: after the fix and its rollback, the index is still there.
    let server = Server::from_env();
    let db = server.create(None);
    for (file, _) in &CHAIN[..2] {
        assert!(psql_file(
            &db,
            &repo.path().join("db/migrations").join(file)
        ));
    }
    for file in ["fixes/name_index.sql", "fixes/name_index.down.sql"] {
        assert!(psql_file(&db, &repo.path().join(file)));
    }
    assert_eq!(
        db.psql("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_users_name'"),
        "1"
    );
    let f002 = run.findings("F002");
    assert_eq!(f002.len(), 1, "{}", run.stdout);
    assert_eq!(f002[0]["path"], "fixes/name_index.sql");
    let m = f002[0]["message"].as_str().unwrap();
    assert!(
        m.contains("does not restore") && m.contains("ix_users_name"),
        "{m}"
    );
    assert_each_verdict_is_the_one_by_hand(&run, repo.path(), &fixes);
    assert!(checks_of(&run, "fixes/memo.sql").contains("rollback restores"));
}

#[test]
fn a_conflict_in_the_shared_run_sends_every_fix_to_a_run_of_its_own() {
    // The crisis: migration 5 creates the table this fix made.
    let audit = Fix {
        name: "audit",
        after: 3,
        sql: "CREATE TABLE IF NOT EXISTS audit (id int);\n",
    };
    let fixes = [memo(), audit, shipping()];
    let repo = repo_with(&fixes);
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_each_verdict_is_the_one_by_hand(&run, repo.path(), &fixes);
    assert_eq!(run.findings("F003").len(), 1, "{}", run.stdout);
    for fix in &fixes {
        let path = format!("fixes/{}.sql", fix.name);
        assert!(
            !checks_of(&run, &path).contains("shared"),
            "{}",
            checks_of(&run, &path)
        );
    }
}

#[test]
fn a_second_run_that_changes_rows_or_schema_is_f001_and_the_path_starts_from_one_run() {
    // Neither fails when run again, but each run adds: a row, an index with a new name.
    let fixes = [
        Fix {
            name: "memo",
            after: 1,
            sql: "CREATE TABLE IF NOT EXISTS fix_memo (id serial, note text);\nINSERT INTO fix_memo (note) VALUES ('x');\n",
        },
        Fix {
            name: "name_index",
            after: 2,
            sql: "CREATE INDEX ON users (name);\n",
        },
    ];
    let repo = repo_with(&fixes);
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());

    // By hand: two runs leave two rows and two indexes where one run leaves one.
    let server = Server::from_env();
    let db = server.create(None);
    for (file, _) in &CHAIN[..2] {
        assert!(psql_file(
            &db,
            &repo.path().join("db/migrations").join(file)
        ));
    }
    for fix in &fixes {
        for _ in 0..2 {
            assert!(psql_file(
                &db,
                &repo.path().join(format!("fixes/{}.sql", fix.name))
            ));
        }
    }
    assert_eq!(db.psql("SELECT count(*) FROM fix_memo"), "2");
    assert_eq!(
        db.psql("SELECT count(*) FROM pg_indexes WHERE tablename = 'users' AND indexname LIKE 'users_name_idx%'"),
        "2"
    );

    let f001 = run.findings("F001");
    assert_eq!(f001.len(), 2, "{}", run.stdout);
    let memo = f001
        .iter()
        .find(|f| f["path"] == "fixes/memo.sql")
        .expect("F001 for the row fix");
    let m = memo["message"].as_str().unwrap();
    assert!(
        m.contains("second run changes") && m.contains("fix_memo") && m.contains("2"),
        "{m}"
    );
    let index = f001
        .iter()
        .find(|f| f["path"] == "fixes/name_index.sql")
        .expect("F001 for the index fix");
    let m = index["message"].as_str().unwrap();
    assert!(
        m.contains("second run changes") && m.contains("users_name_idx1"),
        "{m}"
    );
    // The production path holds one application of each, as production did.
    assert_each_verdict_is_the_one_by_hand(&run, repo.path(), &fixes);
    let f004 = run.findings("F004");
    let path = f004
        .iter()
        .find(|f| f["path"] == "fixes/name_index.sql")
        .expect("F004 for the index fix");
    assert!(
        !path["message"]
            .as_str()
            .unwrap()
            .contains("users_name_idx1"),
        "{path}"
    );
}
