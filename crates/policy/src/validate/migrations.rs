//! `[migrations]`: where the chain lives and how it is named and applied.

use toml::de::DeTable;

use super::{Checker, Problem};
use crate::model::{MigrationKind, Migrations, SqlNaming};

pub(super) const MIGRATIONS_KEYS: &[&str] = &[
    "kind",
    "path",
    "config",
    "naming",
    "upgrade",
    "downgrade",
    "lockfile",
    "max-heads",
];

impl Checker<'_> {
    pub(super) fn migrations(&mut self, root: &DeTable<'_>) -> Migrations {
        let mut m = Migrations {
            kind: MigrationKind::Alembic,
            path: "alembic/versions".into(),
            config: "alembic.ini".into(),
            naming: SqlNaming::GolangMigrate,
            upgrade: String::new(),
            downgrade: String::new(),
            lockfile: "migrations.lock".into(),
            max_heads: 1,
        };
        let Some(t) = self.section(root, "migrations", MIGRATIONS_KEYS) else {
            return m;
        };
        let p = "migrations";
        let mut kind_span = None;
        if let Some(v) = self.get(t, p, "kind") {
            kind_span = Some(v.span());
            let opts = [
                ("alembic", MigrationKind::Alembic),
                ("sql", MigrationKind::Sql),
                ("command", MigrationKind::Command),
            ];
            if let Some(k) = self.choice("migrations.kind", v, &opts) {
                m.kind = k;
            }
        }
        if let Some(v) = self.get(t, p, "path")
            && let Some(s) = self.repo_path("migrations.path", v)
        {
            m.path = s;
        }
        if let Some(v) = self.get(t, p, "config")
            && let Some(s) = self.repo_path("migrations.config", v)
        {
            m.config = s;
        }
        if let Some(v) = self.get(t, p, "naming") {
            let opts = [
                ("golang-migrate", SqlNaming::GolangMigrate),
                ("flyway", SqlNaming::Flyway),
                ("sqlx", SqlNaming::Sqlx),
                ("dbmate", SqlNaming::Dbmate),
                ("plain", SqlNaming::Plain),
            ];
            if let Some(n) = self.choice("migrations.naming", v, &opts) {
                m.naming = n;
            }
        }
        if let Some(v) = self.get(t, p, "upgrade")
            && let Some(s) = self.string("migrations.upgrade", v)
        {
            m.upgrade = s;
        }
        if let Some(v) = self.get(t, p, "downgrade")
            && let Some(s) = self.string("migrations.downgrade", v)
        {
            m.downgrade = s;
        }
        if let Some(v) = self.get(t, p, "lockfile")
            && let Some(s) = self.repo_path("migrations.lockfile", v)
        {
            m.lockfile = s;
        }
        if let Some(v) = self.get(t, p, "max-heads")
            && let Some(n) = self.integer_in("migrations.max-heads", v, 1, 1_000_000, "")
        {
            m.max_heads = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if m.kind == MigrationKind::Command
            && m.upgrade.trim().is_empty()
            && let Some(span) = kind_span
        {
            self.push(
                Problem::at(
                    span,
                    "`migrations.kind` = \"command\" needs `migrations.upgrade`, the command that migrates $DATABASE_URL to head",
                    "needs `upgrade`",
                )
                .note("example: upgrade = \"npx prisma migrate deploy\""),
            );
        }
        m
    }
}
