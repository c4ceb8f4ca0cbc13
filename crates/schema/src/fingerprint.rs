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
    /// The digest as hex (md5 of the per-kind digests).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Per query: md5 of the sorted md5s of its rows' text (fixed width, so no two row sets
/// concatenate alike; sorted, so the catalog's row order does not count), `-` when it has
/// none; all of them in `Q::ALL` order, hashed once more.
fn sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let parts: Vec<String> = Q::ALL
            .iter()
            .map(|q| {
                format!(
                    "(SELECT coalesce(md5(string_agg(md5(x::text), '' ORDER BY md5(x::text))), '-') FROM ({}) x)",
                    q.sql()
                )
            })
            .collect();
        format!("SELECT md5(concat_ws(',', {}))", parts.join(", "))
    })
}

/// Opens the read-only transaction with the capture's settings, in one round trip.
fn open_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| format!("{BEGIN}; {SEARCH_PATH}; {LOCK_TIMEOUT}"))
}

impl Snapshot {
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
