//! Schemas, extensions, sequences, indexes, views, functions and triggers.

use std::collections::{BTreeMap, BTreeSet};

use gate_schema::{Sequence, Snapshot, View};

use super::sql::{
    column_where, differs, ident, literal, normalised, pg_qname, qname, reg, split, when,
    when_catalog,
};
use super::way::Way;

pub(super) fn create_schemas(w: &mut Way) {
    for key in w.b.schemas.keys().filter(|k| !w.a.schemas.contains_key(*k)) {
        w.push(
            format!("schema {key}"),
            format!("CREATE SCHEMA IF NOT EXISTS {};", ident(key)),
        );
    }
}

/// Without CASCADE: a schema that still holds something the plan does not know stops the
/// migration instead of taking that something with it.
pub(super) fn drop_schemas(w: &mut Way) {
    for key in w.a.schemas.keys().filter(|k| !w.b.schemas.contains_key(*k)) {
        w.push(
            format!("schema {key}"),
            format!("DROP SCHEMA IF EXISTS {};", ident(key)),
        );
    }
}

pub(super) fn create_extensions(w: &mut Way) {
    for (key, eb) in &w.b.extensions {
        let object = format!("extension {key}");
        match w.a.extensions.get(key) {
            None => w.push(
                object,
                format!(
                    "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {} VERSION {};",
                    ident(key),
                    ident(&eb.schema),
                    literal(&eb.version)
                ),
            ),
            Some(ea) if ea.schema != eb.schema => w.leave(
                object,
                format!(
                    "it moves from schema {} to {}: ALTER EXTENSION SET SCHEMA only works for relocatable extensions",
                    ea.schema, eb.schema
                ),
            ),
            // Updating to the installed version is a notice, not an error.
            Some(ea) if ea.version != eb.version => w.push(
                object,
                when(
                    &format!(
                        "EXISTS (SELECT 1 FROM pg_catalog.pg_extension e \
                         WHERE e.extname = {} AND e.extversion <> {})",
                        literal(key),
                        literal(&eb.version)
                    ),
                    &format!(
                        "ALTER EXTENSION {} UPDATE TO {};",
                        ident(key),
                        literal(&eb.version)
                    ),
                ),
            ),
            Some(_) => {}
        }
    }
}

pub(super) fn drop_extensions(w: &mut Way) {
    for key in
        w.a.extensions
            .keys()
            .filter(|k| !w.b.extensions.contains_key(*k))
    {
        w.push(
            format!("extension {key}"),
            format!("DROP EXTENSION IF EXISTS {};", ident(key)),
        );
    }
}

/// The sequence behind an identity column: it comes and goes with the column.
fn is_identity(snap: &Snapshot, seq: &Sequence) -> bool {
    owner(snap, seq.owned_by.as_deref()).is_some_and(|(t, c)| {
        snap.tables[t]
            .columns
            .iter()
            .any(|col| col.name == c && col.identity.is_some())
    })
}

/// `schema.table.column` -> the table's key and the column name.
fn owner<'s>(snap: &'s Snapshot, owned_by: Option<&'s str>) -> Option<(&'s str, &'s str)> {
    let o = owned_by?;
    snap.tables.keys().find_map(|t| {
        o.strip_prefix(t.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .map(|c| (t.as_str(), c))
    })
}

fn sequence_options(s: &Sequence) -> String {
    format!(
        "AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}",
        s.data_type,
        s.increment,
        s.min,
        s.max,
        s.start,
        s.cache,
        if s.cycle { "CYCLE" } else { "NO CYCLE" }
    )
}

/// `ALTER SEQUENCE` to `s`'s options. PostgreSQL refuses new bounds that exclude the current
/// value; where the sequence runs towards the new bound (a higher MINVALUE while counting up,
/// a lower MAXVALUE while counting down) it restarts there, which issues no value twice.
/// Otherwise the refusal stands and stops the migration.
fn alter_sequence(key: &str, s: &Sequence) -> String {
    let (schema, name) = split(key);
    let alter = format!("ALTER SEQUENCE {} {}", qname(key), sequence_options(s));
    let restart = if s.increment > 0 {
        format!("current_value < {}", s.min)
    } else {
        format!("current_value > {}", s.max)
    };
    let bound = if s.increment > 0 { s.min } else { s.max };
    let differs = format!(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_sequence s WHERE s.seqrelid = pg_catalog.to_regclass({}) \
         AND (s.seqtypid <> {}::pg_catalog.regtype OR s.seqincrement <> {} OR s.seqmin <> {} \
         OR s.seqmax <> {} OR s.seqstart <> {} OR s.seqcache <> {} OR s.seqcycle <> {}))",
        reg(key),
        literal(&s.data_type),
        s.increment,
        s.min,
        s.max,
        s.start,
        s.cache,
        s.cycle
    );
    super::sql::do_block(
        "current_value bigint;",
        &format!(
            "IF {differs} THEN\n\
             SELECT COALESCE(q.last_value, q.start_value) INTO current_value FROM pg_catalog.pg_sequences q \
             WHERE q.schemaname = {} AND q.sequencename = {};\n\
             IF {restart} THEN\n{alter} RESTART WITH {bound};\nELSE\n{alter};\nEND IF;\nEND IF;",
            literal(schema),
            literal(name)
        ),
    )
}

fn same_options(x: &Sequence, y: &Sequence) -> bool {
    Sequence {
        owned_by: None,
        ..x.clone()
    } == Sequence {
        owned_by: None,
        ..y.clone()
    }
}

/// Sequences that stand alone or back a serial column; before the tables whose defaults call
/// them.
pub(super) fn create_sequences(w: &mut Way) {
    for (key, sb) in &w.b.sequences {
        if is_identity(w.b, sb) {
            continue;
        }
        let object = format!("sequence {key}");
        match w.a.sequences.get(key) {
            Some(sa) if !is_identity(w.a, sa) => {
                if !same_options(sa, sb) {
                    w.push(object, alter_sequence(key, sb));
                }
            }
            _ => w.push(
                object,
                format!(
                    "CREATE SEQUENCE IF NOT EXISTS {} {};",
                    qname(key),
                    sequence_options(sb)
                ),
            ),
        }
    }
}

/// After the tables: identity sequences exist now (their options are set), and serial
/// sequences can be owned by their columns.
pub(super) fn sequence_owners(w: &mut Way) {
    for (key, sb) in &w.b.sequences {
        let object = format!("sequence {key}");
        let sa = w.a.sequences.get(key);
        if is_identity(w.b, sb) {
            if sa.is_none_or(|sa| !same_options(sa, sb)) {
                w.push(object, alter_sequence(key, sb));
            }
            continue;
        }
        let was_serial = sa.filter(|sa| !is_identity(w.a, sa));
        if was_serial.map(|s| &s.owned_by) == Some(&sb.owned_by) {
            continue;
        }
        let owned = |extra: &str| {
            format!(
                "EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
                 WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                 AND d.objid = pg_catalog.to_regclass({}) \
                 AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype = 'a'{extra})",
                reg(key)
            )
        };
        let (target, guard) = match owner(w.b, sb.owned_by.as_deref()) {
            Some((t, c)) => (
                format!("{}.{}", qname(t), ident(c)),
                format!(
                    "pg_catalog.to_regclass({}) IS NOT NULL AND NOT {}",
                    reg(key),
                    owned(&format!(
                        " AND d.refobjid = pg_catalog.to_regclass({}) AND a.attname = {}",
                        reg(t),
                        literal(c)
                    ))
                ),
            ),
            None if sb.owned_by.is_some() => {
                w.leave(object, "it is owned by a column the snapshot does not list");
                continue;
            }
            None => ("NONE".to_owned(), owned("")),
        };
        w.push(
            object,
            when(
                &guard,
                &format!("ALTER SEQUENCE {} OWNED BY {target};", qname(key)),
            ),
        );
    }
}

/// Sequences `b` lacks, and serial sequences whose name `b` gives to an identity's sequence
/// (the identity cannot take the name while it is used). A serial sequence's column default
/// goes first, since the sequence cannot be dropped under it.
pub(super) fn drop_sequences(w: &mut Way) {
    for (key, sa) in &w.a.sequences {
        if is_identity(w.a, sa) {
            continue;
        }
        let object = format!("sequence {key}");
        match w.b.sequences.get(key) {
            None => w.push(object, format!("DROP SEQUENCE IF EXISTS {};", qname(key))),
            Some(sb) if is_identity(w.b, sb) => {
                if let Some((t, c)) = owner(w.a, sa.owned_by.as_deref()) {
                    let guard = format!(
                        "EXISTS (SELECT 1 FROM pg_catalog.pg_attrdef d JOIN pg_catalog.pg_attribute a \
                         ON a.attrelid = d.adrelid AND a.attnum = d.adnum \
                         WHERE d.adrelid = pg_catalog.to_regclass({}) AND a.attname = {})",
                        reg(t),
                        literal(c)
                    );
                    let sql = format!(
                        "ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT;",
                        qname(t),
                        ident(c)
                    );
                    w.push(object.clone(), when(&guard, &sql));
                }
                // Not the identity's own sequence (internal dependency), which is `b`'s.
                let guard = format!(
                    "pg_catalog.to_regclass({q}) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                     WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                     AND d.objid = pg_catalog.to_regclass({q}) AND d.deptype = 'i')",
                    q = reg(key)
                );
                w.push(
                    object,
                    when(&guard, &format!("DROP SEQUENCE {};", qname(key))),
                );
            }
            Some(_) => {}
        }
    }
}

/// An index that is not the backing of a constraint (those come with their constraint).
fn plain_def<'s>(snap: &'s Snapshot, key: &str) -> Option<&'s str> {
    snap.indexes
        .get(key)
        .filter(|i| i.constraint.is_none())
        .and_then(|i| i.definition.as_deref())
}

pub(super) fn drop_indexes(w: &mut Way) {
    for (key, ia) in &w.a.indexes {
        let Some(def_a) = plain_def(w.a, key) else {
            continue;
        };
        if !w.b.tables.contains_key(&ia.table) && !w.b.views.contains_key(&ia.table) {
            continue; // goes with its table
        }
        let object = format!("index {key}");
        match plain_def(w.b, key) {
            None => w.push(object, format!("DROP INDEX IF EXISTS {};", qname(key))),
            Some(def_b) if def_b != def_a => w.push(
                object,
                when_catalog(
                    &format!(
                        "SELECT pg_catalog.pg_get_indexdef(pg_catalog.to_regclass({}))",
                        reg(key)
                    ),
                    &differs(def_b),
                    &format!("DROP INDEX {};", qname(key)),
                ),
            ),
            Some(_) => {}
        }
    }
}

/// Indexes on tables (`on_views` false) or on materialized views (true, after the views).
pub(super) fn create_indexes(w: &mut Way, on_views: bool) {
    for (key, ib) in &w.b.indexes {
        if w.b.views.contains_key(&ib.table) != on_views {
            continue;
        }
        let Some(def) = plain_def(w.b, key) else {
            continue;
        };
        let on_affected = remade_view(w, &ib.table);
        if plain_def(w.a, key) == Some(def) && !on_affected {
            continue;
        }
        let object = format!("index {key}");
        // A partitioned table's index prints as `ON ONLY`; made that way it stays invalid
        // until every partition's index is attached, so it is made on the whole tree.
        let def = def.replacen(" ON ONLY ", " ON ", 1);
        let guarded = ["CREATE UNIQUE INDEX ", "CREATE INDEX "]
            .iter()
            .find_map(|p| {
                def.strip_prefix(p)
                    .map(|rest| format!("{p}IF NOT EXISTS {rest};"))
            });
        match guarded {
            Some(sql) => w.push(object, sql),
            None => w.leave(
                object,
                format!("its definition is not a CREATE INDEX: {def}"),
            ),
        }
    }
}

/// Views of `a` that must be dropped before the columns under them change type or go, with
/// the views built on those, recursively.
pub(super) fn affected_views(w: &Way) -> BTreeSet<String> {
    let mut reshaped: Vec<String> = Vec::new();
    for (k, ta) in &w.a.tables {
        let Some(tb) = w.b.tables.get(k) else {
            continue;
        };
        let changes = ta.columns.iter().any(|ca| {
            tb.columns
                .iter()
                .find(|cb| cb.name == ca.name)
                .is_none_or(|cb| cb.data_type != ca.data_type)
                || w.recreated.iter().any(|e| pg_qname(e) == ca.data_type)
        });
        if changes {
            reshaped.push(pg_qname(k));
        }
    }
    let all = all_views(w);
    let mut affected = BTreeSet::new();
    loop {
        let before = affected.len();
        for (k, v) in &all {
            let on_reshaped = reshaped.iter().any(|t| v.definition.contains(t.as_str()));
            let on_affected = affected
                .iter()
                .any(|a: &String| v.definition.contains(pg_qname(a).as_str()));
            if on_reshaped || on_affected {
                affected.insert(k.clone());
            }
        }
        if affected.len() == before {
            return affected;
        }
    }
}

/// The views of both sides (`a`'s where both have one): a view only `b` has may already
/// exist (on a database at `b`) and depend on one that is dropped.
fn all_views(w: &Way) -> BTreeMap<String, View> {
    let mut all = w.b.views.clone();
    all.extend(w.a.views.iter().map(|(k, v)| (k.clone(), v.clone())));
    all
}

/// A view the plan may drop and make again, taking its indexes and triggers with it.
fn remade_view(w: &Way, key: &str) -> bool {
    w.b.views.contains_key(key)
        && (w.affected_views.contains(key) || w.a.views.get(key) != w.b.views.get(key))
}

/// Views in dependency order: a view after the views its definition names.
fn ordered(views: &BTreeMap<String, View>) -> Vec<&String> {
    fn visit<'v>(
        k: &'v String,
        views: &'v BTreeMap<String, View>,
        seen: &mut BTreeSet<&'v String>,
        out: &mut Vec<&'v String>,
    ) {
        if !seen.insert(k) {
            return;
        }
        for dep in views.keys() {
            if dep != k && views[k].definition.contains(pg_qname(dep).as_str()) {
                visit(dep, views, seen, out);
            }
        }
        out.push(k);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for k in views.keys() {
        visit(k, views, &mut seen, &mut out);
    }
    out
}

fn relkind(v: &View) -> &'static str {
    if v.kind == "materialized view" {
        "m"
    } else {
        "v"
    }
}

/// `pg_get_viewdef` ends with `;`, which an embedded definition must not.
fn body(v: &View) -> &str {
    v.definition.trim_end().trim_end_matches(';')
}

/// "A column change the views must make way for is still to be done": a column of `a` that
/// `b` drops or retypes is still there as it was, or an enum to be made again still has its
/// old labels. Read with `search_path = pg_catalog`, as types print in the snapshot.
fn reshape_pending(w: &Way) -> String {
    let mut pending = Vec::new();
    for (k, ta) in &w.a.tables {
        let Some(tb) = w.b.tables.get(k) else {
            continue;
        };
        for ca in &ta.columns {
            match tb.columns.iter().find(|cb| cb.name == ca.name) {
                None => pending.push(column_where(k, &ca.name, "true")),
                Some(cb) if cb.data_type != ca.data_type => pending.push(column_where(
                    k,
                    &ca.name,
                    &format!(
                        "pg_catalog.format_type(a.atttypid, a.atttypmod) = {}",
                        literal(&ca.data_type)
                    ),
                )),
                Some(_) => {}
            }
        }
    }
    for e in &w.recreated {
        pending.push(super::types::labels_differ(e, &w.b.enums[e].labels));
    }
    if pending.is_empty() {
        "false".to_owned()
    } else {
        pending.join(" OR ")
    }
}

/// `[pending ]relkind:definition` of the view now in the catalog.
fn view_query(key: &str, pending: &str) -> String {
    format!(
        "SELECT CASE WHEN {pending} THEN 'pending ' ELSE '' END || c.relkind::text || ':' || {} \
         FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass({})",
        normalised("pg_catalog.pg_get_viewdef(c.oid)"),
        reg(key)
    )
}

fn view_text(v: &View) -> String {
    literal(&format!("{}:{}", relkind(v), v.definition))
}

/// Views `b` lacks go; views whose definition differs, or that a pending column change needs
/// out of the way, go too and are made again by [`create_views`].
pub(super) fn drop_views(w: &mut Way) {
    let all = all_views(w);
    let pending = if w.affected_views.is_empty() {
        "false".to_owned()
    } else {
        reshape_pending(w)
    };
    for key in ordered(&all).into_iter().rev() {
        let affected = w.affected_views.contains(key);
        let condition = match (w.a.views.get(key), w.b.views.get(key)) {
            (_, None) => "true".to_owned(),
            (va, Some(vb)) if affected || va.is_some_and(|va| va != vb) => {
                format!("catalog_text IS DISTINCT FROM {}", view_text(vb))
            }
            _ => continue,
        };
        let pending = if affected { pending.as_str() } else { "false" };
        // Whichever kind is there now (a database at `b` may hold `b`'s).
        let drop = format!(
            "IF catalog_text ~ '^(pending )?v:' THEN\nDROP VIEW {q};\n\
             ELSIF catalog_text ~ '^(pending )?m:' THEN\nDROP MATERIALIZED VIEW {q};\nEND IF;",
            q = qname(key)
        );
        w.push(
            format!("view {key}"),
            when_catalog(&view_query(key, pending), &condition, &drop),
        );
    }
}

pub(super) fn create_views(w: &mut Way) {
    for key in ordered(&w.b.views) {
        let vb = &w.b.views[key];
        if w.a.views.get(key) == Some(vb) && !w.affected_views.contains(key) {
            continue;
        }
        let sql = if vb.kind == "materialized view" {
            format!(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS {} AS\n{};",
                qname(key),
                body(vb)
            )
        } else {
            format!("CREATE OR REPLACE VIEW {} AS\n{};", qname(key), body(vb))
        };
        let condition = format!("catalog_text IS DISTINCT FROM {}", view_text(vb));
        w.push(
            format!("view {key}"),
            when_catalog(&view_query(key, "false"), &condition, &sql),
        );
    }
}

/// `schema.name(arguments)` -> `"schema"."name"(arguments)`.
fn signature(key: &str) -> String {
    let (schema, rest) = split(key);
    let (name, args) = rest.split_once('(').unwrap_or((rest, ")"));
    format!("{}.{}({args}", ident(schema), ident(name))
}

fn drop_word(kind: &str) -> &'static str {
    match kind {
        "procedure" => "PROCEDURE",
        "aggregate" => "AGGREGATE",
        _ => "FUNCTION",
    }
}

pub(super) fn drop_functions(w: &mut Way) {
    for (key, fa) in &w.a.functions {
        if w.b.functions.contains_key(key) {
            continue;
        }
        w.push(
            format!("function {key}"),
            format!("DROP {} IF EXISTS {};", drop_word(&fa.kind), signature(key)),
        );
    }
}

pub(super) fn create_functions(w: &mut Way) {
    for (key, fb) in &w.b.functions {
        let fa = w.a.functions.get(key);
        if fa == Some(fb) {
            continue;
        }
        let object = format!("function {key}");
        let Some(def) = &fb.definition else {
            w.leave(
                object,
                format!("the {} has no definition PostgreSQL can print (pg_get_functiondef), so it cannot be written", fb.kind),
            );
            continue;
        };
        if let Some(fa) = fa.filter(|fa| fa.kind != fb.kind || fa.result != fb.result) {
            w.leave(
                object,
                format!(
                    "its kind or result changes ({} {} to {} {}): CREATE OR REPLACE cannot change them, and dropping it would drop what depends on it",
                    fa.kind,
                    fa.result.as_deref().unwrap_or("-"),
                    fb.kind,
                    fb.result.as_deref().unwrap_or("-")
                ),
            );
            continue;
        }
        // pg_get_functiondef prints CREATE OR REPLACE; it runs only where the catalog's
        // definition differs, through EXECUTE since a body may hold `;` outside quotes.
        let (schema, rest) = split(key);
        let (name, args) = rest.split_once('(').unwrap_or((rest, ")"));
        let query = format!(
            "SELECT {} FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = {} AND p.proname = {} AND pg_catalog.pg_get_function_identity_arguments(p.oid) = {}",
            normalised("pg_catalog.pg_get_functiondef(p.oid)"),
            literal(schema),
            literal(name),
            literal(args.strip_suffix(')').unwrap_or(args))
        );
        let sql = when_catalog(
            &query,
            &format!("catalog_text IS DISTINCT FROM {}", literal(def)),
            &format!("EXECUTE {};", literal(def)),
        );
        w.push(object, sql);
    }
}

fn trigger_name<'k>(key: &'k str, table: &str) -> &'k str {
    key.strip_prefix(table)
        .and_then(|r| r.strip_prefix('.'))
        .unwrap_or(key)
}

pub(super) fn drop_triggers(w: &mut Way) {
    for (key, ta) in &w.a.triggers {
        let table_stays = w.b.tables.contains_key(&ta.table) || w.b.views.contains_key(&ta.table);
        if !table_stays || remade_view(w, &ta.table) {
            continue; // goes with its table or view
        }
        let name = trigger_name(key, &ta.table);
        let object = format!("trigger {key}");
        let drop = format!("DROP TRIGGER {} ON {};", ident(name), qname(&ta.table));
        match w.b.triggers.get(key) {
            None => w.push(
                object,
                format!(
                    "DROP TRIGGER IF EXISTS {} ON {};",
                    ident(name),
                    qname(&ta.table)
                ),
            ),
            Some(tb) if tb.definition != ta.definition => {
                let query = format!(
                    "SELECT pg_catalog.pg_get_triggerdef(t.oid) FROM pg_catalog.pg_trigger t \
                     WHERE t.tgrelid = pg_catalog.to_regclass({}) AND t.tgname = {}",
                    reg(&ta.table),
                    literal(name)
                );
                w.push(
                    object,
                    when_catalog(&query, &differs(&tb.definition), &drop),
                );
            }
            Some(_) => {}
        }
    }
}

pub(super) fn create_triggers(w: &mut Way) {
    for (key, tb) in &w.b.triggers {
        let name = trigger_name(key, &tb.table);
        let object = format!("trigger {key}");
        let ta = w.a.triggers.get(key);
        let remade = remade_view(w, &tb.table);
        if ta.map(|t| &t.definition) != Some(&tb.definition) || remade {
            let guard = format!(
                "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t \
                 WHERE t.tgrelid = pg_catalog.to_regclass({}) AND t.tgname = {})",
                reg(&tb.table),
                literal(name)
            );
            w.push(object.clone(), when(&guard, &format!("{};", tb.definition)));
        }
        let was = if remade {
            None
        } else {
            ta.and_then(|t| t.enabled.clone())
        };
        if was != tb.enabled {
            let (how, code) = match tb.enabled.as_deref() {
                Some("disabled") => ("DISABLE", "D"),
                Some("replica") => ("ENABLE REPLICA", "R"),
                Some("always") => ("ENABLE ALWAYS", "A"),
                _ => ("ENABLE", "O"),
            };
            let guard = format!(
                "EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = pg_catalog.to_regclass({}) \
                 AND t.tgname = {} AND t.tgenabled <> '{code}')",
                reg(&tb.table),
                literal(name)
            );
            let sql = format!(
                "ALTER TABLE {} {how} TRIGGER {};",
                qname(&tb.table),
                ident(name)
            );
            w.push(object, when(&guard, &sql));
        }
    }
}
