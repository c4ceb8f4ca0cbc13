//! `gate-replay consolidate [--write]`: the recovery out of a crisis, proposed and proven.
//!
//! From the production path (`production.rs`: migrations and registered fixes in production
//! order) and the clean chain it derives, with `gate_recovery::consolidate::plan`:
//! - for each migration that conflicts with a fix (F003), its guarded rewrite (the clean
//!   chain's schema just before and just after it, planned), kept under the same revision;
//! - one consolidation migration at the head: the clean head planned into the production
//!   schema, plus the data statements the fixes ran (captured), guarded;
//! - the fixes it covers, to be marked `converted` in policy.toml.
//!
//! Before anything is written, the result is proven on scratch databases (`proof.rs`). The
//! planning stays in `gate-recovery`; this module runs the databases and writes the files.

mod carry;
mod clean;
mod files;
mod proof;
mod section;
mod sql_files;
mod write;

use std::process::ExitCode;

use gate_policy::{MigrationKind, Script};
use gate_recovery::ProductionPath;
use gate_recovery::consolidate::{GuardedStatement, Leftover, Plan};
use gate_report::{Code, Finding, Report};

use crate::ctx::{Ctx, Settings};
use crate::error::ReplayError;
use crate::production::{self, PathRun};
use crate::progress::Progress;
use crate::runner::Runner;

/// Flags of `gate-replay consolidate`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConsolidateArgs {
    /// Write the consolidation migration, the amended migrations (recorded in the lockfile)
    /// and the policy edits; only what is complete and proven is written
    #[arg(long)]
    write: bool,
}

/// A migration that conflicts with a fix (F003), rewritten guarded under the same revision.
#[derive(Debug, Clone)]
pub(crate) struct Amendment {
    pub revision: String,
    /// Repository-relative path of the migration file.
    pub file: String,
    /// The line of the body the amendment replaces (`def upgrade(`), when there is one.
    pub line: Option<u32>,
    /// The fixes it conflicted with.
    pub fixes: Vec<String>,
    pub plan: Plan,
    /// The amended file's full text.
    pub text: String,
    /// The other files of the same migration, rewritten too (a SQL down file): path, text.
    pub extra: Vec<(String, String)>,
}

/// The new revision at the head.
#[derive(Debug, Clone)]
pub(crate) struct NewMigration {
    pub id: String,
    pub down_revision: String,
    /// Repository-relative path it is written to.
    pub file: String,
    pub plan: Plan,
    /// Data statements of data fixes, guarded; they run after the plan's upgrade.
    pub data: Vec<GuardedStatement>,
    /// The tables those statements write (`schema.table`): proof (c) compares their rows.
    pub data_tables: std::collections::BTreeSet<String>,
    pub text: String,
    /// The other files of the new migration (a SQL down file): path, text.
    pub extra: Vec<(String, String)>,
    /// Said in the report: why no down file is written (a SQL naming without down files).
    pub note: Option<String>,
}

impl NewMigration {
    /// Every file of the new migration: path, text.
    pub(crate) fn files(&self) -> impl Iterator<Item = (&String, &String)> {
        std::iter::once((&self.file, &self.text)).chain(self.extra.iter().map(|(p, t)| (p, t)))
    }
}

impl Amendment {
    /// Every file of the amended migration: path, text.
    pub(crate) fn files(&self) -> impl Iterator<Item = (&String, &String)> {
        std::iter::once((&self.file, &self.text)).chain(self.extra.iter().map(|(p, t)| (p, t)))
    }
}

impl NewMigration {
    /// Every upgrade statement in the order the file runs them.
    pub(crate) fn upgrade_sql(&self) -> String {
        self.plan
            .upgrade
            .iter()
            .chain(&self.data)
            .map(|s| s.sql.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// Something the consolidation does not express, and where it comes from (the amended
/// migration, or the fix whose statement it is): F008's location.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Left {
    #[serde(flatten)]
    pub item: Leftover,
    /// Repository-relative path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl Left {
    /// A leftover of the new migration's plan: no file holds it yet.
    pub(crate) fn unlocated(item: Leftover) -> Left {
        Left {
            item,
            file: None,
            line: None,
        }
    }
}

/// One proof line: what was checked, whether it held, and what was seen.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Proof {
    pub check: String,
    pub passed: bool,
    pub detail: String,
}

/// Everything `consolidate` found, proposed and proved.
#[derive(Debug, Clone)]
pub(crate) struct Consolidation {
    pub amendments: Vec<Amendment>,
    pub new: NewMigration,
    /// What the plans could not express (and data statements that cannot be guarded).
    pub left: Vec<Left>,
    pub proofs: Vec<Proof>,
    /// The fixes the consolidation covers (every fix of the path).
    pub fixes: Vec<String>,
    /// The proven schema at the new head (bookkeeping included): the new `replay.snapshot`.
    pub head_schema: Option<gate_schema::Snapshot>,
}

impl Consolidation {
    /// Nothing left over and every proof held: safe to write.
    pub(crate) fn is_proven(&self) -> bool {
        self.left.is_empty() && !self.proofs.is_empty() && self.proofs.iter().all(|p| p.passed)
    }
}

/// The command: plan, prove, write when asked and proven; exit 0 (complete and proven), 1
/// (something left over or a proof failed), 2 (could not run).
// "wrote …" lines are the CLI's output.
#[allow(clippy::disallowed_macros)]
pub(crate) fn run(
    settings: &Settings,
    args: &ConsolidateArgs,
    format: gate_report::Format,
) -> ExitCode {
    let outcome = match crate::runtime::block_on_cleanly(consolidate(settings)) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let (mut report, plan) = match outcome {
        Ok(o) => o,
        Err(e) => {
            return gate_cli::fail(&anyhow::anyhow!(
                "the consolidation could not be planned and proven: {e}"
            ));
        }
    };
    report.findings.extend(findings(&plan, args.write));
    if args.write && plan.is_proven() {
        match write::write_all(settings, &plan) {
            Ok(written) => {
                for w in &written {
                    eprintln!("gate-replay: wrote {w}");
                }
                report.sections.push(section::written(&written));
            }
            Err(e) => return gate_cli::fail(&anyhow::anyhow!("{e}")),
        }
    }
    report.sections.extend(section::sections(&plan, args.write));
    report.sort();
    gate_cli::emit(&report, format)
}

/// F008 for each leftover and each failed proof: the consolidation is not complete or not
/// proven, so nothing of it is written.
fn findings(plan: &Consolidation, write: bool) -> Vec<Finding> {
    let nothing = if write { "; --write wrote nothing" } else { "" };
    let left = plan.left.iter().map(|l| {
        let mut f = Finding::new(
            Code::F008,
            format!(
                "{}: not consolidated: {}{nothing}",
                l.item.object, l.item.reason
            ),
        )
        .help("Write a migration for this difference by hand, then run consolidate again.");
        if let Some(file) = &l.file {
            f = f.at(file.clone());
        }
        if let Some(line) = l.line {
            f = f.line(line);
        }
        f
    });
    let failed = plan.proofs.iter().filter(|p| !p.passed).map(|p| {
        Finding::new(
            Code::F008,
            format!(
                "the consolidation is not proven: {}: {}{nothing}",
                p.check, p.detail
            ),
        )
        .help("The plan does not reach production's schema safely; read the proof table, fix the difference by hand, then run consolidate again.")
    });
    left.chain(failed).collect()
}

/// Plan and prove on one server: the report (header and findings of the paths) and the
/// consolidation.
async fn consolidate(settings: &Settings) -> Result<(Report, Consolidation), ReplayError> {
    match settings.policy.migrations.kind {
        MigrationKind::Alembic => {}
        MigrationKind::Sql
            if settings.policy.migrations.naming != gate_policy::SqlNaming::Plain => {}
        MigrationKind::Sql => {
            return Err(ReplayError::Config(format!(
                "gate-replay consolidate cannot name the next migration: {}",
                sql_files::PLAIN
            )));
        }
        MigrationKind::Command => {
            return Err(ReplayError::Config(
                "gate-replay consolidate writes migrations into the chain's folder: migrations.kind = \"command\" has no folder it can read (use \"alembic\" or \"sql\")".into(),
            ));
        }
    }
    let discovery = gate_chain::discover(&settings.root, &settings.policy)
        .map_err(|e| ReplayError::Config(e.to_string()))?;
    let runner = Runner::with_chain(&settings.policy, &settings.root, &discovery)?;
    crate::fixes::check_registry(settings, &runner)?;
    let (path, scripts) = production::build_path(settings, &discovery)?;
    let report = Report::new(
        "gate-replay",
        format!(
            "consolidate: {} migrations and {} fixes ({})",
            discovery.graph.order().len(),
            scripts.len(),
            runner.describe()
        ),
    );
    let progress = Progress::new(None);
    let server = crate::ctx::start_server(settings, &progress).await?;
    let ctx = Ctx::new(settings, &server, &runner, &progress);
    let result = on_server(&ctx, &discovery, &path, &scripts).await;
    progress.finish();
    let _ = server.shutdown().await;
    Ok((report, result?))
}

async fn on_server(
    ctx: &Ctx<'_>,
    discovery: &gate_chain::Discovery,
    path: &ProductionPath,
    scripts: &[&Script],
) -> Result<Consolidation, ReplayError> {
    let run = production_run(ctx, path, scripts).await?;
    let conflicts: Vec<clean::Conflict> = run
        .conflicts()
        .map(|(revision, file, fixes)| clean::Conflict {
            revision: revision.to_string(),
            file: file.to_string(),
            fixes: fixes.to_vec(),
        })
        .collect();
    let clean = clean::walk(ctx, discovery, &conflicts).await?;
    let production_schema = run
        .schema
        .clone()
        .map(|s| s.without_tables(ctx.runner.bookkeeping_tables()))
        .ok_or_else(|| ReplayError::Environment("the production path has no schema".into()))?;
    let mut plan = files::propose(ctx.settings, discovery, &clean, &production_schema, &run)?;
    if plan.left.is_empty() {
        (plan.proofs, plan.head_schema) =
            proof::prove(ctx, path, scripts, &plan, &clean.head).await?;
    }
    Ok(plan)
}

/// The production path as production lived it; an error when it stopped (the chain itself
/// is broken: `gate-replay production` says where).
async fn production_run(
    ctx: &Ctx<'_>,
    path: &ProductionPath,
    scripts: &[&Script],
) -> Result<PathRun, ReplayError> {
    let db = ctx.fresh().await?;
    let mut scratch_report = Report::new("gate-replay", "production path");
    let run = production::walk(ctx, path, scripts, &db, &mut scratch_report).await;
    ctx.drop(&db).await;
    let run = run?;
    if run.schema.is_none() {
        return Err(ReplayError::Config(
            "the production path stops at a migration that fails before any fix ran (R001): run `gate-replay production` and fix that first".into(),
        ));
    }
    if let Some(f001) = scratch_report
        .findings
        .iter()
        .find(|f| f.code == Code::F001)
    {
        return Err(ReplayError::Config(format!(
            "a fix fails on the production path, so production's schema is not known: {}",
            f001.message
        )));
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consolidation(left: Vec<Left>) -> Consolidation {
        Consolidation {
            amendments: Vec::new(),
            new: NewMigration {
                id: "n".into(),
                down_revision: "h".into(),
                file: "versions/n.py".into(),
                plan: Plan::default(),
                data: Vec::new(),
                data_tables: Default::default(),
                text: String::new(),
                extra: Vec::new(),
                note: None,
            },
            left,
            proofs: Vec::new(),
            fixes: Vec::new(),
            head_schema: None,
        }
    }

    #[test]
    fn f008_of_an_amendment_names_its_file_and_line() {
        let left = Left {
            item: Leftover {
                object: "enum public.role".into(),
                reason: "in the amendment of revision abc: upgrade: cannot".into(),
            },
            file: Some("alembic/versions/abc_roles.py".into()),
            line: Some(14),
        };
        let found = findings(
            &consolidation(vec![
                left,
                Left::unlocated(Leftover {
                    object: "view public.v".into(),
                    reason: "upgrade: cannot".into(),
                }),
            ]),
            true,
        );
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0].path.as_deref(),
            Some("alembic/versions/abc_roles.py")
        );
        assert_eq!(found[0].line, Some(14));
        assert!(found[0].message.ends_with("--write wrote nothing"));
        assert_eq!(found[1].path, None);
    }
}
