//! The checks on one registered fix, each on a copy of the template it needs: F001 and F006
//! (`at_applied_after`), F002 (`rollback_check`), F003–F005 (`production_path`,
//! `production_tail`: the chain still runs after the fix).

use super::*;

pub(super) async fn verify_one(
    ctx: &Ctx<'_>,
    start: templates::Start,
    script: &Script,
    clean_head: Option<&Snapshot>,
    because: &str,
    summary: &mut FixSummary,
) -> Result<Vec<Finding>, ReplayError> {
    let mut out = Vec::new();
    let at = target_name(&target(script));
    let (db, pre) = match start {
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
    // Copying the tree is blocking I/O: off the task that drives the other fixes' checks.
    let root = ctx.settings.root.clone();
    let runs_commands = script.run.is_some() || script.rollback.is_some();
    let work = match tokio::task::spawn_blocking(move || {
        if runs_commands {
            WorkCopy::new(&root)
        } else {
            WorkCopy::empty()
        }
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    {
        Ok(w) => w,
        Err(source) => {
            ctx.drop(&db).await;
            return Err(ReplayError::WorkCopy {
                script: script.path.clone(),
                source,
            });
        }
    };
    let path = path_check(ctx, script, clean_head, because);
    let result = at_applied_after(
        ctx,
        script,
        &db,
        &pre,
        &work,
        &at,
        path.is_ok(),
        &mut out,
        summary,
    )
    .await;
    ctx.drop(&db).await;
    let first_run = result?;

    match (first_run, path, clean_head) {
        (FirstRun::Failed, _, _) => {}
        (FirstRun::Ok(Some(once)), Ok(continue_upgrade), Some(clean_head)) => {
            let r =
                production_tail(ctx, script, &once, clean_head, continue_upgrade, &mut out).await;
            ctx.drop(&once).await;
            summary.checks.push(format!("production path: {}", r?));
        }
        (FirstRun::Ok(once), not_checked, _) => {
            if let Some(once) = once {
                ctx.drop(&once).await;
            }
            if let Err((found, words)) = not_checked {
                out.extend(found);
                summary.checks.extend(words.map(String::from));
            }
        }
    }
    summary.written = work.written();
    Ok(out)
}

/// Whether the production path can be checked for `script` (`Ok(continue to head)`), else
/// the findings that say why not and the summary's words: only reported when the first run
/// succeeds, as the path is only meaningful then.
#[allow(clippy::type_complexity)]
fn path_check(
    ctx: &Ctx<'_>,
    script: &Script,
    clean_head: Option<&Snapshot>,
    because: &str,
) -> Result<bool, (Vec<Finding>, Option<&'static str>)> {
    if clean_head.is_none() {
        return Err((
            vec![not_run(
                &script.path,
                &format!(
                    "{}: the production path (fix, then the later migrations) was not checked: {because}",
                    script.path
                ),
            )],
            Some("production path not checked"),
        ));
    }
    let continue_upgrade = matches!(target(script), Target::Revision(_));
    if continue_upgrade && !ctx.runner.supports_targets() {
        return Err((
            vec![finding(Code::F003, script, "the production path is not checked: migrations.kind = \"command\" cannot stop at applied-after".into()).help("Use the alembic or sql runner to check the production path.")
            .severity(Severity::Note)],
            None,
        ));
    }
    Ok(continue_upgrade)
}

/// How the first run at applied-after went.
enum FirstRun {
    /// It failed (F001 reported): nothing else is meaningful.
    Failed,
    /// It succeeded; the database right after it, when asked for.
    Ok(Option<Scratch>),
}

/// F001, F006 and F002 on `db`, a database at `applied-after` this check owns. When the first
/// run succeeds and `keep_once` (the production path needs it) or the fix has a rollback,
/// returns a copy of `db` taken right after the first run: a database holding exactly one
/// application, which the production path continues from (no second copy of the template,
/// no third run of the fix).
#[allow(clippy::too_many_arguments)]
async fn at_applied_after(
    ctx: &Ctx<'_>,
    script: &Script,
    db: &Scratch,
    pre: &State,
    work: &WorkCopy,
    at: &str,
    keep_once: bool,
    out: &mut Vec<Finding>,
    summary: &mut FixSummary,
) -> Result<FirstRun, ReplayError> {
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
        return Ok(FirstRun::Failed);
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
    // Every session of the first run has ended (`counters` waited for them, the reads closed
    // theirs), so `db` can be a template now.
    let one_application = if keep_once || script.rollback.is_some() {
        Some(ctx.copy(db).await?)
    } else {
        None
    };
    let r = second_run_and_rollback(
        ctx,
        script,
        db,
        pre,
        &once,
        one_application.as_ref(),
        keep_once,
        work,
        out,
        summary,
    )
    .await;
    match (r, one_application) {
        (Ok(()), Some(o)) if keep_once => Ok(FirstRun::Ok(Some(o))),
        (r, o) => {
            if let Some(o) = o {
                ctx.drop(&o).await;
            }
            r.map(|()| FirstRun::Ok(None))
        }
    }
}

/// F001 (the second run) and F002 (the rollback). `one_application` holds the database after
/// the first run; when `keep_it` it must come back unchanged (the production path needs it).
#[allow(clippy::too_many_arguments)]
async fn second_run_and_rollback(
    ctx: &Ctx<'_>,
    script: &Script,
    db: &Scratch,
    pre: &State,
    once: &State,
    one_application: Option<&Scratch>,
    keep_it: bool,
    work: &WorkCopy,
    out: &mut Vec<Finding>,
    summary: &mut FixSummary,
) -> Result<(), ReplayError> {
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
                once,
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
        let ok = match one_application {
            _ if idempotent => rollback_check(ctx, script, rb, db, work, pre, out).await?,
            // The database holds two applications; roll back from one.
            Some(one) if !keep_it => rollback_check(ctx, script, rb, one, work, pre, out).await?,
            Some(one) => {
                let copy = ctx.copy(one).await?;
                let r = rollback_check(ctx, script, rb, &copy, work, pre, out).await;
                ctx.drop(&copy).await;
                r?
            }
            None => false,
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
    Ok(())
}

async fn rollback_check(
    ctx: &Ctx<'_>,
    script: &Script,
    rollback: &str,
    db: &Scratch,
    work: &WorkCopy,
    pre: &State,
    out: &mut Vec<Finding>,
) -> Result<bool, ReplayError> {
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

/// F003/F004/F005: on `db`, a copy taken right after the fix's first run at applied-after,
/// the chain on to head.
async fn production_tail(
    ctx: &Ctx<'_>,
    script: &Script,
    db: &Scratch,
    clean_head: &Snapshot,
    continue_upgrade: bool,
    out: &mut Vec<Finding>,
) -> Result<&'static str, ReplayError> {
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
            return Ok("a later migration fails (F003)");
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
        return Ok(if code == Code::F005 {
            "still differs after conversion (F005)"
        } else {
            "schema the migrations do not produce (F004)"
        });
    }
    Ok("same schema as the migrations alone")
}
