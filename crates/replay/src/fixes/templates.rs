//! One template database per distinct `applied-after`, built in one forward pass before any
//! fix runs: each template is a copy (`CREATE DATABASE … TEMPLATE`) of the deepest template
//! already built whose revisions it includes, upgraded the rest of the way. A linear chain is
//! thus migrated once in all, not once per fix; every check of every fix then starts from a
//! copy of its template.
//!
//! Why this gives the same databases as a replay from empty: the copy holds a subset of the
//! revisions the target needs (`Runner::applied_at`), and upgrading it to the target applies
//! the rest in the same order. Where the runner cannot tell (command runner, symbolic
//! dependencies), a template is built from an empty database as before.
//!
//! Once every template is built, each fix gets the database it starts from: the last fix at a
//! target takes the template itself (nothing copies from it any more), the others a copy.
//! A copy costs about as much as a replay of the chain (`CREATE DATABASE` writes the whole
//! catalog), so this saves one per target.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use gate_policy::Script;

use super::{State, target, target_name};
use crate::ctx::{Ctx, Scratch};
use crate::error::ReplayError;
use crate::runner::Target;

/// A database at one revision, and its schema and rows (every copy starts with them).
#[derive(Clone)]
pub(super) struct Template {
    pub db: Scratch,
    pub state: Arc<State>,
    /// What it holds, when the runner can tell (`Runner::applied_at`).
    applied: Option<BTreeSet<String>>,
}

/// The templates by target name (`head`, `revision abc`); `Err(why)` where the chain does not
/// build that far.
#[derive(Default)]
pub(super) struct Templates {
    at: BTreeMap<String, Result<Template, String>>,
    /// Targets whose template database was handed to a fix (it owns and drops it).
    handed_over: BTreeSet<String>,
    /// The database each fix starts from, by its index in `scripts`, until it takes it.
    starts: std::sync::Mutex<BTreeMap<usize, Scratch>>,
}

impl Templates {
    /// Build the template of every target `scripts` need, shallowest first.
    pub async fn build(ctx: &Ctx<'_>, scripts: &[&Script]) -> Result<Templates, ReplayError> {
        let mut templates = Templates::default();
        for t in ordered_targets(ctx, scripts) {
            ctx.progress
                .stage(&format!("template at {}", target_name(&t)));
            let built = match templates.build_one(ctx, &t).await {
                Ok(b) => b,
                Err(e) => {
                    templates.drop_all(ctx).await;
                    return Err(e);
                }
            };
            templates.at.insert(target_name(&t), built);
        }
        if let Err(e) = templates.hand_out(ctx, scripts).await {
            templates.drop_all(ctx).await;
            return Err(e);
        }
        Ok(templates)
    }

    /// Make the database each of `scripts` starts from: a copy of its template for all but
    /// the last fix at that target, which gets the template itself.
    async fn hand_out(&mut self, ctx: &Ctx<'_>, scripts: &[&Script]) -> Result<(), ReplayError> {
        let mut users: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, s) in scripts.iter().enumerate() {
            users.entry(target_name(&target(s))).or_default().push(i);
        }
        for (name, users) in users {
            let Some(Ok(t)) = self.at.get(&name) else {
                continue;
            };
            let Some((&last, others)) = users.split_last() else {
                continue;
            };
            let mut made = Vec::with_capacity(users.len());
            for &i in others {
                made.push((i, ctx.copy(&t.db).await?));
            }
            made.push((last, t.db.clone()));
            self.handed_over.insert(name);
            self.starts_mut().extend(made);
        }
        Ok(())
    }

    fn starts_mut(&mut self) -> &mut BTreeMap<usize, Scratch> {
        self.starts
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The database fix number `index` (`script`) starts from, which the caller now owns and
    /// drops, with the state it is in; `Err(why)` when the chain does not build to its
    /// `applied-after`.
    pub fn take_start(
        &self,
        index: usize,
        script: &Script,
    ) -> Result<(Scratch, Arc<State>), String> {
        match self.at.get(&target_name(&target(script))) {
            Some(Ok(t)) => self
                .starts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&index)
                .map(|db| (db, t.state.clone()))
                .ok_or_else(|| "no database was prepared for it".to_string()),
            Some(Err(why)) => Err(why.clone()),
            None => Err("no template was built for its applied-after".into()),
        }
    }

    /// Drop every template and start database no fix took.
    pub async fn drop_all(&mut self, ctx: &Ctx<'_>) {
        let handed_over = std::mem::take(&mut self.handed_over);
        for (name, t) in std::mem::take(&mut self.at) {
            if let Ok(t) = t
                && !handed_over.contains(&name)
            {
                ctx.drop(&t.db).await;
            }
        }
        for db in std::mem::take(self.starts_mut()).into_values() {
            ctx.drop(&db).await;
        }
    }

    async fn build_one(
        &self,
        ctx: &Ctx<'_>,
        t: &Target,
    ) -> Result<Result<Template, String>, ReplayError> {
        let applied = ctx.runner.applied_at(t);
        let db = match self.deepest_base(applied.as_ref()) {
            Some(base) => ctx.copy(&base.db).await?,
            None => ctx.fresh().await?,
        };
        match migrate(ctx, &db, t).await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => {
                ctx.drop(&db).await;
                return Ok(Err(why));
            }
            Err(e) => {
                ctx.drop(&db).await;
                return Err(e);
            }
        }
        let state = match State::read(ctx, &db).await {
            Ok(s) => s,
            Err(e) => {
                ctx.drop(&db).await;
                return Err(e);
            }
        };
        Ok(Ok(Template {
            db,
            state: Arc::new(state),
            applied,
        }))
    }

    /// The built template holding the most revisions, all of which `target` needs too.
    fn deepest_base(&self, target: Option<&BTreeSet<String>>) -> Option<&Template> {
        let target = target?;
        self.at
            .values()
            .filter_map(|t| t.as_ref().ok())
            .filter(|t| t.applied.as_ref().is_some_and(|a| a.is_subset(target)))
            .max_by_key(|t| t.applied.as_ref().map_or(0, BTreeSet::len))
    }
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
