//! Child processes of a replay (alembic, `migrations.upgrade`, fix scripts): each runs in its own
//! process group so a timeout can kill it together with anything it started, and its output is
//! read line by line as it streams so log lines can be timestamped on arrival.

use std::process::Stdio;
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a finished (or killed) child left behind.
#[derive(Debug)]
pub struct Finished {
    /// `Some(code)` when it exited; `None` when it was killed by a signal.
    pub code: Option<i32>,
    /// It ran past the deadline and its process group was killed.
    pub timed_out: bool,
    /// Every output line in arrival order.
    pub lines: Vec<(Stream, String)>,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// The last `n` output lines, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self
            .lines
            .iter()
            .map(|(_, l)| l.trim_end())
            .filter(|l| !l.is_empty())
            .collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Run `cmd` until it exits or `deadline` passes, calling `on_line` for each output line the
/// moment it arrives. Spawning errors (interpreter not found) are returned as `Err`.
pub async fn run_streaming(
    mut cmd: Command,
    deadline: Instant,
    mut on_line: impl FnMut(Stream, &str, Instant),
) -> std::io::Result<Finished> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Own process group: killing it on timeout also kills what the script started
        // (psql, a second python), so nothing is left running.
        .process_group(0)
        .kill_on_drop(true);
    // Spawn and registration are one start-up: the signal cleanup's second pass waits for it.
    let starting = gate_backends::Starting::begin();
    let mut child = cmd.spawn()?;
    let pid = child.id();
    // Ctrl-C / SIGTERM cleanup kills the group too (it is not in the terminal's group).
    let _group = pid.and_then(|p| i32::try_from(p).ok()).map(|pgid| {
        gate_backends::CleanupGuard::register(gate_backends::CleanupResource::ProcessGroup { pgid })
    });
    if gate_backends::interrupted() {
        // The cleanup may have run before the group was registered: the guard kills it now.
        return Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "interrupted before the process started",
        ));
    }
    drop(starting);
    let (tx, mut rx) = mpsc::unbounded_channel::<(Stream, String, Instant)>();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let _ = tx.send((Stream::Stdout, l, Instant::now()));
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let _ = tx.send((Stream::Stderr, l, Instant::now()));
            }
        });
    }
    drop(tx);

    let mut lines = Vec::new();
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);
    let mut timed_out = false;
    let mut status = None;
    let mut pipes_open = true;
    loop {
        tokio::select! {
            msg = rx.recv(), if pipes_open => match msg {
                Some((s, l, at)) => {
                    on_line(s, &l, at);
                    lines.push((s, l));
                }
                None => pipes_open = false,
            },
            st = child.wait(), if status.is_none() => {
                status = Some(st?);
                if !pipes_open { break; }
            },
            () = &mut sleep, if !timed_out => {
                timed_out = true;
                kill_group(pid);
                // Still collect what it printed before dying; wait() below returns promptly.
            },
        }
        if status.is_some() && !pipes_open {
            break;
        }
        if timed_out && status.is_some() {
            // A grandchild that escaped the group could keep the pipes open; do not wait for it.
            while let Ok((s, l, _)) = rx.try_recv() {
                lines.push((s, l));
            }
            break;
        }
    }
    // Whatever happened, nothing of this run may outlive it.
    kill_group(pid);
    let code = status.and_then(|s| s.code());
    Ok(Finished {
        code,
        timed_out,
        lines,
    })
}

fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
