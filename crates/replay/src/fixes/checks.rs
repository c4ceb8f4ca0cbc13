//! The checks on one registered fix, each on a copy of the template it needs: F001 and F006
//! (`at_applied_after`), F002 (`rollback_check`), and what F003–F005 start from (the
//! database right after one application, handed to `tails.rs`; `production_tail` is the
//! check of one fix alone).

use std::collections::BTreeSet;

use super::*;
use tails::Pending;

/// F001, F002 and F006 into `out`; the production path's start when it is to be checked.
pub(super) async fn verify_one(
    ctx: &Ctx<'_>,
    start: templates::Start,
    script: &Script,
    clean_head: Option<&Snapshot>,
    because: &str,
    summary: &mut FixSummary,
    out: &mut Vec<Finding>,
) -> Result<Option<Pending>, ReplayError> {
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
            return Ok(None);
        }
    };
    // Copying the tree is blocking I/O: off the task that drives the other fixes' checks.
    let work = match work_copy(ctx, script).await {
        Ok(w) => w,
        Err(e) => {
            ctx.drop(&db).await;
            return Err(e);
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
        out,
        summary,
    )
    .await;
    summary.written = work.written();
    let first_run = match result {
        Ok(FirstRun::Ok(Some((TailStart::ThisDatabase, touched)))) => {
            FirstRun::Ok(Some((TailStart::Own(db), touched)))
        }
        r => {
            ctx.drop(&db).await;
            r?
        }
    };

    match (first_run, path, clean_head) {
        (FirstRun::Failed, _, _) => Ok(None),
        (FirstRun::Ok(Some((start, touched))), Ok(continue_upgrade), Some(_)) => {
            let once = match start {
                TailStart::Own(db) => db,
                TailStart::ThisDatabase => unreachable!("handed over above"),
                TailStart::Rebuild => match rebuilt_once(ctx, script).await? {
                    Ok(db) => db,
                    Err(why) => {
                        summary.checks.push("production path not checked".into());
                        out.push(not_run(&script.path, &format!(
                            "{}: the production path (fix, then the later migrations) was not checked: {why}",
                            script.path
                        )));
                        return Ok(None);
                    }
                },
            };
            Ok(Some(Pending {
                once,
                continue_upgrade,
                touched,
            }))
        }
        (FirstRun::Ok(start), not_checked, _) => {
            if let Some((TailStart::Own(once), _)) = start {
                ctx.drop(&once).await;
            }
            if let Err((found, words)) = not_checked {
                out.extend(found);
                summary.checks.extend(words.map(String::from));
            }
            Ok(None)
        }
    }
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
    /// It succeeded; where the production path starts and what the run touched, when asked
    /// for.
    Ok(Option<(TailStart, BTreeSet<String>)>),
}

/// The database the production path starts from: one that holds one application.
enum TailStart {
    /// A database of its own holding one application (a copy taken right after the first
    /// run, or the checked database itself once it proved idempotent).
    Own(Scratch),
    /// The checked database itself: the fix is idempotent (its second run changed neither
    /// schema nor rows) and had no rollback run on it, so it is the database after one
    /// application for everything the path compares, and no copy is needed.
    ThisDatabase,
    /// Neither (a fix that is not idempotent and has no rollback, so no copy was taken
    /// before its second run): upgraded from empty and applied once more.
    Rebuild,
}

/// A database at the fix's applied-after with the fix applied once, from empty: the start of
/// the production path of a fix whose checked database holds two applications. `Err(why)`
/// when the upgrade or the application fails this time.
async fn rebuilt_once(
    ctx: &Ctx<'_>,
    script: &Script,
) -> Result<Result<Scratch, String>, ReplayError> {
    let db = ctx.fresh().await?;
    let r = async {
        let up = ctx
            .runner
            .upgrade(&db.env, &target(script), ctx.deadline, &mut |_| {})
            .await?;
        if let Some(f) = up.failure {
            return Ok(Err(format!(
                "upgrading an empty database to {} failed this time: {}",
                target_name(&target(script)),
                f.describe()
            )));
        }
        let work = work_copy(ctx, script).await?;
        Ok(match apply(ctx, script, &db, &work).await? {
            Applied::Ok => Ok(()),
            Applied::Failed(e) => Err(format!(
                "applied once more to start it, the fix failed: {e}"
            )),
        })
    }
    .await;
    Ok(ctx.kept_if_made(db, r).await?.map(|(db, ())| db))
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
    let once_digest = State::digest(ctx, db).await?;
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
    // theirs), so `db` can be a template now. Only a rollback needs a copy before the second
    // run; the production path starts from `db` itself when the fix proves idempotent.
    let one_application = if script.rollback.is_some() {
        Some(ctx.copy(db).await?)
    } else {
        None
    };
    let r = second_run_and_rollback(
        ctx,
        script,
        db,
        pre,
        (&once, &once_digest),
        one_application.as_ref(),
        keep_once,
        work,
        out,
        summary,
    )
    .await;
    let idempotent = match r {
        Ok(idempotent) => idempotent,
        Err(e) => {
            if let Some(o) = one_application {
                ctx.drop(&o).await;
            }
            return Err(e);
        }
    };
    let start = match one_application {
        Some(o) if !keep_once => {
            ctx.drop(&o).await;
            return Ok(FirstRun::Ok(None));
        }
        _ if !keep_once => return Ok(FirstRun::Ok(None)),
        Some(o) => TailStart::Own(o),
        None if idempotent => TailStart::ThisDatabase,
        None => TailStart::Rebuild,
    };
    Ok(FirstRun::Ok(Some((start, touched(ctx, pre, &once)))))
}

/// F001 (the second run) and F002 (the rollback); whether the fix is idempotent.
/// `one_application` holds the database after the first run; when `keep_it` it must come
/// back unchanged (the production path needs it).
#[allow(clippy::too_many_arguments)]
async fn second_run_and_rollback(
    ctx: &Ctx<'_>,
    script: &Script,
    db: &Scratch,
    pre: &State,
    (once, once_digest): (&State, &Digest),
    one_application: Option<&Scratch>,
    keep_it: bool,
    work: &WorkCopy,
    out: &mut Vec<Finding>,
    summary: &mut FixSummary,
) -> Result<bool, ReplayError> {
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
        // Most fixes are idempotent: a fingerprint tells so without reading the schema again.
        Applied::Ok if State::unchanged(ctx, db, once_digest).await? => {}
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
    Ok(idempotent)
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

/// The keys (`gate_recovery::difference_key`) of what one application changed: the schema
/// objects that differ between `pre` and `once`, and `table NAME` for each table whose rows
/// changed. Two fixes whose keys are disjoint touched different objects.
fn touched(ctx: &Ctx<'_>, pre: &State, once: &State) -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = ctx
        .diff(&pre.schema, &once.schema, "before", "after")
        .iter()
        .map(gate_recovery::difference_key)
        .collect();
    keys.extend(
        pre.data
            .changed_tables(&once.data)
            .map(|t| format!("table {t}")),
    );
    keys
}

/// F003/F004/F005 for one fix alone: on `db`, a copy taken right after the fix's first run
/// at applied-after, the chain on to head.
pub(super) async fn production_tail(
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
    Ok(schema_verdict(script, &d, out))
}

/// F004 (or F005 for a converted fix) when the production path's schema at head differs
/// from the migrations alone by `d`; the summary's words.
pub(super) fn schema_verdict(
    script: &Script,
    d: &[gate_schema::Difference],
    out: &mut Vec<Finding>,
) -> &'static str {
    if d.is_empty() {
        return "same schema as the migrations alone";
    }
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
            "the production path leaves a schema the migrations alone do not produce".to_string(),
            "Write a migration that makes the same change, then mark the fix converted.",
        )
    };
    let list: Vec<String> = d.iter().map(ToString::to_string).collect();
    out.push(finding(code, script, format!("{what}: {}", list.join("; "))).help(help));
    if code == Code::F005 {
        "still differs after conversion (F005)"
    } else {
        "schema the migrations do not produce (F004)"
    }
}
