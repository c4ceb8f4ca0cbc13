//! The migrations of the production path, upgraded in batches: the consecutive migrations
//! between two fixes go in one runner call (one Alembic process instead of one per revision).
//! A batch that fails is narrowed down so each step gets the verdict a run of its own gave:
//! the migrations before the culprit are upgraded again in one batch (a no-op where they were
//! committed, a re-run where the batch's transaction rolled them back), and the culprit's step
//! gets the batch's failure, so it runs exactly once, as before.

use gate_recovery::Step;

use crate::ctx::{Ctx, Scratch};
use crate::runner::{Failure, RunOutcome, RunnerError, Target};

/// Where the path's database stands, and what a failed batch left to report.
pub(super) struct Upgrader<'p> {
    steps: &'p [Step],
    last_migration: Option<usize>,
    /// Every migration step up to this index is applied.
    reached: Option<usize>,
    /// The failure of a batch, for the step whose migration failed.
    pending: Option<(usize, RunOutcome)>,
    /// Batches stop before this step (the culprit of a failed batch).
    cap: Option<usize>,
}

impl<'p> Upgrader<'p> {
    pub fn new(steps: &'p [Step]) -> Self {
        Upgrader {
            steps,
            last_migration: steps.iter().rposition(|s| s.kind() == "migration"),
            reached: None,
            pending: None,
            cap: None,
        }
    }

    /// Upgrade `db` so that migration step `i` is applied; its outcome as if it ran alone.
    pub async fn upgrade(
        &mut self,
        ctx: &Ctx<'_>,
        db: &Scratch,
        i: usize,
    ) -> Result<RunOutcome, RunnerError> {
        loop {
            if self.reached.is_some_and(|r| r >= i) {
                return Ok(RunOutcome::default());
            }
            if let Some((c, up)) = self.pending.take() {
                if c == i {
                    self.cap = None;
                    return Ok(up);
                }
                self.pending = Some((c, up));
            }
            let j = self.batch_end(ctx, i);
            let up = ctx
                .runner
                .upgrade(&db.env, &self.target(j), ctx.deadline, &mut |a| {
                    ctx.progress.applied(a)
                })
                .await?;
            let Some(failure) = &up.failure else {
                self.reached = Some(j);
                return Ok(up);
            };
            if j == i || failure.timed_out {
                return Ok(up);
            }
            match self.culprit(i..=j, failure) {
                Some(c) if c > i => {
                    self.pending = Some((c, up));
                    self.cap = Some(c);
                }
                Some(_) => return Ok(up),
                // Unknown culprit: one migration at a time from here.
                None => self.cap = Some(i + 1),
            }
        }
    }

    /// Where production's path went at step `i`: its revision; the last migration goes to
    /// head (Flyway's repeatables run after every version).
    fn target(&self, i: usize) -> Target {
        match &self.steps[i] {
            _ if Some(i) == self.last_migration => Target::Head,
            Step::Migration { revision, .. } => Target::Revision(revision.clone()),
            Step::Fix { .. } => Target::Head,
        }
    }

    /// The last step of the batch starting at migration step `i`: consecutive migrations
    /// before the next fix (and the cap), as far as the upgrade to the last one applies all
    /// of them (on another branch it would not).
    fn batch_end(&self, ctx: &Ctx<'_>, i: usize) -> usize {
        let limit = self.cap.filter(|&c| c > i).unwrap_or(self.steps.len());
        let run_end = (i..limit)
            .take_while(|&k| matches!(self.steps[k], Step::Migration { .. }))
            .last()
            .unwrap_or(i);
        (i..=run_end)
            .rev()
            .find(|&j| self.covers(ctx, i, j))
            .unwrap_or(i)
    }

    /// Whether upgrading to step `j`'s target applies every migration of steps `i..=j`.
    fn covers(&self, ctx: &Ctx<'_>, i: usize, j: usize) -> bool {
        if i == j {
            return true;
        }
        let Some(applied) = ctx.runner.applied_at(&self.target(j)) else {
            return false;
        };
        self.steps[i..=j].iter().all(|s| match s {
            Step::Migration { revision, .. } => applied.contains(revision),
            Step::Fix { .. } => false,
        })
    }

    /// The step whose migration `failure` names, by revision, else by file.
    fn culprit(&self, range: std::ops::RangeInclusive<usize>, failure: &Failure) -> Option<usize> {
        let is = |k: &usize, by_revision: bool| match &self.steps[*k] {
            Step::Migration { revision, file } => {
                if by_revision {
                    failure.revision.as_deref() == Some(revision.as_str())
                } else {
                    failure.file.as_deref() == Some(file.as_str())
                }
            }
            Step::Fix { .. } => false,
        };
        range
            .clone()
            .find(|k| is(k, true))
            .or_else(|| range.clone().find(|k| is(k, false)))
    }
}
