//! The snapshot model. Every map is a `BTreeMap` keyed by a qualified name, so serialisation is
//! sorted and canonical; nothing here holds an OID, a counter or a timestamp, since those differ
//! between two replays of the same chain.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schema of one database, as read from pg_catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Format version of this JSON, bumped when the shape changes incompatibly.
    #[serde(default = "format_version")]
    pub format: u32,
    /// User schemas by name (`public` included when present).
    #[serde(default)]
    pub schemas: BTreeMap<String, SchemaObject>,
    /// Installed extensions by name. Their member objects are not listed elsewhere.
    #[serde(default)]
    pub extensions: BTreeMap<String, Extension>,
    /// Tables (ordinary, partitioned, foreign) by `schema.table`.
    #[serde(default)]
    pub tables: BTreeMap<String, Table>,
    /// Views and materialized views by `schema.view`.
    #[serde(default)]
    pub views: BTreeMap<String, View>,
    /// Indexes by `schema.index` (index names are unique within a schema).
    #[serde(default)]
    pub indexes: BTreeMap<String, Index>,
    /// Sequences by `schema.sequence`, including those behind serial and identity columns.
    #[serde(default)]
    pub sequences: BTreeMap<String, Sequence>,
    /// Enum types by `schema.type`.
    #[serde(default)]
    pub enums: BTreeMap<String, Enum>,
    /// Domains by `schema.domain`.
    #[serde(default)]
    pub domains: BTreeMap<String, Domain>,
    /// Functions, procedures and aggregates by `schema.name(identity arguments)`.
    #[serde(default)]
    pub functions: BTreeMap<String, Function>,
    /// Triggers by `schema.table.trigger` (trigger names are unique per table only).
    #[serde(default)]
    pub triggers: BTreeMap<String, Trigger>,
}

pub(crate) fn format_version() -> u32 {
    1
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            format: format_version(),
            schemas: BTreeMap::new(),
            extensions: BTreeMap::new(),
            tables: BTreeMap::new(),
            views: BTreeMap::new(),
            indexes: BTreeMap::new(),
            sequences: BTreeMap::new(),
            enums: BTreeMap::new(),
            domains: BTreeMap::new(),
            functions: BTreeMap::new(),
            triggers: BTreeMap::new(),
        }
    }
}

/// A schema (namespace). Empty for now: its existence is what matters; owners differ between
/// environments and would make every comparison noisy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaObject {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// Schema the extension's objects live in.
    pub schema: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// `table`, `partitioned` or `foreign`.
    pub kind: String,
    /// `PARTITION BY ...` for partitioned tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<String>,
    /// Parent table, for a partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_of: Option<String>,
    /// `FOR VALUES ...`, for a partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_bound: Option<String>,
    /// Columns in attribute order (as `\d` shows them); compared by name.
    pub columns: Vec<Column>,
    /// Constraints by name (names are unique per table).
    #[serde(default)]
    pub constraints: BTreeMap<String, Constraint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    /// As `format_type` prints it, e.g. `character varying(255)`, `public.userrole`.
    #[serde(rename = "type")]
    pub data_type: String,
    pub not_null: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// `always` or `by default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The expression of a `GENERATED ALWAYS AS (...) STORED` column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<String>,
    /// Only when it differs from the type's default collation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    /// `primary key`, `foreign key`, `unique`, `check`, `exclusion`, `trigger`, `not null`.
    pub kind: String,
    /// `pg_get_constraintdef`, e.g. `FOREIGN KEY (org_id) REFERENCES public.orgs(id)`.
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct View {
    /// `view` or `materialized view`.
    pub kind: String,
    /// `pg_get_viewdef`.
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// The table or materialized view it indexes, `schema.name`.
    pub table: String,
    /// `pg_get_indexdef`, e.g. `CREATE UNIQUE INDEX ix ON public.users USING btree (email)`;
    /// absent for an index that backs a constraint, whose definition says it all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    /// The primary key, unique or exclusion constraint (on `table`) this index backs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sequence {
    #[serde(rename = "type")]
    pub data_type: String,
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cache: i64,
    pub cycle: bool,
    /// `schema.table.column` for serial/identity sequences and `OWNED BY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enum {
    /// In sort order, which is what `ALTER TYPE ... ADD VALUE ... BEFORE` changes.
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    #[serde(rename = "type")]
    pub data_type: String,
    pub not_null: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
    /// Check constraints by name, with their `pg_get_constraintdef`.
    #[serde(default)]
    pub checks: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Function {
    /// `function`, `procedure`, `aggregate` or `window`.
    pub kind: String,
    /// `pg_get_function_result`; absent for procedures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    pub language: String,
    /// `pg_get_functiondef` with trailing whitespace removed; absent for aggregates, which
    /// PostgreSQL cannot print that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The table or view it fires on, `schema.name`.
    pub table: String,
    /// `pg_get_triggerdef`.
    pub definition: String,
    /// `disabled`, `replica` or `always` when not the default (`ENABLE TRIGGER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<String>,
}
