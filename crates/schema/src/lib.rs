//! PostgreSQL catalog `Snapshot` as canonical JSON, and `diff`.
//!
//! A snapshot is read from pg_catalog inside a read-only transaction, with one set-based query
//! per object kind, and serialises to canonical JSON: two databases built by the same migrations
//! give byte-identical files. [`diff`] turns two snapshots into differences a reviewer can read.
//! The JSON shape is described in this crate's README.

mod capture;
mod data;
mod diff;
mod fingerprint;
mod model;

pub use data::{DataSnapshot, TableData};
pub use fingerprint::Fingerprint;
pub use model::{
    Column, Constraint, Domain, Enum, Extension, Function, Index, SchemaObject, Sequence, Snapshot,
    Table, Trigger, View,
};
pub use sqlx::postgres::PgConnection;

use serde::Serialize;

/// Bookkeeping tables of the migration tools Migration Gate replays. They are the runner's, not
/// the application's, so comparisons usually leave them out (see [`Snapshot::capture_excluding`]).
pub const BOOKKEEPING_TABLES: &[&str] = &[
    "alembic_version",
    "schema_migrations",
    "flyway_schema_history",
    "_sqlx_migrations",
];

/// Why a snapshot could not be taken or read. Database failures keep the driver's error as
/// their `source` and the server's SQLSTATE when it answered; URLs are shown with the
/// password masked.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The URL is not a PostgreSQL connection URL (shown masked).
    #[error(
        "cannot read the catalog: invalid database URL {url}: {reason}; expected postgres://user:password@host:port/dbname"
    )]
    InvalidUrl {
        url: String,
        reason: String,
        #[source]
        source: Option<sqlx::Error>,
    },
    /// No connection to the database at `url` (shown masked).
    #[error(
        "cannot read the catalog: cannot connect to {url}: {source}; check host, port, credentials and sslmode"
    )]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// A catalog or table read failed; `reading` says what was being read.
    #[error("cannot read the catalog: reading {reading}: {source}")]
    Query {
        reading: String,
        sqlstate: Option<String>,
        #[source]
        source: sqlx::Error,
    },
    /// The snapshot file is not JSON of the snapshot's shape.
    #[error("snapshot file is not valid: {0}")]
    Json(#[source] serde_json::Error),
    /// The snapshot file is of a format this build does not read.
    #[error(
        "snapshot file is not valid: snapshot format {found} is not supported (this build reads format {supported}); write the snapshot again with this version"
    )]
    Format { found: u32, supported: u32 },
}

impl SchemaError {
    pub(crate) fn query(reading: impl Into<String>, source: sqlx::Error) -> Self {
        SchemaError::Query {
            reading: reading.into(),
            sqlstate: source
                .as_database_error()
                .and_then(|d| d.code())
                .map(|c| c.into_owned()),
            source,
        }
    }
}

/// One object-level difference, readable by a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// e.g. `enum public.userrole`
    pub object: String,
    /// e.g. `label 'super_admin' only in reference`
    pub detail: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.object, self.detail)
    }
}

impl Snapshot {
    /// Read the schema of the database at `url`, inside a read-only transaction. The URL may
    /// carry `sslmode=require` (TLS via rustls) as managed PostgreSQL services demand.
    /// Uses up to three connections sharing one exported snapshot (fewer when the server
    /// refuses more), so the catalog is read in parallel yet consistently.
    pub async fn capture(url: &str) -> Result<Snapshot, SchemaError> {
        capture::capture_url(url).await
    }

    /// Like [`Snapshot::capture`], then leave out the tables named in `exclude_tables` (see
    /// [`Snapshot::without_tables`]), e.g. [`BOOKKEEPING_TABLES`].
    pub async fn capture_excluding(
        url: &str,
        exclude_tables: &[&str],
    ) -> Result<Snapshot, SchemaError> {
        Ok(Self::capture(url).await?.without_tables(exclude_tables))
    }

    /// Read the schema through an open connection, inside a read-only transaction that is
    /// rolled back afterwards. The connection must not be inside a transaction already.
    pub async fn capture_with(conn: &mut PgConnection) -> Result<Snapshot, SchemaError> {
        capture::capture_with(conn).await
    }

    /// This snapshot without the named tables and what hangs off them (indexes, triggers,
    /// sequences they own). A name matches `schema.table` exactly, or a bare `table` in any
    /// schema.
    pub fn without_tables(mut self, names: &[&str]) -> Snapshot {
        let matches = |qualified: &str| {
            names.iter().any(|n| {
                *n == qualified
                    || qualified
                        .split_once('.')
                        .is_some_and(|(_, bare)| bare == *n)
            })
        };
        let removed: Vec<String> = self.tables.keys().filter(|k| matches(k)).cloned().collect();
        if removed.is_empty() {
            return self;
        }
        let is_removed = |t: &str| removed.iter().any(|r| r == t);
        self.tables.retain(|k, _| !is_removed(k));
        self.indexes.retain(|_, i| !is_removed(&i.table));
        self.triggers.retain(|_, t| !is_removed(&t.table));
        self.sequences.retain(|_, s| {
            !s.owned_by.as_deref().is_some_and(|o| {
                removed.iter().any(|r| {
                    o.strip_prefix(r.as_str())
                        .is_some_and(|c| c.starts_with('.'))
                })
            })
        });
        self
    }

    /// Canonical JSON (sorted, pretty, trailing newline).
    pub fn to_canonical_json(&self) -> String {
        // Every map is a BTreeMap and every list has a catalog-defined order, so serde's output
        // is already canonical. Serialising plain structs cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    pub fn from_json(text: &str) -> Result<Snapshot, SchemaError> {
        let snap: Snapshot = serde_json::from_str(text).map_err(SchemaError::Json)?;
        if snap.format != model::format_version() {
            return Err(SchemaError::Format {
                found: snap.format,
                supported: model::format_version(),
            });
        }
        Ok(snap)
    }

    /// True when the database holds no user objects (after downgrade to base), ignoring the
    /// runner's own bookkeeping table (`alembic_version`, `schema_migrations`, ...). The
    /// `public` schema and the `plpgsql` extension come with every database and do not count.
    pub fn is_empty(&self, ignore_tables: &[&str]) -> bool {
        let s = self.clone().without_tables(ignore_tables);
        s.schemas.keys().all(|k| k == "public")
            && s.extensions.keys().all(|k| k == "plpgsql")
            && s.tables.is_empty()
            && s.views.is_empty()
            && s.indexes.is_empty()
            && s.sequences.is_empty()
            && s.enums.is_empty()
            && s.domains.is_empty()
            && s.functions.is_empty()
            && s.triggers.is_empty()
    }
}

/// Object-level differences between `a` and `b`, named by `a_name` / `b_name` in the details.
/// Sorted by object, then detail; empty when the schemas match.
pub fn diff(a: &Snapshot, b: &Snapshot, a_name: &str, b_name: &str) -> Vec<Difference> {
    diff::diff(a, b, a_name, b_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(json: &str) -> Snapshot {
        Snapshot::from_json(json).expect("test snapshot")
    }

    const BOOKKEEPING: &str = r#"{
      "format": 1,
      "schemas": {"public": {}},
      "extensions": {"plpgsql": {"schema": "pg_catalog", "version": "1.0"}},
      "tables": {
        "public.schema_migrations": {"kind": "table", "columns": [
          {"name": "version", "type": "bigint", "not_null": true}]},
        "public.schema_migrations_archive": {"kind": "table", "columns": []},
        "audit.schema_migrations": {"kind": "table", "columns": []}
      },
      "indexes": {
        "public.schema_migrations_pkey": {"table": "public.schema_migrations",
          "constraint": "schema_migrations_pkey"}
      },
      "sequences": {
        "public.schema_migrations_version_seq": {"type": "bigint", "start": 1, "increment": 1,
          "min": 1, "max": 9, "cache": 1, "cycle": false,
          "owned_by": "public.schema_migrations.version"},
        "public.schema_migrations_archive_id_seq": {"type": "bigint", "start": 1, "increment": 1,
          "min": 1, "max": 9, "cache": 1, "cycle": false,
          "owned_by": "public.schema_migrations_archive.id"}
      }
    }"#;

    #[test]
    fn without_tables_matches_whole_names_only() {
        let s = snapshot(BOOKKEEPING).without_tables(&["schema_migrations"]);
        // A bare name matches in every schema; a longer name that starts the same does not.
        assert_eq!(
            s.tables.keys().collect::<Vec<_>>(),
            ["public.schema_migrations_archive"]
        );
        assert!(s.indexes.is_empty());
        assert_eq!(
            s.sequences.keys().collect::<Vec<_>>(),
            ["public.schema_migrations_archive_id_seq"]
        );

        let s = snapshot(BOOKKEEPING).without_tables(&["audit.schema_migrations"]);
        assert_eq!(s.tables.len(), 2);
        assert!(s.tables.contains_key("public.schema_migrations"));
    }

    #[test]
    fn is_empty_counts_what_is_not_ignored() {
        let s = snapshot(BOOKKEEPING);
        assert!(!s.is_empty(&["schema_migrations"]));
        assert!(s.is_empty(&["schema_migrations", "schema_migrations_archive"]));
        assert!(!s.is_empty(&[]));
        assert!(Snapshot::default().is_empty(&[]));
    }

    #[test]
    fn canonical_json_sorts_maps_and_round_trips() {
        let s = snapshot(BOOKKEEPING);
        let json = s.to_canonical_json();
        let audit = json.find("\"audit.schema_migrations\"").unwrap();
        let public = json.find("\"public.schema_migrations\"").unwrap();
        assert!(audit < public, "maps are sorted by key");
        assert_eq!(
            Snapshot::from_json(&json).unwrap().to_canonical_json(),
            json
        );
        // Unknown fields are rejected, so a typo in a hand-edited snapshot is not ignored.
        let err = Snapshot::from_json(r#"{"format": 1, "tabels": {}}"#).unwrap_err();
        assert!(err.to_string().contains("tabels"), "{err}");
    }
}
