//! Rows of the catalog queries -> a [`Snapshot`]: one step per object kind. The first row
//! that does not decode fails the snapshot, naming its kind.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::postgres::PgRow;

use super::q;
use super::queries::Q;
use crate::SchemaError;
use crate::model::{
    Column, Constraint, Domain, Enum, Extension, Function, Index, SchemaObject, Sequence, Snapshot,
    Table, Trigger, View,
};

/// Objects of one kind by their qualified name.
type ByName<T> = BTreeMap<String, T>;

pub(super) fn assemble(fetched: Vec<(Q, Vec<PgRow>)>) -> Result<Snapshot, SchemaError> {
    let mut rows: Vec<Vec<PgRow>> = (0..Q::ALL.len()).map(|_| Vec::new()).collect();
    for (q, r) in fetched {
        rows[q as usize] = r;
    }
    // Containers before their parts: columns and constraints join their tables, checks their
    // domains.
    let schemas = schemas(take(&mut rows, Q::Schemas))?;
    let extensions = extensions(take(&mut rows, Q::Extensions))?;
    let mut tables = tables(take(&mut rows, Q::Tables))?;
    add_columns(&mut tables, take(&mut rows, Q::Columns))?;
    add_constraints(&mut tables, take(&mut rows, Q::Constraints))?;
    let views = views(take(&mut rows, Q::Views))?;
    let indexes = indexes(take(&mut rows, Q::Indexes))?;
    let sequences = sequences(take(&mut rows, Q::Sequences))?;
    let enums = enums(take(&mut rows, Q::Enums))?;
    let mut domains = domains(take(&mut rows, Q::Domains))?;
    add_domain_checks(&mut domains, take(&mut rows, Q::DomainChecks))?;
    let functions = functions(take(&mut rows, Q::Functions))?;
    let triggers = triggers(take(&mut rows, Q::Triggers))?;
    Ok(Snapshot {
        schemas,
        extensions,
        tables,
        views,
        indexes,
        sequences,
        enums,
        domains,
        functions,
        triggers,
        ..Snapshot::default()
    })
}

fn take(rows: &mut [Vec<PgRow>], query: Q) -> Vec<PgRow> {
    std::mem::take(&mut rows[query as usize])
}

/// Decode every row of one catalog query with `f`; the first row that does not decode fails
/// the snapshot, naming the kind of object.
fn decode<T>(
    rows: Vec<PgRow>,
    kind: &'static str,
    f: impl Fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, SchemaError> {
    rows.iter().map(|row| f(row).map_err(q(kind))).collect()
}

/// [`decode`] for rows that give each object its name: one map of the kind.
fn by_name<T>(
    rows: Vec<PgRow>,
    kind: &'static str,
    f: impl Fn(&PgRow) -> Result<(String, T), sqlx::Error>,
) -> Result<ByName<T>, SchemaError> {
    Ok(decode(rows, kind, f)?.into_iter().collect())
}

fn qualified(row: &PgRow) -> Result<String, sqlx::Error> {
    let schema: String = row.try_get(0)?;
    let name: String = row.try_get(1)?;
    Ok(format!("{schema}.{name}"))
}

/// PostgreSQL pads function bodies inconsistently at line ends; only the text matters.
fn normalise_definition(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim().to_owned()
}

fn schemas(rows: Vec<PgRow>) -> Result<ByName<SchemaObject>, SchemaError> {
    by_name(rows, "schemas", |row| {
        Ok((row.try_get(0)?, SchemaObject {}))
    })
}

fn extensions(rows: Vec<PgRow>) -> Result<ByName<Extension>, SchemaError> {
    by_name(rows, "extensions", |row| {
        Ok((
            row.try_get::<String, _>(0)?,
            Extension {
                schema: row.try_get(1)?,
                version: row.try_get(2)?,
            },
        ))
    })
}

/// Tables without their columns and constraints; [`add_columns`] and [`add_constraints`] fill
/// them in.
fn tables(rows: Vec<PgRow>) -> Result<ByName<Table>, SchemaError> {
    by_name(rows, "tables", |row| {
        let kind: String = row.try_get(2)?;
        Ok((
            qualified(row)?,
            Table {
                kind: match kind.as_str() {
                    "p" => "partitioned",
                    "f" => "foreign",
                    _ => "table",
                }
                .to_owned(),
                partition_key: row.try_get(3)?,
                partition_of: row.try_get(4)?,
                partition_bound: row.try_get(5)?,
                columns: Vec::new(),
                constraints: BTreeMap::new(),
            },
        ))
    })
}

fn add_columns(tables: &mut ByName<Table>, rows: Vec<PgRow>) -> Result<(), SchemaError> {
    let all = decode(rows, "columns", |row| {
        let identity: String = row.try_get(5)?;
        let generated: String = row.try_get(6)?;
        let expr: Option<String> = row.try_get(7)?;
        let (default, generated) = if generated.is_empty() {
            (expr, None)
        } else {
            (None, expr)
        };
        Ok((
            qualified(row)?,
            Column {
                name: row.try_get(2)?,
                data_type: row.try_get(3)?,
                not_null: row.try_get(4)?,
                default,
                identity: match identity.as_str() {
                    "a" => Some("always".to_owned()),
                    "d" => Some("by default".to_owned()),
                    _ => None,
                },
                generated,
                collation: row.try_get(8)?,
            },
        ))
    })?;
    for (table, column) in all {
        // The table list and this query read the same catalog state, so a miss cannot happen;
        // skipping is still safer than panicking on a reference database.
        if let Some(t) = tables.get_mut(&table) {
            t.columns.push(column);
        }
    }
    Ok(())
}

fn add_constraints(tables: &mut ByName<Table>, rows: Vec<PgRow>) -> Result<(), SchemaError> {
    let all = decode(rows, "constraints", |row| {
        let kind: String = row.try_get(3)?;
        Ok((
            qualified(row)?,
            row.try_get::<String, _>(2)?,
            Constraint {
                kind: match kind.as_str() {
                    "p" => "primary key",
                    "f" => "foreign key",
                    "u" => "unique",
                    "c" => "check",
                    "x" => "exclusion",
                    "t" => "trigger",
                    "n" => "not null",
                    other => other,
                }
                .to_owned(),
                definition: row.try_get(4)?,
            },
        ))
    })?;
    for (table, name, con) in all {
        if let Some(t) = tables.get_mut(&table) {
            t.constraints.insert(name, con);
        }
    }
    Ok(())
}

fn views(rows: Vec<PgRow>) -> Result<ByName<View>, SchemaError> {
    by_name(rows, "views", |row| {
        let kind: String = row.try_get(2)?;
        Ok((
            qualified(row)?,
            View {
                kind: if kind == "m" {
                    "materialized view"
                } else {
                    "view"
                }
                .to_owned(),
                definition: normalise_definition(&row.try_get::<String, _>(3)?),
            },
        ))
    })
}

fn indexes(rows: Vec<PgRow>) -> Result<ByName<Index>, SchemaError> {
    by_name(rows, "indexes", |row| {
        Ok((
            qualified(row)?,
            Index {
                table: row.try_get(2)?,
                definition: row.try_get(3)?,
                constraint: row.try_get(4)?,
            },
        ))
    })
}

fn sequences(rows: Vec<PgRow>) -> Result<ByName<Sequence>, SchemaError> {
    by_name(rows, "sequences", |row| {
        Ok((
            qualified(row)?,
            Sequence {
                data_type: row.try_get(2)?,
                start: row.try_get(3)?,
                increment: row.try_get(4)?,
                min: row.try_get(5)?,
                max: row.try_get(6)?,
                cache: row.try_get(7)?,
                cycle: row.try_get(8)?,
                owned_by: row.try_get(9)?,
            },
        ))
    })
}

fn enums(rows: Vec<PgRow>) -> Result<ByName<Enum>, SchemaError> {
    by_name(rows, "enums", |row| {
        Ok((
            qualified(row)?,
            Enum {
                labels: row.try_get(2)?,
            },
        ))
    })
}

/// Domains without their checks; [`add_domain_checks`] fills them in.
fn domains(rows: Vec<PgRow>) -> Result<ByName<Domain>, SchemaError> {
    by_name(rows, "domains", |row| {
        Ok((
            qualified(row)?,
            Domain {
                data_type: row.try_get(2)?,
                not_null: row.try_get(3)?,
                default: row.try_get(4)?,
                collation: row.try_get(5)?,
                checks: BTreeMap::new(),
            },
        ))
    })
}

fn add_domain_checks(domains: &mut ByName<Domain>, rows: Vec<PgRow>) -> Result<(), SchemaError> {
    let all = decode(rows, "domain constraints", |row| {
        Ok((
            qualified(row)?,
            row.try_get::<String, _>(2)?,
            row.try_get::<String, _>(3)?,
        ))
    })?;
    for (domain, name, def) in all {
        if let Some(d) = domains.get_mut(&domain) {
            d.checks.insert(name, def);
        }
    }
    Ok(())
}

/// Keyed by `schema.name(identity arguments)`: overloads are different functions.
fn functions(rows: Vec<PgRow>) -> Result<ByName<Function>, SchemaError> {
    by_name(rows, "functions", |row| {
        let args: String = row.try_get(2)?;
        let kind: String = row.try_get(3)?;
        let def: Option<String> = row.try_get(6)?;
        Ok((
            format!("{}({args})", qualified(row)?),
            Function {
                kind: match kind.as_str() {
                    "p" => "procedure",
                    "a" => "aggregate",
                    "w" => "window",
                    _ => "function",
                }
                .to_owned(),
                result: row.try_get(4)?,
                language: row.try_get(5)?,
                definition: def.as_deref().map(normalise_definition),
            },
        ))
    })
}

/// Keyed by `schema.table.trigger`: trigger names are unique per table only.
fn triggers(rows: Vec<PgRow>) -> Result<ByName<Trigger>, SchemaError> {
    by_name(rows, "triggers", |row| {
        let table = qualified(row)?;
        let name: String = row.try_get(2)?;
        let enabled: String = row.try_get(4)?;
        Ok((
            format!("{table}.{name}"),
            Trigger {
                table,
                definition: row.try_get(3)?,
                enabled: match enabled.as_str() {
                    "D" => Some("disabled".to_owned()),
                    "R" => Some("replica".to_owned()),
                    "A" => Some("always".to_owned()),
                    _ => None,
                },
            },
        ))
    })
}
