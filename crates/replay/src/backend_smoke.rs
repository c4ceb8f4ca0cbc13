//! `gate-replay backend-smoke` (hidden): start a backend, create a scratch database, print
//! one JSON line describing them, hold for a while, clean up. Used by the cleanup tests
//! (which signal it while it holds) and by the backend benchmark.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use gate_policy::Backend;

use gate_backends::{BackendError, BackendOptions, Server};

/// Flags of `backend-smoke`; `--backend`, `--image` and `--database-url` are the global
/// replay flags.
#[derive(Debug, clap::Args)]
pub struct SmokeArgs {
    /// Seconds to hold the server and database before cleaning up.
    #[arg(long, default_value_t = 0)]
    pub hold_seconds: u64,
    /// Scratch databases to create (0: measure the server alone).
    #[arg(long, default_value_t = 1)]
    pub databases: u32,
    /// Bound on waiting for the server to accept connections.
    #[arg(long, default_value_t = 60)]
    pub ready_timeout_s: u64,
}

/// Exit 0 when the backend started, served a database and was removed; 2 when it could not.
/// Defaults: backend auto, image `migration-gate/postgres:15`.
// A (hidden) command: its errors are the CLI's output.
#[allow(clippy::disallowed_macros)]
pub fn run(
    args: &SmokeArgs,
    backend: Option<Backend>,
    image: Option<String>,
    database_url: Option<String>,
) -> ExitCode {
    gate_backends::install_signal_cleanup();
    let kind = backend.unwrap_or(Backend::Auto);
    let opts = BackendOptions {
        image: image.unwrap_or_else(|| BackendOptions::default().image),
        database_url,
        ready_timeout: Duration::from_secs(args.ready_timeout_s),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gate-replay: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = rt.block_on(smoke(
        kind,
        &opts,
        args.databases,
        Duration::from_secs(args.hold_seconds),
    ));
    // An interrupt ends as 130/143 from the cleanup thread, never as the error its cleanup
    // caused here (a container removed under a waiting connection).
    gate_backends::exit_if_interrupted();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gate-replay: {e}");
            ExitCode::from(2)
        }
    }
}

async fn smoke(
    kind: Backend,
    opts: &BackendOptions,
    databases: u32,
    hold: Duration,
) -> Result<(), BackendError> {
    let t0 = Instant::now();
    let server = Server::start(kind, opts).await?;
    let ready = t0.elapsed();
    let mut dbs = Vec::new();
    for _ in 0..databases {
        dbs.push(server.fresh_database().await?);
    }
    let with_db = t0.elapsed();
    let line = serde_json::json!({
        "backend": server.describe(),
        "container": server.container_id(),
        "dir": server.cluster_dir().map(|d| d.display().to_string()),
        "pid": server.cluster_pid(),
        "database": dbs.first().map(|d| d.name.clone()),
        "url": dbs.first().map(|d| d.redacted_url()),
        "ready_ms": ready.as_secs_f64() * 1000.0,
        "database_ms": with_db.as_secs_f64() * 1000.0,
    });
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    tokio::time::sleep(hold).await;
    for db in &dbs {
        server.drop_database(db).await?;
    }
    server.shutdown().await
}
