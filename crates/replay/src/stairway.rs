//! R007, the stairway: for each revision in upgrade order, upgrade to it, downgrade one step
//! (a merge: to each parent in turn), upgrade again; the schema after the downgrade must be
//! the one before the upgrade, and the schema after the second upgrade the one after the
//! first. One Alembic interpreter and one env.py run take every step of a segment
//! (runner/session.rs, the wrapper's walk), SQL chains step with the in-process sql runner;
//! the catalog is compared between steps by its fingerprint (one query on one connection,
//! gate_schema::Fingerprint). Only when a fingerprint differs are the
//! two schemas read in full to name the difference: the current one from the database, the
//! expected one from a database of its own upgraded to the same revisions (the state it was
//! read from is gone by then). The first broken revision stops the stairway: the database is
//! no longer in a state the later steps could be judged from. A long chain is cut into
//! contiguous segments, one per core, each stepped on a database of its own upgraded to
//! where it starts; the segments' rows are joined in order, up to the first broken revision.

use std::time::Instant;

use gate_report::{Code, Finding, Report, Section};
use gate_schema::{Fingerprint, Snapshot};

use crate::ctx::{Ctx, Scratch, not_run};
use crate::error::ReplayError;
use crate::runner::{Failure, Runner, Target};
use crate::stepper::Stepper;

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
/// snapshot, and each fingerprint one round trip.
struct Reader<'a> {
    db: &'a Scratch,
    conn: sqlx::PgConnection,
}

impl<'a> Reader<'a> {
    async fn open(db: &'a Scratch) -> Result<Reader<'a>, ReplayError> {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&db.db.url).await.map_err(|e| {
            ReplayError::Runner(crate::runner::RunnerError::database(
                "cannot connect to the stairway's scratch database",
                e,
            ))
        })?;
        Snapshot::prepare_fingerprint_session(&mut conn)
            .await
            .map_err(|source| ReplayError::Schema {
                what: "cannot set up the catalog reads of the scratch database",
                database: db.db.name.clone(),
                source: Box::new(source),
            })?;
        Ok(Reader { db, conn })
    }

    async fn close(self) {
        use sqlx::Connection as _;
        let _ = self.conn.close().await;
    }

    /// Vacuums the catalogs the fingerprint reads: every step creates and drops objects, and
    /// their dead rows would make each later fingerprint scan more. Best effort (a role that
    /// may not vacuum them gets a warning, not an error; nothing depends on it).
    async fn tidy(&mut self) {
        let _ = sqlx::raw_sql(
            "VACUUM pg_catalog.pg_class, pg_catalog.pg_attribute, pg_catalog.pg_attrdef, \
             pg_catalog.pg_type, pg_catalog.pg_depend, pg_catalog.pg_index, \
             pg_catalog.pg_constraint",
        )
        .execute(&mut self.conn)
        .await;
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

    async fn fingerprint(&mut self) -> Result<Fingerprint, ReplayError> {
        Snapshot::fingerprint_in_session(&mut self.conn)
            .await
            .map_err(|source| ReplayError::Schema {
                what: "cannot read the catalog fingerprint of the scratch database",
                database: self.db.db.name.clone(),
                source: Box::new(source),
            })
    }
}

/// A schema state the stairway compares against: its fingerprint, and the full snapshot when
/// it was read (the empty database at the start).
struct State {
    fingerprint: Fingerprint,
    snapshot: Option<Snapshot>,
}

/// What broke in a step.
struct Broken {
    what: String,
    failure: Option<Failure>,
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
        let failure = self.step(ctx, up, target).await?;
        Ok(failure.map(|f| Broken {
            what: if f.timed_out {
                format!("{what} timed out after {}s", ctx.timeout.as_secs())
            } else {
                format!("{what} failed: {}", f.describe())
            },
            failure: Some(f),
        }))
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
    let jobs = crate::parts::segments(order.len(), crate::bounded::parallelism())
        .into_iter()
        .map(|range| segment(ctx, &order, range))
        .collect();
    let mut rows = Vec::new();
    let mut broken = None;
    // In order: the first broken revision of the chain stops the stairway, as when one
    // database steps them all; what later segments found is not reported.
    for outcome in crate::bounded::in_order(jobs, crate::bounded::parallelism()).await {
        let (segment_rows, segment_broken) = outcome?;
        if broken.is_none() {
            rows.extend(segment_rows);
            broken = segment_broken;
        }
    }
    if let Some((rev, b)) = &broken {
        report.findings.push(r007(rev, b, order.len() - rows.len()));
    }
    report.sections.push(section(&rows, order.len()));
    Ok(())
}

/// How many revisions a segment steps between two vacuums of the catalogs ([`Reader::tidy`]).
const TIDY_EVERY: usize = 20;

type Outcome<'a> = (Vec<Row>, Option<(&'a gate_chain::Revision, Broken)>);

/// The revisions `range` of `order` stepped on a database of their own, first upgraded to
/// every revision before the range.
async fn segment<'a>(
    ctx: &Ctx<'_>,
    order: &[&'a gate_chain::Revision],
    range: std::ops::Range<usize>,
) -> Result<Outcome<'a>, ReplayError> {
    let db = ctx.fresh().await?;
    let stepper = Stepper::open(ctx, &db).await;
    let result = match stepper {
        Ok(mut stepper) => {
            let r = match prepare(ctx, &mut stepper, order, range.start).await {
                Ok(None) => steps(ctx, &db, &mut stepper, order, range).await,
                Ok(Some(b)) => Ok((Vec::new(), Some((order[range.start], b)))),
                Err(e) => Err(e),
            };
            stepper.close().await;
            r
        }
        Err(e) => Err(e),
    };
    ctx.drop(&db).await;
    result
}

/// Upgrades a segment's database to every revision before `start` (one upgrade per head of
/// that prefix); `Some` says why it could not.
async fn prepare(
    ctx: &Ctx<'_>,
    stepper: &mut Stepper<'_>,
    order: &[&gate_chain::Revision],
    start: usize,
) -> Result<Option<Broken>, ReplayError> {
    for head in crate::parts::heads(&order[..start]) {
        let what = format!("upgrade to {head}, where this part of the stairway starts");
        if let Some(b) = stepper.run(ctx, true, head, &what).await? {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

async fn steps<'a>(
    ctx: &Ctx<'_>,
    db: &Scratch,
    stepper: &mut Stepper<'_>,
    order: &[&'a gate_chain::Revision],
    range: std::ops::Range<usize>,
) -> Result<Outcome<'a>, ReplayError> {
    let mut reader = Reader::open(db).await?;
    // The full schema only where it is cheap and most often needed: the empty database.
    let snapshot = if range.start == 0 {
        Some(reader.capture().await?)
    } else {
        None
    };
    let mut before = State {
        fingerprint: reader.fingerprint().await?,
        snapshot,
    };
    let mut rows = Vec::new();
    let sql = matches!(stepper, Stepper::Sql(..));
    for i in range.clone() {
        if (i - range.start) % TIDY_EVERY == TIDY_EVERY - 1 {
            reader.tidy().await;
        }
        let rev = order[i];
        let started = Instant::now();
        let down_to = downgrade_targets(rev, i, sql);
        let at = Position { order, index: i };
        let step = step(ctx, &mut reader, stepper, at, &down_to, &before).await?;
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
            Err(b) => {
                reader.close().await;
                return Ok((rows, Some((rev, b))));
            }
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

/// The revision being stepped: `order[index]`.
#[derive(Clone, Copy)]
struct Position<'o, 'a> {
    order: &'o [&'a gate_chain::Revision],
    index: usize,
}

/// Up, then for each target down and up again; `Ok` holds the state at the revision.
async fn step(
    ctx: &Ctx<'_>,
    reader: &mut Reader<'_>,
    stepper: &mut Stepper<'_>,
    at: Position<'_, '_>,
    down_to: &[String],
    before: &State,
) -> Result<Result<State, Broken>, ReplayError> {
    let rev = at.order[at.index];
    if let Some(b) = stepper.run(ctx, true, &rev.id, "upgrade to it").await? {
        return Ok(Err(b));
    }
    let first = State {
        fingerprint: reader.fingerprint().await?,
        snapshot: None,
    };
    for target in down_to {
        let down = format!("downgrade to {target}");
        if let Some(b) = stepper.run(ctx, false, target, &down).await? {
            return Ok(Err(b));
        }
        // Expected: every revision before this one applied.
        let expected = Expected {
            state: before,
            applied: &at.order[..at.index],
            name: "before its upgrade",
        };
        if let Some(b) = compare(ctx, reader, expected, &down).await? {
            return Ok(Err(b));
        }
        let again = format!("upgrade again after the {down}");
        if let Some(b) = stepper.run(ctx, true, &rev.id, &again).await? {
            return Ok(Err(b));
        }
        let expected = Expected {
            state: &first,
            applied: &at.order[..=at.index],
            name: "first upgrade",
        };
        if let Some(b) = compare(ctx, reader, expected, &again).await? {
            return Ok(Err(b));
        }
    }
    Ok(Ok(first))
}

/// The state a step must come back to, and how to build it again.
struct Expected<'s, 'o, 'a> {
    state: &'s State,
    /// The revisions applied in that state, in upgrade order.
    applied: &'o [&'a gate_chain::Revision],
    name: &'static str,
}

/// `None` when the database's fingerprint is the expected one, or when the full schemas
/// turn out equal for everything the diff compares (the runner's bookkeeping table, say).
async fn compare(
    ctx: &Ctx<'_>,
    reader: &mut Reader<'_>,
    expected: Expected<'_, '_, '_>,
    now_name: &str,
) -> Result<Option<Broken>, ReplayError> {
    if reader.fingerprint().await? == expected.state.fingerprint {
        return Ok(None);
    }
    let now = reader.capture().await?;
    let rebuilt;
    let then = match &expected.state.snapshot {
        Some(s) => s,
        None => match rebuild(ctx, expected.applied).await? {
            Ok(s) => {
                rebuilt = s;
                &rebuilt
            }
            Err(why) => {
                return Ok(Some(Broken {
                    what: format!(
                        "{now_name} gives a different schema than the {} (catalog fingerprints differ; the differences cannot be named: {why})",
                        expected.name
                    ),
                    failure: None,
                }));
            }
        },
    };
    Ok(differs(ctx, then, &now, expected.name, now_name))
}

/// The schema with `applied` upgraded on a database of its own: the heads of `applied`, one
/// upgrade each (an ancestor-closed prefix of the upgrade order, so that is all of it). `Err`
/// says why it could not be built.
async fn rebuild(
    ctx: &Ctx<'_>,
    applied: &[&gate_chain::Revision],
) -> Result<Result<Snapshot, String>, ReplayError> {
    let db = ctx.fresh().await?;
    let mut result = Ok(());
    for head in crate::parts::heads(applied) {
        let target = Target::Revision(head.to_string());
        match ctx
            .runner
            .upgrade(&db.env, &target, ctx.deadline, &mut |_| {})
            .await
        {
            Ok(outcome) => {
                if let Some(f) = outcome.failure {
                    result = Err(format!("upgrade to {head} failed: {}", f.describe()));
                    break;
                }
            }
            Err(e) => {
                result = Err(format!("upgrade to {head}: {e}"));
                break;
            }
        }
    }
    let snapshot = match result {
        Ok(()) => ctx.capture(&db).await.map(Ok),
        Err(why) => Ok(Err(why)),
    };
    ctx.drop(&db).await;
    snapshot
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
