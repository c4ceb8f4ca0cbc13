//! The catalog queries, one per object kind, as constants: every query lists user objects
//! only (no catalog schemas, no extension members) and is set-based, never one per table.

/// Schemas we never list: the catalog, information_schema and everything named `pg_*`
/// (toast, temp), which users cannot create themselves.
macro_rules! user_ns {
    ($alias:literal) => {
        concat!(
            $alias,
            ".nspname <> 'information_schema' AND ",
            $alias,
            ".nspname !~ '^pg_'"
        )
    };
}

/// Objects that belong to an extension are attributed to the extension, not listed one by one.
macro_rules! not_ext {
    ($catalog:literal, $oid:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dx WHERE dx.classid = '",
            $catalog,
            "'::regclass AND dx.objid = ",
            $oid,
            " AND dx.deptype = 'e')"
        )
    };
}

const SCHEMAS: &str = concat!(
    "SELECT n.nspname::text FROM pg_namespace n WHERE ",
    user_ns!("n"),
    " AND ",
    not_ext!("pg_namespace", "n.oid")
);

const EXTENSIONS: &str = "SELECT e.extname::text, n.nspname::text, e.extversion::text \
     FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace";

const TABLES: &str = concat!(
    "SELECT n.nspname::text, c.relname::text, c.relkind::text, ",
    "CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END, ",
    "(SELECT pn.nspname || '.' || pc.relname FROM pg_inherits i ",
    "  JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace ",
    "  WHERE i.inhrelid = c.oid AND c.relispartition), ",
    "CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END ",
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ",
    "WHERE c.relkind IN ('r', 'p', 'f') AND ",
    user_ns!("n"),
    " AND ",
    not_ext!("pg_class", "c.oid")
);

const COLUMNS: &str = concat!(
    "SELECT n.nspname::text, c.relname::text, a.attname::text, ",
    "format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity::text, ",
    "a.attgenerated::text, ",
    // Only generated columns refer to other columns; plain defaults cannot, and deparsing them
    // without the relation (relid 0) skips opening every table, a third of this query's time.
    "pg_get_expr(ad.adbin, CASE WHEN a.attgenerated <> '' THEN ad.adrelid ELSE 0 END), ",
    "CASE WHEN a.attcollation <> t.typcollation THEN ",
    "  (SELECT CASE WHEN cn.nspname = 'pg_catalog' THEN co.collname::text ",
    "   ELSE cn.nspname || '.' || co.collname END ",
    "   FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace ",
    "   WHERE co.oid = a.attcollation) END ",
    "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid ",
    "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid ",
    "LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum ",
    "WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f') AND ",
    user_ns!("n"),
    " AND ",
    not_ext!("pg_class", "c.oid"),
    " ORDER BY a.attrelid, a.attnum"
);

const CONSTRAINTS: &str = concat!(
    "SELECT n.nspname::text, c.relname::text, con.conname::text, con.contype::text, ",
    "pg_get_constraintdef(con.oid) ",
    "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid ",
    "JOIN pg_namespace n ON n.oid = c.relnamespace ",
    "WHERE c.relkind IN ('r', 'p', 'f') AND ",
    user_ns!("n"),
    " AND ",
    not_ext!("pg_class", "c.oid")
);

const VIEWS: &str = concat!(
    "SELECT n.nspname::text, c.relname::text, c.relkind::text, pg_get_viewdef(c.oid) ",
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ",
    "WHERE c.relkind IN ('v', 'm') AND ",
    user_ns!("n"),
    " AND ",
    not_ext!("pg_class", "c.oid")
);

// An index that backs a primary key, unique or exclusion constraint is fully described by
// pg_get_constraintdef (columns, INCLUDE, WITH, tablespace); deparsing it twice was a third of
// the time on a large schema, so it names its constraint instead.
const INDEXES: &str = concat!(
    "SELECT n.nspname::text, ic.relname::text, tn.nspname || '.' || tc.relname, ",
    "CASE WHEN con.oid IS NULL THEN pg_get_indexdef(i.indexrelid) END, con.conname::text ",
    "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid ",
    "JOIN pg_namespace n ON n.oid = ic.relnamespace ",
    "JOIN pg_class tc ON tc.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace ",
    "LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid ",
    "  AND con.contype IN ('p', 'u', 'x') ",
    "WHERE ",
    user_ns!("tn"),
    " AND ",
    not_ext!("pg_class", "tc.oid")
);

const SEQUENCES: &str = concat!(
    "SELECT n.nspname::text, c.relname::text, format_type(s.seqtypid, NULL), s.seqstart, ",
    "s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, ",
    "(SELECT tn.nspname || '.' || tc.relname || '.' || a.attname FROM pg_depend d ",
    "  JOIN pg_class tc ON tc.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace ",
    "  JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid ",
    "  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid ",
    "  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') ",
    "  AND d.refobjsubid > 0 ORDER BY 1 LIMIT 1) ",
    "FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid ",
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ",
    user_ns!("n"),
    " AND ",
    not_ext!("pg_class", "c.oid")
);

const ENUMS: &str = concat!(
    "SELECT n.nspname::text, t.typname::text, ",
    "COALESCE(array_agg(e.enumlabel::text ORDER BY e.enumsortorder) ",
    "  FILTER (WHERE e.enumlabel IS NOT NULL), '{}'::text[]) ",
    "FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace ",
    "LEFT JOIN pg_enum e ON e.enumtypid = t.oid ",
    "WHERE t.typtype = 'e' AND ",
    user_ns!("n"),
    " AND ",
    not_ext!("pg_type", "t.oid"),
    " GROUP BY 1, 2"
);

const DOMAINS: &str = concat!(
    "SELECT n.nspname::text, t.typname::text, format_type(t.typbasetype, t.typtypmod), ",
    "t.typnotnull, t.typdefault, ",
    "CASE WHEN t.typcollation <> bt.typcollation THEN ",
    "  (SELECT CASE WHEN cn.nspname = 'pg_catalog' THEN co.collname::text ",
    "   ELSE cn.nspname || '.' || co.collname END ",
    "   FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace ",
    "   WHERE co.oid = t.typcollation) END ",
    "FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace ",
    "JOIN pg_type bt ON bt.oid = t.typbasetype ",
    "WHERE t.typtype = 'd' AND ",
    user_ns!("n"),
    " AND ",
    not_ext!("pg_type", "t.oid")
);

const DOMAIN_CHECKS: &str = concat!(
    "SELECT n.nspname::text, t.typname::text, con.conname::text, pg_get_constraintdef(con.oid) ",
    "FROM pg_constraint con JOIN pg_type t ON t.oid = con.contypid ",
    "JOIN pg_namespace n ON n.oid = t.typnamespace ",
    "WHERE con.contypid <> 0 AND con.contype = 'c' AND ",
    user_ns!("n"),
    " AND ",
    not_ext!("pg_type", "t.oid")
);

const FUNCTIONS: &str = concat!(
    "SELECT n.nspname::text, p.proname::text, pg_get_function_identity_arguments(p.oid), ",
    "p.prokind::text, CASE WHEN p.prokind <> 'p' THEN pg_get_function_result(p.oid) END, ",
    "l.lanname::text, ",
    "CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid) END ",
    "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace ",
    "JOIN pg_language l ON l.oid = p.prolang WHERE ",
    user_ns!("n"),
    " AND ",
    not_ext!("pg_proc", "p.oid")
);

const TRIGGERS: &str = concat!(
    "SELECT n.nspname::text, c.relname::text, t.tgname::text, pg_get_triggerdef(t.oid), ",
    "t.tgenabled::text ",
    "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid ",
    "JOIN pg_namespace n ON n.oid = c.relnamespace ",
    "WHERE NOT t.tgisinternal AND ",
    user_ns!("n"),
    " AND ",
    not_ext!("pg_class", "c.oid")
);

/// The catalog queries, one per object kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Q {
    Schemas,
    Extensions,
    Tables,
    Columns,
    Constraints,
    Views,
    Indexes,
    Sequences,
    Enums,
    Domains,
    DomainChecks,
    Functions,
    Triggers,
}

impl Q {
    pub(crate) const ALL: [Q; 13] = [
        Q::Schemas,
        Q::Extensions,
        Q::Tables,
        Q::Columns,
        Q::Constraints,
        Q::Views,
        Q::Indexes,
        Q::Sequences,
        Q::Enums,
        Q::Domains,
        Q::DomainChecks,
        Q::Functions,
        Q::Triggers,
    ];

    /// How `capture` spreads the queries over parallel connections: index definitions are the
    /// most expensive part on a large schema, columns the next; the rest fills the third.
    pub(super) const GROUPS: [&'static [Q]; 3] = [
        &[Q::Indexes],
        &[Q::Columns, Q::Tables, Q::Schemas, Q::Extensions],
        &[
            Q::Constraints,
            Q::Views,
            Q::Sequences,
            Q::Enums,
            Q::Domains,
            Q::DomainChecks,
            Q::Functions,
            Q::Triggers,
        ],
    ];

    pub(crate) fn sql(self) -> &'static str {
        match self {
            Q::Schemas => SCHEMAS,
            Q::Extensions => EXTENSIONS,
            Q::Tables => TABLES,
            Q::Columns => COLUMNS,
            Q::Constraints => CONSTRAINTS,
            Q::Views => VIEWS,
            Q::Indexes => INDEXES,
            Q::Sequences => SEQUENCES,
            Q::Enums => ENUMS,
            Q::Domains => DOMAINS,
            Q::DomainChecks => DOMAIN_CHECKS,
            Q::Functions => FUNCTIONS,
            Q::Triggers => TRIGGERS,
        }
    }

    pub(super) fn kind(self) -> &'static str {
        match self {
            Q::Schemas => "schemas",
            Q::Extensions => "extensions",
            Q::Tables => "tables",
            Q::Columns => "columns",
            Q::Constraints => "constraints",
            Q::Views => "views",
            Q::Indexes => "indexes",
            Q::Sequences => "sequences",
            Q::Enums => "enums",
            Q::Domains => "domains",
            Q::DomainChecks => "domain constraints",
            Q::Functions => "functions",
            Q::Triggers => "triggers",
        }
    }
}
