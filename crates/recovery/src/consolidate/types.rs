//! Enums, domains, and the casts a column type change may use.

use std::collections::BTreeSet;

use gate_schema::{Domain, Snapshot};

use super::sql::{
    collation, differs, ident, literal, pg_qname, qname, reg, split, when, when_catalog,
};
use super::way::Way;

/// Type families whose members PostgreSQL casts between (explicitly), without a detour.
const FAMILIES: &[&[&str]] = &[
    &[
        "smallint",
        "integer",
        "bigint",
        "numeric",
        "real",
        "double precision",
    ],
    &[
        "date",
        "timestamp without time zone",
        "timestamp with time zone",
    ],
    &["time without time zone", "time with time zone", "interval"],
    &["json", "jsonb"],
];

const TEXT: &[&str] = &["text", "character varying", "character"];

/// `character varying(255)` -> `character varying`.
fn base(t: &str) -> &str {
    match t.find('(') {
        Some(i) if !t.ends_with("[]") => t[..i].trim_end(),
        _ => t,
    }
}

fn is_enum(w: &Way, t: &str) -> bool {
    [w.a, w.b]
        .iter()
        .any(|s| s.enums.keys().any(|k| pg_qname(k) == t))
}

/// The `USING` expression that converts column `col` from `from` to `to`, when a cast is
/// known to exist (it may still fail on the data, which stops the migration: never a guess).
pub(super) fn using_cast(w: &Way, col: &str, from: &str, to: &str) -> Option<String> {
    let c = ident(col);
    let (bf, bt) = (base(from), base(to));
    let same_family = FAMILIES.iter().any(|f| f.contains(&bf) && f.contains(&bt));
    if bf == bt || same_family || TEXT.contains(&bf) {
        // From text, PostgreSQL casts to any type through its input function.
        return Some(format!("{c}::{to}"));
    }
    if TEXT.contains(&bt) || (is_enum(w, from) && is_enum(w, to)) {
        // Any type prints as text; an enum reaches another enum through its label.
        return Some(format!("{c}::text::{to}"));
    }
    None
}

/// `a`'s labels all in `b`, in the same relative order: `ADD VALUE` reaches `b`.
fn extends(a: &[String], b: &[String]) -> bool {
    let mut rest = b.iter();
    a.iter().all(|l| rest.any(|m| m == l))
}

/// Enums on both sides whose labels cannot be reached by adding values.
pub(super) fn recreated_enums(a: &Snapshot, b: &Snapshot) -> BTreeSet<String> {
    a.enums
        .iter()
        .filter_map(|(k, ea)| b.enums.get(k).map(|eb| (k, ea, eb)))
        .filter(|(_, ea, eb)| !extends(&ea.labels, &eb.labels))
        .map(|(k, ..)| k.clone())
        .collect()
}

fn label_list(labels: &[String]) -> String {
    labels
        .iter()
        .map(|l| literal(l))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn enums(w: &mut Way) {
    for (key, eb) in &w.b.enums {
        let object = format!("enum {key}");
        match w.a.enums.get(key) {
            None => w.push(
                object,
                when(
                    &format!("pg_catalog.to_regtype({}) IS NULL", reg(key)),
                    &format!(
                        "CREATE TYPE {} AS ENUM ({});",
                        qname(key),
                        label_list(&eb.labels)
                    ),
                ),
            ),
            Some(ea) if ea.labels == eb.labels => {}
            Some(_) if w.recreated.contains(key) => recreate(w, key, &eb.labels),
            Some(ea) => add_values(w, key, &ea.labels, &eb.labels),
        }
    }
}

/// Each missing label placed next to a neighbour it has in `b`, so the order is `b`'s.
fn add_values(w: &mut Way, key: &str, a: &[String], b: &[String]) {
    let anchor = b.iter().find(|l| a.contains(l));
    for (i, label) in b.iter().enumerate() {
        if a.contains(label) {
            continue;
        }
        let place = match (i, anchor) {
            (0, Some(first)) => format!(" BEFORE {}", literal(first)),
            (0, None) => String::new(),
            _ => format!(" AFTER {}", literal(&b[i - 1])),
        };
        // Guarded by the catalog too: a skipped `ADD VALUE IF NOT EXISTS` still counts as DDL.
        let guard = format!(
            "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_enum e \
             WHERE e.enumtypid = pg_catalog.to_regtype({}) AND e.enumlabel = {})",
            reg(key),
            literal(label)
        );
        let add = format!(
            "ALTER TYPE {} ADD VALUE IF NOT EXISTS {}{place};",
            qname(key),
            literal(label)
        );
        w.push(format!("enum {key}"), when(&guard, &add));
    }
}

/// Why the enum cannot be made again safely: something other than plain columns of the type
/// refers to it, and would be dropped or broken with it.
fn recreation_blocker(w: &Way, key: &str) -> Option<String> {
    let t = pg_qname(key);
    for snap in [w.a, w.b] {
        if let Some(why) = mentions(snap, &t) {
            return Some(why);
        }
    }
    for (tk, ta) in &w.a.tables {
        for ca in ta.columns.iter().filter(|c| c.data_type == t) {
            let cb =
                w.b.tables
                    .get(tk)
                    .and_then(|tb| tb.columns.iter().find(|c| c.name == ca.name));
            if let Some(cb) = cb.filter(|cb| cb.data_type != t) {
                return Some(format!(
                    "column {tk}.{} changes type to {} at the same time",
                    ca.name, cb.data_type
                ));
            }
        }
    }
    None
}

/// The first object of `snap`, other than a column of exactly type `t`, whose text names `t`.
fn mentions(snap: &Snapshot, t: &str) -> Option<String> {
    let has = |s: &str| s.contains(t);
    for (k, d) in &snap.domains {
        if has(&d.data_type) {
            return Some(format!("domain {k} is based on it"));
        }
    }
    for (k, f) in &snap.functions {
        if has(k)
            || f.result.as_deref().is_some_and(has)
            || f.definition.as_deref().is_some_and(has)
        {
            return Some(format!("function {k} uses it"));
        }
    }
    for (k, v) in &snap.views {
        if has(&v.definition) {
            return Some(format!("view {k} uses it"));
        }
    }
    for (k, i) in &snap.indexes {
        if i.definition.as_deref().is_some_and(has) {
            return Some(format!("index {k} uses it"));
        }
    }
    for (k, tr) in &snap.triggers {
        if has(&tr.definition) {
            return Some(format!("trigger {k} uses it"));
        }
    }
    for (k, tb) in &snap.tables {
        for (n, c) in &tb.constraints {
            if has(&c.definition) {
                return Some(format!("constraint {k}.{n} uses it"));
            }
        }
        for c in &tb.columns {
            if c.data_type != t && has(&c.data_type) {
                return Some(format!("column {k}.{} is of type {}", c.name, c.data_type));
            }
        }
    }
    None
}

/// Rename the old type, create `b`'s, move every column over through its label, drop the old
/// one. Guarded by the labels: a database already at `b` is left alone. Values that `b` lacks
/// make the cast fail, which stops the migration rather than losing rows.
fn recreate(w: &mut Way, key: &str, labels: &[String]) {
    let object = format!("enum {key}");
    if let Some(why) = recreation_blocker(w, key) {
        w.leave(
            object,
            format!("labels are removed or reordered, which needs the type made again, and {why}"),
        );
        return;
    }
    let (schema, name) = split(key);
    let old = old_name(name);
    let mut body = vec![
        format!("ALTER TYPE {} RENAME TO {};", qname(key), ident(&old)),
        format!(
            "CREATE TYPE {} AS ENUM ({});",
            qname(key),
            label_list(labels)
        ),
    ];
    body.extend(move_columns(w, key));
    body.push(format!("DROP TYPE {}.{};", ident(schema), ident(&old)));
    let condition = labels_differ(key, labels);
    w.push(object, when(&condition, &body.join("\n")));
}

/// "The enum exists and its labels are not `labels`, in that order."
pub(super) fn labels_differ(key: &str, labels: &[String]) -> String {
    let current = format!(
        "(SELECT COALESCE(pg_catalog.array_agg(e.enumlabel::text ORDER BY e.enumsortorder), '{{}}') \
         FROM pg_catalog.pg_enum e WHERE e.enumtypid = pg_catalog.to_regtype({}))",
        reg(key)
    );
    let wanted = if labels.is_empty() {
        "'{}'::text[]".to_owned()
    } else {
        format!("ARRAY[{}]::text[]", label_list(labels))
    };
    format!(
        "(pg_catalog.to_regtype({}) IS NOT NULL AND {current} IS DISTINCT FROM {wanted})",
        reg(key)
    )
}

/// A name for the old type while the new one is made, within PostgreSQL's 63 bytes.
fn old_name(name: &str) -> String {
    let mut stem = name.to_owned();
    while stem.len() > 63 - "_gate_old".len() {
        stem.pop();
    }
    format!("{stem}_gate_old")
}

/// The statements that move the columns of `a` that keep the type over to the new type.
fn move_columns(w: &Way, key: &str) -> Vec<String> {
    let t = pg_qname(key);
    let mut out = Vec::new();
    for (tk, ta) in &w.a.tables {
        let Some(tb) = w.b.tables.get(tk) else {
            continue;
        };
        if ta.partition_of.is_some() {
            continue;
        }
        for ca in ta.columns.iter().filter(|c| c.data_type == t) {
            let Some(cb) = tb.columns.iter().find(|c| c.name == ca.name) else {
                continue;
            };
            let alter = format!("ALTER TABLE {} ALTER COLUMN {}", qname(tk), ident(&ca.name));
            if ca.default.is_some() {
                out.push(format!("{alter} DROP DEFAULT;"));
            }
            let c = ident(&ca.name);
            out.push(format!(
                "{alter} TYPE {} USING {c}::text::{};",
                qname(key),
                qname(key)
            ));
            if let Some(d) = &cb.default {
                out.push(format!("{alter} SET DEFAULT {d};"));
            }
        }
    }
    out
}

pub(super) fn drop_enums(w: &mut Way) {
    for key in w.a.enums.keys().filter(|k| !w.b.enums.contains_key(*k)) {
        w.push(
            format!("enum {key}"),
            format!("DROP TYPE IF EXISTS {};", qname(key)),
        );
    }
}

pub(super) fn drop_domains(w: &mut Way) {
    for key in w.a.domains.keys().filter(|k| !w.b.domains.contains_key(*k)) {
        w.push(
            format!("domain {key}"),
            format!("DROP DOMAIN IF EXISTS {};", qname(key)),
        );
    }
}

pub(super) fn domains(w: &mut Way) {
    for (key, db) in &w.b.domains {
        match w.a.domains.get(key) {
            None => create_domain(w, key, db),
            Some(da) if da == db => {}
            Some(da) if da.data_type != db.data_type || da.collation != db.collation => w.leave(
                format!("domain {key}"),
                format!(
                    "its base type or collation changes ({} to {}): ALTER DOMAIN cannot change them",
                    da.data_type, db.data_type
                ),
            ),
            Some(da) => alter_domain(w, key, da, db),
        }
    }
}

fn create_domain(w: &mut Way, key: &str, d: &Domain) {
    let mut sql = format!("CREATE DOMAIN {} AS {}", qname(key), d.data_type);
    if let Some(c) = &d.collation {
        sql += &format!(" COLLATE {}", collation(w.b, c));
    }
    if let Some(default) = &d.default {
        sql += &format!(" DEFAULT {default}");
    }
    if d.not_null {
        sql += " NOT NULL";
    }
    for (name, def) in &d.checks {
        sql += &format!(" CONSTRAINT {} {def}", ident(name));
    }
    sql.push(';');
    let guard = format!("pg_catalog.to_regtype({}) IS NULL", reg(key));
    w.push(format!("domain {key}"), when(&guard, &sql));
}

fn alter_domain(w: &mut Way, key: &str, da: &Domain, db: &Domain) {
    let object = format!("domain {key}");
    let alter = format!("ALTER DOMAIN {}", qname(key));
    let type_row = |condition: &str| {
        format!(
            "EXISTS (SELECT 1 FROM pg_catalog.pg_type t \
             WHERE t.oid = pg_catalog.to_regtype({}) AND {condition})",
            reg(key)
        )
    };
    if da.default != db.default {
        let sql = match &db.default {
            Some(d) => when(
                &type_row(&format!("t.typdefault IS DISTINCT FROM {}", literal(d))),
                &format!("{alter} SET DEFAULT {d};"),
            ),
            None => when(
                &type_row("t.typdefault IS NOT NULL"),
                &format!("{alter} DROP DEFAULT;"),
            ),
        };
        w.push(object.clone(), sql);
    }
    if da.not_null != db.not_null {
        let verb = if db.not_null { "SET" } else { "DROP" };
        let now = if db.not_null {
            "NOT t.typnotnull"
        } else {
            "t.typnotnull"
        };
        w.push(
            object.clone(),
            when(&type_row(now), &format!("{alter} {verb} NOT NULL;")),
        );
    }
    domain_checks(w, key, da, db);
}

/// Checks `b` lacks or changed go (guarded by the catalog), then the missing ones come.
fn domain_checks(w: &mut Way, key: &str, da: &Domain, db: &Domain) {
    let object = format!("domain {key}");
    let alter = format!("ALTER DOMAIN {}", qname(key));
    for (name, def) in &da.checks {
        match db.checks.get(name) {
            None => w.push(
                object.clone(),
                when_catalog(
                    &domain_check_query(key, name),
                    "catalog_text IS NOT NULL",
                    &format!("{alter} DROP CONSTRAINT {};", ident(name)),
                ),
            ),
            Some(new) if new != def => w.push(
                object.clone(),
                when_catalog(
                    &domain_check_query(key, name),
                    &differs(new),
                    &format!("{alter} DROP CONSTRAINT {};", ident(name)),
                ),
            ),
            Some(_) => {}
        }
    }
    for (name, def) in &db.checks {
        if da.checks.get(name) != Some(def) {
            let guard = format!(
                "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c \
                 WHERE c.contypid = pg_catalog.to_regtype({}) AND c.conname = {})",
                reg(key),
                literal(name)
            );
            let add = format!("{alter} ADD CONSTRAINT {} {def};", ident(name));
            w.push(object.clone(), when(&guard, &add));
        }
    }
}

fn domain_check_query(key: &str, name: &str) -> String {
    format!(
        "SELECT pg_catalog.pg_get_constraintdef(c.oid) FROM pg_catalog.pg_constraint c \
         WHERE c.contypid = pg_catalog.to_regtype({}) AND c.conname = {}",
        reg(key),
        literal(name)
    )
}
