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
/// is dropped: the sum does not need it, the sort costs. Each query's extension-member check
/// reads one list of the members, made once per fingerprint ([`fingerprint_form`]).
fn sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| digest(EXTENSION_MEMBERS, fingerprint_form))
}

/// The same digest from the capture queries exactly as a snapshot runs them (every query
/// scans pg_depend for extension members of its own): the definition [`sql`] must equal.
fn reference_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| digest("", |q| unordered(q).to_string()))
}

fn digest(with: &str, form: fn(&str) -> String) -> String {
    let parts: Vec<String> = Q::ALL
        .iter()
        .map(|q| {
            format!(
                "(SELECT count(*) || ':' || coalesce(sum(hashtextextended(x::text, 0)), 0) FROM ({}) x)",
                form(q.sql())
            )
        })
        .collect();
    format!("{with}SELECT md5(concat_ws(',', {}))", parts.join(", "))
}

/// The extension members, read once: every capture query leaves them out with a
/// `NOT EXISTS` on pg_depend (queries.rs `not_ext!`), and pg_depend has no index on deptype,
/// so each of the thirteen scanned all of it (a tenth of a fingerprint's server time at 200
/// tables).
const EXTENSION_MEMBERS: &str = "WITH fp_ext AS MATERIALIZED (SELECT classid, objid \
     FROM pg_catalog.pg_depend WHERE deptype = 'e') ";

/// What `not_ext!` reads, and what it reads in a fingerprint instead (the same rows: every
/// row of `fp_ext` has deptype 'e').
const NOT_EXT_FROM: &str = "FROM pg_catalog.pg_depend dx WHERE";
const NOT_EXT_DEPTYPE: &str = " AND dx.deptype = 'e')";

/// A capture query as the fingerprint runs it: without its ORDER BY, its extension-member
/// check against `fp_ext`. Returns the same rows as the query (fingerprint tests compare the
/// two digests on every change they make).
fn fingerprint_form(query: &str) -> String {
    let query = unordered(query);
    let checks = query.matches(NOT_EXT_FROM).count();
    debug_assert_eq!(checks, query.matches(NOT_EXT_DEPTYPE).count(), "{query}");
    query
        .replace(NOT_EXT_FROM, "FROM fp_ext dx WHERE")
        .replace(NOT_EXT_DEPTYPE, ")")
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

    /// The fingerprint computed from the capture queries exactly as a snapshot runs them, on a
    /// connection [`Snapshot::prepare_fingerprint_session`] set up. Slower than
    /// [`Snapshot::fingerprint_in_session`], which must give the same value: for the tests
    /// that hold the two to each other.
    #[doc(hidden)]
    pub async fn fingerprint_by_capture_queries(
        conn: &mut PgConnection,
    ) -> Result<Fingerprint, SchemaError> {
        sqlx::query_scalar::<_, String>(reference_sql())
            .fetch_one(&mut *conn)
            .await
            .map(Fingerprint)
            .map_err(|e| SchemaError::query("the reference digest for the catalog fingerprint", e))
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
