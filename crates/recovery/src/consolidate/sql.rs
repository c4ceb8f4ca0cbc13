//! SQL text helpers: quoting, the names in snapshot keys, and the guarded blocks every
//! statement is built from.

use gate_schema::Snapshot;

/// A quoted identifier. Always quoted: correct for every name, keywords and capitals included.
pub(super) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal. Text with a backslash is an escape string (`E'...'`), which reads the
/// same whatever `standard_conforming_strings` is.
pub(super) fn literal(text: &str) -> String {
    let quoted = text.replace('\'', "''");
    if text.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// `schema.name` as the snapshot keys it. Schema names with a dot are not supported.
pub(super) fn split(qualified: &str) -> (&str, &str) {
    qualified.split_once('.').unwrap_or(("public", qualified))
}

/// `"schema"."name"` for a snapshot key.
pub(super) fn qname(qualified: &str) -> String {
    let (schema, name) = split(qualified);
    format!("{}.{}", ident(schema), ident(name))
}

/// A literal of the quoted name, for `to_regclass(...)` and `to_regtype(...)`.
pub(super) fn reg(qualified: &str) -> String {
    literal(&qname(qualified))
}

/// A name as `format_type` and `pg_get_*def` print it: quoted only when it has to be.
/// (Keywords are not known here; a type named after a keyword is not matched.)
pub(super) fn pg_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain { name.to_owned() } else { ident(name) }
}

/// `schema.name` as the catalog prints it with `search_path = pg_catalog` (how the snapshot
/// was read): the text column types and definitions use for this object.
pub(super) fn pg_qname(qualified: &str) -> String {
    let (schema, name) = split(qualified);
    format!("{}.{}", pg_ident(schema), pg_ident(name))
}

/// A collation as the snapshot names it: bare for `pg_catalog` ones (whose names may hold a
/// dot, `en_US.utf8`), `schema.name` otherwise.
pub(super) fn collation(snap: &Snapshot, name: &str) -> String {
    match name.split_once('.') {
        Some((schema, bare)) if snap.schemas.contains_key(schema) => {
            format!("{}.{}", ident(schema), ident(bare))
        }
        _ => ident(name),
    }
}

/// A dollar-quote tag that does not occur in `body`.
fn dollar_tag(body: &str) -> String {
    let mut tag = "$gate$".to_owned();
    let mut n = 0;
    while body.contains(&tag) {
        n += 1;
        tag = format!("$gate{n}$");
    }
    tag
}

/// An anonymous block; `declare` may be empty.
pub(super) fn do_block(declare: &str, body: &str) -> String {
    let inner = if declare.is_empty() {
        format!("BEGIN\n{body}\nEND")
    } else {
        format!("DECLARE\n{declare}\nBEGIN\n{body}\nEND")
    };
    let tag = dollar_tag(&inner);
    format!("DO {tag}\n{inner}\n{tag};")
}

/// `then` (statements, each `;`-terminated) when `condition` holds.
pub(super) fn when(condition: &str, then: &str) -> String {
    do_block("", &format!("IF {condition} THEN\n{then}\nEND IF;"))
}

/// `then` when `condition` holds, where `condition` may use `catalog_text`: the one text
/// `query` returns, read with `search_path = pg_catalog` so that names print qualified exactly
/// as in the snapshot (the session's own search_path is put back before `then` runs).
pub(super) fn when_catalog(query: &str, condition: &str, then: &str) -> String {
    do_block(
        "saved_path text := pg_catalog.current_setting('search_path');\ncatalog_text text;",
        &format!(
            "PERFORM pg_catalog.set_config('search_path', 'pg_catalog', true);\n\
             catalog_text := ({query});\n\
             PERFORM pg_catalog.set_config('search_path', saved_path, true);\n\
             IF {condition} THEN\n{then}\nEND IF;"
        ),
    )
}

/// "Column `column` of table `table` exists and `extra` holds for it (alias `a`, a
/// `pg_attribute` row)."
pub(super) fn column_where(table: &str, column: &str, extra: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = pg_catalog.to_regclass({}) \
         AND a.attname = {} AND NOT a.attisdropped AND {extra})",
        reg(table),
        literal(column)
    )
}

/// "Table `table` has a constraint named `name`."
pub(super) fn constraint_exists(table: &str, name: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c \
         WHERE c.conrelid = pg_catalog.to_regclass({}) AND c.conname = {})",
        reg(table),
        literal(name)
    )
}

/// The SQL twin of the snapshot's normalisation of definitions (trailing blanks per line and
/// around the whole text removed), so a catalog definition compares with a snapshot's.
pub(super) fn normalised(expr: &str) -> String {
    format!(
        "pg_catalog.btrim(pg_catalog.regexp_replace({expr}, '[ \\t\\r]+\\n', E'\\n', 'g'), E' \\t\\r\\n')"
    )
}

/// The condition "the catalog text is there and is not `expected`".
pub(super) fn differs(expected: &str) -> String {
    format!(
        "catalog_text IS NOT NULL AND catalog_text IS DISTINCT FROM {}",
        literal(expected)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_cannot_be_broken_out_of() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal(r"a\b'"), r"E'a\\b'''");
        assert_eq!(qname("public.User"), "\"public\".\"User\"");
        assert_eq!(pg_qname("public.User"), "public.\"User\"");
        assert_eq!(pg_qname("public.user_role"), "public.user_role");
    }

    #[test]
    fn dollar_tags_avoid_the_body() {
        let block = do_block("", "RAISE NOTICE '$gate$';");
        assert!(block.starts_with("DO $gate1$\n"), "{block}");
        assert!(block.ends_with("$gate1$;"), "{block}");
    }
}
