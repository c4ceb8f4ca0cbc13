//! Connecting: readiness by a real connection, quoting, and error text without secrets.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::BackendError;

/// Connection options from a URL. The error names the URL with its password masked (a
/// parse error may not get as far as the binary's redaction when a library caller shows it).
pub(crate) fn options(url: &str) -> Result<PgConnectOptions, BackendError> {
    PgConnectOptions::from_str(url).map_err(|e| {
        BackendError::sql(
            format!("invalid database URL {}", crate::redact(url)),
            "",
            e,
        )
    })
}

/// The server's own words for a database error (without sqlx's "error returned from
/// database:" prefix), else the driver's text.
pub(crate) fn sql_message(e: &sqlx::Error) -> String {
    match e.as_database_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    }
}

/// The SQLSTATE of a database error, when the server answered.
pub(crate) fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// Where a connection goes, for messages: `user@host:port/db`, never the password.
pub(crate) fn target(o: &PgConnectOptions) -> String {
    let host = match o.get_socket() {
        Some(s) => s.display().to_string(),
        None => o.get_host().to_string(),
    };
    format!(
        "{}@{}:{}/{}",
        o.get_username(),
        host,
        o.get_port(),
        o.get_database().unwrap_or(o.get_username())
    )
}

/// Connect until the server answers or `timeout` passes. Backoff starts small (a local server
/// is usually ready within tens of milliseconds) and is capped so a container that becomes
/// ready is noticed quickly. `alive` is polled between attempts: when it reports that the
/// server died, waiting stops with its message. Errors that retrying cannot fix (wrong
/// password, missing role or database) stop at once.
pub(crate) async fn wait_ready<F>(
    opts: &PgConnectOptions,
    timeout: Duration,
    mut alive: F,
) -> Result<PgConnection, BackendError>
where
    F: FnMut() -> Result<(), BackendError>,
{
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(5);
    let mut last: Option<sqlx::Error>;
    loop {
        let attempt_budget = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(200));
        match tokio::time::timeout(attempt_budget, PgConnection::connect_with(opts)).await {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(e)) => {
                // 57P03 = the server is starting up; anything else from the server is final.
                if e.as_database_error().is_some() && sqlstate(&e).as_deref() != Some("57P03") {
                    return Err(BackendError::sql(
                        format!("PostgreSQL at {} refused the connection", target(opts)),
                        "",
                        e,
                    ));
                }
                last = Some(e);
            }
            Err(_) => last = None,
        }
        alive()?;
        if crate::registry::interrupted() {
            return Err(BackendError::Interrupted("while waiting for PostgreSQL"));
        }
        if Instant::now() >= deadline {
            let context = format!(
                "PostgreSQL at {} was not ready within {:.1} s (raise the timeout or check the server); last error",
                target(opts),
                timeout.as_secs_f64()
            );
            return Err(match last {
                Some(e) => BackendError::sql(context, "", e),
                None => BackendError::Failed(format!("{context}: connection attempt timed out")),
            });
        }
        tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// `"name"` with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with embedded quotes doubled.
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// 32 hex characters from the OS-seeded thread RNG.
pub(crate) fn random_token() -> String {
    format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}
