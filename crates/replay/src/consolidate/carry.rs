//! The data statements of data fixes (captured: `INSERT`, `UPDATE`, `DELETE` on a table that
//! existed before the fix), carried into the consolidation guarded, or left over with the
//! reason. Guarded means safe to run where the fix already ran: an `INSERT` gets
//! `ON CONFLICT DO NOTHING` when a key of the table is among its columns (a second run then
//! inserts nothing); an `UPDATE` that sets constants or a `DELETE` with no volatile function is
//! idempotent as it is. Anything else is not guessed.

use gate_recovery::consolidate::{GuardedStatement, Leftover};
use gate_schema::Snapshot;

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

/// Every captured data statement of the path, in path order.
pub(crate) fn data_statements(
    run: &PathRun,
    production: &Snapshot,
) -> (Vec<GuardedStatement>, Vec<Leftover>) {
    let mut carried = Vec::new();
    let mut left = Vec::new();
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
            let object = format!("data {table} ({})", step.step.name());
            match guard(&st.query, &table, production) {
                Ok(sql) => carried.push(GuardedStatement { object, sql }),
                Err(reason) => left.push(Leftover { object, reason }),
            }
        }
    }
    (carried, left)
}

/// The statement made safe to run twice, or why it cannot be.
pub(crate) fn guard(query: &str, table: &str, schema: &Snapshot) -> Result<String, String> {
    let sql = query.trim().trim_end_matches(';').trim();
    let lower = sql.to_ascii_lowercase();
    if sql.contains(';') {
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
        "update" if sets_constants(&lower) => Ok(format!("{sql};")),
        "update" => Err(format!(
            "`{}` sets a value computed from the row: running it twice changes it twice",
            one_line(sql)
        )),
        "delete" => Ok(format!("{sql};")),
        _ => Err(format!(
            "`{}` is not a plain INSERT, UPDATE or DELETE",
            one_line(sql)
        )),
    }
}

fn guard_insert(sql: &str, lower: &str, table: &str, schema: &Snapshot) -> Result<String, String> {
    if lower.contains(" on conflict ") {
        return Ok(format!("{sql};"));
    }
    if lower.contains(" returning ") {
        return Err(format!("`{}` has RETURNING", one_line(sql)));
    }
    let Some(columns) = insert_columns(lower) else {
        return Err(format!(
            "`{}` names no column list, so no key of {table} can be seen in it",
            one_line(sql)
        ));
    };
    let keyed = keys(schema, table)
        .iter()
        .any(|key| !key.is_empty() && key.iter().all(|k| columns.contains(k)));
    if keyed {
        Ok(format!("{sql} ON CONFLICT DO NOTHING;"))
    } else {
        Err(format!(
            "`{}`: no primary key or unique key of {table} is among its columns, so a second run would insert the rows again",
            one_line(sql)
        ))
    }
}

/// The column list of `insert into t (a, b) …`, unquoted.
fn insert_columns(lower: &str) -> Option<Vec<String>> {
    let open = lower.find('(')?;
    let head = &lower[..open];
    if head.contains(" values") || head.contains(" select") {
        return None;
    }
    let close = open + lower[open..].find(')')?;
    Some(
        lower[open + 1..close]
            .split(',')
            .map(|c| c.trim().trim_matches('"').to_string())
            .collect(),
    )
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
            "INSERT INTO users (email, role) VALUES ('ops@example.com', 'admin') ON CONFLICT DO NOTHING;"
        );
    }

    #[test]
    fn an_insert_without_a_key_is_left_over() {
        let got = guard(
            "INSERT INTO users (role) VALUES ('x')",
            "public.users",
            &schema(),
        );
        assert!(got.unwrap_err().contains("insert the rows again"));
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
    }
}
