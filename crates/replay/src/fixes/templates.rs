//! One template database per distinct `applied-after`, built in one forward pass while the
//! fixes already checked run: each template is a copy (`CREATE DATABASE … TEMPLATE`) of the
//! deepest template already built whose revisions it includes, upgraded the rest of the way.
//! A linear chain is thus migrated once in all, not once per fix.
//!
//! Why this gives the same databases as a replay from empty: the copy holds a subset of the
//! revisions the target needs (`Runner::applied_at`), and upgrading it to the target applies
//! the rest in the same order. Where the runner cannot tell (command runner, symbolic
//! dependencies), a template is built from an empty database as before.
//!
//! Each fix gets the database it starts from as soon as it exists: a copy of its template for
//! all but the last fix at that target, and the template itself for the last one, once no
//! later template will be copied from it. A copy costs a good part of a clean replay here
//! (`CREATE DATABASE` writes the whole catalog), so this saves one per target; and a fix no
//! longer waits for the templates of the fixes after it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use gate_policy::Script;
use tokio::sync::Notify;

use super::{State, target, target_name};
use crate::ctx::{Ctx, Scratch};
use crate::error::ReplayError;
use crate::runner::Target;

/// A database at one revision, and its schema and rows (every copy starts with them).
struct Template {
    db: Scratch,
    state: Arc<State>,
    /// What it holds, when the runner can tell (`Runner::applied_at`).
    applied: Option<BTreeSet<String>>,
}

/// Where a fix starts: its own database at `applied-after` and the state it is in, or why
/// there is none (the chain does not build that far).
pub(super) type Start = Result<(Scratch, Arc<State>), String>;

/// The start databases, handed from the builder ([`Templates::build`]) to the fixes
/// ([`Templates::take_start`]) as they are made.
#[derive(Default)]
pub(super) struct Templates {
    /// By the fix's index in `scripts`, until it takes it.
    starts: Mutex<BTreeMap<usize, Start>>,
    /// The builder has ended: a fix with no start now gets none.
    done: AtomicBool,
    ready: Notify,
}

/// A built template no fix owns yet, and the fix that gets it once nothing copies from it.
struct Live {
    template: Template,
    last_user: usize,
}

impl Templates {
    /// Build the template of every target `scripts` need, shallowest first, handing out each
    /// fix's start as soon as it exists. On an error every database not handed out is dropped.
    pub async fn build(&self, ctx: &Ctx<'_>, scripts: &[&Script]) -> Result<(), ReplayError> {
        let mut live = BTreeMap::new();
        let r = self.build_all(ctx, scripts, &mut live).await;
        for l in live.into_values() {
            ctx.drop(&l.template.db).await;
        }
        self.done.store(true, Ordering::SeqCst);
        self.ready.notify_waiters();
        r
    }

    async fn build_all(
        &self,
        ctx: &Ctx<'_>,
        scripts: &[&Script],
        live: &mut BTreeMap<usize, Live>,
    ) -> Result<(), ReplayError> {
        let targets = ordered_targets(ctx, scripts);
        let applied: Vec<Option<BTreeSet<String>>> =
            targets.iter().map(|t| ctx.runner.applied_at(t)).collect();
        let last_use = last_base_use(&applied);
        let mut users: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, s) in scripts.iter().enumerate() {
            users.entry(target_name(&target(s))).or_default().push(i);
        }
        for (k, t) in targets.iter().enumerate() {
            ctx.progress
                .stage(&format!("template at {}", target_name(t)));
            let base = deepest_base(
                live.iter().map(|(j, l)| (*j, l.template.applied.as_ref())),
                applied[k].as_ref(),
            )
            .map(|j| &live[&j].template);
            let users = users.remove(&target_name(t)).unwrap_or_default();
            match build_one(ctx, t, base, applied[k].clone()).await? {
                Err(why) => {
                    for i in users {
                        self.publish(i, Err(why.clone()));
                    }
                }
                Ok(template) => {
                    let Some((&last_user, others)) = users.split_last() else {
                        ctx.drop(&template.db).await;
                        continue;
                    };
                    let mut made = Ok(());
                    for &i in others {
                        match ctx.copy(&template.db).await {
                            Ok(db) => self.publish(i, Ok((db, template.state.clone()))),
                            Err(e) => {
                                made = Err(e);
                                break;
                            }
                        }
                    }
                    live.insert(
                        k,
                        Live {
                            template,
                            last_user,
                        },
                    );
                    made?;
                }
            }
            // Templates no later target copies from go to their last fix.
            let finished: Vec<usize> = live
                .keys()
                .copied()
                .filter(|j| last_use[*j].is_none_or(|u| u <= k))
                .collect();
            for j in finished {
                if let Some(l) = live.remove(&j) {
                    self.publish(l.last_user, Ok((l.template.db, l.template.state)));
                }
            }
        }
        Ok(())
    }

    fn publish(&self, fix: usize, start: Start) {
        self.starts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(fix, start);
        self.ready.notify_waiters();
    }

    /// The database fix number `index` starts from, once the builder made it; the caller
    /// owns and drops it. `Err(why)` when the chain does not build to its `applied-after`.
    pub async fn take_start(&self, index: usize) -> Start {
        loop {
            // Registered before looking, so a publish in between is not missed.
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(start) = self
                .starts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&index)
            {
                return start;
            }
            if self.done.load(Ordering::SeqCst) {
                return Err("no template was built for its applied-after".into());
            }
            notified.await;
        }
    }

    /// Drop every start database no fix took (after an error).
    pub async fn drop_untaken(&self, ctx: &Ctx<'_>) {
        let left = std::mem::take(&mut *self.starts.lock().unwrap_or_else(PoisonError::into_inner));
        for (db, _) in left.into_values().flatten() {
            ctx.drop(&db).await;
        }
    }
}

/// A template at `t`: a copy of `base` (or an empty database) upgraded to `t`, and its state;
/// `Err(why)` when the chain does not build that far.
async fn build_one(
    ctx: &Ctx<'_>,
    t: &Target,
    base: Option<&Template>,
    applied: Option<BTreeSet<String>>,
) -> Result<Result<Template, String>, ReplayError> {
    let db = match base {
        Some(base) => ctx.copy(&base.db).await?,
        None => ctx.fresh().await?,
    };
    let state = match migrate(ctx, &db, t).await {
        Ok(Ok(())) => State::read(ctx, &db).await.map(Ok),
        Ok(Err(why)) => Ok(Err(why)),
        Err(e) => Err(e),
    };
    Ok(ctx
        .kept_if_made(db, state)
        .await?
        .map(|(db, state)| Template {
            db,
            state: Arc::new(state),
            applied,
        }))
}

/// Of `built` (index, revisions held), the one holding the most revisions, all of which
/// `target` needs too.
fn deepest_base<'a>(
    built: impl Iterator<Item = (usize, Option<&'a BTreeSet<String>>)>,
    target: Option<&BTreeSet<String>>,
) -> Option<usize> {
    let target = target?;
    built
        .filter_map(|(j, a)| Some((j, a?)))
        .filter(|(_, a)| a.is_subset(target))
        .max_by_key(|(j, a)| (a.len(), *j))
        .map(|(j, _)| j)
}

/// For each target (in build order), the last later target that would be built on its
/// template, were every build to succeed: until then the template must stay unowned. A build
/// that fails only means a later target picks another base, never one already handed out.
fn last_base_use(applied: &[Option<BTreeSet<String>>]) -> Vec<Option<usize>> {
    let mut last = vec![None; applied.len()];
    for k in 0..applied.len() {
        let earlier = applied[..k]
            .iter()
            .enumerate()
            .map(|(j, a)| (j, a.as_ref()));
        if let Some(j) = deepest_base(earlier, applied[k].as_ref()) {
            last[j] = Some(k);
        }
    }
    last
}

/// Distinct targets of `scripts`, the ones needing fewer revisions first (a base is built
/// before what extends it); unknown ones last.
fn ordered_targets(ctx: &Ctx<'_>, scripts: &[&Script]) -> Vec<Target> {
    let mut seen = BTreeSet::new();
    let mut targets: Vec<(usize, Target)> = scripts
        .iter()
        .map(|s| target(s))
        .filter(|t| seen.insert(target_name(t)))
        .map(|t| {
            let depth = ctx.runner.applied_at(&t).map_or(usize::MAX, |a| a.len());
            (depth, t)
        })
        .collect();
    targets.sort_by_key(|(depth, _)| *depth);
    targets.into_iter().map(|(_, t)| t).collect()
}

/// Upgrade `db` to `t`; `Err(why)` when the chain does not build that far.
async fn migrate(
    ctx: &Ctx<'_>,
    db: &Scratch,
    t: &Target,
) -> Result<Result<(), String>, ReplayError> {
    let up = ctx
        .runner
        .upgrade(&db.env, t, ctx.deadline, &mut |_| {})
        .await?;
    Ok(match up.failure {
        None => Ok(()),
        Some(f) => Err(format!(
            "upgrading an empty database to {} (applied-after) fails at {}",
            target_name(t),
            f.describe()
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(revs: &[&str]) -> Option<BTreeSet<String>> {
        Some(revs.iter().map(|r| r.to_string()).collect())
    }

    #[test]
    fn a_template_stays_unowned_until_the_last_target_built_on_it() {
        // a <- b <- c on one branch, a <- x on another: x builds on a, after b and c.
        let applied = [
            set(&["a"]),
            set(&["a", "b"]),
            set(&["a", "x"]),
            set(&["a", "b", "c"]),
            None,
        ];
        assert_eq!(
            last_base_use(&applied),
            [Some(2), Some(3), None, None, None]
        );
    }
}
