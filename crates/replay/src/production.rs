//! `gate-replay production`: the production path (every registered fix, in production order,
//! interleaved with the migrations; the order is `gate_recovery::ProductionPath`'s) replayed on
//! one scratch database, and its schema.
//!
//! Where a migration fails on the path (a fix already created its objects: `F003`), the
//! conflict is recorded and the path continues the way production did: the revision is marked
//! applied (`alembic stamp`, the SQL tool's bookkeeping row) and the next step runs, so the
//! production schema is still known. The stamped migration's other statements did not run on
//! the path; the section says so for each conflict.
//!
//! Each fix runs with its statements captured server-side (`capture.rs`). With
//! `--reference-dump`, every difference between the path and the dump is attributed to the fix
//! that touched its object, or is `F007` (a manual patch nobody registered).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gate_policy::Script;
use gate_recovery::{Attribution, ChainRevision, Explained, ProductionPath, RegisteredFix, Step};
use gate_report::{Code, Finding, Report, Section};
use gate_schema::Snapshot;

use crate::capture::{self, Captured};
use crate::ctx::{Ctx, Scratch, Settings, not_run};
use crate::error::ReplayError;
use crate::fixes::{self, Applied};
use crate::progress::Progress;
use crate::runner::Runner;
use crate::workcopy::WorkCopy;

mod batch;

/// Flags of `gate-replay production` (`--reference-dump` is the replay's own flag).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ProductionArgs {
    /// Write the production path's schema here (canonical JSON, the format of
    /// `replay.snapshot`), written even when the path has conflicts
    #[arg(long, value_name = "FILE")]
    snapshot_out: Option<PathBuf>,
}

/// What happened at one step of the path.
#[derive(Debug, Clone)]
pub(crate) struct StepRun {
    pub step: Step,
    /// `applied`, `conflict (F003) …; stamped as applied`, `failed (F001) …`, `not run`.
    pub result: String,
    pub captured: Option<Captured>,
    /// For a migration that conflicted (F003): the fixes blamed; empty otherwise.
    pub conflict_with: Vec<String>,
}

/// The path as it ran: steps, what each fix touched, and the schema at the end
/// (`gate-replay consolidate` builds on it).
pub(crate) struct PathRun {
    pub steps: Vec<StepRun>,
    pub explained: Vec<Explained>,
    pub schema: Option<Snapshot>,
}

impl PathRun {
    /// The migrations that conflicted with a fix (F003), in path order, with the fixes blamed.
    pub(crate) fn conflicts(&self) -> impl Iterator<Item = (&str, &str, &[String])> {
        self.steps.iter().filter_map(|s| match &s.step {
            Step::Migration { revision, file } if !s.conflict_with.is_empty() => {
                Some((revision.as_str(), file.as_str(), s.conflict_with.as_slice()))
            }
            _ => None,
        })
    }
}

/// The command: run the path, write `--snapshot-out`, render, exit 0 (clean), 1 (conflicts or
/// other findings), 2 (could not run).
// The "wrote the snapshot" note is the CLI's output.
#[allow(clippy::disallowed_macros)]
pub(crate) fn run(
    settings: &Settings,
    args: &ProductionArgs,
    format: gate_report::Format,
) -> ExitCode {
    let outcome = match crate::runtime::block_on_cleanly(production(settings)) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let (report, schema) = match outcome {
        Ok(o) => o,
        Err(e) => {
            return gate_cli::fail(&anyhow::anyhow!(
                "the production path could not be replayed: {e}"
            ));
        }
    };
    if let (Some(out), Some(schema)) = (&args.snapshot_out, &schema) {
        if let Err(e) = crate::snapshot_cmd::write_atomically(out, schema) {
            return gate_cli::fail(&anyhow::anyhow!("cannot write {}: {e}", out.display()));
        }
        eprintln!("gate-replay: wrote {}", out.display());
    }
    gate_cli::emit(&report, format)
}

/// The chain as the recovery model takes it, in the order the chain crate gives.
pub(crate) fn chain_input(discovery: &gate_chain::Discovery) -> Vec<ChainRevision> {
    discovery
        .graph
        .order()
        .into_iter()
        .map(|r| ChainRevision {
            id: r.id.clone(),
            aliases: r.sql.iter().map(|m| m.recorded_version.clone()).collect(),
            parents: r.parents.clone(),
            file: r.path.clone(),
        })
        .collect()
}

/// The path for this repository; a configuration error when it cannot be built.
pub(crate) fn build_path<'s>(
    settings: &'s Settings,
    discovery: &gate_chain::Discovery,
) -> Result<(ProductionPath, Vec<&'s Script>), ReplayError> {
    let scripts: Vec<&Script> = fixes::verifiable(settings).collect();
    let registered: Vec<RegisteredFix> = scripts
        .iter()
        .map(|s| RegisteredFix {
            path: s.path.clone(),
            applied_after: s.applied_after.clone(),
            applied_on: s.applied_on,
        })
        .collect();
    let path = ProductionPath::build(&chain_input(discovery), &registered)
        .map_err(|e| ReplayError::Config(format!("{e} ({})", settings.policy.file.display())))?;
    Ok((path, scripts))
}

/// Replay the path: the report and the production schema (`None` when the path stopped).
async fn production(settings: &Settings) -> Result<(Report, Option<Snapshot>), ReplayError> {
    let discovery = gate_chain::discover(&settings.root, &settings.policy)
        .map_err(|e| ReplayError::Config(e.to_string()))?;
    let runner = Runner::with_chain(&settings.policy, &settings.root, &discovery)?;
    if !runner.supports_targets() {
        return Err(ReplayError::Config(
            "the production path needs migrations.kind = \"alembic\" or \"sql\": the command runner cannot stop between revisions".into(),
        ));
    }
    fixes::check_registry(settings, &runner)?;
    let (path, scripts) = build_path(settings, &discovery)?;
    let migrations = path
        .steps
        .iter()
        .filter(|s| s.kind() == "migration")
        .count();
    let mut report = Report::new(
        "gate-replay",
        format!(
            "production path: {migrations} migrations and {} fixes ({})",
            scripts.len(),
            runner.describe()
        ),
    );
    let progress = Progress::new(Some(migrations));
    let server = crate::ctx::start_server(settings, &progress).await?;
    let ctx = Ctx::new(settings, &server, &runner, &progress);
    let result = on_server(&ctx, &path, &scripts, &mut report).await;
    progress.finish();
    let _ = server.shutdown().await;
    let schema = result?;
    report.sort();
    Ok((report, schema))
}

/// The path on one scratch database, then the attribution against `--reference-dump`.
async fn on_server(
    ctx: &Ctx<'_>,
    path: &ProductionPath,
    scripts: &[&Script],
    report: &mut Report,
) -> Result<Option<Snapshot>, ReplayError> {
    let db = ctx.fresh().await?;
    let walked = walk(ctx, path, scripts, &db, report).await;
    ctx.drop(&db).await;
    let walked = walked?;
    report.sections.push(path_section(&walked.steps));
    let Some(schema) = walked.schema else {
        return Ok(None);
    };
    if let Some(dump) = &ctx.settings.reference_dump {
        ctx.progress.stage("restore --reference-dump");
        let reference = crate::drift::restore_dump(ctx, dump).await?;
        let diffs = ctx.diff(&reference, &schema, "reference", "production path");
        let attributed = gate_recovery::attribute(&diffs, &walked.explained);
        report.findings.extend(f007_attribution(dump, &attributed));
        report.sections.push(attribution_section(dump, &attributed));
    }
    Ok(Some(schema))
}

/// Every step in order on `db`. Stops early (`schema: None`) only where production's path
/// cannot be known: a migration that fails before any fix ran (the chain itself is broken,
/// R001).
pub(crate) async fn walk(
    ctx: &Ctx<'_>,
    path: &ProductionPath,
    scripts: &[&Script],
    db: &Scratch,
    report: &mut Report,
) -> Result<PathRun, ReplayError> {
    let mut run = PathRun {
        steps: Vec::with_capacity(path.steps.len()),
        explained: Vec::new(),
        schema: None,
    };
    let mut upgrader = batch::Upgrader::new(&path.steps);
    for (i, step) in path.steps.iter().enumerate() {
        let (result, captured, conflict_with) = match step {
            Step::Migration { revision, file } => {
                let fixes_before: Vec<&str> = path.fixes_before(i).map(Step::name).collect();
                let up = (&mut upgrader, i);
                match run_migration(ctx, db, revision, file, up, &fixes_before, &run).await? {
                    Ok((result, finding, blamed)) => {
                        report.findings.extend(finding);
                        (result, None, blamed)
                    }
                    Err(r001) => {
                        report.findings.push(r001);
                        run.steps.push(StepRun {
                            step: step.clone(),
                            result: "failed (R001)".into(),
                            captured: None,
                            conflict_with: Vec::new(),
                        });
                        skip_rest(ctx, path, i + 1, &mut run, report);
                        return Ok(run);
                    }
                }
            }
            Step::Fix { registry_index, .. } => {
                let script = scripts[*registry_index];
                let (result, captured, explained, finding) = run_fix(ctx, db, script, i).await?;
                report.findings.extend(finding);
                run.explained.push(explained);
                (result, Some(captured), Vec::new())
            }
        };
        run.steps.push(StepRun {
            step: step.clone(),
            result,
            captured,
            conflict_with,
        });
    }
    ctx.progress.stage("snapshot of the production path");
    run.schema = Some(ctx.capture(db).await?);
    Ok(run)
}

/// After the path stopped at step `from - 1`: the rest is not run, and says so (R010).
fn skip_rest(
    ctx: &Ctx<'_>,
    path: &ProductionPath,
    from: usize,
    run: &mut PathRun,
    report: &mut Report,
) {
    for step in &path.steps[from..] {
        run.steps.push(StepRun {
            step: step.clone(),
            result: "not run".into(),
            captured: None,
            conflict_with: Vec::new(),
        });
    }
    report.findings.push(not_run(
        &ctx.settings.policy.migrations.path,
        "the production path stopped at a migration that fails before any fix ran (R001); not checked: the rest of the path, its schema and --reference-dump",
    ));
}

/// One migration of the path. `Ok((result, F003, fixes blamed))` when it ran or conflicted
/// (then it is stamped as applied); `Err(R001)` when it failed with no fix before it to blame.
#[allow(clippy::too_many_arguments)]
async fn run_migration(
    ctx: &Ctx<'_>,
    db: &Scratch,
    revision: &str,
    file: &str,
    (upgrader, step): (&mut batch::Upgrader<'_>, usize),
    fixes_before: &[&str],
    run: &PathRun,
) -> Result<Result<(String, Option<Finding>, Vec<String>), Finding>, ReplayError> {
    ctx.progress.stage(&format!("migration {revision}"));
    let up = upgrader.upgrade(ctx, db, step).await?;
    let Some(failure) = up.failure else {
        return Ok(Ok(("applied".into(), None, Vec::new())));
    };
    if failure.timed_out {
        crate::runner::terminate_sessions(&db.db.url).await;
        return Err(ReplayError::Environment(format!(
            "the production path timed out after {}s at revision {revision} (replay.timeout-s / --timeout)",
            ctx.timeout.as_secs()
        )));
    }
    let at = |f: Finding| {
        let f = f.at(failure.file.clone().unwrap_or_else(|| file.to_string()));
        match failure.line {
            Some(l) => f.line(l),
            None => f,
        }
    };
    if fixes_before.is_empty() {
        return Ok(Err(at(Finding::new(
            Code::R001,
            format!(
                "on the production path, before any fix ran, the upgrade failed at {}",
                failure.describe()
            ),
        )
        .help("Fix the named migration so it runs on an empty database."))));
    }
    let blamed = blame(&failure.message, fixes_before, &run.explained);
    let stamped = ctx.runner.stamp(&db.env, revision, ctx.deadline).await?;
    if let Some(f) = stamped.failure {
        return Err(ReplayError::Environment(format!(
            "cannot mark revision {revision} applied after its conflict: {}",
            f.describe()
        )));
    }
    let finding = at(Finding::new(
        Code::F003,
        format!(
            "on the production path, after {}, revision {revision} fails: {}; production continued past it, so the path marks it applied (its other statements did not run) and goes on",
            blamed.join(", "),
            failure.describe()
        ),
    )
    .help("Make the migration tolerate the fix (IF NOT EXISTS) or convert the fix into the migration chain."));
    Ok(Ok((
        format!(
            "conflict (F003) with {}: {}; stamped as applied",
            blamed.join(", "),
            failure.describe()
        ),
        Some(finding),
        blamed.iter().map(|b| b.to_string()).collect(),
    )))
}

/// The fixes a failure names an object of (`relation "audit_log" already exists`), else every
/// fix that ran before it.
fn blame<'a>(message: &str, fixes_before: &[&'a str], explained: &[Explained]) -> Vec<&'a str> {
    let named: Vec<&str> = fixes_before
        .iter()
        .copied()
        .filter(|fix| {
            explained.iter().any(|e| {
                e.fix == *fix
                    && e.keys.iter().any(|k| {
                        // The object's bare name: the last word of its key, unqualified.
                        let word = k.rsplit(' ').next().unwrap_or(k);
                        let bare = word.rsplit('.').next().unwrap_or(word);
                        !bare.is_empty() && message.contains(&format!("\"{bare}\""))
                    })
            })
        })
        .collect();
    if named.is_empty() {
        fixes_before.to_vec()
    } else {
        named
    }
}

/// One fix of the path, its statements captured: the result, the capture, what it touched
/// and F001 when it fails there.
async fn run_fix(
    ctx: &Ctx<'_>,
    db: &Scratch,
    script: &Script,
    step: usize,
) -> Result<(String, Captured, Explained, Option<Finding>), ReplayError> {
    ctx.progress
        .stage(&format!("emergency fix {}", script.path));
    let work = WorkCopy::new(&ctx.settings.root).map_err(|e| {
        ReplayError::Environment(format!(
            "cannot make a throw-away copy of the work tree for {}: {e}",
            script.path
        ))
    })?;
    // Read before the capture is installed: its own schema is no change of the fix.
    let before = ctx.capture(db).await?;
    let installed = capture::install(&db.db.url).await;
    let applied = fixes::apply(ctx, script, db, &work).await?;
    let captured = match installed {
        Err(why) => Captured::Unavailable(why),
        Ok(()) => match capture::collect_and_remove(&db.db.url).await {
            Ok(statements) => Captured::Statements(statements),
            Err(why) => {
                return Err(ReplayError::Environment(format!(
                    "cannot read the captured statements: {why}"
                )));
            }
        },
    };
    let after = ctx.capture(db).await?;
    let changes = ctx.diff(&before, &after, "before the fix", "after the fix");
    let objects: Vec<(&str, &str)> = match &captured {
        Captured::Statements(s) => s
            .iter()
            .flat_map(|s| &s.commands)
            .map(|c| (c.object_type.as_str(), c.identity.as_str()))
            .collect(),
        Captured::Unavailable(_) => Vec::new(),
    };
    let explained = Explained::new(script.path.clone(), &changes, objects);
    let (result, finding) = match applied {
        Applied::Ok => (
            format!("applied: {} schema change(s)", changes.len()),
            None,
        ),
        Applied::Failed(e) => (
            format!("failed (F001): {e}"),
            Some(
                Finding::new(
                    Code::F001,
                    format!(
                        "{}: on the production path (step {}), the fix fails: {e}",
                        script.path,
                        step + 1
                    ),
                )
                .at(script.path.clone())
                .help("Make the fix apply cleanly where production ran it (guard it), or correct applied-after / applied-on."),
            ),
        ),
    };
    Ok((result, captured, explained, finding))
}

/// F007 for each difference no registered fix explains.
fn f007_attribution(dump: &Path, attributed: &[Attribution]) -> Vec<Finding> {
    attributed
        .iter()
        .filter(|a| !a.is_explained())
        .map(|a| {
            Finding::new(
                Code::F007,
                format!(
                    "{}: production (--reference-dump) and the production path differ here, and no registered fix touched it: a manual patch nobody registered",
                    a.difference
                ),
            )
            .at(dump.display().to_string())
            .help("Register the script that made this change (with applied-after), or write a migration for it.")
        })
        .collect()
}

fn path_section(steps: &[StepRun]) -> Section {
    let mut text = String::new();
    let mut md = String::from("| step | kind | name | result |\n|---:|---|---|---|\n");
    let mut data = Vec::new();
    let cell = gate_report::render::markdown_escape_cell;
    for (i, s) in steps.iter().enumerate() {
        let n = i + 1;
        text.push_str(&format!(
            "{n:>3}  {:<9}  {}  {}\n",
            s.step.kind(),
            s.step.name(),
            s.result
        ));
        md.push_str(&format!(
            "| {n} | {} | `{}` | {} |\n",
            s.step.kind(),
            cell(s.step.name()),
            cell(&s.result)
        ));
        let (statements, unavailable) = match &s.captured {
            Some(Captured::Statements(st)) => (Some(st.as_slice()), None),
            Some(Captured::Unavailable(why)) => (None, Some(why.as_str())),
            None => (None, None),
        };
        for st in statements.unwrap_or_default() {
            let did: Vec<String> = st
                .commands
                .iter()
                .map(|c| format!("{} {}", c.tag, c.identity))
                .collect();
            // One line for text and Markdown; the JSON keeps the exact text.
            let query = st.query.split_whitespace().collect::<Vec<_>>().join(" ");
            text.push_str(&format!("       sql: {query}  -- {}\n", did.join(", ")));
            md.push_str(&format!(
                "| | | captured | `{}` ({}) |\n",
                cell(&query),
                cell(&did.join(", "))
            ));
        }
        if let Some(why) = unavailable {
            text.push_str(&format!("       sql: not captured: {why}\n"));
            md.push_str(&format!("| | | captured | not captured: {} |\n", cell(why)));
        }
        let mut row = serde_json::json!({
            "step": n,
            "kind": s.step.kind(),
            "name": s.step.name(),
            "result": s.result,
        });
        if let Step::Migration { file, .. } = &s.step {
            row["file"] = file.clone().into();
        }
        if let Some(st) = statements {
            row["captured"] = serde_json::to_value(st).unwrap_or_default();
        }
        if let Some(why) = unavailable {
            row["captured"] = serde_json::Value::Null;
            row["capture_unavailable"] = why.into();
        }
        data.push(row);
    }
    Section {
        title: "Production path".into(),
        text,
        markdown: md,
        data: serde_json::json!({ "steps": data }),
    }
}

fn attribution_section(dump: &Path, attributed: &[Attribution]) -> Section {
    let name = dump.display().to_string();
    let mut text = format!("against {name}: {} difference(s)\n", attributed.len());
    let mut md = format!(
        "Against `{}`: {} difference(s)\n\n| difference | explained by |\n|---|---|\n",
        gate_report::render::markdown_escape_cell(&name),
        attributed.len()
    );
    for a in attributed {
        let by = if a.is_explained() {
            a.fixes.join(", ")
        } else {
            "nothing registered (F007)".into()
        };
        text.push_str(&format!("{}  <- {by}\n", a.difference));
        md.push_str(&format!(
            "| {} | {} |\n",
            gate_report::render::markdown_escape_cell(&a.difference.to_string()),
            gate_report::render::markdown_escape_cell(&by)
        ));
    }
    Section {
        title: "Attribution against the reference dump".into(),
        text,
        markdown: md,
        data: serde_json::json!({
            "reference_dump": name,
            "differences": attributed,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conflict_blames_the_fix_whose_object_the_error_names() {
        let explained = [
            Explained::new("fixes/a.sql", &[], [("table", "public.audit_log")]),
            Explained::new("fixes/b.sql", &[], [("index", "public.ix_users")]),
        ];
        let before = ["fixes/a.sql", "fixes/b.sql"];
        assert_eq!(
            blame("relation \"audit_log\" already exists", &before, &explained),
            ["fixes/a.sql"]
        );
        // Nothing named: every fix that ran before is a suspect.
        assert_eq!(blame("syntax error", &before, &explained), before);
    }
}
