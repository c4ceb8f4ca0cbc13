//! R008: the models (env.py's `target_metadata`) against the replayed head, judged by
//! Alembic's own comparison (`alembic check`) in the same wrapper the replay runs. One finding
//! per operation Alembic lists, in Alembic's own text. Without metadata there is nothing to
//! compare: a note says so rather than staying silent.

use gate_report::{Code, Finding, Report, Section, Severity};

use crate::ctx::{Ctx, Scratch, not_run};
use crate::error::ReplayError;
use crate::runner::Runner;
use crate::runner::session::AlembicSession;

/// Alembic's words when env.py hands it no metadata.
const NO_METADATA: &str = "does not provide a MetaData object";

/// `alembic check` on `db`, which must be at head.
pub(crate) async fn r008_models(
    ctx: &Ctx<'_>,
    db: &Scratch,
    report: &mut Report,
) -> Result<(), ReplayError> {
    let config = ctx.settings.policy.migrations.config.clone();
    let Runner::Alembic(alembic) = ctx.runner else {
        report.findings.push(not_run(
            &ctx.settings.policy.migrations.path,
            &format!(
                "the models (R008) are not compared: `alembic check` needs an Alembic chain, this one is run by {}",
                ctx.runner.describe()
            ),
        ));
        return Ok(());
    };
    ctx.progress.stage("models (alembic check)");
    let mut session = AlembicSession::start(alembic, &db.env)?;
    let result = session.run(&["check"], ctx.deadline).await;
    session.close().await;
    let result = result?;
    let (verdict, findings) = match (result.diffs, result.failure) {
        (Some(diffs), _) => {
            let found: Vec<Finding> = diffs
                .iter()
                .map(|d| {
                    Finding::new(
                        Code::R008,
                        format!("the models differ from the migrated schema (alembic check): {d}"),
                    )
                    .at(config.clone())
                })
                .collect();
            (format!("alembic check: {} difference(s)", found.len()), found)
        }
        (None, Some(f)) if f.message.contains(NO_METADATA) => (
            "not compared: env.py provides no target_metadata".to_string(),
            vec![
                Finding::new(
                    Code::R008,
                    "the models are not compared: env.py sets no target_metadata (alembic check has nothing to compare)",
                )
                .severity(Severity::Note)
                .at(config.clone())
                .help("Set target_metadata in env.py to your models' MetaData to have them compared."),
            ],
        ),
        (None, Some(f)) => (
            format!("alembic check could not run: {}", f.describe()),
            vec![not_run(
                &config,
                &format!("the models (R008) are not compared: alembic check failed: {}", f.describe()),
            )],
        ),
        (None, None) => ("alembic check: no differences".to_string(), Vec::new()),
    };
    report.sections.push(section(&verdict, &findings));
    report.findings.extend(findings);
    Ok(())
}

fn section(verdict: &str, findings: &[Finding]) -> Section {
    let mut text = format!("{verdict}\n");
    let mut md = format!("{verdict}\n");
    for f in findings
        .iter()
        .filter(|f| f.code == Code::R008 && f.severity != Severity::Note)
    {
        text.push_str(&format!("  {}\n", f.message));
        md.push_str(&format!("- {}\n", f.message));
    }
    Section {
        title: "Models".into(),
        text,
        markdown: md,
        data: serde_json::json!({"verdict": verdict, "differences": findings.iter().filter(|f| f.code == Code::R008 && f.severity != Severity::Note).map(|f| f.message.clone()).collect::<Vec<_>>()}),
    }
}
