//! The replay, in DESIGN.md's order: static chain checks, upgrade from empty (timed per
//! revision), head check, snapshot and comparisons, round trip, emergency fixes, report.
//! Checks return findings; only the binary renders. Anything that stops a check from running
//! is a [`ReplayError`] (exit 2), never a passing report.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gate_policy::{Backend, Policy};
use gate_report::{Code, Finding, Report, Section, Severity};
use gate_schema::{Difference, Snapshot};

use crate::backend::{BackendOptions, ScratchDatabase, Server};
use crate::child_env::{ChildEnv, EnvTemplate};
use crate::fixes;
use crate::progress::Progress;
use crate::redact_error;
use crate::runner::{Applied, RunOutcome, Runner, RunnerError, Target};

/// Everything a replay needs, resolved from policy and flags.
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    pub policy: Policy,
    pub backend: Backend,
    pub backend_options: BackendOptions,
    /// `--reference URL`: a live database compared read-only.
    pub reference: Option<String>,
    /// `--reference-dump FILE`: a `pg_dump --schema-only` file restored into a scratch database.
    pub reference_dump: Option<PathBuf>,
    pub timeout: Duration,
    pub roundtrip: bool,
    pub fixes: bool,
    /// What children get as environment (`replay.env`, `replay.database-url`).
    pub env: EnvTemplate,
}

/// What the run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The gate: every check.
    Check,
    /// `gate-replay snapshot`: replay to head and return the snapshot; no comparisons.
    Snapshot,
}

/// A finished replay: the report, and the head snapshot when the upgrade succeeded.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub snapshot: Option<Snapshot>,
}

/// The replay could not check (backend, runner, catalog): exit 2.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Environment(String),
    #[error("{0}")]
    Config(String),
}

impl From<RunnerError> for ReplayError {
    fn from(e: RunnerError) -> Self {
        match e {
            RunnerError::Environment(m) => ReplayError::Environment(redact_error(&m)),
            RunnerError::Config(m) => ReplayError::Config(redact_error(&m)),
        }
    }
}

pub(crate) fn env_err(what: &str, e: impl std::fmt::Display) -> ReplayError {
    ReplayError::Environment(redact_error(&format!("{what}: {e}")))
}

/// A scratch database and the environment its children get.
#[derive(Clone)]
pub(crate) struct Scratch {
    pub db: ScratchDatabase,
    pub env: ChildEnv,
}

/// Everything a step needs while the server is up.
pub(crate) struct Ctx<'a> {
    pub settings: &'a Settings,
    pub server: &'a Server,
    pub runner: &'a Runner,
    pub deadline: Instant,
    pub timeout: Duration,
    pub progress: &'a Progress,
}

impl Ctx<'_> {
    pub(crate) async fn fresh(&self) -> Result<Scratch, ReplayError> {
        let db = self
            .server
            .fresh_database()
            .await
            .map_err(|e| env_err("cannot create a scratch database", e))?;
        let env = match self.settings.env.for_database(&db.url) {
            Ok(env) => env,
            Err(e) => {
                let _ = self.server.drop_database(&db).await;
                return Err(e);
            }
        };
        if !self.settings.policy.replay.prelude.trim().is_empty() {
            run_sql(&db.url, &self.settings.policy.replay.prelude)
                .await
                .map_err(|e| {
                    ReplayError::Config(redact_error(&format!(
                        "replay.prelude failed: {e}; fix the SQL in replay.prelude of {}",
                        self.settings.policy.file.display()
                    )))
                })?;
        }
        Ok(Scratch { db, env })
    }

    /// A copy of `template` (a scratch database nobody is connected to), prelude included.
    pub(crate) async fn copy(&self, template: &Scratch) -> Result<Scratch, ReplayError> {
        let db = self
            .server
            .copy_database(&template.db)
            .await
            .map_err(|e| env_err("cannot copy a scratch database", e))?;
        let env = match self.settings.env.for_database(&db.url) {
            Ok(env) => env,
            Err(e) => {
                let _ = self.server.drop_database(&db).await;
                return Err(e);
            }
        };
        let copy = Scratch { db, env };
        self.runner.copied(&template.env, &copy.env);
        Ok(copy)
    }

    pub(crate) async fn drop(&self, s: &Scratch) {
        // A scratch database that cannot be dropped goes with the server anyway.
        let _ = self.server.drop_database(&s.db).await;
    }

    pub(crate) async fn capture(&self, s: &Scratch) -> Result<Snapshot, ReplayError> {
        Snapshot::capture(&s.db.url)
            .await
            .map_err(|e| env_err("cannot snapshot the scratch database", e))
    }

    /// Row counts and content hashes of the user tables (not the runner's bookkeeping).
    pub(crate) async fn data(&self, s: &Scratch) -> Result<gate_schema::DataSnapshot, ReplayError> {
        gate_schema::DataSnapshot::capture(&s.db.url, self.runner.bookkeeping_tables())
            .await
            .map_err(|e| env_err("cannot read the rows of the scratch database", e))
    }

    /// Differences that are not the runner's own bookkeeping. The bookkeeping tables are
    /// removed by exact name (with their indexes, triggers and owned sequences), so a user
    /// table such as `schema_migrations_archive` is still compared.
    pub(crate) fn diff(&self, a: &Snapshot, b: &Snapshot, an: &str, bn: &str) -> Vec<Difference> {
        let skip = self.runner.bookkeeping_tables();
        let a = a.clone().without_tables(skip);
        let b = b.clone().without_tables(skip);
        gate_schema::diff(&a, &b, an, bn)
    }
}

/// Run a SQL text (prelude, `sql = "fix.sql"`) against `url` as one simple query.
pub(crate) async fn run_sql(url: &str, sql: &str) -> Result<(), String> {
    use sqlx::Connection as _;
    let mut c = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| redact_error(&e.to_string()))?;
    let r = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut c)
        .await;
    let _ = c.close().await;
    r.map(|_| ()).map_err(|e| match &e {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("SQLSTATE {code}: {}", db.message()),
            None => db.message().to_string(),
        },
        other => redact_error(&other.to_string()),
    })
}

/// Step 1: static checks that need no database: the chain crate's C001–C006 and the
/// lockfile's G003/G004 on the working tree.
fn static_findings(
    settings: &Settings,
    discovery: &gate_chain::Discovery,
) -> Result<Vec<Finding>, ReplayError> {
    let policy = &settings.policy;
    let mut findings = gate_chain::check(&discovery.graph, policy);
    let lock_path = settings.root.join(&policy.migrations.lockfile);
    let lock = std::fs::read(&lock_path).ok();
    findings.extend(
        gate_chain::lock_findings(policy, lock.as_deref(), &discovery.files)
            .map_err(|e| ReplayError::Config(e.to_string()))?,
    );
    Ok(findings)
}

/// C codes after which the chain cannot be replayed at all.
const UNREADABLE_CHAIN: &[Code] = &[Code::C002, Code::C004, Code::C005];

/// The checks after the upgrade from empty that this run was asked for, in words.
fn later_checks(settings: &Settings, mode: Mode) -> Vec<String> {
    let mut v = vec!["the head check (R002)".to_string()];
    if mode == Mode::Snapshot {
        v.push("the snapshot write".into());
        return v;
    }
    v.push(format!(
        "the comparison with {} (R003)",
        settings.policy.replay.snapshot
    ));
    if settings.reference.is_some() {
        v.push("the comparison with --reference (R003)".into());
    }
    if settings.reference_dump.is_some() {
        v.push("the comparison with --reference-dump (R003)".into());
    }
    if settings.roundtrip {
        v.push("the downgrade/upgrade round trip (R004, R006)".into());
    }
    v
}

/// R010: something the run was asked to check and could not.
pub(crate) fn not_run(path: &str, message: &str) -> Finding {
    Finding::new(Code::R010, redact_error(message))
        .at(path.to_string())
        .help("Fix the failure named here first; the skipped checks run once it is gone.")
}

/// The whole replay.
pub async fn replay(settings: &Settings, mode: Mode) -> Result<Outcome, ReplayError> {
    // One read of the chain: the static checks and the runner see the same revisions.
    let discovery = gate_chain::discover(&settings.root, &settings.policy)
        .map_err(|e| ReplayError::Config(e.to_string()))?;
    let runner = Runner::with_chain(&settings.policy, &settings.root, &discovery)?;
    let subject = match runner.migration_count() {
        Some(n) => format!("{n} migrations ({})", runner.describe()),
        None => format!("migrations ({})", runner.describe()),
    };
    let mut report = Report::new("gate-replay", subject);
    report.findings = static_findings(settings, &discovery)?;
    // Several heads or bases, even a duplicate revision, are chains Alembic still replays
    // (`upgrade heads`): replay them, so failures deeper in are found. Only a chain that
    // cannot be read at all (missing parent, cycle, unreadable file) stops here, and says so.
    let unreadable: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| UNREADABLE_CHAIN.contains(&f.code) && f.severity == Severity::Error)
        .map(|f| f.code.as_str())
        .collect();
    if !unreadable.is_empty() {
        let mut codes = unreadable;
        codes.sort_unstable();
        codes.dedup();
        let because = format!("the chain cannot be read ({})", codes.join(", "));
        let mut skipped = vec!["the upgrade from empty (R001)".to_string()];
        skipped.extend(later_checks(settings, mode));
        report.findings.push(not_run(
            &settings.policy.migrations.path,
            &format!(
                "nothing was replayed: {because}; not checked: {}",
                skipped.join(", ")
            ),
        ));
        report
            .findings
            .extend(fixes::not_verified(settings, &because));
        report.sort();
        return Ok(Outcome {
            report,
            snapshot: None,
        });
    }

    if settings.fixes {
        fixes::check_registry(settings, &runner)?;
    }

    let progress = Progress::new(runner.migration_count());
    progress.stage(if settings.backend == Backend::Url {
        "connecting to the server"
    } else {
        "starting the database"
    });
    let server = Server::start(settings.backend, &settings.backend_options)
        .await
        .map_err(|e| ReplayError::Environment(redact_error(&e.to_string())))?;
    let ctx = Ctx {
        settings,
        server: &server,
        runner: &runner,
        deadline: Instant::now() + settings.timeout,
        timeout: settings.timeout,
        progress: &progress,
    };
    let result = steps(&ctx, mode, &mut report).await;
    progress.finish();
    // Whatever happened, what the backend started is removed.
    let _ = server.shutdown().await;
    let snapshot = result?;
    report.sort();
    Ok(Outcome { report, snapshot })
}

/// Steps 2-5 on a running server: one scratch database for the upgrade, the checks at
/// head and the round trip; the fixes get their own databases.
async fn steps(
    ctx: &Ctx<'_>,
    mode: Mode,
    report: &mut Report,
) -> Result<Option<Snapshot>, ReplayError> {
    let db = ctx.fresh().await?;
    let at_head = checks_on(ctx, mode, report, &db).await;
    ctx.drop(&db).await;
    let Some(head) = at_head? else {
        return Ok(None);
    };
    // Step 5: emergency fixes.
    if mode == Mode::Check && ctx.settings.fixes {
        ctx.progress.stage("emergency fixes");
        let (found, section) = fixes::verify(ctx, Some(&head), "").await?;
        report.findings.extend(found);
        report.sections.extend(section);
    }
    Ok(Some(head))
}

/// Steps 2-4 on `db`: the head snapshot when the chain built, `None` after R001.
async fn checks_on(
    ctx: &Ctx<'_>,
    mode: Mode,
    report: &mut Report,
    db: &Scratch,
) -> Result<Option<Snapshot>, ReplayError> {
    let settings = ctx.settings;
    let empty = if mode == Mode::Check && settings.roundtrip && ctx.runner.has_downgrade() {
        Some(ctx.capture(db).await?)
    } else {
        None
    };
    let up = upgrade_from_empty(ctx, db, report).await?;
    if let Some(failure) = &up.failure {
        if failure.timed_out {
            crate::runner::terminate_sessions(&db.db.url).await;
        }
        after_r001(ctx, mode, failure, report).await?;
        return Ok(None);
    }
    r002_head_check(ctx, db, report).await;

    // Step 3: snapshot and comparisons.
    ctx.progress.stage("snapshot");
    let head = ctx.capture(db).await?;
    if mode == Mode::Snapshot {
        return Ok(Some(head));
    }
    r003_drift(ctx, &head, report).await?;

    // Step 4: round trip.
    if settings.roundtrip {
        match &empty {
            Some(empty) => roundtrip(ctx, db, empty, &head, report).await?,
            None => report.findings.push(
                Finding::new(
                    Code::R004,
                    "the round trip is not checked: the chain has no complete set of downgrades",
                )
                .severity(Severity::Note)
                .help("Add down migrations (or migrations.downgrade), or set replay.roundtrip = false."),
            ),
        }
    }
    Ok(Some(head))
}

/// Step 2: upgrade from empty, timed per revision: the timings section, R005 for slow
/// migrations and R001 when it fails.
async fn upgrade_from_empty(
    ctx: &Ctx<'_>,
    db: &Scratch,
    report: &mut Report,
) -> Result<RunOutcome, ReplayError> {
    let policy = &ctx.settings.policy;
    ctx.progress.stage("upgrade to head");
    let started = Instant::now();
    let up = ctx
        .runner
        .upgrade(&db.env, &Target::Head, ctx.deadline, &mut |a: &Applied| {
            ctx.progress.applied(a)
        })
        .await?;
    report.sections.push(timings_section(
        &up,
        started.elapsed(),
        &ctx.server.describe(),
        ctx.runner,
        policy.replay.slow_ms,
        up.failure.as_ref(),
    ));
    report
        .findings
        .extend(r005_slow(&up, policy.replay.slow_ms));
    if let Some(failure) = &up.failure {
        report
            .findings
            .push(r001_upgrade_failed(failure, ctx.timeout));
    }
    Ok(up)
}

/// R005: migrations slower than `replay.slow-ms` (warnings).
fn r005_slow(up: &RunOutcome, slow_ms: u64) -> Vec<Finding> {
    up.applied
        .iter()
        .filter(|a| a.duration.as_millis() > u128::from(slow_ms))
        .map(|a| {
            let f = Finding::new(
                Code::R005,
                format!(
                    "migration {} took {} ms on an empty database (replay.slow-ms = {slow_ms})",
                    a.revision,
                    a.duration.as_millis(),
                ),
            );
            match &a.file {
                Some(file) => f.at(file.clone()),
                None => f,
            }
        })
        .collect()
}

/// R001: the upgrade from empty failed (or timed out) at the named revision.
fn r001_upgrade_failed(failure: &crate::runner::Failure, timeout: Duration) -> Finding {
    let message = if failure.timed_out {
        format!(
            "upgrade from empty timed out after {}s{} (replay.timeout-s / --timeout)",
            timeout.as_secs(),
            failure
                .revision
                .as_ref()
                .map(|r| format!(" while running revision {r}"))
                .unwrap_or_default()
        )
    } else {
        format!("upgrade from empty failed at {}", failure.describe())
    };
    upgrade_finding(Code::R001, failure, message)
}

/// After R001: R010 for every later check, and the fixes verified where the chain builds
/// up to their `applied-after` (their production path cannot be: R010 per fix).
async fn after_r001(
    ctx: &Ctx<'_>,
    mode: Mode,
    failure: &crate::runner::Failure,
    report: &mut Report,
) -> Result<(), ReplayError> {
    let settings = ctx.settings;
    let at = failure.revision.as_deref().map_or_else(
        || "the migration run".to_string(),
        |r| format!("revision {r}"),
    );
    let because = if failure.timed_out {
        "the upgrade from empty timed out (R001)".to_string()
    } else {
        format!("the upgrade from empty failed at {at} (R001)")
    };
    report.findings.push(not_run(
        &settings.policy.migrations.path,
        &format!(
            "{because}; not checked: {}",
            later_checks(settings, mode).join(", ")
        ),
    ));
    if !(settings.fixes && mode == Mode::Check) {
        return Ok(());
    }
    if failure.timed_out {
        // The deadline has passed: every fix would time out too.
        report
            .findings
            .extend(fixes::not_verified(settings, &because));
        return Ok(());
    }
    ctx.progress
        .stage("emergency fixes (on the part of the chain that builds)");
    let (found, section) = fixes::verify(ctx, None, &because).await?;
    report.findings.extend(found);
    report.sections.extend(section);
    Ok(())
}

/// R002: what the database records as applied against the chain's head(s).
async fn r002_head_check(ctx: &Ctx<'_>, db: &Scratch, report: &mut Report) {
    let Some(mut heads) = ctx.runner.chain_heads() else {
        return;
    };
    heads.sort();
    let recorded = ctx.runner.recorded_heads(&db.db.url).await;
    if recorded.as_ref() == Some(&heads) {
        return;
    }
    let got = recorded.map_or_else(
        || "nothing (no bookkeeping row)".to_string(),
        |r| r.join(", "),
    );
    report.findings.push(
        Finding::new(
            Code::R002,
            format!(
                "after upgrade the database records {got}, but the chain head is {}",
                heads.join(", ")
            ),
        )
        .at(ctx.settings.policy.migrations.path.clone()),
    );
}

/// R003: the head schema against the expected snapshot, `--reference` and
/// `--reference-dump`.
async fn r003_drift(
    ctx: &Ctx<'_>,
    head: &Snapshot,
    report: &mut Report,
) -> Result<(), ReplayError> {
    let settings = ctx.settings;
    let policy = &settings.policy;
    let snap_path = settings.root.join(&policy.replay.snapshot);
    match std::fs::read_to_string(&snap_path) {
        Ok(text) => {
            let expected = Snapshot::from_json(&text).map_err(|e| {
                ReplayError::Config(format!(
                    "{}: {e}; regenerate it with `gate-replay snapshot`",
                    policy.replay.snapshot
                ))
            })?;
            drift(
                report,
                ctx.diff(&expected, head, "snapshot", "replay"),
                &policy.replay.snapshot,
                "the expected snapshot",
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.findings.push(
                Finding::new(
                    Code::R003,
                    format!(
                        "no expected snapshot at {}: schema drift is not checked",
                        policy.replay.snapshot
                    ),
                )
                .severity(Severity::Note)
                .help("Run `gate-replay snapshot` and commit the file."),
            );
        }
        Err(e) => {
            return Err(ReplayError::Config(format!(
                "cannot read {}: {e}",
                snap_path.display()
            )));
        }
    }
    if let Some(url) = &settings.reference {
        ctx.progress.stage("snapshot of the reference database");
        let reference = Snapshot::capture(url)
            .await
            .map_err(|e| env_err("cannot read the --reference database", e))?;
        drift(
            report,
            ctx.diff(&reference, head, "reference", "replay"),
            &policy.migrations.path,
            "the --reference database",
        );
    }
    if let Some(dump) = &settings.reference_dump {
        ctx.progress.stage("restore --reference-dump");
        let reference = restore_dump(ctx, dump).await?;
        drift(
            report,
            ctx.diff(&reference, head, "reference", "replay"),
            &policy.migrations.path,
            "the --reference-dump schema",
        );
    }
    Ok(())
}

/// A finding at the file, line and column of a runner failure, with the catalogue's help.
fn upgrade_finding(code: Code, failure: &crate::runner::Failure, message: String) -> Finding {
    let mut f = Finding::new(code, redact_error(&message));
    if let Some(file) = &failure.file {
        f = f.at(file.clone());
        if let Some(l) = failure.line {
            f = f.line(l);
        }
        if let Some(c) = failure.column {
            f = f.column(c);
        }
    }
    f
}

fn drift(report: &mut Report, diffs: Vec<Difference>, path: &str, against: &str) {
    if diffs.is_empty() {
        return;
    }
    let lines: Vec<String> = diffs.iter().map(ToString::to_string).collect();
    report.findings.push(
        Finding::new(
            Code::R003,
            format!(
                "the replayed schema differs from {against} in {} place(s): {}",
                diffs.len(),
                lines.join("; ")
            ),
        )
        .at(path.to_string()),
    );
}

async fn roundtrip(
    ctx: &Ctx<'_>,
    db: &Scratch,
    baseline: &Snapshot,
    head: &Snapshot,
    report: &mut Report,
) -> Result<(), ReplayError> {
    ctx.progress.stage("round trip: downgrade to base");
    let down = ctx.runner.downgrade_base(&db.env, ctx.deadline).await?;
    if let Some(f) = &down.failure {
        let msg = if f.timed_out {
            format!(
                "downgrade to base timed out after {}s",
                ctx.timeout.as_secs()
            )
        } else {
            format!("downgrade to base failed at {}", f.describe())
        };
        report.findings.push(upgrade_finding(Code::R006, f, msg));
        return Ok(());
    }
    let after_down = ctx.capture(db).await?;
    let left = ctx.diff(baseline, &after_down, "empty", "after downgrade");
    if !left.is_empty() {
        let lines: Vec<String> = left.iter().map(ToString::to_string).collect();
        report.findings.push(
            Finding::new(
                Code::R004,
                format!(
                    "downgrade to base leaves {} object(s) behind: {}",
                    left.len(),
                    lines.join("; ")
                ),
            )
            .at(ctx.settings.policy.migrations.path.clone()),
        );
        return Ok(());
    }
    ctx.progress.stage("round trip: upgrade to head again");
    let again: RunOutcome = ctx
        .runner
        .upgrade(&db.env, &Target::Head, ctx.deadline, &mut |_| {})
        .await?;
    if let Some(f) = &again.failure {
        let msg = format!("upgrade after downgrade to base failed at {}", f.describe());
        report.findings.push(upgrade_finding(Code::R004, f, msg));
        return Ok(());
    }
    let second = ctx.capture(db).await?;
    let diffs = ctx.diff(head, &second, "first upgrade", "second upgrade");
    if !diffs.is_empty() {
        let lines: Vec<String> = diffs.iter().map(ToString::to_string).collect();
        report.findings.push(
            Finding::new(
                Code::R004,
                format!(
                    "downgrade to base and upgrade again gives a different schema: {}",
                    lines.join("; ")
                ),
            )
            .at(ctx.settings.policy.migrations.path.clone()),
        );
    }
    Ok(())
}

/// Restore a `pg_dump --schema-only` file with psql into a second scratch database.
async fn restore_dump(ctx: &Ctx<'_>, dump: &Path) -> Result<Snapshot, ReplayError> {
    if !dump.is_file() {
        return Err(ReplayError::Config(format!(
            "--reference-dump {} does not exist",
            dump.display()
        )));
    }
    let db = ctx.fresh().await?;
    let mut cmd = tokio::process::Command::new("psql");
    db.env.apply(&mut cmd);
    cmd.arg("-X")
        .arg("-q")
        .arg("-f")
        .arg(dump)
        .env("PGOPTIONS", "-c client_min_messages=warning");
    let finished = crate::runner::process::run_streaming(cmd, ctx.deadline, |_, _, _| {}).await;
    let result = match finished {
        Err(e) => Err(env_err(
            "cannot run psql to restore --reference-dump (install the PostgreSQL client)",
            e,
        )),
        Ok(f) => {
            // A dump from production names roles this server does not have; ownership and
            // grants are not schema, so those errors are expected and ignored.
            let errors: Vec<&str> = f
                .lines
                .iter()
                .map(|(_, l)| l.as_str())
                .filter(|l| l.contains("ERROR:") && !l.contains("role \""))
                .collect();
            if f.timed_out {
                Err(ReplayError::Environment(
                    "restoring --reference-dump timed out".into(),
                ))
            } else if !errors.is_empty() {
                Err(ReplayError::Config(format!(
                    "--reference-dump {} does not restore cleanly: {}",
                    dump.display(),
                    redact_error(&errors[..errors.len().min(3)].join(" | "))
                )))
            } else {
                ctx.capture(&db).await
            }
        }
    };
    ctx.drop(&db).await;
    result
}

fn timings_section(
    up: &RunOutcome,
    total: Duration,
    backend: &str,
    runner: &Runner,
    slow_ms: u64,
    failure: Option<&crate::runner::Failure>,
) -> Section {
    let width = up
        .applied
        .iter()
        .map(|a| a.revision.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut text = format!("backend: {backend}\nrunner: {}\n", runner.describe());
    let mut md = format!(
        "Backend: `{backend}` · runner: `{}`\n\n| revision | ms | file |\n|---|---:|---|\n",
        runner.describe()
    );
    text.push_str(&format!("{:<width$}  {:>8}  file\n", "revision", "ms"));
    let mut rows = Vec::new();
    for a in &up.applied {
        let ms = a.duration.as_millis();
        let slow = if ms > u128::from(slow_ms) {
            " (slow)"
        } else {
            ""
        };
        let file = a.file.as_deref().unwrap_or("");
        text.push_str(&format!("{:<width$}  {ms:>8}  {file}{slow}\n", a.revision));
        md.push_str(&format!("| `{}` | {ms} | {file}{slow} |\n", a.revision));
        rows.push(serde_json::json!({"revision": a.revision, "ms": ms, "file": a.file}));
    }
    let heads = runner.chain_heads().unwrap_or_default().join(", ");
    // After a failure the database is not at head: say where it stopped.
    let (end_text, end_md) = match failure {
        Some(f) => {
            let at = f.revision.as_deref().unwrap_or("the first revision");
            (
                format!("stopped at {at} (failed)"),
                format!("stopped at `{at}` (failed)"),
            )
        }
        None if heads.is_empty() => ("head -".to_string(), "head `-`".to_string()),
        None => (format!("head {heads}"), format!("head `{heads}`")),
    };
    text.push_str(&format!(
        "{} migration(s) applied in {} ms; {end_text}\n",
        up.applied.len(),
        total.as_millis(),
    ));
    md.push_str(&format!(
        "\n{} migration(s) applied in {} ms; {end_md}\n",
        up.applied.len(),
        total.as_millis(),
    ));
    Section {
        title: "Replay timings".into(),
        text,
        markdown: md,
        data: serde_json::json!({
            "backend": backend,
            "runner": runner.describe(),
            "head": runner.chain_heads(),
            "applied": up.applied.len(),
            "total_ms": total.as_millis(),
            "migrations": rows,
        }),
    }
}
