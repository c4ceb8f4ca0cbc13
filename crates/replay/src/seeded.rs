//! The seeded pass (R009, `--data` / `replay.data`): the chain replayed once more on its own
//! scratch database, one revision at a time; before each migration, the tables that appeared
//! since the last one are topped up to `rows` generated rows (crates/replay/src/seed). A migration that fails
//! there is judged on an empty database at the same revision: if it passes there, it is
//! R009 (it would fail on production's rows with the same SQLSTATE); if it fails there too
//! it is the clean replay's R001, not reported twice. The pass stops at its first failure and
//! says what it did not check (R010), except at a released migration (pinned in the
//! lockfile): production ran it on rows of its own, so the tables are emptied, it runs again,
//! and the pass goes on with fresh rows (its R009 is a note). Every statement is observed
//! (L0xx, crates/replay/src/locks.rs).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use gate_report::{Code, Finding, Report, Section};
use sqlx::Connection as _;

use crate::child_env::ChildEnv;
use crate::ctx::{Ctx, Scratch, not_run};
use crate::error::ReplayError;
use crate::runner::session::AlembicSession;
use crate::runner::sql::SqlRunner;
use crate::runner::{Failure, Runner, RunnerError, Target};
use crate::seed::{self, Seeding};

/// What applies one revision at a time on the seeded database.
enum SeededRunner<'r> {
    Alembic(Box<AlembicSession<'r>>),
    Sql(&'r SqlRunner, ChildEnv),
}

impl SeededRunner<'_> {
    /// Upgrade to `revision`; the failure when it failed. What its statements did goes to
    /// `seen` (the L0xx checks).
    async fn upgrade(
        &mut self,
        revision: &str,
        deadline: Instant,
        seen: &mut Observation,
        conn: &mut sqlx::PgConnection,
    ) -> Result<Option<Failure>, RunnerError> {
        Ok(match self {
            SeededRunner::Alembic(session) => {
                let r = session.step(true, revision, deadline).await?;
                seen.statements.extend(r.observed);
                seen.problems.extend(r.observe_problems);
                r.failure
            }
            SeededRunner::Sql(runner, env) => {
                let to = Target::Revision(revision.to_string());
                // On the pass's own connection: no connect per revision.
                let r = runner
                    .upgrade_on(conn, env, &to, deadline, &mut |_| {})
                    .await?;
                seen.statements.extend(r.observed);
                seen.problems.extend(r.observe_problems);
                r.failure
            }
        })
    }

    /// Something besides the migrations changed the catalog (a TRUNCATE): the next observed
    /// migration reads it whole. (The Alembic wrapper sees that from the fingerprint.)
    fn catalog_changed(&self) {
        if let SeededRunner::Sql(runner, env) = self {
            runner.forget_catalog(env.url());
        }
    }

    async fn close(self) {
        if let SeededRunner::Alembic(session) = self {
            session.close().await;
        }
    }
}

/// What the pass's statements did to the seeded tables (locks, rewrites: L0xx).
#[derive(Default)]
struct Observation {
    statements: Vec<crate::observe::ObservedStatement>,
    problems: Vec<String>,
}

/// The one place the seeded pass starts what runs its migrations (an Alembic interpreter in
/// serve mode, or the in-process sql runner) on `db`, with every statement observed.
fn start_runner<'r>(runner: &'r Runner, db: &Scratch) -> Result<SeededRunner<'r>, RunnerError> {
    let env = db.env.observing();
    match runner {
        Runner::Alembic(alembic) => {
            AlembicSession::start(alembic, &env).map(|s| SeededRunner::Alembic(Box::new(s)))
        }
        Runner::Sql(sql) => Ok(SeededRunner::Sql(sql, env)),
        Runner::Command(_) => Err(RunnerError::Config(
            "migrations.kind = \"command\" cannot upgrade one revision at a time".into(),
        )),
    }
}

/// One revision of the pass, for the section.
struct Step {
    revision: String,
    seeding: Seeding,
    ok: bool,
}

/// Where the pass stopped.
struct Stop {
    index: usize,
    failure: Failure,
    /// Exact row counts of the tables the error or statement names.
    rows: Vec<(String, i64)>,
}

/// The seeded pass over the whole chain.
pub(crate) async fn seeded_pass(ctx: &Ctx<'_>, report: &mut Report) -> Result<(), ReplayError> {
    let path = &ctx.settings.policy.migrations.path;
    if let Runner::Command(_) = ctx.runner {
        report.findings.push(not_run(
            path,
            "the seeded pass (R009) is not run: migrations.kind = \"command\" cannot upgrade one revision at a time",
        ));
        return Ok(());
    }
    let discovery = gate_chain::discover(&ctx.settings.root, &ctx.settings.policy)
        .map_err(ReplayError::Chain)?;
    let order: Vec<&gate_chain::Revision> = discovery.graph.order();
    ctx.progress.stage("seeded pass (--data)");
    let started = Instant::now();
    let db = ctx.fresh().await?;
    let mut seen = Observation::default();
    let released = released_paths(ctx);
    let mut passed_empty = Vec::new();
    let walked = match start_runner(ctx.runner, &db) {
        Ok(mut runner) => {
            let r = walk(
                ctx,
                &db,
                &mut runner,
                &order,
                &mut seen,
                &released,
                &mut passed_empty,
            )
            .await;
            runner.close().await;
            r
        }
        Err(e) => Err(e.into()),
    };
    let walked = match walked {
        Ok((steps, Some(mut stop))) => {
            locate_statement(ctx, &db, &mut stop.failure).await;
            Ok((steps, Some(stop)))
        }
        other => other,
    };
    ctx.drop(&db).await;
    let (steps, stop) = walked?;
    let elapsed = started.elapsed();
    for stop in &passed_empty {
        report.findings.push(r009(order[stop.index], stop));
    }
    if let Some(stop) = &stop {
        let rev = order[stop.index];
        let rest = order.len() - stop.index - 1;
        let not_checked = format!("{rest} later revision(s) not replayed with rows");
        match judge(ctx, rev, stop).await? {
            Some(finding) => {
                report.findings.push(finding);
                if rest > 0 {
                    report.findings.push(not_run(
                        path,
                        &format!(
                            "the seeded pass stopped at revision {} (R009); {not_checked}",
                            rev.id
                        ),
                    ));
                }
            }
            None => {
                let because = if stop.failure.timed_out {
                    "the seeded pass timed out".to_string()
                } else {
                    format!(
                        "the seeded pass stopped at revision {}, which fails on an empty database too ({})",
                        rev.id,
                        stop.failure.describe()
                    )
                };
                report
                    .findings
                    .push(not_run(path, &format!("{because}; {not_checked}")));
            }
        }
    }
    report.checked(Code::R009, path.clone());
    report
        .sections
        .push(section(&steps, order.len(), ctx.settings.rows, elapsed));
    report.findings.extend(crate::locks::findings(
        &seen.statements,
        ctx.settings.strict,
    ));
    released_is_history(ctx, &mut report.findings);
    report
        .sections
        .push(crate::locks::section(&seen.statements, &seen.problems));
    Ok(())
}

type Walked = (Vec<Step>, Option<Stop>);

/// Seed, upgrade one revision, repeat; stop at the first failure.
async fn walk(
    ctx: &Ctx<'_>,
    db: &Scratch,
    runner: &mut SeededRunner<'_>,
    order: &[&gate_chain::Revision],
    seen: &mut Observation,
    released: &BTreeSet<String>,
    passed_empty: &mut Vec<Stop>,
) -> Result<Walked, ReplayError> {
    let rows = ctx.settings.rows;
    let skip = ctx.runner.bookkeeping_tables();
    let mut conn = connect(&db.db.url).await?;
    let mut steps = Vec::new();
    let seeder = &mut seed::Seeder::default();
    for (index, rev) in order.iter().enumerate() {
        // Seeding is a few INSERTs, but a user trigger may hang: the run's deadline holds.
        let seeding = tokio::time::timeout_at(
            ctx.deadline.into(),
            seeder.top_up(&mut conn, rows, skip),
        )
        .await
        .map_err(|_| {
            ReplayError::Environment(format!(
                "seeding the tables before revision {} timed out after {}s (replay.timeout-s / --timeout)",
                rev.id,
                ctx.timeout.as_secs()
            ))
        })?
        .map_err(|e| RunnerError::database("cannot seed the scratch database", e))?;
        let failure = runner
            .upgrade(&rev.id, ctx.deadline, seen, &mut conn)
            .await?;
        let ok = failure.is_none();
        steps.push(Step {
            revision: rev.id.clone(),
            seeding,
            ok,
        });
        if let Some(mut failure) = failure {
            if failure.timed_out {
                crate::runner::terminate_sessions(&db.db.url).await;
            }
            if failure.revision.is_none() {
                failure.revision = Some(rev.id.clone());
            }
            if failure.file.is_none() {
                failure.file = Some(rev.path.clone());
            }
            let rows = if failure.timed_out {
                Vec::new()
            } else {
                named_table_rows(&mut conn, &failure, skip).await
            };
            let stop = Stop {
                index,
                failure,
                rows,
            };
            // A released migration already ran on production's own rows: the generated ones
            // broke it, not the next deploy. Empty the tables and run it again; if it passes
            // there (R009, a note), go on with fresh rows for every table; if not, it fails
            // on empty tables too (the clean replay's R001) and the pass stops.
            if released.contains(rev.path.as_str()) && !stop.failure.timed_out {
                seed::empty_all(&mut conn, skip)
                    .await
                    .map_err(|e| RunnerError::database("cannot empty the seeded tables", e))?;
                runner.catalog_changed();
                *seeder = seed::Seeder::default();
                let again = runner
                    .upgrade(&rev.id, ctx.deadline, seen, &mut conn)
                    .await?;
                if again.is_none() {
                    if let Some(step) = steps.last_mut() {
                        step.ok = true;
                    }
                    passed_empty.push(stop);
                    continue;
                }
            }
            let _ = conn.close().await;
            return Ok((steps, Some(stop)));
        }
    }
    let _ = conn.close().await;
    Ok((steps, None))
}

async fn connect(url: &str) -> Result<sqlx::PgConnection, ReplayError> {
    sqlx::PgConnection::connect(url).await.map_err(|e| {
        ReplayError::Runner(RunnerError::database(
            "cannot connect to the seeded pass's scratch database",
            e,
        ))
    })
}

/// Row counts of the user tables the error message or the statement names.
async fn named_table_rows(
    conn: &mut sqlx::PgConnection,
    failure: &Failure,
    skip: &[&str],
) -> Vec<(String, i64)> {
    let text = format!(
        "{} {}",
        failure.message,
        failure.statement.as_deref().unwrap_or_default()
    );
    let Ok(tables) = seed::table_names(conn, skip).await else {
        return Vec::new();
    };
    let named: Vec<String> = tables
        .into_iter()
        .filter(|(qualified, bare)| names(&text, qualified) || names(&text, bare))
        .map(|(qualified, _)| qualified)
        .collect();
    seed::exact_counts(conn, &named).await.unwrap_or_default()
}

/// Whether `text` names `name` as a whole identifier (bare or in double quotes).
fn names(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    text.match_indices(name).any(|(i, m)| {
        let before = text[..i].chars().next_back();
        let after = text[i + m.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// A SQL file's failing statement, when the server gave no position (a whole file runs as
/// one transaction): its statements run one by one in a transaction that is rolled back, on
/// the seeded database the migration failed on; the first refused with the same SQLSTATE is
/// the one.
async fn locate_statement(ctx: &Ctx<'_>, db: &Scratch, failure: &mut Failure) {
    if failure.statement.is_some() || failure.timed_out || !matches!(ctx.runner, Runner::Sql(_)) {
        return;
    }
    let (Some(file), Some(code)) = (failure.file.clone(), failure.sqlstate.clone()) else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(ctx.settings.root.join(&file)) else {
        return;
    };
    let Ok(mut conn) = connect(&db.db.url).await else {
        return;
    };
    if let Ok(mut tx) = conn.begin().await {
        for (s, e) in crate::runner::sqlsplit::split(&text) {
            let stmt = text[s..e].trim();
            let upper = stmt.to_ascii_uppercase();
            if stmt.is_empty()
                || ["BEGIN", "COMMIT", "END", "ROLLBACK", "START"]
                    .iter()
                    .any(|w| upper.starts_with(w))
            {
                continue;
            }
            if sqlx::raw_sql("SAVEPOINT gate_locate")
                .execute(&mut *tx)
                .await
                .is_err()
            {
                break;
            }
            let r = sqlx::raw_sql(sqlx::AssertSqlSafe(stmt.to_string()))
                .execute(&mut *tx)
                .await;
            if let Err(err) = r {
                if crate::runner::sqlstate(&err).as_deref() == Some(code.as_str()) {
                    let start = s + (text[s..e].len() - text[s..e].trim_start().len());
                    let chars = crate::runner::sqlsplit::chars_before(&text, start) + 1;
                    let (line, column) = crate::runner::sqlsplit::line_col(&text, chars);
                    failure.statement = Some(stmt.to_string());
                    // The runner points at the start of the file's transaction: this is exact.
                    failure.line = Some(line);
                    failure.column = Some(column);
                    break;
                }
                if sqlx::raw_sql("ROLLBACK TO SAVEPOINT gate_locate")
                    .execute(&mut *tx)
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
        let _ = tx.rollback().await;
    }
    let _ = conn.close().await;
}

/// R009 when the revision passes on an empty database at the same point; `None` when it
/// fails there too (the clean replay's business) or the pass timed out.
async fn judge(
    ctx: &Ctx<'_>,
    rev: &gate_chain::Revision,
    stop: &Stop,
) -> Result<Option<Finding>, ReplayError> {
    if stop.failure.timed_out {
        return Ok(None);
    }
    let empty = ctx.fresh().await?;
    let up = ctx
        .runner
        .upgrade(
            &empty.env,
            &Target::Revision(rev.id.clone()),
            ctx.deadline,
            &mut |_| {},
        )
        .await;
    ctx.drop(&empty).await;
    if up?.failure.is_some() {
        return Ok(None);
    }
    Ok(Some(r009(rev, stop)))
}

fn r009(rev: &gate_chain::Revision, stop: &Stop) -> Finding {
    let f = &stop.failure;
    let code = f.sqlstate.as_deref().unwrap_or("unknown");
    let mut message = format!(
        "revision {} fails on a database with rows (SQLSTATE {code}{}) and passes on an empty one: {}",
        rev.id,
        sqlstate_name(code)
            .map(|n| format!(" {n}"))
            .unwrap_or_default(),
        f.message
    );
    if let Some(stmt) = &f.statement {
        message.push_str(&format!("; statement: {}", one_line(stmt)));
    }
    if !stop.rows.is_empty() {
        let rows: Vec<String> = stop
            .rows
            .iter()
            .map(|(t, n)| format!("{t} holds {n} row(s)"))
            .collect();
        message.push_str(&format!("; {}", rows.join(", ")));
    }
    crate::run::upgrade_finding(Code::R009, f, message)
}

/// The condition name of the SQLSTATEs this pass meets most.
fn sqlstate_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "23502" => "not_null_violation",
        "23503" => "foreign_key_violation",
        "23505" => "unique_violation",
        "23514" => "check_violation",
        "23P01" => "exclusion_violation",
        "22P02" => "invalid_text_representation",
        "22001" => "string_data_right_truncation",
        "22003" => "numeric_value_out_of_range",
        "42804" => "datatype_mismatch",
        _ => return None,
    })
}

fn one_line(sql: &str) -> String {
    let s = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

fn section(steps: &[Step], total: usize, rows: u64, elapsed: Duration) -> Section {
    let mut text = String::new();
    let mut md = "| revision | seeded | dropped |\n|---|---|---|\n".to_string();
    let mut data = Vec::new();
    let mut seeded_total = 0;
    for s in steps {
        seeded_total += s.seeding.inserted();
        let seeded: Vec<String> = s
            .seeding
            .tables
            .iter()
            .filter(|t| t.inserted > 0)
            .map(|t| format!("{} +{}", t.table, t.inserted))
            .collect();
        let dropped: Vec<String> = s
            .seeding
            .tables
            .iter()
            .filter(|t| t.dropped > 0)
            .map(|t| format!("{} -{} ({})", t.table, t.dropped, t.reasons.join("; ")))
            .collect();
        let failed = if s.ok { "" } else { " (migration FAILED)" };
        if !seeded.is_empty() || !dropped.is_empty() || !s.ok {
            text.push_str(&format!(
                "before {}{failed}: {}{}\n",
                s.revision,
                if seeded.is_empty() {
                    "-".to_string()
                } else {
                    seeded.join(", ")
                },
                if dropped.is_empty() {
                    String::new()
                } else {
                    format!("; dropped {}", dropped.join(", "))
                }
            ));
            md.push_str(&format!(
                "| `{}`{failed} | {} | {} |\n",
                s.revision,
                seeded.join(", "),
                dropped.join(", ")
            ));
        }
        data.push(serde_json::json!({
            "revision": s.revision,
            "ok": s.ok,
            "tables": s.seeding.tables.iter().map(|t| serde_json::json!({
                "table": t.table, "inserted": t.inserted, "dropped": t.dropped, "reasons": t.reasons,
            })).collect::<Vec<_>>(),
        }));
    }
    let summary = format!(
        "{} of {total} revision(s) replayed on seeded tables ({rows} row(s) per table, {seeded_total} row(s) generated) in {} ms",
        steps.len(),
        elapsed.as_millis()
    );
    text.push_str(&summary);
    text.push('\n');
    md.push_str(&format!("\n{summary}\n"));
    Section {
        title: "Seeded pass".into(),
        text,
        markdown: md,
        data: serde_json::json!({
            "revisions": total,
            "replayed": steps.len(),
            "rows_per_table": rows,
            "generated": seeded_total,
            "total_ms": elapsed.as_millis(),
            "steps": data,
        }),
    }
}

/// The files of released migrations (pinned in `migrations.lock`); none when the lockfile is
/// missing or broken (the lockfile checks report that).
fn released_paths(ctx: &Ctx<'_>) -> BTreeSet<String> {
    let lockfile = &ctx.settings.policy.migrations.lockfile;
    std::fs::read(ctx.settings.root.join(lockfile))
        .ok()
        .and_then(|bytes| gate_chain::lock::parse_lock(lockfile, &bytes).ok())
        .map(|lock| lock.entries.into_iter().map(|e| e.path).collect())
        .unwrap_or_default()
}

/// R009 and L0xx about a released migration (one `migrations.lock` pins) are notes:
/// production already ran it, on its own rows, so what the generated rows make it do says
/// nothing about the next deploy. New migrations keep their severity. A missing or broken
/// lockfile changes nothing here (the lockfile checks report it).
fn released_is_history(ctx: &Ctx<'_>, findings: &mut [Finding]) {
    let lockfile = &ctx.settings.policy.migrations.lockfile;
    let released = released_paths(ctx);
    for f in findings.iter_mut() {
        let judged = f.code == Code::R009 || f.code.as_str().starts_with('L');
        if judged && f.path.as_deref().is_some_and(|p| released.contains(p)) {
            f.severity = gate_report::Severity::Note;
            f.help = format!(
                "Released (pinned in {lockfile}): production already ran this migration on its own rows; this is history, not the next deploy. {}",
                f.help
            );
        }
    }
}
