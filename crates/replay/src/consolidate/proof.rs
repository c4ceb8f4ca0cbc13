//! The proof, on scratch databases only, of a work copy holding the amended migrations and the
//! consolidation: (a) the clean chain reaches the new head; (b) the production path (fixes
//! interleaved, the consolidation last) reaches it with no F003; (c) both schemas are equal;
//! (d) the consolidation run a second time changes nothing (schema and rows); (e) its
//! downgrade returns the clean chain's head schema.

use gate_policy::Script;
use gate_recovery::{ProductionPath, Step};
use gate_report::{Code, Report};
use gate_schema::Snapshot;

use super::clean::snapshot;
use super::{Consolidation, Proof};
use crate::ctx::{Ctx, Scratch, Settings, run_sql};
use crate::error::ReplayError;
use crate::runner::{Runner, Target};
use crate::workcopy::WorkCopy;

/// Every proof line, in order (a line that could not be reached says why and fails), and the
/// schema at the new head as `replay.snapshot` holds it (when the clean path reached it).
pub(crate) async fn prove(
    ctx: &Ctx<'_>,
    path: &ProductionPath,
    scripts: &[&Script],
    plan: &Consolidation,
    clean_head: &Snapshot,
) -> Result<(Vec<Proof>, Option<Snapshot>), ReplayError> {
    let work = WorkCopy::new(&ctx.settings.root).map_err(|e| {
        ReplayError::Environment(format!("cannot make a work copy for the proof: {e}"))
    })?;
    write_into(work.root(), plan)?;
    let settings = Settings {
        root: work.root().to_path_buf(),
        ..ctx.settings.clone()
    };
    let discovery = gate_chain::discover(&settings.root, &settings.policy)
        .map_err(|e| ReplayError::Config(format!("the amended chain cannot be read: {e}")))?;
    let runner = Runner::with_chain(&settings.policy, &settings.root, &discovery)?;
    // What the database records at the new head: Alembic the revision id, a SQL tool the
    // version as it stores it (golang-migrate `0004` -> `4`, Flyway `1_3` -> `1.3`).
    let recorded = discovery
        .graph
        .get(&plan.new.id)
        .and_then(|r| r.sql.as_ref())
        .map_or_else(|| plan.new.id.clone(), |m| m.recorded_version.clone());
    let proved = Ctx {
        settings: &settings,
        runner: &runner,
        ..*ctx
    };
    let clean = proved.fresh().await?;
    let prod = proved.fresh().await?;
    let lines = lines(
        &proved, path, scripts, plan, &recorded, clean_head, &clean, &prod,
    )
    .await;
    proved.drop(&clean).await;
    proved.drop(&prod).await;
    lines
}

/// The proof's files written into the work copy.
fn write_into(root: &std::path::Path, plan: &Consolidation) -> Result<(), ReplayError> {
    let files = plan
        .amendments
        .iter()
        .flat_map(|a| a.files())
        .chain(plan.new.files());
    for (file, text) in files {
        std::fs::write(root.join(file), text).map_err(|e| {
            ReplayError::Environment(format!(
                "cannot write {file} into the proof's work copy: {e}"
            ))
        })?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn lines(
    ctx: &Ctx<'_>,
    path: &ProductionPath,
    scripts: &[&Script],
    plan: &Consolidation,
    recorded: &str,
    clean_head: &Snapshot,
    clean: &Scratch,
    prod: &Scratch,
) -> Result<(Vec<Proof>, Option<Snapshot>), ReplayError> {
    let mut out = Vec::new();
    let a = clean_to_new_head(ctx, clean, recorded).await?;
    out.push(a.0);
    let b = production_to_new_head(ctx, path, scripts, plan, recorded, prod).await?;
    out.push(b.0);
    // The raw head schema (bookkeeping included) is what `replay.snapshot` holds.
    let head = a.1.clone();
    let a_schema =
        a.1.map(|s| s.without_tables(ctx.runner.bookkeeping_tables()));
    let (Some(a_schema), Some(b_schema)) = (a_schema, b.1) else {
        out.push(not_reached(
            "(c) clean path and production path have equal schemas",
        ));
        out.push(not_reached("(d) the consolidation run twice is a no-op"));
        out.push(not_reached(
            "(e) its downgrade returns the clean chain's head schema",
        ));
        return Ok((out, head));
    };
    out.push(equal_schemas_and_rows(ctx, clean, prod, plan, &a_schema, &b_schema).await?);
    out.push(twice(ctx, clean, plan, &a_schema).await?);
    out.push(downgrade(ctx, clean, plan, clean_head).await?);
    Ok((out, head))
}

/// (c) equal schemas, and equal rows in every table the fixes wrote (the data carried into
/// the consolidation, a table a fix created included).
async fn equal_schemas_and_rows(
    ctx: &Ctx<'_>,
    clean: &Scratch,
    prod: &Scratch,
    plan: &Consolidation,
    a: &Snapshot,
    b: &Snapshot,
) -> Result<Proof, ReplayError> {
    let check = "(c) clean path and production path have equal schemas";
    let mut diffs: Vec<String> = ctx
        .diff(a, b, "clean path", "production path")
        .iter()
        .map(ToString::to_string)
        .collect();
    let tables = &plan.new.data_tables;
    if tables.is_empty() {
        return Ok(equal_lines(check, diffs, "no difference".into()));
    }
    let written = |mut d: gate_schema::DataSnapshot| {
        d.tables.retain(|name, _| tables.contains(name));
        d
    };
    let clean_rows = written(ctx.data(clean).await?);
    let prod_rows = written(ctx.data(prod).await?);
    diffs.extend(clean_rows.diff(&prod_rows, "on the clean path", "on the production path"));
    let names = tables.iter().cloned().collect::<Vec<_>>().join(", ");
    Ok(equal_lines(
        &format!("{check} and equal rows in the tables the fixes wrote"),
        diffs,
        format!("no difference (rows compared: {names})"),
    ))
}

fn equal_lines(check: &str, diffs: Vec<String>, same: String) -> Proof {
    Proof {
        check: check.into(),
        passed: diffs.is_empty(),
        detail: if diffs.is_empty() {
            same
        } else {
            diffs.join("; ")
        },
    }
}

fn not_reached(check: &str) -> Proof {
    Proof {
        check: check.into(),
        passed: false,
        detail: "not checked: the paths did not both reach the new head".into(),
    }
}

fn equal(check: &str, diffs: Vec<gate_schema::Difference>) -> Proof {
    Proof {
        check: check.into(),
        passed: diffs.is_empty(),
        detail: if diffs.is_empty() {
            "no difference".into()
        } else {
            diffs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        },
    }
}

/// (a) the amended clean chain, from empty to head, ends at the new revision.
async fn clean_to_new_head(
    ctx: &Ctx<'_>,
    db: &Scratch,
    new_head: &str,
) -> Result<(Proof, Option<Snapshot>), ReplayError> {
    let check = "(a) the clean path (amended) reaches the new head";
    ctx.progress.stage("proof: clean path to the new head");
    let up = ctx
        .runner
        .upgrade(&db.env, &Target::Head, ctx.deadline, &mut |a| {
            ctx.progress.applied(a)
        })
        .await?;
    if let Some(f) = up.failure {
        return Ok((fail(check, f.describe()), None));
    }
    let heads = ctx
        .runner
        .recorded_heads(&db.db.url)
        .await
        .unwrap_or_default();
    if heads != [new_head] {
        return Ok((
            fail(
                check,
                format!("the database records {heads:?}, not [{new_head}]"),
            ),
            None,
        ));
    }
    Ok((
        pass(check, format!("recorded head {new_head}")),
        Some(ctx.capture(db).await?),
    ))
}

/// (b) the production path with the amendments, the consolidation run last, ends at the new
/// revision with no conflict and no failing fix.
async fn production_to_new_head(
    ctx: &Ctx<'_>,
    path: &ProductionPath,
    scripts: &[&Script],
    plan: &Consolidation,
    recorded: &str,
    db: &Scratch,
) -> Result<(Proof, Option<Snapshot>), ReplayError> {
    let check =
        "(b) the production path (fixes interleaved, amended) reaches the new head with no F003";
    ctx.progress.stage("proof: production path to the new head");
    let mut steps = path.steps.clone();
    steps.push(Step::Migration {
        revision: plan.new.id.clone(),
        file: plan.new.file.clone(),
    });
    let path = ProductionPath { steps };
    let mut report = Report::new("gate-replay", "proof");
    let run = crate::production::walk(ctx, &path, scripts, db, &mut report).await?;
    let bad: Vec<String> = report
        .findings
        .iter()
        .filter(|f| matches!(f.code, Code::F003 | Code::F001 | Code::R001))
        .map(|f| format!("{}: {}", f.code.as_str(), f.message))
        .collect();
    if !bad.is_empty() {
        return Ok((fail(check, bad.join("; ")), None));
    }
    let heads = ctx
        .runner
        .recorded_heads(&db.db.url)
        .await
        .unwrap_or_default();
    if heads != [recorded] {
        return Ok((
            fail(
                check,
                format!("the database records {heads:?}, not [{recorded}]"),
            ),
            None,
        ));
    }
    let schema = run
        .schema
        .map(|s| s.without_tables(ctx.runner.bookkeeping_tables()));
    Ok((
        pass(check, format!("recorded head {recorded}, no F003")),
        schema,
    ))
}

/// (d) the consolidation's upgrade run again on the clean path's database changes nothing.
async fn twice(
    ctx: &Ctx<'_>,
    db: &Scratch,
    plan: &Consolidation,
    before: &Snapshot,
) -> Result<Proof, ReplayError> {
    let check = "(d) the consolidation run a second time is a no-op (schema and rows)";
    ctx.progress.stage("proof: the consolidation again");
    let rows_before = ctx.data(db).await?;
    if let Err(e) = run_sql(&db.db.url, &plan.new.upgrade_sql()).await {
        return Ok(fail(check, format!("the second run fails: {e}")));
    }
    let after = snapshot(ctx, db).await?;
    let mut diffs: Vec<String> = ctx
        .diff(before, &after, "after one run", "after two")
        .iter()
        .map(ToString::to_string)
        .collect();
    diffs.extend(rows_before.diff(&ctx.data(db).await?, "after one run", "after two"));
    Ok(if diffs.is_empty() {
        pass(check, "no schema or row difference".into())
    } else {
        fail(check, diffs.join("; "))
    })
}

/// (e) the consolidation's downgrade, on the clean path's database, gives the old head schema.
async fn downgrade(
    ctx: &Ctx<'_>,
    db: &Scratch,
    plan: &Consolidation,
    clean_head: &Snapshot,
) -> Result<Proof, ReplayError> {
    let check = "(e) the consolidation's downgrade returns the clean chain's head schema";
    ctx.progress.stage("proof: the consolidation's downgrade");
    if let Err(e) = run_sql(&db.db.url, &plan.new.plan.downgrade_sql()).await {
        return Ok(fail(check, format!("the downgrade fails: {e}")));
    }
    let after = snapshot(ctx, db).await?;
    Ok(equal(
        check,
        ctx.diff(clean_head, &after, "clean head", "after the downgrade"),
    ))
}

fn pass(check: &str, detail: String) -> Proof {
    Proof {
        check: check.into(),
        passed: true,
        detail,
    }
}

fn fail(check: &str, detail: String) -> Proof {
    Proof {
        check: check.into(),
        passed: false,
        detail,
    }
}
