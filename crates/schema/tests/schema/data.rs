//! Row digests of real databases, checked against what plain SQL says of the same tables.

use gate_schema::{DataSnapshot, TableData};
use gate_testdb::{TestDb, exec};
use sqlx::Connection;

/// Count and hash of one table as plain SQL computes them (the digest's definition).
async fn by_hand(url: &str, table: &str) -> TableData {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let (rows, hash): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') \
         FROM {table} t"
    )))
    .fetch_one(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();
    TableData { rows, hash }
}

#[tokio::test]
async fn tables_never_written_emptied_and_filled_read_as_plain_sql_says() {
    let db = TestDb::new(
        "CREATE TABLE never (id int);
         CREATE TABLE emptied (id int);
         INSERT INTO emptied VALUES (1), (2);
         DELETE FROM emptied;
         CREATE TABLE filled (id int, note text);
         INSERT INTO filled VALUES (2, 'b'), (1, 'a');
         CREATE TABLE alembic_version (version_num text);
         INSERT INTO alembic_version VALUES ('abc');",
    )
    .await;
    let data = DataSnapshot::capture(&db.url, &["alembic_version"])
        .await
        .unwrap();
    for table in ["never", "emptied", "filled"] {
        assert_eq!(
            data.tables[&format!("public.{table}")],
            by_hand(&db.url, table).await,
            "{table}"
        );
    }
    assert_eq!(data.tables["public.filled"].rows, 2);
    assert!(!data.tables.contains_key("public.alembic_version"));
    // Emptied again reads as never filled: the digest is of rows, not of pages.
    exec(&db.url, "DELETE FROM filled").await;
    let after = DataSnapshot::capture(&db.url, &[]).await.unwrap();
    assert_eq!(after.tables["public.filled"], after.tables["public.never"]);
    assert_eq!(after.tables["public.alembic_version"].rows, 1);
}
