//! Consolidation: the guarded DDL that turns one schema into another.
//!
//! `plan(from, to)` compares two snapshots (the clean chain's head and the production path, or
//! a revision's schema before and after it) and writes statements that
//! - turn a database at `from` into `to` (upgrade),
//! - are a no-op on a database already at `to` (every statement guarded: `IF NOT EXISTS`,
//!   `ADD VALUE IF NOT EXISTS`, `DO` blocks that check the catalog first),
//! - and, run after the upgrade, turn it back into `from` (downgrade).
//!
//! What cannot be expressed safely is not guessed: it is a [`Leftover`] with the reason, and
//! the caller writes nothing for it.

mod objects;
mod render;
mod sql;
mod tables;
mod types;
mod way;

use gate_schema::Snapshot;
use serde::Serialize;

/// One guarded statement and the object it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardedStatement {
    /// e.g. `table public.admin_permissions`, `enum public.userrole`.
    pub object: String,
    /// One complete SQL statement, `;`-terminated; safe to run twice.
    pub sql: String,
}

/// A difference the plan does not express, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leftover {
    pub object: String,
    pub reason: String,
}

/// The consolidation of `from` into `to`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Removals first (triggers, views, indexes, constraints, columns, tables, functions,
    /// sequences, domains, enums, extensions, schemas), then creations and changes in
    /// dependency order (schemas, extensions, enums, domains, sequences, tables, columns,
    /// sequence owners, functions, constraints, indexes, views, triggers).
    pub upgrade: Vec<GuardedStatement>,
    /// The same planner from `to` back to `from`; each statement guarded too.
    pub downgrade: Vec<GuardedStatement>,
    /// What neither list expresses; each reason starts with `upgrade:` or `downgrade:`.
    pub left: Vec<Leftover>,
}

impl Plan {
    /// Nothing to do and nothing left over.
    pub fn is_empty(&self) -> bool {
        self.upgrade.is_empty() && self.downgrade.is_empty() && self.left.is_empty()
    }

    /// The upgrade as one SQL text, one statement per paragraph.
    pub fn upgrade_sql(&self) -> String {
        join(&self.upgrade)
    }

    /// The downgrade as one SQL text, one statement per paragraph.
    pub fn downgrade_sql(&self) -> String {
        join(&self.downgrade)
    }
}

fn join(statements: &[GuardedStatement]) -> String {
    statements
        .iter()
        .map(|s| s.sql.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The guarded DDL from `from` to `to` (see the module docs). The downgrade is the same
/// planner run from `to` to `from`; leftovers say which direction they belong to.
pub fn plan(from: &Snapshot, to: &Snapshot) -> Plan {
    let up = way::run(from, to);
    let down = way::run(to, from);
    let mut left = Vec::new();
    for (direction, items) in [("upgrade", up.left), ("downgrade", down.left)] {
        left.extend(items.into_iter().map(|l| Leftover {
            object: l.object,
            reason: format!("{direction}: {}", l.reason),
        }));
    }
    Plan {
        upgrade: up.out,
        downgrade: down.out,
        left,
    }
}

/// What a written migration is called and where it hangs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRevision {
    /// The new revision id (Alembic: 12 hex digits).
    pub id: String,
    /// The current head it follows (`down_revision`).
    pub down_revision: Option<String>,
    /// One line, e.g. `consolidate emergency fixes`.
    pub message: String,
    /// `Create Date` line for the Alembic header (ISO date-time text, given by the caller so
    /// rendering stays pure).
    pub created: String,
}

/// An Alembic revision file whose upgrade and downgrade run the plan's statements
/// (`op.execute`), each statement a separate call.
pub fn render_alembic(rev: &NewRevision, plan: &Plan) -> String {
    render::alembic(rev, plan)
}

/// The plan as two SQL files (`migrations.kind = "sql"`): the upgrade and the downgrade.
/// The caller names the files.
pub fn render_sql(plan: &Plan) -> (String, String) {
    render::sql(plan)
}
