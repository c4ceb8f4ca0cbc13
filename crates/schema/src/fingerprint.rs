//! A one-query digest of the catalog: the server hashes the rows of every snapshot query
//! (crate::capture::queries), so two states of a database can be compared without reading
//! the whole catalog into a [`Snapshot`]. Equal fingerprints mean every query returned the
//! same rows, hence equal snapshots; a different fingerprint may still be an empty
//! [`crate::diff`] (column order, spelling the diff normalises), so callers take a full
//! snapshot to name what differs.

use std::sync::OnceLock;

use sqlx::postgres::PgConnection;

use crate::SchemaError;
use crate::capture::{BEGIN, LOCK_TIMEOUT, Q, SEARCH_PATH};
use crate::model::Snapshot;

/// The server's digest of a database's catalog, as [`Snapshot::fingerprint`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The digest as hex (md5 of the per-kind row counts and hash sums).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Per query: the number of its rows and the sum of a 64-bit hash of each row's text (a sum,
/// so the catalog's row order does not count and nothing is sorted; numeric, so it never
/// overflows); all of them in `Q::ALL` order, hashed once more. The queries' own ORDER BY
/// is dropped: the sum does not need it, the sort costs.
fn sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let parts: Vec<String> = Q::ALL
            .iter()
            .map(|q| {
                format!(
                    "(SELECT count(*) || ':' || coalesce(sum(hashtextextended(x::text, 0)), 0) FROM ({}) x)",
                    unordered(q.sql())
                )
            })
            .collect();
        format!("SELECT md5(concat_ws(',', {}))", parts.join(", "))
    })
}

/// `query` without its final top-level `ORDER BY` (the capture queries end with one or none).
fn unordered(query: &str) -> &str {
    match query.rfind(" ORDER BY ") {
        Some(at) if query[at..].matches('(').count() == query[at..].matches(')').count() => {
            &query[..at]
        }
        _ => query,
    }
}

/// Opens the read-only transaction with the capture's settings, in one round trip.
fn open_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| format!("{BEGIN}; {SEARCH_PATH}; {LOCK_TIMEOUT}"))
}

/// The capture's settings for a whole session (SET, not SET LOCAL).
fn session_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| format!("{SEARCH_PATH}; {LOCK_TIMEOUT}").replace("SET LOCAL ", "SET "))
}

impl Snapshot {
    /// Gives the session of `conn` the settings a fingerprint reads the catalog with, for good:
    /// after it, [`Snapshot::fingerprint_in_session`] reads one in a single round trip. For a
    /// connection that only reads catalogs (the stairway reads hundreds of fingerprints).
    pub async fn prepare_fingerprint_session(conn: &mut PgConnection) -> Result<(), SchemaError> {
        sqlx::raw_sql(session_sql())
            .execute(&mut *conn)
            .await
            .map(|_| ())
            .map_err(|e| SchemaError::query("the session settings for catalog fingerprints", e))
    }

    /// The catalog's fingerprint in one statement (one snapshot of its own, outside any
    /// transaction), on a connection [`Snapshot::prepare_fingerprint_session`] set up; the same
    /// value [`Snapshot::fingerprint`] reads.
    pub async fn fingerprint_in_session(
        conn: &mut PgConnection,
    ) -> Result<Fingerprint, SchemaError> {
        sqlx::query_scalar::<_, String>(sql())
            .fetch_one(&mut *conn)
            .await
            .map(Fingerprint)
            .map_err(|e| {
                SchemaError::query(
                    "the digest of every object kind for the catalog fingerprint",
                    e,
                )
            })
    }

    /// The catalog's fingerprint through an open connection: one query inside a read-only
    /// transaction with the settings of a capture, rolled back; three round trips in all (it
    /// runs between every two steps of a stairway). The connection must not be inside a
    /// transaction already.
    pub async fn fingerprint(conn: &mut PgConnection) -> Result<Fingerprint, SchemaError> {
        let fail = |what: &'static str| {
            move |e| SchemaError::query(format!("{what} for the catalog fingerprint"), e)
        };
        sqlx::raw_sql(open_sql())
            .execute(&mut *conn)
            .await
            .map_err(fail("a read-only transaction"))?;
        let digest = sqlx::query_scalar::<_, String>(sql())
            .fetch_one(&mut *conn)
            .await
            .map_err(fail("the digest of every object kind"));
        // Ended whatever the digest did, so the connection is usable afterwards.
        let end = sqlx::raw_sql("ROLLBACK")
            .execute(&mut *conn)
            .await
            .map_err(fail("the end of the transaction"));
        let digest = digest?;
        end?;
        Ok(Fingerprint(digest))
    }
}
