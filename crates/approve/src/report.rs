//! `gate-approve report`: what reviewers read in a pull request. The findings of `check`
//! plus three sections: the summary line, the registry table, and the chain with each fix
//! hanging at the revision production was at when it ran.

use std::fmt::Write as _;

use chrono::NaiveDate;
use gate_chain::mermaid::{Mermaid, NodeStyle};
use gate_policy::{Policy, Script, ScriptStatus};
use gate_report::{Report, Section};
use serde_json::json;

use crate::check::{self, CheckError, Context};
use crate::triage::triage;

/// Markdown table cell text: nothing in it may end the cell or start markup.
fn cell(s: &str) -> String {
    gate_report::render::markdown_escape(s)
}

fn deadline_text(s: &Script, today: NaiveDate) -> String {
    let Some(by) = s.convert_by else {
        return "none".into();
    };
    if matches!(s.status, ScriptStatus::Converted | ScriptStatus::Retired) {
        return format!("{by} (done)");
    }
    let days = (by - today).num_days();
    match days {
        d if d < 0 => format!(
            "{by}, overdue by {} day{}",
            -d,
            if d == -1 { "" } else { "s" }
        ),
        0 => format!("{by}, due today"),
        d => format!("{by}, {d} day{} left", if d == 1 { "" } else { "s" }),
    }
}

// TODO(issue 13): over clippy.toml's too-many-lines-threshold; split it, do not add to it.
#[allow(clippy::too_many_lines)]
pub fn build(policy: &Policy, ctx: &Context<'_>) -> Result<Report, CheckError> {
    let findings = check::check(policy, ctx)?;
    let scripts = &policy.emergency.scripts;
    let count = |st: ScriptStatus| scripts.iter().filter(|s| s.status == st).count();
    let open = |s: &&Script| matches!(s.status, ScriptStatus::Active | ScriptStatus::Legacy);
    let overdue = scripts
        .iter()
        .filter(open)
        .filter(|s| s.convert_by.is_some_and(|d| d < ctx.today))
        .count();
    let next = scripts
        .iter()
        .filter(open)
        .filter_map(|s| s.convert_by)
        .filter(|d| *d >= ctx.today)
        .min();
    let next_text = match next {
        Some(d) => format!("next deadline {d}, in {} days", (d - ctx.today).num_days()),
        None => "no upcoming deadline".into(),
    };
    let summary = format!(
        "{} active, {} legacy, {} converted, {} retired · {overdue} overdue · {next_text} · today {}",
        count(ScriptStatus::Active),
        count(ScriptStatus::Legacy),
        count(ScriptStatus::Converted),
        count(ScriptStatus::Retired),
        ctx.today
    );
    let mut report = Report::new(
        "gate-approve",
        format!("emergency fixes in {}", ctx.policy_rel),
    );
    report.findings = findings;
    report.sort();
    let errors_for = |p: &str| {
        report
            .findings
            .iter()
            .filter(|f| {
                f.path.as_deref() == Some(p)
                    || (f.path.as_deref() == Some(ctx.policy_rel.as_str())
                        && f.message.contains(&format!("`{p}`")))
            })
            .map(|f| f.code)
            .collect::<Vec<_>>()
    };
    report.sections.push(Section {
        title: "Summary".into(),
        text: summary.clone(),
        markdown: format!("**{}**\n", cell(&summary)),
        data: json!({
            "active": count(ScriptStatus::Active),
            "legacy": count(ScriptStatus::Legacy),
            "converted": count(ScriptStatus::Converted),
            "retired": count(ScriptStatus::Retired),
            "overdue": overdue,
            "next_deadline": next.map(|d| d.to_string()),
            "days_to_next_deadline": next.map(|d| (d - ctx.today).num_days()),
            "today": ctx.today.to_string(),
        }),
    });

    // The registry, one row per script.
    let mut md = String::from(
        "| script | status | reason | ticket | author | approver | deadline | triage | findings |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut text = String::new();
    let mut rows = Vec::new();
    for s in scripts {
        let tri = std::fs::read(ctx.root.join(&s.path))
            .ok()
            .map(|b| triage(&String::from_utf8_lossy(&b)));
        let tri_text = tri
            .as_ref()
            .map_or_else(|| "file not present".to_string(), |t| t.summary());
        // Baseline reasons repeat the triage; the table shows it once.
        let reason = s.reason.clone().unwrap_or_default();
        let reason_short = reason
            .split("; triage:")
            .next()
            .unwrap_or(&reason)
            .to_string();
        let deadline = deadline_text(s, ctx.today);
        let codes = errors_for(&s.path);
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.path.replace('`', "'"),
            s.status.as_str(),
            cell(&reason_short),
            cell(&dash(&s.ticket)),
            cell(&dash(&s.author)),
            cell(&dash(&s.approved_by)),
            if deadline.contains("overdue") {
                format!("**{}**", cell(&deadline))
            } else {
                cell(&deadline)
            },
            cell(&tri_text),
            if codes.is_empty() {
                "✅".to_string()
            } else {
                codes.join(" ")
            }
        );
        let _ = writeln!(
            text,
            "{:<8} {}  (deadline {}; ticket {}; author {}; approver {})\n         {}",
            s.status.as_str(),
            s.path,
            deadline,
            dash(&s.ticket),
            dash(&s.author),
            dash(&s.approved_by),
            tri_text
        );
        rows.push(json!({
            "path": s.path,
            "status": s.status.as_str(),
            "reason": s.reason,
            "ticket": s.ticket,
            "author": s.author,
            "approved_by": s.approved_by,
            "approved_on": s.approved_on.map(|d| d.to_string()),
            "convert_by": s.convert_by.map(|d| d.to_string()),
            "days_left": s.convert_by.map(|d| (d - ctx.today).num_days()),
            "applied_after": s.applied_after,
            "converted_in": s.converted_in,
            "triage": tri,
            "findings": codes,
        }));
    }
    if scripts.is_empty() {
        md = "No emergency scripts are registered.\n".into();
        text = "no emergency scripts are registered\n".into();
    }
    report.sections.push(Section {
        title: "Emergency fixes".into(),
        text,
        markdown: md,
        data: json!(rows),
    });

    // The chain with each fix at the revision production ran it after.
    match gate_chain::discover(ctx.root, policy) {
        Ok(d) if !d.graph.is_empty() => {
            let g = &d.graph;
            let heads: Vec<String> = g.heads().iter().map(|r| r.id.clone()).collect();
            let mut m = Mermaid::new(g);
            let mut unplaced = Vec::new();
            for s in scripts {
                let style = match s.status {
                    ScriptStatus::Converted | ScriptStatus::Retired => NodeStyle::Note,
                    _ if s.convert_by.is_some_and(|d| d < ctx.today) => NodeStyle::Error,
                    _ => NodeStyle::Warning,
                };
                let label = format!("{}\n{}", s.path, s.status.as_str());
                let at = s.applied_after.as_deref().filter(|r| g.get(r).is_some());
                if at.is_none() {
                    unplaced.push(s.path.clone());
                }
                m.node(&s.path, &label, style, at, Some("applied after"));
                if let Some(c) = s.converted_in.as_deref().filter(|r| g.get(r).is_some()) {
                    m.edge(&s.path, c, Some("converted in"));
                }
            }
            let chain = format!(
                "{} migration{}, {} head{} ({})",
                g.len(),
                if g.len() == 1 { "" } else { "s" },
                heads.len(),
                if heads.len() == 1 { "" } else { "s" },
                heads.join(", ")
            );
            let mut md = format!(
                "{chain}. Each emergency fix hangs (dotted edge, rounded node) at the revision production was at when it ran (`applied-after`).\n\n{}",
                m.markdown()
            );
            if !unplaced.is_empty() {
                let _ = write!(
                    md,
                    "\nNot placed on the chain (no `applied-after`, or it names no revision): {}\n",
                    unplaced
                        .iter()
                        .map(|p| format!("`{}`", p.replace('`', "'")))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            report.sections.push(Section {
                title: "Migration chain".into(),
                text: format!("{chain}\n"),
                markdown: md,
                data: json!({ "revisions": g.len(), "heads": heads, "unplaced": unplaced }),
            });
        }
        Ok(_) => {}
        Err(e) => report.sections.push(Section {
            title: "Migration chain".into(),
            text: format!("chain not read: {e}\n"),
            markdown: format!("Chain not read: {}\n", cell(&e.to_string())),
            data: json!({ "error": e.to_string() }),
        }),
    }
    Ok(report)
}
