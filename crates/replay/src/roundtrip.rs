//! R004 and R006: the downgrade to base and the upgrade back, compared with the schema
//! (and data) the first upgrade left.

use gate_report::{Code, Finding, Report};
use gate_schema::Snapshot;

use crate::ctx::{Ctx, Scratch};
use crate::error::ReplayError;
use crate::run::upgrade_finding;
use crate::runner::{RunOutcome, Target};

pub(crate) async fn roundtrip(
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
            .at(ctx.settings.policy.migrations.path.clone())
            .help("Make each downgrade undo exactly what its upgrade did."),
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
            .at(ctx.settings.policy.migrations.path.clone())
            .help("Make each downgrade undo exactly what its upgrade did."),
        );
    }
    Ok(())
}
