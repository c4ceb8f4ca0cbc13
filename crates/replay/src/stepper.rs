//! Many upgrades and downgrades on one scratch database without a start per step: one Alembic
//! interpreter and one env.py run (runner/session.rs, the wrapper's walk), or the in-process
//! sql runner on one connection. The stairway steps every revision with it; the shared
//! production path of the fix checks (fixes/tails.rs) upgrades from one fix to the next.

use crate::child_env::ChildEnv;
use crate::ctx::{Ctx, Scratch};
use crate::error::ReplayError;
use crate::runner::session::AlembicSession;
use crate::runner::sql::SqlRunner;
use crate::runner::{Failure, Runner, RunnerError, Target};

/// What runs the steps: one Alembic interpreter, or the sql runner on a connection of its
/// own.
pub(crate) enum Stepper<'r> {
    Alembic(Box<AlembicSession<'r>>),
    Sql(&'r SqlRunner, ChildEnv, sqlx::PgConnection),
}

impl<'r> Stepper<'r> {
    /// A stepper on `db`; the command runner cannot step (callers check
    /// `Runner::supports_targets` first), which is an error here.
    pub(crate) async fn open(ctx: &Ctx<'r>, db: &Scratch) -> Result<Stepper<'r>, ReplayError> {
        match ctx.runner {
            Runner::Alembic(alembic) => Ok(Stepper::Alembic(Box::new(AlembicSession::start(
                alembic, &db.env,
            )?))),
            Runner::Sql(sql) => {
                use sqlx::Connection as _;
                let conn = sqlx::PgConnection::connect(db.env.url())
                    .await
                    .map_err(|e| {
                        RunnerError::database("cannot connect to a scratch database to step", e)
                    })?;
                Ok(Stepper::Sql(sql, db.env.clone(), conn))
            }
            Runner::Command(_) => Err(ReplayError::Config(
                "migrations.kind = \"command\" cannot stop between revisions".into(),
            )),
        }
    }

    /// `upgrade` to revision `target` (`up`), or `downgrade` to `target` (one step down for a
    /// SQL chain); `Some` when it failed.
    pub(crate) async fn step(
        &mut self,
        ctx: &Ctx<'_>,
        up: bool,
        target: &str,
    ) -> Result<Option<Failure>, ReplayError> {
        Ok(match self {
            Stepper::Alembic(session) => session.step(up, target, ctx.deadline).await?.failure,
            Stepper::Sql(runner, env, conn) if up => {
                let to = Target::Revision(target.to_string());
                runner
                    .upgrade_on(conn, env, &to, ctx.deadline, &mut |_| {})
                    .await?
                    .failure
            }
            Stepper::Sql(runner, env, conn) => {
                let keep = runner.position(env.url()).saturating_sub(1);
                runner
                    .downgrade_to_on(conn, env, keep, ctx.deadline)
                    .await?
                    .failure
            }
        })
    }

    /// Upgrade to `to` (a revision or every head); `Some` when it failed.
    pub(crate) async fn upgrade(
        &mut self,
        ctx: &Ctx<'_>,
        to: &Target,
    ) -> Result<Option<Failure>, ReplayError> {
        match (self, to) {
            (Stepper::Sql(runner, env, conn), Target::Head) => Ok(runner
                .upgrade_on(conn, env, to, ctx.deadline, &mut |_| {})
                .await?
                .failure),
            (this, Target::Head) => this.step(ctx, true, "heads").await,
            (this, Target::Revision(r)) => this.step(ctx, true, r).await,
        }
    }

    pub(crate) async fn close(self) {
        match self {
            Stepper::Alembic(session) => session.close().await,
            Stepper::Sql(_, _, conn) => {
                use sqlx::Connection as _;
                let _ = conn.close().await;
            }
        }
    }
}
