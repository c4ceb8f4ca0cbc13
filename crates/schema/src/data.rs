//! What a data fix changes: per user table, the row count and a content hash that does not
//! depend on physical row order. Compared before and after a fix (did it change anything?),
//! after a second run (is it idempotent?) and after its rollback (is the data restored?).

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

use crate::SchemaError;

/// Rows of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableData {
    pub rows: i64,
    /// md5 over the sorted md5s of each row's text form; empty for an empty table.
    pub hash: String,
}

/// Row counts and content hashes of every user table, by `schema.table`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DataSnapshot {
    pub tables: BTreeMap<String, TableData>,
}

const TABLES: &str = "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), \
     n.nspname || '.' || c.relname, pg_relation_size(c.oid) > 0 \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
     ORDER BY 2";

impl DataSnapshot {
    /// Read every user table of the database at `url` except `skip` (bare table names such
    /// as `alembic_version`), in one read-only transaction.
    pub async fn capture(url: &str, skip: &[&str]) -> Result<DataSnapshot, SchemaError> {
        let mut c = connect(url).await?;
        let result = Self::capture_with(&mut c, skip).await;
        let _ = c.close().await;
        result
    }

    /// The catalog's fingerprint ([`Snapshot::fingerprint`]) and the rows ([`DataSnapshot::capture`])
    /// of the database at `url`, on one connection: enough to tell that a database still
    /// holds a state read before, without reading its schema in full.
    pub async fn with_fingerprint(
        url: &str,
        skip: &[&str],
    ) -> Result<(crate::Fingerprint, DataSnapshot), SchemaError> {
        let mut c = connect(url).await?;
        let result = Self::with_fingerprint_on(&mut c, skip).await;
        let _ = c.close().await;
        result
    }

    /// [`DataSnapshot::with_fingerprint`] on an open connection (outside any transaction), for
    /// a caller that reads many in a row.
    pub async fn with_fingerprint_on(
        c: &mut PgConnection,
        skip: &[&str],
    ) -> Result<(crate::Fingerprint, DataSnapshot), SchemaError> {
        let fingerprint = crate::Snapshot::fingerprint(c).await?;
        Self::capture_with(c, skip).await.map(|d| (fingerprint, d))
    }

    async fn capture_with(
        c: &mut PgConnection,
        skip: &[&str],
    ) -> Result<DataSnapshot, SchemaError> {
        let q = |e: sqlx::Error| SchemaError::query("the rows of the user tables", e);
        let mut tx = c
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(q)?;
        let tables: Vec<(String, String, bool)> = sqlx::query_as(TABLES)
            .fetch_all(&mut *tx)
            .await
            .map_err(q)?;
        let mut out = DataSnapshot::default();
        let tables: Vec<(String, String)> = tables
            .into_iter()
            .filter(|(_, name, _)| {
                let bare = name.rsplit('.').next().unwrap_or(name);
                !skip.contains(&bare)
            })
            .filter_map(|(quoted, name, has_pages)| {
                if has_pages {
                    return Some((quoted, name));
                }
                // A table without a single page holds no row: no need to read it. Most
                // tables of a replayed chain are such, and reading each costs a relation
                // open and a plan.
                out.tables.insert(name, TableData::default());
                None
            })
            .collect();
        // One statement for all tables: scratch databases have dozens, not thousands.
        for chunk in tables.chunks(200) {
            let sql = chunk
                .iter()
                .enumerate()
                .map(|(i, (quoted, _))| {
                    format!(
                        "SELECT {i} AS i, count(*)::int8 AS n, \
                         coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') AS h \
                         FROM {quoted} t"
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            let rows: Vec<(i32, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *tx)
                .await
                .map_err(q)?;
            for (i, n, h) in rows {
                let name = usize::try_from(i)
                    .ok()
                    .and_then(|i| chunk.get(i))
                    .map(|(_, name)| name.clone())
                    .unwrap_or_default();
                out.tables.insert(name, TableData { rows: n, hash: h });
            }
        }
        // Read-only: nothing to keep.
        tx.rollback().await.map_err(q)?;
        Ok(out)
    }

    /// Tables whose rows differ between `self` (`a_name`) and `other` (`b_name`), in words:
    /// `public.users: 3 rows in before the fix, 4 in after the fix`. Tables only in one side
    /// are schema differences and left to [`crate::diff`].
    /// The tables (`schema.name`) whose rows differ between `self` and `other`, or that only
    /// one of them has.
    pub fn changed_tables<'a>(&'a self, other: &'a DataSnapshot) -> impl Iterator<Item = &'a str> {
        let changed = self.tables.iter().filter(move |(name, a)| {
            other
                .tables
                .get(*name)
                .is_none_or(|b| a.rows != b.rows || a.hash != b.hash)
        });
        let added = other
            .tables
            .keys()
            .filter(move |name| !self.tables.contains_key(*name));
        changed
            .map(|(name, _)| name.as_str())
            .chain(added.map(String::as_str))
    }

    pub fn diff(&self, other: &DataSnapshot, a_name: &str, b_name: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (name, a) in &self.tables {
            let Some(b) = other.tables.get(name) else {
                continue;
            };
            if a.rows != b.rows {
                out.push(format!(
                    "table {name}: {} row(s) {a_name}, {} {b_name}",
                    a.rows, b.rows
                ));
            } else if a.hash != b.hash {
                out.push(format!(
                    "table {name}: same {} row(s) but different content {a_name} and {b_name}",
                    a.rows
                ));
            }
        }
        out
    }
}

/// A connection to `url`; the error names the URL with its password masked.
async fn connect(url: &str) -> Result<PgConnection, SchemaError> {
    PgConnection::connect(url)
        .await
        .map_err(|e| SchemaError::Connect {
            url: crate::capture::redact(url),
            source: e,
        })
}
