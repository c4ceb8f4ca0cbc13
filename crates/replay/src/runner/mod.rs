//! Runners apply the migration chain to a scratch database the way the project's own tool does:
//! `alembic` (one `alembic upgrade` process, log lines timestamped as they stream), `sql`
//! (in-process, keeping the real tool's bookkeeping table) and `command` (`migrations.upgrade`).

pub mod alembic;
pub mod command;
pub mod process;
pub mod session;
pub mod sql;
pub mod sqlsplit;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use gate_chain::Discovery;
use gate_policy::{MigrationKind, Policy};

use crate::child_env::ChildEnv;

/// How far to upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Head,
    Revision(String),
}

/// One migration that ran, with how long it took.
#[derive(Debug, Clone)]
pub struct Applied {
    pub revision: String,
    /// Repository-relative file, when known.
    pub file: Option<String>,
    pub duration: Duration,
}

/// Why a run stopped, pointing at the culprit migration when one is known.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    pub revision: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub sqlstate: Option<String>,
    pub message: String,
    /// The statement the server refused, when the runner knows it (SQLAlchemy's
    /// `statement`; the seeded pass locates it in SQL files).
    pub statement: Option<String>,
    pub timed_out: bool,
}

impl Failure {
    /// One sentence for a finding: `revision abc (SQLSTATE 42P07): relation "x" already exists`.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if let Some(r) = &self.revision {
            s.push_str(&format!("revision {r}"));
        } else {
            s.push_str("the migration run");
        }
        if let Some(c) = &self.sqlstate {
            s.push_str(&format!(" (SQLSTATE {c})"));
        }
        s.push_str(": ");
        s.push_str(&self.message);
        s
    }
}

/// The result of one upgrade or downgrade run.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    pub applied: Vec<Applied>,
    pub failure: Option<Failure>,
    /// What each statement did, when the run was observed ([`ChildEnv::observing`]).
    pub observed: Vec<crate::observe::ObservedStatement>,
    /// Why some statements could not be observed (the migration itself ran on).
    pub observe_problems: Vec<String>,
}

/// A run that could not happen at all (tool missing, configuration unreadable): exit 2.
/// [`RunnerError::is_config`] tells the user's configuration from the machine's environment.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The machine lacks something (a tool, a module); the message says what to install.
    #[error("{0}")]
    Environment(String),
    /// The policy or the chain asks for something the runner cannot do.
    #[error("{0}")]
    Config(String),
    /// A program could not be started; `advice` (from `; ` on, or "") says what to change.
    #[error("cannot {action} `{program}`{purpose}: {source}{advice}")]
    Spawn {
        action: &'static str,
        program: String,
        /// What it was started for, from ` ` on (` for 0001_init`), or "".
        purpose: String,
        advice: String,
        #[source]
        source: std::io::Error,
    },
    /// The scratch database refused or failed.
    #[error("{what}: {source}")]
    Database {
        what: &'static str,
        sqlstate: Option<String>,
        #[source]
        source: sqlx::Error,
    },
    /// The chain cannot be read (policy paths, unreadable files).
    #[error(transparent)]
    Chain(#[from] gate_chain::ChainError),
}

impl RunnerError {
    /// Whether the user's configuration (policy, chain) is at fault rather than the machine.
    pub fn is_config(&self) -> bool {
        matches!(self, RunnerError::Config(_) | RunnerError::Chain(_))
    }

    pub(crate) fn database(what: &'static str, source: sqlx::Error) -> Self {
        RunnerError::Database {
            what,
            sqlstate: sqlstate(&source),
            source,
        }
    }
}

/// The SQLSTATE of a database error, when the server answered.
pub(crate) fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// The runner for `migrations.kind`.
#[derive(Debug)]
pub enum Runner {
    Alembic(alembic::AlembicRunner),
    Sql(sql::SqlRunner),
    Command(command::CommandRunner),
}

impl Runner {
    /// Reads the chain with `gate_chain::discover`, the discovery the static checks use.
    pub fn new(policy: &Policy, repo_root: &Path) -> Result<Runner, RunnerError> {
        let discovery = gate_chain::discover(repo_root, policy).map_err(RunnerError::Chain)?;
        Runner::with_chain(policy, repo_root, &discovery)
    }

    /// The runner for a chain already read (the same `Discovery` the C-checks judged), so the
    /// replay applies exactly the revisions, files and order the static checks saw.
    pub fn with_chain(
        policy: &Policy,
        repo_root: &Path,
        discovery: &Discovery,
    ) -> Result<Runner, RunnerError> {
        Ok(match policy.migrations.kind {
            MigrationKind::Alembic => {
                Runner::Alembic(alembic::AlembicRunner::new(policy, repo_root, discovery)?)
            }
            MigrationKind::Sql => Runner::Sql(sql::SqlRunner::new(policy, discovery)),
            MigrationKind::Command => {
                Runner::Command(command::CommandRunner::new(policy, repo_root)?)
            }
        })
    }

    /// Upgrade the database at `url` from where it is to `target`.
    pub async fn upgrade(
        &self,
        db: &ChildEnv,
        target: &Target,
        deadline: Instant,
        on_applied: &mut (dyn FnMut(&Applied) + Send),
    ) -> Result<RunOutcome, RunnerError> {
        match self {
            Runner::Alembic(r) => r.upgrade(db, target, deadline, on_applied).await,
            Runner::Sql(r) => r.upgrade(db, target, deadline, on_applied).await,
            Runner::Command(r) => r.upgrade(db, target, deadline, on_applied).await,
        }
    }

    /// Downgrade to base (empty). Only called when [`Runner::has_downgrade`].
    pub async fn downgrade_base(
        &self,
        db: &ChildEnv,
        deadline: Instant,
    ) -> Result<RunOutcome, RunnerError> {
        match self {
            Runner::Alembic(r) => r.downgrade_base(db, deadline).await,
            Runner::Sql(r) => r.downgrade_base(db, deadline).await,
            Runner::Command(r) => r.downgrade_base(db, deadline).await,
        }
    }

    /// Record `revision` as applied without running it (`alembic stamp`, the SQL tool's
    /// bookkeeping row): the production path continues past a migration whose objects a fix
    /// had already created, as production did. Not supported by the command runner.
    pub async fn stamp(
        &self,
        db: &ChildEnv,
        revision: &str,
        deadline: Instant,
    ) -> Result<RunOutcome, RunnerError> {
        match self {
            Runner::Alembic(r) => r.stamp(db, revision, deadline).await,
            Runner::Sql(r) => r.stamp(db, revision).await,
            Runner::Command(_) => Err(RunnerError::Config(
                "migrations.kind = \"command\" cannot mark a single revision applied".into(),
            )),
        }
    }

    /// Whether this chain can be downgraded at all (sql: every migration has a down file;
    /// command: `migrations.downgrade` is set; alembic: always, failures are R006).
    pub fn has_downgrade(&self) -> bool {
        match self {
            Runner::Alembic(_) => true,
            Runner::Sql(r) => r.has_downgrade(),
            Runner::Command(r) => r.has_downgrade(),
        }
    }

    /// The database at `to` is a copy of the one at `from`. Alembic and command runners keep
    /// their position in the database itself; the sql runner also tracks it per URL.
    pub fn copied(&self, from: &ChildEnv, to: &ChildEnv) {
        if let Runner::Sql(r) = self {
            r.copied(from.url(), to.url());
        }
    }

    /// The revisions a database holds once upgraded from empty to `target` (`None`: the
    /// runner cannot tell). A database holding a subset of them reaches exactly that state by
    /// upgrading to `target`, so a copy of it can stand in for a replay from empty.
    pub fn applied_at(&self, target: &Target) -> Option<BTreeSet<String>> {
        match self {
            Runner::Alembic(r) => r.applied_at(target),
            Runner::Sql(r) => r.applied_at(target),
            Runner::Command(_) => None,
        }
    }

    /// Whether `Target::Revision` is supported (needed for the fixes' production path).
    pub fn supports_targets(&self) -> bool {
        !matches!(self, Runner::Command(_))
    }

    /// The chain's head revision(s), when the runner knows its chain.
    pub fn chain_heads(&self) -> Option<Vec<String>> {
        match self {
            Runner::Alembic(r) => Some(r.heads()),
            Runner::Sql(r) => r.head().map(|h| vec![h]),
            Runner::Command(_) => None,
        }
    }

    /// Whether `revision` names a migration of the chain (`None`: the runner cannot tell).
    pub fn knows_revision(&self, revision: &str) -> Option<bool> {
        match self {
            Runner::Alembic(r) => Some(r.knows(revision)),
            Runner::Sql(r) => Some(r.knows(revision)),
            Runner::Command(_) => None,
        }
    }

    /// Number of migrations in the chain, when known.
    pub fn migration_count(&self) -> Option<usize> {
        match self {
            Runner::Alembic(r) => Some(r.count()),
            Runner::Sql(r) => Some(r.count()),
            Runner::Command(_) => None,
        }
    }

    /// What the database itself records as applied head(s) (`alembic_version`, ...).
    pub async fn recorded_heads(&self, url: &str) -> Option<Vec<String>> {
        match self {
            Runner::Alembic(_) => alembic::recorded_heads(url).await,
            Runner::Sql(r) => r.recorded_head(url).await.map(|h| vec![h]),
            Runner::Command(_) => None,
        }
    }

    /// The runner's own bookkeeping tables: not user schema.
    pub fn bookkeeping_tables(&self) -> &'static [&'static str] {
        match self {
            Runner::Alembic(_) => &["alembic_version"],
            Runner::Sql(r) => r.bookkeeping_tables(),
            Runner::Command(_) => &[
                "alembic_version",
                "schema_migrations",
                "flyway_schema_history",
                "_sqlx_migrations",
                "_prisma_migrations",
            ],
        }
    }

    /// Short name for the report.
    pub fn describe(&self) -> String {
        match self {
            Runner::Alembic(r) => format!("alembic ({})", r.python()),
            Runner::Sql(r) => format!("sql ({})", r.naming_name()),
            Runner::Command(_) => "command".to_string(),
        }
    }
}

/// `path` relative to `root` with `/` separators, for findings.
pub fn rel_path(root: &Path, path: &Path) -> String {
    let p = path.strip_prefix(root).unwrap_or(path);
    p.to_string_lossy().replace('\\', "/")
}

/// Terminate every other session on the scratch database at `url` (a statement still running
/// after its client was killed on timeout), so nothing is left running.
pub async fn terminate_sessions(url: &str) {
    use sqlx::Connection as _;
    if let Ok(mut c) = sqlx::PgConnection::connect(url).await {
        let _ = sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .execute(&mut c)
        .await;
        let _ = c.close().await;
    }
}
