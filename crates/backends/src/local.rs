//! `local`: an ephemeral cluster from the PostgreSQL server binaries on this machine.
//!
//! initdb is the slow part (~0.5 s), so the first run keeps a pristine initdb'd cluster as a
//! template in a cache folder and later runs copy it. The cluster listens on a private unix
//! socket (folder mode 0700, trust) and on 127.0.0.1 with a per-run random password (what
//! child processes such as Alembic use), with TLS from a self-signed certificate made for the
//! run (in the cluster folder, key 0600) so `sslmode=require` clients connect. As root, initdb
//! and postgres run as the `postgres` user (else `nobody`), since postgres refuses to run as
//! root.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sqlx::Executor;
use sqlx::postgres::PgConnectOptions;

use crate::connect::{self, quote_literal, random_token};
use crate::registry::{Guard, Resource, Starting};
use crate::tls::{self, ServerTls};
use crate::{BackendError, BackendOptions};

/// Overrides the search for server binaries (a folder holding `initdb` and `postgres`).
pub const BINDIR_ENV: &str = "GATE_PG_BINDIR";
/// Overrides where the template cluster is cached.
pub const CACHE_ENV: &str = "GATE_PG_TEMPLATE_CACHE";
/// Overrides the folder that holds the scratch clusters.
pub const TMPDIR_ENV: &str = "GATE_PG_TMPDIR";

/// A RAM-backed /dev/shm is used for scratch clusters when it has at least this much room.
const SHM_MIN_FREE: u64 = 2 << 30;

const SUPERUSER: &str = "postgres";

#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) pid: u32,
    pub(crate) dir: PathBuf,
    pub(crate) version: String,
    pub(crate) guard: Guard,
}

/// Server binaries found on this machine.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub(crate) bindir: PathBuf,
    /// e.g. `15.18`
    pub(crate) version: String,
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// Find server binaries: `GATE_PG_BINDIR` alone when set; else `pg_config --bindir`, the
/// `PATH` entry holding `initdb`, `/usr/lib/postgresql/*/bin` (newest major first).
pub(crate) fn find_binaries() -> Result<Binaries, BackendError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os(BINDIR_ENV) {
        candidates.push(PathBuf::from(dir));
    } else {
        if let Ok(out) = Command::new("pg_config")
            .arg("--bindir")
            .stderr(Stdio::null())
            .output()
            && out.status.success()
        {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path));
        }
        let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let major = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                Some((major, e.path().join("bin")))
            })
            .collect();
        versioned.sort_by_key(|v| std::cmp::Reverse(v.0));
        candidates.extend(versioned.into_iter().map(|(_, p)| p));
    }
    let searched: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    for dir in candidates {
        if !has_server(&dir) {
            continue;
        }
        let out = Command::new(dir.join("postgres")).arg("--version").output();
        if let Ok(out) = out
            && out.status.success()
        {
            // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
            let text = String::from_utf8_lossy(&out.stdout);
            let version = text
                .split_whitespace()
                .nth(2)
                .unwrap_or("unknown")
                .to_string();
            return Ok(Binaries {
                bindir: dir,
                version,
            });
        }
    }
    let place = if std::env::var_os(BINDIR_ENV).is_some() {
        format!("{BINDIR_ENV}={}", searched.join(", "))
    } else {
        "pg_config --bindir, PATH and /usr/lib/postgresql/*/bin".to_string()
    };
    Err(BackendError::Unavailable(format!(
        "no PostgreSQL server binaries (initdb, postgres) found in {place}; install them (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql), set {BINDIR_ENV} to their folder, or use --backend docker / --database-url"
    )))
}

/// The user initdb and postgres run as: ourselves, or an unprivileged one when we are root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    /// `Some` when privileges must be dropped.
    drop_to: Option<(u32, u32)>,
    uid: u32,
}

fn run_as() -> Result<RunAs, BackendError> {
    let euid = nix::unistd::geteuid();
    if !euid.is_root() {
        return Ok(RunAs {
            drop_to: None,
            uid: euid.as_raw(),
        });
    }
    for name in ["postgres", "nobody"] {
        if let Ok(Some(u)) = nix::unistd::User::from_name(name) {
            return Ok(RunAs {
                drop_to: Some((u.uid.as_raw(), u.gid.as_raw())),
                uid: u.uid.as_raw(),
            });
        }
    }
    Err(BackendError::Unavailable(
        "running as root and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as (it refuses root); create one (useradd --system postgres) or run as a normal user".into(),
    ))
}

impl RunAs {
    fn command(&self, program: &Path, cwd: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(cwd).stdin(Stdio::null());
        // std drops supplementary groups when switching away from root.
        if let Some((uid, gid)) = self.drop_to {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn chown(&self, path: &Path) -> Result<(), BackendError> {
        if let Some((uid, gid)) = self.drop_to {
            nix::unistd::chown(
                path,
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
            )
            .map_err(|e| BackendError::io("could not chown", path, e.into()))?;
        }
        Ok(())
    }
}

fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_ENV) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("migration-gate");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache").join("migration-gate");
    }
    std::env::temp_dir().join(format!(
        "migration-gate-cache-{}",
        nix::unistd::getuid().as_raw()
    ))
}

/// FNV-1a: a stable short key for the binaries' folder (std's hasher is not stable).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The template cluster for these binaries and this run user, if one is cached.
fn template_dir(bins: &Binaries, runas: &RunAs) -> PathBuf {
    cache_root().join(format!(
        "template-v2-pg{}-uid{}-{:012x}",
        bins.version,
        runas.uid,
        fnv(&bins.bindir.display().to_string()) & 0xffff_ffff_ffff
    ))
}

const READY_MARKER: &str = "ready";

/// `cp -a` keeps the run user's ownership when we are root; reflinks make it nearly free on
/// filesystems that support them.
fn copy_tree(from: &Path, to: &Path) -> Result<(), BackendError> {
    let mut cmd = Command::new("cp");
    cmd.arg("-a");
    if cfg!(target_os = "linux") {
        cmd.arg("--reflink=auto");
    }
    let out = cmd
        .arg(from)
        .arg(to)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BackendError::io("could not run", "cp", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BackendError::Failed(format!(
            "could not copy {} to {}: {}",
            from.display(),
            to.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn initdb(bins: &Binaries, runas: &RunAs, root: &Path, data: &Path) -> Result<(), BackendError> {
    let out = runas
        .command(&bins.bindir.join("initdb"), root)
        .arg("-D")
        .arg(data)
        .args([
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            // A scratch cluster: nothing to make durable.
            "--no-sync",
            // 1 MB WAL segments instead of 16: the template copy each run gets 40% smaller.
            "--wal-segsize=1",
        ])
        .output()
        .map_err(|e| BackendError::io("could not run", bins.bindir.join("initdb"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BackendError::Failed(format!(
            "initdb ({}) failed: {}",
            bins.bindir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Put a pristine cluster at `data`: a copy of the cached template, or a fresh initdb that is
/// then cached for the next run (best effort: a cache that cannot be written costs speed only).
fn prepare_data(
    bins: &Binaries,
    runas: &RunAs,
    root: &Path,
    data: &Path,
) -> Result<(), BackendError> {
    let template = template_dir(bins, runas);
    if template.join(READY_MARKER).is_file() && copy_tree(&template.join("data"), data).is_ok() {
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(data);
    initdb(bins, runas, root, data)?;
    let cache = cache_root();
    if std::fs::create_dir_all(&cache).is_ok() {
        let staging = cache.join(format!(".staging-{}", random_token()));
        let staged = std::fs::create_dir(&staging).is_ok()
            && copy_tree(data, &staging.join("data")).is_ok()
            && std::fs::write(staging.join(READY_MARKER), &bins.version).is_ok()
            // Atomic publish; a concurrent run that won the race keeps its copy.
            && std::fs::rename(&staging, &template).is_ok();
        if !staged {
            let _ = std::fs::remove_dir_all(&staging);
        }
    }
    Ok(())
}

/// Where scratch clusters live: `GATE_PG_TMPDIR`; else /dev/shm when it has room, since the
/// data is thrown away and a disk under load (a CI runner compiling) makes the template copy
/// and every migration slower; else the temp folder.
fn scratch_parent() -> PathBuf {
    if let Some(dir) = std::env::var_os(TMPDIR_ENV) {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    if let Ok(st) = nix::sys::statvfs::statvfs(shm) {
        // The field types differ between platforms (u32 on macOS).
        #[allow(clippy::useless_conversion)]
        let free = u64::from(st.blocks_available()).saturating_mul(u64::from(st.fragment_size()));
        if free >= SHM_MIN_FREE {
            return shm.to_path_buf();
        }
    }
    std::env::temp_dir()
}

const OWNER_FILE: &str = "owner.pid";
const DIR_PREFIX: &str = "migration-gate-pg-";

/// Remove clusters left by runs that were SIGKILLed (no handler runs then, and postgres in
/// its own process group outlives us): a folder whose owner process is gone is stopped and
/// removed. Folders of live runs are never touched.
fn reap_leftovers(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let Some(owner) = read_pid(&dir.join(OWNER_FILE)) else {
            continue;
        };
        if pid_alive(owner) {
            continue;
        }
        if let Some(pm) = read_pid(&dir.join("data").join("postmaster.pid")) {
            // Only a postgres serving this very folder (pids get reused).
            let cmdline = std::fs::read(format!("/proc/{pm}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy()) {
                crate::registry::stop_postgres(pm);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn pid_alive(pid: i32) -> bool {
    // EPERM means it exists but belongs to someone else.
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

fn free_port() -> Result<u16, BackendError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| BackendError::io("no free TCP port on", "127.0.0.1", e))
}

/// Write the run's certificate and key into the cluster folder, owned by the server's user;
/// the key 0600 from the moment it exists, since postgres refuses a key others can read.
fn write_tls(runas: &RunAs, root: &Path) -> Result<(), BackendError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tls = ServerTls::generate(&[])?;
    for (name, pem, mode) in [
        (tls::CERT_FILE, &tls.cert_pem, 0o644),
        (tls::KEY_FILE, &tls.key_pem, 0o600),
    ] {
        let path = root.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .and_then(|mut f| f.write_all(pem.as_bytes()))
            .map_err(|e| BackendError::io("could not write", &path, e))?;
        runas.chown(&path)?;
    }
    Ok(())
}

fn spawn_postgres(
    bins: &Binaries,
    runas: &RunAs,
    root: &Path,
    data: &Path,
    port: u16,
) -> Result<Child, BackendError> {
    let log_path = root.join("postgres.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| BackendError::io("could not create the server log", &log_path, e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| BackendError::io("could not create the server log", &log_path, e))?;
    let mut cmd = runas.command(&bins.bindir.join("postgres"), root);
    cmd.arg("-D")
        .arg(data)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(root)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_permissions=0700",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
        // TLS on TCP: clients that force `sslmode=require` connect too.
        .args(ServerTls::server_settings(&root.to_string_lossy()))
        .stdout(log)
        .stderr(log2)
        // Its own process group: the terminal's Ctrl-C reaches us, not postgres, so we
        // decide the order of the cleanup.
        .process_group(0);
    cmd.spawn()
        .map_err(|e| BackendError::io("could not start", bins.bindir.join("postgres"), e))
}

fn log_tail(root: &Path) -> String {
    let text = std::fs::read_to_string(root.join("postgres.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// After a registration: when a signal arrived, the cleanup may have run before it, so
/// register again (the guard's drop, or the cleanup's second pass, removes it) and give up.
fn stop_if_interrupted(guard: &Guard, resource: Resource) -> Result<(), BackendError> {
    if crate::registry::interrupted() {
        guard.update(resource);
        return Err(BackendError::Interrupted("while the cluster was starting"));
    }
    Ok(())
}

/// Start a cluster and return it with the superuser's TCP URL (with its password).
pub(crate) async fn start(opts: &BackendOptions) -> Result<(Cluster, String), BackendError> {
    // Declared first, dropped last: the signal cleanup's second pass waits for it.
    let _starting = Starting::begin();
    let bins = find_binaries()?;
    let runas = run_as()?;

    let parent = scratch_parent();
    reap_leftovers(&parent);
    let root = tempfile::Builder::new()
        .prefix(DIR_PREFIX)
        .tempdir_in(&parent)
        .map_err(|e| BackendError::io("could not create a temporary folder in", &parent, e))?
        .keep();
    let guard = Guard::register(Resource::Folder { dir: root.clone() });
    stop_if_interrupted(&guard, Resource::Folder { dir: root.clone() })?;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| BackendError::io("chmod", &root, e))?;
    std::fs::write(root.join(OWNER_FILE), std::process::id().to_string())
        .map_err(|e| BackendError::io("could not write in", &root, e))?;
    runas.chown(&root)?;
    let data = root.join("data");
    prepare_data(&bins, &runas, &root, &data)?;
    write_tls(&runas, &root)?;

    // A port found free can be taken before postgres binds it: try a few.
    let mut attempt = 0;
    let (pid, conn, port) = loop {
        attempt += 1;
        let port = free_port()?;
        let mut child = spawn_postgres(&bins, &runas, &root, &data, port)?;
        let pid = child.id();
        let cluster = Resource::Cluster {
            pid: pid as i32,
            dir: root.clone(),
        };
        guard.update(cluster.clone());
        stop_if_interrupted(&guard, cluster)?;
        let socket_opts = PgConnectOptions::new_without_pgpass()
            .socket(&root)
            .port(port)
            .username(SUPERUSER)
            .database("postgres");
        let mut exited = None;
        let result = connect::wait_ready(&socket_opts, opts.ready_timeout, || {
            match child.try_wait() {
                Ok(Some(status)) => {
                    exited = Some(status);
                    Err(BackendError::Failed(format!(
                        "postgres exited ({status}) before it was ready:\n{}",
                        log_tail(&root)
                    )))
                }
                _ => Ok(()),
            }
        })
        .await;
        match result {
            Ok(conn) => break (pid, conn, port),
            Err(e) => {
                let port_taken = log_tail(&root).contains("could not bind");
                if exited.is_none() {
                    crate::registry::stop_postgres(pid as i32);
                }
                if port_taken && attempt < 3 {
                    continue;
                }
                return Err(e);
            }
        }
    };
    let mut conn = conn;
    let password = random_token();
    conn.execute(sqlx::AssertSqlSafe(format!(
        "ALTER ROLE {SUPERUSER} PASSWORD {}",
        quote_literal(&password)
    )))
    .await
    .map_err(|e| BackendError::sql("could not set the scratch password".into(), "", e))?;
    let _ = sqlx::Connection::close(conn).await;

    // The tool's own connections stay on loopback and skip the TLS handshake (children
    // choose for themselves: the server offers TLS, see tls.rs).
    let url =
        format!("postgres://{SUPERUSER}:{password}@127.0.0.1:{port}/postgres?sslmode=disable");
    Ok((
        Cluster {
            pid,
            dir: root,
            version: bins.version,
            guard,
        },
        url,
    ))
}

pub(crate) fn describe(c: &Cluster) -> String {
    format!("local PostgreSQL {} ({})", c.version, c.dir.display())
}
