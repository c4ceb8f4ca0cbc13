//! The proposal: the plans (from `gate-recovery`) and the files they become.

use gate_recovery::consolidate::{Leftover, NewRevision, Plan, plan, render_alembic};
use gate_schema::Snapshot;
use sha2::Digest as _;

use super::clean::{Around, CleanChain};
use super::{Amendment, Consolidation, Left, NewMigration, carry, sql_files};
use crate::ctx::Settings;
use crate::error::ReplayError;
use crate::production::PathRun;

/// What `consolidate` proposes, before any proof.
pub(crate) fn propose(
    settings: &Settings,
    discovery: &gate_chain::Discovery,
    clean: &CleanChain,
    production: &Snapshot,
    run: &PathRun,
) -> Result<Consolidation, ReplayError> {
    let mut left = Vec::new();
    let mut amendments = Vec::new();
    for a in &clean.around {
        let amended = amendment(settings, discovery, a)?;
        left.extend(tagged(&amended));
        amendments.push(amended);
    }
    let new = new_migration(settings, discovery, clean, production, run, &mut left)?;
    let fixes = run
        .steps
        .iter()
        .filter(|s| s.step.kind() == "fix")
        .map(|s| s.step.name().to_string())
        .collect();
    Ok(Consolidation {
        amendments,
        new,
        left,
        proofs: Vec::new(),
        fixes,
        head_schema: None,
    })
}

/// Leftovers of an amendment, naming the revision and located in its file (at the body the
/// amendment replaces).
fn tagged(a: &Amendment) -> Vec<Left> {
    a.plan
        .left
        .iter()
        .map(|l| Left {
            item: Leftover {
                object: l.object.clone(),
                reason: format!("in the amendment of revision {}: {}", a.revision, l.reason),
            },
            file: Some(a.file.clone()),
            line: a.line,
        })
        .collect()
}

/// The guarded rewrite of one conflicting revision.
fn amendment(
    settings: &Settings,
    discovery: &gate_chain::Discovery,
    a: &Around,
) -> Result<Amendment, ReplayError> {
    let plan = plan(&a.before, &a.after);
    let path = settings.root.join(&a.conflict.file);
    let original = std::fs::read_to_string(&path)
        .map_err(|e| ReplayError::Config(format!("cannot read {}: {e}", a.conflict.file)))?;
    let sql = discovery
        .graph
        .get(&a.conflict.revision)
        .and_then(|r| r.sql.as_ref());
    let (text, extra, line) = if let Some(m) = sql {
        let files = sql_files::amended(
            settings.policy.migrations.naming,
            &m.up,
            m.down.as_deref(),
            &plan,
            &a.conflict.fixes,
        );
        (files.up.1, files.down.into_iter().collect(), Some(1))
    } else {
        let text = amend_alembic(&original, &plan, &a.conflict.fixes)
            .map_err(|why| ReplayError::Config(format!("{}: {why}", a.conflict.file)))?;
        let line = def_line(&original, "upgrade")
            .map(|at| original[..at].matches('\n').count() + 1)
            .and_then(|n| u32::try_from(n).ok());
        (text, Vec::new(), line)
    };
    Ok(Amendment {
        revision: a.conflict.revision.clone(),
        file: a.conflict.file.clone(),
        line,
        fixes: a.conflict.fixes.clone(),
        plan,
        text,
        extra,
    })
}

/// The consolidation revision: the clean head planned into production, plus the fixes' data
/// statements, guarded.
fn new_migration(
    settings: &Settings,
    discovery: &gate_chain::Discovery,
    clean: &CleanChain,
    production: &Snapshot,
    run: &PathRun,
    left: &mut Vec<Left>,
) -> Result<NewMigration, ReplayError> {
    let [head] = clean.heads.as_slice() else {
        return Err(ReplayError::Config(format!(
            "the chain has {} heads ({}); merge them first (`alembic merge heads`), the consolidation goes on one head",
            clean.heads.len(),
            clean.heads.join(", ")
        )));
    };
    let plan = plan(&clean.head, production);
    left.extend(plan.left.iter().cloned().map(Left::unlocated));
    let carry::Carried {
        statements: data,
        left: data_left,
        tables: data_tables,
    } = carry::data_statements(&settings.root, run, production);
    left.extend(data_left);
    let mut with_data = plan.clone();
    with_data.upgrade.extend(data.iter().cloned());
    if settings.policy.migrations.kind == gate_policy::MigrationKind::Sql {
        let (id, files, note) = new_sql_files(settings, discovery, head, &with_data)?;
        return Ok(NewMigration {
            id,
            down_revision: head.clone(),
            file: files.up.0,
            plan,
            data,
            data_tables,
            text: files.up.1,
            extra: files.down.into_iter().collect(),
            note,
        });
    }
    let id = new_revision_id(head, production, &data);
    if discovery.graph.get(&id).is_some() {
        return Err(ReplayError::Config(format!(
            "revision {id} already exists: the consolidation was written already"
        )));
    }
    let rev = NewRevision {
        id: id.clone(),
        down_revision: Some(head.clone()),
        message: "consolidate emergency fixes".into(),
        created: chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string(),
    };
    let text = render_alembic(&rev, &with_data);
    let file = format!(
        "{}/{id}_consolidate_emergency_fixes.py",
        settings.policy.migrations.path.trim_end_matches('/')
    );
    Ok(NewMigration {
        id,
        down_revision: head.clone(),
        file,
        plan,
        data,
        data_tables,
        text,
        extra: Vec::new(),
        note: None,
    })
}

/// The next SQL migration after `head` in the folder's naming: its version, files, and why it
/// has no down file when it has none.
fn new_sql_files(
    settings: &Settings,
    discovery: &gate_chain::Discovery,
    head: &str,
    plan: &Plan,
) -> Result<(String, sql_files::SqlFiles, Option<String>), ReplayError> {
    let naming = settings.policy.migrations.naming;
    let version = sql_files::next_version(head).map_err(ReplayError::Config)?;
    if discovery.graph.get(&version).is_some() {
        return Err(ReplayError::Config(format!(
            "version {version} already exists: the consolidation was written already"
        )));
    }
    // Down files where the folder keeps them (dbmate: always a down section).
    let with_down = discovery.graph.unique().any(|r| {
        r.sql
            .as_ref()
            .is_some_and(|m| m.down.as_ref().is_some_and(|d| *d != m.up))
    });
    let files = sql_files::new_files(
        naming,
        &settings.policy.migrations.path,
        &version,
        with_down,
        plan,
    )
    .map_err(ReplayError::Config)?;
    let note = (files.down.is_none() && naming != gate_policy::SqlNaming::Dbmate).then(|| {
        "no down file: the folder's migrations have none, so the downgrade below is proven on scratch databases (e) but not written".to_string()
    });
    Ok((version, files, note))
}

/// A 12-hex revision id that depends only on what it consolidates, so the dry run shows the
/// id `--write` writes.
fn new_revision_id(
    head: &str,
    production: &Snapshot,
    data: &[gate_recovery::consolidate::GuardedStatement],
) -> String {
    let mut h = sha2::Sha256::new();
    h.update(head.as_bytes());
    h.update(serde_json::to_vec(production).unwrap_or_default());
    for d in data {
        h.update(d.sql.as_bytes());
    }
    hex::encode(h.finalize())[..12].to_string()
}

/// `original` with its `upgrade()` and `downgrade()` replaced by the plan's guarded
/// statements, rendered as `render_alembic` renders a new revision (bind-safe literals, enum
/// labels added in an autocommit block); everything before `def upgrade` (docstring, imports,
/// revision, down_revision, branch_labels, depends_on) is kept as it is.
pub(crate) fn amend_alembic(
    original: &str,
    plan: &Plan,
    fixes: &[String],
) -> Result<String, String> {
    let start = def_line(original, "upgrade").ok_or("no top-level `def upgrade(` to amend")?;
    let mut text = original[..start].trim_end().to_string();
    if !text.contains("from alembic import op") {
        text.push_str("\nfrom alembic import op");
    }
    let rendered = render_alembic(
        &NewRevision {
            id: "amended".into(),
            down_revision: None,
            message: String::new(),
            created: String::new(),
        },
        plan,
    );
    let bodies = def_line(&rendered, "upgrade")
        .map(|i| &rendered[i..])
        .ok_or("the renderer wrote no `def upgrade(`")?;
    text.push_str(&format!(
        "\n\n\n# Amended by gate-replay consolidate: guarded against emergency fix {} (F003);\n# each statement is a no-op where the fix already ran.\n",
        fixes.join(", ")
    ));
    text.push_str(bodies);
    Ok(text)
}

/// Byte offset of the line `def NAME(` at the top level.
fn def_line(text: &str, name: &str) -> Option<usize> {
    let needle = format!("def {name}(");
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with(&needle) {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use gate_recovery::consolidate::GuardedStatement;

    const ORIGINAL: &str = "\"\"\"create audit log\n\nRevision ID: aaaa\n\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = 'aaaa'\ndown_revision = 'bbbb'\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.create_table('audit_log')\n\n\ndef downgrade():\n    op.drop_table('audit_log')\n";

    #[test]
    fn the_amendment_keeps_the_header_and_replaces_both_bodies() {
        let plan = Plan {
            upgrade: vec![GuardedStatement {
                object: "table public.audit_log".into(),
                sql: "CREATE TABLE IF NOT EXISTS \"audit_log\" (note text DEFAULT 'a\\b');".into(),
            }],
            downgrade: vec![],
            left: vec![],
        };
        let text = amend_alembic(ORIGINAL, &plan, &["fix.py".into()]).unwrap();
        assert!(text.starts_with("\"\"\"create audit log"));
        assert!(text.contains(
            "revision = 'aaaa'\ndown_revision = 'bbbb'\nbranch_labels = None\ndepends_on = None\n"
        ));
        assert!(text.contains("guarded against emergency fix fix.py (F003)"));
        assert!(!text.contains("op.create_table"));
        assert!(text.contains("op.execute(") && text.contains("CREATE TABLE IF NOT EXISTS"));
        assert!(
            text.ends_with("def downgrade() -> None:\n    pass\n"),
            "{text}"
        );
    }

    #[test]
    fn a_file_without_upgrade_is_refused() {
        assert!(amend_alembic("revision = 'a'\n", &Plan::default(), &[]).is_err());
    }
}
