//! R003: the head schema against the expected snapshot (`replay.snapshot`), a live
//! `--reference` database and a restored `--reference-dump`.

use std::path::{Path, PathBuf};

use gate_report::{Code, Finding, Report, Severity};
use gate_schema::{Difference, Snapshot};

use crate::ctx::Ctx;
use crate::error::ReplayError;

/// R003: the head schema against the expected snapshot, `--reference` and
/// `--reference-dump`.
pub(crate) async fn r003_drift(
    ctx: &Ctx<'_>,
    head: &Snapshot,
    report: &mut Report,
) -> Result<(), ReplayError> {
    let settings = ctx.settings;
    let policy = &settings.policy;
    let snap_path = settings.root.join(&policy.replay.snapshot);
    match std::fs::read_to_string(&snap_path) {
        Ok(text) => {
            let expected = Snapshot::from_json(&text).map_err(|source| ReplayError::Snapshot {
                path: PathBuf::from(&policy.replay.snapshot),
                source: Box::new(source),
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
        Err(source) => {
            return Err(ReplayError::Read {
                what: "cannot read".into(),
                path: snap_path,
                advice: String::new(),
                source,
            });
        }
    }
    if let Some(url) = &settings.reference {
        ctx.progress.stage("snapshot of the reference database");
        let reference = Snapshot::capture(url)
            .await
            .map_err(|source| ReplayError::Schema {
                what: "cannot read the reference database",
                database: "(--reference)".into(),
                source: Box::new(source),
            })?;
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
        .at(path.to_string())
        .help("Consolidate the drift into a migration, then refresh the snapshot with `gate-replay snapshot`."),
    );
}

/// Restore a `pg_dump --schema-only` file with psql into a second scratch database.
pub(crate) async fn restore_dump(ctx: &Ctx<'_>, dump: &Path) -> Result<Snapshot, ReplayError> {
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
        Err(source) => Err(ReplayError::Spawn {
            program: "psql",
            advice: " to restore --reference-dump (install the PostgreSQL client)",
            source,
        }),
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
                    errors[..errors.len().min(3)].join(" | ")
                )))
            } else {
                ctx.capture(&db).await
            }
        }
    };
    ctx.drop(&db).await;
    result
}
