//! Print the canonical JSON snapshot of a database: `snapshot URL [--diff OTHER_URL]`, or
//! `snapshot --one-connection URL` to read without the parallel helper connections.
//! Used by benches/schema to time a snapshot against `pg_dump --schema-only`.
// An example program: printing its results is what it is for.
#![allow(clippy::disallowed_macros)]

use std::process::ExitCode;

use gate_schema::{BOOKKEEPING_TABLES, Snapshot, diff};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, other) = match args.as_slice() {
        [flag, url] if flag == "--one-connection" => return one_connection(url),
        [url] => (url.clone(), None),
        [url, flag, other] if flag == "--diff" => (url.clone(), Some(other.clone())),
        _ => {
            eprintln!(
                "usage: snapshot [--one-connection] DATABASE_URL [--diff OTHER_DATABASE_URL]"
            );
            return ExitCode::from(2);
        }
    };
    // One connection, sequential queries: a single-threaded runtime is all it needs.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("snapshot: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async {
        let a = match Snapshot::capture_excluding(&url, BOOKKEEPING_TABLES).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("snapshot: {e}");
                return ExitCode::from(2);
            }
        };
        let Some(other) = other else {
            print!("{}", a.to_canonical_json());
            return ExitCode::SUCCESS;
        };
        let b = match Snapshot::capture_excluding(&other, BOOKKEEPING_TABLES).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("snapshot: {e}");
                return ExitCode::from(2);
            }
        };
        let diffs = diff(&a, &b, "first", "second");
        for d in &diffs {
            println!("{d}");
        }
        if diffs.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    })
}

fn one_connection(url: &str) -> ExitCode {
    use sqlx::Connection;
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("snapshot: cannot start the async runtime");
        return ExitCode::from(2);
    };
    rt.block_on(async {
        let mut conn = match sqlx::PgConnection::connect(url).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("snapshot: cannot connect: {e}");
                return ExitCode::from(2);
            }
        };
        match Snapshot::capture_with(&mut conn).await {
            Ok(s) => {
                print!(
                    "{}",
                    s.without_tables(BOOKKEEPING_TABLES).to_canonical_json()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("snapshot: {e}");
                ExitCode::from(2)
            }
        }
    })
}
