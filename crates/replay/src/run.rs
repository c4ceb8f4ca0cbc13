//! The replay, in DESIGN.md's order: static chain checks, upgrade from empty (timed per
//! revision), head check, snapshot and comparisons, round trip, emergency fixes, report.
//! Checks return findings; only the binary renders. Anything that stops a check from running
//! is a [`ReplayError`] (exit 2), never a passing report.

use std::time::{Duration, Instant};

use gate_report::{Code, Finding, Report, Section, Severity};
use gate_schema::Snapshot;

pub use crate::ctx::{Mode, Outcome, Settings};
pub use crate::error::ReplayError;

use crate::ctx::{Ctx, Scratch, not_run};
use crate::drift::r003_drift;
use crate::fixes;
use crate::progress::Progress;
use crate::roundtrip::roundtrip;
use crate::runner::{Applied, RunOutcome, Runner, Target};

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
            .map_err(ReplayError::Chain)?,
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
    if settings.models {
        v.push("the models comparison (R008)".into());
    }
    if settings.roundtrip {
        v.push("the downgrade/upgrade round trip (R004, R006)".into());
    }
    if settings.stairway {
        v.push("the stairway (R007)".into());
    }
    if settings.data {
        v.push("the seeded pass (R009)".into());
    }
    v
}

/// The whole replay.
pub async fn replay(settings: &Settings, mode: Mode) -> Result<Outcome, ReplayError> {
    // One read of the chain: the static checks and the runner see the same revisions.
    let discovery =
        gate_chain::discover(&settings.root, &settings.policy).map_err(ReplayError::Chain)?;
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
    report.sections.extend(crate::shard::section(settings));
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
        keep_chain_findings_in_shard_one(settings, &mut report);
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
    let server = crate::ctx::start_server(settings, &progress).await?;
    let ctx = Ctx::new(settings, &server, &runner, &progress);
    keep_chain_findings_in_shard_one(settings, &mut report);
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
    let main = async {
        let db = ctx.fresh().await?;
        let at_head = if crate::shard::runs_chain_checks(ctx.settings) {
            checks_on(ctx, mode, report, &db).await
        } else {
            clean_head_of_shard(ctx, mode, report, &db).await
        };
        ctx.drop(&db).await;
        at_head
    };
    // The stairway and the seeded pass each replay the chain on databases of their own: they
    // run while the upgrade from empty does (the server and the interpreters have more than
    // one core to share). What they found counts only when the chain builds from empty, as
    // when they ran after it; otherwise R001 says why nothing later was checked.
    // So does the fixes' pass over the chain (fixes/pass.rs): it applies every fix where
    // production did and needs the clean head only to decide.
    let walk = async {
        if mode == Mode::Check && ctx.settings.fixes {
            fixes::walk_pass(ctx).await
        } else {
            Ok(fixes::Pass::NotWalked)
        }
    };
    let (at_head, optional, walked) = tokio::join!(main, optional_passes(ctx, mode), walk);
    let Some(head) = at_head? else {
        return Ok(None);
    };
    let walked = walked?;
    let optional = optional?;
    report.findings.extend(optional.findings);
    report.checks.extend(optional.checks);
    report.sections.extend(optional.sections);
    // Step 5: emergency fixes.
    if mode == Mode::Check && ctx.settings.fixes {
        ctx.progress.stage("emergency fixes");
        let (found, section) = fixes::verify(ctx, Some(&head), "", walked).await?;
        report.findings.extend(found);
        report.sections.extend(section);
        fix_checks_run(ctx.settings, report);
    }
    Ok(Some(head))
}

/// The stairway (R007) and the seeded pass (R009, L0xx) when they are asked for, in a report
/// of their own.
async fn optional_passes(ctx: &Ctx<'_>, mode: Mode) -> Result<Report, ReplayError> {
    let mut report = Report::new("gate-replay", "");
    if mode == Mode::Check && ctx.settings.stairway {
        crate::stairway::stairway(ctx, &mut report).await?;
    }
    // A chain-level check: shard 1's, like the static checks.
    if mode == Mode::Check && ctx.settings.data && crate::shard::runs_chain_checks(ctx.settings) {
        crate::seeded::seeded_pass(ctx, &mut report).await?;
    }
    Ok(report)
}

/// The static findings (C, G) are chain-level: shard 1 reports them, other shards drop them
/// so the joined report has each once.
fn keep_chain_findings_in_shard_one(settings: &Settings, report: &mut Report) {
    if !crate::shard::runs_chain_checks(settings) {
        report.findings.retain(|f| f.code == Code::R010);
    }
}

/// A shard after the first: the chain-level checks are shard 1's; this one needs only the
/// clean head its fixes are compared with. When the chain does not build, its fixes are
/// verified as far as it does (shard 1 reports the R001).
async fn clean_head_of_shard(
    ctx: &Ctx<'_>,
    mode: Mode,
    report: &mut Report,
    db: &Scratch,
) -> Result<Option<Snapshot>, ReplayError> {
    ctx.progress
        .stage("upgrade to head (for this shard's fixes)");
    let up = ctx
        .runner
        .upgrade(&db.env, &Target::Head, ctx.deadline, &mut |a: &Applied| {
            ctx.progress.applied(a)
        })
        .await?;
    let Some(failure) = &up.failure else {
        return Ok(Some(ctx.capture(db).await?));
    };
    let because = "the upgrade from empty failed (R001, in shard 1's report)";
    if failure.timed_out {
        crate::runner::terminate_sessions(&db.db.url).await;
        report
            .findings
            .extend(fixes::not_verified(ctx.settings, because));
    } else if mode == Mode::Check && ctx.settings.fixes {
        let (found, section) = fixes::verify(ctx, None, because, fixes::Pass::NotWalked).await?;
        report.findings.extend(found);
        report.sections.extend(section);
    }
    Ok(None)
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
    report.checked(Code::R002, settings.policy.migrations.path.clone());

    // Step 3: snapshot and comparisons.
    ctx.progress.stage("snapshot");
    let head = ctx.capture(db).await?;
    if mode == Mode::Snapshot {
        return Ok(Some(head));
    }
    r003_drift(ctx, &head, report).await?;
    report.checked(Code::R003, settings.policy.replay.snapshot.clone());
    // Models before the round trip changes the database.
    if settings.models {
        crate::models::r008_models(ctx, db, report).await?;
    }

    // Step 4: round trip.
    if settings.roundtrip {
        match &empty {
            Some(empty) => {
                roundtrip(ctx, db, empty, &head, report).await?;
                report.checked(Code::R004, settings.policy.migrations.path.clone());
            }
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
    // Not observed: statements are observed (L0xx) in the seeded pass, on tables with rows.
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
    migrations_checked(&up, report);
    if let Some(failure) = &up.failure {
        report
            .findings
            .push(r001_upgrade_failed(failure, ctx.timeout));
    }
    Ok(up)
}

/// The JUnit test cases of the upgrade: one R001 case per migration that ran (with its time)
/// and per migration it failed at, named by file so the case is the same from run to run.
fn migrations_checked(up: &RunOutcome, report: &mut Report) {
    for a in &up.applied {
        let subject = a.file.clone().unwrap_or_else(|| a.revision.clone());
        let mut check = gate_report::CheckRun::new(Code::R001, subject.clone());
        check.time = Some(a.duration);
        report.checks.push(check);
        report.checked(Code::R005, subject);
    }
    if let Some(failed) = up.failure.as_ref().and_then(|f| f.revision.clone()) {
        report.checked(Code::R001, failed);
    }
}

/// The fix checks that ran, one per check and fix of this shard (their findings carry the
/// fix's path as `entry`).
fn fix_checks_run(settings: &Settings, report: &mut Report) {
    for script in crate::shard::fixes_of(settings) {
        for code in [Code::F001, Code::F003, Code::F006] {
            report.checked(code, script.path.clone());
        }
        if script.rollback.is_some() {
            report.checked(Code::F002, script.path.clone());
        }
    }
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
    let (found, section) = fixes::verify(ctx, None, &because, fixes::Pass::NotWalked).await?;
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

/// A finding at the file, line and column where the runner's failure points, with the
/// catalogue's help.
pub(crate) fn upgrade_finding(
    code: Code,
    failure: &crate::runner::Failure,
    message: String,
) -> Finding {
    let mut f = Finding::new(code, message);
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
