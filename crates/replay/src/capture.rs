//! Captured SQL: the statements a fix really executed on its scratch database, as the server
//! saw them.
//!
//! Why event triggers: `ddl_command_end` and `sql_drop` fire inside the statement, in the
//! fix's own session and transaction, for every backend (docker, local, url) without a server
//! restart or a preloaded library (`pg_stat_statements` needs `shared_preload_libraries` and
//! normalises constants away; a statement log needs access to the server's files). The trigger
//! records `current_query()` (the exact text the client sent) with each object
//! `pg_event_trigger_ddl_commands()` / `pg_event_trigger_dropped_objects()` reports, so a
//! statement inside a transaction the fix rolled back is gone with it: only what really took
//! effect is listed. Data statements fire no event trigger: a statement-level trigger on every
//! table that exists before the fix, and on every table the fix creates (added by the DDL
//! event trigger right after its `CREATE TABLE`), records them (`INSERT`, `UPDATE`, `DELETE`,
//! `TRUNCATE` with the table), with the same `current_query()`; rows a `CREATE TABLE … AS`
//! writes are part of that statement, not seen apart. Creating an event trigger needs a superuser:
//! elsewhere the capture is reported as unavailable, never guessed.
//!
//! Everything lives in the schema `gate_capture`, installed just before the fix and dropped
//! (triggers first) right after it, so no snapshot of the path ever sees it.

use serde::Serialize;
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

const INSTALL: &str = r#"
CREATE SCHEMA gate_capture;
CREATE TABLE gate_capture.statements (
    seq bigserial PRIMARY KEY,
    query text,
    command_tag text NOT NULL,
    object_type text,
    object_identity text
);
CREATE FUNCTION gate_capture.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $gate$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
        -- The capture's own trigger on a table the fix created (below) is not the fix's.
        IF r.schema_name IS DISTINCT FROM 'gate_capture'
           AND NOT (r.object_type = 'trigger' AND r.object_identity LIKE 'gate_capture_dml on %') THEN
            INSERT INTO gate_capture.statements (query, command_tag, object_type, object_identity)
            VALUES (current_query(), r.command_tag, r.object_type, r.object_identity);
        END IF;
        -- A table the fix creates gets the data trigger too, so rows it then writes there
        -- (a lookup table and its rows) are captured like rows in older tables.
        IF r.command_tag = 'CREATE TABLE' AND r.object_type = 'table' THEN
            EXECUTE format('CREATE TRIGGER gate_capture_dml AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
                           'FOR EACH STATEMENT EXECUTE FUNCTION gate_capture.on_dml()', r.object_identity);
        END IF;
    END LOOP;
END
$gate$;
CREATE FUNCTION gate_capture.on_drop() RETURNS event_trigger LANGUAGE plpgsql AS $gate$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() WHERE original LOOP
        INSERT INTO gate_capture.statements (query, command_tag, object_type, object_identity)
        VALUES (current_query(), tg_tag, r.object_type, r.object_identity);
    END LOOP;
END
$gate$;
CREATE FUNCTION gate_capture.on_dml() RETURNS trigger LANGUAGE plpgsql AS $gate$
BEGIN
    INSERT INTO gate_capture.statements (query, command_tag, object_type, object_identity)
    VALUES (current_query(), TG_OP, 'table data', format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME));
    RETURN NULL;
END
$gate$;
DO $gate$
DECLARE r record;
BEGIN
    FOR r IN SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
               AND n.nspname NOT IN ('information_schema', 'gate_capture') AND n.nspname !~ '^pg_'
    LOOP
        EXECUTE format('CREATE TRIGGER gate_capture_dml AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION gate_capture.on_dml()', r.nspname, r.relname);
    END LOOP;
END
$gate$;
CREATE EVENT TRIGGER gate_capture_ddl ON ddl_command_end EXECUTE FUNCTION gate_capture.on_ddl();
CREATE EVENT TRIGGER gate_capture_drop ON sql_drop EXECUTE FUNCTION gate_capture.on_drop();
"#;

// Event triggers first, so dropping the schema is not itself recorded; CASCADE takes the
// statement triggers on the tables with their function.
const REMOVE: &str = "DROP EVENT TRIGGER IF EXISTS gate_capture_ddl; \
     DROP EVENT TRIGGER IF EXISTS gate_capture_drop; \
     DROP SCHEMA IF EXISTS gate_capture CASCADE;";

/// One row of `gate_capture.statements`: query, command tag, object type, object identity.
type Row = (Option<String>, String, Option<String>, Option<String>);

/// One object a captured statement created, altered or dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Command {
    /// `CREATE TABLE`, `ALTER TYPE`, `DROP INDEX`, ...
    pub tag: String,
    pub object_type: String,
    pub identity: String,
}

/// One statement as the client sent it, and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Statement {
    pub query: String,
    pub commands: Vec<Command>,
}

/// What the capture of one fix gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Captured {
    Statements(Vec<Statement>),
    /// The capture could not be installed or read; the text says why.
    Unavailable(String),
}

async fn connect(url: &str) -> Result<PgConnection, String> {
    PgConnection::connect(url).await.map_err(|e| e.to_string())
}

fn db_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    }
}

/// Install the capture on the database at `url`. `Err(why)` when the server refuses (an event
/// trigger needs a superuser); nothing is left behind then.
pub(crate) async fn install(url: &str) -> Result<(), String> {
    let mut c = connect(url).await?;
    // One transaction: a refused CREATE EVENT TRIGGER leaves no half-installed schema.
    let sql = format!("BEGIN; {INSTALL} COMMIT;");
    let r = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut c)
        .await;
    let _ = c.close().await;
    r.map(|_| ()).map_err(|e| db_error(&e))
}

/// Read what was captured, in the order it happened, and remove the capture.
pub(crate) async fn collect_and_remove(url: &str) -> Result<Vec<Statement>, String> {
    let mut c = connect(url).await?;
    let rows: Result<Vec<Row>, _> = sqlx::query_as(
        "SELECT query, command_tag, object_type, object_identity \
             FROM gate_capture.statements ORDER BY seq",
    )
    .fetch_all(&mut c)
    .await;
    let removed = sqlx::raw_sql(REMOVE).execute(&mut c).await;
    let _ = c.close().await;
    let rows = rows.map_err(|e| db_error(&e))?;
    removed.map_err(|e| format!("cannot remove the statement capture: {}", db_error(&e)))?;
    Ok(group(rows))
}

/// Consecutive rows of the same statement text become one [`Statement`].
fn group(rows: Vec<Row>) -> Vec<Statement> {
    let mut out: Vec<Statement> = Vec::new();
    for (query, tag, object_type, identity) in rows {
        let query = query.unwrap_or_default().trim().to_string();
        let command = Command {
            tag,
            object_type: object_type.unwrap_or_default(),
            identity: identity.unwrap_or_default(),
        };
        match out.last_mut() {
            Some(last) if last.query == query => {
                if !last.commands.contains(&command) {
                    last.commands.push(command);
                }
            }
            _ => out.push(Statement {
                query,
                commands: vec![command],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_one_statement_are_grouped_in_order() {
        let row = |q: &str, tag: &str, id: &str| {
            (
                Some(q.to_string()),
                tag.to_string(),
                Some("table".to_string()),
                Some(id.to_string()),
            )
        };
        let got = group(vec![
            row("CREATE TABLE a (id serial)", "CREATE TABLE", "public.a"),
            row(
                "CREATE TABLE a (id serial)",
                "CREATE SEQUENCE",
                "public.a_id_seq",
            ),
            row("ALTER TABLE a ADD x int", "ALTER TABLE", "public.a"),
            row("CREATE TABLE a (id serial)", "CREATE TABLE", "public.a"),
        ]);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].commands.len(), 2);
        assert_eq!(got[1].query, "ALTER TABLE a ADD x int");
    }
}
