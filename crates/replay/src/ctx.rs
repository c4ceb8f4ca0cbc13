//! What every step of a replay shares: the settings resolved from policy and flags, the
//! running server with its scratch databases (`Ctx`, `Scratch`), and the R010 finding for a
//! check that could not run. `run.rs` (R001–R006) and `fixes.rs` (F001–F006) both build on
//! it and not on each other.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gate_backends::{BackendOptions, ScratchDatabase, Server};
use gate_policy::{Backend, Policy};
use gate_report::{Code, Finding, Report};
use gate_schema::{Difference, Snapshot};

use crate::child_env::{ChildEnv, EnvTemplate};
use crate::error::ReplayError;
use crate::progress::Progress;
use crate::runner::Runner;

/// Everything a replay needs, resolved from policy and flags.
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    pub policy: Policy,
    pub backend: Backend,
    pub backend_options: BackendOptions,
    /// `--reference URL`: a live database compared read-only.
    pub reference: Option<String>,
    /// `--reference-dump FILE`: a `pg_dump --schema-only` file restored into a scratch database.
    pub reference_dump: Option<PathBuf>,
    pub timeout: Duration,
    pub roundtrip: bool,
    /// `replay.stairway` or `--stairway`: per-revision down/up steps (R007).
    pub stairway: bool,
    /// `--strict`: L0xx findings are errors (exit 1), not warnings.
    pub strict: bool,
    /// `replay.models` or `--models`: `alembic check` at head (R008).
    pub models: bool,
    /// `replay.data` or `--data`: the seeded pass (R009), its statements observed (L0xx).
    pub data: bool,
    /// Rows per table in the seeded pass (`replay.rows` / `--rows`).
    pub rows: u64,
    pub fixes: bool,
    /// What children get as environment (`replay.env`, `replay.database-url`).
    pub env: EnvTemplate,
    /// `--shard K/N`: verify only this slice of the fixes; chain-level checks in shard 1 only.
    pub shard: Option<crate::shard::Shard>,
}

/// What the run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The gate: every check.
    Check,
    /// `gate-replay snapshot`: replay to head and return the snapshot; no comparisons.
    Snapshot,
}

/// A finished replay: the report, and the head snapshot when the upgrade succeeded.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub snapshot: Option<Snapshot>,
}

/// A scratch database and the environment its children get.
#[derive(Clone)]
pub(crate) struct Scratch {
    pub db: ScratchDatabase,
    pub env: ChildEnv,
}

/// Everything a step needs while the server is up.
pub(crate) struct Ctx<'a> {
    pub settings: &'a Settings,
    pub server: &'a Server,
    pub runner: &'a Runner,
    pub deadline: Instant,
    pub timeout: Duration,
    pub progress: &'a Progress,
}

impl<'a> Ctx<'a> {
    /// The context of one command on a started server: its deadline starts now
    /// (`replay.timeout-s` / `--timeout`).
    pub(crate) fn new(
        settings: &'a Settings,
        server: &'a Server,
        runner: &'a Runner,
        progress: &'a Progress,
    ) -> Self {
        Ctx {
            settings,
            server,
            runner,
            deadline: Instant::now() + settings.timeout,
            timeout: settings.timeout,
            progress,
        }
    }
}

impl Ctx<'_> {
    pub(crate) async fn fresh(&self) -> Result<Scratch, ReplayError> {
        let db = self
            .server
            .fresh_database()
            .await
            .map_err(|source| ReplayError::Backend {
                what: "cannot create a scratch database",
                source: Box::new(source),
            })?;
        let env = match self.settings.env.for_database(&db.url) {
            Ok(env) => env,
            Err(e) => {
                let _ = self.server.drop_database(&db).await;
                return Err(e);
            }
        };
        if !self.settings.policy.replay.prelude.trim().is_empty() {
            run_sql(&db.url, &self.settings.policy.replay.prelude)
                .await
                .map_err(|source| ReplayError::Prelude {
                    policy: self.settings.policy.file.clone(),
                    sqlstate: crate::runner::sqlstate(&source),
                    source,
                })?;
        }
        Ok(Scratch { db, env })
    }

    /// A copy of `template` (a scratch database nobody is connected to), prelude included.
    pub(crate) async fn copy(&self, template: &Scratch) -> Result<Scratch, ReplayError> {
        let db = self
            .server
            .copy_database(&template.db)
            .await
            .map_err(|source| ReplayError::Backend {
                what: "cannot copy a scratch database",
                source: Box::new(source),
            })?;
        let env = match self.settings.env.for_database(&db.url) {
            Ok(env) => env,
            Err(e) => {
                let _ = self.server.drop_database(&db).await;
                return Err(e);
            }
        };
        let copy = Scratch { db, env };
        self.runner.copied(&template.env, &copy.env);
        Ok(copy)
    }

    /// `db` with what was made on it when that worked; otherwise `db` is dropped and the
    /// reason (`Ok(Err(why))`) or the error passed on.
    pub(crate) async fn kept_if_made<T>(
        &self,
        db: Scratch,
        made: Result<Result<T, String>, ReplayError>,
    ) -> Result<Result<(Scratch, T), String>, ReplayError> {
        match made {
            Ok(Ok(t)) => Ok(Ok((db, t))),
            Ok(Err(why)) => {
                self.drop(&db).await;
                Ok(Err(why))
            }
            Err(e) => {
                self.drop(&db).await;
                Err(e)
            }
        }
    }

    pub(crate) async fn drop(&self, s: &Scratch) {
        // A scratch database that cannot be dropped goes with the server anyway.
        let _ = self.server.drop_database(&s.db).await;
    }

    pub(crate) async fn capture(&self, s: &Scratch) -> Result<Snapshot, ReplayError> {
        Snapshot::capture(&s.db.url)
            .await
            .map_err(|source| ReplayError::Schema {
                what: "cannot snapshot the scratch database",
                database: s.db.name.clone(),
                source: Box::new(source),
            })
    }

    /// Row counts and content hashes of the user tables (not the runner's bookkeeping).
    pub(crate) async fn data(&self, s: &Scratch) -> Result<gate_schema::DataSnapshot, ReplayError> {
        gate_schema::DataSnapshot::capture(&s.db.url, self.runner.bookkeeping_tables())
            .await
            .map_err(|source| ReplayError::Schema {
                what: "cannot read the rows of the scratch database",
                database: s.db.name.clone(),
                source: Box::new(source),
            })
    }

    /// Differences that are not the runner's own bookkeeping. The bookkeeping tables are
    /// removed by exact name (with their indexes, triggers and owned sequences), so a user
    /// table such as `schema_migrations_archive` is still compared.
    pub(crate) fn diff(&self, a: &Snapshot, b: &Snapshot, an: &str, bn: &str) -> Vec<Difference> {
        let skip = self.runner.bookkeeping_tables();
        let a = a.clone().without_tables(skip);
        let b = b.clone().without_tables(skip);
        gate_schema::diff(&a, &b, an, bn)
    }
}

/// Run a SQL text (prelude, `sql = "fix.sql"`) against `url` as one simple query.
pub(crate) async fn run_sql(url: &str, sql: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection as _;
    let mut c = sqlx::PgConnection::connect(url).await?;
    let r = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut c)
        .await;
    let _ = c.close().await;
    r.map(|_| ())
}

/// Start (or connect to) the server of `settings.backend`, saying so on the progress line.
/// The caller shuts it down on every path.
pub(crate) async fn start_server(
    settings: &Settings,
    progress: &Progress,
) -> Result<Server, ReplayError> {
    progress.stage(if settings.backend == Backend::Url {
        "connecting to the server"
    } else {
        "starting the database"
    });
    Server::start(settings.backend, &settings.backend_options)
        .await
        .map_err(|source| ReplayError::Start {
            backend: backend_name(settings.backend),
            source: Box::new(source),
        })
}

/// The backend's name as users type it (`--backend`).
pub(crate) fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Auto => "database",
        Backend::Docker => "docker",
        Backend::Local => "local",
        Backend::Url => "url",
    }
}

/// R010: something the run was asked to check and could not.
pub(crate) fn not_run(path: &str, message: &str) -> Finding {
    Finding::new(Code::R010, message)
        .at(path.to_string())
        .help("Fix the failure named here first; the skipped checks run once it is gone.")
}
