//! The clean chain (no fix), with the schema just before and just after each migration that
//! conflicts with a fix on the production path, and at the head.

use gate_schema::Snapshot;

use crate::ctx::{Ctx, Scratch};
use crate::error::ReplayError;
use crate::runner::Target;

/// A migration that failed on the production path because a fix had made its objects (F003).
#[derive(Debug, Clone)]
pub(crate) struct Conflict {
    pub revision: String,
    pub file: String,
    pub fixes: Vec<String>,
}

/// The schema around one conflicting revision on the clean chain.
#[derive(Debug, Clone)]
pub(crate) struct Around {
    pub conflict: Conflict,
    pub before: Snapshot,
    pub after: Snapshot,
}

/// The clean chain's schemas: around each conflict, and at the head (whose revision ids are
/// `heads`).
#[derive(Debug, Clone)]
pub(crate) struct CleanChain {
    pub around: Vec<Around>,
    pub head: Snapshot,
    pub heads: Vec<String>,
}

/// Upgrade one scratch database revision by revision (only as far as each conflict needs),
/// snapshotting around each conflict, then to head.
pub(crate) async fn walk(
    ctx: &Ctx<'_>,
    discovery: &gate_chain::Discovery,
    conflicts: &[Conflict],
) -> Result<CleanChain, ReplayError> {
    let db = ctx.fresh().await?;
    let walked = on(ctx, discovery, conflicts, &db).await;
    ctx.drop(&db).await;
    walked
}

async fn on(
    ctx: &Ctx<'_>,
    discovery: &gate_chain::Discovery,
    conflicts: &[Conflict],
    db: &Scratch,
) -> Result<CleanChain, ReplayError> {
    let mut around = Vec::new();
    for c in conflicts {
        let parents = discovery
            .graph
            .get(&c.revision)
            .map(|r| r.parents.clone())
            .unwrap_or_default();
        for p in &parents {
            upgrade(ctx, db, Target::Revision(p.clone())).await?;
        }
        let before = snapshot(ctx, db).await?;
        upgrade(ctx, db, Target::Revision(c.revision.clone())).await?;
        let after = snapshot(ctx, db).await?;
        around.push(Around {
            conflict: c.clone(),
            before,
            after,
        });
    }
    upgrade(ctx, db, Target::Head).await?;
    let head = snapshot(ctx, db).await?;
    // A SQL chain's head as its file names it (`0007`), not as the tool records it (`7`):
    // the next file's name follows it.
    let heads = match discovery.graph.kind {
        gate_chain::ChainKind::Alembic => ctx.runner.chain_heads().unwrap_or_default(),
        _ => discovery
            .graph
            .heads()
            .iter()
            .map(|r| r.id.clone())
            .collect(),
    };
    Ok(CleanChain {
        around,
        head,
        heads,
    })
}

/// The schema without the runner's bookkeeping (`alembic_version`).
pub(crate) async fn snapshot(ctx: &Ctx<'_>, db: &Scratch) -> Result<Snapshot, ReplayError> {
    Ok(ctx
        .capture(db)
        .await?
        .without_tables(ctx.runner.bookkeeping_tables()))
}

/// Upgrade or fail: the clean chain must build (the replay gate says where it does not).
async fn upgrade(ctx: &Ctx<'_>, db: &Scratch, target: Target) -> Result<(), ReplayError> {
    let label = match &target {
        Target::Head => "head".to_string(),
        Target::Revision(r) => r.clone(),
    };
    ctx.progress.stage(&format!("clean chain to {label}"));
    let out = ctx
        .runner
        .upgrade(&db.env, &target, ctx.deadline, &mut |a| {
            ctx.progress.applied(a)
        })
        .await?;
    match out.failure {
        None => Ok(()),
        Some(f) => Err(ReplayError::Config(format!(
            "the clean chain does not build (run `gate-replay` for R001): {}",
            f.describe()
        ))),
    }
}
