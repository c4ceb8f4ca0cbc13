//! Step 5: registered emergency fixes, replayed only ever on scratch databases.
//! - idempotency (F001): migrate to `applied-after`, apply, snapshot, apply again;
//! - rollback (F002): after one apply, the rollback must restore the pre-fix schema;
//! - production path (F003/F004/F005): migrate to `applied-after`, apply, upgrade to head —
//!   a failing later migration is the crisis (F003); a schema the chain alone does not
//!   produce is unconsolidated drift (F004), or an incomplete conversion (F005).

use std::time::Instant;

use gate_policy::{Script, ScriptStatus};
use gate_report::Finding;
use gate_schema::Snapshot;
use tokio::process::Command;

use crate::backend::ScratchDatabase;
use crate::redact_error;
use crate::run::{Ctx, ReplayError, run_sql};
use crate::runner::Target;
use crate::runner::process::run_streaming;

/// Findings for every registered fix with `run` or `sql` and status active, legacy or converted.
pub(crate) async fn verify(
    ctx: &Ctx<'_>,
    clean_head: &Snapshot,
) -> Result<Vec<Finding>, ReplayError> {
    let mut out = Vec::new();
    let scripts = ctx
        .settings
        .policy
        .emergency
        .scripts
        .iter()
        .filter(|s| s.run.is_some() || s.sql.is_some())
        .filter(|s| s.status != ScriptStatus::Retired);
    for script in scripts {
        ctx.progress
            .stage(&format!("emergency fix {}", script.path));
        out.extend(verify_one(ctx, script, clean_head).await?);
    }
    Ok(out)
}

/// Before any database starts: every fix to verify names a revision of the chain in
/// `applied-after`, so a typo is a configuration error, not a failed replay halfway through.
pub(crate) fn check_registry(
    settings: &crate::run::Settings,
    runner: &crate::runner::Runner,
) -> Result<(), ReplayError> {
    let mut bad = Vec::new();
    for s in settings
        .policy
        .emergency
        .scripts
        .iter()
        .filter(|s| (s.run.is_some() || s.sql.is_some()) && s.status != ScriptStatus::Retired)
    {
        if let Target::Revision(r) = target(s) {
            if runner.knows_revision(&r) == Some(false) {
                bad.push(format!(
                    "emergency script {} ({}:{}): applied-after = \"{r}\" names no revision of the chain",
                    s.path,
                    settings.policy.file.display(),
                    s.line
                ));
            }
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ReplayError::Config(format!(
            "{}; set applied-after to the revision production was at when the fix ran",
            bad.join("; ")
        )))
    }
}

fn finding(code: &'static str, script: &Script, message: String, help: &str) -> Finding {
    Finding::new(code, redact_error(&format!("{}: {message}", script.path)))
        .at(script.path.clone())
        .help(help)
}

/// Where production was when the fix ran.
fn target(script: &Script) -> Target {
    match &script.applied_after {
        Some(r) if !r.trim().is_empty() => Target::Revision(r.trim().to_string()),
        _ => Target::Head,
    }
}

fn target_name(t: &Target) -> String {
    match t {
        Target::Head => "head".into(),
        Target::Revision(r) => format!("revision {r}"),
    }
}

/// A fresh database migrated to where the fix ran.
async fn prepared(ctx: &Ctx<'_>, script: &Script) -> Result<ScratchDatabase, ReplayError> {
    let db = ctx.fresh().await?;
    let t = target(script);
    let up = match ctx
        .runner
        .upgrade(&db.url, &t, ctx.deadline, &mut |_| {})
        .await
    {
        Ok(u) => u,
        Err(e) => {
            ctx.drop(&db).await;
            return Err(ReplayError::Config(format!(
                "emergency script {} (policy line {}): cannot upgrade to {}: {e}",
                script.path,
                script.line,
                target_name(&t)
            )));
        }
    };
    if let Some(f) = up.failure {
        ctx.drop(&db).await;
        return Err(ReplayError::Config(redact_error(&format!(
            "emergency script {} (policy line {}): upgrading to {} (applied-after) failed at {}; check applied-after names a revision of the chain",
            script.path,
            script.line,
            target_name(&t),
            f.describe()
        ))));
    }
    Ok(db)
}

/// Apply `script` (its `run` command, or its `sql` file) to `db`; `Err` carries why it failed.
async fn apply(
    ctx: &Ctx<'_>,
    script: &Script,
    command: Option<&str>,
    db: &ScratchDatabase,
) -> Result<Result<(), String>, ReplayError> {
    if let Some(cmd) = command {
        return run_command(ctx, cmd, db).await;
    }
    let Some(sql) = &script.sql else {
        return Ok(Ok(()));
    };
    let path = ctx.settings.root.join(sql);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ReplayError::Config(format!(
            "emergency script {}: cannot read sql = \"{sql}\": {e}",
            script.path
        ))
    })?;
    let remaining = ctx.deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(remaining, run_sql(&db.url, &text)).await {
        Ok(r) => Ok(r),
        Err(_) => {
            crate::runner::terminate_sessions(&db.url).await;
            Ok(Err(format!("timed out after {}s", ctx.timeout.as_secs())))
        }
    }
}

async fn run_command(
    ctx: &Ctx<'_>,
    command: &str,
    db: &ScratchDatabase,
) -> Result<Result<(), String>, ReplayError> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(&ctx.settings.root)
        .env("DATABASE_URL", &db.url);
    let finished = run_streaming(cmd, ctx.deadline, |_, _, _| {})
        .await
        .map_err(|e| ReplayError::Environment(format!("cannot run `sh`: {e}")))?;
    if finished.success() {
        return Ok(Ok(()));
    }
    if finished.timed_out {
        crate::runner::terminate_sessions(&db.url).await;
        return Ok(Err(format!("timed out after {}s", ctx.timeout.as_secs())));
    }
    Ok(Err(format!(
        "`{command}` exited with {}: {}",
        finished
            .code
            .map_or_else(|| "a signal".to_string(), |c| format!("code {c}")),
        finished.tail(3).replace('\n', " | ")
    )))
}

fn list(diffs: &[gate_schema::Difference]) -> String {
    diffs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

async fn verify_one(
    ctx: &Ctx<'_>,
    script: &Script,
    clean_head: &Snapshot,
) -> Result<Vec<Finding>, ReplayError> {
    let mut out = Vec::new();
    let run = script.run.as_deref();
    let at = target_name(&target(script));

    // Idempotency, then (on the same database when it is in the one-apply state) rollback.
    let db = prepared(ctx, script).await?;
    let result = async {
        let pre = ctx.capture(&db).await?;
        if let Err(e) = apply(ctx, script, run, &db).await? {
            out.push(finding(
                "F001",
                script,
                format!("the fix fails when applied at {at}, where production ran it: {e}"),
                "Make the fix apply cleanly at applied-after, or correct applied-after.",
            ));
            return Ok(());
        }
        let once = ctx.capture(&db).await?;
        let mut idempotent = true;
        match apply(ctx, script, run, &db).await? {
            Err(e) => {
                idempotent = false;
                out.push(finding(
                    "F001",
                    script,
                    format!("a second run fails: {e}"),
                    "Guard the fix (IF NOT EXISTS, ON CONFLICT, check before altering).",
                ));
            }
            Ok(()) => {
                let twice = ctx.capture(&db).await?;
                let d = ctx.diff(&once, &twice, "first run", "second run");
                if !d.is_empty() {
                    idempotent = false;
                    out.push(finding(
                        "F001",
                        script,
                        format!("a second run changes the schema: {}", list(&d)),
                        "Guard the fix (IF NOT EXISTS, ON CONFLICT, check before altering).",
                    ));
                }
            }
        }
        if let Some(rb) = &script.rollback {
            if !idempotent {
                // The database holds two applications; roll back from one, on a fresh one.
                ctx.drop(&db).await;
                let db2 = prepared(ctx, script).await?;
                let r = rollback_check(ctx, script, rb, &db2, &pre, true, &mut out).await;
                ctx.drop(&db2).await;
                return r;
            }
            rollback_check(ctx, script, rb, &db, &pre, false, &mut out).await?;
        }
        Ok::<(), ReplayError>(())
    }
    .await;
    ctx.drop(&db).await;
    result?;

    // The production path: migrations up to applied-after, the fix, then on to head.
    let Target::Revision(_) = target(script) else {
        // Applied at head: the clean path and the production path differ by the fix alone.
        let db = prepared(ctx, script).await?;
        let r = production_tail(ctx, script, run, &db, clean_head, &mut out, false).await;
        ctx.drop(&db).await;
        r?;
        return Ok(out);
    };
    if !ctx.runner.supports_targets() {
        out.push(
            finding(
                "F003",
                script,
                "the production path is not checked: migrations.kind = \"command\" cannot stop at applied-after".into(),
                "Use the alembic or sql runner to check the production path.",
            )
            .severity(gate_report::Severity::Note),
        );
        return Ok(out);
    }
    let db = prepared(ctx, script).await?;
    let r = production_tail(ctx, script, run, &db, clean_head, &mut out, true).await;
    ctx.drop(&db).await;
    r?;
    Ok(out)
}

async fn rollback_check(
    ctx: &Ctx<'_>,
    script: &Script,
    rollback: &str,
    db: &ScratchDatabase,
    pre: &Snapshot,
    apply_first: bool,
    out: &mut Vec<Finding>,
) -> Result<(), ReplayError> {
    let run = script.run.as_deref();
    if apply_first {
        if let Err(e) = apply(ctx, script, run, db).await? {
            out.push(finding(
                "F002",
                script,
                format!("cannot apply the fix before testing its rollback: {e}"),
                "Make the fix apply cleanly at applied-after.",
            ));
            return Ok(());
        }
    }
    if let Err(e) = run_command(ctx, rollback, db).await? {
        out.push(finding(
            "F002",
            script,
            format!("the rollback fails: {e}"),
            "Make the rollback undo exactly what the fix does.",
        ));
        return Ok(());
    }
    let after = ctx.capture(db).await?;
    let d = ctx.diff(pre, &after, "before the fix", "after the rollback");
    if !d.is_empty() {
        out.push(finding(
            "F002",
            script,
            format!("the rollback does not restore the schema: {}", list(&d)),
            "Make the rollback undo exactly what the fix does.",
        ));
    }
    Ok(())
}

async fn production_tail(
    ctx: &Ctx<'_>,
    script: &Script,
    run: Option<&str>,
    db: &ScratchDatabase,
    clean_head: &Snapshot,
    out: &mut Vec<Finding>,
    continue_upgrade: bool,
) -> Result<(), ReplayError> {
    if let Err(e) = apply(ctx, script, run, db).await? {
        // Already reported by the idempotency check as a first-run failure.
        let _ = e;
        return Ok(());
    }
    if continue_upgrade {
        let up = ctx
            .runner
            .upgrade(&db.url, &Target::Head, ctx.deadline, &mut |_| {})
            .await?;
        if let Some(f) = up.failure {
            let mut finding = finding(
                "F003",
                script,
                format!(
                    "replayed where production ran it ({}), the fix makes a later migration fail: {}",
                    target_name(&target(script)),
                    f.describe()
                ),
                "Make the later migration tolerate the fix (IF NOT EXISTS) or convert the fix into the migration chain.",
            );
            // Point at the migration that breaks: that is what the author must change.
            if let Some(file) = &f.file {
                finding = finding.at(file.clone());
                if let Some(l) = f.line {
                    finding = finding.line(l);
                }
            }
            out.push(finding);
            return Ok(());
        }
    }
    let prod = ctx.capture(db).await?;
    let d = ctx.diff(clean_head, &prod, "migrations alone", "production path");
    if !d.is_empty() {
        let (code, what, help) = if script.status == ScriptStatus::Converted {
            (
                "F005",
                format!(
                    "marked converted{}, but the production path still differs from the migrations alone",
                    script
                        .converted_in
                        .as_ref()
                        .map(|r| format!(" in {r}"))
                        .unwrap_or_default()
                ),
                "Complete the migration named in converted-in, or set status back to active.",
            )
        } else {
            (
                "F004",
                "the production path leaves a schema the migrations alone do not produce"
                    .to_string(),
                "Write a migration that makes the same change, then mark the fix converted.",
            )
        };
        out.push(finding(code, script, format!("{what}: {}", list(&d)), help));
    }
    Ok(())
}
