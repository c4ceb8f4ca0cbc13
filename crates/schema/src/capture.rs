//! Reading a `Snapshot` from pg_catalog: one set-based query per object kind, all inside one
//! read-only, repeatable-read transaction so the queries agree with each other and the database
//! is never written.

use std::collections::BTreeMap;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{AssertSqlSafe, Connection, Row};

use crate::SchemaError;
use crate::model::{
    Column, Constraint, Domain, Enum, Extension, Function, Index, SchemaObject, Sequence, Snapshot,
    Table, Trigger, View,
};

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

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`, for error messages.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<database url>".to_owned(),
    }
}

pub(crate) async fn connect(url: &str) -> Result<PgConnection, SchemaError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(SchemaError::InvalidUrl {
            url: redact(url),
            reason: "not a postgres:// or postgresql:// URL".into(),
            source: None,
        });
    }
    let opts = PgConnectOptions::from_str(url).map_err(|e| SchemaError::InvalidUrl {
        url: redact(url),
        reason: e.to_string(),
        source: Some(e),
    })?;
    let opts = opts.application_name("gate-schema");
    PgConnection::connect_with(&opts)
        .await
        .map_err(|e| SchemaError::Connect {
            url: redact(url),
            source: e,
        })
}

fn q(kind: &str) -> impl Fn(sqlx::Error) -> SchemaError + '_ {
    move |e| SchemaError::query(format!("{kind} from pg_catalog"), e)
}

/// The catalog queries, one per object kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Q {
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
    const ALL: [Q; 13] = [
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
    const GROUPS: [&'static [Q]; 3] = [
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

    fn sql(self) -> &'static str {
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

    fn kind(self) -> &'static str {
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

async fn fetch_group(
    conn: &mut PgConnection,
    queries: &[Q],
) -> Result<Vec<(Q, Vec<PgRow>)>, SchemaError> {
    let mut out = Vec::with_capacity(queries.len());
    for &query in queries {
        let rows = sqlx::query(query.sql())
            .fetch_all(&mut *conn)
            .await
            .map_err(q(query.kind()))?;
        out.push((query, rows));
    }
    Ok(out)
}

fn take(rows: &mut [Vec<PgRow>], query: Q) -> Vec<PgRow> {
    std::mem::take(&mut rows[query as usize])
}

/// Decode every row of one catalog query with `f`; the first row that does not decode fails
/// the snapshot, naming the kind of object.
fn decode<T>(
    rows: Vec<PgRow>,
    kind: &'static str,
    f: impl Fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, SchemaError> {
    rows.iter().map(|row| f(row).map_err(q(kind))).collect()
}

fn qualified(row: &PgRow) -> Result<String, sqlx::Error> {
    let schema: String = row.try_get(0)?;
    let name: String = row.try_get(1)?;
    Ok(format!("{schema}.{name}"))
}

/// PostgreSQL pads function bodies inconsistently at line ends; only the text matters.
fn normalise_definition(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim().to_owned()
}

/// Repeatable read: every query sees the same catalog state. Read only: the reference database
/// is never written, even by accident.
const BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// A fixed search_path makes format_type, pg_get_*def and defaults qualify every user object the
/// same way in every database, whatever the role's own search_path is.
/// A lock timeout, because a reference database may be mid-migration: waiting behind an
/// ACCESS EXCLUSIVE lock for a minute is patience, forever would be a hung CI job.
async fn set_search_path(conn: &mut PgConnection) -> Result<(), SchemaError> {
    for sql in [
        "SET LOCAL search_path = pg_catalog",
        "SET LOCAL lock_timeout = '60s'",
    ] {
        sqlx::query(sql)
            .execute(&mut *conn)
            .await
            .map_err(q("session settings"))?;
    }
    Ok(())
}

pub(crate) async fn capture_with(conn: &mut PgConnection) -> Result<Snapshot, SchemaError> {
    let mut tx = conn
        .begin_with(BEGIN)
        .await
        .map_err(q("a read-only transaction"))?;
    set_search_path(&mut tx).await?;
    let snap = read_all(&mut tx).await?;
    // Nothing to keep; a rollback is the honest end of a read-only transaction.
    tx.rollback()
        .await
        .map_err(q("the end of the transaction"))?;
    Ok(snap)
}

/// Capture over three connections that share one exported snapshot (what `pg_dump -j` does):
/// the catalog functions that print definitions are the cost, and the server runs them in
/// parallel backends. Where snapshots cannot be shared (a pooler, no spare connection slots),
/// one connection reads everything.
pub(crate) async fn capture_url(url: &str) -> Result<Snapshot, SchemaError> {
    let mut main = connect(url).await?;
    let snap = match capture_parallel(&mut main, url).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => capture_with(&mut main).await,
        Err(e) => Err(e),
    };
    // Closing politely is a courtesy; the snapshot is what matters.
    let _ = main.close().await;
    snap
}

async fn capture_parallel(
    main: &mut PgConnection,
    url: &str,
) -> Result<Option<Snapshot>, SchemaError> {
    let mut tx = main
        .begin_with(BEGIN)
        .await
        .map_err(q("a read-only transaction"))?;
    set_search_path(&mut tx).await?;
    let id = match sqlx::query_scalar::<_, String>("SELECT pg_export_snapshot()")
        .fetch_one(&mut *tx)
        .await
    {
        // The id is server-made, e.g. 00000003-0000001B-1; anything else is not used in SQL.
        Ok(id) if id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') => id,
        _ => {
            let _ = tx.rollback().await;
            return Ok(None);
        }
    };
    let (h1, h2) = tokio::join!(helper(url, &id), helper(url, &id));
    let (Some(mut h1), Some(mut h2)) = (h1, h2) else {
        let _ = tx.rollback().await;
        return Ok(None);
    };
    let [g0, g1, g2] = Q::GROUPS;
    let (r0, r1, r2) = tokio::join!(
        fetch_group(&mut tx, g0),
        fetch_group(&mut h1, g1),
        fetch_group(&mut h2, g2)
    );
    for h in [h1, h2] {
        let _ = h.close().await;
    }
    tx.rollback()
        .await
        .map_err(q("the end of the transaction"))?;
    let mut all = r0?;
    all.extend(r1?);
    all.extend(r2?);
    assemble(all).map(Some)
}

/// A second connection inside the same snapshot as the first, or None when that cannot be had.
async fn helper(url: &str, snapshot_id: &str) -> Option<PgConnection> {
    let mut c = connect(url).await.ok()?;
    let setup = async {
        sqlx::query(BEGIN).execute(&mut c).await?;
        sqlx::query(AssertSqlSafe(format!(
            "SET TRANSACTION SNAPSHOT '{snapshot_id}'"
        )))
        .execute(&mut c)
        .await?;
        Ok::<_, sqlx::Error>(())
    }
    .await;
    let setup = match setup {
        Ok(()) => set_search_path(&mut c).await.map_err(|_| ()),
        Err(_) => Err(()),
    };
    match setup {
        Ok(()) => Some(c),
        Err(_) => {
            let _ = c.close().await;
            None
        }
    }
}

async fn read_all(conn: &mut PgConnection) -> Result<Snapshot, SchemaError> {
    let rows = fetch_group(conn, &Q::ALL).await?;
    assemble(rows)
}

// TODO(issue 13): over clippy.toml's too-many-lines-threshold; split it, do not add to it.
#[allow(clippy::too_many_lines)]
fn assemble(fetched: Vec<(Q, Vec<PgRow>)>) -> Result<Snapshot, SchemaError> {
    let mut rows: Vec<Vec<PgRow>> = (0..Q::ALL.len()).map(|_| Vec::new()).collect();
    for (q, r) in fetched {
        rows[q as usize] = r;
    }
    let mut s = Snapshot::default();

    for row in take(&mut rows, Q::Schemas) {
        s.schemas
            .insert(row.try_get(0).map_err(q("schemas"))?, SchemaObject {});
    }

    for (name, ext) in decode(take(&mut rows, Q::Extensions), "extensions", |row| {
        Ok((
            row.try_get::<String, _>(0)?,
            Extension {
                schema: row.try_get(1)?,
                version: row.try_get(2)?,
            },
        ))
    })? {
        s.extensions.insert(name, ext);
    }

    for (name, table) in decode(take(&mut rows, Q::Tables), "tables", |row| {
        let kind: String = row.try_get(2)?;
        Ok((
            qualified(row)?,
            Table {
                kind: match kind.as_str() {
                    "p" => "partitioned",
                    "f" => "foreign",
                    _ => "table",
                }
                .to_owned(),
                partition_key: row.try_get(3)?,
                partition_of: row.try_get(4)?,
                partition_bound: row.try_get(5)?,
                columns: Vec::new(),
                constraints: BTreeMap::new(),
            },
        ))
    })? {
        s.tables.insert(name, table);
    }

    for (table, column) in decode(take(&mut rows, Q::Columns), "columns", |row| {
        let identity: String = row.try_get(5)?;
        let generated: String = row.try_get(6)?;
        let expr: Option<String> = row.try_get(7)?;
        let (default, generated) = if generated.is_empty() {
            (expr, None)
        } else {
            (None, expr)
        };
        Ok((
            qualified(row)?,
            Column {
                name: row.try_get(2)?,
                data_type: row.try_get(3)?,
                not_null: row.try_get(4)?,
                default,
                identity: match identity.as_str() {
                    "a" => Some("always".to_owned()),
                    "d" => Some("by default".to_owned()),
                    _ => None,
                },
                generated,
                collation: row.try_get(8)?,
            },
        ))
    })? {
        // The table list and this query read the same catalog state, so a miss cannot happen;
        // skipping is still safer than panicking on a reference database.
        if let Some(t) = s.tables.get_mut(&table) {
            t.columns.push(column);
        }
    }

    for (table, name, con) in decode(take(&mut rows, Q::Constraints), "constraints", |row| {
        let kind: String = row.try_get(3)?;
        Ok((
            qualified(row)?,
            row.try_get::<String, _>(2)?,
            Constraint {
                kind: match kind.as_str() {
                    "p" => "primary key",
                    "f" => "foreign key",
                    "u" => "unique",
                    "c" => "check",
                    "x" => "exclusion",
                    "t" => "trigger",
                    "n" => "not null",
                    other => other,
                }
                .to_owned(),
                definition: row.try_get(4)?,
            },
        ))
    })? {
        if let Some(t) = s.tables.get_mut(&table) {
            t.constraints.insert(name, con);
        }
    }

    for (name, view) in decode(take(&mut rows, Q::Views), "views", |row| {
        let kind: String = row.try_get(2)?;
        Ok((
            qualified(row)?,
            View {
                kind: if kind == "m" {
                    "materialized view"
                } else {
                    "view"
                }
                .to_owned(),
                definition: normalise_definition(&row.try_get::<String, _>(3)?),
            },
        ))
    })? {
        s.views.insert(name, view);
    }

    for (name, index) in decode(take(&mut rows, Q::Indexes), "indexes", |row| {
        Ok((
            qualified(row)?,
            Index {
                table: row.try_get(2)?,
                definition: row.try_get(3)?,
                constraint: row.try_get(4)?,
            },
        ))
    })? {
        s.indexes.insert(name, index);
    }

    for (name, seq) in decode(take(&mut rows, Q::Sequences), "sequences", |row| {
        Ok((
            qualified(row)?,
            Sequence {
                data_type: row.try_get(2)?,
                start: row.try_get(3)?,
                increment: row.try_get(4)?,
                min: row.try_get(5)?,
                max: row.try_get(6)?,
                cache: row.try_get(7)?,
                cycle: row.try_get(8)?,
                owned_by: row.try_get(9)?,
            },
        ))
    })? {
        s.sequences.insert(name, seq);
    }

    for (name, en) in decode(take(&mut rows, Q::Enums), "enums", |row| {
        Ok((
            qualified(row)?,
            Enum {
                labels: row.try_get(2)?,
            },
        ))
    })? {
        s.enums.insert(name, en);
    }

    for (name, dom) in decode(take(&mut rows, Q::Domains), "domains", |row| {
        Ok((
            qualified(row)?,
            Domain {
                data_type: row.try_get(2)?,
                not_null: row.try_get(3)?,
                default: row.try_get(4)?,
                collation: row.try_get(5)?,
                checks: BTreeMap::new(),
            },
        ))
    })? {
        s.domains.insert(name, dom);
    }
    for (domain, name, def) in decode(
        take(&mut rows, Q::DomainChecks),
        "domain constraints",
        |row| {
            Ok((
                qualified(row)?,
                row.try_get::<String, _>(2)?,
                row.try_get::<String, _>(3)?,
            ))
        },
    )? {
        if let Some(d) = s.domains.get_mut(&domain) {
            d.checks.insert(name, def);
        }
    }

    for (name, f) in decode(take(&mut rows, Q::Functions), "functions", |row| {
        let args: String = row.try_get(2)?;
        let kind: String = row.try_get(3)?;
        let def: Option<String> = row.try_get(6)?;
        Ok((
            format!("{}({args})", qualified(row)?),
            Function {
                kind: match kind.as_str() {
                    "p" => "procedure",
                    "a" => "aggregate",
                    "w" => "window",
                    _ => "function",
                }
                .to_owned(),
                result: row.try_get(4)?,
                language: row.try_get(5)?,
                definition: def.as_deref().map(normalise_definition),
            },
        ))
    })? {
        s.functions.insert(name, f);
    }

    for (name, trg) in decode(take(&mut rows, Q::Triggers), "triggers", |row| {
        let table = qualified(row)?;
        let name: String = row.try_get(2)?;
        let enabled: String = row.try_get(4)?;
        Ok((
            format!("{table}.{name}"),
            Trigger {
                table,
                definition: row.try_get(3)?,
                enabled: match enabled.as_str() {
                    "D" => Some("disabled".to_owned()),
                    "R" => Some("replica".to_owned()),
                    "A" => Some("always".to_owned()),
                    _ => None,
                },
            },
        ))
    })? {
        s.triggers.insert(name, trg);
    }

    Ok(s)
}
