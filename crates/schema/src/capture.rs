//! Reading a `Snapshot` from pg_catalog: one set-based query per object kind, all inside one
//! read-only, repeatable-read transaction so the queries agree with each other and the database
//! is never written.

mod assemble;
mod queries;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{AssertSqlSafe, Connection};

use crate::SchemaError;
use crate::model::Snapshot;
use assemble::assemble;
pub(crate) use queries::Q;

/// A URL (or a message quoting one) with its password masked, for error messages: the
/// workspace's one redactor, `gate_report::redact`.
pub(crate) fn redact(url: &str) -> String {
    gate_report::redact::redact(url)
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

/// Repeatable read: every query sees the same catalog state. Read only: the reference database
/// is never written, even by accident.
pub(crate) const BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// A fixed search_path makes format_type, pg_get_*def and defaults qualify every user object the
/// same way in every database, whatever the role's own search_path is.
/// A lock timeout, because a reference database may be mid-migration: waiting behind an
/// ACCESS EXCLUSIVE lock for a minute is patience, forever would be a hung CI job.
pub(crate) const SEARCH_PATH: &str = "SET LOCAL search_path = pg_catalog";
pub(crate) const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '60s'";

async fn set_search_path(conn: &mut PgConnection) -> Result<(), SchemaError> {
    for sql in [SEARCH_PATH, LOCK_TIMEOUT] {
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
