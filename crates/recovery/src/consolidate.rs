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

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(json: &str) -> Snapshot {
        Snapshot::from_json(json).expect("test snapshot")
    }

    fn enum_snap(labels: &[&str]) -> Snapshot {
        let labels: Vec<String> = labels.iter().map(|l| format!("\"{l}\"")).collect();
        snap(&format!(
            r#"{{"format": 1, "enums": {{"public.mood": {{"labels": [{}]}}}}}}"#,
            labels.join(", ")
        ))
    }

    #[test]
    fn a_schema_against_itself_is_an_empty_plan() {
        let s = enum_snap(&["a", "b"]);
        assert!(plan(&s, &s).is_empty());
    }

    #[test]
    fn new_labels_are_placed_next_to_their_neighbours_in_to() {
        let p = plan(
            &enum_snap(&["b", "d"]),
            &enum_snap(&["a", "b", "c", "d", "e"]),
        );
        let adds: Vec<&str> = p
            .upgrade
            .iter()
            .filter_map(|s| s.sql.lines().find(|l| l.contains("ADD VALUE")))
            .collect();
        assert_eq!(
            adds,
            [
                "ALTER TYPE \"public\".\"mood\" ADD VALUE IF NOT EXISTS 'a' BEFORE 'b';",
                "ALTER TYPE \"public\".\"mood\" ADD VALUE IF NOT EXISTS 'c' AFTER 'b';",
                "ALTER TYPE \"public\".\"mood\" ADD VALUE IF NOT EXISTS 'e' AFTER 'd';",
            ]
        );
        // The way back removes labels: the type is made again, guarded by its label list.
        assert_eq!(p.downgrade.len(), 1);
        assert!(p.downgrade[0].sql.contains("RENAME TO \"mood_gate_old\""));
        assert!(p.left.is_empty(), "{:#?}", p.left);
    }

    #[test]
    fn foreign_keys_go_before_and_come_after_other_constraints() {
        let with = |cons: &str| {
            snap(&format!(
                r#"{{"format": 1, "tables": {{
                  "public.a": {{"kind": "table", "columns": [{{"name": "id", "type": "integer", "not_null": true}}],
                    "constraints": {{"a_pkey": {{"kind": "primary key", "definition": "PRIMARY KEY (id)"}}}}}},
                  "public.b": {{"kind": "table", "columns": [{{"name": "a_id", "type": "integer", "not_null": false}}],
                    "constraints": {{{cons}}}}}}}}}"#
            ))
        };
        let from = with("");
        let to = with(
            r#""b_fk": {"kind": "foreign key", "definition": "FOREIGN KEY (a_id) REFERENCES public.a(id)"},
               "b_uq": {"kind": "unique", "definition": "UNIQUE (a_id)"}"#,
        );
        let p = plan(&from, &to);
        let objects: Vec<&str> = p.upgrade.iter().map(|s| s.object.as_str()).collect();
        assert_eq!(
            objects,
            ["constraint public.b.b_uq", "constraint public.b.b_fk"]
        );
        let objects: Vec<&str> = p.downgrade.iter().map(|s| s.object.as_str()).collect();
        assert_eq!(
            objects,
            ["constraint public.b.b_fk", "constraint public.b.b_uq"]
        );
    }

    #[test]
    fn a_type_change_without_a_known_cast_is_left_over_both_ways() {
        let col = |t: &str| {
            snap(&format!(
                r#"{{"format": 1, "tables": {{"public.t": {{"kind": "table",
                  "columns": [{{"name": "d", "type": "{t}", "not_null": false}}]}}}}}}"#
            ))
        };
        let p = plan(&col("date"), &col("integer"));
        assert!(p.upgrade.is_empty() && p.downgrade.is_empty(), "{p:#?}");
        let reasons: Vec<String> = p
            .left
            .iter()
            .map(|l| format!("{}: {}", l.object, l.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                "column public.t.d: upgrade: type changes from date to integer and no cast between them is known to be safe",
                "column public.t.d: downgrade: type changes from integer to date and no cast between them is known to be safe",
            ]
        );
    }
}
