//! Where the scratch PostgreSQL comes from: `docker` (testcontainers), `local` (an ephemeral
//! cluster from the server binaries), `url` (an existing server). Whatever happens, what the
//! tool started is removed afterwards: on success, on error (`Drop`), on panic (unwinding
//! runs `Drop`), and on SIGINT/SIGTERM ([`install_signal_cleanup`]). A process-wide registry
//! tracks everything live; containers also carry a `migration-gate=1` label so a run can reap
//! what a SIGKILLed one left behind.

mod connect;
mod docker;
mod local;
mod registry;
mod remote;
mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use gate_policy::Backend;

pub use local::{BINDIR_ENV, CACHE_ENV, TMPDIR_ENV};
pub use registry::{Guard as CleanupGuard, Resource as CleanupResource};
pub use registry::{
    Starting, cleanup_all, exit_if_interrupted, install_signal_cleanup, interrupted,
};

/// Why a backend could not give a server or a database. Every variant that wraps another
/// error keeps it as its `source` (so `caused by` chains survive) and says what was being
/// done with what. Messages may quote the URL they were given; the binary's edge masks
/// passwords (`gate_cli::fail`, `gate_report::redact`).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend cannot be used here (no engine, no binaries, image missing); the message
    /// says what to install or run.
    #[error("{0}")]
    Unavailable(String),
    /// A failure with nothing underneath to keep (a tool's exit status, a timeout).
    #[error("{0}")]
    Failed(String),
    /// A file, folder or process operation failed on `path`.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// PostgreSQL refused or failed; `sqlstate` is the server's code when it answered.
    #[error("{context}: {}{advice}", connect::sql_message(source))]
    Sql {
        context: String,
        sqlstate: Option<String>,
        /// What the user can do about it, from `; ` on ("" when nothing applies).
        advice: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A URL that does not parse (shown with its password masked).
    #[error("invalid database URL {url}: {source}")]
    Url {
        url: String,
        #[source]
        source: url::ParseError,
    },
    /// The container engine's API failed.
    #[error("{context}: {source}")]
    Container {
        context: String,
        #[source]
        source: Box<testcontainers::TestcontainersError>,
    },
    /// No self-signed certificate for the server's TLS.
    #[error("could not generate the TLS certificate: {0}")]
    Certificate(#[source] rcgen::Error),
    /// A cleanup task of the runtime panicked or was cancelled.
    #[error("cleanup task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// The signal cleanup removed (or is removing) what was started.
    #[error("interrupted {0}")]
    Interrupted(&'static str),
}

impl BackendError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BackendError::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sql(context: String, advice: &'static str, source: sqlx::Error) -> Self {
        BackendError::Sql {
            sqlstate: connect::sqlstate(&source),
            context,
            advice,
            source,
        }
    }
}

/// Options from policy.toml and flags.
#[derive(Clone)]
pub struct BackendOptions {
    /// `replay.image` for docker.
    pub image: String,
    /// `--database-url` for the url backend (secret: never print it, use `redact`).
    pub database_url: Option<String>,
    /// Bound on waiting for readiness.
    pub ready_timeout: Duration,
}

/// A running PostgreSQL server that hands out empty scratch databases.
pub struct Server {
    kind: Kind,
    /// Superuser (docker, local) or user-given (url) URL of the maintenance database; holds
    /// the password, never printed.
    admin_url: String,
    description: String,
}

enum Kind {
    Docker(Box<docker::Container>),
    Local(local::Cluster),
    /// Scratch databases created on the user's server and not yet dropped, by name.
    Url(Mutex<BTreeMap<String, registry::Guard>>),
}

impl std::fmt::Debug for Server {
    // Hand-written: the derived one would print the password in `admin_url`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("backend", &self.description)
            .field("admin_url", &redact(&self.admin_url))
            .finish()
    }
}

impl Default for BackendOptions {
    fn default() -> Self {
        BackendOptions {
            image: "migration-gate/postgres:15".into(),
            database_url: None,
            ready_timeout: Duration::from_secs(60),
        }
    }
}

/// An empty database created by the tool, on `server`. Dropped with [`Server::drop_database`]
/// (and in any case when the server it lives on is removed).
#[derive(Clone)]
pub struct ScratchDatabase {
    /// `gate_replay_<random>`
    pub name: String,
    /// Full connection URL including the password: pass it to child processes as
    /// DATABASE_URL, never print it.
    pub url: String,
}

// Debug by hand for both: a derived one would print the password in the URLs.
impl std::fmt::Debug for BackendOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendOptions")
            .field("image", &self.image)
            .field("database_url", &self.database_url.as_deref().map(redact))
            .field("ready_timeout", &self.ready_timeout)
            .finish()
    }
}

impl std::fmt::Debug for ScratchDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchDatabase")
            .field("name", &self.name)
            .field("url", &self.redacted_url())
            .finish()
    }
}

impl ScratchDatabase {
    /// The URL with any password replaced by `***`, for output.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

/// Text (a URL, a message quoting one) with passwords masked: the one redactor of the
/// workspace, for the few places that show a URL outside an error (Debug, descriptions).
fn redact(text: &str) -> String {
    gate_report::redact::redact(text)
}

impl Server {
    /// Start (docker, local) or connect to (url) a server. `Auto` picks docker when an engine
    /// answers and the image is there, else local when binaries exist, else `Unavailable`.
    pub async fn start(kind: Backend, opts: &BackendOptions) -> Result<Server, BackendError> {
        match kind {
            Backend::Docker => Self::start_docker(opts).await,
            Backend::Local => Self::start_local(opts).await,
            Backend::Url => Self::start_url(opts).await,
            Backend::Auto => Self::start_auto(opts).await,
        }
    }

    async fn start_docker(opts: &BackendOptions) -> Result<Server, BackendError> {
        let (container, admin_url) = docker::start(opts).await?;
        Ok(Server {
            description: format!(
                "docker {} (container {})",
                opts.image,
                short_id(&container.id)
            ),
            kind: Kind::Docker(Box::new(container)),
            admin_url,
        })
    }

    async fn start_local(opts: &BackendOptions) -> Result<Server, BackendError> {
        let (cluster, admin_url) = local::start(opts).await?;
        Ok(Server {
            description: local::describe(&cluster),
            kind: Kind::Local(cluster),
            admin_url,
        })
    }

    async fn start_url(opts: &BackendOptions) -> Result<Server, BackendError> {
        let Some(url) = opts.database_url.clone() else {
            return Err(BackendError::Unavailable(
                "backend `url` needs --database-url postgres://USER:PASSWORD@HOST:PORT/DB (a user allowed to CREATE DATABASE)".into(),
            ));
        };
        // Fail now, with a clear message, rather than at the first scratch database.
        let conn = tokio::time::timeout(opts.ready_timeout, remote::connect_admin(&url))
            .await
            .map_err(|_| {
                BackendError::Failed(format!(
                    "no answer from PostgreSQL at {} within {:.0} s",
                    connect::options(&url).map_or_else(|_| redact(&url), |o| connect::target(&o)),
                    opts.ready_timeout.as_secs_f64()
                ))
            })??;
        let _ = sqlx::Connection::close(conn).await;
        Ok(Server {
            description: format!("url {}", redact(&url)),
            kind: Kind::Url(Mutex::new(BTreeMap::new())),
            admin_url: url,
        })
    }

    async fn start_auto(opts: &BackendOptions) -> Result<Server, BackendError> {
        if opts.database_url.is_some() {
            return Self::start_url(opts).await;
        }
        let docker_why = match docker::engine_answers() {
            Ok(()) if docker::image_present(&opts.image) => {
                return Self::start_docker(opts).await;
            }
            Ok(()) => match docker::pull(&opts.image, Duration::from_secs(300)) {
                Ok(()) => return Self::start_docker(opts).await,
                Err(e) => e,
            },
            Err(e) => e,
        };
        match local::find_binaries() {
            Ok(_) => Self::start_local(opts).await,
            Err(BackendError::Unavailable(local_why)) => Err(BackendError::Unavailable(format!(
                "no database backend available.\n  docker: {docker_why}\n  local: {local_why}\n  url: pass --database-url of a server where this user may CREATE DATABASE"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Which backend this is, for the report (no secrets): e.g. `docker migration-gate/postgres:15`.
    pub fn describe(&self) -> String {
        self.description.clone()
    }

    /// The container id (docker backend), for tests and leftovers reports.
    pub fn container_id(&self) -> Option<&str> {
        match &self.kind {
            Kind::Docker(c) => Some(&c.id),
            _ => None,
        }
    }

    /// The folder holding the cluster and its socket (local backend).
    pub fn cluster_dir(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Local(c) => Some(&c.dir),
            _ => None,
        }
    }

    /// The postmaster's pid (local backend).
    pub fn cluster_pid(&self) -> Option<u32> {
        match &self.kind {
            Kind::Local(c) => Some(c.pid),
            _ => None,
        }
    }

    /// Create a new empty database `gate_replay_<random>`.
    pub async fn fresh_database(&self) -> Result<ScratchDatabase, BackendError> {
        self.create("template0").await
    }

    /// A copy of `template`, a scratch database of this server that nobody is connected to:
    /// a file copy on the server, far cheaper than replaying the chain into a fresh one.
    pub async fn copy_database(
        &self,
        template: &ScratchDatabase,
    ) -> Result<ScratchDatabase, BackendError> {
        self.create(&template.name).await
    }

    async fn create(&self, template: &str) -> Result<ScratchDatabase, BackendError> {
        let name = format!("gate_replay_{:016x}", rand::random::<u64>());
        let url = remote::url_for(&self.admin_url, &name)?;
        // A start-up: the signal cleanup's second pass waits for it (see below).
        let _starting = Starting::begin();
        // Registered before CREATE so that an interruption in between still drops it.
        if let Kind::Url(created) = &self.kind {
            let guard = registry::Guard::register(registry::Resource::Database {
                admin_url: self.admin_url.clone(),
                name: name.clone(),
            });
            lock(created).insert(name.clone(), guard);
        }
        if let Err(e) = remote::create_database(&self.admin_url, &name, template).await {
            if let Kind::Url(created) = &self.kind
                && let Some(g) = lock(created).remove(&name)
            {
                g.disarm();
            }
            return Err(e);
        }
        // The cleanup's first pass may have run while CREATE was in flight (its DROP found
        // nothing): registered once more, the second pass drops it.
        if interrupted()
            && let Kind::Url(_) = &self.kind
        {
            std::mem::forget(registry::Guard::register(registry::Resource::Database {
                admin_url: self.admin_url.clone(),
                name: name.clone(),
            }));
        }
        Ok(ScratchDatabase { name, url })
    }

    /// Drop a scratch database this server created.
    pub async fn drop_database(&self, db: &ScratchDatabase) -> Result<(), BackendError> {
        remote::drop_database(&self.admin_url, &db.name).await?;
        if let Kind::Url(created) = &self.kind
            && let Some(g) = lock(created).remove(&db.name)
        {
            g.disarm();
        }
        Ok(())
    }

    /// Stop and remove what was started (container, cluster and its folder). Also happens on
    /// drop, on Ctrl-C and on SIGTERM.
    pub async fn shutdown(self) -> Result<(), BackendError> {
        let Server {
            kind, admin_url, ..
        } = self;
        match kind {
            Kind::Docker(c) => (*c).remove().await,
            Kind::Local(c) => tokio::task::spawn_blocking(move || c.guard.release())
                .await
                .map_err(BackendError::Task)?
                .map_err(BackendError::Failed),
            Kind::Url(created) => {
                let left: Vec<(String, registry::Guard)> =
                    std::mem::take(&mut *lock(&created)).into_iter().collect();
                let mut first_error = None;
                for (name, guard) in left {
                    match remote::drop_database(&admin_url, &name).await {
                        Ok(()) => guard.disarm(),
                        Err(e) => {
                            // The guard's drop retries once more; report the first failure.
                            drop(guard);
                            first_error.get_or_insert(e);
                        }
                    }
                }
                first_error.map_or(Ok(()), Err)
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}
