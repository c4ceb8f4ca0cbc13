//! Where the scratch PostgreSQL comes from: `docker` (testcontainers), `local` (an ephemeral
//! cluster from the server binaries), `url` (an existing server). Whatever happens, what the
//! tool started is removed afterwards. (Skeleton: the replay issue fills this in.)

use std::time::Duration;

use gate_policy::Backend;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend cannot be used here (no engine, no binaries, image missing); the message
    /// says what to install or run.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Failed(String),
}

/// Options from policy.toml and flags.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// `replay.image` for docker.
    pub image: String,
    /// `--database-url` for the url backend (secret: never print it, use `redact`).
    pub database_url: Option<String>,
    /// Bound on waiting for readiness.
    pub ready_timeout: Duration,
}

/// A running PostgreSQL server that hands out empty scratch databases.
#[derive(Debug)]
pub struct Server {
    _private: (),
}

/// An empty database created by the tool, on `server`. Dropped with [`Server::drop_database`]
/// (and in any case when the server it lives on is removed).
#[derive(Debug, Clone)]
pub struct ScratchDatabase {
    /// `gate_replay_<random>`
    pub name: String,
    /// Full connection URL including the password: pass it to child processes as
    /// DATABASE_URL, never print it.
    pub url: String,
}

impl ScratchDatabase {
    /// The URL with any password replaced by `***`, for output.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

/// A connection URL with its password replaced by `***`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparseable database url>".to_string(),
    }
}

impl Server {
    /// Start (docker, local) or connect to (url) a server. `Auto` picks docker when an engine
    /// answers and the image is there, else local when binaries exist, else `Unavailable`.
    pub async fn start(kind: Backend, opts: &BackendOptions) -> Result<Server, BackendError> {
        let _ = (kind, opts);
        Err(BackendError::Unavailable(
            "backends not implemented yet".into(),
        ))
    }

    /// Which backend this is, for the report (no secrets): e.g. `docker migration-gate/postgres:15`.
    pub fn describe(&self) -> String {
        String::new()
    }

    /// Create a new empty database `gate_replay_<random>`.
    pub async fn fresh_database(&self) -> Result<ScratchDatabase, BackendError> {
        Err(BackendError::Failed("not implemented".into()))
    }

    /// Drop a scratch database this server created.
    pub async fn drop_database(&self, db: &ScratchDatabase) -> Result<(), BackendError> {
        let _ = db;
        Ok(())
    }

    /// Stop and remove what was started (container, cluster and its folder). Also happens on
    /// drop, on Ctrl-C and on SIGTERM.
    pub async fn shutdown(self) -> Result<(), BackendError> {
        Ok(())
    }
}
