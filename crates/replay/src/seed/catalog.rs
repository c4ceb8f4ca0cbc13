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

// User tables (ordinary and partitioned; a partition gets its rows through its parent), not
// those of extensions and not the system's.
const USER_TABLES: &str = "c.relkind IN ('r', 'p') AND NOT c.relispartition \
     AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                     AND d.objid = c.oid AND d.deptype = 'e')";

const COLUMNS: &str = "SELECT n.nspname::text, c.relname::text, a.attname::text, \
     format_type(a.atttypid, a.atttypmod), \
     a.attnotnull OR t.typnotnull, \
     a.atthasdef OR t.typdefault IS NOT NULL, \
     a.attidentity <> '' OR a.attgenerated <> '', \
     b.typname::text, \
     format_type(b.oid, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END), \
     e.typname::text, \
     ARRAY(SELECT l.enumlabel::text FROM pg_enum l \
           WHERE l.enumtypid = coalesce(e.oid, b.oid) ORDER BY l.enumsortorder), \
     ARRAY(SELECT pg_get_constraintdef(dc.oid) FROM pg_constraint dc \
           WHERE dc.contypid = t.oid AND t.typtype = 'd' ORDER BY dc.conname) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
     JOIN pg_type t ON t.oid = a.atttypid \
     JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END \
     LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A' \
     WHERE ";

const CONSTRAINTS: &str = "SELECT n.nspname::text, c.relname::text, con.contype::text, \
     ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord) \
           JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord), \
     coalesce(fn.nspname::text || '.' || fc.relname::text, ''), \
     ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord) \
           JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord), \
     pg_get_constraintdef(con.oid) \
     FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     LEFT JOIN pg_class fc ON fc.oid = con.confrelid \
     LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace \
     WHERE con.contype IN ('p', 'u', 'f', 'c', 'x') AND ";

const UNIQUE_INDEXES: &str = "SELECT n.nspname::text, c.relname::text, \
     ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) k(num) \
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num) \
     FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE i.indisunique AND ";

/// The OIDs of every user table: cheap, so the full read can be limited to new tables.
pub(crate) async fn table_oids(conn: &mut PgConnection) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT c.oid::int8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_TABLES}"
    )))
    .fetch_all(conn)
    .await
}

/// The user tables among `oids` (all of them when `None`) except `skip` (the runner's
/// bookkeeping, by bare name), by `schema.table`.
pub(crate) async fn read(
    conn: &mut PgConnection,
    skip: &[&str],
    oids: Option<&[i64]>,
) -> Result<BTreeMap<String, Table>, sqlx::Error> {
    // The oids as a parameter: one prepared statement (and plan) for every revision's read.
    let only = if oids.is_some() {
        " AND c.oid = ANY($1::int8[]::oid[])"
    } else {
        " AND $1::int8[] IS NULL"
    };
    let oids: Option<Vec<i64>> = oids.map(<[i64]>::to_vec);
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{COLUMNS}{USER_TABLES}{only} ORDER BY 1, 2, a.attnum"
    )))
    .bind(&oids)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let (schema, name): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        if skip.contains(&name.as_str()) {
            continue;
        }
        let table = tables
            .entry(format!("{schema}.{name}"))
            .or_insert_with(|| Table {
                schema,
                name,
                columns: Vec::new(),
                unique: Vec::new(),
                foreign_keys: Vec::new(),
                checks: Vec::new(),
            });
        table.columns.push(Column {
            name: r.try_get(2)?,
            declared: r.try_get(3)?,
            not_null: r.try_get(4)?,
            has_default: r.try_get(5)?,
            computed: r.try_get(6)?,
            base: r.try_get(7)?,
            base_format: r.try_get(8)?,
            element: r.try_get(9)?,
            labels: r.try_get(10)?,
            domain_checks: r.try_get(11)?,
        });
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{CONSTRAINTS}{USER_TABLES}{only} ORDER BY 1, 2, con.conname"
    )))
    .bind(&oids)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let key = table_key(&r)?;
        let Some(table) = tables.get_mut(&key) else {
            continue;
        };
        let kind: String = r.try_get(2)?;
        let columns: Vec<String> = r.try_get(3)?;
        match kind.as_str() {
            "p" | "u" | "x" => table.unique.push(columns),
            "f" => table.foreign_keys.push(ForeignKey {
                columns,
                parent: r.try_get(4)?,
                parent_columns: r.try_get(5)?,
            }),
            _ => table.checks.push(r.try_get(6)?),
        }
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{UNIQUE_INDEXES}{USER_TABLES}{only}"
    )))
    .bind(&oids)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let key = table_key(&r)?;
        let columns: Vec<String> = r.try_get(2)?;
        if let Some(table) = tables.get_mut(&key)
            && !columns.is_empty()
            && !table.unique.contains(&columns)
        {
            table.unique.push(columns);
        }
    }
    Ok(tables)
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

/// `schema.table` of a catalog row whose first two columns are the schema and the table.
fn table_key(r: &sqlx::postgres::PgRow) -> Result<String, sqlx::Error> {
    Ok(format!(
        "{}.{}",
        r.try_get::<String, _>(0)?,
        r.try_get::<String, _>(1)?
    ))
}
