//! `docker`: a throw-away PostgreSQL container started with testcontainers from
//! `replay.image`. Readiness is a real connection, so any image that honours
//! `POSTGRES_PASSWORD` works (official, alpine, `migration-gate/postgres:15`). The server
//! offers TLS with a certificate made for the run (see [`tls_script`]).

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use testcontainers::core::{IntoContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, CopyTargetOptions, GenericImage, ImageExt};

use crate::connect::{self, random_token};
use crate::registry::{Guard, Resource, Starting};
use crate::tls::{self, ServerTls};
use crate::{BackendError, BackendOptions};

/// Label on every container we start, so a later run can reap leftovers of a killed one.
pub(crate) const LABEL: &str = "migration-gate";
const LABEL_PID: &str = "migration-gate.pid";
const LABEL_HOST: &str = "migration-gate.host";
/// Random per process: what the signal cleanup removes by when the container id is not known
/// yet (the create request is in flight).
const LABEL_RUN: &str = "migration-gate.run";

fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(random_token)
}

/// Container creations in flight. The engine completes a create even when the client is gone,
/// so the signal cleanup waits for them to return before its last removal by label.
static CREATING: AtomicUsize = AtomicUsize::new(0);

struct Creating;

impl Creating {
    fn begin() -> Creating {
        CREATING.fetch_add(1, Ordering::SeqCst);
        Creating
    }
}

impl Drop for Creating {
    fn drop(&mut self) {
        CREATING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Remove every container of run `run`, including one whose creation is in flight now.
pub(crate) fn remove_run_containers(run: &str) -> Result<(), String> {
    remove_labelled(run)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while CREATING.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    remove_labelled(run)
}

fn remove_labelled(run: &str) -> Result<(), String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("label={LABEL_RUN}={run}"),
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run `docker ps`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`docker ps --filter label={LABEL_RUN}={run}` failed: {}; remove the containers with that label by hand",
            last_line(&String::from_utf8_lossy(&out.stderr))
        ));
    }
    for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        crate::registry::remove_container(id)?;
    }
    Ok(())
}

/// Where the image keeps its data; a tmpfs there skips the slow copy-on-write layer.
const PGDATA: &str = "/var/lib/postgresql/gate-data";

/// Where the run's certificate and key are copied into the container (root-owned), and where
/// the server reads them from (owned by the server's user, key 0600, as postgres demands).
const TLS_SOURCE: &str = "/gate-tls-source";
const TLS_DIR: &str = "/tmp/gate-tls";

/// Runs as the container's first process, before the image's own entrypoint: only here, as
/// the container's user, can the key get the server user's ownership and mode 0600, whatever
/// uid that user has in this image (999 official, 70 alpine, Debian's in ours). `$@` is the
/// image's entrypoint with our postgres arguments.
fn tls_script() -> String {
    format!(
        "set -e\n\
         umask 077\n\
         mkdir -p {TLS_DIR}\n\
         cp {TLS_SOURCE}/{cert} {TLS_SOURCE}/{key} {TLS_DIR}/\n\
         chmod 644 {TLS_DIR}/{cert}\n\
         chmod 600 {TLS_DIR}/{key}\n\
         if [ \"$(id -u)\" = 0 ]; then chown -R postgres:postgres {TLS_DIR}; fi\n\
         exec \"$@\"\n",
        cert = tls::CERT_FILE,
        key = tls::KEY_FILE,
    )
}

/// The image's entrypoint (`docker-entrypoint.sh` in the official images, a path in ours), to
/// exec after [`tls_script`]. Images that declare none follow the official convention.
fn image_entrypoint(image: &str) -> Vec<String> {
    Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Entrypoint}}",
            image,
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<Option<Vec<String>>>(&o.stdout).ok())
        .flatten()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| vec!["docker-entrypoint.sh".to_string()])
}

pub(crate) struct Container {
    /// `None` once removed. testcontainers' own drop needs a tokio runtime in scope (it
    /// panics without one, e.g. in a drop during unwinding after the runtime is gone), so
    /// outside [`Container::remove`] it is forgotten and the guard removes the container
    /// with the docker CLI instead.
    inner: Option<ContainerAsync<GenericImage>>,
    pub(crate) id: String,
    guard: Option<Guard>,
}

impl Container {
    /// Remove the container now (the normal path).
    pub(crate) async fn remove(mut self) -> Result<(), BackendError> {
        let id = self.id.clone();
        let removed = match self.inner.take() {
            Some(c) => c.rm().await.map_err(|e| e.to_string()),
            None => Ok(()),
        };
        let guard = self.guard.take();
        match (removed, guard) {
            (Ok(()), Some(g)) => {
                g.disarm();
                Ok(())
            }
            // The API call failed: the CLI is the fallback.
            (Err(_), Some(g)) => tokio::task::spawn_blocking(move || g.release())
                .await
                .map_err(BackendError::Task)?
                .map_err(BackendError::Failed),
            (Err(e), None) => Err(BackendError::Failed(format!(
                "could not remove container {id}: {e}"
            ))),
            (Ok(()), None) => Ok(()),
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Some(c) = self.inner.take() {
            std::mem::forget(c);
        }
        // `guard` drops after this and removes the container.
    }
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container").field("id", &self.id).finish()
    }
}

/// What the docker CLI says about the engine, or why it cannot be used.
pub(crate) fn engine_answers() -> Result<(), String> {
    let out = run_docker(&["version", "--format", "{{.Server.Version}}"], Duration::from_secs(15))
        .map_err(|e| {
            format!("the docker CLI could not be run ({e}); install Docker Engine (https://docs.docker.com/engine/install/)")
        })?;
    if out.0 {
        Ok(())
    } else {
        Err(format!(
            "the Docker engine does not answer ({}); start it, check DOCKER_HOST and that this user may use it",
            last_line(&out.1)
        ))
    }
}

pub(crate) fn image_present(image: &str) -> bool {
    matches!(
        run_docker(
            &["image", "inspect", "--format", "{{.Id}}", image],
            Duration::from_secs(15)
        ),
        Ok((true, _))
    )
}

fn missing_image_advice(image: &str, why: &str) -> String {
    format!(
        "docker image {image} is not present and could not be pulled ({why}); build the offline image with `ci/postgres-image.sh` and set replay.image = \"migration-gate/postgres:15\", or set replay.image to an image you have (`docker images`)"
    )
}

/// Pull `image` (bounded by `timeout`); the error names what to do instead.
pub(crate) fn pull(image: &str, timeout: Duration) -> Result<(), String> {
    match run_docker(&["pull", "--quiet", image], timeout) {
        Ok((true, _)) => Ok(()),
        Ok((false, err)) => Err(missing_image_advice(image, &last_line(&err))),
        Err(e) => Err(missing_image_advice(image, &e)),
    }
}

/// (success, stderr) of a docker CLI call, killed after `timeout`.
fn run_docker(args: &[&str], timeout: Duration) -> Result<(bool, String), String> {
    let mut child = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                use std::io::Read;
                let _ = s.read_to_string(&mut err);
            }
            return Ok((status.success(), err));
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("`docker {}` timed out", args.join(" ")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output")
        .trim()
        .to_string()
}

/// `name[:tag]` -> (name, tag); a `:` before the last `/` is a registry port, not a tag.
pub(crate) fn split_image(image: &str) -> (String, String) {
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (
            image[..slash + i].to_string(),
            image[slash + i + 1..].to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

fn hostname() -> String {
    // Linux first; `hostname` elsewhere (macOS).
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| {
            Command::new("hostname")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        })
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Remove containers left behind by runs on this host that were killed (SIGKILL leaves no
/// chance to clean up). Only containers whose recorded pid is gone are touched.
pub(crate) fn reap_leftovers() {
    let filter_host = format!("label={LABEL_HOST}={}", hostname());
    let Ok(out) = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label={LABEL}=1"),
            "--filter",
            &filter_host,
            "--format",
            &format!("{{{{.ID}}}} {{{{.Label \"{LABEL_PID}\"}}}}"),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut parts = line.split_whitespace();
        let (Some(id), Some(pid)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            let _ = crate::registry::remove_container(id);
        }
    }
}

/// Start the container and wait until PostgreSQL accepts a connection. Returns the container
/// and the superuser URL of its `postgres` database.
pub(crate) async fn start(opts: &BackendOptions) -> Result<(Container, String), BackendError> {
    // Declared first, dropped last: the signal cleanup's second pass waits for it.
    let _starting = Starting::begin();
    engine_answers().map_err(BackendError::Unavailable)?;
    if !image_present(&opts.image) {
        // Bounded: a pull that hangs on an unreachable registry must not eat the replay's time.
        pull(&opts.image, Duration::from_secs(300)).map_err(BackendError::Unavailable)?;
    }
    reap_leftovers();

    let (name, tag) = split_image(&opts.image);
    let password = random_token();
    let tls = ServerTls::generate(&[])?;
    let mut cmd: Vec<String> = vec!["-c".into(), tls_script(), "gate-tls".into()];
    cmd.extend(image_entrypoint(&opts.image));
    cmd.extend(
        [
            // Durability off: the database is thrown away; the images pass `-c` to postgres.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        .map(String::from),
    );
    // TLS: clients that force `sslmode=require` connect too.
    cmd.extend(ServerTls::server_settings(TLS_DIR));
    let request = GenericImage::new(name, tag)
        .with_entrypoint("/bin/sh")
        .with_exposed_port(5432.tcp())
        .with_env_var("POSTGRES_PASSWORD", &password)
        .with_env_var("POSTGRES_USER", "postgres")
        .with_env_var("POSTGRES_DB", "postgres")
        .with_env_var("PGDATA", PGDATA)
        .with_mount(Mount::tmpfs_mount(PGDATA))
        .with_label(LABEL, "1")
        .with_label(LABEL_PID, std::process::id().to_string())
        .with_label(LABEL_HOST, hostname())
        .with_label(LABEL_RUN, run_id())
        // 0644 in transit: an image whose server does not start as root can still read it;
        // tls_script gives the copy the server uses mode 0600.
        .with_copy_to(
            CopyTargetOptions::new(format!("{TLS_SOURCE}/{}", tls::CERT_FILE)).with_mode(0o644),
            tls.cert_pem.into_bytes(),
        )
        .with_copy_to(
            CopyTargetOptions::new(format!("{TLS_SOURCE}/{}", tls::KEY_FILE)).with_mode(0o644),
            tls.key_pem.into_bytes(),
        )
        .with_cmd(cmd);
    // Registered before the create request, and the interrupt checked after counting it in
    // CREATING: either the signal cleanup waits for this creation, or no creation starts.
    let guard = Guard::register(Resource::RunContainers {
        run: run_id().to_string(),
    });
    let creating = Creating::begin();
    if crate::registry::interrupted() {
        return Err(BackendError::Interrupted(
            "before the container was created",
        ));
    }
    let started = request.start().await;
    drop(creating);
    let container = started.map_err(|e| BackendError::Container {
        context: format!("could not start a container from {}", opts.image),
        source: Box::new(e),
    })?;
    let id = container.id().to_string();
    // By id from now on: faster than asking the engine for the label. Re-registered even
    // when the signal cleanup already took the label entry: its second pass removes it.
    guard.update(Resource::Container { id: id.clone() });
    let inner = container;
    let host = inner.get_host().await;
    let port = inner.get_host_port_ipv4(5432).await;
    let container = Container {
        inner: Some(inner),
        id,
        guard: Some(guard),
    };
    if crate::registry::interrupted() {
        // Dropping the container removes it (or the cleanup's second pass does).
        return Err(BackendError::Interrupted(
            "while the container was starting",
        ));
    }

    let host = match host {
        Ok(h) => h.to_string(),
        Err(e) => {
            return Err(BackendError::Container {
                context: format!("container {}", container.id),
                source: Box::new(e),
            });
        }
    };
    // psycopg2 and sqlx may pick ::1 for `localhost` while the port is published on IPv4.
    let host = if host == "localhost" {
        "127.0.0.1".to_string()
    } else {
        host
    };
    let port = port.map_err(|e| BackendError::Container {
        context: format!("container {}: no published port 5432", container.id),
        source: Box::new(e),
    })?;
    // The tool's own connections stay on loopback and skip the TLS handshake (children
    // choose for themselves: the server offers TLS, see tls.rs).
    let url = format!("postgres://postgres:{password}@{host}:{port}/postgres?sslmode=disable");
    let copts = connect::options(&url)?;

    let id = container.id.clone();
    let image = opts.image.clone();
    let mut polls = 0u32;
    let conn = connect::wait_ready(&copts, opts.ready_timeout, move || {
        // Asking the engine is slower than a connection attempt: only now and then.
        polls += 1;
        if !polls.is_multiple_of(10) {
            return Ok(());
        }
        container_exited(&id, &image)
    })
    .await?;
    let _ = sqlx::Connection::close(conn).await;
    Ok((container, url))
}

/// `Err` with the container's last log lines when it is no longer running.
fn container_exited(id: &str, image: &str) -> Result<(), BackendError> {
    let Ok(out) = Command::new("docker")
        .args(["inspect", "--format", "{{.State.Running}}", id])
        .stdin(Stdio::null())
        .output()
    else {
        return Ok(());
    };
    if String::from_utf8_lossy(&out.stdout).trim() != "false" {
        return Ok(());
    }
    let logs = Command::new("docker")
        .args(["logs", "--tail", "15", id])
        .output()
        .map(|o| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .unwrap_or_default();
    Err(BackendError::Failed(format!(
        "the container from {image} exited before PostgreSQL was ready; is it a PostgreSQL image that honours POSTGRES_PASSWORD? Its last log lines:\n{}",
        logs.trim()
    )))
}
