//! The rendered revision through real Alembic: `upgrade head`, then `downgrade -1`, in a temp
//! Alembic project whose base revision builds `from`.

use std::path::Path;
use std::process::Command;

use gate_recovery::consolidate::{NewRevision, plan, render_alembic};

use crate::common::{TestDb, assert_same, start_ddl_log, stop_ddl_log};

const FROM: &str = "
CREATE TYPE userrole AS ENUM ('user', 'admin');
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL, role userrole NOT NULL DEFAULT 'user');
";

/// A label added and used at once (a default), which only works when `ADD VALUE` is committed
/// first; SQL text with what breaks naive quoting: colons SQLAlchemy would bind, percent
/// signs, triple quotes, backslashes.
const TO: &str = r#"
CREATE TYPE userrole AS ENUM ('user', 'admin', 'super_admin');
CREATE TABLE users (
    id serial PRIMARY KEY, email text NOT NULL, role userrole NOT NULL DEFAULT 'user',
    note text CONSTRAINT users_note_check CHECK (note <> 'at :noon' AND note <> 'x \:y' AND note NOT LIKE '%x%' AND note <> '"""' AND note <> 'back\slash\')
);
CREATE TABLE admin_permissions (
    id serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users (id),
    level userrole NOT NULL DEFAULT 'super_admin'
);
"#;

const ENV_PY: &str = r#"import os
from alembic import context
from sqlalchemy import create_engine

engine = create_engine(os.environ["GATE_ALEMBIC_URL"])
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"#;

fn write_project(dir: &Path, consolidation: &str) {
    std::fs::create_dir_all(dir.join("versions")).expect("versions folder");
    std::fs::write(
        dir.join("alembic.ini"),
        "[alembic]\nscript_location = %(here)s\n",
    )
    .expect("alembic.ini");
    std::fs::write(dir.join("env.py"), ENV_PY).expect("env.py");
    let base = format!(
        "revision = 'base00000001'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n\n\
         from alembic import op\n\n\ndef upgrade():\n    op.execute(r\"\"\"{FROM}\"\"\")\n\n\n\
         def downgrade():\n    op.execute('DROP TABLE users; DROP TYPE userrole;')\n"
    );
    std::fs::write(dir.join("versions/base00000001_base.py"), base).expect("base revision");
    std::fs::write(
        dir.join("versions/c0ffee000001_consolidate.py"),
        consolidation,
    )
    .expect("consolidation");
}

fn alembic(dir: &Path, url: &str, args: &[&str]) {
    let sa_url = url.replacen("postgres://", "postgresql+psycopg2://", 1);
    let out = Command::new("python3")
        .args(["-m", "alembic", "-c"])
        .arg(dir.join("alembic.ini"))
        .args(args)
        .env("GATE_ALEMBIC_URL", sa_url)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "alembic {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_rendered_revision_runs_under_alembic_both_ways() {
    let (from_db, to_db) = tokio::join!(TestDb::new(FROM), TestDb::new(TO));
    let (from, to) = tokio::join!(from_db.capture(), to_db.capture());
    let p = plan(&from, &to);
    assert!(p.left.is_empty(), "{:#?}", p.left);
    let rev = NewRevision {
        id: "c0ffee000001".into(),
        down_revision: Some("base00000001".into()),
        message: "consolidate emergency fixes".into(),
        created: "2026-12-07 09:00:00.000000".into(),
    };
    let file = render_alembic(&rev, &p);
    assert!(
        file.contains("Revision ID: c0ffee000001\nRevises: base00000001\n"),
        "{file}"
    );
    assert!(
        file.contains("down_revision = r\"\"\"base00000001\"\"\""),
        "{file}"
    );
    assert!(
        file.contains("with op.get_context().autocommit_block():"),
        "{file}"
    );

    let project = tempfile::tempdir().expect("temp dir");
    write_project(project.path(), &file);
    let db = TestDb::new("").await;
    alembic(project.path(), &db.url, &["upgrade", "head"]);
    assert_same(&db.capture().await, &to, "alembic upgrade head", &p);
    alembic(project.path(), &db.url, &["downgrade", "-1"]);
    assert_same(&db.capture().await, &from, "alembic downgrade -1", &p);
    alembic(project.path(), &db.url, &["upgrade", "head"]);
    assert_same(&db.capture().await, &to, "alembic upgrade head again", &p);

    // On a database already at `to` (production), the revision changes nothing.
    alembic(project.path(), &to_db.url, &["stamp", "base00000001"]);
    start_ddl_log(&to_db.url).await;
    alembic(project.path(), &to_db.url, &["upgrade", "head"]);
    let ddl = stop_ddl_log(&to_db.url).await.expect("DDL log");
    assert!(
        ddl.is_empty(),
        "the revision ran DDL on production: {ddl:#?}"
    );
    assert_same(
        &to_db.capture().await,
        &to,
        "alembic upgrade on production",
        &p,
    );
}
