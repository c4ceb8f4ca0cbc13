//! Scratch databases on a server: `CREATE DATABASE gate_replay_<random>` / `DROP DATABASE`
//! through a maintenance connection. For the `url` backend that server belongs to the user:
//! the maintenance connection only ever runs these two statements (and reads the version),
//! so the database the URL names is never written to.

use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor, Row};

use crate::BackendError;
use crate::connect::{self, quote_ident};

/// Connect to `admin_url`; errors name the host and user, never the password.
pub(crate) async fn connect_admin(admin_url: &str) -> Result<PgConnection, BackendError> {
    let opts = connect::options(admin_url)?;
    PgConnection::connect_with(&opts).await.map_err(|e| {
        BackendError::sql(
            format!(
                "could not connect to PostgreSQL at {}",
                connect::target(&opts)
            ),
            "; check --database-url (host, port, user, password, sslmode)",
            e,
        )
    })
}

/// The URL of database `name` on the same server, keeping credentials and parameters
/// (e.g. `sslmode`).
pub(crate) fn url_for(admin_url: &str, name: &str) -> Result<String, BackendError> {
    let mut u = url::Url::parse(admin_url).map_err(|source| BackendError::Url {
        url: crate::redact(admin_url),
        source,
    })?;
    u.set_path(&format!("/{name}"));
    Ok(u.to_string())
}

/// `CREATE DATABASE name TEMPLATE template`: `template0` for an empty database (nothing a
/// server admin added to template1 leaks into it), or a scratch database of ours to copy.
pub(crate) async fn create_database(
    admin_url: &str,
    name: &str,
    template: &str,
) -> Result<(), BackendError> {
    let mut conn = connect_admin(admin_url).await?;
    let sql = format!(
        "CREATE DATABASE {} TEMPLATE {}",
        quote_ident(name),
        quote_ident(template)
    );
    let mut r = conn.execute(sqlx::AssertSqlSafe(sql.clone())).await;
    // A template's last client (a runner that just exited) may still be disconnecting:
    // 55006 "source database is being accessed by other users" clears within milliseconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while let Err(e) = &r
        && e.as_database_error().and_then(|d| d.code()).as_deref() == Some("55006")
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        r = conn.execute(sqlx::AssertSqlSafe(sql.clone())).await;
    }
    let _ = conn.close().await;
    r.map(|_| ()).map_err(|e| {
        BackendError::sql(
            format!("could not create scratch database {name}"),
            "; the user in --database-url needs CREATEDB",
            e,
        )
    })
}

pub(crate) async fn drop_database(admin_url: &str, name: &str) -> Result<(), BackendError> {
    let mut conn = connect_admin(admin_url).await?;
    let version: i32 = conn
        .fetch_one("SELECT current_setting('server_version_num')::int AS v")
        .await
        .and_then(|row| row.try_get("v"))
        .unwrap_or(0);
    let quoted = quote_ident(name);
    let result = if version >= 130000 {
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
        )))
        .await
        .map(|_| ())
    } else {
        // Before 13: end the sessions a runner may have left, then drop.
        let _ = conn
            .execute(sqlx::AssertSqlSafe(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {}",
                connect::quote_literal(name)
            )))
            .await;
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {quoted}"
        )))
        .await
        .map(|_| ())
    };
    let _ = conn.close().await;
    result.map_err(|e| {
        BackendError::sql(
            format!("could not drop scratch database {name}"),
            "; drop it by hand",
            e,
        )
    })
}
