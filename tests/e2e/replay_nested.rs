//! Nested migration folders: the replay's runners take the chain from gate-chain's discovery
//! (recursive walk), so the replay applies the same revisions, files and order the static
//! checks judge. The expected head comes from plain `alembic heads` on the same project, never
//! from gate-replay itself.

use std::path::Path;

use crate::support::alembic::*;
use crate::support::replay::*;
use crate::support::run::*;
use crate::support::*;

fn move_file(dir: &Path, from: &str, to: &str) {
    let to = dir.join(to);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::rename(dir.join(from), to).unwrap();
}

const NESTED: [(&str, &str); 4] = [
    (
        "1f2e3d4c5b6a",
        "alembic/versions/2024/1f2e3d4c5b6a_create_organisations.py",
    ),
    (
        "2a3b4c5d6e7f",
        "alembic/versions/2024/2a3b4c5d6e7f_create_users_and_userrole.py",
    ),
    (
        "7f8091a2b3c4",
        "alembic/versions/2025/q3/7f8091a2b3c4_add_super_admin_role.py",
    ),
    (
        "b9b9b9b9b9b9",
        "alembic/versions/2025/q4/b9b9b9b9b9b9_nested_marker.py",
    ),
];

/// The crisis example with part of its chain moved into year/quarter subfolders and one new
/// revision, after the old head, living only in a subfolder.
fn nested_crisis(recursive: bool) -> tempfile::TempDir {
    let repo = crisis_plain();
    let dir = repo.path();
    // Moving released migrations is what the lockfile forbids (G003); this test is about
    // discovery, so the project has no lockfile and no expected snapshot yet.
    std::fs::remove_file(dir.join("migrations.lock")).unwrap();
    std::fs::remove_file(dir.join("schema.snapshot.json")).unwrap();
    for (_, nested) in &NESTED[..3] {
        let name = nested.rsplit('/').next().unwrap();
        move_file(dir, &format!("alembic/versions/{name}"), nested);
    }
    write(
        dir,
        NESTED[3].1,
        &alembic_migration(
            NESTED[3].0,
            CRISIS_HEAD,
            "op.execute(\"CREATE TABLE nested_marker (id integer)\")",
            "op.execute(\"DROP TABLE nested_marker\")",
        ),
    );
    if recursive {
        let ini = std::fs::read_to_string(dir.join("alembic.ini")).unwrap();
        let ini = ini.replacen(
            "[alembic]\n",
            "[alembic]\nrecursive_version_locations = true\n",
            1,
        );
        assert!(ini.contains("recursive_version_locations = true"));
        std::fs::write(dir.join("alembic.ini"), ini).unwrap();
    }
    repo
}

#[test]
fn nested_alembic_versions_replay_to_alembics_head_on_the_local_backend() {
    let repo = nested_crisis(true);
    let expected = alembic_heads(repo.path());
    // Alembic itself sees the revision that exists only in a subfolder as the head.
    assert_eq!(expected, vec![NESTED[3].0.to_string()]);

    let run = replay(repo.path(), &["--backend", "local", "--format", "json"]);
    // The only finding allowed is the note that no expected snapshot exists yet.
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(run.json_codes(), vec!["R003"], "{}", run.stdout);
    let json = run.json();
    let timings = &json["sections"][0]["data"];
    assert!(
        timings["backend"]
            .as_str()
            .unwrap_or_default()
            .starts_with("local PostgreSQL"),
        "{timings}"
    );
    // No R002 above: the database records the chain head, and the chain head is Alembic's.
    let mut head: Vec<String> = timings["head"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    head.sort();
    assert_eq!(head, expected);
    assert_eq!(timings["applied"], 14, "{timings}");
    // Per-revision timings name the nested files.
    let migrations = timings["migrations"].as_array().unwrap();
    for (rev, path) in NESTED {
        let row = migrations
            .iter()
            .find(|m| m["revision"] == rev)
            .unwrap_or_else(|| panic!("no timing for {rev}: {timings}"));
        assert_eq!(row["file"], path, "{row}");
        assert!(row["ms"].is_u64(), "{row}");
    }
    assert_eq!(migrations.last().unwrap()["revision"], NESTED[3].0);

    // The static chain report reads the same chain: same head, same upgrade order.
    let chain = replay(repo.path(), &["chain", "--format", "json"]);
    assert_eq!(chain.code, 0, "{}", chain.all());
    let data = &chain.json()["sections"][0]["data"];
    assert_eq!(data["heads"], serde_json::json!(expected));
    let static_order: Vec<&str> = data["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let replayed: Vec<&str> = migrations
        .iter()
        .map(|m| m["revision"].as_str().unwrap())
        .collect();
    assert_eq!(static_order, replayed);
}

#[test]
fn nested_revisions_alembic_would_skip_are_a_configuration_error() {
    let repo = nested_crisis(false);
    // Without recursive_version_locations Alembic does not load the nested files (here it
    // then misses a parent and fails), so replaying would disagree with the static checks.
    let alembic = run_alembic_heads(repo.path());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&alembic.stdout),
        String::from_utf8_lossy(&alembic.stderr)
    );
    assert!(
        !alembic.status.success() || !said.contains(NESTED[3].0),
        "Alembic loaded nested files without recursive_version_locations: {said}"
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("recursive_version_locations = true"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("alembic/versions/2024/"),
        "{}",
        run.stderr
    );
}

/// (revision, file) rows of the replay's timing table.
fn timing_rows(run: &Run) -> Vec<(String, String)> {
    run.json()["sections"][0]["data"]["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["revision"].as_str().unwrap().to_string(),
                m["file"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// (id, path) of the static chain report's upgrade order.
fn chain_rows(dir: &Path) -> Vec<(String, String)> {
    let chain = replay(dir, &["chain", "--format", "json"]);
    assert_eq!(chain.code, 0, "{}", chain.all());
    chain.json()["sections"][0]["data"]["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn nested_golang_migrate_folders_replay_in_version_order() {
    // gate-chain walks SQL folders recursively too; versions order the chain whatever
    // folder holds a file (000010 sits in an earlier-sorting folder than 000002).
    let repo = sql_repo(
        "golang-migrate",
        &[
            (
                "2024/000001_users.up.sql",
                "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);\n",
            ),
            ("2024/000001_users.down.sql", "DROP TABLE users;\n"),
            (
                "2025/000002_email_index.up.sql",
                "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n",
            ),
            (
                "2025/000002_email_index.down.sql",
                "DROP INDEX CONCURRENTLY users_email_idx;\n",
            ),
            (
                "000010_orders.up.sql",
                "CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint REFERENCES users);\n",
            ),
            ("000010_orders.down.sql", "DROP TABLE orders;\n"),
        ],
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let rows = timing_rows(&run);
    assert_eq!(
        rows,
        vec![
            ("1".into(), "db/migrations/2024/000001_users.up.sql".into()),
            (
                "2".into(),
                "db/migrations/2025/000002_email_index.up.sql".into()
            ),
            ("10".into(), "db/migrations/000010_orders.up.sql".into()),
        ]
    );
    // The round trip ran through the nested down files and came back to the same schema.
    assert!(run.findings("R004").is_empty(), "{}", run.stdout);
    assert!(run.findings("R006").is_empty(), "{}", run.stdout);
    // Same files, same order as the static report (whose ids keep the file's spelling).
    let chain = chain_rows(repo.path());
    let chain_files: Vec<&str> = chain.iter().map(|(_, p)| p.as_str()).collect();
    let replay_files: Vec<&str> = rows.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(chain_files, replay_files);
    // applied-after may name a version as the file spells it or as golang-migrate records
    // it: either way the production path stops at 2, runs the fix, and 10 then conflicts.
    write(
        repo.path(),
        "fix.sql",
        "CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY);\n",
    );
    for applied_after in ["000002", "2"] {
        append(
            repo.path(),
            "policy.toml",
            "\n[[emergency.script]]\npath = \"fix.sql\"\nstatus = \"active\"\nsql = \"fix.sql\"\n",
        );
        append(
            repo.path(),
            "policy.toml",
            &format!("applied-after = \"{applied_after}\"\n"),
        );
        let run = replay_url(repo.path(), &["--no-roundtrip"]);
        assert_eq!(
            run.code,
            1,
            "applied-after = {applied_after}: {}",
            run.all()
        );
        let f003 = run.findings("F003");
        assert_eq!(f003.len(), 1, "{}", run.stdout);
        assert_eq!(f003[0]["path"], "db/migrations/000010_orders.up.sql");
        let policy = std::fs::read_to_string(repo.path().join("policy.toml")).unwrap();
        let cut = policy.find("\n[[emergency.script]]").unwrap();
        std::fs::write(repo.path().join("policy.toml"), &policy[..cut]).unwrap();
    }
}

#[test]
fn plain_down_files_are_rollbacks_in_the_replay_and_the_static_report() {
    let repo = sql_repo(
        "plain",
        &[
            ("a_users.sql", "CREATE TABLE users (id int);\n"),
            ("a_users.down.sql", "DROP TABLE users;\n"),
            ("nested/b_orders.up.sql", "CREATE TABLE orders (id int);\n"),
            ("nested/b_orders.down.sql", "DROP TABLE orders;\n"),
        ],
    );
    let chain = chain_rows(repo.path());
    assert_eq!(
        chain,
        vec![
            ("a_users".into(), "db/migrations/a_users.sql".into()),
            (
                "b_orders".into(),
                "db/migrations/nested/b_orders.up.sql".into()
            ),
        ]
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(timing_rows(&run), chain);
    // Both down files ran in the round trip (R004 would name a table left behind).
    assert!(
        !run.stdout.contains("round trip is not checked"),
        "{}",
        run.stdout
    );
    assert!(run.findings("R004").is_empty(), "{}", run.stdout);
}
