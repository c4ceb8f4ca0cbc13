//! Command runner: `migrations.upgrade` / `migrations.downgrade` through `sh -c` in the
//! repository root, with `DATABASE_URL` set. The tool is opaque, so there is one timing for
//! the whole run and no culprit revision.

use std::path::{Path, PathBuf};
use std::time::Instant;

use gate_policy::Policy;
use tokio::process::Command;

use super::process::run_streaming;
use super::{Applied, Failure, RunOutcome, RunnerError, Target};
use crate::child_env::ChildEnv;

#[derive(Debug)]
pub struct CommandRunner {
    upgrade: String,
    downgrade: String,
    root: PathBuf,
}

impl CommandRunner {
    pub fn new(policy: &Policy, root: &Path) -> Result<Self, RunnerError> {
        if policy.migrations.upgrade.trim().is_empty() {
            return Err(RunnerError::Config(format!(
                "migrations.kind = \"command\" needs migrations.upgrade (the command that migrates $DATABASE_URL) in {}",
                policy.file.display()
            )));
        }
        Ok(CommandRunner {
            upgrade: policy.migrations.upgrade.clone(),
            downgrade: policy.migrations.downgrade.clone(),
            root: root.to_path_buf(),
        })
    }

    pub fn has_downgrade(&self) -> bool {
        !self.downgrade.trim().is_empty()
    }

    pub async fn upgrade(
        &self,
        db: &ChildEnv,
        target: &Target,
        deadline: Instant,
        on_applied: &mut (dyn FnMut(&Applied) + Send),
    ) -> Result<RunOutcome, RunnerError> {
        if let Target::Revision(r) = target {
            return Err(RunnerError::Config(format!(
                "migrations.kind = \"command\" cannot upgrade to a given revision ({r})"
            )));
        }
        self.run(
            &self.upgrade,
            "migrations.upgrade",
            db,
            deadline,
            on_applied,
        )
        .await
    }

    pub async fn downgrade_base(
        &self,
        db: &ChildEnv,
        deadline: Instant,
    ) -> Result<RunOutcome, RunnerError> {
        self.run(
            &self.downgrade,
            "migrations.downgrade",
            db,
            deadline,
            &mut |_| {},
        )
        .await
    }

    async fn run(
        &self,
        script: &str,
        key: &str,
        db: &ChildEnv,
        deadline: Instant,
        on_applied: &mut (dyn FnMut(&Applied) + Send),
    ) -> Result<RunOutcome, RunnerError> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).current_dir(&self.root);
        db.apply(&mut cmd);
        let start = Instant::now();
        let finished = run_streaming(cmd, deadline, |_, _, _| {})
            .await
            .map_err(|e| RunnerError::Spawn {
                action: "run",
                program: "sh".into(),
                purpose: format!(" for {key}"),
                advice: String::new(),
                source: e,
            })?;
        if finished.success() {
            let a = Applied {
                revision: key.to_string(),
                file: None,
                duration: start.elapsed(),
            };
            on_applied(&a);
            return Ok(RunOutcome {
                applied: vec![a],
                failure: None,
                ..RunOutcome::default()
            });
        }
        let message = if finished.timed_out {
            "timed out".to_string()
        } else {
            format!(
                "{key} exited with {}: {}",
                finished
                    .code
                    .map_or_else(|| "a signal".to_string(), |c| format!("code {c}")),
                finished.tail(5).replace('\n', " | ")
            )
        };
        Ok(RunOutcome {
            applied: Vec::new(),
            failure: Some(Failure {
                message,
                timed_out: finished.timed_out,
                ..Failure::default()
            }),
            ..RunOutcome::default()
        })
    }
}
