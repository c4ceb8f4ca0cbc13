//! One Alembic interpreter for many commands (the stairway's hundreds of steps, `alembic
//! check`): the wrapper's serve mode reads one JSON list of alembic arguments per stdin line
//! and answers each with a `stepend` line, then waits. The caller reads the catalog between
//! steps, so the Python start-up and imports are paid once, not per step. In this mode the
//! wrapper also keeps env.py's engine and one connection between commands (reset with
//! `DISCARD ALL` before each reuse, rolled back after each command) and one Alembic
//! command-line parser.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

use super::alembic::{AlembicRunner, MARK, PIP_HINT, clean_message, step_revision};
use super::{Failure, RunnerError, rel_path};
use crate::child_env::ChildEnv;

/// What one command did.
#[derive(Debug, Default)]
pub struct StepResult {
    /// `None`: the command succeeded.
    pub failure: Option<Failure>,
    /// `alembic check`'s differences, each in Alembic's own text (`('add_column', ...)`).
    pub diffs: Option<Vec<String>>,
    /// The raw error of a failed command (`type`, `message`), for callers that read it.
    pub error: Option<serde_json::Value>,
    /// Revisions whose upgrade or downgrade ran, in order.
    pub ran: Vec<String>,
    /// What each statement did, when the session's environment observes
    /// ([`ChildEnv::observing`]); the L0xx checks read it.
    pub observed: Vec<crate::observe::ObservedStatement>,
    /// Why some statements could not be observed (the migration itself ran on).
    pub observe_problems: Vec<String>,
    /// The wrapper cannot walk (see [`AlembicSession::step`]): why.
    pub unsupported: Option<String>,
}

/// How [`AlembicSession::step`] runs steps right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walking {
    /// No walk is running: the next step starts one.
    Idle,
    /// A walk is running: steps go to it.
    Running,
    /// env.py cannot walk: one command per step.
    PerCommand,
}

/// A running wrapper in serve mode. Dropping it kills the interpreter.
pub struct AlembicSession<'r> {
    runner: &'r AlembicRunner,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    /// Output lines that are not the wrapper's own, last few, for messages.
    tail: Vec<String>,
    pgid: Option<i32>,
    walking: Walking,
    _group: Option<gate_backends::CleanupGuard>,
}

impl std::fmt::Debug for AlembicSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlembicSession")
            .field("pgid", &self.pgid)
            .finish()
    }
}

impl<'r> AlembicSession<'r> {
    pub fn start(runner: &'r AlembicRunner, db: &ChildEnv) -> Result<Self, RunnerError> {
        let mut cmd = runner.serve_command(db);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // Spawn and registration are one start-up: the signal cleanup's second pass waits for
        // it (a stairway segment or the seeded pass may be starting when Ctrl-C arrives).
        let starting = gate_backends::Starting::begin();
        let mut child = cmd.spawn().map_err(|e| RunnerError::Spawn {
            action: "start",
            program: runner.python().to_string(),
            purpose: " (replay.python)".into(),
            advice: format!("; set replay.python to an interpreter that has Alembic ({PIP_HINT})"),
            source: e,
        })?;
        let pgid = child.id().and_then(|p| i32::try_from(p).ok());
        let group = pgid.map(|pgid| {
            gate_backends::CleanupGuard::register(gate_backends::CleanupResource::ProcessGroup {
                pgid,
            })
        });
        if gate_backends::interrupted() {
            // The cleanup may have run before the group was registered: dropping the guard
            // (and the child) kills it now.
            drop(group);
            return Err(RunnerError::Environment(
                "interrupted before the alembic interpreter started".into(),
            ));
        }
        drop(starting);
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(err) = child.stderr.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(AlembicSession {
            runner,
            stdin: child.stdin.take(),
            child,
            lines: rx,
            tail: Vec::new(),
            pgid,
            walking: Walking::Idle,
            _group: group,
        })
    }

    /// Run `alembic <args>` in the interpreter and wait for its end (or `deadline`: the
    /// interpreter is killed and the failure says it timed out).
    pub async fn run(
        &mut self,
        args: &[&str],
        deadline: Instant,
    ) -> Result<StepResult, RunnerError> {
        self.end_walk(deadline).await?;
        self.request(&serde_json::json!(args), deadline).await
    }

    /// Upgrade (`up`) or downgrade to `target` (any revision expression Alembic takes:
    /// `rev`, `rev@-1`, `base`), as `alembic upgrade|downgrade <target>` would, committed when
    /// it returns. The steps of one session share one env.py run (the wrapper's walk): env.py,
    /// its connection and its `context.configure()` are set up once, and each migration
    /// commits on its own (`transaction_per_migration`), which is what a separate command per
    /// step gives the catalog reads in between. A failed step ends the walk (the next step
    /// starts another); an env.py that keeps a transaction of its own around the migrations
    /// gets one command per step.
    pub async fn step(
        &mut self,
        up: bool,
        target: &str,
        deadline: Instant,
    ) -> Result<StepResult, RunnerError> {
        if self.walking == Walking::Idle {
            let started = self
                .request(&serde_json::json!({"walk": true}), deadline)
                .await?;
            if started.unsupported.is_some() {
                self.walking = Walking::PerCommand;
            } else if started.failure.is_some() {
                return Ok(started);
            } else {
                self.walking = Walking::Running;
            }
        }
        if self.walking == Walking::PerCommand {
            let verb = if up { "upgrade" } else { "downgrade" };
            return self
                .request(&serde_json::json!([verb, target]), deadline)
                .await;
        }
        let key = if up { "up" } else { "down" };
        let result = self
            .request(&serde_json::json!({ key: target }), deadline)
            .await?;
        if result.failure.is_some() {
            self.walking = Walking::Idle;
        }
        Ok(result)
    }

    /// Ends a running walk: env.py returns and closes its connection.
    async fn end_walk(&mut self, deadline: Instant) -> Result<(), RunnerError> {
        if self.walking == Walking::Running {
            self.walking = Walking::Idle;
            let ended = self
                .request(&serde_json::json!({"end": true}), deadline)
                .await?;
            if let Some(f) = ended.failure {
                return Err(RunnerError::Environment(format!(
                    "env.py failed after its last step: {}",
                    f.describe()
                )));
            }
        }
        Ok(())
    }

    /// Send one request line and read until its `stepend`.
    async fn request(
        &mut self,
        request: &serde_json::Value,
        deadline: Instant,
    ) -> Result<StepResult, RunnerError> {
        let line = request.to_string() + "\n";
        let sent = match self.stdin.as_mut() {
            Some(stdin) => {
                stdin.write_all(line.as_bytes()).await.is_ok() && stdin.flush().await.is_ok()
            }
            None => false,
        };
        let mut result = StepResult::default();
        let mut error: Option<serde_json::Value> = None;
        let mut observed = crate::observe::WrapperLog::default();
        let sleep = tokio::time::sleep_until(deadline.into());
        tokio::pin!(sleep);
        loop {
            let next = tokio::select! {
                l = self.lines.recv() => l,
                () = &mut sleep => {
                    self.kill();
                    result.failure = Some(self.failure(&result.ran, None, true));
                    return Ok(result);
                }
            };
            let Some(l) = next else {
                // The interpreter is gone (or never started Alembic).
                return self.ended(sent, result, error);
            };
            let Some(rest) = l.strip_prefix(MARK) else {
                self.keep(l);
                continue;
            };
            let (kind, json) = rest.split_once(' ').unwrap_or((rest, "{}"));
            let payload: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
            match kind {
                "step" => {
                    if let Some(rev) = step_revision(payload["msg"].as_str().unwrap_or_default()) {
                        result.ran.push(rev);
                    }
                }
                "stmt" | "txend" | "observe-failed" => {
                    let root = self.runner.root().to_path_buf();
                    observed.line(kind, payload, result.ran.last().cloned(), |f| {
                        rel_path(&root, Path::new(f))
                    });
                }
                "error" => error = Some(payload),
                "diffs" => {
                    result.diffs = Some(
                        payload["diffs"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|d| d.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    );
                }
                "no-alembic" => {
                    return Err(RunnerError::Environment(format!(
                        "Alembic is not importable by `{}` (replay.python); {PIP_HINT}",
                        self.runner.python()
                    )));
                }
                "stepend" => {
                    if let Some(why) = payload["unsupported"].as_str() {
                        result.unsupported = Some(why.to_string());
                        return Ok(result);
                    }
                    if payload["ok"].as_bool() != Some(true) && result.diffs.is_none() {
                        result.failure = Some(self.failure(&result.ran, error.as_ref(), false));
                    }
                    result.error = error;
                    let seen = observed.finish();
                    result.observed = seen.observed;
                    result.observe_problems = seen.observe_problems;
                    return Ok(result);
                }
                _ => {}
            }
        }
    }

    /// The interpreter ended without answering: a failure of this step, with its last words.
    fn ended(
        &mut self,
        sent: bool,
        mut result: StepResult,
        error: Option<serde_json::Value>,
    ) -> Result<StepResult, RunnerError> {
        let mut f = self.failure(&result.ran, error.as_ref(), false);
        if error.is_none() {
            f.message = format!(
                "the alembic interpreter ended{}: {}",
                if sent {
                    ""
                } else {
                    " before the command was sent"
                },
                self.tail.join(" | ")
            );
        }
        result.failure = Some(f);
        result.error = error;
        Ok(result)
    }

    fn keep(&mut self, line: String) {
        if line.trim().is_empty() {
            return;
        }
        self.tail.push(line.trim_end().to_string());
        if self.tail.len() > 5 {
            self.tail.remove(0);
        }
    }

    /// A failure at the last revision that started, with the wrapper's error when it sent one.
    fn failure(
        &self,
        ran: &[String],
        error: Option<&serde_json::Value>,
        timed_out: bool,
    ) -> Failure {
        let revision = ran.last().cloned();
        let mut f = Failure {
            file: revision.as_deref().and_then(|r| self.runner.file_of(r)),
            revision,
            timed_out,
            ..Failure::default()
        };
        if timed_out {
            f.message = "timed out".into();
        }
        if let Some(e) = error {
            f.sqlstate = e["sqlstate"].as_str().map(str::to_string);
            f.statement = e["statement"].as_str().map(str::to_string);
            f.message = clean_message(e["message"].as_str().unwrap_or_default());
            if f.message.is_empty() {
                f.message = e["type"].as_str().unwrap_or("error").to_string();
            }
            if let Some(file) = e["where"]["file"].as_str() {
                f.file = Some(rel_path(self.runner.root(), Path::new(file)));
                f.line = e["where"]["line"]
                    .as_u64()
                    .and_then(|l| u32::try_from(l).ok());
            }
        }
        f
    }

    fn kill(&mut self) {
        if let Some(pgid) = self.pgid {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    /// Close stdin (the wrapper exits at end of input) and reap it; kill it if it lingers.
    pub async fn close(mut self) {
        // A walk's env.py returns first (its connection closed before the database is dropped).
        let _ = self
            .end_walk(Instant::now() + std::time::Duration::from_secs(10))
            .await;
        drop(self.stdin.take());
        let waited =
            tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait()).await;
        if waited.is_err() {
            self.kill();
            let _ = self.child.wait().await;
        }
        self.kill();
    }
}
