//! Alembic runner: one `alembic upgrade` process per run, in `replay.python`, with
//! `DATABASE_URL` set to the scratch database and the config's folder as working directory.
//! A small wrapper (alembic_wrapper.py) runs Alembic's own `main()` and relays the
//! "Running upgrade A -> B" log lines, which are timestamped as they stream, so each revision
//! gets its duration without one process per revision.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use gate_chain::{Discovery, RevisionGraph};
use gate_policy::Policy;
use tokio::process::Command;

use super::process::{Stream, run_streaming};
use super::{Applied, Failure, RunOutcome, RunnerError, Target, rel_path};
use crate::child_env::ChildEnv;

const WRAPPER: &str = include_str!("alembic_wrapper.py");
pub(crate) const MARK: &str = "@@gate-replay@@ ";

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
    /// revision -> what `alembic upgrade` applies before it (down revisions and
    /// `depends_on`); `None` when a symbolic dependency (a branch label) makes it unknown.
    requires: Option<BTreeMap<String, Vec<String>>>,
}

impl AlembicRunner {
    /// `discovery` is the chain `gate_chain::discover` read (recursive walk, Alembic's load
    /// order), the same one the static checks judge.
    pub fn new(policy: &Policy, root: &Path, discovery: &Discovery) -> Result<Self, RunnerError> {
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
        let (files, heads) = discover(&discovery.graph);
        check_recursive(&config, &gate_chain::migrations_dir(policy), &files)?;
        Ok(AlembicRunner {
            python: policy.replay.python.clone(),
            config,
            cwd,
            versions,
            root: root.to_path_buf(),
            files,
            heads,
            requires: requirements(&discovery.graph),
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

    /// The wrapper in serve mode: many alembic commands in one interpreter, read from stdin
    /// (see session.rs).
    pub(crate) fn serve_command(&self, db: &ChildEnv) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.arg("-c")
            .arg(WRAPPER)
            .arg("--gate-serve")
            .arg("-c")
            .arg(&self.config)
            .current_dir(&self.cwd)
            .env("GATE_REPLAY_VERSIONS", &self.versions)
            .env("PYTHONUNBUFFERED", "1");
        db.apply(&mut cmd);
        cmd
    }

    /// Repository-relative file of `revision`.
    pub(crate) fn file_of(&self, revision: &str) -> Option<String> {
        self.files.get(revision).cloned()
    }

    /// The interpreter that really ran (the wrapper reports it), as errors name it.
    fn interpreter(&self, executable: Option<&str>) -> String {
        match executable {
            Some(exe) if exe != self.python => {
                format!("{exe} (replay.python = `{}`)", self.python)
            }
            Some(exe) => exe.to_string(),
            None => format!("`{}` (replay.python)", self.python),
        }
    }

    /// The repository root (observed statements name their files relative to it).
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The revisions `alembic upgrade TARGET` leaves applied on an empty database: the target
    /// and everything it requires, transitively; every revision for `heads`.
    pub fn applied_at(&self, target: &Target) -> Option<std::collections::BTreeSet<String>> {
        let requires = self.requires.as_ref()?;
        let Target::Revision(start) = target else {
            return Some(self.files.keys().cloned().collect());
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec![start.clone()];
        while let Some(r) = todo.pop() {
            if seen.insert(r.clone()) {
                todo.extend(requires.get(&r)?.iter().cloned());
            }
        }
        Some(seen)
    }

    pub async fn upgrade(
        &self,
        db: &ChildEnv,
        target: &Target,
        deadline: Instant,
        on_applied: &mut (dyn FnMut(&Applied) + Send),
    ) -> Result<RunOutcome, RunnerError> {
        let to = match target {
            Target::Head => "heads".to_string(),
            Target::Revision(r) => r.clone(),
        };
        self.run(db, &["upgrade", &to], deadline, on_applied).await
    }

    pub async fn stamp(
        &self,
        db: &ChildEnv,
        revision: &str,
        deadline: Instant,
    ) -> Result<RunOutcome, RunnerError> {
        self.run(db, &["stamp", revision], deadline, &mut |_| {})
            .await
    }

    pub async fn downgrade_base(
        &self,
        db: &ChildEnv,
        deadline: Instant,
    ) -> Result<RunOutcome, RunnerError> {
        self.run(db, &["downgrade", "base"], deadline, &mut |_| {})
            .await
    }

    async fn run(
        &self,
        db: &ChildEnv,
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
            .env("GATE_REPLAY_VERSIONS", &self.versions)
            .env("PYTHONUNBUFFERED", "1");
        db.apply(&mut cmd);
        let mut current: Option<(String, Instant)> = None;
        let mut applied = Vec::new();
        let mut error: Option<serde_json::Value> = None;
        let mut no_alembic = false;
        let mut executable: Option<String> = None;
        let mut step_seen = false;
        let mut observed = crate::observe::WrapperLog::default();
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
                    step_seen = true;
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
                "stmt" | "txend" | "observe-failed" => observed.line(
                    kind,
                    payload,
                    current.as_ref().map(|(rev, _)| rev.clone()),
                    |f| rel_path(&self.root, Path::new(f)),
                ),
                "error" => error = Some(payload),
                "no-alembic" => no_alembic = true,
                "python" => executable = payload["executable"].as_str().map(str::to_string),
                _ => {}
            }
        })
        .await
        .map_err(|e| RunnerError::Spawn {
            action: "start",
            program: self.python.clone(),
            purpose: " (replay.python)".into(),
            advice: format!("; set replay.python to an interpreter that has Alembic ({PIP_HINT})"),
            source: e,
        })?;
        let interpreter = self.interpreter(executable.as_deref());
        let pip = executable.as_deref().unwrap_or(&self.python);
        if no_alembic {
            return Err(RunnerError::Environment(format!(
                "Alembic is not importable by the interpreter {interpreter}; install it with `{pip} -m pip install alembic sqlalchemy psycopg2-binary` or point replay.python at an interpreter that has it"
            )));
        }
        // Before any revision started, a failure is the environment's (env.py imports, the
        // application's settings, the driver, the connection), never a migration's.
        let before_any_revision = !step_seen && !finished.timed_out;
        if !finished.success() {
            if let Some(e) = &error
                && (e["phase"].as_str() == Some("env")
                    || (before_any_revision && e["where"].is_null()))
            {
                return Err(RunnerError::Environment(environment_failure(
                    e,
                    &interpreter,
                    pip,
                )));
            }
            if error.is_none() && before_any_revision {
                let tail = output_tail(&finished, 5);
                return Err(RunnerError::Environment(format!(
                    "alembic stopped before any revision ran (interpreter {interpreter}, exit {}): {tail}; check alembic.ini (migrations.config) and env.py",
                    finished
                        .code
                        .map_or_else(|| "by a signal".to_string(), |c| format!("code {c}"))
                )));
            }
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
                ..observed.finish()
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
            failure.statement = e["statement"].as_str().map(str::to_string);
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
            let tail = output_tail(&finished, 5);
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
            ..observed.finish()
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

/// The last `n` lines the process printed that are not the wrapper's own, on one line.
fn output_tail(finished: &super::process::Finished, n: usize) -> String {
    let lines = finished
        .lines
        .iter()
        .filter(|(_, l)| !l.starts_with(MARK) && !l.trim().is_empty())
        .map(|(_, l)| l.trim_end())
        .collect::<Vec<_>>();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Database drivers people install under another name than they import.
const DRIVERS: &[(&str, &str)] = &[
    ("psycopg2", "psycopg2-binary"),
    ("psycopg", "'psycopg[binary]'"),
    ("asyncpg", "asyncpg"),
    ("pg8000", "pg8000"),
];

/// The exit-2 message for env.py failing before any revision ran: what failed, in which
/// interpreter, and the next step.
fn environment_failure(e: &serde_json::Value, interpreter: &str, pip: &str) -> String {
    let kind = e["type"].as_str().unwrap_or("error");
    let message = clean_message(e["message"].as_str().unwrap_or_default());
    let message: String = message.chars().take(600).collect();
    let module = e["module"].as_str().unwrap_or_default();
    let root_module = module.split('.').next().unwrap_or_default();
    let next = if let Some((_, pkg)) = DRIVERS.iter().find(|(m, _)| *m == root_module) {
        format!(
            "install the database driver: `{pip} -m pip install {pkg}` (or set replay.python to the interpreter that has it); if the project uses another driver, name it in replay.database-url, e.g. \"postgresql+psycopg2://{{user}}:{{password}}@{{host}}:{{port}}/{{database}}\""
        )
    } else if !module.is_empty() {
        format!(
            "`{pip} -m pip install` the package that provides `{module}` (e.g. `{pip} -m pip install -r requirements.txt`), or set replay.python to your project's interpreter (e.g. .venv/bin/python)"
        )
    } else if message.contains("Can't load plugin: sqlalchemy.dialects") {
        "SQLAlchemy does not know the DATABASE_URL scheme env.py builds; set replay.database-url to the form your app uses (e.g. postgresql+asyncpg://{user}:{password}@{host}:{port}/{database})".to_string()
    } else if kind == "OperationalError"
        || message.contains("could not connect")
        || message.contains("Connection refused")
    {
        "env.py could not connect to the scratch database; make env.py read DATABASE_URL (the replay sets it and PG* to the scratch database) instead of a fixed URL".to_string()
    } else {
        "env.py or the application settings it imports failed; if they need variables (secrets, API keys), set them in replay.env in policy.toml, e.g. env = { JWT_SECRET_KEY = \"replay-only\" } or \"${CI_SECRET}\"".to_string()
    };
    format!(
        "the migration environment failed before any revision ran (env.py, interpreter {interpreter}): {kind}: {message}; {next}"
    )
}

/// `Running upgrade a1 -> b2, add users` -> `b2`; `Running downgrade b2 -> a1` -> `b2` (the
/// revision whose downgrade runs); merges list several revisions before `->`.
pub(crate) fn step_revision(msg: &str) -> Option<String> {
    let (left, right) = msg.split_once("->")?;
    if msg.starts_with("Running downgrade") {
        let left = left.trim_start_matches("Running downgrade").trim();
        return left.split(',').next().map(|s| s.trim().to_string());
    }
    let rev = right.trim().split([',', ' ']).next()?.trim();
    (!rev.is_empty()).then(|| rev.to_string())
}

/// psycopg2's `pgerror` is `ERROR:  msg\nDETAIL: ...\n`: keep the text, one line.
pub(crate) fn clean_message(m: &str) -> String {
    m.lines()
        .map(|l| l.trim().trim_start_matches("ERROR:").trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the replay needs from the chain: revision -> repository-relative file (the file
/// Alembic keeps for a duplicated id), and the heads `alembic heads` would print.
fn discover(graph: &RevisionGraph) -> (BTreeMap<String, String>, Vec<String>) {
    let files = graph
        .unique()
        .map(|r| (r.id.clone(), r.path.clone()))
        .collect();
    let heads = graph.heads().into_iter().map(|r| r.id.clone()).collect();
    (files, heads)
}

/// revision -> its down revisions and `depends_on`; `None` when a revision depends on a branch
/// label (what it requires then depends on Alembic's resolution).
fn requirements(graph: &RevisionGraph) -> Option<BTreeMap<String, Vec<String>>> {
    graph
        .unique()
        .map(|r| {
            r.depends_on_symbolic.is_empty().then(|| {
                let needs = r.parents.iter().chain(&r.depends_on).cloned().collect();
                (r.id.clone(), needs)
            })
        })
        .collect()
}

/// Alembic reads only the top of the versions folder unless the config sets
/// `recursive_version_locations`. Revisions in subfolders that Alembic would not load are a
/// configuration error: replaying without them would disagree with the static checks.
fn check_recursive(
    config: &Path,
    versions_dir: &str,
    files: &BTreeMap<String, String>,
) -> Result<(), RunnerError> {
    let prefix = if versions_dir.is_empty() {
        String::new()
    } else {
        format!("{versions_dir}/")
    };
    let nested: Vec<&str> = files
        .values()
        .filter(|p| p.strip_prefix(&prefix).unwrap_or(p).contains('/'))
        .map(String::as_str)
        .collect();
    if nested.is_empty() || recursive_configured(config) {
        return Ok(());
    }
    let shown: Vec<&str> = nested.iter().take(3).copied().collect();
    let more = nested.len().saturating_sub(shown.len());
    Err(RunnerError::Config(format!(
        "{} revision file{} in subfolders of the versions folder ({}{}) would be skipped by Alembic: {} does not set `recursive_version_locations = true`; add it under [alembic] so Alembic loads them as the static checks do, or move them out of the subfolders of migrations.path (the static checks read every .py file under it)",
        nested.len(),
        if nested.len() == 1 { "" } else { "s" },
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        config.display()
    )))
}

/// Whether Alembic will walk version folders recursively: `recursive_version_locations` in
/// the `[alembic]` section of the ini file, true as Alembic's `asbool` reads it. A mention
/// of the key in a `pyproject.toml` beside it (Alembic >= 1.16 reads `[tool.alembic]`) is
/// trusted rather than second-guessed.
fn recursive_configured(config: &Path) -> bool {
    let ini = std::fs::read_to_string(config).unwrap_or_default();
    let mut in_main = false;
    for line in ini.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_main = t == "[alembic]";
            continue;
        }
        if !in_main || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some((k, v)) = t.split_once(['=', ':'])
            && k.trim() == "recursive_version_locations"
        {
            let v = v.trim().to_ascii_lowercase();
            return matches!(v.as_str(), "true" | "yes" | "on" | "y" | "t" | "1");
        }
    }
    config
        .parent()
        .map(|d| d.join("pyproject.toml"))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .is_some_and(|t| t.contains("recursive_version_locations"))
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

    /// a <- b, a <- c, (b, c) <- m: Alembic applies only a revision's own ancestors.
    #[test]
    fn applied_at_follows_the_branches_alembic_upgrades() {
        let dir = tempfile::tempdir().unwrap();
        let versions = dir.path().join("alembic/versions");
        std::fs::create_dir_all(&versions).unwrap();
        std::fs::write(dir.path().join("alembic.ini"), "[alembic]\n").unwrap();
        for (rev, down) in [
            ("a", "None"),
            ("b", "'a'"),
            ("c", "'a'"),
            ("m", "('b', 'c')"),
        ] {
            std::fs::write(
                versions.join(format!("{rev}.py")),
                format!("revision = '{rev}'\ndown_revision = {down}\n"),
            )
            .unwrap();
        }
        let policy = gate_policy::parse(
            "version = 1\n[migrations]\nkind = \"alembic\"\npath = \"alembic/versions\"\nconfig = \"alembic.ini\"\n",
            &dir.path().join("policy.toml"),
            dir.path(),
        )
        .unwrap();
        let discovery = gate_chain::discover(dir.path(), &policy).unwrap();
        let runner = AlembicRunner::new(&policy, dir.path(), &discovery).unwrap();
        let at = |r: &str| runner.applied_at(&Target::Revision(r.into())).unwrap();
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        assert_eq!(at("b"), set(&["a", "b"]));
        assert_eq!(at("c"), set(&["a", "c"]));
        assert!(
            !at("b").is_subset(&at("c")),
            "a copy at b cannot stand in for c"
        );
        assert_eq!(at("m"), set(&["a", "b", "c", "m"]));
        assert_eq!(runner.applied_at(&Target::Head).unwrap(), at("m"));
    }

    #[test]
    fn psycopg_messages_lose_the_error_prefix() {
        assert_eq!(
            clean_message("ERROR:  relation \"users\" already exists\n"),
            "relation \"users\" already exists"
        );
    }
}
