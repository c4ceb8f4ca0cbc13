//! R008 (`--models` / `replay.models`): env.py's `target_metadata` against the replayed head,
//! judged by Alembic's own `alembic check`. The verdict is held to plain `python3 -m alembic
//! check` on a database the test migrates itself.

use std::path::Path;

use crate::replay_stairway::{Rev, project};
use crate::support::alembic::alembic_cli as alembic;
use crate::support::db::Server;
use crate::support::replay::*;
use crate::support::*;

const MODELS: &str = "from sqlalchemy import Column, Integer, MetaData, String, Table\n\nmetadata = MetaData()\n\nusers = Table(\n    \"users\",\n    metadata,\n    Column(\"id\", Integer, primary_key=True),\n    Column(\"email\", String(200)),\n)\n";

const USERS: Rev = Rev {
    id: "u1",
    parents: &[],
    up: "CREATE TABLE users (id integer PRIMARY KEY)",
    down: "DROP TABLE users",
};

const EMAIL: Rev = Rev {
    id: "u2",
    parents: &["u1"],
    up: "ALTER TABLE users ADD COLUMN email varchar(200)",
    down: "ALTER TABLE users DROP COLUMN email",
};

/// A project whose env.py hands Alembic the models in models.py.
fn with_models(revs: &[Rev]) -> tempfile::TempDir {
    let repo = project(revs);
    let dir = repo.path();
    write(dir, "models.py", MODELS);
    let env = std::fs::read_to_string(dir.join("alembic/env.py")).unwrap();
    let env = env.replacen(
        "target_metadata = None",
        "import sys\nsys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))\nfrom models import metadata as target_metadata",
        1,
    );
    assert!(env.contains("from models import"));
    std::fs::write(dir.join("alembic/env.py"), env).unwrap();
    repo
}

/// What plain `alembic upgrade head` then `alembic check` says: (success, stderr+stdout).
fn plain_check(dir: &Path) -> (bool, String) {
    let server = Server::from_env();
    let db = server.create(None);
    let url = db.libpq();
    let up = alembic(dir, &url, &["upgrade", "head"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let check = alembic(dir, &url, &["check"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    (check.status.success(), text)
}

fn diff_texts(run: &crate::support::run::Run) -> Vec<String> {
    run.findings("R008")
        .iter()
        .map(|f| {
            let m = f["message"].as_str().unwrap();
            m.split_once("(alembic check): ")
                .unwrap_or_else(|| panic!("{m}"))
                .1
                .to_string()
        })
        .collect()
}

#[test]
fn a_model_column_the_migrations_lack_is_r008_as_alembic_check_says() {
    let repo = with_models(&[USERS]);
    let run = replay_url(repo.path(), &["--models"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let diffs = diff_texts(&run);
    assert_eq!(diffs.len(), 1, "{}", run.stdout);
    assert!(
        diffs[0].starts_with("('add_column', None, 'users', Column('email'"),
        "{diffs:?}"
    );
    // Plain Alembic on the same project: the same verdict, the same operations, same text.
    let (ok, plain) = plain_check(repo.path());
    assert!(!ok, "{plain}");
    let listed = format!("New upgrade operations detected: [{}]", diffs.join(", "));
    assert!(plain.contains(&listed), "gate: {listed}\nalembic: {plain}");
    let section = run.json()["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Models")
        .cloned()
        .expect("Models section");
    assert_eq!(section["data"]["differences"].as_array().unwrap().len(), 1);
}

#[test]
fn the_fixed_project_is_silent_as_alembic_check_is() {
    let repo = with_models(&[USERS, EMAIL]);
    let run = replay_url(repo.path(), &["--models"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.findings("R008").is_empty(), "{}", run.stdout);
    assert!(
        run.stdout.contains("alembic check: no differences"),
        "{}",
        run.stdout
    );
    let (ok, plain) = plain_check(repo.path());
    assert!(ok, "{plain}");
    assert!(
        plain.contains("No new upgrade operations detected"),
        "{plain}"
    );
}

#[test]
fn without_target_metadata_a_note_says_models_are_not_compared() {
    let repo = project(&[USERS]);
    let run = replay_url(repo.path(), &["--models"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let r008 = run.findings("R008");
    assert_eq!(r008.len(), 1, "{}", run.stdout);
    assert_eq!(r008[0]["severity"], "note");
    assert!(
        r008[0]["message"]
            .as_str()
            .unwrap()
            .contains("target_metadata"),
        "{}",
        r008[0]
    );
    // Not asked for: not run, no note.
    let plain = replay_url(repo.path(), &[]);
    assert!(plain.findings("R008").is_empty(), "{}", plain.stdout);
}
