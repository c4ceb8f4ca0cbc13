//! The plan as files: an Alembic revision, or a pair of SQL files.

use super::{GuardedStatement, NewRevision, Plan};

/// `ALTER TYPE ... ADD VALUE`: its label cannot be used before it is committed, so Alembic runs
/// it outside the migration's transaction (`autocommit_block`, as Alembic's docs advise).
fn adds_enum_value(s: &GuardedStatement) -> bool {
    s.object.starts_with("enum ") && s.sql.contains(" ADD VALUE IF NOT EXISTS ")
}

pub(super) fn alembic(rev: &NewRevision, plan: &Plan) -> String {
    let message = one_line(&rev.message);
    let down = rev.down_revision.as_deref();
    let mut out = String::new();
    out += &format!(
        "\"\"\"{}\n\nRevision ID: {}\nRevises: {}\nCreate Date: {}\n\n\"\"\"\n",
        docstring_text(&message),
        docstring_text(&rev.id),
        docstring_text(down.unwrap_or("")),
        docstring_text(&one_line(&rev.created)),
    );
    out += "from alembic import op\n\n";
    for l in &plan.left {
        out += &format!(
            "# left over: {}: {}\n",
            one_line(&l.object),
            one_line(&l.reason)
        );
    }
    out += "\n# revision identifiers, used by Alembic.\n";
    out += &format!("revision = {}\n", py_str(&rev.id));
    out += &format!(
        "down_revision = {}\n",
        down.map(py_str).unwrap_or_else(|| "None".to_owned())
    );
    out += "branch_labels = None\ndepends_on = None\n\n\n";
    out += &format!("def upgrade() -> None:\n{}\n\n", body(&plan.upgrade));
    out += &format!("def downgrade() -> None:\n{}", body(&plan.downgrade));
    out
}

fn body(statements: &[GuardedStatement]) -> String {
    if statements.is_empty() {
        return "    pass\n".to_owned();
    }
    let mut out = String::new();
    let mut in_block = false;
    for s in statements {
        let autocommit = adds_enum_value(s);
        if autocommit && !in_block {
            out += "    with op.get_context().autocommit_block():\n";
        }
        in_block = autocommit;
        let indent = if autocommit { "        " } else { "    " };
        out += &format!("{indent}op.execute({})\n", py_str(&escape_binds(&s.sql)));
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text inside the module docstring: backslashes and quotes cannot end or bend it.
fn docstring_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A Python string literal holding exactly `text`: raw and triple-quoted where that is
/// unambiguous, otherwise a plain literal with every special character escaped.
fn py_str(text: &str) -> String {
    let raw_safe = !text.contains("\"\"\"")
        && !text.ends_with('\\')
        && !text.ends_with('"')
        && text
            .chars()
            .all(|c| c == '\n' || c == '\t' || !c.is_control());
    if raw_safe {
        return format!("r\"\"\"{text}\"\"\"");
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out += "\\\\",
            '"' => out += "\\\"",
            '\n' => out += "\\n",
            '\t' => out += "\\t",
            '\r' => out += "\\r",
            c if c.is_control() => out += &format!("\\u{:04x}", c as u32),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `op.execute` reads a string as SQLAlchemy `text()`, where `:name` is a bind parameter and
/// `\:name` an escaped colon. Escape both so the SQL reaches the server as written:
/// `:name` (not after `:`, a word character or `\`, not followed by `:`) becomes `\:name`, and
/// an existing `\:name` gets a second backslash so one survives.
fn escape_binds(sql: &str) -> String {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ':' {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let word_end = (i + 1..chars.len())
                .find(|&j| !is_word(chars[j]))
                .unwrap_or(chars.len());
            // SQLAlchemy's `(?!:)` backtracks: `:ab:` still binds `:a`.
            let next_not_colon = chars.get(word_end) != Some(&':') || word_end > i + 2;
            let bind = word_end > i + 1
                && next_not_colon
                && prev.is_none_or(|p| p != ':' && p != '\\' && !is_word(p));
            let escaped_end = (i + 1..chars.len())
                .find(|&j| !(is_word(chars[j]) || chars[j] == '$'))
                .unwrap_or(chars.len());
            let escape_kept = prev == Some('\\')
                && chars
                    .get(escaped_end)
                    .is_none_or(|&n| n != ':' && !is_word(n) && n != '$');
            if bind || escape_kept {
                out.push('\\');
            }
        }
        out.push(c);
    }
    out
}

pub(super) fn sql(plan: &Plan) -> (String, String) {
    let header = |what: &str| {
        let mut h = format!(
            "-- {what} of the consolidation, written by gate-replay consolidate.\n\
             -- Every statement is guarded: running the file again changes nothing.\n"
        );
        if plan.upgrade.iter().any(adds_enum_value) && what == "Upgrade" {
            // A label is usable only once committed: the runner runs each statement on its
            // own (gate-chain's marker), which the guards make safe to repeat.
            h += "-- ALTER TYPE ... ADD VALUE: a new label is usable only once committed.\n\
                  -- gate:no-transaction\n";
        }
        for l in &plan.left {
            h += &format!(
                "-- left over: {}: {}\n",
                one_line(&l.object),
                one_line(&l.reason)
            );
        }
        h
    };
    let file = |what: &str, statements: &[GuardedStatement]| {
        let mut text = header(what);
        for s in statements {
            text += "\n";
            text += &s.sql;
            text += "\n";
        }
        text
    };
    (
        file("Upgrade", &plan.upgrade),
        file("Downgrade", &plan.downgrade),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals_survive_any_text() {
        assert_eq!(py_str("SELECT 1"), "r\"\"\"SELECT 1\"\"\"");
        assert_eq!(py_str("a\"\"\"b"), "\"a\\\"\\\"\\\"b\"");
        assert_eq!(py_str("ends\\"), "\"ends\\\\\"");
        assert_eq!(py_str("cr\r"), "\"cr\\r\"");
    }

    #[test]
    fn sql_files_with_new_labels_run_outside_a_transaction() {
        let add = GuardedStatement {
            object: "enum public.e".into(),
            sql: "DO $gate$ BEGIN ALTER TYPE \"public\".\"e\" ADD VALUE IF NOT EXISTS 'x'; END $gate$;".into(),
        };
        let plan = Plan {
            upgrade: vec![add],
            ..Plan::default()
        };
        let (up, down) = sql(&plan);
        assert!(up.contains("\n-- gate:no-transaction\n"), "{up}");
        assert!(!down.contains("gate:no-transaction"), "{down}");
    }

    #[test]
    fn colons_that_sqlalchemy_would_bind_are_escaped() {
        assert_eq!(escape_binds("'a'::text"), "'a'::text");
        assert_eq!(escape_binds("'x:y'"), "'x:y'");
        assert_eq!(escape_binds("'at :noon'"), r"'at \:noon'");
        assert_eq!(escape_binds(r"'x \:y'"), r"'x \\:y'");
        assert_eq!(escape_binds("a[1:2]"), "a[1:2]");
        assert_eq!(escape_binds("' :name'"), "' \\:name'");
    }
}
