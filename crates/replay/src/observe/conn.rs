//! The catalog reads of an observation on an in-process connection (the SQL runner): inside a
//! transaction each read runs in a savepoint that is rolled back when it fails, so the
//! migration's transaction stays as it was; outside one they are plain autocommit queries.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, raw_sql};

use super::{CatalogRow, SNAPSHOT_SQL, count_sql};

const SAVEPOINT: &str = "SAVEPOINT gate_replay_observe";
const ROLLBACK: &str = "ROLLBACK TO SAVEPOINT gate_replay_observe";
const RELEASE: &str = "RELEASE SAVEPOINT gate_replay_observe";

type Row = (String, i64, String, i64, i64, String, String);

/// [`SNAPSHOT_SQL`] on `conn`; `None` (and a problem recorded) when it fails.
pub async fn snapshot(
    conn: &mut PgConnection,
    in_transaction: bool,
    problems: &mut Vec<String>,
) -> Option<Vec<CatalogRow>> {
    read_catalog(conn, in_transaction, SNAPSHOT_SQL.to_string(), problems).await
}

/// A read of the catalog inside a migration's transaction, as a prepared statement of the
/// session (`PREPARE`: planning it costs more than running it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// [`SNAPSHOT_SQL`].
    Full,
    /// [`super::locked_only_sql`].
    Locked,
    /// [`super::checked_sql`].
    Checked,
}

impl Read {
    fn name(self) -> &'static str {
        match self {
            Read::Full => "gate_replay_observe_full",
            Read::Locked => "gate_replay_observe_locked",
            Read::Checked => "gate_replay_observe_checked",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Read::Full => SNAPSHOT_SQL,
            Read::Locked => super::locked_only_sql(),
            Read::Checked => super::checked_sql(),
        }
    }
}

/// `read` inside the migration's open transaction on `conn` in one round trip, with the
/// migration's own statements `before` (`BEGIN`, or the bookkeeping) and `after` (`COMMIT`)
/// in the same one: `BEGIN; SAVEPOINT; EXECUTE read; RELEASE; COMMIT` where each statement
/// took one (and the read three). The savepoint keeps a failing read from aborting the migration: it is
/// rolled back to, the failure recorded in `problems` (`Ok(None)`) and `after` sent alone.
/// `Err` is `before` or `after` failing: the migration's own failure. A session without the
/// prepared statement (a new connection, a migration's `DISCARD ALL`) prepares it then.
pub async fn read_in_transaction(
    conn: &mut PgConnection,
    read: Read,
    before: Option<&str>,
    after: Option<&str>,
    problems: &mut Vec<String>,
) -> Result<Option<Vec<CatalogRow>>, sqlx::Error> {
    let mut before = before.map(|b| format!("{b}; ")).unwrap_or_default();
    let tail = after.map(|a| format!("; {a}")).unwrap_or_default();
    let mut prepare = String::new();
    loop {
        let sql = format!(
            "{before}{prepare}{SAVEPOINT}; EXECUTE {}; {RELEASE}{tail}",
            read.name()
        );
        let err = match raw_sql(AssertSqlSafe(sql)).fetch_all(&mut *conn).await {
            Ok(rows) => {
                return Ok(decode(&rows)
                    .map_err(|e| problems.push(format!("observation query failed: {e}")))
                    .ok());
            }
            Err(e) => e,
        };
        // The read's savepoint is there to roll back to only when the read failed: `before`
        // ran, and `after` did not. (After a failed COMMIT no transaction is left.)
        if raw_sql(AssertSqlSafe(format!("{ROLLBACK}; {RELEASE}")))
            .execute(&mut *conn)
            .await
            .is_err()
        {
            return Err(err);
        }
        before.clear();
        if prepare.is_empty() && crate::runner::sqlstate(&err).as_deref() == Some("26000") {
            prepare = format!("PREPARE {} AS {}; ", read.name(), read.sql());
            continue;
        }
        problems.push(format!("observation query failed: {err}"));
        if let Some(a) = after {
            raw_sql(AssertSqlSafe(a.to_string()))
                .execute(&mut *conn)
                .await?;
        }
        return Ok(None);
    }
}

/// The catalog rows of a read sent as text (the other statements around it return none).
fn decode(rows: &[sqlx::postgres::PgRow]) -> Result<Vec<CatalogRow>, sqlx::Error> {
    rows.iter()
        .map(|r| <Row as sqlx::FromRow<'_, sqlx::postgres::PgRow>>::from_row(r).map(catalog_row))
        .collect()
}

/// One row of a catalog read, as the observation keeps it.
fn catalog_row((kind, oid, name, filenode, table_oid, table, extra): Row) -> CatalogRow {
    CatalogRow {
        kind,
        oid,
        name,
        filenode,
        table_oid,
        table,
        extra,
    }
}

async fn read_catalog(
    conn: &mut PgConnection,
    in_transaction: bool,
    sql: String,
    problems: &mut Vec<String>,
) -> Option<Vec<CatalogRow>> {
    let read = async |c: &mut PgConnection| {
        let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(sql)).fetch_all(c).await?;
        Ok(rows.into_iter().map(catalog_row).collect())
    };
    guarded(conn, in_transaction, problems, read).await
}

/// Exact row counts (capped) of `tables`.
pub async fn count_rows(
    conn: &mut PgConnection,
    in_transaction: bool,
    tables: &BTreeSet<String>,
    problems: &mut Vec<String>,
) -> BTreeMap<String, u64> {
    if tables.is_empty() {
        return BTreeMap::new();
    }
    let read = async |c: &mut PgConnection| {
        let mut out = BTreeMap::new();
        for t in tables {
            let (n,): (i64,) = sqlx::query_as(AssertSqlSafe(count_sql(t)))
                .fetch_one(&mut *c)
                .await?;
            out.insert(t.clone(), u64::try_from(n).unwrap_or_default());
        }
        Ok(out)
    };
    guarded(conn, in_transaction, problems, read)
        .await
        .unwrap_or_default()
}

async fn guarded<T>(
    conn: &mut PgConnection,
    in_transaction: bool,
    problems: &mut Vec<String>,
    read: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
) -> Option<T> {
    if in_transaction && raw_sql(SAVEPOINT).execute(&mut *conn).await.is_err() {
        problems.push("cannot open a savepoint for the observation".into());
        return None;
    }
    let value = read(&mut *conn).await;
    if in_transaction {
        if value.is_err() {
            let _ = raw_sql(ROLLBACK).execute(&mut *conn).await;
        }
        let _ = raw_sql(RELEASE).execute(&mut *conn).await;
    }
    match value {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(format!("observation query failed: {e}"));
            None
        }
    }
}
