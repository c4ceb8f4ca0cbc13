//! Alembic runner: one `alembic upgrade` process per run, in `replay.python`, with
//! `DATABASE_URL` set to the scratch database and the config's folder as working directory.
//! A small wrapper (alembic_wrapper.py) runs Alembic's own `main()` and relays the
//! "Running upgrade A -> B" log lines, which are timestamped as they stream, so each revision
//! gets its duration without one process per revision.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use gate_policy::Policy;
use regex::Regex;
use tokio::process::Command;

use super::process::{Stream, run_streaming};
use super::{Applied, Failure, RunOutcome, RunnerError, Target, rel_path};

const WRAPPER: &str = include_str!("alembic_wrapper.py");
const MARK: &str = "@@gate-replay@@ ";

/// The install command named when Alembic is missing.
pub const PIP_HINT: &str = "python3 -m pip install alembic sqlalchemy psycopg2-binary";

#[derive(Debug)]
pub struct AlembicRunner {
    python: String,
    config: PathBuf,
    cwd: PathBuf,
    versions: PathBuf,
    root: PathBuf,
    /// revision -> repository-relative file
    files: BTreeMap<String, String>,
    heads: Vec<String>,
}

/// One migration file's identity, read from its module variables.
#[derive(Debug, Clone)]
struct Script {
    revision: String,
    parents: Vec<String>,
    file: String,
}

impl AlembicRunner {
    pub fn new(policy: &Policy, root: &Path) -> Result<Self, RunnerError> {
        let config = root.join(&policy.migrations.config);
        if !config.is_file() {
            return Err(RunnerError::Config(format!(
                "Alembic config {} not found; set migrations.config in {} to your alembic.ini",
                config.display(),
                policy.file.display()
            )));
        }
        let cwd = config
            .parent()
            .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
        let versions = root.join(&policy.migrations.path);
        let scripts = discover(&versions, root)?;
        let parents: BTreeSet<&str> = scripts
            .iter()
            .flat_map(|s| s.parents.iter().map(String::as_str))
            .collect();
        let heads = scripts
            .iter()
            .filter(|s| !parents.contains(s.revision.as_str()))
            .map(|s| s.revision.clone())
            .collect();
        let files = scripts
            .iter()
            .map(|s| (s.revision.clone(), s.file.clone()))
            .collect();
        Ok(AlembicRunner {
            python: policy.replay.python.clone(),
            config,
            cwd,
            versions,
            root: root.to_path_buf(),
            files,
            heads,
        })
    }

    pub fn python(&self) -> &str {
        &self.python
    }

    pub fn heads(&self) -> Vec<String> {
        self.heads.clone()
    }

    pub fn knows(&self, revision: &str) -> bool {
        self.files.contains_key(revision)
    }

    pub fn count(&self) -> usize {
        self.files.len()
    }

    pub async fn upgrade(
        &self,
        url: &str,
        target: &Target,
        deadline: Instant,
        on_applied: &mut (dyn FnMut(&Applied) + Send),
    ) -> Result<RunOutcome, RunnerError> {
        let to = match target {
            Target::Head => "heads".to_string(),
            Target::Revision(r) => r.clone(),
        };
        self.run(url, &["upgrade", &to], deadline, on_applied).await
    }

    pub async fn downgrade_base(
        &self,
        url: &str,
        deadline: Instant,
    ) -> Result<RunOutcome, RunnerError> {
        self.run(url, &["downgrade", "base"], deadline, &mut |_| {})
            .await
    }

    async fn run(
        &self,
        url: &str,
        args: &[&str],
        deadline: Instant,
        on_applied: &mut (dyn FnMut(&Applied) + Send),
    ) -> Result<RunOutcome, RunnerError> {
        let mut cmd = Command::new(&self.python);
        cmd.arg("-c")
            .arg(WRAPPER)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .current_dir(&self.cwd)
            .env("DATABASE_URL", url)
            .env("GATE_REPLAY_VERSIONS", &self.versions)
            .env("PYTHONUNBUFFERED", "1");
        let started = Instant::now();
        let mut current: Option<(String, Instant)> = None;
        let mut applied = Vec::new();
        let mut error: Option<serde_json::Value> = None;
        let mut no_alembic = false;
        let finished = run_streaming(cmd, deadline, |stream, line, at| {
            if stream != Stream::Stderr {
                return;
            }
            let Some(rest) = line.strip_prefix(MARK) else {
                return;
            };
            let (kind, json) = rest.split_once(' ').unwrap_or((rest, "{}"));
            let payload: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
            match kind {
                "step" => {
                    let msg = payload["msg"].as_str().unwrap_or_default();
                    if let Some((rev, start)) = current.take() {
                        let a = self.applied(rev, at - start);
                        on_applied(&a);
                        applied.push(a);
                    }
                    if let Some(rev) = step_revision(msg) {
                        current = Some((rev, at));
                    }
                }
                "done" => {
                    if let Some((rev, start)) = current.take() {
                        let a = self.applied(rev, at - start);
                        on_applied(&a);
                        applied.push(a);
                    }
                }
                "error" => error = Some(payload),
                "no-alembic" => no_alembic = true,
                _ => {}
            }
        })
        .await
        .map_err(|e| {
            RunnerError::Environment(format!(
                "cannot start `{}` (replay.python): {e}; set replay.python to an interpreter that has Alembic ({PIP_HINT})",
                self.python
            ))
        })?;
        let _ = started;
        if no_alembic {
            return Err(RunnerError::Environment(format!(
                "Alembic is not importable by `{}` (replay.python); install it with `{} -m pip install alembic sqlalchemy psycopg2-binary` or point replay.python at an interpreter that has it",
                self.python, self.python
            )));
        }
        if finished.success() {
            if let Some((rev, start)) = current.take() {
                let a = self.applied(rev, Instant::now() - start);
                on_applied(&a);
                applied.push(a);
            }
            return Ok(RunOutcome {
                applied,
                failure: None,
            });
        }
        // The last started revision is the culprit.
        let culprit = current.map(|(rev, _)| rev);
        let mut failure = Failure {
            file: culprit.as_ref().and_then(|r| self.files.get(r).cloned()),
            revision: culprit,
            ..Failure::default()
        };
        if finished.timed_out {
            failure.timed_out = true;
            failure.message = "timed out".into();
        } else if let Some(e) = error {
            failure.sqlstate = e["sqlstate"].as_str().map(str::to_string);
            failure.message = clean_message(e["message"].as_str().unwrap_or_default());
            if failure.message.is_empty() {
                failure.message = e["type"].as_str().unwrap_or("error").to_string();
            }
            if let Some(file) = e["where"]["file"].as_str() {
                failure.file = Some(rel_path(&self.root, Path::new(file)));
                failure.line = e["where"]["line"]
                    .as_u64()
                    .and_then(|l| u32::try_from(l).ok());
            }
        } else {
            let tail = finished
                .lines
                .iter()
                .filter(|(_, l)| !l.starts_with(MARK))
                .map(|(_, l)| l.as_str())
                .collect::<Vec<_>>();
            let tail = tail[tail.len().saturating_sub(5)..].join(" | ");
            failure.message = format!(
                "alembic exited with {}: {tail}",
                finished
                    .code
                    .map_or_else(|| "a signal".to_string(), |c| format!("code {c}"))
            );
        }
        Ok(RunOutcome {
            applied,
            failure: Some(failure),
        })
    }

    fn applied(&self, revision: String, duration: std::time::Duration) -> Applied {
        Applied {
            file: self.files.get(&revision).cloned(),
            revision,
            duration,
        }
    }
}

/// `Running upgrade a1 -> b2, add users` -> `b2`; `Running downgrade b2 -> a1` -> `b2` (the
/// revision whose downgrade runs); merges list several revisions before `->`.
fn step_revision(msg: &str) -> Option<String> {
    let (left, right) = msg.split_once("->")?;
    if msg.starts_with("Running downgrade") {
        let left = left.trim_start_matches("Running downgrade").trim();
        return left.split(',').next().map(|s| s.trim().to_string());
    }
    let rev = right.trim().split([',', ' ']).next()?.trim();
    (!rev.is_empty()).then(|| rev.to_string())
}

/// psycopg2's `pgerror` is `ERROR:  msg\nDETAIL: ...\n`: keep the text, one line.
fn clean_message(m: &str) -> String {
    m.lines()
        .map(|l| l.trim().trim_start_matches("ERROR:").trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Revision ids from the migration files' module variables (the chain crate's graph replaces
/// this once it is available; this is what the replay needs: heads and revision -> file).
fn discover(versions: &Path, root: &Path) -> Result<Vec<Script>, RunnerError> {
    let rev_re =
        Regex::new(r#"(?m)^revision\s*(?::[^=\n]*)?=\s*['"]([^'"]+)['"]"#).expect("valid regex");
    let down_re = Regex::new(r"(?m)^down_revision\s*(?::[^=\n]*)?=\s*(.+)$").expect("valid regex");
    let quoted = Regex::new(r#"['"]([^'"]+)['"]"#).expect("valid regex");
    let entries = std::fs::read_dir(versions).map_err(|e| {
        RunnerError::Config(format!(
            "cannot read the migrations folder {} ({e}); set migrations.path in policy.toml",
            versions.display()
        ))
    })?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("py") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Some(rev) = rev_re.captures(&text).map(|c| c[1].to_string()) else {
            continue;
        };
        let parents = down_re
            .captures(&text)
            .map(|c| {
                quoted
                    .captures_iter(&c[1])
                    .map(|q| q[1].to_string())
                    .collect()
            })
            .unwrap_or_default();
        out.push(Script {
            revision: rev,
            parents,
            file: rel_path(root, &path),
        });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(out)
}

/// `alembic_version` rows after the upgrade.
pub async fn recorded_heads(url: &str) -> Option<Vec<String>> {
    use sqlx::Connection as _;
    let mut c = sqlx::PgConnection::connect(url).await.ok()?;
    let rows: Vec<(String,)> = sqlx::query_as("SELECT version_num::text FROM alembic_version")
        .fetch_all(&mut c)
        .await
        .ok()?;
    let _ = c.close().await;
    let mut v: Vec<String> = rows.into_iter().map(|r| r.0).collect();
    v.sort();
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_lines_name_the_revision_that_runs() {
        assert_eq!(
            step_revision("Running upgrade  -> a1b2, create users").as_deref(),
            Some("a1b2")
        );
        assert_eq!(
            step_revision("Running upgrade a1b2 -> c3d4, add role").as_deref(),
            Some("c3d4")
        );
        assert_eq!(
            step_revision("Running upgrade a1, b2 -> m3, merge").as_deref(),
            Some("m3")
        );
        assert_eq!(
            step_revision("Running downgrade c3d4 -> a1b2, add role").as_deref(),
            Some("c3d4")
        );
    }

    #[test]
    fn psycopg_messages_lose_the_error_prefix() {
        assert_eq!(
            clean_message("ERROR:  relation \"users\" already exists\n"),
            "relation \"users\" already exists"
        );
    }
}
