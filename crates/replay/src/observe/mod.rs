//! Observation of what each migration statement really does to the database (the L0xx checks):
//! switched on for a runner's child by `GATE_REPLAY_OBSERVE=1` (Alembic wrapper) or by
//! [`crate::child_env::ChildEnv::observing`] (the in-process SQL runner).
//!
//! Around every statement the migration executes, the runner reads [`SNAPSHOT_SQL`] on the
//! migration's own connection (inside a savepoint, so a failing observation cannot abort the
//! migration's transaction) and keeps what changed: new lock modes the transaction holds,
//! relfilenodes (a rewrite), new indexes, constraints, NOT NULL columns. Row counts of the
//! tables concerned are counted exactly (capped at [`ROW_CAP`]). Judging what it means is
//! `crate::locks`'s job.

pub mod conn;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The catalog read before and after each statement (shared with the Alembic wrapper, which
/// gets it as `GATE_REPLAY_OBSERVE_SQL`).
pub const SNAPSHOT_SQL: &str = include_str!("snapshot.sql");

/// [`SNAPSHOT_SQL`] limited to the tables this backend holds a lock on: the read after a
/// statement inside a transaction (given to the Alembic wrapper as
/// `GATE_REPLAY_OBSERVE_SQL_LOCKED`).
pub fn locked_only_sql() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        // An array of the few locked oids, computed once: `IN (SELECT …)` joined every user
        // table with `held` row by row.
        SNAPSHOT_SQL.replace(
            "-- gate:locked-only",
            "AND c.oid = ANY (ARRAY(SELECT relation FROM held))",
        )
    });
    &SQL
}

/// The kind of the extra row [`checked_sql`] adds: the catalog's fingerprint.
pub const FINGERPRINT: &str = "f";

/// [`locked_only_sql`] and one more row (kind [`FINGERPRINT`], the fingerprint in `extra`):
/// the read at the end of a migration's transaction (what it changed, all of it locked until
/// COMMIT) and at the start of the next one, where the catalog carried over from the last
/// COMMIT is used instead of a full read only when the fingerprint is the same (given to the
/// Alembic wrapper as `GATE_REPLAY_OBSERVE_SQL_CHECKED`).
///
/// The fingerprint is the count and the sum of the row versions' `xmin` of pg_class,
/// pg_constraint, pg_index and pg_namespace: any DDL, TRUNCATE (a new relfilenode) or
/// re-created table since, on any connection, writes new row versions there. The sum is
/// taken as `age(xmin)` (an int4, where `xmin::text::int8` cost half of the read in text
/// conversions) less `age` of a fixed xid, which is the same in every transaction while the
/// rows are: rows of the bootstrap and frozen xids (whose age is always the maximum) are
/// counted, not summed. A difference only costs a full read. pg_attribute is
/// left out (it is most of the catalog's rows): its changes (NOT NULL, a renamed or dropped
/// column) are seen when a transaction this observation watches makes them (they lock their
/// table); committed by anything else between two migrations they would go unseen.
pub fn checked_sql() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let part = |catalog: &str| {
            format!(
                "(SELECT count(*)::text || ':' || count(a) || ':' || \
                 coalesce(sum(a) - count(a) * age('3'::xid), 0) \
                 FROM (SELECT nullif(age(xmin), 2147483647)::int8 AS a FROM {catalog}) x)"
            )
        };
        format!(
            "{}UNION ALL\nSELECT '{FINGERPRINT}', 0, '', 0, 0, '', \
         (SELECT oid::text FROM pg_database WHERE datname = current_database()) || '/' || {} || '/' || {} || '/' || {} || '/' || {}\n",
            locked_only_sql(),
            part("pg_class"),
            part("pg_constraint"),
            part("pg_index"),
            part("pg_namespace"),
        )
    });
    &SQL
}

/// The fingerprint row of a [`checked_sql`] read, taken out of `rows`.
pub fn take_fingerprint(rows: &mut Vec<CatalogRow>) -> Option<String> {
    let i = rows.iter().position(|r| r.kind == FINGERPRINT)?;
    Some(rows.remove(i).extra)
}

/// The catalog after COMMIT: the same, with no lock held.
pub fn unlocked(mut rows: Vec<CatalogRow>) -> Vec<CatalogRow> {
    for r in &mut rows {
        if r.kind == "r" {
            r.extra.clear();
        }
    }
    rows
}

/// What a transaction's catalog is after a statement whose read covered only the tables it
/// holds locks on (`after`): those tables as read, every other table as it was.
pub fn merge(state: &[CatalogRow], after: &[CatalogRow]) -> Vec<CatalogRow> {
    let scope = table_oids(after);
    state
        .iter()
        .filter(|r| !scope.contains(&r.table_oid))
        .chain(after)
        .cloned()
        .collect()
}

/// [`diff`] of a read limited to locked tables: only the tables in `after` are compared.
pub fn diff_locked(
    state: &[CatalogRow],
    after: &[CatalogRow],
    tables_at_start: &BTreeSet<i64>,
) -> Vec<Change> {
    let scope = table_oids(after);
    let before: Vec<CatalogRow> = state
        .iter()
        .filter(|r| scope.contains(&r.table_oid))
        .cloned()
        .collect();
    diff(&before, after, tables_at_start)
}

/// Rows are counted up to this many (`SELECT count(*) FROM (SELECT 1 … LIMIT cap)`), so a large
/// table costs a bounded scan.
pub const ROW_CAP: u64 = 1_000_000;

/// One row of [`SNAPSHOT_SQL`]: kind `r` table (extra = lock modes held), `i` index (extra =
/// valid/invalid), `c` CHECK/FOREIGN KEY constraint (extra = contype + `v` validated or `-`),
/// `n` column (extra = null / notnull / notnull-proven).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogRow {
    pub kind: String,
    pub oid: i64,
    pub name: String,
    pub filenode: i64,
    pub table_oid: i64,
    pub table: String,
    pub extra: String,
}

impl CatalogRow {
    fn key(&self) -> (String, i64, String) {
        (self.kind.clone(), self.oid, self.name.clone())
    }
}

/// One catalog entry a statement changed: `before` is `None` for a new one, `after` for one
/// that went away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub before: Option<CatalogRow>,
    pub after: Option<CatalogRow>,
    /// The entry's table was created in the same transaction: no other session can see it,
    /// so nothing waits on its locks.
    pub new_in_transaction: bool,
}

impl Change {
    pub fn row(&self) -> &CatalogRow {
        self.after
            .as_ref()
            .or(self.before.as_ref())
            .expect("a change has a row")
    }
}

/// One statement a migration executed, as observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedStatement {
    pub sql: String,
    /// Repository-relative migration file and line that issued it.
    pub file: Option<String>,
    pub line: Option<u32>,
    /// The revision that was running.
    pub revision: Option<String>,
    pub duration: Duration,
    /// From the end of the statement until its transaction ended: how long the locks it took
    /// were held. `None` when it ran outside a transaction (locks end with the statement) or
    /// the transaction never ended (the run failed).
    pub held: Option<Duration>,
    /// Whether it ran inside a transaction (locks are visible in `pg_locks` after it).
    pub in_transaction: bool,
    pub changes: Vec<Change>,
    /// Exact row count (capped at [`ROW_CAP`]) of each table a change concerns that existed
    /// before the transaction, by qualified name.
    pub rows: BTreeMap<String, u64>,
}

/// What changed from `before` to `after`; `tables_at_start` are the table oids that existed
/// when the transaction began.
pub fn diff(
    before: &[CatalogRow],
    after: &[CatalogRow],
    tables_at_start: &BTreeSet<i64>,
) -> Vec<Change> {
    let old: BTreeMap<_, _> = before.iter().map(|r| (r.key(), r)).collect();
    let new: BTreeMap<_, _> = after.iter().map(|r| (r.key(), r)).collect();
    let mut out = Vec::new();
    for (k, a) in &new {
        let b = old.get(k);
        if b != Some(a) {
            out.push(Change {
                before: b.map(|r| (*r).clone()),
                after: Some((*a).clone()),
                new_in_transaction: !tables_at_start.contains(&a.table_oid),
            });
        }
    }
    for (k, b) in &old {
        if !new.contains_key(k) {
            out.push(Change {
                before: Some((*b).clone()),
                after: None,
                new_in_transaction: !tables_at_start.contains(&b.table_oid),
            });
        }
    }
    out
}

/// The tables whose rows are worth counting after a statement: those a change concerns that
/// existed before the transaction (`qualified name`).
pub fn tables_to_count(changes: &[Change]) -> BTreeSet<String> {
    changes
        .iter()
        .filter(|c| !c.new_in_transaction && c.after.is_some())
        .map(|c| c.row().table.clone())
        .collect()
}

/// The oids of the tables in a snapshot.
pub fn table_oids(rows: &[CatalogRow]) -> BTreeSet<i64> {
    rows.iter()
        .filter(|r| r.kind == "r")
        .map(|r| r.oid)
        .collect()
}

/// `SELECT count(*)` of `table` (a quoted qualified name from the snapshot), capped.
pub fn count_sql(table: &str) -> String {
    format!("SELECT count(*)::bigint FROM (SELECT 1 FROM {table} LIMIT {ROW_CAP}) AS gate_rows")
}

/// A `stmt` line of the Alembic wrapper, as it prints it.
#[derive(Debug, Deserialize)]
pub(crate) struct WrapperStatement {
    pub sql: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub ms: f64,
    /// `time.monotonic()` at the statement's end.
    pub ended: f64,
    pub in_transaction: bool,
    pub changes: Vec<Change>,
    #[serde(default)]
    pub rows: BTreeMap<String, u64>,
}

/// Statements the Alembic wrapper reported, waiting for the end of their transaction.
#[derive(Debug, Default)]
pub(crate) struct WrapperLog {
    done: Vec<ObservedStatement>,
    problems: Vec<String>,
    /// Index into `done` of statements whose transaction is still open, with their end time.
    open: Vec<(usize, f64)>,
}

impl WrapperLog {
    /// One of the wrapper's observation lines (`stmt`, `txend`, `observe-failed`);
    /// `revision` is the one running.
    pub fn line(
        &mut self,
        kind: &str,
        payload: serde_json::Value,
        revision: Option<String>,
        rel: impl Fn(&str) -> String,
    ) {
        match kind {
            "stmt" => match serde_json::from_value(payload) {
                Ok(s) => self.statement(s, revision, rel),
                Err(e) => self.problems.push(format!("unreadable observation: {e}")),
            },
            "txend" => self.transaction_end(payload["at"].as_f64().unwrap_or_default()),
            _ => self.problems.push(
                payload["message"]
                    .as_str()
                    .unwrap_or("observation failed")
                    .to_string(),
            ),
        }
    }

    /// A `stmt` line; `file` is made repository-relative by `rel`.
    pub fn statement(
        &mut self,
        s: WrapperStatement,
        revision: Option<String>,
        rel: impl Fn(&str) -> String,
    ) {
        let i = self.done.len();
        if s.in_transaction {
            self.open.push((i, s.ended));
        }
        self.done.push(ObservedStatement {
            sql: s.sql,
            file: s.file.as_deref().map(rel),
            line: s.line,
            revision,
            duration: Duration::from_secs_f64(s.ms.max(0.0) / 1000.0),
            held: None,
            in_transaction: s.in_transaction,
            changes: s.changes,
            rows: s.rows,
        });
    }

    /// A `txend` line: the transaction of every open statement ended at `at`.
    pub fn transaction_end(&mut self, at: f64) {
        for (i, ended) in self.open.drain(..) {
            self.done[i].held = Some(Duration::from_secs_f64((at - ended).max(0.0)));
        }
    }

    /// The observation as a run's outcome carries it (with nothing applied and no failure).
    pub fn finish(self) -> crate::runner::RunOutcome {
        crate::runner::RunOutcome {
            observed: self.done,
            observe_problems: self.problems,
            ..crate::runner::RunOutcome::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, oid: i64, filenode: i64, extra: &str) -> CatalogRow {
        CatalogRow {
            kind: kind.into(),
            oid,
            name: format!("x{oid}"),
            filenode,
            table_oid: oid,
            table: "public.t".into(),
            extra: extra.into(),
        }
    }

    #[test]
    fn a_rewrite_and_a_new_lock_are_changes_an_untouched_table_is_not() {
        let before = [row("r", 1, 10, ""), row("r", 2, 20, "")];
        let after = [row("r", 1, 11, "AccessExclusiveLock"), row("r", 2, 20, "")];
        let changes = diff(&before, &after, &[1, 2].into());
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].before.as_ref().unwrap().filenode, 10);
        assert_eq!(changes[0].after.as_ref().unwrap().filenode, 11);
        assert!(!changes[0].new_in_transaction);
    }

    #[test]
    fn a_read_of_locked_tables_compares_and_replaces_only_those() {
        let state = [row("r", 1, 10, ""), row("r", 2, 20, "")];
        let after = [row("r", 1, 11, "AccessExclusiveLock")];
        let changes = diff_locked(&state, &after, &[1, 2].into());
        assert_eq!(
            changes.len(),
            1,
            "table 2 was not read, so it did not go away"
        );
        let merged = merge(&state, &after);
        assert_eq!(merged.len(), 2);
        assert!(merged.contains(&after[0]) && merged.contains(&state[1]));
        assert!(locked_only_sql().contains("SELECT relation FROM held"));
    }

    #[test]
    fn entries_of_a_table_created_in_the_transaction_are_marked() {
        let after = [row("r", 3, 30, "AccessExclusiveLock")];
        let changes = diff(&[], &after, &[1].into());
        assert!(changes[0].new_in_transaction);
        assert!(tables_to_count(&changes).is_empty());
    }

    #[test]
    fn held_time_runs_to_the_end_of_the_transaction() {
        let mut log = WrapperLog::default();
        let s = |ended: f64, in_transaction: bool| WrapperStatement {
            sql: "ALTER TABLE t".into(),
            file: Some("/r/v/a.py".into()),
            line: Some(3),
            ms: 2.0,
            ended,
            in_transaction,
            changes: Vec::new(),
            rows: BTreeMap::new(),
        };
        log.statement(s(10.0, true), Some("a".into()), |f| f.replace("/r/", ""));
        log.statement(s(10.5, false), None, |f| f.to_string());
        log.transaction_end(12.0);
        let done = log.finish().observed;
        assert_eq!(done[0].held, Some(Duration::from_secs(2)));
        assert_eq!(done[0].file.as_deref(), Some("v/a.py"));
        assert_eq!(done[1].held, None);
    }
}
