//! The one DDL grammar: does a text change the schema (or who may touch it), and with which
//! statements? `gate-precommit`'s yes/no ([`first_ddl_line`]) and `gate-approve`'s triage
//! ([`ddl_statements`]) both read it, so they cannot disagree.
//!
//! It is a keyword grammar, not a SQL parser: a verb (`CREATE`/`ALTER`/`DROP`, `GRANT`/
//! `REVOKE`, `TRUNCATE`, `COMMENT ON`) followed by what it acts on, in any case, across
//! lines. Between the words of a statement any run of whitespace and SQL comments (`/* … */`,
//! nested up to three deep as PostgreSQL nests them, and `-- …` to the end of the line)
//! counts as one space, so `ALTER/**/TABLE` and `CREATE -- x\nTABLE` are the statements
//! PostgreSQL runs. Comments are normalised inside the match rather than stripped from the
//! whole text first, because a script is not a SQL file: a `/*` in a shell glob (`rm
//! /tmp/*`) or a `--` in a Python string is no comment, and stripping from there would hide
//! the real statements after it.
//!
//! Deliberate choice: a commented-out statement (`-- DROP TABLE users`) still counts, and so
//! does one inside a string or a docstring. The detector cannot tell which language's comment
//! syntax applies to a line, and a false positive costs a registration while a false negative
//! lets an unapproved schema change through; the pre-commit gate errs towards asking. For the
//! same reason prose that reads like a statement ("grant access to admins") counts.

use std::sync::LazyLock;

use regex::bytes::Regex;

/// What `CREATE`/`ALTER`/`DROP` may act on: the objects a migration owns, plus the roles,
/// databases and policies that decide who may touch them. Words are separated by one space
/// here and by any whitespace or comment in the text.
const OBJECTS: &[&str] = &[
    "table",
    "type",
    "index",
    "schema",
    "sequence",
    "view",
    "function",
    "trigger",
    "extension",
    "domain",
    "procedure",
    "routine",
    "aggregate",
    "collation",
    "policy",
    "rule",
    "role",
    "user",
    "database",
    "event trigger",
    "foreign table",
    "foreign data wrapper",
];

/// Words that may sit between the verb and the object: `CREATE OR REPLACE FUNCTION`,
/// `CREATE UNIQUE INDEX`, `CREATE MATERIALIZED VIEW`, `CREATE TEMP TABLE`, `CREATE
/// CONSTRAINT TRIGGER`, `CREATE RECURSIVE VIEW`. (`CONCURRENTLY` and `IF [NOT] EXISTS`
/// follow the object, so they need no rule.)
const MODIFIERS: &[&str] = &[
    "or replace",
    "unique",
    "materialized",
    "temp",
    "temporary",
    "unlogged",
    "constraint",
    "global",
    "local",
    "recursive",
];

/// Privileges a `GRANT`/`REVOKE … ON` names.
const PRIVILEGES: &[&str] = &[
    "all privileges",
    "all",
    "select",
    "insert",
    "update",
    "delete",
    "truncate",
    "references",
    "trigger",
    "create",
    "connect",
    "temporary",
    "temp",
    "execute",
    "usage",
    "maintain",
    "set",
    "alter system",
];

/// What `COMMENT ON` may describe besides [`OBJECTS`].
const COMMENT_TARGETS: &[&str] = &["column", "constraint", "materialized view"];

/// Whitespace or one SQL comment: `-- …` to the end of the line, or `/* … */` nested up to
/// [`NESTING`] deep, as PostgreSQL nests them. The comment pattern ends exactly where
/// PostgreSQL ends the comment, never at a later `*/`: a comment that could stretch would
/// keep a search alive to the end of the text after every match (quadratic on large files).
/// ASCII mode: PostgreSQL's whitespace is exactly `[ \t\n\r\f\v]`, and bytes that are not
/// UTF-8 must neither stop a comment nor a match.
fn gap_with_comments() -> String {
    // Comment text without `/*` or `*/`: no `/` directly before a `*`, no `*` directly
    // before a `/`. Only the closer may follow a run of `*` (`/** x **/`).
    let body = r"(?:[^/*]|/+[^/*]|\*+[^/*])*";
    let mut comment = format!(r"/\*{body}\**\*/");
    for _ in 1..NESTING {
        comment = format!(r"/\*{body}(?:{comment}{body})*\**\*/");
    }
    format!(r"(?:\s|{comment}|--[^\n]*)")
}

/// How deep nested `/* /* */ */` comments are read between the words of a statement.
const NESTING: usize = 3;

/// The grammar with comments between words. It takes ~10x longer to build than
/// [`PLAIN`], so it is only built for a text that holds `/*` or `--`.
static COMMENTED: LazyLock<Regex> = LazyLock::new(|| grammar(&gap_with_comments()));

/// The same grammar where only whitespace separates words: on a text without `/*` and `--`
/// no comment can occur, so it finds exactly what [`COMMENTED`] finds.
static PLAIN: LazyLock<Regex> = LazyLock::new(|| grammar(r"\s"));

/// The grammar for `text`.
fn grammar_for(text: &[u8]) -> &'static Regex {
    if text.windows(2).any(|w| w == b"/*" || w == b"--") {
        &COMMENTED
    } else {
        &PLAIN
    }
}

/// The statement grammar, with `gap` (one separator unit) between its words.
fn grammar(gap: &str) -> Regex {
    let sep = format!("{gap}+");
    let opt = format!("{gap}*");
    // `or replace` as a pattern: the words with a separator between them.
    let any_of = |phrases: &[&str]| {
        let alternatives: Vec<String> = phrases.iter().map(|p| p.replace(' ', &sep)).collect();
        format!("(?:{})", alternatives.join("|"))
    };
    let objects = any_of(OBJECTS);
    let modifiers = any_of(MODIFIERS);
    let privilege = format!(r"{}\b(?:{opt}\([^)]*\))?", any_of(PRIVILEGES));
    let privileges = format!("{privilege}(?:{opt},{opt}{privilege})*");
    let name = r#"(?:[a-z_][a-z0-9_$]*|"[^"]+")"#;
    let names = format!("{name}(?:{opt},{opt}{name})*");
    let comment_targets = any_of(COMMENT_TARGETS);
    let branches = [
        // CREATE [OR REPLACE | UNIQUE | ...] TABLE, ALTER TYPE, DROP EVENT TRIGGER, ...
        format!(r"(?:create|alter|drop)(?:{sep}{modifiers})*{sep}{objects}\b"),
        // GRANT SELECT, UPDATE (a) ON ..., REVOKE GRANT OPTION FOR ALL ON ...
        format!(r"(?:grant|revoke){sep}(?:grant{sep}option{sep}for{sep})?{privileges}{sep}on\b"),
        // Role membership: GRANT admin TO bob, REVOKE ADMIN OPTION FOR admin FROM bob.
        format!(r#"grant{sep}{names}{sep}to{sep}[a-z_"]"#),
        format!(
            r#"revoke{sep}(?:(?:admin|inherit|set){sep}option{sep}for{sep})?{names}{sep}from{sep}[a-z_"]"#
        ),
        format!(r#"truncate{sep}(?:table{sep})?(?:only{sep})?[a-z_"]"#),
        format!(r"comment{sep}on{sep}(?:{objects}|{comment_targets})\b"),
    ];
    let pattern = format!(r"(?i-u)\b(?:{})", branches.join("|"));
    Regex::new(&pattern).expect("the DDL grammar is a valid regex")
}

/// One statement the grammar found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// 1-based line of the statement's first word.
    pub line: u32,
    /// What it does, in capitals with single spaces and no comments: `ALTER TABLE`,
    /// `CREATE OR REPLACE FUNCTION`, `DROP EVENT TRIGGER`, `GRANT`, `REVOKE`, `TRUNCATE`,
    /// `COMMENT ON`.
    pub kind: String,
}

impl Statement {
    /// `GRANT` or `REVOKE`: a change of privileges rather than of objects.
    pub fn is_privilege(&self) -> bool {
        self.kind == "GRANT" || self.kind == "REVOKE"
    }
}

/// 1-based line of the first DDL statement in `text`, if any.
pub fn first_ddl_line(text: &[u8]) -> Option<u32> {
    grammar_for(text)
        .find(text)
        .map(|m| line_of(text, m.start()))
}

/// Every DDL statement in `text`, in order.
pub fn ddl_statements(text: &[u8]) -> Vec<Statement> {
    // Lines are counted on from the previous statement: counting from the start each time
    // is quadratic on a large SQL file. Labels are read back from the matched words, so the
    // grammar needs no capture groups.
    let (mut line, mut counted) = (1usize, 0);
    grammar_for(text)
        .find_iter(text)
        .map(|m| {
            line += text[counted..m.start()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            counted = m.start();
            Statement {
                line: u32::try_from(line).unwrap_or(u32::MAX),
                kind: kind_of(m.as_bytes()),
            }
        })
        .collect()
}

fn line_of(text: &[u8], at: usize) -> u32 {
    let line = text[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    u32::try_from(line).unwrap_or(u32::MAX)
}

/// The label of a matched statement, from its words outside comments. Only the grammar's
/// own words are kept, so comment text can never leak into it.
fn kind_of(statement: &[u8]) -> String {
    let words = plain_words(statement);
    let verb = words.first().cloned().unwrap_or_default();
    match verb.as_str() {
        "CREATE" | "ALTER" | "DROP" => {
            let known = |w: &String| {
                MODIFIERS
                    .iter()
                    .chain(OBJECTS)
                    .any(|p| p.split(' ').any(|x| x.eq_ignore_ascii_case(w)))
            };
            let mut out = vec![verb.clone()];
            out.extend(words[1..].iter().filter(|w| known(w)).cloned());
            out.join(" ")
        }
        "COMMENT" => "COMMENT ON".into(),
        _ => verb,
    }
}

/// The words of `text` outside comments, in capitals.
fn plain_words(text: &[u8]) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        let pair = text.get(i..i + 2);
        if depth == 0 && pair == Some(b"--") {
            i = text[i..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(text.len(), |n| i + n);
        } else if pair == Some(b"/*") {
            depth += 1;
            i += 2;
        } else if depth > 0 && pair == Some(b"*/") {
            depth -= 1;
            i += 2;
        } else {
            if depth == 0 && text[i].is_ascii_alphabetic() {
                word.push(char::from(text[i].to_ascii_uppercase()));
                i += 1;
                continue;
            }
            i += 1;
        }
        if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::{COMMENTED, PLAIN, ddl_statements, first_ddl_line};

    fn ddl(s: &str) -> Option<u32> {
        first_ddl_line(s.as_bytes())
    }

    fn kinds(s: &str) -> Vec<String> {
        ddl_statements(s.as_bytes())
            .into_iter()
            .map(|st| st.kind)
            .collect()
    }

    #[test]
    fn finds_plain_statements_in_any_case() {
        assert_eq!(ddl("ALTER TABLE users ADD COLUMN x int"), Some(1));
        assert_eq!(ddl("alter table users add column x int"), Some(1));
        assert_eq!(ddl("Create Type userrole AS ENUM ('a')"), Some(1));
        assert_eq!(ddl("DROP SCHEMA legacy CASCADE"), Some(1));
        assert_eq!(ddl("create sequence s"), Some(1));
        assert_eq!(ddl("CREATE EXTENSION IF NOT EXISTS pgcrypto"), Some(1));
        assert_eq!(ddl("DROP TRIGGER t ON x"), Some(1));
    }

    #[test]
    fn finds_statements_split_across_lines_and_reports_their_line() {
        assert_eq!(
            ddl("import os\n\nsql = '''create\n  table users (id int)'''"),
            Some(3)
        );
        assert_eq!(
            ddl("x = 1\nALTER\tTYPE userrole\n ADD VALUE 'super_admin'"),
            Some(2)
        );
    }

    #[test]
    fn allows_modifiers_between_verb_and_object() {
        assert_eq!(ddl("CREATE OR REPLACE FUNCTION f() ..."), Some(1));
        assert_eq!(ddl("create unique index concurrently ix on t(a)"), Some(1));
        assert_eq!(ddl("DROP INDEX CONCURRENTLY ix"), Some(1));
        assert_eq!(ddl("CREATE MATERIALIZED VIEW mv AS select 1"), Some(1));
        assert_eq!(ddl("drop materialized view if exists mv"), Some(1));
        assert_eq!(ddl("CREATE TABLE IF NOT EXISTS t (id int)"), Some(1));
        assert_eq!(ddl("create temporary table t (id int)"), Some(1));
    }

    #[test]
    fn ignores_words_that_merely_contain_the_keywords() {
        assert_eq!(ddl("created_at = now()"), None);
        assert_eq!(ddl("def create_table_name(): pass"), None);
        assert_eq!(ddl("op.create_table('users')"), None);
        assert_eq!(ddl("recreate tablespace"), None);
        assert_eq!(ddl("CREATE TABLESPACE fast LOCATION '/ssd'"), None);
        assert_eq!(ddl("SELECT * FROM tables WHERE dropped"), None);
        assert_eq!(ddl("print('we alter nothing')"), None);
        assert_eq!(ddl("text.truncate(80)"), None);
        assert_eq!(ddl("user_comment = 'on time'"), None);
        assert_eq!(ddl("granted = revoked = False"), None);
    }

    #[test]
    fn comments_still_count_by_design() {
        assert_eq!(ddl("select 1;\n-- drop table users;"), Some(2));
    }

    #[test]
    fn works_on_non_utf8_text() {
        let mut text = b"caf\xe9 = 1\n".to_vec();
        text.extend_from_slice(b"ALTER TABLE t ADD c int");
        assert_eq!(first_ddl_line(&text), Some(2));
        assert_eq!(
            first_ddl_line(b"ALTER /* caf\xe9 */ TABLE t ADD c int"),
            Some(1)
        );
    }

    /// Every form issue 9 found walking around the detector, and every kind it must cover:
    /// (text, line of the statement start, the statement's kind).
    const CASES: &[(&str, u32, &str)] = &[
        // Comments between the words of a statement.
        ("ALTER/**/TABLE users ADD x int", 1, "ALTER TABLE"),
        ("x = 1\nCREATE -- x\nTABLE t (id int)", 2, "CREATE TABLE"),
        ("DROP/* a /* nested */ comment */TABLE t", 1, "DROP TABLE"),
        ("ALTER/*/**/*/TABLE t ADD c int", 1, "ALTER TABLE"),
        (
            "ALTER/* 1 /* 2 /* 3 */ 2 */ 1 */TABLE t ADD c int",
            1,
            "ALTER TABLE",
        ),
        ("ALTER /** stars **/ TABLE t ADD c int", 1, "ALTER TABLE"),
        (
            "create/*\n*/or/**/replace -- !\n function f()",
            1,
            "CREATE OR REPLACE FUNCTION",
        ),
        (
            "rm /tmp/*\npsql -c 'ALTER/**/TABLE t ADD c int'",
            2,
            "ALTER TABLE",
        ),
        (
            "print('--')\nsql = 'x'; cur.execute('DROP TABLE t')",
            2,
            "DROP TABLE",
        ),
        ("ALTER\u{0c}TABLE t ADD c int", 1, "ALTER TABLE"),
        // Object kinds beyond tables and types.
        ("CREATE DOMAIN email AS text", 1, "CREATE DOMAIN"),
        (
            "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql AS $$ $$",
            1,
            "CREATE OR REPLACE PROCEDURE",
        ),
        ("DROP PROCEDURE p", 1, "DROP PROCEDURE"),
        (
            "CREATE POLICY tenant ON users USING (true)",
            1,
            "CREATE POLICY",
        ),
        (
            "ALTER POLICY tenant ON users RENAME TO t2",
            1,
            "ALTER POLICY",
        ),
        (
            "CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING",
            1,
            "CREATE RULE",
        ),
        ("CREATE ROLE app LOGIN", 1, "CREATE ROLE"),
        ("create user reporting with password 'x'", 1, "CREATE USER"),
        (
            "ALTER DATABASE app SET timezone TO 'UTC'",
            1,
            "ALTER DATABASE",
        ),
        (
            "CREATE EVENT TRIGGER et ON ddl_command_start EXECUTE FUNCTION f()",
            1,
            "CREATE EVENT TRIGGER",
        ),
        ("DROP EVENT/**/TRIGGER et", 1, "DROP EVENT TRIGGER"),
        (
            "CREATE FOREIGN TABLE ft (id int) SERVER s",
            1,
            "CREATE FOREIGN TABLE",
        ),
        (
            "CREATE AGGREGATE agg (int) (SFUNC = f, STYPE = int)",
            1,
            "CREATE AGGREGATE",
        ),
        (
            "CREATE COLLATION german (provider = icu, locale = 'de')",
            1,
            "CREATE COLLATION",
        ),
        ("ALTER ROUTINE r() RENAME TO r2", 1, "ALTER ROUTINE"),
        // Privileges, data wipes, catalogue comments.
        ("GRANT SELECT, UPDATE (status) ON users TO app", 1, "GRANT"),
        (
            "grant all privileges on all tables in schema public to app",
            1,
            "GRANT",
        ),
        ("GRANT admin TO bob", 1, "GRANT"),
        ("REVOKE INSERT ON users FROM app", 1, "REVOKE"),
        ("REVOKE GRANT OPTION FOR SELECT ON t FROM app", 1, "REVOKE"),
        ("REVOKE ADMIN OPTION FOR admin FROM bob", 1, "REVOKE"),
        ("TRUNCATE audit_log", 1, "TRUNCATE"),
        ("truncate table only audit_log cascade", 1, "TRUNCATE"),
        ("COMMENT ON TABLE users IS 'people'", 1, "COMMENT ON"),
        ("COMMENT/**/ON COLUMN users.x IS 'x'", 1, "COMMENT ON"),
    ];

    #[test]
    fn every_form_is_found_at_its_line_with_its_kind() {
        for &(text, line, kind) in CASES {
            assert_eq!(ddl(text), Some(line), "line of {text:?}");
            assert_eq!(kinds(text), [kind], "kind of {text:?}");
        }
    }

    /// The hook builds the cheaper whitespace-only grammar for a text without `/*` or `--`:
    /// there it must match exactly what the full grammar matches.
    #[test]
    fn both_builds_of_the_grammar_agree_where_no_comment_can_occur() {
        let mut texts: Vec<&str> = CASES.iter().map(|c| c.0).collect();
        texts.push("ALTER TABLE t ADD c int;\nGRANT admin TO bob;\nTRUNCATE x; created_at");
        let mut checked = 0;
        for text in texts {
            if text.contains("/*") || text.contains("--") {
                continue;
            }
            let ranges = |re: &regex::bytes::Regex| {
                re.find_iter(text.as_bytes())
                    .map(|m| m.range())
                    .collect::<Vec<_>>()
            };
            assert_eq!(ranges(&PLAIN), ranges(&COMMENTED), "{text:?}");
            checked += 1;
        }
        assert!(checked > 20, "only {checked} texts without comments");
    }

    #[test]
    fn statements_come_in_order_with_their_lines() {
        let found = ddl_statements(
            b"ALTER TYPE userrole ADD VALUE 'x';\nselect 1;\ncreate unique index i on t(a);\nGRANT SELECT ON t TO app;\n",
        );
        let got: Vec<(u32, &str)> = found.iter().map(|s| (s.line, s.kind.as_str())).collect();
        assert_eq!(
            got,
            [(1, "ALTER TYPE"), (3, "CREATE UNIQUE INDEX"), (4, "GRANT")]
        );
        assert!(found[2].is_privilege());
        assert!(!found[0].is_privilege());
    }

    #[test]
    fn comment_text_never_leaks_into_a_kind() {
        assert_eq!(
            kinds("CREATE /* unique? no */ TABLE t (id int)"),
            ["CREATE TABLE"]
        );
    }
}
