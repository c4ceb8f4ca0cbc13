//! `gate-replay chain` and `gate-replay lock`: static chain report and lockfile writing, no
//! database.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use gate_chain::mermaid::Mermaid;
use gate_chain::{ChainKind, Discovery, Label, RevisionGraph};
use gate_cli::CommonArgs;
use gate_policy::{MigrationKind, Policy};
use gate_report::{Report, Section};
use serde_json::json;

/// `gate-replay chain`
pub fn chain(common: &CommonArgs) -> ExitCode {
    match chain_report(common) {
        Ok(report) => gate_cli::emit(&report, common.format),
        Err(e) => gate_cli::fail(&e),
    }
}

/// Flags of `gate-replay lock`.
#[derive(Debug, Clone, clap::Args)]
pub struct LockArgs {
    /// Record an amendment of this released revision: re-pin it to its file's current content
    /// (the commit that carries it must be an approving one, see docs/GOVERNANCE.md)
    #[arg(long, value_name = "REV", requires = "reason")]
    amend: Option<String>,
    /// Why the released migration had to change (recorded in migrations.lock)
    #[arg(long, value_name = "TEXT", requires = "amend")]
    reason: Option<String>,
}

/// `gate-replay lock [--amend REV --reason TEXT]`
// A command: its one-line confirmation is the CLI's output.
#[allow(clippy::disallowed_macros)]
pub fn lock(common: &CommonArgs, args: &LockArgs) -> ExitCode {
    let done = match (&args.amend, &args.reason) {
        (Some(rev), Some(reason)) => amend_lock(common, rev, reason),
        _ => write_lock(common),
    };
    match done {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => gate_cli::fail(&e),
    }
}

fn load(common: &CommonArgs) -> anyhow::Result<(gate_cli::Workspace, Policy, Discovery)> {
    let ws = gate_cli::open_workspace(common.repo.as_deref())?;
    let policy = gate_cli::load_policy(&ws, common.policy.as_deref())?;
    let discovery = gate_chain::discover(&ws.root, &policy)?;
    Ok((ws, policy, discovery))
}

fn chain_report(common: &CommonArgs) -> anyhow::Result<Report> {
    let (ws, policy, discovery) = load(common)?;
    let graph = &discovery.graph;
    if graph.kind == ChainKind::Command {
        let mut report = Report::new("gate-replay", "migrations.kind = command: no static chain");
        let text = format!(
            "The migrations are applied by `{}`; their order lives in that tool, so there is no static chain to check here. `gate-replay` still replays them into an empty database.",
            policy.migrations.upgrade
        );
        report.sections.push(Section {
            title: "Chain".into(),
            markdown: text.clone(),
            text,
            data: json!({ "kind": "command", "static": false }),
        });
        return Ok(report);
    }
    let mut findings = gate_chain::check(graph, &policy);
    let lock_path = ws.root.join(&policy.migrations.lockfile);
    if lock_path.is_file() {
        let text = std::fs::read(&lock_path)
            .with_context(|| format!("cannot read {}", lock_path.display()))?;
        findings.extend(gate_chain::lock_findings(
            &policy,
            Some(&text),
            &discovery.files,
        )?);
    }
    let mut report = Report::new(
        "gate-replay",
        format!("{} migrations ({})", graph.len(), graph.kind.lock_name()),
    );
    report.findings = findings;
    report.sort();
    report
        .sections
        .push(section(graph, &discovery.not_revisions));
    Ok(report)
}

fn ids(revs: &[&gate_chain::Revision]) -> Vec<String> {
    revs.iter().map(|r| r.id.clone()).collect()
}

fn or_none(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

fn section(graph: &RevisionGraph, not_revisions: &[String]) -> Section {
    let heads = ids(&graph.heads());
    let bases = ids(&graph.bases());
    let merges = ids(&graph.merges());
    let forks = ids(&graph.branch_points());
    let order = graph.order();

    let mut text = String::new();
    let _ = writeln!(
        text,
        "head{}: {}",
        if heads.len() == 1 { "" } else { "s" },
        or_none(&heads)
    );
    let _ = writeln!(text, "migrations: {}", graph.len());
    let _ = writeln!(text, "bases: {}", or_none(&bases));
    let _ = writeln!(text, "merge points: {}", or_none(&merges));
    let _ = writeln!(text, "branch points: {}", or_none(&forks));
    let _ = writeln!(text, "order (base first):");
    for (i, r) in order.iter().enumerate() {
        let mut tags = Vec::new();
        if heads.contains(&r.id) {
            tags.push("head".to_string());
        }
        if r.is_merge() {
            tags.push(format!("merge of {}", r.parents.join(" + ")));
        }
        for l in &r.branch_labels {
            match l {
                Label::Literal(s) => tags.push(format!("branch {s}")),
                Label::Symbolic(s) => tags.push(format!("branch `{s}`")),
            }
        }
        let tags = if tags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", tags.join("; "))
        };
        let _ = writeln!(text, "{:>4}. {}  {}{}", i + 1, r.id, r.path, tags);
    }
    if !graph.repeatable.is_empty() {
        let _ = writeln!(text, "repeatable (after all versions):");
        for m in &graph.repeatable {
            let _ = writeln!(text, "      {}", m.up);
        }
    }
    // Nothing replays these; gate-precommit judges them as possible emergency scripts.
    if !not_revisions.is_empty() {
        let _ = writeln!(text, "not revisions: {}", not_revisions.join(", "));
    }

    let mut md = String::new();
    let _ = writeln!(
        md,
        "**{}** migrations · head{}: {} · bases: {} · merge points: {}\n",
        graph.len(),
        if heads.len() == 1 { "" } else { "s" },
        or_code(&heads),
        or_code(&bases),
        or_code(&merges),
    );
    md.push_str(&Mermaid::new(graph).markdown());
    md.push_str(
        "\n<details><summary>Upgrade order</summary>\n\n| # | revision | file |\n|---|---|---|\n",
    );
    for (i, r) in order.iter().enumerate() {
        let _ = writeln!(md, "| {} | `{}` | `{}` |", i + 1, r.id, r.path);
    }
    md.push_str("\n</details>\n");
    if !not_revisions.is_empty() {
        let _ = writeln!(
            md,
            "\nNot revisions (replayed by nothing): {}",
            or_code(not_revisions)
        );
    }

    let data = json!({
        "kind": graph.kind.lock_name(),
        "count": graph.len(),
        "heads": heads,
        "bases": bases,
        "merges": merges,
        "branch_points": forks,
        "order": order.iter().map(|r| json!({
            "id": r.id,
            "path": r.path,
            "line": r.line,
            "parents": r.parents,
            "depends_on": r.depends_on,
            "branch_labels": r.branch_labels,
            "is_merge": r.is_merge(),
            "is_head": heads.contains(&r.id),
            "sql": r.sql,
        })).collect::<Vec<_>>(),
        "repeatable": graph.repeatable,
        "not_revisions": not_revisions,
    });
    Section {
        title: "Chain".into(),
        text,
        markdown: md,
        data,
    }
}

fn or_code(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn write_lock(common: &CommonArgs) -> anyhow::Result<String> {
    let (ws, policy, discovery) = load(common)?;
    if policy.migrations.kind == MigrationKind::Command {
        anyhow::bail!(
            "migrations.kind = command has no static chain to lock; remove migrations.lockfile or switch to kind alembic/sql"
        );
    }
    // Locking a broken chain would release it; refuse until the C findings are fixed.
    let findings = gate_chain::check(&discovery.graph, &policy);
    if let Some(f) = findings.first() {
        anyhow::bail!(
            "the chain has {} problem(s), not locking it; first: {} {}: {} (run `gate-replay chain` for all)",
            findings.len(),
            f.code,
            f.location().unwrap_or_default(),
            f.message
        );
    }
    let path = ws.root.join(&policy.migrations.lockfile);
    // Re-locking over an edited released migration would launder the edit. A lockfile that
    // does not verify (hand edit, merge of two versions) is what `lock` is for, so only a
    // valid lock with G003/G004 findings stops it.
    if let Ok(old) = std::fs::read(&path)
        && let Ok(g) = gate_chain::lock_findings(&policy, Some(&old), &discovery.files)
        && let Some(f) = g.first()
    {
        anyhow::bail!(
            "{} released migration problem(s), not rewriting {}; first: {} {}: {}. If the edit of a released migration is intended, record it as an amendment: `gate-replay lock --amend <revision> --reason \"...\"`, committed by a listed approver with the `{}:` trailer (or delete {} and run `gate-replay lock` again in a reviewed commit to re-baseline)",
            g.len(),
            policy.migrations.lockfile,
            f.code,
            f.location().unwrap_or_default(),
            f.message,
            policy.governance.trailer,
            policy.migrations.lockfile
        );
    }
    // A new release keeps the records of approved amendments of the lockfile it replaces.
    let kept = std::fs::read(&path)
        .ok()
        .and_then(|old| gate_chain::lock::parse_lock(&policy.migrations.lockfile, &old).ok())
        .map(|old| old.amendments)
        .unwrap_or_default();
    let text = gate_chain::render_lock_keeping(&discovery.graph, &discovery.files, &kept);
    gate_chain::write_lock(&path, &text)?;
    Ok(format!(
        "wrote {} ({} migrations, kind={})",
        policy.migrations.lockfile,
        discovery.graph.len(),
        discovery.graph.kind.lock_name()
    ))
}

/// `gate-replay lock --amend REV --reason TEXT`: the confirmation names what to do next.
fn amend_lock(common: &CommonArgs, revision: &str, reason: &str) -> anyhow::Result<String> {
    let ws = gate_cli::open_workspace(common.repo.as_deref())?;
    let policy = gate_cli::load_policy(&ws, common.policy.as_deref())?;
    let a = gate_chain::amend(&ws.root, &policy, revision, reason)?;
    Ok(format!(
        "amended {} ({}) in {}:{}: {} -> {}; commit it as a listed approver with the `{}:` trailer (gate-approve reports G005 otherwise)",
        a.revision,
        a.path,
        policy.migrations.lockfile,
        a.line,
        &a.old_content[..12],
        &a.new_content[..12],
        policy.governance.trailer
    ))
}
