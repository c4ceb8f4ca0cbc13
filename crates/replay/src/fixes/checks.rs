//! The checks on one registered fix, each on a copy of the template it needs: F001 and F006
//! (`at_applied_after`), F002 (`rollback_check`), F003–F005 (`production_path`,
//! `production_tail`: the chain still runs after the fix).

use super::*;

pub(super) async fn verify_one(
    ctx: &Ctx<'_>,
    templates: &Templates,
    script: &Script,
    clean_head: Option<&Snapshot>,
    because: &str,
    summary: &mut FixSummary,
) -> Result<Vec<Finding>, ReplayError> {
    let mut out = Vec::new();
    let at = target_name(&target(script));
    // Copying the tree is blocking I/O: off the task that drives the other fixes' checks.
    let root = ctx.settings.root.clone();
    let work = tokio::task::spawn_blocking(move || WorkCopy::new(&root))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        .map_err(|source| ReplayError::WorkCopy {
            script: script.path.clone(),
            source,
        })?;
    let (db, pre) = match templates.copy_for(ctx, script).await? {
        Ok(prepared) => prepared,
        Err(why) => {
            summary.checks.push("not verified".into());
            out.push(not_run(
                &script.path,
                &format!(
                    "{}: the emergency fix was not verified (idempotency, rollback, production path): {why}",
                    script.path
                ),
            ));
            return Ok(out);
        }
    };
    let result = at_applied_after(
        ctx, templates, script, &db, &pre, &work, &at, &mut out, summary,
    )
    .await;
    ctx.drop(&db).await;
    let first_run_ok = result?;

    if first_run_ok {
        production_path(
            ctx, templates, script, &work, clean_head, because, &mut out, summary,
        )
        .await?;
    }
    summary.written = work.written();
    Ok(out)
}

/// F001, F006 and F002 on one database at `applied-after`. Returns whether the first run
/// succeeded (the production path is only meaningful then).
#[allow(clippy::too_many_arguments)]
async fn at_applied_after(
    ctx: &Ctx<'_>,
    templates: &Templates,
    script: &Script,
    db: &Scratch,
    pre: &State,
    work: &WorkCopy,
    at: &str,
    out: &mut Vec<Finding>,
    summary: &mut FixSummary,
) -> Result<bool, ReplayError> {
    let before = counters(db).await;
    if let Applied::Failed(e) = apply(ctx, script, db, work).await? {
        summary.checks.push("first run failed".into());
        out.push(
            finding(
                Code::F001,
                script,
                format!("the fix fails when applied at {at}, where production ran it: {e}"),
            )
            .help("Make the fix apply cleanly at applied-after, or correct applied-after."),
        );
        return Ok(false);
    }
    let after = counters(db).await;
    let once = State::read(ctx, db).await?;
    summary.checks.push("applied".into());
    if State::diff(ctx, pre, &once, "before", "after").is_empty() {
        // The reading connection before the fix ends one session of its own.
        let (fix_sessions, errors) = match (before, after) {
            (Some(a), Some(b)) => (Some(b.sessions - a.sessions - 1), b.rollbacks - a.rollbacks),
            _ => (None, 0),
        };
        let f = if errors > 0 {
            finding(Code::F006, script, format!(
                    "applied at {at}, the fix changed no schema and no row, and the server saw a statement fail: it failed but exited 0"
                )).help("Make the fix exit non-zero when a statement fails (do not catch and print), then fix the statement.")
        } else if script.run.is_some() && fix_sessions == Some(0) {
            finding(Code::F006, script, format!(
                    "applied at {at}, the fix exited 0 but never connected to the scratch database it was given (DATABASE_URL = {}, and PGHOST/PGPORT/PGUSER/PGDATABASE)",
                    db.env.database_url()
                )).help("Make the fix read DATABASE_URL (or libpq's PG* variables) and exit non-zero when it cannot connect; set replay.database-url if it needs another URL form.")
        } else {
            finding(Code::F006, script, format!("applied at {at}, the fix changed no schema and no row on the scratch database (it exited 0 and no statement failed); if it only updates rows a scratch database lacks, this is expected")).help("Check that the fix really ran; a data fix is verified once the replay seeds rows (replay.data).")
            .severity(Severity::Warning)
        };
        out.push(f);
    }

    let mut idempotent = true;
    match apply(ctx, script, db, work).await? {
        Applied::Failed(e) => {
            idempotent = false;
            out.push(finding(
                Code::F001,
                script,
                format!("a second run fails: {e}"),
            ));
        }
        Applied::Ok => {
            let twice = State::read(ctx, db).await?;
            let d = State::diff(
                ctx,
                &once,
                &twice,
                "after the first run",
                "after the second run",
            );
            if !d.is_empty() {
                idempotent = false;
                out.push(finding(
                    Code::F001,
                    script,
                    format!("a second run changes the database: {}", d.join("; ")),
                ));
            }
        }
    }
    summary.checks.push(
        if idempotent {
            "idempotent"
        } else {
            "not idempotent"
        }
        .into(),
    );

    if let Some(rb) = &script.rollback {
        let ok = if idempotent {
            rollback_check(ctx, script, rb, db, work, pre, false, out).await?
        } else {
            // The database holds two applications; roll back from one, on a fresh one.
            match templates.copy_for(ctx, script).await? {
                Ok((db2, _)) => {
                    let r = rollback_check(ctx, script, rb, &db2, work, pre, true, out).await;
                    ctx.drop(&db2).await;
                    r?
                }
                Err(_) => false,
            }
        };
        summary.checks.push(
            if ok {
                "rollback restores"
            } else {
                "rollback fails"
            }
            .into(),
        );
    }
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
async fn rollback_check(
    ctx: &Ctx<'_>,
    script: &Script,
    rollback: &str,
    db: &Scratch,
    work: &WorkCopy,
    pre: &State,
    apply_first: bool,
    out: &mut Vec<Finding>,
) -> Result<bool, ReplayError> {
    if apply_first && let Applied::Failed(e) = apply(ctx, script, db, work).await? {
        out.push(
            finding(
                Code::F002,
                script,
                format!("cannot apply the fix before testing its rollback: {e}"),
            )
            .help("Make the fix apply cleanly at applied-after."),
        );
        return Ok(false);
    }
    if let Applied::Failed(e) = run_command(ctx, rollback, &[], db, work).await? {
        out.push(finding(
            Code::F002,
            script,
            format!("the rollback fails: {e}"),
        ));
        return Ok(false);
    }
    let after = State::read(ctx, db).await?;
    let d = State::diff(ctx, pre, &after, "before the fix", "after the rollback");
    if !d.is_empty() {
        out.push(finding(
            Code::F002,
            script,
            format!(
                "the rollback does not restore the database: {}",
                d.join("; ")
            ),
        ));
        return Ok(false);
    }
    Ok(true)
}

/// F003/F004/F005: migrations up to applied-after, the fix, then on to head.
#[allow(clippy::too_many_arguments)]
async fn production_path(
    ctx: &Ctx<'_>,
    templates: &Templates,
    script: &Script,
    work: &WorkCopy,
    clean_head: Option<&Snapshot>,
    because: &str,
    out: &mut Vec<Finding>,
    summary: &mut FixSummary,
) -> Result<(), ReplayError> {
    let Some(clean_head) = clean_head else {
        summary.checks.push("production path not checked".into());
        out.push(not_run(
            &script.path,
            &format!(
                "{}: the production path (fix, then the later migrations) was not checked: {because}",
                script.path
            ),
        ));
        return Ok(());
    };
    let continue_upgrade = matches!(target(script), Target::Revision(_));
    if continue_upgrade && !ctx.runner.supports_targets() {
        out.push(
            finding(Code::F003, script, "the production path is not checked: migrations.kind = \"command\" cannot stop at applied-after".into()).help("Use the alembic or sql runner to check the production path.")
            .severity(Severity::Note),
        );
        return Ok(());
    }
    let db = match templates.copy_for(ctx, script).await? {
        Ok((db, _)) => db,
        Err(_) => return Ok(()),
    };
    let r = production_tail(ctx, script, &db, work, clean_head, continue_upgrade, out).await;
    ctx.drop(&db).await;
    if let Some(verdict) = r? {
        summary.checks.push(format!("production path: {verdict}"));
    }
    Ok(())
}

async fn production_tail(
    ctx: &Ctx<'_>,
    script: &Script,
    db: &Scratch,
    work: &WorkCopy,
    clean_head: &Snapshot,
    continue_upgrade: bool,
    out: &mut Vec<Finding>,
) -> Result<Option<&'static str>, ReplayError> {
    if let Applied::Failed(_) = apply(ctx, script, db, work).await? {
        // Already reported by the first-run check.
        return Ok(None);
    }
    if continue_upgrade {
        let up = ctx
            .runner
            .upgrade(&db.env, &Target::Head, ctx.deadline, &mut |_| {})
            .await?;
        if let Some(f) = up.failure {
            let mut finding = finding(
                Code::F003,
                script,
                format!(
                    "replayed where production ran it ({}), the fix makes a later migration fail: {}",
                    target_name(&target(script)),
                    f.describe()
                ),
            );
            // Point at the migration that breaks: that is what the author must change.
            if let Some(file) = &f.file {
                finding = finding.at(file.clone());
                if let Some(l) = f.line {
                    finding = finding.line(l);
                }
            }
            out.push(finding);
            return Ok(Some("a later migration fails (F003)"));
        }
    }
    let prod = ctx.capture(db).await?;
    let d = ctx.diff(clean_head, &prod, "migrations alone", "production path");
    if !d.is_empty() {
        let (code, what, help) = if script.status == ScriptStatus::Converted {
            (
                Code::F005,
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
                Code::F004,
                "the production path leaves a schema the migrations alone do not produce"
                    .to_string(),
                "Write a migration that makes the same change, then mark the fix converted.",
            )
        };
        let list: Vec<String> = d.iter().map(ToString::to_string).collect();
        out.push(finding(code, script, format!("{what}: {}", list.join("; "))).help(help));
        return Ok(Some(if code == Code::F005 {
            "still differs after conversion (F005)"
        } else {
            "schema the migrations do not produce (F004)"
        }));
    }
    Ok(Some("same schema as the migrations alone"))
}
