//! What the row generator needs to know about the tables, read from pg_catalog at the
//! revision being seeded: columns with their (domain-resolved) base types and enum labels,
//! keys, foreign keys, unique indexes and check constraints. Names are exact catalog names;
//! SQL text quotes them ([`ident`]).

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{PgConnection, Row as _};

/// One column as the generator sees it.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    /// The declared type as `format_type` prints it (a domain's or enum's qualified name):
    /// every generated value is cast to it, so domain checks are the server's to judge.
    pub declared: String,
    /// The base type's `typname` (`int4`, `varchar`, `_text` for arrays' base, ...), after
    /// resolving a domain.
    pub base: String,
    /// `format_type` of the base type with the column's modifier (`character varying(20)`,
    /// `numeric(6,2)`), for lengths and precision.
    pub base_format: String,
    /// For an array: the element's `typname`.
    pub element: Option<String>,
    /// Labels of the enum (of the element, for an array of enums), in order.
    pub labels: Vec<String>,
    /// NOT NULL on the column or its domain.
    pub not_null: bool,
    /// A default (column or domain): left to the server unless a retry needs distinct values.
    pub has_default: bool,
    /// Identity or generated: never written.
    pub computed: bool,
    /// The domain's check constraints (their string literals are candidate values).
    pub domain_checks: Vec<String>,
}

/// A foreign key of a table.
#[derive(Debug, Clone)]
pub(crate) struct ForeignKey {
    pub columns: Vec<String>,
    /// `schema.table` of the referenced table.
    pub parent: String,
    pub parent_columns: Vec<String>,
}

/// One table to seed.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    /// Column sets that must be distinct per row: primary key, unique constraints, unique
    /// indexes (partial ones included: distinct values satisfy them too).
    pub unique: Vec<Vec<String>>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Check constraint definitions (`CHECK ((price > 0))`).
    pub checks: Vec<String>,
}

impl Table {
    /// `schema.table`, as findings and the section name it.
    pub fn display(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The table in SQL text.
    pub fn sql_name(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }

    /// Whether `column` belongs to a set of columns that must be distinct per row.
    pub fn is_unique(&self, column: &str) -> bool {
        self.unique
            .iter()
            .any(|set| set.iter().any(|c| c == column))
    }
}

/// A double-quoted identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A single-quoted string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

// Every user table not in `$1` (oids), with what the generator needs of it, in one statement
// (one round trip and one plan per revision of the seeded pass, where a list of tables and
// three reads of the new ones were five): columns (with the base type of a domain, enum
// labels, the domain's checks), constraints and unique indexes as JSON arrays, and whether
// the table may hold rows: an ordinary heap table with no page holds none (a partitioned or
// other table is counted).
const TABLES: &str = "WITH t AS MATERIALIZED ( \
     SELECT c.oid, c.relnamespace, c.relname, c.relkind, c.relam FROM pg_class c \
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.oid <> ALL ($1::int8[]::oid[])) \
     SELECT t.oid::int8, n.nspname::text, t.relname::text, \
     coalesce((SELECT json_agg(json_build_array( \
         a.attname::text, format_type(a.atttypid, a.atttypmod), \
         a.attnotnull OR ty.typnotnull, \
         a.atthasdef OR ty.typdefault IS NOT NULL, \
         a.attidentity <> '' OR a.attgenerated <> '', \
         b.typname::text, \
         format_type(b.oid, CASE WHEN ty.typtype = 'd' THEN ty.typtypmod ELSE a.atttypmod END), \
         e.typname::text, \
         ARRAY(SELECT l.enumlabel::text FROM pg_enum l \
               WHERE l.enumtypid = coalesce(e.oid, b.oid) ORDER BY l.enumsortorder), \
         ARRAY(SELECT pg_get_constraintdef(dc.oid) FROM pg_constraint dc \
               WHERE dc.contypid = ty.oid AND ty.typtype = 'd' ORDER BY dc.conname)) \
       ORDER BY a.attnum) \
       FROM pg_attribute a \
       JOIN pg_type ty ON ty.oid = a.atttypid \
       JOIN pg_type b ON b.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END \
       LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A' \
       WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]'), \
     coalesce((SELECT json_agg(json_build_array( \
         con.contype::text, \
         ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord) \
               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord), \
         coalesce(fn.nspname::text || '.' || fc.relname::text, ''), \
         ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord) \
               JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord), \
         pg_get_constraintdef(con.oid)) \
       ORDER BY con.conname) \
       FROM pg_constraint con \
       LEFT JOIN pg_class fc ON fc.oid = con.confrelid \
       LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace \
       WHERE con.conrelid = t.oid AND con.contype IN ('p', 'u', 'f', 'c', 'x')), '[]'), \
     coalesce((SELECT json_agg(ARRAY(SELECT a.attname::text \
           FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, ord) \
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num ORDER BY k.ord) \
         ORDER BY i.indexrelid) \
       FROM pg_index i WHERE i.indrelid = t.oid AND i.indisunique), '[]'), \
     t.relkind <> 'r' OR t.relam IS DISTINCT FROM (SELECT oid FROM pg_am WHERE amname = 'heap') \
       OR pg_relation_size(t.oid) > 0 \
     FROM t JOIN pg_namespace n ON n.oid = t.relnamespace \
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                     AND d.objid = t.oid AND d.deptype = 'e') \
     ORDER BY 2, 3";

/// One read of the user tables (crate::seed).
#[derive(Debug, Default)]
pub(crate) struct Read {
    /// Every user table read, the runner's bookkeeping too.
    pub oids: Vec<i64>,
    /// The tables to seed (all but the bookkeeping), by `schema.table`.
    pub tables: BTreeMap<String, Table>,
    /// The tables among them that may hold rows (`schema.table`): the others are known empty.
    pub maybe_rows: BTreeSet<String>,
}

/// The user tables except those in `leave_out` (oids; an empty list reads all of them) and
/// the runner's `skip` tables (bookkeeping, by bare name, still listed in `oids`).
pub(crate) async fn read(
    conn: &mut PgConnection,
    skip: &[&str],
    leave_out: &[i64],
) -> Result<Read, sqlx::Error> {
    let rows = sqlx::query(TABLES)
        .bind(leave_out)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Read::default();
    for r in rows {
        out.oids.push(r.try_get(0)?);
        let (schema, name): (String, String) = (r.try_get(1)?, r.try_get(2)?);
        if skip.contains(&name.as_str()) {
            continue;
        }
        let mut table = Table {
            schema,
            name,
            columns: Vec::new(),
            unique: Vec::new(),
            foreign_keys: Vec::new(),
            checks: Vec::new(),
        };
        let json = |i: usize| -> Result<Vec<serde_json::Value>, sqlx::Error> {
            let v: serde_json::Value = r.try_get(i)?;
            match v {
                serde_json::Value::Array(a) => Ok(a),
                other => Err(decode(format!("not a JSON array: {other}"))),
            }
        };
        for c in json(3)? {
            table.columns.push(Column {
                name: text(&c[0])?,
                declared: text(&c[1])?,
                not_null: flag(&c[2])?,
                has_default: flag(&c[3])?,
                computed: flag(&c[4])?,
                base: text(&c[5])?,
                base_format: text(&c[6])?,
                element: c[7].as_str().map(str::to_string),
                labels: texts(&c[8])?,
                domain_checks: texts(&c[9])?,
            });
        }
        for c in json(4)? {
            let columns = texts(&c[1])?;
            match text(&c[0])?.as_str() {
                "p" | "u" | "x" => table.unique.push(columns),
                "f" => table.foreign_keys.push(ForeignKey {
                    columns,
                    parent: text(&c[2])?,
                    parent_columns: texts(&c[3])?,
                }),
                _ => table.checks.push(text(&c[4])?),
            }
        }
        for c in json(5)? {
            let columns = texts(&c)?;
            if !columns.is_empty() && !table.unique.contains(&columns) {
                table.unique.push(columns);
            }
        }
        let key = table.display();
        if r.try_get::<bool, _>(6)? {
            out.maybe_rows.insert(key.clone());
        }
        out.tables.insert(key, table);
    }
    Ok(out)
}

fn decode(message: String) -> sqlx::Error {
    sqlx::Error::Decode(message.into())
}

fn text(v: &serde_json::Value) -> Result<String, sqlx::Error> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| decode(format!("not a string in the tables' catalog: {v}")))
}

fn flag(v: &serde_json::Value) -> Result<bool, sqlx::Error> {
    v.as_bool()
        .ok_or_else(|| decode(format!("not a boolean in the tables' catalog: {v}")))
}

fn texts(v: &serde_json::Value) -> Result<Vec<String>, sqlx::Error> {
    match v {
        serde_json::Value::Array(a) => a.iter().map(text).collect(),
        serde_json::Value::Null => Ok(Vec::new()),
        other => Err(decode(format!(
            "not an array in the tables' catalog: {other}"
        ))),
    }
}

/// Tables in an order where every parent of a foreign key comes before its children (a
/// self-reference does not count; tables in a cycle follow in name order, their rows are the
/// server's to accept or refuse).
pub(crate) fn dependency_order(tables: &BTreeMap<String, Table>) -> Vec<&Table> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    loop {
        let ready: Vec<&str> = tables
            .iter()
            .filter(|(k, _)| !done.contains(k.as_str()))
            .filter(|(k, t)| {
                t.foreign_keys.iter().all(|fk| {
                    fk.parent == **k
                        || done.contains(fk.parent.as_str())
                        || !tables.contains_key(&fk.parent)
                })
            })
            .map(|(k, _)| k.as_str())
            .collect();
        if ready.is_empty() {
            break;
        }
        for k in ready {
            done.insert(k);
            order.push(&tables[k]);
        }
    }
    order.extend(
        tables
            .iter()
            .filter(|(k, _)| !done.contains(k.as_str()))
            .map(|(_, t)| t),
    );
    order
}
