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
        Ok(templates)
    }

    /// A copy of the template `script` needs, with the state it starts in; `Err(why)` when
    /// the chain does not build to its `applied-after`.
    pub async fn copy_for(
        &self,
        ctx: &Ctx<'_>,
        script: &Script,
    ) -> Result<Result<(Scratch, Arc<State>), String>, ReplayError> {
        match self.at.get(&target_name(&target(script))) {
            Some(Ok(t)) => Ok(Ok((ctx.copy(&t.db).await?, t.state.clone()))),
            Some(Err(why)) => Ok(Err(why.clone())),
            None => Ok(Err("no template was built for its applied-after".into())),
        }
    }

    pub async fn drop_all(&mut self, ctx: &Ctx<'_>) {
        for t in std::mem::take(&mut self.at).into_values().flatten() {
            ctx.drop(&t.db).await;
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
