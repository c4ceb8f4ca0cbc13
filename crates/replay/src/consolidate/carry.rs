//! The data statements of data fixes (captured: `INSERT`, `UPDATE`, `DELETE` on a table that
//! existed before the fix or that the fix created), carried into the consolidation guarded, or
//! left over with the reason. Guarded means safe to run where the fix already ran: an `INSERT`
//! gets `ON CONFLICT DO NOTHING` when a key of the table is among its columns (a second run
//! then inserts nothing); without a key, each row of constant `VALUES` becomes
//! `INSERT … SELECT … WHERE NOT EXISTS` (the same row, every inserted column compared with
//! `IS NOT DISTINCT FROM`); an `UPDATE` that sets constants or a `DELETE` with no volatile
//! function is idempotent as it is. Anything else is not guessed.

mod insert;

use std::collections::BTreeSet;
use std::path::Path;

use gate_recovery::consolidate::{GuardedStatement, Leftover};
use gate_schema::Snapshot;

use super::Left;
use crate::capture::Captured;
use crate::production::PathRun;

/// Functions whose value differs between runs: a statement using one is not idempotent.
const VOLATILE: &[&str] = &[
    "now(",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
    "clock_timestamp(",
    "statement_timestamp(",
    "random(",
    "nextval(",
    "gen_random_uuid(",
    "uuid_generate",
    "txid_current",
];

/// The captured data statements of the path: carried (guarded, in path order) or left over.
pub(crate) struct Carried {
    pub statements: Vec<GuardedStatement>,
    pub left: Vec<Left>,
    /// The tables written (`schema.table`, as the row snapshot names them).
    pub tables: BTreeSet<String>,
}

/// Every captured data statement of the path, in path order.
pub(crate) fn data_statements(root: &Path, run: &PathRun, production: &Snapshot) -> Carried {
    let mut carried = Vec::new();
    let mut left = Vec::new();
    let mut tables = BTreeSet::new();
    for step in &run.steps {
        let Some(Captured::Statements(statements)) = &step.captured else {
            continue;
        };
        for st in statements {
            let Some(table) = st
                .commands
                .iter()
                .find(|c| c.object_type == "table data")
                .map(|c| c.identity.clone())
            else {
                continue;
            };
            tables.insert(table.replace('"', ""));
            let object = format!("data {table} ({})", step.step.name());
            match guard(&st.query, &table, production) {
                Ok(sqls) => carried.extend(sqls.into_iter().map(|sql| GuardedStatement {
                    object: object.clone(),
                    sql,
                })),
                Err(reason) => {
                    let fix = step.step.name();
                    left.push(Left {
                        item: Leftover { object, reason },
                        file: Some(fix.to_string()),
                        line: line_in(&root.join(fix), &st.query),
                    });
                }
            }
        }
    }
    Carried {
        statements: carried,
        left,
        tables,
    }
}

/// The line of `file` where the statement's first line is written, when it is found there.
fn line_in(file: &Path, query: &str) -> Option<u32> {
    let first = query.lines().map(str::trim).find(|l| !l.is_empty())?;
    let text = std::fs::read_to_string(file).ok()?;
    let n = text.lines().position(|l| l.contains(first))?;
    u32::try_from(n + 1).ok()
}

/// The statement made safe to run twice (one statement per row for a key-less INSERT), or
/// why it cannot be.
pub(crate) fn guard(query: &str, table: &str, schema: &Snapshot) -> Result<Vec<String>, String> {
    let sql = query.trim().trim_end_matches(';').trim();
    let lower = sql.to_ascii_lowercase();
    if has_semicolon_outside_quotes(sql) {
        return Err(format!(
            "several statements in one query: `{}`; split them and run consolidate again",
            one_line(sql)
        ));
    }
    if let Some(f) = VOLATILE.iter().find(|f| lower.contains(*f)) {
        return Err(format!(
            "`{}` uses {}, whose value differs on each run: not idempotent",
            one_line(sql),
            f.trim_end_matches('(')
        ));
    }
    let first = lower.split_whitespace().next().unwrap_or_default();
    match first {
        "insert" => guard_insert(sql, &lower, table, schema),
        "update" if sets_constants(&lower) => Ok(vec![format!("{sql};")]),
        "update" => Err(format!(
            "`{}` sets a value computed from the row: running it twice changes it twice",
            one_line(sql)
        )),
        "delete" => Ok(vec![format!("{sql};")]),
        _ => Err(format!(
            "`{}` is not a plain INSERT, UPDATE or DELETE",
            one_line(sql)
        )),
    }
}

fn guard_insert(
    sql: &str,
    lower: &str,
    table: &str,
    schema: &Snapshot,
) -> Result<Vec<String>, String> {
    if lower.contains(" on conflict ") {
        return Ok(vec![format!("{sql};")]);
    }
    if lower.contains(" returning ") {
        return Err(format!("`{}` has RETURNING", one_line(sql)));
    }
    let insert = insert::parse(sql).ok_or_else(|| {
        format!(
            "`{}` is not an INSERT of constant VALUES (a SELECT or DEFAULT VALUES cannot be compared with the rows already there)",
            one_line(sql)
        )
    })?;
    // No column list: every column of the table, in order.
    let columns: Vec<String> = match &insert.columns {
        Some(c) => c.clone(),
        None => schema
            .tables
            .get(table)
            .map(|t| t.columns.iter().map(|c| quote_ident(&c.name)).collect())
            .unwrap_or_default(),
    };
    let names: Vec<String> = columns.iter().map(|c| unquoted(c)).collect();
    let keyed = keys(schema, table)
        .iter()
        .any(|key| !key.is_empty() && key.iter().all(|k| names.contains(k)));
    if keyed {
        return Ok(vec![format!("{sql} ON CONFLICT DO NOTHING;")]);
    }
    let no_key = format!("no primary key or unique key of {table} is among its columns");
    let Some(rows) = insert.rows else {
        return Err(format!(
            "`{}`: {no_key}, and it inserts no constant VALUES to compare with the rows already there",
            one_line(sql)
        ));
    };
    let mut out = Vec::new();
    for row in rows {
        if row.len() != columns.len() {
            return Err(format!(
                "`{}`: a row has {} value(s) for {} column(s)",
                one_line(sql),
                row.len(),
                columns.len()
            ));
        }
        if let Some(v) = row.iter().find(|v| !is_literal(&v.to_ascii_lowercase())) {
            return Err(format!(
                "`{}`: {no_key}, and `{v}` is not a constant, so the rows already there cannot be compared with it",
                one_line(sql)
            ));
        }
        out.push(guarded_row(&insert.target, &columns, &row));
    }
    Ok(out)
}

/// `INSERT INTO t (cols) SELECT vals WHERE NOT EXISTS (the same row)`: a second run finds the
/// row and inserts nothing. `IS NOT DISTINCT FROM` so NULLs compare equal.
fn guarded_row(target: &str, columns: &[String], values: &[String]) -> String {
    let same = columns
        .iter()
        .zip(values)
        .map(|(c, v)| format!("{c} IS NOT DISTINCT FROM {v}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    format!(
        "INSERT INTO {target} ({}) SELECT {} WHERE NOT EXISTS (SELECT 1 FROM {target} WHERE {same});",
        columns.join(", "),
        values.join(", ")
    )
}

fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A column as the catalog names it: `"Name"` -> `Name`, `Name` -> `name`.
fn unquoted(c: &str) -> String {
    let c = c.trim();
    match c.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
        Some(q) => q.replace("\"\"", "\""),
        None => c.to_ascii_lowercase(),
    }
}

fn has_semicolon_outside_quotes(sql: &str) -> bool {
    insert::split_top(sql, ';').len() > 1
}

/// Whether every `SET col = value` of an UPDATE assigns a literal.
fn sets_constants(lower: &str) -> bool {
    let Some(set) = lower.find(" set ") else {
        return false;
    };
    let rest = &lower[set + 5..];
    let end = rest.find(" where ").unwrap_or(rest.len());
    rest[..end].split(',').all(|a| {
        let value = a.split_once('=').map(|(_, v)| v.trim()).unwrap_or("");
        is_literal(value)
    })
}

fn is_literal(v: &str) -> bool {
    let v = v.split("::").next().unwrap_or(v).trim();
    (v.starts_with('\'') && v.ends_with('\'') && v.len() >= 2)
        || v.parse::<f64>().is_ok()
        || matches!(v, "null" | "true" | "false")
}

/// The column sets of the primary key, unique constraints and unique indexes of `table`.
fn keys(schema: &Snapshot, table: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    if let Some(t) = schema.tables.get(table) {
        for c in t.constraints.values() {
            let d = c.definition.to_ascii_lowercase();
            if d.starts_with("primary key") || d.starts_with("unique") {
                out.extend(parenthesised(&d));
            }
        }
    }
    for i in schema.indexes.values().filter(|i| i.table == table) {
        let d = i
            .definition
            .clone()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if d.starts_with("create unique index") && !d.contains(" where ") {
            out.extend(parenthesised(&d));
        }
    }
    out
}

/// The first `(a, b)` list of a definition, unquoted.
fn parenthesised(d: &str) -> Option<Vec<String>> {
    let open = d.find('(')?;
    let close = open + d[open..].find(')')?;
    Some(
        d[open + 1..close]
            .split(',')
            .map(|c| c.trim().trim_matches('"').to_string())
            .collect(),
    )
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Snapshot {
        let json = serde_json::json!({
            "format": 1,
            "tables": {"public.users": {"kind": "r", "columns": [], "constraints": {
                "users_pkey": {"kind": "p", "definition": "PRIMARY KEY (id)"},
                "users_email_key": {"kind": "u", "definition": "UNIQUE (email)"}
            }}}
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_insert_naming_a_key_gets_on_conflict_do_nothing() {
        let got = guard(
            "INSERT INTO users (email, role) VALUES ('ops@example.com', 'admin');",
            "public.users",
            &schema(),
        );
        assert_eq!(
            got.unwrap(),
            [
                "INSERT INTO users (email, role) VALUES ('ops@example.com', 'admin') ON CONFLICT DO NOTHING;"
            ]
        );
    }

    #[test]
    fn a_key_less_insert_of_constants_is_guarded_row_by_row() {
        let got = guard(
            "INSERT INTO users (role, note) VALUES ('x', NULL), ('y;z', 'it''s')",
            "public.users",
            &schema(),
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "INSERT INTO users (role, note) SELECT 'x', NULL WHERE NOT EXISTS (SELECT 1 FROM users WHERE role IS NOT DISTINCT FROM 'x' AND note IS NOT DISTINCT FROM NULL);",
                "INSERT INTO users (role, note) SELECT 'y;z', 'it''s' WHERE NOT EXISTS (SELECT 1 FROM users WHERE role IS NOT DISTINCT FROM 'y;z' AND note IS NOT DISTINCT FROM 'it''s');",
            ]
        );
    }

    #[test]
    fn a_key_less_insert_of_computed_values_is_left_over() {
        let got = guard(
            "INSERT INTO users (role) SELECT role FROM users",
            "public.users",
            &schema(),
        );
        assert!(got.unwrap_err().contains("inserts no constant VALUES"));
        let got = guard(
            "INSERT INTO users (role) VALUES (lower('X'))",
            "public.users",
            &schema(),
        );
        assert!(got.unwrap_err().contains("`lower('X')` is not a constant"));
    }

    #[test]
    fn an_insert_without_a_column_list_uses_the_table_columns() {
        let json = serde_json::json!({
            "format": 1,
            "tables": {"public.lookup": {"kind": "r", "columns": [
                {"name": "code", "type": "text", "not_null": true},
                {"name": "label", "type": "text", "not_null": false}
            ], "constraints": {
                "lookup_pkey": {"kind": "p", "definition": "PRIMARY KEY (code)"}
            }}}
        });
        let schema: Snapshot = serde_json::from_value(json).unwrap();
        let got = guard(
            "INSERT INTO lookup VALUES ('a', 'A')",
            "public.lookup",
            &schema,
        );
        assert_eq!(
            got.unwrap(),
            ["INSERT INTO lookup VALUES ('a', 'A') ON CONFLICT DO NOTHING;"]
        );
    }

    #[test]
    fn constant_updates_pass_and_computed_ones_do_not() {
        assert!(
            guard(
                "UPDATE users SET role = 'admin' WHERE id = 1",
                "public.users",
                &schema()
            )
            .is_ok()
        );
        assert!(guard("UPDATE users SET n = n + 1", "public.users", &schema()).is_err());
        assert!(guard("UPDATE users SET seen = now()", "public.users", &schema()).is_err());
        assert!(guard("DELETE FROM users WHERE id = 3", "public.users", &schema()).is_ok());
        assert!(
            guard(
                "DELETE FROM users; DELETE FROM users",
                "public.users",
                &schema()
            )
            .is_err()
        );
    }
}
