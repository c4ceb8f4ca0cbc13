//! The stairway (R007, `--stairway` / `replay.stairway`): per revision, upgrade to it,
//! downgrade one step, upgrade again, on generated Alembic chains run by real Alembic against
//! a real PostgreSQL. Each broken chain is built so that only the named revision's own step
//! can be blamed; the full round trip to base (R004/R006) is checked in the same run to show
//! what the stairway adds.

use std::path::Path;

use crate::support::alembic::*;
use crate::support::replay::*;
use crate::support::*;

/// One generated revision: id, parents, upgrade SQL, downgrade SQL.
#[derive(Clone, Copy)]
pub(crate) struct Rev<'a> {
    pub id: &'a str,
    pub parents: &'a [&'a str],
    pub up: &'a str,
    pub down: &'a str,
}

pub(crate) fn file_of(id: &str) -> String {
    format!("alembic/versions/{id}_step.py")
}

fn migration(r: &Rev) -> String {
    let parents = match r.parents {
        [] => "None".to_string(),
        [one] => format!("'{one}'"),
        many => format!(
            "({})",
            many.iter()
                .map(|p| format!("'{p}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let body = |sql: &str| {
        if sql.is_empty() {
            "pass".to_string()
        } else {
            format!("op.execute(\"\"\"{sql}\"\"\")")
        }
    };
    format!(
        "\"\"\"generated {id}\"\"\"\nfrom alembic import op\n\nrevision = '{id}'\ndown_revision = {parents}\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n    {}\n\n\ndef downgrade() -> None:\n    {}\n",
        body(r.up),
        body(r.down),
        id = r.id,
    )
}

/// The crisis example's Alembic setup (alembic.ini, env.py reading DATABASE_URL, policy)
/// with its chain, lockfile and snapshot replaced by `revs`.
pub(crate) fn project(revs: &[Rev]) -> tempfile::TempDir {
    let repo = crisis_setup();
    let dir = repo.path();
    for r in revs {
        write(dir, &file_of(r.id), &migration(r));
    }
    repo
}

/// Plain Alembic ([`alembic_cli`]) on `db`, which must succeed.
fn plain_alembic(dir: &Path, db: &crate::support::db::Db, args: &[&str]) {
    let out = alembic_cli(dir, &db.libpq(), args);
    assert!(
        out.status.success(),
        "plain alembic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stairway(dir: &Path) -> crate::support::run::Run {
    replay_url(dir, &["--stairway"])
}

fn steps(run: &crate::support::run::Run) -> serde_json::Value {
    let json = run.json();
    json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Stairway")
        .unwrap_or_else(|| panic!("no Stairway section: {}", run.stdout))["data"]
        .clone()
}

/// The revisions the Stairway section lists, in order.
fn stepped(data: &serde_json::Value) -> Vec<String> {
    data["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["revision"].as_str().unwrap().to_string())
        .collect()
}

const CLEAN: [Rev; 3] = [
    Rev {
        id: "a1",
        parents: &[],
        up: "CREATE TABLE t1 (id integer PRIMARY KEY)",
        down: "DROP TABLE t1",
    },
    Rev {
        id: "a2",
        parents: &["a1"],
        up: "ALTER TABLE t1 ADD COLUMN c2 text",
        down: "ALTER TABLE t1 DROP COLUMN c2",
    },
    Rev {
        id: "a3",
        parents: &["a2"],
        up: "CREATE INDEX t1_c2 ON t1 (c2)",
        down: "DROP INDEX t1_c2",
    },
];

#[test]
fn a_clean_chain_steps_every_revision_silently() {
    let repo = project(&CLEAN);
    let run = stairway(repo.path());
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.findings("R007").is_empty(), "{}", run.stdout);
    let data = steps(&run);
    assert_eq!(data["stepped"], 3, "{data}");
    assert_eq!(stepped(&data), ["a1", "a2", "a3"]);
    assert!(
        data["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["ok"] == true)
    );
    // Off by default: no section, no steps.
    let plain = replay_url(repo.path(), &[]);
    assert_eq!(plain.code, 0, "{}", plain.all());
    assert!(!plain.stdout.contains("\"Stairway\""), "{}", plain.stdout);
}

#[test]
fn a_downgrade_that_leaves_a_column_behind_is_r007_at_that_revision() {
    // a2's downgrade forgets its column. The round trip to base does not notice: a1's
    // downgrade drops the whole table.
    let revs = [
        CLEAN[0],
        Rev {
            id: "a2",
            parents: &["a1"],
            up: "ALTER TABLE t1 ADD COLUMN c2 text",
            down: "",
        },
        Rev {
            id: "a3",
            parents: &["a2"],
            up: "CREATE TABLE t3 (id integer)",
            down: "DROP TABLE t3",
        },
    ];
    let repo = project(&revs);
    let run = stairway(repo.path());
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.findings("R004").is_empty(), "{}", run.stdout);
    assert!(run.findings("R006").is_empty(), "{}", run.stdout);
    let r007 = run.findings("R007");
    assert_eq!(r007.len(), 1, "{}", run.stdout);
    let msg = r007[0]["message"].as_str().unwrap();
    assert!(msg.contains("revision a2"), "{msg}");
    assert!(msg.contains("c2"), "{msg}");
    assert_eq!(r007[0]["path"], file_of("a2"), "{}", r007[0]);
    let data = steps(&run);
    assert_eq!(data["stepped"], 2, "{data}");
    assert_eq!(data["steps"][1]["ok"], false, "{data}");
}

#[test]
fn a_downgrade_that_fails_only_mid_chain_is_r007_and_passes_the_round_trip() {
    // b3's downgrade leaves its table c behind and b2's downgrade drops it: going all the way
    // down to base works (R004/R006 silent, as plain `alembic downgrade base` would), but b2's
    // own downgrade, with only b1 and b2 applied, fails: table c does not exist yet.
    let revs = [
        Rev {
            id: "b1",
            parents: &[],
            up: "CREATE TABLE a (id integer)",
            down: "DROP TABLE a",
        },
        Rev {
            id: "b2",
            parents: &["b1"],
            up: "CREATE TABLE b (id integer)",
            down: "DROP TABLE c; DROP TABLE b",
        },
        Rev {
            id: "b3",
            parents: &["b2"],
            up: "CREATE TABLE c (id integer)",
            down: "",
        },
    ];
    let repo = project(&revs);
    let run = stairway(repo.path());
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.findings("R004").is_empty(), "{}", run.stdout);
    assert!(run.findings("R006").is_empty(), "{}", run.stdout);
    let r007 = run.findings("R007");
    assert_eq!(r007.len(), 1, "{}", run.stdout);
    let msg = r007[0]["message"].as_str().unwrap();
    assert!(msg.contains("revision b2"), "{msg}");
    assert!(msg.contains("downgrade"), "{msg}");
    assert!(msg.contains("42P01"), "{msg}");
    assert_eq!(r007[0]["path"], file_of("b2"), "{}", r007[0]);
}

const MERGE: [Rev; 4] = [
    Rev {
        id: "m1",
        parents: &[],
        up: "CREATE TABLE base_t (id integer)",
        down: "DROP TABLE base_t",
    },
    Rev {
        id: "m2a",
        parents: &["m1"],
        up: "CREATE TABLE left_t (id integer)",
        down: "DROP TABLE left_t",
    },
    Rev {
        id: "m2b",
        parents: &["m1"],
        up: "CREATE TABLE right_t (id integer)",
        down: "DROP TABLE right_t",
    },
    Rev {
        id: "m3",
        parents: &["m2a", "m2b"],
        up: "CREATE TABLE merged_t (id integer)",
        down: "DROP TABLE merged_t",
    },
];

#[test]
fn a_merge_revision_is_stepped_down_to_each_parent() {
    let repo = project(&MERGE);
    assert_eq!(alembic_heads(repo.path()), vec!["m3".to_string()]);
    let run = stairway(repo.path());
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.findings("R007").is_empty(), "{}", run.stdout);
    let data = steps(&run);
    assert_eq!(data["stepped"], 4, "{data}");
    let merge = data["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["revision"] == "m3")
        .unwrap();
    assert_eq!(
        merge["down_to"],
        serde_json::json!(["m2a", "m2b"]),
        "{data}"
    );
    // A branch revision steps down on its own branch only (the sibling stays).
    let siblings: Vec<&serde_json::Value> = data["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["revision"] == "m2a" || s["revision"] == "m2b")
        .collect();
    assert!(siblings.iter().all(|s| s["ok"] == true), "{data}");

    // The same merge whose downgrade leaves its table behind: R007 names the merge.
    let mut broken = MERGE;
    broken[3] = Rev {
        id: "m3",
        parents: &["m2a", "m2b"],
        up: "CREATE TABLE merged_t (id integer)",
        down: "",
    };
    let repo = project(&broken);
    let run = stairway(repo.path());
    assert_eq!(run.code, 1, "{}", run.all());
    let r007 = run.findings("R007");
    assert_eq!(r007.len(), 1, "{}", run.stdout);
    let msg = r007[0]["message"].as_str().unwrap();
    assert!(msg.contains("revision m3"), "{msg}");
    assert!(msg.contains("downgrade to m2a"), "{msg}");
    assert!(msg.contains("merged_t"), "{msg}");
}

#[test]
fn the_crisis_example_under_the_stairway() {
    let repo = crisis();
    let run = stairway(repo.path());
    let data = steps(&run);
    // Every one of the 13 revisions steps down and up cleanly: the example's downgrades are
    // each the inverse of their upgrade.
    assert_eq!(data["revisions"], 13, "{data}");
    assert_eq!(data["stepped"], 13, "{data}");
    assert!(run.findings("R007").is_empty(), "{}", run.stdout);
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn a_sql_chain_is_stepped_in_process_and_a_forgotten_down_is_r007() {
    let files = |down2: &'static str| {
        [
            ("000001_a.up.sql", "CREATE TABLE a (id integer);"),
            ("000001_a.down.sql", "DROP TABLE a;"),
            ("000002_b.up.sql", "ALTER TABLE a ADD COLUMN b text;"),
            ("000002_b.down.sql", down2),
            ("000003_c.up.sql", "CREATE TABLE c (id integer);"),
            ("000003_c.down.sql", "DROP TABLE c;"),
        ]
    };
    let clean = sql_repo("golang-migrate", &files("ALTER TABLE a DROP COLUMN b;"));
    let run = stairway(clean.path());
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.findings("R007").is_empty(), "{}", run.stdout);
    assert_eq!(steps(&run)["stepped"], 3, "{}", run.stdout);

    // 000002's down forgets the column; the round trip to base does not see it (000001's down
    // drops the table), the stairway does.
    let broken = sql_repo("golang-migrate", &files("SELECT 1;"));
    let run = stairway(broken.path());
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.findings("R004").is_empty(), "{}", run.stdout);
    let r007 = run.findings("R007");
    assert_eq!(r007.len(), 1, "{}", run.stdout);
    let msg = r007[0]["message"].as_str().unwrap();
    assert!(msg.contains("000002_b.up.sql"), "{msg}");
    assert!(msg.contains("a.b") || msg.contains("column"), "{msg}");
}

#[test]
fn an_upgrade_that_builds_something_else_the_second_time_is_r007() {
    // d2's upgrade counts its own runs in a table of d1 (rows survive its downgrade): the
    // downgrade comes back to d1's schema, the second upgrade makes another table.
    let revs = [
        Rev {
            id: "d1",
            parents: &[],
            up: "CREATE TABLE runs (n integer)",
            down: "DROP TABLE runs",
        },
        Rev {
            id: "d2",
            parents: &["d1"],
            up: "INSERT INTO runs VALUES (1); DO $$ BEGIN IF (SELECT count(*) FROM runs) > 1 THEN CREATE TABLE second_t (id integer); ELSE CREATE TABLE first_t (id integer); END IF; END $$",
            down: "DROP TABLE IF EXISTS first_t; DROP TABLE IF EXISTS second_t",
        },
    ];
    let repo = project(&revs);
    let run = stairway(repo.path());
    assert_eq!(run.code, 1, "{}", run.all());
    let r007 = run.findings("R007");
    assert_eq!(r007.len(), 1, "{}", run.stdout);
    let msg = r007[0]["message"].as_str().unwrap();
    assert!(msg.contains("revision d2"), "{msg}");
    assert!(msg.contains("upgrade again"), "{msg}");
    assert!(msg.contains("first upgrade"), "{msg}");
    assert!(msg.contains("first_t") && msg.contains("second_t"), "{msg}");
    assert_eq!(r007[0]["path"], file_of("d2"), "{}", r007[0]);
}

/// Alembic's generic template's env.py (`alembic init`), the URL taken from DATABASE_URL.
const TEMPLATE_ENV: &str = r#"import os
from logging.config import fileConfig

from sqlalchemy import engine_from_config
from sqlalchemy import pool

from alembic import context

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)
target_metadata = None


def run_migrations_online() -> None:
    section = config.get_section(config.config_ini_section, {})
    section["sqlalchemy.url"] = os.environ["DATABASE_URL"]
    connectable = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
"#;

#[test]
fn each_step_gets_a_new_session_as_with_plain_alembic() {
    // The stairway keeps env.py's engine and its connection from one command to the next
    // (NullPool in both env.py files here); what one command leaves in its session must not
    // reach the next. s2's upgrade sets search_path, so its table lands in `side`; its
    // downgrade names the table unqualified, which a new session (plain Alembic: one process,
    // one connection per command) does not find.
    let revs = [
        Rev {
            id: "s1",
            parents: &[],
            up: "CREATE SCHEMA side",
            down: "DROP SCHEMA side",
        },
        Rev {
            id: "s2",
            parents: &["s1"],
            up: "SET search_path TO side, public; CREATE TABLE t2 (id integer)",
            down: "DROP TABLE t2",
        },
    ];
    for env_py in [None, Some(TEMPLATE_ENV)] {
        let repo = project(&revs);
        if let Some(text) = env_py {
            write(repo.path(), "alembic/env.py", text);
        }
        // Plain Alembic on a database of its own: the downgrade fails.
        let server = crate::support::db::Server::from_env();
        let db = server.create(None);
        plain_alembic(repo.path(), &db, &["upgrade", "s2"]);
        let down = alembic_cli(repo.path(), &db.libpq(), &["downgrade", "-1"]);
        let stderr = String::from_utf8_lossy(&down.stderr);
        assert!(!down.status.success(), "plain alembic downgrade: {stderr}");
        assert!(stderr.contains("t2"), "{stderr}");

        let run = stairway(repo.path());
        assert_eq!(run.code, 1, "{}", run.all());
        let r007 = run.findings("R007");
        assert_eq!(r007.len(), 1, "{}", run.stdout);
        let msg = r007[0]["message"].as_str().unwrap();
        assert!(msg.contains("revision s2"), "{msg}");
        assert!(msg.contains("downgrade"), "{msg}");
        assert!(msg.contains("42P01"), "{msg}");
    }
}

/// An env.py that opens a transaction of its own before `context.configure()`: Alembic then
/// commits only when env.py ends, so the migrations of one command cannot be read from
/// another connection before it returns.
const OWN_TRANSACTION_ENV: &str = r#"import os

from sqlalchemy import create_engine, pool

from alembic import context

target_metadata = None


def run_migrations_online() -> None:
    engine = create_engine(os.environ["DATABASE_URL"], poolclass=pool.NullPool)
    with engine.connect() as connection:
        with connection.begin():
            context.configure(connection=connection, target_metadata=target_metadata)
            context.run_migrations()


run_migrations_online()
"#;

#[test]
fn an_env_py_with_a_transaction_of_its_own_is_stepped_one_command_at_a_time() {
    // Within one env.py run such a transaction would hide every step from the stairway's
    // catalog reads until the end, and a forgotten downgrade would pass unseen: the stairway
    // falls back to one command per step. a2's downgrade leaves c2 behind, as plain Alembic
    // shows: after `upgrade a2` and `downgrade a1`, c2 is still there.
    let revs = [
        CLEAN[0],
        Rev {
            id: "a2",
            parents: &["a1"],
            up: "ALTER TABLE t1 ADD COLUMN c2 text",
            down: "",
        },
    ];
    let repo = project(&revs);
    write(repo.path(), "alembic/env.py", OWN_TRANSACTION_ENV);
    let server = crate::support::db::Server::from_env();
    let db = server.create(None);
    for args in [["upgrade", "a2"], ["downgrade", "a1"]] {
        plain_alembic(repo.path(), &db, &args);
    }
    let columns = db.psql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 't1' ORDER BY 1",
    );
    assert_eq!(columns.trim(), "c2\nid", "plain alembic: {columns}");

    let run = stairway(repo.path());
    assert_eq!(run.code, 1, "{}", run.all());
    let r007 = run.findings("R007");
    assert_eq!(r007.len(), 1, "{}", run.stdout);
    let msg = r007[0]["message"].as_str().unwrap();
    assert!(msg.contains("revision a2") && msg.contains("c2"), "{msg}");
}

#[test]
fn a_type_dropped_and_created_again_is_created_again_as_by_plain_alembic() {
    // SQLAlchemy remembers, per Alembic migration context, which enum types a create_table
    // made, and skips their CREATE TYPE the next time; one command per step starts with a
    // new context each time, and so must each step of the stairway.
    let revs = [Rev {
        id: "e1",
        parents: &[],
        up: "",
        down: "",
    }];
    let repo = project(&revs);
    write(
        repo.path(),
        &file_of("e1"),
        "\"\"\"enum\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\nfrom sqlalchemy.dialects import postgresql\n\nrevision = 'e1'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n    op.create_table('t', sa.Column('id', sa.Integer(), primary_key=True), sa.Column('kind', postgresql.ENUM('a', 'b', name='kind'), nullable=False))\n\n\ndef downgrade() -> None:\n    op.drop_table('t')\n    postgresql.ENUM(name='kind').drop(op.get_bind())\n",
    );
    let server = crate::support::db::Server::from_env();
    let db = server.create(None);
    for args in [["upgrade", "e1"], ["downgrade", "base"], ["upgrade", "e1"]] {
        plain_alembic(repo.path(), &db, &args);
    }
    let run = stairway(repo.path());
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.findings("R007").is_empty(), "{}", run.stdout);
    assert_eq!(steps(&run)["stepped"], 1);
}

/// `n` revisions, each adding a table; the ones in `forgetful` leave theirs behind on the way
/// down.
fn long_chain(n: usize, forgetful: &[usize]) -> tempfile::TempDir {
    let ids: Vec<String> = (1..=n).map(|i| format!("l{i:03}")).collect();
    let ups: Vec<String> = (1..=n)
        .map(|i| format!("CREATE TABLE t{i:03} (id integer PRIMARY KEY)"))
        .collect();
    let downs: Vec<String> = (1..=n)
        .map(|i| {
            if forgetful.contains(&i) {
                String::new()
            } else {
                format!("DROP TABLE t{i:03}")
            }
        })
        .collect();
    linear_project(&ids, &ups, &downs)
}

/// [`project`] of a line of revisions: `ids[i]` with `ups[i]`, `downs[i]`, on `ids[i - 1]`.
pub(crate) fn linear_project(
    ids: &[String],
    ups: &[String],
    downs: &[String],
) -> tempfile::TempDir {
    let parents: Vec<Vec<&str>> = (0..ids.len())
        .map(|i| {
            if i == 0 {
                vec![]
            } else {
                vec![ids[i - 1].as_str()]
            }
        })
        .collect();
    let revs: Vec<Rev> = (0..ids.len())
        .map(|i| Rev {
            id: &ids[i],
            parents: &parents[i],
            up: &ups[i],
            down: &downs[i],
        })
        .collect();
    project(&revs)
}

#[test]
fn a_long_chain_reports_its_first_broken_revision_wherever_it_is() {
    // 60 revisions: long enough to be stepped in parts at once on a machine with more than
    // one core; the verdict must be the one a single database stepping them all gives.
    // l045 alone: R007 there, every revision before it stepped.
    let repo = long_chain(60, &[45]);
    // Plain Alembic: l045's downgrade leaves t045 behind.
    let server = crate::support::db::Server::from_env();
    let db = server.create(None);
    for args in [["upgrade", "l045"], ["downgrade", "-1"]] {
        plain_alembic(repo.path(), &db, &args);
    }
    assert_eq!(
        db.psql("SELECT count(*) FROM pg_tables WHERE tablename = 't045'")
            .trim(),
        "1"
    );
    let run = stairway(repo.path());
    assert_eq!(run.code, 1, "{}", run.all());
    let r007 = run.findings("R007");
    assert_eq!(r007.len(), 1, "{}", run.stdout);
    let msg = r007[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("revision l045") && msg.contains("t045"),
        "{msg}"
    );
    assert!(msg.contains("15 later revision(s) not stepped"), "{msg}");
    let data = steps(&run);
    assert_eq!(data["stepped"], 45, "{data}");
    let expected: Vec<String> = (1..=45).map(|i| format!("l{i:03}")).collect();
    assert_eq!(stepped(&data), expected);

    // l010 and l045: only the first is reported, as one database stepping them in order
    // stops there.
    let repo = long_chain(60, &[10, 45]);
    let run = stairway(repo.path());
    let r007 = run.findings("R007");
    assert_eq!(r007.len(), 1, "{}", run.stdout);
    let msg = r007[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("revision l010") && msg.contains("t010"),
        "{msg}"
    );
    assert_eq!(steps(&run)["stepped"], 10);

    // None: all 60 stepped, silent.
    let repo = long_chain(60, &[]);
    let run = stairway(repo.path());
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(steps(&run)["stepped"], 60);
}
