//! Does a text run DDL? A deliberately simple, fast keyword detector.
//!
//! It looks for `CREATE|ALTER|DROP` followed (across any whitespace, in any case) by one of
//! the object kinds a migration owns. It does not parse SQL, strings or comments: a
//! commented-out `-- DROP TABLE users` still counts. That errs on the side of asking for a
//! registration, which is the cheap mistake for a pre-commit gate; a false negative would let
//! an unapproved schema change through.

use std::sync::LazyLock;

use regex::bytes::Regex;

/// Object kinds whose CREATE/ALTER/DROP is schema work that belongs in the migration chain.
const OBJECTS: &str = "table|type|index|schema|sequence|view|function|trigger|extension";

static DDL: LazyLock<Regex> = LazyLock::new(|| {
    // Words that may sit between the verb and the object kind:
    // CREATE OR REPLACE FUNCTION, CREATE UNIQUE INDEX, CREATE MATERIALIZED VIEW,
    // CREATE TEMP TABLE, CREATE CONSTRAINT TRIGGER, DROP MATERIALIZED VIEW IF EXISTS ...
    // (`CONCURRENTLY` and `IF [NOT] EXISTS` follow the object kind, so they need no rule.)
    let between = r"(?:\s+(?:or\s+replace|unique|materialized|temp|temporary|unlogged|constraint|global|local))*";
    let pattern = format!(r"(?i)\b(?:create|alter|drop){between}\s+(?:{OBJECTS})\b");
    Regex::new(&pattern).expect("the DDL pattern is a valid regex")
});

/// 1-based line of the first DDL statement in `text`, if any.
pub fn first_ddl_line(text: &[u8]) -> Option<u32> {
    let m = DDL.find(text)?;
    let line = text[..m.start()].iter().filter(|&&b| b == b'\n').count() + 1;
    Some(u32::try_from(line).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::first_ddl_line;

    fn ddl(s: &str) -> Option<u32> {
        first_ddl_line(s.as_bytes())
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
    }
}
