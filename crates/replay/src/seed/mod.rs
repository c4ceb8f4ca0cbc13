//! The row generator of the seeded pass (R009): tops every user table up to `rows` rows with
//! values generated from the catalog (types, enum labels, domains, keys, foreign keys,
//! checks). Columns without a unique constraint repeat values and hold NULLs where they may,
//! as production data does, so a later unique index or SET NOT NULL fails as it would there.
//! The server is the judge: each row is inserted under a savepoint, a refused row is retried
//! with other values and, when every variant is refused, dropped and reported with the
//! server's reason, never silently.

mod catalog;
#[cfg(test)]
mod tests;
mod values;

use std::collections::BTreeMap;

use sqlx::{PgConnection, Row as _};

use catalog::{Table, ident, literal};

/// Values tried per row before it is dropped.
const VARIANTS: u32 = 4;
/// Reasons kept per table (the first ones; more would repeat them).
const REASONS: usize = 3;

/// What the generator did to one table.
#[derive(Debug, Clone, Default)]
pub(crate) struct TableSeeding {
    /// `schema.table`.
    pub table: String,
    /// Rows inserted now.
    pub inserted: u64,
    /// Rows the server refused in every variant.
    pub dropped: u64,
    /// Why (SQLSTATE and the server's message, or a missing parent row).
    pub reasons: Vec<String>,
}

/// One top-up of a database: only tables that needed rows are listed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Seeding {
    pub tables: Vec<TableSeeding>,
}

impl Seeding {
    pub fn inserted(&self) -> u64 {
        self.tables.iter().map(|t| t.inserted).sum()
    }
}

/// Top every user table of the database on `conn` (except the runner's `skip` tables) up to
/// `rows` rows, in one transaction. An error is the database failing, not a refused row.
#[cfg(test)]
pub(crate) async fn top_up(
    conn: &mut PgConnection,
    rows: u64,
    skip: &[&str],
) -> Result<Seeding, sqlx::Error> {
    Seeder::default().top_up(conn, rows, skip).await
}

/// Tops tables up as they appear along a chain: a table is seeded once, before the first
/// migration after it appears (its OID is new). Reading the catalog and counting rows of
/// every table before every migration would cost O(tables) per revision; and rows a later
/// migration deletes are not put back, as production does not get them back either.
#[derive(Debug, Default)]
pub(crate) struct Seeder {
    seen: std::collections::BTreeSet<i64>,
}

impl Seeder {
    /// Top up the tables not seen before: one catalog read (which tables are new and what
    /// they are), and when one needs rows, one round trip that inserts them all (retries
    /// only when the server refuses a row).
    pub(crate) async fn top_up(
        &mut self,
        conn: &mut PgConnection,
        rows: u64,
        skip: &[&str],
    ) -> Result<Seeding, sqlx::Error> {
        let seen: Vec<i64> = self.seen.iter().copied().collect();
        let read = catalog::read(conn, skip, &seen).await?;
        if read.oids.is_empty() {
            return Ok(Seeding::default());
        }
        let seeding = fill(conn, rows, &read).await?;
        self.seen.extend(read.oids);
        Ok(seeding)
    }
}

/// Top the tables of `read` up to `rows` rows, in one transaction.
async fn fill(
    conn: &mut PgConnection,
    rows: u64,
    read: &catalog::Read,
) -> Result<Seeding, sqlx::Error> {
    let order = catalog::dependency_order(&read.tables);
    // Only tables that may hold rows are counted; the others hold none.
    let maybe: Vec<&Table> = order
        .iter()
        .copied()
        .filter(|t| read.maybe_rows.contains(&t.display()))
        .collect();
    let counted: BTreeMap<String, u64> = maybe
        .iter()
        .map(|t| t.display())
        .zip(counts(conn, &maybe, rows).await?)
        .collect();
    let todo: Vec<(&Table, u64)> = order
        .iter()
        .map(|t| (*t, counted.get(&t.display()).copied().unwrap_or(0)))
        .filter(|(_, have)| *have < rows)
        .collect();
    let mut seeding = Seeding::default();
    if todo.is_empty() {
        return Ok(seeding);
    }
    // The BEGIN goes with the first statement of the transaction, the COMMIT with the last
    // table's rows when they all go in at once (a round trip each saved).
    let mut tx = Tx { begun: false };
    let last = todo.len() - 1;
    let result = async {
        for (i, (table, have)) in todo.iter().enumerate() {
            seeding
                .tables
                .push(seed_table(conn, &mut tx, table, *have, rows, i == last).await?);
        }
        if tx.begun {
            sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        if tx.begun {
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
        }
        return Err(e);
    }
    Ok(seeding)
}

/// Whether the seeding's transaction is open (`BEGIN` sent).
struct Tx {
    begun: bool,
}

impl Tx {
    /// `BEGIN; ` when the transaction is still to be opened by the next statement.
    fn begin(&mut self) -> &'static str {
        if std::mem::replace(&mut self.begun, true) {
            ""
        } else {
            "BEGIN; "
        }
    }
}

/// Rows of each table, counted up to `cap` (only whether a table needs more matters).
async fn counts(
    conn: &mut PgConnection,
    tables: &[&Table],
    cap: u64,
) -> Result<Vec<u64>, sqlx::Error> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "(SELECT count(*) FROM (SELECT 1 FROM {} LIMIT {cap}) s)",
                t.sql_name()
            )
        })
        .collect();
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT ARRAY[{}]::int8[]",
        parts.join(", ")
    )))
    // one-off text: not kept as a prepared statement
    .persistent(false)
    .fetch_one(&mut *conn)
    .await?;
    let counts: Vec<i64> = row.try_get(0)?;
    Ok(counts.into_iter().map(|c| c.max(0) as u64).collect())
}

/// Exact row counts of `tables` (`schema.table`), for a finding.
pub(crate) async fn exact_counts(
    conn: &mut PgConnection,
    tables: &[String],
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut out = Vec::new();
    for t in tables {
        let (schema, name) = t.split_once('.').unwrap_or(("public", t));
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}.{}",
            ident(schema),
            ident(name)
        )))
        .fetch_one(&mut *conn)
        .await?;
        out.push((t.clone(), n));
    }
    Ok(out)
}

/// Empty every user table (one `TRUNCATE … CASCADE`): the seeded pass's way past a released
/// migration that production ran on rows of its own.
pub(crate) async fn empty_all(conn: &mut PgConnection, skip: &[&str]) -> Result<(), sqlx::Error> {
    let tables: Vec<String> = catalog::read(conn, skip, &[])
        .await?
        .tables
        .into_values()
        .map(|t| {
            let display = t.display();
            let (schema, name) = display.split_once('.').unwrap_or(("public", &display));
            format!("{}.{}", ident(schema), ident(name))
        })
        .collect();
    if tables.is_empty() {
        return Ok(());
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "TRUNCATE {} CASCADE",
        tables.join(", ")
    )))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// User tables of the database (`schema.table`, bare name), for matching names in messages.
pub(crate) async fn table_names(
    conn: &mut PgConnection,
    skip: &[&str],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    Ok(catalog::read(conn, skip, &[])
        .await?
        .tables
        .into_values()
        .map(|t| (t.display(), t.name))
        .collect())
}

/// Parent key values of a foreign key, as text (cast to the child's column types on insert).
async fn parent_keys(
    conn: &mut PgConnection,
    fk: &catalog::ForeignKey,
) -> Result<Vec<Vec<String>>, sqlx::Error> {
    let (schema, name) = fk.parent.split_once('.').unwrap_or(("public", &fk.parent));
    let cols: Vec<String> = fk.parent_columns.iter().map(|c| ident(c)).collect();
    let sql = format!(
        "SELECT ARRAY[{}] FROM {}.{} WHERE {} LIMIT 1000",
        cols.iter()
            .map(|c| format!("{c}::text"))
            .collect::<Vec<_>>()
            .join(", "),
        ident(schema),
        ident(name),
        cols.iter()
            .map(|c| format!("{c} IS NOT NULL"))
            .collect::<Vec<_>>()
            .join(" AND "),
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .persistent(false)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// Insert rows `have..rows` of `table` in the seeding's transaction `tx`; `last`: no table
/// comes after it (its rows go in with the COMMIT when none is refused).
async fn seed_table(
    conn: &mut PgConnection,
    tx: &mut Tx,
    table: &Table,
    have: u64,
    rows: u64,
    last: bool,
) -> Result<TableSeeding, sqlx::Error> {
    let mut out = TableSeeding {
        table: table.display(),
        ..TableSeeding::default()
    };
    let own = table.display();
    let mut parents = Vec::new();
    for fk in &table.foreign_keys {
        let keys = if fk.parent == own {
            Vec::new()
        } else {
            // inside the transaction: a parent seeded just before is not committed yet
            if !tx.begun {
                sqlx::raw_sql(tx.begin()).execute(&mut *conn).await?;
            }
            parent_keys(conn, fk).await?
        };
        parents.push(keys);
    }
    let checks: Vec<&String> = table
        .checks
        .iter()
        .chain(table.columns.iter().flat_map(|c| &c.domain_checks))
        .collect();
    let hints: BTreeMap<&str, Vec<String>> = table
        .columns
        .iter()
        .map(|c| (c.name.as_str(), values::hints(&c.name, &checks)))
        .collect();
    // First all rows in their first variant, in one round trip: what nearly every table
    // takes. Only when the server refuses one is each row tried on its own.
    let first: Result<Vec<String>, String> = (have..rows)
        .map(|i| insert(table, &parents, &hints, i, rows, 0))
        .collect();
    if let Ok(statements) = first {
        let batch = format!(
            "{}SAVEPOINT gate_seed; {}; RELEASE SAVEPOINT gate_seed{}",
            tx.begin(),
            statements.join("; "),
            if last { "; COMMIT" } else { "" }
        );
        if sqlx::raw_sql(sqlx::AssertSqlSafe(batch))
            .execute(&mut *conn)
            .await
            .is_ok()
        {
            if last {
                tx.begun = false;
            }
            out.inserted = rows - have;
            return Ok(out);
        }
        sqlx::raw_sql("ROLLBACK TO SAVEPOINT gate_seed")
            .execute(&mut *conn)
            .await?;
    }
    for i in have..rows {
        let mut last = String::new();
        let mut done = false;
        for variant in 0..VARIANTS {
            let sql = match insert(table, &parents, &hints, i, rows, variant) {
                Ok(sql) => sql,
                Err(why) => {
                    last = why;
                    break;
                }
            };
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "{}SAVEPOINT gate_seed",
                tx.begin()
            )))
            .execute(&mut *conn)
            .await?;
            match sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await
            {
                Ok(_) => {
                    sqlx::raw_sql("RELEASE SAVEPOINT gate_seed")
                        .execute(&mut *conn)
                        .await?;
                    done = true;
                    break;
                }
                Err(e) => {
                    sqlx::raw_sql("ROLLBACK TO SAVEPOINT gate_seed")
                        .execute(&mut *conn)
                        .await?;
                    last = refused(&e);
                }
            }
        }
        if done {
            out.inserted += 1;
        } else {
            out.dropped += 1;
            if out.reasons.len() < REASONS && !out.reasons.contains(&last) {
                out.reasons.push(last);
            }
        }
    }
    Ok(out)
}

/// The server's refusal in one line: `23514: new row ... violates check constraint "..."`.
fn refused(e: &sqlx::Error) -> String {
    match e.as_database_error() {
        Some(d) => format!("{}: {}", d.code().as_deref().unwrap_or("?"), d.message()),
        None => e.to_string(),
    }
}

/// The INSERT of row `i` in `variant`, or why no such row can be made.
fn insert(
    table: &Table,
    parents: &[Vec<Vec<String>>],
    hints: &BTreeMap<&str, Vec<String>>,
    i: u64,
    rows: u64,
    variant: u32,
) -> Result<String, String> {
    let mut set: BTreeMap<&str, String> = BTreeMap::new();
    let column = |name: &str| table.columns.iter().find(|c| c.name == name);
    // Foreign keys first: their columns take the parent's values (or NULL).
    for (fk, keys) in table.foreign_keys.iter().zip(parents) {
        let nullable = fk
            .columns
            .iter()
            .all(|c| column(c).is_some_and(|c| !c.not_null));
        if keys.is_empty() {
            if nullable {
                for c in &fk.columns {
                    set.insert(c, "NULL".into());
                }
                continue;
            }
            return Err(format!(
                "no row in {} to reference (foreign key {})",
                fk.parent,
                fk.columns.join(", ")
            ));
        }
        let row = &keys[((i + u64::from(variant)) % keys.len() as u64) as usize];
        for (c, v) in fk.columns.iter().zip(row) {
            if let Some(col) = column(c) {
                set.insert(c, format!("{}::{}", literal(v), col.declared));
            }
        }
    }
    for col in &table.columns {
        if col.computed || set.contains_key(col.name.as_str()) {
            continue;
        }
        let unique = table.is_unique(&col.name);
        // A default is the application's own value: keep it, unless retries need others.
        if col.has_default && (variant == 0 || !unique) {
            continue;
        }
        if !unique && !col.not_null && rows >= 2 && i == rows - 1 && variant < 2 {
            set.insert(&col.name, "NULL".into());
            continue;
        }
        let key = if unique { i } else { i % 2 };
        let hints = hints.get(col.name.as_str()).map_or(&[][..], Vec::as_slice);
        if let Some(v) = values::value(col, key, variant, hints) {
            set.insert(&col.name, format!("({v})::{}", col.declared));
        }
    }
    if set.is_empty() {
        return Ok(format!("INSERT INTO {} DEFAULT VALUES", table.sql_name()));
    }
    let (names, vals): (Vec<String>, Vec<String>) =
        set.into_iter().map(|(k, v)| (ident(k), v)).unzip();
    Ok(format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.sql_name(),
        names.join(", "),
        vals.join(", ")
    ))
}
