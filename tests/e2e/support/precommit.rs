//! Helpers for the gate-precommit tests: policies, registrations and Alembic revisions
//! written into a [`Repo`], and the built `gate-precommit` binary run in it.

use std::ffi::OsStr;

use super::repo::Repo;
use super::run::{PRECOMMIT, Run};
use super::sha256_hex;

/// A policy with the DESIGN.md defaults that matter here; `extra` is appended verbatim.
pub fn policy(ddl: bool, extra: &str) -> String {
    format!(
        r#"version = 1

[migrations]
kind = "alembic"
path = "alembic/versions"
lockfile = "migrations.lock"

[emergency]
scope = ["."]
names = ['(?i)emergency', '(?i)(^|[_-])fix', '(?i)repair', '(?i)hotfix']
ddl = {ddl}
ignore = ["setup.py", "conftest.py"]
{extra}"#
    )
}

/// A `[[emergency.script]]` entry approving exactly `content` at `path`.
pub fn registration(path: &str, content: &[u8]) -> String {
    format!(
        r#"
[[emergency.script]]
path = "{path}"
sha256 = "{}"
reason = "production rejected role super_admin"
ticket = "INC-1042"
author = "dev@example.com"
approved-by = "lead@example.com"
approved-on = 2025-09-20
convert-by = 2025-10-04
rollback = "python3 {path} --rollback"
"#,
        sha256_hex(content)
    )
}

/// An Alembic revision file (base revision `id`) whose upgrade runs `ddl`.
pub fn revision(id: &str, ddl: &str) -> Vec<u8> {
    format!(
        "\"\"\"step\n\nRevision ID: {id}\n\"\"\"\nfrom alembic import op\n\nrevision = '{id}'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.execute('{ddl}')\n"
    )
    .into_bytes()
}

impl Repo {
    /// Run gate-precommit in the repository.
    pub fn precommit<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        Run::of(self.cmd(PRECOMMIT).args(args))
    }
}
