//! `gate-replay chain` and `gate-replay lock` on real git repositories: exit code, stdout and
//! stderr together.

use crate::support::repo::Repo;
use crate::support::run::{REPLAY, Run};

/// A repository with an Alembic policy (one head allowed) and an empty versions folder.
fn alembic_repo() -> Repo {
    let r = Repo::with_policy(
        "version = 1\n\n[migrations]\nkind = \"alembic\"\npath = \"alembic/versions\"\nmax-heads = 1\n",
    );
    std::fs::create_dir_all(r.path("alembic/versions")).unwrap();
    r
}

/// A revision `id` whose `down_revision` is the Python expression `down`.
fn rev(r: &Repo, id: &str, down: &str) {
    r.write(
        format!("alembic/versions/{id}_step.py"),
        format!("\"\"\"step\n\nRevision ID: {id}\n\"\"\"\nrevision = '{id}'\ndown_revision = {down}\nbranch_labels = None\ndepends_on = None\n"),
    );
}

fn text(run: &Run) -> (i32, String, String) {
    (run.code, run.stdout.clone(), run.stderr.clone())
}

#[test]
fn linear_chain_text_json_markdown() {
    let r = alembic_repo();
    rev(&r, "aaa", "None");
    rev(&r, "bbb", "'aaa'");
    rev(&r, "ccc", "'bbb'");
    let (code, out, err) = text(&r.run(REPLAY, &["chain"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("head: ccc\n"), "{out}");
    assert!(out.contains("migrations: 3\n"), "{out}");
    assert!(out.contains("bases: aaa\n"), "{out}");
    let pos = |s: &str| out.find(s).unwrap();
    assert!(pos("1. aaa") < pos("2. bbb") && pos("2. bbb") < pos("3. ccc"));

    let (code, out, _) = text(&r.run(REPLAY, &["chain", "--format", "json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let chain = v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Chain")
        .expect("Chain section")["data"]
        .clone();
    assert_eq!(chain["heads"], serde_json::json!(["ccc"]));
    assert_eq!(chain["count"], 3);
    assert_eq!(chain["order"][1]["parents"], serde_json::json!(["aaa"]));

    let (code, out, _) = text(&r.run(REPLAY, &["chain", "--format", "markdown"]));
    assert_eq!(code, 0);
    assert!(out.contains("```mermaid\nflowchart BT\n"), "{out}");
    assert!(out.contains("r_aaa --> r_bbb"), "{out}");
    assert!(out.contains("class r_ccc head"), "{out}");
}

#[test]
fn two_heads_exit_1_with_merge_advice() {
    let r = alembic_repo();
    rev(&r, "aaa", "None");
    rev(&r, "bbb", "'aaa'");
    rev(&r, "ccc", "'aaa'");
    let (code, out, err) = text(&r.run(REPLAY, &["chain"]));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("C003"), "{out}");
    assert!(
        out.contains("alembic merge -m \"merge heads\" bbb ccc"),
        "{out}"
    );
    assert!(out.contains("heads: bbb, ccc"), "{out}");
}

#[test]
fn unparseable_revision_is_c005_with_location() {
    let r = alembic_repo();
    rev(&r, "aaa", "None");
    r.write(
        "alembic/versions/bad.py",
        "revision = 'bbb'\ndown_revision = get_parent()\n",
    );
    let (code, out, _) = text(&r.run(REPLAY, &["chain"]));
    assert_eq!(code, 1);
    assert!(out.contains("C005"), "{out}");
    assert!(out.contains("alembic/versions/bad.py:2"), "{out}");
}

#[test]
fn lock_then_edit_released_migration() {
    let r = alembic_repo();
    rev(&r, "aaa", "None");
    rev(&r, "bbb", "'aaa'");
    let (code, out, err) = text(&r.run(REPLAY, &["lock"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("wrote migrations.lock (2 migrations, kind=alembic)"),
        "{out}"
    );
    let lock = std::fs::read_to_string(r.path("migrations.lock")).unwrap();
    assert_eq!(lock.lines().count(), 4);
    // No temp files left next to it.
    let leftovers = std::fs::read_dir(&r.root)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0);
    assert_eq!(text(&r.run(REPLAY, &["chain"])).0, 0);

    r.write(
        "alembic/versions/aaa_step.py",
        "revision = 'aaa'\ndown_revision = None\n# edited\n",
    );
    let (code, out, _) = text(&r.run(REPLAY, &["chain"]));
    assert_eq!(code, 1);
    assert!(out.contains("G003"), "{out}");
    assert!(out.contains("aaa_step.py"), "{out}");

    // `lock` does not launder the edit by re-locking over it.
    let before = std::fs::read(r.path("migrations.lock")).unwrap();
    let (code, _, err) = text(&r.run(REPLAY, &["lock"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("G003") && err.contains("delete migrations.lock"),
        "{err}"
    );
    assert_eq!(std::fs::read(r.path("migrations.lock")).unwrap(), before);
}

#[test]
fn hand_edited_lockfile_exits_2() {
    let r = alembic_repo();
    rev(&r, "aaa", "None");
    assert_eq!(text(&r.run(REPLAY, &["lock"])).0, 0);
    let lock = std::fs::read_to_string(r.path("migrations.lock")).unwrap();
    r.write(
        "migrations.lock",
        lock.replace("kind=alembic", "kind=alembic "),
    );
    let (code, out, err) = text(&r.run(REPLAY, &["chain"]));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("migrations.lock:1"), "{err}");
    // Regenerating is the advertised fix.
    assert_eq!(text(&r.run(REPLAY, &["lock"])).0, 0);
    assert_eq!(text(&r.run(REPLAY, &["chain"])).0, 0);
}

#[test]
fn lock_refuses_a_broken_chain() {
    let r = alembic_repo();
    rev(&r, "aaa", "None");
    rev(&r, "bbb", "'missing'");
    let (code, _, err) = text(&r.run(REPLAY, &["lock"]));
    assert_eq!(code, 2);
    assert!(err.contains("C002"), "{err}");
    assert!(!r.path("migrations.lock").exists());
}

#[test]
fn missing_folder_or_policy_exits_2() {
    let r =
        Repo::with_policy("version = 1\n\n[migrations]\nkind = \"alembic\"\npath = \"nowhere\"\n");
    let (code, _, err) = text(&r.run(REPLAY, &["chain"]));
    assert_eq!(code, 2);
    assert!(err.contains("nowhere"), "{err}");
    std::fs::remove_file(r.path("policy.toml")).unwrap();
    assert_eq!(text(&r.run(REPLAY, &["chain"])).0, 2);
}

#[test]
fn sql_dbmate_chain() {
    let r = Repo::with_policy(
        "version = 1\n\n[migrations]\nkind = \"sql\"\nnaming = \"dbmate\"\npath = \"db/migrations\"\n",
    );
    r.write(
        "db/migrations/20240101000000_users.sql",
        "-- migrate:up\ncreate table users(id int);\n-- migrate:down\ndrop table users;\n",
    );
    r.write("db/migrations/20240102000000_idx.sql", "-- migrate:up transaction:false\ncreate index concurrently i on users(id);\n-- migrate:down\ndrop index i;\n");
    let (code, out, err) = text(&r.run(REPLAY, &["chain", "--format", "json"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let data = &v["sections"][0]["data"];
    assert_eq!(data["kind"], "sql:dbmate");
    assert_eq!(data["heads"], serde_json::json!(["20240102000000"]));
    assert_eq!(data["order"][1]["sql"]["no_transaction"], true);
    assert!(
        data["order"][0]["sql"]["down_sql"]
            .as_str()
            .unwrap()
            .contains("drop table users")
    );
}

#[test]
fn command_kind_says_there_is_no_static_chain() {
    let r = Repo::with_policy(
        "version = 1\n\n[migrations]\nkind = \"command\"\nupgrade = \"npx prisma migrate deploy\"\n",
    );
    let (code, out, err) = text(&r.run(REPLAY, &["chain"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("no static chain"), "{out}");
    assert!(out.contains("npx prisma migrate deploy"), "{out}");
}

/// Issue 9: a non-Python file holding DDL in the versions folder was no revision for the
/// chain and skipped by the hook, so nothing saw it. The chain report lists it.
#[test]
fn files_that_are_no_revision_are_listed() {
    let r = alembic_repo();
    rev(&r, "aaa", "None");
    r.write(
        "alembic/versions/emergency_db_fix.sh",
        "psql -c 'ALTER TABLE users ADD x int'\n",
    );
    r.write("alembic/versions/helpers.py", "import os\n");
    let (code, out, err) = text(&r.run(REPLAY, &["chain"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(
            "not revisions: alembic/versions/emergency_db_fix.sh, alembic/versions/helpers.py\n"
        ),
        "{out}"
    );
    assert!(out.contains("migrations: 1\n"), "{out}");

    let (code, out, err) = text(&r.run(REPLAY, &["chain", "--format", "json"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let chain = &v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Chain")
        .expect("Chain section")["data"];
    assert_eq!(
        chain["not_revisions"],
        serde_json::json!([
            "alembic/versions/emergency_db_fix.sh",
            "alembic/versions/helpers.py"
        ])
    );

    // A folder of revisions only lists none.
    let r = alembic_repo();
    rev(&r, "aaa", "None");
    let (_, out, _) = text(&r.run(REPLAY, &["chain"]));
    assert!(!out.contains("not revisions"), "{out}");
}
