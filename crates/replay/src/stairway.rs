//! R007, the stairway: for each revision in upgrade order, upgrade to it, downgrade one step
//! (a merge: to each parent in turn), upgrade again; the schema after the downgrade must be
//! the one before the upgrade, and the schema after the second upgrade the one after the
//! first. One Alembic interpreter runs every step (runner/session.rs), SQL chains step with
//! the in-process sql runner; the catalog is read between steps on one connection. The first broken revision stops the stairway: the database is no longer
//! in a state the later steps could be judged from.

use std::time::Instant;

use gate_report::{Code, Finding, Report, Section};
use gate_schema::Snapshot;

use crate::child_env::ChildEnv;
use crate::ctx::{Ctx, Scratch, not_run};
use crate::error::ReplayError;
use crate::runner::session::AlembicSession;
use crate::runner::sql::SqlRunner;
use crate::runner::{Failure, Runner, Target};

/// One revision's step, for the section.
struct Row {
    revision: String,
    file: Option<String>,
    /// What the downgrade went to (parent ids, `base`, `rev@-1`).
    down_to: Vec<String>,
    ok: bool,
    ms: u128,
}

/// One connection for every catalog read of the stairway (hundreds of them): no connect per
/// snapshot.
struct Reader<'a> {
    db: &'a Scratch,
    conn: sqlx::PgConnection,
}

impl<'a> Reader<'a> {
    async fn open(db: &'a Scratch) -> Result<Reader<'a>, ReplayError> {
        use sqlx::Connection as _;
        let conn = sqlx::PgConnection::connect(&db.db.url).await.map_err(|e| {
            ReplayError::Runner(crate::runner::RunnerError::database(
                "cannot connect to the stairway's scratch database",
                e,
            ))
        })?;
        Ok(Reader { db, conn })
    }

    async fn close(self) {
        use sqlx::Connection as _;
        let _ = self.conn.close().await;
    }

    async fn capture(&mut self) -> Result<Snapshot, ReplayError> {
        Snapshot::capture_with(&mut self.conn)
            .await
            .map_err(|source| ReplayError::Schema {
                what: "cannot snapshot the scratch database",
                database: self.db.db.name.clone(),
                source: Box::new(source),
            })
    }
}

/// What broke in a step.
struct Broken {
    what: String,
    failure: Option<Failure>,
}

/// What runs the steps: one Alembic interpreter, or the in-process sql runner.
enum Stepper<'r> {
    Alembic(Box<AlembicSession<'r>>),
    Sql(&'r SqlRunner, ChildEnv),
}

impl Stepper<'_> {
    /// `upgrade` to `rev`, or `downgrade` to `target`; `Some` when it failed.
    async fn run(
        &mut self,
        ctx: &Ctx<'_>,
        up: bool,
        target: &str,
        what: &str,
    ) -> Result<Option<Broken>, ReplayError> {
        let failure = match self {
            Stepper::Alembic(session) => {
                let verb = if up { "upgrade" } else { "downgrade" };
                session.run(&[verb, target], ctx.deadline).await?.failure
            }
            Stepper::Sql(runner, env) if up => {
                let to = Target::Revision(target.to_string());
                runner
                    .upgrade(env, &to, ctx.deadline, &mut |_| {})
                    .await?
                    .failure
            }
            Stepper::Sql(runner, env) => {
                let keep = runner.position(env.url()).saturating_sub(1);
                runner.downgrade_to(env, keep, ctx.deadline).await?.failure
            }
        };
        Ok(failure.map(|f| Broken {
            what: if f.timed_out {
                format!("{what} timed out after {}s", ctx.timeout.as_secs())
            } else {
                format!("{what} failed: {}", f.describe())
            },
            failure: Some(f),
        }))
    }

    async fn close(self) {
        if let Stepper::Alembic(session) = self {
            session.close().await;
        }
    }
}

/// The stairway over the whole chain on a database of its own.
pub(crate) async fn stairway(ctx: &Ctx<'_>, report: &mut Report) -> Result<(), ReplayError> {
    if let Runner::Command(_) = ctx.runner {
        report.findings.push(not_run(
            &ctx.settings.policy.migrations.path,
            "the stairway (R007) is not checked: migrations.kind = \"command\" cannot downgrade one revision at a time",
        ));
        return Ok(());
    }
    let discovery = gate_chain::discover(&ctx.settings.root, &ctx.settings.policy)
        .map_err(ReplayError::Chain)?;
    let order: Vec<&gate_chain::Revision> = discovery.graph.order();
    ctx.progress.stage("stairway");
    let db = ctx.fresh().await?;
    let stepper = match ctx.runner {
        Runner::Alembic(alembic) => {
            AlembicSession::start(alembic, &db.env).map(|s| Stepper::Alembic(Box::new(s)))
        }
        Runner::Sql(sql) => Ok(Stepper::Sql(sql, db.env.clone())),
        Runner::Command(_) => unreachable!("returned above"),
    };
    let result = match stepper {
        Ok(mut stepper) => {
            let r = steps(ctx, &db, &mut stepper, &order).await;
            stepper.close().await;
            r
        }
        Err(e) => Err(e.into()),
    };
    ctx.drop(&db).await;
    let (rows, broken) = result?;
    if let Some((rev, b)) = &broken {
        report.findings.push(r007(rev, b, order.len() - rows.len()));
    }
    report.sections.push(section(&rows, order.len()));
    Ok(())
}

type Outcome<'a> = (Vec<Row>, Option<(&'a gate_chain::Revision, Broken)>);

async fn steps<'a>(
    ctx: &Ctx<'_>,
    db: &Scratch,
    stepper: &mut Stepper<'_>,
    order: &[&'a gate_chain::Revision],
) -> Result<Outcome<'a>, ReplayError> {
    let mut reader = Reader::open(db).await?;
    let mut before = reader.capture().await?;
    let mut rows = Vec::new();
    let sql = matches!(stepper, Stepper::Sql(..));
    for (i, rev) in order.iter().enumerate() {
        let started = Instant::now();
        let down_to = downgrade_targets(rev, i, sql);
        let step = step(ctx, &mut reader, stepper, rev, &down_to, &before).await?;
        let ok = step.is_ok();
        rows.push(Row {
            revision: rev.id.clone(),
            file: Some(rev.path.clone()),
            down_to,
            ok,
            ms: started.elapsed().as_millis(),
        });
        match step {
            Ok(after) => before = after,
            Err(b) => return Ok((rows, Some((rev, b)))),
        }
    }
    reader.close().await;
    Ok((rows, None))
}

/// Where "one step down" is: each parent of a merge; `base` for the first revision; for any
/// other revision `<rev>@-1`, one step down on its own branch (a bare parent id would also
/// take down a sibling branch that forks at that parent).
fn downgrade_targets(rev: &gate_chain::Revision, position: usize, sql: bool) -> Vec<String> {
    if sql {
        // A SQL chain is a line: one step down is the previous version (for the section).
        return vec![
            rev.parents
                .first()
                .cloned()
                .unwrap_or_else(|| "base".to_string()),
        ];
    }
    if rev.is_merge() {
        return rev.parents.clone();
    }
    if position == 0 && rev.parents.is_empty() {
        return vec!["base".to_string()];
    }
    vec![format!("{}@-1", rev.id)]
}

/// Up, then for each target down and up again; `Ok` holds the schema at the revision.
async fn step(
    ctx: &Ctx<'_>,
    reader: &mut Reader<'_>,
    stepper: &mut Stepper<'_>,
    rev: &gate_chain::Revision,
    down_to: &[String],
    before: &Snapshot,
) -> Result<Result<Snapshot, Broken>, ReplayError> {
    if let Some(b) = stepper.run(ctx, true, &rev.id, "upgrade to it").await? {
        return Ok(Err(b));
    }
    let at = reader.capture().await?;
    for target in down_to {
        let down = format!("downgrade to {target}");
        if let Some(b) = stepper.run(ctx, false, target, &down).await? {
            return Ok(Err(b));
        }
        let after_down = reader.capture().await?;
        if let Some(b) = differs(ctx, before, &after_down, "before its upgrade", &down) {
            return Ok(Err(b));
        }
        let again = format!("upgrade again after the {down}");
        if let Some(b) = stepper.run(ctx, true, &rev.id, &again).await? {
            return Ok(Err(b));
        }
        let after_up = reader.capture().await?;
        if let Some(b) = differs(ctx, &at, &after_up, "first upgrade", &again) {
            return Ok(Err(b));
        }
    }
    Ok(Ok(at))
}

fn differs(ctx: &Ctx<'_>, a: &Snapshot, b: &Snapshot, an: &str, bn: &str) -> Option<Broken> {
    let d = ctx.diff(a, b, an, bn);
    if d.is_empty() {
        return None;
    }
    let lines: Vec<String> = d.iter().map(ToString::to_string).collect();
    Some(Broken {
        what: format!(
            "{bn} gives a different schema ({} difference(s)): {}",
            d.len(),
            lines.join("; ")
        ),
        failure: None,
    })
}

fn r007(rev: &gate_chain::Revision, b: &Broken, not_stepped: usize) -> Finding {
    let rest = if not_stepped > 0 {
        format!("; the stairway stopped here, {not_stepped} later revision(s) not stepped")
    } else {
        String::new()
    };
    let message = format!(
        "stairway at revision {} ({}): {}{rest}",
        rev.id, rev.path, b.what
    );
    let mut f = match &b.failure {
        Some(failure) => crate::run::upgrade_finding(Code::R007, failure, message),
        None => Finding::new(Code::R007, message).at(rev.path.clone()),
    };
    if f.path.is_none() {
        f = f.at(rev.path.clone());
    }
    f
}

fn section(rows: &[Row], total: usize) -> Section {
    let width = rows
        .iter()
        .map(|r| r.revision.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut text = format!(
        "{:<width$}  {:<6}  {:>8}  down to / file\n",
        "revision", "result", "ms"
    );
    let mut md =
        "| revision | down/up | ms | down to | file |\n|---|---|---:|---|---|\n".to_string();
    let mut data = Vec::new();
    for r in rows {
        let result = if r.ok { "ok" } else { "FAILED" };
        let file = r.file.as_deref().unwrap_or("");
        let down = r.down_to.join(", ");
        text.push_str(&format!(
            "{:<width$}  {result:<6}  {:>8}  {down}  {file}\n",
            r.revision, r.ms
        ));
        md.push_str(&format!(
            "| `{}` | {result} | {} | `{down}` | {file} |\n",
            r.revision, r.ms
        ));
        data.push(serde_json::json!({"revision": r.revision, "file": r.file, "down_to": r.down_to, "ok": r.ok, "ms": r.ms}));
    }
    let total_ms: u128 = rows.iter().map(|r| r.ms).sum();
    let summary = format!(
        "{} of {total} revision(s) stepped in {total_ms} ms",
        rows.len()
    );
    text.push_str(&summary);
    text.push('\n');
    md.push_str(&format!("\n{summary}\n"));
    Section {
        title: "Stairway".into(),
        text,
        markdown: md,
        data: serde_json::json!({"stepped": rows.len(), "revisions": total, "total_ms": total_ms, "steps": data}),
    }
}
