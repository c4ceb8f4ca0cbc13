//! A first triage of an emergency script from its text: what kind of change it makes,
//! whether it guards itself, which objects it touches. Heuristic by nature: it reads text,
//! it does not run anything; "unknown" is the honest answer for SQL built at run time.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Triage {
    /// DDL statements by kind (`ALTER TYPE`, `CREATE TABLE`, `TRUNCATE`, ...), as
    /// `gate_scripts::ddl_statements` names them.
    pub ddl: Vec<String>,
    /// Data changes (`INSERT`, `UPDATE`, `DELETE`).
    pub data: Vec<String>,
    /// `GRANT` / `REVOKE`.
    pub grants: bool,
    /// SQL assembled at run time (f-strings, `.format`, `%`, `+` around SQL keywords).
    pub dynamic: bool,
    /// Self-guards found (`IF NOT EXISTS`, `ON CONFLICT`, `try/except`, ...).
    pub guards: Vec<String>,
    /// Tables, types, columns, indexes named in the SQL.
    pub objects: Vec<String>,
}

macro_rules! re {
    ($name:ident, $re:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($re).expect("valid regex"));
    };
}

re!(INSERT, r"\bINSERT\s+INTO\s+([A-Za-z_][\w.]*)");
re!(UPDATE, r"\bUPDATE\s+([A-Za-z_][\w.]*)\s+SET\b");
re!(DELETE, r"\bDELETE\s+FROM\s+([A-Za-z_][\w.]*)");
re!(
    OBJECT,
    // Only after a statement verb, with the keywords in capitals: a log line such as
    // print("TABLE CREATION VERIFICATION") or a docstring names no object.
    r"\b(?:CREATE(?:\s+OR\s+REPLACE)?(?:\s+UNIQUE)?|ALTER|DROP|TRUNCATE)\s+(?:TABLE|TYPE|INDEX|SEQUENCE|VIEW)\s+(?:CONCURRENTLY\s+)?(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(?:ONLY\s+)?([A-Za-z_][\w.]*)"
);
re!(
    // The statement a column or an enum value belongs to (capitals, as above); its clauses
    // run to the end of the statement (`;`), of the string literal (`"`, `')`), or of the
    // paragraph.
    ALTER_STATEMENT,
    r#"\bALTER\s+(TABLE|TYPE)\b[^;"]*?(?:;|"|'\s*\)|\n\s*\n|\z)"#
);
re!(
    COLUMN,
    r"\b(?:ADD|DROP|ALTER|RENAME)\s+COLUMN\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?([A-Za-z_]\w*)"
);
re!(
    ENUM_VALUE,
    r"\bADD\s+VALUE\s+(?:IF\s+NOT\s+EXISTS\s+)?'([^']+)'"
);
re!(
    SQL_WORD,
    r"(?i)\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|GRANT|REVOKE|TRUNCATE)\b"
);
re!(FSTRING, r#"(?i)\bf["'][^"']*\{"#);
re!(FORMAT, r#"["']\s*(\.format\(|%\s*[\(\w])"#);
re!(CONCAT, r#"["']\s*\+\s*[A-Za-z_(]|[A-Za-z_)\]]\s*\+\s*["']"#);

const NOT_OBJECTS: &[&str] = &[
    "if", "not", "exists", "only", "as", "set", "to", "add", "public", "using", "from", "where",
];

/// Triage a script's text.
pub fn triage(text: &str) -> Triage {
    let mut t = Triage::default();
    // The DDL kinds and grants come from the same grammar the pre-commit gate uses.
    let mut ddl = BTreeSet::new();
    for st in gate_scripts::ddl_statements(text.as_bytes()) {
        if st.is_privilege() {
            t.grants = true;
        } else {
            ddl.insert(st.kind);
        }
    }
    t.ddl = ddl.into_iter().collect();
    let mut data = BTreeSet::new();
    let mut objects = BTreeSet::new();
    for (re, kind) in [
        (&*INSERT, "INSERT"),
        (&*UPDATE, "UPDATE"),
        (&*DELETE, "DELETE"),
    ] {
        for c in re.captures_iter(text) {
            data.insert(kind.to_string());
            objects.insert(c[1].to_lowercase());
        }
    }
    t.data = data.into_iter().collect();
    for c in OBJECT.captures_iter(text) {
        objects.insert(c[1].to_lowercase());
    }
    for st in ALTER_STATEMENT.captures_iter(text) {
        let clauses = st.get(0).map_or("", |m| m.as_str());
        if &st[1] == "TABLE" {
            for c in COLUMN.captures_iter(clauses) {
                let name = c[1].to_lowercase();
                if !NOT_OBJECTS.contains(&name.as_str()) {
                    objects.insert(format!("column {name}"));
                }
            }
        } else {
            for c in ENUM_VALUE.captures_iter(clauses) {
                objects.insert(format!("enum value '{}'", &c[1]));
            }
        }
    }
    objects.retain(|o| !NOT_OBJECTS.contains(&o.as_str()));
    t.objects = objects.into_iter().collect();

    // A comment saying "No IF NOT EXISTS here" is not a guard.
    let code: String = text
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            !l.starts_with('#') && !l.starts_with("--")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let upper = code.to_uppercase();
    let mut guards = Vec::new();
    for g in ["IF NOT EXISTS", "IF EXISTS", "ON CONFLICT"] {
        if upper.contains(g) {
            guards.push(g.to_string());
        }
    }
    if upper.contains("DO $$") && upper.contains("EXCEPTION") {
        guards.push("DO $$ ... EXCEPTION".into());
    }
    let has_try = code.lines().any(|l| l.trim_start().starts_with("try:"));
    let has_except = code.lines().any(|l| l.trim_start().starts_with("except"));
    if has_try && has_except {
        guards.push("try/except".into());
    }
    t.guards = guards;
    t.dynamic = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter(|l| SQL_WORD.is_match(l))
        .any(|l| FSTRING.is_match(l) || FORMAT.is_match(l) || CONCAT.is_match(l));
    t
}

impl Triage {
    /// One line for a report cell or a policy comment.
    pub fn summary(&self) -> String {
        let mut kinds = Vec::new();
        if !self.ddl.is_empty() {
            kinds.push(format!("DDL ({})", self.ddl.join(", ")));
        }
        if !self.data.is_empty() {
            kinds.push(format!("data ({})", self.data.join(", ")));
        }
        if self.grants {
            kinds.push("grants".into());
        }
        if self.dynamic {
            kinds.push("unknown: builds SQL at run time".into());
        }
        if kinds.is_empty() {
            kinds.push("unknown: no SQL found in the text".into());
        }
        let mut s = kinds.join("; ");
        if self.guards.is_empty() {
            s.push_str("; unguarded");
        } else {
            s.push_str(&format!("; guards: {}", self.guards.join(", ")));
        }
        if !self.objects.is_empty() {
            s.push_str(&format!("; touches: {}", self.objects.join(", ")));
        }
        s
    }
}

/// The triage line a report shows, and its source: what gate-replay captured the fix
/// executing when a replay provides it (`capture`), else the guess from the text (`text`),
/// labelled as such once a replay was given, so a reader knows which one they read.
pub fn with_capture(
    guess: String,
    capture: Option<&crate::replay::Capture>,
    replay_given: bool,
) -> (String, &'static str) {
    match capture {
        Some(c) if c.statements.is_some() => (c.summary(), "capture"),
        Some(c) => (format!("{}; from the text: {guess}", c.summary()), "text"),
        None if replay_given => (format!("from the text: {guess}"), "text"),
        None => (guess, "text"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_fix_is_unguarded_ddl() {
        let t = triage(r#"cur.execute("ALTER TYPE userrole ADD VALUE 'super_admin'")"#);
        assert_eq!(t.ddl, vec!["ALTER TYPE"]);
        assert!(t.guards.is_empty());
        assert!(t.objects.contains(&"userrole".to_string()));
        assert!(t.objects.contains(&"enum value 'super_admin'".to_string()));
        assert!(!t.dynamic);
    }

    #[test]
    fn guarded_data_and_dynamic_sql() {
        let t = triage(
            "try:\n    cur.execute(\"INSERT INTO flags (name) VALUES ('x') ON CONFLICT DO NOTHING\")\nexcept Exception:\n    pass\ncur.execute(f\"GRANT SELECT ON {table} TO app\")\n",
        );
        assert_eq!(t.data, vec!["INSERT"]);
        assert!(t.grants);
        assert!(t.dynamic);
        assert_eq!(t.guards, vec!["ON CONFLICT", "try/except"]);
        assert!(t.objects.contains(&"flags".to_string()));
    }

    /// The triage lists what the hook detects: one grammar, comments between words and all.
    #[test]
    fn ddl_kinds_and_grants_come_from_the_hook_grammar() {
        let text = "cur.execute('ALTER/**/TABLE t ADD c int')\ncur.execute('TRUNCATE audit_log')\ncur.execute('REVOKE ALL ON t FROM app')\ncur.execute('CREATE POLICY p ON t USING (true)')\n";
        let t = triage(text);
        assert_eq!(t.ddl, vec!["ALTER TABLE", "CREATE POLICY", "TRUNCATE"]);
        assert!(t.grants);
        assert_eq!(
            gate_scripts::first_ddl_line(text.as_bytes()),
            Some(1),
            "the hook flags the same text"
        );
    }

    /// Regression: a real repair script's log lines and docstring were listed as touched
    /// objects ("creation", "verification").
    #[test]
    fn objects_come_from_sql_only_not_from_log_lines() {
        let t = triage(
            r#"""Emergency fix: VIEW creation and TYPE verification for the admin page."""
print("Table creation verification")
print("=== TABLE CREATION VERIFICATION ===")
logger.info("INDEX verification passed; DROP COLUMN verification skipped")
cur.execute("""
    CREATE TABLE admin_audit (
        id serial PRIMARY KEY,
        action text NOT NULL
    )
""")
"#,
        );
        assert_eq!(t.objects, vec!["admin_audit"], "{t:?}");
    }

    #[test]
    fn columns_and_enum_values_belong_to_their_alter_statement() {
        let t = triage(
            "ALTER TABLE feature_flags ADD COLUMN IF NOT EXISTS status text, DROP COLUMN legacy;\nALTER TYPE userrole ADD VALUE IF NOT EXISTS 'auditor';\n-- Next: ADD COLUMN verification by hand\n",
        );
        assert_eq!(
            t.objects,
            vec![
                "column legacy",
                "column status",
                "enum value 'auditor'",
                "feature_flags",
                "userrole"
            ],
            "{t:?}"
        );
    }
}
