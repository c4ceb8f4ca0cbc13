//! Process-wide registry of what the tool started (containers, clusters, scratch databases on
//! somebody else's server), so that every exit path removes it: normal shutdown, `Drop` during
//! an error or a panic, and SIGINT/SIGTERM through [`install_signal_cleanup`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// Something that must not outlive the run.
#[derive(Debug, Clone)]
pub enum Resource {
    /// A docker container, removed with `docker rm -f`.
    Container { id: String },
    /// Every container labelled with this run id, removed with `docker rm -f`: registered
    /// before the container is created, so a signal during start-up, when no id is known
    /// yet, still removes it.
    RunContainers { run: String },
    /// A local postgres (process group leader `pid`) and the folder holding its cluster.
    Cluster { pid: i32, dir: PathBuf },
    /// A folder only (a cluster being prepared, before postgres runs).
    Folder { dir: PathBuf },
    /// A scratch database on a server given by URL; `admin_url` holds the password.
    Database { admin_url: String, name: String },
    /// A runner or fix process group (alembic, a fix script and what they started): runners
    /// get their own group for timeouts, so Ctrl-C at the terminal no longer reaches them.
    ProcessGroup { pgid: i32 },
}

static NEXT: AtomicU64 = AtomicU64::new(1);

fn live() -> MutexGuard<'static, BTreeMap<u64, Resource>> {
    static LIVE: OnceLock<Mutex<BTreeMap<u64, Resource>>> = OnceLock::new();
    // A panic while the lock is held must not stop the cleanup of everything else.
    LIVE.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Owns one registered resource: releasing it (explicitly or on drop) removes it.
#[derive(Debug)]
pub struct Guard {
    key: u64,
}

impl Guard {
    pub fn register(resource: Resource) -> Guard {
        let key = NEXT.fetch_add(1, Ordering::Relaxed);
        live().insert(key, resource);
        Guard { key }
    }

    /// Replace what this guard protects (a folder that now also has a running server).
    pub fn update(&self, resource: Resource) {
        live().insert(self.key, resource);
    }

    /// Remove the resource now, reporting failure.
    pub fn release(self) -> Result<(), String> {
        let taken = live().remove(&self.key);
        std::mem::forget(self);
        match taken {
            Some(r) => release(&r),
            None => Ok(()),
        }
    }

    /// The resource is gone by other means (e.g. the database was dropped normally).
    pub fn disarm(self) {
        live().remove(&self.key);
        std::mem::forget(self);
    }
}

impl Drop for Guard {
    // `drop` has no caller to return an error to: stderr is where a failed cleanup shows.
    #[allow(clippy::disallowed_macros)]
    fn drop(&mut self) {
        let taken = live().remove(&self.key);
        if let Some(r) = taken
            && let Err(e) = release(&r)
        {
            eprintln!("gate-replay: cleanup: {e}");
        }
    }
}

/// Remove everything still registered (used by the signal handler; also safe to call at exit).
// Runs in the signal handler, with no caller to return errors to: stderr is all there is.
#[allow(clippy::disallowed_macros)]
pub fn cleanup_all() {
    let all: Vec<Resource> = std::mem::take(&mut *live()).into_values().collect();
    for r in all.iter().rev() {
        if let Err(e) = release(r) {
            eprintln!("gate-replay: cleanup: {e}");
        }
    }
}

/// Install, once per process, a SIGINT/SIGTERM handler that removes every container, cluster
/// and scratch database this process started, then exits 130 (SIGINT) or 143 (SIGTERM).
/// Runs on its own thread and runtime, so it works whatever the caller's runtime is doing.
/// The exit code of a SIGINT (130) or SIGTERM (143) received, 0 while none was.
static INTERRUPTED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Whether SIGINT or SIGTERM arrived: nothing new may be started after it, since the
/// cleanup may already have run.
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) != 0
}

/// Start-ups in flight (a container, a cluster, a runner's process group being created).
static STARTING: AtomicU64 = AtomicU64::new(0);

/// Held for the whole of a start-up. The signal cleanup removes what is registered, waits
/// until no start-up is in flight, and removes again before the process ends: a resource
/// registered (or re-registered with [`Guard::update`]) after the first pass is not left
/// behind. A start-up checks [`interrupted`] after each registration and gives up, so the
/// wait is short.
#[derive(Debug)]
pub struct Starting(());

impl Starting {
    pub fn begin() -> Starting {
        STARTING.fetch_add(1, Ordering::SeqCst);
        Starting(())
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        STARTING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Wait (bounded) until no start-up is in flight.
fn wait_for_start_ups(limit: Duration) {
    let deadline = Instant::now() + limit;
    while STARTING.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// When a signal arrived, never render a verdict: the run was interrupted, and the child
/// processes the cleanup killed would otherwise look like failed migrations. Waits for the
/// cleanup thread, which ends the process with 130/143.
pub fn exit_if_interrupted() {
    let code = INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst);
    if code == 0 {
        return;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::process::exit(code);
}

// The signal thread has no caller to return errors to: stderr is all there is.
#[allow(clippy::disallowed_macros)]
pub fn install_signal_cleanup() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("gate-signal-cleanup".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("gate-replay: cannot install the signal handler: {e}");
                        let _ = ready_tx.send(());
                        return;
                    }
                };
                rt.block_on(async move {
                    use tokio::signal::unix::{SignalKind, signal};
                    let (Ok(mut int), Ok(mut term)) = (
                        signal(SignalKind::interrupt()),
                        signal(SignalKind::terminate()),
                    ) else {
                        eprintln!("gate-replay: cannot install the SIGINT/SIGTERM handler");
                        let _ = ready_tx.send(());
                        return;
                    };
                    let _ = ready_tx.send(());
                    let code = tokio::select! {
                        _ = int.recv() => 130,
                        _ = term.recv() => 143,
                    };
                    INTERRUPTED.store(code, std::sync::atomic::Ordering::SeqCst);
                    eprintln!("gate-replay: interrupted, removing what was started");
                    cleanup_all();
                    // What a start-up in flight registered after the first pass.
                    wait_for_start_ups(Duration::from_secs(60));
                    cleanup_all();
                    std::process::exit(code);
                });
            });
        // Wait until the handlers are in place, so a signal right after this call is caught.
        if spawned.is_ok() {
            let _ = ready_rx.recv_timeout(Duration::from_secs(5));
        }
    });
}

fn release(r: &Resource) -> Result<(), String> {
    match r {
        Resource::Container { id } => remove_container(id),
        Resource::RunContainers { run } => crate::docker::remove_run_containers(run),
        Resource::Cluster { pid, dir } => {
            stop_postgres(*pid);
            remove_folder(dir)
        }
        Resource::Folder { dir } => remove_folder(dir),
        Resource::Database { admin_url, name } => drop_database_blocking(admin_url, name),
        Resource::ProcessGroup { pgid } => match killpg(Pid::from_raw(*pgid), Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(format!("could not stop process group {pgid}: {e}")),
        },
    }
}

pub(crate) fn remove_container(id: &str) -> Result<(), String> {
    let out = Command::new("docker")
        .args(["rm", "-f", "-v", id])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run `docker rm -f {id}`: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || stderr.contains("No such container") {
        Ok(())
    } else {
        Err(format!(
            "`docker rm -f {id}` failed: {}; remove it by hand",
            stderr.trim()
        ))
    }
}

/// Immediate shutdown (SIGQUIT: postgres releases its shared memory and exits at once; the
/// data is thrown away anyway), then SIGKILL to the whole process group if it lingers.
pub(crate) fn stop_postgres(pid: i32) {
    let pid = Pid::from_raw(pid);
    if kill(pid, Signal::SIGQUIT).is_err() {
        let _ = killpg(pid, Signal::SIGKILL);
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(_) => break,
            // Not our child (or already reaped): fall back to probing.
            Err(Errno::ECHILD) => {
                if kill(pid, None).is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
        if Instant::now() > deadline {
            let _ = killpg(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Backends that outlived the postmaster (they should not) go with the group.
    let _ = killpg(pid, Signal::SIGKILL);
}

fn remove_folder(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("could not remove {}: {e}", dir.display())),
    }
}

/// Drop a scratch database from synchronous code (Drop, signal thread): a private runtime
/// on a private thread, so it works inside or outside a tokio runtime.
fn drop_database_blocking(admin_url: &str, name: &str) -> Result<(), String> {
    let admin_url = admin_url.to_string();
    let name = name.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(30),
                crate::remote::drop_database(&admin_url, &name),
            )
            .await
            .map_err(|_| format!("timed out dropping database {name}"))?
            .map_err(|e| e.to_string())
        })
    })
    .join()
    .map_err(|_| "panic while dropping a scratch database".to_string())?
}
