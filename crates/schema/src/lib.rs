//! PostgreSQL catalog `Snapshot` as canonical JSON, and `diff`. (Skeleton.)

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read the catalog: {0}")]
    Query(String),
    #[error("snapshot file is not valid: {0}")]
    Json(String),
}

/// The schema of one database, as read from pg_catalog. Serialises to canonical JSON: two
/// snapshots of the same schema are byte-identical.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub objects: Vec<String>,
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
    /// Read the schema of the database at `url`, inside a read-only transaction.
    pub async fn capture(url: &str) -> Result<Snapshot, SchemaError> {
        let _ = url;
        Err(SchemaError::Query("not implemented".into()))
    }

    /// Canonical JSON (sorted, pretty, trailing newline).
    pub fn to_canonical_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    pub fn from_json(text: &str) -> Result<Snapshot, SchemaError> {
        serde_json::from_str(text).map_err(|e| SchemaError::Json(e.to_string()))
    }

    /// True when the database holds no user objects (after downgrade to base), ignoring the
    /// runner's own bookkeeping table (`alembic_version`, `schema_migrations`, ...).
    pub fn is_empty(&self, ignore_tables: &[&str]) -> bool {
        let _ = ignore_tables;
        self.objects.is_empty()
    }
}

/// Object-level differences between `a` and `b`, named by `a_name` / `b_name` in the details.
pub fn diff(a: &Snapshot, b: &Snapshot, a_name: &str, b_name: &str) -> Vec<Difference> {
    let _ = (a, b, a_name, b_name);
    Vec::new()
}
