//! F003–F005, the production path of each fix: the fix where production ran it, then the
//! later migrations to head. Checked alone, every fix migrates its own tail of the chain (on
//! average half of it) and reads the schema at head: with twenty fixes, ten replays' worth.
//!
//! So fixes that touched different objects share one run: starting from the first one's
//! database right after its application, the run upgrades to each next fix's `applied-after`,
//! applies it, and at the end upgrades to head and reads the schema once. Its verdicts are
//! each fix's own when
//! - the fixes' touched objects (schema objects and tables whose rows changed, from their
//!   checks at applied-after, `checks::touched`) are pairwise disjoint: no fix can have
//!   changed what another created, filled or depends on;
//! - every application and every migration of the shared run succeeds: then no fix's own
//!   tail fails either (a migration that fails alone after one fix fails after the same
//!   objects in the shared run; the others' objects are not ones it touches);
//! - every difference at head belongs to exactly one fix's objects: that fix's F004/F005.
//!
//! Where one of these does not hold (a conflict, two fixes touching one table, a difference
//! no fix's objects explain), every fix of the shared run is checked alone as before, so a
//! verdict is never the shared run's guess. The assumption left: a migration's effect on one
//! fix's objects does not depend on another fix's disjoint objects.

use std::collections::BTreeSet;
use std::time::Instant;

use gate_policy::Script;
use gate_report::Finding;
use gate_schema::{Difference, Snapshot};

use super::checks::{production_tail, schema_verdict};
use super::{Applied, apply, target, work_copy};
use crate::ctx::{Ctx, Scratch};
use crate::error::ReplayError;
use crate::runner::Target;
use crate::stepper::Stepper;

/// Where one fix's production path starts: its database right after one application at
/// applied-after (this owns it), and what that application touched.
pub(super) struct Pending {
    pub once: Scratch,
    /// `false` for a fix at head (no applied-after): nothing to upgrade, only the schema.
    pub continue_upgrade: bool,
    pub touched: BTreeSet<String>,
}

/// One fix's production path verdict.
pub(super) struct Verdict {
    /// The fix's index in the registry order `verify` checks.
    pub fix: usize,
    pub found: Vec<Finding>,
    /// For the section: what the path gave, and whether the run was shared.
    pub words: String,
    pub ms: u128,
}

/// The production path of every fix in `pending` (`(registry index, start)`), each start
/// dropped at the end whatever happens.
pub(super) async fn production_paths(
    ctx: &Ctx<'_>,
    scripts: &[&Script],
    pending: Vec<(usize, Pending)>,
    clean_head: &Snapshot,
) -> Result<Vec<Verdict>, ReplayError> {
    let r = decide(ctx, scripts, &pending, clean_head).await;
    for (_, p) in &pending {
        ctx.drop(&p.once).await;
    }
    r
}

async fn decide(
    ctx: &Ctx<'_>,
    scripts: &[&Script],
    pending: &[(usize, Pending)],
    clean_head: &Snapshot,
) -> Result<Vec<Verdict>, ReplayError> {
    let group = shareable(ctx, scripts, pending);
    let mut verdicts = Vec::new();
    if group.len() > 1 {
        ctx.progress.stage(&format!(
            "production path shared by {} emergency fixes",
            group.len()
        ));
        if let Some(v) = shared(ctx, scripts, pending, &group, clean_head).await? {
            verdicts = v;
        }
    }
    // Every fix the shared run did not decide: alone, at most one per core.
    let decided: BTreeSet<usize> = verdicts.iter().map(|v| v.fix).collect();
    let alone: Vec<_> = pending
        .iter()
        .filter(|(i, _)| !decided.contains(i))
        .map(|(i, p)| async move {
            let script = scripts[*i];
            ctx.progress
                .stage(&format!("production path of {}", script.path));
            let started = Instant::now();
            let mut found = Vec::new();
            let words = production_tail(
                ctx,
                script,
                &p.once,
                clean_head,
                p.continue_upgrade,
                &mut found,
            )
            .await?;
            Ok::<_, ReplayError>(Verdict {
                fix: *i,
                found,
                words: words.to_string(),
                ms: started.elapsed().as_millis(),
            })
        })
        .collect();
    for v in crate::bounded::in_order(alone, crate::bounded::parallelism()).await {
        verdicts.push(v?);
    }
    verdicts.sort_by_key(|v| v.fix);
    Ok(verdicts)
}

/// The fixes (positions in `pending`) that can share one run, in the order production ran
/// them: each needs an upgrade after it, its applied-after holds every revision of the one
/// before (the runner can tell: `Runner::applied_at`), and it touched nothing another member
/// touched. Taken greedily in path order (applied-after, applied-on, registry order).
fn shareable(ctx: &Ctx<'_>, scripts: &[&Script], pending: &[(usize, Pending)]) -> Vec<usize> {
    let mut taken: BTreeSet<&str> = BTreeSet::new();
    super::along_the_path(
        ctx,
        scripts,
        pending
            .iter()
            .enumerate()
            .filter(|(_, (_, p))| p.continue_upgrade)
            .map(|(pos, (i, _))| (pos, *i)),
        |&pos| {
            let touched = &pending[pos].1.touched;
            let apart = touched.iter().all(|k| !taken.contains(k.as_str()));
            if apart {
                taken.extend(touched.iter().map(String::as_str));
            }
            apart
        },
    )
}

/// The shared run of `group`; `None` when its verdicts would not be each fix's own (see the
/// module's comment), and those fixes are checked alone.
async fn shared(
    ctx: &Ctx<'_>,
    scripts: &[&Script],
    pending: &[(usize, Pending)],
    group: &[usize],
    clean_head: &Snapshot,
) -> Result<Option<Vec<Verdict>>, ReplayError> {
    let started = Instant::now();
    // A copy: the first fix's own start is still needed if the run decides nothing.
    let db = ctx.copy(&pending[group[0]].1.once).await?;
    let r = shared_on(ctx, scripts, pending, group, &db).await;
    ctx.drop(&db).await;
    let Some(at_head) = r? else {
        return Ok(None);
    };
    let differences = ctx.diff(clean_head, &at_head, "migrations alone", "production path");
    let Some(owned) = owners(&differences, group.iter().map(|&g| &pending[g].1.touched)) else {
        return Ok(None);
    };
    // The run's time, shared out: each fix's row in the section shows its part.
    let ms = started.elapsed().as_millis() / group.len() as u128;
    let words = |w: &str| format!("{w} (one run shared by {} fixes)", group.len());
    Ok(Some(
        group
            .iter()
            .zip(owned)
            .map(|(&g, mine)| {
                let i = pending[g].0;
                let mut found = Vec::new();
                let w = schema_verdict(scripts[i], &mine, &mut found);
                Verdict {
                    fix: i,
                    found,
                    words: words(w),
                    ms,
                }
            })
            .collect(),
    ))
}

/// On `db` (the first fix applied at its applied-after): every later fix of `group` at its
/// applied-after, then head; the schema at head, or `None` at the first step that fails. The
/// upgrades go through one stepper (one Alembic interpreter, or one connection), not one
/// runner start each; it sits idle, outside any transaction, while a fix runs.
async fn shared_on(
    ctx: &Ctx<'_>,
    scripts: &[&Script],
    pending: &[(usize, Pending)],
    group: &[usize],
    db: &Scratch,
) -> Result<Option<Snapshot>, ReplayError> {
    let mut stepper = Stepper::open(ctx, db).await?;
    let r = async {
        for &g in &group[1..] {
            let script = scripts[pending[g].0];
            if stepper.upgrade(ctx, &target(script)).await?.is_some() {
                return Ok(false);
            }
            let work = work_copy(ctx, script).await?;
            if let Applied::Failed(_) = apply(ctx, script, db, &work).await? {
                return Ok(false);
            }
        }
        Ok::<_, ReplayError>(stepper.upgrade(ctx, &Target::Head).await?.is_none())
    }
    .await;
    stepper.close().await;
    if !r? {
        return Ok(None);
    }
    ctx.capture(db).await.map(Some)
}

/// `differences` split by the member whose touched objects hold each one's key, in member
/// order; `None` when one has no owner or more than one.
fn owners<'a>(
    differences: &[Difference],
    touched: impl Iterator<Item = &'a BTreeSet<String>>,
) -> Option<Vec<Vec<Difference>>> {
    let touched: Vec<&BTreeSet<String>> = touched.collect();
    let mut owned = vec![Vec::new(); touched.len()];
    for d in differences {
        let key = gate_recovery::difference_key(d);
        let mut by = (0..touched.len()).filter(|&m| touched[m].contains(&key));
        let (Some(only), None) = (by.next(), by.next()) else {
            return None;
        };
        owned[only].push(d.clone());
    }
    Some(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(object: &str, detail: &str) -> Difference {
        Difference {
            object: object.into(),
            detail: detail.into(),
        }
    }

    fn keys(k: &[&str]) -> BTreeSet<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_difference_goes_to_the_one_fix_that_touched_its_object() {
        let a = keys(&["table public.fix_a"]);
        let b = keys(&["table public.users column note", "index public.ix_note"]);
        let d = [
            diff("table public.fix_a", "only in production path"),
            diff("table public.users", "column note only in production path"),
            diff("index public.ix_note", "only in production path"),
        ];
        let owned = owners(&d, [&a, &b].into_iter()).expect("every difference has one owner");
        assert_eq!(owned[0], d[..1]);
        assert_eq!(owned[1], d[1..]);
    }

    #[test]
    fn a_difference_nobody_touched_decides_nothing() {
        let a = keys(&["table public.fix_a"]);
        let d = [diff("table public.other", "only in production path")];
        assert!(owners(&d, [&a].into_iter()).is_none());
    }
}
