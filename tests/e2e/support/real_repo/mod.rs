//! A repository shaped like the real crisis repositories of issue 8, generated in a temp folder
//! (never vendored): Alembic in `database/migrations` with an `env.py` that imports the
//! application's settings (pydantic-settings, required variables) and models, a
//! `.python-version`, a root full of reports and emergency scripts that are real psycopg2 /
//! SQLAlchemy programs, and a policy.toml that registers them. `oracle` computes the verdict
//! the gate must reach with plain tools (python3 -m alembic, the scripts run by hand, pg_dump).

pub mod oracle;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use super::db::{Db, Server};
use super::docker::IMAGE;
use super::repo::git_in;
use super::run::{REPLAY, Run, command};
use super::write;

/// Secrets the gate must never print. `JWT` reaches the children through
/// `replay.env = { JWT_SECRET_KEY = "${TEST_JWT}" }`, `AUTH0` as a literal replay.env value.
pub const JWT: &str = "jwt-7d1c-SECRET-4f9a2b";
pub const AUTH0: &str = "tenant-4471.eu.auth0.example";

/// A `replay.database-url` naming the driver explicitly (the application's settings read the
/// URL as is; a bare `postgresql://` means psycopg 3 to SQLAlchemy 2.1, psycopg2 to 2.0).
pub const URL_TEMPLATE: &str = "postgresql+psycopg2://{user}:{password}@{host}:{port}/{database}";

pub const VERSIONS: &str = "database/migrations/versions";

// ---------------------------------------------------------------------------------------------
// Migrations

/// One Alembic revision of the generated chain.
#[derive(Debug, Clone)]
pub struct Migration {
    pub rev: &'static str,
    /// Empty for a base; two for a merge.
    pub parents: Vec<&'static str>,
    pub slug: &'static str,
    pub upgrade: String,
    pub downgrade: String,
}

impl Migration {
    pub fn new(
        rev: &'static str,
        parents: &[&'static str],
        slug: &'static str,
        upgrade: &str,
        downgrade: &str,
    ) -> Self {
        Migration {
            rev,
            parents: parents.to_vec(),
            slug,
            upgrade: upgrade.to_string(),
            downgrade: downgrade.to_string(),
        }
    }

    /// Repository-relative path of the migration file.
    pub fn file(&self) -> String {
        format!("{VERSIONS}/{}_{}.py", self.rev, self.slug)
    }

    fn source(&self) -> String {
        let down = match self.parents.as_slice() {
            [] => "None".to_string(),
            [one] => format!("\"{one}\""),
            many => format!(
                "({})",
                many.iter()
                    .map(|p| format!("\"{p}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let title = self.slug.replace('_', " ");
        format!(
            r#""""{title}

Revision ID: {rev}
Revises: {revises}
Create Date: 2025-03-01 10:00:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "{rev}"
down_revision: Union[str, Sequence[str], None] = {down}
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
"#,
            rev = self.rev,
            revises = self.parents.join(", "),
            upgrade = indent(&self.upgrade),
            downgrade = indent(&self.downgrade),
        )
    }
}

fn indent(body: &str) -> String {
    body.trim_matches('\n')
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("    {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub const R01_ORGANISATIONS: &str = "3f1c2a9b7d10";
pub const R02_USERS: &str = "8a4e6b2c1f22";
pub const R03_USERS_INDEX: &str = "c7d93e0a5b34";
pub const R04_FEATURE_FLAGS: &str = "1b5f8c3d9e46";
pub const R05_LAST_LOGIN: &str = "e2a07d4f6c58";
pub const R06_SUPER_ADMIN: &str = "5c8b1e9a3d6a";
pub const R07_AUDIT_LOG: &str = "9d3f2b7c4e7c";
pub const R08_PLAN: &str = "a6e4c0d8f18e";
pub const R09_API_KEYS: &str = "4e7a9c1b2d90";
pub const R10_FLAG_STATUS: &str = "b8c2d5e7f3a2";
pub const HEAD: &str = R10_FLAG_STATUS;

/// The application's chain: ten revisions with tables, an enum, columns and indexes.
pub fn chain() -> Vec<Migration> {
    vec![
        Migration::new(
            R01_ORGANISATIONS,
            &[],
            "create_organisations",
            r#"op.create_table(
    "organisations",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)"#,
            r#"op.drop_table("organisations")"#,
        ),
        Migration::new(
            R02_USERS,
            &[R01_ORGANISATIONS],
            "create_users_and_userrole",
            r#"postgresql.ENUM("user", "admin", name="userrole").create(op.get_bind())
op.create_table(
    "users",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("role", postgresql.ENUM(name="userrole", create_type=False), nullable=False),
    sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id", ondelete="CASCADE")),
)"#,
            r#"op.drop_table("users")
op.execute("DROP TYPE userrole")"#,
        ),
        Migration::new(
            R03_USERS_INDEX,
            &[R02_USERS],
            "index_users_organisation",
            r#"op.create_index("ix_users_organisation_id", "users", ["organisation_id"])"#,
            r#"op.drop_index("ix_users_organisation_id", table_name="users")"#,
        ),
        Migration::new(
            R04_FEATURE_FLAGS,
            &[R03_USERS_INDEX],
            "create_feature_flags",
            r#"op.create_table(
    "feature_flags",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
)"#,
            r#"op.drop_table("feature_flags")"#,
        ),
        Migration::new(
            R05_LAST_LOGIN,
            &[R04_FEATURE_FLAGS],
            "users_last_login",
            r#"op.add_column("users", sa.Column("last_login", sa.DateTime(timezone=True), nullable=True))"#,
            r#"op.drop_column("users", "last_login")"#,
        ),
        Migration::new(
            R06_SUPER_ADMIN,
            &[R05_LAST_LOGIN],
            "add_super_admin_role",
            r#"# INC-2211: production rejected role 'super_admin'.
op.execute("ALTER TYPE userrole ADD VALUE 'super_admin'")"#,
            r#"# PostgreSQL cannot drop an enum value: rebuild the type without it.
op.execute("UPDATE users SET role = 'admin' WHERE role = 'super_admin'")
op.execute("ALTER TYPE userrole RENAME TO userrole_old")
op.execute("CREATE TYPE userrole AS ENUM ('user', 'admin')")
op.execute("ALTER TABLE users ALTER COLUMN role TYPE userrole USING role::text::userrole")
op.execute("DROP TYPE userrole_old")"#,
        ),
        Migration::new(
            R07_AUDIT_LOG,
            &[R06_SUPER_ADMIN],
            "create_audit_log",
            r#"op.create_table(
    "audit_log",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)"#,
            r#"op.drop_table("audit_log")"#,
        ),
        Migration::new(
            R08_PLAN,
            &[R07_AUDIT_LOG],
            "organisation_plan",
            r#"op.add_column("organisations", sa.Column("plan", sa.String(20), nullable=False, server_default="free"))"#,
            r#"op.drop_column("organisations", "plan")"#,
        ),
        Migration::new(
            R09_API_KEYS,
            &[R08_PLAN],
            "create_api_keys",
            r#"op.create_table(
    "api_keys",
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id", ondelete="CASCADE")),
    sa.Column("key_hash", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)
# OPS-318 created this index by hand on production; tolerate it.
op.execute("CREATE INDEX IF NOT EXISTS ix_feature_flags_name ON feature_flags (name)")"#,
            r#"op.execute("DROP INDEX IF EXISTS ix_feature_flags_name")
op.drop_table("api_keys")"#,
        ),
        Migration::new(
            R10_FLAG_STATUS,
            &[R09_API_KEYS],
            "feature_flag_status",
            r#"op.add_column("feature_flags", sa.Column("status", sa.String(20), nullable=False, server_default="active"))"#,
            r#"op.drop_column("feature_flags", "status")"#,
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// The same application as a golang-migrate SQL chain

/// Where [`SqlRepo`] keeps its migrations.
pub const SQL_MIGRATIONS: &str = "db/migrations";

/// One golang-migrate migration: `{version}_{slug}.up.sql` and its `.down.sql`.
#[derive(Debug, Clone, Copy)]
pub struct SqlMigration {
    pub version: &'static str,
    pub slug: &'static str,
    pub up: &'static str,
    pub down: &'static str,
}

impl SqlMigration {
    pub fn up_file(&self) -> String {
        format!("{SQL_MIGRATIONS}/{}_{}.up.sql", self.version, self.slug)
    }

    pub fn down_file(&self) -> String {
        format!("{SQL_MIGRATIONS}/{}_{}.down.sql", self.version, self.slug)
    }

    /// The version as golang-migrate records it (no leading zeros).
    pub fn recorded(&self) -> String {
        self.version.trim_start_matches('0').to_string()
    }
}

/// The application of [`chain`] written the way golang-migrate teams write it: one file per
/// step with comments, a CONCURRENTLY index alone in its file (golang-migrate sends a file as
/// one implicit transaction otherwise), the enum value guarded, and a CHECK added NOT VALID
/// then validated in the next file. Migration 000009 still builds `ix_feature_flags_name`
/// without CONCURRENTLY, as the Alembic chain does.
pub fn sql_chain() -> Vec<SqlMigration> {
    let m = |version, slug, up, down| SqlMigration {
        version,
        slug,
        up,
        down,
    };
    vec![
        m(
            "000001",
            "create_organisations",
            "-- Organisations own users, feature flags and API keys.\nCREATE TABLE organisations (\n    id serial PRIMARY KEY,\n    name varchar(200) NOT NULL UNIQUE,\n    created_at timestamptz NOT NULL DEFAULT now()\n);\n",
            "DROP TABLE organisations;\n",
        ),
        m(
            "000002",
            "create_users_and_userrole",
            "CREATE TYPE userrole AS ENUM ('user', 'admin');\n\nCREATE TABLE users (\n    id serial PRIMARY KEY,\n    email varchar(320) NOT NULL UNIQUE,\n    role userrole NOT NULL,\n    organisation_id integer REFERENCES organisations (id) ON DELETE CASCADE\n);\n",
            "DROP TABLE users;\nDROP TYPE userrole;\n",
        ),
        m(
            "000003",
            "index_users_organisation",
            "-- Alone in its file: CONCURRENTLY refuses a transaction.\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix_users_organisation_id ON users (organisation_id);\n",
            "DROP INDEX CONCURRENTLY IF EXISTS ix_users_organisation_id;\n",
        ),
        m(
            "000004",
            "create_feature_flags",
            "CREATE TABLE feature_flags (\n    id serial PRIMARY KEY,\n    name varchar(100) NOT NULL,\n    enabled boolean NOT NULL DEFAULT false\n);\n",
            "DROP TABLE feature_flags;\n",
        ),
        m(
            "000005",
            "users_last_login",
            "ALTER TABLE users ADD COLUMN last_login timestamptz;\n",
            "ALTER TABLE users DROP COLUMN last_login;\n",
        ),
        m(
            "000006",
            "add_super_admin_role",
            "-- INC-2211: production rejected role 'super_admin'.\nALTER TYPE userrole ADD VALUE IF NOT EXISTS 'super_admin';\n",
            "-- PostgreSQL cannot drop an enum value: rebuild the type without it.\nUPDATE users SET role = 'admin' WHERE role = 'super_admin';\nALTER TYPE userrole RENAME TO userrole_old;\nCREATE TYPE userrole AS ENUM ('user', 'admin');\nALTER TABLE users ALTER COLUMN role TYPE userrole USING role::text::userrole;\nDROP TYPE userrole_old;\n",
        ),
        m(
            "000007",
            "create_audit_log",
            "CREATE TABLE audit_log (\n    id serial PRIMARY KEY,\n    user_id integer REFERENCES users (id) ON DELETE SET NULL,\n    action varchar(100) NOT NULL,\n    created_at timestamptz NOT NULL DEFAULT now()\n);\n",
            "DROP TABLE audit_log;\n",
        ),
        m(
            "000008",
            "organisation_plan",
            "-- A constant default: no rewrite since PostgreSQL 11.\nALTER TABLE organisations ADD COLUMN plan varchar(20) NOT NULL DEFAULT 'free';\n",
            "ALTER TABLE organisations DROP COLUMN plan;\n",
        ),
        m(
            "000009",
            "create_api_keys",
            "CREATE TABLE api_keys (\n    id serial PRIMARY KEY,\n    organisation_id integer REFERENCES organisations (id) ON DELETE CASCADE,\n    key_hash varchar(128) NOT NULL UNIQUE,\n    created_at timestamptz NOT NULL DEFAULT now()\n);\n\n-- OPS-318 created this index by hand on production; tolerate it.\nCREATE INDEX IF NOT EXISTS ix_feature_flags_name ON feature_flags (name);\n",
            "DROP INDEX IF EXISTS ix_feature_flags_name;\nDROP TABLE api_keys;\n",
        ),
        m(
            "000010",
            "feature_flag_status",
            "ALTER TABLE feature_flags ADD COLUMN status varchar(20) NOT NULL DEFAULT 'active';\n",
            "ALTER TABLE feature_flags DROP COLUMN status;\n",
        ),
        m(
            "000011",
            "feature_flag_status_check",
            "-- NOT VALID: existing rows are checked by the next migration, without blocking writes.\nALTER TABLE feature_flags\n    ADD CONSTRAINT ck_feature_flags_status CHECK (status IN ('active', 'retired')) NOT VALID;\n",
            "ALTER TABLE feature_flags DROP CONSTRAINT ck_feature_flags_status;\n",
        ),
        m(
            "000012",
            "validate_feature_flag_status_check",
            "ALTER TABLE feature_flags VALIDATE CONSTRAINT ck_feature_flags_status;\n",
            "-- A validated constraint cannot be marked NOT VALID again: add it back as 000011 did.\nALTER TABLE feature_flags DROP CONSTRAINT ck_feature_flags_status;\nALTER TABLE feature_flags\n    ADD CONSTRAINT ck_feature_flags_status CHECK (status IN ('active', 'retired')) NOT VALID;\n",
        ),
    ]
}

/// A git repository (committed) holding [`sql_chain`] with a `kind = "sql"` policy.
#[derive(Debug)]
pub struct SqlRepo {
    pub dir: tempfile::TempDir,
    pub chain: Vec<SqlMigration>,
}

impl SqlRepo {
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let chain = sql_chain();
        write(
            root,
            "policy.toml",
            &format!(
                "# Migration Gate policy of the Zebra admin API (golang-migrate).\nversion = 1\n\n[migrations]\nkind = \"sql\"\npath = \"{SQL_MIGRATIONS}\"\nnaming = \"golang-migrate\"\nmax-heads = 1\n\n[replay]\nbackend = \"url\"\n"
            ),
        );
        write(
            root,
            "README.md",
            "# Zebra admin API\n\n`migrate -path db/migrations -database $DATABASE_URL up`\n",
        );
        for m in &chain {
            write(root, &m.up_file(), m.up);
            write(root, &m.down_file(), m.down);
        }
        commit_all(root, "zebra admin api (golang-migrate)");
        SqlRepo { dir, chain }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

// ---------------------------------------------------------------------------------------------
// Emergency scripts

/// One emergency script in the root and its `[[emergency.script]]` entry.
#[derive(Debug, Clone)]
pub struct Fix {
    pub path: &'static str,
    pub applied_after: &'static str,
    pub applied_on: &'static str,
    pub args: Vec<&'static str>,
    pub run: String,
    pub rollback: Option<String>,
    pub source: String,
}

impl Fix {
    fn python(
        path: &'static str,
        applied_after: &'static str,
        applied_on: &'static str,
        rollback: bool,
        source: &str,
    ) -> Self {
        Fix {
            path,
            applied_after,
            applied_on,
            args: Vec::new(),
            run: format!("python3 {path}"),
            rollback: rollback.then(|| format!("python3 {path} --rollback")),
            source: source.to_string(),
        }
    }
}

/// How the scripts reach the database: where the app's URL names the SQLAlchemy driver, libpq
/// does not want it (every script in the real repository carries this line).
const DSN: &str =
    r#"DSN = os.environ["DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://", 1)"#;

pub const ENUM_FIX: &str = "emergency_enum_fix.py";
pub const FLAGS_FIX: &str = "fix_feature_flag_index.py";
pub const SSL_FIX: &str = "emergency_ssl_fix.py";
pub const ROLE_FIX: &str = "fix_zebra_admin_role.py";
pub const SEED_FIX: &str = "emergency_seed_admin_flag.py";
pub const SILENT_FIX: &str = "emergency_fix_audit_ip.py";
pub const PROMPT_FIX: &str = "fix_confirm_api_key_cleanup.py";
pub const BACKUP_FIX: &str = "fix_org_backup.py";

/// The emergency scripts of the real repository, each a different way real fixes behave.
// Fixture text: one long literal per script, read top to bottom.
#[allow(clippy::too_many_lines)]
pub fn fixes() -> Vec<Fix> {
    vec![
        // Conflicts with a later migration (the crisis) and fails when run twice.
        Fix::python(
            ENUM_FIX,
            R05_LAST_LOGIN,
            "2025-04-29",
            true,
            &format!(
                r#"#!/usr/bin/env python3
"""EMERGENCY INC-2211: production rejected role 'super_admin' (invalid input value for enum).

Run by hand on production on 2025-04-29 at revision e2a07d4f6c58. Migration 5c8b1e9a3d6a
adds the same value later.
"""
import os
import sys

import psycopg2

{DSN}

conn = psycopg2.connect(DSN)
conn.autocommit = True
cur = conn.cursor()
if "--rollback" in sys.argv:
    cur.execute("UPDATE users SET role = 'admin' WHERE role = 'super_admin'")
    cur.execute("ALTER TYPE userrole RENAME TO userrole_old")
    cur.execute("CREATE TYPE userrole AS ENUM ('user', 'admin')")
    cur.execute("ALTER TABLE users ALTER COLUMN role TYPE userrole USING role::text::userrole")
    cur.execute("DROP TYPE userrole_old")
    print("rolled back: userrole no longer has 'super_admin'")
else:
    # Written in a hurry: no IF NOT EXISTS.
    cur.execute("ALTER TYPE userrole ADD VALUE 'super_admin'")
    print("added 'super_admin' to userrole")
conn.close()
"#
            ),
        ),
        // Refuses to touch the database without flags; registered with args.
        Fix {
            args: vec!["--apply", "--yes"],
            ..Fix::python(
                FLAGS_FIX,
                R05_LAST_LOGIN,
                "2025-05-02",
                true,
                &format!(
                    r#"#!/usr/bin/env python3
"""Fix OPS-318: flag lookups of the admin console time out (sequential scan).

A dry run unless called with --apply --yes, as ops asked for every script that writes.
Migration 4e7a9c1b2d90 creates the same index with IF NOT EXISTS.
"""
import os
import sys

import psycopg2

{DSN}

if "--rollback" in sys.argv:
    sql = "DROP INDEX IF EXISTS ix_feature_flags_name"
elif "--apply" in sys.argv and "--yes" in sys.argv:
    sql = "CREATE INDEX IF NOT EXISTS ix_feature_flags_name ON feature_flags (name)"
else:
    print("dry run: would create ix_feature_flags_name; pass --apply --yes to change the database")
    sys.exit(2)

conn = psycopg2.connect(DSN)
with conn, conn.cursor() as cur:
    cur.execute(sql)
conn.close()
print("done:", sql)
"#
                ),
            )
        },
        // Insists on TLS, as production's pooler does.
        Fix::python(
            SSL_FIX,
            HEAD,
            "2025-06-11",
            true,
            &format!(
                r#"#!/usr/bin/env python3
"""EMERGENCY INC-2304: login needs users.is_verified. Production only accepts TLS."""
import os
import sys

import psycopg2

{DSN}

conn = psycopg2.connect(DSN, sslmode="require")
with conn, conn.cursor() as cur:
    cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    if not cur.fetchone()[0]:
        sys.exit("refusing to run without TLS")
    if "--rollback" in sys.argv:
        cur.execute("ALTER TABLE users DROP COLUMN IF EXISTS is_verified")
    else:
        cur.execute("ALTER TABLE users ADD COLUMN IF NOT EXISTS is_verified boolean NOT NULL DEFAULT false")
conn.close()
print("users.is_verified in place")
"#
            ),
        ),
        // A guarded data fix through the application's own settings (needs replay.env).
        Fix::python(
            ROLE_FIX,
            R03_USERS_INDEX,
            "2025-03-18",
            true,
            r#"#!/usr/bin/env python3
"""Fix INC-2150: Zebra Corp's administrator lost the admin role.

Restores the organisation and its administrator and grants the role. Uses the application's
settings, so it needs the application's environment.
"""
import sys

import sqlalchemy as sa

from app.settings import settings

ZEBRA = "Zebra Corp"
ADMIN = "admin@zebra.example"

engine = sa.create_engine(settings.DATABASE_URL)
with engine.begin() as conn:
    if "--rollback" in sys.argv:
        conn.execute(sa.text("DELETE FROM users WHERE email = :e"), {"e": ADMIN})
        conn.execute(sa.text("DELETE FROM organisations WHERE name = :n"), {"n": ZEBRA})
    else:
        conn.execute(
            sa.text(
                "INSERT INTO organisations (name) SELECT CAST(:n AS varchar) "
                "WHERE NOT EXISTS (SELECT 1 FROM organisations WHERE name = CAST(:n AS varchar))"
            ),
            {"n": ZEBRA},
        )
        conn.execute(
            sa.text(
                "INSERT INTO users (email, role, organisation_id) "
                "SELECT CAST(:e AS varchar), 'user'::userrole, id FROM organisations "
                "WHERE name = CAST(:n AS varchar) "
                "AND NOT EXISTS (SELECT 1 FROM users WHERE email = CAST(:e AS varchar))"
            ),
            {"e": ADMIN, "n": ZEBRA},
        )
        conn.execute(sa.text("UPDATE users SET role = 'admin' WHERE email = :e AND role <> 'admin'"), {"e": ADMIN})
print("zebra admin restored")
"#,
        ),
        // A data fix that inserts again on every run.
        Fix::python(
            SEED_FIX,
            R04_FEATURE_FLAGS,
            "2025-03-25",
            true,
            &format!(
                r#"#!/usr/bin/env python3
"""EMERGENCY INC-2188: the admin console flag row was missing on production."""
import os
import sys

import psycopg2

{DSN}

conn = psycopg2.connect(DSN)
with conn, conn.cursor() as cur:
    if "--rollback" in sys.argv:
        cur.execute("DELETE FROM feature_flags WHERE name = 'admin_console'")
    else:
        cur.execute("INSERT INTO feature_flags (name, enabled) VALUES ('admin_console', true)")
conn.close()
print("admin_console flag seeded")
"#
            ),
        ),
        // Swallows its own failure: prints FAILED and exits 0.
        Fix {
            rollback: None,
            ..Fix::python(
                SILENT_FIX,
                R05_LAST_LOGIN,
                "2025-05-06",
                false,
                &format!(
                    r#"#!/usr/bin/env python3
"""EMERGENCY INC-2240: record the client IP in the audit log."""
import os
import sys

import psycopg2

{DSN}

try:
    conn = psycopg2.connect(DSN)
    with conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE audit_log ADD COLUMN ip_address inet")
    conn.close()
    print("audit_log.ip_address added")
except Exception as e:
    # The deploy pipeline must go on whatever happens here.
    print(f"FAILED: {{e}}")
sys.exit(0)
"#
                ),
            )
        },
        // Asks before deleting.
        Fix {
            rollback: None,
            ..Fix::python(
                PROMPT_FIX,
                R09_API_KEYS,
                "2025-07-01",
                false,
                &format!(
                    r#"#!/usr/bin/env python3
"""Fix OPS-402: delete API keys that belong to no organisation. Asks first."""
import os
import sys

import psycopg2

{DSN}

answer = input("This deletes API keys of deleted organisations. Type YES to continue: ")
if answer.strip() != "YES":
    print("aborted")
    sys.exit(1)
conn = psycopg2.connect(DSN)
with conn, conn.cursor() as cur:
    cur.execute("DELETE FROM api_keys WHERE organisation_id IS NULL")
conn.close()
"#
                ),
            )
        },
        // Leaves backup_info_*.txt in the current folder; its rollback leaves the table.
        Fix::python(
            BACKUP_FIX,
            R08_PLAN,
            "2025-06-20",
            true,
            &format!(
                r#"#!/usr/bin/env python3
"""Fix INC-2277: keep a copy of organisations before plans are migrated."""
import datetime
import os
import sys

import psycopg2

{DSN}

conn = psycopg2.connect(DSN)
with conn, conn.cursor() as cur:
    if "--rollback" in sys.argv:
        # Empties the copy; the table stays.
        cur.execute("DELETE FROM organisations_backup")
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d_%H%M%S_%f")
        with open(f"backup_info_{{stamp}}.txt", "w") as f:
            f.write("organisations copied to organisations_backup\n")
        cur.execute("CREATE TABLE IF NOT EXISTS organisations_backup AS SELECT * FROM organisations")
conn.close()
print("backup done")
"#
            ),
        ),
    ]
}

/// A fix registered with only a command, no file of its own to run.
pub fn command_fix(path: &'static str, applied_after: &'static str, run: &str) -> Fix {
    Fix {
        path,
        applied_after,
        applied_on: "2025-08-01",
        args: Vec::new(),
        run: run.to_string(),
        rollback: None,
        source: format!("#!/bin/sh\n{run}\n"),
    }
}

// ---------------------------------------------------------------------------------------------
// The repository

/// What varies between the generated repositories.
#[derive(Debug, Clone)]
pub struct Options {
    /// `replay.env`, in file order (values as written in policy.toml).
    pub env: Vec<(String, String)>,
    pub python: String,
    /// `replay.database-url`; `None` leaves the key out (the gate's default form).
    pub database_url: Option<String>,
    pub migrations: Vec<Migration>,
    pub fixes: Vec<Fix>,
    pub roundtrip: bool,
    /// Further files (repository-relative path, content).
    pub files: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            env: vec![
                ("JWT_SECRET_KEY".into(), "${TEST_JWT}".into()),
                ("AUTH0_DOMAIN".into(), AUTH0.into()),
            ],
            python: "python3".into(),
            // The gate's default form: `postgresql://`, which SQLAlchemy 2.x accepts.
            database_url: None,
            migrations: chain(),
            fixes: fixes(),
            roundtrip: true,
            files: Vec::new(),
        }
    }
}

impl Options {
    /// Only the fixes named.
    pub fn with_fixes(mut self, keep: &[&str]) -> Self {
        self.fixes.retain(|f| keep.contains(&f.path));
        self
    }
}

/// A generated repository in a temp folder, committed to git like the real one.
#[derive(Debug)]
pub struct RealRepo {
    pub dir: tempfile::TempDir,
    pub options: Options,
}

impl RealRepo {
    pub fn generate(options: Options) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for (rel, text) in files(&options) {
            write(root, &rel, &text);
        }
        commit_all(root, "zebra admin api");
        RealRepo { dir, options }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The file of `rev`, repository-relative.
    pub fn file_of(&self, rev: &str) -> Option<String> {
        self.options
            .migrations
            .iter()
            .find(|m| m.rev == rev)
            .map(Migration::file)
    }

    /// Files under the repository (relative, `/`-separated) whose name starts with `prefix`.
    pub fn files_named(&self, prefix: &str) -> Vec<String> {
        walkdir::WalkDir::new(self.path())
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .map(|e| {
                e.path()
                    .strip_prefix(self.path())
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect()
    }

    /// The interpreter `python` really is when started in the repository (pyenv shims read
    /// `.python-version` from the working folder).
    pub fn interpreter(&self, python: &str) -> String {
        let out = Command::new(python)
            .args(["-c", "import sys; print(sys.executable)"])
            .current_dir(self.path())
            .output()
            .expect("run the interpreter");
        assert!(out.status.success(), "{python} does not start");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// The version `python3 --version` reports here, for `.python-version`.
fn python_version() -> String {
    let out = Command::new("python3")
        .arg("--version")
        .output()
        .expect("python3 is required");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.trim()
        .strip_prefix("Python ")
        .unwrap_or_else(|| panic!("unexpected `python3 --version`: {text}"))
        .to_string()
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn policy(o: &Options) -> String {
    let mut p = String::from(
        r#"# Migration Gate policy of the Zebra admin API.
version = 1

[migrations]
kind = "alembic"
path = "database/migrations/versions"
config = "alembic.ini"
lockfile = "migrations.lock"
max-heads = 1

[emergency]
scope = [".", "database"]
names = ['(?i)emergency', '(?i)(^|[_-])fix', '(?i)repair', '(?i)hotfix']
ddl = true
ignore = ["setup.py", "conftest.py"]

[governance]
approvers = ["lead@example.com"]
ticket = '^(INC|OPS)-[0-9]+$'
convert-within-days = 14
four-eyes = true
trailer = "Approved-by"
require-signed = false
require-rollback = true

[replay]
backend = "auto"
image = "migration-gate/postgres:15"
snapshot = "schema.snapshot.json"
fixes = true
slow-ms = 5000
timeout-s = 600
"#,
    );
    writeln!(p, "python = {}", toml_str(&o.python)).unwrap();
    writeln!(p, "roundtrip = {}", o.roundtrip).unwrap();
    if let Some(url) = &o.database_url {
        writeln!(p, "database-url = {}", toml_str(url)).unwrap();
    }
    let env = o
        .env
        .iter()
        .map(|(k, v)| format!("{k} = {}", toml_str(v)))
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(p, "env = {{ {env} }}").unwrap();
    for f in &o.fixes {
        writeln!(p, "\n[[emergency.script]]").unwrap();
        writeln!(p, "path = {}", toml_str(f.path)).unwrap();
        writeln!(p, "status = \"active\"").unwrap();
        writeln!(p, "author = \"dev@example.com\"").unwrap();
        writeln!(p, "applied-after = {}", toml_str(f.applied_after)).unwrap();
        writeln!(p, "applied-on = {}", f.applied_on).unwrap();
        writeln!(p, "run = {}", toml_str(&f.run)).unwrap();
        if !f.args.is_empty() {
            let args = f.args.iter().map(|a| toml_str(a)).collect::<Vec<_>>();
            writeln!(p, "args = [{}]", args.join(", ")).unwrap();
        }
        if let Some(rb) = &f.rollback {
            writeln!(p, "rollback = {}", toml_str(rb)).unwrap();
        }
    }
    p
}

const ALEMBIC_INI: &str = r#"# The database URL comes from app.settings (DATABASE_URL), never from this file.
[alembic]
script_location = database/migrations
prepend_sys_path = .
version_path_separator = os

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console
qualname =

[logger_sqlalchemy]
level = WARN
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"#;

const ENV_PY: &str = r#""""Alembic environment: the database and the models come from the application."""
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from app.models import Base
from app.settings import settings

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=settings.DATABASE_URL, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = create_engine(settings.DATABASE_URL, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
"#;

const SCRIPT_MAKO: &str = r#""""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: Union[str, Sequence[str], None] = ${repr(down_revision)}
branch_labels: Union[str, Sequence[str], None] = ${repr(branch_labels)}
depends_on: Union[str, Sequence[str], None] = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
"#;

const SETTINGS_PY: &str = r#""""Settings of the Zebra admin API, from the environment.

DATABASE_URL is a SQLAlchemy URL and is used as given; JWT_SECRET_KEY and AUTH0_DOMAIN are
required: the application refuses to start without them.
"""
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", case_sensitive=True, extra="ignore")

    DATABASE_URL: str
    JWT_SECRET_KEY: str
    JWT_ALGORITHM: str = "HS256"
    AUTH0_DOMAIN: str
    ENVIRONMENT: str = "development"


settings = Settings()
"#;

const MODELS_PY: &str = r#""""SQLAlchemy models of the Zebra admin API (env.py's target_metadata)."""
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


UserRole = sa.Enum("user", "admin", "super_admin", name="userrole")


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    plan: Mapped[str] = mapped_column(sa.String(20), server_default="free")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    role: Mapped[str] = mapped_column(UserRole)
    organisation_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    last_login: Mapped[Optional[datetime]] = mapped_column(sa.DateTime(timezone=True))


class FeatureFlag(Base):
    __tablename__ = "feature_flags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), index=True)
    enabled: Mapped[bool] = mapped_column(server_default=sa.false())
    status: Mapped[str] = mapped_column(sa.String(20), server_default="active")


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("organisations.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(sa.String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
"#;

/// Reports, notes and data that real crisis repositories collect in their root: prose and data,
/// never scripts.
const REPORTS: &[(&str, &str)] = &[
    (
        "EMERGENCY_FIX_REPORT.md",
        "# Emergency fix report\n\nINC-2211: super_admin role added by hand.\n",
    ),
    (
        "emergency_fix_summary.json",
        "{\"fixed\": [\"INC-2211\", \"INC-2188\"], \"pending\": [\"INC-2304\"]}\n",
    ),
    (
        "fix_status_report.txt",
        "INC-2240 FAILED (see log), INC-2277 done\n",
    ),
    (
        "emergency_database_fix_2025-04-29.md",
        "# 2025-04-29\n\nRan emergency_enum_fix.py on production.\n",
    ),
    (
        "fix_admin_access_notes.md",
        "Zebra's admin lost access again; see fix_zebra_admin_role.py.\n",
    ),
    (
        "PRODUCTION_REPAIR_LOG.txt",
        "2025-05-06 audit ip: FAILED but deploy continued\n",
    ),
    (
        "fix_results.json",
        "[{\"script\": \"emergency_seed_admin_flag.py\", \"ok\": true}]\n",
    ),
    (
        "emergency_rollback_plan.md",
        "# Rollback plan\n\n1. python3 emergency_enum_fix.py --rollback\n",
    ),
    (
        "hotfix_deploy_checklist.md",
        "- [ ] run the fix\n- [ ] run alembic upgrade head\n",
    ),
    (
        "fix_verification_report.md",
        "# Verification\n\nis_verified exists on production.\n",
    ),
    ("emergency_contacts.txt", "on-call: ops@example.com\n"),
    (
        "fix_migration_conflicts.md",
        "5c8b1e9a3d6a fails on production: enum label exists.\n",
    ),
    (
        "DATABASE_FIX_GUIDE.md",
        "# How we fix the database\n\nNever again by hand (we said).\n",
    ),
    (
        "emergency_enum_fix_output.txt",
        "added 'super_admin' to userrole\n",
    ),
    (
        "fix_zebra_admin_report.json",
        "{\"organisation\": \"Zebra Corp\", \"restored\": true}\n",
    ),
    (
        "repair_summary.md",
        "# Repairs\n\nSee PRODUCTION_REPAIR_LOG.txt.\n",
    ),
    (
        "fix_ssl_connection_notes.md",
        "Production's pooler refuses plain connections: sslmode=require.\n",
    ),
    (
        "emergency_incident_timeline.md",
        "# Timeline\n\n- 04-29 enum\n- 05-06 audit ip\n",
    ),
    (
        "fix_deployment_status.json",
        "{\"last_deploy\": \"2025-07-01\", \"manual_steps\": 5}\n",
    ),
    (
        "backup_notes_2025-06-20.md",
        "# Backup of 2025-06-20\n\norganisations_backup holds 12 rows.\n",
    ),
];

fn files(o: &Options) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = vec![
        ("alembic.ini".into(), ALEMBIC_INI.into()),
        (".python-version".into(), format!("{}\n", python_version())),
        (".gitignore".into(), "__pycache__/\n.env\n".into()),
        (
            ".env.example".into(),
            "DATABASE_URL=postgresql+psycopg2://app:app@localhost:5432/app\nJWT_SECRET_KEY=change-me\nAUTH0_DOMAIN=example.auth0.com\n".into(),
        ),
        (
            "README.md".into(),
            "# Zebra admin API\n\n`alembic upgrade head`, then `uvicorn app.main:app`.\n".into(),
        ),
        (
            "requirements.txt".into(),
            "alembic\nsqlalchemy\npsycopg2-binary\npydantic-settings\n".into(),
        ),
        ("app/__init__.py".into(), String::new()),
        ("app/settings.py".into(), SETTINGS_PY.into()),
        ("app/models.py".into(), MODELS_PY.into()),
        (
            "app/main.py".into(),
            "\"\"\"The API (not needed by the migrations).\"\"\"\nfrom app.settings import settings\n\nAPP_NAME = \"zebra-admin\"\n".into(),
        ),
        ("database/migrations/env.py".into(), ENV_PY.into()),
        ("database/migrations/script.py.mako".into(), SCRIPT_MAKO.into()),
        ("database/migrations/README".into(), "Generic single-database configuration.\n".into()),
        ("policy.toml".into(), policy(o)),
    ];
    for (name, text) in REPORTS {
        f.push(((*name).into(), (*text).into()));
    }
    for m in &o.migrations {
        f.push((m.file(), m.source()));
    }
    for fix in &o.fixes {
        f.push((fix.path.into(), fix.source.clone()));
    }
    f.extend(o.files.iter().cloned());
    f
}

// ---------------------------------------------------------------------------------------------
// The gate

/// `gate-replay ARGS` in `repo` (the one scrub: no database variables inherited, stdin
/// closed), with `TEST_JWT` (what `${TEST_JWT}` in replay.env names) and `env` set.
pub fn gate(repo: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(REPLAY, repo);
    cmd.args(args).env("TEST_JWT", JWT);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::of(&mut cmd)
}

/// `--backend` arguments for each backend the verdicts are checked on.
pub fn backend_args(backend: &str, server: &Server) -> Vec<String> {
    match backend {
        "local" => vec!["--backend".into(), "local".into()],
        "docker" => vec![
            "--backend".into(),
            "docker".into(),
            "--image".into(),
            IMAGE.into(),
        ],
        "url" => vec![
            "--backend".into(),
            "url".into(),
            "--database-url".into(),
            server.admin_url(),
        ],
        other => panic!("unknown backend {other}"),
    }
}

/// Where a temp folder's path is, as a `String` (policy values, arguments).
pub fn path_str(p: &Path) -> String {
    p.to_str().expect("UTF-8 temp path").to_string()
}

/// `git init` in `root` and one commit of everything in it, by a developer.
fn commit_all(root: &Path, message: &str) {
    git_in(root, &["init", "-q", "."]);
    git_in(root, &["add", "-A"]);
    git_in(
        root,
        &[
            "-c",
            "user.name=dev",
            "-c",
            "user.email=dev@example.com",
            "commit",
            "-q",
            "-m",
            message,
        ],
    );
}
