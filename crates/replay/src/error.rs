//! Why a replay could not check: exit 2, worded apart for the machine (environment) and the
//! user's configuration, with the error underneath kept as the `source`.

use std::path::PathBuf;

use gate_backends::BackendError;
use gate_schema::SchemaError;

use crate::runner::RunnerError;

/// The replay could not check (backend, runner, catalog): exit 2.
/// Each variant that wraps another error keeps it as its `source`, so the binary prints the
/// whole `caused by` chain (redacted once, in `gate_cli::fail`). [`ReplayError::is_config`]
/// tells the user's configuration from the machine's environment; both exit 2.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Something of the machine is missing or failed; the message says what.
    #[error("{0}")]
    Environment(String),
    /// The policy, a flag or a file the policy names is wrong; the message says what to change.
    #[error("{0}")]
    Config(String),
    /// No server from the backend (docker, local, url).
    #[error("cannot start the {backend} backend")]
    Start {
        backend: &'static str,
        #[source]
        source: Box<BackendError>,
    },
    /// The server would not give (or copy) a scratch database.
    #[error("{what}")]
    Backend {
        what: &'static str,
        #[source]
        source: Box<BackendError>,
    },
    /// A catalog or row read failed on `database` (a scratch database's name, or
    /// `--reference`).
    #[error("{what} {database}")]
    Schema {
        what: &'static str,
        database: String,
        #[source]
        source: Box<SchemaError>,
    },
    /// The runner could not run; its own variant says whether the machine or the policy.
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// The chain cannot be read (policy paths, unreadable files).
    #[error(transparent)]
    Chain(#[from] gate_chain::ChainError),
    /// `replay.prelude` failed on a fresh scratch database.
    #[error(
        "replay.prelude failed: {}; fix the SQL in replay.prelude of {}",
        sql_failure(source),
        policy.display()
    )]
    Prelude {
        policy: PathBuf,
        sqlstate: Option<String>,
        #[source]
        source: sqlx::Error,
    },
    /// A file the policy or a flag names cannot be read.
    #[error("{what} {}: {source}{advice}", path.display())]
    Read {
        what: String,
        path: PathBuf,
        advice: String,
        #[source]
        source: std::io::Error,
    },
    /// The expected snapshot (`replay.snapshot`) is not a snapshot.
    #[error("{}: {source}; regenerate it with `gate-replay snapshot`", path.display())]
    Snapshot {
        path: PathBuf,
        #[source]
        source: Box<SchemaError>,
    },
    /// No throw-away copy of the work tree for a fix command.
    #[error("cannot make a throw-away copy of the work tree for {script}")]
    WorkCopy {
        script: String,
        #[source]
        source: std::io::Error,
    },
    /// The backend handed out a URL that does not parse (shown masked).
    #[error("the scratch database URL {url} cannot be parsed")]
    ScratchUrl {
        url: String,
        #[source]
        source: url::ParseError,
    },
    /// A program the replay needs could not be started.
    #[error("cannot run {program}{advice}")]
    Spawn {
        program: &'static str,
        advice: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl ReplayError {
    /// Whether the user's configuration is at fault (policy, flags, files they name) rather
    /// than the machine; the binary words the two differently.
    pub fn is_config(&self) -> bool {
        match self {
            ReplayError::Config(_)
            | ReplayError::Chain(_)
            | ReplayError::Prelude { .. }
            | ReplayError::Read { .. }
            | ReplayError::Snapshot { .. } => true,
            ReplayError::Runner(e) => e.is_config(),
            ReplayError::Environment(_)
            | ReplayError::Start { .. }
            | ReplayError::Backend { .. }
            | ReplayError::Schema { .. }
            | ReplayError::WorkCopy { .. }
            | ReplayError::ScratchUrl { .. }
            | ReplayError::Spawn { .. } => false,
        }
    }
}

/// A SQL error as findings and messages show it: `SQLSTATE 42P01: relation "x" does not
/// exist`, or the driver's text when the server did not answer.
pub(crate) fn sql_failure(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("SQLSTATE {code}: {}", db.message()),
            None => db.message().to_string(),
        },
        other => other.to_string(),
    }
}
