//! One pass over the chain for the fixes it can decide, before any is checked alone.
//!
//! Checked alone (checks.rs, tails.rs), every fix needs a database at its applied-after (a
//! copy of a template: `CREATE DATABASE … TEMPLATE` writes the whole catalog, a third of a
//! clean replay of a 100-table chain), two full schema reads, and a production path. But
//! production ran the fixes one after another on one database, and so does this pass: one
//! scratch database migrated from empty, each fix applied at its applied-after in the order
//! production ran them (applied-after, applied-on, registry order) and applied again, then
//! the chain to head and one schema read. Between them only cheap reads: the catalog's
//! fingerprint with the rows (before, after one run, after two), and which catalog rows the
//! fix's own transactions wrote (their `xmin` lies between two transaction ids taken around
//! it: no one else writes to a scratch database meanwhile).
//!
//! With enough fixes the pass is cut in one per core ([`deal`]), each on a database of its
//! own walking the whole chain: the fixes' own runs (a Python start each) are most of the
//! work, and one pass leaves a core idle once the upgrade from empty beside it is done. A fix
//! in one pass never sees those of another; what it touched is compared across passes by
//! name ([`independent`]).
//!
//! A fix gets its verdict from the pass only where the pass shows it is the verdict it gets
//! alone:
//! - its first run changed the schema or rows, its second succeeded and changed neither
//!   (`applied, idempotent`); its rollback, if any, restored the state before it, and one
//!   more run the state after one (`rollback restores`), so the path goes on from one
//!   application;
//! - what it created or altered, and the tables whose rows it changed, are disjoint from every
//!   other fix's in the passes, and no object of one depends (`pg_depend`) on an object of the
//!   other: neither saw the other;
//! - every difference between the pass at head and the migrations alone is of some fix's
//!   objects: those of a fix independent of the others are its F004 (F005 when converted).
//!
//! Every other fix (it fails, changes nothing, touches what another touched)
//! is checked alone as before; a step that fails (a migration on the path, a fix's run, a
//! second run that changes something) ends the pass and leaves every fix to those checks, and
//! so does a difference at head no fix's objects explain (what a DROP removed leaves no row
//! to see). The assumption left is tails.rs's: a fix does not read rows of another's tables.

use std::collections::BTreeSet;
use std::time::Instant;

use gate_policy::Script;
use gate_report::Finding;
use gate_schema::{Difference, Snapshot};
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

use super::checks::schema_verdict;
use super::{
    Applied, Digest, FixSummary, apply, count_words, run_command, runs_commands, target, work_copy,
};
use crate::ctx::{Ctx, Scratch};
use crate::error::ReplayError;
use crate::runner::{RunnerError, Target};
use crate::stepper::Stepper;

/// A fix the pass decided: its findings and its row of the section.
pub(super) struct Decided {
    /// Its index in the registry order `verify` checks.
    pub fix: usize,
    pub found: Vec<Finding>,
    pub summary: FixSummary,
}

/// What the pass saw of one fix.
struct Member {
    fix: usize,
    /// Which of the passes applied it ([`Walked::passes`]): OIDs are compared only within one.
    pass: usize,
    /// The first run changed something; the second succeeded and changed nothing (and its
    /// rollback restored the state before it, then one more run the state after one).
    clean: bool,
    /// What it created or altered, named as a snapshot names objects (`public.t`,
    /// `public.t column c`, `public.t constraint k`, `public.f(integer)`, `public.t.trigger`),
    /// and the tables whose rows it changed (`public.t`).
    names: BTreeSet<String>,
    /// The OIDs of the catalog rows its transactions wrote.
    made: BTreeSet<i64>,
    /// The OIDs the dependencies it recorded point at.
    refers_to: BTreeSet<i64>,
    written: Vec<String>,
}

/// What the passes saw: every fix they applied, and each pass's schema at head. They need no
/// clean head, so they run while the upgrade from empty does ([`crate::run`]).
pub(crate) struct Walked {
    members: Vec<Member>,
    /// Per pass, its schema at head.
    passes: Vec<Snapshot>,
    ms: u128,
}

/// Fewest fixes a pass of its own is worth: each pass upgrades the whole chain again.
const FIXES_PER_PASS: usize = 4;

/// `order` dealt out to at most `parallel` passes of at least [`FIXES_PER_PASS`] fixes each,
/// every pass keeping production's order. Dealt in turn rather than cut in ranges (every pass
/// walks the whole chain anyway), and in turn within each kind (`heavy`: a `run` fix, which
/// starts a process for each of its applications; an `sql` fix runs in-process), so no pass
/// gets all the process starts.
fn deal(order: &[usize], heavy: impl Fn(usize) -> bool, parallel: usize) -> Vec<Vec<usize>> {
    let count = (order.len() / FIXES_PER_PASS).clamp(1, parallel.max(1));
    let mut passes = vec![Vec::new(); count];
    let (mut light, mut heavies) = (0, 0);
    for &fix in order {
        let turn = if heavy(fix) { &mut heavies } else { &mut light };
        passes[*turn % count].push(fix);
        *turn += 1;
    }
    passes
}

/// The passes over the chain with every fix they can take, one per core where there are
/// enough fixes (`None` when fewer than two fixes, or when a step of any pass failed: every
/// fix is then checked alone). A fix in one pass never sees the fixes of another; [`decide`]
/// takes that into account.
pub(super) async fn walk_pass(
    ctx: &Ctx<'_>,
    scripts: &[&Script],
) -> Result<Option<Walked>, ReplayError> {
    let order = in_production_order(ctx, scripts);
    // One fix alone costs the same either way.
    if order.len() < 2 {
        return Ok(None);
    }
    let dealt = deal(
        &order,
        |fix| scripts[fix].run.is_some(),
        crate::bounded::parallelism(),
    );
    ctx.progress.stage(&format!(
        "emergency fixes: {} over the chain with {} fixes",
        count_words(dealt.len(), "pass", "passes"),
        order.len()
    ));
    let started = Instant::now();
    let jobs: Vec<_> = dealt
        .iter()
        .enumerate()
        .map(|(pass, fixes)| walk_one(ctx, scripts, pass, fixes))
        .collect();
    let mut walked = Walked {
        members: Vec::new(),
        passes: Vec::new(),
        ms: 0,
    };
    for outcome in crate::bounded::in_order(jobs, dealt.len()).await {
        match outcome? {
            Some((members, at_head)) => {
                walked.members.extend(members);
                walked.passes.push(at_head);
            }
            None => return Ok(None),
        }
    }
    walked.ms = started.elapsed().as_millis();
    Ok(Some(walked))
}

/// One pass on a database of its own: its members and its schema at head.
async fn walk_one(
    ctx: &Ctx<'_>,
    scripts: &[&Script],
    pass: usize,
    order: &[usize],
) -> Result<Option<(Vec<Member>, Snapshot)>, ReplayError> {
    let db = ctx.fresh().await?;
    let walked = match walk(ctx, scripts, pass, order, &db).await {
        Ok(Some(members)) => ctx.capture(&db).await.map(|s| Some((members, s))),
        other => other.map(|_| None),
    };
    ctx.drop(&db).await;
    walked
}

/// The verdicts of every fix the pass decides (see the module's comment); the others are for
/// the checks alone.
pub(super) fn one_pass(
    ctx: &Ctx<'_>,
    scripts: &[&Script],
    walked: &Walked,
    clean_head: &Snapshot,
) -> Vec<Decided> {
    let differences: Vec<Vec<Difference>> = walked
        .passes
        .iter()
        .map(|at_head| ctx.diff(clean_head, at_head, "migrations alone", "production path"))
        .collect();
    decide(scripts, &walked.members, &differences, walked.ms)
}

/// The fixes the pass can take, in the order production ran them: each at a revision of the
/// chain the runner can tell the revisions of, holding every revision the one before holds.
fn in_production_order(ctx: &Ctx<'_>, scripts: &[&Script]) -> Vec<usize> {
    if !ctx.runner.supports_targets() {
        return Vec::new();
    }
    let at_revisions =
        (0..scripts.len()).filter(|&i| matches!(target(scripts[i]), Target::Revision(_)));
    super::along_the_path(ctx, scripts, at_revisions.map(|i| (i, i)), |_| true)
}

/// On `db` (empty): each fix of `order` at its applied-after, twice, then the chain to head.
/// `None` at the first step that fails. The upgrades go through one stepper; the reads through
/// one connection of their own, idle (outside any transaction) while a fix runs.
async fn walk(
    ctx: &Ctx<'_>,
    scripts: &[&Script],
    pass: usize,
    order: &[usize],
    db: &Scratch,
) -> Result<Option<Vec<Member>>, ReplayError> {
    let mut conn = PgConnection::connect(&db.db.url).await.map_err(|e| {
        RunnerError::database("cannot connect to the scratch database of the fix pass", e)
    })?;
    let mut stepper = Stepper::open(ctx, db).await?;
    let r = steps(ctx, scripts, pass, order, db, &mut stepper, &mut conn).await;
    stepper.close().await;
    let _ = conn.close().await;
    r
}

async fn steps(
    ctx: &Ctx<'_>,
    scripts: &[&Script],
    pass: usize,
    order: &[usize],
    db: &Scratch,
    stepper: &mut Stepper<'_>,
    conn: &mut PgConnection,
) -> Result<Option<Vec<Member>>, ReplayError> {
    let mut members = Vec::new();
    // One copy of the work tree for every fix of the pass that runs a command, restored
    // before each.
    let mut shared: Option<crate::workcopy::WorkCopy> = None;
    for &fix in order {
        let script = scripts[fix];
        if stepper.upgrade(ctx, &target(script)).await?.is_some() {
            return Ok(None);
        }
        let pre = Digest::read_on(ctx, conn, db).await?;
        let runs_commands = runs_commands(script);
        let work = match shared.take() {
            Some(w) if runs_commands => restored(ctx, script, w).await?,
            kept => {
                shared = kept;
                work_copy(ctx, script).await?
            }
        };
        let from = transaction_id(conn).await?;
        if let Applied::Failed(_) = apply(ctx, script, db, &work).await? {
            return Ok(None);
        }
        let once = Digest::read_on(ctx, conn, db).await?;
        // Two applications on the path: the checks alone start from one.
        if !again(ctx, script, db, &work, conn, &once).await? {
            return Ok(None);
        }
        if let Some(rollback) = &script.rollback {
            // Rolled back to where it started, then applied once more: the path goes on with
            // one application, as production's did.
            let rolled_back = run_command(ctx, rollback, &[], db, &work).await?;
            if matches!(rolled_back, Applied::Failed(_))
                || !Digest::read_on(ctx, conn, db).await?.same(&pre)
                || !again(ctx, script, db, &work, conn, &once).await?
            {
                return Ok(None);
            }
        }
        let to = transaction_id(conn).await?;
        let Some(mut wrote) = written_between(conn, from, to).await? else {
            return Ok(None);
        };
        wrote
            .names
            .extend(pre.data.changed_tables(&once.data).map(String::from));
        members.push(Member {
            fix,
            pass,
            clean: !once.same(&pre),
            names: wrote.names,
            made: wrote.made,
            refers_to: wrote.refers_to,
            written: work.written(),
        });
        if runs_commands {
            shared = Some(work);
        }
    }
    if stepper.upgrade(ctx, &Target::Head).await?.is_some() {
        return Ok(None);
    }
    Ok(Some(members))
}

/// `work` restored for `script`'s commands (off the async threads: it walks the copy); a
/// new copy when it cannot be (a command left a folder it may not be emptied).
async fn restored(
    ctx: &Ctx<'_>,
    script: &Script,
    mut work: crate::workcopy::WorkCopy,
) -> Result<crate::workcopy::WorkCopy, ReplayError> {
    let root = ctx.settings.root.clone();
    let restored = tokio::task::spawn_blocking(move || work.restore(&root).map(|()| work))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    match restored {
        Ok(work) => Ok(work),
        Err(_) => work_copy(ctx, script).await,
    }
}

/// Apply `script` once more: whether it succeeded and left the state `expected`.
async fn again(
    ctx: &Ctx<'_>,
    script: &Script,
    db: &Scratch,
    work: &crate::workcopy::WorkCopy,
    conn: &mut PgConnection,
    expected: &Digest,
) -> Result<bool, ReplayError> {
    Ok(matches!(apply(ctx, script, db, work).await?, Applied::Ok)
        && Digest::read_on(ctx, conn, db).await?.same(expected))
}

/// A new transaction id (its low 32 bits, what `xmin` holds): every transaction that starts
/// after this one has a larger one, until the counter wraps.
async fn transaction_id(conn: &mut PgConnection) -> Result<i64, ReplayError> {
    sqlx::query_scalar("SELECT pg_current_xact_id()::text::int8 % 4294967296")
        .fetch_one(conn)
        .await
        .map_err(|e| {
            RunnerError::database("cannot read a transaction id on the scratch database", e).into()
        })
}

/// What transactions with ids strictly between `from` and `to` wrote to the catalog.
#[derive(Default)]
struct Wrote {
    names: BTreeSet<String>,
    made: BTreeSet<i64>,
    refers_to: BTreeSet<i64>,
}

/// One statement for all three lists: `name` rows (objects created or altered, named as a
/// snapshot names them), `made` rows (their OIDs), `refers` rows (what their new dependencies
/// point at).
const WRITTEN: &str = "
WITH span AS (SELECT $1::int8 AS lo, $2::int8 AS hi)
SELECT 'name', n.nspname || '.' || c.relname FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace, span
  WHERE c.xmin::text::int8 > lo AND c.xmin::text::int8 < hi
UNION ALL SELECT 'name', n.nspname || '.' || c.relname || ' column ' || a.attname
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace, span
  WHERE a.attnum > 0 AND NOT a.attisdropped
    AND a.xmin::text::int8 > lo AND a.xmin::text::int8 < hi
UNION ALL SELECT 'name', n.nspname || '.' || c.relname || ' constraint ' || k.conname
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace, span
  WHERE k.xmin::text::int8 > lo AND k.xmin::text::int8 < hi
UNION ALL SELECT 'name', n.nspname || '.' || t.typname FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace, span
  WHERE t.xmin::text::int8 > lo AND t.xmin::text::int8 < hi
UNION ALL SELECT 'name', n.nspname || '.' || t.typname FROM pg_enum e
  JOIN pg_type t ON t.oid = e.enumtypid JOIN pg_namespace n ON n.oid = t.typnamespace, span
  WHERE e.xmin::text::int8 > lo AND e.xmin::text::int8 < hi
UNION ALL SELECT 'name', n.nspname || '.' || p.proname
    || '(' || pg_get_function_identity_arguments(p.oid) || ')'
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace, span
  WHERE p.xmin::text::int8 > lo AND p.xmin::text::int8 < hi
UNION ALL SELECT 'name', n.nspname || '.' || c.relname || '.' || g.tgname
  FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace, span
  WHERE NOT g.tgisinternal AND g.xmin::text::int8 > lo AND g.xmin::text::int8 < hi
UNION ALL SELECT 'name', nspname FROM pg_namespace, span
  WHERE xmin::text::int8 > lo AND xmin::text::int8 < hi
UNION ALL SELECT 'name', extname FROM pg_extension, span
  WHERE xmin::text::int8 > lo AND xmin::text::int8 < hi
UNION ALL SELECT 'made', oid::text FROM (
    SELECT oid, xmin FROM pg_class UNION ALL SELECT oid, xmin FROM pg_type
    UNION ALL SELECT oid, xmin FROM pg_proc UNION ALL SELECT oid, xmin FROM pg_namespace
    UNION ALL SELECT oid, xmin FROM pg_constraint UNION ALL SELECT oid, xmin FROM pg_trigger
    UNION ALL SELECT oid, xmin FROM pg_extension) o, span
  WHERE o.xmin::text::int8 > lo AND o.xmin::text::int8 < hi
UNION ALL SELECT 'refers', refobjid::text FROM pg_depend, span
  WHERE refobjid <> 0 AND xmin::text::int8 > lo AND xmin::text::int8 < hi";

/// What the fix's transactions wrote; `None` when the transaction counter wrapped between
/// `from` and `to` (the span cannot be told apart then).
async fn written_between(
    conn: &mut PgConnection,
    from: i64,
    to: i64,
) -> Result<Option<Wrote>, ReplayError> {
    if to <= from {
        return Ok(None);
    }
    let rows: Vec<(String, String)> = sqlx::query_as(WRITTEN)
        .bind(from)
        .bind(to)
        .fetch_all(conn)
        .await
        .map_err(|e| RunnerError::database("cannot read what a fix wrote to the catalog", e))?;
    let mut wrote = Wrote::default();
    for (kind, value) in rows {
        match kind.as_str() {
            "name" => {
                wrote.names.insert(value);
            }
            "made" => wrote.made.extend(value.parse::<i64>().ok()),
            _ => wrote.refers_to.extend(value.parse::<i64>().ok()),
        }
    }
    Ok(Some(wrote))
}

/// The verdicts the pass gives (see the module's comment), sharing its time `ms` out.
fn decide(
    scripts: &[&Script],
    members: &[Member],
    differences: &[Vec<Difference>],
    ms: u128,
) -> Vec<Decided> {
    let Some(owned) = owners(differences, members) else {
        return Vec::new();
    };
    let apart: Vec<usize> = (0..members.len())
        .filter(|&m| members[m].clean)
        .filter(|&m| {
            (0..members.len())
                .filter(|&o| o != m)
                .all(|o| independent(&members[m], &members[o]))
        })
        .collect();
    let runs = count_words(differences.len(), "run", "runs");
    let words = |w: &str| format!("{w} ({runs} shared by {} fixes)", members.len());
    let share = ms / apart.len().max(1) as u128;
    apart
        .into_iter()
        .map(|m| {
            let member = &members[m];
            let script = scripts[member.fix];
            let mut found = Vec::new();
            let verdict = schema_verdict(script, &owned[m], &mut found);
            let mut summary = FixSummary::new(script);
            summary.checks = vec!["applied".into(), "idempotent".into()];
            if script.rollback.is_some() {
                summary.checks.push("rollback restores".into());
            }
            summary
                .checks
                .push(format!("production path: {}", words(verdict)));
            summary.written = member.written.clone();
            summary.ms = share;
            Decided {
                fix: member.fix,
                found,
                summary,
            }
        })
        .collect()
}

/// Neither touched what the other did (by table: two fixes altering one table's columns are
/// not apart), and nothing one made depends on what the other made. OIDs tell that only
/// within one pass (one database); across passes neither saw the other, and an object of one
/// that needs the other's is missing in its pass: the step fails and no pass decides.
fn independent(a: &Member, b: &Member) -> bool {
    let units = |m: &Member| -> BTreeSet<String> { m.names.iter().map(|n| unit(n)).collect() };
    units(a).is_disjoint(&units(b))
        && (a.pass != b.pass
            || (a.refers_to.is_disjoint(&b.made) && b.refers_to.is_disjoint(&a.made)))
}

/// The object a name belongs to: a column or constraint belongs to its table.
fn unit(name: &str) -> String {
    [" column ", " constraint "]
        .iter()
        .find_map(|sep| name.split_once(sep).map(|(table, _)| table.to_string()))
        .unwrap_or_else(|| name.to_string())
}

/// Each pass's `differences` (at head, against the migrations alone) given to each of its
/// members whose names hold their object, in member order; `None` when one has no owner.
/// (Two owners name one object, so neither is independent of the other, and neither verdict
/// is the pass's.)
fn owners(differences: &[Vec<Difference>], members: &[Member]) -> Option<Vec<Vec<Difference>>> {
    let mut owned = vec![Vec::new(); members.len()];
    for (pass, d) in differences
        .iter()
        .enumerate()
        .flat_map(|(pass, ds)| ds.iter().map(move |d| (pass, d)))
    {
        let key = gate_recovery::difference_key(d);
        // `table public.users column note` is `public.users column note` in a member's names.
        let name = key.split_once(' ').map_or(key.as_str(), |(_, rest)| rest);
        let by: Vec<usize> = (0..members.len())
            .filter(|&m| members[m].pass == pass && members[m].names.contains(name))
            .collect();
        if by.is_empty() {
            return None;
        }
        for m in by {
            owned[m].push(d.clone());
        }
    }
    Some(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(fix: usize, names: &[&str], made: &[i64], refers_to: &[i64]) -> Member {
        Member {
            fix,
            pass: 0,
            clean: true,
            names: names.iter().map(|s| s.to_string()).collect(),
            made: made.iter().copied().collect(),
            refers_to: refers_to.iter().copied().collect(),
            written: Vec::new(),
        }
    }

    fn diff(object: &str, detail: &str) -> Difference {
        Difference {
            object: object.into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn each_difference_goes_to_the_member_that_wrote_its_object() {
        let a = member(0, &["public.fix_a", "public.fix_a column id"], &[], &[]);
        let b = member(1, &["public.users column note", "public.ix_note"], &[], &[]);
        let d = [
            diff("table public.fix_a", "only in production path"),
            diff("table public.users", "column note only in production path"),
            diff("index public.ix_note", "only in production path"),
        ];
        let owned = owners(&[d.to_vec()], &[a, b]).expect("every difference has one owner");
        assert_eq!(owned[0], d[..1]);
        assert_eq!(owned[1], d[1..]);
    }

    #[test]
    fn a_difference_no_member_wrote_decides_nothing() {
        let a = member(0, &["public.fix_a"], &[], &[]);
        let d = [diff(
            "table public.users",
            "column note only in migrations alone",
        )];
        assert!(owners(&[d.to_vec()], &[a]).is_none());
    }

    #[test]
    fn columns_of_one_table_are_not_apart_and_neither_is_a_dependency() {
        let a = member(0, &["public.users column note"], &[], &[]);
        let b = member(1, &["public.users column memo"], &[], &[]);
        assert!(!independent(&a, &b));
        // b's index (made 20) is on a's table (made 10).
        let a = member(0, &["public.fix_a"], &[10], &[2200]);
        let b = member(1, &["public.fix_a_name_idx"], &[20], &[10]);
        assert!(!independent(&a, &b));
        let c = member(2, &["public.fix_c"], &[30], &[2200]);
        assert!(independent(&a, &c));
    }

    #[test]
    fn a_difference_is_owned_only_by_a_member_of_the_pass_that_shows_it() {
        let a = member(0, &["public.fix_a"], &[], &[]);
        let mut b = member(1, &["public.fix_b"], &[], &[]);
        b.pass = 1;
        let d = diff("table public.fix_a", "only in production path");
        let owned = owners(&[vec![d.clone()], vec![]], &[a, b]).expect("a owns it");
        assert_eq!(owned, [vec![d.clone()], vec![]]);
        // Shown by the second pass, where fix_a was never applied: nobody there wrote it.
        let a = member(0, &["public.fix_a"], &[], &[]);
        let mut b = member(1, &["public.fix_b"], &[], &[]);
        b.pass = 1;
        assert!(owners(&[vec![], vec![d]], &[a, b]).is_none());
    }

    #[test]
    fn across_passes_names_tell_apart_and_oids_do_not() {
        // The same OIDs in two databases are different objects.
        let a = member(0, &["public.fix_a"], &[10], &[2200]);
        let mut b = member(1, &["public.fix_b_idx"], &[20], &[10]);
        assert!(!independent(&a, &b));
        b.pass = 1;
        assert!(independent(&a, &b));
        // One table touched in both passes is never apart.
        let mut c = member(2, &["public.fix_a column note"], &[], &[]);
        c.pass = 1;
        assert!(!independent(&a, &c));
    }

    #[test]
    fn fixes_are_dealt_in_turn_to_passes_worth_their_walk() {
        let order: Vec<usize> = (0..9).collect();
        let none = |_| false;
        assert_eq!(
            deal(&order, none, 2),
            [vec![0, 2, 4, 6, 8], vec![1, 3, 5, 7]]
        );
        // Every other fix starts a process: those are dealt in turn among themselves.
        let odd = |f: usize| f % 2 == 1;
        assert_eq!(
            deal(&order, odd, 2),
            [vec![0, 1, 4, 5, 8], vec![2, 3, 6, 7]]
        );
        // Fewer than two passes' worth: one pass, whatever the cores.
        assert_eq!(deal(&order[..7], none, 8), [order[..7].to_vec()]);
        assert_eq!(deal(&order, none, 1), std::slice::from_ref(&order));
        assert_eq!(deal(&order, none, 0), [order]);
    }
}
