//! Tables, their columns and their constraints.

use std::collections::BTreeMap;

use gate_schema::{Column, Snapshot, Table};

use super::sql::{
    collation, column_where, constraint_exists, differs, ident, literal, pg_qname, qname, reg,
    when, when_catalog,
};
use super::types::using_cast;
use super::way::Way;

/// A table `a` and `b` both have, of the same kind, that is not a partition (a partition's
/// columns and constraints follow its parent's).
fn kept<'s>(w: &Way<'s>) -> Vec<(&'s String, &'s Table, &'s Table)> {
    w.a.tables
        .iter()
        .filter_map(|(k, ta)| w.b.tables.get(k).map(|tb| (k, ta, tb)))
        .filter(|(_, ta, tb)| same_shape(ta, tb) && ta.partition_of.is_none())
        .collect()
}

fn same_shape(ta: &Table, tb: &Table) -> bool {
    ta.kind == tb.kind
        && ta.partition_key == tb.partition_key
        && ta.partition_of == tb.partition_of
        && ta.partition_bound == tb.partition_bound
}

fn column<'t>(t: &'t Table, name: &str) -> Option<&'t Column> {
    t.columns.iter().find(|c| c.name == name)
}

/// Partitions after their parents.
fn depth(snap: &Snapshot, key: &str) -> usize {
    let mut d = 0;
    let mut at = key;
    while let Some(parent) = snap.tables.get(at).and_then(|t| t.partition_of.as_deref()) {
        d += 1;
        at = parent;
        if d > snap.tables.len() {
            break;
        }
    }
    d
}

pub(super) fn column_def(snap: &Snapshot, c: &Column) -> String {
    let mut s = format!("{} {}", ident(&c.name), c.data_type);
    if let Some(coll) = &c.collation {
        s += &format!(" COLLATE {}", collation(snap, coll));
    }
    if let Some(expr) = &c.generated {
        s += &format!(" GENERATED ALWAYS AS ({expr}) STORED");
    } else if let Some(default) = &c.default {
        s += &format!(" DEFAULT {default}");
    }
    if let Some(identity) = &c.identity {
        s += &format!(" GENERATED {} AS IDENTITY", identity.to_uppercase());
    }
    if c.not_null {
        s += " NOT NULL";
    }
    s
}

pub(super) fn create_tables(w: &mut Way) {
    let mut keys: Vec<&String> = w.b.tables.keys().collect();
    keys.sort_by_key(|k| depth(w.b, k));
    for key in keys {
        let tb = &w.b.tables[key];
        match w.a.tables.get(key) {
            None => create_table(w, key, tb),
            Some(ta) if !same_shape(ta, tb) => w.leave(
                format!("table {key}"),
                format!(
                    "its kind or partitioning changes ({} to {}): a table cannot become another kind in place",
                    shape(ta),
                    shape(tb)
                ),
            ),
            Some(_) => {}
        }
    }
}

fn shape(t: &Table) -> String {
    let mut s = t.kind.clone();
    if let Some(k) = &t.partition_key {
        s += &format!(" partitioned by {k}");
    }
    if let Some(p) = &t.partition_of {
        s += &format!(" partition of {p}");
    }
    s
}

fn create_table(w: &mut Way, key: &str, t: &Table) {
    let object = format!("table {key}");
    if t.kind == "foreign" {
        w.leave(
            object,
            "a foreign table needs its server and options, which the snapshot does not hold",
        );
        return;
    }
    let partition_by = t
        .partition_key
        .as_ref()
        .map(|k| format!(" PARTITION BY {k}"))
        .unwrap_or_default();
    let sql = match (&t.partition_of, &t.partition_bound) {
        (Some(parent), Some(bound)) => format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} {bound}{partition_by};",
            qname(key),
            qname(parent)
        ),
        _ => {
            let cols: Vec<String> = t
                .columns
                .iter()
                .map(|c| format!("    {}", column_def(w.b, c)))
                .collect();
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\n{}\n){partition_by};",
                qname(key),
                cols.join(",\n")
            )
        }
    };
    w.push(object, sql);
}

/// Tables of `a` that `b` lacks: their foreign keys first (so tables that refer to each other
/// can go in any order), then the tables, partitions before their parents.
pub(super) fn drop_tables(w: &mut Way) {
    let gone: Vec<&String> =
        w.a.tables
            .keys()
            .filter(|k| !w.b.tables.contains_key(*k))
            .collect();
    for key in &gone {
        for (name, con) in &w.a.tables[*key].constraints {
            if con.kind == "foreign key" {
                w.push(
                    format!("constraint {key}.{name}"),
                    drop_constraint(key, name),
                );
            }
        }
    }
    let mut gone = gone;
    gone.sort_by_key(|k| std::cmp::Reverse(depth(w.a, k)));
    for key in gone {
        let what = if w.a.tables[key].kind == "foreign" {
            "FOREIGN TABLE"
        } else {
            "TABLE"
        };
        w.push(
            format!("table {key}"),
            format!("DROP {what} IF EXISTS {};", qname(key)),
        );
    }
}

/// Columns `b` lacks, and identities `b` lacks: an identity's sequence goes with it, before
/// a serial sequence of the same name may be made.
pub(super) fn drop_columns(w: &mut Way) {
    for (key, ta, tb) in kept(w) {
        for c in &ta.columns {
            let object = format!("column {key}.{}", c.name);
            let alter = format!("ALTER TABLE {} ALTER COLUMN {}", qname(key), ident(&c.name));
            match column(tb, &c.name) {
                None => w.push(
                    object,
                    when(
                        &column_where(key, &c.name, "true"),
                        &format!(
                            "ALTER TABLE {} DROP COLUMN IF EXISTS {};",
                            qname(key),
                            ident(&c.name)
                        ),
                    ),
                ),
                Some(cb) if c.identity.is_some() && cb.identity.is_none() => {
                    let guard = column_where(key, &c.name, "a.attidentity <> ''");
                    w.push(object, when(&guard, &format!("{alter} DROP IDENTITY;")));
                }
                Some(_) => {}
            }
        }
    }
}

pub(super) fn alter_columns(w: &mut Way) {
    for (key, ta, tb) in kept(w) {
        for cb in &tb.columns {
            match column(ta, &cb.name) {
                None => w.push(
                    format!("column {key}.{}", cb.name),
                    when(
                        &format!("NOT {}", column_where(key, &cb.name, "true")),
                        &format!(
                            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {};",
                            qname(key),
                            column_def(w.b, cb)
                        ),
                    ),
                ),
                Some(ca) if ca != cb => alter_column(w, key, ca, cb),
                Some(_) => {}
            }
        }
    }
}

/// One column present on both sides: type, identity, default, nullability, in the order that
/// lets each step succeed (a default goes before a type change and before an identity).
fn alter_column(w: &mut Way, key: &str, ca: &Column, cb: &Column) {
    let object = format!("column {key}.{}", cb.name);
    if ca.generated != cb.generated || ca.collation != cb.collation {
        w.leave(
            object,
            "its generation expression or collation changes: that needs the column made again, which loses its data",
        );
        return;
    }
    let alter = format!(
        "ALTER TABLE {} ALTER COLUMN {}",
        qname(key),
        ident(&cb.name)
    );
    let retyped = ca.data_type != cb.data_type && !recreated_with(w, ca, cb);
    if retyped {
        let Some(using) = using_cast(w, &cb.name, &ca.data_type, &cb.data_type) else {
            w.leave(
                object,
                format!(
                    "type changes from {} to {} and no cast between them is known to be safe",
                    ca.data_type, cb.data_type
                ),
            );
            return;
        };
        let drop_default = if ca.default.is_some() {
            format!("{alter} DROP DEFAULT;\n")
        } else {
            String::new()
        };
        w.push(
            object.clone(),
            when_catalog(
                &format!(
                    "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a \
                     WHERE a.attrelid = pg_catalog.to_regclass({}) AND a.attname = {} AND NOT a.attisdropped",
                    reg(key),
                    literal(&cb.name)
                ),
                &differs(&cb.data_type),
                &format!("{drop_default}{alter} TYPE {} USING {using};", cb.data_type),
            ),
        );
    }
    if ca.default != cb.default || (retyped && cb.default.is_some()) {
        default(w, &object, &alter, key, cb);
    }
    identity(w, &object, &alter, key, ca, cb);
    if ca.not_null != cb.not_null {
        let (verb, now) = if cb.not_null {
            ("SET", "NOT a.attnotnull")
        } else {
            ("DROP", "a.attnotnull")
        };
        let guard = column_where(key, &cb.name, now);
        w.push(object, when(&guard, &format!("{alter} {verb} NOT NULL;")));
    }
}

/// `b`'s default, set only where the catalog's differs (even a no-op `SET DEFAULT` locks the
/// table).
fn default(w: &mut Way, object: &str, alter: &str, key: &str, cb: &Column) {
    let query = format!(
        "SELECT pg_catalog.pg_get_expr(d.adbin, 0) FROM pg_catalog.pg_attrdef d \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum \
         WHERE d.adrelid = pg_catalog.to_regclass({}) AND a.attname = {}",
        reg(key),
        literal(&cb.name)
    );
    let sql = match &cb.default {
        Some(d) => when_catalog(
            &query,
            &format!("catalog_text IS DISTINCT FROM {}", literal(d)),
            &format!("{alter} SET DEFAULT {d};"),
        ),
        None => when_catalog(
            &query,
            "catalog_text IS NOT NULL",
            &format!("{alter} DROP DEFAULT;"),
        ),
    };
    w.push(object, sql);
}

/// An identity added, or switched between ALWAYS and BY DEFAULT.
fn identity(w: &mut Way, object: &str, alter: &str, key: &str, ca: &Column, cb: &Column) {
    let Some(id) = &cb.identity else { return };
    if ca.identity.is_some() {
        if ca.identity != cb.identity {
            let code = if id == "always" { "a" } else { "d" };
            let guard = column_where(key, &cb.name, &format!("a.attidentity <> '{code}'"));
            let sql = format!("{alter} SET GENERATED {};", id.to_uppercase());
            w.push(object, when(&guard, &sql));
        }
        return;
    }
    w.push(
        object,
        when(
            &column_where(key, &cb.name, "a.attidentity = ''"),
            &format!("{alter} ADD GENERATED {} AS IDENTITY;", id.to_uppercase()),
        ),
    );
}

/// The column's type is an enum being made again, which changes the column with it.
fn recreated_with(w: &Way, ca: &Column, cb: &Column) -> bool {
    w.recreated.iter().any(|e| {
        let t = pg_qname(e);
        ca.data_type == t && cb.data_type == t
    })
}

/// Foreign keys first: they depend on the unique constraints and primary keys they refer to.
fn rank(kind: &str) -> u8 {
    match kind {
        "primary key" => 0,
        "unique" => 1,
        "exclusion" => 2,
        "check" => 3,
        _ => 4,
    }
}

/// Constraints the catalog keeps elsewhere: constraint triggers are listed as triggers.
fn expressed(kind: &str) -> bool {
    kind != "trigger" && kind != "not null"
}

pub(super) fn drop_constraints(w: &mut Way) {
    let mut all = Vec::new();
    for (key, ta, tb) in kept(w) {
        for (name, ca) in &ta.constraints {
            if expressed(&ca.kind) && tb.constraints.get(name) != Some(ca) {
                all.push((
                    std::cmp::Reverse(rank(&ca.kind)),
                    key,
                    name,
                    tb.constraints.get(name),
                ));
            }
        }
    }
    all.sort_by_key(|(r, ..)| *r);
    for (_, key, name, cb) in all {
        let object = format!("constraint {key}.{name}");
        let sql = match cb {
            None => drop_constraint(key, name),
            Some(cb) => when_catalog(
                &constraint_def_query(key, name),
                &differs(&cb.definition),
                &format!(
                    "ALTER TABLE {} DROP CONSTRAINT {};",
                    qname(key),
                    ident(name)
                ),
            ),
        };
        w.push(object, sql);
    }
}

/// Guarded by the catalog: even a skipped `ALTER TABLE ... IF EXISTS` locks the table.
fn drop_constraint(key: &str, name: &str) -> String {
    when(
        &constraint_exists(key, name),
        &format!(
            "ALTER TABLE {} DROP CONSTRAINT {};",
            qname(key),
            ident(name)
        ),
    )
}

fn constraint_def_query(key: &str, name: &str) -> String {
    format!(
        "SELECT pg_catalog.pg_get_constraintdef(c.oid) FROM pg_catalog.pg_constraint c \
         WHERE c.conrelid = pg_catalog.to_regclass({}) AND c.conname = {}",
        reg(key),
        literal(name)
    )
}

pub(super) fn add_constraints(w: &mut Way) {
    let mut all = Vec::new();
    for (key, tb) in &w.b.tables {
        if tb.partition_of.is_some() || tb.kind == "foreign" {
            continue;
        }
        let ta = w.a.tables.get(key).filter(|ta| same_shape(ta, tb));
        for (name, cb) in &tb.constraints {
            let same = ta.and_then(|t| t.constraints.get(name)) == Some(cb);
            if expressed(&cb.kind) && !same {
                all.push((rank(&cb.kind), key, name, cb));
            }
        }
    }
    all.sort_by_key(|(r, ..)| *r);
    for (_, key, name, cb) in all {
        let object = format!("constraint {key}.{name}");
        if let Some(reason) = renamed_index(w.b, key, name) {
            w.leave(object, reason);
            continue;
        }
        w.push(
            object,
            when(
                &format!("NOT {}", constraint_exists(key, name)),
                &format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} {};",
                    qname(key),
                    ident(name),
                    cb.definition
                ),
            ),
        );
    }
}

/// `ADD CONSTRAINT` names the backing index after the constraint; an index renamed since
/// cannot be reproduced that way.
fn renamed_index(b: &Snapshot, table: &str, constraint: &str) -> Option<String> {
    let by_constraint: BTreeMap<&str, &String> = b
        .indexes
        .iter()
        .filter(|(_, i)| i.table == table)
        .filter_map(|(k, i)| i.constraint.as_deref().map(|c| (c, k)))
        .collect();
    let index = by_constraint.get(constraint)?;
    let (schema, _) = super::sql::split(table);
    (index.as_str() != format!("{schema}.{constraint}")).then(|| {
        format!(
            "its index is named {index}, not after the constraint; ADD CONSTRAINT cannot name it so"
        )
    })
}
