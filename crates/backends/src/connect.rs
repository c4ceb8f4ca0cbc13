//! Connecting: readiness by a real connection, quoting, and error text without secrets.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::BackendError;

/// Connection options from a URL; the error never contains the URL (it may hold a password).
pub(crate) fn options(url: &str) -> Result<PgConnectOptions, BackendError> {
    PgConnectOptions::from_str(url).map_err(|e| {
        BackendError::Failed(format!(
            "invalid database URL {}: {}",
            crate::redact(url),
            scrub(&e.to_string(), url)
        ))
    })
}

/// Error text with the URL's password (raw and percent-decoded) replaced by `***`.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let mut out = text.to_string();
    if let Ok(u) = url::Url::parse(url)
        && let Some(pw) = u.password()
        && !pw.is_empty()
    {
        out = out.replace(pw, "***");
        if let Ok(decoded) = urlencoding_decode(pw)
            && !decoded.is_empty()
        {
            out = out.replace(&decoded, "***");
        }
    }
    out
}

fn urlencoding_decode(s: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes: Vec<u8> =
        url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())
            .unwrap_or_default();
    String::from_utf8(bytes)
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
    let mut last;
    loop {
        let attempt_budget = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(200));
        match tokio::time::timeout(attempt_budget, PgConnection::connect_with(opts)).await {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(e)) => {
                if let Some(db) = e.as_database_error() {
                    let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                    // 57P03 = the server is starting up; anything else from the server is final.
                    if code != "57P03" {
                        return Err(BackendError::Failed(format!(
                            "PostgreSQL at {} refused the connection: {}",
                            target(opts),
                            db.message()
                        )));
                    }
                }
                last = e.to_string();
            }
            Err(_) => last = "connection attempt timed out".to_string(),
        }
        alive()?;
        if Instant::now() >= deadline {
            return Err(BackendError::Failed(format!(
                "PostgreSQL at {} was not ready within {:.1} s (last error: {last}); raise the timeout or check the server",
                target(opts),
                timeout.as_secs_f64()
            )));
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
